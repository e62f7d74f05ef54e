//! The durable store seam: contacts, conversations, messages and the inbound event log; and
//! the people who serve them (users, teams, sessions, tokens, the audit log: the
//! [`AccountStore`] every store is too).
//!
//! The embedded default is SQLite ([`sqlite::SqliteStore`]); several nodes share PostgreSQL
//! ([`postgres::PostgresStore`]). [`open`] picks one by `database.url`. In both, writes go
//! through one writer task that groups concurrent writes into one transaction, so one fsync
//! serves many webhooks (PostgreSQL's account writes, rare, are each their own transaction:
//! see `postgres_accounts`).

pub mod accounts;
mod accounts_rows;
mod country;
mod levels;
pub mod postgres;
mod postgres_accounts;
mod postgres_erase;
mod postgres_push;
mod postgres_reports;
pub mod push;
pub mod reports;
pub(crate) mod rows;
pub mod side;
pub mod sqlite;
mod sqlite_accounts;
mod sqlite_accounts_writer;
mod sqlite_erase;
mod sqlite_push;
mod sqlite_reports;
mod sqlite_writer;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use self::accounts::{AccountError, AccountStore};
pub use self::push::PushStore;
pub use self::reports::ReportStore;
use crate::config::DatabaseSettings;
use crate::domain::{
    AgentId, ChannelId, ConversationKey, CustomerId, DeliveryStatus, InboundEnvelope, MessageId,
    OutboundMessage, ProviderMessageId, Sender, StatusUpdate, TeamId,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write queue is full: shed the request (503 + Retry-After).
    #[error("store overloaded")]
    Overloaded,
    /// The store is shutting down or its writer died.
    #[error("store unavailable")]
    Unavailable,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The database engine failed (a driver other than sqlx: the SQLite writer).
    #[error("database: {0}")]
    Engine(String),
    /// The write lost a race and changed nothing: the conversation was changed by another
    /// owner since it was loaded, or the event was already processed. Reload and carry on.
    #[error("conflict: {0}")]
    Conflict(String),
}

impl StoreError {
    /// The database cannot be reached right now (or the store sheds load): the caller should
    /// answer 503 and retry later, rather than report an internal error.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Overloaded | StoreError::Unavailable => true,
            StoreError::Database(e) => is_connection_error(e),
            _ => false,
        }
    }
}

/// A lost or refused connection (the database restarting, unreachable, shutting down), as
/// opposed to an error of the statement: nothing more can be done on that connection.
pub(crate) fn is_connection_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 57P01-03: admin/crash shutdown, cannot connect now.
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// An inbound event to record: the parsed envelope, the channel it maps to (None when no
/// configured channel owns the account), and its conversation (None for account-level events).
#[derive(Clone, Debug)]
pub struct NewInbound {
    pub dedupe_key: String,
    pub channel: Option<ChannelId>,
    pub conversation: Option<ConversationKey>,
    pub envelope: InboundEnvelope,
}

/// What `record_inbound` hands back: every event with its sequence (None = redelivery).
pub type Recorded = Vec<(NewInbound, Option<i64>)>;

/// An inbound event as recorded, with its position in the log.
#[derive(Clone, Debug)]
pub struct RecordedInbound {
    pub seq: i64,
    pub channel: ChannelId,
    pub conversation: ConversationKey,
    pub envelope: InboundEnvelope,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    /// The bot is talking.
    Bot,
    /// Handed off, waiting for a human.
    Waiting,
    /// An agent has it.
    Assigned,
    Snoozed,
    Resolved,
}

impl ConversationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Bot => "bot",
            ConversationStatus::Waiting => "waiting",
            ConversationStatus::Assigned => "assigned",
            ConversationStatus::Snoozed => "snoozed",
            ConversationStatus::Resolved => "resolved",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "bot" => ConversationStatus::Bot,
            "waiting" => ConversationStatus::Waiting,
            "assigned" => ConversationStatus::Assigned,
            "snoozed" => ConversationStatus::Snoozed,
            "resolved" => ConversationStatus::Resolved,
            _ => return None,
        })
    }
}

/// A JSON value kept as its text. A conversation's bot state and routing trace live in the
/// memory of every live conversation actor: as text they take a fraction of a parsed
/// [`serde_json::Value`] (whose objects are B-tree nodes), and the bot state is parsed only when
/// the bot takes a step.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JsonText(Box<serde_json::value::RawValue>);

impl JsonText {
    /// `null`.
    pub fn null() -> Self {
        Self(serde_json::value::RawValue::NULL.to_owned())
    }

