//! Cached answers encoded once: the body `{"status":"succeeded","cache":"hit","result":…}` and its
//! brotli and gzip forms, so a hot product is compressed once per memo period, not per request.

use std::io::Write;

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, header},
    response::Response,
};
use bytes::Bytes;

/// A cached answer with its pre-compressed variants.
#[derive(Debug)]
pub struct CachedBody {
    plain: Bytes,
    br: Option<Bytes>,
    gzip: Option<Bytes>,
}

/// What [`CachedBody::new`] writes before the result document.
const PREFIX: &[u8] = br#"{"status":"succeeded","cache":"hit","result":"#;

/// Headers of a cached answer once the edge has added its own (security, CORS, rate limit,
/// request id): 17 as shipped.
const ANSWER_HEADERS: usize = 24;

/// Bodies below this are sent as they are (the edge compresses nothing under 1 KiB either).
const COMPRESS_FROM: usize = 1024;

impl CachedBody {
    /// Wraps a cached result document and compresses it.
    pub fn new(result: &[u8]) -> Self {
        let mut plain = Vec::with_capacity(result.len() + 48);
        plain.extend_from_slice(PREFIX);
        plain.extend_from_slice(result);
        plain.push(b'}');
        let (br, gzip) = if plain.len() >= COMPRESS_FROM {
            (brotli(&plain), gzip(&plain))
        } else {
            (None, None)
        };
        Self {
            plain: Bytes::from(plain),
            br,
            gzip,
        }
    }

    /// Whether this answer encodes `result`.
    pub fn holds(&self, result: &[u8]) -> bool {
        self.plain.len() == PREFIX.len() + result.len() + 1 && self.plain[PREFIX.len()..self.plain.len() - 1] == *result
    }

    /// The `200` answer, in the best encoding the request accepts.
    pub fn response(&self, request: &HeaderMap, cache_status: &'static str) -> Response {
        let (body, encoding) = match preferred(request) {
            Some("br") if self.br.is_some() => (self.br.clone(), Some("br")),
            Some("gzip") if self.gzip.is_some() => (self.gzip.clone(), Some("gzip")),
            _ => (None, None),
        };
        // `Response::new` starts with an empty map (no allocation; `Bytes::into_response` would
        // allocate one for its own `Content-Type`), replaced by one with room for every header the
        // edge adds on the way out, so the map never grows (rehashes). The status is 200.
        let mut response = Response::new(Body::from(body.unwrap_or_else(|| self.plain.clone())));
        *response.headers_mut() = HeaderMap::with_capacity(ANSWER_HEADERS);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            crate::header_names::CACHE_STATUS,
            HeaderValue::from_static(cache_status),
        );
        if self.br.is_some() {
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        if let Some(encoding) = encoding {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        response
    }
}

/// `br` or `gzip` when the request accepts it (q > 0), brotli first. Reads the header in place:
/// every cached answer asks, so it allocates nothing.
fn preferred(request: &HeaderMap) -> Option<&'static str> {
    let (mut br, mut gzip) = (false, false);
    let items = request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for item in items {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()) == Some(0.0));
        if refused {
            continue;
        }
        br |= name.eq_ignore_ascii_case("br");
        gzip |= name.eq_ignore_ascii_case("gzip");
    }
    match (br, gzip) {
        (true, _) => Some("br"),
        (false, true) => Some("gzip"),
        (false, false) => None,
    }
}

fn brotli(data: &[u8]) -> Option<Bytes> {
    let mut out = Vec::with_capacity(data.len() / 3);
    let params = brotli::enc::BrotliEncoderParams {
        quality: 5,
        lgwin: 20,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &data[..], &mut out, &params).ok()?;
    Some(Bytes::from(out))
}

fn gzip(data: &[u8]) -> Option<Bytes> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 3), flate2::Compression::default());
    encoder.write_all(data).ok()?;
    encoder.finish().ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn answers_in_the_accepted_encoding() {
        let doc = format!(r#"{{"score":90.2,"pad":"{}"}}"#, "x".repeat(4000));
        let body = CachedBody::new(doc.as_bytes());
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip, br"));
        assert_eq!(
            body.response(&h, "dropforge; hit").headers()[header::CONTENT_ENCODING],
            "br"
        );
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("GZIP;q=0.5, Br"));
        assert_eq!(
            body.response(&h, "dropforge; hit").headers()[header::CONTENT_ENCODING],
            "br"
        );
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity;q=0, gzip, br;q=0"),
        );
        let gz = body.response(&h, "dropforge; hit");
        assert_eq!(gz.headers()[header::CONTENT_ENCODING], "gzip");
        assert!(
            body.response(&HeaderMap::new(), "x")
                .headers()
                .get(header::CONTENT_ENCODING)
                .is_none()
        );
        let gz_bytes = body.gzip.clone().expect("gzip");
        let mut decoded = String::new();
        flate2::read::GzDecoder::new(&gz_bytes[..])
            .read_to_string(&mut decoded)
            .expect("valid gzip");
        assert_eq!(decoded.as_bytes(), &body.plain[..]);
        assert!(body.holds(doc.as_bytes()) && !body.holds(b"{}"));
        assert!(decoded.starts_with(r#"{"status":"succeeded","cache":"hit","result":{"score":90.2"#));
    }
}
