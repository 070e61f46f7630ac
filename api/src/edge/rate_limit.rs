//! Distributed rate limiting: a GCRA Lua script in Redis decides every policy that applies (per
//! client IP, per API key or its per-route override) atomically, so one limit holds across all
//! replicas; concurrent requests share one script call ([`super::decisions`]). Redis errors or a
//! script call slower than `rate_limit_timeout` (from when it is sent) switch the per-IP policy to
//! the in-process fallback (the per-key policy is skipped then), and keep using it for
//! [`BREAKER`] before Redis is tried again.
//!
//! Answers carry draft-ietf-httpapi-ratelimit-headers-11 `RateLimit-Policy` / `RateLimit`; denials
//! are `429` quota-exceeded problems with `Retry-After`. Partition keys are never sent.

use std::{
    cmp::Reverse,
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, MatchedPath, Request},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use dropforge_common::{
    apikey,
    config::{EdgeConfig, RatePolicy},
    metric_names::RATE_LIMITED_TOTAL,
};

use super::{
    EdgeInner, EdgeState, client_ip,
    decisions::{Bucket, Decider},
    fallback::{Decision, Gcra},
};
use crate::problem::Problem;

/// Counter: rate-limit decisions taken by the in-process fallback.
pub const RATELIMIT_FALLBACK_TOTAL: &str = dropforge_common::metric_names::RATELIMIT_FALLBACK_TOTAL;
/// Counter: Redis errors and timeouts seen by the limiter (alert when non-zero for 5 min).
pub const RATELIMIT_BACKEND_ERRORS_TOTAL: &str = dropforge_common::metric_names::RATELIMIT_BACKEND_ERRORS_TOTAL;
/// After a Redis failure the limiter uses the fallback directly for this long.
pub const BREAKER: Duration = Duration::from_secs(1);
/// Problem type of a 429 (draft-ietf-httpapi-ratelimit-headers §5).
pub const QUOTA_EXCEEDED: &str = "https://iana.org/assignments/http-problem-types#quota-exceeded";

static WARNED_NO_PEER: AtomicBool = AtomicBool::new(false);

/// How long a request waits for its decision at most. The decision task bounds each Redis call by
/// `rate_limit_timeout`, measured from when the call is sent, and answers the whole group with
/// "Redis too slow" when it runs out; this only guards against a task that stopped answering.
/// A deadline measured from the request's side would count the time the request waited for a
/// CPU: on a saturated API it expired while Redis answered in a millisecond, and the limiter fell
/// back to its per-replica share for a breaker period at a time. (The decision task runs on a
/// thread of its own, so its calls do not wait for the API's CPU either.)
const DECISION_BACKSTOP: Duration = Duration::from_secs(1);

/// Policy names as they appear in headers and the `policy` metric label.
pub const PER_IP: &str = "per-ip";
/// Per API key.
pub const PER_KEY: &str = "per-key";
/// Per API key on one route (overrides `per-key` there).
pub const PER_ROUTE: &str = "per-route";

/// The limiter's configuration, prepared once.
pub struct Limits {
    pub(crate) enabled: bool,
    pub(crate) ip: RatePolicy,
    pub(crate) key: RatePolicy,
    pub(crate) routes: HashMap<String, RatePolicy>,
    pub(crate) timeout: Duration,
    pub(crate) trusted: Vec<ipnet::IpNet>,
    /// `RateLimit-Policy` values already written, by the policies they list (a handful: the
    /// combinations of per-IP, per-key, each route override and the fallback's share).
    policy_headers: Mutex<Vec<PolicyHeader>>,
}

