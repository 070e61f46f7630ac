//! OpenAPI 3.1 description of the HTTP API (utoipa) and the offline docs page.
//!
//! Handlers carry `#[utoipa::path]` annotations; bodies that are built from `common` types are
//! described here by documentation-only structs (`common` stays free of HTTP framework code).
//! [`spec`] is the document, served by [`spec_json`] at `GET /openapi.json`; [`docs_page`] serves
//! `GET /docs`, a self-contained page (inline script and style allowed by hash in its own CSP) that
//! renders it without any CDN. `api/openapi.json` is the committed snapshot (`tests/openapi.rs`).

use std::sync::LazyLock;

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::{
    Modify, OpenApi, PartialSchema, ToResponse, ToSchema,
    openapi::{
        self, ContentBuilder, RefOr, ResponseBuilder,
        header::{Header, HeaderBuilder},
        path::{Parameter, ParameterIn},
        schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::{error::PROBLEM_JSON, routes};

/// Every `(method, path)` the application router serves. `tests/openapi.rs` checks that this list,
/// the generated document and the real router agree, so a new route must be added here and
/// documented (with `#[utoipa::path]` and an entry in [`ApiDoc`]) in the same change.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/ready"),
    ("POST", "/v1/validations"),
    ("POST", "/v1/validations/batch"),
    ("GET", "/v1/jobs/{id}"),
    ("GET", "/v1/jobs"),
    ("DELETE", "/v1/jobs/{id}"),
    ("GET", "/v1/jobs/{id}/deliveries"),
    ("GET", "/v1/products/search"),
    ("GET", "/v1/products/{source}/{id}/suppliers"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
];

/// Name of the bearer security scheme required by every `/v1` operation.
pub const BEARER: &str = "bearer";

/// The OpenAPI document: paths, components and the bearer security scheme.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "DropForge",
        description = "Dropshipping product validation. `POST /v1/validations` answers from the cache at once or \
            creates (or joins) a job; `GET /v1/jobs/{id}` reads it. Errors are RFC 9457 \
            `application/problem+json` documents with a stable `code`. `/v1` routes need an API key \
            (`Authorization: Bearer <key>`) and are rate limited (`RateLimit` / `RateLimit-Policy` headers, \
            429 with `Retry-After`). POSTs accept an `Idempotency-Key`.",
    ),
    paths(
        routes::validations::create_validation,
        routes::batches::create_batch,
        routes::jobs::get_job,
        routes::job_control::list_jobs,
        routes::job_control::cancel_job,
        routes::job_control::list_deliveries,
        routes::products::search,
        routes::products::suppliers,
        routes::health::health,
        routes::health::ready,
        spec_json,
        docs_page,
    ),
    components(
        schemas(
            ValidationRequest,
            ProductInput,
            ProductById,
            ProductByUrl,
            Job,
            JobKind,
            JobStatus,
            JobInput,
            JobProduct,
            JobError,
            JobLinks,
            CachedValidation,
            ValidationAnswer,
            ValidationResult,
            ValidationOptions,
            Verdict,
            SubScore,
            Problem,
            FieldError,
            Health,
            Readiness,
            ReadinessChecks,
            CheckStatus,
            CachedSearch,
            SearchAnswer,
            SearchResult,
            SearchProduct,
            CachedSuppliers,
            SuppliersAnswer,
            SuppliersResult,
            Supplier,
            SupplierRatings,
            SuppliersProduct,
        ),
        responses(
            Unauthorized,
            MethodNotAllowed,
            PayloadTooLarge,
            TooManyRequests,
            ServiceUnavailable,
            InternalError
        ),
    ),
    modifiers(&Finish),
    tags(
        (name = "validations", description = "Product validations"),
        (name = "jobs", description = "Asynchronous jobs"),
        (name = "products", description = "Product search and suppliers"),
        (name = "operations", description = "Liveness and readiness probes"),
        (name = "documentation", description = "This document and its viewer"),
    )
)]
pub struct ApiDoc;

/// Sets the version from the crate, the bearer scheme, and `additionalProperties: false` where
/// unknown members are refused.
struct Finish;

