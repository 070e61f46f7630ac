//! The job document, one schema per kind: `GET /v1/jobs/{id}`, the pages of `GET /v1/jobs`, and
//! every answer that carries a job. [`Job`] is a `oneOf` told apart by `kind`, so a generated
//! client decodes each kind's `input` and `result` into their own types.

use chrono::{DateTime, Utc};
use dropforge_common::{
    contract::{
        BatchInput, CanaryInput, JobError, SearchInput, SearchResult, SuppliersInput, SuppliersResult, ValidationInput,
        ValidationResult, WebhookInput, input::client_view,
    },
    db::jobs::JobRecord,
    domain::{JobId, JobKind, JobStatus},
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::batch::{BatchItem, BatchProgress};

/// The path of a job.
pub fn job_location(id: JobId) -> String {
    format!("/v1/jobs/{id}")
}

/// Links of a job.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobLinks {
    /// The job itself.
    #[serde(rename = "self")]
    #[schema(example = "/v1/jobs/019ac3b2-6c1d-7e6f-9a8b-123456789abc")]
    pub self_link: String,
}

/// Declares one job document type per kind (the members every job has, then the kind's own) and
/// the `kind` tag type that is its discriminator value.
macro_rules! job_kinds {
    ($(
        $(#[$doc:meta])*
        $job:ident, $tag:ident::$variant:ident, input: $input:ty, result: $result:ty
        $(, extra { $($(#[$fdoc:meta])* $field:ident: $fty:ty),* $(,)? })?;
    )*) => {$(
        /// The `kind` of this job document: its one value.
        #[derive(Debug, Clone, Copy, Serialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $tag {
            /// The kind.
            $variant,
        }

        $(#[$doc])*
        #[derive(Debug, Clone, Serialize, ToSchema)]
        pub struct $job {
            /// Job id (a ULID shown as a UUID).
            #[schema(value_type = uuid::Uuid, example = "019ac3b2-6c1d-7e6f-9a8b-123456789abc")]
            pub id: JobId,
            /// What the job does.
            pub kind: $tag,
            /// Where the job is.
            pub status: JobStatus,
            /// Attempts started so far.
            pub attempts: i32,
            /// The normalised input.
            #[schema(value_type = $input)]
            pub input: Value,
            /// The result, once succeeded.
            #[schema(value_type = Option<$result>, required = true)]
            pub result: Option<Value>,
            /// Why the job failed, once failed.
            #[schema(value_type = Option<JobError>, required = true)]
            pub error: Option<Value>,
            /// Creation time.
            #[schema(value_type = String, format = DateTime)]
            pub created_at: DateTime<Utc>,
            /// First start.
            #[schema(value_type = Option<String>, format = DateTime, required = true)]
            pub started_at: Option<DateTime<Utc>>,
            /// End.
            #[schema(value_type = Option<String>, format = DateTime, required = true)]
            pub finished_at: Option<DateTime<Utc>>,
            /// Last change.
            #[schema(value_type = String, format = DateTime)]
            pub updated_at: DateTime<Utc>,
            /// Related resources.
            pub links: JobLinks,
            $($(
                $(#[$fdoc])*
                #[serde(skip_serializing_if = "Option::is_none")]
                pub $field: Option<$fty>,
            )*)?
        }

        impl $job {
            fn from_parts(job: &JobRecord, input: Value, result: Option<Value>, error: Option<Value>) -> Self {
                let id = JobId(job.id);
                Self {
                    id,
                    kind: $tag::$variant,
                    status: job.status,
                    attempts: job.attempts,
                    input,
                    result,
                    error,
                    created_at: job.created_at,
                    started_at: job.started_at,
                    finished_at: job.finished_at,
                    updated_at: job.updated_at,
                    links: JobLinks { self_link: job_location(id) },
                    $($($field: None,)*)?
                }
            }
        }
    )*};
}

job_kinds! {
    /// A `validation` job: one product scored by score-v1.
    ValidationJob, ValidationKind::Validation, input: ValidationInput, result: ValidationResult;
    /// A `batch` job: up to 50 validations. `GET /v1/jobs/{id}` and `POST /v1/validations/batch`
    /// add `progress` and `items`; it has no `result` of its own.
    BatchJob, BatchKind::Batch, input: BatchInput, result: Value, extra {
        /// `{total, done, failed, canceled}` of its items.
        progress: BatchProgress,
        /// One entry per submitted product, in order.
        items: Vec<BatchItem>,
    };
    /// A `search` job: products matching keywords.
    SearchJob, SearchKind::Search, input: SearchInput, result: SearchResult;
    /// A `suppliers` job: the shops selling a product or similar items.
    SuppliersJob, SuppliersKind::Suppliers, input: SuppliersInput, result: SuppliersResult;
    /// A `webhook` job: one delivery of an event (see `GET /v1/jobs/{id}/deliveries` of its parent).
    WebhookJob, WebhookKind::Webhook, input: WebhookInput, result: Value;
    /// A `canary` job: the platform's probe of its own pipeline (owned by the `_system` account).
    CanaryJob, CanaryKind::Canary, input: CanaryInput, result: Value;
}

/// A job, as every answer that carries one shows it; `kind` tells which.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(discriminator(property_name = "kind", mapping(
    ("validation" = "#/components/schemas/ValidationJob"),
    ("batch" = "#/components/schemas/BatchJob"),
    ("search" = "#/components/schemas/SearchJob"),
    ("suppliers" = "#/components/schemas/SuppliersJob"),
    ("webhook" = "#/components/schemas/WebhookJob"),
    ("canary" = "#/components/schemas/CanaryJob"),
)))]
pub enum Job {
    /// A validation.
    Validation(ValidationJob),
    /// A batch.
    Batch(BatchJob),
    /// A search.
    Search(SearchJob),
    /// A suppliers lookup.
    Suppliers(SuppliersJob),
    /// A webhook delivery.
    Webhook(WebhookJob),
    /// A canary.
    Canary(CanaryJob),
}

impl Job {
    /// The client representation of a job row (its input as the typed contract shows it).
    /// The row's result and error documents move into the answer instead of being copied (a
    /// result is a tree of a few hundred nodes).
    pub fn from_owned(mut job: JobRecord) -> Self {
        let (result, error) = (job.result.take(), job.error.take());
        Self::from_parts(&job, result, error)
    }

    fn from_parts(job: &JobRecord, result: Option<Value>, error: Option<Value>) -> Self {
        let input = client_view(job.kind, &job.input);
        match job.kind {
            JobKind::Validation => Self::Validation(ValidationJob::from_parts(job, input, result, error)),
            JobKind::Batch => Self::Batch(BatchJob::from_parts(job, input, result, error)),
            JobKind::Search => Self::Search(SearchJob::from_parts(job, input, result, error)),
            JobKind::Suppliers => Self::Suppliers(SuppliersJob::from_parts(job, input, result, error)),
            JobKind::Webhook => Self::Webhook(WebhookJob::from_parts(job, input, result, error)),
            JobKind::Canary => Self::Canary(CanaryJob::from_parts(job, input, result, error)),
        }
    }
}

impl BatchJob {
    /// A batch job with its items and their progress.
    pub fn with_items(job: &JobRecord, items: Vec<BatchItem>) -> Self {
        let mut doc = Self::from_parts(
            job,
            client_view(job.kind, &job.input),
            job.result.clone(),
            job.error.clone(),
        );
        doc.progress = Some(BatchProgress::of(&items));
        doc.items = Some(items);
        doc
    }
}

/// A page of `GET /v1/jobs`, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobPage {
    /// The jobs of this page.
    pub data: Vec<Job>,
    /// True when another page follows.
    pub has_more: bool,
    /// Cursor of the next page, when there is one.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}
