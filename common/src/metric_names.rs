//! Metric names and histogram buckets, in one place (catalogue: docs/ARCHITECTURE.md §8).

/// Counter `method`, `route`, `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "dropforge_http_requests_total";
/// Histogram `method`, `route`.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "dropforge_http_request_duration_seconds";
/// Counter `kind`, `result` (hit/miss).
pub const CACHE_REQUESTS_TOTAL: &str = "dropforge_cache_requests_total";
/// Gauge `state` (active/idle).
pub const DB_POOL_CONNECTIONS: &str = "dropforge_db_pool_connections";
/// Gauge: pool size limit.
pub const DB_POOL_MAX_CONNECTIONS: &str = "dropforge_db_pool_max_connections";
/// Counter `kind`, `outcome`.
pub const JOBS_ENQUEUED_TOTAL: &str = "dropforge_jobs_enqueued_total";
/// Counter `kind`, `outcome`.
pub const JOBS_FINISHED_TOTAL: &str = "dropforge_jobs_finished_total";
/// Histogram `kind`.
pub const JOB_DURATION_SECONDS: &str = "dropforge_job_duration_seconds";
/// Histogram `kind`: enqueue to handler start.
pub const JOB_QUEUE_WAIT_SECONDS: &str = "dropforge_job_queue_wait_seconds";
/// Histogram: a canary job's time from creation to completion (the pipeline's black-box probe).
pub const CANARY_LATENCY_SECONDS: &str = "dropforge_canary_latency_seconds";
/// Gauge `kind`, `state` (queued/running/dead).
pub const QUEUE_DEPTH: &str = "dropforge_queue_depth";
/// Gauge `kind`: age of the oldest queued job.
pub const QUEUE_OLDEST_JOB_AGE_SECONDS: &str = "dropforge_queue_oldest_job_age_seconds";
/// Counter `upstream`, `outcome`.
pub const UPSTREAM_REQUESTS_TOTAL: &str = "dropforge_upstream_requests_total";
/// Histogram `upstream`, `outcome`.
pub const UPSTREAM_REQUEST_DURATION_SECONDS: &str = "dropforge_upstream_request_duration_seconds";
/// Counter `upstream`, `reason` (rate_wait/pause_wait/rate/paused/quota/unavailable).
pub const BUDGET_WAITS_TOTAL: &str = "dropforge_upstream_budget_waits_total";
/// Counter `outcome`.
pub const WEBHOOK_DELIVERIES_TOTAL: &str = "dropforge_webhook_deliveries_total";
/// Histogram `outcome`: duration of one webhook delivery attempt.
pub const WEBHOOK_DELIVERY_DURATION_SECONDS: &str = "dropforge_webhook_delivery_duration_seconds";
/// Counter `policy`.
pub const RATE_LIMITED_TOTAL: &str = "dropforge_rate_limited_total";
/// Counter `action` (requeued_lease/redispatched/dispatched).
pub const RECONCILER_ACTIONS_TOTAL: &str = "dropforge_reconciler_actions_total";
/// Counter: rate-limit decisions taken by the API's in-process fallback.
pub const RATELIMIT_FALLBACK_TOTAL: &str = "dropforge_ratelimit_fallback_total";
/// Counter: Redis errors and timeouts seen by the API's rate limiter.
pub const RATELIMIT_BACKEND_ERRORS_TOTAL: &str = "dropforge_ratelimit_backend_errors_total";
/// Counter `table`: rows removed by retention (worker).
pub const RETENTION_ROWS_REMOVED_TOTAL: &str = "dropforge_retention_rows_removed_total";
/// Gauge: finished jobs past the retention period, counted up to a cap (worker, sampled).
pub const RETENTION_ROWS_PENDING: &str = "dropforge_retention_rows_pending";
/// Counter: `VACUUM`/`ANALYZE` runs of the worker's table upkeep; labels `table`, `action`.
pub const TABLE_UPKEEP_TOTAL: &str = "dropforge_table_upkeep_total";
/// Counter: a kind's queue worker ended on its own and was rebuilt (label `kind`).
pub const QUEUE_WORKER_RESTARTS_TOTAL: &str = "dropforge_queue_worker_restarts_total";
/// Counter `target` (a queue's kind, or `dispatch`): pub/sub wake-ups received by a worker process.
pub const QUEUE_WAKEUPS_TOTAL: &str = "dropforge_queue_wakeups_total";
/// Counter: the worker's wake-up subscriber connection was lost and is being re-established.
pub const WAKE_SUBSCRIBER_RECONNECTS_TOTAL: &str = "dropforge_wake_subscriber_reconnects_total";
/// Gauge `tenant` (id), `class`: a tenant's queued jobs waiting for the dispatcher (worker, sampled).
pub const TENANT_QUEUED_JOBS: &str = "dropforge_tenant_queued_jobs";
/// Gauge `tenant` (id): a tenant's quota of queued jobs (worker, sampled).
pub const TENANT_MAX_QUEUED_JOBS: &str = "dropforge_tenant_max_queued_jobs";
/// Counter `tenant` (id), `class`: submissions refused with `429 tenant_backlog_full` (api).
pub const TENANT_REFUSED_TOTAL: &str = "dropforge_tenant_refused_total";

