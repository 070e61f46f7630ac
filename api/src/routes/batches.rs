//! `POST /v1/validations/batch`: up to 50 products; cached items answered at once, each distinct
//! miss served by one validation job (shared within the batch, joined when already in flight).

use std::{collections::HashMap, time::Duration};

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use dropforge_common::{
    cache,
    db::{
        self,
        batches::{Item, NewItem},
        jobs::{JobRecord, NewJob},
    },
    domain::{JobId, JobKind},
    metric_names as m,
    product::{FieldError, ProductRef, parse_product},
    scoring::MODEL,
    webhook::ssrf::{self, UrlPolicy},
};
use serde_json::{Value, json};

use crate::{
    auth::Tenant,
    error::ApiError,
    extract::JsonBody,
    routes::{
        jobs::{job_document, job_location},
        validations::{located, parse_request, push_new, reserve_dispatch},
    },
    state::AppState,
};

/// Most products in one batch.
pub const MAX_ITEMS: usize = 50;

const MEMBERS: &[&str] = &["products", "country", "target_price", "webhook_url"];

/// Parses the products of a batch (pointers `/products/{i}`) and the shared options.
fn parse_batch(body: &Value, state: &AppState, policy: &UrlPolicy) -> Result<(Vec<ProductRef>, Value), ApiError> {
    let Some(obj) = body.as_object() else {
        return Err(ApiError::Validation(vec![FieldError::new(
            "",
            "the body must be a JSON object",
        )]));
    };
    let mut errors: Vec<FieldError> = obj
        .keys()
        .filter(|k| !MEMBERS.contains(&k.as_str()))
        .map(|k| FieldError::new(format!("/{k}"), "is not a known member"))
        .collect();
    let products = match obj.get("products") {
        Some(Value::Array(items)) if items.is_empty() => {
            errors.push(FieldError::new("/products", "must list at least one product"));
            Vec::new()
        }
        Some(Value::Array(items)) if items.len() > MAX_ITEMS => {
            errors.push(FieldError::new(
                "/products",
                format!("a batch holds at most {MAX_ITEMS} products (got {})", items.len()),
            ));
            Vec::new()
        }
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                parse_product(v, &format!("/products/{i}"))
                    .map_err(|e| errors.push(e))
                    .ok()
            })
            .collect(),
        Some(_) => {
            errors.push(FieldError::new("/products", "must be an array of products"));
            Vec::new()
        }
        None => {
            errors.push(FieldError::new("/products", "is required"));
            Vec::new()
        }
    };
    // The options are those of a single validation: reuse its validation (same pointers).
    let options = json!({
        "product": {"id": "1000000000"},
        "country": obj.get("country"),
        "target_price": obj.get("target_price"),
        "webhook_url": obj.get("webhook_url"),
    });
    let single = parse_request(&options, &state.config.upstreams.aliexpress.ship_to_country, policy);
    match single {
        Err(ApiError::Validation(mut more)) => {
            errors.append(&mut more);
            Err(ApiError::Validation(errors))
        }
        Err(other) => Err(other),
        Ok(_) if !errors.is_empty() => Err(ApiError::Validation(errors)),
        Ok(parsed) => Ok((
            products,
            json!({
                "country": parsed.options.country,
                "target_price": parsed.options.target_price,
                "webhook_url": parsed.webhook_url.map(|u| u.to_string()),
            }),
        )),
    }
}

/// Looks up cached results for `keys` (Redis, then fresh PostgreSQL results).
async fn cached_results(state: &AppState, keys: &[String]) -> Result<HashMap<String, Value>, ApiError> {
    let mut found = HashMap::new();
    match state.cache_redis.call(state.cache.get_many(keys)).await {
        Ok(values) => {
            for (key, value) in keys.iter().zip(values) {
                if let Some(doc) = value.and_then(|v| serde_json::from_slice::<Value>(&v).ok()) {
                    found.insert(key.clone(), doc);
                }
            }
        }
        Err(e) => tracing::debug!(error = %e, "cache read failed; falling back to PostgreSQL"),
    }
    let missing: Vec<String> = keys.iter().filter(|k| !found.contains_key(*k)).cloned().collect();
    let (full, partial) = (
        state.config.cache.validation_ttl.as_secs_f64(),
        state.config.cache.partial_ttl.as_secs_f64(),
    );
    for (key, doc, ttl_left) in db::results::fresh_for_keys(&state.pool, &missing, full, partial).await? {
        if let Ok(bytes) = serde_json::to_vec(&doc) {
            let _ = state
                .cache_redis
                .call(state.cache.set(&key, &bytes, Duration::from_secs(ttl_left)))
                .await;
        }
        found.insert(key, doc);
    }
    Ok(found)
}

