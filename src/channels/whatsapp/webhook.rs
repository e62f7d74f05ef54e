//! WhatsApp Cloud API webhook parsing: a `whatsapp_business_account` POST body (already
//! signature-checked) into [`InboundEnvelope`]s.
//!
//! The body must be JSON and its envelope (`object`, `entry[]`) well-formed, otherwise
//! [`ParseError`] (the webhook is answered 400). Inside it the parser is tolerant, and it
//! types the body piece by piece: each entry, change, message and status is read from its own
//! raw JSON text, so a piece that cannot be typed is reported alone, as an
//! [`InboundEvent::Other`] that keeps its text, and its siblings are typed as usual. Unknown
//! fields are ignored, scalars of the wrong JSON type are read as absent (numbers sent as
//! strings and strings sent as numbers are both accepted), and content that cannot be typed
//! becomes [`MessageContent::Unknown`]. Nothing is dropped silently.
//!
//! Events come out in wire order: per entry, per change, the change's `messages[]`, then its
//! `statuses[]`, then its value-level `errors[]`.
//!
//! Rules worth knowing:
//! - `account` is `value.metadata.phone_number_id`; when a change has no metadata (template
//!   updates and similar) it is the entry's `id` (the WABA id), else empty.
//! - Customer identity: the contact is matched by `wa_id == from`, else by `user_id` (==
//!   `from_user_id` or `from`), else the only contact if it does not contradict the message.
//!   [`Customer::id`] is the `wa_id` (or `from`), else the `user_id` (or `from_user_id`),
//!   else `from_logical_id`. A message with none of these, or without `id`, is
//!   [`InboundEvent::Other`]. A contact that cannot be typed is left out.
//! - A status without `id`, or without any of `recipient_id` / `recipient_user_id` /
//!   `recipient_logical_id`, is [`InboundEvent::Other`].
//! - Ids are bounded: a message or status with an id longer than [`MAX_ID_BYTES`] is
//!   [`InboundEvent::Other`].
//! - A piece that cannot be typed: an item of `messages[]` / `statuses[]` (not an object, a
//!   duplicate key, a string with a lone surrogate escape such as `\ud800`, a number out of
//!   range such as `1e400`, nesting deeper than serde_json's limit, or no id), a non-array
//!   `messages` / `statuses` / `changes`, a bad entry or change, a `messages` value that is
//!   not an object or whose metadata is unreadable. Its `Other` event has `value` = its JSON
//!   when serde_json can read it (else null) and `raw` = its text exactly as received. That
//!   text is valid JSON *syntax* (the whole body was checked), though serde_json may not read
//!   it into a value (lone surrogates, out-of-range numbers, deep nesting). A body whose syntax
//!   is invalid anywhere (a bad escape like `\u12`, a missing bracket) is a [`ParseError`].
//!   The value of a field other than `messages` is kept as its JSON; `raw` only when
//!   serde_json cannot read it.
//! - Digests (the dedupe keys of `Other` and `Error` events) are lowercase hex SHA-256 of the
//!   field name, a NUL, the piece's place (`messages[]`, `statuses[]`, `errors`, `value`...),
//!   a NUL, and the piece's text exactly as received: a redelivery (Meta resends the same
//!   bytes) repeats it, two pieces that differ in any byte never share it.
//!
//! Messages and statuses are deserialized straight from their raw text into borrowed wire
//! structs (no `serde_json::Value` round trip); `Value` is only built for
//! [`InboundEvent::Other`].

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
// `RawValue` needs serde_json's `raw_value` feature (enabled in this build through sqlx).
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::channels::{ParseError, WebhookParser};
use crate::domain::{
    AccountError, AccountId, ChannelKind, Customer, CustomerId, DeliveryStatus, InboundEnvelope,
    InboundEvent, InboundMessage, Media, MediaKind, MessageContent, MessageContext, OrderItem,
    OtherEvent, ProviderError, ProviderMessageId, Referral, ReferredProduct, SharedContact,
    SharedPhone, StatusUpdate,
};

/// The only `object` value WhatsApp webhooks carry.
pub const WHATSAPP_OBJECT: &str = "whatsapp_business_account";

/// The change `field` that carries messages, statuses and value-level errors.
pub const MESSAGES_FIELD: &str = "messages";

/// `OtherEvent::field` for an `entry[]` item that is not a JSON object.
pub const INVALID_ENTRY_FIELD: &str = "<entry>";
/// `OtherEvent::field` for an entry whose `changes` is not an array.
pub const INVALID_CHANGES_FIELD: &str = "<changes>";
/// `OtherEvent::field` for a `changes[]` item that is not a JSON object.
pub const INVALID_CHANGE_FIELD: &str = "<change>";

/// The longest provider id the parser accepts, in bytes: a message's `id`, its customer's
/// ids (`from`, `wa_id`, `user_id`, ...), a status's `id`, recipient and `status`. Meta's are
/// far shorter (a wamid is about 60 characters); a message or status with a longer one is
/// reported as [`InboundEvent::Other`] with its text, so no oversized id reaches an index.
pub const MAX_ID_BYTES: usize = 256;

/// Parses Meta's WhatsApp Cloud API webhook bodies.
#[derive(Clone, Copy, Debug, Default)]
pub struct WhatsappWebhookParser;

impl WebhookParser for WhatsappWebhookParser {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Whatsapp
    }

    fn parse(&self, body: &[u8]) -> Result<Vec<InboundEnvelope>, ParseError> {
        parse_webhook(body)
    }
}

/// Parses one webhook body; see the module docs for the rules.
pub fn parse_webhook(body: &[u8]) -> Result<Vec<InboundEnvelope>, ParseError> {
    // A derived struct would also accept a JSON array; the envelope must be an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ParseError::Json(de::Error::invalid_type(
            de::Unexpected::Other("non-object JSON"),
            &"a webhook object",
        )));
    }
    // Everything below `entry` is kept as raw JSON text here (checked for JSON syntax only),
    // and typed piece by piece: a piece that cannot be typed is reported alone.
    let envelope: WireEnvelope<'_> = serde_json::from_slice(body)?;
    if envelope.object != WHATSAPP_OBJECT {
        return Err(ParseError::UnexpectedObject(envelope.object.into_owned()));
    }

    let mut out = Vec::new();
    for entry in envelope.entry {
        parse_entry(entry, &mut out);
    }
    Ok(out)
}

fn parse_entry(raw: &RawValue, out: &mut Vec<InboundEnvelope>) {
    let Some(entry) = typed::<WireEntry<'_>>(raw) else {
        push(
            out,
            &AccountId::default(),
            bad_fragment(INVALID_ENTRY_FIELD, Part::Entry, raw),
        );
        return;
    };
    let entry_id = entry.id.0.unwrap_or_default();
    match array_items(entry.changes) {
        Ok(changes) => {
            for change in changes {
                parse_change(change, &entry_id, out);
            }
        }
        Err(raw) => push(
            out,
            &AccountId::new(entry_id.as_ref()),
            bad_fragment(INVALID_CHANGES_FIELD, Part::Changes, raw),
        ),
    }
}

fn parse_change(raw: &RawValue, entry_id: &str, out: &mut Vec<InboundEnvelope>) {
    let Some(change) = typed::<WireChange<'_>>(raw) else {
        let event = bad_fragment(INVALID_CHANGE_FIELD, Part::Change, raw);
        push(out, &AccountId::new(entry_id), event);
        return;
    };
    let field = change.field.0.unwrap_or_default();
    let Some(value_raw) = change.value else {
        let event = fragment_event(&field, Part::Value, RawValue::NULL, false);
        push(out, &AccountId::new(entry_id), event);
        return;
    };
    let typed_value = if field == MESSAGES_FIELD {
        typed::<WireValue<'_>>(value_raw)
    } else {
        None
    };
    let Some(value) = typed_value else {
        // Another field (kept as received), or a `messages` value that cannot be typed as a
        // whole (not an object, a duplicate key at its top level, unreadable metadata).
        let event = fragment_event(&field, Part::Value, value_raw, field == MESSAGES_FIELD);
        let account = match &event {
            InboundEvent::Other(other) => other
                .value
                .get("metadata")
                .and_then(|m| m.get("phone_number_id"))
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty())
                .unwrap_or(entry_id),
            _ => entry_id,
        };
        push(out, &AccountId::new(account), event);
        return;
    };

    let account = match value
        .metadata
        .0
        .as_ref()
        .and_then(|m| m.phone_number_id.nonempty())
    {
        Some(id) => AccountId::new(id),
        None => AccountId::new(entry_id),
    };
    // Contacts are auxiliary: one that cannot be typed is left out (its messages still match
    // by `from`).
    let contacts: Vec<WireContact<'_>> = array_items(value.contacts)
        .unwrap_or_default()
        .into_iter()
        .filter_map(typed)
        .collect();
    let start = out.len();

    match array_items(value.messages) {
        Ok(messages) => {
            for raw in messages {
                let event = typed::<WireMessage<'_>>(raw)
                    .and_then(|message| convert_message(message, &contacts))
                    .map(|m| InboundEvent::Message(Box::new(m)))
                    .unwrap_or_else(|| bad_fragment(&field, Part::Message, raw));
                push(out, &account, event);
            }
        }
        Err(raw) => push(out, &account, bad_fragment(&field, Part::Messages, raw)),
    }

    match array_items(value.statuses) {
        Ok(statuses) => {
            for raw in statuses {
                let event = typed::<WireStatus<'_>>(raw)
                    .and_then(convert_status)
                    .map(InboundEvent::Status)
                    .unwrap_or_else(|| bad_fragment(&field, Part::Status, raw));
                push(out, &account, event);
            }
        }
        Err(raw) => push(out, &account, bad_fragment(&field, Part::Statuses, raw)),
    }

    if let Some(errors_raw) = value.errors {
        let errors = Some(errors_raw)
            .filter(|raw| raw.get().trim_start().starts_with('['))
            .and_then(|raw| serde_json::from_str::<List<WireError<'_>>>(raw.get()).ok());
        let event = match errors {
            Some(errors) => InboundEvent::Error(AccountError {
                errors: errors.0.into_iter().map(convert_error).collect(),
                digest: digest(&field, Part::Errors, errors_raw.get()),
            }),
            None => bad_fragment(&field, Part::Errors, errors_raw),
        };
        push(out, &account, event);
    }

    if out.len() == start {
        // Nothing to type (a value with contacts only, say): the value as received.
        push(
            out,
            &account,
            fragment_event(&field, Part::Value, value_raw, false),
        );
    }
}

