//! Webhook delivery against a real local receiver that verifies Standard Webhooks signatures with
//! `dropforge_common::webhook::signature::verify` (docs/design/webhooks-and-edge.md §6 H3, H4, H6, H7): the allow-list,
//! the SSRF matrix (nothing reaches the receiver), redirects not followed, 500 / 410 / 429 with
//! `Retry-After`, and the per-attempt timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use dropforge_common::webhook::signature::{DEFAULT_TOLERANCE, verify};
use dropforge_common::webhook::ssrf::{SsrfError, UrlPolicy};
use dropforge_worker::webhook::client::error_class;
use dropforge_worker::webhook::{AttemptResult, Outcome, WebhookClient, deliver};

/// The endpoint's previous secret, still sent during the rotation overlap.
const OLD: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
/// The endpoint's new secret: the only one the receiver knows.
const NEW: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BODY: &[u8] = br#"{"type":"job.succeeded","timestamp":"2026-11-27T00:00:00Z","data":{"job_id":"j1"}}"#;

#[derive(Clone, Default)]
struct Hits {
    total: Arc<AtomicUsize>,
    verified: Arc<AtomicUsize>,
}

struct Receiver {
    addr: SocketAddr,
    hits: Hits,
}

impl Receiver {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    fn total(&self) -> usize {
        self.hits.total.load(Ordering::SeqCst)
    }
    fn verified(&self) -> usize {
        self.hits.verified.load(Ordering::SeqCst)
    }
}

async fn count(State(hits): State<Hits>, req: Request, next: Next) -> Response {
    hits.total.fetch_add(1, Ordering::SeqCst);
    next.run(req).await
}

/// Verifies the signature with the NEW secret only; 204 when valid, 401 otherwise.
async fn verifying(State(hits): State<Hits>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let now = i64::try_from(now).expect("now fits i64");
    let signed = (h("webhook-id"), h("webhook-timestamp"), h("webhook-signature"));
    let ok = verify(&[NEW], (&signed.0, &signed.1, &signed.2), &body, now, DEFAULT_TOLERANCE).is_ok()
        && h("content-type") == "application/json"
        && h("user-agent") == "DropForge-Webhooks/1";
    if ok {
        hits.verified.fetch_add(1, Ordering::SeqCst);
        StatusCode::NO_CONTENT
    } else {
        StatusCode::UNAUTHORIZED
    }
}

async fn receiver() -> Receiver {
    let hits = Hits::default();
    let app = Router::new()
        .route("/ok", post(verifying))
        .route(
            "/redirect",
            post(|| async { (StatusCode::FOUND, [(header::LOCATION, "/ok")]).into_response() }),
        )
        .route("/500", post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }))
        .route("/410", post(|| async { StatusCode::GONE }))
        .route(
            "/429",
            post(|| async { (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "7")], "slow down") }),
        )
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                StatusCode::OK
            }),
        )
        .route("/big", post(|| async { "x".repeat(10_000) }))
        .layer(from_fn_with_state(hits.clone(), count))
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let addr = listener.local_addr().expect("receiver addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { addr, hits }
}

fn client(allow: &[&str], https_only: bool, timeout: Duration) -> WebhookClient {
    let allow_cidrs = allow.iter().map(|c| c.parse().expect("cidr")).collect();
    WebhookClient::with_policy(
        UrlPolicy {
            allow_cidrs,
            https_only,
        },
        timeout,
    )
    .expect("client builds")
}

fn loopback_allowed() -> WebhookClient {
    client(&["127.0.0.0/8"], false, Duration::from_secs(5))
}

async fn send(client: &WebhookClient, url: &str) -> AttemptResult {
    deliver(client, url, "msg_2pQ9vT0example", BODY, &[OLD, NEW]).await
}

#[tokio::test]
async fn delivers_signed_with_loopback_allow_listed() {
    let rx = receiver().await;
    let r = send(&loopback_allowed(), &rx.url("/ok")).await;
    assert_eq!(r.outcome, Outcome::Delivered, "{r:?}");
    assert_eq!((r.status, r.error_class), (Some(204), None));
    assert_eq!((rx.total(), rx.verified()), (1, 1));
}

#[tokio::test]
async fn receiver_rejects_a_key_it_does_not_know() {
    let rx = receiver().await;
    let r = deliver(&loopback_allowed(), &rx.url("/ok"), "msg_1", BODY, &[OLD]).await;
    assert_eq!(r.outcome, Outcome::Retry { retry_after: None });
    assert_eq!((r.status, r.error_class), (Some(401), Some(error_class::HTTP_STATUS)));
    assert_eq!((rx.total(), rx.verified()), (1, 0));
}

