//! Generic plans: every statement that the API and the worker prepare per request, per job or per
//! loop round must reach `jobs`, `batch_items`, results and webhook tables through an index, even
//! once PostgreSQL switches the prepared statement to its generic plan.
//!
//! The test seeds its own database with a job history (the SQL of `bench/seed_history.sh`),
//! calls the `db` functions on a pool of ONE connection that runs with
//! `plan_cache_mode = force_generic_plan`, then `EXPLAIN EXECUTE`s every statement in that
//! connection's `pg_prepared_statements` with null parameters and fails on any `Seq Scan` of a
//! history table. A second test does the same on a young database (2,000 jobs) with the worker's
//! session settings (`db::FIXED_PLAN_SETTINGS`). Run with `-- --nocapture` to see every plan.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{str::FromStr, time::Duration};

use chrono::Utc;
use dropforge_common::{
    db::{
        self, api_keys, batches, job_results,
        jobs::{self, JobFilter, NewJob},
        results, retention, sched, tenants,
        webhooks::{self, Attempt, NewDelivery},
    },
    domain::{JobClass, JobId, JobKind, JobStatus, TenantId},
    product::ProductRef,
};
use serde_json::json;
use sqlx::{
    AssertSqlSafe, Connection, Executor, PgPool, Row,
    postgres::{PgConnectOptions, PgConnection, PgPoolOptions},
};
use uuid::Uuid;

/// The seed tool's SQL, run here with a smaller history.
const SEED_SQL: &str = include_str!("../../bench/seed_history.sql");
/// Jobs seeded: enough for the planner to see large tables (about 20 s to write);
/// `DF_PLANS_SEED_JOBS` overrides it (e.g. 10000 to look at the plans of a young database).
const SEED_JOBS: u32 = 150_000;
/// Jobs in flight besides (queued, dispatched, running, open batches), as on a busy system, so
/// that the small partial indexes over in-flight jobs have realistic sizes.
const SEED_IN_FLIGHT: u32 = 3_000;
/// Tables that grow with the job history: a sequential scan of one is a bug on a hot path.
const WATCHED: [&str; 6] = [
    "jobs",
    "batch_items",
    "validation_results",
    "job_results",
    "webhook_deliveries",
    "webhook_attempts",
];
/// Statements allowed to scan a watched table, by statement prefix, with the reason. Keep tiny.
const ALLOWED: &[(&str, &str)] = &[];
/// Statements whose work must be bounded by the keys they are given, with an index their plan
/// must not use: walking it costs in proportion to how many jobs are open, not to the keys.
const KEYED: &[(&str, &str, &str)] = &[
    (
        "select q.i as \"i!\", (not q.probe or r.found is not null) as \"ready!\"",
        "SubPlan",
        "pending_work: one index probe per queue, never a (hashed) subplan over every ready job",
    ),
    (
        "update jobs b set status = 'succeeded', finished_at = now(), state_version = state_version + 1, updated_at = now() where b.id = any(array(select batch_id from batch_items where job_id = any($1)))",
        "jobs_open",
        "finish_ready_many: the children's batches and their items, not every open job or batch",
    ),
];

