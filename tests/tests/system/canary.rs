//! The canary job kind on real PostgreSQL and Redis: the worker's own canaries go through the
//! whole durable path and feed the latency histogram; bulk canaries (as the pipeline benchmark
//! enqueues them) all succeed exactly once, also when a job is delivered twice.

use std::time::{Duration, Instant};

use crate::support::{EnvOptions, TestEnv, free_port};
use dropforge_common::{
    db,
    domain::{JobId, JobKind},
    queue::Queue,
};
use ulid::Ulid;

/// `(tenant name, task id, attempts, started, finished, lease owner)` of a succeeded canary.
type CanaryRow = (String, Option<String>, i32, bool, bool, Option<String>);

async fn canary_counts(env: &TestEnv) -> (i64, i64) {
    sqlx::query_as("select count(*) filter (where status = 'succeeded'), count(*) from jobs where kind = 'canary'")
        .fetch_one(&env.pool)
        .await
        .unwrap()
}

async fn wait_canaries(env: &TestEnv, n: i64, timeout: Duration) {
    let started = Instant::now();
    loop {
        let (ok, all) = canary_counts(env).await;
        if ok >= n {
            return;
        }
        assert!(
            started.elapsed() < timeout,
            "{ok} of {all} canaries succeeded after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_submits_canaries_that_complete_and_are_measured() {
    let metrics_port = free_port();
    let env = TestEnv::new(EnvOptions {
        extra: vec![
            ("DF_CANARY_INTERVAL_MS", "200".into()),
            ("DF_WORKER_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}")),
        ],
        ..EnvOptions::default()
    })
    .await;
    let mut worker = env.spawn_worker_process();
    wait_canaries(&env, 5, Duration::from_secs(30)).await;

    // Every canary went through the durable path: system tenant, pushed under a task id, one
    // claim, a lease released on completion.
    let rows: Vec<CanaryRow> = sqlx::query_as(
        "select t.name, j.queue_task_id, j.attempts, j.started_at is not null, j.finished_at is not null, j.lease_owner
         from jobs j join tenants t on t.id = j.tenant_id where j.kind = 'canary' and j.status = 'succeeded'",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert!(rows.len() >= 5);
    for (tenant, task, attempts, started, finished, owner) in rows {
        assert_eq!(tenant, "_system");
        assert!(task.is_some(), "pushed to apalis under a task id");
        assert_eq!(attempts, 1);
        assert!(started && finished);
        assert_eq!(owner, None, "lease released");
    }
    let text = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count: f64 = text
        .lines()
        .find(|l| l.starts_with("dropforge_canary_latency_seconds_count"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no canary histogram in\n{text}"));
    assert!(count >= 5.0, "canary histogram count {count}");
    let _ = worker.kill();
    let _ = worker.wait();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bulk_canaries_succeed_once_even_when_delivered_twice() {
    const N: i64 = 3_000;
    let env = TestEnv::new(EnvOptions::default()).await;
    let tenant = db::tenants::ensure_system_tenant(&env.pool, "_system").await.unwrap();
    // As the pipeline benchmark does: queued, undispatched rows; the dispatcher pushes them.
    sqlx::query(
        "insert into jobs (id, tenant_id, kind, status, input)
         select (lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0')
                 || lpad(to_hex(g), 8, '0') || substr(md5(random()::text), 1, 12))::uuid,
                $1, 'canary', 'queued', '{}'::jsonb
         from generate_series(1, $2) g",
    )
    .bind(tenant.0)
    .bind(N)
    .execute(&env.pool)
    .await
    .unwrap();
    // A few jobs pushed a second time under other task ids: duplicates that must not run twice.
    let dupes: Vec<uuid::Uuid> = sqlx::query_scalar("select id from jobs where kind = 'canary' limit 50")
        .fetch_all(&env.pool)
        .await
        .unwrap();
    let queue = Queue::new(
        dropforge_common::queue::connect(&env.vars["REDIS_URL"]).await.unwrap(),
        &env.prefix,
    );
    let pushes: Vec<(JobId, Ulid)> = dupes.iter().map(|id| (JobId(*id), Ulid::generate())).collect();
    queue.push(JobKind::Canary, &pushes).await.unwrap();
    queue.push(JobKind::Canary, &pushes).await.unwrap();

    let (stop, handle) = env.start_worker();
    wait_canaries(&env, N, Duration::from_secs(60)).await;
    let (over_claimed,): (i64,) = sqlx::query_as("select count(*) from jobs where kind = 'canary' and attempts <> 1")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(over_claimed, 0, "every canary claimed exactly once");
    stop.trigger();
    handle.await.unwrap().unwrap();
    env.cleanup().await;
}

/// Finished apalis tasks go faster than the queue finishes them: one reconciler round removes more
/// than one cleanup call's worth (a round used to remove 5,000 per queue, 2,500 a second, while the
/// pipeline finishes 5,000 a second), with their data and metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_reconciler_round_removes_every_finished_task() {
    use dropforge_worker::reconciler::{CLEANUP_BATCH, reconcile_once};
    const FINISHED: usize = CLEANUP_BATCH * 2 + 1_000;
    let env = TestEnv::new(EnvOptions::default()).await;
    let conn = dropforge_common::queue::connect(&env.vars["REDIS_URL"]).await.unwrap();
    let queue = Queue::new(conn.clone(), &env.prefix);
    let (done, data) = (
        format!("{}:queue:canary:done", env.prefix),
        format!("{}:queue:canary:data", env.prefix),
    );
    let ids: Vec<String> = (0..FINISHED).map(|_| Ulid::generate().to_string()).collect();
    let mut redis = conn.clone();
    for chunk in ids.chunks(1_000) {
        let mut pipe = redis::pipe();
        for id in chunk {
            pipe.sadd(&done, id).ignore();
            pipe.hset(&data, id, "{}").ignore();
            pipe.hset(format!("{}:queue:canary:meta:{id}", env.prefix), "status", "Done")
                .ignore();
        }
        let () = pipe.query_async(&mut redis).await.unwrap();
    }

    reconcile_once(&env.pool, &queue, &[JobKind::Canary], &env.config().worker)
        .await
        .unwrap();

    let (left, data_left): (usize, usize) = redis::pipe()
        .scard(&done)
        .hlen(&data)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(
        (left, data_left),
        (0, 0),
        "{FINISHED} finished tasks: all gone in one round"
    );
    for id in [&ids[0], &ids[FINISHED / 2], &ids[FINISHED - 1]] {
        let exists: bool = redis::cmd("EXISTS")
            .arg(format!("{}:queue:canary:meta:{id}", env.prefix))
            .query_async(&mut redis)
            .await
            .unwrap();
        assert!(!exists, "metadata of {id} removed");
    }
    env.cleanup().await;
}
