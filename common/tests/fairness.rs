//! Fair dispatch (docs/SCHEDULING.md): virtual-time tags written at submit, classes, the
//! interactive allowance, promotion on join, quotas, and the `scheduled` state; and that a
//! submission reads its own keys, not the tenant's backlog. Each test runs on
//! a fresh database (`sqlx::test` creates it from `DATABASE_URL` and applies the migrations).
//!
//! Run: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/dropforge_test cargo test -p dropforge-common --test fairness`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{collections::HashMap, time::Duration};

use dropforge_common::{
    db::{
        batches,
        jobs::{self, CreateError, Created, NewJob},
        sched, tenants, transitions,
    },
    domain::{JobClass, JobId, JobKind, JobStatus, TenantId},
    queue::{self, Queue},
};
use serde_json::json;
use sqlx::{Connection, PgPool};
use ulid::Ulid;
use uuid::Uuid;

const LEASE: Duration = Duration::from_secs(30);

async fn tenant(pool: &PgPool, name: &str) -> TenantId {
    tenants::create_key(pool, name).await.expect("tenant").tenant_id
}

fn single(tenant: TenantId, key: &str) -> NewJob {
    NewJob {
        tenant_id: tenant,
        kind: JobKind::Validation,
        dedupe_key: Some(format!("validation:{key}")),
        input: json!({"cache_key": key}),
        webhook_url: None,
        request_id: None,
        parent_id: None,
        dispatch_as: None,
    }
}

/// Submits `keys` as one batch of `tenant` (the batch row, its children, its items), as the API does.
async fn batch(pool: &PgPool, tenant: TenantId, keys: &[String]) -> Result<(JobId, Vec<Created>), CreateError> {
    let batch = JobId::generate();
    let children: Vec<NewJob> = keys
        .iter()
        .map(|k| NewJob {
            parent_id: Some(batch),
            ..single(tenant, k)
        })
        .collect();
    let ids: Vec<JobId> = children.iter().map(|_| JobId::generate()).collect();
    let input = json!({"products": []});
    let new_batch = batches::NewBatch {
        id: batch,
        tenant,
        input: &input,
        webhook_url: None,
        request_id: None,
        items: &[],
    };
    let mut conn = pool.acquire().await?;
    let (_, created) = jobs::create_batch(&mut conn, &new_batch, &children, &ids).await?;
    Ok((batch, created))
}

fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Takes up to `n` due jobs of the validation queue of `class` (committed) and answers their tenants in order.
async fn take(pool: &PgPool, class: JobClass, n: usize) -> Vec<Uuid> {
    let mut tx = pool.begin().await.unwrap();
    let taken = transitions::take_due(&mut tx, JobKind::Validation, class, n)
        .await
        .unwrap();
    transitions::record_drain(&mut *tx, JobKind::Validation, class, &taken.per_tenant)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let ids: Vec<Uuid> = taken.jobs.iter().map(|(id, _)| id.0).collect();
    let owners: HashMap<Uuid, Uuid> = sqlx::query_as("select id, tenant_id from jobs where id = any($1)")
        .bind(&ids)
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    ids.iter().map(|id| owners[id]).collect()
}