/// Server URL for admin work (the per-test database is created and dropped through it).
fn admin_url() -> String {
    std::env::var("DF_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Evaluates a `db` call and panics with the call's text when it fails; yields its value.
macro_rules! call {
    ($e:expr) => {
        match $e.await {
            Ok(v) => v,
            Err(e) => panic!("{} failed: {e}", stringify!($e)),
        }
    };
}

/// The size of the seeded history.
#[derive(Clone, Copy)]
struct Seed {
    jobs: u32,
    in_flight: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_statements_use_indexes_under_generic_plans() {
    let jobs: u32 = std::env::var("DF_PLANS_SEED_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SEED_JOBS);
    let seed = Seed {
        jobs,
        in_flight: SEED_IN_FLIGHT,
    };
    in_own_database(seed, &["set plan_cache_mode = force_generic_plan"]).await;
}

/// The worker's connections (`db::Planning::Fixed`) on a young database: tables of a few pages,
/// analysed while small, where a generic plan without the second setting reads them
/// sequentially, and keeps doing so from its cache while they grow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_plans_use_indexes_on_a_young_database() {
    let seed = Seed {
        jobs: 2_000,
        in_flight: 100,
    };
    in_own_database(seed, &db::FIXED_PLAN_SETTINGS).await;
}

/// Runs [`check`] in a database of its own, with `settings` on the checked connection; fails on
/// any statement that scans a history table.
async fn in_own_database(seed: Seed, settings: &'static [&'static str]) {
    let name = format!("df_hist_plans_{}", ulid::Ulid::generate().to_string().to_lowercase());
    let admin = PgConnectOptions::from_str(&admin_url()).expect("admin url");
    let mut conn = PgConnection::connect_with(&admin).await.expect("connect admin");
    conn.execute(AssertSqlSafe(format!("create database {name}")))
        .await
        .expect("create database");
    let options = admin.clone().database(&name);
    let outcome = tokio::spawn(check(options, seed, settings)).await;
    conn.execute(AssertSqlSafe(format!("drop database if exists {name} with (force)")))
        .await
        .expect("drop database");
    match outcome {
        Ok(failures) => assert!(
            failures.is_empty(),
            "{} statement(s) scan a history table under their generic plan:\n\n{}",
            failures.len(),
            failures.join("\n\n")
        ),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("check task: {e}"),
    }
}

/// Migrates, seeds, prepares every statement, and returns one report per offending statement.
async fn check(options: PgConnectOptions, seed: Seed, settings: &'static [&'static str]) -> Vec<String> {
    let setup = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options.clone())
        .await
        .expect("connect");
    db::migrate(&setup).await.expect("migrate");
    let Seed { jobs, in_flight } = seed;
    let started = std::time::Instant::now();
    let mut seed = setup.acquire().await.expect("seed connection");
    seed.execute(AssertSqlSafe(format!(
        "set df_seed.jobs = '{jobs}'; set df_seed.in_flight = '{in_flight}'"
    )))
    .await
    .expect("set df_seed options");
    sqlx::raw_sql(SEED_SQL).execute(&mut *seed).await.expect("seed");
    drop(seed);
    println!("seeded {jobs} jobs in {:.1} s", started.elapsed().as_secs_f64());

    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                for setting in settings {
                    conn.execute(*setting).await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .expect("connect generic-plan pool");
    let backend: i32 = sqlx::query_scalar("select pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .expect("backend pid");

    let calls = prepare_statements(&pool, &setup).await;
    report(&pool, backend, calls).await
}

/// Calls the functions the API and the worker run per request, per job or per loop round, so
/// that their statements get prepared on the pool's one connection. Adding a function is one
/// line in a `count!` block (or one `call!`). Returns how many calls were made.
async fn prepare_statements(pool: &PgPool, setup: &PgPool) -> usize {
    // Plausible arguments, read from the seeded history on the other pool.
    let seeded = |sql: &'static str| sqlx::query(sql).fetch_one(setup);
    let row = seeded(
        "select t.id, j.id, bi.batch_id, bi.job_id, d.id, d.job_id, vr.cache_key, jr.cache_key
         from tenants t
         join jobs j on j.tenant_id = t.id and j.kind = 'validation' and j.status = 'succeeded' and j.parent_id is null
         cross join lateral (select batch_id, job_id from batch_items where job_id is not null limit 1) bi
         cross join lateral (select id, job_id from webhook_deliveries limit 1) d
         cross join lateral (select cache_key from validation_results limit 1) vr
         cross join lateral (select cache_key from job_results limit 1) jr
         where t.name like 'seed-%' limit 1",
    )
    .await
    .expect("seeded rows");
    let old_tenant = TenantId(row.get(0));
    let old_job = JobId(row.get(1));
    let old_batch = JobId(row.get(2));
    let old_child = JobId(row.get(3));
    let old_delivery: String = row.get(4);
    let old_event_job = JobId(row.get(5));
    let validation_key: String = row.get(6);
    let job_key: String = row.get(7);
    let mut n = 0;
    macro_rules! count {
        ($($e:expr;)*) => { $( let _ = call!($e); n += 1; )* };
    }

    // Tenants and API keys (auth runs per request; the CLI shares the statements).
    let created = call!(tenants::create_key(pool, "plans"));
    let again = call!(tenants::create_key(pool, "plans"));
    let tenant = created.tenant_id;
    count! {
        db::migrations_applied(pool);
        api_keys::find(pool, &created.key.id);
        api_keys::touch(pool, std::slice::from_ref(&created.key.id));
        api_keys::list(pool, Some("plans"));
        api_keys::revoke(pool, &again.key.id);
        tenants::ensure_system_tenant(pool, "plans-system");
        webhooks::signing_secrets(pool, tenant.0);
        webhooks::rotate_secret(pool, "plans", Duration::from_secs(60));
    }

    // Jobs: submit (new, joined, pre-dispatched), dispatch, claim, run, finish, read.
    let product = ProductRef {
        source: "aliexpress".into(),
        id: "1005009999999999".into(),
    };
    let new_job = |key: &str, dispatch_as: Option<ulid::Ulid>| NewJob {
        tenant_id: tenant,
        kind: JobKind::Validation,
        dedupe_key: Some(format!("validation:{key}:")),
        input: json!({"product": product, "country": "US", "target_price": null, "cache_key": key}),
        webhook_url: Some("https://hooks.example.com/plans".into()),
        request_id: Some("req-plans".into()),
        parent_id: None,
        dispatch_as,
    };
    let a = call!(jobs::create_or_join(pool, &new_job("plans:a", None))).id();
    let _joined = call!(jobs::create_or_join(pool, &new_job("plans:a", None)));
    let task = ulid::Ulid::generate();
    let b = call!(jobs::create_or_join(pool, &new_job("plans:b", Some(task)))).id();
    let c = call!(jobs::create_or_join(pool, &new_job("plans:c", None))).id();
    let d = call!(jobs::create_or_join(pool, &new_job("plans:d", None))).id();
    // A batch of two: "plans:a" joins the job in flight, "plans:e" is new.
    let batch = JobId::generate();
    let children = ["plans:a", "plans:e"].map(|key| NewJob {
        parent_id: Some(batch),
        ..new_job(key, None)
    });
    let child_ids = [JobId::generate(), JobId::generate()];
    let items: Vec<batches::NewItem> = children
        .iter()
        .zip(child_ids)
        .enumerate()
        .map(|(i, (child, id))| batches::NewItem {
            position: i32::try_from(i).expect("position"),
            product: json!(product),
            cache_key: child.dedupe_key.clone().unwrap_or_default(),
            job_id: Some(id),
            result: None,
        })
        .collect();
    let batch_input = json!({"products": []});
    let new_batch = batches::NewBatch {
        id: batch,
        tenant,
        input: &batch_input,
        webhook_url: None,
        request_id: Some("req-plans"),
        items: &items,
    };
    let mut conn = pool.acquire().await.expect("acquire");
    let (_, in_batch) = call!(jobs::create_batch(&mut conn, &new_batch, &children, &child_ids));
    assert_eq!(in_batch[0].id(), a, "the batch joined the job in flight");
    drop(conn);
    n += 6;
    let mut tx = pool.begin().await.expect("begin");
    let taken = call!(jobs::take_due(&mut tx, JobKind::Validation, JobClass::Interactive, 10));
    tx.commit().await.expect("commit");
    let mut tx = pool.begin().await.expect("begin");
    let bulk = call!(jobs::take_due(&mut tx, JobKind::Validation, JobClass::Bulk, 10));
    tx.commit().await.expect("commit");
    count! {
        jobs::record_drain(pool, JobKind::Validation, JobClass::Interactive, &taken.per_tenant);
        jobs::record_drain(pool, JobKind::Validation, JobClass::Bulk, &bulk.per_tenant);
    }
    let dispatched: Vec<(Uuid, String)> = taken.jobs.iter().map(|(id, t)| (id.0, t.to_string())).collect();
    let owner = "plans-worker";
    let lease = Duration::from_secs(15);
    count! {
        jobs::undo_dispatch(pool, b, task);
        jobs::dispatched_before(pool, JobKind::Validation, Duration::ZERO, 100);
        jobs::settle_dispatches(pool, &dispatched[..1], &dispatched[1..]);
        jobs::claim(pool, a, owner, lease);
        jobs::claim_many(pool, &[b.0, c.0, d.0], owner, lease);
        jobs::renew_leases(pool, &[a.0, b.0], owner, lease);
        jobs::reschedule(pool, d, owner, Duration::ZERO, &json!({"code": "throttled"}), true);
        jobs::promote_due(pool, JobKind::Validation, 100);
        jobs::pending_work(pool, &[(JobKind::Validation, JobClass::Interactive), (JobKind::Search, JobClass::Bulk)], &[]);
        jobs::mark_failed(pool, c, owner, &json!({"code": "upstream_unavailable"}));
        jobs::mark_succeeded(pool, JobId::generate(), owner);
        jobs::succeed_many(pool, &[Uuid::nil()], owner);
        jobs::requeue_expired(pool, 5);
        jobs::get(pool, tenant, a);
        jobs::get(pool, old_tenant, old_job);
        jobs::get_many(pool, &[(tenant, a), (old_tenant, old_job), (tenant, old_job)]);
        jobs::status_of(pool, a);
        jobs::list(pool, old_tenant, &JobFilter { limit: 20, ..JobFilter::default() });
        jobs::list(pool, old_tenant, &JobFilter {
            status: Some(JobStatus::Succeeded),
            kind: Some(JobKind::Validation),
            before: Some((Utc::now(), Uuid::max())),
            limit: 20,
        });
        jobs::cancel(pool, tenant, d);
        jobs::cancel(pool, old_tenant, old_job);
    }
    for kind in JobKind::ALL {
        let _ = call!(jobs::depth(pool, kind));
    }
    n += 1;

    // Results of validations and of search/suppliers jobs.
    let doc = json!({"model": "score-v1", "score": 50.0}).to_string();
    count! {
        results::complete_validation(pool, &results::NewResult {
            job_id: a,
            cache_key: "plans:a",
            product: &product,
            model: "score-v1",
            partial: false,
            result: &doc,
        }, owner);
        results::fresh_for_keys(pool, std::slice::from_ref(&validation_key), 86_400.0, 3_600.0);
        results::complete_validations(pool, &[results::OwnedResult {
            job_id: c,
            cache_key: "plans:c".into(),
            product: product.clone(),
            model: "score-v1".into(),
            partial: false,
            result: doc.clone(),
        }], owner);
        job_results::complete(pool, b, "plans:b", JobKind::Search, &doc, owner);
        job_results::fresh_for_key(pool, &job_key, 3_600.0);
    }

    // Batches (created above, with the jobs): items, progress, completion (per child and the
    // reconciler's sweep).
    count! {
        batches::items(pool, batch);
        batches::items(pool, old_batch);
        batches::mark_running(pool, old_child);
        batches::finish_ready(pool, Some(old_child));
        batches::finish_ready(pool, None);
        batches::finish_ready_many(pool, &[old_child.0, a.0]);
        batches::mark_running_many(pool, &[old_child.0, a.0]);
    }

    // Webhooks: the outbox write, the sender's reads and writes, the delivery log.
    count! {
        webhooks::enqueue(pool, &NewDelivery {
            tenant_id: tenant,
            job_id: a,
            event_type: "job.succeeded",
            url: "https://hooks.example.com/plans",
            payload: "{}",
        });
        webhooks::load(pool, &old_delivery);
        webhooks::record_attempt(pool, &old_delivery, &Attempt {
            attempt_no: 9,
            duration: Duration::from_millis(40),
            response_status: Some(200),
            error_class: None,
            response_excerpt: "ok",
            next_attempt_at: None,
            delivery_status: "delivered",
        });
        webhooks::disable_url(pool, tenant.0, "https://gone.example.com/", "410 Gone");
        webhooks::url_disabled(pool, tenant.0, "https://hooks.example.com/plans");
        webhooks::log_for_job(pool, old_tenant, old_event_job);
    }

    // Fair-dispatch bookkeeping: the refusal's figures, the admin command, the reconciler's repair.
    count! {
        sched::backlog(pool, tenant, 1);
        sched::set_tenant(pool, "plans", Some(2), Some(30_000));
        sched::repair_queued(pool);
        sched::tenant_queues(pool);
    }

    // Retention (the worker's loop): one small chunk and the backlog estimate.
    let cutoff = Utc::now() - chrono::Duration::days(30);
    count! {
        retention::remove_chunk(pool, cutoff, retention::Cursor::start(), 50);
        retention::pending(pool, cutoff, 10_000);
    }
    n
}

/// EXPLAINs every prepared statement of the pool's connection; returns the offending ones.
async fn report(pool: &PgPool, backend: i32, calls: usize) -> Vec<String> {
    let mut conn = pool.acquire().await.expect("the one connection");
    let pid: i32 = sqlx::raw_sql("select pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await
        .expect("pid")
        .get(0);
    assert_eq!(pid, backend, "the pool reconnected: prepared statements were lost");
    let statements = sqlx::raw_sql(
        "select name, statement, array_to_string(parameter_types::text[], '|')
         from pg_prepared_statements order by prepare_time",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("pg_prepared_statements");
    assert!(
        statements.len() >= 40,
        "only {} statements were prepared by {calls} calls",
        statements.len()
    );
    let mut failures = Vec::new();
    let mut keyed_seen = vec![false; KEYED.len()];
    for row in &statements {
        let name: String = row.get(0);
        let statement: String = row.get(1);
        let types: String = row.get(2);
        let args: Vec<String> = types
            .split('|')
            .filter(|t| !t.is_empty())
            .map(|t| format!("null::{t}"))
            .collect();
        let explain = if args.is_empty() {
            format!("explain execute {name}")
        } else {
            format!("explain execute {name}({})", args.join(", "))
        };
        let plan = match sqlx::raw_sql(AssertSqlSafe(explain)).fetch_all(&mut *conn).await {
            Ok(rows) => rows
                .iter()
                .map(|r| r.try_get::<String, _>(0).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => {
                failures.push(format!("{}\n  EXPLAIN failed: {e}", one_line(&statement)));
                continue;
            }
        };
        let scanned = scanned_tables(&plan);
        println!("---- {}\n{plan}\n", one_line(&statement));
        let compact = one_line(&statement);
        for ((prefix, index, why), seen) in KEYED.iter().zip(keyed_seen.iter_mut()) {
            if compact.starts_with(prefix) {
                *seen = true;
                if plan.contains(index) {
                    failures.push(format!("{compact}\n  uses {index} ({why})\n{plan}"));
                }
            }
        }
        if scanned.is_empty() {
            continue;
        }
        if let Some((prefix, reason)) = ALLOWED.iter().find(|(p, _)| compact.starts_with(p)) {
            println!("(allowed: {prefix:?}: {reason})");
            continue;
        }
        failures.push(format!("{compact}\n  scans {}\n{plan}", scanned.join(", ")));
    }
    for ((prefix, _, _), seen) in KEYED.iter().zip(keyed_seen) {
        if !seen {
            failures.push(format!("no prepared statement starts with {prefix:?}: update KEYED"));
        }
    }
    failures
}

/// The watched tables a plan reads with a (parallel) sequential scan.
fn scanned_tables(plan: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in plan.lines() {
        for (i, _) in line.match_indices("Seq Scan on ") {
            let table = line[i + "Seq Scan on ".len()..]
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            if WATCHED.contains(&table.as_str()) && !out.contains(&table) {
                out.push(table);
            }
        }
    }
    out
}

/// A statement on one line with single spaces (for prefixes and messages).
fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn seq_scans_are_recognised() {
    let plan =
        "Update on jobs b\n  ->  Seq Scan on jobs b  (cost=0.00..1.00 rows=1 width=6)\n  ->  Seq Scan on tenants";
    assert_eq!(scanned_tables(plan), vec!["jobs".to_owned()]);
    assert!(scanned_tables("Index Scan using jobs_pkey on jobs").is_empty());
    assert_eq!(
        scanned_tables("Parallel Seq Scan on batch_items bi"),
        vec!["batch_items".to_owned()]
    );
}
