//! The RFC 9457 problem document: the one renderer of every client error (`ApiError`, the edge's
//! own answers) and, being the type it serialises, its OpenAPI schema.

pub mod responses;

use std::borrow::Cow;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use dropforge_common::product::FieldError;
use serde::Serialize;
use utoipa::ToSchema;

/// Media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document (`application/problem+json`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// Problem type, `/problems/<code>` (429: the IANA `quota-exceeded` type).
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "/problems/validation-failed")]
    pub problem_type: Cow<'static, str>,
    /// Short summary of the problem type.
    #[schema(value_type = String, example = "Invalid request")]
    pub title: Cow<'static, str>,
    /// HTTP status code.
    #[schema(example = 422)]
    pub status: u16,
    /// Explanation of this occurrence.
    pub detail: String,
    /// Stable machine-readable code: `malformed_json`, `unsupported_media_type`, `validation_failed`,
    /// `invalid_job_id`, `duplicate_query_parameter`, `invalid_query_encoding`, `invalid_path_encoding`,
    /// `job_not_found`, `not_found`, `method_not_allowed`, `payload_too_large`,
    /// `unauthorized`, `rate_limited`, `idempotency_key_invalid`, `idempotency_key_reused`,
    /// `idempotency_request_in_progress`, `job_not_cancelable`, `webhook_url_disabled`, `tenant_backlog_full`,
    /// `service_unavailable`,
    /// `request_timeout` or
    /// `internal_error`.
    #[schema(example = "validation_failed")]
    pub code: String,
    /// Every invalid member (`validation_failed`), or the offending parameter
    /// (`duplicate_query_parameter`, `invalid_query_encoding`, `invalid_path_encoding`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<InvalidMember>>,
    /// Exhausted rate-limit policies (429 only).
    #[serde(rename = "violated-policies", skip_serializing_if = "Option::is_none")]
    pub violated_policies: Option<Vec<String>>,
}

/// One invalid member of a request: a JSON pointer and what is wrong there.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = FieldError)]
pub struct InvalidMember {
    /// JSON pointer (RFC 6901) to the member.
    #[schema(example = "/product/id")]
    pub pointer: String,
    /// What is wrong.
    #[schema(example = "must be an AliExpress product id: 10 to 20 digits")]
    pub detail: String,
}

impl From<FieldError> for InvalidMember {
    fn from(e: FieldError) -> Self {
        Self {
            pointer: e.pointer,
            detail: e.detail,
        }
    }
}

impl Problem {
    /// A problem of type `/problems/<code>`; `code` is written with `-` (the wire `code` uses `_`).
    pub fn new(status: StatusCode, code: &str, title: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        Self {
            problem_type: Cow::Owned(format!("/problems/{code}")),
            title: title.into(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.replace('-', "_"),
            errors: None,
            violated_policies: None,
        }
    }

    /// Another problem type URI (e.g. an IANA registered type).
    #[must_use]
    pub fn with_type(mut self, uri: impl Into<Cow<'static, str>>) -> Self {
        self.problem_type = uri.into();
        self
    }

    /// The invalid members.
    #[must_use]
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = Some(errors.into_iter().map(InvalidMember::from).collect());
        self
    }

    /// The exhausted rate-limit policies.
    #[must_use]
    pub fn with_violated_policies(mut self, names: Vec<String>) -> Self {
        self.violated_policies = Some(names);
        self
    }

    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        render(self.status_code(), &self)
    }
}

/// Renders a problem body with its media type: the single place problem answers are written.
pub fn render(status: StatusCode, body: &impl Serialize) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|e| {
        tracing::error!(error = %e, "a problem document did not serialise");
        String::from(
            r#"{"type":"/problems/internal-error","title":"Internal error","status":500,"code":"internal_error"}"#,
        )
    });
    let mut response = (status, text).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn problems_have_the_documented_shape() {
        let problem = Problem::new(StatusCode::BAD_REQUEST, "invalid-job-id", "Invalid job id", "No.")
            .with_errors(vec![FieldError::new("/x", "is wrong")]);
        let body = serde_json::to_value(&problem).unwrap();
        assert_eq!(body["type"], "/problems/invalid-job-id");
        assert_eq!(body["code"], "invalid_job_id");
        assert_eq!(body["status"], 400);
        assert_eq!(body["errors"][0]["pointer"], "/x");
        assert!(body.get("violated-policies").is_none());
        let response = problem.into_response();
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }
}
