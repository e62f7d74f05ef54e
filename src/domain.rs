//! Domain types: parsed once at the edge, then used by actors and stores.
//!
//! Nothing past the HTTP edge sees raw provider JSON: a channel parses its webhook into
//! [`InboundEnvelope`]s and turns [`OutboundContent`] into its own send format.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype!(
    /// A configured channel, e.g. `wa-support` (one WhatsApp phone number).
    ChannelId
);
string_newtype!(
    /// The provider's id of the business account the event is for: WhatsApp's
    /// `metadata.phone_number_id`, a Messenger page id, ...
    AccountId
);
string_newtype!(
    /// The customer on a channel: WhatsApp `wa_id`, or the business-scoped `user_id` when the
    /// phone number is withheld; a Messenger PSID; ...
    CustomerId
);
string_newtype!(
    /// The provider's message id (WhatsApp `wamid.…`).
    ProviderMessageId
);
string_newtype!(
    /// A team name from configuration.
    TeamId
);
string_newtype!(
    /// An agent id from configuration (`alice`).
    AgentId
);

/// An agent's availability. Only `online` agents with room are assigned conversations.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Online,
    Away,
    #[default]
    Offline,
}

impl Presence {
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Online => "online",
            Presence::Away => "away",
            Presence::Offline => "offline",
        }
    }
    pub const ALL: [Presence; 3] = [Presence::Online, Presence::Away, Presence::Offline];
}

/// One live conversation thread: one customer on one channel. Stable across restarts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConversationKey(String);

impl ConversationKey {
    pub fn new(channel: &ChannelId, customer: &CustomerId) -> Self {
        Self(format!("{}:{}", channel.as_str(), customer.as_str()))
    }
    /// Rebuild from the stored form.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The partition (of `count`) this conversation's events go through. Stable across
    /// processes, builds and nodes (XXH3 of the key), as cluster mode requires: every node must
    /// agree on which partition, hence which owner, a conversation has.
    pub fn partition(&self, count: usize) -> usize {
        let count = count.max(1) as u64;
        (xxhash_rust::xxh3::xxh3_64(self.0.as_bytes()) % count) as usize
    }
}

impl fmt::Display for ConversationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Our own id for a message we store (inbound or outbound). Time-ordered (UUID v7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(uuid::Uuid);

impl MessageId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7())
    }
    pub fn parse(s: &str) -> Option<Self> {
        uuid::Uuid::parse_str(s).ok().map(Self)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Whatsapp,
    Messenger,
    Instagram,
    Webchat,
    Telegram,
    X,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Whatsapp => "whatsapp",
            ChannelKind::Messenger => "messenger",
            ChannelKind::Instagram => "instagram",
            ChannelKind::Webchat => "webchat",
            ChannelKind::Telegram => "telegram",
            ChannelKind::X => "x",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Inbound
// ---------------------------------------------------------------------------------------------

/// One event parsed from a webhook, with the business account it was addressed to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboundEnvelope {
    pub channel_kind: ChannelKind,
    /// The business account (WhatsApp phone_number_id) the event was sent to; the gateway
    /// maps it to a configured [`ChannelId`].
    pub account: AccountId,
    pub event: InboundEvent,
    /// The provider's id of the delivery this event came in, for channels that number their
    /// deliveries (Telegram's `update_id`, unique per bot): a redelivery is recognised by it.
    /// `None` (WhatsApp): the event's own ids decide (see [`InboundEnvelope::dedupe_key`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
}

impl InboundEnvelope {
    /// The key that makes a redelivery recognisable: a message by its provider id, a status by
    /// provider id + status, anything else by a digest of its content (set by the parser);
    /// on channels that number their deliveries, by that number (per account).
    pub fn dedupe_key(&self) -> String {
        if let Some(delivery) = &self.delivery_id {
            return format!(
                "d:{}:{}:{}",
                self.channel_kind.as_str(),
                self.account,
                delivery
            );
        }
        match &self.event {
            InboundEvent::Message(m) => format!("m:{}", m.provider_id),
            InboundEvent::Status(s) => format!("s:{}:{}", s.provider_id, s.raw_status),
            InboundEvent::Error(e) => format!("e:{}:{}", self.account, e.digest),
            InboundEvent::Other(o) => format!("o:{}:{}", self.account, o.digest),
        }
    }

