//! The `api_keys` table: lookup by public key id, listing and revocation.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::TenantId;

/// What authentication needs to know about a key.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    /// Owner.
    pub tenant_id: TenantId,
    /// SHA-256 of the secret part.
    pub secret_hash: Vec<u8>,
    /// Set once revoked.
    pub revoked: bool,
}

/// Finds a key by its public id.
pub async fn find(pool: &PgPool, key_id: &str) -> Result<Option<KeyRecord>, sqlx::Error> {
    let row = sqlx::query!(
        r#"select tenant_id, secret_hash, revoked_at is not null as "revoked!" from api_keys where id = $1"#,
        key_id,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| KeyRecord {
        tenant_id: TenantId(r.tenant_id),
        secret_hash: r.secret_hash,
        revoked: r.revoked,
    }))
}

/// One row of `keys list`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyListing {
    /// Public key id.
    pub id: String,
    /// Tenant name.
    pub tenant: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last authenticated use (coarse).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Lists keys, optionally of one tenant.
pub async fn list(pool: &PgPool, tenant: Option<&str>) -> Result<Vec<KeyListing>, sqlx::Error> {
    sqlx::query_as!(
        KeyListing,
        "select k.id, t.name as tenant, k.created_at, k.revoked_at, k.last_used_at
         from api_keys k join tenants t on t.id = k.tenant_id
         where $1::text is null or t.name = $1 order by k.created_at",
        tenant,
    )
    .fetch_all(pool)
    .await
}

/// Revokes a key; false when no such active key exists.
pub async fn revoke(pool: &PgPool, key_id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "update api_keys set revoked_at = now() where id = $1 and revoked_at is null",
        key_id
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that keys were used (called in batches, never per request).
pub async fn touch(pool: &PgPool, key_ids: &[String]) -> Result<(), sqlx::Error> {
    if key_ids.is_empty() {
        return Ok(());
    }
    sqlx::query!("update api_keys set last_used_at = now() where id = any($1)", key_ids)
        .execute(pool)
        .await?;
    Ok(())
}
