-- The rules pass runs every RULES_INTERVAL_MS: its customer lookups must not scan a
-- merchant's customers. Both columns change rarely, so balance updates stay HOT.
create index customer_birthday_idx on customer (tenant_id, ((extract(month from birth_date) * 100 + extract(day from birth_date))::int))
  where birth_date is not null;
create index customer_tier_check_idx on customer (tenant_id, tier_checked_on) where tier is not null;
