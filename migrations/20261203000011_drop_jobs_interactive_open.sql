-- no-transaction
-- Replaced by `jobs_open`.
drop index concurrently if exists jobs_interactive_open;
