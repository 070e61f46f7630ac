-- Smaller ANALYZE samples for the tables every job writes.
--
-- ANALYZE reads 300 rows per unit of the largest statistics target of a table's columns: 30,000
-- rows at the default target of 100. On `jobs` that cost 330-410 ms per run (45,000 rows, most of
-- it computing statistics of the `input` and `error` documents), and the upkeep loop (or
-- autovacuum) analyses these tables every time a tenth of their rows changed: with fewer than
-- 100,000 rows, every few thousand validations. In a benchmark of 10,000 batch validations on a
-- young database, upkeep was a quarter of PostgreSQL's CPU.
--
-- The planner needs little from these tables: their statements find rows by key or through
-- partial indexes, and the columns they filter on have a handful of values (status, kind, class,
-- tenant) or are unique. A target of 10 (3,000 sampled rows) keeps every common value and a
-- coarse histogram; the documents, which no statement filters on, get no statistics at all.
-- `ANALYZE jobs` then takes 15-25 ms. The plan test (`common/tests/generic_plans.rs`) checks that
-- every per-job statement still uses an index.
do $$
declare
    col record;
begin
    for col in
        select c.relname as tbl, a.attname as name, format_type(a.atttypid, a.atttypmod) as ty
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        where c.relnamespace = current_schema()::regnamespace
          and c.relname in ('jobs', 'batch_items', 'validation_results', 'job_results',
                            'webhook_deliveries', 'webhook_attempts')
          and a.attnum > 0 and not a.attisdropped
    loop
        execute format(
            'alter table %I alter column %I set statistics %s',
            col.tbl, col.name,
            case
                when col.ty in ('json', 'jsonb') or col.name in ('payload', 'response_excerpt') then 0
                else 10
            end);
    end loop;
end
$$;
