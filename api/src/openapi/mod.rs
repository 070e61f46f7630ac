//! OpenAPI 3.1 description of the HTTP API (utoipa) and the offline docs page.
//!
//! The document is assembled from the routes: handlers carry `#[utoipa::path]` annotations, and
//! the bodies they answer with are the schemas (`crate::documents`, `crate::requests`,
//! `crate::problem`). Imports run one way, from here to the routes: no route imports this module.
//! [`spec`] is the document, served by [`spec_json`] at `GET /openapi.json`; [`docs_page`] serves
//! `GET /docs`, a self-contained page (inline script and style allowed by hash in its own CSP) that
//! renders it without any CDN. `api/openapi.json` is the committed snapshot (`tests/openapi.rs`).

use std::sync::LazyLock;

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::{
    Modify, OpenApi,
    openapi::{
        self, RefOr,
        path::{Parameter, ParameterIn},
        schema::{AdditionalProperties, Schema, SchemaType, Type},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use dropforge_common::{JobKind, JobStatus};

use crate::{
    documents::Job,
    problem::{
        InvalidMember, Problem,
        responses::{
            BadQuery, BadQueryOrPath, InternalError, MethodNotAllowed, PayloadTooLarge, ServiceUnavailable,
            TooManyRequests, TooManyRequestsOrBacklogFull, Unauthorized,
        },
    },
    routes,
};

/// Every `(method, path)` the application router serves. `tests/openapi.rs` checks that this list,
/// the generated document and the real router agree, so a new route must be added here and
/// documented (with `#[utoipa::path]` and an entry in [`ApiDoc`]) in the same change.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/ready"),
    ("POST", "/v1/validations"),
    ("POST", "/v1/validations/batch"),
    ("GET", "/v1/jobs/{id}"),
    ("GET", "/v1/jobs"),
    ("DELETE", "/v1/jobs/{id}"),
    ("GET", "/v1/jobs/{id}/deliveries"),
    ("GET", "/v1/products/search"),
    ("GET", "/v1/products/{source}/{id}/suppliers"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
];

/// Name of the bearer security scheme required by every `/v1` operation.
pub const BEARER: &str = "bearer";

/// The OpenAPI document: paths, components and the bearer security scheme.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "DropForge",
        description = "Dropshipping product validation. `POST /v1/validations` answers from the cache at once or \
            creates (or joins) a job; `GET /v1/jobs/{id}` reads it. Errors are RFC 9457 \
            `application/problem+json` documents with a stable `code`. `/v1` routes need an API key \
            (`Authorization: Bearer <key>`) and are rate limited (`RateLimit` / `RateLimit-Policy` headers, \
            429 with `Retry-After`). POSTs accept an `Idempotency-Key`.",
    ),
    paths(
        routes::validations::create_validation,
        routes::batches::create_batch,
        routes::jobs::get_job,
        routes::job_control::list_jobs,
        routes::job_control::cancel_job,
        routes::job_control::list_deliveries,
        routes::products::search,
        routes::products::suppliers,
        routes::health::health,
        routes::health::ready,
        spec_json,
        docs_page,
    ),
    components(
        schemas(Job, JobKind, JobStatus, Problem, InvalidMember),
        responses(
            BadQuery,
            BadQueryOrPath,
            Unauthorized,
            MethodNotAllowed,
            PayloadTooLarge,
            TooManyRequests,
            TooManyRequestsOrBacklogFull,
            ServiceUnavailable,
            InternalError
        ),
    ),
    modifiers(&Finish),
    tags(
        (name = "validations", description = "Product validations"),
        (name = "jobs", description = "Asynchronous jobs"),
        (name = "products", description = "Product search and suppliers"),
        (name = "operations", description = "Liveness and readiness probes"),
        (name = "documentation", description = "This document and its viewer"),
    )
)]
pub struct ApiDoc;

/// Sets the version from the crate, the bearer scheme, and `additionalProperties: false` where
/// unknown members are refused.
struct Finish;

impl Modify for Finish {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        doc.info.license = None;
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                operation.parameters.iter_mut().flatten().for_each(header_not_nullable);
            }
        }
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("df_<key id>_<secret>")
                    .description(Some("An API key: `Authorization: Bearer <key>`."))
                    .build(),
            ),
        );
        for name in ["ValidationRequest", "BatchRequest"] {
            if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) {
                object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
        }
    }
}

/// Optional header parameters are written as `Option<String>` (not required), which utoipa also
/// renders as nullable; a header is absent or a string, never null.
fn header_not_nullable(parameter: &mut RefOr<Parameter>) {
    let RefOr::T(parameter) = parameter else { return };
    if parameter.parameter_in != ParameterIn::Header {
        return;
    }
    if let Some(RefOr::T(Schema::Object(object))) = &mut parameter.schema
        && let SchemaType::Array(types) = &object.schema_type
    {
        let mut types: Vec<Type> = types.iter().filter(|t| **t != Type::Null).cloned().collect();
        object.schema_type = match types.len() {
            1 => SchemaType::Type(types.remove(0)),
            _ => SchemaType::Array(types),
        };
    }
}

/// The document as JSON.
pub fn spec() -> Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|e| {
        tracing::error!(error = %e, "the OpenAPI document did not serialise");
        Value::Null
    })
}

/// The document pretty-printed, with a final newline: exactly the committed `api/openapi.json`.
pub fn spec_pretty() -> String {
    let mut text = serde_json::to_string_pretty(&spec()).unwrap_or_default();
    text.push('\n');
    text
}

static SPEC_TEXT: LazyLock<String> = LazyLock::new(spec_pretty);

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "documentation",
    summary = "This OpenAPI 3.1 document",
    responses(
        (status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object),
        (status = 405, response = MethodNotAllowed),
    )
)]
pub async fn spec_json() -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        SPEC_TEXT.as_str(),
    )
        .into_response()
}

const DOCS_TEMPLATE: &str = include_str!("../docs/index.html");
const DOCS_SCRIPT: &str = include_str!("../docs/docs.js");
const DOCS_STYLE: &str = include_str!("../docs/docs.css");

/// The rendered docs page and its `Content-Security-Policy`.
struct DocsPage {
    html: String,
    csp: HeaderValue,
}

fn csp_hash(source: &str) -> String {
    format!("'sha256-{}'", STANDARD.encode(Sha256::digest(source.as_bytes())))
}

static DOCS: LazyLock<DocsPage> = LazyLock::new(|| {
    let html = DOCS_TEMPLATE
        .replace("{{STYLE}}", DOCS_STYLE)
        .replace("{{SCRIPT}}", DOCS_SCRIPT);
    let csp = format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'",
        csp_hash(DOCS_SCRIPT),
        csp_hash(DOCS_STYLE)
    );
    let csp = HeaderValue::from_str(&csp).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    DocsPage { html, csp }
});

/// `GET /docs`.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "documentation",
    summary = "API reference page",
    description = "A self-contained HTML page that renders `/openapi.json`; it loads nothing from other origins.",
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String,
            headers(("Content-Security-Policy" = String, description = "Allows only this page's own inline script and style, and fetching from this origin"))),
        (status = 405, response = MethodNotAllowed),
    )
)]
pub async fn docs_page() -> Response {
    let page = &*DOCS;
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CONTENT_SECURITY_POLICY, page.csp.clone()),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        page.html.as_str(),
    )
        .into_response()
}
