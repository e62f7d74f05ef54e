//! How business systems connect: scoped API keys, event webhooks (more to come: panel apps).

pub mod api_keys;
pub mod webhooks;
