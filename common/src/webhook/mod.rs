//! Outgoing webhooks, the parts both the API and the worker need: Standard Webhooks v1 signing and
//! verification ([`signature`]), the SSRF guard for user-supplied webhook URLs ([`ssrf`]) and
//! the event bodies ([`payload`]).
//! Delivery itself (HTTP client, retry schedule) lives in the worker.

pub mod payload;
pub mod signature;
pub mod ssrf;
