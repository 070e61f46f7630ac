//! Result documents per kind: what a succeeded job's `result` holds, what the cache serves and
//! what `job.succeeded` events carry. The worker builds them; the API passes them through.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::scoring::{Report, Signals, SubScore, Verdict};

/// A score-v1 validation result. Further members may be added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ValidationResult {
    /// Scoring model.
    #[schema(example = "score-v1")]
    pub model: String,
    /// Weighted score 0–100.
    #[schema(minimum = 0, maximum = 100)]
    pub score: f64,
    /// Data confidence 0–1.
    #[schema(minimum = 0, maximum = 1)]
    pub confidence: f64,
    /// The verdict.
    pub verdict: Verdict,
    /// Available sub-scores.
    pub sub_scores: Vec<SubScore>,
    /// Knock-out reasons; any one forces `reject`.
    pub knockouts: Vec<String>,
    /// Red-flag reasons; any one caps the verdict at `test`.
    pub flags: Vec<String>,
    /// Margin after fees as a fraction of the price; null without AliExpress data.
    #[schema(required = true)]
    pub margin: Option<f64>,
    /// Product data gathered from the marketplace.
    #[schema(value_type = Object)]
    pub product: Value,
    /// The options the result was computed for.
    pub options: ValidationOptions,
    /// When the result was computed.
    pub validated_at: DateTime<Utc>,
    /// True when some upstream did not answer (the result is cached for a shorter time).
    pub partial: bool,
    /// Outcome per upstream.
    #[schema(value_type = Object)]
    pub upstreams: Value,
    /// The signals the score was computed from.
    #[schema(value_type = Object)]
    pub signals: Signals,
}

impl ValidationResult {
    /// The result of `report`, with the context it was computed in.
    pub fn new(report: Report, context: ValidationContext) -> Self {
        let Report {
            model,
            score,
            confidence,
            verdict,
            sub_scores,
            knockouts,
            flags,
            margin,
        } = report;
        Self {
            model,
            score,
            confidence,
            verdict,
            sub_scores,
            knockouts,
            flags,
            margin,
            product: context.product,
            options: context.options,
            validated_at: context.validated_at,
            partial: context.partial,
            upstreams: context.upstreams,
            signals: context.signals,
        }
    }
}

/// What a validation result carries besides the score-v1 report.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationContext {
    /// Product data gathered from the marketplace.
    pub product: Value,
    /// The options the result was computed for.
    pub options: ValidationOptions,
    /// When the result was computed.
    pub validated_at: DateTime<Utc>,
    /// True when some upstream did not answer.
    pub partial: bool,
    /// Outcome per upstream.
    pub upstreams: Value,
    /// The signals the score was computed from.
    pub signals: Signals,
}

/// The options a validation result was computed for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ValidationOptions {
    /// Ship-to country.
    #[schema(example = "US")]
    pub country: String,
    /// Target price, when given.
    #[schema(required = true)]
    pub target_price: Option<f64>,
}

/// A product search result (the `result` of a `search` job). Further members may be added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchResult {
    /// The normalised query.
    #[schema(example = "led strip lights")]
    pub query: String,
    /// Ship-to country.
    #[schema(example = "US")]
    pub country: String,
    /// Result page.
    pub page: u32,
    /// Products per page.
    pub page_size: u32,
    /// Listings matching the query on the marketplace.
    pub total: u64,
    /// The page's products, best sellers first.
    pub products: Vec<SearchProduct>,
    /// When the search ran.
    pub searched_at: DateTime<Utc>,
    /// Optional upstream calls that failed (the result is still complete).
    pub warnings: Vec<String>,
}

/// One product found by a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchProduct {
    /// Product id.
    #[schema(example = "1005006123456789")]
    pub id: String,
    /// Title.
    pub title: String,
    /// Sale price.
    #[schema(required = true)]
    pub price: Option<f64>,
    /// Currency of `price`.
    #[schema(example = "USD")]
    pub currency: String,
    /// Units sold in the last 30 days.
    #[schema(required = true)]
    pub orders_30d: Option<u64>,
    /// Positive feedback in percent.
    #[schema(required = true)]
    pub evaluate_rate: Option<f64>,
    /// The selling shop.
    #[schema(required = true)]
    pub shop_id: Option<String>,
    /// Product page.
    pub url: String,
    /// Main image.
    #[schema(required = true)]
    pub image: Option<String>,
}

/// The suppliers of a product (the `result` of a `suppliers` job). Further members may be added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SuppliersResult {
    /// The product.
    pub product: SuppliersProduct,
    /// The keyword similar items were searched with (empty when the title has none).
    #[schema(example = "magnetic phone holder")]
    pub keyword: String,
    /// Ship-to country.
    #[schema(example = "US")]
    pub country: String,
    /// The product's own store first (`own: true`), then other shops by 30-day orders.
    pub suppliers: Vec<Supplier>,
    /// When the suppliers were gathered.
    pub found_at: DateTime<Utc>,
}

/// The product whose suppliers are listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SuppliersProduct {
    /// Marketplace.
    #[schema(example = "aliexpress")]
    pub source: String,
    /// Product id.
    #[schema(example = "1005006123456789")]
    pub id: String,
    /// Title.
    pub title: String,
}