impl Modify for Finish {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        doc.info.license = None;
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                operation.parameters.iter_mut().flatten().for_each(header_not_nullable);
            }
        }
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("df_<key id>_<secret>")
                    .description(Some("An API key: `Authorization: Bearer <key>`."))
                    .build(),
            ),
        );
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut("ValidationRequest") {
            object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
    }
}

/// Optional header parameters are written as `Option<String>` (not required), which utoipa also
/// renders as nullable; a header is absent or a string, never null.
fn header_not_nullable(parameter: &mut RefOr<Parameter>) {
    let RefOr::T(parameter) = parameter else { return };
    if parameter.parameter_in != ParameterIn::Header {
        return;
    }
    if let Some(RefOr::T(Schema::Object(object))) = &mut parameter.schema
        && let SchemaType::Array(types) = &object.schema_type
    {
        let mut types: Vec<Type> = types.iter().filter(|t| **t != Type::Null).cloned().collect();
        object.schema_type = match types.len() {
            1 => SchemaType::Type(types.remove(0)),
            _ => SchemaType::Array(types),
        };
    }
}

/// The document as JSON.
pub fn spec() -> Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|e| {
        tracing::error!(error = %e, "the OpenAPI document did not serialise");
        Value::Null
    })
}

/// The document pretty-printed, with a final newline: exactly the committed `api/openapi.json`.
pub fn spec_pretty() -> String {
    let mut text = serde_json::to_string_pretty(&spec()).unwrap_or_default();
    text.push('\n');
    text
}

static SPEC_TEXT: LazyLock<String> = LazyLock::new(spec_pretty);

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "documentation",
    summary = "This OpenAPI 3.1 document",
    responses(
        (status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object),
        (status = 405, response = MethodNotAllowed),
    )
)]
pub async fn spec_json() -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        SPEC_TEXT.as_str(),
    )
        .into_response()
}

const DOCS_TEMPLATE: &str = include_str!("docs/index.html");
const DOCS_SCRIPT: &str = include_str!("docs/docs.js");
const DOCS_STYLE: &str = include_str!("docs/docs.css");

/// The rendered docs page and its `Content-Security-Policy`.
struct DocsPage {
    html: String,
    csp: HeaderValue,
}

fn csp_hash(source: &str) -> String {
    format!("'sha256-{}'", STANDARD.encode(Sha256::digest(source.as_bytes())))
}

static DOCS: LazyLock<DocsPage> = LazyLock::new(|| {
    let html = DOCS_TEMPLATE
        .replace("{{STYLE}}", DOCS_STYLE)
        .replace("{{SCRIPT}}", DOCS_SCRIPT);
    let csp = format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'",
        csp_hash(DOCS_SCRIPT),
        csp_hash(DOCS_STYLE)
    );
    let csp = HeaderValue::from_str(&csp).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    DocsPage { html, csp }
});

/// `GET /docs`.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "documentation",
    summary = "API reference page",
    description = "A self-contained HTML page that renders `/openapi.json`; it loads nothing from other origins.",
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String,
            headers(("Content-Security-Policy" = String, description = "Allows only this page's own inline script and style, and fetching from this origin"))),
        (status = 405, response = MethodNotAllowed),
    )
)]
pub async fn docs_page() -> Response {
    let page = &*DOCS;
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CONTENT_SECURITY_POLICY, page.csp.clone()),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        page.html.as_str(),
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Reusable responses
// ---------------------------------------------------------------------------------------------

fn string_header(description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(description))
        .build()
}

fn seconds_header(description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0))))
        .description(Some(description))
        .build()
}

/// `RateLimit` (draft-ietf-httpapi-ratelimit-headers) header of `/v1` answers.
pub fn ratelimit_header() -> Header {
    string_header("Remaining quota of the most restrictive policy, e.g. `\"per-key\";r=42;t=17`.")
}

/// `RateLimit-Policy` header of `/v1` answers.
pub fn ratelimit_policy_header() -> Header {
    string_header("Applied quota policies, e.g. `\"per-ip\";q=100;w=900, \"per-key\";q=6000;w=60`.")
}

fn problem_response(description: &str, headers: Vec<(&str, Header)>) -> RefOr<openapi::Response> {
    let content = ContentBuilder::new().schema(Some(RefOr::Ref(openapi::Ref::from_schema_name("Problem"))));
    let builder = ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, content.build());
    headers
        .into_iter()
        .fold(builder, |b, (name, header)| b.header(name, header))
        .build()
        .into()
}