/// A `RateLimit-Policy` value and the policies it lists, by name.
type PolicyHeader = (Vec<(&'static str, RatePolicy)>, HeaderValue);

/// Most `RateLimit-Policy` values kept (beyond, a value is written per answer).
const POLICY_HEADERS_KEPT: usize = 32;

impl Limits {
    /// From the edge configuration; route names are normalised to `METHOD /template`.
    pub fn from_config(e: &EdgeConfig) -> Self {
        Self {
            enabled: e.rate_limit_enabled,
            ip: e.rate_limit_ip,
            key: e.rate_limit_key,
            routes: e
                .rate_limit_routes
                .iter()
                .map(|(route, policy)| (normalise_route(route), *policy))
                .collect(),
            timeout: e.rate_limit_timeout,
            trusted: e.trusted_proxies.clone(),
            policy_headers: Mutex::new(Vec::new()),
        }
    }
}

fn normalise_route(route: &str) -> String {
    let mut parts = route.split_whitespace();
    let method = parts.next().unwrap_or_default().to_ascii_uppercase();
    let path = parts.collect::<Vec<_>>().join(" ");
    format!("{method} {path}")
}

/// Routes that are never limited: everything outside `/v1`.
pub fn is_limited_path(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

/// One policy applied to this request.
struct Check {
    name: &'static str,
    policy: RatePolicy,
}

/// The bucket `key` of `policy` with its GCRA parameters, for the decision script.
fn bucket(key: String, policy: RatePolicy) -> Bucket {
    let gcra = Gcra::new(policy.limit, policy.window);
    Bucket {
        key,
        interval_us: gcra.interval_us,
        tolerance_us: gcra.tolerance_us,
        ttl_ms: u64::try_from(policy.window.as_millis()).unwrap_or(u64::MAX / 4),
        extra: 0,
    }
}

/// A policy's decision, with the policy actually applied (the fallback's is smaller).
struct Outcome {
    name: &'static str,
    policy: RatePolicy,
    decision: Decision,
}

/// The rate limit around `run` (the rest of the stack): refused requests never reach it, admitted
/// ones get the `RateLimit` headers on its answer. Called by the edge's combined layer
/// (`super::limit_then_replay`), so that one layer, not two, carries the limiter and idempotency.
pub(crate) async fn around(edge: &EdgeState, req: Request, run: impl AsyncFnOnce(Request) -> Response) -> Response {
    let inner = edge.inner();
    let limits = &inner.limits;
    if !limits.enabled || !is_limited_path(req.uri().path()) {
        return run(req).await;
    }
    let (checks, buckets) = checks(inner, &req);
    if checks.is_empty() {
        return run(req).await;
    }
    let outcomes = decide(inner, &checks, buckets).await;
    let mut denied: Vec<&Outcome> = outcomes.iter().filter(|o| !o.decision.allowed).collect();
    if denied.is_empty() {
        let mut response = run(req).await;
        let tightest = outcomes
            .iter()
            .min_by_key(|o| (o.decision.remaining, Reverse(o.decision.reset_ms)));
        set_headers(limits, response.headers_mut(), &outcomes, tightest);
        return response;
    }
    denied.sort_by_key(|o| Reverse(o.decision.retry_after_ms));
    for o in &denied {
        metrics::counter!(RATE_LIMITED_TOTAL, "policy" => o.name).increment(1);
    }
    inner.denied.fetch_add(1, Ordering::Relaxed);
    too_many_requests(limits, &outcomes, &denied)
}

/// The policies that apply to `req`, each with its bucket.
fn checks(inner: &EdgeInner, req: &Request) -> (Vec<Check>, Vec<Bucket>) {
    let limits = &inner.limits;
    let mut checks = Vec::with_capacity(2);
    let mut buckets = Vec::with_capacity(2);
    let mut add = |name, policy, key| {
        checks.push(Check { name, policy });
        buckets.push(bucket(key, policy));
    };
    match req.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(peer)) => {
            let ip = client_ip::client_ip(*peer, req.headers(), &limits.trusted);
            let mut key = String::with_capacity(inner.prefix.len() + 48);
            key.push_str(&inner.prefix);
            key.push_str(":rl:ip:");
            client_ip::write_bucket(&mut key, ip);
            add(PER_IP, limits.ip, key);
        }
        None => {
            if !WARNED_NO_PEER.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "no peer address (serve with into_make_service_with_connect_info); per-IP limit skipped"
                );
            }
        }
    }
    if let Some(key_id) = bearer_key_id(req.headers()) {
        // Only a deployment with per-route overrides pays for the route's name.
        let route = match limits.routes.is_empty() {
            true => None,
            false => req
                .extensions()
                .get::<MatchedPath>()
                .map(|p| format!("{} {}", req.method(), p.as_str())),
        };
        match route.as_ref().and_then(|r| limits.routes.get(r).map(|p| (r, *p))) {
            Some((route, policy)) => add(PER_ROUTE, policy, format!("{}:rl:route:{route}:{key_id}", inner.prefix)),
            // `concat` sizes the key once (a `format!` grew it on every request).
            None => add(
                PER_KEY,
                limits.key,
                [inner.prefix.as_str(), ":rl:key:", key_id].concat(),
            ),
        }
    }
    (checks, buckets)
}

/// The bearer token of the `Authorization` header, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?
        .trim();
    Some(token)
}

/// The key id of a well-formed bearer key, without verifying it (authentication happens later).
pub fn bearer_key_id(headers: &HeaderMap) -> Option<&str> {
    apikey::parse(bearer_token(headers)?).map(|k| k.id)
}

