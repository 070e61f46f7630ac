//! `dropforge-sandbox` binary: reads `DF_SANDBOX_*`, binds with a 4096 backlog, serves until SIGINT/SIGTERM.

/// mimalloc: the services allocate many short-lived JSON buffers; glibc malloc fragmented under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use dropforge_sandbox::env::BinaryConfig;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
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
