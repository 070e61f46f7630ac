//! The job state machine (`db::transitions`), one test per transition, each on a fresh database
//! (`sqlx::test` creates it from `DATABASE_URL` and applies the migrations).
//!
//! Run: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/dropforge_test cargo test -p dropforge-common --test transitions`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use dropforge_common::{
    db::{
        batches, job_results,
        jobs::{self, Cancel, JobFilter, NewJob},
        results::{self, NewResult},
        tenants, transitions,
    },
    domain::{JobClass, JobId, JobKind, JobStatus, TenantId},
    product::ProductRef,
};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

const LEASE: Duration = Duration::from_secs(30);

/// A job's state columns, read back.
#[derive(Debug, sqlx::FromRow)]
struct Row {
    status: JobStatus,
    attempts: i32,
    state_version: i32,
    lease_owner: Option<String>,
    dispatched_at: Option<chrono::DateTime<chrono::Utc>>,
    queue_task_id: Option<String>,
    error: Option<serde_json::Value>,
    finished_at: Option<chrono::DateTime<chrono::Utc>>,
    next_run_at: chrono::DateTime<chrono::Utc>,
}

async fn row(pool: &PgPool, id: JobId) -> Row {
    sqlx::query_as(
        "select status, attempts, state_version, lease_owner, dispatched_at, queue_task_id, error, finished_at,
                next_run_at
         from jobs where id = $1",
    )
    .bind(id.0)
    .fetch_one(pool)
    .await
    .expect("job row")
}

async fn tenant(pool: &PgPool, name: &str) -> TenantId {
    tenants::create_key(pool, name).await.expect("tenant").tenant_id
}

fn new_job(tenant: TenantId, kind: JobKind, key: &str) -> NewJob {
    NewJob {
        tenant_id: tenant,
        kind,
        dedupe_key: Some(format!("{}:{key}", kind.as_str())),
        input: json!({"cache_key": key}),
        webhook_url: None,
        request_id: None,
        parent_id: None,
        dispatch_as: None,
    }
}

async fn queued(pool: &PgPool, tenant: TenantId, key: &str) -> JobId {
    jobs::create_or_join(pool, &new_job(tenant, JobKind::Validation, key))
        .await
        .expect("create")
        .id()
}

/// A job claimed by `owner` (attempt 1).
async fn running(pool: &PgPool, tenant: TenantId, key: &str, owner: &str) -> JobId {
    let id = queued(pool, tenant, key).await;
    transitions::claim(pool, id, owner, LEASE)
        .await
        .unwrap()
        .expect("claimable");
    id
}

/// Moves a queued job's due time an hour ahead.
async fn due_in_an_hour(pool: &PgPool, id: JobId) {
    sqlx::query("update jobs set next_run_at = now() + interval '1 hour' where id = $1")
        .bind(id.0)
        .execute(pool)
        .await
        .unwrap();
}

