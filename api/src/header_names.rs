//! Names of the response headers of our own that `http::header` does not define, as constants: a
//! `&str` name given to `HeaderMap::insert` is copied into a new `HeaderName` on every insert (an
//! allocation per cached answer), a constant is not.

use axum::http::HeaderName;

/// `Cache-Status` (RFC 9211): whether the answer came from the cache.
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");
/// `Preference-Applied` (RFC 7240): the `Prefer: wait` that was honoured.
pub const PREFERENCE_APPLIED: HeaderName = HeaderName::from_static("preference-applied");
/// `RateLimit` (IETF RateLimit header fields): the tightest policy's remaining quota and reset.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// `RateLimit-Policy`: the policies that apply to the request.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