#[tokio::test]
async fn loopback_refused_without_allow_list_and_nothing_reaches_the_receiver() {
    let rx = receiver().await;
    let port = rx.addr.port();
    let deny = client(&[], false, Duration::from_secs(5));
    for url in [
        format!("http://127.0.0.1:{port}/ok"),
        format!("http://[::ffff:127.0.0.1]:{port}/ok"),
        format!("http://2130706433:{port}/ok"),
        format!("http://0x7f.1:{port}/ok"),
        format!("http://0177.0.0.1:{port}/ok"),
        format!("http://127.1:{port}/ok"),
        format!("http://localhost:{port}/ok"),
    ] {
        let r = send(&deny, &url).await;
        assert!(
            matches!(r.outcome, Outcome::Refused(ref e) if e.is_blocked_address()),
            "{url}: {r:?}"
        );
        assert_eq!(
            (r.status, r.error_class),
            (None, Some(error_class::BLOCKED_IP)),
            "{url}"
        );
    }
    // A name resolving to 127.0.0.1 is refused even when only 127.0.0.0/8 is allow-listed, because
    // `localhost` also means ::1 and every address must be allowed.
    let r = send(&loopback_allowed(), &format!("http://localhost:{port}/ok")).await;
    assert_eq!(r.outcome, Outcome::Refused(SsrfError::BlockedAddress("loopback")));
    assert_eq!(rx.total(), 0);
}

#[tokio::test]
async fn ssrf_matrix_refused_before_any_connection() {
    let deny = client(&[], false, Duration::from_secs(5));
    for url in [
        "http://127.0.0.1/",
        "http://localhost/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://169.254.169.254/",
        "http://10.0.0.1/",
        "http://100.64.0.1/",
        "http://[fc00::1]/",
    ] {
        let started = Instant::now();
        let r = send(&deny, url).await;
        assert!(
            matches!(r.outcome, Outcome::Refused(SsrfError::BlockedAddress(_))),
            "{url}: {r:?}"
        );
        assert_eq!(r.error_class, Some(error_class::BLOCKED_IP));
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{url} was refused without I/O"
        );
    }
    for (url, err) in [
        ("ftp://example.com/", SsrfError::UnsupportedScheme("ftp".into())),
        ("http://user:pass@example.com/", SsrfError::Credentials),
    ] {
        let r = send(&deny, url).await;
        assert_eq!(r.outcome, Outcome::Refused(err), "{url}");
        assert_eq!(r.error_class, Some(error_class::INVALID_URL));
    }
    let https_only = client(&["127.0.0.0/8"], true, Duration::from_secs(5));
    let r = send(&https_only, "http://example.com/").await;
    assert_eq!(r.outcome, Outcome::Refused(SsrfError::HttpsRequired));
}

#[tokio::test]
async fn redirect_is_not_followed() {
    let rx = receiver().await;
    let r = send(&loopback_allowed(), &rx.url("/redirect")).await;
    assert_eq!(r.outcome, Outcome::Retry { retry_after: None });
    assert_eq!((r.status, r.error_class), (Some(302), Some(error_class::REDIRECT)));
    assert_eq!(
        (rx.total(), rx.verified()),
        (1, 0),
        "exactly one request, the Location was not followed"
    );
}

#[tokio::test]
async fn server_error_is_retried_with_an_excerpt() {
    let rx = receiver().await;
    let r = send(&loopback_allowed(), &rx.url("/500")).await;
    assert_eq!(r.outcome, Outcome::Retry { retry_after: None });
    assert_eq!((r.status, r.error_class), (Some(500), Some(error_class::HTTP_STATUS)));
    assert_eq!(r.response_excerpt, "boom");
}

#[tokio::test]
async fn gone_disables() {
    let rx = receiver().await;
    let r = send(&loopback_allowed(), &rx.url("/410")).await;
    assert_eq!((r.outcome, r.status), (Outcome::Gone, Some(410)));
}

#[tokio::test]
async fn too_many_requests_honours_retry_after() {
    let rx = receiver().await;
    let r = send(&loopback_allowed(), &rx.url("/429")).await;
    assert_eq!(
        r.outcome,
        Outcome::Retry {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert_eq!((r.status, r.response_excerpt.as_str()), (Some(429), "slow down"));
}

#[tokio::test]
async fn response_excerpt_is_capped_at_4_kib() {
    let rx = receiver().await;
    let r = send(&loopback_allowed(), &rx.url("/big")).await;
    assert_eq!(r.outcome, Outcome::Delivered);
    assert_eq!(r.response_excerpt.len(), 4096);
}

#[tokio::test]
async fn slow_receiver_times_out() {
    let rx = receiver().await;
    let fast = client(&["127.0.0.0/8"], false, Duration::from_secs(1));
    let r = send(&fast, &rx.url("/slow")).await;
    assert_eq!(r.outcome, Outcome::Retry { retry_after: None }, "{r:?}");
    assert_eq!((r.status, r.error_class), (None, Some(error_class::TIMEOUT)));
    assert!(
        r.duration >= Duration::from_millis(900) && r.duration < Duration::from_millis(2500),
        "{r:?}"
    );
    assert_eq!(rx.total(), 1);
}
