//! Shared server state: static config, the runtime-replaceable config, counters, quotas, sequences and
//! the caches of generated data and built answers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::bodies::Bodies;
use crate::config::{RuntimeConfig, SandboxConfig, UpstreamBehaviour};
use crate::data::store::Store;
use crate::quota::Quotas;
use crate::stats::Stats;

/// The three imitated upstreams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Upstream {
    AliExpress,
    Meta,
    YouTube,
}

impl Upstream {
    /// Label used in stats and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Upstream::AliExpress => "aliexpress",
            Upstream::Meta => "meta",
            Upstream::YouTube => "youtube",
        }
    }

    fn idx(self) -> usize {
        match self {
            Upstream::AliExpress => 0,
            Upstream::Meta => 1,
            Upstream::YouTube => 2,
        }
    }

    /// Salt mixed into the fault draw.
    pub fn salt(self) -> u64 {
        (self.idx() as u64 + 1).wrapping_mul(0x5851_f42d_4c95_7f2d)
    }
}

/// Everything a handler needs; cheap to share behind an `Arc`.
pub struct AppState {
    pub cfg: Arc<SandboxConfig>,
    runtime: RwLock<Arc<RuntimeConfig>>,
    pub stats: Stats,
    pub quotas: Quotas,
    /// Generated products, ads and videos (half of `cache_bytes`).
    pub store: Store,
    /// Built answers (the other half).
    pub bodies: Bodies,
    seqs: [AtomicU64; 3],
}

/// Handle passed to every handler.
pub type Shared = Arc<AppState>;

impl AppState {
    /// Builds the state from a configuration.
    pub fn new(cfg: Arc<SandboxConfig>) -> Self {
        let runtime = RwLock::new(Arc::new(cfg.runtime.clone()));
        let half = cfg.cache_bytes / 2;
        Self {
            cfg,
            runtime,
            stats: Stats::default(),
            quotas: Quotas::default(),
            store: Store::new(half),
            bodies: Bodies::new(half),
            seqs: Default::default(),
        }
    }

    /// A snapshot of the runtime configuration (never hold it across a config change you care about).
    pub fn runtime(&self) -> Arc<RuntimeConfig> {
        match self.runtime.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the runtime configuration.
    pub fn set_runtime(&self, rt: RuntimeConfig) {
        match self.runtime.write() {
            Ok(mut g) => *g = Arc::new(rt),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(rt),
        }
    }

    /// Latency and faults of one upstream, from the current runtime configuration.
    pub fn behaviour(&self, up: Upstream) -> (f64, UpstreamBehaviour) {
        let rt = self.runtime();
        let b = match up {
            Upstream::AliExpress => &rt.aliexpress,
            Upstream::Meta => &rt.meta,
            Upstream::YouTube => &rt.youtube,
        };
        (rt.latency_scale, b.clone())
    }

    /// Next per-upstream sequence number (drives fault and latency draws and request ids).
    pub fn next_seq(&self, up: Upstream) -> u64 {
        self.seqs[up.idx()].fetch_add(1, Ordering::Relaxed)
    }

    /// Clears counters, quotas and sequences.
    pub fn reset(&self) {
        self.stats.clear();
        self.quotas.clear();
        for s in &self.seqs {
            s.store(0, Ordering::Relaxed);
        }
    }
}
