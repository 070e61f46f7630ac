//! Domain vocabulary: job ids, kinds and statuses shared by api and worker.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A job id: a ULID (time-sortable) stored as a PostgreSQL `uuid`, shown in canonical UUID text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub Uuid);

impl JobId {
    /// A new id for a job created now.
    pub fn generate() -> Self {
        Self(Uuid::from(ulid::Ulid::generate()))
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A string that is not a job id.
#[derive(Debug, thiserror::Error)]
#[error("not a job id: expected a UUID such as 019ac3b2-6c1d-7e6f-9a8b-123456789abc")]
pub struct InvalidJobId;

impl FromStr for JobId {
    type Err = InvalidJobId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Only the canonical hyphenated form: other spellings would make one job answer to many URLs.
        if s.len() != 36 {
            return Err(InvalidJobId);
        }
        Uuid::parse_str(s).map(Self).map_err(|_| InvalidJobId)
    }
}

/// A tenant id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(pub Uuid);

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Validate one product.
    Validation,
    /// Validate up to 50 products.
    Batch,
    /// Product search by keyword.
    Search,
    /// Supplier list of one product.
    Suppliers,
    /// One webhook delivery.
    Webhook,
    /// A no-op job that the worker submits to itself on a timer: a black-box probe of the whole
    /// durable path (row, push, claim, lease, completion, event) with no upstream call.
    Canary,
}

impl JobKind {
    /// Every kind, in a stable order.
    pub const ALL: [JobKind; 6] = [
        Self::Validation,
        Self::Batch,
        Self::Search,
        Self::Suppliers,
        Self::Webhook,
        Self::Canary,
    ];

    /// The name used in the database, queue names and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validation => "validation",
            Self::Batch => "batch",
            Self::Search => "search",
            Self::Suppliers => "suppliers",
            Self::Webhook => "webhook",
            Self::Canary => "canary",
        }
    }

    /// Parses the database name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a job is in its life: `queued -> running -> succeeded | failed | canceled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Accepted, waiting for a worker.
    Queued,
    /// A worker holds its lease.
    Running,
    /// Finished with a result.
    Succeeded,
    /// Finished without a result.
    Failed,
    /// Canceled before it ran.
    Canceled,
}

impl JobStatus {
    /// The name used in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    /// Parses the database name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Running,
            Self::Succeeded,
            Self::Failed,
            Self::Canceled,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// True once the job can no longer change.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Canceled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_parse_only_canonical_uuids() {
        let id = JobId::generate();
        assert_eq!(id.to_string().parse::<JobId>().ok(), Some(id));
        assert!("not-a-uuid".parse::<JobId>().is_err());
        assert!(id.0.simple().to_string().parse::<JobId>().is_err());
    }

    #[test]
    fn ids_sort_by_creation() {
        let a = JobId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = JobId::generate();
        assert!(a < b);
    }
}
