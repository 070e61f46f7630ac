//! The checks of a `webhook_url` that need the network or the database: its name must resolve to
//! allowed addresses now (and is pinned again at every delivery), and the tenant's receiver must
//! not have disabled it with `410 Gone` (the event it asks for would never be sent).

use dropforge_common::{
    db,
    domain::TenantId,
    product::FieldError,
    webhook::ssrf::{self, UrlPolicy},
};

use crate::{error::ApiError, state::AppState};

/// Refuses a `webhook_url` that resolves to a forbidden address (422, `/webhook_url`) or that the
/// tenant's receiver disabled (`webhook_url_disabled`; an operator re-enables it with
/// `dropforge-api webhooks enable`).
pub async fn check(state: &AppState, tenant: TenantId, url: &url::Url, policy: &UrlPolicy) -> Result<(), ApiError> {
    ssrf::resolve_checked(url, policy)
        .await
        .map_err(|e| ApiError::Validation(vec![FieldError::new("/webhook_url", e.to_string())]))?;
    if db::webhooks::url_disabled(&state.pool, tenant.0, url.as_str()).await? {
        return Err(ApiError::WebhookUrlDisabled);
    }
    Ok(())
}
