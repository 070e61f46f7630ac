-- Seeds a migrated DropForge database with a history of finished jobs (bench/README.md,
-- "Seeding a job history"). Run it through bench/seed_history.sh, or in one session after setting
-- the df_seed.* options (common/tests/generic_plans.rs does that):
--
--   df_seed.jobs     jobs to write (default 1000000)
--   df_seed.tenants  tenants to spread them over (default 50)
--   df_seed.days     the jobs' creation times cover the last this many days (default 90)
--   df_seed.in_flight  jobs in flight besides, as on a busy system (default 0): queued, dispatched
--                      and running validations, and open batches of 5 running children
--
-- Every job is finished. Jobs come in groups of 50 consecutive rows (one tenant per group):
--
--   slot  0       a batch (kind batch, succeeded): 2 % of the jobs
--   slot  1       its child validation (parent_id = the batch, batch_items.job_id): 2 %
--   slot  3       a standalone validation that every 10th batch joined in flight (an extra item)
--   slot  4       the webhook job of the batch's `batch.completed` delivery
--   slots 2-37    standalone validations; slot 36 failed, slot 37 canceled
--   slots 38-41   search jobs with job_results: 8 %
--   slots 42-44   suppliers jobs with job_results: 6 %
--   slots 45-49   webhook jobs of `job.succeeded` deliveries (of slots 5, 12, 20, 38, 42)
--
-- Succeeded validations have a validation_results row (a result document of about 1.2 KB in the
-- shape the worker writes); every delivery has 1 to 3 webhook_attempts. Ids are ULIDs (48-bit
-- millisecond time, then random bits) stored as uuid, increasing with created_at; each product
-- is validated about 4 times over the period. The new tenants are named seed-<run>-<n>.

do $$
begin
    if to_regclass('_sqlx_migrations') is null then
        raise exception 'refusing to seed: this database has no _sqlx_migrations (migrate it first)';
    end if;
    if to_regclass('jobs') is null or to_regclass('batch_items') is null or to_regclass('job_results') is null then
        raise exception 'refusing to seed: the DropForge tables are missing (migrate it first)';
    end if;
end
$$;

do $$
begin
    perform set_config('df_seed.jobs', coalesce(nullif(current_setting('df_seed.jobs', true), ''), '1000000'), false);
    perform set_config('df_seed.tenants', coalesce(nullif(current_setting('df_seed.tenants', true), ''), '50'), false);
    perform set_config('df_seed.days', coalesce(nullif(current_setting('df_seed.days', true), ''), '90'), false);
    perform set_config('df_seed.in_flight', coalesce(nullif(current_setting('df_seed.in_flight', true), ''), '0'), false);
    -- one fixed "now" for every statement: the ids of parents are recomputed from their row number
    perform set_config('df_seed.anchor_ms', floor(extract(epoch from clock_timestamp()) * 1000)::bigint::text, false);
    perform set_config('df_seed.run', substr(md5(random()::text || clock_timestamp()::text), 1, 8), false);
end
$$;

-- Creation time of row i, in Unix milliseconds: spread evenly over the period, oldest first.
create or replace function pg_temp.seed_ms(i bigint) returns bigint language sql stable as $$
    select current_setting('df_seed.anchor_ms')::bigint - current_setting('df_seed.days')::bigint * 86400000
           + (i - 1) * (current_setting('df_seed.days')::bigint * 86400000) / current_setting('df_seed.jobs')::bigint
$$;

create or replace function pg_temp.seed_at(i bigint) returns timestamptz language sql stable as $$
    select to_timestamp(pg_temp.seed_ms(i) / 1000.0)
$$;

-- A ULID as uuid: 48 bits of milliseconds, then 80 bits derived from the run and the row.
create or replace function pg_temp.seed_id(i bigint) returns uuid language sql stable as $$
    select (lpad(to_hex(pg_temp.seed_ms(i)), 12, '0')
            || substr(md5(current_setting('df_seed.run') || ':' || i), 1, 20))::uuid
