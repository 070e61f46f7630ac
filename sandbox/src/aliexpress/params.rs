//! Request parameters of the AliExpress gateway: query and form body merged (the body wins on a
//! duplicate name, and a later value over an earlier one), sorted by name in byte order, and borrowed
//! from the request wherever no percent-decoding was needed.

use std::borrow::Cow;

use crate::form;

/// Merged query + form-body parameters, sorted by name, one value per name.
pub struct Params<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Params<'a> {
    /// Parses the query string and the form body.
    pub fn parse(query: Option<&'a str>, body: &'a [u8]) -> Self {
        let mut all = query.map(|q| form::parse(q.as_bytes())).unwrap_or_default();
        all.extend(form::parse(body));
        // Latest first, then a stable sort by name: of equal names, the one that counts comes first.
        all.reverse();
        all.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        all.dedup_by(|later, kept| later.0 == kept.0);
        Self(all)
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_bytes().cmp(name.as_bytes()))
            .ok()
            .map(|i| self.0[i].1.as_ref())
    }

    /// A non-empty parameter's value.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    /// All parameters, sorted by name.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.0.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_wins_and_names_are_sorted() {
        let p = Params::parse(Some("b=1&a=q&c=%20x&a=q2"), b"a=body&d=&b=2");
        assert_eq!(p.get("a"), Some("body"));
        assert_eq!(p.get("b"), Some("2"));
        assert_eq!(p.get("c"), Some(" x"));
        assert_eq!(p.get("d"), Some(""));
        assert_eq!(p.non_empty("d"), None);
        assert_eq!(p.get("e"), None);
        let names: Vec<&str> = p.pairs().map(|(k, _)| k).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
    }
}
