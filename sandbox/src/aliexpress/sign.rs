//! AliExpress signatures (docs/design/upstreams.md §1.3): sorted `name+value` pairs, MD5 or HMAC-SHA256, upper hex.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

/// Supported signature algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignMethod {
    /// `MD5(secret + s + secret)`.
    Md5,
    /// `HMAC_SHA256(key = secret, msg = s)` (`sha256` in IOP naming, `hmac-sha256` in TOP naming).
    HmacSha256,
}

impl SignMethod {
    /// Parses `sign_method`; a missing value means MD5 (TOP default).
    pub fn parse(v: Option<&str>) -> Option<Self> {
        let is = |name: &str| v.is_some_and(|v| v.eq_ignore_ascii_case(name));
        if v.is_none() || is("md5") {
            Some(SignMethod::Md5)
        } else if is("sha256") || is("hmac-sha256") || is("hmac_sha256") {
            Some(SignMethod::HmacSha256)
        } else {
            None
        }
    }
}

/// The string to sign: optional API path, then `name1value1name2value2…` sorted by name, `sign` excluded.
/// With `skip_empty`, pairs with an empty name or value are left out (Rust/Java SDK behaviour).
pub fn string_to_sign(path: Option<&str>, params: &[(String, String)], skip_empty: bool) -> String {
    let mut pairs: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, v)| k != "sign" && !(skip_empty && (k.is_empty() || v.is_empty())))
        .collect();
    pairs.sort_by(|a, b| {
        a.0.as_bytes()
            .cmp(b.0.as_bytes())
            .then_with(|| a.1.as_bytes().cmp(b.1.as_bytes()))
    });
    let mut s = path.unwrap_or_default().to_string();
    for (k, v) in pairs {
        s.push_str(k);
        s.push_str(v);
    }
    s
}

/// Upper-case hex digest of `s` under `secret`.
pub fn digest(method: SignMethod, secret: &str, s: &str) -> String {
    match method {
        SignMethod::Md5 => {
            let mut h = Md5::new();
            h.update(secret.as_bytes());
            h.update(s.as_bytes());
            h.update(secret.as_bytes());
            hex::encode_upper(h.finalize())
        }
        SignMethod::HmacSha256 => match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
            Ok(mut mac) => {
                mac.update(s.as_bytes());
                hex::encode_upper(mac.finalize().into_bytes())
            }
            Err(_) => String::new(),
        },
    }
}

/// Signs `params` (used by tests and by clients imitating the SDKs).
pub fn sign(method: SignMethod, secret: &str, path: Option<&str>, params: &[(String, String)]) -> String {
    digest(method, secret, &string_to_sign(path, params, true))
}

/// Verifies `sign` against both the with-empty-values and without-empty-values variants (case-insensitive hex).
pub fn verify(method: SignMethod, secret: &str, path: Option<&str>, params: &[(String, String)], sign: &str) -> bool {
    [true, false]
        .into_iter()
        .any(|skip| digest(method, secret, &string_to_sign(path, params, skip)).eq_ignore_ascii_case(sign))
}

/// [`verify`] for parameters already sorted by name with unique names (what the gateway parses),
/// hashing them in place instead of building the string to sign.
pub fn verify_sorted<'a, I>(method: SignMethod, secret: &str, path: Option<&str>, params: I, sign: &str) -> bool
where
    I: Iterator<Item = (&'a str, &'a str)> + Clone,
{
    let signed = params.filter(|(k, _)| *k != "sign");
    if matches_hex(&streamed(method, secret, path, signed.clone(), true), sign) {
        return true;
    }
    // Without empty names or values both variants sign the same string.
    let mut with_empty = signed.clone();
    with_empty.any(|(k, v)| k.is_empty() || v.is_empty())
        && matches_hex(&streamed(method, secret, path, signed, false), sign)
}

/// The raw digest of the string to sign, fed piece by piece.
fn streamed<'a>(
    method: SignMethod,
    secret: &str,
    path: Option<&str>,
    params: impl Iterator<Item = (&'a str, &'a str)>,
    skip_empty: bool,
) -> Vec<u8> {
    let params = params.filter(|(k, v)| !(skip_empty && (k.is_empty() || v.is_empty())));
    match method {
        SignMethod::Md5 => {
            let mut h = Md5::new();
            h.update(secret.as_bytes());
            h.update(path.unwrap_or_default().as_bytes());
            for (k, v) in params {
                h.update(k.as_bytes());
                h.update(v.as_bytes());
            }
            h.update(secret.as_bytes());
            h.finalize().to_vec()
        }
        SignMethod::HmacSha256 => match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
            Ok(mut mac) => {
                mac.update(path.unwrap_or_default().as_bytes());
                for (k, v) in params {
                    mac.update(k.as_bytes());
                    mac.update(v.as_bytes());
                }
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        },
    }
}

