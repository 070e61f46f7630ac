-- Result documents are 1-3 KB of JSON: above PostgreSQL's TOAST threshold, they were compressed
-- with pglz on every insert, a measurable share of the database's CPU per validation. lz4
-- compresses several times faster at a similar ratio. Only new rows are affected.

alter table validation_results alter column result set compression lz4;
alter table job_results alter column result set compression lz4;
alter table webhook_deliveries alter column payload set compression lz4;
