//! `dropforge-sandbox`: an offline, wire-compatible stand-in for the AliExpress Open Platform, the Meta Ad
//! Library and the YouTube Data API v3 (docs/design/upstreams.md §7), with seeded data, quotas, faults and latency.
//!
//! In-process use (integration tests of other crates):
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let (addr, _handle) = dropforge_sandbox::spawn(dropforge_sandbox::SandboxConfig::for_tests()).await?;
//! let base = format!("http://{addr}"); // AliExpress, Meta and YouTube base URL alike
//! # let _ = base; Ok(()) }
//! ```
//!
//! Cost per call: generated data (products, ad sets, videos) is kept in bounded caches (`data::store`),
//! answers are written straight to bytes (`jsonw`) and, from their second request on, kept as templates
//! whose per-request values are filled in (`bodies`, `template`). Quotas, faults, `x-app-usage` and
//! latency stay per request. `SandboxConfig::cache_bytes` (`DF_SANDBOX_CACHE_MB`) bounds the caches;
//! `bench/sandbox_cost.sh` measures the CPU per call.

pub mod admin;
pub mod aliexpress;
pub mod bodies;
pub mod cache;
pub mod config;
#[cfg(test)]
mod costs;
pub mod data;
pub mod dates;
pub mod env;
pub mod faults;
pub mod form;
pub mod hashing;
pub mod jsonw;
pub mod meta;
pub mod quota;
pub mod reply;
pub mod state;
pub mod stats;
pub mod template;
pub mod youtube;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinHandle;

pub use config::{
    AeApp, Credentials, FaultRates, LatencyProfile, Limits, Pin, RuntimeConfig, SandboxConfig, SearchModel,
    UpstreamBehaviour,
};
pub use data::Archetype;

/// The sandbox router: all three upstreams plus the admin routes, on one port.
pub fn router(cfg: Arc<SandboxConfig>) -> Router {
    let state = Arc::new(state::AppState::new(cfg));
    Router::new()
        .merge(aliexpress::routes())
        .merge(meta::routes())
        .merge(youtube::routes())
        .merge(admin::routes())
        .with_state(state)
}

/// Binds `addr` with `SO_REUSEADDR` and a listen backlog of 4096.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Starts the sandbox on `127.0.0.1:0`. When `public_base_url` is unset it becomes `http://{bound addr}`.
pub async fn spawn(mut cfg: SandboxConfig) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let addr = listener.local_addr()?;
    if cfg.public_base_url.is_none() {
        cfg.public_base_url = Some(format!("http://{addr}"));
    }
    let app = router(Arc::new(cfg));
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "sandbox server stopped");
        }
    });
    Ok((addr, handle))
}