    /// The customer this event belongs to, if it belongs to a conversation at all.
    pub fn customer(&self) -> Option<&CustomerId> {
        match &self.event {
            InboundEvent::Message(m) => Some(&m.customer.id),
            InboundEvent::Status(s) => Some(&s.recipient),
            InboundEvent::Error(_) | InboundEvent::Other(_) => None,
        }
    }

    /// A short label for metrics and logs: `text`, `image`, `status_read`, `error`, ...
    pub fn type_label(&self) -> &'static str {
        match &self.event {
            InboundEvent::Message(m) => m.content.type_label(),
            InboundEvent::Status(s) => match s.status {
                DeliveryStatus::Sent => "status_sent",
                DeliveryStatus::Delivered => "status_delivered",
                DeliveryStatus::Read => "status_read",
                DeliveryStatus::Played => "status_played",
                DeliveryStatus::Failed => "status_failed",
                DeliveryStatus::Other => "status_other",
            },
            InboundEvent::Error(_) => "error",
            InboundEvent::Other(_) => "other",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InboundEvent {
    /// Boxed: a message is several times larger than the other events.
    Message(Box<InboundMessage>),
    Status(StatusUpdate),
    /// Value-level errors (no message or status attached), e.g. 130429 on the account.
    Error(AccountError),
    /// Any other webhook field (template status, user preferences, group events, account
    /// updates, ...) or an unknown one: recorded and acknowledged, not routed to a conversation.
    Other(OtherEvent),
}

/// The customer as the webhook describes them.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct Customer {
    /// Stable conversation identity: `wa_id` when present, else the business-scoped `user_id`.
    pub id: CustomerId,
    /// The phone number (WhatsApp id), when Meta shares it.
    pub wa_id: Option<String>,
    /// Business-scoped user id (BSUID), when present.
    pub user_id: Option<String>,
    /// Profile name.
    pub name: Option<String>,
    /// A phone number the channel vouches is this customer's own (Telegram: a contact the user
    /// shared of themselves, whose number Telegram verified). Links the customer to the contact
    /// already known by that number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_phone: Option<String>,
    /// The language the channel says the customer uses (Telegram's `language_code`, an IETF
    /// tag such as `es` or `pt-BR`): the bot speaks it when it can, unless the contact already
    /// has a language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// An email address the customer gave (a web chat's pre-chat or offline form): it fills
    /// the contact's `email` field when that is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub provider_id: ProviderMessageId,
    pub customer: Customer,
    /// Unix seconds, as the provider stamped it.
    pub timestamp: i64,
    pub content: MessageContent,
    pub context: Option<MessageContext>,
    pub referral: Option<Referral>,
    /// Hand the conversation to a person at once, skipping the bot (set by the gateway, never
    /// by a provider: a web chat's offline form, left for the agents to answer later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<HandoffRequest>,
}

/// A request, carried by an inbound message, to hand its conversation to a team's queue at
/// once, as the bot's handoff step would.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HandoffRequest {
    /// `None`: automatic routing (the routing rules, then the default team).
    pub team: Option<TeamId>,
    /// Why, for agents and logs.
    pub reason: String,
}

/// Reply context, forwarding flags and product enquiries.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct MessageContext {
    /// The message replied to.
    pub replied_to: Option<ProviderMessageId>,
    /// The business number the replied-to message came from.
    pub from: Option<String>,
    pub forwarded: bool,
    pub frequently_forwarded: bool,
    pub referred_product: Option<ReferredProduct>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReferredProduct {
    pub catalog_id: String,
    pub product_retailer_id: String,
}

