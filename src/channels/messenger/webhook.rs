//! Messenger webhook deliveries (`object: "page"`), typed into domain events.
//!
//! One delivery holds `entry[]`, one per page (the entry's `id`: the channel's account), each
//! with `messaging[]` events (`message`, `postback`, `reaction`, `read`, `delivery`,
//! `message_edit`, handover events...) or `standby[]` ones (the page's inbox is held by another
//! app). Tolerant: an event this version does not type, or a typed one whose object does not
//! type, becomes an [`InboundEvent::Other`] holding its JSON, never an error for the delivery;
//! so do the page's own echoes (`is_echo`) and every `standby` event. Redeliveries are
//! recognised by the message's `mid`, per page ([`super::message_id`]).

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Platform;
use crate::channels::{ParseError, WebhookParser};
use crate::domain::{
    AccountId, ChannelKind, Customer, DeliveryStatus, InboundEnvelope, InboundEvent,
    InboundMessage, Media, MediaKind, MessageContent, MessageContext, OtherEvent,
    ProviderMessageId, Referral, StatusUpdate,
};

/// Parses the deliveries of every page (the entries name their page).
pub struct MessengerWebhookParser;

impl WebhookParser for MessengerWebhookParser {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Messenger
    }

    fn parse(&self, body: &[u8]) -> Result<Vec<InboundEnvelope>, ParseError> {
        parse_delivery(body)
    }
}

#[derive(Deserialize)]
struct Delivery {
    object: String,
    #[serde(default)]
    entry: Vec<Value>,
}

#[derive(Deserialize)]
struct Entry {
    id: IdValue,
    #[serde(default)]
    messaging: Vec<Value>,
    #[serde(default)]
    standby: Vec<Value>,
    /// Field-change events (Instagram comments, mentions in posts...): kept as they are.
    #[serde(default)]
    changes: Vec<Value>,
}

/// Page ids and PSIDs are strings in Meta's examples, but tolerate numbers.
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

/// One delivery into its events, each addressed to the page of its entry. Errors only when the
/// body is not JSON or not an `object: "page"` delivery.
pub fn parse_delivery(body: &[u8]) -> Result<Vec<InboundEnvelope>, ParseError> {
    parse_delivery_for(Platform::Messenger, body)
}

/// One delivery of `platform` (`object: "page"` for Messenger, `"instagram"` for Instagram)
/// into its events, each addressed to the account of its entry.
pub fn parse_delivery_for(
    platform: Platform,
    body: &[u8],
) -> Result<Vec<InboundEnvelope>, ParseError> {
    let delivery: Delivery = serde_json::from_slice(body)?;
    if delivery.object != platform.object() {
        return Err(ParseError::UnexpectedObject(delivery.object));
    }
    let mut envelopes = Vec::new();
    for (entry_index, raw_entry) in delivery.entry.iter().enumerate() {
        let Ok(entry) = Entry::deserialize(raw_entry) else {
            // An entry without a page id cannot be routed; it is still recorded (unrouted).
            envelopes.push(envelope(
                platform,
                AccountId::new(""),
                other("entry", raw_entry, &[entry_index]),
            ));
            continue;
        };
        let page = AccountId::new(entry.id.into_string());
        for (i, item) in entry.messaging.iter().enumerate() {
            for event in messaging_events(platform, &page, item, &[entry_index, i]) {
                envelopes.push(envelope(platform, page.clone(), event));
            }
        }
        for (i, item) in entry.standby.iter().enumerate() {
            envelopes.push(envelope(
                platform,
                page.clone(),
                other("standby", item, &[entry_index, usize::MAX, i]),
            ));
        }
        for (i, item) in entry.changes.iter().enumerate() {
            envelopes.push(envelope(
                platform,
                page.clone(),
                other("changes", item, &[entry_index, usize::MAX - 1, i]),
            ));
        }
    }
    Ok(envelopes)
}

