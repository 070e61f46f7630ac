//! Fair-dispatch bookkeeping per tenant: weights, queued-job quotas, the recent drain rate, the
//! reconciler's repair of the queued counters, and the figures behind the per-tenant gauges.
//!
//! The tags themselves are written by job creation (`jobs::create_or_join*`) and consumed by the
//! dispatcher (`transitions::take_due`, `transitions::promote_due`); see docs/SCHEDULING.md.

use std::time::Duration;

use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::domain::{JobClass, JobKind, TenantId};

/// Tag distance of one job of a tenant with weight 1; a tenant of weight `w` advances `1000 / w`.
pub const STRIDE: i64 = 1000;
/// Interactive jobs of one kind a tenant may have queued or running; its further singles are bulk.
pub const INTERACTIVE_ALLOWANCE: i64 = 20;
/// Queued jobs a tenant may have when no quota was set for it (the `tenant_sched.max_queued` default).
pub const DEFAULT_MAX_QUEUED: i32 = 20_000;
/// Bounds of the `Retry-After` of a refused submission.
const RETRY_AFTER_MIN: Duration = Duration::from_secs(1);
const RETRY_AFTER_MAX: Duration = Duration::from_secs(300);

/// A submission refused because the tenant's queued jobs would exceed its quota.
#[derive(Debug, Clone, PartialEq)]
pub struct BacklogFull {
    /// Jobs the submission would have added.
    pub requested: i64,
    /// The tenant's queued jobs now.
    pub queued: i64,
    /// Its quota.
    pub max_queued: i64,
    /// Jobs per second the dispatcher took from the tenant recently.
    pub drain_rate: f64,
}

impl BacklogFull {
    /// Jobs over the quota that this submission would bring.
    pub fn excess(&self) -> i64 {
        (self.queued + self.requested - self.max_queued).max(1)
    }

    /// When to retry: the excess divided by the recent drain rate, between 1 s and 300 s.
    pub fn retry_after(&self) -> Duration {
        if self.drain_rate <= 0.0 || !self.drain_rate.is_finite() {
            return RETRY_AFTER_MAX;
        }
        Duration::from_secs_f64((self.excess() as f64 / self.drain_rate).min(RETRY_AFTER_MAX.as_secs_f64()))
            .clamp(RETRY_AFTER_MIN, RETRY_AFTER_MAX)
    }
}

/// Reads a tenant's backlog figures (the answer to a refused submission of `requested` jobs).
pub async fn backlog(exec: impl PgExecutor<'_>, tenant: TenantId, requested: i64) -> Result<BacklogFull, sqlx::Error> {
    let row = sqlx::query!(
        r#"select coalesce(sum(queued), 0)::int8 as "queued!", coalesce(min(max_queued), $2)::int8 as "max_queued!",
                coalesce(sum(case when now() - drain_mark_at < interval '60 seconds' then drain_rate
                                  else (drained - drain_mark) / greatest(extract(epoch from now() - drain_mark_at), 1)::float8
                             end), 0)::float8 as "drain_rate!"
         from tenant_sched where tenant_id = $1"#,
        tenant.0,
        DEFAULT_MAX_QUEUED,
    )
    .fetch_one(exec)
    .await?;
    Ok(BacklogFull {
        requested,
        queued: row.queued,
        max_queued: row.max_queued,
        drain_rate: row.drain_rate,
    })
}

/// A tenant's scheduling settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantSettings {
    /// Share of dispatch relative to other tenants (1..=1000).
    pub weight: i32,
    /// Most queued jobs.
    pub max_queued: i32,
    /// Queued jobs now (as last counted).
    pub queued: i64,
}

