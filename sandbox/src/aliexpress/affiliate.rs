//! `aliexpress.affiliate.*` methods: product detail (30-day `lastest_volume`) and keyword / hot product queries.
//!
//! Results are wrapped in `resp_result` with a numeric `resp_code` (200 on success). When no product matches,
//! `resp_result` is `{"resp_code":405,"resp_msg":"The result is empty"}` (no `result`).
//! Sorting (`sort`) and price / delivery filters apply within the requested page.

use serde_json::json;

use super::ds::item_id;
use super::methods::{Ctx, built, built_with, missing};
use crate::bodies::Built;
use crate::config::SandboxConfig;
use crate::data::keyword::KeywordProfile;
use crate::data::product::{Product, fx};
use crate::data::{Archetype, money};
use crate::jsonw::Obj;
use crate::reply::Reply;

/// One product of an affiliate answer (members in byte order of their names).
fn product_json(o: &mut Obj<'_>, cfg: &SandboxConfig, p: &Product, currency: &str) {
    let (cur, rate) = fx(currency);
    let offer = p.min_offer_usd();
    let original = p.skus.first().map_or(offer, |s| s.price_usd);
    let tracking = cfg.credentials.ae_apps.first().map_or("df", |a| a.tracking_id.as_str());
    let discount = ((1.0 - offer / original.max(0.01)) * 100.0).round().max(0.0);
    let (offer_usd, original_usd) = (money(offer), money(original));
    let store_id = p.store_id.to_string();
    o.str("app_sale_price", &offer_usd)
        .str("app_sale_price_currency", "USD")
        .display("commission_rate", format_args!("{:.1}%", p.commission_rate))
        .display("discount", format_args!("{discount}%"))
        .display("evaluate_rate", format_args!("{:.1}%", p.positive_rate))
        .u64("first_level_category_id", p.first_level_category_id)
        .str("hot_product_commission_rate", "0.0%")
        .u64("lastest_volume", p.orders_30d)
        .str("original_price", &original_usd)
        .str("original_price_currency", "USD")
        .strs(
            "product_detail_url",
            &["https://www.aliexpress.com/item/", &p.id, ".html"],
        )
        .u64("product_id", p.id.parse::<u64>().unwrap_or_default())
        .str("product_main_image_url", p.images.first().map_or("", String::as_str))
        .obj("product_small_image_urls", |o| {
            o.arr("string", |a| {
                for i in &p.images {
                    a.str(i);
                }
            });
        })
        .str("product_title", &p.title)
        .str("product_video_url", &p.video_url)
        .strs(
            "promotion_link",
            &[
                "https://s.click.aliexpress.com/e/_sbx",
                &p.id[p.id.len().saturating_sub(8)..],
                "?aff_fcid=",
                tracking,
            ],
        )
        .str("sale_price", &offer_usd)
        .str("sale_price_currency", "USD")
        .u64("second_level_category_id", p.category_id)
        .num_str("ship_to_days", p.shipping[0].max_days)
        .u64("shop_id", p.store_id)
        .strs("shop_url", &["https://www.aliexpress.com/store/", &store_id])
        .str("target_app_sale_price", &money(offer * rate))
        .str("target_app_sale_price_currency", cur)
        .str("target_original_price", &money(original * rate))
        .str("target_original_price_currency", cur)
        .str("target_sale_price", &money(offer * rate))
        .str("target_sale_price_currency", cur);
}

fn resp(
    ctx: &Ctx<'_>,
    method: &str,
    products: &[&Product],
    currency: &str,
    page: u64,
    total: u64,
) -> Result<Built, Reply> {
    if products.is_empty() {
        let body = json!({"resp_result": {"resp_code": 405, "resp_msg": "The result is empty"}, "request_id": ctx.rid});
        return built(ctx, method, &body, "not_found");
    }
    let cfg = &ctx.st.cfg;
    let n = products.len() as u64;
    built_with(ctx, method, 256 + 1800 * products.len(), "ok", Vec::new(), |o| {
        o.str("request_id", ctx.rid).obj("resp_result", |o| {
            o.u64("resp_code", 200)
                .str("resp_msg", "Call succeeds")
                .obj("result", |o| {
                    o.u64("current_page_no", page)
                        .u64("current_record_count", n)
                        .obj("products", |o| {
                            o.arr("product", |a| {
                                for p in products {
                                    a.obj(|o| product_json(o, cfg, p, currency));
                                }
                            });
                        })
                        .u64("total_page_no", total.div_ceil(n.max(1)))
                        .u64("total_record_count", total);
                });
        });
    })
}

/// `aliexpress.affiliate.productdetail.get`: `product_ids` comma list (unknown ids are left out).
pub fn product_detail(ctx: &Ctx<'_>) -> Result<Built, Reply> {
    let (st, params) = (ctx.st, ctx.params);
    let Some(ids) = params.non_empty("product_ids") else {
        return Err(missing("product_ids", ctx.rid));
    };
    let currency = params.non_empty("target_currency").unwrap_or("USD");
    let found: Vec<_> = ids
        .split(',')
        .take(50)
        .filter_map(|id| st.store.product(&st.cfg, id.trim()))
        .collect();
    let products: Vec<&Product> = found.iter().map(|p| &**p).collect();
    let n = products.len() as u64;
    resp(ctx, "aliexpress.affiliate.productdetail.get", &products, currency, 1, n)
}

/// `aliexpress.affiliate.product.query` / `hotproduct.query`: keyword search with paging, sort and filters.
pub fn product_query(ctx: &Ctx<'_>, hot: bool) -> Result<Built, Reply> {
    let (st, params) = (ctx.st, ctx.params);
    let cfg = &st.cfg;
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
    let mut items: Vec<_> = (start..(start + size).min(total))
        .filter_map(|i| {
            // Hot products: probe a few candidate ids per slot for a winner-like archetype.
            (0..8u64)
                .map(|k| item_id(cfg.seed, &profile.key, if hot { i * 8 + k + 1_000_000 } else { i }))
                .filter_map(|id| st.store.product(cfg, &id))
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
    let products: Vec<&Product> = items.iter().map(|p| &**p).collect();
    resp(ctx, method, &products, currency, page, total)
}
