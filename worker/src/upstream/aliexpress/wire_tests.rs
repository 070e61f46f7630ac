//! Parsing tests over captured-shape AliExpress bodies (docs/design/upstreams.md §1.5, §1.6).

use super::*;
use serde_json::json;
use std::time::Duration;

fn captured_product(sku_list: Value) -> Value {
    json!({"aliexpress_ds_product_get_response": {
        "result": {
            "ae_item_base_info_dto": {"product_id": 1005010669652047u64, "subject": "Magnetic Phone Holder for Car",
                "category_id": 200004063, "product_status_type": "onSelling", "currency_code": "CNY",
                "sales_count": "35", "evaluation_count": "10", "avg_evaluation_rating": "4.9",
                "gmt_create": "2024-12-01 08:00:00", "detail": "<p>…</p>", "mobile_detail": "{…}"},
            "ae_item_sku_info_dtos": {"ae_item_sku_info_d_t_o": sku_list},
            "ae_store_info": {"store_id": 1105230412, "store_name": "Shop", "store_country_code": "CN",
                "item_as_described_rating": "4.7", "communication_rating": "4.7", "shipping_speed_rating": "4.8"},
            "logistics_info_dto": {"delivery_time": 7, "ship_to_country": "IL"},
            "package_info_dto": {"package_length": 26, "gross_weight": "0.469"},
            "ae_multimedia_info_dto": {"image_urls": "https://a/1.jpg;https://a/2.jpg"}
        },
        "rsp_code": 200, "rsp_msg": "Call succeeds", "request_id": "0bb4a9a5"}})
}

#[test]
fn product_with_numbers_as_strings_and_numeric_rsp_code() {
    let skus = json!([
        {"sku_id": "12000053138885208", "sku_price": "29.05", "offer_sale_price": "14.24", "currency_code": "USD",
         "sku_available_stock": 9, "sku_attr": ""},
        {"sku_id": "12000053138885209", "sku_price": "19.05", "offer_sale_price": "9.99", "currency_code": "USD",
         "sku_available_stock": "0"}
    ]);
    let body = captured_product(skus);
    let env = envelope(&body, "aliexpress.ds.product.get").expect("envelope");
    let p = parse_product(env, "1005010669652047").expect("product");
    assert_eq!(p.product_id, "1005010669652047");
    assert_eq!(p.status.as_deref(), Some("onSelling"));
    assert_eq!(p.sales_count, Some(35));
    assert_eq!(p.evaluation_count, Some(10));
    assert_eq!(p.avg_rating, Some(4.9));
    assert_eq!(p.skus.len(), 2);
    assert_eq!(p.skus[0].price, Some(14.24));
    assert_eq!(p.skus[1].stock, Some(0));
    assert_eq!(p.sku_currency.as_deref(), Some("USD"));
    assert_eq!(p.store.ratings, Some([4.7, 4.7, 4.8]));
    assert_eq!(p.store.id.as_deref(), Some("1105230412"));
    assert_eq!(p.delivery_time, Some(7.0));
    assert_eq!(p.image_urls, vec!["https://a/1.jpg", "https://a/2.jpg"]);
    assert!(p.gmt_create.is_some());
}

#[test]
fn product_single_sku_object_and_string_rsp_code() {
    let mut body = captured_product(json!({"sku_id": "1", "offer_sale_price": "3.50", "sku_available_stock": "12"}));
    body["aliexpress_ds_product_get_response"]["rsp_code"] = json!("200");
    let env = envelope(&body, "aliexpress.ds.product.get").expect("envelope");
    let p = parse_product(env, "1").expect("product");
    assert_eq!(
        p.skus,
        vec![Sku {
            sku_id: Some("1".into()),
            price: Some(3.5),
            stock: Some(12)
        }]
    );
}

#[test]
fn product_without_result_is_not_found() {
    let body = json!({"aliexpress_ds_product_get_response": {"rsp_code": "405", "rsp_msg": "product not exist", "request_id": "x"}});
    let env = envelope(&body, "aliexpress.ds.product.get").expect("envelope");
    assert!(matches!(
        parse_product(env, "1005000000000404"),
        Err(UpstreamError::NotFound { .. })
    ));
}

