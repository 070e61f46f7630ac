//! YouTube Data API v3 client: `search` (most-viewed videos of the last 90 days for a keyword)
//! then `videos` (statistics), normalised into [`YouTubeSignals`] (docs/design/upstreams.md §3.2).
//! `quotaExceeded` is [`UpstreamError::QuotaExhausted`] until the next midnight Pacific.

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use dropforge_common::{
    config::{Secret, UpstreamsConfig},
    scoring::signals::{VideoStat, YouTubeSignals},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::budget::{Budget, guarded};
use super::error::{Upstream, UpstreamError, classify_youtube};
use super::http::{send, timed};
use super::json::{age_days, get, list_at, parse_time, string_at, u64_at};
use super::retry::RetryPolicy;

const YT: Upstream = Upstream::YouTube;
/// Quota units charged for one `search.list` call (units model; 1 call in the bucket model).
pub const SEARCH_UNITS: u32 = 100;
/// Quota units charged for one `videos.list` call.
pub const VIDEOS_UNITS: u32 = 1;

/// YouTube signals plus the quota spent to get them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YouTubeResult {
    /// The normalised signals.
    pub signals: YouTubeSignals,
    /// `search.list` calls made (each attempt that reached YouTube).
    pub search_calls: u32,
    /// Quota units spent: 100 per search call, 1 per `videos.list` call.
    pub units: u32,
}

/// Client of the YouTube Data API.
#[derive(Debug, Clone)]
pub struct YouTubeClient {
    http: reqwest::Client,
    base: String,
    api_key: Secret,
    max_results: u32,
    retry: RetryPolicy,
    pub(crate) budget: Option<Budget>,
}

impl YouTubeClient {
    /// Builds the client around a shared `reqwest::Client`.
    pub fn new(http: reqwest::Client, cfg: &UpstreamsConfig) -> Self {
        let y = &cfg.youtube;
        Self {
            http,
            base: format!("{}/youtube/v3", y.base_url.trim_end_matches('/')),
            api_key: y.api_key.clone(),
            max_results: y.max_results.clamp(1, 50),
            retry: RetryPolicy::from_config(cfg),
            budget: None,
        }
    }

    /// Replaces the retry policy (tests).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The most viewed videos of the last 90 days for `keyword`, with their statistics.
    pub async fn videos(&self, keyword: &str, validated_at: DateTime<Utc>) -> Result<YouTubeResult, UpstreamError> {
        let searches = AtomicU32::new(0);
        let lists = AtomicU32::new(0);
        let published_after = (validated_at - Duration::days(90)).to_rfc3339_opts(SecondsFormat::Secs, true);
        let max_results = self.max_results.to_string();
        let search_query = [
            ("part", "snippet"),
            ("q", keyword),
            ("type", "video"),
            ("order", "viewCount"),
            ("publishedAfter", published_after.as_str()),
            ("maxResults", max_results.as_str()),
            ("key", self.api_key.expose()),
        ];
        let found = self
            .retry
            .run(|| {
                let call = timed(YT, "search", self.get("search", &search_query, &searches));
                guarded(self.budget.as_ref(), YT, SEARCH_UNITS.into(), call)
            })
            .await?;
        let mut ids: Vec<String> = Vec::new();
        let mut search_dates = std::collections::HashMap::new();
        for item in list_at(&found, &["items"]) {
            let id = string_at(item, &["id", "videoId"])
                .or_else(|| get(item, &["id"]).and_then(Value::as_str).map(str::to_owned));
            if let Some(id) = id.filter(|id| !ids.contains(id)) {
                if let Some(t) = get(item, &["snippet", "publishedAt"]).and_then(parse_time) {
                    search_dates.insert(id.clone(), t);
                }
                ids.push(id);
            }
        }
        let mut videos = Vec::new();
        if !ids.is_empty() {
            let id_list = ids.join(",");
            let query = [
                ("part", "snippet,statistics"),
                ("id", id_list.as_str()),
                ("key", self.api_key.expose()),
            ];
            let listed = self
                .retry
                .run(|| {
                    let call = timed(YT, "videos", self.get("videos", &query, &lists));
                    guarded(self.budget.as_ref(), YT, VIDEOS_UNITS.into(), call)
                })
                .await?;
            for item in list_at(&listed, &["items"]) {
                let Some(stats) = get(item, &["statistics"]) else {
                    continue;
                };
                let published = get(item, &["snippet", "publishedAt"])
                    .and_then(parse_time)
                    .or_else(|| string_at(item, &["id"]).and_then(|id| search_dates.get(&id).copied()));
                videos.push(VideoStat {
                    views: u64_at(stats, &["viewCount"]).unwrap_or(0),
                    likes: u64_at(stats, &["likeCount"]),
                    comments: u64_at(stats, &["commentCount"]),
                    age_days: published.map(|p| age_days(validated_at, p)).unwrap_or(0.0),
                });
            }
        }
        let search_calls = searches.load(Ordering::Relaxed);
        let units = search_calls * SEARCH_UNITS + lists.load(Ordering::Relaxed) * VIDEOS_UNITS;
        Ok(YouTubeResult {
            signals: YouTubeSignals { videos },
            search_calls,
            units,
        })
    }

