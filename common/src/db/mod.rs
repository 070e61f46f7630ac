//! PostgreSQL access: pool, migrations, and one module per table (free functions taking an executor).

pub mod api_keys;
pub mod batches;
pub mod job_results;
pub mod jobs;
pub mod results;
pub mod retention;
pub mod sched;
pub mod tenants;
pub mod transitions;
pub mod upkeep;
pub mod webhooks;

use std::{str::FromStr, time::Duration};

use sqlx::{
    Connection, Executor, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgConnection, PgPoolOptions},
};

/// The embedded, forward-only migrations.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// How a pool's connections plan the statements they prepare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planning {
    /// PostgreSQL's default: a custom plan for each execution until a generic one looks as cheap.
    Adaptive,
    /// One generic plan per prepared statement, reused for every execution, and sequential scans
    /// only where no index applies ([`FIXED_PLAN_SETTINGS`]). For a process whose statements are
    /// all index lookups run thousands of times a second (the worker): planning one of them cost
    /// more than running it, and PostgreSQL kept re-planning the group-commit statements because
    /// their arrays change length from call to call. Without the second setting a generic plan
    /// made while a table is young (a sequential scan of a few pages) would stay cached until
    /// the next `ANALYZE` while the table grows.
    Fixed,
}

/// The session settings of [`Planning::Fixed`], run on every new connection (plain `SET`s, so
/// they also pass through PgBouncer in session mode, which refuses startup options).
pub const FIXED_PLAN_SETTINGS: [&str; 2] = ["set plan_cache_mode = force_generic_plan", "set enable_seqscan = off"];

/// The session settings of every pool, run on every new connection.
///
/// `jit = off`: our statements are index look-ups and group writes of at most a few hundred rows,
/// and none runs long enough for compiled expressions to pay back their compilation. The
/// planner's estimate for a group's creating statement (joins of `unnest` results, which have no
/// statistics) is modest up to the groups we write (about 900 for a batch's 50 jobs, 6,000 for
/// 256 singles) but changes shape and jumps past `jit_above_cost` beyond them: 850 jobs in one
/// statement (tried, writing a tenant's concurrent batches together) were estimated at 25 million
/// and spent 963 ms of a 978 ms statement compiling 191 functions.
pub const SESSION_SETTINGS: [&str; 1] = ["set jit = off"];

/// Opens a pool of at most `max_connections`; fails fast when PostgreSQL is unreachable.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    connect_with_acquire_timeout(url, max_connections, Duration::from_secs(5)).await
}

/// [`connect`] with a choice of [`Planning`].
pub async fn connect_planned(url: &str, max_connections: u32, planning: Planning) -> Result<PgPool, sqlx::Error> {
    open(url, max_connections, Duration::from_secs(5), planning).await
}

/// [`connect`] with its own wait for a connection: past `acquire_timeout` a query fails with
/// `PoolTimedOut` (the API uses a short one, so requests answer 503 fast while PostgreSQL is down).
pub async fn connect_with_acquire_timeout(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> Result<PgPool, sqlx::Error> {
    open(url, max_connections, acquire_timeout, Planning::Adaptive).await
}

/// The one place a pool is configured.
async fn open(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
    planning: Planning,
) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(acquire_timeout)
        .idle_timeout(Duration::from_secs(300));
    let fixed = planning == Planning::Fixed;
    pool.after_connect(move |conn, _meta| {
        Box::pin(async move {
            let planned: &[&str] = if fixed { &FIXED_PLAN_SETTINGS } else { &[] };
            for setting in SESSION_SETTINGS.iter().chain(planned) {
                conn.execute(*setting).await?;
            }
            Ok(())
        })
    })
    .connect_with(options)
    .await
}

/// Creates the database named in `url` when it does not exist (connecting to `postgres`).
pub async fn ensure_database(url: &str) -> Result<(), sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?;
    let name = options.get_database().unwrap_or("postgres").to_owned();
    let mut admin = PgConnection::connect_with(&options.clone().database("postgres")).await?;
    let exists: bool = sqlx::query_scalar!(
        r#"select exists(select 1 from pg_database where datname = $1) as "exists!""#,
        &name
    )
    .fetch_one(&mut admin)
    .await?;
    if !exists {
        // Audited: the name comes from our own configuration and is quoted as an identifier. DDL
        // takes no bind parameter, so this one statement is built at run time.
        let quoted = name.replace('"', "\"\"");
        if let Err(e) = admin
            .execute(sqlx::AssertSqlSafe(format!("create database \"{quoted}\"")))
            .await
        {
            // Two processes may race to create it; losing that race is fine.
            let raced = e
                .as_database_error()
                .and_then(|d| d.code())
                .is_some_and(|c| c == "42P04" || c == "23505");
            if !raced {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Applies pending migrations.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// True when every embedded migration is applied (readiness).
pub async fn migrations_applied(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let applied: Vec<i64> =
        match sqlx::query_scalar!("select version from _sqlx_migrations where success order by version")
            .fetch_all(pool)
            .await
        {
            Ok(v) => v,
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => return Ok(false),
            Err(e) => return Err(e),
        };
    Ok(MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .all(|m| applied.contains(&m.version)))
}

/// True when `e` is a unique-constraint violation.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "23505")
}