#[test]
fn error_responses_are_classified() {
    let limit = json!({"error_response": {"type": "ISV", "code": "ApiCallLimit",
        "msg": "Api access frequency exceeds the limit. this ban will last 1 seconds", "request_id": "1"}});
    match envelope(&limit, "aliexpress.ds.product.get") {
        Err(UpstreamError::Throttled { retry_after, code, .. }) => {
            assert_eq!(retry_after, Duration::from_secs(1));
            assert_eq!(code, "ApiCallLimit");
        }
        other => panic!("expected throttle, got {other:?}"),
    }
    let sig = json!({"error_response": {"type": "ISV", "code": "IncompleteSignature",
        "msg": "The request signature does not conform to platform standards", "request_id": "2"}});
    let err = envelope(&sig, "aliexpress.ds.product.get").expect_err("auth");
    assert!(matches!(err, UpstreamError::Auth { .. }));
    assert!(!err.is_retryable());
    assert_eq!(err.outcome(), "auth");
    for code in ["InvalidAppKey", "IllegalAccessToken"] {
        let body = json!({"error_response": {"type": "ISV", "code": code, "msg": "x"}});
        assert!(
            matches!(envelope(&body, "m"), Err(UpstreamError::Auth { .. })),
            "{code}"
        );
    }
    let isp = json!({"error_response": {"type": "ISP", "code": "isp.service-unavailable", "msg": "x"}});
    assert!(envelope(&isp, "m").expect_err("isp").is_retryable());
    let other = json!({"error_response": {"type": "ISV", "code": "InvalidApiPath", "msg": "x"}});
    assert_eq!(envelope(&other, "m").expect_err("invalid").outcome(), "client_error");
}

#[test]
fn freight_plain_array_and_wrapped_and_single() {
    let options = json!([
        {"code": "CAINIAO_STANDARD", "company": "AliExpress Standard", "min_delivery_days": 7, "max_delivery_days": "12",
         "shipping_fee_cent": "190", "shipping_fee_format": "$1.90", "shipping_fee_currency": "USD",
         "free_shipping": false, "tracking": true},
        {"code": "CAINIAO_SUPER_ECONOMY", "company": "Super Economy", "max_delivery_days": 30,
         "shipping_fee_cent": "0", "free_shipping": "true", "tracking": false},
        {"code": "EMS", "company": "EMS", "max_delivery_days": 6, "shipping_fee_cent": "1250", "tracking": "true"}
    ]);
    let plain = json!({"result": {"success": true, "delivery_options": options}});
    let parsed = parse_freight(&plain).expect("plain");
    assert_eq!(parsed.len(), 3);
    let best = cheapest_tracked(&parsed).expect("tracked");
    assert_eq!(best.code.as_deref(), Some("CAINIAO_STANDARD"));
    assert_eq!(best.fee, Some(1.9));
    assert_eq!(best.max_days, Some(12.0));
    assert_eq!(parsed[2].fee, Some(12.5));

    let wrapped = json!({"result": {"delivery_options": {"delivery_option": options}}});
    assert_eq!(parse_freight(&wrapped).expect("wrapped").len(), 3);
    let aeop = json!({"result": {"aeop_delivery_options": {"aeop_delivery_option_d_t_o": options[0].clone()}}});
    assert_eq!(parse_freight(&aeop).expect("aeop").len(), 1);
    let failed = json!({"result": {"success": false, "code": "NO_ROUTE", "msg": "no route"}});
    assert!(matches!(parse_freight(&failed), Err(UpstreamError::Invalid { .. })));
}

#[test]
fn text_search_total_count() {
    let body = json!({"aliexpress_ds_text_search_response": {"code": "00", "msg": "success", "data":
        {"totalCount": "812", "pageIndex": 1, "pageSize": 20, "products": {"selection_search_product":
            {"itemId": "1", "title": "t", "targetSalePrice": "1.00"}}}}});
    let env = envelope(&body, "aliexpress.ds.text.search").expect("env");
    assert_eq!(parse_text_search(env), Ok(812));
    let bad = json!({"code": "EXCEPTION_TEXT_SEARCH_FOR_DS", "msg": "boom"});
    assert!(matches!(parse_text_search(&bad), Err(UpstreamError::Invalid { .. })));
}

#[test]
fn affiliate_detail_single_product_object() {
    let body = json!({"aliexpress_affiliate_productdetail_get_response": {
        "resp_result": {"resp_code": "200", "resp_msg": "ok", "result": {"current_record_count": 1,
            "products": {"product": {"product_id": 1005000000000001u64, "lastest_volume": "1234",
                "evaluate_rate": "97.5%", "shop_id": 123, "shop_url": "https://s"}}}},
        "request_id": "r"}});
    let env = envelope(&body, "aliexpress.affiliate.productdetail.get").expect("env");
    let d = parse_affiliate(env, "1005000000000001").expect("detail");
    assert_eq!(d.lastest_volume, Some(1234));
    assert_eq!(d.evaluate_rate, Some(97.5));
    assert_eq!(d.shop_id.as_deref(), Some("123"));
    let failed = json!({"resp_result": {"resp_code": 405, "resp_msg": "no"}});
    assert!(parse_affiliate(&failed, "1").is_err());
}

