//! Fake external services, real HTTP servers: Meta's Graph API and a business API. Used by the
//! integration tests, the load test and the README demo (`cargo run --release --bin fake-graph`, whose demo page plays a customer).

pub mod business;
pub mod demo;
pub mod graph;
pub mod statuses;
