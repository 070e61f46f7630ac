-- no-transaction
drop index concurrently if exists jobs_open_dedupe;
