//! The web chat widget: a channel whose client is our own websocket.
//!
//! A visitor of a site that embeds `/widget.js` gets a visitor token (random, kept as its
//! SHA-256 in `webchat_visitors`) and a customer id `webchat:<channel>:<visitor>`. What the
//! visitor sends goes through the intake like a webhook (durable before the answer, deduplicated
//! by the widget's own message id: `wc:<channel>:<visitor>:<client id>`). What the business sends
//! is already stored with its conversation step, so the channel's client stores nothing: it wakes
//! the visitor's sockets ([`wake::Wakeups`]), which read the visitor's transcript from the store
//! after the last sequence they sent (the messages' row numbers: one conversation actor commits a
//! customer's messages in order, so they only grow).
//!
//! - [`client::WebchatClient`]: the [`crate::channels::ChannelClient`] (wakes, sends nothing).
//! - [`wake`]: who to wake, in this process and (cluster) over one Redis pub/sub channel.
//! - [`records`]: the visitors and the transcript a visitor may see (both databases).
//! - [`limits`]: requests per address, messages per visitor.
//!
//! The pure parts (ids, what a visitor may send, what a visitor sees) are here.

pub mod attachments;
pub mod client;
pub mod limits;
pub mod records;
pub mod wake;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::{
    AccountId, ChannelId, ChannelKind, Customer, CustomerId, HandoffRequest, InboundEnvelope,
    InboundEvent, InboundMessage, MessageContent, ProviderMessageId,
};

/// The header a widget names its channel with (the channel's website token).
pub const WEBSITE_TOKEN_HEADER: &str = "x-website-token";
/// The prefix of a visitor's token.
pub const VISITOR_TOKEN_PREFIX: &str = "wcv_";

const CUSTOMER_PREFIX: &str = "webchat:";
const MESSAGE_PREFIX: &str = "wc:";
/// A widget's message ids: 1-64 characters `A-Z a-z 0-9 _ -`.
const CLIENT_ID_MAX: usize = 64;
/// Longest menu choice id and title a widget may send back.
const CHOICE_ID_MAX: usize = 256;
const CHOICE_TITLE_MAX: usize = 256;
/// Longest name and email of a pre-chat or offline form.
pub const NAME_MAX: usize = 128;
pub const EMAIL_MAX: usize = 254;

/// The customer behind visitor `visitor` of channel `channel`.
pub fn customer_id(channel: &ChannelId, visitor: &str) -> CustomerId {
    CustomerId::new(format!("{CUSTOMER_PREFIX}{channel}:{visitor}"))
}

/// Whether `customer` is a web chat visitor (such a customer has no messaging window).
pub fn is_visitor(customer: &CustomerId) -> bool {
    customer.as_str().starts_with(CUSTOMER_PREFIX)
}

/// The id of message `client_id` of a visitor.
pub fn message_id(channel: &ChannelId, visitor: &str, client_id: &str) -> ProviderMessageId {
    ProviderMessageId::new(format!("{MESSAGE_PREFIX}{channel}:{visitor}:{client_id}"))
}

const DAY_MS: i64 = 24 * 3600 * 1000;
/// A visitor's last use is written again at most this often (a lifetime counts in days).
pub const RENEW_AFTER_MS: i64 = 3600 * 1000;

/// Whether a visitor last seen at `last_seen_at` (unix ms) has expired at `now` with a
/// lifetime of `days` days after the last use.
pub fn visitor_expired(last_seen_at: i64, now: i64, days: u32) -> bool {
    last_seen_at < expired_before(now, days)
}

/// Visitors last seen before this (unix ms) have expired: the retention loop prunes them.
pub fn expired_before(now: i64, days: u32) -> i64 {
    now.saturating_sub(i64::from(days).saturating_mul(DAY_MS))
}

/// Whether a visitor's use at `now` is written as their last (renewing their lifetime).
pub fn renew_due(last_seen_at: i64, now: i64) -> bool {
    now.saturating_sub(last_seen_at) >= RENEW_AFTER_MS
}