fn envelope(platform: Platform, account: AccountId, event: InboundEvent) -> InboundEnvelope {
    InboundEnvelope {
        channel_kind: platform.kind(),
        account,
        event,
        delivery_id: None,
    }
}

/// An event kept as JSON: `field` names it; the digest covers its text and its place in the
/// delivery, so a redelivery repeats it and two events never share it.
fn other(field: &str, value: &Value, place: &[usize]) -> InboundEvent {
    let mut hasher = Sha256::new();
    hasher.update(field.as_bytes());
    for p in place {
        hasher.update(p.to_be_bytes());
    }
    hasher.update([0]);
    hasher.update(value.to_string().as_bytes());
    InboundEvent::Other(OtherEvent {
        field: field.to_owned(),
        value: value.clone(),
        raw: None,
        digest: hex::encode(hasher.finalize()),
    })
}

/// The fields of a messaging event that say what it is, in the order they are looked for.
const KINDS: &[&str] = &[
    "message",
    "postback",
    "reaction",
    "read",
    "delivery",
    "message_edit",
    "referral",
    "optin",
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "app_roles",
    "account_linking",
    "policy_enforcement",
];

fn messaging_events(
    platform: Platform,
    page: &AccountId,
    item: &Value,
    place: &[usize],
) -> Vec<InboundEvent> {
    let kind = KINDS
        .iter()
        .find(|k| item.get(**k).is_some())
        .copied()
        .unwrap_or("messaging");
    // The page's own messages (sent by us or from the page's inbox): not the customer's.
    let echo = item
        .pointer("/message/is_echo")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if echo {
        return vec![other("message_echo", item, place)];
    }
    let typed = match kind {
        "message" => typed::<MsgEvent>(item).and_then(|e| message_event(platform, page, &e)),
        "postback" => typed::<PostbackEvent>(item).and_then(|e| postback_event(platform, page, &e)),
        "reaction" => typed::<ReactionEvent>(item).and_then(|e| reaction_event(platform, page, &e)),
        "message_edit" => typed::<EditEvent>(item).and_then(|e| edit_event(platform, page, &e)),
        "delivery" => {
            return typed::<DeliveryEvent>(item)
                .and_then(|e| delivery_events(platform, page, &e))
                .filter(|events| !events.is_empty())
                .unwrap_or_else(|| vec![other(kind, item, place)]);
        }
        "read" => typed::<ReadEvent>(item).and_then(|e| read_event(platform, page, &e)),
        _ => None,
    };
    vec![typed.unwrap_or_else(|| other(kind, item, place))]
}

fn typed<T: for<'de> Deserialize<'de>>(value: &Value) -> Option<T> {
    T::deserialize(value).ok()
}

fn psid(sender: &Sender) -> Option<String> {
    sender
        .id
        .clone()
        .map(IdValue::into_string)
        .filter(|id| !id.is_empty())
}

fn customer(platform: Platform, page: &AccountId, psid: &str) -> Customer {
    Customer {
        id: platform.customer_id(page, psid),
        wa_id: None,
        user_id: Some(psid.to_owned()),
        name: None,
        ..Customer::default()
    }
}

