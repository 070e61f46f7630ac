//! Tolerant accessors for upstream JSON: numbers sent as strings, `"97.5%"`, booleans as strings,
//! lists wrapped in one-key objects, and single objects where an array was expected; and a parser
//! that leaves out the members a caller never reads ([`from_slice_without`]).

use std::{borrow::Cow, fmt};

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses `bytes` into a [`Value`] as `serde_json::from_slice` does, except that object members
/// named in `skip`, at any depth, are read past without being built. An upstream answer carries
/// many fields the worker never reads (an AliExpress product's HTML description, its property
/// lists, a page of image and promotion URLs); every string and object of them cost an
/// allocation, and parsing the answers was a tenth of the worker's CPU. Members not named are
/// kept, so unknown fields still reach the tolerant accessors.
pub fn from_slice_without(bytes: &[u8], skip: &'static [&'static str]) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Without(skip).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Builds a [`Value`] without the members it names.
#[derive(Clone, Copy)]
struct Without(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Without {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Without {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(MemberName(key)) = map.next_key()? {
            if self.0.contains(&key.as_ref()) {
                map.next_value::<IgnoredAny>()?;
            } else {
                let value = map.next_value_seed(self)?;
                members.insert(key.into_owned(), value);
            }
        }
        Ok(Value::Object(members))
    }
}

/// An object member's name, borrowed from the input when it has no escapes (a skipped member's
/// name then costs no allocation).
struct MemberName<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for MemberName<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl<'de> Visitor<'de> for Name {
            type Value = MemberName<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(MemberName(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(MemberName(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(MemberName(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(Name)
    }
}

/// Follows `path` through nested objects.
pub fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter()
        .try_fold(v, |cur, key| cur.get(*key))
        .filter(|v| !v.is_null())
}

/// A number from a JSON number or a numeric string (`"4.9"`, `"97.5%"`, `" 12 "`).
pub fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let s = s.trim().trim_end_matches('%').trim();
            s.parse::<f64>().ok().filter(|x| x.is_finite())
        }
        _ => None,
    }
}

/// A non-negative integer from a number or a string (fractions are truncated).
pub fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|x| *x >= 0.0).map(|x| x as u64)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<u64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().filter(|x| *x >= 0.0).map(|x| x as u64))
        }
        _ => None,
    }
}

/// A string from a non-empty string, a number or a boolean.
pub fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A boolean from `true`, `"true"`, `"Y"`, `1`, … .
pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|x| x != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "y" | "yes" | "1" => Some(true),
            "false" | "n" | "no" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// `get` then `as_f64`.
pub fn f64_at(v: &Value, path: &[&str]) -> Option<f64> {
    get(v, path).and_then(as_f64)
}

/// `get` then `as_u64`.
pub fn u64_at(v: &Value, path: &[&str]) -> Option<u64> {
    get(v, path).and_then(as_u64)
}

/// `get` then an integer (number or numeric string).
pub fn i64_at(v: &Value, path: &[&str]) -> Option<i64> {
    get(v, path).and_then(|x| x.as_i64().or_else(|| as_f64(x).map(|f| f as i64)))
}

/// `get` then `as_string`.
pub fn string_at(v: &Value, path: &[&str]) -> Option<String> {
    get(v, path).and_then(as_string)
}

/// `get` then `as_bool`.
pub fn bool_at(v: &Value, path: &[&str]) -> Option<bool> {
    get(v, path).and_then(as_bool)
}

/// The items of a list that may be an array, a one-key wrapper object (`{"product": [...]}`,
/// possibly nested), or a single object instead of a one-element array. `null` is empty.
pub fn list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().filter(|i| !i.is_null()).collect(),
        Value::Object(map) if map.len() == 1 => match map.values().next() {
            Some(inner @ (Value::Array(_) | Value::Object(_))) => list(inner),
            _ => vec![v],
        },
        Value::Object(map) if map.is_empty() => Vec::new(),
        Value::Object(_) => vec![v],
        _ => Vec::new(),
    }
}

/// `get` then `list` (empty when absent).
pub fn list_at<'a>(v: &'a Value, path: &[&str]) -> Vec<&'a Value> {
    get(v, path).map(list).unwrap_or_default()
}

