-- The message recovery sweep: settled documents that carry a customer's message, by
-- when they were settled (only recent ones are looked at).
create index document_notice_idx on document (settled_at) where notice_text is not null;

-- Pruning retired push subscriptions.
create index push_subscription_retired_idx on push_subscription (expired_at) where expired_at is not null;
