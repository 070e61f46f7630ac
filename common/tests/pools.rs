//! The session settings every pool gives its connections: no JIT anywhere
//! (`db::SESSION_SETTINGS`), and generic plans only where asked for (`db::FIXED_PLAN_SETTINGS`).
//!
//! Run: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/dropforge_test cargo test -p dropforge-common --test pools`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dropforge_common::db::{self, Planning};
use sqlx::PgPool;

async fn setting(pool: &PgPool, name: &str) -> String {
    let sql = match name {
        "jit" => "show jit",
        "plan_cache_mode" => "show plan_cache_mode",
        "enable_seqscan" => "show enable_seqscan",
        other => panic!("no query for {other}"),
    };
    sqlx::query_scalar::<_, String>(sql).fetch_one(pool).await.expect(name)
}

#[tokio::test]
async fn every_pool_runs_without_jit_and_only_the_fixed_one_with_generic_plans() {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let adaptive = db::connect(&url, 2).await.expect("connect");
    let fixed = db::connect_planned(&url, 2, Planning::Fixed).await.expect("connect");
    assert_eq!(setting(&adaptive, "jit").await, "off");
    assert_eq!(setting(&adaptive, "plan_cache_mode").await, "auto");
    assert_eq!(setting(&adaptive, "enable_seqscan").await, "on");
    assert_eq!(setting(&fixed, "jit").await, "off");
    assert_eq!(setting(&fixed, "plan_cache_mode").await, "force_generic_plan");
    assert_eq!(setting(&fixed, "enable_seqscan").await, "off");
}
