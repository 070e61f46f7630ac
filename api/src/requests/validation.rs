//! The body of `POST /v1/validations`: a product and the options that shape its result.

use dropforge_common::{
    cache::ValidationOptions,
    country::{self, CountryError},
    product::{FieldError, ProductRef, parse_product},
    webhook::ssrf::{self, UrlPolicy},
};
use serde_json::Value;
use utoipa::ToSchema;

use super::product::ProductInput;
use crate::error::ApiError;

/// Body of `POST /v1/validations`. Unknown members are refused with 422.
#[derive(Debug, Clone, ToSchema)]
pub struct ValidationRequest {
    /// The product to validate.
    #[schema(value_type = ProductInput)]
    pub product: ProductRef,
    /// Two-letter ISO 3166-1 country to ship to (case-insensitive); the deployment default when absent.
    #[schema(value_type = Option<super::CountryCode>, example = "US")]
    pub country: String,
    /// Intended selling price, 0.01 to 100000 (rounded to cents).
    #[schema(minimum = 0.01, maximum = 100000, example = 24.99)]
    pub target_price: Option<f64>,
    /// Receives the `job.succeeded` / `job.failed` event (`https`, SSRF-checked, including DNS).
    #[schema(value_type = Option<String>, format = "uri", pattern = "^[Hh][Tt][Tt][Pp][Ss]?://")]
    pub webhook_url: Option<url::Url>,
}

/// The members a validation body may have.
const MEMBERS: &[&str] = &["product", "country", "target_price", "webhook_url"];

impl ValidationRequest {
    /// The options its result is computed (and cached) for.
    pub fn options(&self) -> ValidationOptions {
        ValidationOptions {
            country: self.country.clone(),
            target_price: self.target_price,
        }
    }

    /// Parses and validates a body, collecting every problem with its JSON pointer.
    pub fn parse(body: &Value, default_country: &str, policy: &UrlPolicy) -> Result<Self, ApiError> {
        let Some(obj) = body.as_object() else {
            return Err(ApiError::Validation(vec![FieldError::new(
                "",
                "the body must be a JSON object",
            )]));
        };
        let mut errors = Vec::new();
        for key in obj.keys().filter(|k| !MEMBERS.contains(&k.as_str())) {
            errors.push(FieldError::new(format!("/{key}"), "is not a known member"));
        }
        let product = match obj.get("product") {
            None => {
                errors.push(FieldError::new("/product", "is required"));
                None
            }
            Some(v) => parse_product(v, "/product").map_err(|e| errors.push(e)).ok(),
        };
        let options = parse_options(
            obj.get("country"),
            obj.get("target_price"),
            default_country,
            &mut errors,
        );
        let webhook_url = parse_webhook_url(obj.get("webhook_url"), policy, &mut errors);
        match (product, options, webhook_url) {
            (Some(product), Some((country, target_price)), Some(webhook_url)) if errors.is_empty() => Ok(Self {
                product,
                country,
                target_price,
                webhook_url,
            }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

/// `country` and `target_price` (shared with batches); `None` when either is invalid.
pub fn parse_options(
    country: Option<&Value>,
    target_price: Option<&Value>,
    default_country: &str,
    errors: &mut Vec<FieldError>,
) -> Option<(String, Option<f64>)> {
    let country = match country {
        None | Some(Value::Null) => Some(default_country.to_owned()),
        Some(Value::String(c)) => match country::parse(c) {
            Ok(code) => Some(code.to_owned()),
            Err(e) => {
                errors.push(FieldError::new("/country", e.to_string()));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new("/country", CountryError::Malformed.to_string()));
            None
        }
    };
    let target_price = match target_price {
        None | Some(Value::Null) => Some(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(p) if p.is_finite() && p > 0.0 && p <= 100_000.0 => Some(Some((p * 100.0).round() / 100.0)),
            _ => {
                errors.push(FieldError::new(
                    "/target_price",
                    "must be a price between 0.01 and 100000",
                ));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new("/target_price", "must be a number"));
            None
        }
    };
    Some((country?, target_price?))
}

/// `webhook_url` (shared with batches), checked against the SSRF policy without DNS; `None` when invalid.
pub fn parse_webhook_url(
    value: Option<&Value>,
    policy: &UrlPolicy,
    errors: &mut Vec<FieldError>,
) -> Option<Option<url::Url>> {
    match value {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(url)) => match ssrf::check_url(url, policy) {
            Ok(url) => Some(Some(url)),
            Err(e) => {
                errors.push(FieldError::new("/webhook_url", e.to_string()));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new("/webhook_url", "must be a string"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_invalid_member_is_reported() {
        let body = json!({"product": {"id": "x"}, "country": "USA", "target_price": -1, "extra": 1});
        let Err(ApiError::Validation(errors)) = ValidationRequest::parse(&body, "US", &UrlPolicy::default()) else {
            panic!("must fail")
        };
        let pointers: Vec<_> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/extra", "/product/id", "/country", "/target_price"]);
    }

    #[test]
    fn countries_must_be_assigned_codes() {
        let product = json!({"source": "aliexpress", "id": "1005000000000001"});
        for unknown in ["XX", "ZZ", "uk"] {
            let body = json!({"product": product, "country": unknown});
            let Err(ApiError::Validation(errors)) = ValidationRequest::parse(&body, "US", &UrlPolicy::default()) else {
                panic!("{unknown} must be refused")
            };
            assert_eq!(errors[0].pointer, "/country");
            assert!(errors[0].detail.contains("ISO 3166-1"), "{}", errors[0].detail);
        }
        let body = json!({"product": product, "country": "de"});
        let parsed = ValidationRequest::parse(&body, "US", &UrlPolicy::default()).expect("de is Germany");
        assert_eq!(parsed.country, "DE");
    }
}
