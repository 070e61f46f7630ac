//! The `tenants` table: who owns jobs and keys, and each tenant's webhook signing secret.

use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    apikey::{self, NewKey},
    domain::TenantId,
};

/// The outcome of `keys create`.
#[derive(Debug)]
pub struct CreatedKey {
    /// The tenant the key belongs to.
    pub tenant_id: TenantId,
    /// True when the tenant was created by this call.
    pub tenant_created: bool,
    /// The key (plaintext shown once).
    pub key: NewKey,
    /// The tenant's webhook signing secret, only when the tenant was just created.
    pub webhook_secret: Option<String>,
}

/// Creates the tenant when missing, then a new API key for it; both in one transaction.
pub async fn create_key(pool: &PgPool, tenant_name: &str) -> Result<CreatedKey, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let secret = apikey::generate_webhook_secret();
    let inserted: Option<Uuid> = sqlx::query_scalar!(
        "insert into tenants (id, name, webhook_secret) values ($1, $2, $3) on conflict (name) do nothing returning id",
        Uuid::from(ulid::Ulid::generate()),
        tenant_name,
        &secret,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let (tenant_id, created) = match inserted {
        Some(id) => (id, true),
        None => (
            sqlx::query_scalar!("select id from tenants where name = $1", tenant_name)
                .fetch_one(&mut *tx)
                .await?,
            false,
        ),
    };
    let key = apikey::generate();
    sqlx::query!(
        "insert into api_keys (id, tenant_id, secret_hash) values ($1, $2, $3)",
        &key.id,
        tenant_id,
        &key.secret_hash,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(CreatedKey {
        tenant_id: TenantId(tenant_id),
        tenant_created: created,
        key,
        webhook_secret: created.then_some(secret),
    })
}

/// The id of the tenant named `name`, created (with a fresh webhook secret and no API key) when
/// missing: the owner of the jobs the platform submits to itself, such as canaries.
pub async fn ensure_system_tenant(pool: &PgPool, name: &str) -> Result<TenantId, sqlx::Error> {
    sqlx::query!(
        "insert into tenants (id, name, webhook_secret) values ($1, $2, $3) on conflict (name) do nothing",
        Uuid::from(ulid::Ulid::generate()),
        name,
        apikey::generate_webhook_secret(),
    )
    .execute(pool)
    .await?;
    let id: Uuid = sqlx::query_scalar!("select id from tenants where name = $1", name)
        .fetch_one(pool)
        .await?;
    Ok(TenantId(id))
}
