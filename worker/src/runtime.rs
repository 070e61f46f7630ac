//! Wiring of a worker process: connections, clients, background loops and the queue workers.

use std::{future::Future, pin::Pin, sync::Arc};

use dropforge_common::{
    cache::Cache,
    config::Config,
    db,
    domain::JobKind,
    queue::{self, HandlerError, JobHandler, Queue, QueuedJob, RunnerSettings},
    scoring::ScoringConfig,
    shutdown::Shutdown,
    wake::{self, Signal, Wakes},
};

use crate::{
    canary, dispatcher,
    jobs::{Deps, Runner, lanes::Lanes},
    leases::LeaseRegistry,
    reconciler,
    upstream::{Budget, KeywordCache, Upstreams},
    webhook::WebhookClient,
};

/// Job kinds this worker runs.
pub const KINDS: [JobKind; 5] = [
    JobKind::Validation,
    JobKind::Webhook,
    JobKind::Search,
    JobKind::Suppliers,
    JobKind::Canary,
];

/// The job handler, raising `done` after every delivery (room freed in a queue: see
/// [`dispatcher::Wakeups::completions`]).
struct SignalOnDone<H> {
    inner: H,
    done: Arc<Signal>,
}

impl<H: JobHandler> JobHandler for SignalOnDone<H> {
    fn handle(&self, job: QueuedJob) -> Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send>> {
        let (run, done) = (self.inner.handle(job), self.done.clone());
        Box::pin(async move {
            let result = run.await;
            done.raise();
            result
        })
    }
}

/// Runs a worker until `shutdown`: returns after in-flight jobs drained (or the shutdown cap).
pub async fn run(config: Config, shutdown: Shutdown) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let planning = if config.worker.fixed_plans {
        db::Planning::Fixed
    } else {
        db::Planning::Adaptive
    };
    let pool = db::connect_planned(config.database_url.expose(), config.db_max_connections, planning).await?;
    let queue_conn = queue::connect(config.redis_url.expose()).await?;
    let cache_conn = queue::connect(config.cache_redis_url.expose()).await?;
    let queue = Queue::new(queue_conn.clone(), &config.redis_prefix);
    let owner = queue::unique_worker_name();
    let leases = LeaseRegistry::default();
    let budget = Budget::from_config(queue_conn.clone(), &config.redis_prefix, &config.upstreams);
    let lanes = Lanes::start(
        pool.clone(),
        queue_conn.clone(),
        Cache::new(cache_conn.clone()),
        config.redis_prefix.clone(),
        owner.clone(),
        config.worker.lease,
    );
    let deps = Deps {
        config: config.clone(),
        pool: pool.clone(),
        cache: Cache::new(cache_conn.clone()),
        events: queue_conn,
        upstreams: Upstreams::new(&config.upstreams)?
            .with_keyword_cache(KeywordCache::new(
                cache_conn,
                &config.redis_prefix,
                config.cache.keyword_ttl,
            ))
            .with_budget(budget),
        scoring: ScoringConfig::default(),
        leases: leases.clone(),
        owner: owner.clone(),
        webhooks: WebhookClient::new(&config.webhooks)?,
        lanes,
    };
    tracing::info!(worker = %owner, concurrency = config.worker.concurrency, "dropforge-worker starting");
    let w = &config.worker;
    // Background loops stop with their own shutdown, after the queue workers drained.
    let loops = Shutdown::new();
    // One pub/sub connection wakes the queue pollers and the dispatcher on every push and deferral.
    let mut targets = queue.wake_targets(&KINDS);
    targets.push(wake::DISPATCH.to_owned());
    let wakes = Wakes::new(&config.redis_prefix, &targets);
    let subscriber = tokio::spawn(
        wakes
            .clone()
            .subscribe(config.redis_url.expose().to_owned(), loops.clone()),
    );
    let completions = Arc::new(Signal::default());
    let renewer = tokio::spawn(
        leases
            .clone()
            .run_renewer(pool.clone(), owner, w.lease, w.lease_renew, loops.clone()),
    );
    let dispatch = tokio::spawn(dispatcher::run(
        pool.clone(),
        queue.clone(),
        KINDS.to_vec(),
        w.queue_cap,
        w.dispatch_interval,
        dispatcher::Wakeups {
            published: wakes.signal(wake::DISPATCH),
            completions: Some(completions.clone()),
        },
        shutdown.clone(),
    ));
    let canaries = tokio::spawn(canary::run(
        pool.clone(),
        queue.clone(),
        w.canary_interval,
        shutdown.clone(),
    ));
    let reconcile = tokio::spawn(reconciler::run(
        pool.clone(),
        queue.clone(),
        KINDS.to_vec(),
        w.clone(),
        w.reconcile_interval,
        loops.clone(),
    ));
    // Retention: removes finished jobs past DF_RETENTION_DAYS in short chunks; stops with `loops`.
    tokio::spawn(crate::retention::run(pool.clone(), w.retention, loops.clone()));
    // Table upkeep: VACUUM/ANALYZE by autovacuum's thresholds when the server runs no autovacuum.
    tokio::spawn(crate::upkeep::run(pool.clone(), w.upkeep, loops.clone()));
    let settings = RunnerSettings {
        concurrency: w.concurrency,
        bulk_concurrency: w.bulk_concurrency,
        poll_interval: w.poll_interval,
        heartbeat: w.heartbeat,
        missed_heartbeats: w.missed_heartbeats as usize,
        shutdown_timeout: w.shutdown_timeout,
        wakes,
    };
    let handler = SignalOnDone {
        inner: Runner::new(deps),
        done: completions,
    };
    queue.run_workers(&KINDS, Arc::new(handler), settings, shutdown).await;
    tracing::info!(in_flight = leases.len(), "queue workers stopped");
    loops.trigger();
    let _ = tokio::join!(renewer, dispatch, canaries, reconcile, subscriber);
    pool.close().await;
    Ok(())
}
