//! Standard Webhooks v1 (symmetric) signatures: `v1,<base64 HMAC-SHA256>` over
//! `{webhook-id}.{webhook-timestamp}.{raw body}`, keyed by a `whsec_<base64>` secret
//! (docs/design/webhooks-and-edge.md §1.1).
//!
//! [`sign`] reproduces the spec's golden vector byte for byte. [`verify`] compares in constant time
//! with a length check (an empty or truncated signature never matches), enforces a timestamp
//! tolerance, accepts a match on any `v1,` entry (key rotation) and ignores other schemes.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of a secret as shown to users.
pub const SECRET_PREFIX: &str = "whsec_";
/// Minimum decoded secret length required by the spec (192 bits).
pub const MIN_SECRET_BYTES: usize = 24;
/// Tolerance used by the reference libraries: ±5 minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);
/// Length of an HMAC-SHA256 tag in bytes.
const TAG_LEN: usize = 32;
/// Upper bound on entries examined in one `webhook-signature` header.
const MAX_SIGNATURE_ENTRIES: usize = 16;

/// Why a signature could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The secret is not base64 (optionally prefixed with `whsec_`).
    #[error("webhook secret is not valid base64 after the `whsec_` prefix")]
    MalformedSecret,
    /// The secret decodes to fewer than [`MIN_SECRET_BYTES`] bytes.
    #[error("webhook secret must decode to at least 24 bytes")]
    SecretTooShort,
    /// No secret was given.
    #[error("no webhook signing secret configured")]
    NoSecret,
    /// The message id is empty or contains `.` (which would make the signed content ambiguous).
    #[error("webhook id must be non-empty and must not contain '.'")]
    InvalidMsgId,
}

/// Why a received webhook did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The `webhook-id` header is empty or contains `.`.
    #[error("invalid webhook-id header")]
    InvalidId,
    /// The `webhook-timestamp` header is not integer Unix seconds.
    #[error("invalid webhook-timestamp header")]
    InvalidTimestamp,
    /// The timestamp is further in the past than the tolerance.
    #[error("webhook-timestamp is too old")]
    TimestampTooOld,
    /// The timestamp is further in the future than the tolerance.
    #[error("webhook-timestamp is too far in the future")]
    TimestampTooNew,
    /// No `v1,` entry matched any of the secrets.
    #[error("no matching webhook signature")]
    NoMatchingSignature,
    /// A configured secret is unusable.
    #[error(transparent)]
    Secret(#[from] SignatureError),
}

/// Decodes `whsec_<base64>` (the prefix is optional, as in the reference libraries) into key bytes.
fn decode_secret(secret: &str) -> Result<Vec<u8>, SignatureError> {
    let b64 = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = STANDARD.decode(b64).map_err(|_| SignatureError::MalformedSecret)?;
    if key.len() < MIN_SECRET_BYTES {
        return Err(SignatureError::SecretTooShort);
    }
    Ok(key)
}

fn valid_id(msg_id: &str) -> bool {
    !msg_id.is_empty() && !msg_id.contains('.')
}

/// The HMAC state over `{id}.{ts}.{body}`; `ts` is the decimal timestamp exactly as sent.
fn mac(key: &[u8], msg_id: &str, ts: &str, body: &[u8]) -> Result<HmacSha256, SignatureError> {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).map_err(|_| SignatureError::MalformedSecret)?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// Signs one message with one secret: returns `v1,<base64 HMAC-SHA256 of "{id}.{ts}.{body}">`.
///
/// `body` must be exactly the bytes that are sent.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, SignatureError> {
    if !valid_id(msg_id) {
        return Err(SignatureError::InvalidMsgId);
    }
    let key = decode_secret(secret)?;
    let tag = mac(&key, msg_id, &timestamp.to_string(), body)?.finalize().into_bytes();
    Ok(format!("v1,{}", STANDARD.encode(tag)))
}