    /// `value`, serialized.
    pub fn of<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(Self)
    }

    pub fn is_null(&self) -> bool {
        self.0.get() == "null"
    }

    /// The value, read as a `T`.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl From<serde_json::Value> for JsonText {
    fn from(value: serde_json::Value) -> Self {
        // A `Value` always serializes.
        Self::of(&value).unwrap_or_else(|_| Self::null())
    }
}

/// A conversation's durable state: everything its actor needs to resume.
#[derive(Clone, Debug, PartialEq)]
pub struct ConversationRecord {
    /// Our id for this conversation (a customer's later conversation after resolve gets a new one).
    pub id: String,
    pub key: ConversationKey,
    pub channel: ChannelId,
    pub customer: CustomerId,
    pub status: ConversationStatus,
    pub team: Option<TeamId>,
    /// The bot's serialized state (position in the flow, counters...).
    pub bot_state: JsonText,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub handoff_at: Option<i64>,
    /// The last inbound log sequence this conversation consumed.
    pub last_seq: i64,
    /// The agent who has it (assigned), or had it last (snoozed, resolved).
    pub assignee: Option<AgentId>,
    /// Queue priority (higher first), set by routing.
    pub priority: i32,
    /// The routing decision with its trace (JSON), for agents and logs.
    pub route: Option<JsonText>,
    pub assigned_at: Option<i64>,
    pub first_response_at: Option<i64>,
    pub resolved_at: Option<i64>,
    /// Reopens by itself at this time (unix ms), or when the customer writes.
    pub snoozed_until: Option<i64>,
    /// When the customer last wrote (unix ms, the provider's timestamp): Meta's 24-hour
    /// customer-service window runs from it.
    pub last_inbound_at: Option<i64>,
    /// What its SLA clocks read (docs/REPORTS.md, "SLAs").
    pub sla: crate::reports::sla::SlaMarks,
    /// Steps committed so far (0: not stored yet). A step commits only over the version it was
    /// computed from, so two owners of one conversation can never both write.
    pub version: i64,
}

impl ConversationRecord {
    /// A new conversation for a customer, in the bot's hands.
    pub fn new(
        key: ConversationKey,
        channel: ChannelId,
        customer: CustomerId,
        now_ms: i64,
    ) -> Self {
        Self {
            id: MessageId::generate().to_string(),
            key,
            channel,
            customer,
            status: ConversationStatus::Bot,
            team: None,
            bot_state: JsonText::null(),
            created_at: now_ms,
            updated_at: now_ms,
            handoff_at: None,
            last_seq: 0,
            assignee: None,
            priority: 0,
            route: None,
            assigned_at: None,
            first_response_at: None,
            resolved_at: None,
            snoozed_until: None,
            last_inbound_at: None,
            sla: Default::default(),
            version: 0,
        }
    }

    /// What agents see of the conversation (everything but the bot's internals), with its
    /// channel's messaging window and its SLA clocks now.
    pub fn view(
        &self,
        contact: Option<&ContactRecord>,
        windows: &crate::channels::ChannelWindows,
        sla: &crate::reports::sla_rules::SlaRules,
    ) -> serde_json::Value {
        let now = chrono::Utc::now().timestamp_millis();
        let window = windows
            .rule(&self.channel, &self.customer)
            .view(self.last_inbound_at, now);
        serde_json::json!({
            "id": self.id,
            "channel": self.channel,
            "channel_kind": crate::channels::kind_of(&self.customer).as_str(),
            "customer": {
                "id": self.customer,
                "name": contact.and_then(|c| c.name.clone()),
                "phone": contact.and_then(|c| c.phone.clone()),
            },
            "status": self.status.as_str(),
            "team": self.team,
            "assignee": self.assignee,
            "priority": self.priority,
            "route": self.route,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "handoff_at": self.handoff_at,
            "assigned_at": self.assigned_at,
            "first_response_at": self.first_response_at,
            "resolved_at": self.resolved_at,
            "snoozed_until": self.snoozed_until,
            "last_inbound_at": self.last_inbound_at,
            "window": window,
            "sla": sla.view(self, now),
        })
    }
}

/// The customer's profile on a channel kind: what the bot learned and what agents see.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct ContactRecord {
    pub customer: CustomerId,
    pub name: Option<String>,
    /// The phone number, when the channel shares it.
    pub phone: Option<String>,
    pub language: Option<String>,
    pub fields: BTreeMap<String, String>,
    pub tags: Vec<String>,
}

