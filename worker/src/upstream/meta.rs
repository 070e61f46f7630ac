//! Meta Ad Library client: `GET {base}/{version}/ads_archive` for active ads matching a keyword in
//! the configured EU countries, following `paging.next` up to `max_pages` (docs/design/upstreams.md §2).
//! Throttling (`error.code` 4/17/32/341/613, or `x-app-usage` ≥ 90 %) pauses the client.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, TimeZone, Utc};
use dropforge_common::{config::Secret, config::UpstreamsConfig, scoring::signals::MetaSignals};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use super::budget::{Budget, guarded};
use super::error::{Upstream, UpstreamError, classify_meta};
use super::http::{RawResponse, send, timed};
use super::json::{age_days, get, i64_at, parse_time, string_at};
use super::retry::RetryPolicy;

const META: Upstream = Upstream::Meta;
/// Pause after an error-code throttle (minutes up to an hour: docs/design/upstreams.md §2.3).
pub const THROTTLE_PAUSE: Duration = Duration::from_secs(300);
/// Pause after a response whose `x-app-usage` reached [`USAGE_LIMIT`].
pub const USAGE_PAUSE: Duration = Duration::from_secs(60);
/// `x-app-usage` percentage from which the next call is held back.
pub const USAGE_LIMIT: f64 = 90.0;
const FIELDS: &str = "id,page_id,page_name,ad_delivery_start_time";

/// Meta signals plus the number of pages read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaResult {
    /// The normalised signals.
    pub signals: MetaSignals,
    /// Pages read.
    pub pages: u32,
}

/// Client of the Ad Library API; clones share the throttle pause.
#[derive(Debug, Clone)]
pub struct MetaClient {
    http: reqwest::Client,
    url: String,
    access_token: Secret,
    countries: String,
    max_pages: u32,
    page_limit: u32,
    retry: RetryPolicy,
    pause_until_ms: Arc<AtomicI64>,
    pub(crate) budget: Option<Budget>,
}

struct Ad {
    id: Option<String>,
    advertiser: Option<String>,
    start: Option<DateTime<Utc>>,
}

struct Page {
    ads: Vec<Ad>,
    next: Option<String>,
}

impl MetaClient {
    /// Builds the client around a shared `reqwest::Client`.
    pub fn new(http: reqwest::Client, cfg: &UpstreamsConfig) -> Self {
        let m = &cfg.meta;
        Self {
            http,
            url: format!("{}/{}/ads_archive", m.base_url.trim_end_matches('/'), m.api_version),
            access_token: m.access_token.clone(),
            countries: serde_json::to_string(&m.countries).unwrap_or_else(|_| "[]".into()),
            max_pages: m.max_pages.max(1),
            page_limit: m.page_limit.max(1),
            retry: RetryPolicy::from_config(cfg),
            pause_until_ms: Arc::new(AtomicI64::new(0)),
            budget: None,
        }
    }

    /// Replaces the retry policy (tests).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Until when the client holds calls back after a throttle signal, if it does now.
    pub fn throttled_until(&self) -> Option<DateTime<Utc>> {
        let ms = self.pause_until_ms.load(Ordering::Relaxed);
        Utc.timestamp_millis_opt(ms).single().filter(|t| *t > Utc::now())
    }

    fn pause_for(&self, d: Duration) {
        let until = Utc::now()
            .timestamp_millis()
            .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        self.pause_until_ms.fetch_max(until, Ordering::Relaxed);
    }

