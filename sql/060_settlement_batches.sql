-- Settlement takes stored documents in batches, a tenant at a time, oldest first
-- (FOR UPDATE SKIP LOCKED, so several workers share a backlog). A document whose
-- settlement failed inside a batch is left to a job of its own (visible to operators,
-- retried with backoff): batches pass over it from then on.
alter table document add column settle_failed_at timestamptz;
create index document_claim_idx on document (tenant_id, received_at)
  where state = 'received' and settle_failed_at is null;
