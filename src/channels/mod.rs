//! The channel seam: everything that differs between WhatsApp, Messenger, Instagram and a web
//! chat widget lives behind these two traits. Conversation, bot and routing code only see
//! [`crate::domain`] types.
//!
//! - [`WebhookParser`]: the channel's webhook body (already signature-checked) into
//!   [`InboundEnvelope`]s.
//! - [`ChannelClient`]: [`OutboundContent`] out through the provider's send API.
//!
//! Adding a channel means adding a module here with both, a webhook route for it in
//! `http::webhooks`, and a `kind` in the channel configuration.

pub mod instagram;
pub mod messenger;
pub mod signature;
pub mod telegram;
pub mod webchat;
pub mod whatsapp;
pub mod window;

pub use window::{
    SERVICE_WINDOW_MS, ServiceWindow, WINDOW_CLOSED_REASON, service_window, service_window_for,
};

use futures::future::BoxFuture;

use crate::domain::{ChannelKind, CustomerId, InboundEnvelope, OutboundContent, ProviderMessageId};

/// The webhook body could not be understood at all (as opposed to an unknown field or type,
/// which parsers tolerate).
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("malformed JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unexpected webhook object: {0}")]
    UnexpectedObject(String),
}

/// Parses one channel's webhook bodies into domain events.
pub trait WebhookParser: Send + Sync {
    fn kind(&self) -> ChannelKind;
    fn parse(&self, body: &[u8]) -> Result<Vec<InboundEnvelope>, ParseError>;
}

/// A send request: one message to one customer, or a read receipt.
#[derive(Clone, Debug, PartialEq)]
pub enum SendRequest {
    Message {
        to: CustomerId,
        content: OutboundContent,
        reply_to: Option<ProviderMessageId>,
        /// Echoed back by the provider in status webhooks (our message id).
        callback_data: Option<String>,
    },
    /// Mark an inbound message as read (blue ticks), optionally with a typing indicator.
    MarkRead {
        message_id: ProviderMessageId,
        typing_indicator: bool,
    },
}

/// What a successful send returns.
#[derive(Clone, Debug, PartialEq)]
pub struct SendAccepted {
    /// The provider's id for the message (None for read receipts).
    pub provider_id: Option<ProviderMessageId>,
}

/// How a failed send should be handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryClass {
    /// Number throughput exceeded (WhatsApp 130429): short backoff, retry.
    Throughput,
    /// Per-recipient pair rate exceeded (WhatsApp 131056): long backoff for this recipient.
    PairRate,
    /// Transient: unknown error 131000, 5xx, timeouts, transport errors: backoff, retry.
    Transient,
    /// Permanent: never retried, recorded as failed with the code.
    Permanent,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SendError {
    /// The provider answered with an error body.
    #[error("provider error {code} (HTTP {http_status}): {message}")]
    Provider {
        code: i64,
        http_status: u16,
        message: String,
        class: RetryClass,
    },
    /// The provider refused for now and said how long to wait (Telegram's 429 with
    /// `parameters.retry_after`): retried like [`RetryClass::Throughput`], never sooner.
    #[error("provider error {code} (HTTP {http_status}): {message}; retry after {retry_after:?}")]
    RetryAfter {
        code: i64,
        http_status: u16,
        message: String,
        retry_after: std::time::Duration,
    },
    /// No answer in time.
    #[error("timed out")]
    Timeout,
    /// Connection failed, or the answer was not understandable.
    #[error("transport: {0}")]
    Transport(String),
}

impl SendError {
    pub fn class(&self) -> RetryClass {
        match self {
            SendError::Provider { class, .. } => *class,
            SendError::RetryAfter { .. } => RetryClass::Throughput,
            SendError::Timeout | SendError::Transport(_) => RetryClass::Transient,
        }
    }
    /// The provider's error code, if any (for metrics and the stored failure).
    pub fn code(&self) -> Option<i64> {
        match self {
            SendError::Provider { code, .. } | SendError::RetryAfter { code, .. } => Some(*code),
            _ => None,
        }
    }
    /// The least the provider asked to wait before the next attempt, if it said.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            SendError::RetryAfter { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// Sends through one business account (one WhatsApp phone number, one page...).
pub trait ChannelClient: Send + Sync + 'static {
    fn kind(&self) -> ChannelKind;
    fn send<'a>(
        &'a self,
        request: &'a SendRequest,
    ) -> BoxFuture<'a, Result<SendAccepted, SendError>>;
}
