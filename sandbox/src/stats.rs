//! Request counters per upstream / method / outcome, rendered as JSON stats and Prometheus text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use serde_json::{Value, json};

/// (upstream, method, outcome): all static labels, so counting allocates nothing.
type Key = (&'static str, &'static str, &'static str);

/// Counters behind a short-lived mutex (never held across an await).
#[derive(Default)]
pub struct Stats {
    inner: Mutex<BTreeMap<Key, u64>>,
}

/// True for outcomes that are injected faults.
fn is_fault(outcome: &str) -> bool {
    outcome.starts_with("fault_")
}

/// True for outcomes that are quota / rate-limit answers.
fn is_throttle(outcome: &str) -> bool {
    matches!(outcome, "throttled" | "quota_exceeded")
}

impl Stats {
    fn snapshot(&self) -> BTreeMap<Key, u64> {
        match self.inner.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Counts one request.
    pub fn record(&self, upstream: &'static str, method: &'static str, outcome: &'static str) {
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g.entry((upstream, method, outcome)).or_insert(0) += 1;
    }

    /// Forgets every counter.
    pub fn clear(&self) {
        match self.inner.lock() {
            Ok(mut g) => g.clear(),
            Err(p) => p.into_inner().clear(),
        }
    }

    /// `{"requests": {up: {method: {outcome: n}}}, "faults": {up: {kind: n}}, "throttles": {up: n}, "total": n}`.
    pub fn to_json(&self) -> Value {
        let snap = self.snapshot();
        let mut requests = serde_json::Map::new();
        let mut faults = serde_json::Map::new();
        let mut throttles = serde_json::Map::new();
        let mut total = 0u64;
        for ((up, method, outcome), n) in &snap {
            total += n;
            let per_up = requests.entry(up.to_string()).or_insert_with(|| json!({}));
            if let Some(m) = per_up.as_object_mut() {
                let per_method = m.entry(method.to_string()).or_insert_with(|| json!({}));
                if let Some(o) = per_method.as_object_mut() {
                    o.insert(outcome.to_string(), json!(n));
                }
            }
            if is_fault(outcome) {
                let f = faults.entry(up.to_string()).or_insert_with(|| json!({}));
                if let Some(o) = f.as_object_mut() {
                    let kind = outcome.trim_start_matches("fault_").to_string();
                    let prev = o.get(&kind).and_then(Value::as_u64).unwrap_or(0);
                    o.insert(kind, json!(prev + n));
                }
            }
            if is_throttle(outcome) {
                let prev = throttles.get(*up).and_then(Value::as_u64).unwrap_or(0);
                throttles.insert(up.to_string(), json!(prev + n));
            }
        }
        json!({"requests": requests, "faults": faults, "throttles": throttles, "total": total})
    }

    /// Prometheus text exposition of the counters.
    pub fn to_prometheus(&self) -> String {
        let snap = self.snapshot();
        let mut by_outcome: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        let mut by_fault: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        let mut by_throttle: BTreeMap<&str, u64> = BTreeMap::new();
        for ((up, _, outcome), n) in &snap {
            *by_outcome.entry((up, outcome)).or_insert(0) += n;
            if is_fault(outcome) {
                *by_fault.entry((up, outcome.trim_start_matches("fault_"))).or_insert(0) += n;
            }
            if is_throttle(outcome) {
                *by_throttle.entry(up).or_insert(0) += n;
            }
        }
        let mut out = String::new();
        out.push_str("# HELP sandbox_requests_total Requests answered by the sandbox.\n");
        out.push_str("# TYPE sandbox_requests_total counter\n");
        for ((up, outcome), n) in by_outcome {
            let _ = writeln!(
                out,
                "sandbox_requests_total{{upstream=\"{up}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        out.push_str("# HELP sandbox_faults_injected_total Faults injected by the sandbox.\n");
        out.push_str("# TYPE sandbox_faults_injected_total counter\n");
        for ((up, kind), n) in by_fault {
            let _ = writeln!(
                out,
                "sandbox_faults_injected_total{{upstream=\"{up}\",kind=\"{kind}\"}} {n}"
            );
        }
        out.push_str("# HELP sandbox_throttled_total Requests refused by a sandbox quota.\n");
        out.push_str("# TYPE sandbox_throttled_total counter\n");
        for (up, n) in by_throttle {
            let _ = writeln!(out, "sandbox_throttled_total{{upstream=\"{up}\"}} {n}");
        }
        out
    }
}
