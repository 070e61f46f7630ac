//! The batch read-through: every item looked up in the cache at once; when all are cached the
//! batch is answered whole, otherwise the batch, one job per distinct miss (joined when already in
//! flight) and its items are written by one statement. The new jobs are bulk work: the dispatcher
//! feeds them in tag order (never a direct push). A batch that would take the tenant over its
//! quota of queued jobs is refused whole (`429`): nothing is written.

use std::collections::HashMap;

use dropforge_common::{
    JobStatus, cache,
    contract::{BatchInput, BatchOptions, ValidationInput},
    db::{
        self,
        batches::{NewBatch, NewItem},
        jobs::NewJob,
    },
    domain::{JobClass, JobId, JobKind, TenantId},
    scoring::MODEL,
};

use super::{cache::read_validations, count_cache, jobs, stored, submit};
use crate::{
    documents::{BatchItem, BatchJob, BatchProgress, CachedBatch, batch::CacheHit},
    error::ApiError,
    requests::BatchRequest,
    state::AppState,
};

/// What a batch submission came to (one value per request, moved once to the handler: boxing the
/// large variant would only add an allocation).
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// Every item was cached: the whole answer, no job created.
    Cached(CachedBatch),
    /// The batch job exists; its document, or the error met while reading it back (the batch is
    /// committed either way, so the caller still says where it is).
    Created {
        /// The batch job.
        batch: JobId,
        /// Its document, as `GET /v1/jobs/{id}` would answer it.
        document: Result<BatchJob, ApiError>,
    },
}

/// Looks every item up and, on any miss, creates the batch with its jobs and items.
pub async fn submit_batch(
    state: &AppState,
    tenant: TenantId,
    request: &BatchRequest,
    webhook_url: Option<String>,
    request_id: Option<&str>,
) -> Result<Outcome, ApiError> {
    let validation_options = request.options();
    let products = &request.products;
    // The items' product documents (batch_items.product): the normalised references.
    let product_docs = products
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::Internal(format!("batch products: {e}")))?;
    let keys: Vec<String> = products
        .iter()
        .map(|p| cache::validation_key(&state.config.redis_prefix, MODEL, p, &validation_options))
        .collect();
    let mut distinct: Vec<String> = keys.clone();
    distinct.sort();
    distinct.dedup();
    let cached = read_validations(state, &distinct).await?;
    for key in &keys {
        count_cache(
            JobKind::Validation,
            if cached.contains_key(key) { "hit" } else { "miss" },
        );
    }

    if keys.iter().all(|k| cached.contains_key(k)) {
        let items: Vec<BatchItem> = product_docs
            .into_iter()
            .zip(&keys)
            .enumerate()
            .map(|(i, (product, k))| BatchItem {
                position: position(i),
                product,
                status: JobStatus::Succeeded,
                job_id: None,
                cached: true,
                result: cached.get(k).cloned(),
                error: None,
            })
            .collect();
        return Ok(Outcome::Cached(CachedBatch {
            status: JobStatus::Succeeded,
            cache: CacheHit::Hit,
            progress: BatchProgress::of(&items),
            items,
        }));
    }

    let input = stored(
        BatchInput {
            products: products.clone(),
            options: BatchOptions {
                country: request.country.clone(),
                target_price: request.target_price,
                webhook_url: webhook_url.clone(),
            },
        }
        .into(),
    )?;
    // One job per distinct miss: duplicates in the batch share it, in-flight work is joined.
    let mut miss_keys: Vec<&str> = Vec::new();
    let mut miss_jobs: Vec<NewJob> = Vec::new();
    for (product, key) in products.iter().zip(&keys) {
        if cached.contains_key(key) || miss_keys.contains(&key.as_str()) {
            continue;
        }
        let validation = ValidationInput::new(
            product.clone(),
            validation_options.country.clone(),
            validation_options.target_price,
        );
        miss_keys.push(key);
        miss_jobs.push(NewJob {
            tenant_id: tenant,
            kind: JobKind::Validation,
            dedupe_key: Some(format!("validation:{key}:")),
            input: stored(validation.into())?,
            webhook_url: None,
            request_id: request_id.map(str::to_owned),
            parent_id: None,
            dispatch_as: None,
        });
    }

    // The batch, its items and its jobs are written by one statement, all or nothing: a batch is
    // never seen without its items (the reconciler would finish an empty batch at once), and no job
    // runs before it is listed (see `db::jobs::create_batch`).
    let batch = JobId::generate();
    for job in &mut miss_jobs {
        job.parent_id = Some(batch);
    }
    let child_ids: Vec<JobId> = miss_jobs.iter().map(|_| JobId::generate()).collect();
    let planned: HashMap<&str, JobId> = miss_keys.iter().copied().zip(child_ids.iter().copied()).collect();
    let mut items: Vec<NewItem> = product_docs
        .into_iter()
        .zip(&keys)
        .enumerate()
        .map(|(i, (product, k))| NewItem {
            position: position(i),
            product,
            cache_key: k.clone(),
            job_id: planned.get(k.as_str()).copied(),
            result: cached.get(k).cloned(),
        })
        .collect();
    let new_batch = NewBatch {
        id: batch,
        tenant,
        input: &input,
        webhook_url: webhook_url.as_deref(),
        request_id,
        items: &items,
    };
    let mut conn = state.pool.acquire().await?;
    let (record, created) = submit::count_quota(
        tenant,
        JobClass::Bulk,
        db::jobs::create_batch(&mut conn, &new_batch, &miss_jobs, &child_ids).await,
    )?;
    drop(conn);
    // A miss that joined a job already in flight is served by that job, not by the one planned
    // (the statement wrote its items so).
    let moved: HashMap<JobId, JobId> = child_ids
        .iter()
        .zip(&created)
        .filter(|(planned, c)| c.id() != **planned)
        .map(|(planned, c)| (*planned, c.id()))
        .collect();
    for item in &mut items {
        if let Some(to) = item.job_id.and_then(|j| moved.get(&j)) {
            item.job_id = Some(*to);
        }
    }

    let plans: Vec<_> = miss_jobs.iter().map(|j| (j.kind, j.dispatch_as)).collect();
    submit::push_new(state, &plans, &created).await;
    // Every job this batch created is queued and its record is the one just written: the answer
    // is built from what was stored. A batch that joined jobs already in flight reads them.
    let document = if created.iter().all(|c| c.is_fresh()) {
        Ok(BatchJob::with_items(
            &record,
            items.iter().map(|i| BatchItem::from(i.as_submitted())).collect(),
        ))
    } else {
        async {
            let job = jobs::read(state, tenant, batch).await?;
            jobs::batch_document(state, &job).await
        }
        .await
    };
    Ok(Outcome::Created { batch, document })
}

/// An item's position (at most 50, so it always fits).
fn position(i: usize) -> i32 {
    i32::try_from(i).unwrap_or(i32::MAX)
}
