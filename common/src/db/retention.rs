//! Retention: removes finished jobs older than the retention period, in small chunks, together
//! with everything that hangs off them (results, batch items, webhook deliveries and attempts).
//!
//! The unit of removal is a *family*: a top-level job (`parent_id is null`) with its descendants
//! (a batch's children, the webhook jobs of its events). A family goes only when every member
//! finished before the cutoff and no batch outside the family has an item pointing at one of its
//! jobs; otherwise it stays whole until a later round (so a batch and its children always go
//! together, and no batch item ever dangles). Each chunk is one short transaction that locks its
//! top-level jobs with `for update skip locked`, in the order of the `jobs_finished` index.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// Descendant generations followed below a top-level job (the schema has at most two: batch →
/// child, job → webhook job); a family with deeper descendants is kept, never cut.
const MAX_DEPTH: usize = 8;

/// How long a chunk waits for a row lock before it gives up (the pipeline never waits on it).
const LOCK_TIMEOUT: &str = "2s";

/// A position in `(finished_at, id)` order: the next chunk starts after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// `finished_at` of the last top-level job examined.
    pub finished_at: DateTime<Utc>,
    /// Its id.
    pub id: Uuid,
}

impl Cursor {
    /// Before every job.
    pub fn start() -> Self {
        Self {
            finished_at: DateTime::UNIX_EPOCH,
            id: Uuid::nil(),
        }
    }
}

impl Default for Cursor {
    fn default() -> Self {
        Self::start()
    }
}

/// Rows removed, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// `jobs`.
    pub jobs: u64,
    /// `validation_results`.
    pub validation_results: u64,
    /// `job_results`.
    pub job_results: u64,
    /// `batch_items`.
    pub batch_items: u64,
    /// `webhook_deliveries`.
    pub webhook_deliveries: u64,
    /// `webhook_attempts`.
    pub webhook_attempts: u64,
}

impl Removed {
    /// `(table, rows)` for every table, in a stable order (metric labels).
    pub fn by_table(&self) -> [(&'static str, u64); 6] {
        [
            ("jobs", self.jobs),
            ("validation_results", self.validation_results),
            ("job_results", self.job_results),
            ("batch_items", self.batch_items),
            ("webhook_deliveries", self.webhook_deliveries),
            ("webhook_attempts", self.webhook_attempts),
        ]
    }

    /// Adds another count.
    pub fn add(&mut self, other: &Removed) {
        self.jobs += other.jobs;
        self.validation_results += other.validation_results;
        self.job_results += other.job_results;
        self.batch_items += other.batch_items;
        self.webhook_deliveries += other.webhook_deliveries;
        self.webhook_attempts += other.webhook_attempts;
    }

    /// Rows over all tables.
    pub fn total(&self) -> u64 {
        self.by_table().iter().map(|(_, n)| n).sum()
    }
}

/// What one chunk did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Rows removed.
    pub removed: Removed,
    /// Top-level jobs examined (removed or kept).
    pub examined: usize,
    /// Top-level jobs kept for a later round (a member not finished or too young, an item of
    /// another batch pointing at a member, or more descendants than followed).
    pub kept: usize,
    /// Where the next chunk starts; `None` once a chunk came back short (nothing more this round).
    pub next: Option<Cursor>,
}

/// One family: its top-level job and every member (the top-level job first).
struct Family {
    cursor: Cursor,
    members: Vec<Uuid>,
    kept: bool,
}

/// Removes the next chunk of families after `after` whose jobs all finished before `cutoff`: at
/// most `batch` top-level jobs are examined and at most `batch` jobs removed (a single family
/// larger than `batch` goes alone), in one transaction.
pub async fn remove_chunk(
    pool: &PgPool,
    cutoff: DateTime<Utc>,
    after: Cursor,
    batch: u32,
) -> Result<Chunk, sqlx::Error> {
    let batch = batch.max(1);
    let mut tx = pool.begin().await?;
    sqlx::query_scalar!("select set_config('lock_timeout', $1, true)", LOCK_TIMEOUT)
        .fetch_one(&mut *tx)
        .await?;
    let roots: Vec<(Uuid, DateTime<Utc>)> = sqlx::query!(
        r#"select id, finished_at as "finished_at!" from jobs
         where status in ('succeeded', 'failed', 'canceled') and finished_at < $1
           and (finished_at, id) > ($2, $3) and parent_id is null
         order by finished_at, id
         limit $4
         for update skip locked"#,
        cutoff,
        after.finished_at,
        after.id,
        i64::from(batch),
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| (r.id, r.finished_at))
    .collect();
    let examined_all = roots.len();
    let families = load_families(&mut tx, &roots, cutoff).await?;

    // Take whole families in order while they fit in the batch (always at least one).
    let mut doomed: Vec<Uuid> = Vec::new();
    let mut taken: usize = 0;
    let mut kept = 0;
    let mut cut_short = false;
    for family in &families {
        if !family.kept && !doomed.is_empty() && doomed.len() + family.members.len() > batch as usize {
            cut_short = true;
            break;
        }
        taken += 1;
        if family.kept {
            kept += 1;
        } else {
            doomed.extend_from_slice(&family.members);
        }
    }
    let last = taken.checked_sub(1).and_then(|i| families.get(i)).map(|f| f.cursor);
    let removed = delete_jobs(&mut tx, &doomed).await?;
    tx.commit().await?;
    let more = cut_short || examined_all == batch as usize;
    Ok(Chunk {
        removed,
        examined: taken,
        kept,
        next: if more { last.or(Some(after)) } else { None },
    })
}

