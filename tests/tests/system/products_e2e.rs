//! End to end on real PostgreSQL, Redis and the sandbox: product search and suppliers through the
//! API (cache miss → job → result → hit, `Prefer: wait`, bad input, unknown product, tenants).

use std::time::Duration;

use crate::support::{Client, EnvOptions, TestEnv, assert_problem_document};
use reqwest::header::HeaderMap;
use serde_json::Value;

/// GET `path` with the client's key and optional `Prefer: wait`.
async fn get(client: &Client, path: &str, wait: Option<u64>) -> (u16, HeaderMap, Value) {
    let mut req = client
        .http()
        .get(format!("{}{path}", client.base))
        .bearer_auth(&client.key);
    if let Some(w) = wait {
        req = req.header("prefer", format!("wait={w}"));
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json::<Value>().await.unwrap_or(Value::Null))
}

/// Polls a job until it is finished.
async fn finished_job(client: &Client, id: &str) -> Value {
    let mut job = Value::Null;
    for _ in 0..150 {
        let (s, j) = client.get(&format!("/v1/jobs/{id}")).await;
        assert_eq!(s, 200, "{j}");
        job = j;
        if ["succeeded", "failed", "canceled"].contains(&job["status"].as_str().unwrap_or("")) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {id} did not finish: {job}");
}

fn assert_problem(status: u16, headers: &HeaderMap, body: &Value, pointer: &str) {
    assert_eq!(status, 422, "{body}");
    assert_problem_document(status, headers, body);
    assert_eq!(body["code"], "validation_failed");
    assert_eq!(body["errors"][0]["pointer"], pointer, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn search_miss_job_then_hit_and_prefer_wait() {
    let env = TestEnv::new(EnvOptions::default()).await;
    let (base, _api) = env.start_api().await;
    let client = Client::new(&base, &env.key("acme").await);

    // No worker yet: a miss becomes a queued search job.
    let (status, headers, body) = get(&client, "/v1/products/search?q=LED%20%20Strip+Lights", None).await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(body["kind"], "search");
    assert_eq!(body["input"]["query"], "led strip lights");
    assert_eq!(headers["location"], format!("/v1/jobs/{id}"));
    assert!(headers.contains_key("retry-after"));

    let (_stop, _worker) = env.start_worker();
    let job = finished_job(&client, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let result = &job["result"];
    assert_eq!(result["query"], "led strip lights");
    assert!(result["total"].as_u64().unwrap() > 0, "{result}");
    let products = result["products"].as_array().unwrap();
    assert!(!products.is_empty(), "{result}");
    for p in products {
        assert!(p["id"].as_str().is_some_and(|id| id.len() >= 10), "{p}");
        assert!(p["price"].is_number() && p["orders_30d"].is_number(), "{p}");
        assert!(p["url"].as_str().unwrap().contains(p["id"].as_str().unwrap()), "{p}");
    }
    let orders: Vec<u64> = products.iter().map(|p| p["orders_30d"].as_u64().unwrap()).collect();
    assert!(
        orders.windows(2).all(|w| w[0] >= w[1]),
        "best sellers first: {orders:?}"
    );

    // The same query, spelled differently, is a hit with the same result.
    let (status, headers, body) = get(&client, "/v1/products/search?q=%20led%20strip%20LIGHTS", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["cache"], "hit");
    assert!(headers["cache-status"].to_str().unwrap().contains("hit"), "{headers:?}");
    assert_eq!(body["result"]["products"], result["products"]);

    // Redis lost the entry: PostgreSQL answers and the entry is written back.
    let mut conn = redis::Client::open(env.vars["REDIS_URL"].as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:cache:search:*", env.prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let ttl: i64 = redis::cmd("TTL").arg(&keys[0]).query_async(&mut conn).await.unwrap();
    assert!((3000..=3600).contains(&ttl), "search results are cached 1 h: {ttl}");
    let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.unwrap();
    let (status, headers, _) = get(&client, "/v1/products/search?q=led+strip+lights", None).await;
    assert_eq!(status, 200);
    assert!(
        headers["cache-status"].to_str().unwrap().contains("postgres"),
        "{headers:?}"
    );

    // Prefer: wait answers 200 with the finished job.
    let (status, headers, body) = get(&client, "/v1/products/search?q=yoga+mat&page=2", Some(10)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(body["result"]["page"], 2);
    assert_eq!(headers["preference-applied"], "wait=10");
    assert!(headers["content-location"].to_str().unwrap().starts_with("/v1/jobs/"));
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn suppliers_own_store_first_and_unknown_product_fails_once() {
    let env = TestEnv::new(EnvOptions::default()).await;
    let (base, _api) = env.start_api().await;
    let client = Client::new(&base, &env.key("acme").await);
    let (_stop, _worker) = env.start_worker();

    let path = "/v1/products/aliexpress/1005000000000001/suppliers";
    let (status, _, body) = get(&client, path, Some(15)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kind"], "suppliers");
    assert_eq!(body["status"], "succeeded", "{body}");
    let result = &body["result"];
    assert_eq!(result["product"]["id"], "1005000000000001");
    assert!(!result["product"]["title"].as_str().unwrap().is_empty());
    let suppliers = result["suppliers"].as_array().unwrap();
    assert!(suppliers.len() >= 2, "own store and others: {result}");
    let own = &suppliers[0];
    assert_eq!(own["own"], true, "{own}");
    assert!(own["store_name"].is_string() && own["country"].is_string(), "{own}");
    assert!(own["ratings"]["item_as_described"].is_number(), "{own}");
    let others = &suppliers[1..];
    assert!(others.iter().all(|s| s.get("own").is_none()), "only one own store");
    let ids: std::collections::HashSet<&str> = suppliers.iter().map(|s| s["store_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), suppliers.len(), "distinct shops");
    let orders: Vec<u64> = others.iter().map(|s| s["orders_30d"].as_u64().unwrap()).collect();
    assert!(orders.windows(2).all(|w| w[0] >= w[1]), "by orders: {orders:?}");
    assert!(
        others[0]["store_name"].is_string(),
        "busiest shops get a profile: {}",
        others[0]
    );

    // Now a hit, cached 24 h.
    let (status, headers, body) = get(&client, path, None).await;
    assert_eq!(status, 200);
    assert!(headers["cache-status"].to_str().unwrap().contains("hit"));
    assert_eq!(body["result"]["suppliers"], result["suppliers"]);

    // Unknown product: the job fails at once, without retries.
    let (status, _, body) = get(&client, "/v1/products/aliexpress/1005000000000404/suppliers", Some(10)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "failed", "{body}");
    assert_eq!(body["error"]["code"], "product_not_found");
    assert_eq!(body["attempts"], 1);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_other_tenants() {
    let env = TestEnv::new(EnvOptions::default()).await;
    let (base, _api) = env.start_api().await;
    let a = Client::new(&base, &env.key("tenant-a").await);
    let b = Client::new(&base, &env.key("tenant-b").await);

    for (path, pointer) in [
        ("/v1/products/search", "/query/q"),
        ("/v1/products/search?q=%20x%20", "/query/q"),
        ("/v1/products/search?q=ab&page=11", "/query/page"),
        ("/v1/products/search?q=ab&country=USA", "/query/country"),
        ("/v1/products/amazon/1005000000000001/suppliers", "/path/source"),
        ("/v1/products/aliexpress/12ab/suppliers", "/path/id"),
    ] {
        let (status, headers, body) = get(&a, path, None).await;
        assert_problem(status, &headers, &body, pointer);
    }
    let long = "x".repeat(101);
    let (status, headers, body) = get(&a, &format!("/v1/products/search?q={long}"), None).await;
    assert_problem(status, &headers, &body, "/query/q");
    let resp = a
        .http()
        .get(format!("{base}/v1/products/search?q=led"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401, "a key is required");

    // Tenant A's job is a 404 for tenant B; B's identical search is B's own job.
    let (status, _, job_a) = get(&a, "/v1/products/search?q=garden+hose", None).await;
    assert_eq!(status, 202, "{job_a}");
    let id = job_a["id"].as_str().unwrap();
    let (status, body) = b.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "job_not_found");
    let (status, _, job_b) = get(&b, "/v1/products/search?q=garden+hose", None).await;
    assert_eq!(status, 202);
    assert_ne!(job_a["id"], job_b["id"]);
    // A's repeat joins its own in-flight job.
    let (_, _, again) = get(&a, "/v1/products/search?q=Garden++Hose", None).await;
    assert_eq!(again["id"], job_a["id"]);
    env.cleanup().await;
}
