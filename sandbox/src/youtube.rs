//! YouTube Data API v3 imitation: `search.list` (ids + snippets) and `videos.list` (string statistics),
//! with key checks, quota charging (bucket or units model) and the Google error bodies.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::config::SearchModel;
use crate::data::keyword::KeywordProfile;
use crate::data::videos::{self, Video};
use crate::faults;
use crate::hashing::fnv1a64;
use crate::quota::YtCost;
use crate::reply::{Reply, finish};
use crate::state::{AppState, Shared, Upstream};

/// Routes of the YouTube API.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/youtube/v3/search", get(search))
        .route("/youtube/v3/videos", get(videos_list))
}

/// The exact `quotaExceeded` message of §3.
pub const QUOTA_MESSAGE: &str = "The request cannot be completed because you have exceeded your <a href=\"/youtube/v3/getting-started#quota\">quota</a>.";

fn google_error(status: StatusCode, message: &str, domain: &str, reason: &str, outcome: &'static str) -> Reply {
    let body = json!({"error": {"code": status.as_u16(), "message": message,
        "errors": [{"message": message, "domain": domain, "reason": reason}]}});
    Reply::json(status, &body, outcome)
}

fn param_error(message: &str, reason: &str, location: &str) -> Reply {
    let body = json!({"error": {"code": 400, "message": message, "errors": [{"message": message,
        "domain": "youtube.parameter", "reason": reason, "location": location, "locationType": "parameter"}]}});
    Reply::json(StatusCode::BAD_REQUEST, &body, "bad_request")
}

fn etag(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(fnv1a64(s.as_bytes()).to_be_bytes())
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

struct Query(Vec<(String, String)>);

impl Query {
    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
}

/// Key check, `part` check and quota charge shared by both endpoints. `Err` is the final reply.
fn admit(st: &AppState, q: &Query, cost: YtCost) -> Result<(), Reply> {
    let Some(key) = q.get("key").filter(|k| !k.is_empty()) else {
        let msg = "The request is missing a valid API key.";
        let body = json!({"error": {"code": 403, "message": msg, "errors": [{"message": msg, "domain": "global",
            "reason": "forbidden"}], "status": "PERMISSION_DENIED"}});
        return Err(Reply::json(StatusCode::FORBIDDEN, &body, "auth_error"));
    };
    if !st.cfg.credentials.youtube_keys.iter().any(|k| k == key) {
        let msg = "API key not valid. Please pass a valid API key.";
        let body = json!({"error": {"code": 400, "message": msg,
            "errors": [{"message": msg, "domain": "global", "reason": "badRequest"}],
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                "domain": "googleapis.com", "metadata": {"service": "youtube.googleapis.com"}}]}});
        return Err(Reply::json(StatusCode::BAD_REQUEST, &body, "auth_error"));
    }
    let limits = st.runtime().limits.clone();
    if q.get("part").is_none_or(|p| p.trim().is_empty()) {
        // Every call costs at least one unit, invalid ones included.
        let _ = st.quotas.yt_take(
            key,
            YtCost {
                search_calls: 0,
                units: 1,
            },
            &limits,
            Utc::now(),
        );
        return Err(param_error(
            "Required parameter: part",
            "missingRequiredParameter",
            "part",
        ));
    }
    if !st.quotas.yt_take(key, cost, &limits, Utc::now()) {
        return Err(google_error(
            StatusCode::FORBIDDEN,
            QUOTA_MESSAGE,
            "youtube.quota",
            "quotaExceeded",
            "quota_exceeded",
        ));
    }
    Ok(())
}

fn throttle() -> Reply {
    let msg = "The request cannot be completed because you have exceeded the rate limit for this API.";
    google_error(
        StatusCode::FORBIDDEN,
        msg,
        "youtube.quota",
        "rateLimitExceeded",
        "throttled",
    )
}

fn thumbnails(id: &str) -> Value {
    let t = |name: &str, w: u32, h: u32| json!({"url": format!("https://i.ytimg.com/vi/{id}/{name}.jpg"), "width": w, "height": h});
    json!({"default": t("default", 120, 90), "medium": t("mqdefault", 320, 180), "high": t("hqdefault", 480, 360)})
}

fn snippet(v: &Video) -> Value {
    json!({
        "publishedAt": rfc3339(v.published_at), "channelId": v.channel_id, "title": v.title,
        "description": format!("{} | full review and test", v.title), "thumbnails": thumbnails(&v.id),
        "channelTitle": v.channel_title, "liveBroadcastContent": "none", "publishTime": rfc3339(v.published_at)
    })
}

async fn search(State(st): State<Shared>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let plan = faults::plan(&st, Upstream::YouTube, &headers);
    let q = Query(
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .into_owned()
            .collect(),
    );
    let units = st.runtime().limits.yt_search_model;
    let cost = match units {
        SearchModel::Bucket => YtCost {
            search_calls: 1,
            units: 0,
        },
        SearchModel::Units => YtCost {
            search_calls: 0,
            units: 100,
        },
    };
    let reply = match admit(&st, &q, cost) {
        Err(r) => r,
        Ok(()) => match search_body(&st, &q) {
            Err(r) => r,
            Ok(body) => {
                let success = Reply::json(StatusCode::OK, &body, "ok");
                match plan.fault {
                    None => success,
                    Some(f) => faults::apply(f, plan.hold, success, throttle),
                }
            }
        },
    };
    finish(&st, Upstream::YouTube, "search", plan.delay, reply).await
}

