//! Batches end to end: duplicates run once, cached items are filled in at once, failing items are
//! reported per item, limits and pointers, all-cached answers 200, and cancel.

use std::time::{Duration, Instant};

use crate::support::{Client, EnvOptions, TestEnv};
use serde_json::{Value, json};

async fn post_batch(client: &Client, body: Value) -> (u16, Value) {
    let resp = client
        .http()
        .post(format!("{}/v1/validations/batch", client.base))
        .bearer_auth(&client.key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn ids(list: &[&str]) -> Value {
    Value::Array(
        list.iter()
            .map(|id| json!({"source": "aliexpress", "id": id}))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_with_duplicates_cached_and_failing_items() {
    let env = TestEnv::new(EnvOptions::default()).await;
    let (base, _api) = env.start_api().await;
    let client = Client::new(&base, &env.key("batch").await);
    let (_stop, _worker) = env.start_worker();
    // Warm one product so the batch finds it cached.
    let (status, _, _) = client.validate("1005000000000002", Some(10)).await;
    assert_eq!(status, 200);

    let products = ids(&[
        "1005000000000001",
        "1005000000000002",
        "1005000000000001",
        "1005000000000404",
        "1005000000000003",
    ]);
    let (status, batch) = post_batch(&client, json!({"products": products})).await;
    assert_eq!(status, 202, "{batch}");
    assert_eq!(batch["kind"], "batch");
    assert_eq!(batch["progress"]["total"], 5);
    assert_eq!(
        batch["items"][1]["cached"], true,
        "the warmed product is filled in at once"
    );
    assert_eq!(batch["items"][1]["status"], "succeeded");
    assert_eq!(
        batch["items"][0]["job_id"], batch["items"][2]["job_id"],
        "duplicates share one job"
    );

    let path = format!("/v1/jobs/{}", batch["id"].as_str().unwrap());
    let started = Instant::now();
    let mut doc = Value::Null;
    while started.elapsed() < Duration::from_secs(30) {
        doc = client.get(&path).await.1;
        if doc["status"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(doc["status"], "succeeded", "{doc}");
    assert_eq!(
        doc["progress"],
        json!({"total": 5, "done": 4, "failed": 1, "canceled": 0})
    );
    assert_eq!(doc["items"][3]["status"], "failed");
    assert_eq!(doc["items"][3]["error"]["code"], "product_not_found");
    assert_eq!(doc["items"][0]["result"]["verdict"], "winner");
    assert!(doc["items"][4]["result"]["score"].is_number());
    // Three distinct misses ran: one validation job each (plus the warm-up).
    let validations: i64 = sqlx::query_scalar("select count(*) from jobs where kind = 'validation'")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(validations, 4);

    // Every item cached now: 200 at once, no job.
    let (status, again) = post_batch(
        &client,
        json!({"products": ids(&["1005000000000001", "1005000000000003"])}),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["progress"]["done"], 2);
    env.cleanup().await;
}

/// The answer to a new batch is built from what the submission stored (the API does not read the
/// batch back when every child job is new); it must be the document a read gives. A batch that
/// joins a job already in flight is read back: its answer must match too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_batch_is_answered_as_stored() {
    let env = TestEnv::new(EnvOptions::default()).await;
    let (base, _api) = env.start_api().await;
    let client = Client::new(&base, &env.key("as-stored").await);
    // Warm one product with a worker, then stop it: nothing moves while the answers are compared.
    let (stop, worker) = env.start_worker();
    let (status, _, _) = client.validate("1005000000000002", Some(10)).await;
    assert_eq!(status, 200);
    stop.trigger();
    worker.await.unwrap().unwrap();

    let fresh = ids(&[
        "1005000000000001",
        "1005000000000002",
        "1005000000000001",
        "1005000000000003",
    ]);
    let joining = ids(&["1005000000000003", "1005000000000005"]);
    let mut answers = Vec::new();
    for (label, products) in [("every job new", fresh), ("one job joined", joining)] {
        let (status, answer) = post_batch(&client, json!({"products": products})).await;
        assert_eq!(status, 202, "{label}: {answer}");
        let (status, read) = client
            .get(&format!("/v1/jobs/{}", answer["id"].as_str().unwrap()))
            .await;
        assert_eq!(status, 200, "{label}: {read}");
        assert_eq!(answer, read, "{label}: the answer differs from a read of the batch");
        assert_eq!(answer["status"], "queued", "{label}");
        answers.push(answer);
    }
    // The second batch's item was written before its jobs, with the id its job would have had;
    // the job it joined is the first batch's, and the item names that one.
    let joined = &answers[1]["items"][0]["job_id"];
    assert!(joined.is_string(), "{}", answers[1]);
    assert_eq!(
        joined, &answers[0]["items"][3]["job_id"],
        "the joined item names the job in flight"
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_limits_pointers_and_cancel() {
    let env = TestEnv::new(EnvOptions::default()).await;
    let (base, _api) = env.start_api().await;
    let client = Client::new(&base, &env.key("limits").await);

    let many: Vec<String> = (0..51).map(|i| format!("10051234{i:08}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let (status, problem) = post_batch(&client, json!({"products": ids(&refs)})).await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["pointer"], "/products");
    assert!(
        problem["errors"][0]["detail"].as_str().unwrap().contains("50"),
        "{problem}"
    );
    let (status, problem) = post_batch(
        &client,
        json!({"products": [{"id": "1005000000000001"}, {"id": "1005000000000002"}, {"id": "1005000000000003"}, {"id": "12x"}]}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["pointer"], "/products/3/id");
    assert_eq!(post_batch(&client, json!({"products": []})).await.0, 422);

    // No worker runs: cancel the batch and its queued children.
    let (status, batch) = post_batch(&client, json!({"products": ids(&refs[..3])})).await;
    assert_eq!(status, 202, "{batch}");
    let path = format!("{}/v1/jobs/{}", base, batch["id"].as_str().unwrap());
    let resp = client
        .http()
        .delete(&path)
        .bearer_auth(&client.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let canceled: i64 = sqlx::query_scalar("select count(*) from jobs where status = 'canceled'")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(canceled, 4, "the batch and its three queued children");
    assert_eq!(
        client
            .http()
            .delete(&path)
            .bearer_auth(&client.key)
            .send()
            .await
            .unwrap()
            .status(),
        409
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_poll_of_a_batch_answers_when_it_ends() {
    let env = TestEnv::new(EnvOptions::default()).await;
    let (base, _api) = env.start_api().await;
    let client = Client::new(&base, &env.key("longpoll").await);
    let (_stop, _worker) = env.start_worker();
    let (status, batch) = post_batch(
        &client,
        json!({"products": ids(&["1005000000000002", "1005000000000003", "1005000000000004"])}),
    )
    .await;
    assert_eq!(status, 202, "{batch}");
    let path = format!("{}/v1/jobs/{}", client.base, batch["id"].as_str().unwrap());
    // One request: the answer comes when the batch ends, not at once.
    let resp = client
        .http()
        .get(&path)
        .bearer_auth(&client.key)
        .header("Prefer", "wait=20")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["preference-applied"], "wait=20");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["status"], "succeeded", "{doc}");
    assert_eq!(doc["progress"]["done"], 3, "{doc}");
    // Without the preference the answer is immediate (and already final here).
    let (status, again) = client.get(&format!("/v1/jobs/{}", batch["id"].as_str().unwrap())).await;
    assert_eq!((status, &again["status"]), (200, &json!("succeeded")));
    env.cleanup().await;
}
