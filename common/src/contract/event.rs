//! Event payloads: the webhook event bodies (Standard Webhooks: `type`, `timestamp`, `data`)
//! written to the outbox, and the Redis completion-event message that wakes `Prefer: wait`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{error::JobError, result::JobResult};
use crate::domain::{JobId, JobKind, JobStatus};

/// The type of a webhook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    /// A job finished with a result.
    #[serde(rename = "job.succeeded")]
    JobSucceeded,
    /// A job failed for good.
    #[serde(rename = "job.failed")]
    JobFailed,
    /// Every item of a batch ended.
    #[serde(rename = "batch.completed")]
    BatchCompleted,
}

impl EventType {
    /// The name, as on the wire and in `webhook_deliveries.event_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::JobSucceeded => "job.succeeded",
            Self::JobFailed => "job.failed",
            Self::BatchCompleted => "batch.completed",
        }
    }
}

/// The body of a `job.succeeded` or `job.failed` webhook event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobEvent {
    /// `job.succeeded` or `job.failed`.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When the event was written.
    pub timestamp: DateTime<Utc>,
    /// The job with its result or error.
    pub data: JobEventData,
}

/// The job a [`JobEvent`] is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobEventData {
    /// Job id.
    pub id: JobId,
    /// What the job did.
    pub kind: JobKind,
    /// `succeeded` or `failed`.
    pub status: JobStatus,
    /// The result of a succeeded job (null on failure).
    #[schema(required = true)]
    pub result: Option<JobResult>,
    /// The error of a failed job (null on success).
    #[schema(required = true)]
    pub error: Option<JobError>,
}

impl JobEvent {
    /// `job.succeeded` for job `id` of `kind` with its result, stamped now.
    pub fn succeeded(id: JobId, kind: JobKind, result: JobResult) -> Self {
        Self::now(
            EventType::JobSucceeded,
            id,
            kind,
            JobStatus::Succeeded,
            Some(result),
            None,
        )
    }

    /// `job.failed` for job `id` of `kind` with its error, stamped now.
    pub fn failed(id: JobId, kind: JobKind, error: JobError) -> Self {
        Self::now(EventType::JobFailed, id, kind, JobStatus::Failed, None, Some(error))
    }

    fn now(
        event_type: EventType,
        id: JobId,
        kind: JobKind,
        status: JobStatus,
        result: Option<JobResult>,
        error: Option<JobError>,
    ) -> Self {
        Self {
            event_type,
            timestamp: Utc::now(),
            data: JobEventData {
                id,
                kind,
                status,
                result,
                error,
            },
        }
    }
}

/// The body of a `batch.completed` webhook event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BatchEvent {
    /// Always `batch.completed`.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When the event was written.
    pub timestamp: DateTime<Utc>,
    /// The batch; read it (with its items) at `links.self`.
    pub data: BatchEventData,
}

/// The batch a [`BatchEvent`] is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BatchEventData {
    /// The batch job's id.
    pub id: JobId,
    /// Always `batch`.
    pub kind: JobKind,
    /// Always `succeeded`.
    pub status: JobStatus,
    /// Where to read the batch.
    pub links: EventLinks,
}

/// Links of an event's subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventLinks {
    /// The job, `/v1/jobs/{id}`.
    #[serde(rename = "self")]
    #[schema(example = "/v1/jobs/019ac3b2-6c1d-7e6f-9a8b-123456789abc")]
    pub self_link: String,
}

impl BatchEvent {
    /// `batch.completed` for batch `id`, stamped now.
    pub fn completed(id: JobId) -> Self {
        Self {
            event_type: EventType::BatchCompleted,
            timestamp: Utc::now(),
            data: BatchEventData {
                id,
                kind: JobKind::Batch,
                status: JobStatus::Succeeded,
                links: EventLinks {
                    self_link: format!("/v1/jobs/{id}"),
                },
            },
        }
    }
}

/// The Redis completion-event message: the ids of jobs that reached a terminal state, separated
/// by commas (one message for a whole group of completions). Not JSON: it is the hot path.
#[derive(Debug, Clone, Copy)]
pub struct JobsFinished<'a>(pub &'a [JobId]);

impl JobsFinished<'_> {
    /// The message text.
    pub fn encode(&self) -> String {
        let mut payload = String::with_capacity(self.0.len() * 37);
        for (i, id) in self.0.iter().enumerate() {
            if i > 0 {
                payload.push(',');
            }
            payload.push_str(&id.to_string());
        }
        payload
    }

    /// The job ids of a message (one id, or several separated by commas); junk is skipped.
    pub fn decode(payload: &str) -> impl Iterator<Item = JobId> + '_ {
        payload.split(',').filter_map(|s| s.trim().parse::<JobId>().ok())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::contract::error::JobErrorCode;

    #[test]
    fn job_events_keep_their_shape() {
        let id = JobId::generate();
        let event = JobEvent::failed(id, JobKind::Search, JobError::new(JobErrorCode::Timeout, "t"));
        let mut wire = serde_json::to_value(&event).expect("serialises");
        assert!(wire["timestamp"].is_string());
        wire["timestamp"] = json!(null);
        assert_eq!(
            wire,
            json!({"type": "job.failed", "timestamp": null, "data": {"id": id, "kind": "search",
                "status": "failed", "result": null, "error": {"code": "timeout", "message": "t"}}})
        );
    }

    #[test]
    fn batch_events_link_the_batch() {
        let id = JobId::generate();
        let mut wire = serde_json::to_value(BatchEvent::completed(id)).expect("serialises");
        wire["timestamp"] = json!(null);
        assert_eq!(
            wire,
            json!({"type": "batch.completed", "timestamp": null, "data": {"id": id, "kind": "batch",
                "status": "succeeded", "links": {"self": format!("/v1/jobs/{id}")}}})
        );
    }

    #[test]
    fn completion_messages_carry_one_or_many_ids() {
        let (a, b) = (JobId::generate(), JobId::generate());
        assert_eq!(JobsFinished(&[a, b]).encode(), format!("{a},{b}"));
        assert_eq!(JobsFinished::decode(&a.to_string()).collect::<Vec<_>>(), vec![a]);
        assert_eq!(JobsFinished::decode(&format!("junk,{b},")).collect::<Vec<_>>(), vec![b]);
    }
}
