//! Admin routes, test headers and runtime config.

use dropforge_sandbox::SandboxConfig;

use crate::helpers::start;

#[tokio::test]
async fn health_stats_metrics_reset_config() {
    let base = start(SandboxConfig::for_tests()).await;
    let c = reqwest::Client::new();
    assert_eq!(
        c.get(format!("{base}/__sandbox/health"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    let yt = format!("{base}/youtube/v3/search?part=snippet&q=lamp&key=sandbox-yt-key");
    assert_eq!(c.get(&yt).send().await.unwrap().status(), 200);
    // Test headers: forced faults.
    let r = c.get(&yt).header("x-sandbox-fault", "5xx").send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("retry-after").is_some());
    let r = c.get(&yt).header("x-sandbox-fault", "malformed").send().await.unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&r.text().await.unwrap()).is_err());
    let r = c.get(&yt).header("x-sandbox-fault", "throttle").send().await.unwrap();
    assert_eq!(r.status(), 403);
    let t = std::time::Instant::now();
    let r = c.get(&yt).header("x-sandbox-latency-ms", "150").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(t.elapsed().as_millis() >= 150);

    let stats: serde_json::Value = c
        .get(format!("{base}/__sandbox/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["requests"]["youtube"]["search"]["ok"], 2, "{stats}");
    assert_eq!(stats["faults"]["youtube"]["5xx"], 1);
    let metrics = c
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sandbox_requests_total{upstream=\"youtube\",outcome=\"ok\"} 2"),
        "{metrics}"
    );

    let r = c.post(format!("{base}/__sandbox/reset")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let stats: serde_json::Value = c
        .get(format!("{base}/__sandbox/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["total"], 0);

    // Runtime config: make every YouTube call a 5xx, then back.
    let mut cfg: serde_json::Value = c
        .get(format!("{base}/__sandbox/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cfg["latency_scale"], 0.0);
    cfg["youtube"]["faults"]["http_5xx"] = serde_json::json!(1.0);
    let r = c
        .put(format!("{base}/__sandbox/config"))
        .json(&cfg)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(c.get(&yt).send().await.unwrap().status().is_server_error());
    cfg["youtube"]["faults"]["http_5xx"] = serde_json::json!(2.0);
    let r = c
        .put(format!("{base}/__sandbox/config"))
        .json(&cfg)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
}
