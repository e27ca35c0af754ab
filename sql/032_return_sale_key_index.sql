-- A referral is decided at the friend's first sale, looking at the returns already stored
-- for that sale (any state): a key lookup instead of a scan of the merchant's documents.
create index document_return_sale_key_idx on document (tenant_id, sale_key) where kind = 'return';
