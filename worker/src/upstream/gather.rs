//! The gather step of a validation: AliExpress product detail first (its failure fails the job),
//! then freight, affiliate detail, text search, Meta and YouTube concurrently (their failures only
//! leave gaps), normalised into [`Signals`] with a per-upstream status report (docs/design/score-v1.md §1, §6).

use chrono::{DateTime, Utc};
use dropforge_common::{
    keyword::derive_keyword,
    scoring::signals::{AliExpressSignals, Signals},
};
use serde::{Deserialize, Serialize};

use super::Upstreams;
use super::aliexpress::wire::{ProductDetail, cheapest_tracked};
use super::error::{Upstream, UpstreamError};
use super::json::age_days;
use super::keyword_cache::KeywordCache;

/// What to gather for one product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatherRequest {
    /// AliExpress product id.
    pub product_id: String,
    /// Ship-to country (ISO 3166-1 alpha-2).
    pub ship_to: String,
    /// Target currency of prices.
    pub currency: String,
    /// The client's intended retail price.
    pub target_price: Option<f64>,
    /// The validation time all ages are relative to.
    pub validated_at: DateTime<Utc>,
}

/// The store selling the product.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreInfo {
    /// `store_id`.
    pub id: Option<String>,
    /// `store_name`.
    pub name: Option<String>,
    /// `store_country_code`.
    pub country: Option<String>,
    /// Described, communication and shipping-speed ratings.
    pub ratings: Option<[f64; 3]>,
}

/// The product as shown in results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductInfo {
    /// AliExpress product id.
    pub id: String,
    /// Product title.
    pub title: String,
    /// The derived search keyword (shared by Meta, YouTube and `ds.text.search`).
    pub keyword: String,
    /// First product image.
    pub image_url: Option<String>,
    /// Currency of `unit_cost`.
    pub currency: String,
    /// Cheapest SKU price (in stock if any SKU is).
    pub unit_cost: f64,
    /// The store.
    pub store: StoreInfo,
    /// Product page.
    pub url: String,
}

/// Status of one upstream in a result (`{"status": "ok", …}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum UpstreamStatus {
    /// The upstream answered.
    Ok {
        /// Meta: pages read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pages: Option<u32>,
        /// YouTube: `search.list` calls made.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        search_calls: Option<u32>,
        /// YouTube: quota units spent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        units: Option<u32>,
        /// Optional sub-calls that failed (AliExpress freight, affiliate, text search).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        warnings: Vec<String>,
    },
    /// The upstream failed; `reason` is short and stable (`throttled 613`).
    Failed {
        /// Why.
        reason: String,
    },
    /// A daily quota is used up until `retry_after`.
    QuotaExhausted {
        /// When the quota resets.
        retry_after: Option<DateTime<Utc>>,
    },
    /// Not called (e.g. no keyword could be derived).
    Skipped {
        /// Why.
        reason: String,
    },
}

impl UpstreamStatus {
    /// A plain `{"status": "ok"}`.
    pub fn ok() -> Self {
        Self::Ok {
            pages: None,
            search_calls: None,
            units: None,
            warnings: Vec::new(),
        }
    }

    /// True for `ok`.
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok { .. })
    }

    /// The status of a failed call.
    pub fn from_error(err: &UpstreamError) -> Self {
        match err {
            UpstreamError::QuotaExhausted { until, .. } => Self::QuotaExhausted { retry_after: *until },
            other => Self::Failed { reason: other.reason() },
        }
    }
}

/// Per-upstream statuses of one gather.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamsReport {
    /// AliExpress (always ok in a successful gather; warnings list failed optional calls).
    pub aliexpress: UpstreamStatus,
    /// Meta Ad Library.
    pub meta: UpstreamStatus,
    /// YouTube.
    pub youtube: UpstreamStatus,
}

impl UpstreamsReport {
    /// True when Meta or YouTube did not answer (cache with the short partial TTL).
    pub fn is_partial(&self) -> bool {
        !self.meta.is_ok() || !self.youtube.is_ok()
    }
}

/// Everything gathered for one product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gathered {
    /// The product.
    pub product: ProductInfo,
    /// score-v1 inputs.
    pub signals: Signals,
    /// Per-upstream statuses.
    pub upstreams: UpstreamsReport,
}

/// Cheapest SKU price over SKUs in stock, else over all SKUs.
fn unit_cost(p: &ProductDetail) -> Option<f64> {
    let min = |in_stock_only: bool| {
        p.skus
            .iter()
            .filter(|s| !in_stock_only || s.stock.is_some_and(|n| n > 0))
            .filter_map(|s| s.price)
            .filter(|x| *x >= 0.0)
            .reduce(f64::min)
    };
    min(true).or_else(|| min(false))
}