/// A contact as a step writes it: the whole contact (inserted when none is stored under its
/// id) and what the step changed in it (applied field by field to the stored one otherwise, so
/// an older copy in another conversation's memory never undoes a newer write).
#[derive(Clone, Debug, PartialEq)]
pub struct ContactWrite {
    pub contact: ContactRecord,
    pub changes: crate::crm::contact::ContactChanges,
}

impl ContactWrite {
    /// The contact was `before` when the step began and is `after` now.
    pub fn new(before: &ContactRecord, after: ContactRecord) -> Self {
        Self {
            changes: crate::crm::contact::ContactChanges::between(before, &after),
            contact: after,
        }
    }

    /// Everything `contact` holds, as set by a writer that knows all of it.
    pub fn whole(contact: ContactRecord) -> Self {
        let empty = ContactRecord {
            customer: contact.customer.clone(),
            ..ContactRecord::default()
        };
        Self::new(&empty, contact)
    }
}

/// A channel a contact reached us on, and its address there (for WhatsApp, its `wa_id`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ContactIdentity {
    pub channel: ChannelId,
    pub address: String,
    /// When its first conversation on that channel began (unix ms).
    pub first_seen: i64,
}

/// An inbound message to store as part of a step (the customer's side of the transcript).
#[derive(Clone, Debug)]
pub struct InboundMessageRecord {
    pub id: MessageId,
    pub provider_id: ProviderMessageId,
    pub kind: String,
    /// The typed content as JSON.
    pub body: serde_json::Value,
    /// Provider timestamp, unix seconds.
    pub sent_at: i64,
}

/// Everything one processed event changes, committed atomically: the conversation's state, the
/// contact, the message(s), and the inbound log cursor. Replaying an event after a crash is
/// therefore safe: either all of this happened, or none of it.
///
/// The commit is fenced: it fails with [`StoreError::Conflict`] and changes nothing when the
/// event is already processed, when the conversation's stored version is not the one the step
/// was computed from (`conversation.version`; 0 inserts a new conversation, which conflicts if
/// the customer already has an open one), so a second owner of a conversation can never write
/// over the first. On success the stored version is `conversation.version + 1`.
#[derive(Clone, Debug)]
pub struct ConversationStep {
    /// The inbound log entry this step consumed, marked processed in the same transaction.
    pub processed_seq: Option<i64>,
    /// None for an event of a customer we never had a conversation with (a stray status).
    pub conversation: Option<ConversationRecord>,
    pub contact: Option<ContactWrite>,
    /// The customer proved this phone number (digits, [`crate::crm::contact::phone_digits`]):
    /// when another contact has it, this conversation's contact joins that one (its
    /// identities and what it knows move; see [`Store::merge_contacts`]).
    pub link_phone: Option<String>,
    /// The customer's WhatsApp business-scoped user id, first seen beside their number: it
    /// names this conversation's customer from now on (messages and statuses that carry it
    /// alone come here), and it becomes an identity of the contact; a contact known by it
    /// alone (it wrote first without a number) joins this one's, as [`Self::link_phone`] does.
    pub alias: Option<String>,
    pub inbound_message: Option<InboundMessageRecord>,
    /// Outbound messages to record as `queued` before they are sent.
    pub outbound: Vec<(OutboundMessage, Sender)>,
    /// A delivery status to apply to the outbound message it names.
    pub status: Option<StatusUpdate>,
    /// The agent acting in this step: author of its outbound messages sent as `Sender::Agent`
    /// and of its note.
    pub agent: Option<AgentId>,
    /// A private note (never sent to the customer).
    pub note: Option<(MessageId, String)>,
    /// Assignment and status events, for reports.
    pub events: Vec<ConversationEvent>,
    /// Console events to append to agents' logs once the step is committed.
    pub console: Vec<ConsoleOutboxEntry>,
    /// Events for the business systems' webhooks (the webhook outbox, `webhook_events`),
    /// committed with the step; fanned out to the subscribed endpoints and delivered by the
    /// webhook lane ([`crate::integrations::webhooks`]).
    pub webhooks: Vec<WebhookOutboxEntry>,
    /// The business-hours calendars of the conversation's teams before and after the step,
    /// for the business-hours variants of the report times (docs/REPORTS.md).
    pub calendars: crate::reports::hours::TeamCalendars,
}

impl ConversationStep {
    /// A step that changes only the conversation (an agent's action, an assignment).
    pub fn update(conversation: ConversationRecord) -> Self {
        Self {
            conversation: Some(conversation),
            ..Self::empty()
        }
    }