$$;

create or replace function pg_temp.seed_tenant(i bigint) returns uuid language sql stable as $$
    select (lpad(to_hex(current_setting('df_seed.anchor_ms')::bigint - current_setting('df_seed.days')::bigint * 86400000), 12, '0')
            || substr(md5(current_setting('df_seed.run') || ':tenant:'
                          || ((i - 1) / 50) % current_setting('df_seed.tenants')::bigint), 1, 20))::uuid
$$;

-- When row i finished: 1 to 3 s after it was created.
create or replace function pg_temp.seed_done(i bigint) returns timestamptz language sql stable as $$
    select pg_temp.seed_at(i) + make_interval(secs => 1 + i % 3)
$$;

create or replace function pg_temp.seed_product(i bigint) returns text language sql stable as $$
    select '1005' || lpad((i % greatest(current_setting('df_seed.jobs')::bigint / 4, 1))::text, 12, '0')
$$;

create or replace function pg_temp.seed_key(i bigint) returns text language sql stable as $$
    select 'df:cache:validation:score-v1:aliexpress:' || pg_temp.seed_product(i) || ':US:-'
$$;

create or replace function pg_temp.seed_hook(i bigint) returns text language sql stable as $$
    select 'https://hooks.seed-' || ((i - 1) / 50) % current_setting('df_seed.tenants')::bigint || '.example.com/dropforge'
$$;

