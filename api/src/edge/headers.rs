//! Security headers on every response, errors included (OWASP REST Security Cheat Sheet;
//! docs/design/webhooks-and-edge.md §2.9), added by the outermost layer
//! (`crate::layers::FrameLayer`). Each is set only when absent, so a route (e.g. the `/docs` page
//! with its own CSP) can send its own value. axum sends no `Server` banner and none is added here.

use axum::http::{HeaderName, HeaderValue, header};

/// `Content-Security-Policy` of JSON answers.
pub const CSP: &str = "default-src 'none'; frame-ancestors 'none'";
/// `Strict-Transport-Security` when `DF_HSTS` is on.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// The headers set on every response (HSTS only when `hsts`).
pub fn security_headers(hsts: bool) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = vec![
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ];
    if hsts {
        headers.push((header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS)));
    }
    headers
}
