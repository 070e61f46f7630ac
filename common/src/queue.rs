//! The only module that touches apalis: queue names, pushes, depth checks, cleanup and the worker runner.
//!
//! Workarounds for apalis-redis 1.0.0 (see `docs/design/apalis-redis.md`, one section per defect) live here:
//! - defect 1 (8,000 due jobs wedge a queue): callers check [`Queue::depth`] against a cap before pushing;
//!   PostgreSQL holds the rest of the backlog;
//! - defect 2/same-name race: every worker incarnation gets a unique name (`host-pid-ulid`);
//! - defect 3 (shutdown deadlock): `batch_size = concurrency / 2`;
//! - defect 4 (idle workers sleep until the heartbeat): the [`Tick`] poll strategy re-arms its timer;
//!   apalis' own "available" pub/sub never fires for our pushes, so every push publishes our own
//!   wake-up ([`crate::wake`]) and the [`Tick`] fetches at once on it;
//! - defect 5 (idempotency keys): unused, PostgreSQL dedupes;
//! - defect 6 (timeouts/panics leave `Running`): no tower timeouts; handlers time out themselves;
//! - defect 7 (`vacuum()`): never called; [`Queue::cleanup_finished`] deletes only finished tasks;
//! - defect 8 (500 ms response timeout): connections are built with a 5 s response timeout.
//!
//! Every dispatch uses a fresh apalis task id, because `batch_push.lua` silently ignores an id it has seen.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, LazyLock},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use apalis::prelude::{
    BoxDynError, Data, Monitor, PollSnapshot, PollStrategy, PollWith, TaskBuilder, TaskId, WorkerBuilder,
    WorkerBuilderExt,
};
use apalis_redis::{Config as ApalisConfig, RedisStorage, RedisTask};
use redis::{Script, aio::ConnectionManager};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::{
    domain::{JobClass, JobId, JobKind},
    metric_names,
    shutdown::Shutdown,
    wake::{self, PublishAfter, Signal, Wakes},
};

/// Errors of queue operations.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Redis failed or timed out.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// apalis-redis failed.
    #[error("apalis: {0}")]
    Apalis(#[from] apalis_redis::Error),
    /// The payload could not be encoded.
    #[error("encode: {0}")]
    Encode(#[from] serde_json::Error),
}

/// What travels through Redis: only ids; the job itself lives in PostgreSQL.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct QueuedJob {
    /// The PostgreSQL job id.
    pub job_id: JobId,
    /// The job kind (also implied by the queue).
    pub kind: JobKind,
}

/// Opens a Redis connection manager with the timeouts apalis-redis needs (defect 8).
pub async fn connect(url: &str) -> Result<ConnectionManager, redis::RedisError> {
    let cfg = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_connection_timeout(Some(Duration::from_secs(2)));
    redis::Client::open(url)?.get_connection_manager_with_config(cfg).await
}

/// Handle to the apalis queues of one deployment (one queue per job kind and class: see [`Queue::name_of`]).
#[derive(Clone)]
pub struct Queue {
    conn: ConnectionManager,
    prefix: String,
}

/// Deletes up to ARGV[2] finished task ids from a done/dead set, with their data and metadata.
/// KEYS[1] = done or dead set, KEYS[2] = data hash; ARGV[1] = meta key prefix.
static CLEANUP_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local ids = redis.call('SPOP', KEYS[1], tonumber(ARGV[2]))
for _, id in ipairs(ids) do
    redis.call('HDEL', KEYS[2], id)
    redis.call('DEL', ARGV[1] .. ':' .. id)
end
return #ids
",
    )
});

impl Queue {
    /// A queue handle over an existing connection; `prefix` namespaces every key.
    pub fn new(conn: ConnectionManager, prefix: &str) -> Self {
        Self {
            conn,
            prefix: prefix.to_owned(),
        }
    }

    /// The key prefix of this deployment.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The underlying connection (completion events share it).
    pub fn connection(&self) -> &ConnectionManager {
        &self.conn
    }

    /// The apalis queue name of a kind's interactive queue, always explicit (never the Rust type path).
    pub fn name(&self, kind: JobKind) -> String {
        self.name_of(kind, JobClass::Interactive)
    }