/// Values of the `kind` label of cache lookups (the kinds with a result cache).
pub const CACHE_KINDS: &[&str] = &["validation", "search", "suppliers"];
/// Values of the `result` label of [`CACHE_REQUESTS_TOTAL`].
pub const CACHE_RESULTS: &[&str] = &["hit", "miss"];
/// Values of the `outcome` label of [`JOBS_ENQUEUED_TOTAL`] (api: pushed/deferred/joined; worker: dispatched).
pub const ENQUEUE_OUTCOMES: &[&str] = &["pushed", "deferred", "joined", "dispatched"];
/// Values of the `outcome` label of [`JOBS_FINISHED_TOTAL`].
pub const FINISH_OUTCOMES: &[&str] = &["succeeded", "failed", "retried", "throttled"];
/// Values of the `upstream` label.
pub const UPSTREAMS: &[&str] = &["aliexpress", "meta", "youtube"];
/// Values of the `outcome` label of [`UPSTREAM_REQUESTS_TOTAL`]: `ok` and every error class.
pub const UPSTREAM_OUTCOMES: &[&str] = &[
    "ok",
    "server_error",
    "timeout",
    "transport",
    "malformed",
    "throttled",
    "quota",
    "auth",
    "not_found",
    "client_error",
];
/// Values of the `reason` label of [`BUDGET_WAITS_TOTAL`].
pub const BUDGET_REASONS: &[&str] = &["rate_wait", "pause_wait", "rate", "paused", "quota", "unavailable"];
/// Values of the `outcome` label of [`WEBHOOK_DELIVERIES_TOTAL`].
pub const WEBHOOK_OUTCOMES: &[&str] = &["delivered", "gone", "retry", "refused"];
/// Values of the `policy` label of [`RATE_LIMITED_TOTAL`].
pub const RATE_LIMIT_POLICIES: &[&str] = &["per-ip", "per-key", "per-route"];
/// Values of the `action` label of [`RECONCILER_ACTIONS_TOTAL`].
pub const RECONCILER_ACTIONS: &[&str] = &[
    "requeued_lease",
    "failed_lease",
    "finished_batch",
    "redispatched",
    "repaired_tenant_queued",
];
/// Values of the `table` label of [`RETENTION_ROWS_REMOVED_TOTAL`].
pub const RETENTION_TABLES: &[&str] = &[
    "jobs",
    "validation_results",
    "job_results",
    "batch_items",
    "webhook_deliveries",
    "webhook_attempts",
];
/// HTTP statuses exported at zero per route, so error ratios have a numerator before the first error.
pub const HTTP_ZERO_STATUSES: &[&str] = &["500", "503"];

/// HTTP latency buckets: SLO and alert thresholds (0.04, 0.1, 0.5 s) are bucket edges.
pub const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.04, 0.05, 0.06, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0,
    30.0,
];
/// Job run and wait buckets.
pub const JOB_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0,
];
/// Canary end-to-end buckets; the alert's 5 s threshold is a bucket edge.
pub const CANARY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];
/// Webhook attempt buckets; 15 s is the default attempt timeout.
pub const WEBHOOK_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0];
/// Upstream call buckets.
pub const UPSTREAM_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0];

