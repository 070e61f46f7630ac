//! Decoding of the take script's reply (`budget_take.lua`).

use std::time::Duration;

/// What the take script decided.
pub(super) enum Decision {
    Ok(Duration),
    Rate(Duration),
    Quota,
    Paused { left: Duration, quota: bool, code: String },
}

pub(super) fn parse(reply: &redis::Value) -> Option<Decision> {
    let redis::Value::Array(items) = reply else {
        return None;
    };
    let text = |i: usize| match items.get(i) {
        Some(redis::Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        Some(redis::Value::SimpleString(s)) => Some(s.clone()),
        _ => None,
    };
    let num = |i: usize| match items.get(i) {
        Some(redis::Value::Int(n)) => Some(Duration::from_micros(u64::try_from(*n).unwrap_or(0))),
        _ => None,
    };
    Some(match text(0)?.as_str() {
        "ok" => Decision::Ok(num(1)?),
        "rate" => Decision::Rate(num(1)?),
        "quota" => Decision::Quota,
        "paused" => Decision::Paused {
            left: num(1)?,
            quota: text(2).as_deref() == Some("quota"),
            code: text(3).unwrap_or_default(),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse() {
        let ok = redis::Value::Array(vec![redis::Value::BulkString(b"ok".to_vec()), redis::Value::Int(1500)]);
        assert!(matches!(parse(&ok), Some(Decision::Ok(d)) if d == Duration::from_micros(1500)));
        let paused = redis::Value::Array(vec![
            redis::Value::BulkString(b"paused".to_vec()),
            redis::Value::Int(2_000_000),
            redis::Value::BulkString(b"quota".to_vec()),
            redis::Value::BulkString(b"quota".to_vec()),
        ]);
        assert!(matches!(parse(&paused), Some(Decision::Paused { quota: true, .. })));
        assert!(parse(&redis::Value::Nil).is_none());
    }
}
