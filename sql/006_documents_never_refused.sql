-- Completed sales and returns are stored whatever they say (issue: facts are never
-- refused). What did not add up is in flag_reason (sentences joined by "; "); the part of
-- a sale we would not credit or debit on our own waits for an operator's decision.

alter table document
  -- What the POS reported as spent; points_spent is what we posted.
  add column points_spent_reported bigint not null default 0 check (points_spent_reported >= 0),
  -- Spent beyond what the customer had, earned beyond the merchant's per-receipt bound.
  add column held_spend_points bigint not null default 0 check (held_spend_points >= 0),
  add column held_earn_points  bigint not null default 0 check (held_earn_points >= 0),
  add column hold_decision     text check (hold_decision in ('approved', 'rejected')),
  add column hold_decided_at   timestamptz,
  add column hold_note         text check (length(hold_note) <= 500),
  -- A sale's lines as read at intake ([{assortmentId, moneyKopecks}] at the prices paid,
  -- capped with the totals) and the money the POS reported (cash + card + certificates,
  -- in the unit we concluded; null when none was sent): settlement decides earned points
  -- from these, never from the raw body.
  add column lines             jsonb,
  add column paid_kopecks      bigint check (paid_kopecks >= 0);

update document set points_spent_reported = points_spent where kind = 'sale';

-- Operators' "needs attention" list also shows undecided holds.
drop index if exists document_attention_idx;
create index document_attention_idx on document (tenant_id, received_at)
  where state in ('flagged', 'waiting') or match_status = 'unmatched' or flag_reason is not null
     or ((held_spend_points > 0 or held_earn_points > 0) and hold_decision is null);

-- МойСклад ids are kept as the POS sends them: its documentation's own examples carry ids
-- that are not valid UUIDs, and the POS names the customer by them all the same.
alter table customer alter column ms_id type text using ms_id::text;
alter table customer add constraint customer_ms_id_length check (length(ms_id) between 1 and 64);
