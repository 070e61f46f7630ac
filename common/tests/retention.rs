//! Retention: old finished jobs go with every row that hangs off them, in chunks no larger than
//! the batch; recent, unfinished and still-referenced jobs stay.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;

use chrono::{DateTime, Utc};
use dropforge_common::{
    config::{Config, RetentionConfig},
    db::{
        self,
        retention::{self, Chunk, Cursor, Removed},
    },
};
use sqlx::{
    AssertSqlSafe, Connection, Executor, PgPool,
    postgres::{PgConnectOptions, PgConnection, PgPoolOptions},
};
use uuid::Uuid;

/// Chunk size of the test: smaller than the old history, larger than its biggest family.
const BATCH: u32 = 7;
/// Extra old standalone validations, so that a round needs several chunks.
const EXTRA_OLD: usize = 25;

fn admin_url() -> String {
    std::env::var("DF_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_old_families_in_bounded_chunks() {
    let name = format!("df_hist_ret_{}", ulid::Ulid::generate().to_string().to_lowercase());
    let admin = PgConnectOptions::from_str(&admin_url()).expect("admin url");
    let mut conn = PgConnection::connect_with(&admin).await.expect("connect admin");
    conn.execute(AssertSqlSafe(format!("create database {name}")))
        .await
        .expect("create database");
    let outcome = tokio::spawn(scenario(admin.clone().database(&name))).await;
    conn.execute(AssertSqlSafe(format!("drop database if exists {name} with (force)")))
        .await
        .expect("drop database");
    if let Err(e) = outcome {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("scenario task: {e}");
    }
}

/// Writes rows with explicit ages.
struct Seed<'a> {
    pool: &'a PgPool,
    tenant: Uuid,
}

impl Seed<'_> {
    /// A job finished `days` ago (`None`: still queued, created 40 days ago).
    async fn job(&self, kind: &str, status: &str, parent: Option<Uuid>, days: Option<f64>) -> Uuid {
        let id = Uuid::from(ulid::Ulid::generate());
        sqlx::query(
            "insert into jobs (id, tenant_id, kind, status, input, parent_id, created_at, finished_at)
             values ($1, $2, $3, $4, '{}', $5, now() - make_interval(days => 40) - make_interval(secs => 60),
                     now() - make_interval(secs => $6 * 86400))",
        )
        .bind(id)
        .bind(self.tenant)
        .bind(kind)
        .bind(status)
        .bind(parent)
        .bind(days)
        .execute(self.pool)
        .await
        .expect("insert job");
        id
    }

    async fn validation_result(&self, job: Uuid) {
        sqlx::query(
            "insert into validation_results (job_id, cache_key, product_source, product_id, model, partial, result)
             values ($1, 'k:' || $1, 'aliexpress', '1005000000000001', 'score-v1', false, '{\"score\": 50}')",
        )
        .bind(job)
        .execute(self.pool)
        .await
        .expect("insert validation result");
    }

    async fn job_result(&self, job: Uuid) {
        sqlx::query(
            "insert into job_results (job_id, cache_key, kind, result) values ($1, 'k:' || $1, 'search', '{}')",
        )
        .bind(job)
        .execute(self.pool)
        .await
        .expect("insert job result");
    }

    async fn item(&self, batch: Uuid, position: i32, job: Option<Uuid>) {
        sqlx::query(
            "insert into batch_items (batch_id, position, product, cache_key, job_id, result)
             values ($1, $2, '{}', 'k', $3, case when $3::uuid is null then '{}'::jsonb end)",
        )
        .bind(batch)
        .bind(position)
        .bind(job)
        .execute(self.pool)
        .await
        .expect("insert batch item");
    }

    /// A delivery about `job` with `attempts` attempts, and the webhook job that sent it.
    async fn delivery(&self, job: Uuid, attempts: i32, webhook_status: &str, days: Option<f64>) -> (String, Uuid) {
        let id = format!("msg_{}", ulid::Ulid::generate());
        sqlx::query(
            "insert into webhook_deliveries (id, tenant_id, job_id, event_type, url, payload, status, attempts)
             values ($1, $2, $3, 'job.succeeded', 'https://hooks.example.com/' || $1, '{}', 'delivered', $4)",
        )
        .bind(&id)
        .bind(self.tenant)
        .bind(job)
        .bind(attempts)
        .execute(self.pool)
        .await
        .expect("insert delivery");
        for n in 1..=attempts {
            sqlx::query(
                "insert into webhook_attempts (delivery_id, attempt_no, duration_ms, response_status)
                 values ($1, $2, 40, 200)",
            )
            .bind(&id)
            .bind(n)
            .execute(self.pool)
            .await
            .expect("insert attempt");
        }
        let hook = self.job("webhook", webhook_status, Some(job), days).await;
        (id, hook)
    }
}

