//! `aliexpress.affiliate.*` methods: product detail (30-day `lastest_volume`) and keyword / hot product queries.
//!
//! Results are wrapped in `resp_result` with a numeric `resp_code` (200 on success). When no product matches,
//! `resp_result` is `{"resp_code":405,"resp_msg":"The result is empty"}` (no `result`).
//! Sorting (`sort`) and price / delivery filters apply within the requested page.

use serde_json::{Value, json};

use super::Params;
use super::methods::{envelope, item_id, missing};
use crate::config::SandboxConfig;
use crate::data::keyword::KeywordProfile;
use crate::data::product::{Product, fx};
use crate::data::{Archetype, money};

fn product_json(cfg: &SandboxConfig, p: &Product, currency: &str) -> Value {
    let (cur, rate) = fx(currency);
    let offer = p.min_offer_usd();
    let original = p.skus.first().map_or(offer, |s| s.price_usd);
    let tracking = cfg.credentials.ae_apps.first().map_or("df", |a| a.tracking_id.as_str());
    json!({
        "product_id": p.id.parse::<u64>().unwrap_or_default(),
        "product_title": p.title,
        "product_detail_url": format!("https://www.aliexpress.com/item/{}.html", p.id),
        "product_main_image_url": p.images.first().cloned().unwrap_or_default(),
        "product_small_image_urls": {"string": p.images},
        "product_video_url": p.video_url,
        "original_price": money(original), "original_price_currency": "USD",
        "sale_price": money(offer), "sale_price_currency": "USD",
        "app_sale_price": money(offer), "app_sale_price_currency": "USD",
        "target_original_price": money(original * rate), "target_original_price_currency": cur,
        "target_sale_price": money(offer * rate), "target_sale_price_currency": cur,
        "target_app_sale_price": money(offer * rate), "target_app_sale_price_currency": cur,
        "discount": format!("{}%", ((1.0 - offer / original.max(0.01)) * 100.0).round().max(0.0)),
        "lastest_volume": p.orders_30d,
        "evaluate_rate": format!("{:.1}%", p.positive_rate),
        "shop_id": p.store_id,
        "shop_url": format!("https://www.aliexpress.com/store/{}", p.store_id),
        "ship_to_days": p.shipping[0].max_days.to_string(),
        "first_level_category_id": p.first_level_category_id,
        "second_level_category_id": p.category_id,
        "commission_rate": format!("{:.1}%", p.commission_rate),
        "hot_product_commission_rate": "0.0%",
        "promotion_link": format!("https://s.click.aliexpress.com/e/_sbx{}?aff_fcid={tracking}", &p.id[p.id.len().saturating_sub(8)..]),
    })
}

fn resp(method: &str, rid: &str, products: Vec<Value>, page: u64, total: u64) -> crate::reply::Reply {
    if products.is_empty() {
        let body = json!({"resp_result": {"resp_code": 405, "resp_msg": "The result is empty"}, "request_id": rid});
        return envelope(method, body, "not_found");
    }
    let result = json!({
        "current_page_no": page, "current_record_count": products.len(), "total_record_count": total,
        "total_page_no": total.div_ceil(products.len().max(1) as u64),
        "products": {"product": products}
    });
    envelope(
        method,
        json!({"resp_result": {"resp_code": 200, "resp_msg": "Call succeeds", "result": result}, "request_id": rid}),
        "ok",
    )
}

/// `aliexpress.affiliate.productdetail.get`: `product_ids` comma list (unknown ids are left out).
pub fn product_detail(cfg: &SandboxConfig, params: &Params, rid: &str) -> crate::reply::Reply {
    let Some(ids) = params.non_empty("product_ids") else {
        return missing("product_ids", rid);
    };
    let currency = params.non_empty("target_currency").unwrap_or("USD");
    let products: Vec<Value> = ids
        .split(',')
        .take(50)
        .filter_map(|id| Product::lookup(cfg, id.trim()))
        .map(|p| product_json(cfg, &p, currency))
        .collect();
    let n = products.len() as u64;
    resp("aliexpress.affiliate.productdetail.get", rid, products, 1, n)
}

/// `aliexpress.affiliate.product.query` / `hotproduct.query`: keyword search with paging, sort and filters.
pub fn product_query(cfg: &SandboxConfig, params: &Params, rid: &str, hot: bool) -> crate::reply::Reply {
    let method = if hot {
        "aliexpress.affiliate.hotproduct.query"
    } else {
        "aliexpress.affiliate.product.query"
    };
    let keyword = params
        .non_empty("keywords")
        .unwrap_or(if hot { "hot products" } else { "" });
    let profile = KeywordProfile::of(cfg.seed, keyword);
    let page = params
        .get("page_no")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1u64)
        .max(1);
    let size = params
        .get("page_size")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(20u64)
        .clamp(1, 50);
    let total = if hot {
        profile.similar_listings.min(1000)
    } else {
        profile.similar_listings.min(10_000)
    };
    let currency = params.non_empty("target_currency").unwrap_or("USD");
    let price = |k: &str| params.get(k).and_then(|v| v.trim().parse::<f64>().ok());
    let (min_p, max_p) = (price("min_sale_price"), price("max_sale_price"));
    let max_days = params.get("delivery_days").and_then(|v| v.trim().parse::<u64>().ok());
    let start = (page - 1) * size;
    let mut items: Vec<Product> = (start..(start + size).min(total))
        .filter_map(|i| {
            // Hot products: probe a few candidate ids per slot for a winner-like archetype.
            (0..8u64)
                .map(|k| item_id(cfg.seed, &profile.key, if hot { i * 8 + k + 1_000_000 } else { i }))
                .filter_map(|id| Product::lookup(cfg, &id))
                .find(|p| {
                    !hot || matches!(
                        p.archetype,
                        Archetype::Winner | Archetype::Promising | Archetype::Saturated
                    )
                })
        })
        .filter(|p| min_p.is_none_or(|m| p.min_offer_usd() >= m) && max_p.is_none_or(|m| p.min_offer_usd() <= m))
        .filter(|p| max_days.is_none_or(|d| p.shipping[0].max_days <= d))
        .collect();
    match params.get("sort").unwrap_or_default() {
        "SALE_PRICE_ASC" => items.sort_by(|a, b| a.min_offer_usd().total_cmp(&b.min_offer_usd())),
        "SALE_PRICE_DESC" => items.sort_by(|a, b| b.min_offer_usd().total_cmp(&a.min_offer_usd())),
        "LAST_VOLUME_ASC" => items.sort_by_key(|p| p.orders_30d),
        "LAST_VOLUME_DESC" => items.sort_by_key(|p| std::cmp::Reverse(p.orders_30d)),
        _ => {}
    }
    let products = items.iter().map(|p| product_json(cfg, p, currency)).collect();
    resp(method, rid, products, page, total)
}
