//! Reading a tenant's job as clients see it: any kind's document, a batch with its items.

use dropforge_common::{
    JobKind, db,
    db::jobs::JobRecord,
    domain::{JobId, TenantId},
};

use crate::{
    documents::{BatchItem, BatchJob, Job},
    error::ApiError,
    state::AppState,
};

/// The tenant's job; another tenant's id reads as missing (`job_not_found`).
pub async fn read(state: &AppState, tenant: TenantId, id: JobId) -> Result<JobRecord, ApiError> {
    state.job_reads.read(tenant, id).await?.ok_or(ApiError::JobNotFound)
}

/// A batch as clients see it: the job, its progress and every item with its status and result.
pub async fn batch_document(state: &AppState, job: &JobRecord) -> Result<BatchJob, ApiError> {
    let items = db::batches::items(&state.pool, JobId(job.id)).await?;
    Ok(BatchJob::with_items(
        job,
        items.into_iter().map(BatchItem::from).collect(),
    ))
}

/// The full document of a job: a batch with its items, any other kind as it is.
pub async fn document(state: &AppState, job: JobRecord) -> Result<Job, ApiError> {
    if job.kind == JobKind::Batch {
        return Ok(Job::Batch(batch_document(state, &job).await?));
    }
    Ok(Job::from_owned(job))
}