macro_rules! problem_responses {
    ($($(#[$doc:meta])* $name:ident => $description:expr, [$($header:expr),*];)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl<'a> ToResponse<'a> for $name {
            fn response() -> (&'a str, RefOr<openapi::Response>) {
                (stringify!($name), problem_response($description, vec![$($header),*]))
            }
        }
    )*};
}

problem_responses! {
    /// 401: missing, malformed, unknown or revoked API key.
    Unauthorized => "Missing or invalid API key (`code`: `unauthorized`).",
        [("WWW-Authenticate", string_header("`Bearer realm=\"dropforge\"`"))];
    /// 405: the path exists but not with this method.
    MethodNotAllowed => "The path exists but does not support this method (`code`: `method_not_allowed`).", [];
    /// 413: body over 64 KiB.
    PayloadTooLarge => "The request body exceeds 64 KiB (`code`: `payload_too_large`).", [];
    /// 429: a rate-limit policy is exhausted.
    TooManyRequests => "A rate limit is exceeded (`code`: `rate_limited`, `type` \
        `https://iana.org/assignments/http-problem-types#quota-exceeded`, `violated-policies`).",
        [
            ("Retry-After", seconds_header("Seconds until the request may be retried.")),
            ("RateLimit", ratelimit_header()),
            ("RateLimit-Policy", ratelimit_policy_header())
        ];
    /// 503: a dependency is unavailable or the request timed out.
    ServiceUnavailable => "A dependency (PostgreSQL, Redis) is unavailable, the request timed out \
        (`request_timeout`), or an `Idempotency-Key` cannot be honoured right now; retry later \
        (`code`: `service_unavailable` or `request_timeout`).",
        [("Retry-After", seconds_header("Seconds to wait before retrying."))];
    /// 500: a bug; details are logged, never sent.
    InternalError => "An unexpected error; details are logged, never sent (`code`: `internal_error`).", [];
}

// ---------------------------------------------------------------------------------------------
// Schemas (documentation only)
// ---------------------------------------------------------------------------------------------

/// Body of `POST /v1/validations`. Unknown members are refused with 422.
#[derive(ToSchema)]
pub struct ValidationRequest {
    /// The product to validate.
    pub product: ProductInput,
    /// Two-letter ISO 3166-1 country to ship to (case-insensitive); the deployment default when absent.
    #[schema(pattern = "^[A-Za-z]{2}$", example = "US")]
    pub country: Option<String>,
    /// Intended selling price, 0.01 to 100000 (rounded to cents).
    #[schema(minimum = 0.01, maximum = 100000, example = 24.99)]
    pub target_price: Option<f64>,
    /// Reserved: webhooks are not available yet; any non-null value is refused with 422.
    pub webhook_url: Option<String>,
}

/// A product, by marketplace id or by AliExpress item URL (not both).
#[derive(ToSchema, Serialize)]
#[serde(untagged)]
pub enum ProductInput {
    /// By id.
    #[schema(title = "By id")]
    ById(ProductById),
    /// By URL.
    #[schema(title = "By URL")]
    ByUrl(ProductByUrl),
}

/// A product by marketplace and id.
#[derive(ToSchema, Serialize)]
pub struct ProductById {
    /// Marketplace; only `aliexpress` (the default).
    #[schema(example = "aliexpress", default = "aliexpress")]
    pub source: Option<String>,
    /// AliExpress product id: 10 to 20 digits (a JSON integer is accepted too).
    #[schema(pattern = "^[0-9]{10,20}$", example = "1005006123456789")]
    pub id: String,
}

/// A product by AliExpress item URL.
#[derive(ToSchema, Serialize)]
pub struct ProductByUrl {
    /// AliExpress item URL.
    #[schema(format = "uri", example = "https://www.aliexpress.com/item/1005006123456789.html")]
    pub url: String,
}

