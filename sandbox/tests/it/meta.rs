//! Meta Ad Library: paging, token check, countries, DSA scope, usage header and throttling.

use std::collections::HashSet;

use dropforge_sandbox::{Limits, SandboxConfig};

use crate::helpers::{get_json, start};

fn url(base: &str, query: &str) -> String {
    format!("{base}/v21.0/ads_archive?access_token=sandbox-meta-token&{query}")
}

#[tokio::test]
async fn paging_follows_next_until_absent() {
    let base = start(SandboxConfig::for_tests()).await;
    let mut next = Some(url(
        &base,
        "ad_reached_countries=['IE']&search_terms=led%20strip%20lights&ad_type=ALL&ad_active_status=ACTIVE&limit=100&fields=page_id,ad_delivery_start_time",
    ));
    let (mut pages, mut ids, mut advertisers) = (0, HashSet::new(), HashSet::new());
    while let Some(u) = next.take() {
        assert!(u.starts_with(&base), "{u}");
        let (status, headers, v) = get_json(&u).await;
        assert_eq!(status, 200, "{v}");
        assert!(headers.get("x-app-usage").is_some());
        pages += 1;
        for ad in v["data"].as_array().unwrap() {
            let keys: HashSet<&str> = ad.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, HashSet::from(["id", "page_id", "ad_delivery_start_time"]));
            ids.insert(ad["id"].as_str().unwrap().to_string());
            advertisers.insert(ad["page_id"].as_str().unwrap().to_string());
        }
        next = v["paging"]["next"].as_str().map(str::to_string);
        assert!(pages < 20);
    }
    assert!(pages >= 2, "pages {pages}");
    assert!(advertisers.len() >= 80, "advertisers {}", advertisers.len());
    assert!(ids.len() >= 250);
}

#[tokio::test]
async fn errors_and_scope() {
    let base = start(SandboxConfig::for_tests()).await;
    let (status, headers, v) = get_json(&format!(
        "{base}/v21.0/ads_archive?access_token=bad&ad_reached_countries=IE&search_terms=x"
    ))
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], 190);
    assert_eq!(v["error"]["type"], "OAuthException");
    assert!(headers.get("x-app-usage").is_some());

    let (status, _, v) = get_json(&url(&base, "search_terms=lamp")).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], 100);

    // Commercial ads only for EU/EEA countries.
    let (_, _, v) = get_json(&url(
        &base,
        "ad_reached_countries=[\"US\"]&search_terms=magnetic%20lamp&ad_type=ALL",
    ))
    .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 0);
    let (_, _, v) = get_json(&url(
        &base,
        "ad_reached_countries=US,DE&search_terms=magnetic%20lamp&ad_type=ALL",
    ))
    .await;
    assert!(!v["data"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn hourly_limit_gives_613() {
    let cfg = SandboxConfig::for_tests().with_limits(Limits {
        meta_per_token_per_hour: 2,
        ..Limits::default()
    });
    let base = start(cfg).await;
    let u = url(&base, "ad_reached_countries=IE&search_terms=lamp");
    for _ in 0..2 {
        assert_eq!(get_json(&u).await.0, 200);
    }
    let (status, headers, v) = get_json(&u).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], 613);
    assert_eq!(
        v["error"]["message"],
        "(#613) Calls to this api have exceeded the rate limit."
    );
    let usage: serde_json::Value = serde_json::from_str(headers["x-app-usage"].to_str().unwrap()).unwrap();
    assert_eq!(usage["call_count"], 100);
}