#[test]
fn money_display_strings() {
    assert_eq!(money_from_display("US $1,234.50"), Some(1234.5));
    assert_eq!(money_from_display("1,49 €"), Some(1.49));
    assert_eq!(money_from_display("Free"), None);
}

/// Parses `body` as the client does (without the method's unread members) and in full; both must
/// give the same answer, error or not.
fn same_either_way<T: std::fmt::Debug>(
    body: &Value,
    method: &str,
    unread: &'static [&'static str],
    parse: impl Fn(&Value) -> Result<T, UpstreamError>,
) -> String {
    let bytes = serde_json::to_vec(body).expect("body");
    let full: Value = serde_json::from_slice(&bytes).expect("full");
    let pruned = crate::upstream::json::from_slice_without(&bytes, unread).expect("pruned");
    assert!(
        serde_json::to_vec(&pruned).expect("pruned bytes").len() <= bytes.len(),
        "pruning never adds"
    );
    let answer = |v: &Value| format!("{:?}", envelope(v, method).and_then(&parse));
    let (want, got) = (answer(&full), answer(&pruned));
    assert_eq!(got, want, "{method}: the unread members changed the answer");
    want
}

#[test]
fn leaving_out_unread_members_changes_no_answer() {
    // The shape the sandbox (and the gateway) sends, with every member the parsers skip.
    let sku = |id: &str, price: &str, stock: Value| {
        json!({"ae_sku_property_dtos": {"ae_sku_property_d_t_o": [{"property_value_definition_name": "Black",
                "property_value_id": 193, "sku_image": "https://a/s.jpg", "sku_property_id": 14,
                "sku_property_name": "Color", "sku_property_value": "Black"}]},
            "currency_code": "USD", "id": "14:193#Black", "offer_bulk_sale_price": "7.07",
            "offer_sale_price": price, "price_include_tax": false, "sku_attr": "14:193#Black",
            "sku_available_stock": stock, "sku_id": id, "sku_price": "13.91", "sku_stock": true})
    };
    let product = json!({"aliexpress_ds_product_get_response": {"request_id": "2166", "result": {
        "ae_item_base_info_dto": {"avg_evaluation_rating": "4.7", "category_id": 200003655, "currency_code": "CNY",
            "detail": "<p>Holder</p>", "evaluation_count": "1955", "gmt_create": "2025-11-21 12:55:49",
            "gmt_modified": "2026-12-02 19:23:08", "mobile_detail": "{\"moduleList\":[]}",
            "owner_member_seq_long": 1160975289u64, "product_id": 1005866711000047u64,
            "product_status_type": "onSelling", "sales_count": "9481", "subject": "Cordless Blender Holder"},
        "ae_item_properties": {"ae_item_property": [{"attr_name": "Brand Name", "attr_name_id": 2,
            "attr_value": "NONE", "attr_value_id": 201512802u64}]},
        "ae_item_sku_info_dtos": {"ae_item_sku_info_d_t_o": [sku("12000000047178631", "7.29", json!(3239)),
            sku("12000000047178632", "6.10", json!("0"))]},
        "ae_multimedia_info_dto": {"ae_video_dtos": {"ae_video_d_t_o": [{"media_id": 866711000047u64,
            "media_status": "approved", "media_type": "video", "poster_url": "https://a/p.jpg"}]},
            "image_urls": "https://a/1.jpg;https://a/2.jpg"},
        "ae_store_info": {"communication_rating": "4.8", "item_as_described_rating": "4.9",
            "shipping_speed_rating": "4.8", "store_country_code": "CN", "store_id": 1160975282u64,
            "store_name": "Nova Finds Store"},
        "logistics_info_dto": {"delivery_time": 7, "ship_to_country": "US"},
        "package_info_dto": {"base_unit": 1, "gross_weight": "1.276", "package_height": 6}},
        "rsp_code": 200, "rsp_msg": "Call succeeds"}});
    let got = same_either_way(&product, "aliexpress.ds.product.get", PRODUCT_UNREAD, |env| {
        parse_product(env, "1005866711000047")
    });
    assert!(got.contains("Cordless Blender Holder") && got.contains("7.29"), "{got}");
    // One SKU as a bare object instead of a list, and a product that does not exist.
    let mut single = product.clone();
    single["aliexpress_ds_product_get_response"]["result"]["ae_item_sku_info_dtos"]["ae_item_sku_info_d_t_o"] =
        sku("1", "3.50", json!("12"));
    same_either_way(&single, "aliexpress.ds.product.get", PRODUCT_UNREAD, |env| {
        parse_product(env, "1005866711000047")
    });
    let missing = json!({"aliexpress_ds_product_get_response": {"rsp_code": "405", "rsp_msg": "product not exist",
        "request_id": "x"}});
    same_either_way(&missing, "aliexpress.ds.product.get", PRODUCT_UNREAD, |env| {
        parse_product(env, "1")
    });

    let option = |code: &str, fee: &str, tracking: bool| {
        json!({"code": code, "company": "Carrier", "delivery_date_desc": "Dec 09 - Dec 12",
            "estimated_delivery_time": "4-7", "free_shipping": false, "max_delivery_days": 7, "mayHavePFS": false,
            "min_delivery_days": 4, "ship_from_country": "CN", "shipping_fee_cent": fee,
            "shipping_fee_currency": "USD", "shipping_fee_format": "$1.68", "tracking": tracking})
    };
    let freight = json!({"aliexpress_ds_freight_query_response": {"request_id": "2118", "result": {"code": 200,
        "delivery_options": {"delivery_option_d_t_o": [option("CAINIAO_STANDARD", "168", true),
            option("CAINIAO_SUPER_ECONOMY", "84", false)]}, "success": true}}});
    let got = same_either_way(&freight, "aliexpress.ds.freight.query", FREIGHT_UNREAD, parse_freight);
    assert!(got.contains("CAINIAO_STANDARD"), "{got}");
    let lone = json!({"aliexpress_ds_freight_query_response": {"result": {"aeop_delivery_options":
        {"aeop_delivery_option_d_t_o": option("EMS", "1250", true)}}}});
    same_either_way(&lone, "aliexpress.ds.freight.query", FREIGHT_UNREAD, parse_freight);
    let failed = json!({"aliexpress_ds_freight_query_response": {"result": {"success": false, "code": "NO_ROUTE",
        "msg": "no route"}, "request_id": "x"}});
    same_either_way(&failed, "aliexpress.ds.freight.query", FREIGHT_UNREAD, parse_freight);

    let item = json!({"app_sale_price": "7.29", "app_sale_price_currency": "USD",
        "commission_rate": "8.7%", "discount": "48%", "evaluate_rate": "98.2%", "first_level_category_id": 1501,
        "hot_product_commission_rate": "0.0%", "lastest_volume": 1629, "original_price": "13.91",
        "original_price_currency": "USD", "product_detail_url": "https://a/item.html",
        "product_id": 1005866711000047u64, "product_main_image_url": "https://a/1.jpg",
        "product_small_image_urls": {"string": ["https://a/1.jpg", "https://a/2.jpg"]},
        "product_title": "Cordless Blender Holder", "product_video_url": "https://v/1.mp4",
        "promotion_link": "https://s/e", "sale_price": "7.29", "sale_price_currency": "USD",
        "second_level_category_id": 200003655, "ship_to_days": "7", "shop_id": 1160975282u64,
        "shop_url": "https://a/store/1160975282", "target_app_sale_price": "7.29",
        "target_app_sale_price_currency": "USD", "target_original_price": "13.91",
        "target_original_price_currency": "USD", "target_sale_price": "7.29",
        "target_sale_price_currency": "USD"});
    let affiliate = json!({"aliexpress_affiliate_productdetail_get_response": {"request_id": "21cb", "resp_result": {
        "resp_code": 200, "resp_msg": "Call succeeds", "result": {"current_page_no": 1, "current_record_count": 1,
        "products": {"product": [item]}, "total_page_no": 1, "total_record_count": 1}}}});
    let got = same_either_way(
        &affiliate,
        "aliexpress.affiliate.productdetail.get",
        AFFILIATE_UNREAD,
        |env| parse_affiliate(env, "1005866711000047"),
    );
    assert!(got.contains("1629") && got.contains("1160975282"), "{got}");

    // Error answers are classified the same way whatever a method leaves out.
    let limit = json!({"error_response": {"type": "ISV", "code": "ApiCallLimit", "request_id": "1",
        "msg": "Api access frequency exceeds the limit. this ban will last 1 seconds", "sub_msg": "ban"}});
    for (method, unread) in [
        ("aliexpress.ds.product.get", PRODUCT_UNREAD),
        ("aliexpress.ds.freight.query", FREIGHT_UNREAD),
        ("aliexpress.affiliate.productdetail.get", AFFILIATE_UNREAD),
    ] {
        same_either_way(&limit, method, unread, |env| Ok(env.clone()));
    }
}
