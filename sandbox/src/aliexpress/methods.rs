//! `/sync` business methods: dispatch, envelopes, and the cache of their answers. An answer is keyed
//! by the method and every parameter except the per-call `timestamp` and `sign` (plus the UTC day for
//! `ds.freight.query`, whose delivery dates follow the clock); its request id and `ds.product.get`'s
//! clock-relative times are filled in per request.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::gateway::error_reply;
use super::params::Params;
use super::{affiliate, ds};
use crate::bodies::{Built, Key};
use crate::jsonw::{Obj, object};
use crate::reply::Reply;
use crate::state::AppState;
use crate::template::{Cut, Fill, Hole};

/// What a method needs to build its answer.
pub struct Ctx<'a> {
    pub st: &'a AppState,
    pub params: &'a Params<'a>,
    pub rid: &'a str,
    pub now: DateTime<Utc>,
}

/// Answers a known business method (from the cache when the same call was answered before).
pub fn call(st: &AppState, method: &str, params: &Params<'_>, rid: &str, now: DateTime<Utc>) -> Reply {
    let mut key = Key::new(method);
    for (k, v) in params.pairs().filter(|(k, _)| *k != "timestamp" && *k != "sign") {
        key = key.part(k).part(v);
    }
    if method == ds::FREIGHT_QUERY {
        key = key.num(now.timestamp().div_euclid(86_400));
    }
    let ctx = Ctx { st, params, rid, now };
    let fill = Fill { request_id: rid, now };
    st.bodies.answer(key, &fill, || build(&ctx, method))
}

fn build(ctx: &Ctx<'_>, method: &str) -> Result<Built, Reply> {
    match method {
        ds::PRODUCT_GET => ds::product_get(ctx),
        ds::FREIGHT_QUERY => ds::freight_query(ctx),
        ds::TEXT_SEARCH => ds::text_search(ctx),
        "aliexpress.affiliate.productdetail.get" => affiliate::product_detail(ctx),
        "aliexpress.affiliate.product.query" => affiliate::product_query(ctx, false),
        "aliexpress.affiliate.hotproduct.query" => affiliate::product_query(ctx, true),
        _ => Err(error_reply(
            "InvalidApiPath",
            "The specified API path is invalid",
            ctx.rid,
            "bad_request",
        )),
    }
}

/// A missing mandatory business parameter (gateway-style error).
pub fn missing(name: &str, rid: &str) -> Reply {
    error_reply(
        "MissingParameter",
        &format!("The input parameter \"{name}\" that is mandatory for processing this request is not supplied."),
        rid,
        "bad_request",
    )
}

/// An answer that could not be serialized (never expected).
pub fn internal(e: &serde_json::Error) -> Reply {
    tracing::error!(error = %e, "cannot serialize an AliExpress answer");
    Reply::json(
        StatusCode::INTERNAL_SERVER_ERROR,
        &json!({"error": "serialization failed"}),
        "internal_error",
    )
}

/// `{"<method with underscores>_response": inner}`, the inner value written by `inner`.
fn envelope(
    method: &str,
    capacity: usize,
    inner: impl FnOnce(&mut Vec<u8>) -> Result<(), Reply>,
) -> Result<Vec<u8>, Reply> {
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(b"{\"");
    out.extend(method.bytes().map(|b| if b == b'.' { b'_' } else { b }));
    out.extend_from_slice(b"_response\":");
    inner(&mut out)?;
    out.push(b'}');
    Ok(out)
}

fn with_request_id(ctx: &Ctx<'_>, json: Vec<u8>, outcome: &'static str, mut cuts: Vec<Cut>) -> Built {
    cuts.push(Cut {
        key: "request_id",
        value: ctx.rid.to_string(),
        hole: Hole::RequestId,
    });
    Built { json, outcome, cuts }
}

/// An enveloped answer from a serializable value (the rare shapes: not found, bad request).
pub fn built<T: Serialize + ?Sized>(
    ctx: &Ctx<'_>,
    method: &str,
    inner: &T,
    outcome: &'static str,
) -> Result<Built, Reply> {
    let json = envelope(method, 256, |out| {
        serde_json::to_writer(out, inner).map_err(|e| internal(&e))
    })?;
    Ok(with_request_id(ctx, json, outcome, Vec::new()))
}

/// An enveloped answer (about `capacity` bytes) whose object `f` writes; the request id (and the
/// `extra` values) vary per request.
pub fn built_with(
    ctx: &Ctx<'_>,
    method: &str,
    capacity: usize,
    outcome: &'static str,
    extra: Vec<Cut>,
    f: impl FnOnce(&mut Obj<'_>),
) -> Result<Built, Reply> {
    let json = envelope(method, capacity, |out| {
        object(out, f);
        Ok(())
    })?;
    Ok(with_request_id(ctx, json, outcome, extra))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeDelta;

    use super::*;
    use crate::config::SandboxConfig;

    #[test]
    fn cached_answers_get_this_requests_id_and_clock() {
        let cached = AppState::new(Arc::new(SandboxConfig::for_tests()));
        let fresh = AppState::new(Arc::new(SandboxConfig::for_tests().with_cache_bytes(0)));
        let t0 = DateTime::from_timestamp(1_748_736_000, 0).unwrap_or_default();
        let req = r#"{"productId":"1005000000000002","quantity":2,"currency":"EUR"}"#;
        let calls = [
            (
                ds::PRODUCT_GET,
                "product_id=1005000000000001&ship_to_country=de&target_currency=EUR".to_string(),
            ),
            (ds::FREIGHT_QUERY, format!("queryDeliveryReq={req}")),
            (ds::TEXT_SEARCH, "keyWord=magnetic+lamp&pageSize=3".to_string()),
            (
                "aliexpress.affiliate.productdetail.get",
                "product_ids=1005000000000003".to_string(),
            ),
        ];
        for (method, query) in &calls {
            let params = Params::parse(Some(query), b"");
            for (i, secs) in [0i64, 7, 86_400 + 7, 86_400 + 3_599, 40 * 86_400 + 1]
                .into_iter()
                .enumerate()
            {
                let now = t0 + TimeDelta::seconds(secs);
                let rid = format!("21abc{i}");
                let a = call(&cached, method, &params, &rid, now);
                let b = call(&fresh, method, &params, &rid, now);
                assert_eq!(a.body, b.body, "{method} at +{secs} s");
                assert_eq!(a.outcome, b.outcome);
            }
        }
        // Each answer was kept from its second request on; freight's once per day (days 0 and 1).
        assert_eq!(cached.bodies.len(), 3 + 2);
        assert!(fresh.bodies.is_empty());
    }
}
