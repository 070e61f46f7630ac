//! API key format, generation and verification: `dfk_<key id>_<secret>`; only SHA-256 of the secret is stored.

use base64::Engine;
use rand::{Rng, distr::Alphanumeric};
use sha2::{Digest, Sha256};

/// Prefix that makes keys recognisable to secret scanners.
pub const PREFIX: &str = "dfk_";
const ID_LEN: usize = 8;
const SECRET_LEN: usize = 32;

/// A freshly generated key: shown once, then only `id` and `secret_hash` are kept.
#[derive(Debug)]
pub struct NewKey {
    /// Public key id (lookup key).
    pub id: String,
    /// The full key to hand to the user, once.
    pub plaintext: String,
    /// SHA-256 of the secret part.
    pub secret_hash: Vec<u8>,
}

/// A presented key split into its parts.
#[derive(Debug, PartialEq, Eq)]
pub struct PresentedKey<'a> {
    /// Public key id.
    pub id: &'a str,
    /// Secret part (never logged).
    pub secret: &'a str,
}

fn random_alphanumeric(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Generates a new API key.
pub fn generate() -> NewKey {
    let id = random_alphanumeric(ID_LEN).to_ascii_lowercase();
    let secret = random_alphanumeric(SECRET_LEN);
    NewKey {
        plaintext: format!("{PREFIX}{id}_{secret}"),
        secret_hash: hash_secret(&secret),
        id,
    }
}

/// Splits a presented key; `None` when it does not have the key format.
pub fn parse(key: &str) -> Option<PresentedKey<'_>> {
    let rest = key.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let well_formed = id.len() == ID_LEN
        && secret.len() == SECRET_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric())
        && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    well_formed.then_some(PresentedKey { id, secret })
}

/// SHA-256 of a key's secret part (a 190-bit random secret needs no slow hash).
pub fn hash_secret(secret: &str) -> Vec<u8> {
    secret_digest(secret).to_vec()
}

/// [`hash_secret`] without the allocation, for the check of every request.
pub fn secret_digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Constant-time comparison of two digests (length checked first).
pub fn digests_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Generates a Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes.
pub fn generate_webhook_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_verify() {
        let key = generate();
        assert!(key.plaintext.starts_with("dfk_"));
        let parsed = parse(&key.plaintext).expect("well formed");
        assert_eq!(parsed.id, key.id);
        assert!(digests_equal(&hash_secret(parsed.secret), &key.secret_hash));
        assert!(digests_equal(&secret_digest(parsed.secret), &key.secret_hash));
        assert!(!digests_equal(&hash_secret("other"), &key.secret_hash));
        assert!(
            !digests_equal(&[], &key.secret_hash),
            "an empty digest must never match"
        );
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in [
            "",
            "dfk_",
            "dfk_abc_def",
            "sk_live_x",
            "dfk_abcdefgh_short",
            "dfk_abcdefgh-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
