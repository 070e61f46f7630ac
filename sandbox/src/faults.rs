//! Seeded fault choice and log-normal latency per request (docs/design/upstreams.md §7.6), plus test-header overrides.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

use crate::config::{FaultRates, LatencyProfile};
use crate::hashing::{splitmix64, unit_of};
use crate::reply::Reply;
use crate::state::{AppState, Upstream};

/// An injected failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Timeout,
    Http5xx(u16),
    Throttle,
    Http429,
    Malformed,
}

impl Fault {
    /// Outcome label for stats.
    pub fn outcome(self) -> &'static str {
        match self {
            Fault::Timeout => "fault_timeout",
            Fault::Http5xx(_) => "fault_5xx",
            Fault::Throttle => "fault_throttle",
            Fault::Http429 => "fault_429",
            Fault::Malformed => "fault_malformed",
        }
    }
}

/// What happens to one request: an optional fault, the latency, and how long a timeout holds.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub fault: Option<Fault>,
    pub delay: Duration,
    pub hold: Duration,
    /// Per-upstream sequence number of this request (also used for request ids).
    pub seq: u64,
}

fn draw(seed: u64, up: Upstream, seq: u64, salt: u64) -> f64 {
    unit_of(splitmix64(seed ^ up.salt() ^ splitmix64(seq) ^ salt))
}

fn choose(rates: &FaultRates, u: f64, code_draw: f64) -> Option<Fault> {
    let table = [
        (rates.timeout, Fault::Timeout),
        (
            rates.http_5xx,
            Fault::Http5xx([500, 502, 503][((code_draw * 3.0) as usize).min(2)]),
        ),
        (rates.in_band_throttle, Fault::Throttle),
        (rates.http_429, Fault::Http429),
        (rates.malformed, Fault::Malformed),
    ];
    let mut acc = 0.0;
    for (p, f) in table {
        acc += p.max(0.0);
        if u < acc {
            return Some(f);
        }
    }
    None
}

/// Log-normal delay: `σ = ln(p99/m)/2.3263`, `delay = min(m·exp(σ·z), max)`, scaled.
pub fn latency_ms(p: &LatencyProfile, z: f64, scale: f64) -> f64 {
    if scale <= 0.0 || p.median_ms <= 0.0 {
        return 0.0;
    }
    let sigma = if p.p99_ms > p.median_ms {
        (p.p99_ms / p.median_ms).ln() / 2.3263
    } else {
        0.0
    };
    (p.median_ms * (sigma * z).exp()).min(p.max_ms) * scale
}

fn header_fault(headers: &HeaderMap) -> Option<Option<Fault>> {
    let v = headers
        .get("x-sandbox-fault")?
        .to_str()
        .ok()?
        .trim()
        .to_ascii_lowercase();
    Some(match v.as_str() {
        "timeout" => Some(Fault::Timeout),
        "5xx" | "503" | "http_5xx" => Some(Fault::Http5xx(503)),
        "500" => Some(Fault::Http5xx(500)),
        "502" => Some(Fault::Http5xx(502)),
        "throttle" | "in_band_throttle" => Some(Fault::Throttle),
        "429" | "http_429" => Some(Fault::Http429),
        "malformed" => Some(Fault::Malformed),
        _ => None,
    })
}