/// A timestamp from RFC 3339, `yyyy-MM-dd HH:mm:ss` (UTC assumed), `yyyy-MM-dd`,
/// `2025-01-03T08:00:00+0000` (Graph style) or epoch milliseconds.
pub fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    if let Some(ms) = v
        .as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse::<i64>().ok()))
    {
        return Utc.timestamp_millis_opt(ms).single();
    }
    let s = v.as_str()?.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z") {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S") {
        return Some(Utc.from_utc_datetime(&t));
    }
    let date = NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()?;
    Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?))
}

/// Whole-and-fractional days from `then` to `now`, never negative.
pub fn age_days(now: DateTime<Utc>, then: DateTime<Utc>) -> f64 {
    ((now - then).num_milliseconds() as f64 / 86_400_000.0).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_as_strings() {
        assert_eq!(as_f64(&json!("4.9")), Some(4.9));
        assert_eq!(as_f64(&json!("97.5%")), Some(97.5));
        assert_eq!(as_f64(&json!(14.24)), Some(14.24));
        assert_eq!(as_f64(&json!("")), None);
        assert_eq!(as_u64(&json!("35")), Some(35));
        assert_eq!(as_u64(&json!(9)), Some(9));
        assert_eq!(as_u64(&json!("12.0")), Some(12));
        assert_eq!(as_string(&json!(1005010669652047u64)), Some("1005010669652047".into()));
        assert_eq!(as_bool(&json!("true")), Some(true));
    }

    #[test]
    fn list_wrappers_and_single_objects() {
        let wrapped = json!({"ae_item_sku_info_d_t_o": [{"sku_id": "1"}, {"sku_id": "2"}]});
        assert_eq!(list(&wrapped).len(), 2);
        let single = json!({"ae_item_sku_info_d_t_o": {"sku_id": "1", "offer_sale_price": "2.00"}});
        assert_eq!(list(&single).len(), 1);
        assert_eq!(string_at(list(&single)[0], &["sku_id"]).as_deref(), Some("1"));
        let bare = json!([{"a": 1}]);
        assert_eq!(list(&bare).len(), 1);
        let plain_item = json!({"code": "CAINIAO", "company": "Cainiao"});
        assert_eq!(list(&plain_item).len(), 1);
        assert!(list(&json!(null)).is_empty());
        assert!(list(&json!({})).is_empty());
    }

    #[test]
    fn parsing_without_members_keeps_everything_else_as_parsed() {
        let text = r#"{"a": {"skip": {"deep": [1, 2, {"x": "y"}]}, "b": [1, -2, 2.5, 18446744073709551615, "s\u00e9", null, true]},
                       "skip": "top", "c": {"d": {"skip": 1, "e": {}}}, "f": [], "esc\"aped": 1e3}"#;
        let full: Value = serde_json::from_str(text).expect("full");
        let pruned = from_slice_without(text.as_bytes(), &["skip"]).expect("pruned");
        let mut want = full.clone();
        let obj = want.as_object_mut().expect("object");
        obj.remove("skip");
        obj["a"].as_object_mut().expect("a").remove("skip");
        obj["c"]["d"].as_object_mut().expect("d").remove("skip");
        assert_eq!(pruned, want);
        assert_eq!(from_slice_without(text.as_bytes(), &[]).expect("nothing skipped"), full);
        assert!(from_slice_without(b"{\"a\": 1} trailing", &[]).is_err());
        assert!(
            from_slice_without(b"{\"skip\": [1, }", &["skip"]).is_err(),
            "skipped members are still checked"
        );
    }

    #[test]
    fn times() {
        let want: DateTime<Utc> = "2025-01-03T00:00:00Z".parse().expect("ts");
        assert_eq!(parse_time(&json!("2025-01-03")), Some(want));
        assert_eq!(parse_time(&json!("2025-01-03T00:00:00+0000")), Some(want));
        assert_eq!(parse_time(&json!("2025-01-03 00:00:00")), Some(want));
        assert_eq!(parse_time(&json!(want.timestamp_millis())), Some(want));
        assert_eq!(parse_time(&json!("2025-01-03T00:00:00Z")), Some(want));
    }
}
