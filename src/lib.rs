//! Switchboard: a contact-center messaging gateway. See docs/ARCHITECTURE.md.

pub mod bot;
pub mod channels;
pub mod config;
pub mod domain;
pub mod metrics;
pub mod outbound;
pub mod store;
pub mod fakes;
