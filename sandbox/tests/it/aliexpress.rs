//! AliExpress gateway checks and envelopes.

use dropforge_sandbox::aliexpress::sign::{SignMethod, sign};
use dropforge_sandbox::{Limits, SandboxConfig};
use serde_json::Value;

use crate::helpers::{ae_call, ae_params, ae_post, now_ms, start};

fn err_code(v: &Value) -> &str {
    v["error_response"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn gateway_errors() {
    let base = start(SandboxConfig::for_tests()).await;
    let pid = [("product_id", "1005000000000001")];
    // Wrong signature.
    let mut p = ae_params("aliexpress.ds.product.get", &pid);
    p.last_mut().unwrap().1 = "0123456789ABCDEF0123456789ABCDEF".into();
    let v = ae_post(&base, &p).await;
    assert_eq!(err_code(&v), "IncompleteSignature", "{v}");
    assert_eq!(v["error_response"]["type"], "ISV");
    assert!(v["error_response"]["request_id"].is_string());
    // Unknown app key.
    let mut p = ae_params("aliexpress.ds.product.get", &pid);
    p[0].1 = "999999".into();
    assert_eq!(err_code(&ae_post(&base, &p).await), "InvalidAppKey");
    // ds method without a token.
    let mut p: Vec<(String, String)> = ae_params("aliexpress.ds.product.get", &pid);
    p.retain(|(k, _)| k != "access_token" && k != "sign");
    let s = sign(SignMethod::HmacSha256, "sandbox-secret-0001", None, &p);
    p.push(("sign".into(), s));
    assert_eq!(err_code(&ae_post(&base, &p).await), "IllegalAccessToken");
    // Stale timestamp.
    let mut p = ae_params("aliexpress.ds.product.get", &pid);
    p.retain(|(k, _)| k != "sign");
    p[2].1 = (chrono::Utc::now().timestamp_millis() - 3_600_000).to_string();
    let s = sign(SignMethod::HmacSha256, "sandbox-secret-0001", None, &p);
    p.push(("sign".into(), s));
    assert_eq!(err_code(&ae_post(&base, &p).await), "InvalidTimestamp");
    // Unknown method.
    assert_eq!(
        err_code(&ae_call(&base, "aliexpress.ds.nope", &[]).await),
        "InvalidApiPath"
    );
}

#[tokio::test]
async fn md5_get_with_query_and_gmt8_timestamp() {
    let base = start(SandboxConfig::for_tests()).await;
    let ts = (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let mut p: Vec<(String, String)> = [
        ("app_key", "500001"),
        ("method", "aliexpress.affiliate.productdetail.get"),
        ("timestamp", ts.as_str()),
        ("sign_method", "md5"),
        ("product_ids", "1005000000000001,1005000000000404,abc"),
        ("tracking_id", "df"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let s = sign(SignMethod::Md5, "sandbox-secret-0001", None, &p);
    p.push(("sign".into(), s));
    let v: Value = reqwest::Client::new()
        .get(format!("{base}/sync"))
        .query(&p)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rr = &v["aliexpress_affiliate_productdetail_get_response"]["resp_result"];
    assert_eq!(rr["resp_code"], 200, "{v}");
    let products = rr["result"]["products"]["product"].as_array().unwrap();
    assert_eq!(products.len(), 1);
    let p0 = &products[0];
    assert!(p0["lastest_volume"].as_u64().unwrap() >= 1000);
    assert!(
        p0["shop_id"].is_u64() && p0["shop_url"].is_string() && p0["evaluate_rate"].as_str().unwrap().ends_with('%')
    );
}

#[tokio::test]
async fn product_get_winner_envelope_and_not_found() {
    let base = start(SandboxConfig::for_tests()).await;
    let v = ae_call(
        &base,
        "aliexpress.ds.product.get",
        &[
            ("product_id", "1005000000000001"),
            ("ship_to_country", "US"),
            ("target_currency", "USD"),
        ],
    )
    .await;
    let r = &v["aliexpress_ds_product_get_response"];
    assert_eq!(r["rsp_code"], 200, "{v}");
    let res = &r["result"];
    let base_info = &res["ae_item_base_info_dto"];
    assert_eq!(base_info["product_id"], 1005000000000001u64);
    assert_eq!(base_info["currency_code"], "CNY");
    assert_eq!(base_info["product_status_type"], "onSelling");
    assert!(base_info["sales_count"].is_string() && base_info["evaluation_count"].is_string());
    let rating: f64 = base_info["avg_evaluation_rating"].as_str().unwrap().parse().unwrap();
    assert!(rating >= 4.7);
    assert!(base_info["gmt_create"].is_string());
    let skus = res["ae_item_sku_info_dtos"]["ae_item_sku_info_d_t_o"]
        .as_array()
        .unwrap();
    assert!(!skus.is_empty());
    assert_eq!(skus[0]["currency_code"], "USD");
    assert!(skus[0]["offer_sale_price"].is_string() && skus[0]["sku_available_stock"].is_u64());
    let stock: u64 = skus.iter().map(|s| s["sku_available_stock"].as_u64().unwrap()).sum();
    assert!(stock >= 2000);
    let store = &res["ae_store_info"];
    for k in [
        "item_as_described_rating",
        "communication_rating",
        "shipping_speed_rating",
    ] {
        let r: f64 = store[k].as_str().unwrap().parse().unwrap();
        assert!(r >= 4.7, "{k} {r}");
    }
    assert!(res["logistics_info_dto"]["delivery_time"].as_u64().unwrap() <= 10);
    assert!(res["package_info_dto"]["gross_weight"].is_string());
    assert!(
        res["ae_multimedia_info_dto"]["image_urls"]
            .as_str()
            .unwrap()
            .contains(';')
    );

    let v = ae_call(
        &base,
        "aliexpress.ds.product.get",
        &[("product_id", "1005000000000404"), ("ship_to_country", "US")],
    )
    .await;
    let r = &v["aliexpress_ds_product_get_response"];
    assert!(r.get("result").is_none(), "{v}");
    assert_eq!(r["rsp_code"], 404);
}

#[tokio::test]
async fn determinism_with_frozen_now() {
    let strip = |mut v: Value| {
        v["aliexpress_ds_product_get_response"]["request_id"] = Value::Null;
        v.to_string()
    };
    let a = start(SandboxConfig::for_tests()).await;
    let b = start(SandboxConfig::for_tests()).await;
    for id in ["1005000000000001", "1005006841234567", "3256805123456789"] {
        let extra = [
            ("product_id", id),
            ("ship_to_country", "DE"),
            ("target_currency", "EUR"),
        ];
        let x = strip(ae_call(&a, "aliexpress.ds.product.get", &extra).await);
        let y = strip(ae_call(&a, "aliexpress.ds.product.get", &extra).await);
        let z = strip(ae_call(&b, "aliexpress.ds.product.get", &extra).await);
        assert_eq!(x, y);
        assert_eq!(x, z);
    }
}

#[tokio::test]
async fn freight_and_text_search() {
    let base = start(SandboxConfig::for_tests()).await;
    let req = r#"{"quantity":1,"shipToCountry":"US","productId":"1005000000000001","selectedSkuId":"x","language":"en_US","locale":"en_US","currency":"USD"}"#;
    let v = ae_call(&base, "aliexpress.ds.freight.query", &[("queryDeliveryReq", req)]).await;
    let result = &v["aliexpress_ds_freight_query_response"]["result"];
    assert_eq!(result["success"], true, "{v}");
    let opts = result["delivery_options"]["delivery_option_d_t_o"].as_array().unwrap();
    let tracked = opts
        .iter()
        .filter(|o| o["tracking"] == true)
        .min_by_key(|o| o["shipping_fee_cent"].as_str().unwrap().parse::<u64>().unwrap());
    assert!(tracked.unwrap()["max_delivery_days"].as_u64().unwrap() <= 10);
    for k in [
        "code",
        "company",
        "estimated_delivery_time",
        "shipping_fee_currency",
        "shipping_fee_format",
        "ship_from_country",
    ] {
        assert!(opts[0][k].is_string(), "{k}");
    }

    let v = ae_call(
        &base,
        "aliexpress.ds.text.search",
        &[
            ("keyWord", "led strip lights"),
            ("pageSize", "5"),
            ("countryCode", "US"),
        ],
    )
    .await;
    let data = &v["aliexpress_ds_text_search_response"]["data"];
    assert!(data["totalCount"].as_u64().unwrap() >= 50_000, "{v}");
    let items = data["products"]["selection_search_product"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert!(items[0]["itemId"].is_string() && items[0]["targetSalePrice"].is_string());

    let v = ae_call(
        &base,
        "aliexpress.affiliate.product.query",
        &[
            ("keywords", "magnetic lamp"),
            ("sort", "LAST_VOLUME_DESC"),
            ("page_size", "10"),
        ],
    )
    .await;
    let rr = &v["aliexpress_affiliate_product_query_response"]["resp_result"];
    let products = rr["result"]["products"]["product"].as_array().unwrap();
    let vols: Vec<u64> = products.iter().map(|p| p["lastest_volume"].as_u64().unwrap()).collect();
    assert!(vols.windows(2).all(|w| w[0] >= w[1]));
    let v = ae_call(&base, "aliexpress.affiliate.hotproduct.query", &[("keywords", "lamp")]).await;
    assert_eq!(
        v["aliexpress_affiliate_hotproduct_query_response"]["resp_result"]["resp_code"], 200,
        "{v}"
    );
}

#[tokio::test]
async fn throttle_and_token_endpoints() {
    let cfg = SandboxConfig::for_tests().with_limits(Limits {
        ae_per_app_per_sec: 2,
        ..Limits::default()
    });
    let base = start(cfg).await;
    let mut codes = Vec::new();
    for _ in 0..6 {
        let v = ae_call(
            &base,
            "aliexpress.affiliate.productdetail.get",
            &[("product_ids", "1005000000000002")],
        )
        .await;
        codes.push(v["error_response"]["code"].as_str().unwrap_or("ok").to_string());
        if codes.last().is_some_and(|c| c == "ApiCallLimit") {
            assert_eq!(
                v["error_response"]["msg"],
                "Api access frequency exceeds the limit. this ban will last 1 seconds"
            );
        }
    }
    assert!(codes.iter().any(|c| c == "ApiCallLimit"), "{codes:?}");

    let base = start(SandboxConfig::for_tests()).await;
    let mut p: Vec<(String, String)> = vec![
        ("app_key".into(), "500001".into()),
        ("code".into(), "abc".into()),
        ("sign_method".into(), "sha256".into()),
        ("timestamp".into(), now_ms()),
    ];
    let s = sign(
        SignMethod::HmacSha256,
        "sandbox-secret-0001",
        Some("/auth/token/create"),
        &p,
    );
    p.push(("sign".into(), s));
    let v: Value = reqwest::Client::new()
        .post(format!("{base}/rest/auth/token/create"))
        .form(&p)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["access_token"], "sandbox-token", "{v}");
    assert_eq!(v["code"], "0");
}
