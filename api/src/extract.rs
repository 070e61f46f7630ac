//! Request extractors that answer with problem documents: JSON bodies, job ids, path parameters
//! and query strings (axum's own rejections are plain-text 400s; these never are).

use axum::{
    body::Bytes,
    extract::{
        FromRequest, FromRequestParts, Path, Request,
        path::{ErrorKind, FailedToDeserializePathParams},
        rejection::PathRejection,
    },
    http::{HeaderMap, header, request::Parts},
};
use dropforge_common::domain::JobId;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{ApiError, pointer_token};

/// A JSON body: `Content-Type: application/json` (415 otherwise) that parses (400 otherwise).
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        json_value(req, state).await.map(JsonBody)
    }
}

/// A JSON body as [`JsonBody`] reads it, and the request's headers, moved out of the request: a
/// `HeaderMap` extractor beside the body would copy every header of every request.
pub struct JsonWithHeaders {
    /// The request's headers.
    pub headers: HeaderMap,
    /// The parsed body.
    pub body: Value,
}

impl<S: Send + Sync> FromRequest<S> for JsonWithHeaders {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let (mut parts, body) = req.into_parts();
        let headers = std::mem::take(&mut parts.headers);
        let body = parse_body(Request::from_parts(parts, body), state).await?;
        Ok(Self { headers, body })
    }
}

/// `application/json` or any `application/*+json`.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
}

/// The JSON body of a request that says it sends JSON.
async fn json_value<S: Send + Sync>(req: Request, state: &S) -> Result<Value, ApiError> {
    if !is_json(req.headers()) {
        return Err(ApiError::UnsupportedMediaType);
    }
    parse_body(req, state).await
}

/// Reads the body (within the body limit) and parses it.
async fn parse_body<S: Send + Sync>(req: Request, state: &S) -> Result<Value, ApiError> {
    let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::MalformedJson(rejection.body_text())
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))
}

/// The `{id}` path parameter as a job id (400 when it is not one).
pub struct JobIdPath(pub JobId);

impl<S: Send + Sync> FromRequestParts<S> for JobIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::InvalidJobId)?;
        raw.parse().map(JobIdPath).map_err(|_| ApiError::InvalidJobId)
    }
}

/// Path parameters of type `T`; a segment that is not UTF-8 once percent-decoded is a
/// `400 invalid_path_encoding` problem pointing at `/path/{name}`.
pub struct PathParams<T>(pub T);

impl<T, S> FromRequestParts<S> for PathParams<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(path_error(&e)),
            Err(other) => Err(ApiError::Internal(format!("path parameters: {other}"))),
        }
    }
}

fn path_error(e: &FailedToDeserializePathParams) -> ApiError {
    match e.kind() {
        ErrorKind::InvalidUtf8InPathParam { key } => {
            ApiError::InvalidPathEncoding(format!("/path/{}", pointer_token(key)))
        }
        // Every other kind is a mismatch between the route and its extractor: a bug.
        other => ApiError::Internal(format!("path parameters: {other}")),
    }
}

/// A query string read strictly into `T` (whose fields are strings): each parameter at most once
/// (`400 duplicate_query_parameter`), names and values valid UTF-8 once percent-decoded
/// (`400 invalid_query_encoding`); both with an `errors[]` pointer `/query/{name}`. Unknown
/// parameters are ignored, as before.
pub struct StrictQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for StrictQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let params = parse_query(parts.uri.query().unwrap_or_default())?;
        serde_json::from_value(Value::Object(params))
            .map(Self)
            .map_err(|e| ApiError::InvalidQuery(e.to_string()))
    }
}

/// Parses `application/x-www-form-urlencoded` pairs strictly: `+` is a space, `%XX` a byte
/// (a `%` not followed by two hex digits stays as it is), the result must be UTF-8, and no name
/// may repeat.
pub fn parse_query(raw: &str) -> Result<Map<String, Value>, ApiError> {
    let mut params = Map::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = String::from_utf8(percent_decode(raw_name)).map_err(|e| {
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            ApiError::InvalidQueryEncoding(format!("/query/{}", pointer_token(&lossy)))
        })?;
        let value = String::from_utf8(percent_decode(raw_value))
            .map_err(|_| ApiError::InvalidQueryEncoding(format!("/query/{}", pointer_token(&name))))?;
        if params.contains_key(&name) {
            return Err(ApiError::DuplicateQueryParameter(name));
        }
        params.insert(name, Value::String(value));
    }
    Ok(params)
}

fn percent_decode(raw: &str) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let digit = |at: usize| bytes.get(at).copied().and_then(hex);
                match (digit(i + 1), digit(i + 2)) {
                    (Some(hi), Some(lo)) => {
                        out.push(hi << 4 | lo);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_decoded_strictly() {
        let q = parse_query("q=led+strip%21&country=de&flag").expect("valid");
        assert_eq!(q["q"], "led strip!");
        assert_eq!(q["country"], "de");
        assert_eq!(q["flag"], "");
        assert_eq!(parse_query("q=100%").expect("lone %")["q"], "100%");
        assert_eq!(parse_query("q=%e2%82%ac").expect("euro")["q"], "\u{20ac}");
        assert!(matches!(
            parse_query("q=x&q=y"),
            Err(ApiError::DuplicateQueryParameter(name)) if name == "q"
        ));
        assert!(matches!(
            parse_query("q=%FF%FE"),
            Err(ApiError::InvalidQueryEncoding(pointer)) if pointer == "/query/q"
        ));
        assert!(matches!(
            parse_query("a%2Fb=%C3"),
            Err(ApiError::InvalidQueryEncoding(pointer)) if pointer == "/query/a~1b"
        ));
    }
}