    /// One GET of `{base}/{path}`; `calls` counts the requests that reached YouTube (quota spent).
    async fn get(&self, path: &'static str, query: &[(&str, &str)], calls: &AtomicU32) -> Result<Value, UpstreamError> {
        let req = self.http.get(format!("{}/{path}", self.base)).query(query);
        let resp = send(YT, req).await?;
        calls.fetch_add(1, Ordering::Relaxed);
        let body = resp.json(YT);
        if resp.status.is_success() {
            return body;
        }
        let Ok(body) = body else {
            return Err(resp.status_error(YT));
        };
        let Some(err) = get(&body, &["error"]) else {
            return Err(resp.status_error(YT));
        };
        let reasons: Vec<String> = list_at(err, &["errors"])
            .into_iter()
            .chain(list_at(err, &["details"]))
            .filter_map(|e| string_at(e, &["reason"]))
            .collect();
        let msg = string_at(err, &["message"]).unwrap_or_default();
        Err(classify_youtube(resp.status.as_u16(), &reasons, &msg, Utc::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::pacific::next_pacific_midnight;
    use super::*;

    #[test]
    fn quota_exceeded_waits_for_pacific_midnight() {
        let winter: DateTime<Utc> = "2025-01-15T12:00:00Z".parse().expect("ts");
        let summer: DateTime<Utc> = "2025-07-01T12:00:00Z".parse().expect("ts");
        for (now, want) in [(winter, "2025-01-16T08:00:00Z"), (summer, "2025-07-02T07:00:00Z")] {
            let e = classify_youtube(403, &["quotaExceeded".into()], "quota", now);
            let want: DateTime<Utc> = want.parse().expect("ts");
            assert_eq!(
                e,
                UpstreamError::QuotaExhausted {
                    upstream: YT,
                    until: Some(want)
                }
            );
            assert_eq!(next_pacific_midnight(now), want);
            assert_eq!(e.outcome(), "quota");
            assert!(!e.is_retryable());
        }
    }

    #[test]
    fn other_google_errors() {
        let now = Utc::now();
        let key = classify_youtube(
            400,
            &["badRequest".into(), "API_KEY_INVALID".into()],
            "API key not valid.",
            now,
        );
        assert!(matches!(key, UpstreamError::Auth { .. }));
        assert_eq!(
            classify_youtube(400, &["missingRequiredParameter".into()], "x", now).outcome(),
            "client_error"
        );
        assert_eq!(classify_youtube(503, &[], "x", now).outcome(), "server_error");
        assert_eq!(classify_youtube(403, &["forbidden".into()], "x", now).outcome(), "auth");
        assert_eq!(
            classify_youtube(403, &["rateLimitExceeded".into()], "x", now).outcome(),
            "throttled"
        );
    }
}
