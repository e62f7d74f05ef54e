//! How business systems connect: event webhooks, panel apps' context tokens (more to come: API
//! keys and scopes).

pub mod panel_app_records;
pub mod panel_apps;
pub mod webhooks;
