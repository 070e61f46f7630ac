//! Clients of the three upstream APIs (AliExpress, Meta Ad Library, YouTube) and the gather step
//! that turns their answers into score-v1 [`Signals`](dropforge_common::scoring::signals::Signals).

pub mod aliexpress;
pub mod budget;
pub mod error;
pub mod gather;
pub mod http;
pub mod json;
pub mod keyword_cache;
pub mod meta;
pub mod pacific;
pub mod retry;
pub mod youtube;

use dropforge_common::config::UpstreamsConfig;
use reqwest::header::HeaderMap;

pub use aliexpress::AliExpressClient;
pub use budget::Budget;
pub use error::{TransientKind, Upstream, UpstreamError};
pub use gather::{GatherRequest, Gathered, ProductInfo, StoreInfo, UpstreamStatus, UpstreamsReport, gather};
pub use keyword_cache::KeywordCache;
pub use meta::MetaClient;
pub use pacific::next_pacific_midnight;
pub use retry::RetryPolicy;
pub use youtube::YouTubeClient;

/// The three upstream clients, sharing one connection pool.
#[derive(Debug, Clone)]
pub struct Upstreams {
    /// AliExpress Open Platform.
    pub aliexpress: AliExpressClient,
    /// Meta Ad Library.
    pub meta: MetaClient,
    /// YouTube Data API v3.
    pub youtube: YouTubeClient,
    /// Keyword-level answers shared by products with the same keyword (off when `None`).
    pub keyword_cache: Option<KeywordCache>,
}

impl Upstreams {
    /// Builds the clients from the configuration (one shared `reqwest::Client`).
    pub fn new(cfg: &UpstreamsConfig) -> Result<Self, UpstreamError> {
        Self::with_headers(cfg, HeaderMap::new())
    }

    /// Like [`Upstreams::new`], adding `extra_headers` to every request (tests: sandbox fault headers).
    pub fn with_headers(cfg: &UpstreamsConfig, extra_headers: HeaderMap) -> Result<Self, UpstreamError> {
        let client = http::build_client(cfg, extra_headers)?;
        Ok(Self::from_client(client, cfg))
    }

    /// Builds the clients around an existing `reqwest::Client`.
    pub fn from_client(client: reqwest::Client, cfg: &UpstreamsConfig) -> Self {
        Self {
            aliexpress: AliExpressClient::new(client.clone(), cfg),
            meta: MetaClient::new(client.clone(), cfg),
            youtube: YouTubeClient::new(client, cfg),
            keyword_cache: None,
        }
    }

    /// Serves Meta, YouTube and text-search answers from `cache` when it has them.
    pub fn with_keyword_cache(mut self, cache: KeywordCache) -> Self {
        self.keyword_cache = Some(cache);
        self
    }

    /// Makes every client take from `budget` before each request (and record upstream throttles);
    /// the clients hold it, so `Upstreams` built from budgeted clients stay budgeted.
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.aliexpress.budget = Some(budget.clone());
        self.meta.budget = Some(budget.clone());
        self.youtube.budget = Some(budget);
        self
    }
}
