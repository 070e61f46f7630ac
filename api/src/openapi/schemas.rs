//! Documentation-only schemas of request and response bodies (the `common` types stay free of utoipa).

use serde::Serialize;
use serde_json::Value;
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        self, RefOr,
        schema::{OneOfBuilder, Schema},
    },
};

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
    /// `{total, done, failed, canceled}`.
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
    /// Items that failed.
    pub failed: u32,
    /// Items canceled before they ran (not counted as failed).
    pub canceled: u32,
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
    /// This attempt's outcome: `delivered` (2xx), `failed` (another status or an error; see
    /// `next_attempt_at` for a retry) or `disabled` (410 Gone, or the URL was disabled); `pending`
    /// for a delivery not attempted yet.
    pub status: String,
    /// The delivery's current status, the same on each of its attempts: `pending`, `delivered`,
    /// `failed` or `disabled`.
    pub delivery_status: String,
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
    /// `invalid_job_id`, `duplicate_query_parameter`, `invalid_query_encoding`, `invalid_path_encoding`,
    /// `job_not_found`, `not_found`, `method_not_allowed`, `payload_too_large`,
    /// `unauthorized`, `rate_limited`, `idempotency_key_invalid`, `idempotency_key_reused`,
    /// `idempotency_request_in_progress`, `job_not_cancelable`, `webhook_url_disabled`, `service_unavailable`,
    /// `request_timeout` or
    /// `internal_error`.
    #[schema(example = "validation_failed")]
    pub code: String,
    /// Every invalid member (`validation_failed`), or the offending parameter
    /// (`duplicate_query_parameter`, `invalid_query_encoding`, `invalid_path_encoding`).
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
