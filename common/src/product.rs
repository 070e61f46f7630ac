//! Product references from client input: `{source, id}` or an AliExpress item URL.

use serde::{Deserialize, Serialize};

/// A normalised reference to one product.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductRef {
    /// Marketplace; only `aliexpress` today.
    #[schema(example = "aliexpress")]
    pub source: String,
    /// Numeric AliExpress product id (10–20 digits).
    #[schema(example = "1005006123456789")]
    pub id: String,
}

/// One problem with client input, located by a JSON pointer (RFC 6901).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// JSON pointer to the offending member, e.g. `/product/id`.
    pub pointer: String,
    /// What is wrong, in words.
    pub detail: String,
}

impl FieldError {
    /// A problem at `pointer`.
    pub fn new(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            detail: detail.into(),
        }
    }
}

/// Sources the platform knows.
pub const SOURCES: &[&str] = &["aliexpress"];

/// Checks an AliExpress product id.
pub fn valid_product_id(id: &str) -> bool {
    (10..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

/// Parses `{"source": .., "id": ..}` or `{"url": ..}` found at JSON pointer `at`.
pub fn parse_product(value: &serde_json::Value, at: &str) -> Result<ProductRef, FieldError> {
    let Some(obj) = value.as_object() else {
        return Err(FieldError::new(
            at,
            "must be an object with `source` and `id`, or `url`",
        ));
    };
    if let Some(url) = obj.get("url") {
        if obj.contains_key("id") || obj.contains_key("source") {
            return Err(FieldError::new(at, "give either `url` or `source` and `id`, not both"));
        }
        let Some(url) = url.as_str() else {
            return Err(FieldError::new(format!("{at}/url"), "must be a string"));
        };
        return parse_product_url(url).map_err(|detail| FieldError::new(format!("{at}/url"), detail));
    }
    let source = match obj.get("source") {
        None => "aliexpress",
        Some(serde_json::Value::String(s)) => s.as_str(),
        Some(_) => return Err(FieldError::new(format!("{at}/source"), "must be a string")),
    };
    if !SOURCES.contains(&source) {
        return Err(FieldError::new(
            format!("{at}/source"),
            format!("unknown source {source:?}; supported: aliexpress"),
        ));
    }
    let id = match obj.get("id") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) if n.is_u64() => n.to_string(),
        Some(_) => return Err(FieldError::new(format!("{at}/id"), "must be a string of digits")),
        None => return Err(FieldError::new(format!("{at}/id"), "is required (or give `url`)")),
    };
    if !valid_product_id(&id) {
        return Err(FieldError::new(
            format!("{at}/id"),
            "must be an AliExpress product id: 10 to 20 digits",
        ));
    }
    Ok(ProductRef {
        source: source.to_owned(),
        id,
    })
}

/// Parses an AliExpress item URL such as `https://www.aliexpress.com/item/1005006841234567.html`.
pub fn parse_product_url(raw: &str) -> Result<ProductRef, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http(s) URL".into());
    }
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let is_aliexpress = ["aliexpress.com", "aliexpress.us", "aliexpress.ru"]
        .iter()
        .any(|domain| host == *domain || host.ends_with(&format!(".{domain}")));
    if !is_aliexpress {
        return Err("must be an AliExpress item URL (aliexpress.com/item/<id>.html)".into());
    }
    let id = url
        .path_segments()
        .and_then(|mut segments| {
            let first = segments.next()?;
            let second = segments.next()?;
            (first == "item").then_some(second)
        })
        .and_then(|file| file.strip_suffix(".html"))
        .filter(|id| valid_product_id(id))
        .ok_or_else(|| "must be an AliExpress item URL (aliexpress.com/item/<id>.html)".to_string())?;
    Ok(ProductRef {
        source: "aliexpress".into(),
        id: id.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_ids_and_urls() {
        let p = parse_product(&json!({"source": "aliexpress", "id": "1005006841234567"}), "/product").unwrap();
        assert_eq!(p.id, "1005006841234567");
        let u = parse_product(
            &json!({"url": "https://www.aliexpress.com/item/1005006841234567.html?spm=x"}),
            "/product",
        )
        .unwrap();
        assert_eq!(u, p);
        assert!(
            parse_product(
                &json!({"url": "https://m.aliexpress.us/item/1005006841234567.html"}),
                "/p"
            )
            .is_ok()
        );
    }

    #[test]
    fn rejects_with_pointers() {
        let e = parse_product(&json!({"source": "amazon", "id": "1"}), "/product").unwrap_err();
        assert_eq!(e.pointer, "/product/source");
        let e = parse_product(&json!({"id": "12ab"}), "/product").unwrap_err();
        assert_eq!(e.pointer, "/product/id");
        let e = parse_product(
            &json!({"url": "https://evil.example/item/1005006841234567.html"}),
            "/product",
        )
        .unwrap_err();
        assert_eq!(e.pointer, "/product/url");
        let e = parse_product(
            &json!({"url": "https://aliexpress.com.evil.example/item/1005006841234567.html"}),
            "/p",
        );
        assert!(e.is_err(), "{e:?}");
        let e = parse_product(&json!("x"), "/products/3").unwrap_err();
        assert_eq!(e.pointer, "/products/3");
    }
}
