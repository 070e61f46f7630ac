//! YouTube Data API v3 imitation: `search.list` (ids + snippets) and `videos.list` (string statistics),
//! with key checks, quota charging (bucket or units model) and the Google error bodies.

pub mod search;
pub mod videos;
pub mod wire;

use std::borrow::Cow;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Timelike, Utc};
use serde_json::json;

use crate::bodies::{Built, Key};
use crate::config::SearchModel;
use crate::faults;
use crate::form;
use crate::quota::YtCost;
use crate::reply::{Reply, finish};
use crate::state::{AppState, Shared, Upstream};
use crate::template::Fill;
use search::SearchArgs;

/// Routes of the YouTube API.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/youtube/v3/search", get(search))
        .route("/youtube/v3/videos", get(videos_list))
}

/// The exact `quotaExceeded` message of docs/design/upstreams.md §3.4.
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

/// Query parameters in arrival order (the first of a repeated name counts), borrowed where possible.
pub struct Query<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Query<'a> {
    pub(crate) fn parse(raw: &'a str) -> Self {
        Self(form::parse(raw.as_bytes()))
    }

    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_ref())
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

/// A cache key for a YouTube answer: the raw query, and the clock to the second (to the nanosecond when
/// `subsecond`), since publication times and windows are relative to now.
fn key(route: &str, raw: &str, now: DateTime<Utc>, subsecond: bool) -> Key {
    let key = Key::new(route).part(raw).num(now.timestamp());
    if subsecond {
        key.num(i64::from(now.nanosecond()))
    } else {
        key
    }
}

async fn search(State(st): State<Shared>, req: Request) -> Response {
    let plan = faults::plan(&st, Upstream::YouTube, req.headers());
    let raw = req.uri().query().unwrap_or_default();
    let q = Query::parse(raw);
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
    let reply = match admit(&st, &q, cost).and_then(|()| SearchArgs::parse(&q)) {
        Err(r) => r,
        Ok(args) => {
            let now = st.cfg.now();
            let fill = Fill { request_id: "", now };
            let success = st.bodies.answer(key("search", raw, now, args.subsecond()), &fill, || {
                Ok(Built::fixed(search::build(&st, &args, now), "ok"))
            });
            match plan.fault {
                None => success,
                Some(f) => faults::apply(f, plan.hold, success, throttle),
            }
        }
    };
    finish(&st, Upstream::YouTube, "search", plan.delay, reply).await
}

async fn videos_list(State(st): State<Shared>, req: Request) -> Response {
    let plan = faults::plan(&st, Upstream::YouTube, req.headers());
    let raw = req.uri().query().unwrap_or_default();
    let q = Query::parse(raw);
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
                let now = st.cfg.now();
                let fill = Fill { request_id: "", now };
                let success = st.bodies.answer(key("videos", raw, now, false), &fill, || {
                    Ok(Built::fixed(videos::build(&st, &q, ids, now), "ok"))
                });
                match plan.fault {
                    None => success,
                    Some(f) => faults::apply(f, plan.hold, success, throttle),
                }
            }
        },
    };
    finish(&st, Upstream::YouTube, "videos", plan.delay, reply).await
}
