//! YouTube Data API v3 client: `search` (most-viewed videos of the last 90 days for a keyword)
//! then `videos` (statistics), normalised into [`YouTubeSignals`] (docs/design/upstreams.md §3.2).
//! `quotaExceeded` is [`UpstreamError::QuotaExhausted`] until the next midnight Pacific.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicU32, Ordering},
};

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
        let (ids, search_dates) = found_videos(&found);
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
            videos = video_stats(&listed, &search_dates, validated_at);
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
        let body = resp.json_without(YT, UNREAD);
        if resp.status.is_success() {
            return body;
        }
        let Some((reasons, msg)) = body.ok().as_ref().and_then(google_error) else {
            return Err(resp.status_error(YT));
        };
        Err(classify_youtube(resp.status.as_u16(), &reasons, &msg, Utc::now()))
    }
}

/// The reasons and the message of a Google error answer (`{"error": {...}}`).
fn google_error(body: &Value) -> Option<(Vec<String>, String)> {
    let err = get(body, &["error"])?;
    let reasons = list_at(err, &["errors"])
        .into_iter()
        .chain(list_at(err, &["details"]))
        .filter_map(|e| string_at(e, &["reason"]))
        .collect();
    Some((reasons, string_at(err, &["message"]).unwrap_or_default()))
}

/// Members of YouTube's answers (search, videos, errors) that no parser here reads, left out
/// while parsing ([`super::json::from_slice_without`]), at any depth. `part=snippet` brings every
/// video's title, description, channel and three thumbnails: about 15 KB per answer, of which the
/// parsers read the ids, the publication times and the statistics. Parsing was the largest single
/// share of the worker's CPU after the HTTP exchanges themselves.
const UNREAD: &[&str] = &[
    "thumbnails",
    "description",
    "title",
    "channelTitle",
    "channelId",
    "etag",
    "kind",
    "liveBroadcastContent",
    "publishTime",
    "categoryId",
    "tags",
    "localized",
    "defaultLanguage",
    "defaultAudioLanguage",
    "favoriteCount",
    "pageInfo",
    "regionCode",
    "nextPageToken",
];

/// The video ids of a `search` answer, in order and without repeats, with the publication time
/// each came with.
fn found_videos(found: &Value) -> (Vec<String>, HashMap<String, DateTime<Utc>>) {
    let mut ids: Vec<String> = Vec::new();
    let mut dates = HashMap::new();
    for item in list_at(found, &["items"]) {
        let id = string_at(item, &["id", "videoId"])
            .or_else(|| get(item, &["id"]).and_then(Value::as_str).map(str::to_owned));
        if let Some(id) = id.filter(|id| !ids.contains(id)) {
            if let Some(t) = get(item, &["snippet", "publishedAt"]).and_then(parse_time) {
                dates.insert(id.clone(), t);
            }
            ids.push(id);
        }
    }
    (ids, dates)
}

