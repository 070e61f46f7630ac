//! `aliexpress.ds.*` business methods: product detail, freight quote and keyword search answers.
//!
//! Envelopes chosen where the public docs leave the shape open (docs/design/upstreams.md §7.7):
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

use chrono::Duration;
use serde_json::{Value, json};

use super::methods::{Ctx, built, built_with, missing};
use super::params::Params;
use crate::bodies::Built;
use crate::data::keyword::KeywordProfile;
use crate::data::product::{Product, fx};
use crate::data::{money, rating};
use crate::dates::{ae_time, month_day};
use crate::hashing::Gen;
use crate::jsonw::{Obj, object};
use crate::reply::Reply;
use crate::template::{Cut, Hole};

/// `aliexpress.ds.product.get`.
pub const PRODUCT_GET: &str = "aliexpress.ds.product.get";
/// `aliexpress.ds.freight.query`.
pub const FREIGHT_QUERY: &str = "aliexpress.ds.freight.query";
/// `aliexpress.ds.text.search`.
pub const TEXT_SEARCH: &str = "aliexpress.ds.text.search";

/// `gmt_modified` is always three days before now.
const MODIFIED_SECS_AGO: i64 = 3 * 86_400;

/// `mobile_detail`: a JSON document inside a string.
fn mobile_detail(title: &str) -> String {
    let mut doc = Vec::with_capacity(96 + title.len());
    object(&mut doc, |o| {
        o.arr("moduleList", |a| {
            a.obj(|o| {
                o.arr("texts", |a| {
                    a.obj(|o| {
                        o.str("content", title);
                    });
                })
                .str("type", "text");
            });
        })
        .str("version", "2.0.0");
    });
    String::from_utf8(doc).unwrap_or_default()
}

fn base_info(o: &mut Obj<'_>, p: &Product, gmt_create: &str, gmt_modified: &str) {
    let numeric_id = p.id.parse::<u64>().unwrap_or_default();
    let main_price_cny = money(p.min_offer_usd() * 7.2);
    o.str("avg_evaluation_rating", &rating(p.rating))
        .u64("category_id", p.category_id)
        .str("currency_code", "CNY")
        .strs(
            "detail",
            &["<p>", &p.title, "</p><p>Price from CNY ", &main_price_cny, "</p>"],
        )
        .num_str("evaluation_count", p.evaluation_count)
        .str("gmt_create", gmt_create)
        .str("gmt_modified", gmt_modified)
        .str("mobile_detail", &mobile_detail(&p.title))
        .u64("owner_member_seq_long", p.store_id + 7)
        .u64("product_id", numeric_id)
        .str(
            "product_status_type",
            if p.on_selling { "onSelling" } else { "offSelling" },
        )
        .num_str("sales_count", p.sales_count)
        .str("subject", &p.title);
}

fn properties(o: &mut Obj<'_>) {
    o.obj("ae_item_properties", |o| {
        o.arr("ae_item_property", |a| {
            a.obj(|o| {
                o.str("attr_name", "Brand Name")
                    .u64("attr_name_id", 2)
                    .str("attr_value", "NONE")
                    .u64("attr_value_id", 201512802);
            })
            .obj(|o| {
                o.str("attr_name", "Origin")
                    .u64("attr_name_id", 219)
                    .str("attr_value", "Mainland China")
                    .u64("attr_value_id", 9441741844);
            });
        });
    });
}

fn skus(o: &mut Obj<'_>, p: &Product, cur: &str, rate: f64) {
    let image = p.images.first().map_or("", String::as_str);
    o.obj("ae_item_sku_info_dtos", |o| {
        o.arr("ae_item_sku_info_d_t_o", |a| {
            for s in &p.skus {
                let attr = format!("14:{}#{}", s.color_value_id, s.color);
                a.obj(|o| {
                    o.obj("ae_sku_property_dtos", |o| {
                        o.arr("ae_sku_property_d_t_o", |a| {
                            a.obj(|o| {
                                o.str("property_value_definition_name", s.color)
                                    .u64("property_value_id", s.color_value_id)
                                    .str("sku_image", image)
                                    .u64("sku_property_id", 14)
                                    .str("sku_property_name", "Color")
                                    .str("sku_property_value", s.color);
                            });
                        });
                    })
                    .str("currency_code", cur)
                    .str("id", &attr)
                    .str("offer_bulk_sale_price", &money(s.offer_usd * rate * 0.97))
                    .str("offer_sale_price", &money(s.offer_usd * rate))
                    .bool("price_include_tax", false)
                    .str("sku_attr", &attr)
                    .u64("sku_available_stock", s.stock)
                    .str("sku_id", &s.sku_id)
                    .str("sku_price", &money(s.price_usd * rate))
                    .bool("sku_stock", s.stock > 0);
                });
            }
        });
    });
}

