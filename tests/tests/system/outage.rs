//! An upstream outage (issue 10, defect 3): connection failures pause the upstream for every worker
//! and reschedule jobs without using up attempts, so a 20 s outage under load fails no job.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use crate::support::{Client, EnvOptions, TestEnv, product_id};
use futures::{StreamExt, stream};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinSet,
};

/// A TCP proxy in front of the sandbox that can be switched off (listener closed, so connections
/// are refused, and every open connection dropped) and on again on the same port.
async fn switchable_proxy(target: SocketAddr) -> (SocketAddr, watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = first.local_addr().unwrap();
    let (tx, mut rx) = watch::channel(true);
    let task = tokio::spawn(async move {
        let mut listener = Some(first);
        loop {
            if let Some(l) = listener.take() {
                let mut conns = JoinSet::new();
                loop {
                    tokio::select! {
                        accepted = l.accept() => {
                            if let Ok((mut inbound, _)) = accepted {
                                conns.spawn(async move {
                                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                                    }
                                });
                            }
                        }
                        changed = rx.changed() => {
                            if changed.is_err() || !*rx.borrow_and_update() {
                                break;
                            }
                        }
                        Some(_) = conns.join_next(), if !conns.is_empty() => {}
                    }
                }
                drop(l);
                conns.shutdown().await;
            }
            while !*rx.borrow_and_update() {
                if rx.changed().await.is_err() {
                    return;
                }
            }
            listener = Some(loop {
                match TcpListener::bind(addr).await {
                    Ok(l) => break l,
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            });
        }
    });
    (addr, tx, task)
}

async fn submit(client: &Client, from: u32, to: u32) {
    stream::iter(from..to)
        .map(|i| async move {
            let (status, _, body) = client.validate(&product_id(10, i), None).await;
            assert_eq!(status, 202, "{body}");
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_20_s_upstream_outage_burns_no_attempts() {
    const N: u32 = 100;
    const OUTAGE: Duration = Duration::from_secs(20);
    let mut env = TestEnv::new(EnvOptions {
        latency_scale: 1.0,
        // Fewer worker slots than jobs, so some rescheduled jobs are still waiting, queued, when the
        // outage is checked. Most of the 80 singles sent during the outage are bulk work (beyond
        // the tenant's interactive allowance), which has slots of its own: bound both classes.
        extra: vec![
            ("DF_WORKER_CONCURRENCY", "64".into()),
            ("DF_WORKER_BULK_CONCURRENCY", "32".into()),
        ],
        ..EnvOptions::default()
    })
    .await;
    let (proxy, switch, proxy_task) = switchable_proxy(env.sandbox).await;
    let base = format!("http://{proxy}");
    for var in [
        "DF_ALIEXPRESS_BASE_URL",
        "DF_META_GRAPH_BASE_URL",
        "DF_YOUTUBE_BASE_URL",
    ] {
        env.vars.insert(var.into(), base.clone());
    }
    let (api, _api) = env.start_api().await;
    let client = Client::new(&api, &env.key("outage").await);
    let (stop, worker) = env.start_worker();

    // Some jobs run against a healthy upstream (warm pooled connections), then it goes away.
    submit(&client, 0, 20).await;
    let started = Instant::now();
    while env.status_counts().await.get("succeeded").copied().unwrap_or(0) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing succeeded before the outage"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    switch.send_replace(false);
    let down_at = Instant::now();
    submit(&client, 20, N).await;
    tokio::time::sleep(OUTAGE.saturating_sub(down_at.elapsed())).await;
    let during = env.status_counts().await;
    let throttled: i64 = sqlx::query_scalar(
        "select count(*) from jobs where status in ('queued', 'scheduled') and error->>'code' = 'upstream_throttled'",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    eprintln!(
        "after {:?} of outage: {during:?}, {throttled} queued as throttled",
        down_at.elapsed()
    );
    assert!(throttled > 0, "jobs were rescheduled as throttled during the outage");
    switch.send_replace(true);
    let up_at = Instant::now();

    let took = env.wait_succeeded(i64::from(N), Duration::from_secs(60)).await;
    eprintln!(
        "all {N} jobs succeeded {took:?} after the upstream came back ({:?})",
        up_at.elapsed()
    );
    let (failed, max_attempts, exhausted): (i64, Option<i32>, i64) = sqlx::query_as(
        "select count(*) filter (where status = 'failed'), max(attempts), \
                count(*) filter (where error->>'code' = 'attempts_exhausted') from jobs",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    eprintln!("failed {failed}, max attempts {max_attempts:?}, attempts_exhausted {exhausted}");
    assert_eq!(failed, 0);
    assert_eq!(exhausted, 0);
    assert!(max_attempts.unwrap_or(0) <= 2, "max attempts {max_attempts:?}");
    stop.trigger();
    worker.await.unwrap().unwrap();
    proxy_task.abort();
    env.cleanup().await;
}