/// Handler of `POST /v1/validations/batch`.
#[utoipa::path(post, path = "/v1/validations/batch", tag = "validations", summary = "Validate up to 50 products",
    security(("bearer" = [])),
    request_body(content = crate::openapi::BatchRequest, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for 24 h")),
    responses(
        (status = 200, description = "Every item was cached: items with their results", body = crate::openapi::BatchResult,
            headers(("Cache-Status" = String), ("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 202, description = "Batch job created; cached items are filled in, the rest follow",
            body = crate::openapi::BatchResult,
            headers(("Location" = String), ("Retry-After" = String), ("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 400, description = "Malformed JSON", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, response = crate::openapi::Unauthorized), (status = 405, response = crate::openapi::MethodNotAllowed),
        (status = 409, description = "Same Idempotency-Key in progress", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, description = "Not application/json", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid item (JSON pointer `/products/{i}`), more than 50 products, or a \
            `webhook_url` disabled after it answered 410 Gone (`webhook_url_disabled`, pointer `/webhook_url`)",
            body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, response = crate::openapi::TooManyRequests), (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::ServiceUnavailable)))]
pub async fn create_batch(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let policy = UrlPolicy::from(&state.config.webhooks);
    let (products, options) = parse_batch(&body, &state, &policy)?;
    let webhook_url = options["webhook_url"].as_str().map(str::to_owned);
    if let Some(url) = webhook_url.as_deref().and_then(|u| url::Url::parse(u).ok()) {
        ssrf::resolve_checked(&url, &policy)
            .await
            .map_err(|e| ApiError::Validation(vec![FieldError::new("/webhook_url", e.to_string())]))?;
    }
    if let Some(url) = webhook_url.as_deref() {
        crate::routes::validations::refuse_disabled(&state, tenant, url).await?;
    }
    let validation_options = cache::ValidationOptions {
        country: options["country"].as_str().unwrap_or("US").to_owned(),
        target_price: options["target_price"].as_f64(),
    };
    let keys: Vec<String> = products
        .iter()
        .map(|p| cache::validation_key(&state.config.redis_prefix, MODEL, p, &validation_options))
        .collect();
    let mut distinct: Vec<String> = keys.clone();
    distinct.sort();
    distinct.dedup();
    let cached = cached_results(&state, &distinct).await?;
    for key in &keys {
        let result = if cached.contains_key(key) { "hit" } else { "miss" };
        metrics::counter!(m::CACHE_REQUESTS_TOTAL, "kind" => "validation", "result" => result).increment(1);
    }

    if keys.iter().all(|k| cached.contains_key(k)) {
        let items: Vec<Value> = products
            .iter()
            .zip(&keys)
            .enumerate()
            .map(|(i, (p, k))| json!({"position": i, "product": p, "status": "succeeded", "cached": true, "result": cached[k]}))
            .collect();
        let total = items.len();
        let body = json!({"status": "succeeded", "cache": "hit", "progress": {"total": total, "done": total, "failed": 0, "canceled": 0}, "items": items});
        let mut response = (StatusCode::OK, Json(body)).into_response();
        response
            .headers_mut()
            .insert("cache-status", HeaderValue::from_static("dropforge; hit"));
        return Ok(response);
    }

    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok());
    let input = json!({"products": products, "options": options});
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
                input: json!({
                    "product": product,
                    "country": validation_options.country,
                    "target_price": validation_options.target_price,
                    "cache_key": key,
                }),
                webhook_url: None,
                request_id: request_id.map(str::to_owned),
                parent_id: Some(batch),
                dispatch_as: None,
            },
        ));
    }
    let (miss_keys, mut miss_jobs): (Vec<&str>, Vec<NewJob>) = misses.into_iter().unzip();
    reserve_dispatch(&state, &mut miss_jobs).await;
    let created = db::jobs::create_or_join_many(&mut tx, &miss_jobs).await?;
    let jobs: HashMap<&str, JobId> = miss_keys.into_iter().zip(created.iter().map(|c| c.id())).collect();
    let items: Vec<NewItem> = products
        .iter()
        .zip(&keys)
        .enumerate()
        .map(|(i, (p, k))| NewItem {
            position: i32::try_from(i).unwrap_or(i32::MAX),
            product: json!(p),
            cache_key: k.clone(),
            job_id: jobs.get(k.as_str()).copied(),
            result: cached.get(k).cloned(),
        })
        .collect();
    db::batches::add_items(&mut *tx, batch, &items).await?;
    tx.commit().await?;
    // The batch exists from here on: a failure while answering still says where it is.
    let answered = async {
        push_new(&state, &miss_jobs, &created).await;
        let job = db::jobs::get(&state.pool, tenant, batch)
            .await?
            .ok_or(ApiError::JobNotFound)?;
        batch_document(&state, &job).await
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

/// Progress `{total, done, failed, canceled}` of a batch's items (a canceled item did not fail).
pub fn progress(items: &[Item]) -> Value {
    let count = |status: &str| items.iter().filter(|i| i.status == status).count();
    json!({
        "total": items.len(),
        "done": count("succeeded"),
        "failed": count("failed"),
        "canceled": count("canceled"),
    })
}

/// A batch as clients see it: the job, its progress and every item with its status and result.
pub async fn batch_document(state: &AppState, job: &JobRecord) -> Result<Value, ApiError> {
    let items = db::batches::items(&state.pool, JobId(job.id)).await?;
    let mut doc = job_document(job);
    doc["progress"] = progress(&items);
    doc["items"] = json!(items);
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(status: &str) -> Item {
        Item {
            position: 0,
            product: json!({}),
            status: status.to_owned(),
            job_id: None,
            cached: false,
            result: None,
            error: None,
        }
    }

    #[test]
    fn canceled_items_are_not_failed() {
        let items: Vec<Item> = ["succeeded", "failed", "canceled", "canceled", "queued"]
            .into_iter()
            .map(item)
            .collect();
        assert_eq!(
            progress(&items),
            json!({"total": 5, "done": 1, "failed": 1, "canceled": 2})
        );
    }
}
