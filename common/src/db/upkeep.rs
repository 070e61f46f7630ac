//! Table upkeep statements: which of DropForge's tables need `VACUUM` or `ANALYZE` by
//! autovacuum's default thresholds, and running them (for servers whose autovacuum is off).
//!
//! Without it, on such a server, a table's statistics stay those of its first minutes: prepared
//! statements keep plans made when `batch_items` was empty (sequential scans of a table that then
//! grows), and every update of `jobs` leaves a dead row version and index entries that nothing
//! reclaims. See docs/OPERATIONS.md "Table upkeep".

use sqlx::{AssertSqlSafe, Executor, PgConnection, PgExecutor};

/// Dead rows beyond which a table is vacuumed: `50 + 20 %` of its rows (autovacuum's defaults).
const VACUUM_BASE: f64 = 50.0;
const VACUUM_SCALE: f64 = 0.2;
/// Rows inserted since the last vacuum beyond which a table is vacuumed (its visibility map kept
/// current for index-only scans): `1000 + 20 %` of its rows.
const INSERT_BASE: f64 = 1000.0;
const INSERT_SCALE: f64 = 0.2;
/// Rows changed since the last analyse beyond which a table is analysed: `50 + 10 %` of its rows.
const ANALYZE_BASE: f64 = 50.0;
const ANALYZE_SCALE: f64 = 0.1;
/// Tables of at most this many pages are left alone. Their statistics cannot mislead a plan (the
/// planner assumes at least 10 pages for a table it knows nothing of) and page pruning keeps their
/// HOT updates from bloating them; analysing the small, hot scheduling tables on every round
/// (`tenant_sched`, `sched_clock`: hundreds of updates in 10 s) only invalidated every cached plan
/// that reads them.
const MIN_PAGES: i64 = 16;
/// Key of the session advisory lock held by the one worker doing upkeep at a time.
const LOCK_NAME: &str = "dropforge:table-upkeep";

/// What a table needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The table (in the connection's current schema).
    pub table: String,
    /// The table, quoted as an identifier for the statement.
    quoted: String,
    /// `VACUUM (ANALYZE)`: too many dead or inserted rows; otherwise `ANALYZE` (too many rows
    /// changed since the statistics were taken).
    pub vacuum: bool,
}

impl Due {
    /// `vacuum` or `analyze`, for logs and the metric label.
    pub fn action(&self) -> &'static str {
        if self.vacuum { "vacuum" } else { "analyze" }
    }
}

/// True when the server runs autovacuum (its `autovacuum` setting is on).
pub async fn autovacuum_on(exec: impl PgExecutor<'_>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(r#"select current_setting('autovacuum') = 'on' as "on!""#)
        .fetch_one(exec)
        .await
}

/// The tables of the current schema (migrations' bookkeeping and tables of at most [`MIN_PAGES`]
/// pages excepted) past a threshold, by name.
pub async fn due(exec: impl PgExecutor<'_>) -> Result<Vec<Due>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"with t as (
             select s.relname::text as name, s.n_dead_tup, s.n_ins_since_vacuum, s.n_mod_since_analyze,
                    greatest(c.reltuples, 0)::float8 as tuples
             from pg_stat_user_tables s join pg_class c on c.oid = s.relid
             where s.schemaname = current_schema() and s.relname <> '_sqlx_migrations'
               and pg_relation_size(s.relid) > $7 * current_setting('block_size')::int8
         ), needs as (
             select name, n_dead_tup > $1 + $2 * tuples or n_ins_since_vacuum > $3 + $4 * tuples as needs_vacuum,
                    n_mod_since_analyze > $5 + $6 * tuples as needs_analyze
             from t
         )
         select name as "name!", format('%I', name) as "quoted!", needs_vacuum as "vacuum!"
         from needs where needs_vacuum or needs_analyze
         order by name"#,
        VACUUM_BASE,
        VACUUM_SCALE,
        INSERT_BASE,
        INSERT_SCALE,
        ANALYZE_BASE,
        ANALYZE_SCALE,
        MIN_PAGES,
    )
    .fetch_all(exec)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Due {
            table: r.name,
            quoted: r.quoted,
            vacuum: r.vacuum,
        })
        .collect())
}

/// Takes the upkeep lock on `conn` (a session lock: it goes with the connection); false when
/// another worker holds it.
pub async fn try_lock(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select pg_try_advisory_lock(hashtextextended($1, 0)) as "locked!""#,
        LOCK_NAME
    )
    .fetch_one(conn)
    .await
}

/// Releases the lock taken by [`try_lock`].
pub async fn unlock(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query_scalar!(
        r#"select pg_advisory_unlock(hashtextextended($1, 0)) as "unlocked!""#,
        LOCK_NAME
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

/// Runs what `due` needs: `VACUUM (ANALYZE)` or `ANALYZE` (outside a transaction, as VACUUM must be).
pub async fn run(conn: &mut PgConnection, due: &Due) -> Result<(), sqlx::Error> {
    let command = if due.vacuum { "vacuum (analyze)" } else { "analyze" };
    // Audited: the name is the server's own, quoted by `format('%I')`; maintenance commands take
    // no bind parameter, so this statement is built at run time.
    conn.execute(AssertSqlSafe(format!("{command} {}", due.quoted))).await?;
    Ok(())
}
