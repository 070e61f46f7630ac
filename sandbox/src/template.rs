//! Reusable response bodies: serialized JSON with its per-request values (the AliExpress request id,
//! times relative to the clock) cut out, so that a cached answer costs a few copies.

use axum::body::Bytes;
use chrono::{DateTime, TimeDelta, Utc};

use crate::dates;

/// A per-request value inside a reusable body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hole {
    /// The AliExpress request id of this request.
    RequestId,
    /// `now - secs` as an AliExpress time (`yyyy-MM-dd HH:mm:ss`, GMT+8).
    AeTimeAgo(i64),
}

/// The values that fill the holes for one request.
#[derive(Clone, Copy, Debug)]
pub struct Fill<'a> {
    pub request_id: &'a str,
    pub now: DateTime<Utc>,
}

impl Hole {
    fn write(self, out: &mut Vec<u8>, fill: &Fill<'_>) {
        match self {
            Hole::RequestId => out.extend_from_slice(fill.request_id.as_bytes()),
            Hole::AeTimeAgo(secs) => dates::push_ae_time(out, fill.now - TimeDelta::seconds(secs)),
        }
    }
}

/// A string value to cut out of a freshly serialized body: the member `"key":"value"`.
#[derive(Clone, Debug)]
pub struct Cut {
    pub key: &'static str,
    pub value: String,
    pub hole: Hole,
}

/// A body with holes (or none).
#[derive(Debug)]
pub struct Template {
    text: Bytes,
    /// Byte offsets into `text` where a hole's value goes, ascending.
    holes: Vec<(usize, Hole)>,
}

/// The first position at or after `from` where `needle` (starting with `"`) occurs in `hay`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while i + needle.len() <= hay.len() {
        let next = hay[i..].iter().position(|b| *b == first)?;
        i += next;
        if hay.get(i..i + needle.len()) == Some(needle) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// True when `v` is written as is inside a JSON string.
fn plain(v: &str) -> bool {
    v.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\')
}

impl Template {
    /// A body without holes.
    pub fn fixed(text: Bytes) -> Self {
        Self {
            text,
            holes: Vec::new(),
        }
    }

    /// Cuts the values of `cuts` out of `json`. `None` unless every `"key":"` occurs exactly once in
    /// `json`, followed by the expected value: a member name followed by `":"` cannot occur inside a
    /// JSON string (its quotes would be escaped), so a unique key pins down the value to replace.
    pub fn cut(json: &[u8], cuts: &[Cut]) -> Option<Self> {
        let mut spans = Vec::with_capacity(cuts.len());
        for c in cuts {
            if !plain(&c.value) {
                return None;
            }
            let name = format!("\"{}\":\"", c.key);
            let at = find(json, name.as_bytes(), 0)?;
            let start = at + name.len();
            let end = start + c.value.len();
            if find(json, name.as_bytes(), start).is_some()
                || json.get(start..end) != Some(c.value.as_bytes())
                || json.get(end) != Some(&b'"')
            {
                return None;
            }
            spans.push((start, end, c.hole));
        }
        spans.sort_by_key(|s| s.0);
        if spans.windows(2).any(|w| w[0].1 > w[1].0) {
            return None;
        }
        let mut text = Vec::with_capacity(json.len());
        let mut holes = Vec::with_capacity(spans.len());
        let mut from = 0;
        for (start, end, hole) in spans {
            text.extend_from_slice(&json[from..start]);
            holes.push((text.len(), hole));
            from = end;
        }
        text.extend_from_slice(&json[from..]);
        Some(Self {
            text: Bytes::from(text),
            holes,
        })
    }

    /// The body for one request.
    pub fn render(&self, fill: &Fill<'_>) -> Bytes {
        if self.holes.is_empty() {
            return self.text.clone();
        }
        let mut out = Vec::with_capacity(self.text.len() + 24 * self.holes.len());
        let mut from = 0;
        for (at, hole) in &self.holes {
            out.extend_from_slice(&self.text[from..*at]);
            hole.write(&mut out, fill);
            from = *at;
        }
        out.extend_from_slice(&self.text[from..]);
        Bytes::from(out)
    }

    /// Approximate heap size, bytes.
    pub fn weight(&self) -> usize {
        self.text.len() + 16 * self.holes.len()
    }

    /// Number of holes.
    pub fn holes(&self) -> usize {
        self.holes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_748_736_000, 0).unwrap_or_default()
    }

    #[test]
    fn cut_and_render_round_trip() {
        let t0 = now() - TimeDelta::seconds(90);
        let json = format!(
            r#"{{"a":{{"request_id":"21abc7","note":"request_id"}},"t":"{}","z":"x\"request_id\":\"y"}}"#,
            dates::ae_time(t0)
        );
        let cuts = [
            Cut {
                key: "t",
                value: dates::ae_time(t0),
                hole: Hole::AeTimeAgo(90),
            },
            Cut {
                key: "request_id",
                value: "21abc7".into(),
                hole: Hole::RequestId,
            },
        ];
        let t = Template::cut(json.as_bytes(), &cuts).expect("cuts apply");
        assert_eq!(t.holes(), 2);
        let fill = Fill {
            request_id: "21abc7",
            now: now(),
        };
        assert_eq!(t.render(&fill), json.as_bytes());
        let other = Fill {
            request_id: "21ffff9",
            now: now() + TimeDelta::days(1),
        };
        let want = json
            .replace("21abc7", "21ffff9")
            .replace(&dates::ae_time(t0), &dates::ae_time(t0 + TimeDelta::days(1)));
        assert_eq!(t.render(&other), want.as_bytes());
    }

    #[test]
    fn refuses_ambiguous_or_missing_keys() {
        let cut = |key: &'static str, value: &str| Cut {
            key,
            value: value.into(),
            hole: Hole::RequestId,
        };
        assert!(Template::cut(br#"{"a":"1","b":{"a":"1"}}"#, &[cut("a", "1")]).is_none());
        assert!(Template::cut(br#"{"a":"1"}"#, &[cut("b", "1")]).is_none());
        assert!(Template::cut(br#"{"a":"12"}"#, &[cut("a", "1")]).is_none());
        assert!(Template::cut(br#"{"a":"1"}"#, &[cut("a", "1\"")]).is_none());
        assert!(Template::cut(br#"{"a":"1"}"#, &[cut("a", "1")]).is_some());
        assert_eq!(find(b"xx\"ab\"", b"\"ab", 0), Some(2));
        assert_eq!(find(b"xx\"ab\"", b"\"ab", 3), None);
        assert_eq!(find(b"\"a", b"\"ab", 0), None);
        let fixed = Template::fixed(Bytes::from_static(b"{}"));
        let fill = Fill {
            request_id: "",
            now: now(),
        };
        assert_eq!(fixed.render(&fill), &b"{}"[..]);
    }
}