/// The decision of every policy: from this replica's leased tokens when each bucket has one
/// ([`super::leases`]), else from Redis, else (Redis failing or its breaker open) from the
/// in-process fallback.
async fn decide(inner: &EdgeInner, checks: &[Check], mut buckets: Vec<Bucket>) -> Vec<Outcome> {
    let now_ms = elapsed_ms(inner);
    let breaker_open = now_ms < inner.breaker_until_ms.load(Ordering::Relaxed);
    let decider = match (&inner.limiter_redis, breaker_open) {
        (Some(conn), false) => Some(
            inner
                .decider
                .get_or_init(|| Decider::spawn(conn.clone(), inner.limits.timeout, inner.leases.clone())),
        ),
        _ => None,
    };
    if let Some(spent) = inner.leases.try_spend(&mut buckets) {
        // Refilled ahead, so that requests seldom find the lease dry and wait for Redis.
        if !spent.refill.is_empty() {
            let dropped = match decider {
                Some(decider) => decider.refill(spent.refill).err(),
                None => Some(spent.refill),
            };
            for bucket in dropped.iter().flatten() {
                inner.leases.refill_dropped(&bucket.key);
            }
        }
        return outcomes(checks, spent.decisions);
    }
    // Boxed: most requests are decided from a lease above and never build this state.
    Box::pin(decide_in_redis(inner, checks, buckets, decider)).await
}

/// Each policy's decision, in the order of `checks`.
fn outcomes(checks: &[Check], decisions: Vec<Decision>) -> Vec<Outcome> {
    checks
        .iter()
        .zip(decisions)
        .map(|(c, decision)| Outcome {
            name: c.name,
            policy: c.policy,
            decision,
        })
        .collect()
}

/// The decision of a request no lease could answer: Redis, else the in-process fallback.
async fn decide_in_redis(
    inner: &EdgeInner,
    checks: &[Check],
    buckets: Vec<Bucket>,
    decider: Option<&Decider>,
) -> Vec<Outcome> {
    if let Some(decider) = decider {
        // The buckets stay here for the fallback, should Redis not answer.
        match tokio::time::timeout(DECISION_BACKSTOP, decider.decide(buckets.clone())).await {
            Ok(Ok(decisions)) if decisions.len() == checks.len() => return outcomes(checks, decisions),
            Ok(Ok(_)) => note_fallback(inner, "malformed decision"),
            Ok(Err(e)) => note_fallback(inner, &e.to_string()),
            Err(_) => note_fallback(inner, "the decision task did not answer"),
        }
        inner.backend_errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(RATELIMIT_BACKEND_ERRORS_TOTAL).increment(1);
    }
    // Fallback: only the per-IP policy, at this replica's share of the quota.
    inner.fallback_decisions.fetch_add(1, Ordering::Relaxed);
    metrics::counter!(RATELIMIT_FALLBACK_TOTAL).increment(1);
    checks
        .iter()
        .zip(&buckets)
        .filter(|(c, _)| c.name == PER_IP)
        .map(|(c, b)| Outcome {
            name: c.name,
            policy: inner.fallback.policy,
            decision: inner.fallback.check(&b.key),
        })
        .collect()
}

/// Opens the breaker after a failed decision. Only the request that opens it logs a warning: the
/// requests already waiting when Redis stalled fail together, and one line per breaker period is
/// enough (every fallback decision is counted in `dropforge_ratelimit_fallback_total`).
fn note_fallback(inner: &EdgeInner, why: &str) {
    let now = elapsed_ms(inner);
    let until = now + u64::try_from(BREAKER.as_millis()).unwrap_or(1000);
    let before = inner.breaker_until_ms.fetch_max(until, Ordering::Relaxed);
    if before <= now {
        tracing::warn!(
            reason = why,
            "rate limiter: no decision from Redis; local fallback for {} ms",
            BREAKER.as_millis()
        );
    } else {
        tracing::debug!(reason = why, "rate limiter: no decision from Redis; local fallback");
    }
}

fn elapsed_ms(inner: &EdgeInner) -> u64 {
    u64::try_from(inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX / 2)
}

fn secs_ceil(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

impl Limits {
    /// The `RateLimit-Policy` value listing `outcomes`' policies, written once per combination.
    fn policy_header(&self, outcomes: &[Outcome]) -> Option<HeaderValue> {
        let same = |listed: &[(&'static str, RatePolicy)]| {
            listed.len() == outcomes.len()
                && listed
                    .iter()
                    .zip(outcomes)
                    .all(|((name, policy), o)| *name == o.name && *policy == o.policy)
        };
        let mut kept = self.policy_headers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, value)) = kept.iter().find(|(listed, _)| same(listed)) {
            return Some(value.clone());
        }
        let value = HeaderValue::from_str(
            &outcomes
                .iter()
                .map(|o| format!("\"{}\";q={};w={}", o.name, o.policy.limit, o.policy.window.as_secs()))
                .collect::<Vec<_>>()
                .join(", "),
        )
        .ok()?;
        if kept.len() < POLICY_HEADERS_KEPT {
            kept.push((outcomes.iter().map(|o| (o.name, o.policy)).collect(), value.clone()));
        }
        Some(value)
    }
}

