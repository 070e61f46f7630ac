//! `videos.list`: the requested parts (`snippet`, `statistics`, `contentDetails`) of up to 50 ids; ids
//! the sandbox never issued are left out.

use chrono::{DateTime, Utc};

use super::Query;
use super::wire::{Etag, page_info, snippet};
use crate::jsonw::object;
use crate::state::AppState;

/// The JSON of one `videos.list` answer for the comma list `ids` at `now`.
pub fn build(st: &AppState, q: &Query<'_>, ids: &str, now: DateTime<Utc>) -> Vec<u8> {
    let parts: Vec<&str> = q.get("part").unwrap_or_default().split(',').map(str::trim).collect();
    let has = |p: &str| parts.contains(&p);
    let (details, with_snippet, stats) = (has("contentDetails"), has("snippet"), has("statistics"));
    let found: Vec<_> = ids
        .split(',')
        .map(str::trim)
        .take(50)
        .filter_map(|id| st.store.video(st.cfg.seed, id))
        .collect();
    let mut out = Vec::with_capacity(256 + 1024 * found.len());
    object(&mut out, |o| {
        o.str("etag", Etag::of("videos:", ids).as_str())
            .arr("items", |items| {
                for v in &found {
                    items.obj(|o| {
                        if details {
                            let d = v.duration_secs;
                            o.obj("contentDetails", |o| {
                                o.str("caption", "false")
                                    .str("definition", "hd")
                                    .str("dimension", "2d")
                                    .display("duration", format_args!("PT{}M{}S", d / 60, d % 60))
                                    .bool("licensedContent", false)
                                    .str("projection", "rectangular");
                            });
                        }
                        o.str("etag", Etag::of("v", &v.id).as_str())
                            .str("id", &v.id)
                            .str("kind", "youtube#video");
                        if with_snippet {
                            snippet(o, v, now, Some("26"));
                        }
                        if stats {
                            o.obj("statistics", |o| {
                                if let Some(c) = v.comments {
                                    o.num_str("commentCount", c);
                                }
                                o.str("favoriteCount", "0");
                                if let Some(l) = v.likes {
                                    o.num_str("likeCount", l);
                                }
                                o.num_str("viewCount", v.views);
                            });
                        }
                    });
                }
            })
            .str("kind", "youtube#videoListResponse");
        page_info(o, found.len(), found.len());
    });
    out
}
