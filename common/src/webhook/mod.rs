//! Outgoing webhooks, the parts both the API and the worker need: Standard Webhooks v1 signing and
//! verification ([`signature`]) and the SSRF guard for user-supplied webhook URLs ([`ssrf`]).
//! Delivery itself (HTTP client, retry schedule) lives in the worker.

pub mod signature;
pub mod ssrf;
