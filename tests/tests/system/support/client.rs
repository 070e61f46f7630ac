//! HTTP helpers: one `reqwest` client configuration, [`Client`] (base URL + API key) for the JSON
//! API, and header reads.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// The HTTP client every test uses: pooled (64 idle connections per host, enough for the
/// concurrency of the load tests) and bounded (60 s per request, longer than the longest
/// `Prefer: wait`), so a hung server fails a test instead of hanging it.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

/// A header as text (`""` when absent or not visible ASCII).
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// A JSON client for the API with one key.
pub struct Client {
    /// Base URL.
    pub base: String,
    /// API key.
    pub key: String,
    http: reqwest::Client,
}

impl Client {
    /// A client with a key.
    pub fn new(base: &str, key: &str) -> Self {
        Self {
            base: base.to_owned(),
            key: key.to_owned(),
            http: http_client(),
        }
    }

    /// POST /v1/validations with optional `Prefer: wait`.
    pub async fn validate(&self, product_id: &str, wait: Option<u64>) -> (u16, HeaderMap, Value) {
        let mut req = self
            .http
            .post(format!("{}/v1/validations", self.base))
            .bearer_auth(&self.key)
            .json(&json!({"product": {"source": "aliexpress", "id": product_id}}));
        if let Some(w) = wait {
            req = req.header("prefer", format!("wait={w}"));
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// GET a path with the key.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// The raw reqwest client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}