/// A job, as `POST /v1/validations` (202, or 200 after `Prefer: wait`) and `GET /v1/jobs/{id}` answer.
#[derive(ToSchema)]
pub struct Job {
    /// Job id (a ULID shown as a UUID).
    #[schema(format = Uuid, example = "019ac3b2-6c1d-7e6f-9a8b-123456789abc")]
    pub id: String,
    /// What the job does.
    pub kind: JobKind,
    /// Where the job is.
    pub status: JobStatus,
    /// Attempts started so far.
    pub attempts: i32,
    /// The normalised input.
    pub input: JobInput,
    /// The result, once succeeded.
    #[schema(required = true)]
    pub result: Option<ValidationResult>,
    /// Why the job failed, once failed.
    #[schema(required = true)]
    pub error: Option<JobError>,
    /// Creation time.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// First start.
    #[schema(format = DateTime, required = true)]
    pub started_at: Option<String>,
    /// End.
    #[schema(format = DateTime, required = true)]
    pub finished_at: Option<String>,
    /// Last change.
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Related resources.
    pub links: JobLinks,
}

/// Body of `POST /v1/validations/batch`.
#[derive(ToSchema)]
pub struct BatchRequest {
    /// 1 to 50 products, each `{source, id}` or `{url}`.
    pub products: Vec<ProductInput>,
    /// Ship-to country for every item (ISO 3166-1 alpha-2, default `US`).
    pub country: Option<String>,
    /// Intended retail price for every item.
    pub target_price: Option<f64>,
    /// Receives `batch.completed` (and is SSRF-checked).
    pub webhook_url: Option<String>,
}

/// A batch: the job fields plus progress and items (or, when all were cached, progress and items).
#[derive(ToSchema)]
pub struct BatchResult {
    /// `{total, done, failed}`.
    pub progress: BatchProgress,
    /// One entry per submitted product, in order.
    pub items: Vec<BatchItem>,
}

/// Progress of a batch.
#[derive(ToSchema)]
pub struct BatchProgress {
    /// Items submitted.
    pub total: u32,
    /// Items with a result.
    pub done: u32,
    /// Items that failed or were canceled.
    pub failed: u32,
}

/// One batch item.
#[derive(ToSchema)]
pub struct BatchItem {
    /// Index in the submitted list.
    pub position: u32,
    /// `succeeded` for cached items, else the serving job's status.
    pub status: String,
    /// True when answered from the cache at submit time.
    pub cached: bool,
    /// The validation job serving it (absent for cached items).
    pub job_id: Option<String>,
    /// The validation result, once there is one.
    pub result: Option<ValidationResult>,
    /// The error of a failed item.
    pub error: Option<JobError>,
}

/// The webhook delivery log of a job.
#[derive(ToSchema)]
pub struct DeliveryLog {
    /// One entry per attempt, oldest first (a delivery not attempted yet has no attempt fields).
    pub data: Vec<DeliveryAttempt>,
}

/// One webhook delivery attempt.
#[derive(ToSchema)]
pub struct DeliveryAttempt {
    /// The `webhook-id`, the same across retries.
    pub delivery_id: String,
    /// `job.succeeded` or `job.failed`.
    pub event_type: String,
    /// Target URL.
    pub url: String,
    /// `pending`, `delivered`, `failed` or `disabled` (410 Gone).
    pub status: String,
    /// Attempt number.
    pub attempt: Option<i32>,
    /// When the attempt ran (RFC 3339).
    pub attempted_at: Option<String>,
    /// Duration in milliseconds.
    pub duration_ms: Option<i32>,
    /// The receiver's HTTP status.
    pub response_status: Option<i32>,
    /// Error class: timeout, connect, dns, blocked_ip, http_status, redirect, disabled.
    pub error: Option<String>,
    /// When the next attempt is due (RFC 3339).
    pub next_attempt_at: Option<String>,
}

/// A page of `GET /v1/jobs`, newest first (for its annotation; collected once referenced).
#[derive(ToSchema)]
pub struct JobPage {
    /// The jobs of this page.
    pub data: Vec<Job>,
    /// True when another page follows.
    pub has_more: bool,
    /// Cursor of the next page, when there is one.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Kind of a job.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum JobKind {
    /// One product.
    Validation,
    /// Up to 50 products.
    Batch,
    /// Keyword search.
    Search,
    /// Suppliers of a product.
    Suppliers,
    /// A webhook delivery.
    Webhook,
}

/// Status of a job; `succeeded`, `failed` and `canceled` are terminal.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker is on it.
    Running,
    /// Finished with a result.
    Succeeded,
    /// Finished without a result.
    Failed,
    /// Canceled before it ran.
    Canceled,
}

