//! Integration tests: the sandbox spawned on 127.0.0.1:0 with zero latency, driven over HTTP with reqwest.
#![allow(clippy::unwrap_used)]

mod admin;
mod aliexpress;
mod golden;
mod helpers;
mod keyword_link;
mod load;
mod meta;
mod youtube;
