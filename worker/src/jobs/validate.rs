//! The validation job: gather upstream signals, score with score-v1, store once, cache, announce.

use chrono::Utc;
use dropforge_common::{
    contract::{
        EventType, JobError, JobErrorCode, ValidationContext, ValidationInput, ValidationOptions, ValidationResult,
    },
    db::{
        self,
        jobs::Claimed,
        results::{NewResult, OwnedResult},
    },
    domain::{JobClass, JobId, JobKind},
    scoring::{self, MODEL},
};
use serde::Deserialize;

use super::{Deps, Outcome, StoreError, events, failure_outcome, search::not_serialised};
use crate::upstream::{GatherRequest, gather};

/// Runs one validation attempt. `Err` only for database trouble while storing the result.
pub async fn run(deps: &Deps, id: JobId, claimed: &Claimed) -> Result<Outcome, StoreError> {
    let input = match ValidationInput::deserialize(&claimed.input) {
        Ok(input) => input,
        Err(e) => {
            return Ok(Outcome::Failed(JobError::new(
                JobErrorCode::InvalidInput,
                e.to_string(),
            )));
        }
    };
    let cache_key = input.cache_key(&deps.config.redis_prefix);
    let validated_at = Utc::now();
    let request = GatherRequest {
        product_id: input.product.id.clone(),
        ship_to: input.country.clone(),
        currency: deps.config.upstreams.aliexpress.currency.clone(),
        target_price: input.target_price,
        validated_at,
    };
    let gathered = match gather(&deps.upstreams, &request).await {
        Ok(g) => g,
        Err(e) => {
            tracing::info!(job.id = %id, error = %e, "aliexpress failed");
            return Ok(failure_outcome(&e));
        }
    };
    let mut signals = gathered.signals.clone();
    signals.target_price = input.target_price;
    let report = scoring::evaluate(&signals, &deps.scoring);
    let partial = gathered.upstreams.is_partial();
    let (score, verdict) = (report.score, report.verdict);
    let context = match (
        serde_json::to_value(&gathered.product),
        serde_json::to_value(&gathered.upstreams),
    ) {
        (Ok(product), Ok(upstreams)) => ValidationContext {
            product,
            options: ValidationOptions {
                country: input.country.clone(),
                target_price: input.target_price,
            },
            validated_at,
            partial,
            upstreams,
            signals,
        },
        (Err(e), _) | (_, Err(e)) => return Ok(not_serialised(&e)),
    };
    let result = ValidationResult::new(report, context);
    let text = match serde_json::to_string(&result) {
        Ok(text) => text,
        Err(e) => return Ok(not_serialised(&e)),
    };
    let completed = match claimed.webhook_url.as_deref() {
        // The common case goes through the group-commit lane: one statement for every
        // validation finishing at the same moment.
        None => {
            let lane = match claimed.class {
                JobClass::Interactive => &deps.lanes.validations,
                JobClass::Bulk => &deps.lanes.bulk_validations,
            };
            lane.call(OwnedResult {
                job_id: id,
                cache_key: cache_key.clone(),
                product: input.product.clone(),
                model: MODEL.to_owned(),
                partial,
                result: text.clone(),
            })
            .await?
        }
        Some(url) => {
            // Result, state and the webhook event commit together (the outbox).
            let row = NewResult {
                job_id: id,
                cache_key: &cache_key,
                product: &input.product,
                model: MODEL,
                partial,
                result: &text,
            };
            let mut tx = deps.pool.begin().await?;
            let done = db::results::complete_validation(&mut *tx, &row, &deps.owner).await?;
            if done.completed {
                let payload = events::job_succeeded(id, JobKind::Validation, result.into());
                events::enqueue(&mut *tx, claimed.tenant_id, id, url, EventType::JobSucceeded, &payload).await?;
            }
            tx.commit().await?;
            done
        }
    };
    if !completed.completed {
        // Another delivery took the job over after our lease lapsed: it owns the outcome.
        tracing::warn!(job.id = %id, "lease lost before the result was stored; discarded");
        return Ok(Outcome::Done);
    }
    let ttl = if partial {
        deps.config.cache.partial_ttl
    } else {
        deps.config.cache.validation_ttl
    };
    deps.lanes.cache_sets.call((cache_key, text.into_bytes(), ttl)).await?;
    deps.lanes.events.call(id).await?;
    if completed.in_batch {
        deps.lanes.batch_children.call(id.0).await?;
    }
    tracing::debug!(job.id = %id, score, verdict = ?verdict, partial, "validation succeeded");
    Ok(Outcome::Done)
}
