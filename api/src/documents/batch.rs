//! The parts of a batch answer: its progress and its items, and the answer when every item was cached.

use dropforge_common::{
    JobStatus,
    contract::{JobError, ValidationResult},
    db::batches::Item,
    product::ProductRef,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// Progress of a batch (a canceled item did not fail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct BatchProgress {
    /// Items submitted.
    pub total: usize,
    /// Items with a result.
    pub done: usize,
    /// Items that failed.
    pub failed: usize,
    /// Items canceled before they ran (not counted as failed).
    pub canceled: usize,
}

impl BatchProgress {
    /// The progress of these items.
    pub fn of(items: &[BatchItem]) -> Self {
        let count = |status: JobStatus| items.iter().filter(|i| i.status == status).count();
        Self {
            total: items.len(),
            done: count(JobStatus::Succeeded),
            failed: count(JobStatus::Failed),
            canceled: count(JobStatus::Canceled),
        }
    }
}

/// One batch item.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchItem {
    /// Index in the submitted list.
    pub position: i32,
    /// The product.
    #[schema(value_type = ProductRef)]
    pub product: Value,
    /// `succeeded` for cached items, else the serving job's status.
    pub status: JobStatus,
    /// The validation job serving it (absent for cached items).
    #[schema(required = true)]
    pub job_id: Option<Uuid>,
    /// True when answered from the cache at submit time.
    pub cached: bool,
    /// The validation result, once there is one.
    #[schema(value_type = Option<ValidationResult>, required = true)]
    pub result: Option<Value>,
    /// The error of a failed item.
    #[schema(value_type = Option<JobError>, required = true)]
    pub error: Option<Value>,
}

impl From<Item> for BatchItem {
    fn from(item: Item) -> Self {
        Self {
            position: item.position,
            product: item.product,
            status: item.status,
            job_id: item.job_id,
            cached: item.cached,
            result: item.result,
            error: item.error,
        }
    }
}

/// The `cache` member of an answer served from the cache: always `hit`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CacheHit {
    /// Served from the cache.
    Hit,
}

/// `POST /v1/validations/batch` when every item was cached: no job, the items with their results.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CachedBatch {
    /// Always `succeeded`.
    pub status: JobStatus,
    /// Always `hit`.
    pub cache: CacheHit,
    /// `{total, done, failed, canceled}`.
    pub progress: BatchProgress,
    /// One entry per submitted product, in order.
    pub items: Vec<BatchItem>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(status: JobStatus) -> BatchItem {
        BatchItem {
            position: 0,
            product: Value::Null,
            status,
            job_id: None,
            cached: false,
            result: None,
            error: None,
        }
    }

    #[test]
    fn canceled_items_are_not_failed() {
        use JobStatus::{Canceled, Failed, Queued, Succeeded};
        let items: Vec<BatchItem> = [Succeeded, Failed, Canceled, Canceled, Queued]
            .into_iter()
            .map(item)
            .collect();
        let progress = BatchProgress::of(&items);
        assert_eq!(
            progress,
            BatchProgress {
                total: 5,
                done: 1,
                failed: 1,
                canceled: 2
            }
        );
    }
}
