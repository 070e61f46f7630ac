//! Job inputs per kind, as the API stores them in `jobs.input` and clients see them.
//!
//! The stored document is exactly the client-visible one: the cache key of a result-bearing kind
//! is derived from the input ([`ValidationInput::cache_key`] and friends), never stored beside it.
//! Rows written before that still carry a `cache_key` member: it decodes into a skipped field
//! (preferred, so a job in flight across an upgrade keeps its key) and is never shown.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::{cache, domain::JobKind, product::ProductRef, scoring::MODEL};

/// Normalised input of a validation job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ValidationInput {
    /// The product.
    pub product: ProductRef,
    /// Ship-to country (ISO 3166-1 alpha-2, upper case).
    #[schema(example = "US")]
    pub country: String,
    /// Intended retail price (rounded to cents), when given.
    #[schema(required = true, example = 24.99)]
    pub target_price: Option<f64>,
    /// Rows written before the typed contracts stored their cache key; never serialised.
    #[serde(default, skip_serializing)]
    pub cache_key: Option<String>,
}

impl ValidationInput {
    /// The input of a validation of `product` with these options.
    pub fn new(product: ProductRef, country: String, target_price: Option<f64>) -> Self {
        Self {
            product,
            country,
            target_price,
            cache_key: None,
        }
    }

    /// The cache key of its result (score-v1, under `prefix`).
    pub fn cache_key(&self, prefix: &str) -> String {
        self.cache_key.clone().unwrap_or_else(|| {
            let options = cache::ValidationOptions {
                country: self.country.clone(),
                target_price: self.target_price,
            };
            cache::validation_key(prefix, MODEL, &self.product, &options)
        })
    }
}

/// Normalised input of a product search job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SearchInput {
    /// The normalised query: trimmed, lower case, single spaces.
    #[schema(example = "led strip lights")]
    pub query: String,
    /// Ship-to country.
    #[schema(example = "US")]
    pub country: String,
    /// Result page (1-based).
    #[schema(minimum = 1, maximum = 10)]
    pub page: u32,
    /// Rows written before the typed contracts stored their cache key; never serialised.
    #[serde(default, skip_serializing)]
    pub cache_key: Option<String>,
}

impl SearchInput {
    /// The input of a search for the (already normalised) `query`.
    pub fn new(query: String, country: String, page: u32) -> Self {
        Self {
            query,
            country,
            page,
            cache_key: None,
        }
    }

    /// The cache key of its result (under `prefix`).
    pub fn cache_key(&self, prefix: &str) -> String {
        self.cache_key
            .clone()
            .unwrap_or_else(|| cache::search_key(prefix, &self.query, &self.country, self.page))
    }
}

/// Normalised input of a suppliers job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SuppliersInput {
    /// The product whose suppliers are listed.
    pub product: ProductRef,
    /// Ship-to country.
    #[schema(example = "US")]
    pub country: String,
    /// Rows written before the typed contracts stored their cache key; never serialised.
    #[serde(default, skip_serializing)]
    pub cache_key: Option<String>,
}

impl SuppliersInput {
    /// The input of a supplier list of `product`.
    pub fn new(product: ProductRef, country: String) -> Self {
        Self {
            product,
            country,
            cache_key: None,
        }
    }

    /// The cache key of its result (under `prefix`).
    pub fn cache_key(&self, prefix: &str) -> String {
        self.cache_key
            .clone()
            .unwrap_or_else(|| cache::suppliers_key(prefix, &self.product, &self.country))
    }
}

/// Normalised input of a batch job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BatchInput {
    /// The submitted products, in order.
    pub products: Vec<ProductRef>,
    /// The options shared by every item.
    pub options: BatchOptions,
}

/// The options of a batch, shared by all its items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BatchOptions {
    /// Ship-to country.
    #[schema(example = "US")]
    pub country: String,
    /// Intended retail price, when given.
    #[schema(required = true)]
    pub target_price: Option<f64>,
    /// Receives `batch.completed`, when given.
    #[schema(required = true, format = "uri")]
    pub webhook_url: Option<String>,
}

/// Input of a webhook job (written by the outbox in the completing transaction).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookInput {
    /// The delivery to attempt (its `webhook-id`).
    #[schema(example = "msg_01JC3B2Z6C1D7E6F9A8B123456")]
    pub delivery_id: String,
}

/// Input of a canary job: empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CanaryInput {}

/// The input of any job, as clients see it (its shape follows the job's `kind`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum JobInput {
    /// A `validation` job.
    Validation(ValidationInput),
    /// A `batch` job.
    Batch(BatchInput),
    /// A `search` job.
    Search(SearchInput),
    /// A `suppliers` job.
    Suppliers(SuppliersInput),
    /// A `webhook` job.
    Webhook(WebhookInput),
    /// A `canary` job.
    Canary(CanaryInput),
}