    /// The apalis queue name of a kind and class: `{prefix}:queue:{kind}` for interactive work,
    /// `{prefix}:queue:{kind}_bulk` for bulk work.
    pub fn name_of(&self, kind: JobKind, class: JobClass) -> String {
        match class {
            JobClass::Interactive => format!("{}:queue:{}", self.prefix, kind.as_str()),
            JobClass::Bulk => format!("{}:queue:{}_bulk", self.prefix, kind.as_str()),
        }
    }

    fn config(&self, kind: JobKind, class: JobClass) -> ApalisConfig {
        ApalisConfig::default()
            .queue(self.name_of(kind, class))
            .emit_events(false)
            .lock_tasks(false)
    }

    /// Pushes jobs; each `(job, task id)` pair must use a task id never pushed before. Each push
    /// call is followed, in the same round trip, by a wake-up on the queue's channel.
    pub async fn push(&self, kind: JobKind, jobs: &[(JobId, Ulid)]) -> Result<(), QueueError> {
        self.push_to(kind, JobClass::Interactive, jobs).await
    }

    /// [`Queue::push`] to the queue of `kind` and `class`.
    pub async fn push_to(&self, kind: JobKind, class: JobClass, jobs: &[(JobId, Ulid)]) -> Result<(), QueueError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let mut tasks: Vec<RedisTask> = Vec::with_capacity(jobs.len());
        for (job_id, task_id) in jobs {
            let payload = serde_json::to_vec(&QueuedJob { job_id: *job_id, kind })?;
            tasks.push(TaskBuilder::new(payload).task_id(TaskId::from_ulid(*task_id)).build());
        }
        let mut conn = self.conn.clone();
        let channel = wake::channel(&self.prefix, &self.name_of(kind, class));
        let cfg = self.config(kind, class);
        for chunk in tasks.chunks(500) {
            apalis_redis::queries::push_tasks(&mut PublishAfter::new(&mut conn, &channel), &cfg, chunk).await?;
        }
        Ok(())
    }

    /// Wakes every dispatcher (jobs were left in PostgreSQL for it).
    pub async fn wake_dispatchers(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        wake::publish(&mut conn, &self.prefix, wake::DISPATCH).await?;
        Ok(())
    }

    /// The wake-up targets of `kinds`' queues, every class of each (for [`Wakes::new`]).
    pub fn wake_targets(&self, kinds: &[JobKind]) -> Vec<String> {
        kinds
            .iter()
            .flat_map(|&k| k.classes().iter().map(move |&c| self.name_of(k, c)))
            .collect()
    }

    /// Due jobs sitting in the kind's interactive queue (scheduled + ready): the figure defect 1 is about.
    pub async fn depth(&self, kind: JobKind) -> Result<usize, QueueError> {
        self.depth_of(kind, JobClass::Interactive).await
    }

    /// [`Queue::depth`] of the queue of `kind` and `class`.
    pub async fn depth_of(&self, kind: JobKind, class: JobClass) -> Result<usize, QueueError> {
        Ok(self.depths_of(&[(kind, class)]).await?.iter().sum())
    }

    /// The depth (scheduled + ready, as [`Queue::depth_of`]) of several queues in one round trip,
    /// in the order given.
    pub async fn depths_of(&self, queues: &[(JobKind, JobClass)]) -> Result<Vec<usize>, QueueError> {
        let mut pipe = redis::pipe();
        for &(kind, class) in queues {
            let cfg = self.config(kind, class);
            pipe.zcard(cfg.scheduled_jobs_set()).llen(cfg.active_jobs_list());
        }
        let mut conn = self.conn.clone();
        let counts: Vec<usize> = pipe.query_async(&mut conn).await?;
        Ok(counts.chunks(2).map(|c| c.iter().sum()).collect())
    }

    /// Tasks in the dead set (panicked or exhausted); our handlers never ask for retries.
    pub async fn dead(&self, kind: JobKind, class: JobClass) -> Result<usize, QueueError> {
        let mut conn = self.conn.clone();
        let n: usize = redis::cmd("SCARD")
            .arg(self.config(kind, class).dead_jobs_set())
            .query_async(&mut conn)
            .await?;
        Ok(n)
    }

    /// For each task id: does Redis still hold it as pending or running?
    pub async fn held(&self, kind: JobKind, class: JobClass, task_ids: &[String]) -> Result<Vec<bool>, QueueError> {
        if task_ids.is_empty() {
            return Ok(Vec::new());
        }
        let meta = self.config(kind, class).job_meta_hash();
        let mut pipe = redis::pipe();
        for id in task_ids {
            pipe.hget(format!("{meta}:{id}"), "status");
        }
        let mut conn = self.conn.clone();
        let statuses: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
        Ok(statuses
            .into_iter()
            .map(|s| matches!(s.as_deref(), Some("Pending" | "Queued" | "Running")))
            .collect())
    }

    /// Deletes finished tasks (done and dead sets) with their data; returns how many went.
    pub async fn cleanup_finished(&self, kind: JobKind, class: JobClass, max: usize) -> Result<usize, QueueError> {
        let cfg = self.config(kind, class);
        let mut conn = self.conn.clone();
        let mut removed = 0;
        for set in [cfg.done_jobs_set(), cfg.dead_jobs_set()] {
            let n: usize = CLEANUP_SCRIPT
                .key(set)
                .key(cfg.job_data_hash())
                .arg(cfg.job_meta_hash())
                .arg(max)
                .invoke_async(&mut conn)
                .await?;
            removed += n;
        }
        Ok(removed)
    }
}

