//! Telegram webhook deliveries: one Bot API `Update` per POST, typed into domain events.
//!
//! Tolerant: an `Update` needs only its `update_id`; a kind this version does not type
//! (`my_chat_member`, `channel_post`, a future one), or a known kind whose object does not type,
//! becomes an [`InboundEvent::Other`] holding its JSON, never an error for the delivery. The
//! delivery id is the `update_id` (unique per bot): Telegram redelivers until it gets a 2xx, and
//! the redelivery is recognised by it.

use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{callback_id, customer_id, message_id};
use crate::channels::{ParseError, WebhookParser};
use crate::domain::{
    AccountId, ChannelKind, Customer, InboundEnvelope, InboundEvent, InboundMessage, Media,
    MediaKind, MessageContent, MessageContext, OtherEvent, SharedContact, SharedPhone,
};

/// Parses the deliveries of one bot (`account`: its bot id).
pub struct TelegramWebhookParser {
    pub account: AccountId,
}

impl WebhookParser for TelegramWebhookParser {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Telegram
    }

    fn parse(&self, body: &[u8]) -> Result<Vec<InboundEnvelope>, ParseError> {
        parse_update(&self.account, body, chrono::Utc::now().timestamp())
    }
}

/// One `Update` into its event. `now` (unix seconds) stamps button presses, which carry no
/// date of their own. Errors only when the body is not JSON, not an object, or has no integer
/// `update_id`.
pub fn parse_update(
    account: &AccountId,
    body: &[u8],
    now: i64,
) -> Result<Vec<InboundEnvelope>, ParseError> {
    let Value::Object(update) = serde_json::from_slice::<Value>(body)? else {
        return Err(ParseError::UnexpectedObject(
            "a Telegram Update must be a JSON object".into(),
        ));
    };
    let Some(update_id) = update.get("update_id").and_then(Value::as_i64) else {
        return Err(ParseError::UnexpectedObject(
            "a Telegram Update without an integer update_id".into(),
        ));
    };
    let event = event_of(account, update_id, &update, body, now);
    Ok(vec![InboundEnvelope {
        channel_kind: ChannelKind::Telegram,
        account: account.clone(),
        event,
        delivery_id: Some(update_id.to_string()),
    }])
}

fn event_of(
    account: &AccountId,
    update_id: i64,
    update: &Map<String, Value>,
    body: &[u8],
    now: i64,
) -> InboundEvent {
    // An Update has exactly one optional field besides update_id.
    let Some((field, value)) = update.iter().find(|(k, _)| k.as_str() != "update_id") else {
        return other("update", Value::Null, body);
    };
    let typed = match field.as_str() {
        "message" => typed::<TgMessage>(value).map(|m| message_event(account, &m, value)),
        "edited_message" => {
            typed::<TgMessage>(value).map(|m| edit_event(account, update_id, &m, value))
        }
        "callback_query" => {
            typed::<TgCallbackQuery>(value).map(|q| callback_event(account, &q, now))
        }
        _ => None,
    };
    typed.unwrap_or_else(|| other(field, value.clone(), body))
}

fn typed<T: for<'de> Deserialize<'de>>(value: &Value) -> Option<T> {
    T::deserialize(value).ok()
}

