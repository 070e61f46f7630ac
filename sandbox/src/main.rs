//! `dropforge-sandbox` binary: reads `DF_SANDBOX_*`, binds with a 4096 backlog, serves until SIGINT/SIGTERM.

/// mimalloc: the services allocate many short-lived JSON buffers; glibc malloc fragmented under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use dropforge_sandbox::env::BinaryConfig;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let cfg = match BinaryConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "invalid sandbox configuration");
            return std::process::ExitCode::from(2);
        }
    };
    // One thread by default: a request's answer, its simulated latency and the next request then
    // never wait for a wake-up of another thread (about four context switches per validation on a
    // runtime of two threads, for work a fraction of one core carries).
    let runtime = if cfg.threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cfg.threads)
            .enable_all()
            .build()
    };
    match runtime {
        Ok(runtime) => runtime.block_on(serve(cfg)),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            std::process::ExitCode::from(1)
        }
    }
}

/// Binds and serves until SIGINT/SIGTERM, on the runtime `main` built.
async fn serve(cfg: BinaryConfig) -> std::process::ExitCode {
    let listener = match dropforge_sandbox::bind(cfg.listen) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, listen = %cfg.listen, "cannot bind");
            return std::process::ExitCode::from(1);
        }
    };
    tracing::info!(
        listen = %cfg.listen,
        seed = cfg.sandbox.seed,
        latency_scale = cfg.sandbox.runtime.latency_scale,
        threads = cfg.threads,
        public_base_url = cfg.sandbox.public_base_url.as_deref().unwrap_or_default(),
        "dropforge-sandbox listening"
    );
    let app = dropforge_sandbox::router(Arc::new(cfg.sandbox));
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
    {
        tracing::error!(error = %e, "server error");
        return std::process::ExitCode::from(1);
    }
    tracing::info!("dropforge-sandbox stopped");
    std::process::ExitCode::SUCCESS
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}