    /// Active ads for `keyword`, with ages relative to `validated_at`.
    pub async fn active_ads(&self, keyword: &str, validated_at: DateTime<Utc>) -> Result<MetaResult, UpstreamError> {
        let mut ads = Vec::new();
        let mut next: Option<String> = None;
        let mut pages = 0u32;
        let mut truncated = false;
        loop {
            if let Some(until) = self.throttled_until() {
                if pages == 0 {
                    let retry_after = (until - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                    return Err(UpstreamError::Throttled {
                        upstream: META,
                        retry_after,
                        code: "paused".into(),
                    });
                }
                truncated = true;
                break;
            }
            let page = self
                .retry
                .run(|| {
                    let call = timed(META, "ads_archive", self.fetch(keyword, next.as_deref()));
                    guarded(self.budget.as_ref(), META, 1, call)
                })
                .await?;
            pages += 1;
            let empty = page.ads.is_empty();
            ads.extend(page.ads);
            match page.next {
                Some(n) if !empty => {
                    if pages >= self.max_pages {
                        truncated = true;
                        break;
                    }
                    next = Some(n);
                }
                _ => break,
            }
        }
        Ok(MetaResult {
            signals: signals(&ads, validated_at, truncated),
            pages,
        })
    }

    /// Builds the request of one page: the first page from our parameters; later pages from
    /// `paging.next` when it points at our base URL, else from its `after` cursor.
    fn request(&self, keyword: &str, next: Option<&str>) -> Result<reqwest::RequestBuilder, UpstreamError> {
        let token = self.access_token.expose();
        if let Some(next) = next {
            let next_url = Url::parse(next).map_err(|_| UpstreamError::malformed(META, "paging.next is not a URL"))?;
            let same_origin = Url::parse(&self.url).is_ok_and(|base| base.origin() == next_url.origin());
            if same_origin {
                let has_token = next_url.query_pairs().any(|(k, _)| k == "access_token");
                let req = self.http.get(next_url);
                return Ok(if has_token {
                    req
                } else {
                    req.query(&[("access_token", token)])
                });
            }
            let after = next_url
                .query_pairs()
                .find(|(k, _)| k == "after")
                .map(|(_, v)| v.into_owned());
            let after = after.ok_or_else(|| UpstreamError::malformed(META, "paging.next without cursor"))?;
            return Ok(self.first_page(keyword, token).query(&[("after", after)]));
        }
        Ok(self.first_page(keyword, token))
    }

    fn first_page(&self, keyword: &str, token: &str) -> reqwest::RequestBuilder {
        let limit = self.page_limit.to_string();
        self.http.get(&self.url).query(&[
            ("access_token", token),
            ("ad_reached_countries", self.countries.as_str()),
            ("search_terms", keyword),
            ("ad_type", "ALL"),
            ("ad_active_status", "ACTIVE"),
            ("fields", FIELDS),
            ("limit", limit.as_str()),
        ])
    }

    async fn fetch(&self, keyword: &str, next: Option<&str>) -> Result<Page, UpstreamError> {
        let resp = send(META, self.request(keyword, next)?).await?;
        if let Some(usage) = max_usage(&resp)
            && usage >= USAGE_LIMIT
        {
            tracing::warn!(usage, "meta x-app-usage high; pausing the next call");
            self.pause_for(USAGE_PAUSE);
        }
        let body = match resp.json(META) {
            Ok(b) => b,
            Err(_) if !resp.status.is_success() => return Err(resp.status_error(META)),
            Err(e) => return Err(e),
        };
        if let Some(err) = get(&body, &["error"]) {
            let code = i64_at(err, &["code"]).unwrap_or(-1);
            let msg = string_at(err, &["message"]).unwrap_or_default();
            let e = classify_meta(code, resp.status.as_u16(), &msg, THROTTLE_PAUSE);
            if let UpstreamError::Throttled { retry_after, .. } = &e {
                self.pause_for(*retry_after);
            }
            return Err(e);
        }
        if !resp.status.is_success() {
            return Err(resp.status_error(META));
        }
        let Some(data) = get(&body, &["data"]) else {
            return Err(UpstreamError::malformed(META, "no data"));
        };
        let ads = super::json::list(data)
            .into_iter()
            .map(|a| Ad {
                id: string_at(a, &["id"]),
                advertiser: string_at(a, &["page_id"]).or_else(|| string_at(a, &["page_name"])),
                start: get(a, &["ad_delivery_start_time"]).and_then(parse_time),
            })
            .collect();
        let next = string_at(&body, &["paging", "next"]);
        Ok(Page { ads, next })
    }
}

/// The highest percentage in `x-app-usage` (`call_count`, `total_cputime`, `total_time`).
fn max_usage(resp: &RawResponse) -> Option<f64> {
    let raw = resp.headers.get("x-app-usage")?.to_str().ok()?;
    let v: Value = serde_json::from_str(raw).ok()?;
    v.as_object()?.values().filter_map(super::json::as_f64).reduce(f64::max)
}

/// Normalises the ads read into [`MetaSignals`] (docs/design/score-v1.md §1).
fn signals(ads: &[Ad], validated_at: DateTime<Utc>, truncated: bool) -> MetaSignals {
    let mut seen = HashSet::new();
    let unique: Vec<&Ad> = ads
        .iter()
        .filter(|a| a.id.as_ref().is_none_or(|id| seen.insert(id.clone())))
        .collect();
    let advertisers: HashSet<&str> = unique.iter().filter_map(|a| a.advertiser.as_deref()).collect();
    let ages: Vec<f64> = unique
        .iter()
        .filter_map(|a| a.start)
        .map(|s| age_days(validated_at, s))
        .collect();
    MetaSignals {
        active_ads: unique.len() as u64,
        advertisers: advertisers.len() as u64,
        max_age_days: ages.iter().copied().fold(0.0, f64::max),
        new_ads_14d: ages.iter().filter(|a| **a <= 14.0).count() as u64,
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ad(id: &str, page: &str, start: &str) -> Ad {
        Ad {
            id: Some(id.into()),
            advertiser: Some(page.into()),
            start: parse_time(&Value::String(start.into())),
        }
    }

    #[test]
    fn signals_from_ads() {
        let now: DateTime<Utc> = "2025-06-01T00:00:00Z".parse().expect("ts");
        let ads = vec![
            ad("1", "p1", "2025-03-03"),
            ad("2", "p1", "2025-05-25"),
            ad("3", "p2", "2025-05-31"),
            ad("3", "p2", "2025-05-31"),
        ];
        let s = signals(&ads, now, true);
        assert_eq!(s.active_ads, 3);
        assert_eq!(s.advertisers, 2);
        assert_eq!(s.max_age_days, 90.0);
        assert_eq!(s.new_ads_14d, 2);
        assert!(s.truncated);
        assert_eq!(signals(&[], now, false), MetaSignals::default());
    }

    #[test]
    fn meta_codes_are_authoritative() {
        let e = classify_meta(
            613,
            400,
            "(#613) Calls to this api have exceeded the rate limit.",
            THROTTLE_PAUSE,
        );
        assert!(matches!(e, UpstreamError::Throttled { .. }));
        assert_eq!(e.reason(), "throttled 613");
        assert_eq!(e.retry_after(), Some(THROTTLE_PAUSE));
        for code in [4, 17, 32, 341] {
            assert_eq!(classify_meta(code, 403, "", THROTTLE_PAUSE).outcome(), "throttled");
        }
        assert_eq!(
            classify_meta(190, 400, "Invalid OAuth access token data.", THROTTLE_PAUSE).outcome(),
            "auth"
        );
        assert_eq!(classify_meta(100, 400, "bad", THROTTLE_PAUSE).outcome(), "client_error");
        assert_eq!(classify_meta(2, 500, "x", THROTTLE_PAUSE).outcome(), "server_error");
    }
}
