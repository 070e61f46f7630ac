//! Logging and metrics set-up shared by every binary.

use std::io::IsTerminal;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{
    EnvFilter, Layer, Registry, filter::Targets, fmt, layer::SubscriberExt, util::SubscriberInitExt,
};

use crate::metric_names as m;

/// The log filter when `RUST_LOG` is unset or unusable.
const DEFAULT_DIRECTIVES: &str = "info,sqlx=warn,apalis=warn,apalis_core=warn";

/// Installs the tracing subscriber: JSON lines in production, readable text otherwise, coloured
/// only on a terminal (escape codes in a log file are noise, and colouring every span's fields
/// cost about 1 % of the API's CPU on the cached path).
///
/// The filter is `RUST_LOG` (else [`DEFAULT_DIRECTIVES`]). Directives of targets and levels only,
/// the usual case, become a static [`Targets`] filter, decided once per call site; `EnvFilter`
/// is kept for directives that name spans or fields (`[...]`). `EnvFilter` tracks every span it
/// sees in a locked map, read again each time a span is entered, left or closed: on the cached
/// path, one request span entered at every poll.
pub fn init_tracing(json: bool) {
    let directives = std::env::var(EnvFilter::DEFAULT_ENV)
        .ok()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_DIRECTIVES.to_owned());
    match static_filter(&directives) {
        Some(targets) => install(targets, json),
        None => install(
            EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new(DEFAULT_DIRECTIVES)),
            json,
        ),
    }
}

/// `directives` as a static filter, when they name only targets and levels.
fn static_filter(directives: &str) -> Option<Targets> {
    if directives.contains('[') {
        return None;
    }
    directives.parse().ok()
}

/// The subscriber: `filter`, then the formatter.
fn install<F>(filter: F, json: bool)
where
    F: Layer<Registry> + Send + Sync + 'static,
{
    let ansi = std::io::stdout().is_terminal();
    let registry = tracing_subscriber::registry().with(filter);
    // A second initialisation (tests that start several services in one process) is harmless.
    let _ = if json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_target(false)
                    .with_ansi(ansi),
            )
            .try_init()
    } else {
        registry
            .with(fmt::layer().compact().with_target(false).with_ansi(ansi))
            .try_init()
    };
}

/// Installs the Prometheus recorder with explicit histogram buckets (never summaries), describes
/// every metric and exports every known counter series at zero ([`m::register_zero_series`]).
pub fn install_metrics() -> Result<PrometheusHandle, BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(m::HTTP_REQUEST_DURATION_SECONDS.into()), m::HTTP_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(m::JOB_DURATION_SECONDS.into()), m::JOB_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(m::JOB_QUEUE_WAIT_SECONDS.into()), m::JOB_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(m::CANARY_LATENCY_SECONDS.into()), m::CANARY_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full(m::WEBHOOK_DELIVERY_DURATION_SECONDS.into()),
            m::WEBHOOK_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full(m::UPSTREAM_REQUEST_DURATION_SECONDS.into()),
            m::UPSTREAM_BUCKETS,
        )?
        .install_recorder()
        .inspect(|_| {
            m::describe_all();
            m::register_zero_series();
        })
}

/// Drains the recorded histogram samples into their buckets every few seconds, so memory stays
/// flat between scrapes (without it every sample is kept until the next `/metrics` render).
pub fn spawn_metrics_upkeep(handle: PrometheusHandle, shutdown: crate::shutdown::Shutdown) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tick.tick() => handle.run_upkeep(),
                () = shutdown.wait() => break,
            }
        }
    });
}

/// Samples the PostgreSQL pool into gauges (call on a timer).
pub fn record_pool(pool: &sqlx::PgPool) {
    let size = f64::from(pool.size());
    let idle = pool.num_idle() as f64;
    metrics::gauge!(m::DB_POOL_CONNECTIONS, "state" => "active").set(size - idle);
    metrics::gauge!(m::DB_POOL_CONNECTIONS, "state" => "idle").set(idle);
    metrics::gauge!(m::DB_POOL_MAX_CONNECTIONS).set(f64::from(pool.options().get_max_connections()));
}

/// Standard `process_*` metrics (as the Prometheus client libraries export them), read from
/// `/proc/self` on Linux and appended to each `/metrics` response; empty elsewhere.
pub fn process_metrics() -> String {
    use std::fmt::Write;
    const TICKS_PER_SECOND: f64 = 100.0; // USER_HZ, 100 on every Linux configuration in use
    const PAGE_SIZE: f64 = 4096.0;
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return String::new();
    };
    // Fields after the parenthesised command name (which may contain spaces).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return String::new();
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (field(14) + field(15)) / TICKS_PER_SECOND;
    let threads = field(20);
    let start_ticks = field(22);
    let vsize = field(23);
    let rss = field(24) * PAGE_SIZE;
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse::<f64>().ok()))
        })
        .unwrap_or(0.0);
    let open_fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0);
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse::<f64>().ok()))
        })
        .unwrap_or(0.0);
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n");
    };
    metric(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        cpu,
    );
    metric(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        rss,
    );
    metric(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        vsize,
    );
    metric(
        "process_threads",
        "gauge",
        "Number of OS threads in the process.",
        threads,
    );
    metric(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        open_fds as f64,
    );
    metric(
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
        max_fds,
    );
    metric(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        boot + start_ticks / TICKS_PER_SECOND,
    );
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn process_metrics_are_read_from_proc() {
        let text = super::process_metrics();
        assert!(text.contains("# TYPE process_cpu_seconds_total counter"), "{text}");
        let rss: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .and_then(|v| v.parse().ok())
            .expect("rss line");
        assert!(rss > 1_000_000.0, "a test process uses more than 1 MB: {rss}");
    }

    #[test]
    fn target_and_level_directives_get_the_static_filter() {
        use tracing::Level;
        let targets = super::static_filter(super::DEFAULT_DIRECTIVES).expect("the default is static");
        assert!(targets.would_enable("dropforge_api::lookup", &Level::INFO));
        assert!(!targets.would_enable("dropforge_api::lookup", &Level::DEBUG));
        assert!(!targets.would_enable("sqlx::query", &Level::INFO));
        assert!(targets.would_enable("sqlx::query", &Level::WARN));
        assert!(!targets.would_enable("apalis_core::worker", &Level::INFO));
        let debug = super::static_filter("warn,dropforge_worker=debug").expect("static");
        assert!(debug.would_enable("dropforge_worker::jobs", &Level::DEBUG));
        assert!(!debug.would_enable("hyper::proto", &Level::INFO));
        // Span and field directives need the dynamic filter.
        assert!(super::static_filter("info,dropforge_api[request{route=/v1/jobs}]=debug").is_none());
        assert!(super::static_filter("info,not a directive=verbose").is_none());
    }
}
