//! Shared helpers: spawning, AliExpress signing, the worker's keyword rule.

use dropforge_sandbox::SandboxConfig;
use dropforge_sandbox::aliexpress::sign::{SignMethod, sign};
use serde_json::Value;

pub async fn start(cfg: SandboxConfig) -> String {
    let (addr, _handle) = dropforge_sandbox::spawn(cfg).await.unwrap();
    format!("http://{addr}")
}

pub fn now_ms() -> String {
    chrono::Utc::now().timestamp_millis().to_string()
}

/// Signed AliExpress params for `method` plus `extra` (HMAC-SHA256, access token included).
pub fn ae_params(method: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = vec![
        ("app_key".into(), "500001".into()),
        ("method".into(), method.into()),
        ("timestamp".into(), now_ms()),
        ("sign_method".into(), "sha256".into()),
        ("format".into(), "json".into()),
        ("v".into(), "2.0".into()),
        ("access_token".into(), "sandbox-token".into()),
    ];
    p.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let s = sign(SignMethod::HmacSha256, "sandbox-secret-0001", None, &p);
    p.push(("sign".into(), s));
    p
}

pub async fn ae_post(base: &str, params: &[(String, String)]) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{base}/sync"))
        .form(params)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

pub async fn ae_call(base: &str, method: &str, extra: &[(&str, &str)]) -> Value {
    ae_post(base, &ae_params(method, extra)).await
}

pub async fn get_json(url: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = reqwest::get(url).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap())
}

const STOPWORDS: &[&str] = &[
    "and", "for", "the", "with", "new", "hot", "sale", "free", "shipping", "pcs", "set", "lot", "best", "top",
    "quality", "high", "original", "genuine", "brand", "style", "fashion", "from", "women", "men", "kids", "unisex",
    "pack", "piece", "pieces", "portable", "premium", "upgraded",
];

/// The worker's keyword rule (contract; copied from the brief).
pub fn derive_keyword(title: &str) -> String {
    title
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|t| t.len() >= 3 && t.chars().all(|c| c.is_ascii_alphabetic()))
        .filter(|t| !STOPWORDS.contains(&t.as_str()))
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
