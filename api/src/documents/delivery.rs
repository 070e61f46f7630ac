//! The webhook delivery log of a job: one entry per attempt.

use chrono::{DateTime, Utc};
use dropforge_common::db::webhooks::DeliveryLogEntry;
use serde::Serialize;
use utoipa::ToSchema;

/// The webhook delivery log of a job.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryLog {
    /// One entry per attempt, oldest first (a delivery not attempted yet has no attempt fields).
    pub data: Vec<DeliveryAttempt>,
}

/// One webhook delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAttempt {
    /// The `webhook-id`, the same across retries.
    pub delivery_id: String,
    /// `job.succeeded`, `job.failed` or `batch.completed`.
    pub event_type: String,
    /// Target URL.
    pub url: String,
    /// This attempt's outcome: `delivered` (2xx), `failed` (another status or an error; see
    /// `next_attempt_at` for a retry) or `disabled` (410 Gone, or the URL was disabled); `pending`
    /// for a delivery not attempted yet.
    pub status: String,
    /// The delivery's current status, the same on each of its attempts: `pending`, `delivered`,
    /// `failed` or `disabled`.
    pub delivery_status: String,
    /// Attempt number.
    pub attempt: Option<i32>,
    /// When the attempt ran.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub attempted_at: Option<DateTime<Utc>>,
    /// Duration in milliseconds.
    pub duration_ms: Option<i32>,
    /// The receiver's HTTP status.
    pub response_status: Option<i32>,
    /// Error class: timeout, connect, dns, blocked_ip, http_status, redirect, disabled.
    pub error: Option<String>,
    /// When the next attempt is due.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl From<DeliveryLogEntry> for DeliveryAttempt {
    fn from(e: DeliveryLogEntry) -> Self {
        Self {
            delivery_id: e.delivery_id,
            event_type: e.event_type,
            url: e.url,
            status: e.status,
            delivery_status: e.delivery_status,
            attempt: e.attempt,
            attempted_at: e.attempted_at,
            duration_ms: e.duration_ms,
            response_status: e.response_status,
            error: e.error,
            next_attempt_at: e.next_attempt_at,
        }
    }
}
