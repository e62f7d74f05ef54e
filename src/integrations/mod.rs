//! How business systems connect: event webhooks (more to come: API keys and scopes, panel apps).

pub mod webhooks;
