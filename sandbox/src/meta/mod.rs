//! Meta Ad Library imitation: `GET /{version}/ads_archive` with token check, country parsing, the DSA
//! scope rule, field selection, opaque cursors, absolute `paging.next`, `x-app-usage` and the 613 throttle.

pub mod page;
pub mod query;

use std::borrow::Cow;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use chrono::Utc;
use serde_json::json;

use crate::bodies::{Built, Key};
use crate::data::ads::Status;
use crate::faults::{self, header_name};
use crate::form;
use crate::hashing::splitmix64;
use crate::reply::{Reply, finish};
use crate::state::{AppState, Shared, Upstream};
use crate::template::Fill;
use page::PageArgs;
pub use page::public_base;
use query::{AD_TYPES, decode_cursor, in_dsa_scope, valid_version};
pub use query::{encode_cursor, parse_countries};

/// Route of the Ad Library.
pub fn routes() -> Router<Shared> {
    Router::new().route("/{version}/ads_archive", get(ads_archive))
}

fn error(status: StatusCode, code: u32, message: &str, kind: &str, seq: u64, outcome: &'static str) -> Reply {
    let trace = format!("A{:010x}", splitmix64(seq ^ 0xfb) >> 24);
    let body = json!({"error": {"message": message, "type": kind, "code": code, "fbtrace_id": trace}});
    Reply::json(status, &body, outcome)
}

fn bad_param(message: &str, seq: u64) -> Reply {
    error(
        StatusCode::BAD_REQUEST,
        100,
        message,
        "OAuthException",
        seq,
        "bad_request",
    )
}

/// The `x-app-usage` header: `{"call_count":…,"total_cputime":…,"total_time":…}` (percent of the limits).
fn usage(used: u64, limit: u64, delay_ms: f64) -> String {
    let call = (used.saturating_mul(100) / limit.max(1)).min(100);
    let time = (call + (delay_ms / 100.0) as u64).min(100);
    format!(
        "{{\"call_count\":{call},\"total_cputime\":{},\"total_time\":{time}}}",
        call / 3
    )
}

async fn ads_archive(State(st): State<Shared>, Path(version): Path<String>, req: Request) -> Response {
    let (headers, uri) = (req.headers(), req.uri());
    let plan = faults::plan(&st, Upstream::Meta, headers);
    let raw = uri.query().unwrap_or_default();
    let (reply, used) = {
        let pairs = form::parse(raw.as_bytes());
        respond(&st, &version, headers, raw, &pairs, plan)
    };
    let limit = st.runtime().limits.meta_per_token_per_hour;
    let usage = usage(used, limit, plan.delay.as_secs_f64() * 1000.0);
    let reply = match HeaderValue::from_maybe_shared(Bytes::from(usage)) {
        Ok(v) => reply.with_header(header_name("x-app-usage"), v),
        Err(_) => reply,
    };
    finish(&st, Upstream::Meta, "ads_archive", plan.delay, reply).await
}

/// Builds the answer and reports the calls used in the token's window (for `x-app-usage`).
fn respond(
    st: &AppState,
    version: &str,
    headers: &HeaderMap,
    raw: &str,
    pairs: &[(Cow<'_, str>, Cow<'_, str>)],
    plan: faults::Plan,
) -> (Reply, u64) {
    let seq = plan.seq;
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_ref());
    if !valid_version(version) {
        let msg = format!("Unknown path components: /{version}/ads_archive");
        return (
            error(
                StatusCode::BAD_REQUEST,
                2500,
                &msg,
                "OAuthException",
                seq,
                "bad_request",
            ),
            0,
        );
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("OAuth ")));
    let token = get("access_token").or(bearer).unwrap_or_default();
    if !st.cfg.credentials.meta_tokens.iter().any(|t| t == token) {
        let r = error(
            StatusCode::BAD_REQUEST,
            190,
            "Invalid OAuth access token data.",
            "OAuthException",
            seq,
            "auth_error",
        );
        return (r, 0);
    }
    let Some(countries) = get("ad_reached_countries").and_then(parse_countries) else {
        return (
            bad_param(
                "(#100) The parameter ad_reached_countries is required and must be a list of ISO country codes",
                seq,
            ),
            0,
        );
    };
    let status = match get("ad_active_status").map(str::to_ascii_uppercase).as_deref() {
        None | Some("ACTIVE") => Status::Active,
        Some("INACTIVE") => Status::Inactive,
        Some("ALL") => Status::All,
        Some(other) => return (bad_param(&format!("(#100) Invalid ad_active_status: {other}"), seq), 0),
    };
    let ad_type = get("ad_type")
        .map(str::to_ascii_uppercase)
        .unwrap_or_else(|| "ALL".into());
    if !AD_TYPES.contains(&ad_type.as_str()) {
        return (bad_param(&format!("(#100) Invalid ad_type: {ad_type}"), seq), 0);
    }
    let offset = match get("after") {
        None => 0,
        Some(c) => match decode_cursor(c) {
            Some(o) => o,
            None => return (bad_param("(#100) Invalid cursor in parameter after", seq), 0),
        },
    };
    let rt = st.runtime();
    let throttle_status = || StatusCode::from_u16(rt.limits.meta_throttle_status).unwrap_or(StatusCode::BAD_REQUEST);
    let throttled = |outcome| {
        let msg = "(#613) Calls to this api have exceeded the rate limit.";
        error(throttle_status(), 613, msg, "OAuthException", seq, outcome)
    };
    let used = match st.quotas.meta_take(token, &rt.limits, Utc::now()) {
        Ok(u) => u,
        Err(u) => return (throttled("throttled"), u),
    };
    let args = PageArgs {
        version,
        pairs,
        token,
        status,
        commercial: ad_type == "ALL" && (!st.cfg.emulate_dsa_scope || in_dsa_scope(&countries)),
        search_terms: get("search_terms").unwrap_or_default(),
        offset,
        limit: get("limit")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|l| *l > 0)
            .unwrap_or(25)
            .min(500),
        fields: get("fields").unwrap_or_default(),
    };
    let success = page_reply(st, headers, raw, bearer, &args);
    let reply = match plan.fault {
        None => success,
        Some(f) => faults::apply(f, plan.hold, success, || throttled("throttled")),
    };
    (reply, used)
}

/// The page for `args`, from the answer cache when the same query was answered the same UTC day.
fn page_reply(st: &AppState, headers: &HeaderMap, raw: &str, bearer: Option<&str>, args: &PageArgs<'_>) -> Reply {
    let now = st.cfg.now();
    let mut key = Key::new("ads_archive")
        .part(args.version)
        .part(raw)
        .part(bearer.unwrap_or_default())
        .num(now.timestamp().div_euclid(86_400));
    if st.cfg.public_base_url.is_none() {
        let host = headers.get(header::HOST).map(HeaderValue::as_bytes);
        key = key.part(host.unwrap_or_default());
    }
    let fill = Fill { request_id: "", now };
    st.bodies.answer(key, &fill, || {
        Ok(Built::fixed(page::build(st, headers, args, now), "ok"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_header_matches_json() {
        for (used, limit, delay) in [(0, 1, 0.0), (5, 200, 150.0), (300, 200, 9_000.0), (7, 0, 12.5)] {
            let call = (used * 100 / limit.max(1)).min(100);
            let time = (call + (delay / 100.0) as u64).min(100);
            let want = json!({"call_count": call, "total_cputime": call / 3, "total_time": time}).to_string();
            assert_eq!(usage(used, limit, delay), want);
        }
    }
}
