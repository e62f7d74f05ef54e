//! The channel seam: everything that differs between WhatsApp, Messenger, Instagram, Telegram, X
//! and a web chat widget lives behind these two traits. Conversation, bot and routing code only see
//! [`crate::domain`] types.
//!
//! - [`WebhookParser`]: the channel's webhook body (already signature-checked) into
//!   [`InboundEnvelope`]s.
//! - [`ChannelClient`]: [`OutboundContent`] out through the provider's send API.
//! - [`AttachmentChannel`]: an agent's file checked against the channel's types and limits and
//!   made sendable (uploaded to the provider for its id, or left in our media store for a
//!   client that sends the bytes itself, [`MediaSource::Stored`] read through [`StoredFiles`]).
//! - [`LinkAuth`]: where a channel's customers' files given as links may be fetched from and
//!   the token that goes with them, for a channel whose links need its account ([`link_auth_for`]).
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
pub mod x;

pub use window::{
    ChannelWindows, SERVICE_WINDOW_MS, ServiceWindow, WINDOW_CLOSED_REASON, WindowRule,
    service_window,
};

/// The kind of channel `customer` writes on, read from their id: each channel but WhatsApp
/// prefixes its customers' ids (`telegram:`, `x:`, `messenger:`, `instagram:`, `webchat:`); a
/// WhatsApp customer's id is their number or business-scoped user id.
pub fn kind_of(customer: &CustomerId) -> ChannelKind {
    use messenger::Platform;
    if webchat::is_visitor(customer) {
        ChannelKind::Webchat
    } else if telegram::chat_of(customer).is_some() {
        ChannelKind::Telegram
    } else if x::user_of(customer).is_some() {
        ChannelKind::X
    } else if Platform::Messenger.user_of(customer).is_some() {
        ChannelKind::Messenger
    } else if Platform::Instagram.user_of(customer).is_some() {
        ChannelKind::Instagram
    } else {
        ChannelKind::Whatsapp
    }
}

#[cfg(test)]
mod kind_tests {
    use super::*;
    use crate::domain::{AccountId, ChannelId};

    #[test]
    fn each_channels_customers_are_known_by_their_ids() {
        let account = AccountId::new("123");
        let cases = [
            (
                webchat::customer_id(&ChannelId::new("site"), "abc"),
                ChannelKind::Webchat,
            ),
            (telegram::customer_id(&account, 42), ChannelKind::Telegram),
            (x::customer_id(&account, "777"), ChannelKind::X),
            (
                messenger::Platform::Messenger.customer_id(&account, "psid"),
                ChannelKind::Messenger,
            ),
            (
                messenger::Platform::Instagram.customer_id(&account, "igsid"),
                ChannelKind::Instagram,
            ),
            (CustomerId::new("15551234567"), ChannelKind::Whatsapp),
            (CustomerId::new("US.1234567890"), ChannelKind::Whatsapp),
        ];
        for (customer, kind) in cases {
            assert_eq!(kind_of(&customer), kind, "{customer}");
        }
    }
}

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;

use crate::config::{ChannelSettings, Settings};
use crate::domain::{
    ChannelKind, CustomerId, InboundEnvelope, MediaKind, MediaSource, OutboundContent,
    ProviderMessageId,
};
use crate::media::graph::GraphMedia;
use crate::media::limits::{Accepted, Refusal};
use crate::store::StoreError;

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
        /// The customer who wrote it (channels that mark a conversation seen rather than a
        /// message, like Messenger's `mark_seen`, need them).
        to: CustomerId,
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

    /// The customer's name as the provider's profile API gives it, for channels whose webhooks
    /// carry none (Messenger, Instagram); `None` when the channel has no such API, or the
    /// provider answered nothing usable. One attempt: the caller bounds it in time.
    fn profile_name<'a>(&'a self, _customer: &'a CustomerId) -> BoxFuture<'a, Option<String>> {
        Box::pin(async { None })
    }
}

/// An agent's file, checked and kept in the media store, on its way to a customer.
#[derive(Clone, Debug)]
pub struct OutgoingFile {
    pub bytes: Bytes,
    pub kind: MediaKind,
    pub mime_type: String,
    pub filename: String,
    /// Its name in the media store (hex SHA-256).
    pub blob: String,
}

/// A file made sendable: the media id the transcript names it by (its row in `media`) and the
/// source the send carries.
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedFile {
    pub media_id: String,
    pub source: MediaSource,
}

/// What one channel does with agents' files (`POST /conversations/{id}/attachments`): its
/// types and limits, and the step before the send.
pub trait AttachmentChannel: Send + Sync + 'static {
    /// The channel's name, for refusals ("WhatsApp", "Messenger"...).
    fn name(&self) -> &'static str;
    /// The largest file it may take (the form is never read further).
    fn max_bytes(&self) -> u64;
    /// What the file is (from its bytes) and whether this channel takes it, size included.
    fn accept(&self, bytes: &[u8], declared: Option<&str>) -> Result<Accepted, Refusal>;
    /// The types it takes, in words, for a refusal.
    fn accepted_types(&self) -> &'static str;
    /// Whether a caption may go with a file of this kind.
    fn caption_allowed(&self, kind: MediaKind) -> bool;
    /// Make the file sendable: upload it to the provider (transient failures retried), or
    /// leave it in our media store for the client to send.
    fn prepare<'a>(
        &'a self,
        file: &'a OutgoingFile,
    ) -> BoxFuture<'a, Result<PreparedFile, SendError>>;
}