async fn exists(pool: &PgPool, table: &str, column: &str, id: Uuid) -> bool {
    sqlx::query_scalar(AssertSqlSafe(format!(
        "select exists(select 1 from {table} where {column} = $1)"
    )))
    .bind(id)
    .fetch_one(pool)
    .await
    .expect("exists")
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(format!("select count(*) from {table}")))
        .fetch_one(pool)
        .await
        .expect("count")
}

/// One retention round as the worker runs it: chunks until one comes back short.
async fn round(pool: &PgPool, cutoff: DateTime<Utc>) -> (Removed, Vec<Chunk>) {
    let mut cursor = Cursor::start();
    let mut total = Removed::default();
    let mut chunks = Vec::new();
    loop {
        let chunk = retention::remove_chunk(pool, cutoff, cursor, BATCH)
            .await
            .expect("chunk");
        total.add(&chunk.removed);
        chunks.push(chunk);
        match chunk.next {
            Some(next) => cursor = next,
            None => return (total, chunks),
        }
    }
}

async fn scenario(options: PgConnectOptions) {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .expect("connect");
    db::migrate(&pool).await.expect("migrate");
    let tenant = Uuid::from(ulid::Ulid::generate());
    sqlx::query("insert into tenants (id, name, webhook_secret) values ($1, 'retention', 'whsec_x')")
        .bind(tenant)
        .execute(&pool)
        .await
        .expect("tenant");
    let s = Seed { pool: &pool, tenant };
    let old = Some(40.0);
    let older = Some(41.0);
    let recent = Some(1.0);

    // Old: a validation with its result and a delivered webhook (2 attempts).
    let v1 = s.job("validation", "succeeded", None, old).await;
    s.validation_result(v1).await;
    let (d1, w1) = s.delivery(v1, 2, "succeeded", old).await;
    // Old: a search job with its result; a failed and a canceled validation.
    let s1 = s.job("search", "succeeded", None, old).await;
    s.job_result(s1).await;
    let f1 = s.job("validation", "failed", None, old).await;
    let x1 = s.job("validation", "canceled", None, old).await;
    // Old: a batch with two children, a cached item, and its batch.completed webhook (1 attempt).
    let b1 = s.job("batch", "succeeded", None, old).await;
    let c1 = s.job("validation", "succeeded", Some(b1), Some(40.1)).await;
    let c2 = s.job("validation", "succeeded", Some(b1), Some(40.1)).await;
    s.validation_result(c1).await;
    s.validation_result(c2).await;
    s.item(b1, 0, Some(c1)).await;
    s.item(b1, 1, Some(c2)).await;
    s.item(b1, 2, None).await;
    let (db1, wb1) = s.delivery(b1, 1, "succeeded", old).await;
    // Old: a validation joined in flight by an (also old, younger) batch: it goes one round later.
    let j5 = s.job("validation", "succeeded", None, older).await;
    s.validation_result(j5).await;
    let b5 = s.job("batch", "succeeded", None, old).await;
    s.item(b5, 0, Some(j5)).await;
    let mut extra = Vec::new();
    for _ in 0..EXTRA_OLD {
        let id = s.job("validation", "succeeded", None, old).await;
        s.validation_result(id).await;
        extra.push(id);
    }

    // Kept: a recent batch whose child finished 40 days ago (a batch and its children go together).
    let b2 = s.job("batch", "succeeded", None, recent).await;
    let c3 = s.job("validation", "succeeded", Some(b2), old).await;
    s.validation_result(c3).await;
    s.item(b2, 0, Some(c3)).await;
    // Kept: an old validation joined in flight by a recent batch (its item must not dangle).
    let j2 = s.job("validation", "succeeded", None, old).await;
    s.validation_result(j2).await;
    let b3 = s.job("batch", "succeeded", None, recent).await;
    s.item(b3, 0, Some(j2)).await;
    // Kept: an old job whose webhook is still being retried.
    let v4 = s.job("validation", "succeeded", None, old).await;
    let (d4, w4) = s.delivery(v4, 1, "queued", None).await;
    // Kept: an old job that never ran (queued 40 days ago) and a recent one with all its rows.
    let q1 = s.job("validation", "queued", None, None).await;
    let r1 = s.job("validation", "succeeded", None, recent).await;
    s.validation_result(r1).await;
    let (dr, wr) = s.delivery(r1, 1, "succeeded", recent).await;

    let cutoff = Utc::now() - chrono::Duration::days(30);
    // Pending: every finished job past the cutoff (kept ones included), counted up to the cap.
    let old_finished = 9 + 2 + EXTRA_OLD as i64 + 3; // round-1 families, b5+j5, extras, c3+j2+v4
    assert_eq!(
        retention::pending(&pool, cutoff, 1000).await.expect("pending"),
        old_finished
    );
    assert_eq!(retention::pending(&pool, cutoff, 5).await.expect("pending capped"), 5);

    let jobs_before = count(&pool, "jobs").await;
    let (first, chunks) = round(&pool, cutoff).await;
    assert!(chunks.len() > 1, "the old history needs several chunks of {BATCH}");
    for (i, chunk) in chunks.iter().enumerate() {
        assert!(
            chunk.removed.jobs <= u64::from(BATCH) && chunk.examined <= BATCH as usize,
            "chunk {i} went past the batch of {BATCH}: {chunk:?}"
        );
    }
    assert!(chunks[..chunks.len() - 1].iter().all(|c| c.next.is_some()));
    // v1, w1, s1, f1, x1, b1, c1, c2, wb1, b5 and the extras; j5 waits for b5's item to go.
    assert_eq!(
        first,
        Removed {
            jobs: 10 + EXTRA_OLD as u64,
            validation_results: 3 + EXTRA_OLD as u64,
            job_results: 1,
            batch_items: 3 + 1,
            webhook_deliveries: 2,
            webhook_attempts: 3,
        }
    );
    assert_eq!(count(&pool, "jobs").await, jobs_before - first.jobs as i64);

    let (second, _) = round(&pool, cutoff).await;
    assert_eq!(
        second,
        Removed {
            jobs: 1,
            validation_results: 1,
            ..Removed::default()
        },
        "j5 goes once the batch that joined it is gone"
    );
    let (third, _) = round(&pool, cutoff).await;
    assert_eq!(
        third,
        Removed::default(),
        "nothing else is past retention and free to go"
    );

    for (table, column, id) in [
        ("jobs", "id", v1),
        ("jobs", "id", w1),
        ("jobs", "id", s1),
        ("jobs", "id", f1),
        ("jobs", "id", x1),
        ("jobs", "id", b1),
        ("jobs", "id", c1),
        ("jobs", "id", c2),
        ("jobs", "id", wb1),
        ("jobs", "id", b5),
        ("jobs", "id", j5),
        ("validation_results", "job_id", v1),
        ("validation_results", "job_id", c1),
        ("validation_results", "job_id", j5),
        ("job_results", "job_id", s1),
        ("batch_items", "batch_id", b1),
        ("batch_items", "batch_id", b5),
        ("webhook_deliveries", "job_id", v1),
        ("webhook_deliveries", "job_id", b1),
    ] {
        assert!(
            !exists(&pool, table, column, id).await,
            "{table}.{column} = {id} is still there"
        );
    }
    for id in &extra {
        assert!(!exists(&pool, "jobs", "id", *id).await);
    }
    for (d, gone) in [(&d1, true), (&db1, true), (&d4, false), (&dr, false)] {
        let attempts: i64 = sqlx::query_scalar("select count(*) from webhook_attempts where delivery_id = $1")
            .bind(d)
            .fetch_one(&pool)
            .await
            .expect("attempts");
        assert_eq!(attempts == 0, gone, "attempts of {d}");
    }

    for (table, column, id) in [
        ("jobs", "id", b2),
        ("jobs", "id", c3),
        ("jobs", "id", j2),
        ("jobs", "id", b3),
        ("jobs", "id", v4),
        ("jobs", "id", w4),
        ("jobs", "id", q1),
        ("jobs", "id", r1),
        ("jobs", "id", wr),
        ("validation_results", "job_id", c3),
        ("validation_results", "job_id", j2),
        ("validation_results", "job_id", r1),
        ("batch_items", "batch_id", b2),
        ("batch_items", "batch_id", b3),
        ("webhook_deliveries", "job_id", v4),
        ("webhook_deliveries", "job_id", r1),
    ] {
        assert!(
            exists(&pool, table, column, id).await,
            "{table}.{column} = {id} was removed"
        );
    }
    // What is left past the cutoff is exactly the kept old jobs.
    assert_eq!(retention::pending(&pool, cutoff, 1000).await.expect("pending after"), 3);
}

