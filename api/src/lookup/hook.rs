//! A cache hit for a request that names a `webhook_url`: recorded as a job that already succeeded
//! with the cached result, its `job.succeeded` event written to the outbox in the same transaction
//! (the worker delivers it like any other).

use dropforge_common::{
    contract::JobResult,
    db,
    domain::{JobId, JobKind, TenantId},
    webhook::payload,
};
use serde_json::Value;

use crate::{error::ApiError, state::AppState};

/// What a cache hit needs to record a request that names a `webhook_url`.
#[derive(Debug, Clone, Copy)]
pub(super) struct CachedHook<'a> {
    pub(super) kind: JobKind,
    pub(super) url: &'a str,
    pub(super) input: &'a Value,
    pub(super) key: &'a str,
    pub(super) request_id: Option<&'a str>,
}

impl CachedHook<'_> {
    /// Records the hit with its result and answers the recording job's id.
    pub(super) async fn record(&self, state: &AppState, tenant: TenantId, result: &[u8]) -> Result<JobId, ApiError> {
        let text = std::str::from_utf8(result).map_err(|e| ApiError::Internal(format!("cached result: {e}")))?;
        let doc: JobResult =
            serde_json::from_str(text).map_err(|e| ApiError::Internal(format!("cached result: {e}")))?;
        let answer = db::webhooks::CachedAnswer {
            tenant_id: tenant,
            kind: self.kind,
            input: self.input,
            cache_key: self.key,
            result: text,
            url: self.url,
            request_id: self.request_id,
        };
        let kind = self.kind;
        let (id, written) =
            db::webhooks::record_cached_answer(&state.pool, &answer, |id| payload::job_succeeded(id, kind, doc))
                .await?;
        if !written {
            // Disabled (410) between the check at submit and now.
            tracing::warn!(job.id = %id, "webhook URL disabled meanwhile; no event written");
        }
        Ok(id)
    }
}