/// One shop selling the product or similar items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Supplier {
    /// Store id.
    pub store_id: String,
    /// Store name, when known.
    #[schema(required = true)]
    pub store_name: Option<String>,
    /// Store page.
    pub store_url: String,
    /// Store country, when known.
    #[schema(required = true)]
    pub country: Option<String>,
    /// Detailed seller ratings, when known.
    #[schema(required = true)]
    pub ratings: Option<SupplierRatings>,
    /// Mean positive feedback of its listed products, in percent.
    #[schema(required = true)]
    pub evaluate_rate: Option<f64>,
    /// Lowest price among its listed products.
    #[schema(required = true)]
    pub min_price: Option<f64>,
    /// Currency of `min_price`.
    #[schema(example = "USD")]
    pub currency: String,
    /// Units its listed products sold in the last 30 days.
    pub orders_30d: u64,
    /// Its listed products.
    pub products: u64,
    /// Present and true for the product's own store only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub own: bool,
}

/// Detailed seller ratings (0–5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SupplierRatings {
    /// Item as described.
    pub item_as_described: f64,
    /// Communication.
    pub communication: f64,
    /// Shipping speed.
    pub shipping_speed: f64,
}

/// The result of any result-bearing job (its shape follows the job's `kind`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum JobResult {
    /// A `validation` result (boxed: it is much larger than the others).
    Validation(Box<ValidationResult>),
    /// A `search` result.
    Search(SearchResult),
    /// A `suppliers` result.
    Suppliers(SuppliersResult),
}

impl From<ValidationResult> for JobResult {
    fn from(result: ValidationResult) -> Self {
        Self::Validation(Box::new(result))
    }
}

impl From<SearchResult> for JobResult {
    fn from(result: SearchResult) -> Self {
        Self::Search(result)
    }
}

impl From<SuppliersResult> for JobResult {
    fn from(result: SuppliersResult) -> Self {
        Self::Suppliers(result)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scoring::{ScoringConfig, evaluate};

    fn validation() -> (ValidationResult, Value) {
        let signals = Signals {
            target_price: Some(19.99),
            ..Signals::default()
        };
        let report = evaluate(&signals, &ScoringConfig::default());
        let validated_at = Utc::now();
        let product = json!({"id": "1005000000000001", "title": "Lamp", "store": {"id": null}});
        let upstreams = json!({"aliexpress": {"status": "failed", "reason": "x"}});
        // The document as the worker built it before the typed contract.
        let mut old = serde_json::to_value(&report).expect("report");
        let obj = old.as_object_mut().expect("object");
        obj.insert("product".into(), product.clone());
        obj.insert("options".into(), json!({"country": "US", "target_price": 19.99}));
        obj.insert("validated_at".into(), json!(validated_at));
        obj.insert("partial".into(), json!(true));
        obj.insert("upstreams".into(), upstreams.clone());
        obj.insert("signals".into(), json!(signals));
        let context = ValidationContext {
            product,
            options: ValidationOptions {
                country: "US".into(),
                target_price: Some(19.99),
            },
            validated_at,
            partial: true,
            upstreams,
            signals,
        };
        (ValidationResult::new(report, context), old)
    }

    #[test]
    fn validation_results_keep_the_document_shape() {
        let (result, old) = validation();
        assert_eq!(serde_json::to_value(&result).ok(), Some(old.clone()));
        let back: JobResult = serde_json::from_value(old).expect("decodes");
        assert_eq!(back, JobResult::from(result));
    }

    #[test]
    fn results_decode_into_their_own_kind() {
        let search = json!({"query": "lamp", "country": "US", "page": 1, "page_size": 20, "total": 3,
            "products": [], "searched_at": "2026-01-02T03:04:05Z", "warnings": []});
        assert!(matches!(
            serde_json::from_value(search.clone()),
            Ok(JobResult::Search(_))
        ));
        let suppliers = json!({"product": {"source": "aliexpress", "id": "1", "title": "Lamp"}, "keyword": "lamp",
            "country": "US", "suppliers": [], "found_at": "2026-01-02T03:04:05Z"});
        assert!(matches!(serde_json::from_value(suppliers), Ok(JobResult::Suppliers(_))));
        let back: JobResult = serde_json::from_value(search.clone()).expect("decodes");
        assert_eq!(serde_json::to_value(back).ok(), Some(search));
    }

    #[test]
    fn only_the_own_store_says_own() {
        let mut supplier = Supplier {
            store_id: "1".into(),
            store_name: None,
            store_url: "https://www.aliexpress.com/store/1".into(),
            country: None,
            ratings: None,
            evaluate_rate: None,
            min_price: None,
            currency: "USD".into(),
            orders_30d: 0,
            products: 1,
            own: false,
        };
        let other = serde_json::to_value(&supplier).expect("serialises");
        assert!(other.get("own").is_none());
        assert_eq!(other["store_name"], Value::Null);
        supplier.own = true;
        assert_eq!(serde_json::to_value(&supplier).expect("serialises")["own"], json!(true));
    }
}
