//! Pieces of YouTube answers written with [`crate::jsonw`]: etags, snippets, thumbnails. Members are
//! written in byte order of their (camelCase) names, the order `serde_json::Value` has always used.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use crate::data::videos::{Rendered, Video};
use crate::dates::push_rfc3339_secs;
use crate::hashing::fnv1a64_parts;
use crate::jsonw::{Obj, object, push_str};

/// An etag: base64url (no padding) of the 64-bit FNV hash of `prefix` + `text`.
pub struct Etag([u8; 11]);

impl Etag {
    /// The etag of `prefix` + `text`.
    pub fn of(prefix: &str, text: &str) -> Self {
        let mut out = [0u8; 11];
        let hash = fnv1a64_parts(&[prefix.as_bytes(), text.as_bytes()]).to_be_bytes();
        // 8 bytes always encode to exactly 11 characters.
        let _ = URL_SAFE_NO_PAD.encode_slice(hash, &mut out);
        Self(out)
    }

    /// The etag text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

fn thumb(o: &mut Obj<'_>, key: &'static str, id: &str, name: &str, width: u64, height: u64) {
    o.obj(key, |o| {
        o.u64("height", height)
            .strs("url", &["https://i.ytimg.com/vi/", id, "/", name, ".jpg"])
            .u64("width", width);
    });
}

/// Writes the snippet of `v` with placeholder-free times, returning the offsets where the two
/// publication times go.
fn render_parts(v: &Video) -> Rendered {
    let mut buf = Vec::with_capacity(1024);
    let (mut at_time, mut at_published) = (0, 0);
    object(&mut buf, |o| {
        o.str("channelId", v.channel_id())
            .str("channelTitle", v.channel_title())
            .strs("description", &[v.title, " | full review and test"])
            .str("liveBroadcastContent", "none")
            .plain_with("publishTime", |out| at_time = out.len())
            .plain_with("publishedAt", |out| at_published = out.len())
            .obj("thumbnails", |o| {
                thumb(o, "default", &v.id, "default", 120, 90);
                thumb(o, "high", &v.id, "hqdefault", 480, 360);
                thumb(o, "medium", &v.id, "mqdefault", 320, 180);
            })
            .str("title", v.title);
    });
    // Everything after the opening brace, split at the two times.
    Rendered {
        parts: [
            buf[1..at_time].into(),
            buf[at_time..at_published].into(),
            buf[at_published..].into(),
        ],
    }
}

/// The snippet member of `v` (publication time relative to `now`); the text around the times is
/// rendered once per video.
pub fn snippet(o: &mut Obj<'_>, v: &Video, now: DateTime<Utc>, category_id: Option<&str>) {
    let [head, mid, tail] = &v.rendered.get_or_init(|| render_parts(v)).parts;
    let published = v.published_at(now);
    o.raw("snippet", |out| {
        out.push(b'{');
        if let Some(c) = category_id {
            out.extend_from_slice(b"\"categoryId\":");
            push_str(out, c);
            out.push(b',');
        }
        out.extend_from_slice(head);
        push_rfc3339_secs(out, published);
        out.extend_from_slice(mid);
        push_rfc3339_secs(out, published);
        out.extend_from_slice(tail);
    });
}

/// The `pageInfo` member.
pub fn page_info(o: &mut Obj<'_>, per_page: usize, total: usize) {
    o.obj("pageInfo", |o| {
        o.u64("resultsPerPage", per_page as u64)
            .u64("totalResults", total as u64);
    });
}