fn other(field: &str, value: Value, body: &[u8]) -> InboundEvent {
    let mut hasher = Sha256::new();
    hasher.update(field.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    InboundEvent::Other(OtherEvent {
        field: field.to_owned(),
        value,
        raw: None,
        digest: hex::encode(hasher.finalize()),
    })
}

fn message_event(account: &AccountId, m: &TgMessage, raw: &Value) -> InboundEvent {
    let mut customer = customer(account, m.chat.id, m.from.as_ref(), Some(&m.chat));
    customer.verified_phone = own_phone(m);
    InboundEvent::Message(Box::new(InboundMessage {
        provider_id: message_id(account, m.chat.id, m.message_id),
        customer,
        timestamp: m.date,
        content: content_of(m, raw),
        context: context_of(account, m),
        referral: None,
        handoff: None,
    }))
}

/// An edit: its own event (each edit is a new delivery), pointing at the message it changes.
fn edit_event(account: &AccountId, update_id: i64, m: &TgMessage, raw: &Value) -> InboundEvent {
    let original = message_id(account, m.chat.id, m.message_id);
    InboundEvent::Message(Box::new(InboundMessage {
        provider_id: crate::domain::ProviderMessageId::new(format!("{original}:edit:{update_id}")),
        customer: customer(account, m.chat.id, m.from.as_ref(), Some(&m.chat)),
        timestamp: m.edit_date.unwrap_or(m.date),
        content: MessageContent::Edit {
            original_message_id: original,
            content: Box::new(content_of(m, raw)),
        },
        context: None,
        referral: None,
        handoff: None,
    }))
}

/// An inline keyboard button pressed: the bot's menu choice (like WhatsApp's button replies),
/// titled with the button's text when the message still shows it.
fn callback_event(account: &AccountId, q: &TgCallbackQuery, now: i64) -> InboundEvent {
    let chat = q.message.as_ref().map(|m| m.chat.id).unwrap_or(q.from.id);
    let content = match &q.data {
        Some(data) => {
            let title = q
                .message
                .as_ref()
                .and_then(|m| m.reply_markup.as_ref())
                .and_then(|markup| {
                    markup
                        .inline_keyboard
                        .iter()
                        .flatten()
                        .find(|b| b.callback_data.as_deref() == Some(data.as_str()))
                })
                .map(|b| b.text.clone())
                .unwrap_or_else(|| data.clone());
            MessageContent::ButtonReply {
                id: data.clone(),
                title,
            }
        }
        None => MessageContent::Unknown {
            type_name: if q.game_short_name.is_some() {
                "callback_game".into()
            } else {
                "callback_query".into()
            },
        },
    };
    InboundEvent::Message(Box::new(InboundMessage {
        provider_id: callback_id(account, &q.id),
        customer: customer(
            account,
            chat,
            Some(&q.from),
            q.message.as_ref().map(|m| &m.chat),
        ),
        timestamp: now,
        content,
        context: q.message.as_ref().map(|m| MessageContext {
            replied_to: Some(message_id(account, m.chat.id, m.message_id)),
            ..MessageContext::default()
        }),
        referral: None,
        handoff: None,
    }))
}

/// The sender's own number, when they shared their own contact in a private chat: Telegram
/// verified it (the contact's `user_id` is the sender's). A contact card of someone else is
/// just a message.
fn own_phone(m: &TgMessage) -> Option<String> {
    let contact = m.contact.as_ref()?;
    let from = m.from.as_ref()?;
    (contact.user_id == Some(from.id) && m.chat.id == from.id).then(|| contact.phone_number.clone())
}

fn customer(
    account: &AccountId,
    chat_id: i64,
    from: Option<&TgUser>,
    chat: Option<&TgChat>,
) -> Customer {
    let name = from
        .map(|u| full_name(&u.first_name, u.last_name.as_deref()))
        .or_else(|| {
            chat.and_then(|c| {
                c.title.clone().or_else(|| {
                    c.first_name
                        .as_deref()
                        .map(|first| full_name(first, c.last_name.as_deref()))
                })
            })
        })
        .filter(|n| !n.is_empty());
    Customer {
        id: customer_id(account, chat_id),
        wa_id: None,
        user_id: None,
        name,
        verified_phone: None,
        language: from.and_then(|u| u.language_code.clone()),
        email: None,
    }
}

fn full_name(first: &str, last: Option<&str>) -> String {
    match last.filter(|l| !l.is_empty()) {
        Some(last) => format!("{first} {last}").trim().to_string(),
        None => first.trim().to_string(),
    }
}

fn context_of(account: &AccountId, m: &TgMessage) -> Option<MessageContext> {
    let replied_to = m
        .reply_to_message
        .as_ref()
        .map(|r| message_id(account, m.chat.id, r.message_id));
    let forwarded = m.forward_origin.is_some() || m.forward_date.is_some();
    (replied_to.is_some() || forwarded).then(|| MessageContext {
        replied_to,
        forwarded,
        ..MessageContext::default()
    })
}

fn media(file_id: &str, mime_type: Option<&str>, caption: Option<&String>) -> Media {
    Media {
        id: Some(file_id.to_owned()),
        mime_type: mime_type.map(str::to_owned),
        sha256: None,
        caption: caption.cloned(),
        url: None,
    }
}

fn content_of(m: &TgMessage, raw: &Value) -> MessageContent {
    let file = |kind, f: &TgFile, voice| MessageContent::Media {
        kind,
        media: media(&f.file_id, f.mime_type.as_deref(), m.caption.as_ref()),
        filename: f.file_name.clone(),
        voice,
        animated: false,
    };
    if let Some(text) = &m.text {
        return MessageContent::Text { body: text.clone() };
    }
    // The largest of the sizes Telegram offers.
    if let Some(photo) = m.photo.as_ref().and_then(|sizes| {
        sizes
            .iter()
            .max_by_key(|p| p.width.saturating_mul(p.height))
    }) {
        return MessageContent::Media {
            kind: MediaKind::Image,
            media: media(&photo.file_id, Some("image/jpeg"), m.caption.as_ref()),
            filename: None,
            voice: false,
            animated: false,
        };
    }
    if let Some(voice) = &m.voice {
        return file(MediaKind::Audio, voice, true);
    }
    if let Some(audio) = &m.audio {
        return file(MediaKind::Audio, audio, false);
    }
    if let Some(video) = m.video.as_ref().or(m.video_note.as_ref()) {
        return file(MediaKind::Video, video, false);
    }
    if let Some(sticker) = &m.sticker {
        return MessageContent::Media {
            kind: MediaKind::Sticker,
            media: media(&sticker.file_id, None, None),
            filename: None,
            voice: false,
            animated: sticker.is_animated || sticker.is_video,
        };
    }
    // An animation (GIF) also carries a `document`: both are files.
    if let Some(document) = m.document.as_ref().or(m.animation.as_ref()) {
        return file(MediaKind::Document, document, false);
    }
    // A venue also carries its `location`: the venue says more.
    if let Some(venue) = &m.venue {
        return MessageContent::Location {
            latitude: venue.location.latitude,
            longitude: venue.location.longitude,
            name: Some(venue.title.clone()),
            address: Some(venue.address.clone()),
            url: None,
        };
    }
    if let Some(location) = &m.location {
        return MessageContent::Location {
            latitude: location.latitude,
            longitude: location.longitude,
            name: None,
            address: None,
            url: None,
        };
    }
    if let Some(contact) = &m.contact {
        return MessageContent::Contacts {
            contacts: vec![SharedContact {
                formatted_name: Some(full_name(&contact.first_name, contact.last_name.as_deref())),
                phones: vec![SharedPhone {
                    phone: Some(contact.phone_number.clone()),
                    wa_id: None,
                    kind: None,
                }],
                emails: Vec::new(),
                organization: None,
            }],
        };
    }
    MessageContent::Unknown {
        type_name: unknown_type(raw),
    }
}

/// Fields of a Message that describe it rather than being its content.
const MESSAGE_METADATA: &[&str] = &[
    "message_id",
    "message_thread_id",
    "from",
    "sender_chat",
    "sender_boost_count",
    "sender_business_bot",
    "date",
    "business_connection_id",
    "chat",
    "forward_origin",
    "forward_date",
    "forward_from",
    "forward_from_chat",
    "forward_from_message_id",
    "forward_signature",
    "forward_sender_name",
    "is_topic_message",
    "is_automatic_forward",
    "reply_to_message",
    "external_reply",
    "quote",
    "reply_to_story",
    "via_bot",
    "edit_date",
    "has_protected_content",
    "is_from_offline",
    "media_group_id",
    "author_signature",
    "entities",
    "caption",
    "caption_entities",
    "link_preview_options",
    "effect_id",
    "reply_markup",
    "show_caption_above_media",
    "has_media_spoiler",
];

/// The content field of a message this version does not type (`poll`, `dice`, `game`...).
fn unknown_type(raw: &Value) -> String {
    raw.as_object()
        .and_then(|m| {
            m.keys()
                .find(|k| !MESSAGE_METADATA.contains(&k.as_str()))
                .cloned()
        })
        .unwrap_or_else(|| "unknown".into())
}

// --- The Bot API objects, as far as they are used (unknown fields are ignored) ----------------

#[derive(Deserialize)]
struct TgUser {
    id: i64,
    #[serde(default)]
    first_name: String,
    last_name: Option<String>,
    /// The user's Telegram interface language (IETF tag), when Telegram shares it.
    language_code: Option<String>,
}

#[derive(Deserialize)]
struct TgChat {
    id: i64,
    title: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

#[derive(Deserialize)]
struct TgMessageRef {
    message_id: i64,
}

#[derive(Deserialize)]
struct TgMessage {
    message_id: i64,
    from: Option<TgUser>,
    chat: TgChat,
    #[serde(default)]
    date: i64,
    edit_date: Option<i64>,
    text: Option<String>,
    caption: Option<String>,
    photo: Option<Vec<TgPhotoSize>>,
    document: Option<TgFile>,
    animation: Option<TgFile>,
    voice: Option<TgFile>,
    audio: Option<TgFile>,
    video: Option<TgFile>,
    video_note: Option<TgFile>,
    sticker: Option<TgSticker>,
    location: Option<TgLocation>,
    venue: Option<TgVenue>,
    contact: Option<TgContact>,
    reply_to_message: Option<TgMessageRef>,
    forward_origin: Option<Value>,
    forward_date: Option<i64>,
    reply_markup: Option<TgMarkup>,
}

#[derive(Deserialize)]
struct TgPhotoSize {
    file_id: String,
    #[serde(default)]
    width: i64,
    #[serde(default)]
    height: i64,
}

#[derive(Deserialize)]
struct TgFile {
    file_id: String,
    file_name: Option<String>,
    mime_type: Option<String>,
}

#[derive(Deserialize)]
struct TgSticker {
    file_id: String,
    #[serde(default)]
    is_animated: bool,
    #[serde(default)]
    is_video: bool,
}

#[derive(Deserialize)]
struct TgLocation {
    latitude: f64,
    longitude: f64,
}

#[derive(Deserialize)]
struct TgVenue {
    location: TgLocation,
    #[serde(default)]
    title: String,
    #[serde(default)]
    address: String,
}

#[derive(Deserialize)]
struct TgContact {
    phone_number: String,
    #[serde(default)]
    first_name: String,
    last_name: Option<String>,
    /// The contact's Telegram user id, when they have an account.
    user_id: Option<i64>,
}

#[derive(Deserialize)]
struct TgMarkup {
    #[serde(default)]
    inline_keyboard: Vec<Vec<TgButton>>,
}

#[derive(Deserialize)]
struct TgButton {
    #[serde(default)]
    text: String,
    callback_data: Option<String>,
}

#[derive(Deserialize)]
struct TgCallbackQuery {
    id: String,
    from: TgUser,
    message: Option<TgMessage>,
    data: Option<String>,
    game_short_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::ProviderMessageId;

    const BOT: &str = "123456789";
    const NOW: i64 = 1_765_000_000;

    fn parse(value: Value) -> InboundEnvelope {
        let body = serde_json::to_vec(&value).expect("json");
        let mut events = parse_update(&AccountId::new(BOT), &body, NOW).expect("parses");
        assert_eq!(events.len(), 1);
        events.remove(0)
    }

    fn message(value: Value) -> InboundMessage {
        match parse(value).event {
            InboundEvent::Message(m) => *m,
            other => panic!("not a message: {other:?}"),
        }
    }

    /// The Bot API's private-chat text message (core.telegram.org/bots/webhooks examples).
    fn text_update() -> Value {
        json!({
            "update_id": 10000,
            "message": {
                "date": 1441645532,
                "chat": {"last_name": "Test Lastname", "id": 1111111, "type": "private",
                         "first_name": "Test Firstname", "username": "Testusername"},
                "message_id": 1365,
                "from": {"last_name": "Test Lastname", "id": 1111111, "is_bot": false,
                         "first_name": "Test Firstname", "username": "Testusername",
                         "language_code": "en"},
                "text": "/start"
            }
        })
    }

    fn with_content(content: Value) -> Value {
        let mut update = text_update();
        if let (Some(m), Some(c)) = (update["message"].as_object_mut(), content.as_object()) {
            m.remove("text");
            for (k, v) in c {
                m.insert(k.clone(), v.clone());
            }
        }
        update
    }

    #[test]
    fn a_text_message_is_the_chat_s_customer_deduplicated_by_update_id() {
        let envelope = parse(text_update());
        assert_eq!(envelope.channel_kind, ChannelKind::Telegram);
        assert_eq!(envelope.account.as_str(), BOT);
        assert_eq!(envelope.delivery_id.as_deref(), Some("10000"));
        assert_eq!(envelope.dedupe_key(), "d:telegram:123456789:10000");
        assert_eq!(
            envelope.customer().map(|c| c.as_str()),
            Some("telegram:123456789:1111111")
        );
        let InboundEvent::Message(m) = envelope.event else {
            panic!("a message")
        };
        assert_eq!(m.provider_id.as_str(), "tg:123456789:1111111:1365");
        assert_eq!(
            m.customer.name.as_deref(),
            Some("Test Firstname Test Lastname")
        );
        assert_eq!(m.customer.wa_id, None);
        assert_eq!(m.timestamp, 1441645532);
        assert_eq!(
            m.content,
            MessageContent::Text {
                body: "/start".into()
            }
        );
        assert_eq!(m.context, None);
    }

    #[test]
    fn the_same_update_id_is_the_same_key_and_another_bot_s_is_not() {
        let body = serde_json::to_vec(&text_update()).expect("json");
        let a = parse_update(&AccountId::new(BOT), &body, NOW).expect("parses");
        let b = parse_update(&AccountId::new(BOT), &body, NOW + 60).expect("parses");
        let other_bot = parse_update(&AccountId::new("987654321"), &body, NOW).expect("parses");
        assert_eq!(a[0].dedupe_key(), b[0].dedupe_key());
        assert_ne!(a[0].dedupe_key(), other_bot[0].dedupe_key());
        let mut next = text_update();
        next["update_id"] = json!(10001);
        assert_ne!(parse(next).dedupe_key(), a[0].dedupe_key());
    }

    #[test]
    fn a_photo_is_its_largest_size_with_the_caption() {
        let m = message(with_content(json!({
            "photo": [
                {"file_id": "small", "file_unique_id": "a", "file_size": 1200, "width": 90, "height": 67},
                {"file_id": "large", "file_unique_id": "c", "file_size": 80000, "width": 1280, "height": 960},
                {"file_id": "medium", "file_unique_id": "b", "file_size": 20000, "width": 320, "height": 240}
            ],
            "caption": "my broken router"
        })));
        let MessageContent::Media {
            kind, media, voice, ..
        } = &m.content
        else {
            panic!("media: {:?}", m.content)
        };
        assert_eq!(*kind, MediaKind::Image);
        assert!(!voice);
        assert_eq!(media.id.as_deref(), Some("large"));
        assert_eq!(media.caption.as_deref(), Some("my broken router"));
        assert_eq!(m.content.text(), Some("my broken router"));
    }

    #[test]
    fn documents_and_voice_notes_are_files_with_their_names_and_types() {
        let m = message(with_content(json!({
            "document": {"file_name": "invoice.pdf", "mime_type": "application/pdf",
                         "file_id": "BQACAgQAAxkBAAI", "file_unique_id": "AgAD", "file_size": 52345}
        })));
        assert_eq!(
            m.content,
            MessageContent::Media {
                kind: MediaKind::Document,
                media: media("BQACAgQAAxkBAAI", Some("application/pdf"), None),
                filename: Some("invoice.pdf".into()),
                voice: false,
                animated: false,
            }
        );
        let m = message(with_content(json!({
            "voice": {"duration": 3, "mime_type": "audio/ogg", "file_id": "AwACAgQAAxkBAAI",
                      "file_unique_id": "AgADvg", "file_size": 9012}
        })));
        assert_eq!(
            m.content,
            MessageContent::Media {
                kind: MediaKind::Audio,
                media: media("AwACAgQAAxkBAAI", Some("audio/ogg"), None),
                filename: None,
                voice: true,
                animated: false,
            }
        );
    }

    #[test]
    fn locations_venues_and_contacts() {
        let m = message(with_content(json!({
            "location": {"latitude": 40.416775, "longitude": -3.70379}
        })));
        assert_eq!(
            m.content,
            MessageContent::Location {
                latitude: 40.416775,
                longitude: -3.70379,
                name: None,
                address: None,
                url: None
            }
        );
        let m = message(with_content(json!({
            "location": {"latitude": 40.4153, "longitude": -3.6845},
            "venue": {"location": {"latitude": 40.4153, "longitude": -3.6845},
                      "title": "Retiro Park", "address": "Plaza de la Independencia, 7"}
        })));
        assert_eq!(
            m.content,
            MessageContent::Location {
                latitude: 40.4153,
                longitude: -3.6845,
                name: Some("Retiro Park".into()),
                address: Some("Plaza de la Independencia, 7".into()),
                url: None
            }
        );
        let m = message(with_content(json!({
            "contact": {"phone_number": "+34600111222", "first_name": "Ana", "last_name": "García",
                        "user_id": 2222222}
        })));
        assert_eq!(
            m.content,
            MessageContent::Contacts {
                contacts: vec![SharedContact {
                    formatted_name: Some("Ana García".into()),
                    phones: vec![SharedPhone {
                        phone: Some("+34600111222".into()),
                        wa_id: None,
                        kind: None
                    }],
                    emails: vec![],
                    organization: None
                }]
            }
        );
    }

    #[test]
    fn the_user_s_language_code_is_the_customer_s_language() {
        let mut update = text_update();
        update["message"]["from"]["language_code"] = json!("pt-BR");
        assert_eq!(message(update).customer.language.as_deref(), Some("pt-BR"));
        let mut update = text_update();
        if let Some(from) = update["message"]["from"].as_object_mut() {
            from.remove("language_code");
        }
        assert_eq!(message(update).customer.language, None);
    }

    /// Sharing one's own contact proves the number (Telegram verified it); a card of someone
    /// else proves nothing.
    #[test]
    fn only_the_sender_s_own_contact_is_a_verified_phone() {
        let own = message(with_content(json!({
            "contact": {"phone_number": "+34600111222", "first_name": "Test", "user_id": 1111111}
        })));
        assert_eq!(own.customer.verified_phone.as_deref(), Some("+34600111222"));
        let other = message(with_content(json!({
            "contact": {"phone_number": "+34600111222", "first_name": "Ana", "user_id": 2222222}
        })));
        assert_eq!(other.customer.verified_phone, None);
        let no_account = message(with_content(json!({
            "contact": {"phone_number": "+34600111222", "first_name": "Ana"}
        })));
        assert_eq!(no_account.customer.verified_phone, None);
        assert_eq!(message(text_update()).customer.verified_phone, None);
    }

    #[test]
    fn replies_and_forwards_keep_their_context() {
        let mut update = text_update();
        update["message"]["reply_to_message"] = json!({
            "message_id": 1300, "date": 1441645000, "chat": {"id": 1111111, "type": "private"},
            "text": "earlier"
        });
        update["message"]["forward_origin"] = json!({"type": "user", "date": 1441640000, "sender_user": {"id": 5, "is_bot": false, "first_name": "X"}});
        let m = message(update);
        let context = m.context.expect("context");
        assert_eq!(
            context.replied_to,
            Some(ProviderMessageId::new("tg:123456789:1111111:1300"))
        );
        assert!(context.forwarded);
    }

    #[test]
    fn an_edited_message_points_at_the_original_and_is_its_own_event() {
        let mut update = text_update();
        let edited = update["message"].take();
        update.as_object_mut().map(|u| u.remove("message"));
        update["update_id"] = json!(10002);
        update["edited_message"] = edited;
        update["edited_message"]["edit_date"] = json!(1441645600);
        update["edited_message"]["text"] = json!("/start please");
        let m = message(update);
        assert_eq!(
            m.provider_id.as_str(),
            "tg:123456789:1111111:1365:edit:10002"
        );
        assert_eq!(m.timestamp, 1441645600);
        assert_eq!(
            m.content,
            MessageContent::Edit {
                original_message_id: ProviderMessageId::new("tg:123456789:1111111:1365"),
                content: Box::new(MessageContent::Text {
                    body: "/start please".into()
                })
            }
        );
    }

    /// A callback query from an inline keyboard (the Bot API's CallbackQuery example shape).
    fn callback_update(data: &str) -> Value {
        json!({
            "update_id": 10003,
            "callback_query": {
                "id": "4382bfdwdsb323b2d9",
                "from": {"id": 1111111, "is_bot": false, "first_name": "Test Firstname",
                         "last_name": "Test Lastname", "username": "Testusername", "language_code": "en"},
                "message": {
                    "message_id": 1366, "date": 1441645540,
                    "from": {"id": 123456789, "is_bot": true, "first_name": "Acme", "username": "acme_bot"},
                    "chat": {"id": 1111111, "type": "private", "first_name": "Test Firstname"},
                    "text": "How can I help?",
                    "reply_markup": {"inline_keyboard": [
                        [{"text": "Track my order", "callback_data": "main_menu/track"}],
                        [{"text": "Talk to a person", "callback_data": "main_menu/person"}]
                    ]}
                },
                "chat_instance": "-8723478923471",
                "data": data
            }
        })
    }

    #[test]
    fn a_button_press_is_the_menu_choice_titled_by_its_button() {
        let envelope = parse(callback_update("main_menu/person"));
        assert_eq!(envelope.dedupe_key(), "d:telegram:123456789:10003");
        let InboundEvent::Message(m) = envelope.event else {
            panic!("a message")
        };
        assert_eq!(m.provider_id.as_str(), "tgcb:123456789:4382bfdwdsb323b2d9");
        assert_eq!(m.customer.id.as_str(), "telegram:123456789:1111111");
        assert_eq!(
            m.customer.name.as_deref(),
            Some("Test Firstname Test Lastname")
        );
        assert_eq!(m.timestamp, NOW);
        assert_eq!(
            m.content,
            MessageContent::ButtonReply {
                id: "main_menu/person".into(),
                title: "Talk to a person".into()
            }
        );
        assert_eq!(
            m.context.and_then(|c| c.replied_to),
            Some(ProviderMessageId::new("tg:123456789:1111111:1366"))
        );
        // A button no longer on the message: titled by its data.
        let m = message(callback_update("old/choice"));
        assert_eq!(m.content.text(), Some("old/choice"));
    }

    #[test]
    fn a_button_press_without_its_message_is_from_the_user_s_private_chat() {
        let mut update = callback_update("main_menu/track");
        update["callback_query"]
            .as_object_mut()
            .map(|q| q.remove("message"));
        let m = message(update);
        assert_eq!(m.customer.id.as_str(), "telegram:123456789:1111111");
        assert_eq!(m.content.text(), Some("main_menu/track"));
    }

    #[test]
    fn unknown_kinds_and_untypable_objects_are_other_events_not_errors() {
        let member = json!({
            "update_id": 10004,
            "my_chat_member": {"chat": {"id": 1111111, "type": "private"},
                               "from": {"id": 1111111, "is_bot": false, "first_name": "T"},
                               "date": 1441645600,
                               "old_chat_member": {"status": "member"},
                               "new_chat_member": {"status": "kicked"}}
        });
        let envelope = parse(member.clone());
        assert_eq!(envelope.customer(), None);
        let InboundEvent::Other(other) = &envelope.event else {
            panic!("other: {envelope:?}")
        };
        assert_eq!(other.field, "my_chat_member");
        assert_eq!(other.value, member["my_chat_member"]);
        assert_eq!(other.digest.len(), 64);
        assert_eq!(envelope.dedupe_key(), "d:telegram:123456789:10004");

        // A message whose chat is not an object does not type: kept as other.
        let broken = json!({"update_id": 10005, "message": {"message_id": 1, "chat": "nope"}});
        let InboundEvent::Other(other) = parse(broken).event else {
            panic!("other")
        };
        assert_eq!(other.field, "message");

        // A message kind this version does not know.
        let m = message(with_content(json!({
            "dice": {"emoji": "🎲", "value": 4}
        })));
        assert_eq!(
            m.content,
            MessageContent::Unknown {
                type_name: "dice".into()
            }
        );
    }

    #[test]
    fn only_a_body_that_is_no_update_at_all_is_an_error() {
        let bot = AccountId::new(BOT);
        assert!(matches!(
            parse_update(&bot, b"{not json", NOW),
            Err(ParseError::Json(_))
        ));
        assert!(matches!(
            parse_update(&bot, b"[1,2]", NOW),
            Err(ParseError::UnexpectedObject(_))
        ));
        assert!(matches!(
            parse_update(&bot, br#"{"message": {}}"#, NOW),
            Err(ParseError::UnexpectedObject(_))
        ));
        assert!(matches!(
            parse_update(&bot, br#"{"update_id": "1"}"#, NOW),
            Err(ParseError::UnexpectedObject(_))
        ));
        // An Update with nothing but its id is acknowledged as other.
        let events = parse_update(&bot, br#"{"update_id": 7}"#, NOW).expect("parses");
        assert!(matches!(events[0].event, InboundEvent::Other(_)));
    }
}
