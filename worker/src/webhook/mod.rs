//! Webhook delivery: the SSRF-guarded HTTP client and one signed attempt ([`client`]), and the retry
//! schedule with jitter ([`schedule`]). Signing and the SSRF rules themselves live in
//! `dropforge_common::webhook`.

pub mod client;
pub mod schedule;

pub use client::{AttemptResult, Outcome, WebhookClient, deliver};
pub use schedule::{max_attempts, next_delay, next_delay_with_retry_after};

/// Histogram `outcome`: duration of one delivery attempt, in seconds (to move to `common::metric_names`).
pub const WEBHOOK_DELIVERY_DURATION_SECONDS: &str = "dropforge_webhook_delivery_duration_seconds";
/// Buckets for [`WEBHOOK_DELIVERY_DURATION_SECONDS`]; 15 s is the default attempt timeout.
pub const WEBHOOK_DELIVERY_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0];
