-- no-transaction
-- In-flight jobs by kind and status: the queue depth gauges (`jobs::depth`, every reconciler
-- round and kind) and the reconciler's sweep of open batches (`batches::finish_ready(None)`)
-- read this small index instead of scanning the whole history. The predicate is the literal
-- `status in ('queued', 'running')` those statements use, so their generic plans can prove it.
-- Built CONCURRENTLY (one statement per file, outside a transaction): writes to jobs go on.
-- If the build fails it leaves an INVALID index: drop it (`drop index concurrently
-- jobs_in_flight`) and run the migrations again.
create index concurrently jobs_in_flight on jobs (kind, status, next_run_at)
    where status in ('queued', 'running');
