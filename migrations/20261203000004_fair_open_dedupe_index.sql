-- no-transaction
-- In-flight dedupe now covers scheduled jobs too (a job waiting for its retry is still in flight):
-- the replacement of `jobs_inflight_dedupe`, which the next migration drops.
create unique index concurrently jobs_open_dedupe on jobs (tenant_id, dedupe_key)
    where status in ('queued', 'scheduled', 'running') and dedupe_key is not null;