#[test]
fn settings_have_defaults_and_bounds() {
    let vars = |pairs: &[(&str, &str)]| -> std::collections::HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    let r = Config::local_default().worker.retention;
    assert_eq!(
        r,
        RetentionConfig {
            days: 30,
            batch: 5000,
            interval: std::time::Duration::from_secs(60),
        }
    );
    let c = Config::from_vars(&vars(&[("DF_RETENTION_DAYS", "0"), ("DF_RETENTION_BATCH", "100")])).expect("valid");
    assert_eq!((c.worker.retention.days, c.worker.retention.batch), (0, 100));
    for bad in [
        ("DF_RETENTION_BATCH", "0"),
        ("DF_RETENTION_INTERVAL_SECS", "0"),
        ("DF_RETENTION_DAYS", "-1"),
    ] {
        assert!(Config::from_vars(&vars(&[bad])).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn removed_counts_add_up() {
    let mut a = Removed {
        jobs: 2,
        batch_items: 1,
        ..Removed::default()
    };
    a.add(&Removed {
        jobs: 1,
        webhook_attempts: 4,
        ..Removed::default()
    });
    assert_eq!(a.total(), 8);
    assert_eq!(a.by_table()[0], ("jobs", 3));
    assert_eq!(Cursor::default(), Cursor::start());
}

/// Measures retention on a seeded database (bench/README.md, "Seeding a job history"):
/// `DF_RETENTION_BENCH_URL=postgres://.../db cargo test -p dropforge-common --test retention --
/// --ignored --nocapture`. Migrates the database first (a fresh one then needs seeding and a
/// second run), then removes everything finished more than 30 days ago there, in chunks of 5,000.
#[tokio::test]
#[ignore = "needs DF_RETENTION_BENCH_URL (a seeded database); deletes its old history"]
async fn retention_throughput_on_a_seeded_database() {
    let url = std::env::var("DF_RETENTION_BENCH_URL").expect("DF_RETENTION_BENCH_URL");
    let pool = db::connect(&url, 2).await.expect("connect");
    db::migrate(&pool).await.expect("migrate");
    let cutoff = Utc::now() - chrono::Duration::days(30);
    let started = std::time::Instant::now();
    let pending = retention::pending(&pool, cutoff, i64::MAX).await.expect("pending");
    println!(
        "pending: {pending} finished jobs past 30 days (counted in {:.2} s)",
        started.elapsed().as_secs_f64()
    );
    if pending == 0 {
        println!("nothing to remove: seed the database with bench/seed_history.sh, then run this again");
        return;
    }
    let started = std::time::Instant::now();
    let mut cursor = Cursor::start();
    let mut total = Removed::default();
    let mut times = Vec::new();
    loop {
        let t = std::time::Instant::now();
        let chunk = retention::remove_chunk(&pool, cutoff, cursor, 5000)
            .await
            .expect("chunk");
        times.push(t.elapsed().as_secs_f64());
        total.add(&chunk.removed);
        match chunk.next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    println!(
        "round: {} chunks in {elapsed:.1} s ({:.0} jobs/s); chunk p50 {:.3} s, max {:.3} s; removed {total:?}",
        times.len(),
        total.jobs as f64 / elapsed,
        times[times.len() / 2],
        times[times.len() - 1],
    );
}
