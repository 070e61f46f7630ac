//! A freshly started worker process exports every known counter series at zero (so rates and
//! ratios read 0, not "no data", before the first job), and the label vocabularies in
//! `common::metric_names` match the worker's own enums.

use std::time::{Duration, Instant};

use crate::support::{EnvOptions, TestEnv, free_port};
use dropforge_common::metric_names as m;
use dropforge_worker::upstream::error::{TransientKind, Upstream};

#[test]
fn label_vocabularies_match_the_worker() {
    for upstream in [Upstream::AliExpress, Upstream::Meta, Upstream::YouTube] {
        assert!(m::UPSTREAMS.contains(&upstream.as_str()), "{upstream}");
    }
    for kind in [
        TransientKind::ServerError,
        TransientKind::Timeout,
        TransientKind::Transport,
        TransientKind::Malformed,
    ] {
        assert!(m::UPSTREAM_OUTCOMES.contains(&kind.as_str()), "{kind:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_worker_exports_every_known_counter_at_zero() {
    let mut env = TestEnv::new(EnvOptions::default()).await;
    let port = free_port();
    env.vars
        .insert("DF_WORKER_METRICS_LISTEN".into(), format!("127.0.0.1:{port}"));
    let mut worker = env.spawn_worker_process();
    let http = reqwest::Client::new();
    let started = Instant::now();
    let text = loop {
        if let Ok(resp) = http.get(format!("http://127.0.0.1:{port}/metrics")).send().await
            && resp.status() == 200
        {
            break resp.text().await.unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the worker did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = worker.kill();
    let _ = worker.wait();
    for line in [
        "dropforge_jobs_finished_total{kind=\"validation\",outcome=\"failed\"} 0",
        "dropforge_jobs_finished_total{kind=\"search\",outcome=\"throttled\"} 0",
        "dropforge_jobs_enqueued_total{kind=\"webhook\",outcome=\"dispatched\"} 0",
        "dropforge_webhook_deliveries_total{outcome=\"delivered\"} 0",
        "dropforge_upstream_requests_total{upstream=\"meta\",outcome=\"not_found\"} 0",
        "dropforge_upstream_budget_waits_total{upstream=\"youtube\",reason=\"rate_wait\"} 0",
        "dropforge_reconciler_actions_total{action=\"redispatched\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
    }
    env.cleanup().await;
}
