//! The keyword contract: a pinned product's title, reduced with the worker's rule, drives Meta and YouTube.

use dropforge_sandbox::SandboxConfig;

use crate::helpers::{ae_call, derive_keyword, get_json, start};

async fn keyword_of(base: &str, id: &str) -> String {
    let v = ae_call(
        base,
        "aliexpress.ds.product.get",
        &[("product_id", id), ("ship_to_country", "US")],
    )
    .await;
    let title = v["aliexpress_ds_product_get_response"]["result"]["ae_item_base_info_dto"]["subject"]
        .as_str()
        .unwrap();
    let kw = derive_keyword(title);
    assert_eq!(kw.split(' ').count(), 3, "{title} -> {kw}");
    kw
}

async fn ads(base: &str, kw: &str) -> Vec<serde_json::Value> {
    let u = format!(
        "{base}/v21.0/ads_archive?access_token=sandbox-meta-token&ad_reached_countries=['IE']&ad_type=ALL&ad_active_status=ACTIVE&limit=500&fields=page_id,ad_delivery_start_time&search_terms={}",
        kw.replace(' ', "%20")
    );
    let (status, _, v) = get_json(&u).await;
    assert_eq!(status, 200, "{v}");
    v["data"].as_array().unwrap().clone()
}

async fn videos(base: &str, kw: &str) -> Vec<u64> {
    let after = "2025-03-03T00:00:00Z"; // frozen now (2025-06-01) minus 90 days
    let u = format!(
        "{base}/youtube/v3/search?part=snippet&type=video&order=viewCount&maxResults=10&publishedAfter={after}&key=sandbox-yt-key&q={}",
        kw.replace(' ', "%20")
    );
    let (_, _, v) = get_json(&u).await;
    let ids: Vec<String> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"]["videoId"].as_str().unwrap().to_string())
        .collect();
    if ids.is_empty() {
        return Vec::new();
    }
    let u = format!(
        "{base}/youtube/v3/videos?part=statistics,snippet&key=sandbox-yt-key&id={}",
        ids.join(",")
    );
    let (_, _, v) = get_json(&u).await;
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["statistics"]["viewCount"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn winner_keyword_has_old_ads_and_viral_videos() {
    let base = start(SandboxConfig::for_tests()).await;
    let kw = keyword_of(&base, "1005000000000001").await;
    let data = ads(&base, &kw).await;
    assert!(!data.is_empty(), "{kw}");
    let now = chrono::NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
    let ages: Vec<i64> = data
        .iter()
        .map(|a| {
            let d =
                chrono::NaiveDate::parse_from_str(a["ad_delivery_start_time"].as_str().unwrap(), "%Y-%m-%d").unwrap();
            (now - d).num_days()
        })
        .collect();
    assert!(ages.iter().max().copied().unwrap_or(0) >= 60, "{ages:?}");
    assert!(ages.iter().filter(|a| **a <= 14).count() >= 1);
    let advertisers: std::collections::HashSet<&str> = data.iter().map(|a| a["page_id"].as_str().unwrap()).collect();
    assert!((2..=10).contains(&advertisers.len()));
    let views = videos(&base, &kw).await;
    assert!(views.len() >= 5, "{views:?}");
    assert!(views[0] >= 100_000, "{views:?}");
}

#[tokio::test]
async fn dud_keyword_has_no_ads_and_no_videos() {
    let base = start(SandboxConfig::for_tests()).await;
    let kw = keyword_of(&base, "1005000000000004").await;
    assert!(ads(&base, &kw).await.is_empty(), "{kw}");
    assert!(videos(&base, &kw).await.is_empty(), "{kw}");
}

#[tokio::test]
async fn saturated_keyword_has_many_listings() {
    let base = start(SandboxConfig::for_tests()).await;
    let kw = keyword_of(&base, "1005000000000005").await;
    let v = ae_call(&base, "aliexpress.ds.text.search", &[("keyWord", kw.as_str())]).await;
    assert!(
        v["aliexpress_ds_text_search_response"]["data"]["totalCount"]
            .as_u64()
            .unwrap()
            >= 50_000
    );
    let winner_kw = keyword_of(&base, "1005000000000001").await;
    let v = ae_call(&base, "aliexpress.ds.text.search", &[("keyWord", winner_kw.as_str())]).await;
    assert!(
        v["aliexpress_ds_text_search_response"]["data"]["totalCount"]
            .as_u64()
            .unwrap()
            < 1000
    );
}