/// Click-to-WhatsApp ad or post referral.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct Referral {
    pub source_url: Option<String>,
    pub source_id: Option<String>,
    pub source_type: Option<String>,
    pub headline: Option<String>,
    pub body: Option<String>,
    pub media_type: Option<String>,
    pub ctwa_clid: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Media {
    pub id: Option<String>,
    pub mime_type: Option<String>,
    pub sha256: Option<String>,
    pub caption: Option<String>,
    pub url: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Audio,
    Video,
    Document,
    Sticker,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharedContact {
    pub formatted_name: Option<String>,
    pub phones: Vec<SharedPhone>,
    pub emails: Vec<String>,
    pub organization: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharedPhone {
    pub phone: Option<String>,
    pub wa_id: Option<String>,
    pub kind: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderItem {
    pub product_retailer_id: String,
    pub quantity: f64,
    pub item_price: f64,
    pub currency: String,
}

/// What a customer sent, typed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessageContent {
    Text {
        body: String,
    },
    Media {
        kind: MediaKind,
        media: Media,
        /// Documents only.
        filename: Option<String>,
        /// Audio only: a voice note.
        voice: bool,
        /// Stickers only.
        animated: bool,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
        url: Option<String>,
    },
    Contacts {
        contacts: Vec<SharedContact>,
    },
    /// Interactive reply button pressed.
    ButtonReply {
        id: String,
        title: String,
    },
    /// Interactive list row chosen.
    ListReply {
        id: String,
        title: String,
        description: Option<String>,
    },
    /// WhatsApp Flow completed (`nfm_reply`); `response_json` is the raw JSON string.
    FlowReply {
        name: Option<String>,
        body: Option<String>,
        response_json: Option<String>,
    },
    /// Template quick-reply button.
    Button {
        payload: Option<String>,
        text: String,
    },
    /// A reaction; `emoji: None` means the reaction was removed.
    Reaction {
        message_id: ProviderMessageId,
        emoji: Option<String>,
    },
    Order {
        catalog_id: Option<String>,
        text: Option<String>,
        items: Vec<OrderItem>,
    },
    /// System notice (number change, identity change...).
    System {
        body: Option<String>,
        system_type: Option<String>,
        new_wa_id: Option<String>,
    },
    /// The customer edited an earlier message.
    Edit {
        original_message_id: ProviderMessageId,
        content: Box<MessageContent>,
    },
    /// The customer deleted an earlier message.
    Revoke {
        original_message_id: ProviderMessageId,
    },
    /// Meta could not deliver the content to us (`type: unsupported`) .
    Unsupported {
        errors: Vec<ProviderError>,
    },
    /// A message type this version does not know yet: kept, never a failure.
    Unknown {
        type_name: String,
    },
}

impl MessageContent {
    pub fn type_label(&self) -> &'static str {
        match self {
            MessageContent::Text { .. } => "text",
            MessageContent::Media { kind, .. } => kind.as_str(),
            MessageContent::Location { .. } => "location",
            MessageContent::Contacts { .. } => "contacts",
            MessageContent::ButtonReply { .. } => "button_reply",
            MessageContent::ListReply { .. } => "list_reply",
            MessageContent::FlowReply { .. } => "flow_reply",
            MessageContent::Button { .. } => "button",
            MessageContent::Reaction { emoji: Some(_), .. } => "reaction",
            MessageContent::Reaction { emoji: None, .. } => "unreaction",
            MessageContent::Order { .. } => "order",
            MessageContent::System { .. } => "system",
            MessageContent::Edit { .. } => "edit",
            MessageContent::Revoke { .. } => "revoke",
            MessageContent::Unsupported { .. } => "unsupported",
            MessageContent::Unknown { .. } => "unknown",
        }
    }

    /// A plain-text rendering for logs, previews and keyword matching.
    pub fn text(&self) -> Option<&str> {
        match self {
            MessageContent::Text { body } => Some(body),
            MessageContent::ButtonReply { title, .. } => Some(title),
            MessageContent::ListReply { title, .. } => Some(title),
            MessageContent::Button { text, .. } => Some(text),
            MessageContent::Media { media, .. } => media.caption.as_deref(),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProviderError {
    pub code: i64,
    pub title: Option<String>,
    pub message: Option<String>,
    pub details: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    Played,
    Failed,
    /// A status value this version does not know.
    Other,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Read => "read",
            DeliveryStatus::Played => "played",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Other => "other",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    pub provider_id: ProviderMessageId,
    pub status: DeliveryStatus,
    /// The raw status string as received (useful when `status` is `Other`).
    pub raw_status: String,
    pub timestamp: i64,
    pub recipient: CustomerId,
    pub errors: Vec<ProviderError>,
    pub pricing_category: Option<String>,
    /// Meta's pricing type: `regular` is charged, the `free_*` types are not.
    #[serde(default)]
    pub pricing_type: Option<String>,
    pub biz_opaque_callback_data: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountError {
    pub errors: Vec<ProviderError>,
    /// Digest of the error's JSON, for dedupe.
    pub digest: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OtherEvent {
    /// The webhook `field` (e.g. `message_template_status_update`, `group_lifecycle_update`).
    pub field: String,
    /// The change's `value` (or the item of it that could not be typed) as JSON; null when
    /// serde_json cannot read it (see `raw`).
    pub value: serde_json::Value,
    /// The fragment's JSON text exactly as received, when it was not understood: an item
    /// (message, status, ...) that could not be typed, or text serde_json cannot read (a lone
    /// surrogate escape, a number out of range, nesting too deep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// Digest of the fragment's text as received (with `field` and its place in the body), for
    /// dedupe: a redelivery repeats it, two different fragments never share it.
    pub digest: String,
}

// ---------------------------------------------------------------------------------------------
// Outbound
// ---------------------------------------------------------------------------------------------

/// What the business sends, independent of the channel's wire format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutboundContent {
    Text {
        body: String,
        #[serde(default)]
        preview_url: bool,
    },
    Media {
        kind: MediaKind,
        source: MediaSource,
        caption: Option<String>,
        filename: Option<String>,
    },
    /// Up to three quick-reply buttons.
    Buttons {
        body: String,
        header: Option<String>,
        footer: Option<String>,
        buttons: Vec<ReplyButton>,
    },
    /// A list menu.
    List {
        body: String,
        header: Option<String>,
        footer: Option<String>,
        button: String,
        sections: Vec<ListSection>,
    },
    /// A pre-approved template; `components` follows the provider's template component format.
    Template {
        name: String,
        language: String,
        #[serde(default)]
        components: serde_json::Value,
        /// Sent through Meta's Marketing Messages API (`/marketing_messages`) rather than
        /// `/messages` (marketing templates of campaigns, when configured).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        marketing_api: bool,
        /// The campaign it is sent for: its sender lets every live message go first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        campaign: Option<String>,
    },
}

impl OutboundContent {
    /// Whether it is a campaign's message (it gives way to live ones).
    pub fn is_campaign(&self) -> bool {
        matches!(
            self,
            OutboundContent::Template {
                campaign: Some(_),
                ..
            }
        )
    }

    pub fn type_label(&self) -> &'static str {
        match self {
            OutboundContent::Text { .. } => "text",
            OutboundContent::Media { kind, .. } => kind.as_str(),
            OutboundContent::Buttons { .. } => "buttons",
            OutboundContent::List { .. } => "list",
            OutboundContent::Template { .. } => "template",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaSource {
    /// A media id uploaded to the provider.
    Id(String),
    /// A public https link.
    Link(String),
    /// A file of our media store, by its media id (an agent's attachment a channel sends with
    /// the bytes themselves: Telegram's multipart `sendPhoto`, `sendDocument`...).
    Stored(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplyButton {
    pub id: String,
    pub title: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListSection {
    pub title: Option<String>,
    pub rows: Vec<ListRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListRow {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
}

/// An outbound message as recorded before sending, and handed to the channel's sender.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    pub id: MessageId,
    pub conversation: ConversationKey,
    pub channel: ChannelId,
    pub to: CustomerId,
    pub content: OutboundContent,
    /// Quote this provider message (WhatsApp `context.message_id`).
    pub reply_to: Option<ProviderMessageId>,
}

/// Who wrote a stored message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sender {
    Customer,
    Bot,
    Agent,
    /// A business system, through its API key (`POST /api/v1/contacts/{id}/messages`).
    Api,
}

impl Sender {
    pub fn as_str(self) -> &'static str {
        match self {
            Sender::Customer => "customer",
            Sender::Bot => "bot",
            Sender::Agent => "agent",
            Sender::Api => "api",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_stable_and_spread() {
        let key = ConversationKey::new(&ChannelId::new("support"), &CustomerId::new("16505551234"));
        // Pinned: every node of a cluster, whatever its build, must compute the same value.
        assert_eq!(
            xxhash_rust::xxh3::xxh3_64(key.as_str().as_bytes()),
            xxhash_rust::xxh3::xxh3_64(b"support:16505551234")
        );
        let pinned = key.partition(16);
        assert_eq!(pinned, key.partition(16), "deterministic");
        assert_eq!(key.partition(1), 0);
        assert_eq!(key.partition(0), 0, "a zero count is treated as one");
        let mut counts = [0usize; 16];
        for n in 0..16_000 {
            let key = ConversationKey::new(
                &ChannelId::new("support"),
                &CustomerId::new(format!("3460{n:07}")),
            );
            counts[key.partition(16)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "even spread: {counts:?}"
        );
    }
}
