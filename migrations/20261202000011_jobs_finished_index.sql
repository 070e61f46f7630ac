-- no-transaction
-- Finished jobs in (finished_at, id) order: retention takes the oldest chunk from here with
-- `for update skip locked`, and its pending gauge counts past the cutoff (up to a cap) with an
-- index-only scan. The predicate is the literal status list retention uses.
-- Built CONCURRENTLY (one statement per file, outside a transaction): writes to jobs go on.
-- If the build fails it leaves an INVALID index: drop it (`drop index concurrently
-- jobs_finished`) and run the migrations again.
create index concurrently jobs_finished on jobs (finished_at, id)
    where status in ('succeeded', 'failed', 'canceled');
