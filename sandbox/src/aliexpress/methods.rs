//! `aliexpress.ds.*` business methods: product detail, freight quote and keyword search envelopes.
//!
//! Envelopes chosen where upstreams.md leaves the shape open:
//!
//! * `ds.product.get` for an unknown id (or an id that is not 10–20 digits, or the pinned
//!   `1005000000000404`): `{"aliexpress_ds_product_get_response":{"rsp_code":404,"rsp_msg":"Product not found",
//!   "request_id":…}}` (no `result`).
//! * `ds.freight.query` success:
//!   `{"aliexpress_ds_freight_query_response":{"result":{"success":true,"code":200,"msg":"Call succeeds",
//!   "delivery_options":{"delivery_option_d_t_o":[{"code":"CAINIAO_STANDARD","company":…,
//!   "min_delivery_days":7,"max_delivery_days":10,"estimated_delivery_time":"7-10","delivery_date_desc":…,
//!   "shipping_fee_cent":"190","shipping_fee_currency":"USD","shipping_fee_format":"$1.90",
//!   "free_shipping":false,"tracking":true,"ship_from_country":"CN","mayHavePFS":false}, …]}},
//!   "request_id":…}}`. `shipping_fee_cent` is the fee in minor units (cents) as an integer string, as the
//!   AliExpress docs describe it ("shipping fee amount in cent"); days are JSON numbers; booleans are real
//!   booleans. Options: `CAINIAO_STANDARD` (tracked; the product's nominal shipping), `CAINIAO_SUPER_ECONOMY`
//!   (untracked, cheaper, slower), `DHL` (tracked, fast, expensive). Unknown product:
//!   `result = {"success":false,"code":404,"msg":"Product not found"}` (no `delivery_options`). Bad
//!   `queryDeliveryReq` JSON: `result = {"success":false,"code":400,"msg":"Invalid queryDeliveryReq: …"}`.
//! * `ds.text.search` success: `code` `"00"`, `msg` `"Call succeeds"`; empty `keyWord`:
//!   `code` `"EXCEPTION_TEXT_SEARCH_FOR_DS"` without `data`.

use axum::http::StatusCode;
use chrono::Duration;
use serde_json::{Value, json};

use super::{Params, affiliate, error_reply};
use crate::config::SandboxConfig;
use crate::data::keyword::KeywordProfile;
use crate::data::product::{Product, ae_time, fx};
use crate::data::{money, rating};
use crate::hashing::Gen;
use crate::reply::Reply;

/// Wraps `inner` in `{"<method_with_underscores>_response": inner}` (HTTP 200).
pub fn envelope(method: &str, inner: Value, outcome: &'static str) -> Reply {
    let key = format!("{}_response", method.replace('.', "_"));
    Reply::json(StatusCode::OK, &json!({ key: inner }), outcome)
}

/// A missing mandatory business parameter (gateway-style error).
pub fn missing(name: &str, rid: &str) -> Reply {
    error_reply(
        "MissingParameter",
        &format!("The input parameter \"{name}\" that is mandatory for processing this request is not supplied."),
        rid,
        "bad_request",
    )
}

/// Dispatches a known business method.
pub fn call(cfg: &SandboxConfig, method: &str, params: &Params, rid: &str) -> Reply {
    match method {
        "aliexpress.ds.product.get" => product_get(cfg, params, rid),
        "aliexpress.ds.freight.query" => freight_query(cfg, params, rid),
        "aliexpress.ds.text.search" => text_search(cfg, params, rid),
        "aliexpress.affiliate.productdetail.get" => affiliate::product_detail(cfg, params, rid),
        "aliexpress.affiliate.product.query" => affiliate::product_query(cfg, params, rid, false),
        "aliexpress.affiliate.hotproduct.query" => affiliate::product_query(cfg, params, rid, true),
        _ => error_reply(
            "InvalidApiPath",
            "The specified API path is invalid",
            rid,
            "bad_request",
        ),
    }
}

const METHOD_GET: &str = "aliexpress.ds.product.get";

