//! Ignored micro-benchmarks of answer building, in process (no HTTP):
//! `cargo test -p dropforge-sandbox --release --lib costs -- --ignored --nocapture`.

use std::sync::Arc;
use std::time::Instant;

/// The binary's allocator, so that the figures match it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};

use crate::aliexpress::{Params, ds, methods};
use crate::config::SandboxConfig;
use crate::data::ads::Status;
use crate::data::keyword::normalise;
use crate::meta::page::{self, PageArgs};
use crate::state::AppState;
use crate::youtube::search::{self, SearchArgs};
use crate::youtube::{Query, videos};

fn per_call(label: &str, n: usize, mut f: impl FnMut(usize)) {
    let t = Instant::now();
    for i in 0..n {
        f(i);
    }
    println!("{label:>28}: {:6.2} µs", t.elapsed().as_secs_f64() * 1e6 / n as f64);
}

fn keyword(st: &AppState, id: &str, now: DateTime<Utc>) -> String {
    let p = Params::parse(Some(id), b"");
    let body = methods::call(st, ds::PRODUCT_GET, &p, "21x", now).body;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let title = v["aliexpress_ds_product_get_response"]["result"]["ae_item_base_info_dto"]["subject"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    normalise(&title.split(' ').take(3).collect::<Vec<_>>().join(" "))
}

#[test]
#[ignore]
fn costs() {
    for cache in [0, 64 << 20] {
        println!("cache bytes {cache}");
        let st = AppState::new(Arc::new(SandboxConfig::default().with_cache_bytes(cache)));
        let now = Utc::now();
        let n = 3000;
        let ids: Vec<String> = (0..n).map(|i| format!("product_id=1005271828{i:06}")).collect();
        per_call("ds.product.get", n, |i| {
            methods::call(&st, ds::PRODUCT_GET, &Params::parse(Some(&ids[i]), b""), "21x", now);
        });
        let kws: Vec<String> = ids.iter().map(|id| keyword(&st, id, now)).collect();
        let freight: Vec<String> = (0..n)
            .map(|i| {
                format!("queryDeliveryReq={{\"productId\":\"1005271828{i:06}\",\"quantity\":1,\"currency\":\"USD\"}}")
            })
            .collect();
        per_call("ds.freight.query", n, |i| {
            methods::call(
                &st,
                ds::FREIGHT_QUERY,
                &Params::parse(Some(&freight[i]), b""),
                "21x",
                now,
            );
        });
        let aff: Vec<String> = (0..n).map(|i| format!("product_ids=1005271828{i:06}")).collect();
        per_call("affiliate.productdetail.get", n, |i| {
            let p = Params::parse(Some(&aff[i]), b"");
            methods::call(&st, "aliexpress.affiliate.productdetail.get", &p, "21x", now);
        });
        let ts: Vec<String> = kws
            .iter()
            .map(|k| format!("keyWord={k}&pageIndex=1&pageSize=1"))
            .collect();
        per_call("ds.text.search", n, |i| {
            methods::call(&st, ds::TEXT_SEARCH, &Params::parse(Some(&ts[i]), b""), "21x", now);
        });
        let headers = HeaderMap::new();
        per_call("ads_archive page 1", n, |i| {
            let args = PageArgs {
                version: "v21.0",
                pairs: &[],
                token: "t",
                status: Status::Active,
                commercial: true,
                search_terms: &kws[i],
                offset: 0,
                limit: 100,
                fields: "id,page_id,page_name,ad_delivery_start_time",
            };
            page::build(&st, &headers, &args, now);
        });
        let after = (now - chrono::Duration::days(90))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let sq: Vec<String> = kws
            .iter()
            .map(|k| format!("part=snippet&q={k}&type=video&order=viewCount&publishedAfter={after}&maxResults=10"))
            .collect();
        let mut ids_per_kw = Vec::with_capacity(n);
        per_call("youtube search", n, |i| {
            let q = Query::parse(&sq[i]);
            if let Ok(args) = SearchArgs::parse(&q) {
                ids_per_kw.push(search::build(&st, &args, now));
            }
        });
        let vq: Vec<String> = ids_per_kw
            .iter()
            .map(|body| {
                let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
                let ids: Vec<&str> = v["items"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|i| i["id"]["videoId"].as_str()).collect())
                    .unwrap_or_default();
                format!("part=snippet,statistics&id={}", ids.join(","))
            })
            .collect();
        per_call("youtube videos", n, |i| {
            let q = Query::parse(&vq[i]);
            let ids = q.get("id").unwrap_or_default().to_string();
            videos::build(&st, &q, &ids, now);
        });
    }
}
