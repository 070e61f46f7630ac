//! Job kinds and statuses: the closed sets behind the `jobs.kind` and `jobs.status` columns.
//!
//! Both are stored as `text` (checked by the `jobs_kind_check` and `jobs_status_check`
//! constraints), serialised in snake_case to clients, and decoded straight from rows by sqlx.
//! The internal status `scheduled` (a job waiting for its retry or throttle to pass) decodes as
//! [`JobStatus::Queued`]: clients never see it. [`JobClass`] is the dispatch class (`jobs.class`).

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use sqlx::{
    Decode, Encode, Postgres, Type,
    encode::IsNull,
    error::BoxDynError,
    postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef},
};

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
///
/// Stored as text; the internal `scheduled` status reads as `Queued` (see [`JobStatus::from_db`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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

    /// Parses a `jobs.status` value: the public names, plus the internal `scheduled` (a queued
    /// job waiting for its retry time), which clients see as `queued`.
    pub fn from_db(s: &str) -> Option<Self> {
        match s {
            SCHEDULED => Some(Self::Queued),
            other => Self::parse(other),
        }
    }
}

/// The internal status of a job waiting for a retry or a throttle to pass (`jobs.status`).
pub const SCHEDULED: &str = "scheduled";

impl Type<Postgres> for JobStatus {
    fn type_info() -> PgTypeInfo {
        <&str as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <&str as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for JobStatus {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let s = <&str as Decode<Postgres>>::decode(value)?;
        Self::from_db(s).ok_or_else(|| format!("unknown job status {s:?}").into())
    }
}

impl Encode<'_, Postgres> for JobStatus {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <&str as Encode<Postgres>>::encode(self.as_str(), buf)
    }
}

/// The dispatch class of a job (`jobs.class`): each has its own apalis queue per kind, its own
/// worker concurrency and its own share of the upstream budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobClass {
    /// Single submissions (validations, searches, suppliers), webhooks, canaries.
    #[default]
    Interactive,
    /// Batch children, and a tenant's singles beyond its interactive allowance.
    Bulk,
}

impl JobClass {
    /// Both classes, interactive first.
    pub const ALL: [JobClass; 2] = [Self::Interactive, Self::Bulk];

    /// The `jobs.class` value.
    pub fn as_i16(self) -> i16 {
        match self {
            Self::Interactive => 0,
            Self::Bulk => 1,
        }
    }

    /// From a `jobs.class` value (anything but 1 is interactive).
    pub fn from_i16(v: i16) -> Self {
        if v == 1 { Self::Bulk } else { Self::Interactive }
    }

    /// The name used in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interactive => "interactive",
            Self::Bulk => "bulk",
        }
    }
}

impl fmt::Display for JobClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl JobKind {
    /// The classes this kind is queued in: the kinds clients submit in bulk (batch children, and
    /// singles beyond the allowance) have a bulk queue too; webhooks and canaries only run
    /// interactive, and batches are never queued.
    pub fn classes(self) -> &'static [JobClass] {
        match self {
            Self::Validation | Self::Search | Self::Suppliers => &JobClass::ALL,
            Self::Webhook | Self::Canary => &[JobClass::Interactive],
            Self::Batch => &[],
        }
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

    #[test]
    fn scheduled_reads_as_queued_and_classes_round_trip() {
        assert_eq!(JobStatus::from_db("scheduled"), Some(JobStatus::Queued));
        assert_eq!(JobStatus::from_db("running"), Some(JobStatus::Running));
        assert_eq!(JobStatus::from_db("nope"), None);
        assert!("scheduled".parse::<JobStatus>().is_err(), "not a public status");
        for c in JobClass::ALL {
            assert_eq!(JobClass::from_i16(c.as_i16()), c);
        }
        assert_eq!(JobKind::Validation.classes(), &JobClass::ALL);
        assert_eq!(JobKind::Webhook.classes(), &[JobClass::Interactive]);
        assert!(JobKind::Batch.classes().is_empty());
    }
}
