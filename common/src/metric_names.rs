//! Metric names and histogram buckets, in one place (PRODUCT.md "Observability").

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

/// HTTP latency buckets: SLO and alert thresholds (0.04, 0.1, 0.5 s) are bucket edges.
pub const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.04, 0.05, 0.06, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0,
    30.0,
];
/// Job run and wait buckets.
pub const JOB_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0,
];
/// Webhook attempt buckets; 15 s is the default attempt timeout.
pub const WEBHOOK_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0];
/// Upstream call buckets.
pub const UPSTREAM_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0];

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
}
