//! WhatsApp Cloud API channel: webhook parsing and the send client.

pub mod attachments;
pub mod client;
pub mod webhook;