/// `RateLimit-Policy` for every applied policy and `RateLimit` for the most restrictive one.
fn set_headers(limits: &Limits, headers: &mut HeaderMap, outcomes: &[Outcome], tightest: Option<&Outcome>) {
    if let Some(v) = limits.policy_header(outcomes) {
        headers.insert(crate::header_names::RATELIMIT_POLICY, v);
    }
    if let Some(o) = tightest {
        let t = if o.decision.allowed {
            secs_ceil(o.decision.reset_ms)
        } else {
            secs_ceil(o.decision.retry_after_ms).max(1)
        };
        // The string's buffer becomes the header's: one allocation, no copy.
        let value = format!("\"{}\";r={};t={}", o.name, o.decision.remaining, t);
        if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(value)) {
            headers.insert(crate::header_names::RATELIMIT, v);
        }
    }
}

fn too_many_requests(limits: &Limits, outcomes: &[Outcome], denied: &[&Outcome]) -> Response {
    let retry = denied
        .first()
        .map_or(1, |o| secs_ceil(o.decision.retry_after_ms).max(1));
    let names: Vec<&str> = denied.iter().map(|o| o.name).collect();
    let mut response = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "Too many requests",
        format!("Rate limit exceeded ({}); retry in {retry} s.", names.join(", ")),
    )
    .with_type(QUOTA_EXCEEDED)
    .with_violated_policies(names.iter().map(|n| (*n).to_owned()).collect())
    .into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(retry));
    set_headers(limits, headers, outcomes, denied.first().copied());
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_leased_decision_carries_none_of_the_redis_path() {
        fn size<A, B, C, F: std::future::Future>(_: fn(A, B, C) -> F) -> usize {
            std::mem::size_of::<F>()
        }
        fn size4<A, B, C, D, F: std::future::Future>(_: fn(A, B, C, D) -> F) -> usize {
            std::mem::size_of::<F>()
        }
        let leased = size::<&EdgeInner, &[Check], Vec<Bucket>, _>(decide);
        let in_redis = size4::<&EdgeInner, &[Check], Vec<Bucket>, Option<&Decider>, _>(decide_in_redis);
        assert!(
            leased * 2 < in_redis,
            "decide {leased} bytes, its Redis path {in_redis} bytes"
        );
    }

    #[test]
    fn routes_are_normalised_and_paths_filtered() {
        assert_eq!(normalise_route("post   /v1/validations"), "POST /v1/validations");
        assert!(is_limited_path("/v1/jobs/x"));
        for p in ["/health", "/ready", "/metrics", "/openapi.json", "/docs", "/v10"] {
            assert!(!is_limited_path(p), "{p}");
        }
    }

    #[test]
    fn key_id_is_read_without_verifying() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            "Bearer dfk_abcd1234_0123456789abcdefghijklmnopqrstuv".parse().unwrap(),
        );
        assert_eq!(bearer_key_id(&h), Some("abcd1234"));
        h.insert(header::AUTHORIZATION, "Bearer nope".parse().unwrap());
        assert_eq!(bearer_key_id(&h), None);
    }

    #[test]
    fn headers_follow_draft_11() {
        let outcomes = vec![
            Outcome {
                name: PER_IP,
                policy: RatePolicy {
                    limit: 100,
                    window: Duration::from_secs(900),
                },
                decision: Decision {
                    allowed: true,
                    remaining: 42,
                    retry_after_ms: 0,
                    reset_ms: 416_200,
                },
            },
            Outcome {
                name: PER_KEY,
                policy: RatePolicy {
                    limit: 6000,
                    window: Duration::from_secs(60),
                },
                decision: Decision {
                    allowed: true,
                    remaining: 5000,
                    retry_after_ms: 0,
                    reset_ms: 10_000,
                },
            },
        ];
        let limits = Limits::from_config(&dropforge_common::config::Config::local_default().edge);
        let mut h = HeaderMap::new();
        set_headers(&limits, &mut h, &outcomes, outcomes.first());
        assert_eq!(h["ratelimit-policy"], "\"per-ip\";q=100;w=900, \"per-key\";q=6000;w=60");
        assert_eq!(h["ratelimit"], "\"per-ip\";r=42;t=417");
        // Written once, then the same value for the same policies, another for others.
        let mut again = HeaderMap::new();
        set_headers(&limits, &mut again, &outcomes, outcomes.first());
        assert_eq!(again["ratelimit-policy"], h["ratelimit-policy"]);
        let mut ip_only = HeaderMap::new();
        set_headers(&limits, &mut ip_only, &outcomes[..1], outcomes.first());
        assert_eq!(ip_only["ratelimit-policy"], "\"per-ip\";q=100;w=900");
        assert_eq!(limits.policy_headers.lock().unwrap().len(), 2);
    }
}
