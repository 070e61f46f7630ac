//! AliExpress Open Platform gateway: `/sync` (business methods) and `/rest/auth/token/*` (path-style).
//!
//! Checks run in the order of docs/design/upstreams.md §7.4: app key, signature, timestamp, method, access
//! token (`ds.*`), the quota (§7.5), then injected faults (§7.6). Every gateway error on `/sync` is HTTP 200 with
//! `{"error_response":{"type":"ISV","code":…,"msg":…,"request_id":…,"_trace_id_":…}}`.
//! Path-style (`/rest/…`) errors use the IOP shape `{"type":"ISV","code":…,"message":…,"request_id":…}` at
//! the top level, and success carries `"code":"0"`.

pub mod affiliate;
pub mod ds;
pub mod gateway;
pub mod methods;
pub mod params;
pub mod sign;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use serde_json::{Value, json};

use crate::faults;
use crate::reply::{Reply, finish};
use crate::state::{AppState, Shared, Upstream};
pub use gateway::{error_reply, parse_timestamp, request_id};
use gateway::{rest_error, throttle_msg};
pub use params::Params;

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

/// Splits a request into its head and its whole body (rejected exactly like the `Bytes` extractor).
async fn read(req: Request) -> Result<(Parts, Bytes), Response> {
    let (parts, body) = req.into_parts();
    match Bytes::from_request(Request::new(body), &()).await {
        Ok(bytes) => Ok((parts, bytes)),
        Err(rejection) => Err(rejection.into_response()),
    }
}

async fn sync(State(st): State<Shared>, req: Request) -> Response {
    let (parts, body) = match read(req).await {
        Ok(r) => r,
        Err(rejected) => return rejected,
    };
    let plan = faults::plan(&st, Upstream::AliExpress, &parts.headers);
    let rid = request_id(st.cfg.seed, plan.seq);
    let (label, reply) = {
        let params = Params::parse(parts.uri.query(), &body);
        let method = params.get("method").unwrap_or_default();
        let label = METHODS.iter().copied().find(|m| *m == method);
        let reply = sync_reply(&st, &params, method, label.is_some(), &rid, plan);
        (label.unwrap_or("unknown"), reply)
    };
    finish(&st, Upstream::AliExpress, label, plan.delay, reply).await
}

fn sync_reply(st: &AppState, params: &Params<'_>, method: &str, known: bool, rid: &str, plan: faults::Plan) -> Reply {
    let app_key = match gateway::check(&st.cfg, params, None) {
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
    if let Err(ban) = st.quotas.ae_take(app_key, &limits, Utc::now()) {
        return error_reply("ApiCallLimit", &throttle_msg(ban), rid, "throttled");
    }
    let success = methods::call(st, method, params, rid, st.cfg.now());
    match plan.fault {
        None => success,
        Some(f) => faults::apply(f, plan.hold, success, || {
            error_reply("ApiCallLimit", &throttle_msg(1), rid, "throttled")
        }),
    }
}

async fn token_create(st: State<Shared>, req: Request) -> Response {
    token(st, req, "/auth/token/create", "code").await
}

async fn token_refresh(st: State<Shared>, req: Request) -> Response {
    token(st, req, "/auth/token/refresh", "refresh_token").await
}

async fn token(State(st): State<Shared>, req: Request, path: &'static str, required: &'static str) -> Response {
    let (parts, body) = match read(req).await {
        Ok(r) => r,
        Err(rejected) => return rejected,
    };
    let plan = faults::plan(&st, Upstream::AliExpress, &parts.headers);
    let rid = request_id(st.cfg.seed, plan.seq);
    let reply = {
        let params = Params::parse(parts.uri.query(), &body);
        token_reply(&st, &params, path, required, &rid)
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

fn token_reply(st: &AppState, params: &Params<'_>, path: &str, required: &str, rid: &str) -> Reply {
    match gateway::check(&st.cfg, params, Some(path)) {
        Err((code, msg, outcome)) => rest_error(code, &msg, rid, outcome),
        Ok(_) if params.non_empty(required).is_none() => rest_error(
            "MissingParameter",
            &format!(
                "The input parameter \"{required}\" that is mandatory for processing this request is not supplied"
            ),
            rid,
            "bad_request",
        ),
        Ok(_)
            if required == "refresh_token"
                && params.get(required) != Some(st.cfg.credentials.ae_refresh_token.as_str()) =>
        {
            rest_error(
                "IllegalRefreshToken",
                "The specified refresh token is invalid or expired",
                rid,
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
    }
}
