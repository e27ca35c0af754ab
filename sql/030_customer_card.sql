-- The customer's side: card links, self-registration, referrals, Apple and Google Wallet.

-- Adds a value to a "column in (...)" check constraint, whatever values other migrations
-- put there before (a fixed list here would silently drop theirs).
create function pg_temp.allow_value(tbl regclass, col text, val text) returns void language plpgsql as $$
declare
  c record;
  vals text[];
begin
  select conname, pg_get_constraintdef(oid) as def into c
  from pg_constraint
  where conrelid = tbl and contype = 'c' and pg_get_constraintdef(oid) ~ ('\m' || col || '\M')
  limit 1;
  if c is null then
    return;
  end if;
  select array_agg(m[1]) into vals from regexp_matches(c.def, '''([^'']+)''', 'g') as m;
  if val = any(vals) then
    return;
  end if;
  execute format('alter table %s drop constraint %I', tbl, c.conname);
  execute format('alter table %s add constraint %I check (%I = any (%L::text[]))', tbl, c.conname, col, vals || val);
end $$;

select pg_temp.allow_value('ledger_entry', 'kind', 'referral');
select pg_temp.allow_value('notification', 'purpose', 'card');

-- (referrerPoints and referredPoints live in program.settings with the other settings.)
alter table program
  -- The merchant's consent text (152-ФЗ) and the card-link SMS; Russian defaults in code when null.
  add column consent_text           text check (length(consent_text) <= 5000),
  add column card_message_template  text check (length(card_message_template) <= 500);

alter table customer
  -- The code in the customer's invite link (/join/:slug?ref=CODE); made when first shown.
  add column referral_code            text collate "C" check (referral_code ~ '^[A-Za-z0-9]{6,32}$'),
  add column personal_data_consent_at timestamptz,
  add column advertising_consent_at   timestamptz;
create unique index customer_referral_code_key on customer (tenant_id, referral_code);

-- Who invited whom; granted once, when the friend's first sale settles.
create table referral (
  tenant_id         uuid not null references tenant (id),
  referred_id       uuid not null,
  referrer_id       uuid not null,
  state             text not null default 'waiting' check (state in ('waiting', 'granted', 'void')),
  sale_document_id  uuid,
  decided_at        timestamptz,
  created_at        timestamptz not null default now(),
  primary key (tenant_id, referred_id),
  foreign key (tenant_id, referred_id) references customer (tenant_id, id),
  foreign key (tenant_id, referrer_id) references customer (tenant_id, id),
  check (referred_id <> referrer_id)
);
create index referral_referrer_idx on referral (tenant_id, referrer_id);

-- Self-registration: wrong codes typed on the join page count against the code.
alter table verification_code add column failed_attempts integer not null default 0;

-- A phone confirmed on the join page, waiting for the customer's name and consents.
create table join_session (
  tenant_id      uuid not null references tenant (id),
  id             uuid not null default gen_random_uuid(),
  phone          text collate "C" not null check (phone ~ '^[0-9]{5,15}$'),
  referral_code  text,
  expires_at     timestamptz not null,
  used_at        timestamptz,
  primary key (tenant_id, id)
);

-- A customer's Wallet pass: one serial and authentication token per customer.
create table wallet_pass (
  tenant_id        uuid not null references tenant (id),
  customer_id      uuid not null,
  serial           uuid not null default gen_random_uuid() unique,
  auth_token       text not null check (length(auth_token) >= 16),
  -- When the pass's content last changed as Apple devices see it (balance, token).
  updated_at       timestamptz not null default now(),
  -- Set when the customer opened the Google Wallet save link: the object exists there.
  google_saved_at  timestamptz,
  created_at       timestamptz not null default now(),
  primary key (tenant_id, customer_id),
  foreign key (tenant_id, customer_id) references customer (tenant_id, id)
);

-- Apple devices registered for a pass's updates (PassKit web service).
create table apple_registration (
  device_library_id  text not null check (length(device_library_id) between 1 and 200),
  serial             uuid not null references wallet_pass (serial) on delete cascade,
  push_token         text not null check (length(push_token) between 1 and 200),
  created_at         timestamptz not null default now(),
  primary key (device_library_id, serial)
);
create index apple_registration_serial_idx on apple_registration (serial);
