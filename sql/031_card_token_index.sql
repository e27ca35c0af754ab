-- The card page finds the customer by the token alone (/card/:token names no merchant);
-- the (tenant_id, qr_token) key cannot serve that lookup.
create index customer_qr_token_idx on customer (qr_token) where qr_token is not null;
