//! Bearer API-key authentication: the `Tenant` extractor, backed by the key cache.

use axum::{extract::FromRequestParts, http::request::Parts};
use dropforge_common::domain::TenantId;

use crate::{error::ApiError, state::AppState};

/// The authenticated caller.
#[derive(Debug, Clone, Copy)]
pub struct Tenant(pub TenantId);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or(ApiError::Unauthorized(
                "Send your API key as `Authorization: Bearer <key>`.",
            ))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized(
                "Send your API key as `Authorization: Bearer <key>`.",
            ))?;
        let tenant = state
            .keys
            .authenticate(&state.pool, state.config.api.key_cache_ttl, token)
            .await?;
        Ok(Tenant(tenant))
    }
}