/// `ds.product.get`: one product in the target currency; `gmt_create` / `gmt_modified` follow the clock.
pub fn product_get(ctx: &Ctx<'_>) -> Result<Built, Reply> {
    let (st, params) = (ctx.st, ctx.params);
    let Some(id) = params.non_empty("product_id") else {
        return Err(missing("product_id", ctx.rid));
    };
    let Some(p) = st.store.product(&st.cfg, id.trim()) else {
        let body = json!({"rsp_code": 404, "rsp_msg": "Product not found", "request_id": ctx.rid});
        return built(ctx, PRODUCT_GET, &body, "not_found");
    };
    let country = params.non_empty("ship_to_country").unwrap_or("US").to_ascii_uppercase();
    let (cur, rate) = fx(params.non_empty("target_currency").unwrap_or("USD"));
    let image = p.images.first().map_or("", String::as_str);
    let gmt_create = ae_time(p.gmt_create(ctx.now));
    let gmt_modified = ae_time(ctx.now - Duration::seconds(MODIFIED_SECS_AGO));
    let cuts = vec![
        Cut {
            key: "gmt_create",
            value: gmt_create.clone(),
            hole: Hole::AeTimeAgo(p.created_secs_ago),
        },
        Cut {
            key: "gmt_modified",
            value: gmt_modified.clone(),
            hole: Hole::AeTimeAgo(MODIFIED_SECS_AGO),
        },
    ];
    let capacity = 2048 + 640 * p.skus.len();
    built_with(ctx, PRODUCT_GET, capacity, "ok", cuts, |o| {
        o.str("request_id", ctx.rid)
            .obj("result", |o| {
                o.obj("ae_item_base_info_dto", |o| {
                    base_info(o, &p, &gmt_create, &gmt_modified)
                });
                properties(o);
                skus(o, &p, cur, rate);
                o.obj("ae_multimedia_info_dto", |o| {
                    o.obj("ae_video_dtos", |o| {
                        o.arr("ae_video_d_t_o", |a| {
                            a.obj(|o| {
                                o.u64("media_id", p.id.parse::<u64>().unwrap_or_default() % 1_000_000_000_000)
                                    .str("media_status", "approved")
                                    .str("media_type", "video")
                                    .str("poster_url", image);
                            });
                        });
                    })
                    .str("image_urls", &p.images.join(";"));
                })
                .obj("ae_store_info", |o| {
                    o.str("communication_rating", &rating(p.store_ratings[1]))
                        .str("item_as_described_rating", &rating(p.store_ratings[0]))
                        .str("shipping_speed_rating", &rating(p.store_ratings[2]))
                        .str("store_country_code", "CN")
                        .u64("store_id", p.store_id)
                        .str("store_name", &p.store_name);
                })
                .obj("logistics_info_dto", |o| {
                    o.u64("delivery_time", p.shipping[0].max_days)
                        .str("ship_to_country", &country);
                })
                .obj("package_info_dto", |o| {
                    o.u64("base_unit", 1)
                        .str("gross_weight", &format!("{:.3}", p.gross_weight_kg))
                        .u64("package_height", p.package_cm[2])
                        .u64("package_length", p.package_cm[0])
                        .bool("package_type", false)
                        .u64("package_width", p.package_cm[1])
                        .u64("product_unit", 100000015);
                });
            })
            .u64("rsp_code", 200)
            .str("rsp_msg", "Call succeeds");
    })
}