/// A poll strategy that always re-arms its timer, so an idle worker polls every `every` (defect 4),
/// and that fetches at once when its wake-up [`Signal`] is raised (a push to its queue).
///
/// While tasks keep arriving (one was handed out less than [`BUSY_WINDOW`] ago) it wakes every
/// [`BUSY_EVERY`] instead: a worker draining a backlog fetches its next batch as soon as it has
/// room rather than one tick later, and an idle worker still costs one fetch per `every`.
///
/// Wake-ups coalesce: any number of them before the worker looks start one fetch, and a wake-up
/// less than [`BUSY_EVERY`] after the last fetch waits for the rest of that gap. An idle queue
/// fetches at once on a push; a busy one (every push publishes a wake-up) still fetches at most
/// once per [`BUSY_EVERY`], several tasks at a time, instead of once per push. A fetch that
/// was already in flight when the wake-up came may have run before the push landed, so after a
/// wake-up the tick also runs at [`BUSY_EVERY`] for [`WAKE_WINDOW`] (a few more fetches, then
/// back to `every`).
pub struct Tick {
    every: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    wake: Option<Arc<Signal>>,
    woken_at: Option<Instant>,
    fetched_at: Option<Instant>,
}

/// How recently a task must have been handed out for the worker to count as busy.
pub const BUSY_WINDOW: Duration = Duration::from_millis(250);
/// The wake-up interval of a busy worker, and the shortest gap between two fetches that a wake-up
/// can cause (measured: 2 ms, with a wake-up per push, made about one fetch per job on a busy
/// queue, each an apalis script call; 5 ms lets a fetch take several).
pub const BUSY_EVERY: Duration = Duration::from_millis(5);
/// How long after a wake-up the worker keeps fetching every [`BUSY_EVERY`] (covers a fetch that
/// was in flight when the wake-up came).
pub const WAKE_WINDOW: Duration = Duration::from_millis(10);

impl Tick {
    /// Polls every `every` when idle.
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            sleep: None,
            wake: None,
            woken_at: None,
            fetched_at: None,
        }
    }

    /// Also fetches as soon as `signal` is raised.
    pub fn with_wake(mut self, signal: Option<Arc<Signal>>) -> Self {
        self.wake = signal;
        self
    }

    /// The interval to sleep next, given how many tasks were handed out so far and how long ago
    /// the last one was (apalis reports 0 for "never").
    pub fn interval(&self, handed_out: u64, idle_for: Duration) -> Duration {
        let woken = self.woken_at.is_some_and(|t| t.elapsed() < WAKE_WINDOW);
        if woken || (handed_out > 0 && idle_for < BUSY_WINDOW) {
            BUSY_EVERY.min(self.every)
        } else {
            self.every
        }
    }
}

