-- Completed sales and returns as the POS reported them, and what settlement made of them.

alter table customer
  add column purchases_count   integer not null default 0,
  add column purchases_kopecks bigint  not null default 0;

create table document (
  tenant_id          uuid not null references tenant (id),
  id                 uuid not null default gen_random_uuid(),
  kind               text not null check (kind in ('sale', 'return')),
  -- The POS's identity of the document: meta.id, else meta.href, else a hash of
  -- (retail store, name, moment). A redelivery finds the same row.
  external_key       text not null check (length(external_key) between 1 and 2048),
  name               text,
  moment             timestamptz,
  retail_store_id    text,
  customer_id        uuid,
  -- matched: points move; anonymous: no customer on the receipt; unmatched: a customer
  -- we do not know (visible to operators, no points).
  match_status       text not null check (match_status in ('matched', 'anonymous', 'unmatched')),
  -- received → settled; returns may wait for their sale, or be flagged (no usable link).
  state              text not null default 'received'
                       check (state in ('received', 'waiting', 'settled', 'flagged')),
  flag_reason        text,
  -- Bumped each time a waiting return is released: its new job needs a new id, since the
  -- first job (which found no sale) is still remembered under the old one.
  settle_round       integer not null default 0,
  -- Integer kopecks and points computed at intake with the program rules then in force.
  total_kopecks      bigint not null check (total_kopecks >= 0),     -- Σ line sums at discounted prices
  eligible_kopecks   bigint not null check (eligible_kopecks >= 0),  -- same, goods not excluded
  -- At full prices: what a return is proportioned by (goods fully paid with points still count).
  full_kopecks          bigint not null check (full_kopecks >= 0),
  eligible_full_kopecks bigint not null check (eligible_full_kopecks >= 0),
  points_spent       bigint not null default 0 check (points_spent >= 0),
  points_earned      bigint not null default 0 check (points_earned >= 0),
  points_earn_reported bigint,
  accrual_available_at timestamptz,
  -- Returns: the sale they return (external key from demand.meta, and our id once found).
  sale_key           text,
  sale_id            uuid,
  -- Sales: what their returns have moved so far (never more than the sale moved);
  -- returned_kopecks is in the sale's proportion base (eligible full-price money).
  returned_kopecks   bigint not null default 0 check (returned_kopecks >= 0),
  points_refunded    bigint not null default 0 check (points_refunded >= 0),
  points_clawed_back bigint not null default 0 check (points_clawed_back >= 0),
  -- What settlement told the customer ("+12 баллов, баланс 183"), kept so a retried job
  -- queues the same message again (deduplicated by job id) instead of losing it.
  notice_text        text,
  body               jsonb not null,
  received_at        timestamptz not null default now(),
  settled_at         timestamptz,
  primary key (tenant_id, id),
  unique (tenant_id, kind, external_key),
  foreign key (tenant_id, customer_id) references customer (tenant_id, id),
  check (points_refunded <= points_spent and points_clawed_back <= points_earned)
);

-- The intake sweeper: stored but not yet settled.
create index document_unsettled_idx on document (received_at) where state = 'received';
create index document_waiting_idx on document (tenant_id, sale_key) where state = 'waiting';
create index document_attention_idx on document (tenant_id, received_at)
  where state = 'flagged' or match_status = 'unmatched';
create index document_customer_idx on document (tenant_id, customer_id, received_at);

alter table ledger_entry
  add foreign key (tenant_id, document_id) references document (tenant_id, id);
