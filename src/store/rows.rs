//! Records from the rows the readers of both stores fetch: the same columns and the same
//! values (JSON read back as the text that was written) in SQLite and PostgreSQL, so one
//! mapping serves both.

use sqlx::Row;

use super::{
    AgentEventRecord, ConsoleOutboxEntry, ContactIdentity, ContactRecord, ConversationRecord,
    ConversationStatus, StoreError, StoredMessage,
};
use crate::domain::{AgentId, ChannelId, ConversationKey, CustomerId, TeamId};

/// The column types the records use, read from a row of either database.
pub(crate) trait StoreRow {
    fn text(&self, column: &str) -> Result<String, sqlx::Error>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error>;
    fn int(&self, column: &str) -> Result<i64, sqlx::Error>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error>;
    fn int32(&self, column: &str) -> Result<i32, sqlx::Error>;
    /// A boolean: `BOOLEAN` in PostgreSQL, an `INTEGER` 0/1 in SQLite.
    fn flag(&self, column: &str) -> Result<bool, sqlx::Error>;
    fn opt_flag(&self, column: &str) -> Result<Option<bool>, sqlx::Error>;
    /// A byte string: `BYTEA` in PostgreSQL, a `BLOB` in SQLite.
    fn bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error>;
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, sqlx::Error>;
}

macro_rules! store_row {
    ($row:ty) => {
        impl StoreRow for $row {
            fn text(&self, column: &str) -> Result<String, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
                self.try_get(column)
            }
            fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
                self.try_get(column)
            }
            fn int32(&self, column: &str) -> Result<i32, sqlx::Error> {
                self.try_get(column)
            }
            fn flag(&self, column: &str) -> Result<bool, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_flag(&self, column: &str) -> Result<Option<bool>, sqlx::Error> {
                self.try_get(column)
            }
            fn bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
                self.try_get(column)
            }
        }
    };
}

store_row!(sqlx::sqlite::SqliteRow);
store_row!(sqlx::postgres::PgRow);

pub(super) fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(super) fn conversation_from_row(row: &impl StoreRow) -> Result<ConversationRecord, StoreError> {
    let status = row.text("status")?;
    Ok(ConversationRecord {
        id: row.text("id")?,
        key: ConversationKey::from_stored(row.text("key")?),
        channel: ChannelId::new(row.text("channel")?),
        customer: CustomerId::new(row.text("customer")?),
        status: ConversationStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("conversation status {status}")))?,
        team: row.opt_text("team")?.map(TeamId::new),
        bot_state: from_json(&row.text("bot_state")?, "bot_state")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        handoff_at: row.opt_int("handoff_at")?,
        last_seq: row.int("last_seq")?,
        assignee: row.opt_text("assignee")?.map(AgentId::new),
        priority: row.int32("priority")?,
        route: row
            .opt_text("route")?
            .map(|r| from_json(&r, "route"))
            .transpose()?,
        assigned_at: row.opt_int("assigned_at")?,
        first_response_at: row.opt_int("first_response_at")?,
        resolved_at: row.opt_int("resolved_at")?,
        snoozed_until: row.opt_int("snoozed_until")?,
        last_inbound_at: row.opt_int("last_inbound_at")?,
        sla: row
            .opt_text("sla")?
            .map(|s| from_json(&s, "sla"))
            .transpose()?
            .unwrap_or_default(),
        version: row.int("version")?,
    })
}

pub(super) fn contact_from_row(row: &impl StoreRow) -> Result<ContactRecord, StoreError> {
    Ok(ContactRecord {
        customer: CustomerId::new(row.text("customer")?),
        name: row.opt_text("name")?,
        phone: row.opt_text("phone")?,
        language: row.opt_text("language")?,
        fields: from_json(&row.text("fields")?, "contact fields")?,
        tags: from_json(&row.text("tags")?, "contact tags")?,
    })
}

/// A contact with its times and behaviour: read from `created_at`, `updated_at`, `last_inbound_at`, `conversations` and the contact columns.
pub(crate) fn listing_from_row(row: &impl StoreRow) -> Result<super::ContactListing, StoreError> {
    let created_at = row.int("created_at")?;
    Ok(super::ContactListing {
        contact: contact_from_row(row)?,
        created_at,
        updated_at: row.int("updated_at")?,
        behaviour: crate::crm::behaviour::ContactBehaviour {
            first_seen: Some(created_at),
            last_inbound_at: row.opt_int("last_inbound_at")?,
            conversations: row.int("conversations")?,
        },
    })
}

pub(super) fn message_from_row(row: &impl StoreRow) -> Result<StoredMessage, StoreError> {
    Ok(StoredMessage {
        id: row.text("id")?,
        conversation_id: row.text("conversation_id")?,
        direction: row.text("direction")?,
        sender: row.text("sender")?,
        kind: row.text("kind")?,
        body: from_json(&row.text("body")?, "message body")?,
        provider_id: row.opt_text("provider_id")?,
        status: row.text("status")?,
        error_code: row.opt_int("error_code")?,
        error_reason: row.opt_text("error_reason")?,
        attempts: row.int("attempts")?,
        created_at: row.int("created_at")?,
        author: row.opt_text("author")?,
    })
}

/// `seq, kind, payload, created_at` of `agent_events`.
pub(super) fn agent_event_from_row(row: &impl StoreRow) -> Result<AgentEventRecord, StoreError> {
    Ok(AgentEventRecord {
        seq: row.int("seq")?,
        kind: row.text("kind")?,
        payload: from_json(&row.text("payload")?, "agent event")?,
        created_at: row.int("created_at")?,
        outbox_id: None,
    })
}

/// `id, agent, kind, payload, created_at, conversation_key` of `console_outbox`.
pub(super) fn outbox_entry_from_row(row: &impl StoreRow) -> Result<ConsoleOutboxEntry, StoreError> {
    Ok(ConsoleOutboxEntry {
        id: row.text("id")?,
        agent: AgentId::new(row.text("agent")?),
        kind: row.text("kind")?,
        payload: from_json(&row.text("payload")?, "console outbox entry")?,
        created_at: row.int("created_at")?,
        conversation: row
            .opt_text("conversation_key")?
            .map(ConversationKey::from_stored),
    })
}

/// `channel, address, first_seen` of `contact_identities`.
pub(super) fn identity_from_row(row: &impl StoreRow) -> Result<ContactIdentity, StoreError> {
    Ok(ContactIdentity {
        channel: ChannelId::new(row.text("channel")?),
        address: row.text("address")?,
        first_seen: row.int("first_seen")?,
    })
}
