//! AliExpress Open Platform gateway: `/sync` (business methods) and `/rest/auth/token/*` (path-style).
//!
//! Checks run in §10.5 order: app key, signature, timestamp, method, access token (`ds.*`), then the quota
//! (§10.6), then injected faults (§10.7). Every gateway error on `/sync` is HTTP 200 with
//! `{"error_response":{"type":"ISV","code":…,"msg":…,"request_id":…,"_trace_id_":…}}`.
//! Path-style (`/rest/…`) errors use the IOP shape `{"type":"ISV","code":…,"message":…,"request_id":…}` at
//! the top level, and success carries `"code":"0"`.

pub mod affiliate;
pub mod methods;
pub mod sign;

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::faults;
use crate::hashing::splitmix64;
use crate::reply::{Reply, finish};
use crate::state::{AppState, Shared, Upstream};
use sign::SignMethod;

/// Business methods the sandbox implements.
pub const METHODS: &[&str] = &[
    "aliexpress.ds.product.get",
    "aliexpress.ds.freight.query",
    "aliexpress.ds.text.search",
    "aliexpress.affiliate.productdetail.get",
    "aliexpress.affiliate.product.query",
    "aliexpress.affiliate.hotproduct.query",
];

/// Routes of the AliExpress gateway.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/sync", get(sync).post(sync))
        .route("/rest/auth/token/create", get(token_create).post(token_create))
        .route("/rest/auth/token/refresh", get(token_refresh).post(token_refresh))
}

/// Merged query + form-body parameters (body wins on duplicates).
pub struct Params(pub BTreeMap<String, String>);

