//! How business systems connect: scoped API keys, event webhooks, panel apps' context tokens.

pub mod api_keys;
pub mod panel_app_records;
pub mod panel_apps;
pub mod webhooks;
