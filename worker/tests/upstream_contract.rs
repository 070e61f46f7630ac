//! Contract tests of the upstream clients against the real sandbox, in-process (docs/design/upstreams.md §7.9):
//! signing, envelopes, paging, each error class, retries and quota exhaustion → partial result.

use std::{net::SocketAddr, time::Duration};

use chrono::{DateTime, Utc};
use dropforge_common::config::{Config, Secret, SignMethod, UpstreamsConfig};
use dropforge_sandbox::{FaultRates, Limits, SandboxConfig};
use dropforge_worker::upstream::{
    AliExpressClient, GatherRequest, MetaClient, UpstreamError, UpstreamStatus, Upstreams, YouTubeClient, gather,
    http::build_client,
};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;

const WINNER: &str = "1005000000000001";
const DUD: &str = "1005000000000004";
const NOT_FOUND: &str = "1005000000000404";

async fn sandbox(cfg: SandboxConfig) -> SocketAddr {
    let (addr, _handle) = dropforge_sandbox::spawn(cfg).await.expect("sandbox starts");
    addr
}

fn config(addr: SocketAddr) -> UpstreamsConfig {
    let mut cfg = Config::local_default().upstreams;
    let base = format!("http://{addr}");
    cfg.aliexpress.base_url = base.clone();
    cfg.meta.base_url = base.clone();
    cfg.youtube.base_url = base;
    cfg.retry_base = Duration::from_millis(5);
    cfg.timeout = Duration::from_secs(5);
    cfg
}

fn request(product_id: &str) -> GatherRequest {
    GatherRequest {
        product_id: product_id.into(),
        ship_to: "US".into(),
        currency: "USD".into(),
        target_price: Some(29.99),
        validated_at: "2025-06-01T00:00:00Z".parse().expect("ts"),
    }
}

fn fault_headers(kind: &'static str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("x-sandbox-fault", HeaderValue::from_static(kind));
    h
}

