//! End to end on real PostgreSQL, Redis and the sandbox: the validation life cycle through the API.

use std::time::Duration;

use crate::support::{Client, EnvOptions, TestEnv};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn miss_job_result_then_hit() {
    let env = TestEnv::new(EnvOptions::default()).await;
    let (base, _api) = env.start_api().await;
    let client = Client::new(&base, &env.key("acme").await);

    // No worker yet: a miss becomes a queued job.
    let (status, headers, body) = client.validate("1005000000000001", None).await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(headers["location"], format!("/v1/jobs/{id}"));
    assert!(headers.contains_key("retry-after"));
    assert_eq!(body["status"], "queued");

    let (_stop, _worker) = env.start_worker();
    let mut job = Value::Null;
    for _ in 0..100 {
        let (s, j) = client.get(&format!("/v1/jobs/{id}")).await;
        assert_eq!(s, 200);
        job = j;
        if job["status"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(job["status"], "succeeded", "{job}");
    let result = &job["result"];
    assert_eq!(result["model"], "score-v1");
    assert_eq!(result["verdict"], "winner", "pinned winner must score as one: {result}");
    assert_eq!(result["product"]["id"], "1005000000000001");
    assert_eq!(result["upstreams"]["aliexpress"]["status"], "ok");

    // Now a hit, answered from the cache with the same result.
    let (status, headers, body) = client.validate("1005000000000001", None).await;
    assert_eq!(status, 200);
    assert!(headers["cache-status"].to_str().unwrap().contains("hit"), "{headers:?}");
    assert_eq!(body["result"]["score"], result["score"]);

    // Redis may be wiped: PostgreSQL still answers the hit and re-populates the cache.
    let mut conn = redis::Client::open(env.vars["REDIS_URL"].as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:cache:*", env.prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.unwrap();
    let (status, headers, _) = client.validate("1005000000000001", None).await;
    assert_eq!(status, 200);
    assert!(
        headers["cache-status"].to_str().unwrap().contains("postgres"),
        "{headers:?}"
    );
    let exists: bool = redis::cmd("EXISTS").arg(&keys[0]).query_async(&mut conn).await.unwrap();
    assert!(exists, "the cache entry is written back");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prefer_wait_answers_200_and_identical_work_joins() {
    let env = TestEnv::new(EnvOptions {
        latency_scale: 1.0,
        ..EnvOptions::default()
    })
    .await;
    let (base, _api) = env.start_api().await;
    let client = Client::new(&base, &env.key("acme").await);
    let (_stop, _worker) = env.start_worker();

    // Two submissions of the same product while the first is in flight share one job.
    let (a, b) = tokio::join!(client.validate("1005000000000002", None), async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        client.validate("1005000000000002", None).await
    });
    assert_eq!((a.0, b.0), (202, 202));
    assert_eq!(a.2["id"], b.2["id"], "in-flight join");

    // Prefer: wait returns the finished job with 200.
    let (status, headers, body) = client.validate("1005000000000003", Some(20)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded");
    assert!(body["result"]["score"].is_number());
    assert_eq!(headers["preference-applied"], "wait=20");
    assert!(headers["content-location"].to_str().unwrap().starts_with("/v1/jobs/"));

    // A wait too short for the job answers 202 with the job.
    let (status, _, body) = client.validate("1005000000000004", Some(0)).await;
    assert_eq!(status, 202, "{body}");

    let count: i64 = sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(count, 3, "the joined submission created no job");
    env.cleanup().await;
}

/// A burst of one tenant's single submissions: each is answered, none is lost or created twice,
/// and they are placed in classes as one at a time would be (the creating statements are grouped
/// per tenant and kind, so the burst does not queue on the tenant's scheduling row).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_one_tenants_singles_is_created_once_each() {
    let env = TestEnv::new(EnvOptions::default()).await;
    let (base, _api) = env.start_api().await;
    let client = std::sync::Arc::new(Client::new(&base, &env.key("burst").await));
    let products: Vec<String> = (0..150).map(|i| format!("10050000000{:05}", 10_000 + i)).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for round in 0..2 {
        for (i, product) in products.iter().enumerate() {
            let (client, product) = (client.clone(), product.clone());
            tasks.spawn(async move {
                let (status, _, body) = client.validate(&product, None).await;
                (round, i, status, body)
            });
        }
    }
    let mut ids = vec![[None, None]; products.len()];
    while let Some(answer) = tasks.join_next().await {
        let (round, i, status, body) = answer.unwrap();
        assert_eq!(status, 202, "{body}");
        ids[i][round] = body["id"].as_str().map(str::to_owned);
    }
    for (i, pair) in ids.iter().enumerate() {
        assert!(
            pair[0].is_some() && pair[0] == pair[1],
            "product {i}: one job for both submissions: {pair:?}"
        );
    }
    let classes: Vec<(i16, i64)> = sqlx::query_as("select class, count(*) from jobs group by class order by class")
        .fetch_all(&env.pool)
        .await
        .unwrap();
    assert_eq!(classes, vec![(0, 20), (1, 130)], "the interactive allowance, then bulk");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_product_fails_once_without_retries() {
    let env = TestEnv::new(EnvOptions::default()).await;
    let (base, _api) = env.start_api().await;
    let client = Client::new(&base, &env.key("acme").await);
    let (_stop, _worker) = env.start_worker();
    let (status, _, body) = client.validate("1005000000000404", Some(10)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "failed");
    assert_eq!(body["error"]["code"], "product_not_found");
    assert_eq!(body["attempts"], 1, "a permanent error is not retried");
    env.cleanup().await;
}

/// The harness's problem assertion, as `(status, body)`.
async fn problem(resp: reqwest::Response) -> (u16, Value) {
    let (status, _, body) = crate::support::problem(resp).await;
    (status.as_u16(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_precise_problems() {
    let env = TestEnv::new(EnvOptions::default()).await;
    let (base, _api) = env.start_api().await;
    let key = env.key("acme").await;
    let http = reqwest::Client::new();
    let post = |body: &'static str, ctype: &'static str| {
        http.post(format!("{base}/v1/validations"))
            .bearer_auth(&key)
            .header("content-type", ctype)
            .body(body)
            .send()
    };

    let (s, b) = problem(post("{\"product\":", "application/json").await.unwrap()).await;
    assert_eq!((s, b["code"].as_str()), (400, Some("malformed_json")));
    let (s, _) = problem(post("{}", "text/plain").await.unwrap()).await;
    assert_eq!(s, 415);
    let (s, b) = problem(
        post(
            r#"{"product":{"source":"amazon","id":"1005000000000001"}}"#,
            "application/json",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((s, b["errors"][0]["pointer"].as_str()), (422, Some("/product/source")));
    let (s, b) = problem(post(r#"{"product":{"id":"12ab"}}"#, "application/json").await.unwrap()).await;
    assert_eq!((s, b["errors"][0]["pointer"].as_str()), (422, Some("/product/id")));
    let (s, b) = problem(
        post(
            r#"{"product":{"url":"https://example.com/item/1005000000000001.html"}}"#,
            "application/json",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((s, b["errors"][0]["pointer"].as_str()), (422, Some("/product/url")));
    let (s, _) = problem(post(r#"[1,2]"#, "application/json").await.unwrap()).await;
    assert_eq!(s, 422);
    let big = format!(
        r#"{{"product":{{"id":"1005000000000001"}},"pad":"{}"}}"#,
        "x".repeat(64 * 1024)
    );
    // Its own connection: the server closes a connection after refusing an unread oversized body.
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/validations"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(resp).await.0, 413);

    let (s, b) = problem(
        http.get(format!("{base}/v1/jobs/not-a-uuid"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (400, Some("invalid_job_id")));
    let missing = "019ac3b2-6c1d-7e6f-9a8b-123456789abc";
    let (s, _) = problem(
        http.get(format!("{base}/v1/jobs/{missing}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = problem(
        http.get(format!("{base}/v1/nope"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = problem(
        http.delete(format!("{base}/v1/validations"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 405);

    // Authentication: missing, malformed, unknown.
    for auth in [
        None,
        Some("Bearer nope"),
        Some("Bearer dfk_abcdefgh_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        let mut req = http
            .post(format!("{base}/v1/validations"))
            .json(&json!({"product": {"id": "1005000000000001"}}));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let (s, b) = problem(req.send().await.unwrap()).await;
        assert_eq!((s, b["code"].as_str()), (401, Some("unauthorized")), "{auth:?}");
    }
    let count: i64 = sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "no bad request created a job");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_job_is_not_found() {
    let env = TestEnv::new(EnvOptions::default()).await;
    let (base, _api) = env.start_api().await;
    let a = Client::new(&base, &env.key("tenant-a").await);
    let b = Client::new(&base, &env.key("tenant-b").await);
    let (status, _, body) = a.validate("1005000000000005", None).await;
    assert_eq!(status, 202);
    let path = format!("/v1/jobs/{}", body["id"].as_str().unwrap());
    assert_eq!(a.get(&path).await.0, 200);
    let (status, body) = b.get(&path).await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "job_not_found");
    // Same product from tenant B is B's own job, not a join of A's.
    let (status, _, body_b) = b.validate("1005000000000005", None).await;
    assert_eq!(status, 202);
    assert_ne!(format!("/v1/jobs/{}", body_b["id"].as_str().unwrap()), path);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_list_pages_filters_and_cancel() {
    let env = TestEnv::new(EnvOptions::default()).await;
    let (base, _api) = env.start_api().await;
    let client = Client::new(&base, &env.key("acme").await);
    let other = Client::new(&base, &env.key("other").await);
    let mut ids = Vec::new();
    for i in 0..3 {
        let (status, _, body) = client.validate(&format!("100512300000000{i}"), None).await;
        assert_eq!(status, 202);
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let (status, page) = client.get("/v1/jobs?limit=2").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["has_more"], true);
    assert_eq!(page["data"][0]["id"], ids[2], "newest first");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, page2) = client.get(&format!("/v1/jobs?limit=2&cursor={cursor}")).await;
    assert_eq!(page2["data"].as_array().unwrap().len(), 1);
    assert_eq!(page2["data"][0]["id"], ids[0]);
    assert_eq!(page2["has_more"], false);
    assert_eq!(
        other.get("/v1/jobs").await.1["data"].as_array().unwrap().len(),
        0,
        "tenants see only their jobs"
    );
    let (status, problem) = client.get("/v1/jobs?status=done").await;
    assert_eq!(
        (status, problem["errors"][0]["pointer"].as_str()),
        (422, Some("/query/status"))
    );
    assert_eq!(client.get("/v1/jobs?cursor=zzz").await.0, 422);

    // Cancel: queued -> canceled; twice -> 409; another tenant -> 404.
    let http = client.http();
    let del = |key: &str, id: &str| {
        http.delete(format!("{base}/v1/jobs/{id}"))
            .bearer_auth(key.to_owned())
            .send()
    };
    let resp = del(&client.key, &ids[0]).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["status"], "canceled");
    assert_eq!(del(&client.key, &ids[0]).await.unwrap().status(), 409);
    assert_eq!(del(&other.key, &ids[1]).await.unwrap().status(), 404);
    let (_, canceled) = client.get("/v1/jobs?status=canceled").await;
    assert_eq!(canceled["data"].as_array().unwrap().len(), 1);

    // A worker never runs a canceled job.
    let (_stop, _worker) = env.start_worker();
    env.wait_succeeded(2, Duration::from_secs(20)).await;
    let (_, job) = client.get(&format!("/v1/jobs/{}", ids[0])).await;
    assert_eq!(job["status"], "canceled");
    assert_eq!(job["attempts"], 0);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_is_refused_by_every_replica_within_a_second() {
    let env = TestEnv::new(EnvOptions::default()).await;
    let (base_a, _a) = env.start_api().await;
    let (base_b, _b) = env.start_api().await;
    let key = env.key("revoke").await;
    let (a, b) = (Client::new(&base_a, &key), Client::new(&base_b, &key));
    assert_eq!(a.get("/v1/jobs").await.0, 200);
    assert_eq!(b.get("/v1/jobs").await.0, 200);
    let key_id = dropforge_common::apikey::parse(&key).unwrap().id.to_owned();
    assert!(
        dropforge_common::db::api_keys::revoke(&env.pool, &key_id)
            .await
            .unwrap()
    );
    let revoked_at = std::time::Instant::now();
    loop {
        let (sa, sb) = (a.get("/v1/jobs").await.0, b.get("/v1/jobs").await.0);
        if sa == 401 && sb == 401 {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_millis(1100),
            "still accepted after 1 s: {sa} {sb}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("revocation seen by both replicas after {:?}", revoked_at.elapsed());
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_reads_carry_an_etag_and_answer_304() {
    let env = TestEnv::new(EnvOptions::default()).await;
    let (base, _api) = env.start_api().await;
    let client = Client::new(&base, &env.key("etag").await);
    let (_, _, body) = client.validate("1005000000000003", None).await;
    let url = format!("{base}/v1/jobs/{}", body["id"].as_str().unwrap());
    let first = client.http().get(&url).bearer_auth(&client.key).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let again = client
        .http()
        .get(&url)
        .bearer_auth(&client.key)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());
    let (_stop, _worker) = env.start_worker();
    env.wait_succeeded(1, Duration::from_secs(20)).await;
    let changed = client
        .http()
        .get(&url)
        .bearer_auth(&client.key)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200, "a state change changes the ETag");
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
    env.cleanup().await;
}
