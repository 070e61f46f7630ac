-- no-transaction
drop index concurrently if exists jobs_inflight_dedupe;