    /// A step that changes nothing yet.
    pub fn empty() -> Self {
        Self {
            processed_seq: None,
            conversation: None,
            contact: None,
            link_phone: None,
            alias: None,
            inbound_message: None,
            outbound: Vec::new(),
            status: None,
            agent: None,
            note: None,
            events: Vec::new(),
            console: Vec::new(),
            webhooks: Vec::new(),
            calendars: Default::default(),
        }
    }
}

/// An assignment or status event of a conversation (`assigned`, `offered`, `queued`,
/// `transferred`, `resolved`, `snoozed`, `reopened`, `routed`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConversationEvent {
    pub kind: String,
    pub agent: Option<AgentId>,
    pub team: Option<TeamId>,
    pub detail: Option<String>,
}

/// One entry of an agent's console event log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentEventRecord {
    pub seq: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub created_at: i64,
    /// The console outbox entry this event comes from: appending it settles the entry.
    #[serde(skip)]
    pub outbox_id: Option<String>,
}

/// A console event a conversation step committed, waiting to be appended to its agent's log
/// (the transactional outbox: the step and its console events are durable together, so a
/// crash between the commit and the append loses no event; what is left is appended at start
/// or by a sweep).
#[derive(Clone, Debug, PartialEq)]
pub struct ConsoleOutboxEntry {
    pub id: String,
    pub agent: AgentId,
    pub kind: String,
    pub payload: serde_json::Value,
    pub created_at: i64,
    /// The conversation whose step committed it (None: written before it was recorded).
    pub conversation: Option<ConversationKey>,
}

/// An event for the business systems' webhooks, committed with its conversation step (the
/// webhook outbox; see docs/WEBHOOKS.md for `payload`'s shape).
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookOutboxEntry {
    /// `msg_…`: the `webhook-id` every delivery of this event carries.
    pub id: String,
    /// `message.created`, `conversation.assigned`…
    pub kind: String,
    /// Deliveries to one endpoint keep the order of one conversation's events.
    pub conversation: ConversationKey,
    /// For the endpoints' filters.
    pub team: Option<TeamId>,
    pub channel: ChannelId,
    /// `{"type", "timestamp", "data"}`.
    pub payload: serde_json::Value,
    pub created_at: i64,
}

/// Which conversations a console list asks for. `visible_teams` limits the result to the
/// agent's teams (plus conversations assigned to `viewer`).
#[derive(Clone, Debug, Default)]
pub struct ConversationFilter {
    pub viewer: Option<AgentId>,
    pub visible_teams: Vec<TeamId>,
    pub status: Option<ConversationStatus>,
    pub team: Option<TeamId>,
    pub assignee: Option<AgentId>,
    pub unassigned: bool,
    /// Only customers whose id (their number, on WhatsApp) ends with these digits (digits only:
    /// search by the last digits works on masked numbers too).
    pub customer_suffix: Option<String>,
    /// Free text, lowercased: the customer's name, digits of their number (when the text is
    /// a number), or the text of a message, note or caption.
    pub text: Option<String>,
    pub channel: Option<ChannelId>,
    /// Only customers with this contact tag.
    pub tag: Option<String>,
    /// Keyset paging: only conversations listed after this one (newest activity first).
    pub after: Option<ListCursor>,
    pub limit: i64,
}

/// What the CRM's contact list asks for.
#[derive(Clone, Debug, Default)]
pub struct ContactFilter {
    /// Free text, lowercased: the name, the email field, digits of the phone number (when the
    /// text is a number), or an identity's address.
    pub text: Option<String>,
    pub tag: Option<String>,
    pub language: Option<String>,
    /// Only contacts with an identity on this channel.
    pub channel: Option<ChannelId>,
    /// Keyset paging: only contacts listed after this one (`id` is the contact's id).
    pub after: Option<ListCursor>,
    pub limit: i64,
}

/// `events` with `data.contact` set to `contact` as webhook events show it (a contact edit's
/// events are made before the write knows the contact it leaves).
pub(crate) fn with_contact(
    events: &[WebhookOutboxEntry],
    contact: &ContactRecord,
) -> Vec<WebhookOutboxEntry> {
    events
        .iter()
        .cloned()
        .map(|mut e| {
            e.payload["data"]["contact"] =
                crate::integrations::webhooks::events::contact_view(contact);
            e
        })
        .collect()
}

/// A contact before and after an update; `None`: no such contact.
pub type ContactUpdate = Option<(ContactRecord, ContactRecord)>;

/// Meta's error for a marketing template to a customer who stopped marketing messages from the
/// business: the send's failure is an opt-out in the consent ledger (source `error_131050`),
/// appended in the same transaction as the failure, once per message.
pub const STOPPED_MARKETING: i64 = 131_050;

