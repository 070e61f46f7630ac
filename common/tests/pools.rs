//! The session settings every pool gives its connections: no JIT anywhere
//! (`db::SESSION_SETTINGS`), and generic plans only where asked for (`db::FIXED_PLAN_SETTINGS`).
//!
//! Run: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/dropforge_test cargo test -p dropforge-common --test pools`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dropforge_common::db::{self, Planning};
use sqlx::PgPool;

/// The answer of a `show` statement.
async fn show(pool: &PgPool, sql: &'static str) -> String {
    sqlx::query_scalar::<_, String>(sql).fetch_one(pool).await.expect(sql)
}

#[tokio::test]
async fn every_pool_runs_without_jit_and_only_the_fixed_one_with_generic_plans() {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let adaptive = db::connect(&url, 2).await.expect("connect");
    let fixed = db::connect_planned(&url, 2, Planning::Fixed).await.expect("connect");
    assert_eq!(show(&adaptive, "show jit").await, "off");
    assert_eq!(show(&adaptive, "show plan_cache_mode").await, "auto");
    assert_eq!(show(&adaptive, "show enable_seqscan").await, "on");
    assert_eq!(show(&fixed, "show jit").await, "off");
    assert_eq!(show(&fixed, "show plan_cache_mode").await, "force_generic_plan");
    assert_eq!(show(&fixed, "show enable_seqscan").await, "off");
}
