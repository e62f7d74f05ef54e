//! X Account Activity API deliveries, typed into domain events.
//!
//! One delivery is one JSON object for one subscribed account, `for_user_id` (the channel's
//! account), with arrays of events: `direct_message_events[]` (`type: message_create`),
//! `direct_message_indicate_typing_events[]`, `direct_message_mark_read_events[]`, and the
//! account's other activity (`tweet_create_events`, `favorite_events`, `follow_events`...). The
//! `users{}` map describes the people involved (the customer's name).
//!
//! - A DM from a customer is a message: its text, its media (by URL, like Messenger's: the
//!   message keeps the link), or a quick reply's `metadata` (the bot's menu choice).
//! - A DM sent BY the account (`sender_id == for_user_id`: our own sends, or the account's
//!   inbox) is an echo: recorded as [`InboundEvent::Other`], never routed.
//! - Typing indicators are dropped; a customer's mark-read is a *read* status of the DM it
//!   names (`last_read_event_id`: ours, when the customer read our message); the account's own
//!   mark-reads are dropped.
//! - Any other `*_events` array, a DM event of another `type`, or one that does not type,
//!   becomes an [`InboundEvent::Other`] holding its JSON, never an error for the delivery.
//!
//! Redeliveries are recognised by the DM event's `id`, per account ([`super::message_id`]).

use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{customer_id, message_id};
use crate::channels::{ParseError, WebhookParser};
use crate::domain::{
    AccountId, ChannelKind, Customer, DeliveryStatus, InboundEnvelope, InboundEvent,
    InboundMessage, Media, MediaKind, MessageContent, OtherEvent, StatusUpdate,
};

/// Parses the deliveries of every X account (each names its account in `for_user_id`).
pub struct XWebhookParser;

impl WebhookParser for XWebhookParser {
    fn kind(&self) -> ChannelKind {
        ChannelKind::X
    }

    fn parse(&self, body: &[u8]) -> Result<Vec<InboundEnvelope>, ParseError> {
        parse_delivery(body)
    }
}

/// Fields of a delivery that describe its events rather than being events.
const METADATA: &[&str] = &["for_user_id", "users", "apps", "user_has_blocked", "source"];

/// One delivery into its events, each addressed to the delivery's account. Errors only when the
/// body is not a JSON object. An object without `for_user_id` cannot be routed: it is recorded
/// as one unrouted [`InboundEvent::Other`].
pub fn parse_delivery(body: &[u8]) -> Result<Vec<InboundEnvelope>, ParseError> {
    let Value::Object(delivery) = serde_json::from_slice::<Value>(body)? else {
        return Err(ParseError::UnexpectedObject(
            "an X Account Activity delivery must be a JSON object".into(),
        ));
    };
    let Some(account) = delivery.get("for_user_id").and_then(id_string) else {
        let value = Value::Object(delivery);
        return Ok(vec![envelope(
            AccountId::new(""),
            other("delivery", &value, 0),
        )]);
    };
    let account = AccountId::new(account);
    let users = delivery.get("users").and_then(Value::as_object);
    let mut envelopes = Vec::new();
    for (field, value) in &delivery {
        if METADATA.contains(&field.as_str()) {
            continue;
        }
        let Some(items) = value.as_array() else {
            // Not an array of events: nothing this version knows; tolerated, not recorded.
            continue;
        };
        for (place, item) in items.iter().enumerate() {
            let event = match field.as_str() {
                "direct_message_events" => Some(dm_event(&account, users, item, place)),
                "direct_message_indicate_typing_events" => None,
                "direct_message_mark_read_events" => mark_read_event(&account, item),
                _ if field.ends_with("_events") => Some(other(field, item, place)),
                _ => None,
            };
            if let Some(event) = event {
                envelopes.push(envelope(account.clone(), event));
            }
        }
    }
    Ok(envelopes)
}

