-- Confirmation codes, what customers are told and on which channel.

alter table program
  add column code_length                  integer not null default 6 check (code_length between 4 and 8),
  add column code_ttl_seconds             integer not null default 300 check (code_ttl_seconds between 30 and 3600),
  add column code_repeat_seconds          integer not null default 60 check (code_repeat_seconds between 10 and 3600),
  add column codes_per_phone_per_hour     integer not null default 5 check (codes_per_phone_per_hour between 1 and 100),
  add column codes_per_tenant_per_hour    integer not null default 500 check (codes_per_tenant_per_hour between 1 and 1000000),
  -- Message templates (Russian defaults in src/loyalty/messages.ts when null).
  add column code_message_template        text check (length(code_message_template) <= 500),
  add column points_message_template      text check (length(points_message_template) <= 500),
  add column return_message_template      text check (length(return_message_template) <= 500);

create table verification_code (
  tenant_id    uuid not null references tenant (id),
  id           uuid not null default gen_random_uuid(),
  purpose      text not null check (purpose in ('registration', 'spend')),
  phone        text collate "C" not null check (phone ~ '^[0-9]{5,15}$'),
  customer_id  uuid,
  -- Kept only while it can be used: the sender reads it from here (job data in Redis
  -- carries the id, never the code), and expired codes are wiped by the release sweep.
  code         text check (code ~ '^[0-9]{4,8}$'),
  created_at   timestamptz not null default now(),
  expires_at   timestamptz not null,
  primary key (tenant_id, id),
  foreign key (tenant_id, customer_id) references customer (tenant_id, id)
);
create index verification_code_phone_idx on verification_code (tenant_id, phone, created_at);
create index verification_code_tenant_idx on verification_code (tenant_id, created_at);
create index verification_code_live_idx on verification_code (expires_at) where code is not null;

-- A permanent SMS failure (invalid number, blocked) stops further SMS to the customer.
alter table customer
  add column sms_failed_at     timestamptz,
  add column sms_failure       text check (length(sms_failure) <= 500);

-- Browsers (or the merchant's installed web card) that accept Web Push for a customer.
create table push_subscription (
  tenant_id     uuid not null references tenant (id),
  id            uuid not null default gen_random_uuid(),
  customer_id   uuid not null,
  endpoint      text not null check (length(endpoint) between 10 and 2048),
  p256dh        text not null check (length(p256dh) between 20 and 200),
  auth          text not null check (length(auth) between 8 and 100),
  created_at    timestamptz not null default now(),
  -- Set when the push service says the subscription is gone (404/410): no more sends.
  expired_at    timestamptz,
  failure       text,
  primary key (tenant_id, id),
  unique (tenant_id, endpoint),
  foreign key (tenant_id, customer_id) references customer (tenant_id, id)
);
create index push_subscription_customer_idx on push_subscription (tenant_id, customer_id) where expired_at is null;

-- One row per message per channel: what was sent, so a retried or repeated job never
-- sends the same message twice, and operators can read a customer's message history.
create table notification (
  tenant_id     uuid not null references tenant (id),
  id            bigint generated always as identity,
  customer_id   uuid,
  purpose       text not null check (purpose in ('code', 'points')),
  -- the document id (points) or the verification code id (code)
  ref           text not null,
  channel       text not null check (channel in ('sms', 'push', 'log')),
  status        text not null check (status in ('sent', 'failed')),
  provider_id   text,
  error         text,
  text          text,            -- never the text of a code message
  created_at    timestamptz not null default now(),
  primary key (tenant_id, id),
  unique (tenant_id, purpose, ref, channel)
);
create index notification_customer_idx on notification (tenant_id, customer_id, created_at);
