//! A small JSON writer for the hot answers. It writes what `serde_json::Value` writes: compact, members
//! in byte order of their names (checked in debug builds), strings escaped like serde_json (the common
//! case, text with nothing to escape, is copied in one go).

use std::fmt::{Display, Write as _};

/// True when `s` contains a byte serde_json escapes (control characters, `"` and `\`).
fn needs_escape(s: &[u8]) -> bool {
    // A branch-free fold per chunk lets the compiler vectorise the scan.
    s.chunks(32).any(|chunk| {
        chunk
            .iter()
            .fold(false, |acc, &b| acc | (b < 0x20) | (b == b'"') | (b == b'\\'))
    })
}

/// Appends `s` as a JSON string.
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        // Writing a `&str` into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Appends the concatenation of `parts` as one JSON string.
pub fn push_strs(out: &mut Vec<u8>, parts: &[&str]) {
    if parts.iter().any(|p| needs_escape(p.as_bytes())) {
        push_str(out, &parts.concat());
        return;
    }
    out.push(b'"');
    for p in parts {
        out.extend_from_slice(p.as_bytes());
    }
    out.push(b'"');
}

/// Appends `v` in decimal.
pub fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Writes the members of one object.
pub struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    #[cfg(debug_assertions)]
    last: &'static str,
}

/// Writes the elements of one array.
pub struct Arr<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

/// Appends an object whose members `f` writes.
pub fn object(out: &mut Vec<u8>, f: impl FnOnce(&mut Obj<'_>)) {
    out.push(b'{');
    let mut o = Obj {
        out,
        first: true,
        #[cfg(debug_assertions)]
        last: "",
    };
    f(&mut o);
    o.out.push(b'}');
}

/// Appends an array whose elements `f` writes.
pub fn array(out: &mut Vec<u8>, f: impl FnOnce(&mut Arr<'_>)) {
    out.push(b'[');
    let mut a = Arr { out, first: true };
    f(&mut a);
    a.out.push(b']');
}

impl Obj<'_> {
    fn key(&mut self, k: &'static str) -> &mut Vec<u8> {
        #[cfg(debug_assertions)]
        {
            assert!(
                self.first || self.last < k,
                "member {k:?} written after {:?}",
                self.last
            );
            self.last = k;
        }
        let out = &mut *self.out;
        out.reserve(k.len() + 4);
        if !self.first {
            out.push(b',');
        }
        self.first = false;
        out.push(b'"');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"\":");
        out
    }

    /// A string member.
    pub fn str(&mut self, k: &'static str, v: &str) -> &mut Self {
        push_str(self.key(k), v);
        self
    }

    /// A string member made of `parts`.
    pub fn strs(&mut self, k: &'static str, parts: &[&str]) -> &mut Self {
        push_strs(self.key(k), parts);
        self
    }

    /// A string member from `Display` (numbers as strings, formatted floats).
    pub fn display(&mut self, k: &'static str, v: impl Display) -> &mut Self {
        let mut s = String::with_capacity(24);
        let _ = write!(s, "{v}");
        self.str(k, &s)
    }

    /// A string member written by `f`, which must write text that needs no escaping (digits, dates).
    pub fn plain_with(&mut self, k: &'static str, f: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        let out = self.key(k);
        out.push(b'"');
        f(out);
        out.push(b'"');
        self
    }

    /// A member whose JSON value `f` writes verbatim (a fragment rendered before).
    pub fn raw(&mut self, k: &'static str, f: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        f(self.key(k));
        self
    }

    /// A number written as a string member (`"123"`).
    pub fn num_str(&mut self, k: &'static str, v: u64) -> &mut Self {
        self.plain_with(k, |out| push_u64(out, v))
    }

    /// A number member.
    pub fn u64(&mut self, k: &'static str, v: u64) -> &mut Self {
        push_u64(self.key(k), v);
        self
    }

    /// A boolean member.
    pub fn bool(&mut self, k: &'static str, v: bool) -> &mut Self {
        let v: &[u8] = if v { b"true" } else { b"false" };
        self.key(k).extend_from_slice(v);
        self
    }

    /// An object member.
    pub fn obj(&mut self, k: &'static str, f: impl FnOnce(&mut Obj<'_>)) -> &mut Self {
        object(self.key(k), f);
        self
    }

    /// An array member.
    pub fn arr(&mut self, k: &'static str, f: impl FnOnce(&mut Arr<'_>)) -> &mut Self {
        array(self.key(k), f);
        self
    }

    /// An array-of-strings member.
    pub fn strings(&mut self, k: &'static str, items: &[&str]) -> &mut Self {
        self.arr(k, |a| {
            for i in items {
                a.str(i);
            }
        })
    }
}

impl Arr<'_> {
    fn next(&mut self) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out
    }

    /// A string element.
    pub fn str(&mut self, v: &str) -> &mut Self {
        push_str(self.next(), v);
        self
    }

    /// An object element.
    pub fn obj(&mut self, f: impl FnOnce(&mut Obj<'_>)) -> &mut Self {
        object(self.next(), f);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_what_serde_json_writes() {
        let mut out = Vec::new();
        object(&mut out, |o| {
            o.arr("a", |a| {
                a.str("x\"y\\z\u{1}\u{7f}é").obj(|o| {
                    o.u64("n", 0).u64("o", u64::MAX);
                });
            })
            .bool("b", true)
            .bool("c", false)
            .display("d", 1.5)
            .obj("e", |_| {})
            .strings("f", &["p", "q"])
            .strs("g", &["a", "\n", "b"])
            .num_str("h", 42)
            .plain_with("i", |out| out.extend_from_slice(b"2025-06-01"))
            .raw("j", |out| out.extend_from_slice(b"[1]"));
        });
        let want = json!({"a": ["x\"y\\z\u{1}\u{7f}é", {"n": 0, "o": u64::MAX}], "b": true, "c": false, "d": "1.5",
            "e": {}, "f": ["p", "q"], "g": "a\nb", "h": "42", "i": "2025-06-01", "j": [1]});
        assert_eq!(String::from_utf8(out).unwrap_or_default(), want.to_string());
        for s in [
            "",
            "plain",
            "tab\there",
            "quote\"",
            "long text without anything to escape at all, 40+ bytes",
        ] {
            let mut out = Vec::new();
            push_str(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap_or_default());
        }
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "written after")]
    fn unsorted_members_are_caught_in_debug_builds() {
        let mut out = Vec::new();
        object(&mut out, |o| {
            o.u64("b", 1).u64("a", 2);
        });
    }
}
