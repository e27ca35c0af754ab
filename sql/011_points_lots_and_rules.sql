-- Points that burn (lots), levels, promotions and the bookkeeping of time-based grants.

-- When a credit's points burn (null = never). Set when the entry is posted, from the
-- document's moment, never from when we processed it.
alter table ledger_entry
  add column expires_at  timestamptz,
  -- False until the lot projection (src/loyalty/lots.ts) has taken the entry in: a lot for
  -- a credit, consumption of lots for a debit. Entries posted by any code path are picked
  -- up by the next sync of that customer, under the customer's row lock.
  add column lots_synced boolean not null default false;

-- Existing entries are summarised below by one lot per customer.
update ledger_entry set lots_synced = true where released_at is not null;

create index ledger_entry_unsynced_idx on ledger_entry (tenant_id, customer_id, id) where not lots_synced;

create or replace function ledger_entry_is_append_only() returns trigger language plpgsql as $$
begin
  -- Releasing a pending entry and marking it taken into the lots are the allowed changes.
  if tg_op = 'UPDATE'
     and (new.released_at is not distinct from old.released_at
          or (new.released_at is not null and old.released_at is null))
     and (new.lots_synced or not old.lots_synced)
     and (new.tenant_id, new.id, new.customer_id, new.kind, new.points, new.available_at,
          new.document_id, new.idempotency_key, new.reason, new.created_at, new.expires_at)
         is not distinct from
         (old.tenant_id, old.id, old.customer_id, old.kind, old.points, old.available_at,
          old.document_id, old.idempotency_key, old.reason, old.created_at, old.expires_at) then
    return new;
  end if;
  raise exception 'ledger_entry is append-only';
end $$;

-- A lot: the points of one credit, spendable from its entry's release until expires_at.
-- remaining falls as spends consume it (soonest-burning first) and rises as returns give
-- points back; burned_at marks the one expiry of what was left.
create table points_lot (
  tenant_id     uuid not null,
  id            bigint generated always as identity,
  customer_id   uuid not null,
  -- The credit it came from; null for the opening lot of balances kept before lots existed.
  entry_id      bigint,
  document_id   uuid,
  points        bigint not null check (points > 0),
  remaining     bigint not null check (remaining >= 0 and remaining <= points),
  expires_at    timestamptz,
  burned_at     timestamptz,
  reminded_at   timestamptz,
  primary key (tenant_id, id),
  foreign key (tenant_id, customer_id) references customer (tenant_id, id)
);
create index points_lot_open_idx on points_lot (tenant_id, customer_id, expires_at, id) where remaining > 0;
create index points_lot_due_idx on points_lot (expires_at) where remaining > 0 and burned_at is null and expires_at is not null;
create index points_lot_document_idx on points_lot (tenant_id, document_id) where document_id is not null;

-- Which lots a debit consumed (points < 0) and what a refund put back (points > 0,
-- restores = the debit it undoes), so returns restore into the lots points came from.
create table lot_use (
  tenant_id   uuid not null,
  lot_id      bigint not null,
  entry_id    bigint not null,
  points      bigint not null check (points <> 0),
  restores    bigint,
  foreign key (tenant_id, lot_id) references points_lot (tenant_id, id)
);
create index lot_use_entry_idx on lot_use (tenant_id, entry_id);
create index lot_use_restores_idx on lot_use (tenant_id, restores) where restores is not null;

alter table customer
  -- Debits no lot could cover (the balance went below zero at the till): the next
  -- credits cover them first.
  add column lots_debt   bigint not null default 0 check (lots_debt >= 0),
  -- The level as last computed (name), read with the customer in the one lookup of recalc.
  add column tier        text;

-- Opening lots: what customers hold today never burns (it was earned under rules that
-- did not burn it); pending entries become their own lots when released and synced.
insert into points_lot (tenant_id, customer_id, points, remaining)
select tenant_id, id, balance, balance from customer where balance > 0;
update customer set lots_debt = -balance where balance < 0;

-- Promotions: a time-boxed earn rate on some or all goods.
create table promotion (
  tenant_id        uuid not null references tenant (id),
  id               uuid not null default gen_random_uuid(),
  name             text not null check (length(name) between 1 and 200),
  starts_at        timestamptz not null,
  ends_at          timestamptz not null check (ends_at > starts_at),
  weekdays         smallint[],                 -- 1 = Monday … 7; null = every day
  hours_from       text check (hours_from ~ '^[0-2][0-9]:[0-5][0-9]$'),
  hours_to         text check (hours_to ~ '^[0-2][0-9]:[0-5][0-9]$'),
  assortment_ids   text[],                     -- null = all goods that take part
  earn_percent     numeric(5, 2) check (earn_percent between 0 and 100),
  earn_multiplier  numeric(6, 2) check (earn_multiplier > 0 and earn_multiplier <= 100),
  ended_at         timestamptz,                -- deleted by the merchant: kept for history
  created_at       timestamptz not null default now(),
  primary key (tenant_id, id),
  check ((earn_percent is null) <> (earn_multiplier is null))
);
create index promotion_live_idx on promotion (tenant_id, ends_at) where ended_at is null;

-- The local day the level was last checked: the daily check skips those done today.
alter table customer add column tier_checked_on date;