/// Requests the sandbox answered for `upstream` (every method and outcome).
async fn answered(addr: SocketAddr, upstream: &str) -> u64 {
    let stats: Value = reqwest::get(format!("http://{addr}/__sandbox/stats"))
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats json");
    stats["requests"][upstream]
        .as_object()
        .map(|methods| {
            methods
                .values()
                .filter_map(Value::as_object)
                .flat_map(|o| o.values())
                .filter_map(Value::as_u64)
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn winner_is_fully_populated() {
    let addr = sandbox(SandboxConfig::for_tests()).await;
    let ups = Upstreams::new(&config(addr)).expect("clients");
    let g = gather(&ups, &request(WINNER)).await.expect("gather");
    assert!(!g.upstreams.is_partial(), "{:?}", g.upstreams);
    assert_eq!(
        g.upstreams.aliexpress,
        UpstreamStatus::ok(),
        "optional AE calls must succeed"
    );
    assert_eq!(g.product.id, WINNER);
    assert!(!g.product.keyword.is_empty() && !g.product.title.is_empty());
    assert!(g.product.image_url.is_some() && g.product.store.ratings.is_some());
    let ae = g.signals.aliexpress.as_ref().expect("AE signals");
    assert!(ae.on_selling && ae.unit_cost > 0.0);
    assert!(ae.shipping_cost.is_some() && ae.ship_days_max.is_some(), "{ae:?}");
    assert!(ae.orders_30d.is_some_and(|n| n >= 100), "{ae:?}");
    assert!(ae.orders_total.is_some() && ae.listing_age_days.is_some_and(|d| d > 0.0));
    assert!(ae.rating.is_some() && ae.rating_count.is_some() && ae.store_dsr.is_some());
    assert!(ae.stock.is_some_and(|s| s > 0) && ae.similar_listings.is_some());
    let meta = g.signals.meta.as_ref().expect("meta");
    assert!(
        meta.active_ads > 0 && meta.advertisers > 0 && meta.max_age_days > 0.0,
        "{meta:?}"
    );
    let yt = g.signals.youtube.as_ref().expect("youtube");
    assert!(!yt.videos.is_empty() && yt.videos.iter().all(|v| v.age_days <= 91.0));
    assert!(matches!(
        g.upstreams.youtube,
        UpstreamStatus::Ok {
            search_calls: Some(1),
            units: Some(101),
            ..
        }
    ));
    assert_eq!(g.signals.target_price, Some(29.99));
    // The whole document round-trips through JSON (floats may differ in the last digit).
    let json = serde_json::to_string(&g).expect("serialise");
    let back: dropforge_worker::upstream::Gathered = serde_json::from_str(&json).expect("parse");
    assert_eq!((back.product, back.upstreams), (g.product, g.upstreams));
}

#[tokio::test]
async fn dud_has_no_ads_and_weak_demand() {
    let addr = sandbox(SandboxConfig::for_tests()).await;
    let ups = Upstreams::new(&config(addr)).expect("clients");
    let g = gather(&ups, &request(DUD)).await.expect("gather");
    assert!(!g.upstreams.is_partial(), "{:?}", g.upstreams);
    let ae = g.signals.aliexpress.as_ref().expect("AE");
    assert!(ae.orders_30d.is_some_and(|n| n < 50), "{ae:?}");
    assert_eq!(g.signals.meta.as_ref().map(|m| m.active_ads), Some(0));
    assert!(matches!(g.upstreams.meta, UpstreamStatus::Ok { pages: Some(1), .. }));
}

#[tokio::test]
async fn unknown_product_is_not_found() {
    let addr = sandbox(SandboxConfig::for_tests()).await;
    let ups = Upstreams::new(&config(addr)).expect("clients");
    let err = gather(&ups, &request(NOT_FOUND)).await.expect_err("not found");
    assert!(matches!(err, UpstreamError::NotFound { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(answered(addr, "aliexpress").await, 1, "not found is not retried");
}

#[tokio::test]
async fn wrong_secret_is_auth_without_retries() {
    let addr = sandbox(SandboxConfig::for_tests()).await;
    let mut cfg = config(addr);
    cfg.aliexpress.app_secret = Secret::new("wrong-secret");
    let ups = Upstreams::new(&cfg).expect("clients");
    let err = gather(&ups, &request(WINNER)).await.expect_err("auth");
    assert!(
        matches!(&err, UpstreamError::Auth { code, .. } if code == "IncompleteSignature"),
        "{err:?}"
    );
    assert_eq!(answered(addr, "aliexpress").await, 1, "auth failures are not retried");
    assert!(!format!("{err:?} {err}").contains("wrong-secret"));
}

#[tokio::test]
async fn md5_and_sha256_are_both_accepted() {
    let addr = sandbox(SandboxConfig::for_tests()).await;
    for method in [SignMethod::Md5, SignMethod::Sha256] {
        let mut cfg = config(addr);
        cfg.aliexpress.sign_method = method;
        let ups = Upstreams::new(&cfg).expect("clients");
        let p = ups
            .aliexpress
            .product_get(WINNER, "US", "USD")
            .await
            .expect("signed call accepted");
        assert_eq!(p.product_id, WINNER, "{method:?}");
    }
}

#[tokio::test]
async fn meta_paging_is_followed_and_capped() {
    let addr = sandbox(SandboxConfig::for_tests()).await;
    let ups = Upstreams::new(&config(addr)).expect("clients");
    let g = gather(&ups, &request(WINNER)).await.expect("gather");
    let keyword = g.product.keyword;
    let one_page = g.signals.meta.expect("meta");
    assert!(
        one_page.active_ads > 20 && !one_page.truncated,
        "precondition: {one_page:?}"
    );
    let at: DateTime<Utc> = "2025-06-01T00:00:00Z".parse().expect("ts");

    let mut cfg = config(addr);
    cfg.meta.page_limit = 10;
    cfg.meta.max_pages = 2;
    let capped = MetaClient::new(build_client(&cfg, HeaderMap::new()).expect("client"), &cfg);
    let r = capped.active_ads(&keyword, at).await.expect("capped");
    assert_eq!(
        (r.pages, r.signals.active_ads, r.signals.truncated),
        (2, 20, true),
        "{r:?}"
    );

    cfg.meta.max_pages = 100;
    let all = MetaClient::new(build_client(&cfg, HeaderMap::new()).expect("client"), &cfg);
    let r = all.active_ads(&keyword, at).await.expect("all pages");
    assert!(r.pages >= 3 && !r.signals.truncated, "{r:?}");
    assert_eq!(r.signals, one_page, "paging reads the same ads as one big page");
}

#[tokio::test]
async fn youtube_quota_exhaustion_gives_a_partial_result() {
    let limits = Limits {
        yt_search_calls_per_day: 1,
        ..Limits::default()
    };
    let addr = sandbox(SandboxConfig::for_tests().with_limits(limits)).await;
    let ups = Upstreams::new(&config(addr)).expect("clients");
    let first = gather(&ups, &request(WINNER)).await.expect("first gather");
    assert!(first.upstreams.youtube.is_ok());
    let second = gather(&ups, &request(DUD))
        .await
        .expect("gather survives quota exhaustion");
    assert!(second.upstreams.is_partial());
    assert!(second.signals.youtube.is_none() && second.signals.meta.is_some());
    match &second.upstreams.youtube {
        UpstreamStatus::QuotaExhausted { retry_after: Some(t) } => assert!(*t > Utc::now()),
        other => panic!("expected quota_exhausted, got {other:?}"),
    }
    let json = serde_json::to_value(&second.upstreams).expect("json");
    assert_eq!(json["youtube"]["status"], "quota_exhausted");
    assert_eq!(
        answered(addr, "youtube").await,
        3,
        "search 1 + videos 1 + one refused search, no retry"
    );
}

#[tokio::test]
async fn transient_5xx_is_retried_then_reported() {
    let addr = sandbox(SandboxConfig::for_tests()).await;
    let cfg = config(addr);
    let client = build_client(&cfg, fault_headers("503")).expect("client");
    let ae = AliExpressClient::new(client, &cfg);
    let err = ae.product_get(WINNER, "US", "USD").await.expect_err("always 503");
    assert!(err.is_retryable() && err.outcome() == "server_error", "{err:?}");
    assert_eq!(answered(addr, "aliexpress").await, u64::from(cfg.max_retries) + 1);
}

#[tokio::test]
async fn random_5xx_faults_are_absorbed_by_retries() {
    let faults = FaultRates {
        http_5xx: 0.3,
        ..FaultRates::default()
    };
    let addr = sandbox(SandboxConfig::for_tests().with_faults(faults)).await;
    let mut cfg = config(addr);
    cfg.max_retries = 6;
    let ups = Upstreams::new(&cfg).expect("clients");
    for id in [
        "1005000000000001",
        "1005000000000002",
        "1005000000000003",
        "1005000000000004",
        "1005000000000005",
    ] {
        let g = gather(&ups, &request(id))
            .await
            .expect("gather succeeds despite faults");
        assert!(!g.upstreams.is_partial(), "{id}: {:?}", g.upstreams);
    }
    let stats: Value = reqwest::get(format!("http://{addr}/__sandbox/stats"))
        .await
        .expect("s")
        .json()
        .await
        .expect("j");
    assert!(
        stats["faults"]["aliexpress"]["5xx"].as_u64().unwrap_or(0) > 0,
        "{stats}"
    );
}

#[tokio::test]
async fn throttles_are_classified_per_upstream() {
    let addr = sandbox(SandboxConfig::for_tests()).await;
    let mut cfg = config(addr);
    cfg.max_retries = 1;
    let plain = build_client(&cfg, HeaderMap::new()).expect("client");
    let throttled = build_client(&cfg, fault_headers("throttle")).expect("client");

    // AliExpress ApiCallLimit (1 s ban) is waited out once, then reported.
    let started = std::time::Instant::now();
    let err = AliExpressClient::new(throttled.clone(), &cfg)
        .product_get(WINNER, "US", "USD")
        .await
        .expect_err("ban");
    assert!(
        matches!(&err, UpstreamError::Throttled { code, .. } if code == "ApiCallLimit"),
        "{err:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));

    // Meta 613 fails Meta only, pauses the Meta client, and the gather is partial.
    let ups = Upstreams {
        aliexpress: AliExpressClient::new(plain.clone(), &cfg),
        meta: MetaClient::new(throttled, &cfg),
        youtube: YouTubeClient::new(plain, &cfg),
        keyword_cache: None,
    };
    let g = gather(&ups, &request(WINNER)).await.expect("gather");
    assert_eq!(
        g.upstreams.meta,
        UpstreamStatus::Failed {
            reason: "throttled 613".into()
        }
    );
    assert!(g.upstreams.is_partial() && g.upstreams.youtube.is_ok());
    assert!(ups.meta.throttled_until().is_some());
}