/// Normalised input of a validation job.
#[derive(ToSchema)]
pub struct JobInput {
    /// The product.
    pub product: JobProduct,
    /// Ship-to country.
    #[schema(example = "US")]
    pub country: String,
    /// Target price, when given.
    #[schema(required = true)]
    pub target_price: Option<f64>,
}

/// A normalised product reference.
#[derive(ToSchema)]
pub struct JobProduct {
    /// Marketplace.
    #[schema(example = "aliexpress")]
    pub source: String,
    /// Product id.
    #[schema(example = "1005006123456789")]
    pub id: String,
}

/// Why a job failed.
#[derive(ToSchema)]
pub struct JobError {
    /// Machine-readable reason.
    #[schema(example = "invalid_input")]
    pub code: String,
    /// Human-readable reason.
    pub message: String,
    /// The upstream at fault, if any.
    pub upstream: Option<String>,
}

/// Links of a job.
#[derive(ToSchema)]
pub struct JobLinks {
    /// The job itself.
    #[schema(rename = "self", example = "/v1/jobs/019ac3b2-6c1d-7e6f-9a8b-123456789abc")]
    pub self_link: String,
}

/// A cache hit of `POST /v1/validations`.
#[derive(ToSchema)]
pub struct CachedValidation {
    /// Always `succeeded`.
    #[schema(pattern = "^succeeded$", example = "succeeded")]
    pub status: String,
    /// Always `hit`.
    #[schema(pattern = "^hit$", example = "hit")]
    pub cache: String,
    /// The cached result.
    pub result: ValidationResult,
}

/// A 200 answer of `POST /v1/validations`: a cache hit, or the job finished within `Prefer: wait`.
pub struct ValidationAnswer;

impl PartialSchema for ValidationAnswer {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(openapi::Ref::from_schema_name("CachedValidation"))
            .item(openapi::Ref::from_schema_name("Job"))
            .description(Some("A cache hit, or the job finished within `Prefer: wait`."))
            .into()
    }
}

impl ToSchema for ValidationAnswer {}

/// A score-v1 validation result. Further members may be added.
#[derive(ToSchema)]
pub struct ValidationResult {
    /// Scoring model.
    #[schema(example = "score-v1")]
    pub model: String,
    /// Weighted score 0–100.
    #[schema(minimum = 0, maximum = 100)]
    pub score: f64,
    /// Data confidence 0–1.
    #[schema(minimum = 0, maximum = 1)]
    pub confidence: f64,
    /// The verdict.
    pub verdict: Verdict,
    /// Available sub-scores.
    pub sub_scores: Vec<SubScore>,
    /// Knock-out reasons; any one forces `reject`.
    pub knockouts: Vec<String>,
    /// Red-flag reasons; any one caps the verdict at `test`.
    pub flags: Vec<String>,
    /// Margin after fees as a fraction of the price; null without AliExpress data.
    #[schema(required = true)]
    pub margin: Option<f64>,
    /// Product data gathered from the marketplace.
    #[schema(value_type = Object)]
    pub product: Value,
    /// The options the result was computed for.
    pub options: ValidationOptions,
    /// When the result was computed.
    #[schema(format = DateTime)]
    pub validated_at: String,
    /// True when some upstream did not answer (the result is cached for a shorter time).
    pub partial: bool,
    /// Outcome per upstream.
    #[schema(value_type = Object)]
    pub upstreams: Value,
    /// The signals the score was computed from.
    #[schema(value_type = Object)]
    pub signals: Value,
}

/// Options of a result.
#[derive(ToSchema)]
pub struct ValidationOptions {
    /// Ship-to country.
    pub country: String,
    /// Target price, when given.
    #[schema(required = true)]
    pub target_price: Option<f64>,
}

/// Verdict of score-v1.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Verdict {
    /// Strong score, enough data, no red flag.
    Winner,
    /// Worth a paid test.
    Test,
    /// Keep an eye on it.
    Watch,
    /// Knocked out or weak.
    Reject,
    /// Not enough data.
    InsufficientData,
}

