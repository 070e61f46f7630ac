//! Pickup without polling: with the fallback ticks at 1 s (`DF_WORKER_POLL_MS`, `DF_DISPATCH_MS`),
//! a job pushed to an idle worker, and a job left in PostgreSQL for the dispatcher, start within
//! a few milliseconds, because every push and every deferral publishes a wake-up. Without the
//! wake-ups the pickup would be spread over the whole second (about 3 in 10 under 300 ms).

use std::time::Duration;

use crate::support::{Client, EnvOptions, TestEnv, product_id};
use dropforge_common::{db, queue::Queue};
use uuid::Uuid;

/// Jobs per test, and how many of them must start before [`FAST`].
const TRIES: usize = 10;
const NEEDED: usize = 9;
const FAST: Duration = Duration::from_millis(300);
/// Between two jobs: longer than the worker's busy window (250 ms), so it is idle at each one.
const GAP: Duration = Duration::from_millis(600);

async fn slow_tick_env() -> TestEnv {
    TestEnv::new(EnvOptions::with_vars(&[
        ("DF_WORKER_POLL_MS", "1000"),
        ("DF_DISPATCH_MS", "1000"),
    ]))
    .await
}

/// `started_at - created_at` of a job, once it started.
async fn pickup(env: &TestEnv, id: Uuid) -> Duration {
    for _ in 0..100 {
        let secs: Option<f64> =
            sqlx::query_scalar("select extract(epoch from started_at - created_at)::float8 from jobs where id = $1")
                .bind(id)
                .fetch_one(&env.pool)
                .await
                .unwrap();
        if let Some(s) = secs {
            return Duration::from_secs_f64(s.max(0.0));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not start within 5 s");
}

fn assert_fast(what: &str, pickups: &[Duration]) {
    let fast = pickups.iter().filter(|d| **d < FAST).count();
    assert!(
        fast >= NEEDED,
        "{what}: only {fast} of {} pickups under {FAST:?} with a 1 s fallback tick: {pickups:?}",
        pickups.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_wakes_an_idle_worker_before_its_tick() {
    let env = slow_tick_env().await;
    let (worker_stop, worker) = env.start_worker();
    let (base, api_stop) = env.start_api().await;
    let client = Client::new(&base, &env.key("wake").await);
    // Warm up: the first job also waits for the worker's subscription and registration.
    let (status, _, _) = client.validate(&product_id(1, 0), Some(10)).await;
    assert_eq!(status, 200);

    let mut pickups = Vec::new();
    for i in 1..=TRIES {
        tokio::time::sleep(GAP).await;
        let (status, _, body) = client.validate(&product_id(1, i as u32), None).await;
        // 202 as a rule; 200 when the worker finished the job before the API read it back for
        // the answer (a fast pickup on a busy machine): the job document either way.
        assert!(status == 202 || status == 200, "{status}: {body}");
        let id: Uuid = body["id"].as_str().and_then(|s| s.parse().ok()).expect("job id");
        pickups.push(pickup(&env, id).await);
    }
    assert_fast("pushed by the API", &pickups);

    api_stop.trigger();
    worker_stop.trigger();
    worker.await.unwrap().unwrap();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_wakeup_makes_the_dispatcher_push_at_once() {
    let env = slow_tick_env().await;
    let tenant = db::tenants::ensure_system_tenant(&env.pool, "_system").await.unwrap();
    let queue = Queue::new(
        dropforge_common::queue::connect(&env.vars["REDIS_URL"]).await.unwrap(),
        &env.prefix,
    );
    let (worker_stop, worker) = env.start_worker();
    tokio::time::sleep(Duration::from_millis(1500)).await; // subscribed and registered

    let mut pickups = Vec::new();
    for _ in 0..TRIES {
        tokio::time::sleep(GAP).await;
        // As the API leaves a job to the dispatcher: a queued, undispatched row, then the wake-up.
        let id = Uuid::from(ulid::Ulid::generate());
        sqlx::query(
            "insert into jobs (id, tenant_id, kind, status, input) values ($1, $2, 'canary', 'queued', '{}'::jsonb)",
        )
        .bind(id)
        .bind(tenant.0)
        .execute(&env.pool)
        .await
        .unwrap();
        queue.wake_dispatchers().await.unwrap();
        pickups.push(pickup(&env, id).await);
    }
    assert_fast("left to the dispatcher", &pickups);

    worker_stop.trigger();
    worker.await.unwrap().unwrap();
    env.cleanup().await;
}

/// The API's dispatch wake-ups are coalesced: a burst of requests that leave jobs in PostgreSQL
/// publishes one or two messages, not one each, and a later request still gets its own.
#[tokio::test]
async fn a_burst_of_dispatch_wakeups_publishes_few_messages() {
    use dropforge_api::{lookup::dispatch_wake::DispatchWaker, state::RedisGuard};

    let prefix = format!("dftest:{}", ulid::Ulid::generate());
    let client = redis::Client::open(crate::support::redis_url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub
        .subscribe(dropforge_common::wake::channel(
            &prefix,
            dropforge_common::wake::DISPATCH,
        ))
        .await
        .unwrap();
    let mut messages = pubsub.into_on_message();
    let conn = dropforge_common::queue::connect(&crate::support::redis_url())
        .await
        .unwrap();
    let guard = RedisGuard::new("queue", Duration::from_secs(1), Duration::from_secs(1));
    let waker = DispatchWaker::spawn(Queue::new(conn, &prefix), guard);

    for _ in 0..1_000 {
        waker.wake();
    }
    let burst = count_messages(Duration::from_millis(300), &mut messages).await;
    assert!(
        (1..=3).contains(&burst),
        "1,000 wake-ups in a burst published {burst} messages"
    );
    waker.wake();
    let later = count_messages(Duration::from_millis(300), &mut messages).await;
    assert_eq!(later, 1, "a wake-up after the gap is published");
}

/// Messages that arrive within `window`.
async fn count_messages(window: Duration, messages: &mut (impl futures::Stream<Item = redis::Msg> + Unpin)) -> usize {
    use futures::StreamExt;
    let deadline = tokio::time::Instant::now() + window;
    let mut n = 0;
    while let Ok(Some(_)) = tokio::time::timeout_at(deadline, messages.next()).await {
        n += 1;
    }
    n
}