fn envelope(account: AccountId, event: InboundEvent) -> InboundEnvelope {
    InboundEnvelope {
        channel_kind: ChannelKind::X,
        account,
        event,
        delivery_id: None,
    }
}

/// X's ids are strings (`id_str`); tolerate numbers.
fn id_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        _ => None,
    }
}

/// An event kept as JSON: `field` names it; the digest covers its text and its place in the
/// delivery, so a redelivery repeats it and two events never share it.
fn other(field: &str, value: &Value, place: usize) -> InboundEvent {
    let mut hasher = Sha256::new();
    hasher.update(field.as_bytes());
    hasher.update(place.to_be_bytes());
    hasher.update([0]);
    hasher.update(value.to_string().as_bytes());
    InboundEvent::Other(OtherEvent {
        field: field.to_owned(),
        value: value.clone(),
        raw: None,
        digest: hex::encode(hasher.finalize()),
    })
}

fn dm_event(
    account: &AccountId,
    users: Option<&Map<String, Value>>,
    item: &Value,
    place: usize,
) -> InboundEvent {
    let Ok(event) = DmEvent::deserialize(item) else {
        return other("direct_message_events", item, place);
    };
    let Some(create) = event
        .message_create
        .filter(|_| event.kind == "message_create")
    else {
        return other("direct_message_events", item, place);
    };
    let sender = create.sender_id.into_string();
    // The account's own DMs (sent by us, or from the account's inbox): not the customer's.
    if sender == account.as_str() {
        return other("message_echo", item, place);
    }
    let data = create.message_data.unwrap_or_default();
    InboundEvent::Message(Box::new(InboundMessage {
        provider_id: message_id(account, &event.id.into_string()),
        customer: Customer {
            id: customer_id(account, &sender),
            wa_id: None,
            user_id: Some(sender.clone()),
            name: users.and_then(|u| name_of(u, &sender)),
            ..Customer::default()
        },
        timestamp: event
            .created_timestamp
            .as_ref()
            .and_then(milliseconds)
            .map_or(0, |ms| ms.div_euclid(1000)),
        content: content_of(data),
        context: None,
        referral: None,
        handoff: None,
    }))
}

