-- no-transaction
-- Replaced by `jobs_ready` (tag order) and `jobs_scheduled` (future jobs).
drop index concurrently if exists jobs_due_undispatched;