/// Every labelled (and unlabelled) counter with each label set it can take, from the vocabularies
/// above and [`JobKind::ALL`](crate::domain::JobKind::ALL): `(name, labels)`.
pub fn zero_series() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    use crate::domain::JobKind;
    let mut series = Vec::new();
    let mut cross = |name: &'static str, a: (&'static str, &[&'static str]), b: (&'static str, &[&'static str])| {
        for x in a.1 {
            for y in b.1 {
                series.push((name, vec![(a.0, *x), (b.0, *y)]));
            }
        }
    };
    let kinds: Vec<&'static str> = JobKind::ALL.iter().map(|k| k.as_str()).collect();
    cross(CACHE_REQUESTS_TOTAL, ("kind", CACHE_KINDS), ("result", CACHE_RESULTS));
    cross(JOBS_ENQUEUED_TOTAL, ("kind", &kinds), ("outcome", ENQUEUE_OUTCOMES));
    cross(JOBS_FINISHED_TOTAL, ("kind", &kinds), ("outcome", FINISH_OUTCOMES));
    cross(
        UPSTREAM_REQUESTS_TOTAL,
        ("upstream", UPSTREAMS),
        ("outcome", UPSTREAM_OUTCOMES),
    );
    cross(BUDGET_WAITS_TOTAL, ("upstream", UPSTREAMS), ("reason", BUDGET_REASONS));
    for outcome in WEBHOOK_OUTCOMES {
        series.push((WEBHOOK_DELIVERIES_TOTAL, vec![("outcome", *outcome)]));
    }
    for policy in RATE_LIMIT_POLICIES {
        series.push((RATE_LIMITED_TOTAL, vec![("policy", *policy)]));
    }
    for action in RECONCILER_ACTIONS {
        series.push((RECONCILER_ACTIONS_TOTAL, vec![("action", *action)]));
    }
    for table in RETENTION_TABLES {
        series.push((RETENTION_ROWS_REMOVED_TOTAL, vec![("table", *table)]));
    }
    for kind in &kinds {
        series.push((QUEUE_WORKER_RESTARTS_TOTAL, vec![("kind", *kind)]));
        series.push((QUEUE_WAKEUPS_TOTAL, vec![("target", *kind)]));
    }
    series.push((QUEUE_WAKEUPS_TOTAL, vec![("target", "dispatch")]));
    series.push((WAKE_SUBSCRIBER_RECONNECTS_TOTAL, Vec::new()));
    series.push((RATELIMIT_FALLBACK_TOTAL, Vec::new()));
    series.push((RATELIMIT_BACKEND_ERRORS_TOTAL, Vec::new()));
    series
}

/// Exports every series of [`zero_series`] at 0, so a fresh process already has them: rates and
/// ratios over them read 0 instead of "no data" until the first event. Called at start-up by
/// [`install_metrics`](crate::telemetry::install_metrics), hence by both binaries.
pub fn register_zero_series() {
    for (name, labels) in zero_series() {
        let labels: Vec<metrics::Label> = labels.into_iter().map(|(k, v)| metrics::Label::new(k, v)).collect();
        metrics::counter!(name, labels).increment(0);
    }
}

/// Exports `dropforge_http_requests_total{method, route, status}` at 0 for every route the API
/// serves and each of [`HTTP_ZERO_STATUSES`] (the API calls it at start-up with its route list).
pub fn register_http_zero_series(routes: &[(&'static str, &'static str)]) {
    for (method, route) in routes {
        for status in HTTP_ZERO_STATUSES {
            metrics::counter!(HTTP_REQUESTS_TOTAL, "method" => *method, "route" => *route, "status" => *status)
                .increment(0);
        }
    }
}