/// A file of our media store, as a client that uploads the bytes with the send needs it.
#[derive(Clone, Debug)]
pub struct StoredFile {
    pub bytes: Bytes,
    pub mime_type: Option<String>,
    pub filename: Option<String>,
}

/// Our media store by media id ([`MediaSource::Stored`]), for the clients that send bytes.
pub trait StoredFiles: Send + Sync + 'static {
    fn file<'a>(
        &'a self,
        media_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredFile>, StoreError>>;
}

/// How the links of one channel's customers' files are fetched when they need the channel's
/// account (X's DM media): only on `hosts` (names, or `.suffix`es, as `media.url_hosts`; never
/// the shared list), each request signed for the account. Links of channels without one are
/// fetched within `media.url_hosts`, unsigned.
#[derive(Clone, Debug)]
pub struct LinkAuth {
    pub hosts: Vec<String>,
    pub signing: LinkSigning,
}

/// How a channel's link downloads are signed.
#[derive(Clone, Debug)]
pub enum LinkSigning {
    /// OAuth 1.0a for the account (X).
    OAuth1(x::oauth1::OAuth1Credentials),
    /// The credentials are not configured: every such download fails with this reason.
    Missing(String),
}

impl LinkSigning {
    /// The `Authorization` header of a GET of `url`, or why there is none.
    pub fn authorization(&self, url: &reqwest::Url) -> Result<String, String> {
        match self {
            LinkSigning::OAuth1(credentials) => Ok(credentials.authorization("GET", url)),
            LinkSigning::Missing(reason) => Err(reason.clone()),
        }
    }
}

/// The download authentication of channel `channel`'s links, or None for a channel whose links
/// are signed by the provider's CDN (Messenger, Instagram) or that gives none.
pub fn link_auth_for(settings: &Settings, channel: &ChannelSettings) -> Option<LinkAuth> {
    match channel.kind {
        ChannelKind::X => channel.x.as_ref().map(|account| LinkAuth {
            hosts: settings.x.media_hosts.clone(),
            signing: match x::oauth1::credentials_of(&settings.x, account) {
                Some(credentials) => LinkSigning::OAuth1(credentials),
                None => LinkSigning::Missing(X_MEDIA_UNSIGNED.into()),
            },
        }),
        _ => None,
    }
}

/// Why an X account's customers' files cannot be downloaded.
pub const X_MEDIA_UNSIGNED: &str = "unsigned: X serves DM media only to OAuth 1.0a signed requests: set \
     x.consumer_key and the channel's x.oauth1_access_token and x.oauth1_access_token_secret";

/// The attachment side of channel `channel`, or None for a kind that takes no files.
pub fn attachments_for(
    settings: &Settings,
    channel: &ChannelSettings,
    http: &reqwest::Client,
    graph: &GraphMedia,
) -> Option<Arc<dyn AttachmentChannel>> {
    let max = settings.media.max_bytes;
    match channel.kind {
        ChannelKind::Whatsapp => Some(Arc::new(whatsapp::attachments::WhatsappFiles::new(
            graph.clone(),
            channel.clone(),
        ))),
        ChannelKind::Messenger => channel.messenger.as_ref().map(|page| {
            let client =
                messenger::client::MessengerClient::new(http.clone(), &settings.messenger, page);
            Arc::new(messenger::attachments::MetaFiles::new(
                client,
                &settings.media,
                max,
            )) as Arc<dyn AttachmentChannel>
        }),
        ChannelKind::Instagram => channel.instagram.as_ref().map(|account| {
            let client = messenger::client::MessengerClient::instagram(
                http.clone(),
                &settings.instagram,
                account,
            );
            Arc::new(messenger::attachments::MetaFiles::new(
                client,
                &settings.media,
                max,
            )) as Arc<dyn AttachmentChannel>
        }),
        ChannelKind::Telegram => channel.telegram.as_ref().map(|_| {
            Arc::new(telegram::attachments::TelegramFiles::new(max)) as Arc<dyn AttachmentChannel>
        }),
        ChannelKind::X => channel.x.as_ref().map(|account| {
            let client = x::client::XClient::new(http.clone(), &settings.x, account);
            Arc::new(x::attachments::XFiles::new(client, &settings.media, max))
                as Arc<dyn AttachmentChannel>
        }),
        ChannelKind::Webchat => Some(Arc::new(webchat::attachments::WebchatFiles::new(
            max.min(settings.webchat.max_file_bytes as u64),
        ))),
    }
}
