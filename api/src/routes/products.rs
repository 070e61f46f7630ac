//! `GET /v1/products/search` (keyword search, cached 1 h) and `GET /v1/products/{source}/{id}/suppliers`
//! (the product's store and the shops offering similar items, cached 24 h).
//!
//! Both take the validation path: an in-process memo, the Redis cache, then the newest fresh
//! result in PostgreSQL (`job_results`, re-cached); on a miss they create (or join the tenant's
//! identical in-flight) job and answer 202, or 200 with the finished job within `Prefer: wait`.

use axum::{extract::State, http::HeaderMap, response::Response};
use dropforge_common::{
    cache,
    contract::{JobInput, SearchInput, SuppliersInput},
    country,
    domain::JobKind,
    product::{FieldError, ProductRef, SOURCES, valid_product_id},
};
use serde::Deserialize;

use crate::{
    auth::Tenant,
    documents::{
        SearchAnswer, SuppliersAnswer,
        job::{SearchJob, SuppliersJob},
    },
    error::ApiError,
    extract::{PathParams, StrictQuery},
    lookup::{Lookup, Store},
    problem::{
        Problem,
        responses::{
            BadQuery, BadQueryOrPath, InternalError, MethodNotAllowed, ServiceUnavailable,
            TooManyRequestsOrBacklogFull, Unauthorized,
        },
    },
    requests::CountryCode,
    state::AppState,
};

/// Query parameters of `GET /v1/products/search`.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    /// Keywords, 2–100 characters after trimming.
    pub q: Option<String>,
    /// Ship-to country (ISO 3166-1 alpha-2).
    pub country: Option<String>,
    /// Result page, 1–10.
    pub page: Option<String>,
}

/// Query parameters of `GET /v1/products/{source}/{id}/suppliers`.
#[derive(Debug, Deserialize)]
pub struct SuppliersQuery {
    /// Ship-to country (ISO 3166-1 alpha-2).
    pub country: Option<String>,
}

/// A country parameter, upper-cased; the default (with an error recorded) when it is not an
/// assigned ISO 3166-1 alpha-2 code.
fn parse_country(raw: Option<&str>, default: &str, errors: &mut Vec<FieldError>) -> String {
    match raw.map(country::parse) {
        None => default.to_owned(),
        Some(Ok(code)) => code.to_owned(),
        Some(Err(e)) => {
            errors.push(FieldError::new("/query/country", e.to_string()));
            default.to_owned()
        }
    }
}

