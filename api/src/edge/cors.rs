//! CORS from the configured allow-list (docs/design/webhooks-and-edge.md §2.8): exact origins echoed, credentials per
//! configuration, explicit methods and headers, `Vary: Origin` (tower-http's default `Vary` also
//! names the two `Access-Control-Request-*` headers, which preflight answers depend on).
//! A wildcard origin together with credentials is refused with an error, not tower-http's panic.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method};
use dropforge_common::config::EdgeConfig;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long browsers may cache a preflight answer.
pub const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

const ALLOWED_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "idempotency-key",
    "prefer",
    "if-none-match",
];
const EXPOSED_HEADERS: [&str; 8] = [
    "location",
    "retry-after",
    "ratelimit",
    "ratelimit-policy",
    "etag",
    "cache-status",
    "preference-applied",
    "idempotency-key",
];

/// The CORS layer of the configuration, or why it is unusable.
pub fn cors_layer(cfg: &EdgeConfig) -> Result<CorsLayer, String> {
    let wildcard = cfg.cors_origins.iter().any(|o| o.trim() == "*");
    if wildcard && cfg.cors_credentials {
        return Err("DF_CORS_ORIGINS may not contain * while DF_CORS_CREDENTIALS is on".into());
    }
    let origin = if wildcard {
        AllowOrigin::any()
    } else {
        let origins = cfg
            .cors_origins
            .iter()
            .map(|o| HeaderValue::from_str(o.trim().trim_end_matches('/')).map_err(|e| format!("origin {o:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(origins)
    };
    Ok(CorsLayer::new()
        .allow_origin(origin)
        .allow_credentials(cfg.cors_credentials)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
        .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
        .max_age(PREFLIGHT_MAX_AGE))
}

/// A layer that allows no cross-origin access (used when the configuration is unusable).
pub fn deny_all() -> CorsLayer {
    CorsLayer::new().allow_origin(AllowOrigin::list(Vec::<HeaderValue>::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dropforge_common::config::Config;

    #[test]
    fn wildcard_with_credentials_is_refused_without_panicking() {
        let mut cfg = Config::local_default().edge;
        cfg.cors_origins = vec!["*".into()];
        cfg.cors_credentials = true;
        assert!(cors_layer(&cfg).is_err());
        cfg.cors_credentials = false;
        assert!(cors_layer(&cfg).is_ok());
        cfg.cors_origins = vec!["https://ok.example".into(), "bad\norigin".into()];
        assert!(cors_layer(&cfg).is_err());
    }
}
