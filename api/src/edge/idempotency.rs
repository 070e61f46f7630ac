//! `Idempotency-Key` on POST (draft-ietf-httpapi-idempotency-key-header-07, docs/design/webhooks-and-edge.md §2.3).
//!
//! The Redis key is `<prefix>:idem:<tenant id>:<sha256(key)>`; the tenant comes from verifying the
//! bearer key (the same cached check the handler's `Tenant` extractor makes), so a replay is only
//! ever served to the tenant that made the original request. Requests whose key does not verify
//! pass through untouched and the handler answers 401. The fingerprint is SHA-256 of the path and
//! the raw body (a key reused on another endpoint counts as a different payload).
//!
//! First request: `SET NX PX 60000` an in-progress marker, run the handler, store
//! `{fingerprint, status, selected headers, body}` for `idempotency_ttl`. Replays get the stored
//! answer with `Idempotent-Replayed: true`; a different body → 422; a duplicate while the first
//! runs → 409 + `Retry-After: 1`; a malformed key → 400 (after authentication: without a valid
//! API key the answer is the handler's 401); Redis unavailable → 503 (fail closed).
//! 5xx answers are not stored: the marker is removed so a retry runs again. Every Redis call has
//! the request-path deadline (`DF_API_REDIS_TIMEOUT_MS`); claims also go through the queue
//! Redis breaker, so a stalled Redis answers 503 at once instead of once per deadline.

use std::{sync::LazyLock, time::Duration};

use axum::{
    body::{Body, to_bytes},
    extract::Request,
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    response::Response,
};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{EdgeCtx, problem};
use crate::{BODY_LIMIT, state::RedisGuard};

/// Lifetime of the in-progress marker (longer than any request may run).
pub const IN_PROGRESS_TTL: Duration = Duration::from_secs(60);
/// Response headers kept with a stored answer.
pub const STORED_HEADERS: [&str; 5] = [
    "content-type",
    "location",
    "retry-after",
    "cache-status",
    "preference-applied",
];

static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(RELEASE_LUA));
const HEADER: &str = "idempotency-key";
const REPLAYED: &str = "idempotent-replayed";

/// Deletes the key only while it still holds this request's marker.
const RELEASE_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Metadata line of a stored value; a done record is followed by `\n` and the raw body.
#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    state: String,
    fp: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    status: u16,
    #[serde(default)]
    headers: Vec<(String, String)>,
}

/// The key of a header value: 1–255 visible ASCII characters, optionally as a Structured Field
/// String (`"..."`); `None` when malformed.
pub fn parse_key(value: &HeaderValue) -> Option<&str> {
    let s = value.to_str().ok()?.trim();
    let key = match s.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')) {
        Some(inner) => inner,
        None => s,
    };
    let ok = (1..=255).contains(&key.len())
        && key
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\');
    ok.then_some(key)
}

/// Idempotent replay around `run` (the handler), POST only (requests without the header pass
/// through); called by the edge's combined layer (`super::limit_then_replay`).
pub(crate) async fn around(ctx: &EdgeCtx, req: Request, run: impl AsyncFnOnce(Request) -> Response) -> Response {
    if req.method() != Method::POST {
        return run(req).await;
    }
    let mut values = req.headers().get_all(HEADER).iter();
    let Some(raw) = values.next().cloned() else {
        return run(req).await;
    };
    let key = parse_key(&raw).filter(|_| values.next().is_none()).map(str::to_owned);
    // Boxed: the keyed path's state (Redis, the body, its fingerprint) is kilobytes, which every
    // request without a key would otherwise build and copy.
    Box::pin(keyed(ctx, req, raw, key, run)).await
}

