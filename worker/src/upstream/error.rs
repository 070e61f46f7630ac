//! Upstream failures and their classification (docs/design/upstreams.md §5): what is retried, when, and the
//! stable `outcome` label used by the upstream metrics.

use std::{fmt, time::Duration};

use chrono::{DateTime, Utc};

/// Which upstream an error or metric belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Upstream {
    /// AliExpress Open Platform.
    AliExpress,
    /// Meta Ad Library.
    Meta,
    /// YouTube Data API v3.
    YouTube,
}

impl Upstream {
    /// The metric label (`aliexpress`, `meta`, `youtube`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AliExpress => "aliexpress",
            Self::Meta => "meta",
            Self::YouTube => "youtube",
        }
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of a transient failure (each has its own `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransientKind {
    /// HTTP 5xx (or an upstream-side business error such as AE `ISP`/`SYSTEM`).
    ServerError,
    /// The call timed out.
    Timeout,
    /// Connection or protocol failure.
    Transport,
    /// The body was not the JSON we expect.
    Malformed,
}

impl TransientKind {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServerError => "server_error",
            Self::Timeout => "timeout",
            Self::Transport => "transport",
            Self::Malformed => "malformed",
        }
    }
}

/// A failed upstream call, classified. Messages never contain URLs, tokens or keys.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UpstreamError {
    /// 5xx, timeout, transport failure or malformed body: retried with backoff.
    #[error("{upstream}: {} ({detail})", kind.as_str())]
    Transient {
        /// The upstream.
        upstream: Upstream,
        /// What went wrong.
        kind: TransientKind,
        /// Short detail (status, error kind), without URLs.
        detail: String,
    },
    /// The upstream asked us to slow down for `retry_after`.
    #[error("{upstream}: throttled {code} for {retry_after:?}")]
    Throttled {
        /// The upstream.
        upstream: Upstream,
        /// How long to wait before the next call.
        retry_after: Duration,
        /// The upstream's code (`ApiCallLimit`, `613`, `429`, …).
        code: String,
    },
    /// A daily quota is used up (YouTube `quotaExceeded`): no call succeeds before `until`.
    #[error("{upstream}: quota exhausted until {until:?}")]
    QuotaExhausted {
        /// The upstream.
        upstream: Upstream,
        /// When the quota resets, if known.
        until: Option<DateTime<Utc>>,
    },
    /// Credentials or signature rejected: never retried, needs an operator.
    #[error("{upstream}: auth failure {code}: {detail}")]
    Auth {
        /// The upstream.
        upstream: Upstream,
        /// The upstream's code (`IncompleteSignature`, `190`, `API_KEY_INVALID`, …).
        code: String,
        /// The upstream's message.
        detail: String,
    },
    /// The requested entity does not exist (AE product without `result`).
    #[error("{upstream}: not found: {detail}")]
    NotFound {
        /// The upstream.
        upstream: Upstream,
        /// What was not found.
        detail: String,
    },
    /// Any other client-side or business error (4xx, bad parameter): never retried.
    #[error("{upstream}: invalid request {code}: {detail}")]
    Invalid {
        /// The upstream.
        upstream: Upstream,
        /// The upstream's code or HTTP status.
        code: String,
        /// The upstream's message.
        detail: String,
    },
    /// The HTTP client could not be built from the configuration.
    #[error("upstream client configuration: {0}")]
    Config(String),
}

impl UpstreamError {
    /// Shorthand for a transient error.
    pub fn transient(upstream: Upstream, kind: TransientKind, detail: impl Into<String>) -> Self {
        Self::Transient {
            upstream,
            kind,
            detail: detail.into(),
        }
    }

    /// Shorthand for a malformed body.
    pub fn malformed(upstream: Upstream, detail: impl Into<String>) -> Self {
        Self::transient(upstream, TransientKind::Malformed, detail)
    }

    /// Shorthand for an invalid-request error.
    pub fn invalid(upstream: Upstream, code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Invalid {
            upstream,
            code: code.into(),
            detail: detail.into(),
        }
    }

    /// Shorthand for an auth error.
    pub fn auth(upstream: Upstream, code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Auth {
            upstream,
            code: code.into(),
            detail: detail.into(),
        }
    }

    /// The upstream the error came from (`None` for configuration errors).
    pub fn upstream(&self) -> Option<Upstream> {
        match self {
            Self::Transient { upstream, .. }
            | Self::Throttled { upstream, .. }
            | Self::QuotaExhausted { upstream, .. }
            | Self::Auth { upstream, .. }
            | Self::NotFound { upstream, .. }
            | Self::Invalid { upstream, .. } => Some(*upstream),
            Self::Config(_) => None,
        }
    }

    /// True when the same request may succeed if tried again later (transient or throttled).
    /// Quota exhaustion, auth, not-found and invalid requests are permanent for this attempt;
    /// [`UpstreamError::retry_after`] still says when a quota resets.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Transient { .. } | Self::Throttled { .. })
    }

    /// True for a failure to reach the upstream at all: connection refused, reset or closed, a
    /// connect timeout, a protocol failure (`TransientKind::Transport`; a call that connected and
    /// then timed out is `Timeout`, a slow upstream, and stays an ordinary transient error). These
    /// mean the upstream is down or unreachable, and pause it for every worker
    /// ([`super::budget::Budget::record_outage`]).
    pub fn is_connection_failure(&self) -> bool {
        matches!(
            self,
            Self::Transient {
                kind: TransientKind::Transport,
                ..
            }
        )
    }

    /// How long to wait before calling again, when the upstream said so (throttle or quota reset).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after, .. } => Some(*retry_after),
            Self::QuotaExhausted { until: Some(until), .. } => {
                Some((*until - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            }
            _ => None,
        }
    }

    /// The stable metric label: `throttled|quota|auth|not_found|client_error|server_error|timeout|malformed|transport`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Transient { kind, .. } => kind.as_str(),
            Self::Throttled { .. } => "throttled",
            Self::QuotaExhausted { .. } => "quota",
            Self::Auth { .. } => "auth",
            Self::NotFound { .. } => "not_found",
            Self::Invalid { .. } | Self::Config(_) => "client_error",
        }
    }

    /// A short reason for result documents, e.g. `throttled 613` or `auth IncompleteSignature`.
    pub fn reason(&self) -> String {
        match self {
            Self::Transient { kind, detail, .. } => format!("{} ({detail})", kind.as_str()),
            Self::Throttled { code, .. } => format!("throttled {code}"),
            Self::QuotaExhausted { .. } => "quota exhausted".to_owned(),
            Self::Auth { code, .. } => format!("auth {code}"),
            Self::NotFound { .. } => "not found".to_owned(),
            Self::Invalid { code, .. } => format!("invalid {code}"),
            Self::Config(detail) => format!("config ({detail})"),
        }
    }
}

/// Parses the AliExpress ban length from `"… this ban will last 1 seconds"` (default 1 s).
pub fn parse_ban_seconds(msg: &str) -> Duration {
    let lower = msg.to_ascii_lowercase();
    let secs = lower
        .find("will last")
        .map(|i| &lower[i + "will last".len()..])
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(secs.max(1))
}

/// Classifies an AliExpress `error_response` (HTTP 200) by `code`, `type` and message.
pub fn classify_aliexpress(code: &str, kind: Option<&str>, msg: &str) -> UpstreamError {
    let up = Upstream::AliExpress;
    match code {
        "ApiCallLimit" | "AppCallLimit" | "AccessControl" | "FrequencyLimited" => UpstreamError::Throttled {
            upstream: up,
            retry_after: parse_ban_seconds(msg),
            code: code.to_owned(),
        },
        "IncompleteSignature"
        | "InvalidSignature"
        | "InvalidAppKey"
        | "MissingAppKey"
        | "IllegalAccessToken"
        | "InvalidAccessToken"
        | "InvalidSession"
        | "AppNotExists"
        | "InsufficientPermission" => UpstreamError::auth(up, code, msg),
        _ if matches!(kind, Some("ISP") | Some("SYSTEM")) || code.starts_with("isp.") => {
            UpstreamError::transient(up, TransientKind::ServerError, format!("{code}: {msg}"))
        }
        _ => UpstreamError::invalid(up, code, msg),
    }
}

/// Classifies a Meta Graph error body by `error.code` (authoritative over the HTTP status).
pub fn classify_meta(code: i64, http_status: u16, msg: &str, throttle_pause: Duration) -> UpstreamError {
    let up = Upstream::Meta;
    match code {
        4 | 17 | 32 | 341 | 613 | 80000..=80099 => UpstreamError::Throttled {
            upstream: up,
            retry_after: throttle_pause,
            code: code.to_string(),
        },
        190 | 102 | 10 | 200..=299 => UpstreamError::auth(up, code.to_string(), msg),
        1 | 2 => UpstreamError::transient(up, TransientKind::ServerError, format!("code {code}: {msg}")),
        _ if http_status >= 500 => UpstreamError::transient(
            up,
            TransientKind::ServerError,
            format!("HTTP {http_status} code {code}"),
        ),
        _ => UpstreamError::invalid(up, code.to_string(), msg),
    }
}

/// Classifies a Google API error (`error.code` + `errors[].reason` / `details[].reason`).
pub fn classify_youtube(http_status: u16, reasons: &[String], msg: &str, now: DateTime<Utc>) -> UpstreamError {
    let up = Upstream::YouTube;
    let has = |r: &str| reasons.iter().any(|x| x == r);
    if has("quotaExceeded") || has("dailyLimitExceeded") {
        return UpstreamError::QuotaExhausted {
            upstream: up,
            until: Some(super::pacific::next_pacific_midnight(now)),
        };
    }
    if has("rateLimitExceeded") || has("userRateLimitExceeded") || http_status == 429 {
        return UpstreamError::Throttled {
            upstream: up,
            retry_after: Duration::from_secs(2),
            code: "rateLimitExceeded".into(),
        };
    }
    if has("API_KEY_INVALID") || has("keyInvalid") || has("keyExpired") || http_status == 401 || http_status == 403 {
        let code = reasons.last().cloned().unwrap_or_else(|| http_status.to_string());
        return UpstreamError::auth(up, code, msg);
    }
    match http_status {
        500..=599 => UpstreamError::transient(up, TransientKind::ServerError, format!("HTTP {http_status}")),
        404 => UpstreamError::NotFound {
            upstream: up,
            detail: msg.to_owned(),
        },
        _ => UpstreamError::invalid(
            up,
            reasons.first().cloned().unwrap_or_else(|| http_status.to_string()),
            msg,
        ),
    }
}