/// The ledger entry a 131050 failure appends, for the outbound message named by
/// `messages.<column> = ?` (its conversation's channel and customer): placeholders id, proof,
/// at, then the message's id or provider id.
pub(crate) fn stopped_marketing_sql(column: &str) -> String {
    format!(
        "INSERT INTO consent_events (id, channel, address, event, source, proof, actor, ref, at)
         SELECT ?, c.channel, c.customer, 'opted_out', 'error_131050', ?, NULL,
                'error_131050:' || m.id, ?
         FROM messages m JOIN conversations c ON c.id = m.conversation_id
         WHERE m.{column} = ? AND m.direction = 'outbound'
         ON CONFLICT DO NOTHING"
    )
}

/// Meta's error for a marketing template not delivered "to maintain healthy ecosystem
/// engagement" (the per-user marketing limit; also what US numbers get for marketing): never
/// sent again at once. The failure schedules a retry (`template_retries`, sent later by
/// `campaigns::retries`) in the same transaction, once per message.
pub const HEALTHY_ECOSYSTEM: i64 = 131_049;

/// The retry a 131049 failure schedules, for the outbound template named by
/// `messages.<column> = ?`: its channel, customer and content, and which retry it is (one more
/// than the retry that sent it, if one did). Placeholders: failed at, then the message's id or
/// provider id.
pub(crate) fn marketing_retry_sql(column: &str) -> String {
    format!(
        "INSERT INTO template_retries (failed_message, channel, customer, content, attempt,
                                       failed_at, state, lease_until)
         SELECT m.id, c.channel, c.customer, m.body,
                COALESCE((SELECT r.attempt FROM template_retries r
                          WHERE r.sent_message = m.id), 0) + 1,
                ?, 'due', 0
         FROM messages m JOIN conversations c ON c.id = m.conversation_id
         WHERE m.{column} = ? AND m.direction = 'outbound' AND m.kind = 'template'
         ON CONFLICT DO NOTHING"
    )
}

/// The proof text of a 131050 opt-out.
pub(crate) fn stopped_marketing_proof(reason: Option<&str>) -> String {
    match reason {
        Some(reason) if !reason.trim().is_empty() => format!(
            "Meta error 131050 (the customer stopped marketing messages from this business): {}",
            reason.chars().take(300).collect::<String>()
        ),
        _ => "Meta error 131050: the customer stopped marketing messages from this business".into(),
    }
}

/// The redaction marker an erased message's body becomes (its kind becomes `erased`).
pub const ERASED_BODY: &str = r#"{"type":"erased"}"#;

/// What [`Store::erase_contact`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Erasure {
    /// No contact is known by that id or address.
    NoSuchContact,
    /// The contact has conversations not resolved yet (their ids): nothing was changed.
    Open(Vec<String>),
    Erased(ErasedContact),
}

/// A contact erased: what was there (never its values) and what remains to be removed outside
/// the database.
#[derive(Clone, Debug, PartialEq)]
pub struct ErasedContact {
    /// The identities it had: their conversations' actors drop what they hold.
    pub identities: Vec<ContactIdentity>,
    /// Its conversations (kept, with the opaque customer id instead of its address).
    pub conversations: u64,
    /// Messages whose bodies were replaced by [`ERASED_BODY`].
    pub messages: u64,
    /// Media records deleted.
    pub media: u64,
    /// Media blobs no remaining record names: delete them from the media store.
    pub blobs: Vec<String>,
}

/// A contact in the CRM's list.
#[derive(Clone, Debug, PartialEq)]
pub struct ContactListing {
    pub contact: ContactRecord,
    pub created_at: i64,
    pub updated_at: i64,
    /// What the contact did (first seen is `created_at`).
    pub behaviour: crate::crm::behaviour::ContactBehaviour,
}

/// Where a page of conversations ended: the last one's `updated_at` and id. Lists are ordered by
/// `(updated_at, id)` descending, so the next page is everything strictly below it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListCursor {
    pub updated_at: i64,
    pub id: String,
}

impl ListCursor {
    pub fn of(c: &ConversationRecord) -> Self {
        Self {
            updated_at: c.updated_at,
            id: c.id.clone(),
        }
    }

    /// The opaque form handed to clients.
    pub fn encode(&self) -> String {
        format!("{}~{}", self.updated_at, self.id)
    }