impl PollStrategy for Tick {
    fn poll_drive(&mut self, cx: &mut Context<'_>, snapshot: &PollSnapshot) -> Poll<Option<()>> {
        let mut fired = false;
        if let Some(signal) = &self.wake
            && signal.poll_take(cx).is_ready()
        {
            self.woken_at = Some(Instant::now());
            let since_fetch = self.fetched_at.map_or(BUSY_EVERY, |t| t.elapsed());
            if since_fetch >= BUSY_EVERY {
                // This very poll goes on to fetch; the timer restarts at the short interval.
                fired = true;
                self.sleep = None;
            } else {
                // Fetched a moment ago: the next fetch comes at the end of the gap.
                self.sleep = Some(Box::pin(tokio::time::sleep(BUSY_EVERY - since_fetch)));
            }
        }
        let every = self.interval(snapshot.total_ready, snapshot.idle_for);
        loop {
            let sleep = self.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
            match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    fired = true;
                    self.sleep = None;
                }
                Poll::Pending if fired => {
                    self.fetched_at = Some(Instant::now());
                    return Poll::Ready(Some(()));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Why a [`JobHandler`] could not handle a delivery: any error (the same type as apalis's
/// `BoxDynError`, named here so that callers never name apalis).
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// What a worker does with one job. Returning `Err` asks apalis for a redelivery (infrastructure
/// trouble only); job-level failures are recorded in PostgreSQL and return `Ok`.
pub trait JobHandler: Send + Sync + 'static {
    /// Runs one delivery of a job.
    fn handle(&self, job: QueuedJob) -> Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send>>;
}

/// Worker runner settings (from `WorkerConfig`).
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// Jobs in flight per interactive queue.
    pub concurrency: usize,
    /// Jobs in flight per bulk queue.
    pub bulk_concurrency: usize,
    /// Fetch tick (the fallback when wake-ups are lost).
    pub poll_interval: Duration,
    /// apalis heartbeat.
    pub heartbeat: Duration,
    /// Missed heartbeats before another worker reclaims this one's jobs.
    pub missed_heartbeats: usize,
    /// Hard cap on a graceful shutdown.
    pub shutdown_timeout: Duration,
    /// Wake-up signals by queue (empty: poll only); fed by [`Wakes::subscribe`].
    pub wakes: Wakes,
}

type SharedHandler = Arc<dyn JobHandler>;

async fn run_one(job: QueuedJob, handler: Data<SharedHandler>) -> Result<(), BoxDynError> {
    handler.handle(job).await
}

/// A unique worker name per incarnation: `{host}-{pid}-{ulid}`; a name is never reused.
pub fn unique_worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "host".into());
    format!("{}-{}-{}", host.trim(), std::process::id(), Ulid::generate())
}

impl Queue {
    /// Runs one worker per kind and class (see [`JobKind::classes`]) until `shutdown` resolves.
    /// Each queue is supervised on its own: when its apalis worker ends (a Redis error, a wiped
    /// queue, a registration removed as an orphan after missed heartbeats), that worker alone is
    /// rebuilt under a fresh name after a backoff, while the other queues keep running. Jobs it held are reclaimed by apalis' orphan recovery
    /// and by the PostgreSQL lease reconciler.
    pub async fn run_workers(
        &self,
        kinds: &[JobKind],
        handler: SharedHandler,
        settings: RunnerSettings,
        shutdown: Shutdown,
    ) {
        let supervisors = kinds.iter().flat_map(|&kind| {
            kind.classes()
                .iter()
                .map(move |&class| (kind, class))
                .collect::<Vec<_>>()
        });
        let supervisors = supervisors
            .map(|(kind, class)| self.supervise(kind, class, handler.clone(), settings.clone(), shutdown.clone()));
        futures::future::join_all(supervisors).await;
    }

