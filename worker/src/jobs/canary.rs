//! The canary job: no upstream call, only the durable path every job takes (row, push, claim,
//! lease, completion, event). Its creation-to-completion time is the pipeline's black-box signal.

use chrono::Utc;
use dropforge_common::{db::jobs::Claimed, domain::JobId, metric_names as m};

use super::{Deps, Outcome, StoreError};

/// Completes a claimed canary and records its end-to-end latency.
pub async fn run(deps: &Deps, id: JobId, claimed: &Claimed) -> Result<Outcome, StoreError> {
    if deps.lanes.successes.call(id.0).await? {
        let latency = (Utc::now() - claimed.created_at).to_std().unwrap_or_default();
        metrics::histogram!(m::CANARY_LATENCY_SECONDS).record(latency.as_secs_f64());
        deps.lanes.events.call(id).await?;
    }
    Ok(Outcome::Done)
}