/// True when `hex` is the hex spelling of `raw`, in either case (and `raw` is not empty).
fn matches_hex(raw: &[u8], hex: &str) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let hex = hex.as_bytes();
    !raw.is_empty()
        && hex.len() == 2 * raw.len()
        && raw.iter().zip(hex.chunks_exact(2)).all(|(b, pair)| {
            pair[0].eq_ignore_ascii_case(&DIGITS[usize::from(b >> 4)])
                && pair[1].eq_ignore_ascii_case(&DIGITS[usize::from(b & 15)])
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const BASE: &[(&str, &str)] = &[
        ("access_token", "sandbox-token"),
        ("app_key", "500001"),
        ("format", "json"),
        ("method", "aliexpress.ds.product.get"),
        ("product_id", "1005001234567890"),
        ("ship_to_country", "US"),
        ("target_currency", "USD"),
        ("timestamp", "1735689600000"),
        ("v", "2.0"),
    ];

    #[test]
    fn md5_vector() {
        let mut params = p(BASE);
        params.push(("sign_method".into(), "md5".into()));
        assert_eq!(
            sign(SignMethod::Md5, "sandbox-secret-0001", None, &params),
            "F77017CEAD668D6DD27832B520797203"
        );
    }

    #[test]
    fn sha256_vector() {
        let mut params = p(BASE);
        params.push(("sign_method".into(), "sha256".into()));
        assert_eq!(
            sign(SignMethod::HmacSha256, "sandbox-secret-0001", None, &params),
            "E079EAF634BB0F7A224FBCD1B724EEDEAB74410718A7999084350DFA5C6E0298"
        );
    }

    #[test]
    fn path_style_vector() {
        let params = p(&[
            ("app_key", "500001"),
            ("code", "abc"),
            ("sign_method", "sha256"),
            ("timestamp", "1735689600000"),
        ]);
        let s = string_to_sign(Some("/auth/token/create"), &params, true);
        assert_eq!(
            s,
            "/auth/token/createapp_key500001codeabcsign_methodsha256timestamp1735689600000"
        );
        assert_eq!(
            digest(SignMethod::HmacSha256, "sandbox-secret-0001", &s),
            "91E555CFAE3C95746ABE6516EB2C303AD13F95E742C81356A1D386E00F78DDAD"
        );
    }

    #[test]
    fn empty_values_accepted_either_way() {
        let mut params = p(BASE);
        params.push(("sign_method".into(), "md5".into()));
        params.push(("fields".into(), String::new()));
        let with_empty = digest(SignMethod::Md5, "s", &string_to_sign(None, &params, false));
        let without = digest(SignMethod::Md5, "s", &string_to_sign(None, &params, true));
        assert_ne!(with_empty, without);
        assert!(verify(SignMethod::Md5, "s", None, &params, &with_empty));
        assert!(verify(SignMethod::Md5, "s", None, &params, &without));
        assert!(!verify(SignMethod::Md5, "s", None, &params, "00"));
    }

    #[test]
    fn streamed_verification_agrees_with_the_string_to_sign() {
        let mut params = p(BASE);
        params.push(("sign_method".into(), "md5".into()));
        params.push(("fields".into(), String::new()));
        params.sort();
        for method in [SignMethod::Md5, SignMethod::HmacSha256] {
            for skip in [true, false] {
                let good = digest(method, "s", &string_to_sign(Some("/p"), &params, skip));
                let mut with_sign = params.clone();
                with_sign.push(("sign".into(), good.to_ascii_lowercase()));
                with_sign.sort();
                let pairs = with_sign.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                assert!(verify_sorted(method, "s", Some("/p"), pairs.clone(), &good));
                assert!(verify_sorted(
                    method,
                    "s",
                    Some("/p"),
                    pairs.clone(),
                    &good.to_ascii_lowercase()
                ));
                assert!(!verify_sorted(method, "s", None, pairs.clone(), &good));
                assert!(!verify_sorted(method, "t", Some("/p"), pairs.clone(), &good));
                assert!(!verify_sorted(method, "s", Some("/p"), pairs, &good[1..]));
            }
        }
        let no_empty = p(BASE);
        let good = sign(SignMethod::HmacSha256, "s", None, &no_empty);
        let pairs = no_empty.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        assert!(verify_sorted(SignMethod::HmacSha256, "s", None, pairs, &good));
    }
}
