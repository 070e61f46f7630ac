//! The Redis result cache: typed keys per kind, and a TTL on every write.
//!
//! Product data is not tenant data, so validation results are shared across tenants (decided
//! explicitly: the cache key holds only the product, its options and the scoring model).

use std::time::Duration;

use redis::{AsyncCommands, aio::ConnectionManager};

use crate::product::ProductRef;

/// Options that change a validation result, hence part of its cache key.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationOptions {
    /// Ship-to country (ISO 3166-1 alpha-2, upper case).
    pub country: String,
    /// Intended retail price, if any.
    pub target_price: Option<f64>,
}

/// The cache key of a validation result.
pub fn validation_key(prefix: &str, model: &str, product: &ProductRef, options: &ValidationOptions) -> String {
    use std::fmt::Write;
    // Sized once: every cached request builds its key, and `format!` grew the string four times.
    let mut key = String::with_capacity(prefix.len() + model.len() + product.id.len() + options.country.len() + 56);
    // Writing to a `String` cannot fail.
    let _ = write!(
        key,
        "{prefix}:cache:validation:{model}:{}:{}:{}:",
        product.source, product.id, options.country
    );
    match options.target_price {
        Some(price) => {
            let _ = write!(key, "{price:.2}");
        }
        None => key.push('-'),
    }
    key
}

/// Normalises a search query: trimmed, lower-case, inner whitespace collapsed to single spaces.
pub fn normalise_query(q: &str) -> String {
    q.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The cache key of a product search (`query` already [`normalise_query`]d).
pub fn search_key(prefix: &str, query: &str, country: &str, page: u32) -> String {
    format!("{prefix}:cache:search:{country}:{page}:{query}")
}

/// The cache key of a product's supplier list.
pub fn suppliers_key(prefix: &str, product: &ProductRef, country: &str) -> String {
    format!("{prefix}:cache:suppliers:{}:{}:{country}", product.source, product.id)
}

/// Handle to the cache Redis.
#[derive(Clone)]
pub struct Cache {
    conn: ConnectionManager,
}

impl Cache {
    /// Wraps a connection to the cache Redis.
    pub fn new(conn: ConnectionManager) -> Self {
        Self { conn }
    }

    /// Reads an entry.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, redis::RedisError> {
        self.conn.clone().get(key).await
    }

    /// Reads several entries in one round trip (`MGET`), in the order of `keys`.
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, redis::RedisError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.conn.clone().mget(keys).await
    }

    /// Writes an entry with its TTL (never without one).
    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), redis::RedisError> {
        self.conn.clone().set_ex(key, value, ttl.as_secs().max(1)).await
    }

    /// Writes several entries with their TTLs in one round trip (a pipeline of `SET .. EX`).
    pub async fn set_many(&self, entries: &[(String, Vec<u8>, Duration)]) -> Result<(), redis::RedisError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (key, value, ttl) in entries {
            pipe.set_ex(key, value.as_slice(), ttl.as_secs().max(1)).ignore();
        }
        pipe.query_async(&mut self.conn.clone()).await
    }

    /// Seconds an entry has left, if it exists.
    pub async fn ttl(&self, key: &str) -> Result<Option<u64>, redis::RedisError> {
        let ttl: i64 = self.conn.clone().ttl(key).await?;
        Ok(u64::try_from(ttl).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_queries_are_normalised_into_keys() {
        assert_eq!(normalise_query("  LED   Strip\tLights "), "led strip lights");
        assert_eq!(
            search_key("df", &normalise_query("LED  strip"), "US", 1),
            "df:cache:search:US:1:led strip"
        );
        let p = ProductRef {
            source: "aliexpress".into(),
            id: "1005000000000001".into(),
        };
        assert_eq!(
            suppliers_key("df", &p, "US"),
            "df:cache:suppliers:aliexpress:1005000000000001:US"
        );
    }

    #[test]
    fn keys_separate_options_and_models() {
        let p = ProductRef {
            source: "aliexpress".into(),
            id: "1005000000000001".into(),
        };
        let a = ValidationOptions {
            country: "US".into(),
            target_price: None,
        };
        let b = ValidationOptions {
            country: "US".into(),
            target_price: Some(29.99),
        };
        assert_eq!(
            validation_key("df", "score-v1", &p, &a),
            "df:cache:validation:score-v1:aliexpress:1005000000000001:US:-"
        );
        assert_eq!(
            validation_key("df", "score-v1", &p, &b),
            "df:cache:validation:score-v1:aliexpress:1005000000000001:US:29.99"
        );
        assert_ne!(
            validation_key("df", "score-v1", &p, &a),
            validation_key("df", "score-v2", &p, &a)
        );
    }
}
