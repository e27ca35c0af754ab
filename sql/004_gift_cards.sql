-- Gift certificates: money (kopecks) on a numbered certificate, spent as a means of
-- payment in a sale (giftCards[] of POST /retaildemand) and put back by its returns.

create table gift_card (
  tenant_id        uuid not null references tenant (id),
  id               uuid not null default gen_random_uuid(),   -- our GUID, the `id` the POS sees
  -- The certificate number as printed / scanned; what GET /giftcard?name= looks up.
  name             text collate "C" not null check (length(name) between 1 and 128 and name = btrim(name)),
  initial_balance  bigint not null check (initial_balance > 0),
  -- Running balance, changed only in the same transaction as the gift_card_entry rows
  -- that explain it (issue, redeem, refund); a test checks it against the ledger.
  balance          bigint not null default 0 check (balance >= 0 and balance <= initial_balance),
  expire_at        timestamptz,
  -- Blocked by an operator (lost, stolen, issued by mistake): status INVALID from then on.
  blocked_at       timestamptz,
  block_reason     text check (length(block_reason) <= 500),
  created_at       timestamptz not null default now(),
  primary key (tenant_id, id),
  unique (tenant_id, name)
);
create index gift_card_created_idx on gift_card (tenant_id, created_at desc, id);

-- The certificates' money ledger: append-only, one row per change of one certificate.
-- issue and refund add (kopecks > 0), redeem takes (kopecks < 0).
create table gift_card_entry (
  tenant_id        uuid not null,
  id               bigint generated always as identity,
  gift_card_id     uuid not null,
  kind             text not null check (kind in ('issue', 'redeem', 'refund')),
  kopecks          bigint not null check (kopecks <> 0),
  document_id      uuid,            -- the sale (redeem) or return (refund) that caused it
  idempotency_key  text not null check (length(idempotency_key) between 1 and 300),
  created_at       timestamptz not null default now(),
  primary key (tenant_id, id),
  unique (tenant_id, idempotency_key),
  foreign key (tenant_id, gift_card_id) references gift_card (tenant_id, id),
  foreign key (tenant_id, document_id) references document (tenant_id, id),
  check ((kind = 'redeem') = (kopecks < 0))
);
create index gift_card_entry_card_idx on gift_card_entry (tenant_id, gift_card_id, id);
create index gift_card_entry_document_idx on gift_card_entry (tenant_id, document_id) where document_id is not null;

create or replace function gift_card_entry_is_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'gift_card_entry is append-only';
end $$;

create trigger gift_card_entry_append_only
  before update or delete on gift_card_entry
  for each row execute function gift_card_entry_is_append_only();

alter table document
  -- Sales: money (Σ total_kopecks) their returns have brought back so far, capped at the
  -- sale's total_kopecks. Certificates are money, so their refunds follow this base, not
  -- the points' base (returned_kopecks).
  add column returned_money_kopecks      bigint not null default 0 check (returned_money_kopecks >= 0),
  -- Sales: what the till took as certificate payment but no certificate could cover
  -- (unknown, expired, blocked, or more than its balance). Non-zero → flag_reason says why.
  add column gift_card_shortfall_kopecks bigint not null default 0 check (gift_card_shortfall_kopecks >= 0);

-- A settled sale or return can carry a flag_reason too (certificate problems): such a
-- document needs an operator even though its state is 'settled'. The attention listing
-- covers flagged, waiting, unmatched and any document with a reason.
drop index if exists document_attention_idx;
create index document_attention_idx on document (tenant_id, received_at)
  where state in ('flagged', 'waiting') or match_status = 'unmatched' or flag_reason is not null;

-- GET /giftcard counts certificate payments of sales answered 201 but not yet settled.
create index document_unsettled_sale_idx on document (tenant_id) where state = 'received' and kind = 'sale';