/// A fresh visitor id: 128 random bits, hex.
pub fn new_visitor() -> String {
    use rand::Rng;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Whether `id` may be a widget's message id.
pub fn valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= CLIENT_ID_MAX
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// What a visitor sends (`POST /api/v1/widget/messages`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitorMessage {
    /// The widget's id of this message: a retry with the same id is processed once.
    pub client_id: String,
    /// A text...
    #[serde(default)]
    pub text: Option<String>,
    /// ...or a press of one of the bot's buttons or list rows.
    #[serde(default)]
    pub choice: Option<Choice>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Choice {
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
}

/// Why a visitor's message is refused (400).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("`client_id` must be 1-64 characters A-Z, a-z, 0-9, _ or -")]
    ClientId,
    #[error("send either `text` or `choice`")]
    Shape,
    #[error("the text is empty")]
    Empty,
    #[error("the text is longer than {0} characters")]
    TooLong(usize),
    #[error("the choice's id or title is empty or too long")]
    Choice,
}

impl VisitorMessage {
    /// The message as the channel-neutral content the bot and the agents see.
    pub fn content(&self, max_chars: usize) -> Result<MessageContent, Refused> {
        if !valid_client_id(&self.client_id) {
            return Err(Refused::ClientId);
        }
        match (&self.text, &self.choice) {
            (Some(text), None) => {
                let body = text.trim();
                if body.is_empty() {
                    return Err(Refused::Empty);
                }
                if body.chars().count() > max_chars {
                    return Err(Refused::TooLong(max_chars));
                }
                Ok(MessageContent::Text {
                    body: body.to_string(),
                })
            }
            (None, Some(choice)) => {
                let title = choice.title.as_deref().unwrap_or(&choice.id).trim();
                if choice.id.is_empty()
                    || choice.id.len() > CHOICE_ID_MAX
                    || title.is_empty()
                    || title.chars().count() > CHOICE_TITLE_MAX
                {
                    return Err(Refused::Choice);
                }
                // The same menu choice as a WhatsApp reply button.
                Ok(MessageContent::ButtonReply {
                    id: choice.id.clone(),
                    title: title.to_string(),
                })
            }
            _ => Err(Refused::Shape),
        }
    }
}

/// A form's field that is too long, holds control characters, or (an email) is no address.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a valid form field")]
pub struct BadField;

/// A name or email of a form: trimmed, empty as none; [`BadField`] when too long or (email) not
/// an address.
pub fn form_field(
    value: Option<&str>,
    max: usize,
    email: bool,
) -> Result<Option<String>, BadField> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(BadField);
    }
    if email {
        let Some((local, domain)) = value.rsplit_once('@') else {
            return Err(BadField);
        };
        if local.is_empty() || !domain.contains('.') || value.contains(char::is_whitespace) {
            return Err(BadField);
        }
    }
    Ok(Some(value.to_string()))
}

/// The envelope a visitor's message is recorded as (as a webhook's would be). `handoff`: the
/// message asks for a person at once (the offline form), the bot is skipped.
pub fn envelope(
    account: &AccountId,
    id: ProviderMessageId,
    customer: Customer,
    content: MessageContent,
    now_secs: i64,
    handoff: Option<HandoffRequest>,
) -> InboundEnvelope {
    InboundEnvelope {
        channel_kind: ChannelKind::Webchat,
        account: account.clone(),
        event: InboundEvent::Message(Box::new(InboundMessage {
            provider_id: id,
            customer,
            timestamp: now_secs,
            content,
            context: None,
            referral: None,
            handoff,
        })),
        delivery_id: None,
    }
}

/// The customer behind a visitor, as their messages carry it: the name and email the visitor
/// gave (they fill an empty contact name and `email` field).
pub fn customer(id: CustomerId, name: Option<String>, email: Option<String>) -> Customer {
    Customer {
        id,
        wa_id: None,
        user_id: None,
        name,
        email,
        ..Customer::default()
    }
}