fn product_get(cfg: &SandboxConfig, params: &Params, rid: &str) -> Reply {
    let Some(id) = params.non_empty("product_id") else {
        return missing("product_id", rid);
    };
    let Some(p) = Product::lookup(cfg, id.trim()) else {
        let body = json!({"rsp_code": 404, "rsp_msg": "Product not found", "request_id": rid});
        return envelope(METHOD_GET, body, "not_found");
    };
    let country = params.non_empty("ship_to_country").unwrap_or("US").to_ascii_uppercase();
    let (cur, rate) = fx(params.non_empty("target_currency").unwrap_or("USD"));
    let skus: Vec<Value> = p
        .skus
        .iter()
        .map(|s| {
            let attr = format!("14:{}#{}", s.color_value_id, s.color);
            json!({
                "sku_id": s.sku_id, "id": attr, "sku_attr": attr,
                "sku_price": money(s.price_usd * rate), "offer_sale_price": money(s.offer_usd * rate),
                "offer_bulk_sale_price": money(s.offer_usd * rate * 0.97), "currency_code": cur,
                "sku_available_stock": s.stock, "sku_stock": s.stock > 0, "price_include_tax": false,
                "ae_sku_property_dtos": {"ae_sku_property_d_t_o": [{
                    "sku_property_id": 14, "sku_property_name": "Color", "sku_property_value": s.color,
                    "property_value_id": s.color_value_id, "property_value_definition_name": s.color,
                    "sku_image": p.images.first().cloned().unwrap_or_default()
                }]}
            })
        })
        .collect();
    let main_price_cny = money(p.min_offer_usd() * 7.2);
    let result = json!({
        "ae_item_base_info_dto": {
            "product_id": p.id.parse::<u64>().unwrap_or_default(),
            "subject": p.title,
            "category_id": p.category_id,
            "product_status_type": if p.on_selling { "onSelling" } else { "offSelling" },
            "currency_code": "CNY",
            "sales_count": p.sales_count.to_string(),
            "evaluation_count": p.evaluation_count.to_string(),
            "avg_evaluation_rating": rating(p.rating),
            "gmt_create": ae_time(p.gmt_create),
            "gmt_modified": ae_time(cfg.now() - Duration::days(3)),
            "detail": format!("<p>{}</p><p>Price from CNY {main_price_cny}</p>", p.title),
            "mobile_detail": json!({"version": "2.0.0", "moduleList": [{"type": "text", "texts": [{"content": p.title}]}]}).to_string(),
            "owner_member_seq_long": p.store_id + 7,
        },
        "ae_item_sku_info_dtos": {"ae_item_sku_info_d_t_o": skus},
        "ae_store_info": {
            "store_id": p.store_id,
            "store_name": p.store_name,
            "store_country_code": "CN",
            "item_as_described_rating": rating(p.store_ratings[0]),
            "communication_rating": rating(p.store_ratings[1]),
            "shipping_speed_rating": rating(p.store_ratings[2]),
        },
        "logistics_info_dto": {"delivery_time": p.shipping[0].max_days, "ship_to_country": country},
        "package_info_dto": {
            "package_type": false,
            "package_length": p.package_cm[0],
            "package_width": p.package_cm[1],
            "package_height": p.package_cm[2],
            "gross_weight": format!("{:.3}", p.gross_weight_kg),
            "base_unit": 1,
            "product_unit": 100000015,
        },
        "ae_multimedia_info_dto": {
            "image_urls": p.images.join(";"),
            "ae_video_dtos": {"ae_video_d_t_o": [{
                "media_id": p.id.parse::<u64>().unwrap_or_default() % 1_000_000_000_000, "media_type": "video",
                "media_status": "approved", "poster_url": p.images.first().cloned().unwrap_or_default()
            }]},
        },
        "ae_item_properties": {"ae_item_property": [
            {"attr_name": "Brand Name", "attr_name_id": 2, "attr_value": "NONE", "attr_value_id": 201512802},
            {"attr_name": "Origin", "attr_name_id": 219, "attr_value": "Mainland China", "attr_value_id": 9441741844u64},
        ]},
    });
    envelope(
        METHOD_GET,
        json!({"result": result, "rsp_code": 200, "rsp_msg": "Call succeeds", "request_id": rid}),
        "ok",
    )
}

