//! The one problem-document assertion (RFC 9457): `application/problem+json` and a `status` member
//! equal to the HTTP status.

use reqwest::{Response, StatusCode, header::HeaderMap};
use serde_json::Value;

use super::client::header;

/// Asserts that an answer already read is a problem document of its own status.
pub fn assert_problem_document(status: u16, headers: &HeaderMap, body: &Value) {
    assert_eq!(
        header(headers, "content-type"),
        "application/problem+json",
        "{status} must be a problem document: {body}"
    );
    assert_eq!(body["status"], status, "{body}");
}

/// Reads a problem document: checks the media type and `status`, returns status, headers and body.
pub async fn problem(resp: Response) -> (StatusCode, HeaderMap, Value) {
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body: Value = resp.json().await.expect("problem body");
    assert_problem_document(status.as_u16(), &headers, &body);
    (status, headers, body)
}
