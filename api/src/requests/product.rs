//! The accepted spellings of a product in a request body: by marketplace id or by item URL.
//! `dropforge_common::product::parse_product` reads both into a `ProductRef`; these name them.

use serde::Serialize;
use utoipa::ToSchema;

/// A product, by marketplace id or by AliExpress item URL (not both).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ProductInput {
    /// By id.
    #[schema(title = "By id")]
    ById(ProductById),
    /// By URL.
    #[schema(title = "By URL")]
    ByUrl(ProductByUrl),
}

/// A product by marketplace and id.
#[derive(Serialize, ToSchema)]
pub struct ProductById {
    /// Marketplace; only `aliexpress` (the default).
    #[schema(value_type = String, required = false, pattern = "^aliexpress$", example = "aliexpress", default = "aliexpress")]
    pub source: Option<String>,
    /// AliExpress product id: 10 to 20 digits (a JSON integer is accepted too).
    #[schema(pattern = "^[0-9]{10,20}$", example = "1005006123456789")]
    pub id: String,
}

/// A product by AliExpress item URL.
#[derive(Serialize, ToSchema)]
pub struct ProductByUrl {
    /// AliExpress item URL.
    #[schema(
        format = "uri",
        pattern = "^[Hh][Tt][Tt][Pp][Ss]?://([A-Za-z0-9]+\\.)*[Aa][Ll][Ii][Ee][Xx][Pp][Rr][Ee][Ss][Ss]\\.([Cc][Oo][Mm]|[Uu][Ss]|[Rr][Uu])/item/[0-9]{10,20}\\.html(\\?([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?(#([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?$",
        example = "https://www.aliexpress.com/item/1005006123456789.html"
    )]
    pub url: String,
}
