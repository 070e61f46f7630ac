//! The body of `POST /v1/validations/batch`: up to 50 products sharing one set of options.

use dropforge_common::{
    cache::ValidationOptions,
    product::{FieldError, ProductRef, parse_product},
    webhook::ssrf::UrlPolicy,
};
use serde_json::Value;
use utoipa::ToSchema;

use super::{
    product::ProductInput,
    validation::{parse_options, parse_webhook_url},
};
use crate::error::ApiError;

/// Most products in one batch.
pub const MAX_ITEMS: usize = 50;

/// The members a batch body may have.
const MEMBERS: &[&str] = &["products", "country", "target_price", "webhook_url"];

/// Body of `POST /v1/validations/batch`. Unknown members are refused with 422.
#[derive(Debug, Clone, ToSchema)]
pub struct BatchRequest {
    /// 1 to 50 products, each `{source, id}` or `{url}`.
    #[schema(value_type = Vec<ProductInput>, min_items = 1, max_items = 50)]
    pub products: Vec<ProductRef>,
    /// Ship-to country for every item (ISO 3166-1 alpha-2); the deployment default when absent.
    #[schema(value_type = Option<super::CountryCode>, example = "US")]
    pub country: String,
    /// Intended retail price for every item, 0.01 to 100000.
    #[schema(minimum = 0.01, maximum = 100000)]
    pub target_price: Option<f64>,
    /// Receives `batch.completed` (`https`, SSRF-checked, including DNS).
    #[schema(value_type = Option<String>, format = "uri", pattern = "^[Hh][Tt][Tt][Pp][Ss]?://")]
    pub webhook_url: Option<url::Url>,
}

impl BatchRequest {
    /// The options every item's result is computed (and cached) for.
    pub fn options(&self) -> ValidationOptions {
        ValidationOptions {
            country: self.country.clone(),
            target_price: self.target_price,
        }
    }

    /// Parses the products (pointers `/products/{i}`) and the shared options, reporting every
    /// invalid member; the options are checked as a single validation's (same pointers).
    pub fn parse(body: &Value, default_country: &str, policy: &UrlPolicy) -> Result<Self, ApiError> {
        let Some(obj) = body.as_object() else {
            return Err(ApiError::Validation(vec![FieldError::new(
                "",
                "the body must be a JSON object",
            )]));
        };
        let mut errors: Vec<FieldError> = obj
            .keys()
            .filter(|k| !MEMBERS.contains(&k.as_str()))
            .map(|k| FieldError::new(format!("/{k}"), "is not a known member"))
            .collect();
        let products = parse_products(obj.get("products"), &mut errors);
        let options = parse_options(
            obj.get("country"),
            obj.get("target_price"),
            default_country,
            &mut errors,
        );
        let webhook_url = parse_webhook_url(obj.get("webhook_url"), policy, &mut errors);
        match (options, webhook_url) {
            (Some((country, target_price)), Some(webhook_url)) if errors.is_empty() => Ok(Self {
                products,
                country,
                target_price,
                webhook_url,
            }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

/// The `products` member: 1 to [`MAX_ITEMS`] products.
fn parse_products(value: Option<&Value>, errors: &mut Vec<FieldError>) -> Vec<ProductRef> {
    match value {
        Some(Value::Array(items)) if items.is_empty() => {
            errors.push(FieldError::new("/products", "must list at least one product"));
            Vec::new()
        }
        Some(Value::Array(items)) if items.len() > MAX_ITEMS => {
            errors.push(FieldError::new(
                "/products",
                format!("a batch holds at most {MAX_ITEMS} products (got {})", items.len()),
            ));
            Vec::new()
        }
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                parse_product(v, &format!("/products/{i}"))
                    .map_err(|e| errors.push(e))
                    .ok()
            })
            .collect(),
        Some(_) => {
            errors.push(FieldError::new("/products", "must be an array of products"));
            Vec::new()
        }
        None => {
            errors.push(FieldError::new("/products", "is required"));
            Vec::new()
        }
    }
}
