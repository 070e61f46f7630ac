//! Domain vocabulary: job ids, kinds and statuses shared by api and worker.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::job_state::{JobClass, JobKind, JobStatus};

/// A job id: a ULID (time-sortable) stored as a PostgreSQL `uuid`, shown in canonical UUID text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, format = Uuid, example = "019ac3b2-6c1d-7e6f-9a8b-123456789abc")]
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
