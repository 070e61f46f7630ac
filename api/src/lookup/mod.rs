//! The read-through of the cached routes, written once: the in-process memo, the cache Redis,
//! then PostgreSQL (the truth; a fresh result found there is re-cached), and on a miss a job
//! created (or an identical one in flight joined), answered at once or after `Prefer: wait`.
//!
//! Handlers parse and validate, describe the [`Lookup`] and render what it answers.

pub mod batch;
pub mod cache;
pub mod dispatch_wake;
pub mod group;
mod hook;
pub mod jobs;
pub mod reads;
pub mod submit;
pub mod wait;

use std::cell::RefCell;

use axum::{
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use dropforge_common::{
    contract::JobInput,
    domain::{JobId, JobKind, TenantId},
    metric_names as m,
};
use metrics::Counter;
use serde_json::Value;

use crate::{documents::job_location, error::ApiError, state::AppState};

pub use cache::Store;

/// One read-through: what is looked up, and the job that computes it on a miss.
///
/// The job's input is built by `input` only when it is needed (a miss, or a hit recorded for a
/// webhook): a memo or Redis hit, most requests, never builds it.
#[derive(Debug, Clone)]
pub struct Lookup<F> {
    /// The kind of the job that computes the result.
    pub kind: JobKind,
    /// The cache key of the result.
    pub key: String,
    /// Where PostgreSQL keeps fresh results of this kind.
    pub store: Store,
    /// Builds the job's input on a miss (the worker derives the cache key from it).
    pub input: F,
    /// Receives the job's event; a cache hit is then recorded as a succeeded job (validations).
    pub webhook_url: Option<String>,
}

impl<F: FnOnce() -> JobInput> Lookup<F> {
    /// The answer: `200` with the cached result (`Cache-Status: dropforge; hit`), otherwise the job
    /// created or joined, `202` or, finished within `Prefer: wait`, `200`.
    pub async fn answer(self, state: &AppState, tenant: TenantId, headers: &HeaderMap) -> Result<Response, ApiError> {
        // The memo holds only encoded answers; a request naming a webhook_url needs the result
        // document for its event, so it reads Redis (then PostgreSQL) instead.
        if self.webhook_url.is_none()
            && let Some(hit) = state.memo.get(&self.key)
        {
            count_cache(self.kind, "hit");
            if hit.refresh_ahead {
                refresh_ahead(state, self.key);
            }
            return Ok(hit.body.response(headers, "dropforge; hit; detail=memory"));
        }
        // Boxed: its state (Redis, PostgreSQL, a job's creation and wait) is kilobytes, and a
        // memo hit would otherwise build and copy all of it per request.
        Box::pin(self.read_through(state, tenant, headers)).await
    }

    /// Past the memo: the cache Redis, PostgreSQL, then the job.
    async fn read_through(self, state: &AppState, tenant: TenantId, headers: &HeaderMap) -> Result<Response, ApiError> {
        let Self {
            kind,
            key,
            store,
            input: build_input,
            webhook_url,
        } = self;
        let request_id = request_id(headers);
        // A hit recorded for a webhook needs the input as much as a miss does.
        let input = match webhook_url {
            Some(_) => Input::Built(stored(build_input())?),
            None => Input::Later(build_input),
        };
        let built = match &input {
            Input::Built(value) => Some(value),
            Input::Later(_) => None,
        };
        let hook = webhook_url.as_deref().zip(built).map(|(url, input)| hook::CachedHook {
            kind,
            url,
            input,
            key: &key,
            request_id: request_id.as_deref(),
        });
        if let Some(hit) = cache::read_redis(state, &key).await {
            count_cache(kind, "hit");
            let job = match &hook {
                Some(hook) => Some(hook.record(state, tenant, &hit).await?),
                None => None,
            };
            let body = state.memo.refresh(&key, &hit, state.config.api.result_memo_ttl);
            return Ok(with_content_location(body.response(headers, "dropforge; hit"), job));
        }
        // The cache Redis skipped (its breaker open) or the read that just failed opened the
        // breaker: a stale memo entry rather than PostgreSQL, where every request that waited on
        // Redis with this one would otherwise go at once.
        if hook.is_none()
            && let Some(stale) = stale_while_redis_down(state, kind, &key, headers)
        {
            return Ok(stale);
        }
        if let Some(bytes) = cache::read_postgres(state, &key, store).await? {
            count_cache(kind, "hit");
            let job = match &hook {
                Some(hook) => Some(hook.record(state, tenant, &bytes).await?),
                None => None,
            };
            // Memoised like a Redis hit: while the cache Redis is unreachable (its breaker open)
            // a hot key costs one PostgreSQL read per memo period, not one per request.
            let body = state.memo.refresh(&key, &bytes, state.config.api.result_memo_ttl);
            let response = body.response(headers, "dropforge; hit; detail=postgres");
            return Ok(with_content_location(response, job));
        }
        count_cache(kind, "miss");

        let wait = wait::preferred_wait(headers, state.config.api.max_wait);
        let dedupe_key = dedupe_key(kind, store, &key, webhook_url.as_deref());
        let input = match input {
            Input::Built(value) => value,
            Input::Later(build) => stored(build())?,
        };
        let created = submit::submit(state, tenant, kind, dedupe_key, input, webhook_url, request_id).await?;
        let id = created.id();
        // The job exists from here on: a failure while answering still tells the client where it is.
        Ok(wait::job_answer(state, tenant, created, wait)
            .await
            .unwrap_or_else(|e| located(e, id)))
    }
}

/// Reads a hot memo entry again from the cache Redis, in a task of its own, so that no request
/// waits for it: while it runs, and should it find nothing (the result left the cache, or Redis
/// is down), requests keep the entry until it expires and then take the usual path.
fn refresh_ahead(state: &AppState, key: String) {
    let state = state.clone();
    tokio::spawn(async move {
        if let Some(result) = cache::read_redis(&state, &key).await {
            state.memo.refresh(&key, &result, state.config.api.result_memo_ttl);
        }
    });
}

/// A job input as stored in `jobs.input`.
pub(crate) fn stored(input: JobInput) -> Result<Value, ApiError> {
    input
        .to_stored()
        .map_err(|e| ApiError::Internal(format!("job input: {e}")))
}

/// A job input, built or still to be built.
enum Input<F> {
    Built(Value),
    Later(F),
}

/// Identical work runs once: a job in flight with this key is joined. A validation is joined
/// only when the webhook target matches too (each target gets its event); requests that join
/// one job with one URL share its single event, which the receiver could not tell apart anyway.
fn dedupe_key(kind: JobKind, store: Store, key: &str, webhook_url: Option<&str>) -> String {
    match store {
        Store::Validations => format!("validation:{key}:{}", webhook_url.unwrap_or("")),
        Store::JobResults(_) => format!("{}:{key}", kind.as_str()),
    }
}

/// A memo entry past its period (within its grace), while the cache Redis breaker is open.
fn stale_while_redis_down(state: &AppState, kind: JobKind, key: &str, headers: &HeaderMap) -> Option<Response> {
    if !state.cache_redis.is_open() {
        return None;
    }
    let stale = state.memo.stale(key)?;
    count_cache(kind, "hit");
    Some(stale.response(headers, "dropforge; hit; detail=memory"))
}

/// The `X-Request-Id` of the request, recorded with the jobs it creates.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

thread_local! {
    /// The cache-lookup counters this thread has used, by kind and result: a lookup counts with
    /// one atomic, where `counter!` built its labels and looked the series up (three allocations).
    static CACHE_COUNTERS: RefCell<Vec<(JobKind, &'static str, Counter)>> = const { RefCell::new(Vec::new()) };
}

/// Counts a cache lookup of `kind` (`dropforge_cache_requests_total{kind,result}`).
pub fn count_cache(kind: JobKind, result: &'static str) {
    CACHE_COUNTERS.with(|counters| {
        let mut counters = counters.borrow_mut();
        match counters.iter().find(|(k, r, _)| *k == kind && *r == result) {
            Some((_, _, counter)) => counter.increment(1),
            None => {
                let counter = metrics::counter!(m::CACHE_REQUESTS_TOTAL, "kind" => kind.as_str(), "result" => result);
                counter.increment(1);
                counters.push((kind, result, counter));
            }
        }
    });
}

/// An error answer for a request whose job was already created: the problem document with a
/// `Location` header pointing at the job, so a `503` never hides work the client cannot see.
pub fn located(error: ApiError, id: JobId) -> Response {
    let mut response = error.into_response();
    if let Ok(location) = HeaderValue::from_str(&job_location(id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Adds `Content-Location` (the job recording a cached answer) to a cache hit's response.
fn with_content_location(mut response: Response, job: Option<JobId>) -> Response {
    if let Some(location) = job.and_then(|id| HeaderValue::from_str(&job_location(id)).ok()) {
        response.headers_mut().insert(header::CONTENT_LOCATION, location);
    }
    response
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use super::*;

    type NoInput = fn() -> JobInput;

    /// The size of the future `f` returns, without calling it.
    fn future_size<A, B, C, D, F: Future>(_: fn(A, B, C, D) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    #[test]
    fn a_memo_hit_carries_none_of_the_read_through() {
        let answer = future_size::<Lookup<NoInput>, &AppState, TenantId, &HeaderMap, _>(Lookup::answer);
        let read_through = future_size::<Lookup<NoInput>, &AppState, TenantId, &HeaderMap, _>(Lookup::read_through);
        // axum boxes the handler's future per request: the memo hit builds and copies all of it.
        assert!(
            answer * 10 < read_through,
            "answer {answer} bytes, read-through {read_through} bytes"
        );
    }
}
