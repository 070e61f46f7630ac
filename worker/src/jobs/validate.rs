//! The validation job: gather upstream signals, score with score-v1, store once, cache, announce.

use chrono::Utc;
use dropforge_common::{
    db::{
        self,
        jobs::Claimed,
        results::{NewResult, OwnedResult},
    },
    domain::{JobId, JobKind},
    product::ProductRef,
    scoring::{self, MODEL},
};
use serde::Deserialize;
use serde_json::json;

use super::{Deps, Outcome, StoreError, events, failure_outcome};
use crate::upstream::{GatherRequest, gather};

/// The input a validation job was created with.
#[derive(Debug, Deserialize)]
struct Input {
    product: ProductRef,
    country: String,
    target_price: Option<f64>,
    cache_key: String,
}

/// Runs one validation attempt. `Err` only for database trouble while storing the result.
pub async fn run(deps: &Deps, id: JobId, claimed: &Claimed) -> Result<Outcome, StoreError> {
    let input: Input = match serde_json::from_value(claimed.input.clone()) {
        Ok(input) => input,
        Err(e) => {
            return Ok(Outcome::Failed(
                json!({"code": "invalid_input", "message": e.to_string()}),
            ));
        }
    };
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
    let mut doc = serde_json::to_value(&report).unwrap_or_else(|_| json!({}));
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("product".into(), json!(gathered.product));
        obj.insert(
            "options".into(),
            json!({"country": input.country, "target_price": input.target_price}),
        );
        obj.insert("validated_at".into(), json!(validated_at));
        obj.insert("partial".into(), json!(partial));
        obj.insert("upstreams".into(), json!(gathered.upstreams));
        obj.insert("signals".into(), json!(signals));
    }

    let text = match serde_json::to_string(&doc) {
        Ok(text) => text,
        Err(e) => {
            return Ok(Outcome::Failed(
                json!({"code": "internal", "message": format!("result did not serialise: {e}")}),
            ));
        }
    };
    let completed = match claimed.webhook_url.as_deref() {
        // The common case goes through the group-commit lane: one statement for every
        // validation finishing at the same moment.
        None => {
            deps.lanes
                .validations
                .call(OwnedResult {
                    job_id: id,
                    cache_key: input.cache_key.clone(),
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
                cache_key: &input.cache_key,
                product: &input.product,
                model: MODEL,
                partial,
                result: &text,
            };
            let mut tx = deps.pool.begin().await?;
            let done = db::results::complete_validation(&mut *tx, &row, &deps.owner).await?;
            if done.completed {
                let payload = events::job_event("job.succeeded", id, JobKind::Validation, Some(&doc), None);
                events::enqueue(&mut *tx, claimed.tenant_id, id, url, "job.succeeded", &payload).await?;
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
    deps.lanes
        .cache_sets
        .call((input.cache_key.clone(), text.into_bytes(), ttl))
        .await?;
    deps.lanes.events.call(id).await?;
    if completed.in_batch {
        deps.lanes.batch_children.call(id.0).await?;
    }
    tracing::debug!(job.id = %id, score = report.score, verdict = ?report.verdict, partial, "validation succeeded");
    Ok(Outcome::Done)
}