/// Meta stamps events in unix milliseconds; the domain keeps seconds.
fn seconds(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

fn message_event(platform: Platform, page: &AccountId, e: &MsgEvent) -> Option<InboundEvent> {
    let m = &e.message;
    let psid = psid(&e.sender)?;
    let provider_id = platform.message_id(page, &m.mid);
    let content = if m.is_deleted {
        MessageContent::Revoke {
            original_message_id: provider_id.clone(),
        }
    } else {
        content_of(m)
    };
    let provider_id = if m.is_deleted {
        ProviderMessageId::new(format!("{provider_id}:deleted"))
    } else {
        provider_id
    };
    let replied_to = m.reply_to.as_ref().and_then(|r| r.mid.as_deref());
    // Instagram: a reply to the account's story names the story (`reply_to.story`): the
    // message's context is the story (`igstory:<account>:<story id>`), its link the referral.
    let story = m.reply_to.as_ref().and_then(|r| r.story.as_ref());
    let story_id = story.and_then(|s| s.id.clone().map(IdValue::into_string));
    let context = match (replied_to, &story_id) {
        (Some(mid), _) => Some(MessageContext {
            replied_to: Some(platform.message_id(page, mid)),
            ..MessageContext::default()
        }),
        (None, Some(id)) => Some(MessageContext {
            replied_to: Some(ProviderMessageId::new(format!(
                "{}story:{page}:{id}",
                platform.id_prefix()
            ))),
            ..MessageContext::default()
        }),
        (None, None) => None,
    };
    let referral = story.map(|s| Referral {
        source_url: s.url.clone(),
        source_id: story_id.clone(),
        source_type: Some("story".into()),
        headline: None,
        body: None,
        media_type: None,
        ctwa_clid: None,
    });
    Some(InboundEvent::Message(Box::new(InboundMessage {
        provider_id,
        customer: customer(platform, page, &psid),
        timestamp: seconds(e.timestamp),
        content,
        context,
        referral,
        handoff: None,
    })))
}

fn content_of(m: &Msg) -> MessageContent {
    if let Some(reply) = &m.quick_reply {
        let title = m.text.clone().unwrap_or_else(|| reply.payload.clone());
        return MessageContent::ButtonReply {
            id: reply.payload.clone(),
            title,
        };
    }
    if let Some(text) = m.text.as_ref().filter(|t| !t.is_empty()) {
        return MessageContent::Text { body: text.clone() };
    }
    // Several attachments may come in one message; the first typed one is the content.
    for attachment in &m.attachments {
        let kind = match attachment.kind.as_str() {
            "image" => Some(MediaKind::Image),
            "video" => Some(MediaKind::Video),
            "audio" => Some(MediaKind::Audio),
            "file" => Some(MediaKind::Document),
            _ => None,
        };
        let payload = attachment.payload.as_ref();
        if let Some(kind) = kind {
            let sticker = payload.and_then(|p| p.sticker_id.as_ref()).is_some();
            return MessageContent::Media {
                kind: if sticker { MediaKind::Sticker } else { kind },
                media: Media {
                    id: None,
                    mime_type: None,
                    sha256: None,
                    caption: None,
                    url: payload.and_then(|p| p.url.clone()),
                },
                filename: attachment
                    .title
                    .clone()
                    .filter(|_| kind == MediaKind::Document),
                voice: false,
                animated: false,
            };
        }
        // Instagram: a story that mentions the account, a shared post or reel. The agent sees
        // it as media by its link, captioned with what it is.
        let shared = match attachment.kind.as_str() {
            "story_mention" => Some((MediaKind::Image, "story mention")),
            "share" => Some((MediaKind::Image, "shared post")),
            "ig_reel" | "reel" => Some((MediaKind::Video, "shared reel")),
            _ => None,
        };
        if let Some((kind, caption)) = shared {
            let title = attachment
                .payload
                .as_ref()
                .and_then(|p| p.title.clone())
                .filter(|t| !t.is_empty());
            return MessageContent::Media {
                kind,
                media: Media {
                    id: None,
                    mime_type: None,
                    sha256: None,
                    caption: Some(match title {
                        Some(title) => format!("{caption}: {title}"),
                        None => caption.to_owned(),
                    }),
                    url: payload.and_then(|p| p.url.clone()),
                },
                filename: None,
                voice: false,
                animated: false,
            };
        }
        if attachment.kind == "location"
            && let Some(c) = payload.and_then(|p| p.coordinates.as_ref())
        {
            return MessageContent::Location {
                latitude: c.lat,
                longitude: c.long,
                name: attachment.title.clone(),
                address: None,
                url: attachment.url.clone(),
            };
        }
    }
    MessageContent::Unknown {
        type_name: m
            .attachments
            .first()
            .map(|a| a.kind.clone())
            .unwrap_or_else(|| "message".into()),
    }
}

/// A postback (a button of a template, the persistent menu, Get Started): the bot's menu
/// choice, like WhatsApp's button replies. Keyed by its `mid` when Meta gives one, else by the
/// customer and its timestamp.
fn postback_event(platform: Platform, page: &AccountId, e: &PostbackEvent) -> Option<InboundEvent> {
    let psid = psid(&e.sender)?;
    let p = &e.postback;
    let provider_id = match &p.mid {
        Some(mid) => platform.message_id(page, mid),
        None => ProviderMessageId::new(format!(
            "{}pb:{page}:{psid}:{}:{}",
            platform.id_prefix(),
            e.timestamp,
            p.payload
        )),
    };
    Some(InboundEvent::Message(Box::new(InboundMessage {
        provider_id,
        customer: customer(platform, page, &psid),
        timestamp: seconds(e.timestamp),
        content: MessageContent::ButtonReply {
            id: p.payload.clone(),
            title: p.title.clone().unwrap_or_else(|| p.payload.clone()),
        },
        context: None,
        referral: None,
        handoff: None,
    })))
}

/// A reaction to a message (`emoji: None` when it was taken back). Keyed by the message it is
/// on, the customer, the action and its time: a reaction has no `mid` of its own.
fn reaction_event(platform: Platform, page: &AccountId, e: &ReactionEvent) -> Option<InboundEvent> {
    let psid = psid(&e.sender)?;
    let r = &e.reaction;
    let on = platform.message_id(page, &r.mid);
    let emoji = (r.action != "unreact")
        .then(|| r.emoji.clone().or_else(|| r.reaction.clone()))
        .flatten();
    Some(InboundEvent::Message(Box::new(InboundMessage {
        provider_id: ProviderMessageId::new(format!(
            "{on}:reaction:{psid}:{}:{}",
            r.action, e.timestamp
        )),
        customer: customer(platform, page, &psid),
        timestamp: seconds(e.timestamp),
        content: MessageContent::Reaction {
            message_id: on,
            emoji,
        },
        context: None,
        referral: None,
        handoff: None,
    })))
}

/// An edit: its own event (each edit is numbered), pointing at the message it changes.
fn edit_event(platform: Platform, page: &AccountId, e: &EditEvent) -> Option<InboundEvent> {
    let psid = psid(&e.sender)?;
    let original = platform.message_id(page, &e.message_edit.mid);
    let number = match &e.message_edit.num_edit {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => e.timestamp.to_string(),
    };
    Some(InboundEvent::Message(Box::new(InboundMessage {
        provider_id: ProviderMessageId::new(format!("{original}:edit:{number}")),
        customer: customer(platform, page, &psid),
        timestamp: seconds(e.timestamp),
        content: MessageContent::Edit {
            original_message_id: original,
            content: Box::new(MessageContent::Text {
                body: e.message_edit.text.clone().unwrap_or_default(),
            }),
        },
        context: None,
        referral: None,
        handoff: None,
    })))
}

/// Delivered: one status per message the event names (the page's messages to the customer).
fn delivery_events(
    platform: Platform,
    page: &AccountId,
    e: &DeliveryEvent,
) -> Option<Vec<InboundEvent>> {
    let psid = psid(&e.sender)?;
    let events = e
        .delivery
        .mids
        .iter()
        .map(|mid| {
            InboundEvent::Status(StatusUpdate {
                provider_id: platform.message_id(page, mid),
                status: DeliveryStatus::Delivered,
                raw_status: "delivered".into(),
                timestamp: seconds(e.delivery.watermark.unwrap_or(e.timestamp)),
                recipient: platform.customer_id(page, &psid),
                errors: Vec::new(),
                pricing_category: None,
                pricing_type: None,
                biz_opaque_callback_data: None,
            })
        })
        .collect();
    Some(events)
}

/// Read: Messenger names no message, only a watermark (everything the page sent before it was
/// read). The status carries the watermark as its id (`fbread:<page>:<psid>:<watermark>`).
/// Instagram's `read` names the message instead (`read.mid`): its status is that message's.
fn read_event(platform: Platform, page: &AccountId, e: &ReadEvent) -> Option<InboundEvent> {
    let psid = psid(&e.sender)?;
    let (provider_id, at) = match (&e.read.mid, e.read.watermark) {
        (Some(mid), _) => (
            platform.message_id(page, mid),
            e.read.watermark.unwrap_or(e.timestamp),
        ),
        (None, Some(watermark)) => (
            ProviderMessageId::new(format!(
                "{}read:{page}:{psid}:{watermark}",
                platform.id_prefix()
            )),
            watermark,
        ),
        (None, None) => return None,
    };
    Some(InboundEvent::Status(StatusUpdate {
        provider_id,
        status: DeliveryStatus::Read,
        raw_status: "read".into(),
        timestamp: seconds(at),
        recipient: platform.customer_id(page, &psid),
        errors: Vec::new(),
        pricing_category: None,
        pricing_type: None,
        biz_opaque_callback_data: None,
    }))
}

// --- The Messenger Platform objects, as far as they are used (unknown fields ignored) --------

#[derive(Deserialize)]
struct Sender {
    id: Option<IdValue>,
}

#[derive(Deserialize)]
struct MsgEvent {
    sender: Sender,
    #[serde(default)]
    timestamp: i64,
    message: Msg,
}

#[derive(Deserialize)]
struct Msg {
    mid: String,
    text: Option<String>,
    quick_reply: Option<QuickReply>,
    reply_to: Option<ReplyTo>,
    #[serde(default)]
    attachments: Vec<Attachment>,
    #[serde(default)]
    is_deleted: bool,
}

#[derive(Deserialize)]
struct QuickReply {
    payload: String,
}

#[derive(Deserialize)]
struct ReplyTo {
    mid: Option<String>,
    story: Option<StoryRef>,
}

#[derive(Deserialize)]
struct StoryRef {
    id: Option<IdValue>,
    url: Option<String>,
}

#[derive(Deserialize)]
struct Attachment {
    #[serde(rename = "type")]
    kind: String,
    payload: Option<AttachmentPayload>,
    title: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize)]
