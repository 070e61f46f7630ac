-- no-transaction
-- Open jobs (queued, scheduled, running) by kind, status, tenant and class: one index for the
-- queue depth gauges (`jobs::depth`), the reconciler's sweep of open batches and a tenant's
-- interactive allowance (`jobs::create_group`). It replaces `jobs_in_flight` and
-- `jobs_interactive_open` (the next two migrations drop them): every write of a job row that is
-- not HOT (each state change is not) adds an entry to every index whose predicate the new row
-- version matches, and each entry cost PostgreSQL about 8 µs of CPU; a job's insert, dispatch
-- and claim now add one entry each instead of two.
-- Built CONCURRENTLY (one statement per file): if it fails it leaves an INVALID index; drop it
-- (`drop index concurrently jobs_open`) and run the migrations again.
create index concurrently jobs_open on jobs (kind, status, tenant_id, class, next_run_at)
    where status in ('queued', 'scheduled', 'running');
