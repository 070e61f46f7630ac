//! Webhooks end to end: a real local receiver verifies Standard Webhooks signatures; retries,
//! 410 Gone, timeouts, the delivery log and the SSRF guard at submit time.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::support::{Client, EnvOptions, TestEnv};
use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use dropforge_common::webhook::signature;
use serde_json::{Value, json};

/// What the receiver saw, and the statuses it answers in turn (then 200).
#[derive(Default)]
struct Receiver {
    secret: String,
    script: Vec<(u16, Duration)>,
    seen: Vec<(Instant, String, Value)>,
    bad_signatures: usize,
}

type Shared = Arc<Mutex<Receiver>>;

async fn hook(State(rx): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let (id, ts, sig) = (h("webhook-id"), h("webhook-timestamp"), h("webhook-signature"));
    let (status, delay) = {
        let mut r = rx.lock().unwrap();
        let now = chrono::Utc::now().timestamp();
        let secret = r.secret.clone();
        if signature::verify(
            &[secret.as_str()],
            (&id, &ts, &sig),
            &body,
            now,
            signature::DEFAULT_TOLERANCE,
        )
        .is_err()
        {
            r.bad_signatures += 1;
        }
        let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        r.seen.push((Instant::now(), id, event));
        let n = r.seen.len() - 1;
        r.script.get(n).copied().unwrap_or((200, Duration::ZERO))
    };
    tokio::time::sleep(delay).await;
    StatusCode::from_u16(status).unwrap()
}

async fn receiver(secret: String, script: Vec<(u16, Duration)>) -> (String, Shared) {
    let shared: Shared = Arc::new(Mutex::new(Receiver {
        secret,
        script,
        ..Receiver::default()
    }));
    let app = Router::new().route("/hook", post(hook)).with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://127.0.0.1:{}/hook", addr.port()), shared)
}

async fn env_with_webhooks() -> TestEnv {
    TestEnv::new(EnvOptions {
        extra: vec![
            ("DF_WEBHOOK_ALLOW_CIDRS", "127.0.0.0/8".into()),
            // Steps wider apart than the dispatcher's idle tick (1 s): a retry is promoted up to
            // that much after its delay, so with 1 s then 2 s the two gaps could come out equal.
            ("DF_WEBHOOK_SCHEDULE_SECS", "0,1,4,8".into()),
            ("DF_WEBHOOK_TIMEOUT_SECS", "1".into()),
        ],
        ..EnvOptions::default()
    })
    .await
}

async fn secret_of(env: &TestEnv, tenant: &str) -> String {
    sqlx::query_scalar("select webhook_secret from tenants where name = $1")
        .bind(tenant)
        .fetch_one(&env.pool)
        .await
        .unwrap()
}

