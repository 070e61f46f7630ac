//! `search.list`: the videos of a keyword, filtered by publication window, ordered, and paged with
//! opaque page tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Timelike, Utc};

use super::wire::{Etag, page_info, snippet};
use super::{Query, param_error};
use crate::data::keyword::KeywordProfile;
use crate::jsonw::object;
use crate::reply::Reply;
use crate::state::AppState;

/// The parameters of one search.
pub struct SearchArgs<'a> {
    after: Option<DateTime<Utc>>,
    before: Option<DateTime<Utc>>,
    max: usize,
    offset: usize,
    wants_video: bool,
    order: &'a str,
    region: &'a str,
    q: &'a str,
}

fn parse_time(q: &Query<'_>, name: &str) -> Result<Option<DateTime<Utc>>, Reply> {
    match q.get(name) {
        None => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(v.trim())
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| param_error(&format!("Invalid value for {name}: {v}"), "invalidParameter", name)),
    }
}

impl<'a> SearchArgs<'a> {
    /// Reads the parameters; `Err` is the parameter error to answer.
    pub fn parse(q: &'a Query<'a>) -> Result<Self, Reply> {
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
        Ok(Self {
            after,
            before,
            max,
            offset,
            wants_video: q.get("type").is_none_or(|t| t.split(',').any(|t| t.trim() == "video")),
            order: q.get("order").unwrap_or("relevance"),
            region: q.get("regionCode").unwrap_or("US"),
            q: q.get("q").unwrap_or_default(),
        })
    }

    /// True when a publication bound has a fraction of a second: the answer then depends on the clock
    /// below the second (otherwise whole seconds decide every comparison).
    pub fn subsecond(&self) -> bool {
        [self.after, self.before].iter().flatten().any(|t| t.nanosecond() != 0)
    }
}

/// The JSON of one search answer at `now`.
pub fn build(st: &AppState, a: &SearchArgs<'_>, now: DateTime<Utc>) -> Vec<u8> {
    let seed = st.cfg.seed;
    let profile = KeywordProfile::of(seed, a.q);
    let all = if a.wants_video {
        st.store.keyword_videos(seed, &profile)
    } else {
        Vec::new().into()
    };
    let mut vids: Vec<_> = all
        .iter()
        .filter(|v| {
            let at = v.published_at(now);
            a.after.is_none_or(|t| at >= t) && a.before.is_none_or(|t| at < t)
        })
        .collect();
    match a.order {
        "viewCount" => vids.sort_by_key(|v| std::cmp::Reverse(v.views)),
        "date" => vids.sort_by_key(|v| std::cmp::Reverse(v.published_at(now))),
        "rating" => vids.sort_by_key(|v| std::cmp::Reverse(v.likes.unwrap_or(0))),
        "title" => vids.sort_by(|x, y| x.title.cmp(y.title)),
        _ => {}
    }
    let (offset, max) = (a.offset, a.max);
    let shown: Vec<_> = vids.iter().skip(offset).take(max).collect();
    let mut out = Vec::with_capacity(384 + 1024 * shown.len());
    object(&mut out, |o| {
        o.str(
            "etag",
            Etag::of("search:", &format!("{}:{offset}:{max}", profile.key)).as_str(),
        )
        .arr("items", |items| {
            for v in &shown {
                items.obj(|o| {
                    o.str("etag", Etag::of("s", &v.id).as_str())
                        .obj("id", |o| {
                            o.str("kind", "youtube#video").str("videoId", &v.id);
                        })
                        .str("kind", "youtube#searchResult");
                    snippet(o, v, now, None);
                });
            }
        })
        .str("kind", "youtube#searchListResponse");
        if max > 0 && offset + max < vids.len() {
            o.str("nextPageToken", &URL_SAFE_NO_PAD.encode(format!("p:{}", offset + max)));
        }
        page_info(o, max, vids.len());
        if offset > 0 {
            o.str(
                "prevPageToken",
                &URL_SAFE_NO_PAD.encode(format!("p:{}", offset.saturating_sub(max))),
            );
        }
        o.str("regionCode", a.region);
    });
    out
}
