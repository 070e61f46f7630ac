//! Job kinds and statuses: the closed sets behind the `jobs.kind` and `jobs.status` columns.
//!
//! Both are stored as `text` (checked by the `jobs_kind_check` and `jobs_status_check`
//! constraints), serialised in snake_case to clients, and decoded straight from rows by sqlx.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
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

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no job kind or status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job {what}: {value:?}")]
pub struct UnknownName {
    /// `kind` or `status`.
    pub what: &'static str,
    /// The string given.
    pub value: String,
}

impl FromStr for JobKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| UnknownName {
            what: "kind",
            value: s.to_owned(),
        })
    }
}

/// Where a job is in its life: `queued -> running -> succeeded | failed | canceled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
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
    /// Every status, in life order.
    pub const ALL: [JobStatus; 5] = [
        Self::Queued,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Canceled,
    ];

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
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// True once the job can no longer change.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Canceled)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| UnknownName {
            what: "status",
            value: s.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_serde_and_parse() {
        for k in JobKind::ALL {
            assert_eq!(serde_json::to_value(k).ok(), Some(serde_json::json!(k.as_str())));
            assert_eq!(k.to_string().parse::<JobKind>().ok(), Some(k));
        }
        for s in JobStatus::ALL {
            assert_eq!(serde_json::to_value(s).ok(), Some(serde_json::json!(s.as_str())));
            assert_eq!(s.to_string().parse::<JobStatus>().ok(), Some(s));
        }
        assert!("nope".parse::<JobKind>().is_err());
        assert!("nope".parse::<JobStatus>().is_err());
    }
}