fn parse_time(q: &Query, name: &str) -> Result<Option<DateTime<Utc>>, Reply> {
    match q.get(name) {
        None => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(v.trim())
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| param_error(&format!("Invalid value for {name}: {v}"), "invalidParameter", name)),
    }
}

fn search_body(st: &AppState, q: &Query) -> Result<Value, Reply> {
    let (seed, now) = (st.cfg.seed, st.cfg.now());
    let after = parse_time(q, "publishedAfter")?;
    let before = parse_time(q, "publishedBefore")?;
    let max = q
        .get("maxResults")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(5)
        .min(50);
    let offset = match q.get("pageToken") {
        None | Some("") => 0,
        Some(t) => URL_SAFE_NO_PAD
            .decode(t.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("p:").and_then(|n| n.parse::<usize>().ok()))
            .ok_or_else(|| {
                param_error(
                    "The request specifies an invalid page token.",
                    "invalidPageToken",
                    "pageToken",
                )
            })?,
    };
    let wants_video = q.get("type").is_none_or(|t| t.split(',').any(|t| t.trim() == "video"));
    let profile = KeywordProfile::of(seed, q.get("q").unwrap_or_default());
    let mut vids: Vec<Video> = if wants_video {
        videos::ids_for(seed, &profile)
            .iter()
            .filter_map(|id| videos::video(seed, id, now))
            .collect()
    } else {
        Vec::new()
    };
    vids.retain(|v| after.is_none_or(|a| v.published_at >= a) && before.is_none_or(|b| v.published_at < b));
    match q.get("order").unwrap_or("relevance") {
        "viewCount" => vids.sort_by_key(|v| std::cmp::Reverse(v.views)),
        "date" => vids.sort_by_key(|v| std::cmp::Reverse(v.published_at)),
        "rating" => vids.sort_by_key(|v| std::cmp::Reverse(v.likes.unwrap_or(0))),
        "title" => vids.sort_by(|a, b| a.title.cmp(&b.title)),
        _ => {}
    }
    let items: Vec<Value> = vids
        .iter()
        .skip(offset)
        .take(max)
        .map(|v| {
            json!({"kind": "youtube#searchResult", "etag": etag(&format!("s{}", v.id)),
                "id": {"kind": "youtube#video", "videoId": v.id}, "snippet": snippet(v)})
        })
        .collect();
    let mut body = json!({
        "kind": "youtube#searchListResponse",
        "etag": etag(&format!("search:{}:{offset}:{max}", profile.key)),
        "regionCode": q.get("regionCode").unwrap_or("US"),
        "pageInfo": {"totalResults": vids.len(), "resultsPerPage": max},
        "items": items,
    });
    if max > 0 && offset + max < vids.len() {
        body["nextPageToken"] = json!(URL_SAFE_NO_PAD.encode(format!("p:{}", offset + max)));
    }
    if offset > 0 {
        body["prevPageToken"] = json!(URL_SAFE_NO_PAD.encode(format!("p:{}", offset.saturating_sub(max))));
    }
    Ok(body)
}

async fn videos_list(State(st): State<Shared>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let plan = faults::plan(&st, Upstream::YouTube, &headers);
    let q = Query(
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .into_owned()
            .collect(),
    );
    let reply = match admit(
        &st,
        &q,
        YtCost {
            search_calls: 0,
            units: 1,
        },
    ) {
        Err(r) => r,
        Ok(()) => match q.get("id").filter(|v| !v.trim().is_empty()) {
            None => param_error(
                "No filter selected. Expected one of: id, chart, myRating",
                "missingRequiredParameter",
                "id",
            ),
            Some(ids) => {
                let success = Reply::json(StatusCode::OK, &videos_body(&st, &q, ids), "ok");
                match plan.fault {
                    None => success,
                    Some(f) => faults::apply(f, plan.hold, success, throttle),
                }
            }
        },
    };
    finish(&st, Upstream::YouTube, "videos", plan.delay, reply).await
}

fn videos_body(st: &AppState, q: &Query, ids: &str) -> Value {
    let parts: Vec<&str> = q.get("part").unwrap_or_default().split(',').map(str::trim).collect();
    let items: Vec<Value> = ids
        .split(',')
        .map(str::trim)
        .take(50)
        .filter_map(|id| videos::video(st.cfg.seed, id, st.cfg.now()))
        .map(|v| {
            let mut item = json!({"kind": "youtube#video", "etag": etag(&format!("v{}", v.id)), "id": v.id});
            if parts.contains(&"snippet") {
                item["snippet"] = snippet(&v);
                item["snippet"]["categoryId"] = json!("26");
            }
            if parts.contains(&"statistics") {
                let mut stats = json!({"viewCount": v.views.to_string(), "favoriteCount": "0"});
                if let Some(l) = v.likes {
                    stats["likeCount"] = json!(l.to_string());
                }
                if let Some(c) = v.comments {
                    stats["commentCount"] = json!(c.to_string());
                }
                item["statistics"] = stats;
            }
            if parts.contains(&"contentDetails") {
                let d = v.duration_secs;
                item["contentDetails"] = json!({"duration": format!("PT{}M{}S", d / 60, d % 60), "dimension": "2d",
                    "definition": "hd", "caption": "false", "licensedContent": false, "projection": "rectangular"});
            }
            item
        })
        .collect();
    let n = items.len();
    json!({"kind": "youtube#videoListResponse", "etag": etag(&format!("videos:{ids}")), "items": items,
        "pageInfo": {"totalResults": n, "resultsPerPage": n}})
}
