-- The points messages of a settlement batch's plain sales travel in one notifications job
-- ("points-batch-<message_job>"), not one job each. The document names that job, so the
-- message sweep, finding a message never recorded as sent, queues the job again under
-- the same id (a no-op while it exists) instead of a second job for the same message.
alter table document add column message_job uuid;
