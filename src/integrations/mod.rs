//! How business systems connect: scoped API keys, event webhooks, panel apps' context tokens,
//! and what a key's message to a contact may be (`send`).

pub mod api_keys;
pub mod panel_app_records;
pub mod panel_apps;
pub mod send;
pub mod webhooks;
