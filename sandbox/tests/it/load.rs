//! Concurrency smoke test: hundreds of concurrent slow requests are served in parallel.

use dropforge_sandbox::SandboxConfig;

use crate::helpers::start;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_requests_sleep_in_parallel() {
    let base = start(SandboxConfig::for_tests()).await;
    let client = reqwest::Client::new();
    let t = std::time::Instant::now();
    let tasks: Vec<_> = (0..400)
        .map(|i| {
            let (c, u) = (
                client.clone(),
                format!("{base}/youtube/v3/search?part=snippet&q=lamp{i}&key=sandbox-yt-key"),
            );
            tokio::spawn(async move {
                c.get(u)
                    .header("x-sandbox-latency-ms", "300")
                    .send()
                    .await
                    .map(|r| r.status())
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 200);
    }
    assert!(t.elapsed().as_secs_f64() < 5.0, "took {:?}", t.elapsed());
}