    pub fn decode(s: &str) -> Option<Self> {
        let (at, id) = s.split_once('~')?;
        let updated_at = at.parse().ok()?;
        (!id.is_empty() && id.len() <= 128).then(|| Self {
            updated_at,
            id: id.to_string(),
        })
    }
}

/// `text` as a LIKE pattern matching it anywhere (`\` escapes LIKE's wildcards).
pub fn like_anywhere(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}

/// The digits of a search text that is a phone number (at least 3 digits, and nothing but
/// digits, spaces, `+`, `-`, `(`, `)` and `.`).
pub fn phone_digits(text: &str) -> Option<String> {
    let phone_like = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')' | '.'));
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    (phone_like && digits.len() >= 3 && digits.len() <= 15).then_some(digits)
}

/// The outcome of sending one recorded outbound message.
#[derive(Clone, Debug, PartialEq)]
pub enum OutboundOutcome {
    /// The provider accepted it (`sent` is set by the status webhook later).
    Accepted {
        provider_id: Option<ProviderMessageId>,
    },
    /// Failed for good (permanent error, or retries exhausted).
    Failed { code: Option<i64>, reason: String },
}

/// Where a recorded outbound message stands before its outcome is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutboundState {
    /// Recorded, never handed to the provider: safe to send.
    Queued,
    /// Claimed for sending: it may or may not have reached the provider.
    Sending,
}

/// An outbound message without an outcome yet (to resume after a restart or a takeover).
#[derive(Clone, Debug)]
pub struct PendingOutbound {
    pub message: OutboundMessage,
    pub state: OutboundState,
    /// When it was recorded or claimed (unix ms).
    pub updated_at: i64,
}

/// What a retention pass deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Processed inbound events (and with them their dedupe keys).
    pub inbound_events: u64,
    pub agent_events: u64,
    pub orphan_statuses: u64,
}

/// A stored message, as a transcript shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredMessage {
    pub id: String,
    pub conversation_id: String,
    pub direction: String,
    pub sender: String,
    pub kind: String,
    pub body: serde_json::Value,
    pub provider_id: Option<String>,
    /// Outbound: queued, sending, accepted, sent, delivered, read, played, failed. Inbound:
    /// received.
    pub status: String,
    pub error_code: Option<i64>,
    pub error_reason: Option<String>,
    pub attempts: i64,
    pub created_at: i64,
    /// The agent who wrote it (outbound agent messages and notes).
    pub author: Option<String>,
}

/// Counts for readiness, tests and the load test's checks.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StoreCounts {
    pub inbound_events: i64,
    pub unprocessed_events: i64,
    pub conversations: i64,
    pub messages: i64,
}

