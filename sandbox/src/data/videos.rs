//! YouTube videos: self-describing 11-character ids and statistics derived from the id alone.
//!
//! An id packs 66 bits (base64url): 39 random bits, an "old" flag (published 100–400 days ago instead of
//! 2–85), the archetype (3 bits) and a 23-bit seeded checksum. `videos.list` can therefore answer any id a
//! search returned without a lookup table, and silently drop ids that fail the checksum.

use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};

use super::keyword::KeywordProfile;
use super::{Archetype, words};
use crate::hashing::{Gen, fnv1a64, splitmix64};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const R_BITS: u32 = 39;
const CHECK_BITS: u32 = 23;

/// One generated video. The channel is derived on first use: a search ranks every video of a keyword
/// but shows the channel of one page only.
#[derive(Clone, Debug)]
pub struct Video {
    pub id: String,
    pub archetype: Archetype,
    /// Published this many seconds before now.
    pub published_secs_ago: i64,
    pub title: &'static str,
    pub views: u64,
    pub likes: Option<u64>,
    pub comments: Option<u64>,
    pub duration_secs: u64,
    seed: u64,
    channel_gen: Gen,
    channel: OnceLock<Channel>,
    /// Text a wire format renders once per video and keeps with it (see `youtube::wire`).
    pub rendered: OnceLock<Rendered>,
}

/// Pre-rendered pieces of a video's answer, opaque to this module.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    pub parts: [Box<[u8]>; 3],
}

/// The channel of a video.
#[derive(Clone, Debug)]
struct Channel {
    id: String,
    title: String,
}

/// Decoding table of [`ALPHABET`] (64 = not a digit).
const DIGIT: [u8; 256] = {
    let mut t = [64u8; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

fn checksum(seed: u64, body: u64) -> u64 {
    splitmix64(seed ^ fnv1a64(&body.to_le_bytes())) & ((1 << CHECK_BITS) - 1)
}

fn push_encoded(out: &mut String, seed: u64, r: u64, old: bool, a: Archetype) {
    let body = ((r & ((1 << R_BITS) - 1)) << 4) | (u64::from(old) << 3) | a.index();
    let v: u128 = (u128::from(body) << CHECK_BITS) | u128::from(checksum(seed, body));
    out.extend(
        (0..11)
            .rev()
            .map(|i| char::from(ALPHABET[((v >> (6 * i)) & 63) as usize])),
    );
}

fn encode(seed: u64, r: u64, old: bool, a: Archetype) -> String {
    let mut out = String::with_capacity(11);
    push_encoded(&mut out, seed, r, old, a);
    out
}

fn decode(seed: u64, id: &str) -> Option<(bool, Archetype)> {
    if id.len() != 11 {
        return None;
    }
    let mut v: u128 = 0;
    for b in id.bytes() {
        let d = DIGIT[usize::from(b)];
        if d == 64 {
            return None;
        }
        v = (v << 6) | u128::from(d);
    }
    let body = u64::try_from(v >> CHECK_BITS).ok()?;
    if checksum(seed, body) != (v as u64) & ((1 << CHECK_BITS) - 1) {
        return None;
    }
    Some((body & 0b1000 != 0, Archetype::from_index(body & 0b111)?))
}

/// The video ids of a keyword, in "relevance" order.
pub fn ids_for(seed: u64, profile: &KeywordProfile) -> Vec<String> {
    let g = Gen::new(seed, &format!("videos:{}", profile.key));
    (0..profile.videos)
        .map(|i| encode(seed, g.child("video", i).u64("r"), i % 7 == 6, profile.archetype))
        .collect()
}

impl Video {
    fn channel(&self) -> &Channel {
        self.channel.get_or_init(|| {
            let (g, a) = (self.channel_gen, self.archetype);
            let mut id = String::with_capacity(24);
            id.push_str("UC");
            push_encoded(&mut id, self.seed, g.u64("id1"), false, a);
            push_encoded(&mut id, self.seed, g.u64("id2"), false, a);
            let title = format!(
                "{} {} Reviews",
                g.pick("w", words::PAGE_WORDS),
                g.pick("s", words::PAGE_SUFFIX)
            );
            Channel { id, title }
        })
    }

    /// `UC` + 22 id characters.
    pub fn channel_id(&self) -> &str {
        &self.channel().id
    }

    /// The channel's display name.
    pub fn channel_title(&self) -> &str {
        &self.channel().title
    }

    /// Publication time relative to `now`.
    pub fn published_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - Duration::seconds(self.published_secs_ago)
    }

    /// Approximate heap size, bytes.
    pub fn weight(&self) -> usize {
        // Id, channel and the rendered snippet (about 900 bytes once rendered).
        1280 + self.id.len()
    }
}

/// Regenerates a video from its id; `None` for ids the sandbox never issued.
pub fn video(seed: u64, id: &str) -> Option<Video> {
    let (old, a) = decode(seed, id)?;
    let g = Gen::new(seed, &format!("video:{id}"));
    let age_days = if old {
        g.range_u("age", 100, 400)
    } else {
        g.range_u("age", 2, 85)
    };
    let (lo, hi) = match a {
        Archetype::Winner => (100_000, 2_000_000),
        Archetype::Promising => (20_000, 200_000),
        Archetype::Average => (1_000, 30_000),
        Archetype::Dud => (100, 1_000),
        Archetype::Saturated => (50_000, 1_000_000),
        Archetype::Problem => (500, 5_000),
    };
    let views = g.log_range("views", lo, hi);
    let likes = (!g.chance("likes_hidden", 0.08)).then(|| (views as f64 * g.range_f("like_rate", 0.015, 0.05)) as u64);
    let comments =
        (!g.chance("comments_off", 0.08)).then(|| (views as f64 * g.range_f("comment_rate", 0.001, 0.005)) as u64);
    let channel = g.child("channel", g.u64("channel") % 50);
    Some(Video {
        id: id.to_string(),
        archetype: a,
        published_secs_ago: (Duration::days(age_days as i64) + Duration::seconds(g.range_u("secs", 0, 86_399) as i64))
            .num_seconds(),
        title: g.pick("title", words::VIDEO_TITLES),
        views,
        likes,
        comments,
        duration_secs: g.range_u("duration", 30, 1200),
        seed,
        channel_gen: channel,
        channel: OnceLock::new(),
        rendered: OnceLock::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_strangers() {
        let p = KeywordProfile::of(42, "magnetic charger stand");
        let now = DateTime::from_timestamp(1_748_736_000, 0).unwrap_or_default();
        let ids = ids_for(42, &p);
        assert!(!ids.is_empty());
        for id in &ids {
            assert_eq!(id.len(), 11);
            let v = video(42, id).expect("own id decodes");
            assert_eq!(v.archetype, Archetype::Winner);
            assert!(v.published_at(now) < now);
            assert!(v.channel_id().starts_with("UC") && v.channel_id().len() == 24);
            assert!(v.channel_title().ends_with(" Reviews"));
        }
        assert!(video(42, "dQw4w9WgXcQ").is_none());
        assert!(video(43, &ids[0]).is_none());
    }
}
