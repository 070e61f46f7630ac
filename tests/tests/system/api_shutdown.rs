//! Graceful shutdown of the API binary under load: on SIGTERM `/ready` answers 503 first, requests
//! in flight (including `Prefer: wait` ones) get an answer, and the process exits 0.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::support::{Process, TestEnv, free_port, http_client};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_without_failing_requests() {
    let env = TestEnv::with_vars(&[("DF_RATE_LIMIT_ENABLED", "false")]).await;
    let key = env.key("shutdown").await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut api = Process::spawn(
        env.command("dropforge-api")
            .env("DF_API_LISTEN", format!("127.0.0.1:{port}"))
            .env("DF_API_DRAIN_SECS", "2")
            .env(
                "RUST_LOG",
                std::env::var("DF_SHUTDOWN_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(if std::env::var_os("DF_SHUTDOWN_TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            }),
    );
    let http = http_client();
    let started = Instant::now();
    while http
        .get(format!("{base}/ready"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(started.elapsed() < Duration::from_secs(20), "api did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // 40 requests that wait for jobs no worker will run, and a stream of quick reads.
    let waits: Vec<_> = (0..40)
        .map(|i| {
            let (http, base, key) = (http.clone(), base.clone(), key.clone());
            tokio::spawn(async move {
                http.post(format!("{base}/v1/validations"))
                    .bearer_auth(key)
                    .header("prefer", "wait=20")
                    .json(&serde_json::json!({"product": {"id": format!("10051000000{i:05}")}}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        Command::new("kill")
            .args(["-TERM", &api.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let term_at = Instant::now();

    // While draining, /ready answers 503 and ordinary requests are still served.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(http.get(format!("{base}/ready")).send().await.unwrap().status(), 503);
    let during = http
        .get(format!("{base}/v1/jobs"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(during.status(), 200, "requests are served during the drain");

    for w in waits {
        let status = w
            .await
            .unwrap()
            .expect("an in-flight request got an answer, not a connection error");
        assert_eq!(status, 202, "waiting requests answer 202 when the API drains");
    }
    assert!(
        term_at.elapsed() < Duration::from_secs(1),
        "waiting requests answer at once on SIGTERM"
    );
    let exit = loop {
        if let Some(s) = api.try_wait().unwrap() {
            break s;
        }
        assert!(term_at.elapsed() < Duration::from_secs(15), "api did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "exit status {exit:?}");
    assert!(
        term_at.elapsed() >= Duration::from_secs(2),
        "the listener stays open for the drain delay"
    );
    env.cleanup().await;
}
