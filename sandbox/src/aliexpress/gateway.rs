//! Gateway checks shared by `/sync` and `/rest` (app key, signature, timestamp), request ids, and the
//! gateway's error bodies.

use axum::http::StatusCode;
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde_json::json;

use super::params::Params;
use super::sign::{self, SignMethod};
use crate::config::SandboxConfig;
use crate::hashing::splitmix64;
use crate::reply::Reply;

/// A refused call: error code, message and outcome label.
pub type Refusal = (&'static str, String, &'static str);

/// A request id derived from the per-upstream sequence (`21` + 11 hex digits + the sequence number).
pub fn request_id(seed: u64, seq: u64) -> String {
    format!("21{:011x}{seq}", splitmix64(seed ^ seq) >> 20)
}

/// A `/sync` gateway error (HTTP 200).
pub fn error_reply(code: &str, msg: &str, request_id: &str, outcome: &'static str) -> Reply {
    let body = json!({"error_response": {
        "type": "ISV", "code": code, "msg": msg, "request_id": request_id, "_trace_id_": format!("2101{request_id}")
    }});
    Reply::json(StatusCode::OK, &body, outcome)
}

/// A path-style (`/rest/…`) error (HTTP 200).
pub fn rest_error(code: &str, message: &str, rid: &str, outcome: &'static str) -> Reply {
    Reply::json(
        StatusCode::OK,
        &json!({"type": "ISV", "code": code, "message": message, "request_id": rid}),
        outcome,
    )
}

/// The `ApiCallLimit` message.
pub fn throttle_msg(ban_secs: u64) -> String {
    format!("Api access frequency exceeds the limit. this ban will last {ban_secs} seconds")
}

/// Parses an AliExpress timestamp: epoch milliseconds, or `yyyy-MM-dd HH:mm:ss` in GMT+8.
pub fn parse_timestamp(v: &str) -> Option<DateTime<Utc>> {
    let v = v.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return DateTime::from_timestamp_millis(v.parse().ok()?);
    }
    let naive = NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S").ok()?;
    Some(naive.and_utc() - TimeDelta::hours(8))
}

/// App key, signature and timestamp checks, in that order. Returns the app key.
pub fn check<'c>(cfg: &'c SandboxConfig, params: &Params<'_>, path: Option<&str>) -> Result<&'c str, Refusal> {
    let app_key = params.get("app_key").unwrap_or_default();
    let Some(app) = cfg.ae_app(app_key) else {
        return Err(("InvalidAppKey", "The specified App Key is invalid".into(), "auth_error"));
    };
    let bad_sign = || {
        (
            "IncompleteSignature",
            "The request signature does not conform to platform standards".into(),
            "auth_error",
        )
    };
    let (Some(method), Some(sign)) = (SignMethod::parse(params.get("sign_method")), params.non_empty("sign")) else {
        return Err(bad_sign());
    };
    if !sign::verify_sorted(method, &app.secret, path, params.pairs(), sign) {
        return Err(bad_sign());
    }
    let skew = cfg.timestamp_skew_secs;
    match params.get("timestamp").and_then(parse_timestamp) {
        Some(t) if (Utc::now() - t).num_seconds().abs() <= skew => Ok(app.app_key.as_str()),
        _ => Err((
            "InvalidTimestamp",
            format!(
                "Invalid timestamp: must be epoch milliseconds or yyyy-MM-dd HH:mm:ss GMT+8 within {skew} s of server time"
            ),
            "auth_error",
        )),
    }
}