/// One sub-score.
#[derive(ToSchema)]
pub struct SubScore {
    /// `demand`, `profitability`, `fulfilment`, `ad_traction`, `virality` or `saturation`.
    #[schema(example = "demand")]
    pub name: String,
    /// Sub-score 0–100.
    pub score: f64,
    /// Configured weight.
    pub weight: f64,
    /// Data quality 0–1.
    pub quality: f64,
    /// Explanations.
    pub reasons: Vec<String>,
}

/// An RFC 9457 problem document (`application/problem+json`).
#[derive(ToSchema)]
pub struct Problem {
    /// Problem type, `/problems/<code>` (429: the IANA `quota-exceeded` type).
    #[schema(rename = "type", example = "/problems/validation-failed")]
    pub problem_type: String,
    /// Short summary of the problem type.
    #[schema(example = "Invalid request")]
    pub title: String,
    /// HTTP status code.
    #[schema(example = 422)]
    pub status: u16,
    /// Explanation of this occurrence.
    pub detail: String,
    /// Stable machine-readable code: `malformed_json`, `unsupported_media_type`, `validation_failed`,
    /// `invalid_job_id`, `job_not_found`, `not_found`, `method_not_allowed`, `payload_too_large`,
    /// `unauthorized`, `rate_limited`, `idempotency_key_invalid`, `idempotency_key_reused`,
    /// `idempotency_request_in_progress`, `job_not_cancelable`, `service_unavailable`, `request_timeout` or
    /// `internal_error`.
    #[schema(example = "validation_failed")]
    pub code: String,
    /// Every invalid member (`validation_failed` only).
    pub errors: Option<Vec<FieldError>>,
    /// Exhausted rate-limit policies (429 only).
    #[schema(rename = "violated-policies")]
    pub violated_policies: Option<Vec<String>>,
}

/// One invalid member of a request body.
#[derive(ToSchema)]
pub struct FieldError {
    /// JSON pointer (RFC 6901) to the member.
    #[schema(example = "/product/id")]
    pub pointer: String,
    /// What is wrong.
    #[schema(example = "must be an AliExpress product id: 10 to 20 digits")]
    pub detail: String,
}

/// Liveness.
#[derive(ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: String,
}

/// Readiness of the process and its dependencies.
#[derive(ToSchema)]
pub struct Readiness {
    /// `ok` when every check is.
    pub status: CheckStatus,
    /// Each dependency.
    pub checks: ReadinessChecks,
}

/// Readiness checks.
#[derive(ToSchema)]
pub struct ReadinessChecks {
    /// PostgreSQL answers and every migration is applied.
    pub postgres_and_migrations: CheckStatus,
    /// The queue Redis answers.
    pub queue_redis: CheckStatus,
    /// The cache Redis answers.
    pub cache_redis: CheckStatus,
}

/// Outcome of a check.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Answers.
    Ok,
    /// Does not answer.
    Unavailable,
}

// ---------------------------------------------------------------------------------------------
// Products: search and suppliers
// ---------------------------------------------------------------------------------------------

/// A cache hit of `GET /v1/products/search`.
#[derive(ToSchema)]
pub struct CachedSearch {
    /// Always `succeeded`.
    #[schema(pattern = "^succeeded$", example = "succeeded")]
    pub status: String,
    /// Always `hit`.
    #[schema(pattern = "^hit$", example = "hit")]
    pub cache: String,
    /// The cached result.
    pub result: SearchResult,
}

/// A 200 answer of `GET /v1/products/search`: a cache hit, or the job finished within `Prefer: wait`.
pub struct SearchAnswer;

impl PartialSchema for SearchAnswer {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(openapi::Ref::from_schema_name("CachedSearch"))
            .item(openapi::Ref::from_schema_name("Job"))
            .description(Some("A cache hit, or the job finished within `Prefer: wait`."))
            .into()
    }
}

impl ToSchema for SearchAnswer {}

/// A product search result (the `result` of a `search` job). Further members may be added.
#[derive(ToSchema)]
pub struct SearchResult {
    /// The normalised query.
    #[schema(example = "led strip lights")]
    pub query: String,
    /// Ship-to country.
    #[schema(example = "US")]
    pub country: String,
    /// Result page.
    pub page: u32,
    /// Products per page.
    pub page_size: u32,
    /// Listings matching the query on the marketplace.
    pub total: u64,
    /// The page's products, best sellers first.
    pub products: Vec<SearchProduct>,
    /// When the search ran.
    #[schema(format = DateTime)]
    pub searched_at: String,
    /// Optional upstream calls that failed (the result is still complete).
    pub warnings: Vec<String>,
}