fn push(out: &mut Vec<InboundEnvelope>, account: &AccountId, event: InboundEvent) {
    out.push(InboundEnvelope {
        channel_kind: ChannelKind::Whatsapp,
        account: account.clone(),
        event,
        delivery_id: None,
    });
}

/// Where a fragment reported as [`InboundEvent::Other`] sat in the body; part of its digest, so
/// that the same text in two places (a bad message and a bad status, say) are two events.
#[derive(Clone, Copy, Debug)]
enum Part {
    Entry,
    Changes,
    Change,
    Value,
    Messages,
    Message,
    Statuses,
    Status,
    Errors,
}

impl Part {
    fn label(self) -> &'static str {
        match self {
            Part::Entry => "entry[]",
            Part::Changes => "changes",
            Part::Change => "changes[]",
            Part::Value => "value",
            Part::Messages => "messages",
            Part::Message => "messages[]",
            Part::Statuses => "statuses",
            Part::Status => "statuses[]",
            Part::Errors => "errors",
        }
    }
}

/// A piece of the body that was expected to be typed and could not be: an `Other` event that
/// keeps its text as received.
fn bad_fragment(field: &str, part: Part, raw: &RawValue) -> InboundEvent {
    fragment_event(field, part, raw, true)
}

/// An `Other` event for `raw`: its JSON as `value` when serde_json reads it (else null), and
/// its text as received in `raw` when it is `bad` or unreadable.
fn fragment_event(field: &str, part: Part, raw: &RawValue, bad: bool) -> InboundEvent {
    let text = raw.get();
    let value = serde_json::from_str::<Value>(text).ok();
    let keep_raw = bad || value.is_none();
    InboundEvent::Other(OtherEvent {
        field: field.to_owned(),
        digest: digest(field, part, text),
        value: value.unwrap_or(Value::Null),
        raw: keep_raw.then(|| text.to_owned()),
    })
}

/// Lowercase hex SHA-256 of `field`, a NUL, the part's label, a NUL, and `text` (the
/// fragment's JSON text exactly as received).
fn digest(field: &str, part: Part, text: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(field.as_bytes());
    hasher.update([0]);
    hasher.update(part.label().as_bytes());
    hasher.update([0]);
    hasher.update(text.as_bytes());
    hex::encode(hasher.finalize())
}

/// `raw` typed as the object `T`; `None` when it is not an object or does not type (a
/// duplicate key, a string with a lone surrogate, a number out of range, nesting too deep).
fn typed<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Option<T> {
    if !raw.get().trim_start().starts_with('{') {
        return None;
    }
    serde_json::from_str(raw.get()).ok()
}

/// The items of an array, each as raw JSON; absent and `null` read as empty; anything else is
/// handed back to be reported.
fn array_items(raw: Option<&RawValue>) -> Result<Vec<&RawValue>, &RawValue> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    if !raw.get().trim_start().starts_with('[') {
        return Err(raw);
    }
    // The syntax was checked when `raw` was read, so this cannot fail in practice.
    serde_json::from_str(raw.get()).map_err(|_| raw)
}

// ---------------------------------------------------------------------------------------------
// Conversion
// ---------------------------------------------------------------------------------------------

/// `None`: the message is reported as `Other` (no id, nobody to attribute it to, or an id
/// longer than [`MAX_ID_BYTES`]).
fn convert_message(
    mut message: WireMessage<'_>,
    contacts: &[WireContact<'_>],
) -> Option<InboundMessage> {
    let provider_id = message
        .id
        .nonempty()
        .filter(|id| id.len() <= MAX_ID_BYTES)
        .map(ProviderMessageId::new)?;
    let customer = resolve_customer(
        message.from.nonempty(),
        message.from_user_id.nonempty(),
        message.from_logical_id.nonempty(),
        contacts,
    )?;
    let timestamp = message.timestamp.or_zero();
    let context = message.context.0.take().map(convert_context);
    let referral = message.referral.0.take().map(convert_referral);
    Some(InboundMessage {
        provider_id,
        customer,
        timestamp,
        content: convert_content(message),
        context,
        referral,
        handoff: None,
    })
}

fn resolve_customer(
    from: Option<&str>,
    from_user_id: Option<&str>,
    from_logical_id: Option<&str>,
    contacts: &[WireContact<'_>],
) -> Option<Customer> {
    let by_wa_id = || from.and_then(|f| contacts.iter().find(|c| c.wa_id.nonempty() == Some(f)));
    let by_user_id = || {
        contacts.iter().find(|c| {
            let user_id = c.user_id.nonempty();
            user_id.is_some() && (user_id == from_user_id || user_id == from)
        })
    };
    let only = || match contacts {
        [only] if consistent(only, from, from_user_id) => Some(only),
        _ => None,
    };
    let contact = by_wa_id().or_else(by_user_id).or_else(only);

    let wa_id = contact.and_then(|c| c.wa_id.nonempty()).or(from);
    let user_id = contact.and_then(|c| c.user_id.nonempty()).or(from_user_id);
    let id = wa_id.or(user_id).or(from_logical_id)?;
    let bounded = |id: Option<&str>| id.is_none_or(|id| id.len() <= MAX_ID_BYTES);
    if !(bounded(Some(id)) && bounded(wa_id) && bounded(user_id)) {
        return None;
    }
    Some(Customer {
        id: CustomerId::new(id),
        wa_id: wa_id.map(str::to_owned),
        user_id: user_id.map(str::to_owned),
        name: contact
            .and_then(|c| c.profile.0.as_ref())
            .and_then(|p| p.name.get())
            .map(str::to_owned),
        ..Customer::default()
    })
}

/// The only contact is used unless its ids contradict the message's.
fn consistent(contact: &WireContact<'_>, from: Option<&str>, from_user_id: Option<&str>) -> bool {
    let agrees = |ours: Option<&str>, theirs: Option<&str>| match (ours, theirs) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    agrees(contact.wa_id.nonempty(), from) && agrees(contact.user_id.nonempty(), from_user_id)
}

fn convert_context(context: WireContext<'_>) -> MessageContext {
    MessageContext {
        replied_to: context.id.nonempty().map(ProviderMessageId::new),
        from: context.from.into_string(),
        forwarded: context.forwarded.0,
        frequently_forwarded: context.frequently_forwarded.0,
        referred_product: context.referred_product.0.map(|p| ReferredProduct {
            catalog_id: p.catalog_id.into_string().unwrap_or_default(),
            product_retailer_id: p.product_retailer_id.into_string().unwrap_or_default(),
        }),
    }
}

fn convert_referral(referral: WireReferral<'_>) -> Referral {
    Referral {
        source_url: referral.source_url.into_string(),
        source_id: referral.source_id.into_string(),
        source_type: referral.source_type.into_string(),
        headline: referral.headline.into_string(),
        body: referral.body.into_string(),
        media_type: referral.media_type.into_string(),
        ctwa_clid: referral.ctwa_clid.into_string(),
    }
}

fn unknown(type_name: &str) -> MessageContent {
    MessageContent::Unknown {
        type_name: type_name.to_owned(),
    }
}

/// The typed content for the message's `type`; `Unknown` when the type or its body is missing.
fn convert_content(message: WireMessage<'_>) -> MessageContent {
    let WireMessage {
        kind,
        text,
        image,
        audio,
        video,
        document,
        sticker,
        location,
        contacts,
        interactive,
        button,
        reaction,
        order,
        system,
        errors,
        edit,
        revoke,
        ..
    } = message;
    let type_name = kind.get().unwrap_or_default();
    let content = match type_name {
        "text" => text.0.map(|t| MessageContent::Text {
            body: t.body.into_string().unwrap_or_default(),
        }),
        "image" => image.0.map(|m| media(MediaKind::Image, m)),
        "audio" => audio.0.map(|m| media(MediaKind::Audio, m)),
        "video" => video.0.map(|m| media(MediaKind::Video, m)),
        "document" => document.0.map(|m| media(MediaKind::Document, m)),
        "sticker" => sticker.0.map(|m| media(MediaKind::Sticker, m)),
        "location" => location.0.and_then(|l| {
            Some(MessageContent::Location {
                latitude: l.latitude.0?,
                longitude: l.longitude.0?,
                name: l.name.into_string(),
                address: l.address.into_string(),
                url: l.url.into_string(),
            })
        }),
        "contacts" => contacts.map(|c| MessageContent::Contacts {
            contacts: c.0.into_iter().map(convert_shared_contact).collect(),
        }),
        "interactive" => interactive.0.map(convert_interactive),
        "button" => button.0.map(|b| MessageContent::Button {
            payload: b.payload.into_string(),
            text: b.text.into_string().unwrap_or_default(),
        }),
        "reaction" => reaction.0.and_then(|r| {
            Some(MessageContent::Reaction {
                message_id: ProviderMessageId::new(r.message_id.nonempty()?),
                emoji: r.emoji.nonempty().map(str::to_owned),
            })
        }),
        "order" => order.0.map(|o| MessageContent::Order {
            catalog_id: o.catalog_id.into_string(),
            text: o.text.into_string(),
            items: o
                .product_items
                .0
                .into_iter()
                .map(convert_order_item)
                .collect(),
        }),
        "system" => system.0.map(|s| MessageContent::System {
            body: s.body.into_string(),
            system_type: s.kind.into_string(),
            new_wa_id: s.wa_id.into_string().or_else(|| s.new_wa_id.into_string()),
        }),
        "unsupported" | "unknown" => Some(MessageContent::Unsupported {
            errors: errors.0.into_iter().map(convert_error).collect(),
        }),
        "edit" => edit.0.and_then(|e| {
            Some(MessageContent::Edit {
                original_message_id: ProviderMessageId::new(e.original_message_id.nonempty()?),
                content: Box::new(convert_content(*e.message.0?)),
            })
        }),
        "revoke" => revoke.0.and_then(|r| {
            Some(MessageContent::Revoke {
                original_message_id: ProviderMessageId::new(r.original_message_id.nonempty()?),
            })
        }),
        _ => None,
    };
    content.unwrap_or_else(|| unknown(type_name))
}

fn media(kind: MediaKind, m: WireMedia<'_>) -> MessageContent {
    MessageContent::Media {
        kind,
        filename: m.filename.into_string(),
        voice: m.voice.0,
        animated: m.animated.0,
        media: Media {
            id: m.id.into_string(),
            mime_type: m.mime_type.into_string(),
            sha256: m.sha256.into_string(),
            caption: m.caption.into_string(),
            url: m.url.into_string(),
        },
    }
}

fn convert_shared_contact(c: WireSharedContact<'_>) -> SharedContact {
    SharedContact {
        formatted_name: c.name.0.and_then(|n| n.formatted_name.into_string()),
        phones: c
            .phones
            .0
            .into_iter()
            .map(|p| SharedPhone {
                phone: p.phone.into_string(),
                wa_id: p.wa_id.into_string(),
                kind: p.kind.into_string(),
            })
            .collect(),
        emails: c
            .emails
            .0
            .into_iter()
            .filter_map(|e| e.email.into_string())
            .collect(),
        organization: c.org.0.and_then(|o| o.company.into_string()),
    }
}

fn convert_interactive(i: WireInteractive<'_>) -> MessageContent {
    // `type` names the reply object; infer it if Meta left it out.
    let sub_type = i.kind.get().unwrap_or(if i.button_reply.0.is_some() {
        "button_reply"
    } else if i.list_reply.0.is_some() {
        "list_reply"
    } else if i.nfm_reply.0.is_some() {
        "nfm_reply"
    } else {
        ""
    });
    let content = match sub_type {
        "button_reply" => i.button_reply.0.map(|r| MessageContent::ButtonReply {
            id: r.id.into_string().unwrap_or_default(),
            title: r.title.into_string().unwrap_or_default(),
        }),
        "list_reply" => i.list_reply.0.map(|r| MessageContent::ListReply {
            id: r.id.into_string().unwrap_or_default(),
            title: r.title.into_string().unwrap_or_default(),
            description: r.description.into_string(),
        }),
        "nfm_reply" => i.nfm_reply.0.map(|n| MessageContent::FlowReply {
            name: n.name.into_string(),
            body: n.body.into_string(),
            response_json: n.response_json.0,
        }),
        _ => None,
    };
    content.unwrap_or_else(|| MessageContent::Unknown {
        type_name: format!("interactive.{sub_type}"),
    })
}

fn convert_order_item(item: WireOrderItem<'_>) -> OrderItem {
    OrderItem {
        product_retailer_id: item.product_retailer_id.into_string().unwrap_or_default(),
        quantity: item.quantity.0.unwrap_or(0.0),
        item_price: item.item_price.0.unwrap_or(0.0),
        currency: item.currency.into_string().unwrap_or_default(),
    }
}

fn convert_error(e: WireError<'_>) -> ProviderError {
    ProviderError {
        code: e.code.0.unwrap_or(0),
        title: e.title.into_string(),
        message: e.message.into_string(),
        details: e.error_data.0.and_then(|d| d.details.into_string()),
    }
}

/// `None`: the status is reported as `Other` (no id, no recipient, or an id, recipient or
/// status longer than [`MAX_ID_BYTES`]).
fn convert_status(s: WireStatus<'_>) -> Option<StatusUpdate> {
    let bounded = |id: &&str| id.len() <= MAX_ID_BYTES;
    let provider_id = ProviderMessageId::new(s.id.nonempty().filter(bounded)?);
    let recipient = s
        .recipient_id
        .nonempty()
        .or_else(|| s.recipient_user_id.nonempty())
        .or_else(|| s.recipient_logical_id.nonempty())
        .filter(bounded)
        .map(CustomerId::new)?;
    let raw_status = Some(s.status.get().unwrap_or_default()).filter(bounded)?;
    let status = match raw_status {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "played" => DeliveryStatus::Played,
        "failed" => DeliveryStatus::Failed,
        _ => DeliveryStatus::Other,
    };
    Some(StatusUpdate {
        provider_id,
        status,
        raw_status: raw_status.to_owned(),
        timestamp: s.timestamp.or_zero(),
        recipient,
        errors: s.errors.0.into_iter().map(convert_error).collect(),
        pricing_type: s
            .pricing
            .0
            .as_ref()
            .and_then(|p| p.kind.get().map(str::to_owned)),
        pricing_category: s.pricing.0.and_then(|p| p.category.into_string()),
        biz_opaque_callback_data: s.biz_opaque_callback_data.into_string(),
    })
}

// ---------------------------------------------------------------------------------------------
// Wire types (tolerant: unknown fields ignored, every field optional)
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct WireEnvelope<'a> {
    #[serde(borrow)]
    object: Cow<'a, str>,
    #[serde(borrow)]
    entry: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireEntry<'a> {
    #[serde(borrow, default)]
    id: LStr<'a>,
    #[serde(borrow, default)]
    changes: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireChange<'a> {
    #[serde(borrow, default)]
    field: LStr<'a>,
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireValue<'a> {
    #[serde(borrow, default)]
    metadata: Obj<WireMetadata<'a>>,
    #[serde(borrow, default)]
    contacts: Option<&'a RawValue>,
    #[serde(borrow, default)]
    messages: Option<&'a RawValue>,
    #[serde(borrow, default)]
    statuses: Option<&'a RawValue>,
    #[serde(borrow, default)]
    errors: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireMetadata<'a> {
    #[serde(borrow, default)]
    phone_number_id: LStr<'a>,
}

#[derive(Deserialize)]
struct WireContact<'a> {
    #[serde(borrow, default)]
    profile: Obj<WireProfile<'a>>,
    #[serde(borrow, default)]
    wa_id: LStr<'a>,
    #[serde(borrow, default)]
    user_id: LStr<'a>,
}

