//! The API-key cache against the environment's PostgreSQL: when an entry has expired, or was
//! never read, concurrent requests read the key once, not once each (on a saturated API a
//! thousand of them queued for the pool at once and were answered 503).

use std::time::Duration;

use dropforge_api::key_cache::KeyCache;
use dropforge_common::db;
use sqlx::{PgPool, postgres::PgPoolOptions};

use crate::support::TestEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_read_an_expired_key_once() {
    // One connection: every look-up runs in the backend whose statistics are read below.
    let (env, pool, created) = with_key(1).await;
    let token = created.key.plaintext;
    let ttl = Duration::from_millis(200);
    let keys = KeyCache::default();

    // The first requests of a key never seen (a start under load) read it once too.
    let before = key_reads(&pool).await;
    let answers = futures::future::join_all((0..100).map(|_| keys.authenticate(&pool, ttl, &token))).await;
    assert!(answers.iter().all(|a| a.as_ref().ok() == Some(&created.tenant_id)));
    let reads = key_reads(&pool).await - before;
    assert_eq!(reads, 1, "100 first requests read the key {reads} times");
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;

    let before = key_reads(&pool).await;
    let answers = futures::future::join_all((0..100).map(|_| keys.authenticate(&pool, ttl, &token))).await;
    assert!(answers.iter().all(|a| a.as_ref().ok() == Some(&created.tenant_id)));
    let reads = key_reads(&pool).await - before;
    assert_eq!(reads, 1, "100 requests on an expired entry read the key {reads} times");

    // A fresh entry is not read at all; revocation is seen once the entry expires.
    let before = key_reads(&pool).await;
    keys.authenticate(&pool, ttl, &token).await.expect("fresh");
    assert_eq!(key_reads(&pool).await - before, 0);
    sqlx::query("update api_keys set revoked_at = now()")
        .execute(&pool)
        .await
        .expect("revoke");
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert!(keys.authenticate(&pool, ttl, &token).await.is_err(), "revoked");
    pool.close().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_dropped_mid_read_leaves_no_request_waiting() {
    let (env, pool, created) = with_key(3).await;
    let token = created.key.plaintext;
    let ttl = Duration::from_secs(5);
    let keys = KeyCache::default();

    // PostgreSQL cannot answer a read of the key until this transaction ends.
    let mut locker = pool.begin().await.expect("begin");
    sqlx::query("lock table api_keys in access exclusive mode")
        .execute(&mut *locker)
        .await
        .expect("lock");

    // The first request takes the read, a second one waits for it, then the first is dropped
    // (its client went away) before PostgreSQL answered.
    let mut reader = Box::pin(keys.authenticate(&pool, ttl, &token));
    assert!(
        futures::poll!(reader.as_mut()).is_pending(),
        "the reader waits for PostgreSQL"
    );
    let mut waiter = Box::pin(keys.authenticate(&pool, ttl, &token));
    assert!(
        futures::poll!(waiter.as_mut()).is_pending(),
        "the second request waits for the read"
    );
    drop(reader);
    locker.rollback().await.expect("unlock");
    let answered = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the waiter takes the read over instead of waiting for the dropped one");
    assert_eq!(answered.ok(), Some(created.tenant_id));
    pool.close().await;
    env.cleanup().await;
}

/// A test environment, a pool of `connections` to its database, and a key of tenant `acme`.
async fn with_key(connections: u32) -> (TestEnv, PgPool, db::tenants::CreatedKey) {
    let env = TestEnv::with_vars(&[]).await;
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .connect(env.config().database_url.expose())
        .await
        .expect("connect");
    let created = db::tenants::create_key(&pool, "acme").await.expect("key");
    (env, pool, created)
}

/// Scans of `api_keys` so far, as the statistics of the pool's one backend show them.
async fn key_reads(pool: &PgPool) -> i64 {
    sqlx::query("select pg_stat_force_next_flush()")
        .execute(pool)
        .await
        .expect("flush request");
    sqlx::query("select 1").execute(pool).await.expect("flush");
    sqlx::query("select pg_stat_clear_snapshot()")
        .execute(pool)
        .await
        .expect("snapshot");
    sqlx::query_scalar::<_, i64>(
        "select coalesce(seq_scan, 0) + coalesce(idx_scan, 0) from pg_stat_user_tables where relname = 'api_keys'",
    )
    .fetch_one(pool)
    .await
    .expect("stats")
}
