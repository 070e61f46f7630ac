//! Queue-worker supervision: each job kind's apalis worker is supervised on its own, so when one
//! ends (here: its registration is removed, as another process's orphan sweep does after missed
//! heartbeats, or as a Redis restart from an AOF can leave it) it is rebuilt while the other kinds
//! keep running. Before, the kinds shared one monitor that was rebuilt only when *all* of them had
//! ended, so a process could silently stop taking validations (found by `scripts/chaos.sh`).

use std::time::{Duration, Instant};

use crate::support::{Client, EnvOptions, TestEnv, metrics_recorder, product_id, redis_url};

/// Members of the apalis workers set of one queue.
async fn registered(conn: &mut redis::aio::MultiplexedConnection, set: &str) -> Vec<String> {
    redis::cmd("ZRANGE")
        .arg(set)
        .arg(0)
        .arg(-1)
        .query_async(conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_validation_worker_is_rebuilt_while_other_kinds_run() {
    metrics_recorder();
    let env = TestEnv::new(EnvOptions {
        extra: vec![("DF_WORKER_HEARTBEAT_SECS", "1".into())],
        ..EnvOptions::default()
    })
    .await;
    let (api, _api) = env.start_api().await;
    let client = Client::new(&api, &env.key("supervision").await);
    let (stop, worker) = env.start_worker();
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let set = format!("{}:queue:validation:workers", env.prefix);

    let started = Instant::now();
    let first = loop {
        if let Some(name) = registered(&mut redis, &set).await.into_iter().next() {
            break name;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the validation worker never registered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for i in 0..5 {
        assert_eq!(client.validate(&product_id(40, i), None).await.0, 202);
    }
    env.wait_succeeded(5, Duration::from_secs(30)).await;

    // Its registration goes: the next heartbeat fails and apalis ends that worker.
    let _: i64 = redis::cmd("ZREM")
        .arg(&set)
        .arg(&first)
        .query_async(&mut redis)
        .await
        .unwrap();
    let started = Instant::now();
    let second = loop {
        let names = registered(&mut redis, &set).await;
        if let Some(name) = names.into_iter().find(|n| *n != first) {
            break name;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no new validation worker registered after the old one was removed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(second.starts_with("validation-"), "{second}");
    eprintln!("validation worker rebuilt after {:?}", started.elapsed());

    // The rebuilt worker takes new validations; the other kinds were never interrupted.
    for i in 5..15 {
        assert_eq!(client.validate(&product_id(40, i), None).await.0, 202);
    }
    env.wait_succeeded(15, Duration::from_secs(30)).await;
    let exposition = metrics_recorder().render();
    assert!(
        exposition
            .lines()
            .any(|l| l.starts_with("dropforge_queue_worker_restarts_total{kind=\"validation\"}") && !l.ends_with(" 0")),
        "the restart is counted"
    );

    stop.trigger();
    worker.await.unwrap().unwrap();
    env.cleanup().await;
}