async fn expire_lease(pool: &PgPool, id: JobId) {
    sqlx::query("update jobs set lease_expires_at = now() - interval '1 second' where id = $1")
        .bind(id.0)
        .execute(pool)
        .await
        .unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn kinds_and_statuses_decode_and_serialise_as_before(pool: PgPool) {
    let t = tenant(&pool, "t").await;
    let id = queued(&pool, t, "a").await;
    let job = jobs::get(&pool, t, id).await.unwrap().expect("job");
    assert_eq!(job.kind, JobKind::Validation);
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(
        json!({"kind": job.kind, "status": job.status}),
        json!({"kind": "validation", "status": "queued"})
    );
    assert_eq!(jobs::status_of(&pool, id).await.unwrap(), Some(JobStatus::Queued));
    let listed = jobs::list(
        &pool,
        t,
        &JobFilter {
            status: Some(JobStatus::Queued),
            kind: Some(JobKind::Validation),
            before: None,
            limit: 10,
        },
    )
    .await
    .unwrap();
    assert_eq!(listed.len(), 1);
    let none = jobs::list(
        &pool,
        t,
        &JobFilter {
            status: Some(JobStatus::Running),
            limit: 10,
            ..JobFilter::default()
        },
    )
    .await
    .unwrap();
    assert!(none.is_empty());
    // Another tenant's id reads as missing.
    let other = tenant(&pool, "other").await;
    assert!(jobs::get(&pool, other, id).await.unwrap().is_none());
}

#[sqlx::test(migrations = "../migrations")]
async fn claim_takes_a_due_job_once_and_takes_over_only_an_expired_lease(pool: PgPool) {
    let t = tenant(&pool, "t").await;
    let id = queued(&pool, t, "a").await;
    let before = row(&pool, id).await;
    assert_eq!(
        (before.status, before.attempts, before.state_version),
        (JobStatus::Queued, 0, 1)
    );

    let claimed = transitions::claim(&pool, id, "w1", LEASE)
        .await
        .unwrap()
        .expect("claimed");
    assert_eq!((claimed.kind, claimed.attempts), (JobKind::Validation, 1));
    let r = row(&pool, id).await;
    assert_eq!((r.status, r.attempts, r.state_version), (JobStatus::Running, 1, 2));
    assert_eq!(r.lease_owner.as_deref(), Some("w1"));

    // A duplicate delivery under a live lease is dropped, by the same or another worker.
    assert!(transitions::claim(&pool, id, "w2", LEASE).await.unwrap().is_none());
    assert!(transitions::claim(&pool, id, "w1", LEASE).await.unwrap().is_none());
    assert_eq!(row(&pool, id).await.state_version, 2);

    // Once the lease lapsed, a later delivery takes it over: a new attempt under a new owner.
    expire_lease(&pool, id).await;
    let taken = transitions::claim(&pool, id, "w2", LEASE)
        .await
        .unwrap()
        .expect("taken over");
    assert_eq!(taken.attempts, 2);
    let r = row(&pool, id).await;
    assert_eq!(
        (r.status, r.lease_owner.as_deref(), r.state_version),
        (JobStatus::Running, Some("w2"), 3)
    );

    // A finished job is never claimed again.
    assert!(transitions::mark_succeeded(&pool, id, "w2").await.unwrap());
    expire_lease(&pool, id).await;
    assert!(transitions::claim(&pool, id, "w3", LEASE).await.unwrap().is_none());
    // Nor is a job that is not due yet.
    let later = queued(&pool, t, "later").await;
    due_in_an_hour(&pool, later).await;
    assert!(transitions::claim(&pool, later, "w1", LEASE).await.unwrap().is_none());
    // Nor a missing one.
    assert!(
        transitions::claim(&pool, JobId::generate(), "w1", LEASE)
            .await
            .unwrap()
            .is_none()
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn claim_many_answers_only_the_claimable_ids(pool: PgPool) {
    let t = tenant(&pool, "t").await;
    let a = queued(&pool, t, "a").await;
    let b = running(&pool, t, "b", "other").await;
    let missing = JobId::generate();
    let claimed = transitions::claim_many(&pool, &[a.0, b.0, missing.0, a.0], "w1", LEASE)
        .await
        .unwrap();
    assert_eq!(claimed.iter().map(|c| c.id).collect::<Vec<_>>(), vec![a.0]);
    assert_eq!(
        row(&pool, a).await.attempts,
        1,
        "a duplicate id inside one claim counts one attempt"
    );
    assert_eq!(row(&pool, b).await.lease_owner.as_deref(), Some("other"));
    assert!(
        transitions::claim_many(&pool, &[], "w1", LEASE)
            .await
            .unwrap()
            .is_empty()
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn lease_renewal_extends_only_the_owners_running_jobs_without_a_version_bump(pool: PgPool) {
    let t = tenant(&pool, "t").await;
    let mine = running(&pool, t, "a", "w1").await;
    let theirs = running(&pool, t, "b", "w2").await;
    let waiting = queued(&pool, t, "c").await;
    expire_lease(&pool, mine).await;
    let renewed = transitions::renew_leases(&pool, &[mine.0, theirs.0, waiting.0], "w1", LEASE)
        .await
        .unwrap();
    assert_eq!(renewed, 1);
    // Renewed: a claim by another worker no longer takes it over.
    assert!(transitions::claim(&pool, mine, "w2", LEASE).await.unwrap().is_none());
    assert_eq!(row(&pool, mine).await.state_version, 2, "renewal is not a state change");
    assert_eq!(row(&pool, waiting).await.status, JobStatus::Queued);
    // A job already finished is not renewed.
    assert!(transitions::mark_succeeded(&pool, mine, "w1").await.unwrap());
    assert_eq!(
        transitions::renew_leases(&pool, &[mine.0], "w1", LEASE).await.unwrap(),
        0
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn reschedule_without_refund_uses_up_the_attempt(pool: PgPool) {
    let t = tenant(&pool, "t").await;
    let id = running(&pool, t, "a", "w1").await;
    let err = json!({"code": "upstream_unavailable"});
    assert!(
        !transitions::reschedule(&pool, id, "w2", Duration::ZERO, &err, false)
            .await
            .unwrap(),
        "not the owner"
    );
    assert!(
        transitions::reschedule(&pool, id, "w1", Duration::from_secs(3600), &err, false)
            .await
            .unwrap()
    );
    let r = row(&pool, id).await;
    assert_eq!((r.status, r.attempts, r.state_version), (JobStatus::Queued, 1, 3));
    assert_eq!(r.error, Some(err.clone()));
    assert!(r.lease_owner.is_none() && r.dispatched_at.is_none() && r.queue_task_id.is_none());
    assert!(r.next_run_at > chrono::Utc::now() + chrono::Duration::minutes(59));
    // Not due before the delay: no claim; a second reschedule of the now queued job does nothing.
    assert!(transitions::claim(&pool, id, "w1", LEASE).await.unwrap().is_none());
    assert!(
        !transitions::reschedule(&pool, id, "w1", Duration::ZERO, &err, false)
            .await
            .unwrap()
    );
    // Due again: the dispatcher queues it again, and the next claim is attempt 2.
    sqlx::query("update jobs set next_run_at = now() where id = $1")
        .bind(id.0)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        transitions::promote_due(&pool, JobKind::Validation, 10).await.unwrap(),
        1
    );
    assert_eq!(
        transitions::claim(&pool, id, "w1", LEASE)
            .await
            .unwrap()
            .expect("due")
            .attempts,
        2
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn reschedule_with_refund_gives_the_attempt_back(pool: PgPool) {
    let t = tenant(&pool, "t").await;
    let id = running(&pool, t, "a", "w1").await;
    let err = json!({"code": "upstream_throttled"});
    assert!(
        transitions::reschedule(&pool, id, "w1", Duration::ZERO, &err, true)
            .await
            .unwrap()
    );
    let r = row(&pool, id).await;
    assert_eq!((r.status, r.attempts), (JobStatus::Queued, 0));
    // Once the dispatcher queued it again, the next claim is attempt 1 again.
    assert_eq!(
        transitions::promote_due(&pool, JobKind::Validation, 10).await.unwrap(),
        1
    );
    assert_eq!(
        transitions::claim(&pool, id, "w1", LEASE)
            .await
            .unwrap()
            .expect("due")
            .attempts,
        1
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn pending_work_names_the_queues_and_kinds_a_round_must_serve(pool: PgPool) {
    use JobClass::{Bulk, Interactive};
    let queues = [
        (JobKind::Validation, Interactive),
        (JobKind::Validation, Bulk),
        (JobKind::Search, Interactive),
        (JobKind::Search, Bulk),
    ];
    let t = tenant(&pool, "t").await;
    assert_eq!(
        transitions::pending_work(&pool, &queues, &[]).await.unwrap(),
        transitions::PendingWork::default(),
        "nothing waits"
    );

    // A due, undispatched validation: its queue only. A future one and a dispatched one: nothing.
    let a = queued(&pool, t, "a").await;
    let later = queued(&pool, t, "later").await;
    due_in_an_hour(&pool, later).await;
    let work = transitions::pending_work(&pool, &queues, &[]).await.unwrap();
    assert_eq!(work.ready, vec![(JobKind::Validation, Interactive)]);
    assert!(work.due.is_empty());
    let mut tx = pool.begin().await.unwrap();
    let taken = transitions::take_due(&mut tx, JobKind::Validation, Interactive, 10)
        .await
        .unwrap()
        .jobs;
    tx.commit().await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].0, a);
    assert_eq!(
        transitions::pending_work(&pool, &queues, &[]).await.unwrap(),
        transitions::PendingWork::default(),
        "dispatched and future jobs are not work"
    );

    // A bulk search, and a scheduled validation whose time came (its kind, once).
    let s = jobs::create_or_join(&pool, &new_job(t, JobKind::Search, "bulk"))
        .await
        .unwrap()
        .id();
    sqlx::query("update jobs set class = 1 where id = $1")
        .bind(s.0)
        .execute(&pool)
        .await
        .unwrap();
    let r = running(&pool, t, "retry", "w1").await;
    assert!(
        transitions::reschedule(&pool, r, "w1", Duration::ZERO, &json!({"code": "timeout"}), false)
            .await
            .unwrap()
    );
    let work = transitions::pending_work(&pool, &queues, &[]).await.unwrap();
    assert_eq!(work.ready, vec![(JobKind::Search, Bulk)]);
    assert_eq!(work.due, vec![JobKind::Validation]);
    // A queue assumed ready (it moved jobs last round) is answered ready without a probe.
    let work = transitions::pending_work(&pool, &queues, &[(JobKind::Validation, Bulk)])
        .await
        .unwrap();
    assert_eq!(work.ready, vec![(JobKind::Validation, Bulk), (JobKind::Search, Bulk)]);
    // Only the kinds asked about are answered.
    let work = transitions::pending_work(&pool, &queues[2..], &[]).await.unwrap();
    assert_eq!(work.ready, vec![(JobKind::Search, Bulk)]);
    assert!(work.due.is_empty());
}

#[sqlx::test(migrations = "../migrations")]
async fn take_due_dispatches_each_due_job_once(pool: PgPool) {
    let t = tenant(&pool, "t").await;
    let a = queued(&pool, t, "a").await;
    let b = queued(&pool, t, "b").await;
    let search = jobs::create_or_join(&pool, &new_job(t, JobKind::Search, "s"))
        .await
        .unwrap()
        .id();
    let not_due = queued(&pool, t, "later").await;
    due_in_an_hour(&pool, not_due).await;
    let busy = running(&pool, t, "busy", "w1").await;

    // While one dispatcher holds the rows, another takes none of them (skip locked).
    let mut tx = pool.begin().await.unwrap();
    let taken = transitions::take_due(&mut tx, JobKind::Validation, JobClass::Interactive, 10)
        .await
        .unwrap()
        .jobs;
    let mut ids: Vec<JobId> = taken.iter().map(|(id, _)| *id).collect();
    ids.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(ids, want);
    let mut other = pool.begin().await.unwrap();
    assert!(
        transitions::take_due(&mut other, JobKind::Validation, JobClass::Interactive, 10)
            .await
            .unwrap()
            .jobs
            .is_empty()
    );
    other.rollback().await.unwrap();
    tx.commit().await.unwrap();
    for (id, task) in &taken {
        let r = row(&pool, *id).await;
        assert_eq!(r.status, JobStatus::Queued);
        assert_eq!(r.queue_task_id, Some(task.to_string()));
        assert!(r.dispatched_at.is_some());
        assert_eq!(r.state_version, 1, "dispatch is not a state change");
    }
    // Dispatched jobs are not taken again; other kinds, running and future jobs never were.
    let mut tx = pool.begin().await.unwrap();
    assert!(
        transitions::take_due(&mut tx, JobKind::Validation, JobClass::Interactive, 10)
            .await
            .unwrap()
            .jobs
            .is_empty()
    );
    tx.rollback().await.unwrap();
    assert!(row(&pool, not_due).await.dispatched_at.is_none());
    assert!(row(&pool, busy).await.dispatched_at.is_none());
    assert!(row(&pool, search).await.dispatched_at.is_none());

    // A failed push rolls back: the jobs stay undispatched. An undone dispatch is taken again.
    let mut tx = pool.begin().await.unwrap();
    let s = transitions::take_due(&mut tx, JobKind::Search, JobClass::Interactive, 10)
        .await
        .unwrap()
        .jobs;
    assert_eq!(s.len(), 1);
    tx.rollback().await.unwrap();
    assert!(row(&pool, search).await.dispatched_at.is_none());
    let (first, task) = taken[0];
    transitions::undo_dispatch(&pool, first, ulid::Ulid::generate())
        .await
        .unwrap();
    assert!(
        row(&pool, first).await.dispatched_at.is_some(),
        "another task id: not undone"
    );
    transitions::undo_dispatch(&pool, first, task).await.unwrap();
    assert!(row(&pool, first).await.dispatched_at.is_none());
    let mut tx = pool.begin().await.unwrap();
    let again = transitions::take_due(&mut tx, JobKind::Validation, JobClass::Interactive, 1)
        .await
        .unwrap()
        .jobs;
    tx.commit().await.unwrap();
    assert_eq!(again.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![first]);

    // Settling: a held dispatch stays, a lost one is cleared for the dispatcher.
    let (second, second_task) = *taken.iter().find(|(id, _)| *id != first).unwrap();
    transitions::settle_dispatches(
        &pool,
        &[(again[0].0.0, again[0].1.to_string())],
        &[(second.0, second_task.to_string())],
    )
    .await
    .unwrap();
    assert!(row(&pool, first).await.dispatched_at.is_some());
    let r = row(&pool, second).await;
    assert!(r.dispatched_at.is_none() && r.queue_task_id.is_none());
}

#[sqlx::test(migrations = "../migrations")]
async fn cancel_only_while_queued(pool: PgPool) {
    let t = tenant(&pool, "t").await;
    let id = queued(&pool, t, "a").await;
    let other = tenant(&pool, "other").await;
    assert_eq!(transitions::cancel(&pool, other, id).await.unwrap(), Cancel::NotFound);
    assert_eq!(
        transitions::cancel(&pool, t, JobId::generate()).await.unwrap(),
        Cancel::NotFound
    );
    assert_eq!(transitions::cancel(&pool, t, id).await.unwrap(), Cancel::Canceled);
    let r = row(&pool, id).await;
    assert_eq!((r.status, r.state_version), (JobStatus::Canceled, 2));
    assert!(r.finished_at.is_some());
    assert_eq!(
        transitions::cancel(&pool, t, id).await.unwrap(),
        Cancel::NotCancelable(JobStatus::Canceled)
    );
    assert_eq!(row(&pool, id).await.state_version, 2);
    // A canceled job is never claimed.
    assert!(transitions::claim(&pool, id, "w1", LEASE).await.unwrap().is_none());

    let busy = running(&pool, t, "b", "w1").await;
    assert_eq!(
        transitions::cancel(&pool, t, busy).await.unwrap(),
        Cancel::NotCancelable(JobStatus::Running)
    );
    assert!(transitions::mark_succeeded(&pool, busy, "w1").await.unwrap());
    assert_eq!(
        transitions::cancel(&pool, t, busy).await.unwrap(),
        Cancel::NotCancelable(JobStatus::Succeeded)
    );
}

/// A batch with one item per key, each served by a new child job, written as the API writes them:
/// the batch, its items and the children with the ids the items name, in one statement.
async fn batch_of(pool: &PgPool, t: TenantId, keys: &[&str]) -> (JobId, Vec<JobId>) {
    let ids: Vec<JobId> = keys.iter().map(|_| JobId::generate()).collect();
    let items: Vec<batches::NewItem> = keys
        .iter()
        .zip(&ids)
        .enumerate()
        .map(|(i, (key, id))| batches::NewItem {
            position: i32::try_from(i).unwrap(),
            product: json!({"source": "aliexpress", "id": key}),
            cache_key: (*key).to_owned(),
            job_id: Some(*id),
            result: None,
        })
        .collect();
    let batch = JobId::generate();
    let children: Vec<NewJob> = keys
        .iter()
        .map(|key| {
            let mut job = new_job(t, JobKind::Validation, key);
            job.parent_id = Some(batch);
            job
        })
        .collect();
    let input = json!({"products": []});
    let new_batch = batches::NewBatch {
        id: batch,
        tenant: t,
        input: &input,
        webhook_url: None,
        request_id: None,
        items: &items,
    };
    let mut conn = pool.acquire().await.unwrap();
    let (record, created) = jobs::create_batch(&mut conn, &new_batch, &children, &ids)
        .await
        .unwrap();
    assert_eq!(record.id, batch.0);
    (batch, created.iter().map(|c| c.id()).collect())
}

/// A batch's miss that another submission creates after the batch's statement took its snapshot:
/// the statement waits for that submission on the key, finds its own job not written, is refused
/// by the items' check and runs again, joining the job. Nothing is written twice.
#[sqlx::test(migrations = "../migrations")]
async fn a_batch_joins_a_job_created_while_it_was_written(pool: PgPool) {
    let t = tenant(&pool, "t").await;
    let mut other = pool.begin().await.unwrap();
    let theirs = jobs::create_group(&mut other, &[new_job(t, JobKind::Validation, "k")], false)
        .await
        .unwrap()
        .remove(0)
        .expect("created")
        .id();
    let writing = tokio::spawn({
        let pool = pool.clone();
        async move { batch_of(&pool, t, &["k", "l"]).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!writing.is_finished(), "the batch waits for the other submission's key");
    other.commit().await.unwrap();
    let (batch, children) = tokio::time::timeout(Duration::from_secs(10), writing)
        .await
        .expect("the batch is written once the other commits")
        .unwrap();
    assert_eq!(children[0], theirs, "the batch joined the job written meanwhile");
    assert_ne!(children[1], theirs);
    let items = batches::items(&pool, batch).await.unwrap();
    assert_eq!(
        items.iter().map(|i| i.job_id).collect::<Vec<_>>(),
        vec![Some(theirs.0), Some(children[1].0)],
        "each item names the job that serves it"
    );
    let jobs_of_k: i64 = sqlx::query_scalar("select count(*) from jobs where dedupe_key = 'validation:k'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(jobs_of_k, 1, "one job for the key");
    assert_eq!(row(&pool, children[1]).await.status, JobStatus::Queued);
}

#[sqlx::test(migrations = "../migrations")]
async fn cancel_of_a_batch_cancels_its_queued_children(pool: PgPool) {
    let t = tenant(&pool, "t").await;
    let (batch, children) = batch_of(&pool, t, &["a", "b"]).await;
    transitions::claim(&pool, children[0], "w1", LEASE)
        .await
        .unwrap()
        .expect("claimed");
    transitions::mark_running(&pool, children[0]).await.unwrap();
    assert_eq!(row(&pool, batch).await.status, JobStatus::Running);
    // A running batch can still be canceled; its queued child goes with it, the running one runs on.
    assert_eq!(transitions::cancel(&pool, t, batch).await.unwrap(), Cancel::Canceled);
    assert_eq!(row(&pool, batch).await.status, JobStatus::Canceled);
    assert_eq!(row(&pool, children[0]).await.status, JobStatus::Running);
    let r = row(&pool, children[1]).await;
    assert_eq!((r.status, r.state_version), (JobStatus::Canceled, 2));
    let items = batches::items(&pool, batch).await.unwrap();
    assert_eq!(
        items.iter().map(|i| i.status).collect::<Vec<_>>(),
        vec![JobStatus::Running, JobStatus::Canceled]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn requeue_expired_only_past_the_lease(pool: PgPool) {
    let t = tenant(&pool, "t").await;
    let live = running(&pool, t, "live", "w1").await;
    let lost = running(&pool, t, "lost", "w1").await;
    let last = running(&pool, t, "last", "w1").await;
    sqlx::query("update jobs set attempts = 5 where id = $1")
        .bind(last.0)
        .execute(&pool)
        .await
        .unwrap();
    expire_lease(&pool, lost).await;
    expire_lease(&pool, last).await;

    assert_eq!(transitions::requeue_expired(&pool, 5).await.unwrap(), (1, 1));
    let r = row(&pool, live).await;
    assert_eq!(
        (r.status, r.lease_owner.as_deref(), r.state_version),
        (JobStatus::Running, Some("w1"), 2)
    );
    let r = row(&pool, lost).await;
    assert_eq!((r.status, r.attempts, r.state_version), (JobStatus::Queued, 1, 3));
    assert!(r.lease_owner.is_none() && r.dispatched_at.is_none() && r.finished_at.is_none());
    let r = row(&pool, last).await;
    assert_eq!(r.status, JobStatus::Failed);
    assert_eq!(r.error.as_ref().map(|e| e["code"].clone()), Some(json!("worker_lost")));
    assert!(r.finished_at.is_some());
    // The old owner can no longer complete either of them.
    assert!(!transitions::mark_succeeded(&pool, lost, "w1").await.unwrap());
    assert!(
        !transitions::mark_failed(&pool, last, "w1", &json!({"code": "x"}))
            .await
            .unwrap()
    );
    // Nothing left to do.
    assert_eq!(transitions::requeue_expired(&pool, 5).await.unwrap(), (0, 0));
}

#[sqlx::test(migrations = "../migrations")]
async fn finish_batch_once_when_no_item_is_open(pool: PgPool) {
    let t = tenant(&pool, "t").await;
    let (batch, children) = batch_of(&pool, t, &["a", "b"]).await;
    let (a, b) = (children[0], children[1]);
    transitions::claim(&pool, a, "w1", LEASE).await.unwrap().expect("a");
    transitions::mark_running_many(&pool, &[a.0]).await.unwrap();
    let r = row(&pool, batch).await;
    assert_eq!((r.status, r.state_version), (JobStatus::Running, 2));
    // mark_running moves only a queued batch.
    transitions::mark_running(&pool, a).await.unwrap();
    assert_eq!(row(&pool, batch).await.state_version, 2);

    assert!(transitions::mark_succeeded(&pool, a, "w1").await.unwrap());
    assert!(
        transitions::finish_ready(&pool, Some(a)).await.unwrap().is_empty(),
        "b is still queued"
    );
    assert!(transitions::finish_ready(&pool, None).await.unwrap().is_empty());
    assert_eq!(row(&pool, batch).await.status, JobStatus::Running);

    transitions::claim(&pool, b, "w1", LEASE).await.unwrap().expect("b");
    assert!(
        transitions::mark_failed(&pool, b, "w1", &json!({"code": "product_not_found"}))
            .await
            .unwrap()
    );
    let finished = transitions::finish_ready_many(&pool, &[a.0, b.0]).await.unwrap();
    assert_eq!(finished.iter().map(|f| f.id).collect::<Vec<_>>(), vec![batch.0]);
    assert_eq!(finished[0].tenant_id, t.0);
    let r = row(&pool, batch).await;
    assert_eq!((r.status, r.state_version), (JobStatus::Succeeded, 3));
    assert!(r.finished_at.is_some());
    // Finished once: every later call (per child, the sweep) finds nothing.
    assert!(transitions::finish_ready(&pool, Some(b)).await.unwrap().is_empty());
    assert!(transitions::finish_ready(&pool, None).await.unwrap().is_empty());
    assert_eq!(row(&pool, batch).await.state_version, 3);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_sweep_finishes_a_batch_whose_last_item_was_canceled(pool: PgPool) {
    let t = tenant(&pool, "t").await;
    let (batch, children) = batch_of(&pool, t, &["a"]).await;
    assert_eq!(
        transitions::cancel(&pool, t, children[0]).await.unwrap(),
        Cancel::Canceled
    );
    let finished = transitions::finish_ready(&pool, None).await.unwrap();
    assert_eq!(finished.iter().map(|f| f.id).collect::<Vec<_>>(), vec![batch.0]);
    assert_eq!(row(&pool, batch).await.status, JobStatus::Succeeded);
}

#[sqlx::test(migrations = "../migrations")]
async fn complete_once(pool: PgPool) {
    let t = tenant(&pool, "t").await;
    let product = ProductRef {
        source: "aliexpress".into(),
        id: "1005001".into(),
    };
    let id = running(&pool, t, "a", "w1").await;
    let doc = json!({"score": 50}).to_string();
    let r = NewResult {
        job_id: id,
        cache_key: "a",
        product: &product,
        model: "score-v1",
        partial: false,
        result: &doc,
    };
    // Not the lease holder: nothing is written.
    assert!(!results::complete_validation(&pool, &r, "w2").await.unwrap().completed);
    assert_eq!(row(&pool, id).await.status, JobStatus::Running);
    let first = results::complete_validation(&pool, &r, "w1").await.unwrap();
    assert!(first.completed && !first.in_batch);
    let row1 = row(&pool, id).await;
    assert_eq!((row1.status, row1.state_version), (JobStatus::Succeeded, 3));
    assert!(row1.lease_owner.is_none() && row1.error.is_none() && row1.finished_at.is_some());
    // A second completion of the same job is a no-op and answers false.
    assert!(!results::complete_validation(&pool, &r, "w1").await.unwrap().completed);
    assert!(!transitions::mark_succeeded(&pool, id, "w1").await.unwrap());
    assert!(
        !transitions::mark_failed(&pool, id, "w1", &json!({"code": "late"}))
            .await
            .unwrap()
    );
    assert_eq!(row(&pool, id).await.state_version, 3);
    let stored: i64 = sqlx::query_scalar("select count(*) from validation_results where job_id = $1")
        .bind(id.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 1);
    let job = jobs::get(&pool, t, id).await.unwrap().unwrap();
    assert_eq!(job.result, Some(json!({"score": 50})));
    // The group read answers each (tenant, id) pair as `get` would, in one statement.
    let other = tenant(&pool, "other").await;
    let queued_job = queued(&pool, t, "q").await;
    let read = jobs::get_many(
        &pool,
        &[
            (t, id),
            (other, id),
            (t, queued_job),
            (t, JobId::generate()),
            (other, queued_job),
        ],
    )
    .await
    .unwrap();
    let mut found: Vec<(uuid::Uuid, uuid::Uuid, JobStatus, Option<serde_json::Value>)> = read
        .into_iter()
        .map(|j| (j.tenant_id, j.id, j.status, j.result))
        .collect();
    found.sort_by_key(|f| f.1);
    let mut expected = vec![
        (t.0, id.0, JobStatus::Succeeded, Some(json!({"score": 50}))),
        (t.0, queued_job.0, JobStatus::Queued, None),
    ];
    expected.sort_by_key(|f| f.1);
    assert_eq!(found, expected, "another tenant's ids and unknown ids read as missing");

    // The group form: per row, in order; a child of a batch says so.
    let (_batch, children) = batch_of(&pool, t, &["c"]).await;
    let c = children[0];
    transitions::claim(&pool, c, "w1", LEASE).await.unwrap().expect("c");
    let owned = |job_id: JobId| results::OwnedResult {
        job_id,
        cache_key: "k".into(),
        product: product.clone(),
        model: "score-v1".into(),
        partial: true,
        result: doc.clone(),
    };
    let done = results::complete_validations(&pool, &[owned(id), owned(c)], "w1")
        .await
        .unwrap();
    assert_eq!(
        done.iter().map(|d| (d.completed, d.in_batch)).collect::<Vec<_>>(),
        vec![(false, false), (true, true)]
    );

    // Search and suppliers results: the same rule.
    let s = jobs::create_or_join(&pool, &new_job(t, JobKind::Search, "s"))
        .await
        .unwrap()
        .id();
    transitions::claim(&pool, s, "w1", LEASE).await.unwrap().expect("s");
    assert!(
        !job_results::complete(&pool, s, "s", JobKind::Search, &doc, "w2")
            .await
            .unwrap()
    );
    assert!(
        job_results::complete(&pool, s, "s", JobKind::Search, &doc, "w1")
            .await
            .unwrap()
    );
    assert!(
        !job_results::complete(&pool, s, "s", JobKind::Search, &doc, "w1")
            .await
            .unwrap()
    );
    assert_eq!(row(&pool, s).await.status, JobStatus::Succeeded);
    assert!(job_results::fresh_for_key(&pool, "s", 3600.0).await.unwrap().is_some());

    // Plain completions (webhook deliveries), one and many.
    let w = running(&pool, t, "w", "w1").await;
    let x = running(&pool, t, "x", "w1").await;
    assert!(transitions::mark_succeeded(&pool, w, "w1").await.unwrap());
    assert!(!transitions::mark_succeeded(&pool, w, "w1").await.unwrap());
    let many = transitions::succeed_many(&pool, &[w.0, x.0, Uuid::nil()], "w1")
        .await
        .unwrap();
    assert_eq!(many, vec![x.0]);
}

#[sqlx::test(migrations = "../migrations")]
async fn fail_only_by_the_lease_holder(pool: PgPool) {
    let t = tenant(&pool, "t").await;
    let id = running(&pool, t, "a", "w1").await;
    let err = json!({"code": "upstream_auth"});
    assert!(!transitions::mark_failed(&pool, id, "w2", &err).await.unwrap());
    assert!(transitions::mark_failed(&pool, id, "w1", &err).await.unwrap());
    let r = row(&pool, id).await;
    assert_eq!((r.status, r.state_version), (JobStatus::Failed, 3));
    assert_eq!(r.error, Some(err));
    assert!(r.lease_owner.is_none() && r.finished_at.is_some());
    // The dedupe key is free again: identical work creates a new job.
    let again = queued(&pool, t, "a").await;
    assert_ne!(again, id);
}