/// One product found by a search.
#[derive(ToSchema)]
pub struct SearchProduct {
    /// Product id.
    #[schema(example = "1005006123456789")]
    pub id: String,
    /// Title.
    pub title: String,
    /// Sale price.
    #[schema(required = true)]
    pub price: Option<f64>,
    /// Currency of `price`.
    #[schema(example = "USD")]
    pub currency: String,
    /// Units sold in the last 30 days.
    #[schema(required = true)]
    pub orders_30d: Option<u64>,
    /// Positive feedback in percent.
    #[schema(required = true)]
    pub evaluate_rate: Option<f64>,
    /// The selling shop.
    #[schema(required = true)]
    pub shop_id: Option<String>,
    /// Product page.
    pub url: String,
    /// Main image.
    #[schema(required = true)]
    pub image: Option<String>,
}

/// A cache hit of `GET /v1/products/{source}/{id}/suppliers`.
#[derive(ToSchema)]
pub struct CachedSuppliers {
    /// Always `succeeded`.
    #[schema(pattern = "^succeeded$", example = "succeeded")]
    pub status: String,
    /// Always `hit`.
    #[schema(pattern = "^hit$", example = "hit")]
    pub cache: String,
    /// The cached result.
    pub result: SuppliersResult,
}

/// A 200 answer of `GET /v1/products/{source}/{id}/suppliers`: a cache hit, or the finished job.
pub struct SuppliersAnswer;

impl PartialSchema for SuppliersAnswer {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(openapi::Ref::from_schema_name("CachedSuppliers"))
            .item(openapi::Ref::from_schema_name("Job"))
            .description(Some("A cache hit, or the job finished within `Prefer: wait`."))
            .into()
    }
}

impl ToSchema for SuppliersAnswer {}

/// The suppliers of a product (the `result` of a `suppliers` job). Further members may be added.
#[derive(ToSchema)]
pub struct SuppliersResult {
    /// The product.
    pub product: SuppliersProduct,
    /// The keyword similar items were searched with (empty when the title has none).
    #[schema(example = "magnetic phone holder")]
    pub keyword: String,
    /// Ship-to country.
    #[schema(example = "US")]
    pub country: String,
    /// The product's own store first (`own: true`), then other shops by 30-day orders.
    pub suppliers: Vec<Supplier>,
    /// When the suppliers were gathered.
    #[schema(format = DateTime)]
    pub found_at: String,
}

/// The product whose suppliers are listed.
#[derive(ToSchema)]
pub struct SuppliersProduct {
    /// Marketplace.
    #[schema(example = "aliexpress")]
    pub source: String,
    /// Product id.
    #[schema(example = "1005006123456789")]
    pub id: String,
    /// Title.
    pub title: String,
}

/// One shop selling the product or similar items.
#[derive(ToSchema)]
pub struct Supplier {
    /// Store id.
    pub store_id: String,
    /// Store name, when known.
    #[schema(required = true)]
    pub store_name: Option<String>,
    /// Store page.
    pub store_url: String,
    /// Store country, when known.
    #[schema(required = true)]
    pub country: Option<String>,
    /// Detailed seller ratings, when known.
    #[schema(required = true)]
    pub ratings: Option<SupplierRatings>,
    /// Mean positive feedback of its listed products, in percent.
    #[schema(required = true)]
    pub evaluate_rate: Option<f64>,
    /// Lowest price among its listed products.
    #[schema(required = true)]
    pub min_price: Option<f64>,
    /// Currency of `min_price`.
    #[schema(example = "USD")]
    pub currency: String,
    /// Units its listed products sold in the last 30 days.
    pub orders_30d: u64,
    /// Its listed products.
    pub products: u64,
    /// Present and true for the product's own store.
    pub own: Option<bool>,
}

/// Detailed seller ratings (0–5).
#[derive(ToSchema)]
pub struct SupplierRatings {
    /// Item as described.
    pub item_as_described: f64,
    /// Communication.
    pub communication: f64,
    /// Shipping speed.
    pub shipping_speed: f64,
}