/// The statistics of a `videos` answer; a video without its own publication time takes the one
/// its search result gave.
fn video_stats(
    listed: &Value,
    search_dates: &HashMap<String, DateTime<Utc>>,
    validated_at: DateTime<Utc>,
) -> Vec<VideoStat> {
    list_at(listed, &["items"])
        .into_iter()
        .filter_map(|item| {
            let stats = get(item, &["statistics"])?;
            let published = get(item, &["snippet", "publishedAt"])
                .and_then(parse_time)
                .or_else(|| string_at(item, &["id"]).and_then(|id| search_dates.get(&id).copied()));
            Some(VideoStat {
                views: u64_at(stats, &["viewCount"]).unwrap_or(0),
                likes: u64_at(stats, &["likeCount"]),
                comments: u64_at(stats, &["commentCount"]),
                age_days: published.map(|p| age_days(validated_at, p)).unwrap_or(0.0),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::pacific::next_pacific_midnight;
    use super::*;

    /// Parses `body` as the client does (without [`UNREAD`]) and in full: both must read the same.
    /// Answers what was read and the share of the answer's bytes that was kept.
    fn same_either_way<T: PartialEq + std::fmt::Debug>(body: &Value, read: impl Fn(&Value) -> T) -> (T, f64) {
        let bytes = serde_json::to_vec(body).expect("body");
        let full: Value = serde_json::from_slice(&bytes).expect("full");
        let pruned = super::super::json::from_slice_without(&bytes, UNREAD).expect("pruned");
        let kept = serde_json::to_vec(&pruned).expect("pruned bytes").len() as f64 / bytes.len() as f64;
        let (want, got) = (read(&full), read(&pruned));
        assert_eq!(got, want, "the unread members changed what was read");
        (want, kept)
    }

    /// A video as `part=snippet` describes it (search) or `part=snippet,statistics` (videos).
    fn snippet(id: &str, published: &str) -> Value {
        let thumb = |name: &str, w: u32, h: u32| json!({"url": format!("https://i.ytimg.com/vi/{id}/{name}.jpg"), "width": w, "height": h});
        json!({"publishedAt": published, "publishTime": published, "channelId": "UC8CIBo-iJf9QBZcQzQyJyi4",
            "title": "Cheap vs expensive: which one wins", "description": "Full review and test of the kind of thing",
            "thumbnails": {"default": thumb("default", 120, 90), "medium": thumb("mqdefault", 320, 180),
                "high": thumb("hqdefault", 480, 360)},
            "channelTitle": "Pure Hub Reviews", "liveBroadcastContent": "none", "categoryId": "26",
            "tags": ["review", "gadget"], "localized": {"title": "Cheap vs expensive", "description": "Full review"}})
    }

    #[test]
    fn leaving_out_unread_members_changes_no_answer() {
        let search = json!({"kind": "youtube#searchListResponse", "etag": "BPY2OWdO_10", "regionCode": "US",
            "nextPageToken": "CBkQAA", "pageInfo": {"totalResults": 1000000, "resultsPerPage": 3},
            "items": [
                {"kind": "youtube#searchResult", "etag": "ih1N", "id": {"kind": "youtube#video", "videoId": "OqeVfvaMxxh"},
                 "snippet": snippet("OqeVfvaMxxh", "2026-11-21T04:01:58Z")},
                {"kind": "youtube#searchResult", "etag": "hM6c", "id": "K06aOeCR7Wc",
                 "snippet": snippet("K06aOeCR7Wc", "2026-09-16T07:23:03Z")},
                {"kind": "youtube#searchResult", "etag": "again", "id": {"kind": "youtube#video", "videoId": "OqeVfvaMxxh"},
                 "snippet": snippet("OqeVfvaMxxh", "2026-11-21T04:01:58Z")}]});
        let ((ids, dates), kept) = same_either_way(&search, found_videos);
        assert!(kept < 0.25, "a search answer is mostly left out: {kept:.2} kept");
        assert_eq!(ids, ["OqeVfvaMxxh", "K06aOeCR7Wc"]);
        assert_eq!(dates.len(), 2);

        let mut without_date = snippet("K06aOeCR7Wc", "");
        without_date.as_object_mut().expect("object").remove("publishedAt");
        let videos = json!({"kind": "youtube#videoListResponse", "etag": "3_xo", "pageInfo": {"totalResults": 2},
            "items": [
                {"kind": "youtube#video", "etag": "QTtB", "id": "OqeVfvaMxxh", "snippet": snippet("OqeVfvaMxxh", "2026-11-21T04:01:58Z"),
                 "statistics": {"viewCount": "794644", "likeCount": "15542", "favoriteCount": "0", "commentCount": "1956"}},
                {"kind": "youtube#video", "etag": "ZdaZ", "id": "K06aOeCR7Wc", "snippet": without_date,
                 "statistics": {"viewCount": 1200, "favoriteCount": "0"}},
                {"kind": "youtube#video", "etag": "gone", "id": "private0001", "snippet": snippet("private0001", "2026-10-01T00:00:00Z")}]});
        let at: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().expect("ts");
        let (stats, kept) = same_either_way(&videos, |v| video_stats(v, &dates, at));
        assert!(kept < 0.35, "a videos answer is mostly left out: {kept:.2} kept");
        assert_eq!(stats.len(), 2, "a video without statistics is left out");
        assert_eq!(
            (stats[0].views, stats[0].likes, stats[0].comments),
            (794_644, Some(15_542), Some(1_956))
        );
        assert_eq!((stats[1].views, stats[1].likes), (1_200, None));
        assert!(
            (stats[1].age_days - 75.7).abs() < 0.1,
            "the search result's date: {}",
            stats[1].age_days
        );

        let error = json!({"error": {"code": 403, "message": "The request cannot be completed because you have exceeded your quota.",
            "errors": [{"message": "The request cannot be completed because you have exceeded your quota.",
                "domain": "youtube.quota", "reason": "quotaExceeded"}],
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
                "domain": "googleapis.com", "metadata": {"service": "youtube.googleapis.com"}}],
            "status": "PERMISSION_DENIED", "description": "x".repeat(400)}});
        let ((reasons, message), _) = same_either_way(&error, |v| google_error(v).expect("an error"));
        assert_eq!(reasons, ["quotaExceeded", "RATE_LIMIT_EXCEEDED"]);
        assert!(message.starts_with("The request cannot be completed"), "{message}");
    }

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
