//! Golden wire test: a fixed, sequential request script over every route, whose answers (status, key
//! headers, body) must match `golden.txt` byte for byte (SHA-256 per answer).
//!
//! `SANDBOX_GOLDEN=write` rewrites the fixture; `SANDBOX_GOLDEN_DUMP=<dir>` also writes every answer there.

use std::fmt::Write as _;

use dropforge_sandbox::SandboxConfig;
use sha2::{Digest, Sha256};

use crate::helpers::{ae_params, start};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/golden.txt");

/// Sends the script and records one line per answer.
struct Recorder {
    base: String,
    client: reqwest::Client,
    lines: Vec<String>,
    dump: Option<std::path::PathBuf>,
}

impl Recorder {
    async fn send(&mut self, name: &str, req: reqwest::RequestBuilder) -> String {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let header = |k: &str| {
            resp.headers()
                .get(k)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        let head = format!(
            "{status}|{}|{}|{}",
            header("content-type"),
            header("retry-after"),
            header("x-app-usage")
        );
        let body = normalise_port(&resp.text().await.unwrap().replace(&self.base, "BASE"));
        let mut h = Sha256::new();
        h.update(head.as_bytes());
        h.update(b"\n");
        h.update(body.as_bytes());
        let line = format!("{name} {status} {} {}", body.len(), hex::encode(h.finalize()));
        if let Some(dir) = &self.dump {
            let file = dir.join(format!("{:04}.txt", self.lines.len()));
            std::fs::write(file, format!("{name}\n{head}\n{body}")).unwrap();
        }
        self.lines.push(line);
        body
    }

    async fn get(&mut self, name: &str, path: &str) -> String {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(name, req).await
    }

    async fn get_with(&mut self, name: &str, path: &str, header: (&str, &str)) -> String {
        let req = self
            .client
            .get(format!("{}{path}", self.base))
            .header(header.0, header.1);
        self.send(name, req).await
    }

    async fn ae(&mut self, name: &str, method: &str, extra: &[(&str, &str)]) -> String {
        let req = self
            .client
            .post(format!("{}/sync", self.base))
            .form(&ae_params(method, extra));
        self.send(name, req).await
    }

    async fn ae_fault(&mut self, name: &str, method: &str, extra: &[(&str, &str)], fault: &str) -> String {
        let req = self
            .client
            .post(format!("{}/sync", self.base))
            .header("x-sandbox-fault", fault)
            .form(&ae_params(method, extra));
        self.send(name, req).await
    }
}

/// Replaces the port of any (possibly truncated) `127.0.0.1:<port>` with `PORT`.
fn normalise_port(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(i) = rest.find("127.0.0.1:") {
        let (head, tail) = rest.split_at(i + "127.0.0.1:".len());
        out.push_str(head);
        out.push_str("PORT");
        rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

fn ids() -> Vec<String> {
    let mut ids: Vec<String> = (1..=6).map(|i| format!("100500000000000{i}")).collect();
    ids.push("1005000000000404".into());
    ids.extend((0..40u64).map(|i| format!("10058{:011}", i * 7919 + 13)));
    ids.push("3256805123456789".into());
    ids
}

const KEYWORDS: &[&str] = &[
    "magnetic charger stand",
    "led strip lights",
    "plain lamp",
    "Adjustable   Bottle Holder",
    "classic wallet case",
    "vintage mirror tray",
    "lamp",
    "",
    "trendy tumbler kit",
    "unknownword gadget",
];

async fn aliexpress(r: &mut Recorder) {
    for (n, id) in ids().iter().enumerate() {
        let (country, currency) = [("US", "USD"), ("de", "eur"), ("GB", "GBP"), ("FR", "CNY"), ("", "XYZ")][n % 5];
        let extra = [
            ("product_id", id.as_str()),
            ("ship_to_country", country),
            ("target_currency", currency),
            ("target_language", "en"),
        ];
        r.ae(&format!("ds.product.get {id}"), "aliexpress.ds.product.get", &extra)
            .await;
        let quantity = ["1", "3", "\"2\"", "0", "1"][n % 5];
        let req = format!(
            r#"{{"currency":"{currency}","language":"en_US","locale":"en_US","productId":"{id}","quantity":{quantity},"selectedSkuId":"1","shipToCountry":"US"}}"#
        );
        r.ae(
            &format!("ds.freight.query {id}"),
            "aliexpress.ds.freight.query",
            &[("queryDeliveryReq", req.as_str())],
        )
        .await;
        let extra = [
            ("product_ids", id.as_str()),
            ("target_currency", currency),
            ("target_language", "EN"),
            ("country", country),
            ("tracking_id", "df"),
        ];
        r.ae(
            &format!("affiliate.productdetail.get {id}"),
            "aliexpress.affiliate.productdetail.get",
            &extra,
        )
        .await;
    }
    let numeric = r#"{"productId":1005000000000002,"quantity":2,"currency":"GBP"}"#;
    for (name, req) in [
        ("numeric", numeric),
        ("array", "[1,2]"),
        ("broken", "{"),
        ("unknown", r#"{"productId":"12"}"#),
    ] {
        r.ae(
            &format!("ds.freight.query {name}"),
            "aliexpress.ds.freight.query",
            &[("queryDeliveryReq", req)],
        )
        .await;
    }
    r.ae("ds.freight.query missing", "aliexpress.ds.freight.query", &[])
        .await;
    r.ae("ds.product.get missing", "aliexpress.ds.product.get", &[]).await;
    r.ae(
        "affiliate.productdetail.get list",
        "aliexpress.affiliate.productdetail.get",
        &[(
            "product_ids",
            "1005000000000001, 1005000000000404,abc,1005000000000005,1005000000000003",
        )],
    )
    .await;
    r.ae(
        "affiliate.productdetail.get none",
        "aliexpress.affiliate.productdetail.get",
        &[("product_ids", "abc")],
    )
    .await;
    r.ae(
        "affiliate.productdetail.get missing",
        "aliexpress.affiliate.productdetail.get",
        &[],
    )
    .await;
    for (n, kw) in KEYWORDS.iter().enumerate() {
        let (page, size, currency) = [("1", "1", "USD"), ("2", "5", "EUR"), ("", "", ""), ("0", "70", "gbp")][n % 4];
        let extra = [
            ("keyWord", *kw),
            ("pageIndex", page),
            ("pageSize", size),
            ("local", "en_US"),
            ("countryCode", "US"),
            ("currency", currency),
        ];
        r.ae(&format!("ds.text.search {kw}"), "aliexpress.ds.text.search", &extra)
            .await;
        let sort = [
            "LAST_VOLUME_DESC",
            "SALE_PRICE_ASC",
            "SALE_PRICE_DESC",
            "LAST_VOLUME_ASC",
            "",
        ][n % 5];
        let extra = [
            ("keywords", *kw),
            ("page_no", page),
            ("page_size", size),
            ("sort", sort),
            ("target_currency", currency),
            ("ship_to_country", "US"),
        ];
        r.ae(
            &format!("affiliate.product.query {kw}"),
            "aliexpress.affiliate.product.query",
            &extra,
        )
        .await;
        r.ae(
            &format!("affiliate.hotproduct.query {kw}"),
            "aliexpress.affiliate.hotproduct.query",
            &extra,
        )
        .await;
    }
    let filters = [
        ("keywords", "magnetic lamp"),
        ("page_size", "50"),
        ("min_sale_price", "8"),
        ("max_sale_price", "20.5"),
        ("delivery_days", "9"),
        ("sort", "SALE_PRICE_ASC"),
    ];
    r.ae(
        "affiliate.product.query filters",
        "aliexpress.affiliate.product.query",
        &filters,
    )
    .await;
    r.ae("unknown method", "aliexpress.ds.nope", &[]).await;
    let mut p = ae_params("aliexpress.ds.product.get", &[("product_id", "1005000000000001")]);
    if let Some(last) = p.last_mut() {
        last.1 = "00".into();
    }
    let req = r.client.post(format!("{}/sync", r.base)).form(&p);
    r.send("bad sign", req).await;
    let mut p = ae_params("aliexpress.ds.product.get", &[("product_id", "1005000000000001")]);
    p[0].1 = "1".into();
    let req = r.client.post(format!("{}/sync", r.base)).form(&p);
    r.send("bad app key", req).await;
    for fault in ["malformed", "throttle", "5xx", "500", "502", "429", "nonsense"] {
        r.ae_fault(
            &format!("ds.product.get fault {fault}"),
            "aliexpress.ds.product.get",
            &[("product_id", "1005000000000003")],
            fault,
        )
        .await;
    }
}

async fn meta(r: &mut Recorder) {
    let fields_all = "id,ad_creation_time,ad_delivery_start_time,ad_delivery_stop_time,ad_creative_bodies,\
        ad_creative_link_titles,ad_creative_link_captions,ad_creative_link_descriptions,ad_snapshot_url,page_id,\
        page_name,publisher_platforms,languages,currency,eu_total_reach,target_ages,target_gender,target_locations,\
        beneficiary_payers,estimated_audience_size,spend,bogus";
    let countries = ["%5B%22IE%22,%22DE%22,%22FR%22%5D", "['IE']", "US", "US,de", "ALL"];
    for (n, kw) in KEYWORDS.iter().enumerate() {
        let status = ["ACTIVE", "inactive", "ALL", "", "ACTIVE"][n % 5];
        let fields = [
            "id,page_id,page_name,ad_delivery_start_time",
            fields_all,
            "",
            "page_id,ad_delivery_stop_time",
        ][n % 4];
        let limit = ["100", "7", "", "0", "600"][n % 5];
        let mut next = Some(format!(
            "{}/v21.0/ads_archive?access_token=sandbox-meta-token&ad_reached_countries={}&search_terms={}&ad_type=ALL&ad_active_status={status}&fields={fields}&limit={limit}",
            r.base,
            countries[n % countries.len()],
            kw.replace(' ', "%20")
        ));
        let mut pages = 0;
        while let Some(url) = next.take() {
            let path = url.replacen(&r.base, "", 1);
            let body = r.get(&format!("ads_archive {kw} page {pages}"), &path).await;
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            next = v["paging"]["next"].as_str().map(|s| s.replace("BASE", &r.base));
            pages += 1;
            if pages >= 8 {
                break;
            }
        }
    }
    let q = "ad_reached_countries=IE&search_terms=led%20strip%20lights&fields=page_name";
    r.get_with(
        "ads_archive bearer",
        &format!("/v21.0/ads_archive?{q}"),
        ("authorization", "Bearer sandbox-meta-token"),
    )
    .await;
    r.get(
        "ads_archive bad version",
        &format!("/v21/ads_archive?access_token=sandbox-meta-token&{q}"),
    )
    .await;
    r.get(
        "ads_archive bad token",
        &format!("/v21.0/ads_archive?access_token=x&{q}"),
    )
    .await;
    let t = "access_token=sandbox-meta-token";
    for (name, query) in [
        ("no countries", format!("{t}&search_terms=lamp")),
        ("bad countries", format!("{t}&ad_reached_countries=IRL")),
        ("bad status", format!("{t}&ad_reached_countries=IE&ad_active_status=x")),
        ("bad type", format!("{t}&ad_reached_countries=IE&ad_type=foo")),
        (
            "political",
            format!("{t}&ad_reached_countries=IE&ad_type=political_and_issue_ads"),
        ),
        ("bad cursor", format!("{t}&ad_reached_countries=IE&after=!!")),
        (
            "padded cursor",
            format!("{t}&ad_reached_countries=IE&search_terms=led%20lamp&after=bzoyNQ==&limit=5"),
        ),
        (
            "past the end",
            format!("{t}&ad_reached_countries=IE&search_terms=led%20lamp&after=bzo5OTk"),
        ),
    ] {
        r.get(&format!("ads_archive {name}"), &format!("/v21.0/ads_archive?{query}"))
            .await;
    }
    for fault in ["malformed", "throttle", "503", "429"] {
        r.get_with(
            &format!("ads_archive fault {fault}"),
            &format!("/v21.0/ads_archive?{t}&ad_reached_countries=IE&search_terms=magnetic%20lamp"),
            ("x-sandbox-fault", fault),
        )
        .await;
    }
}

async fn youtube(r: &mut Recorder) {
    let key = "key=sandbox-yt-key";
    for (n, kw) in KEYWORDS.iter().enumerate() {
        let order = ["viewCount", "date", "rating", "title", "relevance"][n % 5];
        let max = ["10", "50", "", "0", "3"][n % 5];
        let after = ["2025-03-03T00:00:00Z", "", "2025-05-01T00:00:00%2B02:00", "", ""][n % 5];
        let mut token = String::new();
        for page in 0..3 {
            let body = r
                .get(
                    &format!("search {kw} page {page}"),
                    &format!(
                        "/youtube/v3/search?part=snippet&q={}&type=video&order={order}&publishedAfter={after}&maxResults={max}&pageToken={token}&regionCode=DE&{key}",
                        kw.replace(' ', "%20")
                    ),
                )
                .await;
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            let ids: Vec<&str> = v["items"]
                .as_array()
                .map(|a| a.iter().filter_map(|i| i["id"]["videoId"].as_str()).collect())
                .unwrap_or_default();
            if !ids.is_empty() {
                let part = ["snippet,statistics", "statistics", "contentDetails,snippet", "id"][n % 4];
                r.get(
                    &format!("videos {kw} page {page}"),
                    &format!("/youtube/v3/videos?part={part}&id={},bogus12345x&{key}", ids.join(",")),
                )
                .await;
            }
            match v["nextPageToken"].as_str() {
                Some(t) => token = t.to_string(),
                None => break,
            }
        }
    }
    for (name, path) in [
        ("search no key", "/youtube/v3/search?part=snippet&q=lamp".to_string()),
        (
            "search bad key",
            "/youtube/v3/search?part=snippet&q=lamp&key=x".to_string(),
        ),
        ("search no part", format!("/youtube/v3/search?q=lamp&{key}")),
        (
            "search channel",
            format!("/youtube/v3/search?part=snippet&q=lamp&type=channel&{key}"),
        ),
        (
            "search bad time",
            format!("/youtube/v3/search?part=snippet&q=lamp&publishedBefore=x&{key}"),
        ),
        (
            "search before",
            format!("/youtube/v3/search?part=snippet&q=led%20lamp&publishedBefore=2025-05-01T00:00:00Z&{key}"),
        ),
        (
            "search bad token",
            format!("/youtube/v3/search?part=snippet&q=lamp&pageToken=zz&{key}"),
        ),
        ("videos no id", format!("/youtube/v3/videos?part=statistics&{key}")),
        (
            "videos unknown",
            format!("/youtube/v3/videos?part=statistics&id=dQw4w9WgXcQ&{key}"),
        ),
    ] {
        r.get(name, &path).await;
    }
    for fault in ["malformed", "throttle", "502", "429"] {
        r.get_with(
            &format!("search fault {fault}"),
            &format!("/youtube/v3/search?part=snippet&q=magnetic%20lamp&{key}"),
            ("x-sandbox-fault", fault),
        )
        .await;
    }
}

/// Seeded faults (no timeouts): the per-upstream sequence decides each request's fate.
async fn seeded_faults(r: &mut Recorder) {
    let mut cfg: serde_json::Value = r
        .client
        .get(format!("{}/__sandbox/config", r.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let faults = serde_json::json!({"timeout": 0.0, "http_5xx": 0.2, "in_band_throttle": 0.2, "http_429": 0.1, "malformed": 0.2});
    for up in ["aliexpress", "meta", "youtube"] {
        cfg[up]["faults"] = faults.clone();
    }
    let put = r.client.put(format!("{}/__sandbox/config", r.base)).json(&cfg);
    assert_eq!(put.send().await.unwrap().status(), 200);
    for i in 0..30 {
        let id = format!("10058{:011}", i * 31 + 5);
        r.ae(
            &format!("seeded ds.product.get {id}"),
            "aliexpress.ds.product.get",
            &[("product_id", id.as_str())],
        )
        .await;
        r.get(
            &format!("seeded ads_archive {i}"),
            &format!(
                "/v21.0/ads_archive?access_token=sandbox-meta-token&ad_reached_countries=IE&search_terms=led%20lamp&limit={}",
                i + 1
            ),
        )
        .await;
        r.get(
            &format!("seeded search {i}"),
            &format!("/youtube/v3/search?part=snippet&q=magnetic%20lamp&maxResults={i}&key=sandbox-yt-key"),
        )
        .await;
    }
}

/// Runs the whole script (`rounds` times, then the seeded faults) against a fresh sandbox and returns
/// one line per answer.
async fn run_script(cfg: SandboxConfig, rounds: usize, dump: Option<std::path::PathBuf>) -> String {
    let base = start(cfg).await;
    if let Some(d) = &dump {
        std::fs::create_dir_all(d).unwrap();
    }
    let mut r = Recorder {
        base,
        client: reqwest::Client::new(),
        lines: Vec::new(),
        dump,
    };
    // Later rounds repeat every request (cache hits must answer the same bytes).
    for _ in 0..rounds {
        aliexpress(&mut r).await;
        meta(&mut r).await;
        youtube(&mut r).await;
    }
    seeded_faults(&mut r).await;
    r.get("stats", "/__sandbox/stats").await;
    r.get("metrics", "/metrics").await;
    let mut actual = String::new();
    for l in &r.lines {
        let _ = writeln!(actual, "{l}");
    }
    actual
}

fn assert_matches_fixture(actual: &str) {
    let expected = std::fs::read_to_string(FIXTURE).unwrap();
    let diff: Vec<String> = expected
        .lines()
        .zip(actual.lines())
        .filter(|(e, a)| e != a)
        .map(|(e, a)| format!("expected {e}\n  actual {a}"))
        .take(20)
        .collect();
    assert!(diff.is_empty(), "{} answers differ:\n{}", diff.len(), diff.join("\n"));
    assert_eq!(expected.lines().count(), actual.lines().count());
}

#[tokio::test]
async fn answers_match_the_golden_fixture() {
    let dump = std::env::var_os("SANDBOX_GOLDEN_DUMP").map(std::path::PathBuf::from);
    let actual = run_script(SandboxConfig::for_tests(), 2, dump).await;
    if std::env::var("SANDBOX_GOLDEN").as_deref() == Ok("write") {
        std::fs::write(FIXTURE, &actual).unwrap();
        return;
    }
    assert_matches_fixture(&actual);
}

#[tokio::test]
async fn uncached_and_tiny_cache_answers_match_too() {
    for bytes in [0, 64 * 1024] {
        let actual = run_script(SandboxConfig::for_tests().with_cache_bytes(bytes), 2, None).await;
        assert_matches_fixture(&actual);
    }
}

#[tokio::test]
async fn cached_answers_equal_fresh_ones() {
    // Answers are cached from their second request on: the third round is served from the cache.
    let fresh = run_script(SandboxConfig::for_tests().with_cache_bytes(0), 3, None).await;
    let cached = run_script(SandboxConfig::for_tests(), 3, None).await;
    let diff: Vec<(&str, &str)> = fresh.lines().zip(cached.lines()).filter(|(a, b)| a != b).collect();
    assert!(
        diff.is_empty(),
        "{} answers differ, first: {:?}",
        diff.len(),
        diff.first()
    );
    assert_eq!(fresh.lines().count(), cached.lines().count());
}
