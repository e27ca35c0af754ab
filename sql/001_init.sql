-- Tenants, their programs, customers and the points ledger.
-- Every merchant-owned table carries tenant_id as the first column of its primary and
-- unique keys so the schema can later be distributed by tenant (Citus) unchanged.

create table tenant (
  id             uuid primary key default gen_random_uuid(),
  slug           text not null unique check (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'),
  name           text not null check (length(name) between 1 and 200),
  -- sha256 of the МойСклад access key; the key itself is shown once and never stored
  api_key_hash   bytea not null unique check (length(api_key_hash) = 32),
  created_at     timestamptz not null default now()
);

-- Percent-like settings are numeric(5,2); the engine works in integer hundredths.
create table program (
  tenant_id                           uuid primary key references tenant (id) on delete cascade,
  earn_percent                        numeric(5, 2) not null default 5 check (earn_percent between 0 and 100),
  spend_rate                          numeric(12, 2) not null default 1 check (spend_rate > 0),
  max_spend_percent                   numeric(5, 2) not null default 100 check (max_spend_percent between 0 and 100),
  earn_while_redeeming                boolean not null default false,
  accrual_delay_days                  integer not null default 0 check (accrual_delay_days between 0 and 3650),
  excluded_assortment_ids             text[] not null default '{}',
  require_spend_verification          boolean not null default false,
  require_registration_verification   boolean not null default false,
  receipt_template                    text check (length(receipt_template) <= 2000),
  updated_at                          timestamptz not null default now()
);

create table customer (
  tenant_id          uuid not null references tenant (id) on delete cascade,
  id                 uuid not null default gen_random_uuid(),
  ms_id              uuid,            -- the counterparty's id in МойСклад
  sync_id            text,            -- id the POS gave a customer created offline
  name               text,
  legal_first_name   text,
  legal_middle_name  text,
  legal_last_name    text,
  -- Byte-order collation: equality and prefix ranges use plain btree indexes, even
  -- under the generic plans of prepared statements.
  phone              text collate "C" check (phone ~ '^[0-9]{5,15}$'),  -- digits; Russian numbers as 7XXXXXXXXXX
  card_number        text collate "C" check (length(card_number) between 1 and 64),
  qr_token           text collate "C" check (length(qr_token) between 1 and 200),
  email              text check (length(email) <= 320),
  birth_date         date,
  sex                text check (sex in ('MALE', 'FEMALE')),
  status_check       text not null default 'IGNORE' check (status_check in ('UNCHECKED', 'CHECKED', 'IGNORE')),
  -- Running balances, changed only in the same transaction as the ledger entry that
  -- explains them; a test checks them against the ledger.
  balance            bigint not null default 0,
  pending_balance    bigint not null default 0 check (pending_balance >= 0),
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now(),
  primary key (tenant_id, id)
);

-- One customer per МойСклад id, phone, card and QR token within a merchant (NULLs are
-- distinct, so customers without a card do not collide). These also serve prefix search.
create unique index customer_ms_id_key on customer (tenant_id, ms_id);
create unique index customer_phone_key on customer (tenant_id, phone);
create unique index customer_card_key on customer (tenant_id, card_number);
create unique index customer_qr_key on customer (tenant_id, qr_token);
create index customer_sync_id_idx on customer (tenant_id, sync_id) where sync_id is not null;
create index customer_name_prefix_idx on customer (tenant_id, (lower(name) collate "C"));
create index customer_negative_balance_idx on customer (tenant_id) where balance < 0;

-- The points ledger: append-only. Each row is one change of one customer's points.
create table ledger_entry (
  tenant_id        uuid not null,
  id               bigint generated always as identity,
  customer_id      uuid not null,
  kind             text not null check (kind in
                     ('accrual', 'spend', 'refund', 'clawback', 'adjustment', 'welcome', 'birthday', 'expiry')),
  points           bigint not null check (points <> 0),
  -- Pending entries (accrual delay) count in pending_balance until available_at,
  -- then are released into balance; released_at records when.
  available_at     timestamptz not null default now(),
  released_at      timestamptz,
  document_id      uuid,            -- the sale or return that caused it
  idempotency_key  text not null,
  reason           text check (length(reason) <= 500),
  created_at       timestamptz not null default now(),
  primary key (tenant_id, id),
  unique (tenant_id, idempotency_key),
  foreign key (tenant_id, customer_id) references customer (tenant_id, id)
);

create index ledger_entry_customer_idx on ledger_entry (tenant_id, customer_id, id);
create index ledger_entry_pending_idx on ledger_entry (available_at) where released_at is null;

create or replace function ledger_entry_is_append_only() returns trigger language plpgsql as $$
begin
  -- Releasing a pending entry is the one allowed change.
  if tg_op = 'UPDATE'
     and new.released_at is not null and old.released_at is null
     and (new.tenant_id, new.id, new.customer_id, new.kind, new.points, new.available_at,
          new.document_id, new.idempotency_key, new.reason, new.created_at)
         is not distinct from
         (old.tenant_id, old.id, old.customer_id, old.kind, old.points, old.available_at,
          old.document_id, old.idempotency_key, old.reason, old.created_at) then
    return new;
  end if;
  raise exception 'ledger_entry is append-only';
end $$;

create trigger ledger_entry_append_only
  before update or delete on ledger_entry
  for each row execute function ledger_entry_is_append_only();