impl Params {
    fn parse(query: Option<&str>, body: &[u8]) -> Self {
        let mut map = BTreeMap::new();
        if let Some(q) = query {
            map.extend(url::form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        map.extend(url::form_urlencoded::parse(body).into_owned());
        Self(map)
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A non-empty parameter's value.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    fn pairs(&self) -> Vec<(String, String)> {
        self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

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

fn throttle_msg(ban_secs: u64) -> String {
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

/// Gateway checks shared by `/sync` and `/rest`: app key, signature, timestamp. Returns the app key.
fn check_gateway(
    st: &AppState,
    params: &Params,
    path: Option<&str>,
) -> Result<String, (&'static str, String, &'static str)> {
    let cfg = &st.cfg;
    let app_key = params.get("app_key").unwrap_or_default();
    let Some(app) = cfg.ae_app(app_key) else {
        return Err(("InvalidAppKey", "The specified App Key is invalid".into(), "auth_error"));
    };
    let bad_sign = (
        "IncompleteSignature",
        "The request signature does not conform to platform standards".into(),
        "auth_error",
    );
    let (Some(method), Some(sign)) = (SignMethod::parse(params.get("sign_method")), params.non_empty("sign")) else {
        return Err(bad_sign);
    };
    if !sign::verify(method, &app.secret, path, &params.pairs(), sign) {
        return Err(bad_sign);
    }
    let skew = cfg.timestamp_skew_secs;
    match params.get("timestamp").and_then(parse_timestamp) {
        Some(t) if (Utc::now() - t).num_seconds().abs() <= skew => Ok(app.app_key.clone()),
        _ => Err((
            "InvalidTimestamp",
            format!(
                "Invalid timestamp: must be epoch milliseconds or yyyy-MM-dd HH:mm:ss GMT+8 within {skew} s of server time"
            ),
            "auth_error",
        )),
    }
}

async fn sync(State(st): State<Shared>, headers: HeaderMap, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let params = Params::parse(query.as_deref(), &body);
    let plan = faults::plan(&st, Upstream::AliExpress, &headers);
    let rid = request_id(st.cfg.seed, plan.seq);
    let method_name = params.get("method").unwrap_or_default().to_string();
    let known = METHODS.contains(&method_name.as_str());
    let label = if known { method_name.as_str() } else { "unknown" };
    let reply = sync_reply(&st, &params, &method_name, known, &rid, plan);
    finish(&st, Upstream::AliExpress, label, plan.delay, reply).await
}

fn sync_reply(st: &AppState, params: &Params, method: &str, known: bool, rid: &str, plan: faults::Plan) -> Reply {
    let app_key = match check_gateway(st, params, None) {
        Ok(k) => k,
        Err((code, msg, outcome)) => return error_reply(code, &msg, rid, outcome),
    };
    if !known {
        return error_reply(
            "InvalidApiPath",
            &format!("The specified API path is invalid: {method}"),
            rid,
            "bad_request",
        );
    }
    if method.starts_with("aliexpress.ds.") {
        let token = params.non_empty("session").or_else(|| params.non_empty("access_token"));
        if !token.is_some_and(|t| st.cfg.credentials.ae_access_tokens.iter().any(|k| k == t)) {
            return error_reply(
                "IllegalAccessToken",
                "The specified access token is invalid or expired",
                rid,
                "auth_error",
            );
        }
    }
    let limits = st.runtime().limits.clone();
    if let Err(ban) = st.quotas.ae_take(&app_key, &limits, Utc::now()) {
        return error_reply("ApiCallLimit", &throttle_msg(ban), rid, "throttled");
    }
    let success = methods::call(&st.cfg, method, params, rid);
    match plan.fault {
        None => success,
        Some(f) => faults::apply(f, plan.hold, success, || {
            error_reply("ApiCallLimit", &throttle_msg(1), rid, "throttled")
        }),
    }
}

fn rest_error(code: &str, message: &str, rid: &str, outcome: &'static str) -> Reply {
    Reply::json(
        StatusCode::OK,
        &json!({"type": "ISV", "code": code, "message": message, "request_id": rid}),
        outcome,
    )
}

async fn token_create(st: State<Shared>, h: HeaderMap, q: RawQuery, body: Bytes) -> Response {
    token(st, h, q, body, "/auth/token/create", "code").await
}

async fn token_refresh(st: State<Shared>, h: HeaderMap, q: RawQuery, body: Bytes) -> Response {
    token(st, h, q, body, "/auth/token/refresh", "refresh_token").await
}

async fn token(
    State(st): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
    path: &'static str,
    required: &'static str,
) -> Response {
    let params = Params::parse(query.as_deref(), &body);
    let plan = faults::plan(&st, Upstream::AliExpress, &headers);
    let rid = request_id(st.cfg.seed, plan.seq);
    let reply = match check_gateway(&st, &params, Some(path)) {
        Err((code, msg, outcome)) => rest_error(code, &msg, &rid, outcome),
        Ok(_) if params.non_empty(required).is_none() => rest_error(
            "MissingParameter",
            &format!(
                "The input parameter \"{required}\" that is mandatory for processing this request is not supplied"
            ),
            &rid,
            "bad_request",
        ),
        Ok(_)
            if required == "refresh_token"
                && params.get(required) != Some(st.cfg.credentials.ae_refresh_token.as_str()) =>
        {
            rest_error(
                "IllegalRefreshToken",
                "The specified refresh token is invalid or expired",
                &rid,
                "auth_error",
            )
        }
        Ok(_) => {
            let access = st.cfg.credentials.ae_access_tokens.first().cloned().unwrap_or_default();
            let body: Value = json!({
                "access_token": access, "refresh_token": st.cfg.credentials.ae_refresh_token,
                "expires_in": 2_592_000, "refresh_expires_in": 5_184_000, "account_id": "200000001",
                "user_id": "200000001", "seller_id": "200000001", "account": "sandbox@dropforge.test",
                "account_platform": "buyerApp", "sp": "ae", "locale": "en_US", "user_nick": "sandbox",
                "code": "0", "request_id": rid
            });
            Reply::json(StatusCode::OK, &body, "ok")
        }
    };
    let reply = match plan.fault {
        Some(f) if reply.outcome == "ok" => faults::apply(f, plan.hold, reply, || {
            rest_error("ApiCallLimit", &throttle_msg(1), &rid, "throttled")
        }),
        _ => reply,
    };
    let label = if required == "code" {
        "auth.token.create"
    } else {
        "auth.token.refresh"
    };
    finish(&st, Upstream::AliExpress, label, plan.delay, reply).await
}