/// The user's display name from `users{}`, else their handle.
fn name_of(users: &Map<String, Value>, id: &str) -> Option<String> {
    let user = users.get(id)?;
    let text = |key| {
        user.get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    text("name")
        .map(str::to_owned)
        .or_else(|| text("screen_name").map(|handle| format!("@{handle}")))
}

/// `created_timestamp`: unix milliseconds, as a string (or a number).
fn milliseconds(value: &IdValue) -> Option<i64> {
    match value {
        IdValue::Text(s) => s.parse().ok(),
        IdValue::Number(n) => i64::try_from(*n).ok(),
    }
}

fn content_of(data: MessageData) -> MessageContent {
    let text = data.text.unwrap_or_default();
    if let Some(metadata) = data
        .quick_reply_response
        .and_then(|q| q.metadata)
        .filter(|m| !m.is_empty())
    {
        let title = if text.trim().is_empty() {
            metadata.clone()
        } else {
            text
        };
        return MessageContent::ButtonReply {
            id: metadata,
            title,
        };
    }
    if let Some(media) = data
        .attachment
        .filter(|a| a.kind == "media")
        .and_then(|a| a.media)
    {
        return media_content(media, &text);
    }
    if text.is_empty() {
        return MessageContent::Unknown {
            type_name: "message_create".into(),
        };
    }
    MessageContent::Text { body: text }
}

/// A photo, video or GIF: by its URL (the best video variant for a video or GIF), captioned
/// with the DM's text without the media's own `t.co` link, which X appends to it.
fn media_content(media: XMedia, text: &str) -> MessageContent {
    let caption = match media.url.as_deref().filter(|u| !u.is_empty()) {
        Some(link) => text.replace(link, ""),
        None => text.to_owned(),
    };
    let caption = Some(caption.trim().to_owned()).filter(|c| !c.is_empty());
    let kind = match media.kind.as_deref() {
        Some("video") | Some("animated_gif") => MediaKind::Video,
        _ => MediaKind::Image,
    };
    let variant = media.video_info.and_then(|v| {
        v.variants
            .into_iter()
            .filter(|v| !v.url.is_empty())
            .max_by_key(|v| {
                (
                    v.content_type.as_deref() == Some("video/mp4"),
                    v.bitrate.unwrap_or(0),
                )
            })
    });
    let (url, mime_type) = match (kind, variant) {
        (MediaKind::Video, Some(v)) => (Some(v.url), v.content_type),
        _ => (media.media_url_https.filter(|u| !u.is_empty()), None),
    };
    MessageContent::Media {
        kind,
        media: Media {
            id: None,
            mime_type,
            sha256: None,
            caption,
            url,
        },
        filename: None,
        voice: false,
        animated: false,
    }
}

/// A customer read the conversation up to `last_read_event_id` (our DM, when they read what we
/// sent): a *read* status of it. The account's own reads, and reads that do not type, are
/// dropped.
fn mark_read_event(account: &AccountId, item: &Value) -> Option<InboundEvent> {
    let read = MarkRead::deserialize(item).ok()?;
    let reader = read.sender_id.into_string();
    if reader == account.as_str() || reader.is_empty() {
        return None;
    }
    let event = read.last_read_event_id.into_string();
    if event.is_empty() {
        return None;
    }
    Some(InboundEvent::Status(StatusUpdate {
        provider_id: message_id(account, &event),
        status: DeliveryStatus::Read,
        raw_status: "read".into(),
        timestamp: read
            .created_timestamp
            .as_ref()
            .and_then(milliseconds)
            .map_or(0, |ms| ms.div_euclid(1000)),
        recipient: customer_id(account, &reader),
        errors: Vec::new(),
        pricing_category: None,
        pricing_type: None,
        biz_opaque_callback_data: None,
    }))
}

// --- The Account Activity objects, as far as they are used (unknown fields are ignored) ------

/// Ids and timestamps are strings in X's payloads; tolerate numbers.
#[derive(Clone, Deserialize)]
#[serde(untagged)]
enum IdValue {
    Text(String),
    Number(u64),
}

impl IdValue {
    fn into_string(self) -> String {
        match self {
            IdValue::Text(s) => s,
            IdValue::Number(n) => n.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct DmEvent {
    #[serde(rename = "type")]
    kind: String,
    id: IdValue,
    created_timestamp: Option<IdValue>,
    message_create: Option<MessageCreate>,
}

#[derive(Deserialize)]
struct MessageCreate {
    sender_id: IdValue,
    message_data: Option<MessageData>,
}

#[derive(Default, Deserialize)]
struct MessageData {
    text: Option<String>,
    attachment: Option<Attachment>,
    quick_reply_response: Option<QuickReplyResponse>,
}

#[derive(Deserialize)]
struct QuickReplyResponse {
    metadata: Option<String>,
}

#[derive(Deserialize)]
struct Attachment {
    #[serde(rename = "type")]
    kind: String,
    media: Option<XMedia>,
}

#[derive(Deserialize)]
struct XMedia {
    /// The `t.co` link X appends to the DM's text.
    url: Option<String>,
    media_url_https: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    video_info: Option<VideoInfo>,
}

#[derive(Deserialize)]
struct VideoInfo {
    #[serde(default)]
    variants: Vec<Variant>,
}

#[derive(Deserialize)]
struct Variant {
    bitrate: Option<u64>,
    content_type: Option<String>,
    #[serde(default)]
    url: String,
}

#[derive(Deserialize)]
struct MarkRead {
    sender_id: IdValue,
    created_timestamp: Option<IdValue>,
    last_read_event_id: IdValue,
}

#[cfg(test)]
mod tests;