/// The SKU whose freight is quoted: the cheapest in stock, else the first.
fn freight_sku(p: &ProductDetail, cost: f64) -> Option<String> {
    p.skus
        .iter()
        .find(|s| s.price == Some(cost) && s.stock.is_some_and(|n| n > 0))
        .or_else(|| p.skus.first())
        .and_then(|s| s.sku_id.clone())
}

/// Gathers every upstream for `req`. Fails only when `ds.product.get` fails (permanent for
/// not-found/auth/invalid, retryable for transient/throttled, see [`UpstreamError::is_retryable`]).
pub async fn gather(clients: &Upstreams, req: &GatherRequest) -> Result<Gathered, UpstreamError> {
    let ae = &clients.aliexpress;
    let detail = ae.product_get(&req.product_id, &req.ship_to, &req.currency).await?;
    let cost = unit_cost(&detail).ok_or_else(|| {
        UpstreamError::invalid(
            Upstream::AliExpress,
            "no_price",
            format!("product {} has no priced SKU", req.product_id),
        )
    })?;
    let keyword = derive_keyword(&detail.title);
    let sku = freight_sku(&detail, cost);
    let no_keyword = || UpstreamError::invalid(Upstream::AliExpress, "no_keyword", "no keyword derivable from title");

    let freight = async {
        match &sku {
            Some(sku) => {
                ae.freight_query(&detail.product_id, sku, &req.ship_to, &req.currency)
                    .await
            }
            None => Err(UpstreamError::invalid(Upstream::AliExpress, "no_sku", "no SKU id")),
        }
    };
    let affiliate = ae.affiliate_product_detail(&detail.product_id, &req.ship_to, &req.currency);
    let cache = clients.keyword_cache.as_ref();
    let search_scope = format!("{}-{}", req.ship_to, req.currency);
    // The keyword's three cached answers in one round trip, before the calls that may need them.
    let [search_hit, meta_hit, youtube_hit] = match cache {
        Some(c) if !keyword.is_empty() => {
            c.get_all(
                [("text_search", &search_scope), ("meta", "ads"), ("youtube", "videos")],
                &keyword,
            )
            .await
        }
        _ => [None, None, None],
    };
    let search = async {
        if keyword.is_empty() {
            return Err(no_keyword());
        }
        if let Some(hit) = KeywordCache::decode::<u64>(search_hit) {
            return Ok(hit);
        }
        let found = ae.text_search(&keyword, &req.ship_to, &req.currency).await;
        if let (Some(c), Ok(total)) = (cache, &found) {
            c.put("text_search", &search_scope, &keyword, total).await;
        }
        found
    };
    let meta = async {
        if keyword.is_empty() {
            return None;
        }
        if let Some(signals) = KeywordCache::decode(meta_hit) {
            return Some(Ok((signals, None)));
        }
        let found = clients.meta.active_ads(&keyword, req.validated_at).await;
        if let (Some(c), Ok(m)) = (cache, &found) {
            c.put("meta", "ads", &keyword, &m.signals).await;
        }
        Some(found.map(|m| (m.signals, Some(m.pages))))
    };
    let youtube = async {
        if keyword.is_empty() {
            return None;
        }
        if let Some(signals) = KeywordCache::decode(youtube_hit) {
            return Some(Ok((signals, None)));
        }
        let found = clients.youtube.videos(&keyword, req.validated_at).await;
        if let (Some(c), Ok(y)) = (cache, &found) {
            c.put("youtube", "videos", &keyword, &y.signals).await;
        }
        Some(found.map(|y| (y.signals, Some((y.search_calls, y.units)))))
    };
    let (freight, affiliate, search, meta, youtube) = tokio::join!(freight, affiliate, search, meta, youtube);

    let mut warnings = Vec::new();
    let mut note = |what: &str, e: &UpstreamError| warnings.push(format!("{what}: {}", e.reason()));
    let (shipping_cost, ship_days_max) = match &freight {
        Ok(options) => match cheapest_tracked(options) {
            Some(o) => (o.fee, o.max_days.or(detail.delivery_time)),
            None => (None, detail.delivery_time),
        },
        Err(e) => {
            note("freight", e);
            (None, detail.delivery_time)
        }
    };
    let affiliate = affiliate.inspect_err(|e| note("affiliate", e)).ok();
    let similar_listings = search.inspect_err(|e| note("text_search", e)).ok();

    let stock = detail
        .skus
        .iter()
        .filter_map(|s| s.stock)
        .reduce(|a, b| a.saturating_add(b));
    let aliexpress = AliExpressSignals {
        on_selling: detail.status.as_deref() == Some("onSelling"),
        unit_cost: cost,
        shipping_cost,
        ship_days_max,
        orders_30d: affiliate.as_ref().and_then(|a| a.lastest_volume),
        orders_total: detail.sales_count,
        listing_age_days: detail.gmt_create.map(|t| age_days(req.validated_at, t)),
        rating: detail.avg_rating,
        rating_count: detail.evaluation_count,
        store_dsr: detail.store.ratings,
        stock,
        similar_listings,
    };

    let skipped = || UpstreamStatus::Skipped {
        reason: "no keyword".into(),
    };
    let from_cache = |fresh: bool| {
        if fresh {
            Vec::new()
        } else {
            vec!["from keyword cache".to_owned()]
        }
    };
    let (meta_signals, meta_status) = match meta {
        Some(Ok((signals, pages))) => (
            Some(signals),
            UpstreamStatus::Ok {
                pages,
                search_calls: None,
                units: None,
                warnings: from_cache(pages.is_some()),
            },
        ),
        Some(Err(e)) => (None, UpstreamStatus::from_error(&e)),
        None => (None, skipped()),
    };
    let (yt_signals, yt_status) = match youtube {
        Some(Ok((signals, spent))) => (
            Some(signals),
            UpstreamStatus::Ok {
                pages: None,
                search_calls: spent.map(|(calls, _)| calls),
                units: spent.map(|(_, units)| units),
                warnings: from_cache(spent.is_some()),
            },
        ),
        Some(Err(e)) => (None, UpstreamStatus::from_error(&e)),
        None => (None, skipped()),
    };

    let store = detail.store.clone();
    let product = ProductInfo {
        url: format!("https://www.aliexpress.com/item/{}.html", detail.product_id),
        id: detail.product_id,
        title: detail.title,
        keyword,
        image_url: detail.image_urls.into_iter().next(),
        currency: detail.sku_currency.unwrap_or_else(|| req.currency.clone()),
        unit_cost: cost,
        store: StoreInfo {
            id: store.id,
            name: store.name,
            country: store.country,
            ratings: store.ratings,
        },
    };
    Ok(Gathered {
        product,
        signals: Signals {
            aliexpress: Some(aliexpress),
            meta: meta_signals,
            youtube: yt_signals,
            target_price: req.target_price,
        },
        upstreams: UpstreamsReport {
            aliexpress: UpstreamStatus::Ok {
                pages: None,
                search_calls: None,
                units: None,
                warnings,
            },
            meta: meta_status,
            youtube: yt_status,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn report_serialises_like_the_design() {
        let until: DateTime<Utc> = "2025-06-02T07:00:00Z".parse().expect("ts");
        let report = UpstreamsReport {
            aliexpress: UpstreamStatus::ok(),
            meta: UpstreamStatus::Failed {
                reason: "throttled 613".into(),
            },
            youtube: UpstreamStatus::QuotaExhausted {
                retry_after: Some(until),
            },
        };
        let v = serde_json::to_value(&report).expect("json");
        assert_eq!(
            v,
            json!({"aliexpress": {"status": "ok"}, "meta": {"status": "failed", "reason": "throttled 613"},
                   "youtube": {"status": "quota_exhausted", "retry_after": "2025-06-02T07:00:00Z"}})
        );
        assert!(report.is_partial());
        let back: UpstreamsReport = serde_json::from_value(v).expect("round trip");
        assert_eq!(back, report);
        let ok = UpstreamsReport {
            aliexpress: UpstreamStatus::ok(),
            meta: UpstreamStatus::Ok {
                pages: Some(1),
                search_calls: None,
                units: None,
                warnings: vec![],
            },
            youtube: UpstreamStatus::Ok {
                pages: None,
                search_calls: Some(1),
                units: Some(101),
                warnings: vec![],
            },
        };
        assert!(!ok.is_partial());
        assert_eq!(
            serde_json::to_value(&ok).expect("json")["youtube"],
            json!({"status": "ok", "search_calls": 1, "units": 101})
        );
    }

    #[test]
    fn unit_cost_prefers_skus_in_stock() {
        use super::super::aliexpress::Sku;
        let sku = |p: f64, s: u64| Sku {
            sku_id: Some(format!("{p}")),
            price: Some(p),
            stock: Some(s),
        };
        let mut p = ProductDetail {
            skus: vec![sku(5.0, 0), sku(7.0, 3), sku(6.0, 1)],
            ..ProductDetail::default()
        };
        assert_eq!(unit_cost(&p), Some(6.0));
        assert_eq!(freight_sku(&p, 6.0).as_deref(), Some("6"));
        p.skus = vec![sku(5.0, 0), sku(7.0, 0)];
        assert_eq!(unit_cost(&p), Some(5.0));
        p.skus.clear();
        assert_eq!(unit_cost(&p), None);
    }
}