/// Follows `parent_id` down from the top-level jobs and marks the families that must stay.
async fn load_families(
    tx: &mut Transaction<'_, Postgres>,
    roots: &[(Uuid, DateTime<Utc>)],
    cutoff: DateTime<Utc>,
) -> Result<Vec<Family>, sqlx::Error> {
    let mut families: Vec<Family> = roots
        .iter()
        .map(|&(id, finished_at)| Family {
            cursor: Cursor { finished_at, id },
            members: vec![id],
            kept: false,
        })
        .collect();
    if families.is_empty() {
        return Ok(families);
    }
    // member id -> index of its family
    let mut owner: HashMap<Uuid, usize> = roots.iter().enumerate().map(|(i, &(id, _))| (id, i)).collect();
    let mut frontier: Vec<Uuid> = roots.iter().map(|&(id, _)| id).collect();
    for _ in 0..MAX_DEPTH {
        if frontier.is_empty() {
            break;
        }
        let children: Vec<(Uuid, Uuid)> = sqlx::query!(
            r#"select id, parent_id as "parent_id!" from jobs where parent_id = any($1)"#,
            &frontier,
        )
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .map(|r| (r.id, r.parent_id))
        .collect();
        frontier.clear();
        for (child, parent) in children {
            if let Some(&family) = owner.get(&parent) {
                owner.insert(child, family);
                families[family].members.push(child);
                frontier.push(child);
            }
        }
    }
    if !frontier.is_empty() {
        // Deeper than followed: keep those families whole rather than cut them.
        for id in &frontier {
            if let Some(&family) = owner.get(id) {
                families[family].kept = true;
            }
        }
    }
    let members: Vec<Uuid> = owner.keys().copied().collect();
    // Members not finished before the cutoff (an in-flight webhook retry, a late child).
    let young: Vec<Uuid> = sqlx::query_scalar!(
        "select id from jobs where id = any($1)
           and (status not in ('succeeded', 'failed', 'canceled') or finished_at is null or finished_at >= $2)",
        &members,
        cutoff,
    )
    .fetch_all(&mut **tx)
    .await?;
    for id in young {
        if let Some(&family) = owner.get(&id) {
            families[family].kept = true;
        }
    }
    // Members that an item of a batch outside their family points at (joined in flight).
    let items: Vec<(Uuid, Uuid)> = sqlx::query!(
        r#"select job_id as "job_id!", batch_id from batch_items where job_id = any($1) and job_id is not null"#,
        &members,
    )
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(|r| (r.job_id, r.batch_id))
    .collect();
    for (job, batch) in items {
        if let Some(&family) = owner.get(&job)
            && owner.get(&batch) != Some(&family)
        {
            families[family].kept = true;
        }
    }
    Ok(families)
}

/// Deletes `jobs` and every row that references them, children before parents.
async fn delete_jobs(tx: &mut Transaction<'_, Postgres>, jobs: &[Uuid]) -> Result<Removed, sqlx::Error> {
    if jobs.is_empty() {
        return Ok(Removed::default());
    }
    // One macro per table (each statement checked at compile time); `rows` runs it in `tx`.
    macro_rules! rows {
        ($q:expr) => {
            $q.execute(&mut **tx).await?.rows_affected()
        };
    }
    let webhook_attempts = rows!(sqlx::query!(
        "delete from webhook_attempts where delivery_id in (select id from webhook_deliveries where job_id = any($1))",
        jobs,
    ));
    let webhook_deliveries = rows!(sqlx::query!(
        "delete from webhook_deliveries where job_id = any($1)",
        jobs
    ));
    let batch_items = rows!(sqlx::query!("delete from batch_items where batch_id = any($1)", jobs));
    let validation_results = rows!(sqlx::query!(
        "delete from validation_results where job_id = any($1)",
        jobs
    ));
    let job_results = rows!(sqlx::query!("delete from job_results where job_id = any($1)", jobs));
    let jobs = rows!(sqlx::query!("delete from jobs where id = any($1)", jobs));
    Ok(Removed {
        jobs,
        validation_results,
        job_results,
        batch_items,
        webhook_deliveries,
        webhook_attempts,
    })
}

/// Finished jobs past `cutoff`, counted up to `cap` from the `jobs_finished` index (an estimate
/// of the backlog for the pending gauge; `cap` bounds its cost).
pub async fn pending(pool: &PgPool, cutoff: DateTime<Utc>, cap: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from (
             select 1 from jobs where status in ('succeeded', 'failed', 'canceled') and finished_at < $1
             order by finished_at limit $2
         ) past"#,
        cutoff,
        cap,
    )
    .fetch_one(pool)
    .await
}
