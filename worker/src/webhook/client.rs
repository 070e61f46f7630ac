//! One webhook delivery attempt over an SSRF-guarded HTTP client (docs/design/webhooks-and-edge.md §1.1, §1.4).
//!
//! The client never follows redirects, never uses a proxy, and resolves names only through
//! [`resolve_host_checked`], so it connects only to the addresses that were vetted (no DNS-rebinding
//! window). IP-literal URLs skip any resolver, so [`deliver`] runs [`check_url`] first.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dropforge_common::config::WebhookConfig;
use dropforge_common::metric_names::WEBHOOK_DELIVERIES_TOTAL;
use dropforge_common::webhook::signature::signature_header;
use dropforge_common::webhook::ssrf::{SsrfError, UrlPolicy, check_url, resolve_host_checked};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};

use super::WEBHOOK_DELIVERY_DURATION_SECONDS;

type BoxError = Box<dyn StdError + Send + Sync>;

/// `user-agent` of every delivery.
pub const USER_AGENT: &str = "DropForge-Webhooks/1";
/// Connect timeout (capped by the total timeout).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of a response body is kept for the delivery log.
pub const MAX_EXCERPT_BYTES: usize = 4096;
/// Longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Stable `error_class` values of the delivery log.
pub mod error_class {
    /// The attempt exceeded its timeout.
    pub const TIMEOUT: &str = "timeout";
    /// TCP/TLS connection failed.
    pub const CONNECT: &str = "connect";
    /// The host name did not resolve.
    pub const DNS: &str = "dns";
    /// The SSRF guard refused the destination.
    pub const BLOCKED_IP: &str = "blocked_ip";
    /// The receiver answered with a non-2xx, non-3xx status.
    pub const HTTP_STATUS: &str = "http_status";
    /// The receiver answered 3xx (never followed).
    pub const REDIRECT: &str = "redirect";
    /// The URL itself is unacceptable (scheme, credentials, https required).
    pub const INVALID_URL: &str = "invalid_url";
    /// The message could not be signed (bad secret or message id).
    pub const SIGNING: &str = "signing";
}

/// What the caller should do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: delivered.
    Delivered,
    /// 410 Gone: disable the endpoint, no further attempts.
    Gone,
    /// Failure worth retrying per the schedule; `retry_after` from a 429/503 `Retry-After`.
    Retry {
        /// The receiver's requested minimum delay.
        retry_after: Option<Duration>,
    },
    /// The SSRF guard refused the URL or its addresses: do not retry.
    Refused(SsrfError),
}

impl Outcome {
    /// Metric label: `delivered`, `gone`, `retry` or `refused`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Gone => "gone",
            Self::Retry { .. } => "retry",
            Self::Refused(_) => "refused",
        }
    }
}

/// The record of one attempt, as stored in the delivery log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// Wall time of the attempt.
    pub duration: Duration,
    /// What to do next.
    pub outcome: Outcome,
    /// One of [`error_class`], `None` on success.
    pub error_class: Option<&'static str>,
    /// At most [`MAX_EXCERPT_BYTES`] of the response body (lossy UTF-8, NULs replaced).
    pub response_excerpt: String,
}

impl AttemptResult {
    fn failed(outcome: Outcome, class: &'static str) -> Self {
        Self {
            status: None,
            duration: Duration::ZERO,
            outcome,
            error_class: Some(class),
            response_excerpt: String::new(),
        }
    }
}

/// Resolves names through the SSRF guard: every address must be allowed, and only those are dialled.
#[derive(Debug)]
struct GuardedResolver {
    policy: Arc<UrlPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest substitutes the URL's port.
            let addrs = resolve_host_checked(&host, 0, &policy).await?;
            Ok::<Addrs, BoxError>(Box::new(addrs.into_iter()))
        })
    }
}

/// The delivery HTTP client: no redirects, no proxy, guarded DNS, total and connect timeouts.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    policy: Arc<UrlPolicy>,
}

impl WebhookClient {
    /// Builds the client from the webhook configuration (allow-list, https-only, timeout).
    pub fn new(config: &WebhookConfig) -> Result<Self, reqwest::Error> {
        Self::with_policy(UrlPolicy::from(config), config.timeout)
    }

    /// Builds the client from an explicit policy and total per-attempt timeout.
    pub fn with_policy(policy: UrlPolicy, timeout: Duration) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(policy);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .user_agent(USER_AGENT)
            .dns_resolver(Arc::new(GuardedResolver {
                policy: Arc::clone(&policy),
            }))
            .build()?;
        Ok(Self { http, policy })
    }

    /// The SSRF policy this client enforces.
    pub fn policy(&self) -> &UrlPolicy {
        &self.policy
    }
}

/// Sends one signed attempt of message `msg_id` to `url` and classifies the result. Never panics,
/// never follows redirects; records `dropforge_webhook_deliveries_total{outcome}` and the duration.
///
/// `body` is sent byte for byte as signed; `secrets` are the endpoint's current `whsec_` secrets
/// (two during a rotation). `webhook-timestamp` is the time of this attempt.
pub async fn deliver(client: &WebhookClient, url: &str, msg_id: &str, body: &[u8], secrets: &[&str]) -> AttemptResult {
    let started = Instant::now();
    let mut result = attempt(client, url, msg_id, body, secrets).await;
    result.duration = started.elapsed();
    let outcome = result.outcome.label();
    metrics::counter!(WEBHOOK_DELIVERIES_TOTAL, "outcome" => outcome).increment(1);
    metrics::histogram!(WEBHOOK_DELIVERY_DURATION_SECONDS, "outcome" => outcome).record(result.duration.as_secs_f64());
    tracing::info!(
        webhook_id = msg_id,
        outcome,
        status = result.status,
        error_class = result.error_class,
        duration_ms = u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX),
        "webhook attempt"
    );
    result
}