#[derive(Deserialize)]
struct WireProfile<'a> {
    #[serde(borrow, default)]
    name: LStr<'a>,
}

#[derive(Deserialize)]
struct WireMessage<'a> {
    #[serde(borrow, default)]
    id: LStr<'a>,
    #[serde(borrow, default)]
    from: LStr<'a>,
    #[serde(borrow, default)]
    from_user_id: LStr<'a>,
    #[serde(borrow, default)]
    from_logical_id: LStr<'a>,
    #[serde(default)]
    timestamp: LInt,
    #[serde(borrow, default, rename = "type")]
    kind: LStr<'a>,
    #[serde(borrow, default)]
    context: Obj<WireContext<'a>>,
    #[serde(borrow, default)]
    referral: Obj<WireReferral<'a>>,
    #[serde(borrow, default)]
    text: Obj<WireText<'a>>,
    #[serde(borrow, default)]
    image: Obj<WireMedia<'a>>,
    #[serde(borrow, default)]
    audio: Obj<WireMedia<'a>>,
    #[serde(borrow, default)]
    video: Obj<WireMedia<'a>>,
    #[serde(borrow, default)]
    document: Obj<WireMedia<'a>>,
    #[serde(borrow, default)]
    sticker: Obj<WireMedia<'a>>,
    #[serde(borrow, default)]
    location: Obj<WireLocation<'a>>,
    #[serde(borrow, default)]
    contacts: Option<List<WireSharedContact<'a>>>,
    #[serde(borrow, default)]
    interactive: Obj<WireInteractive<'a>>,
    #[serde(borrow, default)]
    button: Obj<WireButton<'a>>,
    #[serde(borrow, default)]
    reaction: Obj<WireReaction<'a>>,
    #[serde(borrow, default)]
    order: Obj<WireOrder<'a>>,
    #[serde(borrow, default)]
    system: Obj<WireSystem<'a>>,
    #[serde(borrow, default)]
    errors: List<WireError<'a>>,
    #[serde(borrow, default)]
    edit: Obj<WireEdit<'a>>,
    #[serde(borrow, default)]
    revoke: Obj<WireRevoke<'a>>,
}

#[derive(Deserialize)]
struct WireContext<'a> {
    #[serde(borrow, default)]
    from: LStr<'a>,
    #[serde(borrow, default)]
    id: LStr<'a>,
    #[serde(default)]
    forwarded: LBool,
    #[serde(default)]
    frequently_forwarded: LBool,
    #[serde(borrow, default)]
    referred_product: Obj<WireReferredProduct<'a>>,
}

#[derive(Deserialize)]
struct WireReferredProduct<'a> {
    #[serde(borrow, default)]
    catalog_id: LStr<'a>,
    #[serde(borrow, default)]
    product_retailer_id: LStr<'a>,
}

#[derive(Deserialize)]
struct WireReferral<'a> {
    #[serde(borrow, default)]
    source_url: LStr<'a>,
    #[serde(borrow, default)]
    source_id: LStr<'a>,
    #[serde(borrow, default)]
    source_type: LStr<'a>,
    #[serde(borrow, default)]
    headline: LStr<'a>,
    #[serde(borrow, default)]
    body: LStr<'a>,
    #[serde(borrow, default)]
    media_type: LStr<'a>,
    #[serde(borrow, default)]
    ctwa_clid: LStr<'a>,
}

#[derive(Deserialize)]
struct WireText<'a> {
    #[serde(borrow, default)]
    body: LStr<'a>,
}

#[derive(Deserialize)]
struct WireMedia<'a> {
    #[serde(borrow, default)]
    id: LStr<'a>,
    #[serde(borrow, default)]
    mime_type: LStr<'a>,
    #[serde(borrow, default)]
    sha256: LStr<'a>,
    #[serde(borrow, default)]
    caption: LStr<'a>,
    #[serde(borrow, default)]
    url: LStr<'a>,
    #[serde(borrow, default)]
    filename: LStr<'a>,
    #[serde(default)]
    voice: LBool,
    #[serde(default)]
    animated: LBool,
}

#[derive(Deserialize)]
struct WireLocation<'a> {
    #[serde(default)]
    latitude: LFloat,
    #[serde(default)]
    longitude: LFloat,
    #[serde(borrow, default)]
    name: LStr<'a>,
    #[serde(borrow, default)]
    address: LStr<'a>,
    #[serde(borrow, default)]
    url: LStr<'a>,
}

#[derive(Deserialize)]
struct WireSharedContact<'a> {
    #[serde(borrow, default)]
    name: Obj<WireContactName<'a>>,
    #[serde(borrow, default)]
    phones: List<WirePhone<'a>>,
    #[serde(borrow, default)]
    emails: List<WireEmail<'a>>,
    #[serde(borrow, default)]
    org: Obj<WireOrg<'a>>,
}

#[derive(Deserialize)]
struct WireContactName<'a> {
    #[serde(borrow, default)]
    formatted_name: LStr<'a>,
}

#[derive(Deserialize)]
struct WirePhone<'a> {
    #[serde(borrow, default)]
    phone: LStr<'a>,
    #[serde(borrow, default)]
    wa_id: LStr<'a>,
    #[serde(borrow, default, rename = "type")]
    kind: LStr<'a>,
}