impl JobInput {
    /// Decodes a stored input by the job's kind (the shapes alone are ambiguous).
    pub fn decode(kind: JobKind, stored: &Value) -> Result<Self, serde_json::Error> {
        fn read<T: serde::de::DeserializeOwned>(stored: &Value) -> Result<T, serde_json::Error> {
            T::deserialize(stored)
        }
        Ok(match kind {
            JobKind::Validation => Self::Validation(read(stored)?),
            JobKind::Batch => Self::Batch(read(stored)?),
            JobKind::Search => Self::Search(read(stored)?),
            JobKind::Suppliers => Self::Suppliers(read(stored)?),
            JobKind::Webhook => Self::Webhook(read(stored)?),
            JobKind::Canary => Self::Canary(read(stored)?),
        })
    }

    /// The document to store in `jobs.input` (the same one clients see).
    pub fn to_stored(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(self)
    }
}

macro_rules! into_job_input {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        $(impl From<$ty> for JobInput {
            fn from(input: $ty) -> Self {
                Self::$variant(input)
            }
        })*
    };
}

into_job_input!(
    Validation(ValidationInput),
    Batch(BatchInput),
    Search(SearchInput),
    Suppliers(SuppliersInput),
    Webhook(WebhookInput),
    Canary(CanaryInput),
);

/// The client view of a stored input: decoded by kind and encoded again, which leaves out what
/// older rows stored for internal use; a row that does not decode is shown as stored.
pub fn client_view(kind: JobKind, stored: &Value) -> Value {
    JobInput::decode(kind, stored)
        .and_then(|input| input.to_stored())
        .unwrap_or_else(|_| stored.clone())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn product() -> ProductRef {
        ProductRef {
            source: "aliexpress".into(),
            id: "1005000000000001".into(),
        }
    }

    #[test]
    fn stored_inputs_are_the_client_documents() {
        let v = ValidationInput::new(product(), "US".into(), None);
        assert_eq!(
            JobInput::from(v.clone()).to_stored().ok(),
            Some(
                json!({"product": {"source": "aliexpress", "id": "1005000000000001"}, "country": "US", "target_price": null})
            )
        );
        assert_eq!(
            v.cache_key("df"),
            "df:cache:validation:score-v1:aliexpress:1005000000000001:US:-"
        );
        let s = SearchInput::new("led strip".into(), "DE".into(), 2);
        assert_eq!(
            JobInput::from(s.clone()).to_stored().ok(),
            Some(json!({"query": "led strip", "country": "DE", "page": 2}))
        );
        assert_eq!(s.cache_key("df"), "df:cache:search:DE:2:led strip");
        let p = SuppliersInput::new(product(), "US".into());
        assert_eq!(p.cache_key("df"), "df:cache:suppliers:aliexpress:1005000000000001:US");
        assert_eq!(JobInput::from(CanaryInput::default()).to_stored().ok(), Some(json!({})));
    }

    #[test]
    fn old_rows_decode_keep_their_key_and_hide_it() {
        let old = json!({"product": {"source": "aliexpress", "id": "1005000000000001"}, "country": "US",
            "target_price": 9.5, "cache_key": "df:old-key"});
        let input: ValidationInput = serde_json::from_value(old.clone()).expect("decodes");
        assert_eq!(input.cache_key("df"), "df:old-key");
        assert_eq!(
            client_view(JobKind::Validation, &old),
            json!({"product": {"source": "aliexpress", "id": "1005000000000001"}, "country": "US", "target_price": 9.5})
        );
        let old_search = json!({"query": "x y", "country": "US", "page": 1, "cache_key": "k"});
        assert_eq!(
            client_view(JobKind::Search, &old_search),
            json!({"query": "x y", "country": "US", "page": 1})
        );
    }

    #[test]
    fn kinds_pick_the_shape() {
        let suppliers = json!({"product": {"source": "aliexpress", "id": "1005000000000001"}, "country": "US"});
        assert_eq!(
            client_view(JobKind::Suppliers, &suppliers),
            suppliers,
            "no target_price added"
        );
        let batch = json!({"products": [{"source": "aliexpress", "id": "1005000000000001"}],
            "options": {"country": "US", "target_price": null, "webhook_url": null}});
        assert_eq!(client_view(JobKind::Batch, &batch), batch);
        let hook = json!({"delivery_id": "msg_1"});
        assert_eq!(client_view(JobKind::Webhook, &hook), hook);
        let odd = json!({"unexpected": true});
        assert_eq!(client_view(JobKind::Validation, &odd), odd, "shown as stored");
    }
}