async fn attempt(client: &WebhookClient, url: &str, msg_id: &str, body: &[u8], secrets: &[&str]) -> AttemptResult {
    let url = match check_url(url, &client.policy) {
        Ok(url) => url,
        Err(err) => return refused(err),
    };
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let Ok(signature) = signature_header(secrets, msg_id, ts, body) else {
        return AttemptResult::failed(Outcome::Retry { retry_after: None }, error_class::SIGNING);
    };
    let request = client
        .http
        .post(url)
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_vec());
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(err) => return from_error(&err),
    };
    let status = response.status().as_u16();
    let retry_after = match status {
        429 | 503 => parse_retry_after(response.headers()),
        _ => None,
    };
    let response_excerpt = read_excerpt(&mut response).await;
    let (outcome, class) = match status {
        200..=299 => (Outcome::Delivered, None),
        410 => (Outcome::Gone, Some(error_class::HTTP_STATUS)),
        300..=399 => (Outcome::Retry { retry_after: None }, Some(error_class::REDIRECT)),
        _ => (Outcome::Retry { retry_after }, Some(error_class::HTTP_STATUS)),
    };
    AttemptResult {
        status: Some(status),
        duration: Duration::ZERO,
        outcome,
        error_class: class,
        response_excerpt,
    }
}

fn refused(err: SsrfError) -> AttemptResult {
    let class = if err.is_blocked_address() {
        error_class::BLOCKED_IP
    } else {
        error_class::INVALID_URL
    };
    AttemptResult::failed(Outcome::Refused(err), class)
}

/// Classifies a transport error; a refusal by the guarded resolver surfaces here.
fn from_error(err: &reqwest::Error) -> AttemptResult {
    if let Some(ssrf) = find_ssrf(err) {
        return match ssrf {
            SsrfError::Unresolvable => AttemptResult::failed(Outcome::Retry { retry_after: None }, error_class::DNS),
            other => refused(other),
        };
    }
    let class = if err.is_timeout() {
        error_class::TIMEOUT
    } else if err.is_redirect() {
        error_class::REDIRECT
    } else {
        error_class::CONNECT
    };
    AttemptResult::failed(Outcome::Retry { retry_after: None }, class)
}

fn find_ssrf(err: &reqwest::Error) -> Option<SsrfError> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(ssrf) = e.downcast_ref::<SsrfError>() {
            return Some(ssrf.clone());
        }
        current = e.source();
    }
    None
}

/// `Retry-After` in delay-seconds (RFC 9110 §10.2.3), capped at [`MAX_RETRY_AFTER`]. HTTP-dates are
/// ignored (the schedule applies).
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// Reads at most [`MAX_EXCERPT_BYTES`] of the body; a read error just ends the excerpt.
async fn read_excerpt(response: &mut reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < MAX_EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(MAX_EXCERPT_BYTES - buf.len());
                buf.extend_from_slice(&chunk[..take]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&buf).replace('\0', "\u{FFFD}")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use reqwest::header::HeaderValue;

    use super::*;

    fn policy(cidrs: &[&str]) -> UrlPolicy {
        UrlPolicy {
            allow_cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
            https_only: false,
        }
    }

    #[tokio::test]
    async fn guarded_resolver_refuses_loopback_names() {
        let resolver = GuardedResolver {
            policy: Arc::new(policy(&[])),
        };
        let err = resolver.resolve("localhost".parse().unwrap()).await.err().unwrap();
        assert_eq!(
            err.downcast_ref::<SsrfError>(),
            Some(&SsrfError::ResolvesToBlocked("loopback"))
        );
        let allowed = GuardedResolver {
            policy: Arc::new(policy(&["127.0.0.0/8", "::1/128"])),
        };
        let addrs: Vec<_> = allowed.resolve("localhost".parse().unwrap()).await.unwrap().collect();
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()));
    }

    /// The raw client (past `check_url`) still cannot reach a name that resolves to loopback.
    #[tokio::test]
    async fn client_connects_only_to_vetted_addresses() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while listener.accept().await.is_ok() {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        let client = WebhookClient::with_policy(policy(&[]), Duration::from_secs(2)).unwrap();
        let err = client
            .http
            .get(format!("http://localhost:{port}/"))
            .send()
            .await
            .unwrap_err();
        let result = from_error(&err);
        assert_eq!(
            result.outcome,
            Outcome::Refused(SsrfError::ResolvesToBlocked("loopback"))
        );
        assert_eq!(result.error_class, Some(error_class::BLOCKED_IP));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn refused_before_any_io() {
        let client = WebhookClient::with_policy(policy(&[]), Duration::from_secs(1)).unwrap();
        let r = deliver(&client, "http://[::ffff:127.0.0.1]:1/", "msg_1", b"{}", &[]).await;
        assert_eq!(r.outcome, Outcome::Refused(SsrfError::BlockedAddress("loopback")));
        let r = deliver(&client, "ftp://example.com/", "msg_1", b"{}", &[]).await;
        assert_eq!(r.error_class, Some(error_class::INVALID_URL));
        assert!(matches!(r.outcome, Outcome::Refused(SsrfError::UnsupportedScheme(_))));
    }

    #[test]
    fn retry_after_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(parse_retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("99999999"));
        assert_eq!(parse_retry_after(&h), Some(MAX_RETRY_AFTER));
        h.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(parse_retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("-1"));
        assert_eq!(parse_retry_after(&h), None);
    }
}
