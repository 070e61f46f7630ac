//! AliExpress response envelopes (docs/design/upstreams.md §1.5), parsed tolerantly from `serde_json::Value`:
//! numbers as strings, `rsp_code` as string or number, wrapped lists, single objects for arrays.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::super::error::{Upstream, UpstreamError, classify_aliexpress};
use super::super::json::{bool_at, f64_at, get, list, list_at, parse_time, string_at, u64_at};

const AE: Upstream = Upstream::AliExpress;

/// One SKU of `ds.product.get`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sku {
    /// `sku_id`.
    pub sku_id: Option<String>,
    /// `offer_sale_price` (target currency), falling back to `sku_price`.
    pub price: Option<f64>,
    /// `sku_available_stock`.
    pub stock: Option<u64>,
}

/// `ae_store_info`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Store {
    /// `store_id`.
    pub id: Option<String>,
    /// `store_name`.
    pub name: Option<String>,
    /// `store_country_code`.
    pub country: Option<String>,
    /// Described, communication and shipping-speed ratings, when all three are present.
    pub ratings: Option<[f64; 3]>,
}

/// The fields of `ds.product.get` the worker reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductDetail {
    /// `product_id`.
    pub product_id: String,
    /// `subject`.
    pub title: String,
    /// `product_status_type` (`onSelling`, `offline`, …).
    pub status: Option<String>,
    /// `sales_count`.
    pub sales_count: Option<u64>,
    /// `evaluation_count`.
    pub evaluation_count: Option<u64>,
    /// `avg_evaluation_rating`.
    pub avg_rating: Option<f64>,
    /// `gmt_create`.
    pub gmt_create: Option<DateTime<Utc>>,
    /// Currency of the SKU prices (`currency_code` of the SKUs).
    pub sku_currency: Option<String>,
    /// SKUs.
    pub skus: Vec<Sku>,
    /// Store information.
    pub store: Store,
    /// `logistics_info_dto.delivery_time` (days).
    pub delivery_time: Option<f64>,
    /// `ae_multimedia_info_dto.image_urls` split on `;`.
    pub image_urls: Vec<String>,
}

/// One option of `ds.freight.query`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryOption {
    /// `code`.
    pub code: Option<String>,
    /// `company`.
    pub company: Option<String>,
    /// `min_delivery_days`.
    pub min_days: Option<f64>,
    /// `max_delivery_days`.
    pub max_days: Option<f64>,
    /// Fee in currency units (0 when `free_shipping`).
    pub fee: Option<f64>,
    /// `tracking`.
    pub tracking: Option<bool>,
}

/// The fields of `affiliate.productdetail.get` the worker reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AffiliateDetail {
    /// `lastest_volume` (sic): units sold in the last 30 days.
    pub lastest_volume: Option<u64>,
    /// `evaluate_rate` in percent (`"97.5%"` → 97.5).
    pub evaluate_rate: Option<f64>,
    /// `shop_id`.
    pub shop_id: Option<String>,
    /// `shop_url`.
    pub shop_url: Option<String>,
}

/// Members of a `ds.product.get` answer that [`parse_product`] never reads: parsing leaves them out
/// ([`super::super::json::from_slice_without`]), at any depth. Only names no parser of the method
/// reads belong here (`wire_tests.rs` parses every captured answer both ways).
pub const PRODUCT_UNREAD: &[&str] = &[
    "detail",
    "mobile_detail",
    "ae_item_properties",
    "ae_sku_property_dtos",
    "ae_video_dtos",
    "package_info_dto",
    "gmt_modified",
    "owner_member_seq_long",
    "offer_bulk_sale_price",
    "sku_attr",
    "request_id",
];
/// Members of a `ds.freight.query` answer that [`parse_freight`] never reads.
pub const FREIGHT_UNREAD: &[&str] = &[
    "delivery_date_desc",
    "estimated_delivery_time",
    "mayHavePFS",
    "ship_from_country",
    "request_id",
];
/// Members of an `affiliate.productdetail.get` answer that [`parse_affiliate`] never reads.
pub const AFFILIATE_UNREAD: &[&str] = &[
    "app_sale_price",
    "app_sale_price_currency",
    "commission_rate",
    "discount",
    "hot_product_commission_rate",
    "original_price",
    "original_price_currency",
    "product_detail_url",
    "product_main_image_url",
    "product_small_image_urls",
    "product_title",
    "product_video_url",
    "promotion_link",
    "sale_price",
    "sale_price_currency",
    "target_app_sale_price",
    "target_app_sale_price_currency",
    "target_original_price",
    "target_original_price_currency",
    "target_sale_price",
    "target_sale_price_currency",
    "request_id",
];