#[derive(Deserialize)]
struct WireEmail<'a> {
    #[serde(borrow, default)]
    email: LStr<'a>,
}

#[derive(Deserialize)]
struct WireOrg<'a> {
    #[serde(borrow, default)]
    company: LStr<'a>,
}

#[derive(Deserialize)]
struct WireInteractive<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: LStr<'a>,
    #[serde(borrow, default)]
    button_reply: Obj<WireReply<'a>>,
    #[serde(borrow, default)]
    list_reply: Obj<WireReply<'a>>,
    #[serde(borrow, default)]
    nfm_reply: Obj<WireNfmReply<'a>>,
}

#[derive(Deserialize)]
struct WireReply<'a> {
    #[serde(borrow, default)]
    id: LStr<'a>,
    #[serde(borrow, default)]
    title: LStr<'a>,
    #[serde(borrow, default)]
    description: LStr<'a>,
}

#[derive(Deserialize)]
struct WireNfmReply<'a> {
    #[serde(borrow, default)]
    name: LStr<'a>,
    #[serde(borrow, default)]
    body: LStr<'a>,
    #[serde(default)]
    response_json: JsonText,
}

#[derive(Deserialize)]
struct WireButton<'a> {
    #[serde(borrow, default)]
    payload: LStr<'a>,
    #[serde(borrow, default)]
    text: LStr<'a>,
}

#[derive(Deserialize)]
struct WireReaction<'a> {
    #[serde(borrow, default)]
    message_id: LStr<'a>,
    #[serde(borrow, default)]
    emoji: LStr<'a>,
}

#[derive(Deserialize)]
struct WireOrder<'a> {
    #[serde(borrow, default)]
    catalog_id: LStr<'a>,
    #[serde(borrow, default)]
    text: LStr<'a>,
    #[serde(borrow, default)]
    product_items: List<WireOrderItem<'a>>,
}

#[derive(Deserialize)]
struct WireOrderItem<'a> {
    #[serde(borrow, default)]
    product_retailer_id: LStr<'a>,
    #[serde(default)]
    quantity: LFloat,
    #[serde(default)]
    item_price: LFloat,
    #[serde(borrow, default)]
    currency: LStr<'a>,
}

#[derive(Deserialize)]
struct WireSystem<'a> {
    #[serde(borrow, default)]
    body: LStr<'a>,
    #[serde(borrow, default, rename = "type")]
    kind: LStr<'a>,
    #[serde(borrow, default)]
    wa_id: LStr<'a>,
    #[serde(borrow, default)]
    new_wa_id: LStr<'a>,
}

#[derive(Deserialize)]
struct WireError<'a> {
    #[serde(default)]
    code: LInt,
    #[serde(borrow, default)]
    title: LStr<'a>,
    #[serde(borrow, default)]
    message: LStr<'a>,
    #[serde(borrow, default)]
    error_data: Obj<WireErrorData<'a>>,
}

#[derive(Deserialize)]
struct WireErrorData<'a> {
    #[serde(borrow, default)]
    details: LStr<'a>,
}

#[derive(Deserialize)]
struct WireEdit<'a> {
    #[serde(borrow, default)]
    original_message_id: LStr<'a>,
    #[serde(borrow, default)]
    message: Obj<Box<WireMessage<'a>>>,
}

#[derive(Deserialize)]
struct WireRevoke<'a> {
    #[serde(borrow, default)]
    original_message_id: LStr<'a>,
}

#[derive(Deserialize)]
struct WireStatus<'a> {
    #[serde(borrow, default)]
    id: LStr<'a>,
    #[serde(borrow, default)]
    status: LStr<'a>,
    #[serde(default)]
    timestamp: LInt,
    #[serde(borrow, default)]
    recipient_id: LStr<'a>,
    #[serde(borrow, default)]
    recipient_user_id: LStr<'a>,
    #[serde(borrow, default)]
    recipient_logical_id: LStr<'a>,
    #[serde(borrow, default)]
    biz_opaque_callback_data: LStr<'a>,
    #[serde(borrow, default)]
    pricing: Obj<WirePricing<'a>>,
    #[serde(borrow, default)]
    errors: List<WireError<'a>>,
}

#[derive(Deserialize)]
struct WirePricing<'a> {
    #[serde(borrow, default)]
    category: LStr<'a>,
    /// `regular` (charged), `free_customer_service`, `free_entry_point`.
    #[serde(borrow, default, rename = "type")]
    kind: LStr<'a>,
}

// ---------------------------------------------------------------------------------------------
// Tolerant building blocks: never fail on a JSON type mismatch
// ---------------------------------------------------------------------------------------------

/// Drains a map or sequence that is not wanted.
fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// `visit_*` methods returning `Default::default()` (containers are drained).
macro_rules! visit_default {
    ($($kind:ident),*) => { $(visit_default!(@ $kind);)* };
    (@str) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
    (@i64) => {
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
    (@u64) => {
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
    (@f64) => {
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
    (@bool) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
    (@unit) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
    (@map) => {
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            skip_map(map)?;
            Ok(Default::default())
        }
    };
    (@seq) => {
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            skip_seq(seq)?;
            Ok(Default::default())
        }
    };
}

/// A string; numbers are accepted as their decimal text, anything else reads as absent.
#[derive(Default)]
struct LStr<'a>(Option<Cow<'a, str>>);

