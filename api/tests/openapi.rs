//! OpenAPI tests: the generated document equals the committed `api/openapi.json` snapshot
//! (`UPDATE_OPENAPI_SNAPSHOT=1` rewrites it), the document, `openapi::ROUTES` and the real router
//! agree on every `(method, path)`, and `/docs` is a self-contained page with a matching CSP.
//! The router tests need PostgreSQL and Redis (as the other API tests); no database is created.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};

use axum::{
    Router,
    body::{Body, to_bytes},
    http::{Method, Request, StatusCode, header},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use dropforge_api::openapi;
use dropforge_common::config::Config;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
const HTTP_METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

/// `(METHOD, path)` of every operation in the document.
fn spec_operations(spec: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in HTTP_METHODS {
            if item.get(method).is_some() {
                ops.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    ops
}

fn resolve<'a>(spec: &'a Value, item: &'a Value) -> &'a Value {
    match item.get("$ref").and_then(Value::as_str) {
        Some(r) => spec.pointer(r.trim_start_matches('#')).expect("dangling $ref"),
        None => item,
    }
}

#[test]
fn spec_matches_committed_snapshot() {
    let generated = openapi::spec_pretty();
    assert_eq!(generated, openapi::spec_pretty(), "generation must be deterministic");
    let committed = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    if committed == generated {
        return;
    }
    let update = std::env::var("UPDATE_OPENAPI_SNAPSHOT").is_ok_and(|v| v == "1");
    if update {
        std::fs::write(SNAPSHOT, &generated).expect("write api/openapi.json");
    }
    let first_diff = committed
        .lines()
        .zip(generated.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()))
        + 1;
    panic!(
        "api/openapi.json differs from the generated document (first difference at line {first_diff}). {}",
        if update {
            "It has been rewritten: review the diff and re-run."
        } else {
            "Run `UPDATE_OPENAPI_SNAPSHOT=1 cargo test -p dropforge-api --test openapi`, then review the diff."
        }
    );
}

#[test]
fn routes_list_matches_the_spec() {
    let from_spec = spec_operations(&openapi::spec());
    let from_list: BTreeSet<(String, String)> = openapi::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(from_list.len(), openapi::ROUTES.len(), "duplicate entries in ROUTES");
    assert_eq!(
        from_spec, from_list,
        "openapi::ROUTES and the OpenAPI document disagree"
    );
}

#[test]
fn spec_shape() {
    let spec = openapi::spec();
    assert_eq!(spec["openapi"], "3.1.0");
    assert_eq!(spec["info"]["title"], "DropForge");
    assert_eq!(spec["info"]["version"], env!("CARGO_PKG_VERSION"));
    let scheme = &spec["components"]["securitySchemes"][openapi::BEARER];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    let problem = &spec["components"]["schemas"]["Problem"]["properties"];
    for member in ["type", "title", "status", "detail", "code", "errors"] {
        assert!(problem.get(member).is_some(), "Problem lacks `{member}`");
    }
    let field_error = &spec["components"]["schemas"]["FieldError"]["properties"];
    assert!(field_error.get("pointer").is_some() && field_error.get("detail").is_some());

    for (method, path) in spec_operations(&spec) {
        let op = &spec["paths"][&path][method.to_ascii_lowercase()];
        let secured = op["security"]
            .as_array()
            .is_some_and(|reqs| reqs.iter().any(|r| r.get(openapi::BEARER).is_some()));
        assert_eq!(
            secured,
            path.starts_with("/v1/"),
            "{method} {path}: bearer security iff /v1"
        );
        let responses = op["responses"].as_object().expect("responses");
        assert!(responses.contains_key("405"), "{method} {path}: 405 undocumented");
        for (status, response) in responses {
            let response = resolve(&spec, response);
            assert!(
                response["description"].is_string(),
                "{method} {path} {status}: no description"
            );
            let code: u16 = status.parse().expect("numeric status");
            let problem_or_ready = code >= 400 && path != "/ready";
            if problem_or_ready {
                assert_eq!(
                    response["content"]["application/problem+json"]["schema"]["$ref"], "#/components/schemas/Problem",
                    "{method} {path} {status}: not a problem document"
                );
            }
        }
        if path.starts_with("/v1/") {
            for status in ["401", "429", "503"] {
                assert!(responses.contains_key(status), "{method} {path}: {status} undocumented");
            }
            let ok = responses.keys().find(|s| s.starts_with('2')).expect("a 2xx");
            let headers = &resolve(&spec, &responses[ok])["headers"];
            for h in ["RateLimit", "RateLimit-Policy"] {
                assert!(headers.get(h).is_some(), "{method} {path} {ok}: {h} undocumented");
            }
        }
    }

    let post = &spec["paths"]["/v1/validations"]["post"];
    let params: BTreeSet<&str> = post["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, BTreeSet::from(["Idempotency-Key", "Prefer"]));
    assert_eq!(
        post["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ValidationRequest"
    );
    let statuses: BTreeSet<&str> = post["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for s in [
        "200", "202", "400", "401", "405", "409", "413", "415", "422", "429", "503",
    ] {
        assert!(statuses.contains(s), "POST /v1/validations: {s} undocumented");
    }
    let accepted = &post["responses"]["202"]["headers"];
    for h in ["Location", "Retry-After", "Cache-Status", "Preference-Applied"] {
        assert!(accepted.get(h).is_some(), "202 lacks {h}");
    }
    let get = &spec["paths"]["/v1/jobs/{id}"]["get"];
    let statuses: BTreeSet<&str> = get["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for s in ["200", "304", "400", "401", "404", "405", "429", "503"] {
        assert!(statuses.contains(s), "GET /v1/jobs/{{id}}: {s} undocumented");
    }
    assert!(get["responses"]["200"]["headers"].get("ETag").is_some());
    let names: BTreeSet<&str> = get["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["If-None-Match", "Prefer", "id"]));
}

// ---------------------------------------------------------------------------------------------
// Against the real router
// ---------------------------------------------------------------------------------------------

async fn app() -> Router {
    let database = std::env::var("DF_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let vars: HashMap<String, String> = [
        ("DATABASE_URL", database),
        ("REDIS_URL", redis),
        ("DF_REDIS_PREFIX", format!("dftest:openapi:{}", ulid::Ulid::generate())),
        ("DF_DB_MAX_CONNECTIONS", "2".into()),
        ("DF_RATE_LIMIT_TIMEOUT_MS", "2000".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = Config::from_vars(&vars).expect("config");
    let state = dropforge_api::build_state(config)
        .await
        .expect("state (PostgreSQL and Redis)");
    dropforge_api::router(state)
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The router's own unmatched-route answer (not a handler's 404 such as `job_not_found`).
    fn is_unrouted(&self) -> bool {
        self.status == StatusCode::NOT_FOUND && self.json()["code"] == "not_found"
    }
}

async fn send(app: &Router, method: &str, path: &str) -> Answer {
    let request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path)
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: to_bytes(body, 1 << 22).await.unwrap().to_vec(),
    }
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "019ac3b2-6c1d-7e6f-9a8b-123456789abc")
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_nothing_else() {
    let app = app().await;
    let spec = openapi::spec();
    let ops = spec_operations(&spec);
    for (method, path) in &ops {
        let answer = send(&app, method, &concrete(path)).await;
        assert!(!answer.is_unrouted(), "{method} {path} is documented but not routed");
        // Every other method on a documented path must be the router's 405: a 2xx/4xx from a
        // handler means the method is routed but undocumented.
        for other in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if ops.contains(&(other.to_owned(), path.clone())) {
                continue;
            }
            let answer = send(&app, other, &concrete(path)).await;
            assert!(
                answer.status == StatusCode::METHOD_NOT_ALLOWED && answer.json()["code"] == "method_not_allowed",
                "{other} {path} is routed (answered {}) but not documented",
                answer.status
            );
        }
    }
    for path in [
        "/",
        "/v1",
        "/v1/",
        "/v1/jobs/",
        "/v1/validations/x",
        "/v1/batches",
        "/v2/validations",
        "/docs/",
        "/docs/index.html",
        "/openapi.yaml",
        "/metrics",
        "/health/x",
    ] {
        for method in ["GET", "POST"] {
            let documented = ops.contains(&(method.to_owned(), path.to_owned()));
            let answer = send(&app, method, path).await;
            assert_eq!(
                answer.is_unrouted(),
                !documented,
                "{method} {path}: routed = {}, documented = {documented}",
                !answer.is_unrouted()
            );
        }
    }
}

#[tokio::test]
async fn openapi_json_is_served() {
    let app = app().await;
    let answer = send(&app, "GET", "/openapi.json").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(String::from_utf8(answer.body).unwrap(), openapi::spec_pretty());
}

fn between<'a>(html: &'a str, open: &str, close: &str) -> &'a str {
    let start = html.find(open).expect(open) + open.len();
    let end = start + html[start..].find(close).expect(close);
    &html[start..end]
}

fn hash(source: &str) -> String {
    format!("'sha256-{}'", STANDARD.encode(Sha256::digest(source.as_bytes())))
}

#[tokio::test]
async fn docs_page_is_self_contained() {
    let app = app().await;
    let answer = send(&app, "GET", "/docs").await;
    assert_eq!(answer.status, StatusCode::OK);
    let content_type = answer.headers[header::CONTENT_TYPE].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = String::from_utf8(answer.body).unwrap();
    for external in ["http://", "https://", "//cdn", "src=\"//", "href=\"//"] {
        assert!(!html.contains(external), "the docs page references {external}");
    }
    assert!(
        html.contains("fetch(\"openapi.json\""),
        "the page must load the spec from this origin"
    );
    let csp = answer.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let script = between(&html, "<script>", "</script>");
    let style = between(&html, "<style>", "</style>");
    assert!(
        csp.contains(&format!("script-src {}", hash(script))),
        "script hash missing: {csp}"
    );
    assert!(
        csp.contains(&format!("style-src {}", hash(style))),
        "style hash missing: {csp}"
    );
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(html.matches("<script").count(), 1, "only the hashed inline script");
    assert_eq!(html.matches("<style").count(), 1, "only the hashed inline style");
    // The edge's security headers are still there.
    assert_eq!(answer.headers["x-content-type-options"], "nosniff");
}