/// The durable record: conversations and their events here, people in [`AccountStore`],
/// notifications in [`PushStore`], reports in [`ReportStore`].
#[async_trait]
pub trait Store: AccountStore + PushStore + ReportStore + Send + Sync + 'static {
    /// Record inbound events durably, in order, in one grouped commit. Each event comes back
    /// with its log sequence if it is new, `None` if it was recorded before (a redelivery).
    async fn record_inbound(&self, events: Vec<NewInbound>) -> Result<Recorded, StoreError>;

    /// A conversation's inbound events not yet processed with a sequence above `after_seq`, in
    /// log order. (Sequences of concurrent writers may commit out of order: an event below a
    /// sequence already processed can still be unprocessed.)
    async fn unprocessed_for(
        &self,
        key: &ConversationKey,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<RecordedInbound>, StoreError>;

    /// Conversations with unprocessed inbound events recorded before `before_ms` (unix ms).
    async fn conversations_with_backlog(
        &self,
        before_ms: i64,
        limit: i64,
    ) -> Result<Vec<(ChannelId, ConversationKey)>, StoreError>;

    /// The current (latest) conversation for a key, with its contact.
    async fn load_conversation(
        &self,
        key: &ConversationKey,
    ) -> Result<Option<(ConversationRecord, ContactRecord)>, StoreError>;

    /// The customer a WhatsApp business-scoped user id (BSUID) names on `channel`, once a
    /// message named them by both their number and it (`ConversationStep::alias`).
    async fn customer_for_alias(
        &self,
        channel: &ChannelId,
        alias: &str,
    ) -> Result<Option<CustomerId>, StoreError>;

    /// The contact behind a customer id (a conversation's address on its channel, or a
    /// contact's own id), if known: an address linked to another contact gives that contact.
    async fn load_contact(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<ContactRecord>, StoreError>;

    /// [`Store::load_contact`] with the contact's times and behaviour.
    async fn load_contact_listing(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<ContactListing>, StoreError>;

    /// Fold the contact `from` into the contact `into` (each named by its id or any of its
    /// identities' addresses), atomically: `from`'s identities move to `into`, so its
    /// conversations, past and future, are `into`'s; what `into` lacks is filled from `from`
    /// ([`crate::crm::contact::merged`]); `from` is deleted. `None` when either is unknown;
    /// merging a contact with itself changes nothing and returns it.
    async fn merge_contacts(
        &self,
        into: &CustomerId,
        from: &CustomerId,
    ) -> Result<Option<ContactRecord>, StoreError>;

    /// Contacts for the CRM's list, most recently changed first, keyset-paged by
    /// `(updated_at, id)` like conversations.
    async fn list_contacts(
        &self,
        filter: &ContactFilter,
    ) -> Result<Vec<ContactListing>, StoreError>;

    /// Apply `changes` to the contact named by `customer` (its id or any of its addresses),
    /// atomically: the contact before and after, or `None` when it is unknown. When it
    /// changed, `webhooks` are written in the same transaction, each with `data.contact` set
    /// to the contact after.
    async fn update_contact(
        &self,
        customer: &CustomerId,
        changes: &crate::crm::contact::ContactChanges,
        webhooks: Vec<WebhookOutboxEntry>,
    ) -> Result<ContactUpdate, StoreError>;

    /// [`update_contact`](Self::update_contact) of `seed.customer` (its id or any of its
    /// addresses); a contact unknown there is first created as `seed` (a business system
    /// telling of a customer before they write: their first conversation finds it), in the
    /// same transaction. The contact before (the seed, when created) and after; always `Some`.
    async fn upsert_contact(
        &self,
        seed: &ContactRecord,
        changes: &crate::crm::contact::ContactChanges,
        webhooks: Vec<WebhookOutboxEntry>,
    ) -> Result<ContactUpdate, StoreError>;

    /// Erase the personal data of the contact named by `customer` (its id or any of its
    /// addresses), in one transaction: the contact and its identities (and web chat visitors)
    /// are deleted; its conversations stay (times, team, agent, status, reports) under the
    /// opaque customer id `erased` (their keys become `channel:erased`, their bot state and
    /// route are cleared); their messages' bodies become [`ERASED_BODY`], their media records
    /// go; the processed inbound events, webhook events and deliveries, console outbox entries
    /// and (embedded mode) agents' console events about them go; earlier audit entries about
    /// the contact keep who and when but lose their values. Refused ([`Erasure::Open`], nothing
    /// changed) while one of its conversations is not resolved.
    async fn erase_contact(
        &self,
        customer: &CustomerId,
        erased: &CustomerId,
    ) -> Result<Erasure, StoreError>;

    /// The channels a contact (named by its id or any of its addresses) reached us on, oldest
    /// first.
    async fn contact_identities(
        &self,
        customer: &CustomerId,
    ) -> Result<Vec<ContactIdentity>, StoreError>;

    /// Whether the inbound event `seq` was processed (unknown sequences count as processed: there
    /// is nothing left to do for them).
    async fn is_processed(&self, seq: i64) -> Result<bool, StoreError>;

    /// Commit one processed event's effects atomically (grouped with other writers), fenced as
    /// [`ConversationStep`] says.
    async fn commit_step(&self, step: ConversationStep) -> Result<(), StoreError>;

    /// Record an outbound send attempt's outcome.
    async fn record_outbound_outcome(
        &self,
        id: MessageId,
        attempts: u32,
        outcome: OutboundOutcome,
    ) -> Result<(), StoreError>;

    /// Claim a recorded outbound message right before its first send attempt: `queued` becomes
    /// `sending`. With `stale_before_ms`, a message left `sending` since before that time (its
    /// sender died) is claimed again. False: someone else has it, or it has an outcome.
    async fn claim_outbound(
        &self,
        id: MessageId,
        stale_before_ms: Option<i64>,
    ) -> Result<bool, StoreError>;

    /// The delivery status of one of our outbound messages (`queued`, `sending`, `accepted`,
    /// `sent`…), None if there is no such message.
    async fn outbound_status(&self, id: MessageId) -> Result<Option<String>, StoreError>;

    /// Outbound messages with no outcome yet (queued, or claimed by a sender that may have
    /// died), oldest first: what a restart or a takeover resumes.
    async fn pending_outbound(&self) -> Result<Vec<PendingOutbound>, StoreError>;

    /// A conversation's messages, oldest first.
    async fn conversation_messages(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<StoredMessage>, StoreError>;

    /// A message by the provider's id.
    async fn message_by_provider_id(
        &self,
        provider_id: &ProviderMessageId,
    ) -> Result<Option<StoredMessage>, StoreError>;

    async fn counts(&self) -> Result<StoreCounts, StoreError>;

    /// A conversation by its id.
    async fn conversation_by_id(&self, id: &str) -> Result<Option<ConversationRecord>, StoreError>;

    /// Conversations for a console list, most recently updated first.
    async fn list_conversations(
        &self,
        filter: &ConversationFilter,
    ) -> Result<Vec<ConversationRecord>, StoreError>;

    /// Every conversation of a customer (single customer view), newest first.
    async fn customer_conversations(
        &self,
        customer: &CustomerId,
        limit: i64,
    ) -> Result<Vec<ConversationRecord>, StoreError>;

    /// The agent who served the customer's most recent conversation other than `except`.
    async fn last_assignee(
        &self,
        customer: &CustomerId,
        except: &str,
    ) -> Result<Option<AgentId>, StoreError>;

    /// Conversations waiting, assigned or snoozed (to rebuild queues and timers at start).
    async fn open_conversations(&self) -> Result<Vec<ConversationRecord>, StoreError>;

    /// A conversation's assignment and status events, oldest first.
    async fn conversation_events(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<ConversationEvent>, StoreError>;

    /// Console outbox entries not appended yet, created before `created_before_ms` (all with
    /// None), oldest first, at most `limit`.
    async fn console_outbox(
        &self,
        created_before_ms: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ConsoleOutboxEntry>, StoreError>;

    /// Delete console outbox entries whose events were appended to a log elsewhere (Redis).
    async fn settle_console_outbox(&self, ids: Vec<String>) -> Result<(), StoreError>;

    /// Append console events (already numbered) to an agent's log, keeping its last `keep`;
    /// the outbox entries they come from are settled in the same transaction.
    async fn append_agent_events(
        &self,
        agent: &AgentId,
        events: Vec<AgentEventRecord>,
        keep: usize,
    ) -> Result<(), StoreError>;

    /// An agent's console events after `after_seq`, in order.
    async fn agent_events_after(
        &self,
        agent: &AgentId,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AgentEventRecord>, StoreError>;

    /// The oldest and newest sequence in an agent's log (None when empty).
    async fn agent_event_bounds(&self, agent: &AgentId) -> Result<Option<(i64, i64)>, StoreError>;

    /// Retention: delete processed inbound events (their dedupe keys) received before
    /// `inbound_before_ms`, console events created before `console_before_ms`, and statuses
    /// that never found their message, received before `inbound_before_ms`. History
    /// (conversations, messages, notes, conversation events) is kept.
    async fn prune(
        &self,
        inbound_before_ms: i64,
        console_before_ms: i64,
    ) -> Result<Pruned, StoreError>;

    /// Cheap liveness check of the database.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Flush pending writes and close.
    async fn close(&self);
}

/// Open the store `settings.url` names, running its migrations: SQLite for `sqlite:…` (or an
/// empty URL: `{data_dir}/switchboard.db`), PostgreSQL for `postgres://…` or `postgresql://…`.
pub async fn open(settings: &DatabaseSettings) -> Result<Arc<dyn Store>, StoreError> {
    let url = settings.url.trim();
    if url.is_empty() {
        let url = format!("sqlite://{}", settings.sqlite_path().display());
        return Ok(Arc::new(sqlite::SqliteStore::open(&url, settings).await?));
    }
    if url.starts_with("sqlite:") {
        return Ok(Arc::new(sqlite::SqliteStore::open(url, settings).await?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(
            postgres::PostgresStore::open(url, settings).await?,
        ));
    }
    // The URL may hold a password: name only its scheme.
    let scheme = url.split(':').next().unwrap_or_default();
    Err(StoreError::Database(sqlx::Error::Configuration(
        format!("database.url: unsupported scheme {scheme:?} (sqlite:// or postgres://)").into(),
    )))
}

/// Ordering of delivery statuses: a status never moves a message backwards (webhooks can
/// arrive out of order; `delivered` may be skipped).
pub fn status_rank(status: &str) -> i32 {
    match status {
        "queued" | "sending" => 0,
        "accepted" => 1,
        "sent" => 2,
        "delivered" => 3,
        "read" => 4,
        "played" => 5,
        "failed" => 6,
        _ => -1,
    }
}

pub fn delivery_status_str(status: DeliveryStatus) -> &'static str {
    status.as_str()
}

#[cfg(test)]
mod accounts_tests;
#[cfg(test)]
mod tests;