fn freight_query(cfg: &SandboxConfig, params: &Params, rid: &str) -> Reply {
    const M: &str = "aliexpress.ds.freight.query";
    let Some(raw) = params.non_empty("queryDeliveryReq") else {
        return missing("queryDeliveryReq", rid);
    };
    let req: Value = match serde_json::from_str(raw) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) | Err(_) => {
            let result =
                json!({"success": false, "code": 400, "msg": "Invalid queryDeliveryReq: expected a JSON object"});
            return envelope(M, json!({"result": result, "request_id": rid}), "bad_request");
        }
    };
    let text = |k: &str| match &req[k] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let product = Product::lookup(cfg, text("productId").trim());
    let Some(p) = product else {
        let result = json!({"success": false, "code": 404, "msg": "Product not found"});
        return envelope(M, json!({"result": result, "request_id": rid}), "not_found");
    };
    let quantity = req["quantity"]
        .as_u64()
        .or_else(|| text("quantity").parse().ok())
        .unwrap_or(1)
        .max(1);
    let (cur, rate) = fx(&text("currency"));
    let now = cfg.now();
    let options: Vec<Value> = p
        .shipping
        .iter()
        .map(|s| {
            let fee = s.fee_usd * (1.0 + 0.5 * (quantity - 1) as f64) * rate;
            let cents = (fee * 100.0).round() as u64;
            let symbol = match cur {
                "EUR" => "€",
                "GBP" => "£",
                "CNY" => "CN¥",
                _ => "$",
            };
            let date = |d: u64| (now + Duration::days(d as i64)).format("%b %d").to_string();
            json!({
                "code": s.code, "company": s.company,
                "min_delivery_days": s.min_days, "max_delivery_days": s.max_days,
                "estimated_delivery_time": format!("{}-{}", s.min_days, s.max_days),
                "delivery_date_desc": format!("{} - {}", date(s.min_days), date(s.max_days)),
                "shipping_fee_cent": cents.to_string(), "shipping_fee_currency": cur,
                "shipping_fee_format": if cents == 0 { "Free shipping".to_string() } else { format!("{symbol}{}", money(cents as f64 / 100.0)) },
                "free_shipping": cents == 0, "tracking": s.tracking, "ship_from_country": "CN", "mayHavePFS": false
            })
        })
        .collect();
    let result = json!({"success": true, "code": 200, "msg": "Call succeeds", "delivery_options": {"delivery_option_d_t_o": options}});
    envelope(M, json!({"result": result, "request_id": rid}), "ok")
}

/// The id of search hit number `i` for a keyword (shared by `ds.text.search` and affiliate queries).
pub fn item_id(seed: u64, key: &str, i: u64) -> String {
    format!(
        "1005{}",
        Gen::new(seed, &format!("search:{key}"))
            .child("item", i)
            .digits("id", 12)
    )
}

fn page_args(params: &Params, index: &str, size: &str, default_size: u64) -> (u64, u64) {
    let page = params
        .get(index)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1u64)
        .max(1);
    let size = params
        .get(size)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default_size)
        .clamp(1, 50);
    (page, size)
}

fn text_search(cfg: &SandboxConfig, params: &Params, rid: &str) -> Reply {
    const M: &str = "aliexpress.ds.text.search";
    let Some(keyword) = params.non_empty("keyWord") else {
        let body =
            json!({"code": "EXCEPTION_TEXT_SEARCH_FOR_DS", "msg": "keyWord must not be empty", "request_id": rid});
        return envelope(M, body, "bad_request");
    };
    let profile = KeywordProfile::of(cfg.seed, keyword);
    let (page, size) = page_args(params, "pageIndex", "pageSize", 20);
    let (_, rate) = fx(params.non_empty("currency").unwrap_or("USD"));
    let start = (page - 1) * size;
    let end = (start + size).min(profile.similar_listings);
    let products: Vec<Value> = (start..end)
        .filter_map(|i| Product::lookup(cfg, &item_id(cfg.seed, &profile.key, i)))
        .map(|p| {
            let offer = p.min_offer_usd();
            let original = p.skus.first().map_or(offer, |s| s.price_usd);
            json!({
                "itemId": p.id, "title": p.title,
                "targetSalePrice": money(offer * rate), "targetOriginalPrice": money(original * rate),
                "salePrice": money(offer * rate), "originalPrice": money(original * rate),
                "itemMainPic": p.images.first().cloned().unwrap_or_default(),
                "itemUrl": format!("//www.aliexpress.com/item/{}.html", p.id),
                "orders": p.sales_count.to_string(), "score": rating(p.rating),
                "evaluateRate": format!("{:.1}%", p.positive_rate),
                "cateId": p.category_id.to_string(),
                "discount": format!("{}%", ((1.0 - offer / original.max(0.01)) * 100.0).round().max(0.0)),
            })
        })
        .collect();
    let data = json!({
        "totalCount": profile.similar_listings, "pageIndex": page, "pageSize": size,
        "products": {"selection_search_product": products}
    });
    envelope(
        M,
        json!({"code": "00", "msg": "Call succeeds", "data": data, "request_id": rid}),
        "ok",
    )
}
