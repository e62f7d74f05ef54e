//! Fake external services, real HTTP servers: Meta's Graph API, a business API and a Web Push
//! service. Used by the integration tests, the load test and the README demo
//! (`cargo run --release --bin fake-graph`, whose demo page plays a customer).

pub mod business;
pub mod demo;
pub mod graph;
pub mod push;
pub mod statuses;
