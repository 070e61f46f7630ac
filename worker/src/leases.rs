//! Leases of running jobs: held by an in-process registry entry, renewed in PostgreSQL on a timer.
//!
//! Only jobs that are really executing renew: when a job's future is dropped (its worker died or
//! was restarted), its guard goes, its lease lapses, and the reconciler requeues it.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use dropforge_common::{db, domain::JobId, shutdown::Shutdown};
use sqlx::PgPool;
use uuid::Uuid;

/// Jobs this process is executing.
#[derive(Clone, Default)]
pub struct LeaseRegistry {
    running: Arc<Mutex<HashSet<Uuid>>>,
}

/// Keeps a job's lease renewed while alive.
pub struct LeaseGuard {
    id: Uuid,
    registry: LeaseRegistry,
}

impl LeaseRegistry {
    /// Starts renewing `id`'s lease until the guard drops.
    pub fn hold(&self, id: JobId) -> LeaseGuard {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).insert(id.0);
        LeaseGuard {
            id: id.0,
            registry: self.clone(),
        }
    }

    /// Jobs currently held.
    pub fn snapshot(&self) -> Vec<Uuid> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect()
    }

    /// Number of jobs currently held.
    pub fn len(&self) -> usize {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// True when no job is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Renews the leases of held jobs every `every` until `shutdown`.
    pub async fn run_renewer(self, pool: PgPool, owner: String, lease: Duration, every: Duration, shutdown: Shutdown) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.wait() => {
                    // Keep renewing while jobs drain after the signal.
                    if self.is_empty() { return; }
                    tokio::time::sleep(every).await;
                }
            }
            let ids = self.snapshot();
            if let Err(e) = db::jobs::renew_leases(&pool, &ids, &owner, lease).await {
                tracing::warn!(error = %e, jobs = ids.len(), "lease renewal failed");
            }
        }
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.registry
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}