/// Registers HELP text and units for every metric above (call once after installing the recorder).
pub fn describe_all() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS_TOTAL,
        Unit::Count,
        "HTTP requests by method, route template and status."
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "HTTP request latency by method and route template."
    );
    describe_counter!(
        CACHE_REQUESTS_TOTAL,
        Unit::Count,
        "Result cache lookups by kind and result (hit/miss)."
    );
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        Unit::Count,
        "PostgreSQL pool connections by state (active/idle)."
    );
    describe_gauge!(
        DB_POOL_MAX_CONNECTIONS,
        Unit::Count,
        "PostgreSQL pool size limit of this process."
    );
    describe_counter!(
        JOBS_ENQUEUED_TOTAL,
        Unit::Count,
        "Jobs created or dispatched, by kind and outcome (pushed/deferred/joined/dispatched)."
    );
    describe_counter!(
        JOBS_FINISHED_TOTAL,
        Unit::Count,
        "Job attempts finished, by kind and outcome (succeeded/failed/retried/throttled)."
    );
    describe_histogram!(
        JOB_DURATION_SECONDS,
        Unit::Seconds,
        "Run time of one job attempt, by kind."
    );
    describe_histogram!(
        JOB_QUEUE_WAIT_SECONDS,
        Unit::Seconds,
        "Time from a job becoming due to its handler starting, by kind."
    );
    describe_histogram!(
        CANARY_LATENCY_SECONDS,
        Unit::Seconds,
        "Canary jobs: time from creation to completion through the whole durable pipeline."
    );
    describe_gauge!(
        QUEUE_DEPTH,
        Unit::Count,
        "Jobs by kind and state (queued/running from PostgreSQL, dead from Redis)."
    );
    describe_gauge!(
        QUEUE_OLDEST_JOB_AGE_SECONDS,
        Unit::Seconds,
        "Age of the oldest due queued job, by kind."
    );
    describe_counter!(
        UPSTREAM_REQUESTS_TOTAL,
        Unit::Count,
        "External API calls by upstream and outcome."
    );
    describe_histogram!(
        UPSTREAM_REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "External API call latency by upstream and outcome."
    );
    describe_counter!(
        BUDGET_WAITS_TOTAL,
        Unit::Count,
        "Upstream budget waits and refusals, by upstream and reason."
    );
    describe_counter!(
        WEBHOOK_DELIVERIES_TOTAL,
        Unit::Count,
        "Webhook delivery attempts by outcome."
    );
    describe_histogram!(
        WEBHOOK_DELIVERY_DURATION_SECONDS,
        Unit::Seconds,
        "Duration of one webhook delivery attempt, by outcome."
    );
    describe_counter!(
        RATE_LIMITED_TOTAL,
        Unit::Count,
        "Requests refused by a rate-limit policy."
    );
    describe_counter!(
        RECONCILER_ACTIONS_TOTAL,
        Unit::Count,
        "Repairs made by the reconciler, by action."
    );
    describe_counter!(
        RATELIMIT_FALLBACK_TOTAL,
        Unit::Count,
        "Rate-limit decisions taken by the in-process fallback (Redis failed or was slow)."
    );
    describe_counter!(
        RATELIMIT_BACKEND_ERRORS_TOTAL,
        Unit::Count,
        "Redis errors and timeouts seen by the rate limiter."
    );
    describe_counter!(
        RETENTION_ROWS_REMOVED_TOTAL,
        Unit::Count,
        "Rows removed by retention (finished jobs past DF_RETENTION_DAYS and their rows), by table."
    );
    describe_gauge!(
        RETENTION_ROWS_PENDING,
        Unit::Count,
        "Finished jobs past the retention period still stored (index count up to a cap, sampled every few minutes)."
    );
    describe_counter!(
        TABLE_UPKEEP_TOTAL,
        Unit::Count,
        "VACUUM and ANALYZE runs of the worker's table upkeep (a server without autovacuum), by table and action."
    );
    describe_counter!(
        QUEUE_WORKER_RESTARTS_TOTAL,
        Unit::Count,
        "Queue workers that ended on their own and were rebuilt, by kind (each kind is supervised apart)."
    );
    describe_counter!(
        QUEUE_WAKEUPS_TOTAL,
        Unit::Count,
        "Pub/sub wake-ups received, by target (a queue's kind, or dispatch); each one starts a fetch at once."
    );
    describe_gauge!(
        TENANT_QUEUED_JOBS,
        Unit::Count,
        "Queued jobs waiting for the dispatcher, by tenant and class (interactive/bulk)."
    );
    describe_gauge!(
        TENANT_MAX_QUEUED_JOBS,
        Unit::Count,
        "A tenant's quota of queued jobs (submissions beyond it answer 429 tenant_backlog_full)."
    );
    describe_counter!(
        TENANT_REFUSED_TOTAL,
        Unit::Count,
        "Submissions refused because the tenant's queued jobs would exceed its quota, by tenant and class."
    );
    describe_counter!(
        WAKE_SUBSCRIBER_RECONNECTS_TOTAL,
        Unit::Count,
        "Losses of the wake-up subscriber connection (polling alone meanwhile)."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_series_cover_every_kind_and_are_unique() {
        let series = zero_series();
        let mut keys: Vec<String> = series.iter().map(|(n, l)| format!("{n}{l:?}")).collect();
        keys.sort();
        let before = keys.len();
        keys.dedup();
        assert_eq!(before, keys.len(), "duplicate series");
        for kind in crate::domain::JobKind::ALL {
            assert!(
                series
                    .iter()
                    .any(|(n, l)| *n == JOBS_FINISHED_TOTAL && l.contains(&("kind", kind.as_str()))),
                "{kind:?}"
            );
        }
        assert!(
            series
                .iter()
                .any(|(n, l)| *n == RATELIMIT_FALLBACK_TOTAL && l.is_empty())
        );
    }
}