/// Validates a search: `(normalised query, country, page)`.
pub fn parse_search(q: &SearchQuery, default_country: &str) -> Result<(String, String, u32), ApiError> {
    let mut errors = Vec::new();
    let query = cache::normalise_query(q.q.as_deref().unwrap_or_default());
    let len = query.chars().count();
    if q.q.is_none() {
        errors.push(FieldError::new("/query/q", "is required"));
    } else if !(2..=100).contains(&len) {
        errors.push(FieldError::new("/query/q", "must be 2 to 100 characters long"));
    } else if query.chars().any(char::is_control) {
        errors.push(FieldError::new("/query/q", "must not contain control characters"));
    }
    let country = parse_country(q.country.as_deref(), default_country, &mut errors);
    let page = match q.page.as_deref().map(|p| p.trim().parse::<u32>()) {
        None => 1,
        Some(Ok(p)) if (1..=10).contains(&p) => p,
        Some(_) => {
            errors.push(FieldError::new("/query/page", "must be an integer between 1 and 10"));
            1
        }
    };
    if errors.is_empty() {
        Ok((query, country, page))
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Validates a suppliers request: the product and the country.
pub fn parse_suppliers(
    source: &str,
    id: &str,
    q: &SuppliersQuery,
    default_country: &str,
) -> Result<(ProductRef, String), ApiError> {
    let mut errors = Vec::new();
    if !SOURCES.contains(&source) {
        errors.push(FieldError::new("/path/source", "must be aliexpress"));
    }
    if !valid_product_id(id) {
        errors.push(FieldError::new(
            "/path/id",
            "must be an AliExpress product id: 10 to 20 digits",
        ));
    }
    let country = parse_country(q.country.as_deref(), default_country, &mut errors);
    if errors.is_empty() {
        let product = ProductRef {
            source: source.to_owned(),
            id: id.to_owned(),
        };
        Ok((product, country))
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// The read-through of a search or suppliers result: its own cache key, `job_results` in
/// PostgreSQL, and no webhook (these routes take none).
fn lookup<F: FnOnce() -> JobInput>(kind: JobKind, key: String, ttl: std::time::Duration, input: F) -> Lookup<F> {
    Lookup {
        kind,
        key,
        store: Store::JobResults(ttl),
        input,
        webhook_url: None,
    }
}

/// Handler of `GET /v1/products/search`.
#[utoipa::path(get, path = "/v1/products/search", tag = "products", summary = "Search products",
    description = "AliExpress products matching the keywords, best sellers (30-day orders) first. Answers 200 with \
        the cached result (kept 1 h per normalised query, country and page); otherwise creates (or joins an \
        identical pending) job and answers 202 with it and its `Location`, or 200 with the finished job within \
        `Prefer: wait=N`.",
    security(("bearer" = [])),
    params(
        ("q" = String, Query, min_length = 2, max_length = 100, example = "led strip lights",
            // At least two characters other than white space, and no control character that is not white space.
            pattern = "^[^\\u0000-\\u0008\\u000E-\\u001F\\u007F-\\u0084\\u0086-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000E-\\u001F\\u007F-\\u0084\\u0086-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000E-\\u001F\\u007F-\\u0084\\u0086-\\u009F]*$",
            description = "Keywords, 2–100 characters after trimming; case and repeated spaces are ignored."),
        ("country" = Option<CountryCode>, Query, example = "US", description = "Ship-to country (ISO 3166-1 alpha-2)"),
        ("page" = Option<u32>, Query, minimum = 1, maximum = 10, description = "Result page of 20 products (1)"),
        ("Prefer" = Option<String>, Header, example = "wait=10",
            description = "RFC 7240 `wait=N`: wait up to N seconds for the job to finish; invalid preferences are ignored."),
    ),
    responses(
        (status = 200, description = "A cached result (`CachedSearch`), or the job finished within `Prefer: wait` (`Job`)",
            content_type = "application/json", body = SearchAnswer,
            headers(("Cache-Status" = String, description = "RFC 9211: `dropforge; hit` or `dropforge; fwd=miss`"),
                    ("Content-Location" = String, description = "The finished job, when it is one"),
                    ("Preference-Applied" = String, description = "`wait=N` when `Prefer: wait` was honoured"),
                    ("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 202, description = "Job created or joined; poll `Location`", body = SearchJob,
            headers(("Location" = String, description = "The job, `/v1/jobs/{id}`"),
                    ("Retry-After" = u32, description = "Seconds before polling"),
                    ("Cache-Status" = String, description = "`dropforge; fwd=miss`"),
                    ("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 400, response = BadQuery),
        (status = 401, response = Unauthorized), (status = 405, response = MethodNotAllowed),
        (status = 422, description = "Invalid parameters, each in `errors` (`validation_failed`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 429, response = TooManyRequestsOrBacklogFull), (status = 500, response = InternalError),
        (status = 503, response = ServiceUnavailable)))]
pub async fn search(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    headers: HeaderMap,
    StrictQuery(query): StrictQuery<SearchQuery>,
) -> Result<Response, ApiError> {
    let cfg = &state.config;
    let (q, country, page) = parse_search(&query, &cfg.upstreams.aliexpress.ship_to_country)?;
    let key = cache::search_key(&cfg.redis_prefix, &q, &country, page);
    let input = move || JobInput::from(SearchInput::new(q, country, page));
    lookup(JobKind::Search, key, cfg.cache.search_ttl, input)
        .answer(&state, tenant, &headers)
        .await
}

/// Handler of `GET /v1/products/{source}/{id}/suppliers`.
#[utoipa::path(get, path = "/v1/products/{source}/{id}/suppliers", tag = "products", summary = "Find suppliers",
    description = "The product's own store (marked `own`, always first) and the other shops offering similar items \
        (found by the keyword derived from its title), by 30-day orders. Cached 24 h; a miss creates (or joins) a \
        job like a search. An unknown product's job fails with `product_not_found`.",
    security(("bearer" = [])),
    params(
        ("source" = String, Path, pattern = "^aliexpress$", example = "aliexpress", description = "Marketplace; only `aliexpress`"),
        ("id" = String, Path, pattern = "^[0-9]{10,20}$", example = "1005006123456789", description = "Product id, 10–20 digits"),
        ("country" = Option<CountryCode>, Query, example = "US", description = "Ship-to country (ISO 3166-1 alpha-2)"),
        ("Prefer" = Option<String>, Header, example = "wait=10",
            description = "RFC 7240 `wait=N`: wait up to N seconds for the job to finish; invalid preferences are ignored."),
    ),
    responses(
        (status = 200, description = "A cached result (`CachedSuppliers`), or the job finished within `Prefer: wait` (`Job`)",
            content_type = "application/json", body = SuppliersAnswer,
            headers(("Cache-Status" = String, description = "RFC 9211: `dropforge; hit` or `dropforge; fwd=miss`"),
                    ("Content-Location" = String, description = "The finished job, when it is one"),
                    ("Preference-Applied" = String, description = "`wait=N` when `Prefer: wait` was honoured"),
                    ("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 202, description = "Job created or joined; poll `Location`", body = SuppliersJob,
            headers(("Location" = String, description = "The job, `/v1/jobs/{id}`"),
                    ("Retry-After" = u32, description = "Seconds before polling"),
                    ("Cache-Status" = String, description = "`dropforge; fwd=miss`"),
                    ("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 400, response = BadQueryOrPath),
        (status = 401, response = Unauthorized), (status = 405, response = MethodNotAllowed),
        (status = 422, description = "Unknown source (`/path/source`), invalid product id (`/path/id`) or country \
            (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, response = TooManyRequestsOrBacklogFull), (status = 500, response = InternalError),
        (status = 503, response = ServiceUnavailable)))]
pub async fn suppliers(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    headers: HeaderMap,
    PathParams((source, id)): PathParams<(String, String)>,
    StrictQuery(query): StrictQuery<SuppliersQuery>,
) -> Result<Response, ApiError> {
    let cfg = &state.config;
    let (product, country) = parse_suppliers(&source, &id, &query, &cfg.upstreams.aliexpress.ship_to_country)?;
    let key = cache::suppliers_key(&cfg.redis_prefix, &product, &country);
    let input = move || JobInput::from(SuppliersInput::new(product, country));
    lookup(JobKind::Suppliers, key, cfg.cache.suppliers_ttl, input)
        .answer(&state, tenant, &headers)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointers(e: ApiError) -> Vec<String> {
        match e {
            ApiError::Validation(errors) => errors.into_iter().map(|e| e.pointer).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn search_parameters_are_normalised_and_checked() {
        let q = |q: Option<&str>, country: Option<&str>, page: Option<&str>| SearchQuery {
            q: q.map(str::to_owned),
            country: country.map(str::to_owned),
            page: page.map(str::to_owned),
        };
        let (query, country, page) = parse_search(&q(Some("  LED   Strip "), Some("de"), None), "US").unwrap();
        assert_eq!((query.as_str(), country.as_str(), page), ("led strip", "DE", 1));
        let long = "x".repeat(101);
        assert_eq!(
            pointers(parse_search(&q(Some(" a "), None, None), "US").unwrap_err()),
            ["/query/q"]
        );
        assert_eq!(
            pointers(parse_search(&q(Some(&long), None, None), "US").unwrap_err()),
            ["/query/q"]
        );
        assert_eq!(
            pointers(parse_search(&q(None, Some("USA"), Some("11")), "US").unwrap_err()),
            ["/query/q", "/query/country", "/query/page"]
        );
    }

    #[test]
    fn supplier_paths_are_checked() {
        let q = SuppliersQuery { country: None };
        assert!(parse_suppliers("aliexpress", "1005000000000001", &q, "US").is_ok());
        assert_eq!(
            pointers(parse_suppliers("amazon", "1005000000000001", &q, "US").unwrap_err()),
            ["/path/source"]
        );
        assert_eq!(
            pointers(parse_suppliers("aliexpress", "12ab", &q, "US").unwrap_err()),
            ["/path/id"]
        );
    }
}
