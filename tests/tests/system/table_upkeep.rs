//! Table upkeep (a server without autovacuum): a statement prepared while `batch_items` was empty
//! (the shape of the completion's "is this job in a batch" test) keeps its sequential scan as the
//! table grows, until the worker's upkeep round analyses the table; the statement is then planned
//! with the index, and the next round leaves the unchanged table alone; a small table is left alone
//! however often it changes.

use std::time::Duration;

use dropforge_common::{db::upkeep, shutdown::Shutdown};
use dropforge_worker::upkeep::round;
use sqlx::{Connection, Executor, PgConnection, Row};

use crate::support::TestEnv;

/// Batch items written after the statement was planned: far past the analyse threshold.
const ITEMS: i64 = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upkeep_analyses_grown_tables_and_their_plans_follow() {
    let env = TestEnv::with_vars(&[]).await;
    // A connection of its own, like one of the worker's pooled connections: it prepares the
    // statement once and keeps the plan PostgreSQL gave it.
    let mut app = PgConnection::connect(&env.direct_url).await.expect("connect");
    app.execute("set plan_cache_mode = force_generic_plan")
        .await
        .expect("generic plans");
    app.execute(
        "prepare in_batch(uuid[]) as select d.id, exists(select 1 from batch_items bi where bi.job_id = d.id)
         from unnest($1::uuid[]) as d(id)",
    )
    .await
    .expect("prepare");
    let young = plan(&mut app).await;
    assert!(
        young.contains("Seq Scan on batch_items"),
        "an empty table is scanned:\n{young}"
    );

    seed_batch_items(&env).await;
    // A small table churned past the thresholds (200 updates of its one row): left alone.
    for i in 0..200 {
        sqlx::query("update tenants set webhook_secret = $1 where name = 'upkeep'")
            .bind(format!("secret-{i}"))
            .execute(&env.pool)
            .await
            .expect("churn");
    }
    let stale = plan(&mut app).await;
    assert!(
        stale.contains("Seq Scan on batch_items"),
        "without new statistics the cached plan stays:\n{stale}"
    );

    // The change counters reach the statistics views asynchronously: wait until they show.
    let shutdown = Shutdown::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let done = loop {
        let r = round(&env.pool, &shutdown).await.expect("upkeep round");
        assert!(!r.skipped, "no other worker holds the lock here");
        if r.done.iter().any(|(t, _)| t == "batch_items") {
            break r.done;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "batch_items never came due: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        done.iter().any(|(t, a)| t == "batch_items" && *a == "vacuum"),
        "20,000 inserted rows call for VACUUM (ANALYZE): {done:?}"
    );
    // Once the churn shows in the statistics, the small table is still not due.
    loop {
        let changed: i64 =
            sqlx::query("select n_mod_since_analyze + n_dead_tup from pg_stat_user_tables where relname = 'tenants'")
                .fetch_one(&env.pool)
                .await
                .expect("tenants stats")
                .get(0);
        if changed >= 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the churn never showed: {changed}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let due = upkeep::due(&env.pool).await.expect("due");
    assert!(
        due.iter().all(|d| d.table != "tenants"),
        "a one-page table is never vacuumed or analysed, however often it changes: {due:?}"
    );
    let fresh = plan(&mut app).await;
    assert!(
        fresh.contains("batch_items_job") && !fresh.contains("Seq Scan on batch_items"),
        "after ANALYZE the statement is planned again, with the index:\n{fresh}"
    );
    let analyzed: i64 =
        sqlx::query("select analyze_count + autoanalyze_count from pg_stat_user_tables where relname = 'batch_items'")
            .fetch_one(&env.pool)
            .await
            .expect("stats")
            .get(0);
    assert!(analyzed >= 1);

    // Nothing changed since: the next round finds batch_items under every threshold.
    let again = round(&env.pool, &shutdown).await.expect("second round");
    assert!(
        !again.done.iter().any(|(t, _)| t == "batch_items"),
        "an unchanged table is left alone: {again:?}"
    );
    assert!(
        upkeep::due(&env.pool)
            .await
            .expect("due")
            .iter()
            .all(|d| d.table != "batch_items"),
        "batch_items is no longer due"
    );

    // One worker at a time: a round while another session holds the lock does nothing.
    let mut other = env.pool.acquire().await.expect("acquire");
    assert!(upkeep::try_lock(&mut other).await.expect("lock"));
    let blocked = round(&env.pool, &shutdown).await.expect("round while locked");
    assert!(blocked.skipped && blocked.done.is_empty(), "{blocked:?}");
    upkeep::unlock(&mut other).await.expect("unlock");
    drop(other);
    app.close().await.expect("close");
    env.cleanup().await;
}

/// The plan of the prepared statement, as the connection would run it now.
async fn plan(conn: &mut PgConnection) -> String {
    let rows = sqlx::raw_sql("explain execute in_batch('{}')")
        .fetch_all(conn)
        .await
        .expect("explain");
    rows.iter()
        .map(|r| r.get::<String, _>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One batch job with `ITEMS` items, each pointing at a job of its own.
async fn seed_batch_items(env: &TestEnv) {
    sqlx::query(
        "with tenant as (
             insert into tenants (id, name, webhook_secret) values (gen_random_uuid(), 'upkeep', 'x') returning id
         ), children as (
             insert into jobs (id, tenant_id, kind, status, input)
             select gen_random_uuid(), tenant.id, 'validation', 'succeeded', '{}' from tenant, generate_series(1, $1)
             returning id
         ), batch as (
             insert into jobs (id, tenant_id, kind, status, input)
             select gen_random_uuid(), tenant.id, 'batch', 'succeeded', '{}' from tenant
             returning id
         )
         insert into batch_items (batch_id, position, product, cache_key, job_id)
         select batch.id, row_number() over (), '{}', 'k', children.id from batch, children",
    )
    .bind(ITEMS)
    .execute(&env.pool)
    .await
    .expect("seed");
}
