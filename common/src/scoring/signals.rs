//! Normalised inputs of score-v1, one struct per upstream (docs/design/score-v1.md §1).
//!
//! `None` for a whole upstream means it failed or was skipped; `None` for a field means that
//! signal is unknown. Adapters in the worker fill these from the wire responses.

use serde::{Deserialize, Serialize};

/// Everything score-v1 looks at for one product.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    /// AliExpress signals; `None` when AliExpress failed (verdict `insufficient_data`).
    pub aliexpress: Option<AliExpressSignals>,
    /// Meta Ad Library signals; `None` when Meta failed.
    pub meta: Option<MetaSignals>,
    /// YouTube signals; `None` when YouTube failed or its quota is exhausted.
    pub youtube: Option<YouTubeSignals>,
    /// The client's intended retail price, if given.
    pub target_price: Option<f64>,
}

/// Signals derived from AliExpress (`ds.product.get`, `ds.freight.query`,
/// `affiliate.productdetail.get`, `ds.text.search`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AliExpressSignals {
    /// `product_status_type == "onSelling"`.
    pub on_selling: bool,
    /// Minimum `offer_sale_price` over SKUs in stock (over all SKUs when none is).
    pub unit_cost: f64,
    /// Cheapest tracked shipping option, if known.
    pub shipping_cost: Option<f64>,
    /// Maximum delivery days of that option (or `logistics_info_dto.delivery_time`).
    pub ship_days_max: Option<f64>,
    /// Units sold in the last 30 days (`lastest_volume`).
    pub orders_30d: Option<u64>,
    /// Lifetime `sales_count`.
    pub orders_total: Option<u64>,
    /// Days since `gmt_create`, relative to the validation time.
    pub listing_age_days: Option<f64>,
    /// `avg_evaluation_rating`.
    pub rating: Option<f64>,
    /// `evaluation_count`.
    pub rating_count: Option<u64>,
    /// The three store ratings (described, communication, shipping speed).
    pub store_dsr: Option<[f64; 3]>,
    /// Sum of `sku_available_stock`.
    pub stock: Option<u64>,
    /// `ds.text.search` `totalCount` for the derived keyword.
    pub similar_listings: Option<u64>,
}

/// Signals derived from the Meta Ad Library.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetaSignals {
    /// Active ads found (over the pages read).
    pub active_ads: u64,
    /// Distinct `page_id`s among them.
    pub advertisers: u64,
    /// Age in days of the oldest active ad.
    pub max_age_days: f64,
    /// Ads started within the last 14 days.
    pub new_ads_14d: u64,
    /// True when the page cap stopped paging.
    pub truncated: bool,
}

/// Signals derived from YouTube.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct YouTubeSignals {
    /// Videos found for the keyword (search + statistics).
    pub videos: Vec<VideoStat>,
}

/// Statistics of one video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoStat {
    /// `viewCount`.
    pub views: u64,
    /// `likeCount`, absent when hidden.
    pub likes: Option<u64>,
    /// `commentCount`, absent when disabled.
    pub comments: Option<u64>,
    /// Days since `publishedAt`, relative to the validation time.
    pub age_days: f64,
}