/// Returns the method's `…_response` envelope, or the classified `error_response`.
pub fn envelope<'a>(body: &'a Value, method: &str) -> Result<&'a Value, UpstreamError> {
    if let Some(err) = get(body, &["error_response"]) {
        let code = string_at(err, &["code"]).unwrap_or_else(|| "unknown".into());
        let msg = string_at(err, &["msg"])
            .or_else(|| string_at(err, &["message"]))
            .unwrap_or_default();
        let sub = string_at(err, &["sub_msg"])
            .map(|s| format!("{msg} {s}"))
            .unwrap_or(msg);
        return Err(classify_aliexpress(&code, string_at(err, &["type"]).as_deref(), &sub));
    }
    let key = format!("{}_response", method.replace('.', "_"));
    get(body, &[&key]).ok_or_else(|| UpstreamError::malformed(AE, format!("{method}: no {key}")))
}

/// True for a success code: `200`, `"200"`, `0`, `"0"`, `"00"` (or absent).
fn is_success(code: Option<String>) -> bool {
    code.is_none_or(|c| matches!(c.as_str(), "200" | "0" | "00" | "true"))
}

/// Parses `aliexpress_ds_product_get_response`; a missing `result` means the product does not exist.
pub fn parse_product(env: &Value, product_id: &str) -> Result<ProductDetail, UpstreamError> {
    let msg = string_at(env, &["rsp_msg"]).unwrap_or_default();
    let Some(result) = get(env, &["result"]).filter(|r| r.as_object().is_some_and(|o| !o.is_empty())) else {
        return Err(UpstreamError::NotFound {
            upstream: AE,
            detail: format!("product {product_id}: {msg}"),
        });
    };
    let code = string_at(env, &["rsp_code"]);
    if !is_success(code.clone()) {
        return Err(UpstreamError::invalid(AE, code.unwrap_or_default(), msg));
    }
    let base = get(result, &["ae_item_base_info_dto"]).unwrap_or(&Value::Null);
    let skus: Vec<&Value> = list_at(result, &["ae_item_sku_info_dtos"]);
    let store = get(result, &["ae_store_info"]).unwrap_or(&Value::Null);
    let ratings = match (
        f64_at(store, &["item_as_described_rating"]),
        f64_at(store, &["communication_rating"]),
        f64_at(store, &["shipping_speed_rating"]),
    ) {
        (Some(a), Some(b), Some(c)) => Some([a, b, c]),
        _ => None,
    };
    Ok(ProductDetail {
        product_id: string_at(base, &["product_id"]).unwrap_or_else(|| product_id.to_owned()),
        title: string_at(base, &["subject"]).unwrap_or_default(),
        status: string_at(base, &["product_status_type"]),
        sales_count: u64_at(base, &["sales_count"]),
        evaluation_count: u64_at(base, &["evaluation_count"]),
        avg_rating: f64_at(base, &["avg_evaluation_rating"]),
        gmt_create: get(base, &["gmt_create"]).and_then(parse_time),
        sku_currency: skus.iter().find_map(|s| string_at(s, &["currency_code"])),
        skus: skus
            .iter()
            .map(|s| Sku {
                sku_id: string_at(s, &["sku_id"]),
                price: f64_at(s, &["offer_sale_price"]).or_else(|| f64_at(s, &["sku_price"])),
                stock: u64_at(s, &["sku_available_stock"]),
            })
            .collect(),
        store: Store {
            id: string_at(store, &["store_id"]),
            name: string_at(store, &["store_name"]),
            country: string_at(store, &["store_country_code"]),
            ratings,
        },
        delivery_time: f64_at(result, &["logistics_info_dto", "delivery_time"]),
        image_urls: string_at(result, &["ae_multimedia_info_dto", "image_urls"])
            .map(|s| {
                s.split(';')
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// Finds the delivery-option list: `delivery_options` as an array, a wrapper such as
/// `{"delivery_option": [...]}` / `{"aeop_…": [...]}`, or a single object.
fn delivery_list(result: &Value) -> Option<Vec<&Value>> {
    let obj = result.as_object()?;
    let key = obj
        .keys()
        .find(|k| *k == "delivery_options")
        .or_else(|| obj.keys().find(|k| k.contains("delivery_option")))?;
    Some(obj.get(key).map(list).unwrap_or_default())
}

/// A money amount from a display string such as `"$1.49"`, `"US $1,234.50"` or `"1,49 €"`.
fn money_from_display(s: &str) -> Option<f64> {
    let kept: String = s
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
        .collect();
    let normal = if kept.contains('.') {
        kept.replace(',', "")
    } else {
        kept.replace(',', ".")
    };
    normal.trim_matches('.').parse::<f64>().ok()
}

/// Parses `aliexpress_ds_freight_query_response`.
pub fn parse_freight(env: &Value) -> Result<Vec<DeliveryOption>, UpstreamError> {
    let result = get(env, &["result"]).unwrap_or(env);
    let Some(items) = delivery_list(result) else {
        if bool_at(result, &["success"]) == Some(false) {
            let code = string_at(result, &["code"]).unwrap_or_else(|| "freight_failed".into());
            return Err(UpstreamError::invalid(
                AE,
                code,
                string_at(result, &["msg"]).unwrap_or_default(),
            ));
        }
        return Ok(Vec::new());
    };
    Ok(items
        .into_iter()
        .map(|o| {
            let free = bool_at(o, &["free_shipping"]) == Some(true);
            let fee = if free {
                Some(0.0)
            } else {
                string_at(o, &["shipping_fee_format"])
                    .and_then(|s| money_from_display(&s))
                    .or_else(|| f64_at(o, &["shipping_fee_cent"]).map(|c| c / 100.0))
            };
            DeliveryOption {
                code: string_at(o, &["code"]),
                company: string_at(o, &["company"]),
                min_days: f64_at(o, &["min_delivery_days"]),
                max_days: f64_at(o, &["max_delivery_days"]),
                fee,
                tracking: bool_at(o, &["tracking"]),
            }
        })
        .collect())
}

/// The cheapest option with `tracking = true` (ties: the faster one).
pub fn cheapest_tracked(options: &[DeliveryOption]) -> Option<&DeliveryOption> {
    options
        .iter()
        .filter(|o| o.tracking == Some(true) && o.fee.is_some())
        .min_by(|a, b| {
            let key = |o: &DeliveryOption| (o.fee.unwrap_or(f64::MAX), o.max_days.unwrap_or(f64::MAX));
            key(a).partial_cmp(&key(b)).unwrap_or(std::cmp::Ordering::Equal)
        })
}

/// Parses `aliexpress_ds_text_search_response` into `data.totalCount`.
pub fn parse_text_search(env: &Value) -> Result<u64, UpstreamError> {
    if let Some(total) = u64_at(env, &["data", "totalCount"]).or_else(|| u64_at(env, &["data", "total_count"])) {
        return Ok(total);
    }
    let code = string_at(env, &["code"]);
    if !is_success(code.clone()) {
        return Err(UpstreamError::invalid(
            AE,
            code.unwrap_or_default(),
            string_at(env, &["msg"]).unwrap_or_default(),
        ));
    }
    // Success without data: nothing matched.
    Ok(0)
}

/// Parses `aliexpress_affiliate_productdetail_get_response` for `product_id`.
pub fn parse_affiliate(env: &Value, product_id: &str) -> Result<AffiliateDetail, UpstreamError> {
    let resp = get(env, &["resp_result"]).unwrap_or(env);
    let code = string_at(resp, &["resp_code"]);
    if !is_success(code.clone()) {
        let msg = string_at(resp, &["resp_msg"]).unwrap_or_default();
        return Err(UpstreamError::invalid(AE, code.unwrap_or_default(), msg));
    }
    let products = list_at(resp, &["result", "products"]);
    let product = products
        .iter()
        .find(|p| string_at(p, &["product_id"]).as_deref() == Some(product_id))
        .or_else(|| products.first())
        .ok_or_else(|| UpstreamError::NotFound {
            upstream: AE,
            detail: format!("affiliate product {product_id}"),
        })?;
    Ok(AffiliateDetail {
        lastest_volume: u64_at(product, &["lastest_volume"]).or_else(|| u64_at(product, &["latest_volume"])),
        evaluate_rate: f64_at(product, &["evaluate_rate"]),
        shop_id: string_at(product, &["shop_id"]),
        shop_url: string_at(product, &["shop_url"]),
    })
}

/// One product of `affiliate.product.query`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AffiliateProduct {
    /// `product_id`.
    pub id: String,
    /// `product_title`.
    pub title: String,
    /// `target_sale_price` (falling back to `sale_price`).
    pub price: Option<f64>,
    /// Currency of `price`.
    pub currency: Option<String>,
    /// `lastest_volume` (sic): units sold in the last 30 days.
    pub orders_30d: Option<u64>,
    /// `evaluate_rate` in percent.
    pub evaluate_rate: Option<f64>,
    /// `shop_id`.
    pub shop_id: Option<String>,
    /// `shop_url`.
    pub shop_url: Option<String>,
    /// `shop_name`, when the gateway sends it.
    pub shop_name: Option<String>,
    /// `product_detail_url`.
    pub url: Option<String>,
    /// `product_main_image_url`.
    pub image: Option<String>,
}

/// One page of `affiliate.product.query`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AffiliatePage {
    /// `total_record_count`.
    pub total: u64,
    /// The page's products.
    pub products: Vec<AffiliateProduct>,
}

/// Parses `aliexpress_affiliate_product_query_response`; `resp_code` 405 ("The result is empty")
/// is an empty page, not an error.
pub fn parse_product_query(env: &Value) -> Result<AffiliatePage, UpstreamError> {
    let resp = get(env, &["resp_result"]).unwrap_or(env);
    let code = string_at(resp, &["resp_code"]);
    if code.as_deref() == Some("405") {
        return Ok(AffiliatePage::default());
    }
    if !is_success(code.clone()) {
        let msg = string_at(resp, &["resp_msg"]).unwrap_or_default();
        return Err(UpstreamError::invalid(AE, code.unwrap_or_default(), msg));
    }
    let result = get(resp, &["result"]).unwrap_or(&Value::Null);
    let products: Vec<AffiliateProduct> = list_at(result, &["products"])
        .into_iter()
        .filter_map(|p| {
            Some(AffiliateProduct {
                id: string_at(p, &["product_id"])?,
                title: string_at(p, &["product_title"]).unwrap_or_default(),
                price: f64_at(p, &["target_sale_price"]).or_else(|| f64_at(p, &["sale_price"])),
                currency: string_at(p, &["target_sale_price_currency"])
                    .or_else(|| string_at(p, &["sale_price_currency"])),
                orders_30d: u64_at(p, &["lastest_volume"]).or_else(|| u64_at(p, &["latest_volume"])),
                evaluate_rate: f64_at(p, &["evaluate_rate"]),
                shop_id: string_at(p, &["shop_id"]),
                shop_url: string_at(p, &["shop_url"]),
                shop_name: string_at(p, &["shop_name"]),
                url: string_at(p, &["product_detail_url"]),
                image: string_at(p, &["product_main_image_url"]),
            })
        })
        .collect();
    let total = u64_at(result, &["total_record_count"]).unwrap_or(products.len() as u64);
    Ok(AffiliatePage { total, products })
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
