//! ISO 3166-1 alpha-2 country codes: the 249 officially assigned codes, for validating the
//! `country` of requests (ship-to country of validations, searches and supplier lists).
//!
//! Reserved and user-assigned codes (`UK`, `EU`, `XK`, `XX`, `ZZ`, ...) are not countries here.

/// The officially assigned ISO 3166-1 alpha-2 codes, sorted (binary-searched).
#[rustfmt::skip]
pub const ALPHA2: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ",
    "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ",
    "DE", "DJ", "DK", "DM", "DO", "DZ",
    "EC", "EE", "EG", "EH", "ER", "ES", "ET",
    "FI", "FJ", "FK", "FM", "FO", "FR",
    "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY",
    "HK", "HM", "HN", "HR", "HT", "HU",
    "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT",
    "JE", "JM", "JO", "JP",
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ",
    "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY",
    "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ",
    "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
    "OM",
    "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY",
    "QA",
    "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SY", "SZ",
    "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ",
    "UA", "UG", "UM", "US", "UY", "UZ",
    "VA", "VC", "VE", "VG", "VI", "VN", "VU",
    "WF", "WS",
    "YE", "YT",
    "ZA", "ZM", "ZW",
];

/// True when `code` (upper case) is an officially assigned ISO 3166-1 alpha-2 code.
pub fn is_assigned(code: &str) -> bool {
    ALPHA2.binary_search(&code).is_ok()
}

/// Why a string is not a country code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CountryError {
    /// Not two ASCII letters.
    #[error("must be a two-letter ISO 3166-1 country code")]
    Malformed,
    /// Two letters, but not an assigned code.
    #[error("is not an ISO 3166-1 alpha-2 country code (e.g. US, DE, FR)")]
    Unknown,
}

/// Normalises a country code given in any case to its upper-case form (`de` → `DE`) and checks
/// that it is assigned.
pub fn parse(raw: &str) -> Result<&'static str, CountryError> {
    if raw.len() != 2 || !raw.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(CountryError::Malformed);
    }
    let upper = raw.to_ascii_uppercase();
    ALPHA2
        .binary_search(&upper.as_str())
        .map(|i| ALPHA2[i])
        .map_err(|_| CountryError::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_unique_and_complete() {
        assert_eq!(ALPHA2.len(), 249);
        assert!(ALPHA2.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        assert!(
            ALPHA2
                .iter()
                .all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
        for c in ["US", "DE", "FR", "GB", "IE", "AX", "ZW", "SS", "BQ"] {
            assert!(is_assigned(c), "{c}");
        }
    }

    #[test]
    fn codes_are_normalised_and_checked() {
        assert_eq!(parse("de"), Ok("DE"));
        assert_eq!(parse("Us"), Ok("US"));
        for unknown in ["XX", "ZZ", "UK", "EU", "XK", "AA", "QZ"] {
            assert_eq!(parse(unknown), Err(CountryError::Unknown), "{unknown}");
        }
        for malformed in ["", "U", "USA", "U1", "é1", "ÉU"] {
            assert_eq!(parse(malformed), Err(CountryError::Malformed), "{malformed}");
        }
    }
}
