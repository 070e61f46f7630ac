//! Cache hits and the `200` answers of the read-through routes: a cached result, or the job that
//! finished within `Prefer: wait`. `CachedBody` writes a hit as `{"status":"succeeded","cache":"hit","result":…}`
//! around the cached bytes; these types are that shape.

use dropforge_common::{
    JobStatus,
    contract::{SearchResult, SuppliersResult, ValidationResult},
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{
    batch::CacheHit,
    job::{SearchJob, SuppliersJob, ValidationJob},
};

/// Declares a cache-hit document and the `200` answer (hit or finished job) of one route.
macro_rules! cached_answers {
    ($($(#[$doc:meta])* $cached:ident($result:ty), $(#[$adoc:meta])* $answer:ident($job:ty);)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Serialize, ToSchema)]
        pub struct $cached {
            /// Always `succeeded`.
            pub status: JobStatus,
            /// Always `hit`.
            pub cache: CacheHit,
            /// The cached result.
            #[schema(value_type = $result)]
            pub result: Value,
        }

        $(#[$adoc])*
        #[derive(Debug, Clone, Serialize, ToSchema)]
        #[serde(untagged)]
        pub enum $answer {
            /// A cache hit.
            Cached($cached),
            /// The job, finished within `Prefer: wait`.
            Job($job),
        }
    )*};
}

cached_answers! {
    /// A cache hit of `POST /v1/validations`.
    CachedValidation(ValidationResult),
    /// A `200` of `POST /v1/validations`: a cache hit, or the job finished within `Prefer: wait`.
    ValidationAnswer(ValidationJob);
    /// A cache hit of `GET /v1/products/search`.
    CachedSearch(SearchResult),
    /// A `200` of `GET /v1/products/search`: a cache hit, or the job finished within `Prefer: wait`.
    SearchAnswer(SearchJob);
    /// A cache hit of `GET /v1/products/{source}/{id}/suppliers`.
    CachedSuppliers(SuppliersResult),
    /// A `200` of `GET /v1/products/{source}/{id}/suppliers`: a cache hit, or the finished job.
    SuppliersAnswer(SuppliersJob);
}
