//! The canary scheduler: submits one `canary` job every interval through the same durable path as
//! client jobs (a PostgreSQL row marked dispatched, then an apalis push; the dispatcher and the
//! reconciler repair a push that failed), so operators see at once when the pipeline stops.

use std::time::Duration;

use dropforge_common::{
    contract::{CanaryInput, JobInput},
    db::{self, jobs::NewJob},
    domain::{JobKind, TenantId},
    metric_names as m,
    queue::Queue,
    shutdown::Shutdown,
};
use sqlx::PgPool;
use ulid::Ulid;

/// The tenant that owns the platform's own jobs (it has no API key).
pub const SYSTEM_TENANT: &str = "_system";

/// Submits one canary job now.
pub async fn submit(pool: &PgPool, queue: &Queue, tenant: TenantId) -> anyhow::Result<()> {
    let task = Ulid::generate();
    let job = NewJob {
        tenant_id: tenant,
        kind: JobKind::Canary,
        dedupe_key: None,
        input: JobInput::from(CanaryInput::default()).to_stored()?,
        webhook_url: None,
        request_id: None,
        parent_id: None,
        dispatch_as: Some(task),
    };
    let id = db::jobs::create_or_join(pool, &job).await?.id();
    if let Err(e) = queue.push(JobKind::Canary, &[(id, task)]).await {
        tracing::warn!(job.id = %id, error = %e, "canary push failed; the dispatcher will retry");
        db::jobs::undo_dispatch(pool, id, task).await?;
    }
    metrics::counter!(m::JOBS_ENQUEUED_TOTAL, "kind" => JobKind::Canary.as_str(), "outcome" => "pushed").increment(1);
    Ok(())
}

/// Submits a canary every `every` until `shutdown` (never when `every` is zero).
pub async fn run(pool: PgPool, queue: Queue, every: Duration, shutdown: Shutdown) {
    if every.is_zero() {
        return;
    }
    let mut tenant = None;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.wait() => return,
        }
        let result = async {
            let id = match tenant {
                Some(id) => id,
                None => *tenant.insert(db::tenants::ensure_system_tenant(&pool, SYSTEM_TENANT).await?),
            };
            submit(&pool, &queue, id).await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "canary submission failed");
        }
    }
}
