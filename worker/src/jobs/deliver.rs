//! The webhook job: one delivery attempt per run, logged in PostgreSQL, rescheduled on the
//! Standard Webhooks schedule; 410 Gone disables the URL for the tenant.

use chrono::Utc;
use dropforge_common::{
    contract::{JobError, JobErrorCode, WebhookInput},
    db::{self, jobs::Claimed, webhooks, webhooks::Attempt},
    domain::JobId,
    events::publish_finished,
};

use serde::Deserialize;

use super::{Deps, Outcome};
use crate::webhook::{Outcome as Sent, deliver, schedule::next_delay_with_retry_after};

/// Finishes the webhook job itself as succeeded (the delivery reached a final state).
async fn finish(deps: &Deps, id: JobId) -> Result<Outcome, sqlx::Error> {
    if db::jobs::mark_succeeded(&deps.pool, id, &deps.owner).await? {
        publish_finished(&deps.events, &deps.config.redis_prefix, id).await;
    }
    Ok(Outcome::Done)
}

/// Runs one delivery attempt.
pub async fn run(deps: &Deps, id: JobId, claimed: &Claimed) -> Result<Outcome, sqlx::Error> {
    let Ok(WebhookInput { delivery_id }) = WebhookInput::deserialize(&claimed.input) else {
        return Ok(Outcome::Failed(JobError::new(
            JobErrorCode::InvalidInput,
            "no delivery_id",
        )));
    };
    let Some(delivery) = webhooks::load(&deps.pool, &delivery_id).await? else {
        return Ok(Outcome::Failed(JobError::new(
            JobErrorCode::DeliveryNotFound,
            delivery_id,
        )));
    };
    if delivery.status != "pending" {
        return finish(deps, id).await;
    }
    if webhooks::url_disabled(&deps.pool, delivery.tenant_id, &delivery.url).await? {
        let skipped = Attempt {
            attempt_no: delivery.attempts + 1,
            duration: std::time::Duration::ZERO,
            response_status: None,
            error_class: Some("disabled"),
            response_excerpt: "",
            next_attempt_at: None,
            delivery_status: "disabled",
        };
        webhooks::record_attempt(&deps.pool, &delivery.id, &skipped).await?;
        return finish(deps, id).await;
    }
    let secrets = webhooks::signing_secrets(&deps.pool, delivery.tenant_id).await?;
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let attempt_no = delivery.attempts + 1;
    let sent = deliver(
        &deps.webhooks,
        &delivery.url,
        &delivery.id,
        delivery.payload.as_bytes(),
        &secrets,
    )
    .await;
    let schedule = &deps.config.webhooks.schedule;
    let retry = match &sent.outcome {
        Sent::Retry { retry_after } => {
            next_delay_with_retry_after(schedule, u32::try_from(attempt_no).unwrap_or(u32::MAX), *retry_after)
        }
        _ => None,
    };
    let delivery_status = match (&sent.outcome, retry) {
        (Sent::Delivered, _) => "delivered",
        (Sent::Gone, _) => "disabled",
        (Sent::Retry { .. }, Some(_)) => "pending",
        _ => "failed",
    };
    let next_attempt_at = retry
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| Utc::now() + d);
    let attempt = Attempt {
        attempt_no,
        duration: sent.duration,
        response_status: sent.status,
        error_class: sent.error_class,
        response_excerpt: &sent.response_excerpt,
        next_attempt_at,
        delivery_status,
    };
    webhooks::record_attempt(&deps.pool, &delivery.id, &attempt).await?;
    tracing::info!(job.id = %id, webhook.id = %delivery.id, attempt = attempt_no, status = ?sent.status,
        outcome = sent.outcome.label(), "webhook attempt");
    match (sent.outcome, retry) {
        (Sent::Delivered, _) => finish(deps, id).await,
        (Sent::Gone, _) => {
            webhooks::disable_url(&deps.pool, delivery.tenant_id, &delivery.url, "410 Gone").await?;
            finish(deps, id).await
        }
        (Sent::Refused(e), _) => Ok(Outcome::Failed(JobError::new(
            JobErrorCode::WebhookRefused,
            e.to_string(),
        ))),
        (Sent::Retry { .. }, Some(delay)) => Ok(Outcome::Retry {
            delay,
            error: JobError::webhook_failed(sent.status, sent.error_class.map(str::to_owned)),
            refund: true,
        }),
        (Sent::Retry { .. }, None) => Ok(Outcome::Failed(JobError::new(
            JobErrorCode::WebhookExhausted,
            format!("no 2xx after {attempt_no} attempts"),
        ))),
    }
}
