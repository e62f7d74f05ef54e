//! The bot: pure decision code driven by configuration (`bots:` in the YAML), plus one thin
//! HTTP executor ([`http::HttpExecutor`]).
//!
//! The caller owns all effects. For each inbound message it calls [`Bot::on_message`] with the
//! conversation's [`BotState`] (stored as JSON with the conversation) and the contact; it sends
//! the step's `replies`, and while a step carries `http` it executes the request and feeds the
//! outcome to [`Bot::on_http_result`]. After a step with `handoff` the conversation belongs to
//! humans and the bot is not called again. Time only comes in through the `now` parameter.

pub mod config;
mod engine;
pub mod hours;
pub mod http;
mod matching;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::domain::{OutboundContent, TeamId};

pub use config::{BotConfig, Text};
pub use engine::Bot;
pub use http::HttpExecutor;

/// Where a customer is in the bot's flow. Serialized with the conversation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BotState {
    /// The greeting has been sent.
    pub greeted: bool,
    /// The conversation's language (detected or chosen).
    pub language: Option<String>,
    /// The menu or question waiting for the customer's input (None: idle at the start step).
    pub step: Option<String>,
    /// The HTTP step whose result is awaited.
    pub pending_http: Option<String>,
    /// Consecutive inputs the bot did not understand.
    pub misunderstandings: u32,
    /// The bot handed the conversation off; it does nothing more.
    pub handed_off: bool,
}

/// What the caller must do after one bot decision.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BotStep {
    /// Messages to send, in order.
    pub replies: Vec<OutboundContent>,
    /// A request to execute; report its outcome through [`Bot::on_http_result`].
    pub http: Option<HttpRequestSpec>,
    /// Hand the conversation to a human.
    pub handoff: Option<Handoff>,
    /// The flow reached an `end` step: the conversation is resolved by the bot.
    pub resolve: bool,
    /// The step the conversation was at no longer exists (the flows were reloaded without
    /// it): the bot went on from the start step. The caller logs it.
    pub restarted_from: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handoff {
    /// `None`: automatic routing.
    pub team: Option<TeamId>,
    /// Why, for agents and logs.
    pub reason: String,
}

/// A rendered HTTP request for the caller to execute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpRequestSpec {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Sent as JSON when present.
    pub body: Option<serde_json::Value>,
}

/// The outcome of an [`HttpRequestSpec`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum HttpResult {
    /// Any HTTP response; a non-JSON body is a `Value::String`.
    Response {
        status: u16,
        body: serde_json::Value,
    },
    /// No response: timeout, connection error, invalid request.
    Failed { reason: String },
}

/// A configuration the bot cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BotError {
    #[error("{0}")]
    Invalid(String),
    #[error("template {name}: {message}")]
    Template { name: String, message: String },
}