impl LStr<'_> {
    fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }
    fn nonempty(&self) -> Option<&str> {
        self.get().filter(|s| !s.is_empty())
    }
    fn into_string(self) -> Option<String> {
        self.0.map(Cow::into_owned)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for LStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = LStr<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(LStr(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LStr(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(LStr(Some(Cow::Owned(v))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(LStr(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(LStr(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(LStr(Some(Cow::Owned(v.to_string()))))
            }
            visit_default!(bool, unit, map, seq);
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// An integer; numeric strings are accepted.
#[derive(Default)]
struct LInt(Option<i64>);

impl LInt {
    fn or_zero(&self) -> i64 {
        self.0.unwrap_or(0)
    }
}

impl<'de> Deserialize<'de> for LInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LInt;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(LInt(Some(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(LInt(i64::try_from(v).ok()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(LInt(float_to_int(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                let v = v.trim();
                let parsed = v.parse::<i64>().ok();
                Ok(LInt(
                    parsed.or_else(|| v.parse::<f64>().ok().and_then(float_to_int)),
                ))
            }
            visit_default!(bool, unit, map, seq);
        }
        d.deserialize_any(V)
    }
}

fn float_to_int(v: f64) -> Option<i64> {
    // `as` saturates; reject what does not fit rather than clamp.
    (v.is_finite() && v >= i64::MIN as f64 && v < i64::MAX as f64).then_some(v as i64)
}

/// A float; numeric strings are accepted.
#[derive(Default)]
struct LFloat(Option<f64>);

impl<'de> Deserialize<'de> for LFloat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LFloat;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(LFloat(Some(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(LFloat(Some(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(LFloat(Some(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LFloat(
                    v.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
                ))
            }
            visit_default!(bool, unit, map, seq);
        }
        d.deserialize_any(V)
    }
}

/// A boolean; `"true"` is accepted, anything else reads as `false`.
#[derive(Default)]
struct LBool(bool);

impl<'de> Deserialize<'de> for LBool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LBool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(LBool(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LBool(v.eq_ignore_ascii_case("true")))
            }
            visit_default!(i64, u64, f64, unit, map, seq);
        }
        d.deserialize_any(V)
    }
}

/// A JSON string kept as is; an object or array is kept as its compact JSON text.
#[derive(Default)]
struct JsonText(Option<String>);

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonText(Some(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(JsonText(Some(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let value = Value::deserialize(MapAccessDeserializer::new(map))?;
                Ok(JsonText(Some(value.to_string())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                let value = Value::deserialize(SeqAccessDeserializer::new(seq))?;
                Ok(JsonText(Some(value.to_string())))
            }
            visit_default!(i64, u64, f64, bool, unit);
        }
        d.deserialize_any(V)
    }
}

/// An object typed as `T`; anything that is not an object reads as absent.
struct Obj<T>(Option<T>);

impl<T> Default for Obj<T> {
    fn default() -> Self {
        Obj(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(|t| Obj(Some(t)))
            }
            visit_default!(str, i64, u64, f64, bool, unit, seq);
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// An array of objects typed as `T`; a non-array reads as empty, non-object items are skipped.
/// Only for auxiliary data (contacts, phones, errors...), never for events.
struct List<T>(Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(item) = seq.next_element::<Obj<T>>()? {
                    items.extend(item.0);
                }
                Ok(List(items))
            }
            visit_default!(str, i64, u64, f64, bool, unit, map);
        }
        d.deserialize_any(V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::*;
    use crate::domain::InboundEvent as E;

    const PHONE_NUMBER_ID: &str = "106540352242922";
    const SHEENA: &str = "16505551234";

    fn fixture_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/whatsapp")
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = fixture_dir().join(format!("{name}.json"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn parse_fixture(name: &str) -> Vec<InboundEnvelope> {
        WhatsappWebhookParser
            .parse(&fixture(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn parse_json(value: Value) -> Vec<InboundEnvelope> {
        let body = serde_json::to_vec(&value).expect("serialize");
        WhatsappWebhookParser.parse(&body).expect("parse")
    }

    fn single(name: &str) -> InboundEnvelope {
        let mut events = parse_fixture(name);
        assert_eq!(events.len(), 1, "{name}: {events:#?}");
        events.remove(0)
    }

    /// The single message of a fixture, checked to come from Sheena on the spec's number.
    fn sheena_message(name: &str) -> InboundMessage {
        let envelope = single(name);
        assert_eq!(envelope.channel_kind, ChannelKind::Whatsapp);
        assert_eq!(envelope.account.as_str(), PHONE_NUMBER_ID);
        let E::Message(message) = envelope.event else {
            panic!("{name}: not a message: {envelope:#?}")
        };
        assert_eq!(message.customer.id.as_str(), SHEENA, "{name}");
        assert_eq!(message.customer.wa_id.as_deref(), Some(SHEENA), "{name}");
        *message
    }

    fn status_of(name: &str) -> StatusUpdate {
        let envelope = single(name);
        assert_eq!(envelope.account.as_str(), PHONE_NUMBER_ID);
        let E::Status(status) = envelope.event else {
            panic!("{name}: not a status: {envelope:#?}")
        };
        status
    }

    fn other_of(name: &str) -> (AccountId, OtherEvent) {
        let envelope = single(name);
        let E::Other(other) = envelope.event else {
            panic!("{name}: not other: {envelope:#?}")
        };
        (envelope.account, other)
    }

    fn envelope_with(field: &str, value: Value) -> Value {
        json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"value": value, "field": field}]}]
        })
    }

    fn messages_value(messages: Value) -> Value {
        json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": SHEENA}],
            "messages": messages,
        })
    }

    /// The text of the first change's `value`, exactly as in `body`.
    fn first_change_value(body: &[u8]) -> String {
        #[derive(Deserialize)]
        struct Envelope<'a> {
            #[serde(borrow)]
            entry: Vec<Entry<'a>>,
        }
        #[derive(Deserialize)]
        struct Entry<'a> {
            #[serde(borrow)]
            changes: Vec<Change<'a>>,
        }
        #[derive(Deserialize)]
        struct Change<'a> {
            #[serde(borrow)]
            value: &'a RawValue,
        }
        let envelope: Envelope<'_> = serde_json::from_slice(body).expect("envelope");
        envelope.entry[0].changes[0].value.get().to_owned()
    }

    fn is_sha256_hex(s: &str) -> bool {
        s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    // --- every fixture -------------------------------------------------------------------

    const FIXTURES: &[&str] = &[
        "audio_voice_message",
        "batch_two_entries",
        "bsuid_text_message",
        "button_message",
        "contact_sharing_message",
        "document_message",
        "edit_message",
        "group_create_message",
        "group_remove_participants",
        "group_settings_update",
        "image_message",
        "interactive_button_reply_message",
        "interactive_list_reply_message",
        "interactive_nfm_reply_message",
        "location_message",
        "message_template_status_update",
        "order_message",
        "reaction_message",
        "reaction_removed",
        "revoke_message",
        "status_delivered",
        "status_failed",
        "status_played",
        "status_read",
        "status_sent",
        "sticker_message",
        "system_message",
        "text_message",
        "text_message_from_click_to_whatsapp_ad",
        "text_message_with_context_product_inquiry",
        "unknown_message_type",
        "unsupported_message",
        "user_preferences",
        "value_errors",
        "video_message",
    ];

    #[test]
    fn every_fixture_file_is_listed_and_parses() {
        let on_disk: BTreeSet<String> = std::fs::read_dir(fixture_dir())
            .expect("fixture dir")
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".json").map(str::to_owned)
            })
            .collect();
        let listed: BTreeSet<String> = FIXTURES.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(on_disk, listed, "fixtures on disk vs listed in FIXTURES");
        for name in FIXTURES {
            let events = parse_fixture(name);
            assert!(!events.is_empty(), "{name} yields no event");
            for envelope in &events {
                assert_eq!(envelope.channel_kind, ChannelKind::Whatsapp);
                if let E::Other(o) = &envelope.event {
                    assert!(is_sha256_hex(&o.digest), "{name}: {}", o.digest);
                }
            }
        }
    }

    // --- spec examples -------------------------------------------------------------------

    #[test]
    fn text_message() {
        let m = sheena_message("text_message");
        assert_eq!(
            m.provider_id.as_str(),
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
        );
        assert_eq!(m.customer.name.as_deref(), Some("Sheena Nelson"));
        assert_eq!(m.customer.user_id, None);
        assert_eq!(m.timestamp, 1_749_416_383);
        assert_eq!(
            m.content,
            MessageContent::Text {
                body: "Does it come in another color?".into()
            }
        );
        assert_eq!(m.context, None);
        assert_eq!(m.referral, None);
    }

    #[test]
    fn text_message_with_product_context() {
        let m = sheena_message("text_message_with_context_product_inquiry");
        assert_eq!(
            m.provider_id.as_str(),
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTA2NTUwRkNEMDdFQjJCRUU0NQA="
        );
        assert_eq!(m.content.text(), Some("Is this still available?"));
        assert_eq!(
            m.context,
            Some(MessageContext {
                replied_to: Some(ProviderMessageId::new(
                    "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA"
                )),
                from: Some("15550783881".into()),
                forwarded: false,
                frequently_forwarded: false,
                referred_product: Some(ReferredProduct {
                    catalog_id: "194836987003835".into(),
                    product_retailer_id: "di9ozbzfi4".into(),
                }),
            })
        );
    }

    #[test]
    fn text_message_from_ad_has_referral() {
        let m = sheena_message("text_message_from_click_to_whatsapp_ad");
        assert_eq!(
            m.content.text(),
            Some("Hello! Can I get more info on this?")
        );
        let referral = m.referral.expect("referral");
        assert_eq!(
            referral.source_url.as_deref(),
            Some("https://fb.me/3cr4Wqqkv")
        );
        assert_eq!(referral.source_id.as_deref(), Some("120226305854810726"));
        assert_eq!(referral.source_type.as_deref(), Some("ad"));
        assert_eq!(referral.headline.as_deref(), Some("Chat with us"));
        assert_eq!(
            referral.body.as_deref(),
            Some("Summer Succulents are here!")
        );
        assert_eq!(referral.media_type.as_deref(), Some("image"));
        assert!(
            referral
                .ctwa_clid
                .as_deref()
                .is_some_and(|c| c.starts_with("Aff-n8ZT"))
        );
    }

    #[test]
    fn reaction_message() {
        let m = sheena_message("reaction_message");
        assert_eq!(
            m.content,
            MessageContent::Reaction {
                message_id: ProviderMessageId::new(
                    "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA"
                ),
                emoji: Some("👍".into()),
            }
        );
        assert_eq!(m.content.type_label(), "reaction");
    }

    #[test]
    fn image_message() {
        let m = sheena_message("image_message");
        assert_eq!(
            m.content,
            MessageContent::Media {
                kind: MediaKind::Image,
                media: Media {
                    id: Some("1003383421387256".into()),
                    mime_type: Some("image/jpeg".into()),
                    sha256: Some("SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=".into()),
                    caption: Some("Taj Mahal".into()),
                    url: None,
                },
                filename: None,
                voice: false,
                animated: false,
            }
        );
    }

    #[test]
    fn location_message() {
        let m = sheena_message("location_message");
        assert_eq!(
            m.content,
            MessageContent::Location {
                latitude: 37.44221496582,
                longitude: -122.16165924072,
                name: Some("Philz Coffee".into()),
                address: Some("101 Forest Ave, Palo Alto, CA 94301".into()),
                url: Some("https://philzcoffee.com/".into()),
            }
        );
    }

    #[test]
    fn contact_sharing_message() {
        let m = sheena_message("contact_sharing_message");
        assert_eq!(
            m.content,
            MessageContent::Contacts {
                contacts: vec![SharedContact {
                    formatted_name: Some("Lucía Gómez".into()),
                    phones: vec![SharedPhone {
                        phone: Some("+1 (983) 555-2319".into()),
                        wa_id: Some("19835552319".into()),
                        kind: Some("MOBILE".into()),
                    }],
                    emails: vec![],
                    organization: Some("Google".into()),
                }]
            }
        );
    }

    #[test]
    fn unsupported_message() {
        let m = sheena_message("unsupported_message");
        assert_eq!(
            m.provider_id.as_str(),
            "wamid.HBgLMTQyMDU1NTA3NDkVAgASGBI5N0MwRjg0RTVBNUI1RDA2OTkA"
        );
        assert_eq!(
            m.content,
            MessageContent::Unsupported {
                errors: vec![ProviderError {
                    code: 131051,
                    title: Some("Message type unknown".into()),
                    message: Some("Message type unknown".into()),
                    details: Some("Message type is currently not supported.".into()),
                }]
            }
        );
    }

    #[test]
    fn button_message() {
        let m = sheena_message("button_message");
        assert_eq!(
            m.content,
            MessageContent::Button {
                payload: Some("Unsubscribe".into()),
                text: "Unsubscribe".into()
            }
        );
        let context = m.context.expect("context");
        assert_eq!(
            context.replied_to.as_ref().map(ProviderMessageId::as_str),
            Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJFNjk2OTMwNEZCQjhGMzUyQUYA")
        );
        assert_eq!(context.from.as_deref(), Some("15550783881"));
    }

    #[test]
    fn interactive_list_reply_message() {
        let m = sheena_message("interactive_list_reply_message");
        assert_eq!(
            m.content,
            MessageContent::ListReply {
                id: "priority_express".into(),
                title: "Priority Mail Express".into(),
                description: Some("Next Day to 2 Days".into()),
            }
        );
        assert!(m.context.is_some());
    }

    #[test]
    fn interactive_button_reply_message() {
        let m = sheena_message("interactive_button_reply_message");
        assert_eq!(
            m.content,
            MessageContent::ButtonReply {
                id: "cancel-button".into(),
                title: "Cancel".into()
            }
        );
        assert_eq!(m.timestamp, 1_750_025_136);
    }

    #[test]
    fn order_message() {
        let m = sheena_message("order_message");
        let item = |id: &str, quantity: f64, item_price: f64| OrderItem {
            product_retailer_id: id.into(),
            quantity,
            item_price,
            currency: "USD".into(),
        };
        assert_eq!(
            m.content,
            MessageContent::Order {
                catalog_id: Some("194836987003835".into()),
                text: Some(String::new()),
                items: vec![item("di9ozbzfi4", 2.0, 30.0), item("nqryix03ez", 1.0, 25.0)],
            }
        );
    }

    #[test]
    fn system_message_without_contacts() {
        let m = sheena_message("system_message");
        assert_eq!(m.customer.name, None);
        assert_eq!(
            m.content,
            MessageContent::System {
                body: Some("User Sheena Nelson changed from 16505551234 to 12195555358".into()),
                system_type: Some("user_changed_number".into()),
                new_wa_id: Some("12195555358".into()),
            }
        );
    }

    #[test]
    fn group_fields_are_other() {
        for (name, field) in [
            ("group_create_message", "group_lifecycle_update"),
            ("group_settings_update", "group_settings_update"),
            ("group_remove_participants", "group_participants_update"),
        ] {
            let (account, other) = other_of(name);
            assert_eq!(account.as_str(), PHONE_NUMBER_ID, "{name}");
            assert_eq!(other.field, field, "{name}");
            assert_eq!(
                other.value["groups"][0]["group_id"],
                "Y2FwaV9ncm91cDoxODA1NTU1MDE3MjoxMjAzNjMyMjI3NzE5NjMwNjcZD"
            );
            let raw: Value = serde_json::from_slice(&fixture(name)).expect("json");
            assert_eq!(
                other.value, raw["entry"][0]["changes"][0]["value"],
                "{name}"
            );
            assert_eq!(other.raw, None, "{name}: well-formed, kept as its value");
            let text = first_change_value(&fixture(name));
            assert_eq!(other.digest, digest(field, Part::Value, &text));
        }
    }

    // --- hand-written fixtures -----------------------------------------------------------

    const OUT_ID: &str = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA";

    #[test]
    fn status_sent() {
        let s = status_of("status_sent");
        assert_eq!(
            s,
            StatusUpdate {
                provider_id: ProviderMessageId::new(OUT_ID),
                status: DeliveryStatus::Sent,
                raw_status: "sent".into(),
                timestamp: 1_750_263_773,
                recipient: CustomerId::new(SHEENA),
                errors: vec![],
                pricing_category: Some("utility".into()),
                pricing_type: Some("regular".into()),
                biz_opaque_callback_data: Some("0197a5c4-6f1e-7c2a-9d3b-5e8f1a2b3c4d".into()),
            }
        );
    }

    #[test]
    fn status_delivered_read_played() {
        let s = status_of("status_delivered");
        assert_eq!(s.status, DeliveryStatus::Delivered);
        assert_eq!(s.provider_id.as_str(), OUT_ID);
        assert_eq!(s.timestamp, 1_750_263_774);
        assert_eq!(s.pricing_category.as_deref(), Some("utility"));

        let s = status_of("status_read");
        assert_eq!(s.status, DeliveryStatus::Read);
        assert_eq!(s.raw_status, "read");
        assert_eq!(s.recipient.as_str(), SHEENA);
        assert_eq!(s.pricing_category, None);

        let s = status_of("status_played");
        assert_eq!(s.status, DeliveryStatus::Played);
        assert_eq!(
            s.provider_id.as_str(),
            "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJBQ0UxMjM0NTY3ODlBQkNERUYA"
        );
        assert_eq!(s.timestamp, 1_750_263_900);
    }

    #[test]
    fn status_failed_carries_errors() {
        let s = status_of("status_failed");
        assert_eq!(s.status, DeliveryStatus::Failed);
        assert_eq!(
            s.errors,
            vec![ProviderError {
                code: 131026,
                title: Some("Message undeliverable".into()),
                message: Some("Message undeliverable".into()),
                details: Some("Message Undeliverable.".into()),
            }]
        );
    }

    #[test]
    fn value_level_errors() {
        let envelope = single("value_errors");
        assert_eq!(envelope.account.as_str(), PHONE_NUMBER_ID);
        assert_eq!(envelope.customer(), None);
        assert_eq!(envelope.type_label(), "error");
        let E::Error(error) = &envelope.event else {
            panic!("not an error: {envelope:#?}")
        };
        assert_eq!(error.errors.len(), 1);
        assert_eq!(error.errors[0].code, 130429);
        assert_eq!(error.errors[0].title.as_deref(), Some("Rate limit hit"));
        assert_eq!(
            error.errors[0].details.as_deref(),
            Some("Cloud API message throughput has been reached.")
        );
        #[derive(Deserialize)]
        struct Errors<'a> {
            #[serde(borrow)]
            errors: &'a RawValue,
        }
        let value = first_change_value(&fixture("value_errors"));
        let errors: Errors<'_> = serde_json::from_str(&value).expect("errors");
        assert_eq!(
            error.digest,
            digest("messages", Part::Errors, errors.errors.get())
        );
        assert_eq!(
            envelope.dedupe_key(),
            format!("e:{}:{}", envelope.account, error.digest)
        );
    }

    #[test]
    fn audio_voice_note() {
        let m = sheena_message("audio_voice_message");
        let MessageContent::Media {
            kind,
            media,
            voice,
            animated,
            filename,
        } = m.content
        else {
            panic!("not media")
        };
        assert_eq!(kind, MediaKind::Audio);
        assert!(voice);
        assert!(!animated);
        assert_eq!(filename, None);
        assert_eq!(media.id.as_deref(), Some("1215194677037265"));
        assert_eq!(media.mime_type.as_deref(), Some("audio/ogg; codecs=opus"));
        assert!(
            media
                .url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://lookaside.fbsbx.com/"))
        );
    }

    #[test]
    fn video_document_sticker() {
        let m = sheena_message("video_message");
        assert!(matches!(
            &m.content,
            MessageContent::Media { kind: MediaKind::Video, media, voice: false, animated: false, filename: None }
                if media.caption.as_deref() == Some("Unboxing") && media.id.as_deref() == Some("2754859441498128")
        ));
        assert_eq!(m.content.text(), Some("Unboxing"));

        let m = sheena_message("document_message");
        assert!(matches!(
            &m.content,
            MessageContent::Media { kind: MediaKind::Document, media, filename: Some(f), .. }
                if f == "invoice-2025-05.pdf" && media.mime_type.as_deref() == Some("application/pdf")
        ));

        let m = sheena_message("sticker_message");
        assert!(matches!(
            &m.content,
            MessageContent::Media { kind: MediaKind::Sticker, media, animated: true, .. }
                if media.id.as_deref() == Some("887766554433221")
        ));
        assert_eq!(m.content.type_label(), "sticker");
    }

    #[test]
    fn flow_reply() {
        let m = sheena_message("interactive_nfm_reply_message");
        assert_eq!(
            m.content,
            MessageContent::FlowReply {
                name: Some("flow".into()),
                body: Some("Sent".into()),
                response_json: Some(
                    r#"{"flow_token":"appointment-42","date":"2025-06-20","slot":"10:00"}"#.into()
                ),
            }
        );
    }

    #[test]
    fn reaction_removed_has_no_emoji() {
        let m = sheena_message("reaction_removed");
        assert_eq!(
            m.content,
            MessageContent::Reaction {
                message_id: ProviderMessageId::new(
                    "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA"
                ),
                emoji: None,
            }
        );
        assert_eq!(m.content.type_label(), "unreaction");

        // A missing emoji is a removal too.
        let events = parse_json(envelope_with(
            "messages",
            messages_value(json!([{
                "from": SHEENA, "id": "wamid.R", "timestamp": "1", "type": "reaction",
                "reaction": {"message_id": "wamid.X"}
            }])),
        ));
        assert!(matches!(
            &events[0].event,
            E::Message(m) if matches!(m.content, MessageContent::Reaction { emoji: None, .. })
        ));
    }

    #[test]
    fn edit_types_inner_content() {
        let m = sheena_message("edit_message");
        assert_eq!(
            m.provider_id.as_str(),
            "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUFCMDAwMDAwMDAwMDAwMDAwNwA="
        );
        assert_eq!(
            m.content,
            MessageContent::Edit {
                original_message_id: ProviderMessageId::new(
                    "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
                ),
                content: Box::new(MessageContent::Text {
                    body: "Does it come in another colour?".into()
                }),
            }
        );
    }

    #[test]
    fn revoke() {
        let m = sheena_message("revoke_message");
        assert_eq!(
            m.content,
            MessageContent::Revoke {
                original_message_id: ProviderMessageId::new(
                    "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
                ),
            }
        );
    }

    #[test]
    fn bsuid_contact_without_wa_id() {
        let envelope = single("bsuid_text_message");
        let E::Message(m) = envelope.event else {
            panic!("not a message")
        };
        assert_eq!(
            m.customer,
            Customer {
                id: CustomerId::new("US.13491208655302741918"),
                wa_id: None,
                user_id: Some("US.13491208655302741918".into()),
                name: Some("Kai".into()),
                ..Customer::default()
            }
        );
        assert_eq!(m.content.text(), Some("Hi, I use a username now"));
    }

    #[test]
    fn template_status_update_is_other_with_waba_account() {
        let (account, other) = other_of("message_template_status_update");
        // No metadata in this field: the account falls back to the WABA id.
        assert_eq!(account.as_str(), "102290129340398");
        assert_eq!(other.field, "message_template_status_update");
        assert_eq!(other.value["event"], "APPROVED");
        assert_eq!(
            other.value["message_template_id"],
            1_689_556_908_129_832_u64
        );
        assert!(is_sha256_hex(&other.digest));
    }

    #[test]
    fn user_preferences_is_other() {
        let (account, other) = other_of("user_preferences");
        assert_eq!(account.as_str(), PHONE_NUMBER_ID);
        assert_eq!(other.field, "user_preferences");
        assert_eq!(other.value["user_preferences"][0]["value"], "stop");
    }

    #[test]
    fn unknown_message_type_is_kept() {
        let m = sheena_message("unknown_message_type");
        assert_eq!(
            m.content,
            MessageContent::Unknown {
                type_name: "hologram".into()
            }
        );
        assert_eq!(
            m.provider_id.as_str(),
            "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUFCMDAwMDAwMDAwMDAwMDAxMAA="
        );
    }

    #[test]
    fn batch_order_accounts_and_customers() {
        let events = parse_fixture("batch_two_entries");
        let summary: Vec<(&str, &str, &str, &str)> = events
            .iter()
            .map(|e| {
                let id = match &e.event {
                    E::Message(m) => m.provider_id.as_str(),
                    E::Status(s) => s.provider_id.as_str(),
                    _ => panic!("unexpected {e:#?}"),
                };
                let customer = e.customer().map(CustomerId::as_str).unwrap_or_default();
                (e.account.as_str(), id, customer, e.type_label())
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (PHONE_NUMBER_ID, "wamid.BATCH01", "16505550001", "text"),
                (PHONE_NUMBER_ID, "wamid.BATCH02", "16505550002", "image"),
                (PHONE_NUMBER_ID, "wamid.BATCH03", "16505550001", "text"),
                (PHONE_NUMBER_ID, "wamid.OUT01", "16505550003", "status_sent"),
                (
                    PHONE_NUMBER_ID,
                    "wamid.OUT02",
                    "16505550004",
                    "status_delivered"
                ),
                ("106540352242923", "wamid.BATCH04", "447700900005", "text"),
                (
                    "106540352242923",
                    "wamid.BATCH05",
                    "447700900006",
                    "reaction"
                ),
                (
                    "106540352242923",
                    "wamid.BATCH06",
                    "4915100000007",
                    "location"
                ),
            ]
        );
        let names: Vec<Option<&str>> = events
            .iter()
            .filter_map(|e| match &e.event {
                E::Message(m) => Some(m.customer.name.as_deref()),
                _ => None,
            })
            .collect();
        assert_eq!(
            names,
            vec![
                Some("Ana Lima"),
                Some("Ben Okafor"),
                Some("Ana Lima"),
                Some("Chloe Martin"),
                Some("Dev Patel"),
                Some("Eva Schmidt"),
            ]
        );
    }

    // --- envelope errors -----------------------------------------------------------------

    #[test]
    fn malformed_bodies_are_errors() {
        for body in [
            &b""[..],
            b"{",
            b"not json",
            b"[]",
            b"null",
            b"\"whatsapp_business_account\"",
            br#"["whatsapp_business_account", []]"#,
            br#"{"object": "whatsapp_business_account"}"#,
            br#"{"entry": []}"#,
            br#"{"object": "whatsapp_business_account", "entry": {}}"#,
            br#"{"object": 1, "entry": []}"#,
            br#"{"object": "whatsapp_business_account", "entry": []} trailing"#,
        ] {
            let result = WhatsappWebhookParser.parse(body);
            assert!(
                matches!(result, Err(ParseError::Json(_))),
                "{}: {result:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn wrong_object_is_rejected() {
        let result = WhatsappWebhookParser.parse(br#"{"object": "page", "entry": []}"#);
        assert!(matches!(result, Err(ParseError::UnexpectedObject(o)) if o == "page"));
    }

    #[test]
    fn empty_entry_is_ok() {
        let events = WhatsappWebhookParser
            .parse(br#"{"object":"whatsapp_business_account","entry":[]}"#)
            .expect("parse");
        assert!(events.is_empty());
        assert_eq!(WhatsappWebhookParser.kind(), ChannelKind::Whatsapp);
    }

    // --- tolerance -----------------------------------------------------------------------

    #[test]
    fn unknown_fields_and_odd_scalars_are_tolerated() {
        let events = parse_json(json!({
            "object": "whatsapp_business_account",
            "unexpected": {"deep": [1, 2, 3]},
            "entry": [{
                "id": 102290129340398_u64,
                "time": 1750000000,
                "changes": [{
                    "field": "messages",
                    "extra": true,
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"phone_number_id": 106540352242922_u64},
                        "contacts": [{"profile": "not an object", "wa_id": 16505551234_u64, "country_code": "US"}],
                        "messages": [{
                            "from": SHEENA,
                            "id": "wamid.T",
                            "timestamp": 1750000001,
                            "type": "location",
                            "location": {"latitude": "52.5", "longitude": 13, "name": ["odd"]},
                            "context": {"forwarded": true, "frequently_forwarded": "true", "id": null},
                            "internal_1p_only_data": {"a": 1},
                        }],
                        "statuses": [{
                            "id": "wamid.S",
                            "status": "failed",
                            "timestamp": 1750000002,
                            "recipient_id": SHEENA,
                            "errors": [{"code": "131026", "error_data": "odd"}, "junk"],
                            "pricing": [],
                        }],
                    }
                }]
            }]
        }));
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].account.as_str(), PHONE_NUMBER_ID);
        let E::Message(m) = &events[0].event else {
            panic!("not a message")
        };
        assert_eq!(m.customer.id.as_str(), SHEENA);
        assert_eq!(m.customer.name, None);
        assert_eq!(m.timestamp, 1_750_000_001);
        assert_eq!(
            m.content,
            MessageContent::Location {
                latitude: 52.5,
                longitude: 13.0,
                name: None,
                address: None,
                url: None
            }
        );
        let context = m.context.as_ref().expect("context");
        assert!(context.forwarded && context.frequently_forwarded);
        assert_eq!(context.replied_to, None);

        let E::Status(s) = &events[1].event else {
            panic!("not a status")
        };
        assert_eq!(s.timestamp, 1_750_000_002);
        assert_eq!(s.errors.len(), 1);
        assert_eq!(s.errors[0].code, 131026);
        assert_eq!(s.errors[0].details, None);
        assert_eq!(s.pricing_category, None);
    }

    #[test]
    fn escaped_strings_are_decoded() {
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Luc\u00eda"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.E","timestamp":"1","type":"text","text":{"body":"line\nnext \ud83d\udc4d"}}]}}]}]}"#;
        let events = WhatsappWebhookParser.parse(body).expect("parse");
        let E::Message(m) = &events[0].event else {
            panic!("not a message")
        };
        assert_eq!(m.customer.name.as_deref(), Some("Lucía"));
        assert_eq!(m.content.text(), Some("line\nnext 👍"));
    }

    #[test]
    fn untypable_bodies_become_unknown() {
        let events = parse_json(envelope_with(
            "messages",
            messages_value(json!([
                {"from": SHEENA, "id": "wamid.1", "timestamp": "1", "type": "text", "text": "flat string"},
                {"from": SHEENA, "id": "wamid.2", "timestamp": "2", "type": "image"},
                {"from": SHEENA, "id": "wamid.3", "timestamp": "3", "type": "location", "location": {"name": "x"}},
                {"from": SHEENA, "id": "wamid.4", "timestamp": "4"},
                {"from": SHEENA, "id": "wamid.5", "timestamp": "5", "type": "interactive",
                 "interactive": {"type": "call_permission_reply", "call_permission_reply": {}}},
                {"from": SHEENA, "id": "wamid.6", "timestamp": "6", "type": "edit", "edit": {"original_message_id": "wamid.0"}},
                {"from": SHEENA, "id": "wamid.7", "timestamp": "7", "type": "unknown",
                 "errors": [{"code": 131051, "title": "Message type unknown"}]},
                {"from": SHEENA, "id": "wamid.8", "timestamp": "8", "type": "edit",
                 "edit": {"original_message_id": "wamid.0", "message": {"type": "sticker", "sticker": {"id": "9"}}}},
                {"from": SHEENA, "id": "wamid.9", "timestamp": "9", "type": "interactive",
                 "interactive": {"button_reply": {"id": "yes", "title": "Yes"}}},
            ])),
        ));
        let contents: Vec<MessageContent> = events
            .into_iter()
            .map(|e| match e.event {
                E::Message(m) => m.content,
                other => panic!("not a message: {other:#?}"),
            })
            .collect();
        let unknown = |t: &str| MessageContent::Unknown {
            type_name: t.into(),
        };
        assert_eq!(contents[0], unknown("text"));
        assert_eq!(contents[1], unknown("image"));
        assert_eq!(contents[2], unknown("location"));
        assert_eq!(contents[3], unknown(""));
        assert_eq!(contents[4], unknown("interactive.call_permission_reply"));
        assert_eq!(contents[5], unknown("edit"));
        assert!(
            matches!(&contents[6], MessageContent::Unsupported { errors } if errors[0].code == 131051)
        );
        assert!(matches!(
            &contents[7],
            MessageContent::Edit { content, .. }
                if matches!(**content, MessageContent::Media { kind: MediaKind::Sticker, .. })
        ));
        assert_eq!(
            contents[8],
            MessageContent::ButtonReply {
                id: "yes".into(),
                title: "Yes".into()
            }
        );
        assert_eq!(contents.len(), 9);
    }

    #[test]
    fn message_without_id_or_identity_is_other() {
        let no_id =
            json!({"from": SHEENA, "timestamp": "1", "type": "text", "text": {"body": "a"}});
        let nobody =
            json!({"id": "wamid.N", "timestamp": "1", "type": "text", "text": {"body": "b"}});
        let mut value = messages_value(
            json!([no_id, 42, {"from": SHEENA, "id": "wamid.OK", "type": "text", "text": {"body": "c"}}]),
        );
        let events = parse_json(envelope_with("messages", value.clone()));
        assert_eq!(events.len(), 3);
        assert!(
            matches!(&events[0].event, E::Other(o) if o.field == "messages" && o.value == no_id
                && o.raw.as_deref() == Some(no_id.to_string().as_str())
                && o.digest == digest("messages", Part::Message, &no_id.to_string()))
        );
        assert!(matches!(&events[1].event, E::Other(o) if o.value == json!(42)));
        assert!(
            matches!(&events[2].event, E::Message(m) if m.provider_id.as_str() == "wamid.OK" && m.timestamp == 0)
        );

        // No from, no contacts: nothing identifies the customer.
        value["contacts"] = json!([]);
        value["messages"] = json!([nobody]);
        let events = parse_json(envelope_with("messages", value.clone()));
        assert!(matches!(&events[0].event, E::Other(o) if o.value == nobody));

        // from_logical_id is the last resort.
        value["messages"][0]["from_logical_id"] = json!("LID.77");
        let events = parse_json(envelope_with("messages", value));
        assert!(matches!(&events[0].event, E::Message(m) if m.customer.id.as_str() == "LID.77"));
    }

    #[test]
    fn customer_matching() {
        let value = json!({
            "metadata": {"phone_number_id": PHONE_NUMBER_ID},
            "contacts": [
                {"profile": {"name": "A"}, "wa_id": "111"},
                {"profile": {"name": "B"}, "wa_id": "222", "user_id": "US.B"},
                {"profile": {"name": "C"}, "user_id": "US.C"},
            ],
            "messages": [
                {"from": "222", "id": "m1", "type": "text", "text": {"body": "x"}},
                {"from_user_id": "US.C", "id": "m2", "type": "text", "text": {"body": "x"}},
                {"from": "333", "id": "m3", "type": "text", "text": {"body": "x"}},
                {"from_user_id": "US.B", "id": "m4", "type": "text", "text": {"body": "x"}},
            ],
        });
        let customers: Vec<Customer> = parse_json(envelope_with("messages", value))
            .into_iter()
            .map(|e| match e.event {
                E::Message(m) => m.customer,
                other => panic!("{other:#?}"),
            })
            .collect();
        let c = |id: &str, wa: Option<&str>, user: Option<&str>, name: Option<&str>| Customer {
            id: CustomerId::new(id),
            wa_id: wa.map(Into::into),
            user_id: user.map(Into::into),
            name: name.map(Into::into),
            ..Customer::default()
        };
        assert_eq!(
            customers,
            vec![
                c("222", Some("222"), Some("US.B"), Some("B")),
                c("US.C", None, Some("US.C"), Some("C")),
                c("333", Some("333"), None, None),
                c("222", Some("222"), Some("US.B"), Some("B")),
            ]
        );

        // The only contact is used when it does not contradict the message.
        let only = |contact: Value, message: Value| {
            let value = json!({"metadata": {"phone_number_id": "1"}, "contacts": [contact], "messages": [message]});
            match parse_json(envelope_with("messages", value)).remove(0).event {
                E::Message(m) => m.customer,
                other => panic!("{other:#?}"),
            }
        };
        let text = json!({"type": "text", "text": {"body": "x"}});
        let mut m = text.clone();
        m["id"] = json!("m5");
        assert_eq!(
            only(json!({"profile": {"name": "D"}, "wa_id": "444"}), m.clone()),
            c("444", Some("444"), None, Some("D"))
        );
        m["from"] = json!("555");
        assert_eq!(
            only(json!({"profile": {"name": "D"}, "wa_id": "444"}), m),
            c("555", Some("555"), None, None)
        );
    }

    #[test]
    fn status_variants() {
        let value = json!({
            "metadata": {"phone_number_id": PHONE_NUMBER_ID},
            "statuses": [
                {"id": "wamid.A", "status": "deleted", "timestamp": "10", "recipient_id": "1"},
                {"id": "wamid.B", "status": "read", "timestamp": "x", "recipient_user_id": "US.9"},
                {"id": "wamid.C", "status": "sent", "timestamp": "11"},
                {"status": "sent", "timestamp": "12", "recipient_id": "1"},
            ],
        });
        let events = parse_json(envelope_with("messages", value));
        assert_eq!(events.len(), 4);
        let E::Status(a) = &events[0].event else {
            panic!()
        };
        assert_eq!(
            (a.status, a.raw_status.as_str(), a.timestamp),
            (DeliveryStatus::Other, "deleted", 10)
        );
        assert_eq!(events[0].type_label(), "status_other");
        let E::Status(b) = &events[1].event else {
            panic!()
        };
        assert_eq!(
            (b.status, b.recipient.as_str(), b.timestamp),
            (DeliveryStatus::Read, "US.9", 0)
        );
        assert!(matches!(&events[2].event, E::Other(o) if o.value["id"] == "wamid.C"));
        assert!(matches!(&events[3].event, E::Other(o) if o.value["timestamp"] == "12"));
    }

    #[test]
    fn structural_junk_inside_envelope_is_other() {
        let events = parse_json(json!({
            "object": "whatsapp_business_account",
            "entry": [
                "junk",
                {"id": "W1", "changes": {"not": "an array"}},
                {"id": "W2", "changes": [7, {"field": "messages"}, {"field": "messages", "value": {"messages": "x"}}]},
                {"id": "W3", "changes": [{"field": "messages", "value": {"metadata": {"phone_number_id": "P"}, "contacts": []}}]},
                {"id": "W4"},
            ]
        }));
        let summary: Vec<(&str, &str, Value)> = events
            .iter()
            .map(|e| match &e.event {
                E::Other(o) => (e.account.as_str(), o.field.as_str(), o.value.clone()),
                other => panic!("{other:#?}"),
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("", INVALID_ENTRY_FIELD, json!("junk")),
                ("W1", INVALID_CHANGES_FIELD, json!({"not": "an array"})),
                ("W2", INVALID_CHANGE_FIELD, json!(7)),
                ("W2", "messages", Value::Null),
                // A non-array `messages` is reported alone (its siblings would be typed).
                ("W2", "messages", json!("x")),
                (
                    "P",
                    "messages",
                    json!({"metadata": {"phone_number_id": "P"}, "contacts": []})
                ),
            ]
        );
    }

    /// One odd message of a `changes[]` value: each flaw in turn, between two good siblings.
    fn odd_messages() -> Vec<(&'static str, String, String)> {
        let good = |id: &str| {
            format!(
                r#"{{"from":"{SHEENA}","id":"{id}","timestamp":"1","type":"text","text":{{"body":"hi"}}}}"#
            )
        };
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        [
            ("lone surrogate", r#"{"from":"16505551234","id":"wamid.\ud800","type":"text","text":{"body":"x"}}"#.to_string()),
            ("lone surrogate in text", r#"{"from":"16505551234","id":"wamid.S2","type":"text","text":{"body":"\udc00"}}"#.to_string()),
            ("huge number", r#"{"from":"16505551234","id":"wamid.N","timestamp":1e400,"type":"text","text":{"body":"x"}}"#.to_string()),
            ("deep nesting", format!(r#"{{"from":"16505551234","id":{deep},"type":"text","text":{{"body":"x"}}}}"#)),
            ("duplicate key", r#"{"from":"16505551234","id":"wamid.D1","id":"wamid.D2","type":"text","text":{"body":"x"}}"#.to_string()),
            ("not an object", r#"[1,2,3]"#.to_string()),
            ("oversized id", format!(r#"{{"from":"16505551234","id":"{}","type":"text","text":{{"body":"x"}}}}"#, "w".repeat(10_000))),
        ]
        .into_iter()
        .map(|(name, odd)| {
            let messages = format!("[{},{odd},{}]", good("wamid.G1"), good("wamid.G2"));
            (name, odd, messages)
        })
        .collect()
    }

    fn body_with_messages(messages: &str, statuses: &str) -> Vec<u8> {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"metadata":{{"phone_number_id":"{PHONE_NUMBER_ID}"}},"contacts":[{{"profile":{{"name":"Sheena"}},"wa_id":"{SHEENA}"}}],"messages":{messages},"statuses":{statuses}}}}}]}}]}}"#
        )
        .into_bytes()
    }

    #[test]
    fn an_odd_message_does_not_take_its_siblings_down() {
        let mut keys = BTreeSet::new();
        for (name, odd, messages) in odd_messages() {
            let body = body_with_messages(&messages, "[]");
            let events = WhatsappWebhookParser
                .parse(&body)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let ids: Vec<Option<&str>> = events
                .iter()
                .map(|e| match &e.event {
                    E::Message(m) => Some(m.provider_id.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(ids, [Some("wamid.G1"), None, Some("wamid.G2")], "{name}");
            assert!(
                events.iter().all(|e| e.account.as_str() == PHONE_NUMBER_ID),
                "{name}"
            );
            // The odd one keeps its text as received, and its own dedupe key...
            let E::Other(other) = &events[1].event else {
                panic!("{name}: {events:#?}")
            };
            assert_eq!(other.raw.as_deref(), Some(odd.as_str()), "{name}");
            assert_eq!(other.field, MESSAGES_FIELD);
            assert!(
                keys.insert(events[1].dedupe_key()),
                "{name}: a key of its own"
            );
            // ... which its redelivery repeats.
            let again = WhatsappWebhookParser.parse(&body).expect("parse");
            assert_eq!(again[1].dedupe_key(), events[1].dedupe_key(), "{name}");
        }
    }

    #[test]
    fn an_unreadable_value_of_another_field_is_kept_as_text() {
        let body = |text: &str| {
            format!(
                r#"{{"object":"whatsapp_business_account","entry":[{{"id":"W","changes":[{{"field":"message_template_status_update","value":{{"event":"APPROVED","reason":"{text}"}}}}]}}]}}"#
            )
        };
        let a = WhatsappWebhookParser
            .parse(body(r"\ud800a").as_bytes())
            .expect("parse");
        let b = WhatsappWebhookParser
            .parse(body(r"\ud800b").as_bytes())
            .expect("parse");
        let E::Other(other) = &a[0].event else {
            panic!("{a:#?}")
        };
        assert_eq!(other.value, Value::Null);
        assert_eq!(
            other.raw.as_deref(),
            Some(r#"{"event":"APPROVED","reason":"\ud800a"}"#)
        );
        assert_ne!(a[0].dedupe_key(), b[0].dedupe_key());
    }

    #[test]
    fn invalid_json_inside_the_envelope_is_still_a_400() {
        // Not JSON at all (an escape that is no escape): the body is refused, nothing is typed.
        let body = body_with_messages(r#"[{"id":"wamid.X","text":{"body":"\u12"}}]"#, "[]");
        assert!(matches!(
            WhatsappWebhookParser.parse(&body),
            Err(ParseError::Json(_))
        ));
    }

    #[test]
    fn a_non_array_statuses_does_not_take_the_messages_down() {
        let good = format!(
            r#"[{{"from":"{SHEENA}","id":"wamid.G","type":"text","text":{{"body":"hi"}}}}]"#
        );
        let events = WhatsappWebhookParser
            .parse(&body_with_messages(&good, r#"{"id":"wamid.S"}"#))
            .expect("parse");
        assert_eq!(events.len(), 2, "{events:#?}");
        assert!(matches!(&events[0].event, E::Message(m) if m.provider_id.as_str() == "wamid.G"));
        assert!(matches!(&events[1].event, E::Other(o) if o.field == "messages"));
    }

    // --- dedupe and digests --------------------------------------------------------------

    #[test]
    fn dedupe_keys() {
        let sent = single("status_sent");
        let delivered = single("status_delivered");
        let read = single("status_read");
        assert_eq!(sent.dedupe_key(), format!("s:{OUT_ID}:sent"));
        assert_ne!(sent.dedupe_key(), delivered.dedupe_key());
        assert_ne!(delivered.dedupe_key(), read.dedupe_key());
        // A redelivery of the same body yields the same keys.
        assert_eq!(sent.dedupe_key(), single("status_sent").dedupe_key());
        assert_eq!(
            single("text_message").dedupe_key(),
            "m:wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
        );
        let batch_a: Vec<String> = parse_fixture("batch_two_entries")
            .iter()
            .map(InboundEnvelope::dedupe_key)
            .collect();
        let batch_b: Vec<String> = parse_fixture("batch_two_entries")
            .iter()
            .map(InboundEnvelope::dedupe_key)
            .collect();
        assert_eq!(batch_a, batch_b);
        assert_eq!(batch_a.iter().collect::<BTreeSet<_>>().len(), batch_a.len());

        let template = single("message_template_status_update");
        assert_eq!(
            template.dedupe_key(),
            single("message_template_status_update").dedupe_key()
        );
        assert_ne!(
            template.dedupe_key(),
            single("user_preferences").dedupe_key()
        );
        assert_eq!(
            single("value_errors").dedupe_key(),
            single("value_errors").dedupe_key()
        );
    }

    #[test]
    fn digest_is_sha256_of_field_part_and_text_as_received() {
        let m = Part::Message;
        assert_eq!(
            digest("f", m, r#"{"a":1}"#),
            "33f69d6c3db2cfd8ee23fa154cc4be04e6127af27b61b80034417d530de8b979"
        );
        assert_ne!(digest("g", m, r#"{"a":1}"#), digest("f", m, r#"{"a":1}"#));
        assert_ne!(
            digest("f", Part::Status, r#"{"a":1}"#),
            digest("f", m, r#"{"a":1}"#)
        );
        assert_ne!(digest("f", m, r#"{"a":2}"#), digest("f", m, r#"{"a":1}"#));
        // The text as received: the same JSON written differently is another fragment.
        assert_ne!(digest("f", m, r#"{"a": 1}"#), digest("f", m, r#"{"a":1}"#));
    }
}