/// Sets a tenant's weight and/or quota (for every kind and class, so rows created later by a
/// first submission are never needed for a configured tenant); `None` when there is no such
/// tenant. Values left `None` keep what was set before.
pub async fn set_tenant(
    pool: &PgPool,
    tenant: &str,
    weight: Option<i32>,
    max_queued: Option<i32>,
) -> Result<Option<TenantSettings>, sqlx::Error> {
    let (kinds, classes): (Vec<String>, Vec<i16>) = JobKind::ALL
        .iter()
        .flat_map(|k| k.classes().iter().map(move |c| (k.as_str().to_owned(), c.as_i16())))
        .unzip();
    let mut tx = pool.begin().await?;
    let current = sqlx::query!(
        r#"select t.id, coalesce(max(s.weight), 1) as "weight!", coalesce(min(s.max_queued), $2) as "max_queued!"
         from tenants t left join tenant_sched s on s.tenant_id = t.id
         where t.name = $1 group by t.id"#,
        tenant,
        DEFAULT_MAX_QUEUED,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(current) = current else {
        return Ok(None);
    };
    let weight = weight.unwrap_or(current.weight);
    let max_queued = max_queued.unwrap_or(current.max_queued);
    sqlx::query!(
        "insert into tenant_sched as s (tenant_id, kind, class, weight, max_queued)
         select $1, q.kind, q.class, $2, $3 from unnest($4::text[], $5::int2[]) as q(kind, class)
         order by q.kind, q.class
         on conflict (tenant_id, kind, class) do update set weight = $2, max_queued = $3",
        current.id,
        weight,
        max_queued,
        &kinds,
        &classes,
    )
    .execute(&mut *tx)
    .await?;
    let queued = backlog(&mut *tx, TenantId(current.id), 0).await?.queued;
    tx.commit().await?;
    Ok(Some(TenantSettings {
        weight,
        max_queued,
        queued,
    }))
}

/// Resets every tenant's queued counter that drifted from the jobs table (queued jobs counted
/// once per tagging and decremented per dispatch; cancels, lease requeues and lost dispatches
/// make it drift). Rows busy right now are skipped and repaired next time. Returns the rows fixed.
pub async fn repair_queued(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let fixed = sqlx::query!(
        "with counts as (
             select tenant_id, kind, class, count(*)::int4 as n from jobs
             where status = 'queued' and dispatched_at is null
             group by tenant_id, kind, class
         ), targets as (
             select s.tenant_id, s.kind, s.class, coalesce(c.n, 0) as n
             from tenant_sched s left join counts c
                  on c.tenant_id = s.tenant_id and c.kind = s.kind and c.class = s.class
             where s.queued <> coalesce(c.n, 0)
             order by s.tenant_id, s.kind, s.class
             for update of s skip locked
         )
         update tenant_sched s set queued = t.n from targets t
         where s.tenant_id = t.tenant_id and s.kind = t.kind and s.class = t.class",
    )
    .execute(pool)
    .await?;
    Ok(fixed.rows_affected())
}

/// One tenant's queued jobs in one class (all kinds), with its quota: the gauges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantQueue {
    /// The tenant.
    pub tenant_id: Uuid,
    /// The class.
    pub class: JobClass,
    /// Queued (undispatched) jobs.
    pub queued: i64,
    /// The tenant's quota (over both classes).
    pub max_queued: i64,
}

/// Every tenant's queued jobs per class, as counted in `tenant_sched`.
pub async fn tenant_queues(pool: &PgPool) -> Result<Vec<TenantQueue>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select tenant_id, class, sum(queued)::int8 as "queued!",
                (min(min(max_queued)) over (partition by tenant_id))::int8 as "max_queued!"
         from tenant_sched group by tenant_id, class order by tenant_id, class"#,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| TenantQueue {
            tenant_id: r.tenant_id,
            class: JobClass::from_i16(r.class),
            queued: r.queued,
            max_queued: r.max_queued,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(queued: i64, rate: f64) -> BacklogFull {
        BacklogFull {
            requested: 50,
            queued,
            max_queued: 20_000,
            drain_rate: rate,
        }
    }

    #[test]
    fn retry_after_is_the_excess_over_the_drain_rate_clamped() {
        assert_eq!(full(20_000, 10.0).retry_after(), Duration::from_secs(5));
        assert_eq!(
            full(20_000, 1000.0).retry_after(),
            Duration::from_secs(1),
            "at least 1 s"
        );
        assert_eq!(
            full(20_000, 0.01).retry_after(),
            Duration::from_secs(300),
            "at most 300 s"
        );
        assert_eq!(
            full(20_000, 0.0).retry_after(),
            Duration::from_secs(300),
            "nothing drains"
        );
        assert_eq!(full(19_990, 10.0).excess(), 40);
    }
}
