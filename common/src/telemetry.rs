//! Logging and metrics set-up shared by every binary.

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

use crate::metric_names as m;

/// Installs the tracing subscriber: JSON lines in production, readable text otherwise.
pub fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,apalis=warn,apalis_core=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    // A second initialisation (tests that start several services in one process) is harmless.
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.compact().try_init()
    };
}

/// Installs the Prometheus recorder with explicit histogram buckets (never summaries).
pub fn install_metrics() -> Result<PrometheusHandle, BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(m::HTTP_REQUEST_DURATION_SECONDS.into()), m::HTTP_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(m::JOB_DURATION_SECONDS.into()), m::JOB_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(m::JOB_QUEUE_WAIT_SECONDS.into()), m::JOB_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full(m::UPSTREAM_REQUEST_DURATION_SECONDS.into()),
            m::UPSTREAM_BUCKETS,
        )?
        .install_recorder()
}

/// Samples the PostgreSQL pool into gauges (call on a timer).
pub fn record_pool(pool: &sqlx::PgPool) {
    let size = f64::from(pool.size());
    let idle = pool.num_idle() as f64;
    metrics::gauge!(m::DB_POOL_CONNECTIONS, "state" => "active").set(size - idle);
    metrics::gauge!(m::DB_POOL_CONNECTIONS, "state" => "idle").set(idle);
    metrics::gauge!(m::DB_POOL_MAX_CONNECTIONS).set(f64::from(pool.options().get_max_connections()));
}
