//! Webhook delivery: the SSRF-guarded HTTP client and one signed attempt ([`client`]), and the retry
//! schedule with jitter ([`schedule`]). Signing and the SSRF rules themselves live in
//! `dropforge_common::webhook`.

pub mod client;
pub mod schedule;

pub use client::{AttemptResult, Outcome, WebhookClient, deliver};
pub use schedule::{max_attempts, next_delay, next_delay_with_retry_after};

pub use dropforge_common::metric_names::WEBHOOK_DELIVERY_DURATION_SECONDS;
