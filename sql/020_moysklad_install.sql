-- Installs from the МойСклад app catalog (Vendor API): one per merchant account, its
-- JSON API token (encrypted), the catalog groups read from the JSON API, and what the
-- merchant excluded from earning by group.

-- active: the POS is served; suspended: unpaid subscription, the POS is told so and
-- nothing is deleted; uninstalled: the POS key is revoked and personal data are erased
-- at erase_after (balances and ledger stay, anonymised).
alter table tenant
  add column state                   text not null default 'active' check (state in ('active', 'suspended', 'uninstalled')),
  add column erase_after             timestamptz,
  add column personal_data_erased_at timestamptz,
  -- The POS key an uninstall revoked (sha256), so the till is told why it no longer works.
  add column revoked_api_key_hash    bytea;
create index tenant_revoked_key_idx on tenant (revoked_api_key_hash) where revoked_api_key_hash is not null;
create index tenant_erase_due_idx on tenant (erase_after) where state = 'uninstalled' and personal_data_erased_at is null;

create table moysklad_install (
  tenant_id              uuid primary key references tenant (id),
  app_id                 uuid not null,
  account_id             uuid not null,
  account_name           text not null check (length(account_name) between 1 and 200),
  -- What we last told МойСклад: SettingsRequired until the first save, then Activated.
  status                 text not null default 'SettingsRequired' check (status in ('SettingsRequired', 'Activated')),
  last_cause             text not null,
  -- AES-256-GCM (SECRETS_KEY) of the JSON API access token; null while МойСклад has
  -- revoked it (suspended, uninstalled).
  json_token_enc         bytea,
  subscription           jsonb,
  loyalty_registered_at  timestamptz,
  catalog_refreshed_at   timestamptz,
  catalog_error          text,
  -- The assortment ids the excluded groups put into program.excluded_assortment_ids
  -- last time, so a refresh replaces exactly those and keeps ids an operator added by hand.
  group_excluded_ids     text[] not null default '{}',
  installed_at           timestamptz not null default now(),
  updated_at             timestamptz not null default now(),
  unique (app_id, account_id)
);

-- Product folders ("группы товаров") of the merchant's catalog, as last read.
create table moysklad_folder (
  tenant_id   uuid not null references tenant (id),
  id          uuid not null,
  name        text not null,
  path_name   text not null default '',
  parent_id   uuid,
  primary key (tenant_id, id)
);

-- Which folder each good (product, service, bundle, variant through its product) is in.
create table moysklad_good (
  tenant_id      uuid not null references tenant (id),
  assortment_id  uuid not null,
  folder_id      uuid not null,
  primary key (tenant_id, assortment_id)
);
create index moysklad_good_folder_idx on moysklad_good (tenant_id, folder_id);

create table moysklad_excluded_folder (
  tenant_id  uuid not null references tenant (id),
  folder_id  uuid not null,
  primary key (tenant_id, folder_id)
);

-- One-time ids (jti) of МойСклад's tokens to us, kept until the token expires.
create table moysklad_seen_jti (
  jti         text primary key check (length(jti) between 1 and 200),
  expires_at  timestamptz not null
);
create index moysklad_seen_jti_expiry_idx on moysklad_seen_jti (expires_at);
