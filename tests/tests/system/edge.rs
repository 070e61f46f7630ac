//! Edge tests (docs/design/webhooks-and-edge.md §6 A3, A6–A8, R1–R3) against real Redis and PostgreSQL: two API
//! "replicas" (two `AppState`s) sharing one Redis, served with connect info on loopback.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::{Response, StatusCode, header::HeaderMap};
use serde_json::{Value, json};

use crate::support::{EnvOptions, PrivateRedis, TestEnv, header, http_client, metrics_recorder, problem, redis_url};

/// An environment for the edge: the configured rate limits (not lifted) plus `extra`.
async fn edge_env(extra: &[(&'static str, &str)]) -> TestEnv {
    TestEnv::new(EnvOptions {
        real_rate_limits: true,
        ..EnvOptions::with_vars(extra)
    })
    .await
}

const PRODUCT: &str = "1005000000000001";

fn missing_job(base: &str) -> String {
    format!("{base}/v1/jobs/{}", uuid::Uuid::from(ulid::Ulid::generate()))
}

/// `"name";r=<int>;t=<int>` (draft-11 `RateLimit`).
fn assert_ratelimit_syntax(value: &str, name: &str) {
    let rest = value
        .strip_prefix(&format!("\"{name}\";r="))
        .unwrap_or_else(|| panic!("RateLimit {value:?} is not for {name}"));
    let (r, t) = rest.split_once(";t=").unwrap_or_else(|| panic!("RateLimit {value:?}"));
    assert!(
        r.parse::<u64>().is_ok() && t.parse::<u64>().is_ok(),
        "RateLimit {value:?}"
    );
}

fn assert_security_headers(h: &HeaderMap, what: &str) {
    assert_eq!(header(h, "x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header(h, "x-frame-options"), "DENY", "{what}");
    assert_eq!(
        header(h, "content-security-policy"),
        "default-src 'none'; frame-ancestors 'none'",
        "{what}"
    );
    assert_eq!(header(h, "referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header(h, "cross-origin-resource-policy"), "same-origin", "{what}");
    assert!(
        h.get("server").is_none() && h.get("x-powered-by").is_none(),
        "{what}: banner"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_limit_across_two_replicas() {
    let env = edge_env(&[("DF_RATE_LIMIT_IP", "20/60")]).await;
    let key = env.key("acme").await;
    let (a, b) = (env.replica().await, env.replica().await);
    let http = http_client();
    let requests = (0..60).map(|i| {
        let (http, key) = (http.clone(), key.clone());
        let url = missing_job(if i % 2 == 0 { &a } else { &b });
        async move { http.get(url).bearer_auth(key).send().await.unwrap() }
    });
    let responses = futures::future::join_all(requests).await;
    let (mut passed, mut limited) = (0, 0);
    for resp in responses {
        let h = resp.headers().clone();
        assert!(header(&h, "ratelimit-policy").contains("\"per-ip\";q=20;w=60"), "{h:?}");
        assert!(
            header(&h, "ratelimit-policy").contains("\"per-key\";q=6000;w=60"),
            "{h:?}"
        );
        assert_security_headers(&h, "limited route");
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
            let retry: u64 = header(&h, "retry-after").parse().expect("Retry-After");
            assert!((1..=4).contains(&retry), "Retry-After {retry}");
            assert_ratelimit_syntax(header(&h, "ratelimit"), "per-ip");
            let (_, _, body) = problem(resp).await;
            assert_eq!(
                body["type"],
                "https://iana.org/assignments/http-problem-types#quota-exceeded"
            );
            assert_eq!(body["code"], "rate_limited");
            assert_eq!(body["violated-policies"], json!(["per-ip"]));
        } else {
            assert_eq!(resp.status(), StatusCode::NOT_FOUND);
            assert_ratelimit_syntax(header(&h, "ratelimit"), "per-ip");
            passed += 1;
        }
    }
    assert_eq!((passed, limited), (20, 40));
    // Never limited, and no RateLimit headers outside /v1.
    let health = http.get(format!("{a}/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(health.headers().get("ratelimit").is_none());
    env.cleanup().await;
}

/// Leased tokens (DF_RATE_LIMIT_LEASE) never let the fleet past the limit: 600 concurrent requests
/// over two replicas against a per-IP quota of 400 (leases of up to 4 tokens) pass exactly 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leased_tokens_keep_one_exact_limit_across_two_replicas() {
    let env = edge_env(&[("DF_RATE_LIMIT_IP", "400/3600"), ("DF_RATE_LIMIT_KEY", "1000000/60")]).await;
    let key = env.key("acme").await;
    let (a, b) = (env.replica().await, env.replica().await);
    let http = http_client();
    let statuses: Vec<StatusCode> = futures::stream::iter(0..600)
        .map(|i| {
            let (http, key) = (http.clone(), key.clone());
            let url = missing_job(if i % 2 == 0 { &a } else { &b });
            async move { http.get(url).bearer_auth(key).send().await.unwrap().status() }
        })
        .buffer_unordered(40)
        .collect()
        .await;
    let passed = statuses.iter().filter(|s| **s == StatusCode::NOT_FOUND).count();
    let limited = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((passed, limited), (400, 200));
    env.cleanup().await;
}

/// A hot bucket's leased tokens that are not spent go back to Redis once the lease expires: the
/// bucket then counts exactly the requests admitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unspent_leased_tokens_go_back_to_the_bucket() {
    const INTERVAL_US: i64 = 36_000; // 100,000 per 3,600 s
    const REQUESTS: i64 = 50;
    let env = edge_env(&[("DF_RATE_LIMIT_IP", "100000/3600"), ("DF_RATE_LIMIT_KEY", "1000000/60")]).await;
    let key = env.key("acme").await;
    let base = env.replica().await;
    let http = http_client();
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let bucket = format!("{}:rl:ip:v4:127.0.0.1", env.prefix);
    let redis_now = async |redis: &mut redis::aio::MultiplexedConnection| -> i64 {
        let (s, us): (i64, i64) = redis::cmd("TIME").query_async(redis).await.unwrap();
        s * 1_000_000 + us
    };
    let started = redis_now(&mut redis).await;
    for _ in 0..REQUESTS {
        let resp = http.get(missing_job(&base)).bearer_auth(&key).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
    let tat_while_leased: i64 = redis::cmd("GET").arg(&bucket).query_async(&mut redis).await.unwrap();
    let admitted = started + REQUESTS * INTERVAL_US;
    assert!(
        tat_while_leased >= admitted + INTERVAL_US,
        "the replica holds leased tokens: TAT {} us past the admitted requests",
        tat_while_leased - admitted
    );
    // Two lease periods (250 ms each) and the sweep that gives the unspent tokens back.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let tat: i64 = redis::cmd("GET").arg(&bucket).query_async(&mut redis).await.unwrap();
    assert!(
        (tat - admitted).abs() < INTERVAL_US,
        "after the lease: TAT {} us from the {REQUESTS} admitted requests (held {} us)",
        tat - admitted,
        tat_while_leased - admitted
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_forwarded_for_is_ignored_without_a_trusted_proxy() {
    let env = edge_env(&[("DF_RATE_LIMIT_IP", "3/60")]).await;
    let base = env.replica().await;
    let http = http_client();
    let mut statuses = Vec::new();
    for i in 0..5 {
        let resp = http
            .get(missing_job(&base))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    // No key: 401 from auth for the first three (auth is never skipped), then the shared IP bucket is empty.
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxy_forwarded_for_selects_the_client() {
    let env = edge_env(&[("DF_RATE_LIMIT_IP", "2/60"), ("DF_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    let base = env.replica().await;
    let http = http_client();
    let send = |xff: &'static str| {
        let (http, url) = (http.clone(), missing_job(&base));
        async move {
            http.get(url)
                .header("x-forwarded-for", xff)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(send("203.0.113.50, 198.51.100.1").await, 401);
    assert_eq!(send("6.6.6.6, 198.51.100.1").await, 401);
    assert_eq!(
        send("7.7.7.7, 198.51.100.1").await,
        429,
        "left entries are client-controlled"
    );
    assert_eq!(send("198.51.100.2").await, 401, "another client has its own bucket");
    assert_eq!(send("2001:db8:1:2::1").await, 401);
    assert_eq!(send("2001:db8:1:2::2").await, 401);
    assert_eq!(send("2001:db8:1:2:ffff::3").await, 429, "IPv6 shares one /64 bucket");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_override_replaces_the_key_policy() {
    let env = edge_env(&[("DF_RATE_LIMIT_ROUTES", "GET /v1/jobs/{id}=2/60")]).await;
    let key = env.key("acme").await;
    let base = env.replica().await;
    let http = http_client();
    let mut last = None;
    for _ in 0..3 {
        last = Some(http.get(missing_job(&base)).bearer_auth(&key).send().await.unwrap());
    }
    let resp = last.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(resp.headers(), "ratelimit-policy").contains("\"per-route\";q=2;w=60"));
    assert_ratelimit_syntax(header(resp.headers(), "ratelimit"), "per-route");
    let (_, _, body) = problem(resp).await;
    assert_eq!(body["violated-policies"], json!(["per-route"]));
    env.cleanup().await;
}

fn fallback_count() -> f64 {
    metrics_recorder()
        .render()
        .lines()
        .find(|l| l.starts_with("dropforge_ratelimit_fallback_total"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_redis_falls_back_locally_then_recovers() {
    metrics_recorder();
    let redis = PrivateRedis::start(false);
    let env = edge_env(&[
        ("REDIS_URL", redis.url.as_str()),
        ("DF_RATE_LIMIT_IP", "1000/60"),
        ("DF_RATE_LIMIT_REPLICAS", "4"),
        ("DF_RATE_LIMIT_TIMEOUT_MS", "50"),
    ])
    .await;
    let key = env.key("acme").await;
    let base = env.replica().await;
    let http = http_client();
    let get = || {
        let (http, url, key) = (http.clone(), missing_job(&base), key.clone());
        async move {
            let started = Instant::now();
            let resp = http.get(url).bearer_auth(key).send().await.unwrap();
            (started.elapsed(), resp.status(), resp.headers().clone())
        }
    };
    let (_, status, h) = get().await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(header(&h, "ratelimit-policy").contains("\"per-ip\";q=1000;w=60"));

    let before = fallback_count();
    assert!(redis.signal("-STOP"));
    let mut latencies = Vec::new();
    for _ in 0..40 {
        let (took, status, h) = get().await;
        assert_eq!(status, StatusCode::NOT_FOUND, "auth and the handler still answer");
        assert_eq!(
            header(&h, "ratelimit-policy"),
            "\"per-ip\";q=250;w=60",
            "local fallback quota"
        );
        latencies.push(took);
    }
    latencies.sort();
    let max = latencies[latencies.len() - 1];
    eprintln!("hung redis: p50 {:?}, max {:?}", latencies[latencies.len() / 2], max);
    assert!(max < Duration::from_millis(150), "slowest answer {max:?}");
    assert!(fallback_count() - before >= 40.0, "fallback metric");

    assert!(redis.signal("-CONT"));
    let resumed = Instant::now();
    loop {
        let (_, _, h) = get().await;
        if header(&h, "ratelimit-policy").contains("q=1000") {
            break;
        }
        assert!(
            resumed.elapsed() < Duration::from_secs(5),
            "Redis limiting did not resume"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("limiting resumed {:?} after CONT", resumed.elapsed());
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_follows_the_allow_list() {
    let env = edge_env(&[]).await;
    let base = env.replica().await;
    let http = http_client();
    let preflight = |origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, format!("{base}/v1/validations"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type, idempotency-key",
            )
            .send()
    };
    let ok = preflight("http://localhost:3000").await.unwrap();
    let h = ok.headers();
    assert_eq!(header(h, "access-control-allow-origin"), "http://localhost:3000");
    assert_eq!(header(h, "access-control-allow-credentials"), "true");
    assert!(header(h, "access-control-allow-headers").contains("idempotency-key"));
    let vary: Vec<&str> = h.get_all("vary").iter().filter_map(|v| v.to_str().ok()).collect();
    assert!(
        vary.iter().any(|v| v.to_ascii_lowercase().contains("origin")),
        "{vary:?}"
    );
    assert_security_headers(h, "preflight");
    let evil = preflight("https://evil.example").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    // A simple request from an allowed origin exposes the RateLimit headers.
    let simple = http
        .get(format!("{base}/v1/jobs/x"))
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert!(header(simple.headers(), "access-control-expose-headers").contains("ratelimit"));
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_on_every_error() {
    let env = edge_env(&[("DF_RATE_LIMIT_IP", "5/60"), ("DF_HSTS", "true")]).await;
    let base = env.replica().await;
    let http = http_client();
    let not_found = http.get(format!("{base}/nope")).send().await.unwrap();
    let method = http.get(format!("{base}/v1/validations")).send().await.unwrap();
    let too_large = http
        .post(format!("{base}/v1/validations"))
        .header("content-type", "application/json")
        .body(vec![b' '; 64 * 1024 + 1])
        .send()
        .await
        .unwrap();
    // Its body was left unread: the answer closes the connection, so the next request is not
    // sent on it.
    assert_eq!(header(too_large.headers(), "connection"), "close");
    let unauthorized = http
        .post(format!("{base}/v1/validations"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let mut limited = None;
    for _ in 0..5 {
        let resp = http.get(missing_job(&base)).send().await.unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(resp);
            break;
        }
    }
    let limited = limited.expect("a 429");
    for (resp, want) in [
        (not_found, 404),
        (method, 405),
        (too_large, 413),
        (unauthorized, 401),
        (limited, 429),
    ] {
        let h = resp.headers().clone();
        assert_security_headers(&h, &want.to_string());
        assert_eq!(
            header(&h, "strict-transport-security"),
            "max-age=31536000; includeSubDomains"
        );
        let (status, _, _) = problem(resp).await;
        assert_eq!(status.as_u16(), want);
    }
    let health = http.get(format!("{base}/health")).send().await.unwrap();
    assert_security_headers(health.headers(), "health");
    env.cleanup().await;
}

async fn post(http: &reqwest::Client, base: &str, key: &str, idem: &str, body: &Value) -> Response {
    http.post(format!("{base}/v1/validations"))
        .bearer_auth(key)
        .header("idempotency-key", idem)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_replays_and_refuses_reuse() {
    let env = edge_env(&[]).await;
    let key = env.key("acme").await;
    let other = env.key("other-tenant").await;
    let (a, b) = (env.replica().await, env.replica().await);
    let http = http_client();
    let body = json!({"product": {"source": "aliexpress", "id": PRODUCT}});

    let first = post(&http, &a, &key, "\"order-1\"", &body).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert_eq!(header(first.headers(), "idempotency-key"), "\"order-1\"");
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = header(first.headers(), "location").to_owned();
    let first: Value = first.json().await.unwrap();

    let replay = post(&http, &b, &key, "\"order-1\"", &body).await;
    assert_eq!(replay.status(), StatusCode::ACCEPTED);
    assert_eq!(header(replay.headers(), "idempotent-replayed"), "true");
    assert_eq!(header(replay.headers(), "location"), location);
    assert_eq!(header(replay.headers(), "content-type"), "application/json");
    let replayed: Value = replay.json().await.unwrap();
    assert_eq!(replayed["id"], first["id"]);
    assert_eq!(env.jobs().await, 1);

    let changed = json!({"product": {"source": "aliexpress", "id": PRODUCT}, "country": "DE"});
    let (status, h, body422) = problem(post(&http, &a, &key, "\"order-1\"", &changed).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body422["type"], "/problems/idempotency-key-reused");
    assert_eq!(header(&h, "idempotency-key"), "\"order-1\"");
    assert_eq!(env.jobs().await, 1, "no job for the refused request");

    // Another tenant with the same key value is a different scope: its own request runs.
    let theirs = post(&http, &a, &other, "\"order-1\"", &body).await;
    assert_eq!(theirs.status(), StatusCode::ACCEPTED);
    assert!(theirs.headers().get("idempotent-replayed").is_none());

    let (status, _, bad) = problem(post(&http, &a, &key, "has space", &body).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["code"], "idempotency_key_invalid");
    env.cleanup().await;
}

/// Authentication comes before the `Idempotency-Key` check (Schemathesis, missing required
/// header): without a valid API key a malformed key is a 401, never a 400 that tells an
/// anonymous client about its other headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_idempotency_key_without_a_valid_api_key_is_401() {
    let env = edge_env(&[]).await;
    let base = env.replica().await;
    let http = http_client();
    let body = json!({"product": {"source": "aliexpress", "id": PRODUCT}});
    let unknown = "dfk_abcd1234_0123456789abcdefghijklmnopqrstuv";
    for path in ["/v1/validations", "/v1/validations/batch"] {
        for auth in [None, Some("Bearer nope"), Some(&*format!("Bearer {unknown}"))] {
            let mut req = http
                .post(format!("{base}{path}"))
                .header("idempotency-key", "has space")
                .json(&body);
            if let Some(auth) = auth {
                req = req.header("authorization", auth);
            }
            let (status, h, doc) = problem(req.send().await.unwrap()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {auth:?}: {doc}");
            assert_eq!(doc["code"], "unauthorized", "{path} {auth:?}");
            assert!(h.get("www-authenticate").is_some(), "{path} {auth:?}");
        }
    }
    assert_eq!(env.jobs().await, 0);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_create_one_job() {
    let env = edge_env(&[]).await;
    let key = env.key("acme").await;
    let (a, b) = (env.replica().await, env.replica().await);
    let http = http_client();
    let body = json!({"product": {"source": "aliexpress", "id": PRODUCT}, "target_price": 12.5});
    let requests = (0..10).map(|i| {
        let (http, key, body) = (http.clone(), key.clone(), body.clone());
        let base = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move {
            let resp = post(&http, &base, &key, "same-key-10", &body).await;
            let replayed = resp.headers().get("idempotent-replayed").is_some();
            let retry = header(resp.headers(), "retry-after").to_owned();
            let status = resp.status().as_u16();
            let doc: Value = resp.json().await.unwrap_or(Value::Null);
            (status, replayed, retry, doc)
        }
    });
    let results = futures::future::join_all(requests).await;
    let originals: Vec<_> = results.iter().filter(|r| r.0 == 202 && !r.1).collect();
    assert_eq!(originals.len(), 1, "{results:?}");
    let replayed = results.iter().filter(|r| r.1).count();
    eprintln!(
        "10 concurrent: 1 original, {replayed} replayed, {} in progress (409)",
        9 - replayed
    );
    let job_id = &originals[0].3["id"];
    for (status, replayed, retry, doc) in &results {
        match status {
            202 => assert_eq!(&doc["id"], job_id),
            409 => {
                assert!(!replayed);
                assert_eq!(retry, "1");
                assert_eq!(doc["type"], "/problems/idempotency-request-in-progress");
            }
            other => panic!("unexpected {other}: {doc}"),
        }
    }
    assert_eq!(env.jobs().await, 1);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_post_fails_closed_without_redis() {
    let redis = PrivateRedis::start(false);
    let env = edge_env(&[("REDIS_URL", redis.url.as_str()), ("DF_CACHE_REDIS_URL", &redis_url())]).await;
    let key = env.key("acme").await;
    let base = env.replica().await;
    drop(redis);
    let http = http_client();
    let body = json!({"product": {"source": "aliexpress", "id": PRODUCT}});
    let started = Instant::now();
    let (status, h, doc) = problem(post(&http, &base, &key, "k-503", &body).await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{doc}");
    assert!(h.get("retry-after").is_some());
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(env.jobs().await, 0);
    env.cleanup().await;
}

/// Cost of the edge on a request that needs no database (a malformed key answers 401 at once):
/// the rate limiter (one EVALSHA per request) on versus off. Run with `--ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a check"]
async fn edge_overhead() {
    const CONCURRENCY: usize = 32;
    const PER_TASK: usize = 300;
    for enabled in ["false", "true"] {
        let env = edge_env(&[("DF_RATE_LIMIT_ENABLED", enabled), ("DF_RATE_LIMIT_IP", "100000000/60")]).await;
        let base = env.replica().await;
        let http = http_client();
        let url = format!("{base}/v1/jobs/x");
        for _ in 0..200 {
            let _ = http.get(&url).bearer_auth("bad").send().await.unwrap();
        }
        let mut single = Vec::new();
        for _ in 0..500 {
            let started = Instant::now();
            let _ = http.get(&url).bearer_auth("bad").send().await.unwrap();
            single.push(started.elapsed());
        }
        single.sort();
        let started = Instant::now();
        let tasks = (0..CONCURRENCY).map(|_| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                for _ in 0..PER_TASK {
                    let resp = http.get(&url).bearer_auth("bad").send().await.unwrap();
                    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
                }
            })
        });
        for t in futures::future::join_all(tasks).await {
            t.unwrap();
        }
        let rate = (CONCURRENCY * PER_TASK) as f64 / started.elapsed().as_secs_f64();
        eprintln!(
            "rate limit {enabled}: sequential p50 {:?} p99 {:?}; {CONCURRENCY} concurrent: {rate:.0} req/s",
            single[single.len() / 2],
            single[single.len() * 99 / 100]
        );
        env.cleanup().await;
    }
}

/// `DF_BENCH_LAYERS_OFF` (for `bench/run.sh layers`) leaves exactly the named layers out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_layers_off_leaves_out_only_the_named_layers() {
    let env = edge_env(&[("DF_BENCH_LAYERS_OFF", "security_headers,rate_limit")]).await;
    let key = env.key("acme").await;
    let base = env.replica().await;
    let resp = http_client()
        .get(missing_job(&base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let h = resp.headers().clone();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(
        h.get("x-content-type-options").is_none(),
        "security headers left out: {h:?}"
    );
    assert!(h.get("ratelimit-policy").is_none(), "limiter left out: {h:?}");
    assert!(h.get("x-request-id").is_some(), "request ids still on: {h:?}");
    env.cleanup().await;
}
