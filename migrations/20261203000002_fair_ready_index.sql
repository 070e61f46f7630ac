-- no-transaction
-- The dispatcher's ready set: queued, undispatched jobs per kind and class in tag order. The
-- predicate is the literal one `take_due` uses, so its generic plan keeps the index; scheduled
-- (future) jobs are not in it. tenant_id is included for the per-tenant counts of a round.
-- Built CONCURRENTLY (one statement per file): if it fails it leaves an INVALID index; drop it
-- (`drop index concurrently jobs_ready`) and run the migrations again.
create index concurrently jobs_ready on jobs (kind, class, vft, id) include (tenant_id)
    where status = 'queued' and dispatched_at is null;