async fn submit(client: &Client, product: &str, url: &str) -> (u16, Value) {
    let resp = client
        .http()
        .post(format!("{}/v1/validations", client.base))
        .bearer_auth(&client.key)
        .json(&json!({"product": {"id": product}, "webhook_url": url}))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn wait_for<F: Fn(&Receiver) -> bool>(rx: &Shared, what: &str, f: F) {
    let started = Instant::now();
    while !f(&rx.lock().unwrap()) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signed_events_retries_and_the_delivery_log() {
    let env = env_with_webhooks().await;
    let (base, _api) = env.start_api().await;
    let client = Client::new(&base, &env.key("hooks").await);
    let secret = secret_of(&env, "hooks").await;
    let (_stop, _worker) = env.start_worker();

    // 500, 500, then 200: three attempts with growing delays, one webhook-id, valid signatures.
    let (url, rx) = receiver(secret.clone(), vec![(500, Duration::ZERO), (500, Duration::ZERO)]).await;
    let (status, job) = submit(&client, "1005000000000001", &url).await;
    assert_eq!(status, 202, "{job}");
    wait_for(&rx, "three attempts", |r| r.seen.len() >= 3).await;
    {
        let r = rx.lock().unwrap();
        assert_eq!(r.bad_signatures, 0);
        let ids: Vec<_> = r.seen.iter().map(|(_, id, _)| id.clone()).collect();
        assert!(ids.iter().all(|id| id == &ids[0] && id.starts_with("msg_")), "{ids:?}");
        let (event, data) = (&r.seen[2].2, &r.seen[2].2["data"]);
        assert_eq!(event["type"], "job.succeeded");
        assert_eq!(data["id"], job["id"]);
        assert_eq!(data["result"]["verdict"], "winner");
        let gap1 = r.seen[1].0 - r.seen[0].0;
        let gap2 = r.seen[2].0 - r.seen[1].0;
        assert!(
            gap1 >= Duration::from_millis(800) && gap2 > gap1,
            "delays must grow: {gap1:?} then {gap2:?}"
        );
    }
    let path = format!("/v1/jobs/{}/deliveries", job["id"].as_str().unwrap());
    let mut log = Value::Null;
    for _ in 0..50 {
        log = client.get(&path).await.1;
        if log["data"]
            .as_array()
            .is_some_and(|a| a.len() == 3 && a[2]["status"] == "delivered")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let attempts = log["data"].as_array().unwrap();
    let codes: Vec<_> = attempts
        .iter()
        .map(|a| a["response_status"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 500, 200], "{log}");
    assert!(attempts[0]["next_attempt_at"].is_string());
    // Another tenant cannot read the log.
    let other = Client::new(&base, &env.key("stranger").await);
    assert_eq!(other.get(&path).await.0, 404);

    // A slow receiver is cut off at the 1 s timeout, logged as such, and retried.
    let (slow_url, slow) = receiver(secret.clone(), vec![(200, Duration::from_secs(3))]).await;
    let (_, job2) = submit(&client, "1005000000000002", &slow_url).await;
    wait_for(&slow, "a retry after the timeout", |r| r.seen.len() >= 2).await;
    let path2 = format!("/v1/jobs/{}/deliveries", job2["id"].as_str().unwrap());
    let mut first = Value::Null;
    for _ in 0..50 {
        first = client.get(&path2).await.1["data"][0].clone();
        if first["error"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(first["error"], "timeout", "{first}");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gone_disables_the_url_for_the_tenant() {
    let env = env_with_webhooks().await;
    let (base, _api) = env.start_api().await;
    let client = Client::new(&base, &env.key("gone").await);
    let secret = secret_of(&env, "gone").await;
    let (_stop, _worker) = env.start_worker();
    let (url, rx) = receiver(secret, vec![(410, Duration::ZERO)]).await;
    let (_, job) = submit(&client, "1005000000000003", &url).await;
    wait_for(&rx, "the 410 attempt", |r| !r.seen.is_empty()).await;
    env.wait_succeeded(2, Duration::from_secs(20)).await; // the validation and its webhook job
    // The disabled URL is refused at submit, for validations and batches alike: accepting it
    // would promise an event that never comes.
    let (status, problem) = submit(&client, "1005000000000004", &url).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "webhook_url_disabled", "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "/webhook_url", "{problem}");
    let resp = client
        .http()
        .post(format!("{base}/v1/validations/batch"))
        .bearer_auth(&client.key)
        .json(&json!({"products": [{"id": "1005000000000004"}], "webhook_url": url}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let problem: Value = resp.json().await.unwrap();
    assert_eq!(problem["code"], "webhook_url_disabled", "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "/webhook_url", "{problem}");
    assert_eq!(
        env.status_counts().await.values().sum::<i64>(),
        2,
        "nothing was created"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(rx.lock().unwrap().seen.len(), 1, "no attempt after 410 Gone");
    let log = client
        .get(&format!("/v1/jobs/{}/deliveries", job["id"].as_str().unwrap()))
        .await
        .1;
    assert_eq!(log["data"][0]["status"], "disabled", "{log}");

    // `dropforge-api webhooks enable` re-enables it: accepted and delivered again.
    use dropforge_common::db::webhooks::enable_url;
    assert_eq!(enable_url(&env.pool, "gone", &url).await.unwrap(), Some(true));
    assert_eq!(
        enable_url(&env.pool, "gone", &url).await.unwrap(),
        Some(false),
        "already enabled"
    );
    assert_eq!(
        enable_url(&env.pool, "nobody", &url).await.unwrap(),
        None,
        "no such tenant"
    );
    let (status, job2) = submit(&client, "1005000000000004", &url).await;
    // 202, or 200 when the worker finished the job before the API read it back (a loaded machine).
    assert!(matches!(status, 200 | 202), "{status}: {job2}");
    assert!(job2["id"].is_string(), "{job2}");
    wait_for(&rx, "the event after re-enabling", |r| r.seen.len() >= 2).await;
    {
        let r = rx.lock().unwrap();
        assert_eq!(r.seen[1].2["type"], "job.succeeded");
        assert_eq!(r.seen[1].2["data"]["id"], job2["id"]);
        assert_eq!(r.bad_signatures, 0);
    }
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cached_and_joined_requests_get_exactly_one_event() {
    let env = env_with_webhooks().await;
    let (base, _api) = env.start_api().await;
    let client = Client::new(&base, &env.key("cached").await);
    let secret = secret_of(&env, "cached").await;
    let (url, rx) = receiver(secret, Vec::new()).await;

    // Joined: two requests with the same URL before any worker runs join one job, which sends
    // one event for both (the receiver could not tell two identical events apart).
    let (s1, joined1) = submit(&client, "1005000000000021", &url).await;
    let (s2, joined2) = submit(&client, "1005000000000021", &url).await;
    assert_eq!((s1, s2), (202, 202), "{joined1} {joined2}");
    assert_eq!(joined1["id"], joined2["id"], "the same URL joins the in-flight job");
    let (_stop, _worker) = env.start_worker();
    wait_for(&rx, "the joined job's event", |r| !r.seen.is_empty()).await;

    // Cached: the product is in the cache now; a request naming a webhook_url still gets 200 with
    // the cached result, and exactly one signed job.succeeded event.
    let (status, _, warm) = client.validate("1005000000000022", Some(10)).await;
    assert_eq!(status, 200, "{warm}");
    let resp = client
        .http()
        .post(format!("{base}/v1/validations"))
        .bearer_auth(&client.key)
        .json(&json!({"product": {"id": "1005000000000022"}, "webhook_url": url}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let location = resp
        .headers()
        .get("content-location")
        .expect("the cached answer is recorded as a job")
        .to_str()
        .unwrap()
        .to_owned();
    let cache_status = resp.headers().get("cache-status").unwrap().to_str().unwrap().to_owned();
    assert!(cache_status.starts_with("dropforge; hit"), "{cache_status}");
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["cache"], "hit", "{answer}");
    wait_for(&rx, "the cached answer's event", |r| r.seen.len() >= 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (job, recorded) = client.get(&location).await;
    assert_eq!(job, 200, "{recorded}");
    assert_eq!(recorded["status"], "succeeded", "{recorded}");
    {
        let r = rx.lock().unwrap();
        assert_eq!(
            r.seen.len(),
            2,
            "one event for the joined pair, one for the cached answer"
        );
        assert_eq!(r.bad_signatures, 0);
        let joined = &r.seen[0].2;
        assert_eq!(joined["type"], "job.succeeded");
        assert_eq!(joined["data"]["id"], joined1["id"]);
        let cached = &r.seen[1].2;
        assert_eq!(cached["type"], "job.succeeded");
        assert_eq!(cached["data"]["id"], recorded["id"]);
        assert_eq!(cached["data"]["kind"], "validation");
        assert_eq!(cached["data"]["status"], "succeeded");
        assert_eq!(cached["data"]["result"], answer["result"]);
        assert_ne!(r.seen[0].1, r.seen[1].1, "distinct webhook-ids");
        // The same shape as an event for a job the worker ran.
        let keys = |v: &Value| v["data"].as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
        assert_eq!(keys(joined), keys(cached));
    }

    // Redis lost the entry: PostgreSQL's fresh result answers, and the event still comes.
    let key = format!(
        "{}:cache:validation:{}:aliexpress:1005000000000022:US:-",
        env.prefix,
        dropforge_common::scoring::MODEL
    );
    let redis = redis::Client::open(env.vars["REDIS_URL"].as_str()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let removed: i64 = redis::cmd("DEL").arg(&key).query_async(&mut conn).await.unwrap();
    assert_eq!(removed, 1, "{key}");
    let resp = client
        .http()
        .post(format!("{base}/v1/validations"))
        .bearer_auth(&client.key)
        .json(&json!({"product": {"id": "1005000000000022"}, "webhook_url": url}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers().get("cache-status").unwrap(),
        "dropforge; hit; detail=postgres"
    );
    wait_for(&rx, "the PostgreSQL hit's event", |r| r.seen.len() >= 3).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    {
        let r = rx.lock().unwrap();
        assert_eq!(r.seen.len(), 3, "exactly one event per cached answer");
        assert_eq!(r.seen[2].2["type"], "job.succeeded");
        assert_eq!(r.seen[2].2["data"]["result"], answer["result"]);
    }
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_urls_pass_the_ssrf_guard_at_submit() {
    let env = TestEnv::new(EnvOptions::default()).await; // no allow-list
    let (base, _api) = env.start_api().await;
    let client = Client::new(&base, &env.key("ssrf").await);
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/",
        "http://100.64.0.1/",
        "http://[fc00::1]/",
        "ftp://example.com/",
        "http://user:pass@example.com/",
    ] {
        let (status, problem) = submit(&client, "1005000000000001", url).await;
        assert_eq!(status, 422, "{url}: {problem}");
        assert_eq!(problem["errors"][0]["pointer"], "/webhook_url", "{url}");
    }
    let count: i64 = sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_signs_with_both_secrets_and_batches_send_batch_completed() {
    let env = env_with_webhooks().await;
    let (base, _api) = env.start_api().await;
    let client = Client::new(&base, &env.key("rotate").await);
    let old = secret_of(&env, "rotate").await;
    let new = dropforge_common::db::webhooks::rotate_secret(&env.pool, "rotate", Duration::from_secs(3600))
        .await
        .unwrap()
        .expect("tenant exists");
    let (_stop, _worker) = env.start_worker();
    // Two receivers: one knows only the old secret, the other only the new one.
    let (old_url, old_rx) = receiver(old, Vec::new()).await;
    let (new_url, new_rx) = receiver(new, Vec::new()).await;
    submit(&client, "1005000000000005", &old_url).await;
    submit(&client, "1005000000000006", &new_url).await;
    wait_for(&old_rx, "the old-secret receiver", |r| !r.seen.is_empty()).await;
    wait_for(&new_rx, "the new-secret receiver", |r| !r.seen.is_empty()).await;
    assert_eq!(
        old_rx.lock().unwrap().bad_signatures,
        0,
        "a receiver with the old secret verifies during the overlap"
    );
    assert_eq!(
        new_rx.lock().unwrap().bad_signatures,
        0,
        "a receiver with the new secret verifies"
    );

    // A batch with a webhook_url gets batch.completed once every item ended.
    let (batch_url, batch_rx) = receiver(secret_of(&env, "rotate").await, Vec::new()).await;
    let resp = client
        .http()
        .post(format!("{base}/v1/validations/batch"))
        .bearer_auth(&client.key)
        .json(&json!({"products": [{"id": "1005000000000011"}, {"id": "1005000000000012"}], "webhook_url": batch_url}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let batch: Value = resp.json().await.unwrap();
    wait_for(&batch_rx, "batch.completed", |r| !r.seen.is_empty()).await;
    {
        let r = batch_rx.lock().unwrap();
        assert_eq!(r.seen[0].2["type"], "batch.completed");
        assert_eq!(r.seen[0].2["data"]["id"], batch["id"]);
        assert_eq!(r.bad_signatures, 0);
    }
    env.cleanup().await;
}
