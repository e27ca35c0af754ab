-- The merchant's cabinet: customers imported from a previous program (with their opening
-- balances as `import` ledger entries), and erasure of a customer's personal data.

-- Opening balances from the previous program are ledger entries of their own kind. The
-- whole list is spelled out (every kind the migrations before this one allow): rewriting
-- the constraint from its printed form is fragile once it is "= any (array)".
alter table ledger_entry drop constraint ledger_entry_kind_check;
alter table ledger_entry add constraint ledger_entry_kind_check check (kind in
  ('accrual', 'spend', 'refund', 'clawback', 'adjustment', 'welcome', 'birthday', 'expiry', 'referral', 'import'));

-- 152-ФЗ: set when the customer's personal data were erased on their request. The row
-- stays (its ledger and purchase totals are kept, anonymised); search, export and the
-- POS no longer find it because every identifying column is null.
alter table customer add column erased_at timestamptz;

-- One uploaded file and the job that reads it. The file is kept here, not in Redis: the
-- job carries only the id, and a retried job reads the same bytes.
create table customer_import (
  tenant_id     uuid not null references tenant (id),
  id            uuid not null default gen_random_uuid(),
  file_name     text check (length(file_name) <= 300),
  file          bytea not null,
  file_sha256   bytea not null check (length(file_sha256) = 32),
  -- queued → running → done; failed when the file as a whole cannot be read.
  state         text not null default 'queued' check (state in ('queued', 'running', 'done', 'failed')),
  encoding      text,
  delimiter     text,
  total         integer not null default 0,   -- data rows in the file
  processed     integer not null default 0,   -- rows read so far (good and bad)
  failed        integer not null default 0,   -- rows refused (see customer_import_error)
  created       integer not null default 0,   -- new customers
  credited      integer not null default 0,   -- opening balances posted
  failure       text,                         -- why the whole file was refused
  created_at    timestamptz not null default now(),
  started_at    timestamptz,
  finished_at   timestamptz,
  primary key (tenant_id, id)
);
create index customer_import_recent_idx on customer_import (tenant_id, created_at desc);

-- Per-row refusals, by line number in the file (the header is line 1).
create table customer_import_error (
  tenant_id   uuid not null,
  import_id   uuid not null,
  line        integer not null,
  error       text not null,
  primary key (tenant_id, import_id, line),
  foreign key (tenant_id, import_id) references customer_import (tenant_id, id) on delete cascade
);

-- The overview reads sales per day by their moment.
create index document_sale_moment_idx on document (tenant_id, (coalesce(moment, received_at))) where kind = 'sale';
create index ledger_entry_created_idx on ledger_entry (tenant_id, created_at);
