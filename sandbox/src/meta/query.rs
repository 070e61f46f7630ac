//! Parameters of an `ads_archive` call: the version path segment, country lists, opaque cursors, and the
//! EU/EEA scope rule.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};

/// EU + EEA country codes: commercial ads are returned only when one of these (or `ALL`) is requested.
pub const EU_EEA: &[&str] = &[
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT",
    "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
];

/// Accepted `ad_type` values.
pub const AD_TYPES: &[&str] = &[
    "ALL",
    "POLITICAL_AND_ISSUE_ADS",
    "HOUSING_ADS",
    "EMPLOYMENT_ADS",
    "FINANCIAL_PRODUCTS_AND_SERVICES_ADS",
];

/// True for `v<major>.<minor>`.
pub fn valid_version(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else { return false };
    let mut parts = rest.split('.');
    let digits = |s: Option<&str>| s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    digits(parts.next()) && digits(parts.next()) && parts.next().is_none()
}

/// Parses `['IE','DE']`, `["IE"]` or `IE,DE` into upper-case codes; `None` when empty or malformed.
pub fn parse_countries(v: &str) -> Option<Vec<String>> {
    let inner = v.trim().trim_start_matches('[').trim_end_matches(']');
    let list: Vec<String> = inner
        .split(',')
        .map(|s| {
            s.trim()
                .trim_matches(|c| c == '\'' || c == '"')
                .trim()
                .to_ascii_uppercase()
        })
        .filter(|s| !s.is_empty())
        .collect();
    let ok = |c: &String| c == "ALL" || (c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()));
    (!list.is_empty() && list.iter().all(ok)).then_some(list)
}

/// True when commercial ads are in scope for `countries` (an EU/EEA country or `ALL`).
pub fn in_dsa_scope(countries: &[String]) -> bool {
    countries.iter().any(|c| c == "ALL" || EU_EEA.contains(&c.as_str()))
}

/// Encodes an offset as an opaque cursor: base64url("o:<offset>").
pub fn encode_cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

/// Decodes a cursor (URL-safe or standard base64, padded or not).
pub fn decode_cursor(c: &str) -> Option<usize> {
    let c = c.trim();
    let bytes = URL_SAFE_NO_PAD
        .decode(c)
        .or_else(|_| URL_SAFE.decode(c))
        .or_else(|_| STANDARD.decode(c))
        .ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("o:")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_country_spellings() {
        assert_eq!(
            parse_countries("['IE','DE']"),
            Some(vec!["IE".to_string(), "DE".to_string()])
        );
        assert_eq!(parse_countries("[\"IE\"]"), Some(vec!["IE".to_string()]));
        assert_eq!(parse_countries("IE,de"), Some(vec!["IE".to_string(), "DE".to_string()]));
        assert_eq!(parse_countries("[]"), None);
        assert_eq!(parse_countries("IRL"), None);
    }

    #[test]
    fn cursor_round_trip_and_versions() {
        assert_eq!(decode_cursor(&encode_cursor(125)), Some(125));
        assert_eq!(decode_cursor("bzoyNQ=="), Some(25));
        assert!(valid_version("v21.0") && !valid_version("v21") && !valid_version("21.0"));
    }
}
