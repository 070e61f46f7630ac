-- no-transaction
-- The in-flight dedupe index again, with its condition written as "not finished". It holds the
-- same rows as `jobs_open_dedupe` (a status is one of six values), but no other index of `jobs`
-- is defined by that condition: a submission's probe by dedupe key can only be planned on this
-- index. With `status in ('queued', 'scheduled', 'running')`, the index of open jobs
-- (`jobs_open`) answered the same probe at an equal estimated cost whenever the statistics
-- predated the backlog, and then read every open job of the tenant per key. The next migration
-- drops `jobs_open_dedupe`.
create unique index concurrently jobs_live_dedupe on jobs (tenant_id, dedupe_key)
    where status not in ('succeeded', 'failed', 'canceled') and dedupe_key is not null;
