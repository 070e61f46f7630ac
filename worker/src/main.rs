//! dropforge-worker binary: runs until SIGINT/SIGTERM, then drains in-flight jobs and exits 0.

/// mimalloc: the services allocate many short-lived JSON buffers; glibc malloc fragmented under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use axum::{Router, routing::get};
use dropforge_common::{config::Config, shutdown, shutdown::Shutdown, telemetry};
use tokio::net::TcpListener;

fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    // One thread: a single-threaded runtime, on which no job, lane or connection task ever waits
    // for another thread's wake-up. More: a work-stealing runtime of that many threads.
    let runtime = if config.worker.threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker.threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(serve(config))
}

/// The worker, its metrics listener and its shutdown signal, on the runtime `main` built.
async fn serve(config: Config) -> anyhow::Result<()> {
    telemetry::init_tracing(config.log_json);
    let handle = telemetry::install_metrics()?;
    let stop = Shutdown::new();
    telemetry::spawn_metrics_upkeep(handle.clone(), stop.clone());
    let metrics_listener = TcpListener::bind(config.worker.metrics_listen).await?;
    let metrics_stop = stop.clone();
    tokio::spawn(async move {
        let app = Router::new()
            .route(
                "/metrics",
                get(move || std::future::ready(handle.render() + &telemetry::process_metrics())),
            )
            .route("/health", get(|| async { "ok" }));
        let served =
            axum::serve(metrics_listener, app).with_graceful_shutdown(async move { metrics_stop.wait().await });
        if let Err(e) = served.await {
            tracing::error!(error = %e, "metrics listener failed");
        }
    });
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            shutdown::signal().await;
            tracing::info!("shutdown signal received; draining in-flight jobs");
            stop.trigger();
        });
    }
    dropforge_worker::runtime::run(config, stop).await?;
    tracing::info!("dropforge-worker stopped");
    Ok(())
}
