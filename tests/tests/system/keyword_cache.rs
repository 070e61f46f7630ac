//! The worker's keyword cache on a real Redis (REDIS_URL): a validation reads the three cached
//! answers of its keyword (listing count, Meta, YouTube) with one `MGET`, in the order asked.

use std::time::Duration;

use dropforge_worker::upstream::KeywordCache;
use redis::AsyncCommands;
use serde_json::{Value, json};

#[tokio::test]
async fn one_read_answers_every_cached_upstream_of_a_keyword_in_order() {
    let mut conn = dropforge_common::queue::connect(&crate::support::redis_url())
        .await
        .unwrap();
    let prefix = format!("dftest:{}", ulid::Ulid::generate());
    let cache = KeywordCache::new(conn.clone(), &prefix, Duration::from_secs(60));
    let wanted = [("text_search", "US-USD"), ("meta", "ads"), ("youtube", "videos")];

    let [search, meta, youtube] = cache.get_all(wanted, "led lamp").await;
    assert!(
        search.is_none() && meta.is_none() && youtube.is_none(),
        "nothing cached yet"
    );

    cache.put("text_search", "US-USD", "led lamp", &42_u64).await;
    cache.put("youtube", "videos", "led lamp", &json!({"videos": 3})).await;
    let [search, meta, youtube] = cache.get_all(wanted, "led lamp").await;
    assert_eq!(KeywordCache::decode::<u64>(search), Some(42));
    assert!(meta.is_none(), "Meta was not cached");
    assert_eq!(KeywordCache::decode::<Value>(youtube), Some(json!({"videos": 3})));

    // Keywords and scopes do not mix; one pair alone is read too.
    let [other] = cache.get_all([("text_search", "US-USD")], "desk fan").await;
    assert!(other.is_none());
    let [scoped] = cache.get_all([("text_search", "DE-EUR")], "led lamp").await;
    assert!(scoped.is_none());
    let [alone] = cache.get_all([("text_search", "US-USD")], "led lamp").await;
    assert_eq!(KeywordCache::decode::<u64>(alone), Some(42));

    // An unreadable answer is a miss, not an error.
    let meta_key = format!("{prefix}:kw:meta:ads:led lamp");
    let () = conn.set(&meta_key, "not json").await.unwrap();
    let [_, meta, _] = cache.get_all(wanted, "led lamp").await;
    assert!(meta.is_some());
    assert_eq!(KeywordCache::decode::<Value>(meta), None);

    let keys: Vec<String> = conn.keys(format!("{prefix}:*")).await.unwrap();
    assert_eq!(keys.len(), 3);
    let _: () = conn.del(keys).await.unwrap();
}

#[tokio::test]
async fn a_process_reuses_what_it_read_until_its_local_copy_expires() {
    let mut conn = dropforge_common::queue::connect(&crate::support::redis_url())
        .await
        .unwrap();
    let prefix = format!("dftest:{}", ulid::Ulid::generate());
    // A Redis TTL of 1 s: the local copy is kept no longer than the Redis key.
    let cache = KeywordCache::new(conn.clone(), &prefix, Duration::from_secs(1));
    let other_process = KeywordCache::new(conn.clone(), &prefix, Duration::from_secs(1));
    let wanted = [("text_search", "US-USD"), ("youtube", "videos")];

    cache.put("text_search", "US-USD", "desk fan", &7_u64).await;
    cache.put("youtube", "videos", "desk fan", &json!({"videos": 1})).await;
    let keys: Vec<String> = conn.keys(format!("{prefix}:*")).await.unwrap();
    assert_eq!(keys.len(), 2, "both answers are in Redis for every worker");
    let _: () = conn.del(&keys).await.unwrap();

    // Gone from Redis: the writer still has its copy, another process has nothing.
    let [search, youtube] = cache.get_all(wanted, "desk fan").await;
    assert_eq!(KeywordCache::decode::<u64>(search), Some(7));
    assert_eq!(KeywordCache::decode::<Value>(youtube), Some(json!({"videos": 1})));
    let [search, youtube] = other_process.get_all(wanted, "desk fan").await;
    assert!(search.is_none() && youtube.is_none());

    // A reader keeps what it read: after the Redis key is deleted, it still answers.
    other_process.put("text_search", "US-USD", "lamp", &3_u64).await;
    let [read] = cache.get_all([("text_search", "US-USD")], "lamp").await;
    assert_eq!(KeywordCache::decode::<u64>(read), Some(3), "read from Redis");
    let _: () = conn.del(format!("{prefix}:kw:text_search:US-USD:lamp")).await.unwrap();
    let [kept] = cache.get_all([("text_search", "US-USD")], "lamp").await;
    assert_eq!(
        KeywordCache::decode::<u64>(kept),
        Some(3),
        "reused without asking Redis"
    );

    // One missing answer sends the whole read to Redis, whose answers replace the local copies.
    let [search, meta] = cache
        .get_all([("text_search", "US-USD"), ("meta", "ads")], "desk fan")
        .await;
    assert!(
        search.is_none() && meta.is_none(),
        "Redis has nothing for the keyword now"
    );
    let [search] = cache.get_all([("text_search", "US-USD")], "desk fan").await;
    assert!(search.is_none(), "the local copy went with Redis's answer");

    // The local copies expire with the (shorter) Redis TTL.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let [expired] = cache.get_all([("text_search", "US-USD")], "lamp").await;
    assert!(expired.is_none(), "the local copy lives no longer than the Redis TTL");
}