/// `ds.freight.query`: the three delivery options of a product for a quantity and currency.
pub fn freight_query(ctx: &Ctx<'_>) -> Result<Built, Reply> {
    const M: &str = FREIGHT_QUERY;
    let st = ctx.st;
    let Some(raw) = ctx.params.non_empty("queryDeliveryReq") else {
        return Err(missing("queryDeliveryReq", ctx.rid));
    };
    let req: Value = match serde_json::from_str(raw) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) | Err(_) => {
            let result =
                json!({"success": false, "code": 400, "msg": "Invalid queryDeliveryReq: expected a JSON object"});
            return built(ctx, M, &json!({"result": result, "request_id": ctx.rid}), "bad_request");
        }
    };
    let text = |k: &str| match &req[k] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let Some(p) = st.store.product(&st.cfg, text("productId").trim()) else {
        let result = json!({"success": false, "code": 404, "msg": "Product not found"});
        return built(ctx, M, &json!({"result": result, "request_id": ctx.rid}), "not_found");
    };
    let quantity = req["quantity"]
        .as_u64()
        .or_else(|| text("quantity").parse().ok())
        .unwrap_or(1)
        .max(1);
    let (cur, rate) = fx(&text("currency"));
    let now = ctx.now;
    let symbol = match cur {
        "EUR" => "€",
        "GBP" => "£",
        "CNY" => "CN¥",
        _ => "$",
    };
    let date = |d: u64| month_day((now + Duration::days(d as i64)).date_naive());
    built_with(ctx, M, 1280, "ok", Vec::new(), |o| {
        o.str("request_id", ctx.rid).obj("result", |o| {
            o.u64("code", 200)
                .obj("delivery_options", |o| {
                    o.arr("delivery_option_d_t_o", |a| {
                        for s in &p.shipping {
                            let fee = s.fee_usd * (1.0 + 0.5 * (quantity - 1) as f64) * rate;
                            let cents = (fee * 100.0).round() as u64;
                            let fee_text = if cents == 0 {
                                "Free shipping".to_string()
                            } else {
                                format!("{symbol}{}", money(cents as f64 / 100.0))
                            };
                            a.obj(|o| {
                                o.str("code", s.code)
                                    .str("company", s.company)
                                    .strs("delivery_date_desc", &[&date(s.min_days), " - ", &date(s.max_days)])
                                    .display("estimated_delivery_time", format_args!("{}-{}", s.min_days, s.max_days))
                                    .bool("free_shipping", cents == 0)
                                    .u64("max_delivery_days", s.max_days)
                                    .bool("mayHavePFS", false)
                                    .u64("min_delivery_days", s.min_days)
                                    .str("ship_from_country", "CN")
                                    .num_str("shipping_fee_cent", cents)
                                    .str("shipping_fee_currency", cur)
                                    .str("shipping_fee_format", &fee_text)
                                    .bool("tracking", s.tracking);
                            });
                        }
                    });
                })
                .str("msg", "Call succeeds")
                .bool("success", true);
        });
    })
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

fn page_args(params: &Params<'_>, index: &str, size: &str, default_size: u64) -> (u64, u64) {
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

fn search_product(o: &mut Obj<'_>, p: &Product, rate: f64) {
    let offer = p.min_offer_usd();
    let original = p.skus.first().map_or(offer, |s| s.price_usd);
    let discount = ((1.0 - offer / original.max(0.01)) * 100.0).round().max(0.0);
    o.num_str("cateId", p.category_id)
        .display("discount", format_args!("{discount}%"))
        .display("evaluateRate", format_args!("{:.1}%", p.positive_rate))
        .str("itemId", &p.id)
        .str("itemMainPic", p.images.first().map_or("", String::as_str))
        .strs("itemUrl", &["//www.aliexpress.com/item/", &p.id, ".html"])
        .num_str("orders", p.sales_count)
        .str("originalPrice", &money(original * rate))
        .str("salePrice", &money(offer * rate))
        .str("score", &rating(p.rating))
        .str("targetOriginalPrice", &money(original * rate))
        .str("targetSalePrice", &money(offer * rate))
        .str("title", &p.title);
}

/// `ds.text.search`: one page of keyword hits and the keyword's listing count.
pub fn text_search(ctx: &Ctx<'_>) -> Result<Built, Reply> {
    const M: &str = TEXT_SEARCH;
    let (st, params) = (ctx.st, ctx.params);
    let Some(keyword) = params.non_empty("keyWord") else {
        let body =
            json!({"code": "EXCEPTION_TEXT_SEARCH_FOR_DS", "msg": "keyWord must not be empty", "request_id": ctx.rid});
        return built(ctx, M, &body, "bad_request");
    };
    let seed = st.cfg.seed;
    let profile = KeywordProfile::of(seed, keyword);
    let (page, size) = page_args(params, "pageIndex", "pageSize", 20);
    let (_, rate) = fx(params.non_empty("currency").unwrap_or("USD"));
    let start = (page - 1) * size;
    let end = (start + size).min(profile.similar_listings);
    let products: Vec<_> = (start..end)
        .filter_map(|i| st.store.product(&st.cfg, &item_id(seed, &profile.key, i)))
        .collect();
    built_with(ctx, M, 256 + 1024 * products.len(), "ok", Vec::new(), |o| {
        o.str("code", "00")
            .obj("data", |o| {
                o.u64("pageIndex", page)
                    .u64("pageSize", size)
                    .obj("products", |o| {
                        o.arr("selection_search_product", |a| {
                            for p in &products {
                                a.obj(|o| search_product(o, p, rate));
                            }
                        });
                    })
                    .u64("totalCount", profile.similar_listings);
            })
            .str("msg", "Call succeeds")
            .str("request_id", ctx.rid);
    })
}