-- A validation result document as the worker stores it (score-v1 report + product, options,
-- validated_at, partial, upstreams, signals); about 1.2 KB of JSON.
create or replace function pg_temp.seed_result(i bigint) returns text language sql stable as $$
    select format(
        '{"model":"score-v1","score":%s,"confidence":0.86,"verdict":"%s","sub_scores":['
        '{"name":"demand","score":%s,"weight":0.25,"quality":0.9,"reasons":["%s orders in 30 days"]},'
        '{"name":"profitability","score":64.0,"weight":0.25,"quality":1.0,"reasons":["margin 38.1%% after fees"]},'
        '{"name":"fulfilment","score":80.5,"weight":0.15,"quality":0.8,"reasons":["ships in 12 days"]},'
        '{"name":"ad_traction","score":55.0,"weight":0.15,"quality":0.7,"reasons":["14 active ads"]},'
        '{"name":"virality","score":40.3,"weight":0.1,"quality":0.6,"reasons":["120,400 views"]},'
        '{"name":"saturation","score":62.1,"weight":0.1,"quality":0.5,"reasons":["8,400 similar listings"]}],'
        '"knockouts":[],"flags":[],"margin":0.3812,'
        '"product":{"source":"aliexpress","id":"%s","title":"Magnetic Car Phone Holder","price":8.42,"currency":"USD","store_id":"91%s"},'
        '"options":{"country":"US","target_price":null},"validated_at":"%s","partial":%s,'
        '"upstreams":{"aliexpress":{"status":"ok"},"meta":{"status":"ok"},"youtube":{"status":"ok"}},'
        '"signals":{"aliexpress":{"on_selling":true,"unit_cost":8.42,"shipping_cost":1.99,"ship_days_max":12.0,"orders_30d":%s,"orders_total":15812,"listing_age_days":210.5,"rating":4.7,"rating_count":3120,"store_dsr":[4.8,4.7,4.6],"stock":5400,"similar_listings":8400},'
        '"meta":{"active_ads":14,"advertisers":6,"max_age_days":41.0,"new_ads_14d":3,"truncated":false},'
        '"youtube":{"videos":[{"views":98000,"likes":2100,"comments":140,"age_days":35.2}]},"target_price":null}}',
        40 + i % 60, (array['winner', 'test', 'watch', 'reject'])[1 + i % 4], 50 + i % 50,
        100 + i % 5000, pg_temp.seed_product(i), i % 100000,
        to_char(pg_temp.seed_done(i) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        case when i % 10 = 0 then 'true' else 'false' end, 100 + i % 5000)
$$;

create or replace function pg_temp.seed_input(i bigint) returns jsonb language sql stable as $$
    select jsonb_build_object('product', jsonb_build_object('source', 'aliexpress', 'id', pg_temp.seed_product(i)),
                              'country', 'US', 'target_price', null, 'cache_key', pg_temp.seed_key(i))
$$;

set synchronous_commit = off;

insert into tenants (id, name, webhook_secret, created_at)
select pg_temp.seed_tenant(k::bigint * 50 + 1), 'seed-' || current_setting('df_seed.run') || '-' || k,
       'whsec_' || encode(sha256(convert_to(current_setting('df_seed.run') || k, 'UTF8')), 'base64'),
       pg_temp.seed_at(1)
from generate_series(0, least(current_setting('df_seed.tenants')::bigint,
                              (current_setting('df_seed.jobs')::bigint + 49) / 50) - 1) k;

-- Batches (slot 0): they finish after their items (slots 1 and 3).
insert into jobs (id, tenant_id, kind, status, input, attempts, state_version, webhook_url, request_id,
                  next_run_at, created_at, started_at, finished_at, updated_at)
select pg_temp.seed_id(i), pg_temp.seed_tenant(i), 'batch', 'succeeded',
       jsonb_build_object('products', jsonb_build_array(jsonb_build_object('source', 'aliexpress', 'id', pg_temp.seed_product(i + 1))),
                          'options', jsonb_build_object('country', 'US', 'target_price', null, 'webhook_url', pg_temp.seed_hook(i))),
       0, 3, pg_temp.seed_hook(i), 'req-' || i, pg_temp.seed_at(i), pg_temp.seed_at(i), pg_temp.seed_at(i) + interval '50 ms',
       d, d
from generate_series(1, current_setting('df_seed.jobs')::bigint) i
cross join lateral (select least(pg_temp.seed_done(i + 3) + interval '2 s', to_timestamp(current_setting('df_seed.anchor_ms')::bigint / 1000.0)) as d) f
where (i - 1) % 50 = 0;

-- Validations: batch children (slot 1) and standalone ones (slots 2, 3, 5-37).
insert into jobs (id, tenant_id, kind, status, dedupe_key, input, error, attempts, state_version, parent_id,
                  webhook_url, request_id, next_run_at, created_at, started_at, finished_at, updated_at)
select pg_temp.seed_id(i), pg_temp.seed_tenant(i), 'validation', st.status, 'validation:' || pg_temp.seed_key(i) || ':',
       pg_temp.seed_input(i),
       case st.status when 'failed' then '{"code":"upstream_unavailable","message":"aliexpress did not answer"}'::jsonb end,
       case st.status when 'canceled' then 0 when 'failed' then 5 else 1 end, 3,
       case when s = 1 then pg_temp.seed_id(i - 1) end,
       case when s in (5, 12, 20) then pg_temp.seed_hook(i) end, 'req-' || i,
       pg_temp.seed_at(i), pg_temp.seed_at(i), case when st.status <> 'canceled' then pg_temp.seed_at(i) + interval '20 ms' end,
       pg_temp.seed_done(i), pg_temp.seed_done(i)
from generate_series(1, current_setting('df_seed.jobs')::bigint) i
cross join lateral (select (i - 1) % 50 as s) g
cross join lateral (select case s when 36 then 'failed' when 37 then 'canceled' else 'succeeded' end as status) st
where s between 1 and 37 and s <> 4;

insert into validation_results (job_id, cache_key, product_source, product_id, model, partial, result, created_at)
select pg_temp.seed_id(i), pg_temp.seed_key(i), 'aliexpress', pg_temp.seed_product(i), 'score-v1', i % 10 = 0,
       pg_temp.seed_result(i)::json, pg_temp.seed_done(i)
from generate_series(1, current_setting('df_seed.jobs')::bigint) i
where (i - 1) % 50 between 1 and 35 and (i - 1) % 50 <> 4;

-- Items: the child (slot 1), 0 to 2 cached items, and for every 10th batch the joined slot-3 job.
insert into batch_items (batch_id, position, product, cache_key, job_id, result)
select pg_temp.seed_id(i), 0, jsonb_build_object('source', 'aliexpress', 'id', pg_temp.seed_product(i + 1)),
       pg_temp.seed_key(i + 1), pg_temp.seed_id(i + 1), null
from generate_series(1, current_setting('df_seed.jobs')::bigint - 1) i
where (i - 1) % 50 = 0
union all
select pg_temp.seed_id(i), p, jsonb_build_object('source', 'aliexpress', 'id', pg_temp.seed_product(i + 7 * p)),
       pg_temp.seed_key(i + 7 * p), null, pg_temp.seed_result(i + 7 * p)::json
from generate_series(1, current_setting('df_seed.jobs')::bigint - 1) i
cross join generate_series(1, 2) p
where (i - 1) % 50 = 0 and p <= (i / 50) % 3
union all
select pg_temp.seed_id(i), 3, jsonb_build_object('source', 'aliexpress', 'id', pg_temp.seed_product(i + 3)),
       pg_temp.seed_key(i + 3), pg_temp.seed_id(i + 3), null
from generate_series(1, current_setting('df_seed.jobs')::bigint - 3) i
where (i - 1) % 500 = 0;

-- Search (slots 38-41) and suppliers (slots 42-44) jobs with their results.
insert into jobs (id, tenant_id, kind, status, dedupe_key, input, attempts, state_version, webhook_url, request_id,
                  next_run_at, created_at, started_at, finished_at, updated_at)
select pg_temp.seed_id(i), pg_temp.seed_tenant(i), k.kind, 'succeeded', k.kind || ':' || k.key || ':', k.input, 1, 3,
       case when s in (38, 42) then pg_temp.seed_hook(i) end, 'req-' || i,
       pg_temp.seed_at(i), pg_temp.seed_at(i), pg_temp.seed_at(i) + interval '20 ms', pg_temp.seed_done(i), pg_temp.seed_done(i)
from generate_series(1, current_setting('df_seed.jobs')::bigint) i
cross join lateral (select (i - 1) % 50 as s) g
cross join lateral (
    select case when s <= 41 then 'search' else 'suppliers' end as kind,
           case when s <= 41 then 'df:cache:search:US:1:phone holder ' || i % 5000
                else 'df:cache:suppliers:aliexpress:' || pg_temp.seed_product(i) || ':US' end as key,
           case when s <= 41 then jsonb_build_object('query', 'phone holder ' || i % 5000, 'country', 'US', 'page', 1,
                                                     'cache_key', 'df:cache:search:US:1:phone holder ' || i % 5000)
                else jsonb_build_object('product', jsonb_build_object('source', 'aliexpress', 'id', pg_temp.seed_product(i)),
                                        'country', 'US',
                                        'cache_key', 'df:cache:suppliers:aliexpress:' || pg_temp.seed_product(i) || ':US') end as input
) k
where s between 38 and 44;

insert into job_results (job_id, cache_key, kind, result, created_at)
select j.id, j.input ->> 'cache_key', j.kind,
       case j.kind when 'search' then jsonb_build_object(
                'query', j.input ->> 'query', 'country', 'US', 'page', 1, 'page_size', 3, 'total', 8400, 'warnings', '[]'::jsonb,
                'searched_at', j.finished_at,
                'products', (select jsonb_agg(jsonb_build_object(
                    'id', '1005' || lpad((n * 7919)::text, 12, '0'), 'title', 'Magnetic Car Phone Holder ' || n,
                    'price', 8.42 + n, 'currency', 'USD', 'orders_30d', 1200 - n, 'evaluate_rate', 97.1,
                    'shop_id', '91' || n, 'url', 'https://www.aliexpress.com/item/1005' || lpad((n * 7919)::text, 12, '0') || '.html',
                    'image', 'https://ae01.alicdn.com/kf/S' || md5(n::text) || '.jpg')) from generate_series(1, 3) n))
            else jsonb_build_object(
                'product', j.input -> 'product', 'keyword', 'magnetic phone holder', 'country', 'US', 'found_at', j.finished_at,
                'suppliers', (select jsonb_agg(jsonb_build_object(
                    'store_id', '91' || n, 'store_name', 'Store ' || n, 'store_url', 'https://www.aliexpress.com/store/91' || n,
                    'country', 'CN', 'ratings', null, 'evaluate_rate', 96.5, 'min_price', 7.9 + n, 'currency', 'USD',
                    'orders_30d', 900 - n, 'products', 12 + n)) from generate_series(1, 3) n))
       end,
       j.finished_at
from jobs j
where j.kind in ('search', 'suppliers') and j.tenant_id in (select id from tenants where name like 'seed-' || current_setting('df_seed.run') || '-%');

-- Webhook jobs (slots 4 and 45-49), their deliveries and attempts. The payload of a
-- job.succeeded event carries the job's result.
create temporary table seed_hooks as
select i, pg_temp.seed_id(i) as job_id, pg_temp.seed_id(i - back) as about, s,
       'msg_' || upper(replace(pg_temp.seed_id(i)::text, '-', '')) as delivery_id,
       1 + i % 3 as attempts, i % 20 = 0 as failed
from generate_series(1, current_setting('df_seed.jobs')::bigint) i
cross join lateral (select (i - 1) % 50 as s) g
cross join lateral (select case s when 4 then 4 when 45 then 40 when 46 then 34 when 47 then 27 when 48 then 10 else 7 end as back) b
where s = 4 or s >= 45;

insert into webhook_deliveries (id, tenant_id, job_id, event_type, url, payload, status, attempts, next_attempt_at,
                                created_at, finished_at)
select h.delivery_id, pg_temp.seed_tenant(h.i), h.about, case when h.s = 4 then 'batch.completed' else 'job.succeeded' end,
       pg_temp.seed_hook(h.i),
       case when h.s = 4 then format('{"type":"batch.completed","timestamp":"%s","data":{"id":"%s","kind":"batch","status":"succeeded","links":{"self":"/v1/jobs/%s"}}}',
                                     pg_temp.seed_at(h.i), h.about, h.about)
            when h.s in (45, 46, 47) then format('{"type":"job.succeeded","timestamp":"%s","data":{"id":"%s","kind":"validation","status":"succeeded","result":%s,"error":null}}',
                                                 pg_temp.seed_at(h.i), h.about, pg_temp.seed_result(h.i))
            else format('{"type":"job.succeeded","timestamp":"%s","data":{"id":"%s","kind":"%s","status":"succeeded","result":{"country":"US","page":1,"total":8400},"error":null}}',
                        pg_temp.seed_at(h.i), h.about, case when h.s = 48 then 'search' else 'suppliers' end)
       end,
       case when h.failed then 'failed' else 'delivered' end, h.attempts, null,
       pg_temp.seed_at(h.i), pg_temp.seed_done(h.i)
from seed_hooks h;

insert into jobs (id, tenant_id, kind, status, input, attempts, state_version, parent_id, next_run_at, created_at,
                  started_at, finished_at, updated_at)
select h.job_id, pg_temp.seed_tenant(h.i), 'webhook', case when h.failed then 'failed' else 'succeeded' end,
       jsonb_build_object('delivery_id', h.delivery_id), h.attempts, 1 + 2 * h.attempts, h.about,
       pg_temp.seed_at(h.i), pg_temp.seed_at(h.i), pg_temp.seed_at(h.i) + interval '10 ms', pg_temp.seed_done(h.i),
       pg_temp.seed_done(h.i)
from seed_hooks h;

insert into webhook_attempts (delivery_id, attempt_no, attempted_at, duration_ms, response_status, error_class,
                              response_excerpt, next_attempt_at)
select h.delivery_id, a, pg_temp.seed_at(h.i) + make_interval(secs => 5 * (a - 1)), 40 + (h.i + a) % 400,
       case when a = h.attempts and not h.failed then 200 else 503 end,
       case when a = h.attempts and not h.failed then null else 'http_status' end,
       case when a = h.attempts and not h.failed then 'ok' else 'Service Unavailable' end,
       case when a < h.attempts then pg_temp.seed_at(h.i) + make_interval(secs => 5 * a) end
from seed_hooks h
cross join generate_series(1, h.attempts) a;

drop table seed_hooks;

-- In flight (df_seed.in_flight rows, created in the last minutes): groups of 20 rows, an open
-- batch (running) with 5 children, then 14 standalone validations; 30 % queued and not yet
-- dispatched, 30 % queued and dispatched, 40 % running under a lease.
create or replace function pg_temp.seed_live_ms(i bigint) returns bigint language sql stable as $$
    select current_setting('df_seed.anchor_ms')::bigint - 300000
           + i * 300000 / greatest(current_setting('df_seed.in_flight')::bigint, 1)
$$;

create or replace function pg_temp.seed_live_id(i bigint) returns uuid language sql stable as $$
    select (lpad(to_hex(pg_temp.seed_live_ms(i)), 12, '0')
            || substr(md5(current_setting('df_seed.run') || ':live:' || i), 1, 20))::uuid
$$;

insert into jobs (id, tenant_id, kind, status, dedupe_key, input, attempts, state_version, parent_id, queue_task_id,
                  dispatched_at, next_run_at, lease_owner, lease_expires_at, created_at, started_at, updated_at)
select pg_temp.seed_live_id(i), pg_temp.seed_tenant(i), case when s = 0 then 'batch' else 'validation' end, st,
       case when s > 0 then 'validation:live:' || current_setting('df_seed.run') || ':' || i || ':' end,
       case when s = 0 then '{"products":[],"options":{"country":"US"}}'::jsonb else pg_temp.seed_input(i + 7) end,
       case when st = 'running' then 1 else 0 end, 2,
       case when s between 1 and 5 then pg_temp.seed_live_id(i - s) end,
       case when dispatched then 'seedtask' || i end, case when dispatched then now() end,
       to_timestamp(pg_temp.seed_live_ms(i) / 1000.0),
       case when st = 'running' and s > 0 then 'seed-worker' end,
       case when st = 'running' and s > 0 then now() + interval '15 s' end,
       to_timestamp(pg_temp.seed_live_ms(i) / 1000.0), case when st = 'running' then now() end, now()
from generate_series(1, current_setting('df_seed.in_flight')::bigint) i
cross join lateral (select (i - 1) % 20 as s) g
cross join lateral (select case when s = 0 or i % 10 >= 6 then 'running' else 'queued' end as st) t
cross join lateral (select s > 0 and (st = 'running' or i % 10 between 3 and 5) as dispatched) d;

insert into batch_items (batch_id, position, product, cache_key, job_id)
select pg_temp.seed_live_id(i - s), s - 1, jsonb_build_object('source', 'aliexpress', 'id', pg_temp.seed_product(i + 7)),
       pg_temp.seed_key(i + 7), pg_temp.seed_live_id(i)
from generate_series(1, current_setting('df_seed.in_flight')::bigint) i
cross join lateral (select (i - 1) % 20 as s) g
where s between 1 and 5;

analyze tenants;
analyze jobs;
analyze validation_results;
analyze job_results;
analyze batch_items;
analyze webhook_deliveries;
analyze webhook_attempts;
