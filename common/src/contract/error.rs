//! The error document of a failed (or retrying) job: a machine-readable [`JobErrorCode`] and the
//! details that code carries. The worker writes it to `jobs.error`; clients read it in the job
//! and in `job.failed` webhook events.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// Machine-readable reason of a job error, in snake_case on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobErrorCode {
    /// AliExpress has no such product (`ds.product.get` without `result`).
    ProductNotFound,
    /// An upstream refused our credentials or signature (needs an operator).
    UpstreamAuth,
    /// An upstream refused the request as invalid (or the product has no priced SKU).
    UpstreamRejected,
    /// An upstream (or our own budget for it) throttled the call; retried without using an attempt.
    UpstreamThrottled,
    /// An upstream's quota is used up; retried at the reset without using an attempt.
    UpstreamQuotaExhausted,
    /// An upstream failed transiently (after in-call retries); retried with backoff.
    UpstreamUnavailable,
    /// The attempt exceeded the job timeout; retried with backoff.
    Timeout,
    /// The stored input could not be read.
    InvalidInput,
    /// The job's worker stopped responding on every attempt (its lease lapsed).
    WorkerLost,
    /// Every attempt failed; `last_error` holds the error of the last one.
    AttemptsExhausted,
    /// The SSRF guard refused the webhook URL at delivery time.
    WebhookRefused,
    /// No 2xx answer within the webhook retry schedule.
    WebhookExhausted,
    /// One webhook delivery attempt failed; the delivery is retried (`status`, `error`).
    WebhookFailed,
    /// The webhook delivery a webhook job points at does not exist.
    DeliveryNotFound,
    /// The job's kind is never run by a worker (a batch is driven by its items).
    UnsupportedKind,
    /// An internal error (e.g. a result that could not be serialised).
    Internal,
}

impl JobErrorCode {
    /// The snake_case name, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProductNotFound => "product_not_found",
            Self::UpstreamAuth => "upstream_auth",
            Self::UpstreamRejected => "upstream_rejected",
            Self::UpstreamThrottled => "upstream_throttled",
            Self::UpstreamQuotaExhausted => "upstream_quota_exhausted",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::Timeout => "timeout",
            Self::InvalidInput => "invalid_input",
            Self::WorkerLost => "worker_lost",
            Self::AttemptsExhausted => "attempts_exhausted",
            Self::WebhookRefused => "webhook_refused",
            Self::WebhookExhausted => "webhook_exhausted",
            Self::WebhookFailed => "webhook_failed",
            Self::DeliveryNotFound => "delivery_not_found",
            Self::UnsupportedKind => "unsupported_kind",
            Self::Internal => "internal",
        }
    }
}

/// Why a job failed (or why its last attempt did, while it waits for a retry).
///
/// Which members appear depends on the code: every code but `webhook_failed` has a `message`;
/// upstream failures name the `upstream` at fault (null when no single upstream was);
/// `webhook_failed` carries the receiver's `status` and the `error` class; `attempts_exhausted`
/// carries the `last_error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobError {
    /// Machine-readable reason.
    #[schema(example = "product_not_found")]
    pub code: JobErrorCode,
    /// Human-readable reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The upstream at fault (`aliexpress`, `meta`, `youtube`): present on upstream failures, null
    /// when no single upstream was at fault.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "aliexpress")]
    pub upstream: Option<Option<String>>,
    /// `webhook_failed`: the receiver's HTTP status, null when no response arrived.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schema(value_type = Option<u16>)]
    pub status: Option<Option<u16>>,
    /// `webhook_failed`: the error class (`timeout`, `connect`, `http_status`, …), null when none.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub error: Option<Option<String>>,
    /// `attempts_exhausted`: the error of the last attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    pub last_error: Option<Box<JobError>>,
}

/// Reads a member that is present (possibly `null`) as `Some(..)`; an absent one stays `None`
/// through `#[serde(default)]`, so `null` and absent remain distinct.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

impl JobError {
    /// An error with a code and a message only.
    pub fn new(code: JobErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: Some(message.into()),
            upstream: None,
            status: None,
            error: None,
            last_error: None,
        }
    }

    /// An upstream failure: `upstream` names the one at fault (`None`: no single one was).
    pub fn upstream(code: JobErrorCode, message: impl Into<String>, upstream: Option<String>) -> Self {
        Self {
            upstream: Some(upstream),
            ..Self::new(code, message)
        }
    }

    /// The attempt exceeded the job timeout.
    pub fn timeout() -> Self {
        Self::new(JobErrorCode::Timeout, "the attempt exceeded the job timeout")
    }

    /// One failed webhook delivery attempt: the receiver's status and the error class.
    pub fn webhook_failed(status: Option<u16>, error: Option<String>) -> Self {
        Self {
            code: JobErrorCode::WebhookFailed,
            message: None,
            upstream: None,
            status: Some(status),
            error: Some(error),
            last_error: None,
        }
    }

    /// Every attempt failed; `last` is the error of the last one.
    pub fn attempts_exhausted(attempts: u32, last: JobError) -> Self {
        Self {
            last_error: Some(Box::new(last)),
            ..Self::new(
                JobErrorCode::AttemptsExhausted,
                format!("gave up after {attempts} attempts"),
            )
        }
    }
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code.as_str())?;
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(Some(upstream)) = &self.upstream {
            write!(f, " ({upstream})")?;
        }
        if let Some(status) = self.status.flatten() {
            write!(f, " (status {status})")?;
        }
        if let Some(Some(error)) = &self.error {
            write!(f, " ({error})")?;
        }
        if let Some(last) = &self.last_error {
            write!(f, "; last error: {last}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn shapes_match_the_documents_written_before() {
        let cases = [
            (
                JobError::new(JobErrorCode::InvalidInput, "no delivery_id"),
                json!({"code": "invalid_input", "message": "no delivery_id"}),
            ),
            (
                JobError::upstream(JobErrorCode::ProductNotFound, "gone", Some("aliexpress".into())),
                json!({"code": "product_not_found", "message": "gone", "upstream": "aliexpress"}),
            ),
            (
                JobError::upstream(JobErrorCode::UpstreamAuth, "no key", None),
                json!({"code": "upstream_auth", "message": "no key", "upstream": null}),
            ),
            (
                JobError::webhook_failed(Some(503), Some("http_status".into())),
                json!({"code": "webhook_failed", "status": 503, "error": "http_status"}),
            ),
            (
                JobError::webhook_failed(None, None),
                json!({"code": "webhook_failed", "status": null, "error": null}),
            ),
            (
                JobError::attempts_exhausted(5, JobError::timeout()),
                json!({"code": "attempts_exhausted", "message": "gave up after 5 attempts",
                    "last_error": {"code": "timeout", "message": "the attempt exceeded the job timeout"}}),
            ),
        ];
        for (error, wire) in cases {
            assert_eq!(serde_json::to_value(&error).ok(), Some(wire.clone()));
            let back: JobError = serde_json::from_value(wire).expect("decodes");
            assert_eq!(back, error, "null and absent members stay distinct");
        }
    }

    #[test]
    fn codes_serialise_as_their_names() {
        for code in [
            JobErrorCode::WorkerLost,
            JobErrorCode::UpstreamQuotaExhausted,
            JobErrorCode::Internal,
        ] {
            assert_eq!(serde_json::to_value(code).ok(), Some(json!(code.as_str())));
        }
    }
}
