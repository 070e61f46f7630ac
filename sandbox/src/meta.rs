//! Meta Ad Library imitation: `GET /{version}/ads_archive` with token check, country parsing, the DSA
//! scope rule, field selection, opaque cursors, absolute `paging.next`, `x-app-usage` and the 613 throttle.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use chrono::Utc;
use serde_json::{Value, json};

use crate::data::ads::{self, Status};
use crate::data::keyword::KeywordProfile;
use crate::faults::{self, header_name};
use crate::hashing::splitmix64;
use crate::reply::{Reply, finish};
use crate::state::{AppState, Shared, Upstream};

/// EU + EEA country codes: commercial ads are returned only when one of these (or `ALL`) is requested.
const EU_EEA: &[&str] = &[
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT",
    "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
];
const AD_TYPES: &[&str] = &[
    "ALL",
    "POLITICAL_AND_ISSUE_ADS",
    "HOUSING_ADS",
    "EMPLOYMENT_ADS",
    "FINANCIAL_PRODUCTS_AND_SERVICES_ADS",
];

/// Route of the Ad Library.
pub fn routes() -> Router<Shared> {
    Router::new().route("/{version}/ads_archive", get(ads_archive))
}

fn valid_version(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else { return false };
    let mut parts = rest.split('.');
    let digits = |s: Option<&str>| s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    digits(parts.next()) && digits(parts.next()) && parts.next().is_none()
}

/// Parses `['IE','DE']`, `["IE"]` or `IE,DE` into upper-case codes; `None` when empty or malformed.
pub fn parse_countries(v: &str) -> Option<Vec<String>> {
    let inner = v.trim().trim_start_matches('[').trim_end_matches(']');
    let list: Vec<String> = inner
        .split(',')
        .map(|s| {
            s.trim()
                .trim_matches(|c| c == '\'' || c == '"')
                .trim()
                .to_ascii_uppercase()
        })
        .filter(|s| !s.is_empty())
        .collect();
    let ok = |c: &String| c == "ALL" || (c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()));
    (!list.is_empty() && list.iter().all(ok)).then_some(list)
}

/// Encodes an offset as an opaque cursor: base64url("o:<offset>").
pub fn encode_cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

fn decode_cursor(c: &str) -> Option<usize> {
    let c = c.trim();
    let bytes = URL_SAFE_NO_PAD
        .decode(c)
        .or_else(|_| URL_SAFE.decode(c))
        .or_else(|_| STANDARD.decode(c))
        .ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("o:")?.parse().ok()
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

fn usage(used: u64, limit: u64, delay_ms: f64) -> String {
    let call = (used.saturating_mul(100) / limit.max(1)).min(100);
    let time = (call + (delay_ms / 100.0) as u64).min(100);
    json!({"call_count": call, "total_cputime": call / 3, "total_time": time}).to_string()
}

async fn ads_archive(
    State(st): State<Shared>,
    Path(version): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let plan = faults::plan(&st, Upstream::Meta, &headers);
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let (reply, used) = respond(&st, &version, &headers, &pairs, plan);
    let limit = st.runtime().limits.meta_per_token_per_hour;
    let reply = reply.with_header(
        header_name("x-app-usage"),
        usage(used, limit, plan.delay.as_secs_f64() * 1000.0),
    );
    finish(&st, Upstream::Meta, "ads_archive", plan.delay, reply).await
}

/// Builds the answer and reports the calls used in the token's window (for `x-app-usage`).
fn respond(
    st: &AppState,
    version: &str,
    headers: &HeaderMap,
    pairs: &[(String, String)],
    plan: faults::Plan,
) -> (Reply, u64) {
    let seq = plan.seq;
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
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
    let token = get("access_token").or(bearer).unwrap_or_default().to_string();
    if !st.cfg.credentials.meta_tokens.contains(&token) {
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
    let used = match st.quotas.meta_take(&token, &rt.limits, Utc::now()) {
        Ok(u) => u,
        Err(u) => {
            let status = StatusCode::from_u16(rt.limits.meta_throttle_status).unwrap_or(StatusCode::BAD_REQUEST);
            let msg = "(#613) Calls to this api have exceeded the rate limit.";
            return (error(status, 613, msg, "OAuthException", seq, "throttled"), u);
        }
    };
    let limit = get("limit")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(25)
        .min(500);
    let fields: Vec<String> = get("fields")
        .unwrap_or_default()
        .split(',')
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .collect();
    let in_scope = !st.cfg.emulate_dsa_scope || countries.iter().any(|c| c == "ALL" || EU_EEA.contains(&c.as_str()));
    let commercial = ad_type == "ALL" && in_scope;
    let all = if commercial {
        let profile = KeywordProfile::of(st.cfg.seed, get("search_terms").unwrap_or_default());
        ads::ads_for(st.cfg.seed, &profile, status, st.cfg.now())
    } else {
        Vec::new()
    };
    let page: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|a| ads::render(a, &fields, &token))
        .collect();
    let mut body = json!({"data": page});
    if !page.is_empty() {
        let end = offset + page.len();
        let mut paging = json!({"cursors": {"before": encode_cursor(offset), "after": encode_cursor(end)}});
        if end < all.len() {
            paging["next"] = json!(next_url(st, headers, version, pairs, end));
        }
        body["paging"] = paging;
    }
    let success = Reply::json(StatusCode::OK, &body, "ok");
    let reply = match plan.fault {
        None => success,
        Some(f) => faults::apply(f, plan.hold, success, || {
            let status = StatusCode::from_u16(rt.limits.meta_throttle_status).unwrap_or(StatusCode::BAD_REQUEST);
            error(
                status,
                613,
                "(#613) Calls to this api have exceeded the rate limit.",
                "OAuthException",
                seq,
                "throttled",
            )
        }),
    };
    (reply, used)
}

/// Base URL for absolute links: the configured public URL, else the request's Host.
pub fn public_base(st: &AppState, headers: &HeaderMap) -> String {
    match &st.cfg.public_base_url {
        Some(b) => b.trim_end_matches('/').to_string(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1:8089");
            format!("http://{host}")
        }
    }
}

fn next_url(st: &AppState, headers: &HeaderMap, version: &str, pairs: &[(String, String)], after: usize) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(k, _)| k != "after" && k != "before") {
        ser.append_pair(k, v);
    }
    ser.append_pair("after", &encode_cursor(after));
    format!("{}/{version}/ads_archive?{}", public_base(st, headers), ser.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_country_spellings() {
        assert_eq!(
            parse_countries("['IE','DE']"),
            Some(vec!["IE".to_string(), "DE".to_string()])
        );
        assert_eq!(parse_countries("[\"IE\"]"), Some(vec!["IE".to_string()]));
        assert_eq!(parse_countries("IE,de"), Some(vec!["IE".to_string(), "DE".to_string()]));
        assert_eq!(parse_countries("[]"), None);
        assert_eq!(parse_countries("IRL"), None);
    }

    #[test]
    fn cursor_round_trip_and_versions() {
        assert_eq!(decode_cursor(&encode_cursor(125)), Some(125));
        assert_eq!(decode_cursor("bzoyNQ=="), Some(25));
        assert!(valid_version("v21.0") && !valid_version("v21") && !valid_version("21.0"));
    }
}