/// Plans one request of `up`: draws the fault and the latency from the seeded sequence.
pub fn plan(state: &AppState, up: Upstream, headers: &HeaderMap) -> Plan {
    let seq = state.next_seq(up);
    let seed = state.cfg.seed;
    let (scale, b) = state.behaviour(up);
    let mut fault = choose(&b.faults, draw(seed, up, seq, 1), draw(seed, up, seq, 2));
    // No latency (scale 0, the benchmark setting) needs no normal draw.
    let mut delay_ms = if scale > 0.0 && b.latency.median_ms > 0.0 {
        let (u1, u2) = (draw(seed, up, seq, 3).max(1e-12), draw(seed, up, seq, 4));
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        latency_ms(&b.latency, z, scale)
    } else {
        0.0
    };
    if state.cfg.allow_test_headers {
        if let Some(f) = header_fault(headers) {
            fault = f;
        }
        if let Some(ms) = headers
            .get("x-sandbox-latency-ms")
            .and_then(|v| v.to_str().ok()?.trim().parse::<f64>().ok())
        {
            delay_ms = ms.max(0.0);
        }
    }
    let hold = Duration::from_millis(b.latency.max_ms.max(0.0) as u64 + 1000);
    Plan {
        fault,
        delay: Duration::from_micros((delay_ms * 1000.0) as u64),
        hold,
        seq,
    }
}

/// Turns a fault into its reply. `success` is the real answer (truncated for `Malformed`), `throttle` the
/// upstream's in-band throttle answer.
pub fn apply(fault: Fault, hold: Duration, success: Reply, throttle: impl FnOnce() -> Reply) -> Reply {
    let outcome = fault.outcome();
    let text = |status: StatusCode, body: &'static str| Reply {
        status,
        headers: vec![(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=UTF-8"),
        )],
        body: Bytes::from_static(body.as_bytes()),
        outcome,
        hold: Duration::ZERO,
    };
    let retry_after = || HeaderValue::from_static("1");
    match fault {
        Fault::Timeout => Reply {
            hold,
            ..text(StatusCode::GATEWAY_TIMEOUT, "")
        },
        Fault::Http5xx(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let r = text(
                status,
                "<html><body><h1>Service temporarily unavailable</h1></body></html>",
            );
            if code == 503 {
                r.with_header(header::RETRY_AFTER, retry_after())
            } else {
                r
            }
        }
        Fault::Http429 => {
            text(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").with_header(header::RETRY_AFTER, retry_after())
        }
        Fault::Throttle => Reply { outcome, ..throttle() },
        Fault::Malformed => {
            // Half the body, moved back to a UTF-8 character boundary.
            let mut cut = success.body.len() / 2;
            while cut > 0 && (success.body[cut] & 0xC0) == 0x80 {
                cut -= 1;
            }
            Reply {
                body: success.body.slice(..cut),
                outcome,
                ..success
            }
        }
    }
}

/// Header name helper for upstream-specific headers.
pub fn header_name(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lognormal_matches_the_design_check() {
        let p = LatencyProfile::new(250.0, 1200.0, 5000.0);
        assert!((latency_ms(&p, 0.0, 1.0) - 250.0).abs() < 1e-9);
        assert!((latency_ms(&p, 2.3263, 1.0) - 1200.0).abs() < 1.0);
        assert_eq!(latency_ms(&p, 10.0, 1.0), 5000.0);
        assert_eq!(latency_ms(&p, 1.0, 0.0), 0.0);
    }

    #[test]
    fn malformed_cuts_at_a_character_boundary() {
        for text in [
            "{\"a\":\"\u{e9}\u{e9}\u{e9}\"}",
            "{\"a\":\"\u{e9}\u{e9}\u{e9}\u{e9}\"}",
            "{}",
            "",
        ] {
            let success = Reply::json_bytes(StatusCode::OK, Bytes::from(text), "ok");
            let r = apply(Fault::Malformed, Duration::ZERO, success, || unreachable!());
            let mut cut = text.len() / 2;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            assert_eq!(&r.body[..], &text.as_bytes()[..cut]);
            assert_eq!(r.outcome, "fault_malformed");
        }
    }

    #[test]
    fn fault_choice_respects_rates() {
        let rates = FaultRates {
            http_5xx: 0.5,
            ..FaultRates::default()
        };
        assert!(matches!(choose(&rates, 0.2, 0.9), Some(Fault::Http5xx(503))));
        assert_eq!(choose(&rates, 0.7, 0.0), None);
        assert_eq!(choose(&FaultRates::default(), 0.0, 0.0), None);
    }
}
