-- The API keeps one generic plan per statement and connection (src/db/client.ts), made
-- the first time the statement runs. In a fresh database that is while `customer` is
-- empty and has no statistics: every index that starts with tenant_id then looks as
-- good as any other, and the tie went to the newest of them (customer_referral_code_key)
-- with the key the till sent as a mere filter — a scan of all the merchant's customers,
-- kept long after there are a million of them.
--
-- The lookups' indexes become partial (NULLs were never constrained: a customer without
-- a card does not collide with another): a key's own index is then the only one that can
-- answer a lookup by that key, the primary key the only one for our id, and an empty
-- partial index is also the cheapest the planner can pick. Names, uniqueness and the
-- queries stay as they were (an equality implies IS NOT NULL). test/query-plans.test.ts
-- checks the plans in a fresh database.
drop index customer_ms_id_key;
create unique index customer_ms_id_key on customer (tenant_id, ms_id) where ms_id is not null;
drop index customer_phone_key;
create unique index customer_phone_key on customer (tenant_id, phone) where phone is not null;
drop index customer_card_key;
create unique index customer_card_key on customer (tenant_id, card_number) where card_number is not null;
drop index customer_qr_key;
create unique index customer_qr_key on customer (tenant_id, qr_token) where qr_token is not null;
drop index customer_referral_code_key;
create unique index customer_referral_code_key on customer (tenant_id, referral_code) where referral_code is not null;
drop index customer_name_prefix_idx;
create index customer_name_prefix_idx on customer (tenant_id, (lower(name) collate "C")) where name is not null;