/// The `webhook-signature` header value: one `v1,` signature per secret, space-separated, so a
/// receiver that knows either the old or the new key verifies during a rotation overlap.
pub fn signature_header(secrets: &[&str], msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let sigs = secrets
        .iter()
        .map(|s| sign(s, msg_id, timestamp, body))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(sigs.join(" "))
}

/// Verifies a received webhook.
///
/// `headers` is `(webhook-id, webhook-timestamp, webhook-signature)` as received; `body` is the raw
/// request body (never re-serialized JSON); `now` is the current Unix time in seconds. The message
/// is accepted when the timestamp is within `tolerance` of `now` and any `v1,` entry of the
/// signature header matches any of `secrets` (constant-time, length-checked). Entries of other
/// schemes (e.g. `v1a,`) are ignored.
pub fn verify(
    secrets: &[&str],
    headers: (&str, &str, &str),
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let (msg_id, ts_raw, sig_header) = headers;
    if secrets.is_empty() {
        return Err(SignatureError::NoSecret.into());
    }
    let keys = secrets
        .iter()
        .map(|s| decode_secret(s))
        .collect::<Result<Vec<_>, _>>()?;
    if !valid_id(msg_id) {
        return Err(VerifyError::InvalidId);
    }
    if ts_raw.is_empty() || ts_raw.len() > 18 || !ts_raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::InvalidTimestamp);
    }
    let ts: i64 = ts_raw.parse().map_err(|_| VerifyError::InvalidTimestamp)?;
    let tol = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if now.saturating_sub(ts) > tol {
        return Err(VerifyError::TimestampTooOld);
    }
    if ts.saturating_sub(now) > tol {
        return Err(VerifyError::TimestampTooNew);
    }
    let mut matched = false;
    for entry in sig_header.split_ascii_whitespace().take(MAX_SIGNATURE_ENTRIES) {
        let Some(("v1", b64)) = entry.split_once(',') else {
            continue;
        };
        let Ok(candidate) = STANDARD.decode(b64) else { continue };
        if candidate.len() != TAG_LEN {
            continue;
        }
        for key in &keys {
            // `verify_slice` is constant-time and rejects any length other than the tag's.
            if mac(key, msg_id, ts_raw, body)?.verify_slice(&candidate).is_ok() {
                matched = true;
            }
        }
    }
    if matched {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TS: i64 = 1_649_367_553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const GOLDEN: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
    const OTHER: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn check(sig: &str) -> Result<(), VerifyError> {
        verify(&[SECRET], (ID, &TS.to_string(), sig), BODY, TS, DEFAULT_TOLERANCE)
    }

    #[test]
    fn golden_vector_h1() {
        assert_eq!(sign(SECRET, ID, TS, BODY).unwrap(), GOLDEN);
        assert_eq!(check(GOLDEN), Ok(()));
    }

    #[test]
    fn empty_and_truncated_signatures_are_rejected_h2() {
        let b64 = GOLDEN.trim_start_matches("v1,");
        let mut cases = vec![
            "".to_owned(),
            "v1,".into(),
            "v1,A".into(),
            "v1,AAAA".into(),
            "v1".into(),
        ];
        // Every proper prefix of the real signature, including valid-base64 ones.
        cases.extend((0..b64.len()).map(|n| format!("v1,{}", &b64[..n])));
        // A 31-byte prefix of the real tag, re-encoded (valid base64, wrong length).
        let tag = STANDARD.decode(b64).unwrap();
        cases.push(format!("v1,{}", STANDARD.encode(&tag[..31])));
        for case in cases {
            assert_eq!(
                check(&case),
                Err(VerifyError::NoMatchingSignature),
                "{case:?} must be rejected"
            );
        }
    }

    #[test]
    fn other_id_timestamp_or_body_is_rejected_h2() {
        let ts = TS.to_string();
        let wrong_id = verify(&[SECRET], ("msg_other", &ts, GOLDEN), BODY, TS, DEFAULT_TOLERANCE);
        assert_eq!(wrong_id, Err(VerifyError::NoMatchingSignature));
        let ts1 = (TS + 1).to_string();
        let wrong_ts = verify(&[SECRET], (ID, &ts1, GOLDEN), BODY, TS, DEFAULT_TOLERANCE);
        assert_eq!(wrong_ts, Err(VerifyError::NoMatchingSignature));
        let reserialized = br#"{"email": "test@example.com", "username": "test_user"}"#;
        let body = verify(&[SECRET], (ID, &ts, GOLDEN), reserialized, TS, DEFAULT_TOLERANCE);
        assert_eq!(body, Err(VerifyError::NoMatchingSignature));
        let wrong_key = verify(&[OTHER], (ID, &ts, GOLDEN), BODY, TS, DEFAULT_TOLERANCE);
        assert_eq!(wrong_key, Err(VerifyError::NoMatchingSignature));
    }

    #[test]
    fn tolerance_is_five_minutes_each_way_h2() {
        let sig = |ts: i64| sign(SECRET, ID, ts, BODY).unwrap();
        let at = |ts: i64, now: i64| verify(&[SECRET], (ID, &ts.to_string(), &sig(ts)), BODY, now, DEFAULT_TOLERANCE);
        assert_eq!(at(TS, TS + 300), Ok(()));
        assert_eq!(at(TS, TS - 300), Ok(()));
        assert_eq!(at(TS, TS + 301), Err(VerifyError::TimestampTooOld));
        assert_eq!(at(TS, TS - 301), Err(VerifyError::TimestampTooNew));
    }

    #[test]
    fn malformed_headers_are_rejected() {
        let v = |id: &str, ts: &str| verify(&[SECRET], (id, ts, GOLDEN), BODY, TS, DEFAULT_TOLERANCE);
        assert_eq!(v("", "1649367553"), Err(VerifyError::InvalidId));
        assert_eq!(v("a.b", "1649367553"), Err(VerifyError::InvalidId));
        for ts in [
            "",
            "-1",
            "+1649367553",
            "1649367553.0",
            " 1649367553",
            "99999999999999999999",
        ] {
            assert_eq!(v(ID, ts), Err(VerifyError::InvalidTimestamp), "{ts:?}");
        }
        assert_eq!(sign(SECRET, "a.b", TS, BODY), Err(SignatureError::InvalidMsgId));
        assert_eq!(sign("whsec_!!!", ID, TS, BODY), Err(SignatureError::MalformedSecret));
        assert_eq!(sign("whsec_AAAA", ID, TS, BODY), Err(SignatureError::SecretTooShort));
        assert_eq!(signature_header(&[], ID, TS, BODY), Err(SignatureError::NoSecret));
    }

    #[test]
    fn rotation_any_v1_entry_may_match_and_other_schemes_are_ignored_h3() {
        let header = signature_header(&[SECRET, OTHER], ID, TS, BODY).unwrap();
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], GOLDEN);
        let ts = TS.to_string();
        for known in [SECRET, OTHER] {
            assert_eq!(
                verify(&[known], (ID, &ts, &header), BODY, TS, DEFAULT_TOLERANCE),
                Ok(())
            );
        }
        // A receiver that already knows both keys also verifies a header signed with the new one only.
        let new_only = sign(OTHER, ID, TS, BODY).unwrap();
        assert_eq!(
            verify(&[SECRET, OTHER], (ID, &ts, &new_only), BODY, TS, DEFAULT_TOLERANCE),
            Ok(())
        );
        // Non-v1 entries and garbage are skipped, not fatal.
        let mixed = format!("v1a,{} junk v1,!!! {GOLDEN}", GOLDEN.trim_start_matches("v1,"));
        assert_eq!(check(&mixed), Ok(()));
        let only_v1a = format!("v1a,{}", GOLDEN.trim_start_matches("v1,"));
        assert_eq!(check(&only_v1a), Err(VerifyError::NoMatchingSignature));
    }

    #[test]
    fn secret_without_prefix_is_accepted() {
        let bare = SECRET.trim_start_matches(SECRET_PREFIX);
        assert_eq!(sign(bare, ID, TS, BODY).unwrap(), GOLDEN);
    }
}
