//! Switchboard: a contact-center messaging gateway. See docs/ARCHITECTURE.md.

pub mod accounts;
pub mod agents;
pub mod assign;
pub mod bot;
pub mod channels;
pub mod cluster;
pub mod config;
pub mod conversation;
pub mod desk;
pub mod domain;
pub mod fakes;
pub mod http;
pub mod intake;
pub mod metrics;
pub mod outbound;
pub mod push;
pub mod queues;
pub mod reload;
pub mod routing;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod templates;
pub mod testkit;
pub mod timers;
