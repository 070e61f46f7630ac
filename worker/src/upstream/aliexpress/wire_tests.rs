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
