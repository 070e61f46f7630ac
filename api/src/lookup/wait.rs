//! `Prefer: wait=N` (RFC 7240): waiting for a job to finish, woken by its completion event and
//! re-reading PostgreSQL every 2 s in case an event was lost; and the answer for a job just
//! created or joined.

use std::time::{Duration, Instant};

use axum::{
    Json,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use dropforge_common::{
    db::jobs::{Created, JobRecord},
    domain::{JobId, TenantId},
};

use crate::{
    documents::{Job, job_location},
    error::ApiError,
    state::AppState,
};

use super::jobs;

/// `Prefer: wait=N` (RFC 7240), clamped to `max` (however many digits N has); invalid
/// preferences are ignored.
pub fn preferred_wait(headers: &HeaderMap, max: Duration) -> Option<Duration> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .filter_map(|pref| {
            let (name, value) = pref.split_once('=')?;
            (name.trim().eq_ignore_ascii_case("wait")).then(|| wait_seconds(value.trim().trim_matches('"')))?
        })
        .next()
        .map(|secs| Duration::from_secs(secs).min(max))
}

/// Seconds of a `wait` value: a non-empty run of digits, saturating at `u64::MAX` (RFC 7240
/// delta-seconds has no upper bound; the caller caps it).
fn wait_seconds(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(value.parse::<u64>().unwrap_or(u64::MAX))
}

/// The tenant's job, read at once or, with a non-zero `wait`, once it finished or `wait` passed
/// (`fresh`: this request just created it, see [`wait_for_job`]).
pub async fn read_or_wait(
    state: &AppState,
    tenant: TenantId,
    id: JobId,
    wait: Option<Duration>,
    fresh: bool,
) -> Result<(JobRecord, bool), ApiError> {
    match wait {
        Some(wait) if !wait.is_zero() => wait_for_job(state, tenant, id, wait, fresh).await,
        _ => {
            let job = jobs::read(state, tenant, id).await?;
            let done = job.status.is_terminal();
            Ok((job, done))
        }
    }
}

/// The answer for a job just created or joined: waits up to `wait` (`Prefer: wait`), then `200`
/// with the finished job (`Content-Location`) or `202` with it (`Location`, `Retry-After`).
pub async fn job_answer(
    state: &AppState,
    tenant: TenantId,
    created: Created,
    wait: Option<Duration>,
) -> Result<Response, ApiError> {
    let id = created.id();
    let (job, finished) = read_or_wait(state, tenant, id, wait, created.is_fresh()).await?;
    let status = if finished { StatusCode::OK } else { StatusCode::ACCEPTED };
    let mut response = (status, Json(Job::from_owned(job))).into_response();
    let headers = response.headers_mut();
    if !finished {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if let Ok(location) = HeaderValue::from_str(&job_location(id)) {
        headers.insert(
            if finished {
                header::CONTENT_LOCATION
            } else {
                header::LOCATION
            },
            location,
        );
    }
    headers.insert(
        crate::header_names::CACHE_STATUS,
        HeaderValue::from_static("dropforge; fwd=miss"),
    );
    if let Some(v) = applied(wait) {
        headers.insert(crate::header_names::PREFERENCE_APPLIED, v);
    }
    Ok(response)
}

/// `Preference-Applied: wait=N` for an honoured `Prefer: wait`.
pub fn applied(wait: Option<Duration>) -> Option<HeaderValue> {
    wait.and_then(|w| HeaderValue::from_str(&format!("wait={}", w.as_secs())).ok())
}

/// Waits up to `max` for a job to finish; answers the job as last read and whether it finished.
/// The job is read once first (it may already be done, e.g. when joined), then again only when
/// its completion event arrives or every 2 s in case an event was lost: a submission that waits
/// costs two reads of PostgreSQL, not one per poll. A `fresh` job (this request just wrote its
/// row) is not read first: it is queued, and the read would only say so. Its completion event
/// can precede this waiter's registration only if the job ran in the microseconds between its
/// creation and here; the 2 s re-read covers that too.
pub async fn wait_for_job(
    state: &AppState,
    tenant: TenantId,
    id: JobId,
    max: Duration,
    fresh: bool,
) -> Result<(JobRecord, bool), ApiError> {
    let waiter = state.waiters.register(id);
    let deadline = Instant::now() + max;
    let mut last: Option<JobRecord> = None;
    let mut read_now = !fresh;
    loop {
        let notified = waiter.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if read_now {
            let job = jobs::read(state, tenant, id).await?;
            if job.status.is_terminal() {
                return Ok((job, true));
            }
            last = Some(job);
        }
        read_now = true;
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return as_last_read(state, tenant, id, last).await;
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep(remaining.min(Duration::from_secs(2))) => {}
            // Shutting down: answer 202 now rather than hold the connection open.
            () = state.draining.wait() => return as_last_read(state, tenant, id, last).await,
        }
    }
}

/// The job as last read (read now if it never was) and whether it finished.
async fn as_last_read(
    state: &AppState,
    tenant: TenantId,
    id: JobId,
    last: Option<JobRecord>,
) -> Result<(JobRecord, bool), ApiError> {
    let job = match last {
        Some(job) => job,
        None => jobs::read(state, tenant, id).await?,
    };
    let done = job.status.is_terminal();
    Ok((job, done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_wait_is_parsed_and_clamped() {
        let mut h = HeaderMap::new();
        h.insert("prefer", HeaderValue::from_static("respond-async, wait=10"));
        assert_eq!(
            preferred_wait(&h, Duration::from_secs(30)),
            Some(Duration::from_secs(10))
        );
        h.insert("prefer", HeaderValue::from_static("wait=100"));
        assert_eq!(
            preferred_wait(&h, Duration::from_secs(30)),
            Some(Duration::from_secs(30))
        );
        h.insert(
            "prefer",
            HeaderValue::from_static("wait=123456789012345678901234567890"),
        );
        assert_eq!(
            preferred_wait(&h, Duration::from_secs(30)),
            Some(Duration::from_secs(30)),
            "a 30-digit wait is capped, not ignored"
        );
        h.insert("prefer", HeaderValue::from_static("wait=abc"));
        assert_eq!(preferred_wait(&h, Duration::from_secs(30)), None);
        h.insert("prefer", HeaderValue::from_static("wait=-5"));
        assert_eq!(preferred_wait(&h, Duration::from_secs(30)), None);
        h.insert("prefer", HeaderValue::from_static("wait="));
        assert_eq!(preferred_wait(&h, Duration::from_secs(30)), None);
    }
}