    /// Keeps one apalis worker for the queue of `kind` and `class` running until `shutdown`,
    /// rebuilding it whenever it ends.
    async fn supervise(
        &self,
        kind: JobKind,
        class: JobClass,
        handler: SharedHandler,
        settings: RunnerSettings,
        shutdown: Shutdown,
    ) {
        let concurrency = match class {
            JobClass::Interactive => settings.concurrency,
            JobClass::Bulk => settings.bulk_concurrency,
        };
        let mut backoff = Duration::from_millis(200);
        loop {
            if shutdown.is_triggered() {
                return;
            }
            let queue = self.name_of(kind, class);
            let short = queue.rsplit(':').next().unwrap_or(kind.as_str());
            let name = format!("{short}-{}", unique_worker_name());
            let cfg = self
                .config(kind, class)
                .batch_size((concurrency / 2).max(1))
                .heartbeat_interval(settings.heartbeat)
                .missed_heartbeats(settings.missed_heartbeats);
            let conn = self.conn.clone();
            let worker_handler = handler.clone();
            let poll = settings.poll_interval;
            let wake = settings.wakes.signal(&queue);
            let monitor = Monitor::new()
                .shutdown_timeout(settings.shutdown_timeout)
                .register(move |_run| {
                    let storage: RedisStorage<QueuedJob> = RedisStorage::new(conn.clone()).with_config(cfg.clone());
                    WorkerBuilder::new(name.clone())
                        .backend(PollWith::new(storage, Tick::new(poll).with_wake(wake.clone())))
                        .concurrency(concurrency)
                        .catch_panic()
                        .data(worker_handler.clone())
                        .build(run_one)
                });
            let signal = {
                let shutdown = shutdown.clone();
                async move {
                    shutdown.wait().await;
                    Ok(())
                }
            };
            let started = std::time::Instant::now();
            match monitor.run_with_signal(signal).await {
                Ok(()) if shutdown.is_triggered() => return,
                Ok(()) => tracing::warn!(kind = kind.as_str(), "queue worker stopped on its own; restarting it"),
                Err(e) => {
                    tracing::error!(kind = kind.as_str(), error = %e, "queue worker failed; restarting it under a new name")
                }
            }
            metrics::counter!(metric_names::QUEUE_WORKER_RESTARTS_TOTAL, "kind" => kind.as_str()).increment(1);
            if started.elapsed() > Duration::from_secs(30) {
                backoff = Duration::from_millis(200);
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shutdown.wait() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_is_fast_only_while_tasks_keep_coming() {
        let tick = Tick::new(Duration::from_millis(25));
        assert_eq!(
            tick.interval(0, Duration::ZERO),
            Duration::from_millis(25),
            "never busy yet"
        );
        assert_eq!(tick.interval(5, Duration::ZERO), BUSY_EVERY);
        assert_eq!(tick.interval(5, Duration::from_millis(100)), BUSY_EVERY);
        assert_eq!(tick.interval(5, Duration::from_secs(1)), Duration::from_millis(25));
        assert_eq!(
            Tick::new(Duration::from_millis(1)).interval(5, Duration::ZERO),
            Duration::from_millis(1)
        );
    }

    /// A tick of one minute with its wake-up signal.
    fn minute_tick_with_wake() -> (Arc<Signal>, Tick) {
        let signal = Arc::new(Signal::default());
        let tick = Tick::new(Duration::from_secs(60)).with_wake(Some(signal.clone()));
        (signal, tick)
    }

    #[tokio::test]
    async fn a_wake_up_fires_at_once_then_polls_fast_for_a_moment() {
        let (signal, mut tick) = minute_tick_with_wake();
        let waker = futures::task::noop_waker();
        let (mut cx, idle) = (Context::from_waker(&waker), PollSnapshot::default());
        assert!(tick.poll_drive(&mut cx, &idle).is_pending(), "nothing due for a minute");
        signal.raise();
        signal.raise();
        assert!(tick.poll_drive(&mut cx, &idle).is_ready(), "woken: fetch now");
        assert!(tick.poll_drive(&mut cx, &idle).is_pending(), "two raises, one fetch");
        assert_eq!(
            tick.interval(0, Duration::ZERO),
            BUSY_EVERY,
            "a few quick fetches after the wake-up"
        );
        tokio::time::sleep(WAKE_WINDOW).await;
        assert_eq!(
            tick.interval(0, Duration::ZERO),
            Duration::from_secs(60),
            "then back to the slow tick"
        );
    }

    #[tokio::test]
    async fn wake_ups_right_after_a_fetch_wait_for_the_gap() {
        let (signal, mut tick) = minute_tick_with_wake();
        let waker = futures::task::noop_waker();
        let (mut cx, idle) = (Context::from_waker(&waker), PollSnapshot::default());
        signal.raise();
        assert!(
            tick.poll_drive(&mut cx, &idle).is_ready(),
            "idle: the first wake-up fetches at once"
        );
        signal.raise();
        assert!(
            tick.poll_drive(&mut cx, &idle).is_pending(),
            "a push right after a fetch does not fetch again at once"
        );
        tokio::time::sleep(BUSY_EVERY).await;
        assert!(
            tick.poll_drive(&mut cx, &idle).is_ready(),
            "it fetches when the gap is over"
        );
    }
}
