//! `POST /v1/validations/batch`: up to 50 products; cached items answered at once, each distinct
//! miss served by one validation job (shared within the batch, joined when already in flight).

use std::collections::HashMap;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use dropforge_common::{
    JobStatus, cache,
    contract::{BatchInput, BatchOptions, JobInput, ValidationInput},
    db::{self, batches::NewItem, jobs::NewJob},
    domain::{JobId, JobKind},
    scoring::MODEL,
    webhook::ssrf::UrlPolicy,
};

use crate::{
    auth::Tenant,
    documents::{BatchItem, BatchJob, BatchProgress, CachedBatch, batch::CacheHit, job_location},
    error::ApiError,
    extract::JsonBody,
    lookup::{self, cache::read_validations, count_cache, located, submit},
    problem::{
        Problem,
        responses::{
            InternalError, MethodNotAllowed, PayloadTooLarge, ServiceUnavailable, TooManyRequests, Unauthorized,
        },
    },
    requests::{BatchRequest, webhook},
    state::AppState,
};

/// Handler of `POST /v1/validations/batch`.
#[utoipa::path(post, path = "/v1/validations/batch", tag = "validations", summary = "Validate up to 50 products",
    security(("bearer" = [])),
    request_body(content = BatchRequest, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^(?:[!#-\\[\\]-~]{1,255}|\"[!#-\\[\\]-~]{1,255}\")$",
        description = "1 to 255 visible ASCII characters (optionally as a quoted string); replays the first answer for 24 h")),
    responses(
        (status = 200, description = "Every item was cached: items with their results", body = CachedBatch,
            headers(("Cache-Status" = String), ("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 202, description = "Batch job created; cached items are filled in, the rest follow",
            body = BatchJob,
            headers(("Location" = String), ("Retry-After" = String), ("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = Unauthorized), (status = 405, response = MethodNotAllowed),
        (status = 409, description = "Same Idempotency-Key in progress", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid item (JSON pointer `/products/{i}`), more than 50 products, or a \
            `webhook_url` disabled after it answered 410 Gone (`webhook_url_disabled`, pointer `/webhook_url`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 429, response = TooManyRequests), (status = 500, response = InternalError),
        (status = 503, response = ServiceUnavailable)))]
pub async fn create_batch(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let policy = UrlPolicy::from(&state.config.webhooks);
    let request = BatchRequest::parse(&body, &state.config.upstreams.aliexpress.ship_to_country, &policy)?;
    if let Some(url) = &request.webhook_url {
        webhook::check(&state, tenant, url, &policy).await?;
    }
    let webhook_url = request.webhook_url.as_ref().map(url::Url::to_string);
    let validation_options = request.options();
    let products = &request.products;
    // The items' product documents (batch_items.product): the normalised references.
    let product_docs = products
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::Internal(format!("batch products: {e}")))?;
    let options = BatchOptions {
        country: request.country.clone(),
        target_price: request.target_price,
        webhook_url: webhook_url.clone(),
    };
    let keys: Vec<String> = products
        .iter()
        .map(|p| cache::validation_key(&state.config.redis_prefix, MODEL, p, &validation_options))
        .collect();
    let mut distinct: Vec<String> = keys.clone();
    distinct.sort();
    distinct.dedup();
    let cached = read_validations(&state, &distinct).await?;
    for key in &keys {
        count_cache(
            JobKind::Validation,
            if cached.contains_key(key) { "hit" } else { "miss" },
        );
    }

    if keys.iter().all(|k| cached.contains_key(k)) {
        let items: Vec<BatchItem> = product_docs
            .iter()
            .zip(&keys)
            .enumerate()
            .map(|(i, (p, k))| BatchItem {
                position: i32::try_from(i).unwrap_or(i32::MAX),
                product: p.clone(),
                status: JobStatus::Succeeded,
                job_id: None,
                cached: true,
                result: cached.get(k).cloned(),
                error: None,
            })
            .collect();
        let body = CachedBatch {
            status: JobStatus::Succeeded,
            cache: CacheHit::Hit,
            progress: BatchProgress::of(&items),
            items,
        };
        let mut response = (StatusCode::OK, Json(body)).into_response();
        response
            .headers_mut()
            .insert("cache-status", HeaderValue::from_static("dropforge; hit"));
        return Ok(response);
    }

    let request_id = lookup::request_id(&headers);
    let request_id = request_id.as_deref();
    let stored = |input: JobInput| {
        input
            .to_stored()
            .map_err(|e| ApiError::Internal(format!("job input: {e}")))
    };
    let input = stored(
        BatchInput {
            products: products.clone(),
            options,
        }
        .into(),
    )?;
    // The batch, its jobs and its items commit together: a batch is never seen without its items
    // (the reconciler would finish an empty batch at once), and no job runs before it is listed.
    let mut tx = state.pool.begin().await?;
    let batch = db::batches::create(&mut *tx, tenant, &input, webhook_url.as_deref(), request_id).await?;
    // One job per distinct miss: duplicates in the batch share it, in-flight work is joined.
    let mut misses: Vec<(&str, NewJob)> = Vec::new();
    for (product, key) in products.iter().zip(&keys) {
        if cached.contains_key(key) || misses.iter().any(|(k, _)| *k == key.as_str()) {
            continue;
        }
        misses.push((
            key.as_str(),
            NewJob {
                tenant_id: tenant,
                kind: JobKind::Validation,
                dedupe_key: Some(format!("validation:{key}:")),
                input: stored(
                    ValidationInput::new(
                        product.clone(),
                        validation_options.country.clone(),
                        validation_options.target_price,
                    )
                    .into(),
                )?,
                webhook_url: None,
                request_id: request_id.map(str::to_owned),
                parent_id: Some(batch),
                dispatch_as: None,
            },
        ));
    }
    let (miss_keys, mut miss_jobs): (Vec<&str>, Vec<NewJob>) = misses.into_iter().unzip();
    submit::reserve_dispatch(&state, &mut miss_jobs).await;
    let created = db::jobs::create_or_join_many(&mut tx, &miss_jobs).await?;
    let jobs: HashMap<&str, JobId> = miss_keys.into_iter().zip(created.iter().map(|c| c.id())).collect();
    let items: Vec<NewItem> = product_docs
        .iter()
        .zip(&keys)
        .enumerate()
        .map(|(i, (p, k))| NewItem {
            position: i32::try_from(i).unwrap_or(i32::MAX),
            product: p.clone(),
            cache_key: k.clone(),
            job_id: jobs.get(k.as_str()).copied(),
            result: cached.get(k).cloned(),
        })
        .collect();
    db::batches::add_items(&mut *tx, batch, &items).await?;
    tx.commit().await?;
    // The batch exists from here on: a failure while answering still says where it is.
    let answered = async {
        submit::push_new(&state, &miss_jobs, &created).await;
        let job = lookup::jobs::read(&state, tenant, batch).await?;
        lookup::jobs::batch_document(&state, &job).await
    }
    .await;
    let document = match answered {
        Ok(document) => document,
        Err(e) => return Ok(located(e, batch)),
    };
    let mut response = (StatusCode::ACCEPTED, Json(document)).into_response();
    let h = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&job_location(batch)) {
        h.insert(header::LOCATION, location);
    }
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    Ok(response)
}
