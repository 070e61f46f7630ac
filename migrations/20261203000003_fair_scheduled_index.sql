-- no-transaction
-- Scheduled jobs (retries, throttles) by due time: the dispatcher promotes the due ones.
create index concurrently jobs_scheduled on jobs (kind, next_run_at) where status = 'scheduled';
