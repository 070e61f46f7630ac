//! AliExpress request signing (docs/design/upstreams.md §1.3): parameters sorted by name in byte order,
//! `name+value` concatenated (empty names/values skipped), an optional API-path prefix for `/rest`
//! APIs, then upper-hex `MD5(secret + s + secret)` or `HMAC-SHA256(secret, s)`.

use std::collections::BTreeMap;

use dropforge_common::config::SignMethod;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

/// The `sign_method` parameter value of a [`SignMethod`].
pub fn sign_method_name(method: SignMethod) -> &'static str {
    match method {
        SignMethod::Md5 => "md5",
        SignMethod::Sha256 => "sha256",
    }
}

/// The string to sign: `api_path` (path-style APIs only) then `name1value1name2value2…` over the
/// parameters sorted by name, skipping `sign` and empty names or values.
pub fn string_to_sign<'a>(api_path: Option<&str>, params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let sorted: BTreeMap<&str, &str> = params
        .into_iter()
        .filter(|(k, v)| !k.is_empty() && !v.is_empty() && *k != "sign")
        .collect();
    let mut s = api_path.unwrap_or_default().to_owned();
    for (k, v) in sorted {
        s.push_str(k);
        s.push_str(v);
    }
    s
}

/// The upper-case hex signature of `params` (which must include `sign_method`).
pub fn sign<'a>(
    method: SignMethod,
    secret: &str,
    api_path: Option<&str>,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let s = string_to_sign(api_path, params);
    match method {
        SignMethod::Md5 => {
            let mut h = Md5::new();
            h.update(secret.as_bytes());
            h.update(s.as_bytes());
            h.update(secret.as_bytes());
            hex::encode_upper(h.finalize())
        }
        SignMethod::Sha256 => {
            // HMAC accepts keys of any length, so this cannot fail.
            match <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) {
                Ok(mut mac) => {
                    mac.update(s.as_bytes());
                    hex::encode_upper(mac.finalize().into_bytes())
                }
                Err(_) => String::new(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "sandbox-secret-0001";

    fn product_get(sign_method: &'static str) -> Vec<(&'static str, &'static str)> {
        vec![
            ("access_token", "sandbox-token"),
            ("app_key", "500001"),
            ("format", "json"),
            ("method", "aliexpress.ds.product.get"),
            ("product_id", "1005001234567890"),
            ("ship_to_country", "US"),
            ("target_currency", "USD"),
            ("timestamp", "1735689600000"),
            ("v", "2.0"),
            ("sign_method", sign_method),
        ]
    }

    #[test]
    fn vector_md5() {
        let params = product_get("md5");
        assert_eq!(
            string_to_sign(None, params.iter().copied()),
            "access_tokensandbox-tokenapp_key500001formatjsonmethodaliexpress.ds.product.getproduct_id1005001234567890ship_to_countryUSsign_methodmd5target_currencyUSDtimestamp1735689600000v2.0"
        );
        assert_eq!(
            sign(SignMethod::Md5, SECRET, None, params),
            "F77017CEAD668D6DD27832B520797203"
        );
    }

    #[test]
    fn vector_hmac_sha256() {
        assert_eq!(
            sign(SignMethod::Sha256, SECRET, None, product_get("sha256")),
            "E079EAF634BB0F7A224FBCD1B724EEDEAB74410718A7999084350DFA5C6E0298"
        );
    }

    #[test]
    fn vector_path_style() {
        let params = [
            ("app_key", "500001"),
            ("code", "abc"),
            ("sign_method", "sha256"),
            ("timestamp", "1735689600000"),
        ];
        assert_eq!(
            string_to_sign(Some("/auth/token/create"), params),
            "/auth/token/createapp_key500001codeabcsign_methodsha256timestamp1735689600000"
        );
        assert_eq!(
            sign(SignMethod::Sha256, SECRET, Some("/auth/token/create"), params),
            "91E555CFAE3C95746ABE6516EB2C303AD13F95E742C81356A1D386E00F78DDAD"
        );
    }

    #[test]
    fn order_is_bytewise_and_empty_and_sign_are_skipped() {
        let mut params = product_get("md5");
        params.reverse();
        params.push(("empty", ""));
        params.push(("sign", "XYZ"));
        assert_eq!(
            sign(SignMethod::Md5, SECRET, None, params),
            "F77017CEAD668D6DD27832B520797203"
        );
        // Upper-case sorts before lower-case in byte order.
        assert_eq!(
            string_to_sign(None, [("b", "1"), ("B", "2"), ("a_", "3"), ("a", "4")]),
            "B2a4a_3b1"
        );
    }
}
