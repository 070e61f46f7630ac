//! Failure modes and edge cases of the API against real PostgreSQL and Redis: connections killed
//! by PostgreSQL, a stalled (SIGSTOPped, private) Redis, PostgreSQL out of reach (through a
//! private TCP proxy this test stops), axum's own rejections, country codes, zero metric series
//! of a fresh process, the delivery log, batch progress, `Prefer: wait` and secret rotation.
//!
//! Each test has its own database and Redis prefix; servers stopped or paused here are private
//! instances the test started (a redis-server child, a proxy task), never the shared ones.

use std::{
    collections::HashMap,
    net::SocketAddr,
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use dropforge_common::{
    db::{
        self,
        jobs::{Created, NewJob},
        webhooks::{Attempt, NewDelivery},
    },
    domain::JobKind,
};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::support::{PrivateRedis, Process, TestEnv, free_port, header, http_client, pg_server_url, problem};

/// A product id (10–20 digits) unique within a test.
fn product(n: u64) -> String {
    format!("1005{:012}", n)
}

async fn post_validation(http: &reqwest::Client, base: &str, key: &str, body: &Value) -> Response {
    http.post(format!("{base}/v1/validations"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// 1. PostgreSQL terminates connections
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_backends_answer_503_never_500() {
    let env = TestEnv::with_vars(&[]).await;
    let key = env.key("acme").await;
    let base = env.replica().await;
    let http = http_client();
    let first = post_validation(&http, &base, &key, &json!({"product": {"id": product(0)}})).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);

    // Terminates this test's own backends (and only those) every 200 ms.
    let admin = db::connect(&pg_server_url(), 1).await.expect("admin connection");
    let stop = Arc::new(AtomicBool::new(false));
    let terminated = Arc::new(AtomicU64::new(0));
    let killer = {
        let (stop, terminated, database) = (stop.clone(), terminated.clone(), env.database.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n: i64 = sqlx::query_scalar(
                    "select count(*) filter (where pg_terminate_backend(pid)) from pg_stat_activity
                     where datname = $1 and pid <> pg_backend_pid()",
                )
                .bind(&database)
                .fetch_one(&admin)
                .await
                .expect("terminate");
                terminated.fetch_add(u64::try_from(n).unwrap_or(0), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    let statuses = Arc::new(Mutex::new(HashMap::<u16, u64>::new()));
    // Every POST answered 503: its product id and the `Location` it carried, if any.
    let refused = Arc::new(Mutex::new(Vec::<(String, Option<String>)>::new()));
    let deadline = Instant::now() + Duration::from_secs(4);
    let clients: Vec<JoinHandle<()>> = (0..8u64)
        .map(|c| {
            let (http, base, key, statuses, refused) = (
                http.clone(),
                base.clone(),
                key.clone(),
                statuses.clone(),
                refused.clone(),
            );
            tokio::spawn(async move {
                let mut last_job: Option<String> = None;
                let mut n = 0u64;
                while Instant::now() < deadline {
                    n += 1;
                    let posted = product(1 + c * 100_000 + n);
                    let resp = match (&last_job, n % 2) {
                        (Some(id), 0) => http
                            .get(format!("{base}/v1/jobs/{id}"))
                            .bearer_auth(&key)
                            .send()
                            .await
                            .unwrap(),
                        _ => {
                            let body = json!({"product": {"id": posted.clone()}});
                            post_validation(&http, &base, &key, &body).await
                        }
                    };
                    let is_post = !(last_job.is_some() && n.is_multiple_of(2));
                    let status = resp.status();
                    *statuses.lock().unwrap().entry(status.as_u16()).or_default() += 1;
                    match status {
                        StatusCode::OK | StatusCode::ACCEPTED => {
                            let doc: Value = resp.json().await.unwrap();
                            if let Some(id) = doc["id"].as_str() {
                                last_job = Some(id.to_owned());
                            }
                        }
                        StatusCode::SERVICE_UNAVAILABLE => {
                            let (_, h, body) = problem(resp).await;
                            assert_eq!(body["code"], "service_unavailable", "{body}");
                            assert!(h.get("retry-after").is_some(), "503 without Retry-After");
                            if is_post {
                                let location = h.get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
                                refused.lock().unwrap().push((posted.clone(), location));
                            }
                        }
                        other => {
                            let body = resp.text().await.unwrap_or_default();
                            panic!("answered {other} while backends were terminated: {body}");
                        }
                    }
                }
            })
        })
        .collect();
    for c in futures::future::join_all(clients).await {
        c.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    killer.await.unwrap();
    let statuses = statuses.lock().unwrap().clone();
    let terminated = terminated.load(Ordering::Relaxed);
    eprintln!("terminated {terminated} backends; answers by status: {statuses:?}");
    assert!(terminated > 0, "the test must actually terminate backends");
    assert!(
        statuses.keys().all(|s| [200, 202, 503].contains(s)),
        "only 2xx and 503 are acceptable: {statuses:?}"
    );
    assert!(
        statuses.get(&202).copied().unwrap_or(0) > 0,
        "the API must keep serving between terminations: {statuses:?}"
    );
    // A 503 never hides a job: a refused POST whose job was created anyway said where it is.
    let refused = refused.lock().unwrap().clone();
    for (product_id, location) in &refused {
        let created: Option<uuid::Uuid> = sqlx::query_scalar("select id from jobs where input->'product'->>'id' = $1")
            .bind(product_id)
            .fetch_optional(&env.pool)
            .await
            .unwrap();
        if let Some(id) = created {
            assert_eq!(
                location.as_deref(),
                Some(format!("/v1/jobs/{id}").as_str()),
                "a 503 for product {product_id} hid its job {id}"
            );
        }
    }
    eprintln!(
        "{} POSTs answered 503; every one whose job exists pointed at it",
        refused.len()
    );
    // And it recovers: once the terminations stop, everything answers.
    let after = post_validation(&http, &base, &key, &json!({"product": {"id": product(99_999_999)}})).await;
    assert_eq!(after.status(), StatusCode::ACCEPTED);
    env.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// 2. A stalled Redis, PostgreSQL out of reach
// ---------------------------------------------------------------------------------------------

async fn timed_ready(http: &reqwest::Client, base: &str) -> (Duration, StatusCode, Value) {
    let started = Instant::now();
    let resp = http.get(format!("{base}/ready")).send().await.unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (started.elapsed(), status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_redis_keeps_submissions_fast_and_jobs_in_postgres() {
    let redis = PrivateRedis::start(false);
    let env = TestEnv::with_vars(&[("REDIS_URL", redis.url.as_str()), ("DF_RATE_LIMIT_TIMEOUT_MS", "50")]).await;
    let key = env.key("acme").await;
    let base = env.replica().await;
    let http = http_client();
    let warm = post_validation(&http, &base, &key, &json!({"product": {"id": product(0)}})).await;
    assert_eq!(warm.status(), StatusCode::ACCEPTED);
    let (_, status, _) = timed_ready(&http, &base).await;
    assert_eq!(status, StatusCode::OK);

    assert!(redis.signal("-STOP"));
    let mut latencies = Vec::new();
    let mut stalled_jobs = Vec::new();
    for n in 1..=50 {
        let started = Instant::now();
        let resp = post_validation(&http, &base, &key, &json!({"product": {"id": product(n)}})).await;
        latencies.push(started.elapsed());
        let status = resp.status();
        let doc: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::ACCEPTED, "{doc}");
        stalled_jobs.push(uuid::Uuid::parse_str(doc["id"].as_str().unwrap()).unwrap());
    }
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    eprintln!("stalled redis: POST p50 {p50:?}, p99 {p99:?}");
    assert!(
        p99 < Duration::from_millis(500),
        "POST p99 {p99:?} with a stalled Redis"
    );

    // An Idempotency-Key cannot be honoured without Redis: 503 at once, not after a stall.
    let started = Instant::now();
    let resp = http
        .post(format!("{base}/v1/validations"))
        .bearer_auth(&key)
        .header("idempotency-key", "stalled-1")
        .json(&json!({"product": {"id": product(1_000)}}))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    let (status, h, _) = problem(resp).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(h.get("retry-after").is_some());
    assert!(took < Duration::from_millis(500), "idempotent POST took {took:?}");

    let (took, status, body) = timed_ready(&http, &base).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(took < Duration::from_secs(1), "/ready took {took:?}");
    assert_eq!(body["checks"]["queue_redis"], "unavailable", "{body}");
    assert_eq!(body["checks"]["postgres_and_migrations"], "ok", "{body}");

    // Every submission is a queued row the worker's dispatcher will push (none claims to be in Redis).
    let (queued, undispatched): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where status = 'queued'), count(*) filter (where dispatched_at is null)
         from jobs where id = any($1)",
    )
    .bind(&stalled_jobs)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!((queued, undispatched), (50, 50));

    assert!(redis.signal("-CONT"));
    let resumed = Instant::now();
    loop {
        let (_, status, _) = timed_ready(&http, &base).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(resumed.elapsed() < Duration::from_secs(5), "/ready did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Pushes resume once the breaker closes: a new job is dispatched at submit time again. (Another
    // tenant: acme's 50 stalled singles are past its interactive allowance, so its next ones are
    // bulk work, which only the dispatcher pushes.)
    let other = env.key("acme-after").await;
    let mut n = 2_000;
    loop {
        n += 1;
        let resp = post_validation(&http, &base, &other, &json!({"product": {"id": product(n)}})).await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        let doc: Value = resp.json().await.unwrap();
        let id = uuid::Uuid::parse_str(doc["id"].as_str().unwrap()).unwrap();
        let dispatched: bool = sqlx::query_scalar("select dispatched_at is not null from jobs where id = $1")
            .bind(id)
            .fetch_one(&env.pool)
            .await
            .unwrap();
        if dispatched {
            break;
        }
        assert!(resumed.elapsed() < Duration::from_secs(5), "pushes did not resume");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    env.cleanup().await;
}

/// A TCP proxy in front of the shared PostgreSQL, so a test can take "PostgreSQL" away (stop
/// accepting, drop every connection) without touching the server itself.
struct PgProxy {
    addr: SocketAddr,
    upstream: String,
    accept: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl PgProxy {
    fn start(upstream: &str) -> Self {
        let mut proxy = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
            upstream: upstream.to_owned(),
            accept: None,
            connections: Arc::new(Mutex::new(Vec::new())),
        };
        proxy.resume();
        proxy
    }

    /// Listens (again) on the same address.
    fn resume(&mut self) {
        let listener = dropforge_api::bind(self.addr, 128).expect("bind proxy");
        let (upstream, connections) = (self.upstream.clone(), self.connections.clone());
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                connections.lock().unwrap().push(task);
            }
        }));
    }

    /// Stops listening and drops every proxied connection.
    async fn stop(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
            let _ = accept.await;
        }
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_out_of_reach_answers_503_fast() {
    let mut env = TestEnv::with_vars(&[]).await;
    let server = url::Url::parse(&env.direct_url).unwrap();
    let upstream = format!(
        "{}:{}",
        server.host_str().unwrap_or("127.0.0.1"),
        server.port().unwrap_or(5432)
    );
    let mut proxy = PgProxy::start(&upstream);
    let mut via_proxy = server.clone();
    via_proxy.set_host(Some("127.0.0.1")).unwrap();
    via_proxy.set_port(Some(proxy.addr.port())).unwrap();
    env.vars.insert("DATABASE_URL".into(), via_proxy.to_string());
    let key = env.key("acme").await;
    let base = env.replica().await;
    let http = http_client();
    let ok = post_validation(&http, &base, &key, &json!({"product": {"id": product(0)}})).await;
    assert_eq!(ok.status(), StatusCode::ACCEPTED);

    proxy.stop().await;
    // Past the key cache (1 s), so authentication needs PostgreSQL too.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for n in 1..=5 {
        let started = Instant::now();
        let resp = post_validation(&http, &base, &key, &json!({"product": {"id": product(n)}})).await;
        let took = started.elapsed();
        let (status, h, body) = problem(resp).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["code"], "service_unavailable");
        assert!(h.get("retry-after").is_some());
        assert!(
            took < Duration::from_millis(2500),
            "503 took {took:?} with PostgreSQL down"
        );
    }
    let (took, status, body) = timed_ready(&http, &base).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["checks"]["postgres_and_migrations"], "unavailable");
    assert!(took < Duration::from_secs(1), "/ready took {took:?}");

    proxy.resume();
    let back = Instant::now();
    loop {
        let resp = post_validation(&http, &base, &key, &json!({"product": {"id": product(100)}})).await;
        if resp.status() == StatusCode::ACCEPTED {
            break;
        }
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(back.elapsed() < Duration::from_secs(10), "no recovery");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    proxy.stop().await;
    env.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// 3. axum's own rejections, 4. country codes
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_are_problem_documents_with_pointers() {
    let env = TestEnv::with_vars(&[]).await;
    let key = env.key("acme").await;
    let base = env.replica().await;
    let http = http_client();
    let cases = [
        (
            "/v1/jobs?status=queued&status=running",
            "duplicate_query_parameter",
            "/query/status",
        ),
        ("/v1/jobs?limit=1&limit=2", "duplicate_query_parameter", "/query/limit"),
        ("/v1/products/search?q=x&q=y", "duplicate_query_parameter", "/query/q"),
        (
            "/v1/products/aliexpress/1005000000000001/suppliers?country=US&country=DE",
            "duplicate_query_parameter",
            "/query/country",
        ),
        (
            "/v1/products/aliexpress/%FF/suppliers",
            "invalid_path_encoding",
            "/path/id",
        ),
        ("/v1/products/search?q=%FF%FEled", "invalid_query_encoding", "/query/q"),
        (
            "/v1/products/search?q=led&country=%C3",
            "invalid_query_encoding",
            "/query/country",
        ),
    ];
    for (path, code, pointer) in cases {
        let resp = http
            .get(format!("{base}{path}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        let (status, _, body) = problem(resp).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["code"], code, "{path}: {body}");
        assert_eq!(body["type"], format!("/problems/{}", code.replace('_', "-")));
        assert_eq!(body["errors"][0]["pointer"], pointer, "{path}: {body}");
    }
    // Valid UTF-8, percent-encoded, still works (and `+` is a space).
    let resp = http
        .get(format!("{base}/v1/products/search?q=led+strip%20%C3%A9t%C3%A9"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["input"]["query"], "led strip été");

    // Each of these routes documents its 400 with the codes.
    let spec = dropforge_api::openapi::spec();
    for (path, codes) in [
        ("/v1/jobs", vec!["duplicate_query_parameter", "invalid_query_encoding"]),
        (
            "/v1/products/search",
            vec!["duplicate_query_parameter", "invalid_query_encoding"],
        ),
        (
            "/v1/products/{source}/{id}/suppliers",
            vec![
                "duplicate_query_parameter",
                "invalid_query_encoding",
                "invalid_path_encoding",
            ],
        ),
    ] {
        let response = &spec["paths"][path]["get"]["responses"]["400"];
        let response = match response["$ref"].as_str() {
            Some(r) => spec.pointer(r.trim_start_matches('#')).unwrap(),
            None => response,
        };
        let description = response["description"].as_str().unwrap_or_default();
        for code in codes {
            assert!(description.contains(code), "{path}: 400 does not mention {code}");
        }
        assert_eq!(
            response["content"]["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
    }
    env.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// The document states what the API enforces (found by scripts/schemathesis.sh: schema-valid
// requests refused with 422/400, schema-violating ones accepted)
// ---------------------------------------------------------------------------------------------

/// `schema` with every `$ref` followed and an `Option`'s `oneOf: [null, T]` reduced to `T`.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    let mut schema = schema;
    'outer: loop {
        if let Some(reference) = schema["$ref"].as_str() {
            schema = spec
                .pointer(reference.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling {reference}"));
            continue;
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(alternatives) = schema[key].as_array() {
                let not_null: Vec<&Value> = alternatives.iter().filter(|a| a["type"] != "null").collect();
                if not_null.len() == 1 && not_null.len() < alternatives.len() {
                    schema = not_null[0];
                    continue 'outer;
                }
            }
        }
        return schema;
    }
}

/// The resolved schema of parameter `name` of `method path`.
fn parameter<'a>(spec: &'a Value, method: &str, path: &str, name: &str) -> &'a Value {
    let parameters = spec["paths"][path][method]["parameters"]
        .as_array()
        .unwrap_or_else(|| panic!("{method} {path}: no parameters"));
    let parameter = parameters
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{method} {path}: no parameter {name}"));
    resolve(spec, &parameter["schema"])
}

/// The resolved schema of member `name` of component `component`.
fn member<'a>(spec: &'a Value, component: &str, name: &str) -> &'a Value {
    let schema = resolve(spec, &spec["components"]["schemas"][component]);
    resolve(spec, &schema["properties"][name])
}

/// The two-letter codes a pattern of the form `^(?:[Aa][DEde]|[Bb][…]|…)$` matches.
fn codes_matched(pattern: &str) -> std::collections::BTreeSet<String> {
    let body = pattern
        .strip_prefix("^(?:")
        .and_then(|p| p.strip_suffix(")$"))
        .unwrap_or_else(|| panic!("country pattern {pattern:?}"));
    let mut codes = std::collections::BTreeSet::new();
    for alternative in body.split('|') {
        let sets: Vec<&str> = alternative
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or_else(|| panic!("alternative {alternative:?}"))
            .split("][")
            .collect();
        assert_eq!(sets.len(), 2, "{alternative}");
        for a in sets[0].chars() {
            for b in sets[1].chars() {
                codes.insert(format!("{a}{b}"));
            }
        }
    }
    codes
}

#[test]
fn the_document_states_what_the_api_enforces() {
    let spec = dropforge_api::openapi::spec();

    // Job filters are enums of exactly what the list accepts.
    let status = parameter(&spec, "get", "/v1/jobs", "status");
    let statuses: Vec<&str> = dropforge_common::JobStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(status["enum"], json!(statuses), "{status}");
    let kind = parameter(&spec, "get", "/v1/jobs", "kind");
    let kinds: Vec<&str> = dropforge_common::JobKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(kind["enum"], json!(kinds), "{kind}");

    // Every `country` accepts exactly the assigned ISO 3166-1 codes, in any case.
    let letters: Vec<char> = ('A'..='Z').chain('a'..='z').collect();
    let accepted: std::collections::BTreeSet<String> = letters
        .iter()
        .flat_map(|a| letters.iter().map(move |b| format!("{a}{b}")))
        .filter(|code| dropforge_common::country::parse(code).is_ok())
        .collect();
    assert_eq!(accepted.len(), 249 * 4);
    let countries = [
        (
            "GET /v1/products/search",
            parameter(&spec, "get", "/v1/products/search", "country"),
        ),
        (
            "GET /v1/products/{source}/{id}/suppliers",
            parameter(&spec, "get", "/v1/products/{source}/{id}/suppliers", "country"),
        ),
        ("ValidationRequest", member(&spec, "ValidationRequest", "country")),
        ("BatchRequest", member(&spec, "BatchRequest", "country")),
    ];
    for (place, schema) in countries {
        let pattern = schema["pattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{place}: country without a pattern: {schema}"));
        assert_eq!(codes_matched(pattern), accepted, "{place}");
    }

    // Parameters and members whose values the API checks carry the check.
    let suppliers = "/v1/products/{source}/{id}/suppliers";
    assert_eq!(parameter(&spec, "get", suppliers, "source")["pattern"], "^aliexpress$");
    assert_eq!(parameter(&spec, "get", suppliers, "id")["pattern"], "^[0-9]{10,20}$");
    assert!(parameter(&spec, "get", "/v1/products/search", "q")["pattern"].is_string());
    for path in ["/v1/validations", "/v1/validations/batch"] {
        let key = parameter(&spec, "post", path, "Idempotency-Key");
        assert!(key["pattern"].is_string(), "{path}: {key}");
    }
    for body in ["ValidationRequest", "BatchRequest"] {
        let schema = resolve(&spec, &spec["components"]["schemas"][body]);
        assert_eq!(
            schema["additionalProperties"], false,
            "{body}: unknown members are refused"
        );
        let webhook = member(&spec, body, "webhook_url");
        assert!(
            webhook["pattern"]
                .as_str()
                .is_some_and(|p| p.starts_with("^[Hh][Tt][Tt][Pp]")),
            "{body}: {webhook}"
        );
    }
    let source = member(&spec, "ProductById", "source");
    assert_eq!(source["type"], "string", "null is refused: {source}");
    assert_eq!(source["pattern"], "^aliexpress$");
    assert!(member(&spec, "ProductByUrl", "url")["pattern"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn countries_must_be_iso_3166_codes() {
    let env = TestEnv::with_vars(&[]).await;
    let key = env.key("acme").await;
    let base = env.replica().await;
    let http = http_client();
    for country in ["XX", "ZZ", "uk", "eu"] {
        let body = json!({"product": {"id": product(1)}, "country": country});
        let (status, _, doc) = problem(post_validation(&http, &base, &key, &body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{country}");
        assert_eq!(doc["code"], "validation_failed");
        assert_eq!(doc["errors"][0]["pointer"], "/country", "{doc}");
    }
    let body = json!({"products": [{"id": product(1)}], "country": "XX"});
    let resp = http
        .post(format!("{base}/v1/validations/batch"))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, _, doc) = problem(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(doc["errors"][0]["pointer"], "/country", "{doc}");
    for path in [
        "/v1/products/search?q=led&country=ZZ",
        "/v1/products/aliexpress/1005000000000001/suppliers?country=XX",
    ] {
        let resp = http
            .get(format!("{base}{path}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        let (status, _, doc) = problem(resp).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert_eq!(doc["errors"][0]["pointer"], "/query/country", "{path}: {doc}");
    }
    // Lower case is accepted and normalised.
    let resp = post_validation(
        &http,
        &base,
        &key,
        &json!({"product": {"id": product(2)}, "country": "de"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["input"]["country"], "DE");
    env.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// 5. Zero series on a fresh process
// ---------------------------------------------------------------------------------------------

/// Parses Prometheus text into `(name, labels) -> value`.
fn parse_metrics(text: &str) -> HashMap<(String, Vec<(String, String)>), f64> {
    let mut out = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let mut labels: Vec<(String, String)> = rest
                    .trim_end_matches('}')
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .filter_map(|p| {
                        let (k, v) = p.split_once("=\"")?;
                        Some((k.to_owned(), v.trim_end_matches('"').to_owned()))
                    })
                    .collect();
                labels.sort();
                (name.to_owned(), labels)
            }
            None => (series.to_owned(), Vec::new()),
        };
        if let Ok(v) = value.parse() {
            out.insert((name, labels), v);
        }
    }
    out
}

fn series(name: &str, labels: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
    let mut labels: Vec<(String, String)> = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    labels.sort();
    (name.to_owned(), labels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_api_exports_every_known_counter_at_zero() {
    let env = TestEnv::with_vars(&[]).await;
    let metrics_port = free_port();
    let mut api = Process::spawn(
        env.command("dropforge-api")
            .env("DF_API_LISTEN", format!("127.0.0.1:{}", free_port()))
            .env("DF_API_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null()),
    );
    let http = http_client();
    let started = Instant::now();
    let text = loop {
        if let Ok(resp) = http
            .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .send()
            .await
            && resp.status() == StatusCode::OK
        {
            break resp.text().await.unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the API did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = api.kill();
    let _ = api.wait();
    let scraped = parse_metrics(&text);
    let expected = [
        series(
            "dropforge_jobs_finished_total",
            &[("kind", "validation"), ("outcome", "failed")],
        ),
        series(
            "dropforge_jobs_finished_total",
            &[("kind", "webhook"), ("outcome", "succeeded")],
        ),
        series(
            "dropforge_jobs_enqueued_total",
            &[("kind", "search"), ("outcome", "pushed")],
        ),
        series(
            "dropforge_jobs_enqueued_total",
            &[("kind", "validation"), ("outcome", "dispatched")],
        ),
        series(
            "dropforge_cache_requests_total",
            &[("kind", "validation"), ("result", "hit")],
        ),
        series(
            "dropforge_cache_requests_total",
            &[("kind", "suppliers"), ("result", "miss")],
        ),
        series("dropforge_webhook_deliveries_total", &[("outcome", "delivered")]),
        series("dropforge_webhook_deliveries_total", &[("outcome", "retry")]),
        series("dropforge_rate_limited_total", &[("policy", "per-ip")]),
        series(
            "dropforge_upstream_requests_total",
            &[("upstream", "youtube"), ("outcome", "timeout")],
        ),
        series(
            "dropforge_upstream_requests_total",
            &[("upstream", "aliexpress"), ("outcome", "ok")],
        ),
        series(
            "dropforge_upstream_budget_waits_total",
            &[("upstream", "meta"), ("reason", "quota")],
        ),
        series("dropforge_reconciler_actions_total", &[("action", "requeued_lease")]),
        series(
            "dropforge_http_requests_total",
            &[("method", "POST"), ("route", "/v1/validations"), ("status", "500")],
        ),
        series(
            "dropforge_http_requests_total",
            &[("method", "GET"), ("route", "/v1/jobs/{id}"), ("status", "503")],
        ),
        series("dropforge_ratelimit_fallback_total", &[]),
        series("dropforge_ratelimit_backend_errors_total", &[]),
    ];
    for key in expected {
        assert_eq!(
            scraped.get(&key),
            Some(&0.0),
            "{key:?} is not exported at 0 by a fresh API:\n{text}"
        );
    }
    env.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// 6. Delivery log, batch progress, Prefer: wait, secret rotation
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_delivery_attempt_carries_its_own_outcome() {
    let env = TestEnv::with_vars(&[]).await;
    let created = db::tenants::create_key(&env.pool, "hooks").await.unwrap();
    let key = created.key.plaintext.clone();
    let base = env.replica().await;
    let job = NewJob {
        tenant_id: created.tenant_id,
        kind: JobKind::Validation,
        dedupe_key: None,
        input: json!({"product": {"source": "aliexpress", "id": product(1)}}),
        webhook_url: Some("https://hooks.example/a".into()),
        request_id: None,
        parent_id: None,
        dispatch_as: None,
    };
    let Created::New(job_id) = db::jobs::create_or_join(&env.pool, &job).await.unwrap() else {
        panic!("new job")
    };
    for url in ["https://hooks.example/a", "https://hooks.example/gone"] {
        let delivery = NewDelivery {
            tenant_id: created.tenant_id,
            job_id,
            event_type: "job.succeeded",
            url,
            payload: "{}",
        };
        assert!(db::webhooks::enqueue(&env.pool, &delivery).await.unwrap());
    }
    let delivery_of = |url: &'static str| {
        let pool = env.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("select id from webhook_deliveries where job_id = $1 and url = $2")
                .bind(job_id.0)
                .bind(url)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let (a, gone) = (
        delivery_of("https://hooks.example/a").await,
        delivery_of("https://hooks.example/gone").await,
    );
    let soon = Some(chrono::Utc::now() + chrono::Duration::seconds(5));
    let attempts = [
        (&a, 1, Some(500), Some("http_status"), soon, "pending"),
        (&a, 2, None, Some("timeout"), soon, "pending"),
        (&a, 3, Some(200), None, None, "delivered"),
        (&gone, 1, Some(410), Some("http_status"), None, "disabled"),
    ];
    for (delivery, no, status, error_class, next, delivery_status) in attempts {
        let attempt = Attempt {
            attempt_no: no,
            duration: Duration::from_millis(12),
            response_status: status,
            error_class,
            response_excerpt: "",
            next_attempt_at: next,
            delivery_status,
        };
        db::webhooks::record_attempt(&env.pool, delivery, &attempt)
            .await
            .unwrap();
    }
    let log: Value = http_client()
        .get(format!("{base}/v1/jobs/{job_id}/deliveries"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows = log["data"].as_array().unwrap();
    let of = |delivery: &str| -> Vec<(i64, String, String)> {
        rows.iter()
            .filter(|r| r["delivery_id"] == delivery)
            .map(|r| {
                (
                    r["attempt"].as_i64().unwrap(),
                    r["status"].as_str().unwrap().to_owned(),
                    r["delivery_status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let s = |v: &str| v.to_owned();
    assert_eq!(
        of(&a),
        vec![
            (1, s("failed"), s("delivered")),
            (2, s("failed"), s("delivered")),
            (3, s("delivered"), s("delivered")),
        ],
        "{log}"
    );
    assert_eq!(of(&gone), vec![(1, s("disabled"), s("disabled"))], "{log}");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceled_batch_items_are_counted_apart_from_failures() {
    let env = TestEnv::with_vars(&[]).await;
    let key = env.key("acme").await;
    let base = env.replica().await;
    let http = http_client();
    let resp = http
        .post(format!("{base}/v1/validations/batch"))
        .bearer_auth(&key)
        .json(&json!({"products": [{"id": product(1)}, {"id": product(2)}, {"id": product(3)}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let batch: Value = resp.json().await.unwrap();
    assert_eq!(
        batch["progress"],
        json!({"total": 3, "done": 0, "failed": 0, "canceled": 0})
    );
    let id = batch["id"].as_str().unwrap();
    // No worker runs: every item is queued, so canceling the batch cancels them all.
    let canceled = http
        .delete(format!("{base}/v1/jobs/{id}"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(canceled.status(), StatusCode::OK);
    let resp = http
        .get(format!("{base}/v1/jobs/{id}"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let etag = header(resp.headers(), "etag").to_owned();
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["status"], "canceled");
    assert_eq!(
        doc["progress"],
        json!({"total": 3, "done": 0, "failed": 0, "canceled": 3}),
        "{doc}"
    );
    assert!(
        doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == "canceled")
    );
    assert!(etag.ends_with("-0-0-3\""), "the ETag covers canceled items: {etag}");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_prefer_wait_is_capped_not_ignored() {
    let env = TestEnv::with_vars(&[("DF_API_MAX_WAIT_SECS", "1")]).await;
    let key = env.key("acme").await;
    let base = env.replica().await;
    let started = Instant::now();
    let resp = http_client()
        .post(format!("{base}/v1/validations"))
        .bearer_auth(&key)
        .header("prefer", format!("wait={}", "9".repeat(30)))
        .json(&json!({"product": {"id": product(1)}}))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(
        resp.status(),
        StatusCode::ACCEPTED,
        "no worker: still queued after the wait"
    );
    assert_eq!(header(resp.headers(), "preference-applied"), "wait=1");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "waited {took:?} for a wait capped at 1 s"
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_rotation_keeps_the_first_overlap() {
    let env = TestEnv::with_vars(&[]).await;
    let created = db::tenants::create_key(&env.pool, "rotating").await.unwrap();
    let tenant = created.tenant_id.0;
    let first = created.webhook_secret.expect("a new tenant's secret");
    let hour = Duration::from_secs(3600);
    let second = db::webhooks::rotate_secret(&env.pool, "rotating", hour)
        .await
        .unwrap()
        .expect("tenant");
    assert_eq!(
        db::webhooks::signing_secrets(&env.pool, tenant).await.unwrap(),
        vec![second.clone(), first.clone()]
    );
    // Rotating again within the hour: the first secret was promised an hour and keeps it, even
    // with a shorter overlap for the second one.
    let third = db::webhooks::rotate_secret(&env.pool, "rotating", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("tenant");
    assert_eq!(
        db::webhooks::signing_secrets(&env.pool, tenant).await.unwrap(),
        vec![third.clone(), second.clone(), first.clone()],
        "every secret whose overlap has not ended keeps signing"
    );
    // Once an overlap ends, that secret stops signing; the others keep theirs.
    sqlx::query("update webhook_secret_overlaps set valid_until = now() - interval '1 second' where secret = $1")
        .bind(&first)
        .execute(&env.pool)
        .await
        .unwrap();
    sqlx::query("update tenants set webhook_secret_previous_until = now() - interval '1 second' where id = $1")
        .bind(tenant)
        .execute(&env.pool)
        .await
        .unwrap();
    assert_eq!(
        db::webhooks::signing_secrets(&env.pool, tenant).await.unwrap(),
        vec![third.clone(), second.clone()]
    );
    // A rotation with no overlap replaces the current secret at once.
    let fourth = db::webhooks::rotate_secret(&env.pool, "rotating", Duration::ZERO)
        .await
        .unwrap()
        .expect("tenant");
    assert_eq!(
        db::webhooks::signing_secrets(&env.pool, tenant).await.unwrap(),
        vec![fourth, second]
    );
    assert!(
        db::webhooks::rotate_secret(&env.pool, "nobody", hour)
            .await
            .unwrap()
            .is_none(),
        "unknown tenant"
    );
    env.cleanup().await;
}

/// A hot result whose memo period just ended is served from the memo (stale, within its grace)
/// when the cache Redis stops answering, by the very request whose read timed out: not from
/// PostgreSQL, where every request waiting on the stalled Redis would otherwise go at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_cache_redis_serves_the_stale_memo_not_postgres() {
    let cache = PrivateRedis::start(false);
    let env = TestEnv::with_vars(&[
        ("DF_CACHE_REDIS_URL", cache.url.as_str()),
        ("DF_API_RESULT_MEMO_MS", "1000"),
    ])
    .await;
    let key = env.key("acme").await;
    let base = env.replica().await;
    let (_stop, _worker) = env.start_worker();
    let client = crate::support::Client::new(&base, &key);
    let hot = product(7);
    let (status, _, body) = client.validate(&hot, Some(20)).await;
    assert_eq!(status, 200, "{body}");
    // The first hit reads the cache Redis and fills the memo; the next is served from it.
    let (status, headers, _) = client.validate(&hot, None).await;
    assert_eq!((status, header(&headers, "cache-status")), (200, "dropforge; hit"));
    let (status, headers, _) = client.validate(&hot, None).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-status"), "dropforge; hit; detail=memory");

    // Past the memo period (1 s), within its grace (5 s); then the cache Redis stalls.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert!(cache.signal("-STOP"));
    let (status, headers, body) = client.validate(&hot, None).await;
    assert!(cache.signal("-CONT"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        header(&headers, "cache-status"),
        "dropforge; hit; detail=memory",
        "the stale memo entry, not a PostgreSQL read"
    );
    env.cleanup().await;
}