/// One message of a visitor's transcript, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
pub struct TranscriptRow {
    /// The message's row number: a visitor's messages only ever get larger ones.
    pub seq: i64,
    pub id: String,
    pub direction: String,
    pub sender: String,
    pub kind: String,
    pub body: String,
    /// Inbound: `wc:<channel>:<visitor>:<client id>`.
    pub provider_id: Option<String>,
    pub created_at: i64,
}

/// What a visitor sees of one of their messages (never notes, never who the agent is beyond
/// "agent"): `{seq, id, from: visitor|bot|agent, created_at, ...content}`, the content as text,
/// buttons, a list or a file. `None` for what a visitor is not shown.
pub fn visible(row: &TranscriptRow) -> Option<Value> {
    let body: Value = serde_json::from_str(&row.body).ok()?;
    let from = match (row.direction.as_str(), row.sender.as_str()) {
        ("inbound", _) => "visitor",
        ("outbound", "bot") => "bot",
        ("outbound", "agent") => "agent",
        ("outbound", _) => "bot",
        _ => return None,
    };
    let content = if row.direction == "inbound" {
        match serde_json::from_value::<MessageContent>(body).ok()? {
            MessageContent::Text { body } => json!({"type": "text", "text": body}),
            MessageContent::ButtonReply { title, .. } | MessageContent::ListReply { title, .. } => {
                json!({"type": "text", "text": title})
            }
            MessageContent::Media {
                kind,
                media,
                filename,
                ..
            } => json!({"type": "file", "kind": kind.as_str(), "media_id": media.id,
                        "mime_type": media.mime_type, "filename": filename,
                        "caption": media.caption}),
            other => json!({"type": "text", "text": other.text().unwrap_or_default()}),
        }
    } else {
        use crate::domain::{MediaSource, OutboundContent};
        match serde_json::from_value::<OutboundContent>(body).ok()? {
            OutboundContent::Text { body, .. } => json!({"type": "text", "text": body}),
            OutboundContent::Buttons {
                body,
                header,
                footer,
                buttons,
            } => json!({"type": "buttons", "header": header, "text": body, "footer": footer,
                        "options": buttons.iter().map(|b| json!({"id": b.id, "title": b.title})).collect::<Vec<_>>()}),
            OutboundContent::List {
                body,
                header,
                footer,
                button,
                sections,
            } => json!({"type": "list", "header": header, "text": body, "footer": footer,
                        "button": button,
                        "options": sections.iter().flat_map(|s| s.rows.iter()).map(|r| json!({"id": r.id, "title": r.title, "description": r.description})).collect::<Vec<_>>()}),
            OutboundContent::Media {
                kind,
                source,
                caption,
                filename,
            } => {
                let (media_id, url) = match source {
                    MediaSource::Id(id) | MediaSource::Stored(id) => (Some(id), None),
                    MediaSource::Link(url) => (None, Some(url)),
                };
                json!({"type": "file", "kind": kind.as_str(), "media_id": media_id, "url": url,
                       "filename": filename, "caption": caption})
            }
            OutboundContent::Template { .. } => return None,
        }
    };
    let mut frame = json!({
        "seq": row.seq,
        "id": row.id,
        "from": from,
        "created_at": row.created_at,
    });
    // The widget's own id of a visitor's message, so it can match what it showed at once.
    if let Some(client_id) = row
        .provider_id
        .as_deref()
        .filter(|p| p.starts_with(MESSAGE_PREFIX))
        .and_then(|p| p.rsplit_once(':'))
        .map(|(_, id)| id)
    {
        frame["client_id"] = json!(client_id);
    }
    if let (Some(frame), Some(content)) = (frame.as_object_mut(), content.as_object()) {
        for (k, v) in content {
            frame.insert(k.clone(), v.clone());
        }
    }
    Some(frame)
}

#[cfg(test)]
mod tests;