async fn class_and_status(pool: &PgPool, id: JobId) -> (i16, String) {
    sqlx::query_as("select class, status from jobs where id = $1")
        .bind(id.0)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn queued_counter(pool: &PgPool, t: TenantId) -> i64 {
    sched::backlog(pool, t, 0).await.unwrap().queued
}

#[sqlx::test(migrations = "../migrations")]
async fn a_newcomer_is_dispatched_after_about_one_job_of_a_large_backlog(pool: PgPool) {
    let a = tenant(&pool, "a").await;
    let b = tenant(&pool, "b").await;
    for chunk in keys("a", 10_000).chunks(50) {
        batch(&pool, a, chunk).await.unwrap();
    }
    batch(&pool, b, &keys("b", 1)).await.unwrap();
    let owners = take(&pool, JobClass::Bulk, 3).await;
    let at = owners
        .iter()
        .position(|t| *t == b.0)
        .expect("B's job within the first three");
    assert!(at <= 1, "B's job dispatched after {at} of A's 10,000: {owners:?}");
    // Grouped counters: what was taken is no longer counted as queued.
    assert_eq!(queued_counter(&pool, b).await, 0);
    assert_eq!(queued_counter(&pool, a).await, 10_000 - 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn weights_skew_the_share(pool: PgPool) {
    let a = tenant(&pool, "heavy").await;
    let b = tenant(&pool, "light").await;
    sched::set_tenant(&pool, "heavy", Some(3), None)
        .await
        .unwrap()
        .expect("tenant");
    batch(&pool, a, &keys("a", 300)).await.unwrap();
    batch(&pool, b, &keys("b", 300)).await.unwrap();
    let owners = take(&pool, JobClass::Bulk, 100).await;
    let heavy = owners.iter().filter(|t| **t == a.0).count();
    assert!((72..=78).contains(&heavy), "weight 3 against 1 took {heavy} of 100");
}

#[sqlx::test(migrations = "../migrations")]
async fn an_idle_tenant_banks_no_credit(pool: PgPool) {
    let a = tenant(&pool, "busy").await;
    let b = tenant(&pool, "idle").await;
    batch(&pool, a, &keys("a", 1000)).await.unwrap();
    // A alone for a while: the queue's virtual time moves on with A's tags.
    assert!(take(&pool, JobClass::Bulk, 500).await.iter().all(|t| *t == a.0));
    // B was idle all along: it starts at the current virtual time, not at zero.
    batch(&pool, b, &keys("b", 50)).await.unwrap();
    let owners = take(&pool, JobClass::Bulk, 20).await;
    let newcomer = owners.iter().filter(|t| **t == b.0).count();
    assert!(
        (9..=11).contains(&newcomer),
        "B took {newcomer} of 20: it must share, not catch up"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn singles_are_interactive_up_to_the_allowance_and_classes_are_separate(pool: PgPool) {
    let t = tenant(&pool, "t").await;
    let mut created = Vec::new();
    for i in 0..25 {
        let job = NewJob {
            dispatch_as: Some(Ulid::generate()),
            ..single(t, &format!("s{i}"))
        };
        created.push(jobs::create_or_join(&pool, &job).await.unwrap());
    }
    let allowance = usize::try_from(sched::INTERACTIVE_ALLOWANCE).unwrap();
    assert!(created[..allowance].iter().all(|c| matches!(c, Created::New(_))));
    assert!(
        created[allowance..].iter().all(|c| matches!(c, Created::Deferred(_))),
        "beyond the allowance a single is bulk and left to the dispatcher: {created:?}"
    );
    assert_eq!(class_and_status(&pool, created[0].id()).await.0, 0);
    assert_eq!(class_and_status(&pool, created[24].id()).await.0, 1);
    // Interactive ones were pushed directly (dispatched), the bulk ones wait in the bulk queue.
    assert!(take(&pool, JobClass::Interactive, 100).await.is_empty());
    assert_eq!(take(&pool, JobClass::Bulk, 100).await.len(), 5);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_group_of_singles_is_placed_as_one_at_a_time_would_be(pool: PgPool) {
    let t = tenant(&pool, "g").await;
    sched::set_tenant(&pool, "g", None, Some(30)).await.unwrap().unwrap();
    // A batch child first, so that one single of the group joins (and promotes) it.
    let (_, children) = batch(&pool, t, &keys("b", 1)).await.unwrap();
    let group: Vec<NewJob> = (0..40)
        .map(|i| NewJob {
            dispatch_as: Some(Ulid::generate()),
            ..single(t, &if i == 3 { "b-0".to_owned() } else { format!("g{i}") })
        })
        .collect();
    let mut conn = pool.acquire().await.unwrap();
    let answers = jobs::create_group(&mut conn, &group, false).await.unwrap();
    let allowance = usize::try_from(sched::INTERACTIVE_ALLOWANCE).unwrap();
    // In arrival order: the allowance's interactive slots (the promotion takes one), then bulk.
    assert_eq!(answers[3], Ok(Created::Promoted(children[0].id())));
    assert!(
        answers[..allowance]
            .iter()
            .all(|a| matches!(a, Ok(Created::New(_) | Created::Promoted(_))))
    );
    // Bulk ones count against the quota of 30 (one is the batch child, now promoted and
    // dispatched, still counted until the repair): the first 29 fit, the rest are refused.
    let deferred = answers.iter().filter(|a| matches!(a, Ok(Created::Deferred(_)))).count();
    let refused: Vec<usize> = (0..answers.len()).filter(|&i| answers[i].is_err()).collect();
    assert_eq!(deferred + refused.len(), 40 - allowance, "{answers:?}");
    assert!(deferred > 0 && !refused.is_empty(), "{answers:?}");
    assert!(
        refused.iter().all(|&i| i > allowance),
        "the refused ones are the last to arrive: {refused:?}"
    );
    let Err(full) = &answers[refused[0]] else {
        unreachable!()
    };
    assert_eq!((full.max_queued, full.requested), (30, 1));
    // Tags follow arrival order within each class.
    let vft = |id: JobId| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("select vft from jobs where id = $1")
                .bind(id.0)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let bulk: Vec<JobId> = answers
        .iter()
        .filter_map(|a| match a {
            Ok(Created::Deferred(id)) => Some(*id),
            _ => None,
        })
        .collect();
    let mut tags = Vec::new();
    for id in &bulk {
        tags.push(vft(*id).await);
    }
    assert!(tags.windows(2).all(|w| w[0] < w[1]), "{tags:?}");
    assert_eq!(take(&pool, JobClass::Bulk, 100).await.len(), deferred);
    // A second group joins every job of the first that is in flight, and creates nothing.
    let again = jobs::create_group(&mut conn, &group[..allowance], false).await.unwrap();
    assert!(again.iter().all(|a| matches!(a, Ok(Created::Joined(_)))), "{again:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_single_joining_a_queued_batch_child_promotes_it(pool: PgPool) {
    let t = tenant(&pool, "t").await;
    batch(&pool, t, &keys("x", 200)).await.unwrap();
    let (_, children) = batch(&pool, t, &["p".to_owned()]).await.unwrap();
    let child = children[0].id();
    let (class, _) = class_and_status(&pool, child).await;
    assert_eq!(class, 1);
    let before: i64 = sqlx::query_scalar("select vft from jobs where id = $1")
        .bind(child.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    let task = Ulid::generate();
    let joined = jobs::create_or_join(
        &pool,
        &NewJob {
            dispatch_as: Some(task),
            ..single(t, "p")
        },
    )
    .await
    .unwrap();
    assert_eq!(joined, Created::Promoted(child));
    let (class, status, vft, queue_task): (i16, String, i64, Option<String>) =
        sqlx::query_as("select class, status, vft, queue_task_id from jobs where id = $1")
            .bind(child.0)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((class, status.as_str()), (0, "queued"));
    assert_ne!(vft, before, "a fresh interactive tag");
    assert_eq!(
        queue_task,
        Some(task.to_string()),
        "dispatched under the single's task id"
    );
    // A second single joins the now interactive job without promoting anything.
    assert_eq!(
        jobs::create_or_join(&pool, &single(t, "p")).await.unwrap(),
        Created::Joined(child)
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_batch_over_the_quota_is_refused_whole_and_leaves_nothing(pool: PgPool) {
    let t = tenant(&pool, "q").await;
    let set = sched::set_tenant(&pool, "q", None, Some(100)).await.unwrap().unwrap();
    assert_eq!((set.weight, set.max_queued), (1, 100));
    batch(&pool, t, &keys("a", 90)).await.unwrap();
    let count = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from jobs where tenant_id = $1")
            .bind(t.0)
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let rows_before = count().await;
    let refused = batch(&pool, t, &keys("b", 20)).await;
    let Err(CreateError::BacklogFull(full)) = refused else {
        panic!("expected a refusal, got {refused:?}");
    };
    assert_eq!((full.queued, full.max_queued, full.requested), (90, 100, 20));
    assert!(full.retry_after() >= Duration::from_secs(1) && full.retry_after() <= Duration::from_secs(300));
    assert_eq!(count().await, rows_before, "no batch row, no child");
    assert_eq!(queued_counter(&pool, t).await, 90);
    // A batch that fits is accepted; then a single beyond the quota is refused too.
    batch(&pool, t, &keys("c", 10)).await.unwrap();
    let single_refused = jobs::create_or_join(&pool, &single(t, "one-more")).await;
    assert!(
        matches!(single_refused, Err(CreateError::BacklogFull(_))),
        "{single_refused:?}"
    );
    // A join is never refused (this one promotes the queued batch child: the interactive row
    // counts it too until the reconciler's repair, a documented drift of one per promotion).
    assert!(matches!(
        jobs::create_or_join(&pool, &single(t, "c-0")).await,
        Ok(Created::Promoted(_))
    ));
    // Dispatching drains the counter, and room comes back.
    take(&pool, JobClass::Bulk, 10).await;
    assert_eq!(queued_counter(&pool, t).await, 91);
    sched::repair_queued(&pool).await.unwrap();
    assert_eq!(queued_counter(&pool, t).await, 90);
    assert!(jobs::create_or_join(&pool, &single(t, "one-more")).await.is_ok());
}

#[sqlx::test(migrations = "../migrations")]
async fn a_dispatch_round_in_progress_does_not_hold_the_tenants_row(pool: PgPool) {
    let t = tenant(&pool, "d").await;
    batch(&pool, t, &keys("a", 5)).await.unwrap();
    // A dispatcher took the jobs and is pushing them to Redis: its transaction is open.
    let mut round = pool.begin().await.unwrap();
    let taken = transitions::take_due(&mut round, JobKind::Validation, JobClass::Bulk, 10)
        .await
        .unwrap();
    assert_eq!(taken.jobs.len(), 5);
    assert_eq!(taken.per_tenant, vec![(t, 5)]);
    // Meanwhile the tenant submits again: creating jobs updates the same scheduling row, and must
    // not wait for the push (it did while the taking statement counted the drain).
    let submitted = tokio::time::timeout(Duration::from_secs(5), batch(&pool, t, &keys("b", 5))).await;
    assert!(
        matches!(submitted, Ok(Ok(_))),
        "the submission waited for the dispatch round: {submitted:?}"
    );
    assert_eq!(queued_counter(&pool, t).await, 10);
    // Pushed: the round counts its drain and commits.
    transitions::record_drain(&mut *round, JobKind::Validation, JobClass::Bulk, &taken.per_tenant)
        .await
        .unwrap();
    round.commit().await.unwrap();
    assert_eq!(queued_counter(&pool, t).await, 5);
    sched::repair_queued(&pool).await.unwrap();
    assert_eq!(queued_counter(&pool, t).await, 5, "the counter matches the jobs table");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_reconciler_repairs_a_drifted_counter(pool: PgPool) {
    let t = tenant(&pool, "r").await;
    let (b, _) = batch(&pool, t, &keys("a", 30)).await.unwrap();
    // A cancel does not decrement the counter; the repair does.
    transitions::cancel(&pool, t, b).await.unwrap();
    assert_eq!(queued_counter(&pool, t).await, 30);
    assert!(sched::repair_queued(&pool).await.unwrap() >= 1);
    assert_eq!(queued_counter(&pool, t).await, 0);
    let gauges = sched::tenant_queues(&pool).await.unwrap();
    assert!(
        gauges
            .iter()
            .any(|g| g.tenant_id == t.0 && g.queued == 0 && g.max_queued == 20_000)
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn scheduled_jobs_stay_out_of_take_due_until_due(pool: PgPool) {
    let t = tenant(&pool, "s").await;
    let id = jobs::create_or_join(&pool, &single(t, "retry")).await.unwrap().id();
    transitions::claim(&pool, id, "w1", LEASE)
        .await
        .unwrap()
        .expect("claimed");
    let err = json!({"code": "upstream_throttled"});
    assert!(
        transitions::reschedule(&pool, id, "w1", Duration::from_secs(3600), &err, true)
            .await
            .unwrap()
    );
    // Internally scheduled; clients read queued.
    assert_eq!(class_and_status(&pool, id).await.1, "scheduled");
    assert_eq!(jobs::status_of(&pool, id).await.unwrap(), Some(JobStatus::Queued));
    assert_eq!(
        jobs::get(&pool, t, id).await.unwrap().unwrap().status,
        JobStatus::Queued
    );
    assert_eq!(jobs::depth(&pool, JobKind::Validation).await.unwrap().queued, 1);
    assert!(take(&pool, JobClass::Interactive, 10).await.is_empty());
    assert_eq!(
        transitions::promote_due(&pool, JobKind::Validation, 10).await.unwrap(),
        0
    );
    // An identical submission joins it meanwhile.
    assert_eq!(
        jobs::create_or_join(&pool, &single(t, "retry")).await.unwrap(),
        Created::Joined(id)
    );
    // Due: promoted with a fresh tag, then dispatched.
    sqlx::query("update jobs set next_run_at = now() - interval '1 second' where id = $1")
        .bind(id.0)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        transitions::promote_due(&pool, JobKind::Validation, 10).await.unwrap(),
        1
    );
    assert_eq!(class_and_status(&pool, id).await.1, "queued");
    assert_eq!(take(&pool, JobClass::Interactive, 10).await, vec![t.0]);
    // A cancel takes a scheduled job too.
    let other = jobs::create_or_join(&pool, &single(t, "other")).await.unwrap().id();
    transitions::claim(&pool, other, "w1", LEASE)
        .await
        .unwrap()
        .expect("claimed");
    transitions::reschedule(&pool, other, "w1", Duration::from_secs(3600), &err, false)
        .await
        .unwrap();
    assert_eq!(
        transitions::cancel(&pool, t, other).await.unwrap(),
        jobs::Cancel::Canceled
    );
}

/// Classes have their own apalis queues: a bulk push never shows in the interactive queue.
#[tokio::test]
async fn classes_go_to_their_own_queues() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let conn = queue::connect(&url).await.expect("redis");
    let prefix = format!("dftest-fair-{}", Ulid::generate());
    let q = Queue::new(conn.clone(), &prefix);
    assert_eq!(
        q.name_of(JobKind::Validation, JobClass::Bulk),
        format!("{prefix}:queue:validation_bulk")
    );
    assert_eq!(q.name(JobKind::Validation), format!("{prefix}:queue:validation"));
    q.push_to(
        JobKind::Validation,
        JobClass::Bulk,
        &[(JobId::generate(), Ulid::generate())],
    )
    .await
    .unwrap();
    q.push(
        JobKind::Validation,
        &[
            (JobId::generate(), Ulid::generate()),
            (JobId::generate(), Ulid::generate()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(q.depth_of(JobKind::Validation, JobClass::Bulk).await.unwrap(), 1);
    assert_eq!(q.depth(JobKind::Validation).await.unwrap(), 2);
    // Clean up this test's keys.
    let mut c = conn.clone();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut c)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut c).await.unwrap();
    }
}

/// Index entries of `jobs` read so far in the current transaction of `tx`.
async fn jobs_index_entries_read(tx: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar(
        "select coalesce(sum(pg_stat_get_xact_tuples_returned(indexrelid)), 0)::int8 from pg_index
         where indrelid = 'jobs'::regclass",
    )
    .fetch_one(tx)
    .await
    .unwrap()
}

/// The statistics the planner has of `jobs` in [`submit_beside_a_backlog`].
#[derive(Debug, Clone, Copy)]
enum Stats {
    /// Never analysed: sizes come from the table's pages alone (a young database).
    Never,
    /// Analysed while it held only finished jobs and batches: the open ones look absent (a busy
    /// table between two `ANALYZE`s).
    BeforeTheBacklog,
    /// Analysed with the backlog in it.
    Current,
}

/// Opens 40 batches of 50 for `tenant` (2,000 open jobs, after 4,000 finished jobs and 10
/// finished batches for [`Stats::BeforeTheBacklog`]) with the planner seeing `stats`, then submits
/// a new job and a copy of a queued batch child (a join that promotes it) as one group, in 8
/// rounds on a new session, each in a transaction that is rolled back: custom plans first, then
/// the generic plan PostgreSQL switches to. Every round must read fewer than 100 index entries
/// of `jobs`.
async fn submit_beside_a_backlog(pool: &PgPool, tenant: TenantId, stats: Stats) {
    if matches!(stats, Stats::BeforeTheBacklog) {
        sqlx::query(
            "insert into jobs (id, tenant_id, kind, status, input, finished_at)
             select gen_random_uuid(), $1, 'validation', 'succeeded', '{}'::jsonb, now()
             from generate_series(1, 4000)",
        )
        .bind(tenant.0)
        .execute(pool)
        .await
        .unwrap();
        for b in 0..10 {
            batch(pool, tenant, &keys(&format!("old{b}"), 50)).await.unwrap();
        }
        sqlx::query("update jobs set status = 'succeeded', finished_at = now() where tenant_id = $1")
            .bind(tenant.0)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query("analyze jobs, batch_items").execute(pool).await.unwrap();
    }
    for b in 0..40 {
        batch(pool, tenant, &keys(&format!("b{b}"), 50)).await.unwrap();
    }
    if matches!(stats, Stats::Current) {
        sqlx::query("analyze jobs, batch_items").execute(pool).await.unwrap();
    }
    let mut session = sqlx::PgConnection::connect_with(&pool.connect_options()).await.unwrap();
    for round in 0..8 {
        let mut tx = session.begin().await.unwrap();
        let before = jobs_index_entries_read(&mut tx).await;
        let answers = jobs::create_group(&mut tx, &[single(tenant, "fresh"), single(tenant, "b7-3")], false)
            .await
            .unwrap();
        let read = jobs_index_entries_read(&mut tx).await - before;
        tx.rollback().await.unwrap();
        assert!(matches!(answers[0], Ok(Created::New(_))), "{answers:?}");
        assert!(matches!(answers[1], Ok(Created::Promoted(_))), "{answers:?}");
        assert!(
            read < 100,
            "{stats:?}, round {round}: one submission read {read} index entries of jobs with 2,000 open"
        );
    }
}

/// A submission probes its own dedupe keys, whatever the tenant's backlog: creating one job and
/// joining another reads a handful of `jobs` index entries. (Joining the keys with the tenant's
/// open jobs read every one of them whenever the planner hashed that join, or probed the index
/// of open jobs instead of the dedupe index: 2,400-4,000 entries here.)
#[sqlx::test(migrations = "../migrations")]
async fn a_submission_reads_its_keys_not_the_tenants_backlog(pool: PgPool) {
    let t = tenant(&pool, "backlog").await;
    submit_beside_a_backlog(&pool, t, Stats::Never).await;
}

/// The same on a table analysed with its backlog.
#[sqlx::test(migrations = "../migrations")]
async fn a_submission_reads_its_keys_with_current_statistics(pool: PgPool) {
    let t = tenant(&pool, "backlog").await;
    submit_beside_a_backlog(&pool, t, Stats::Current).await;
}

/// The same with statistics from before the backlog.
#[sqlx::test(migrations = "../migrations")]
async fn a_submission_reads_its_keys_with_stale_statistics(pool: PgPool) {
    let t = tenant(&pool, "backlog").await;
    submit_beside_a_backlog(&pool, t, Stats::BeforeTheBacklog).await;
}