/// A `POST` with an `Idempotency-Key` (`raw`; `key` when it is valid).
async fn keyed(
    ctx: &EdgeCtx,
    req: Request,
    raw: HeaderValue,
    key: Option<String>,
    run: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    // Authentication first: without a valid API key the handler answers 401, whatever the
    // Idempotency-Key says (an anonymous client learns nothing about its other headers).
    let Some(token) = super::rate_limit::bearer_token(req.headers()) else {
        return run(req).await;
    };
    let app = &ctx.app;
    let Ok(tenant) = app
        .keys
        .authenticate(&app.pool, app.config.api.key_cache_ttl, token)
        .await
    else {
        return run(req).await;
    };
    let Some(key) = key else {
        return echo(
            problem(
                StatusCode::BAD_REQUEST,
                "idempotency-key-invalid",
                "Invalid Idempotency-Key",
                "Send one Idempotency-Key of 1 to 255 visible ASCII characters, e.g. a UUID.",
            ),
            &raw,
        );
    };
    let Some(conn) = ctx.edge.inner().redis.clone() else {
        return echo(unavailable(), &raw);
    };
    let (parts, body) = req.into_parts();
    let Ok(body) = to_bytes(body, BODY_LIMIT).await else {
        let too_large = problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            "The request body exceeds 64 KiB.",
        );
        return echo(too_large, &raw);
    };
    // The path is part of the fingerprint: one key reused on another endpoint is a different request.
    let fp = hex::encode(
        Sha256::new()
            .chain_update(parts.uri.path())
            .chain_update(b"\n")
            .chain_update(&body)
            .finalize(),
    );
    let redis_key = format!(
        "{}:idem:{}:{}",
        ctx.edge.inner().prefix,
        tenant.0,
        hex::encode(Sha256::digest(key.as_bytes()))
    );
    let marker = Meta {
        state: "in_progress".into(),
        fp: fp.clone(),
        token: ulid::Ulid::generate().to_string(),
        status: 0,
        headers: Vec::new(),
    };
    let Ok(marker) = serde_json::to_string(&marker) else {
        return echo(unavailable(), &raw);
    };
    let timeout = app.config.api.redis_timeout;
    let mut claim = Claim::new(conn.clone(), redis_key.clone(), marker.clone(), timeout);
    match claim.acquire(&fp, &app.queue_redis).await {
        Ok(None) => {}
        Ok(Some(answer)) => return echo(answer, &raw),
        Err(e) => {
            tracing::warn!(error = %e, "idempotency store unavailable; refusing the request");
            return echo(unavailable(), &raw);
        }
    }
    let response = run(Request::from_parts(parts, Body::from(body))).await;
    if response.status().is_server_error() {
        claim.release().await;
        return echo(response, &raw);
    }
    let (mut parts, body) = response.into_parts();
    let Ok(body) = to_bytes(body, usize::MAX).await else {
        claim.release().await;
        return echo(
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal-error",
                "Internal error",
                "An unexpected error occurred; it has been logged.",
            ),
            &raw,
        );
    };
    let stored = Meta {
        state: "done".into(),
        fp,
        token: String::new(),
        status: parts.status.as_u16(),
        headers: STORED_HEADERS
            .iter()
            .filter_map(|name| {
                let v = parts.headers.get(*name)?.to_str().ok()?;
                Some(((*name).to_owned(), v.to_owned()))
            })
            .collect(),
    };
    match serde_json::to_vec(&stored) {
        Ok(mut value) => {
            value.push(b'\n');
            value.extend_from_slice(&body);
            let ttl_ms = u64::try_from(ctx.edge.inner().idempotency_ttl.as_millis()).unwrap_or(86_400_000);
            let set = redis::cmd("SET")
                .arg(&redis_key)
                .arg(value)
                .arg("PX")
                .arg(ttl_ms)
                .clone();
            let mut conn = conn;
            match tokio::time::timeout(app.config.api.redis_timeout, set.query_async::<()>(&mut conn)).await {
                Ok(Ok(())) => claim.disarm(),
                Ok(Err(e)) => tracing::warn!(error = %e, "could not store an idempotent answer"),
                Err(_) => tracing::warn!("storing an idempotent answer timed out"),
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not encode an idempotent answer"),
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    echo(Response::from_parts(parts, Body::from(body)), &raw)
}

/// The in-progress marker of one request; released on 5xx, on failure to store, and when the
/// request is dropped (client gone, timeout) so that a retry can run.
struct Claim {
    conn: ConnectionManager,
    key: String,
    marker: String,
    timeout: Duration,
    armed: bool,
}

impl Claim {
    fn new(conn: ConnectionManager, key: String, marker: String, timeout: Duration) -> Self {
        Self {
            conn,
            key,
            marker,
            timeout,
            armed: false,
        }
    }

    /// `Ok(None)`: claimed, run the handler. `Ok(Some(answer))`: answer without running it.
    async fn acquire(&mut self, fp: &str, guard: &RedisGuard) -> redis::RedisResult<Option<Response>> {
        let px = u64::try_from(IN_PROGRESS_TTL.as_millis()).unwrap_or(60_000);
        for _ in 0..3 {
            let mut set = redis::cmd("SET");
            set.arg(&self.key).arg(&self.marker).arg("NX").arg("PX").arg(px);
            let claimed: Option<String> = guard.call(set.query_async(&mut self.conn)).await?;
            if claimed.is_some() {
                self.armed = true;
                return Ok(None);
            }
            let existing: Option<Vec<u8>> = guard
                .call(redis::cmd("GET").arg(&self.key).query_async(&mut self.conn))
                .await?;
            if let Some(existing) = existing {
                return Ok(Some(answer_existing(&existing, fp)));
            }
            // Expired between SET and GET: try to claim again.
        }
        Err(redis::RedisError::from((
            redis::ErrorKind::Client,
            "idempotency key contention",
        )))
    }

    async fn release(&mut self) {
        if !self.armed {
            return;
        }
        self.armed = false;
        let mut invocation = RELEASE.key(&self.key);
        invocation.arg(&self.marker);
        if let Err(e) = within(self.timeout, invocation.invoke_async::<i64>(&mut self.conn)).await {
            tracing::warn!(error = %e, "could not release an idempotency marker (it expires by itself)");
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let mut claim = Self::new(
                self.conn.clone(),
                std::mem::take(&mut self.key),
                self.marker.clone(),
                self.timeout,
            );
            claim.armed = true;
            self.armed = false;
            handle.spawn(async move { claim.release().await });
        }
    }
}

async fn within<T>(timeout: Duration, fut: impl Future<Output = redis::RedisResult<T>>) -> redis::RedisResult<T> {
    tokio::time::timeout(timeout, fut).await.unwrap_or_else(|_| {
        Err(redis::RedisError::from((
            redis::ErrorKind::Io,
            "idempotency store timed out",
        )))
    })
}

/// The answer for a key that is already taken: replay, 409 or 422.
fn answer_existing(value: &[u8], fp: &str) -> Response {
    let (meta, body) = match value.iter().position(|b| *b == b'\n') {
        Some(i) => (&value[..i], &value[i + 1..]),
        None => (value, &[][..]),
    };
    let Ok(meta) = serde_json::from_slice::<Meta>(meta) else {
        return unavailable();
    };
    if meta.fp != fp {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "This Idempotency-Key was already used with a different request body.",
        );
    }
    if meta.state != "done" {
        let mut response = problem(
            StatusCode::CONFLICT,
            "idempotency-request-in-progress",
            "Request in progress",
            "A request with this Idempotency-Key is still being processed; retry shortly.",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    }
    let mut response = Response::new(Body::from(body.to_vec()));
    *response.status_mut() = StatusCode::from_u16(meta.status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    for (name, value) in &meta.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_str(value)) {
            headers.insert(n, v);
        }
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

fn unavailable() -> Response {
    let mut response = problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "service-unavailable",
        "Service unavailable",
        "Idempotency-Key cannot be honoured right now; retry shortly.",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    response
}

fn echo(mut response: Response, key: &HeaderValue) -> Response {
    response.headers_mut().insert(HEADER, key.clone());
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_request_without_a_key_carries_none_of_the_keyed_path() {
        async fn handler(_: Request) -> Response {
            Response::new(Body::empty())
        }
        fn size<A, B, R, F: std::future::Future>(_: fn(A, B, R) -> F, _: R) -> usize {
            std::mem::size_of::<F>()
        }
        fn size5<A, B, C, D, R, F: std::future::Future>(_: fn(A, B, C, D, R) -> F, _: R) -> usize {
            std::mem::size_of::<F>()
        }
        let around = size::<&EdgeCtx, Request, _, _>(around, handler);
        let keyed = size5::<&EdgeCtx, Request, HeaderValue, Option<String>, _, _>(keyed, handler);
        assert!(
            around * 2 < keyed,
            "around {around} bytes, the keyed path {keyed} bytes"
        );
    }

    #[test]
    fn keys_are_validated() {
        let hv = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(parse_key(&hv("\"8e03978e-40d5\"")), Some("8e03978e-40d5"));
        assert_eq!(parse_key(&hv("abc")), Some("abc"));
        assert_eq!(parse_key(&hv("\"\"")), None);
        assert_eq!(parse_key(&hv("has space")), None);
        assert_eq!(parse_key(&hv(&"x".repeat(256))), None);
        assert!(parse_key(&hv(&"x".repeat(255))).is_some());
    }

    #[test]
    fn existing_answers() {
        let meta = |state: &str| {
            format!(r#"{{"state":"{state}","fp":"aa","status":202,"headers":[["location","/v1/jobs/1"]]}}"#)
        };
        assert_eq!(
            answer_existing(meta("in_progress").as_bytes(), "aa").status(),
            StatusCode::CONFLICT
        );
        assert_eq!(
            answer_existing(meta("done").as_bytes(), "bb").status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let replay = answer_existing(format!("{}\n{{}}", meta("done")).as_bytes(), "aa");
        assert_eq!(replay.status(), StatusCode::ACCEPTED);
        assert_eq!(replay.headers()["location"], "/v1/jobs/1");
        assert_eq!(replay.headers()[REPLAYED], "true");
    }
}