struct AttachmentPayload {
    url: Option<String>,
    sticker_id: Option<Value>,
    title: Option<String>,
    coordinates: Option<Coordinates>,
}

#[derive(Deserialize)]
struct Coordinates {
    lat: f64,
    long: f64,
}

#[derive(Deserialize)]
struct PostbackEvent {
    sender: Sender,
    #[serde(default)]
    timestamp: i64,
    postback: Postback,
}

#[derive(Deserialize)]
struct Postback {
    mid: Option<String>,
    title: Option<String>,
    #[serde(default)]
    payload: String,
}

#[derive(Deserialize)]
struct ReactionEvent {
    sender: Sender,
    #[serde(default)]
    timestamp: i64,
    reaction: Reaction,
}

#[derive(Deserialize)]
struct Reaction {
    reaction: Option<String>,
    emoji: Option<String>,
    #[serde(default)]
    action: String,
    mid: String,
}

#[derive(Deserialize)]
struct EditEvent {
    sender: Sender,
    #[serde(default)]
    timestamp: i64,
    message_edit: MessageEdit,
}

#[derive(Deserialize)]
struct MessageEdit {
    mid: String,
    text: Option<String>,
    num_edit: Option<Value>,
}

#[derive(Deserialize)]
struct DeliveryEvent {
    sender: Sender,
    #[serde(default)]
    timestamp: i64,
    delivery: DeliveryInfo,
}

#[derive(Deserialize)]
struct DeliveryInfo {
    #[serde(default)]
    mids: Vec<String>,
    watermark: Option<i64>,
}

#[derive(Deserialize)]
struct ReadEvent {
    sender: Sender,
    #[serde(default)]
    timestamp: i64,
    read: ReadInfo,
}

#[derive(Deserialize)]
struct ReadInfo {
    watermark: Option<i64>,
    mid: Option<String>,
}

#[cfg(test)]
mod tests;
