//! The cluster store: PostgreSQL, shared by every gateway node.
//!
//! Same semantics as the SQLite store ([`super::sqlite`]), and the same shape: all writes of a
//! node go through one writer task that owns one connection. It takes every write waiting in
//! its bounded queue (up to `max_batch`, waiting at most `max_wait` for companions), applies
//! each inside its own savepoint of one transaction, commits once, then answers every writer.
//! The inbound events of all the webhooks in a batch go in with one multi-row
//! `INSERT … ON CONFLICT ON CONSTRAINT inbound_events_dedupe_key DO NOTHING RETURNING` (the
//! dedupe key is unique through a hash index, so a key of any length fits), so a batch of webhooks costs
//! three round trips (`BEGIN; SAVEPOINT`, the insert, `RELEASE; COMMIT`) and one WAL flush.
//!
//! Several nodes write at once, so every fence is a condition the database checks at write
//! time, whoever else is writing: the inbound event is marked processed only if it was not
//! (`UPDATE … WHERE NOT processed`), a conversation is updated only over the version the step
//! was computed from (`UPDATE … WHERE version = $n`), a second open conversation for a key is
//! a unique violation, an outbound message is claimed with a conditional `UPDATE`. Under READ
//! COMMITTED, a write that waited for another node's row lock re-checks its condition against
//! the committed row, so the loser changes nothing and gets [`StoreError::Conflict`].
//!
//! When the database goes away, writes fail with [`StoreError::Unavailable`] (intake answers
//! 503) and the writer reconnects by itself: a batch whose connection broke before its
//! `COMMIT` was sent is retried once on a new connection (nothing of it was committed);
//! one that broke during the `COMMIT` is reported failed, though it may have committed (the
//! callers' retries are safe: redeliveries are deduplicated, replayed steps are fenced).
//! Reads use a pool that replaces broken connections.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Row};
use tokio::sync::{mpsc, oneshot};

use super::rows::{
    agent_event_from_row, contact_from_row, conversation_from_row, from_json, identity_from_row,
    message_from_row, outbox_entry_from_row,
};
use super::{
    AgentEventRecord, ConsoleOutboxEntry, ContactFilter, ContactIdentity, ContactListing,
    ContactRecord, ContactUpdate, ContactWrite, ConversationEvent, ConversationFilter,
    ConversationRecord, ConversationStep, NewInbound, OutboundOutcome, OutboundState,
    PendingOutbound, Pruned, Recorded, RecordedInbound, Store, StoreCounts, StoreError,
    StoredMessage, WebhookOutboxEntry, is_connection_error, status_rank,
};
use crate::config::DatabaseSettings;
use crate::crm::contact::{ContactChanges, merged};
use crate::domain::{
    AgentId, ChannelId, ConversationKey, CustomerId, MessageId, OutboundContent, OutboundMessage,
    ProviderMessageId, Sender, StatusUpdate, TeamId,
};
use crate::metrics as m;

/// First and longest pause between reconnection attempts while the database is down (writes
/// arriving in between fail at once instead of each waiting for a connect).
const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(50);
const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Attempts of the batch's inbound insert when it loses a deadlock to another node's insert of
/// the same redelivered events.
const INBOUND_ATTEMPTS: usize = 3;
/// The advisory lock class (first key of `pg_advisory_xact_lock(int, int)`) that serializes,
/// across nodes, the writes that tie a status to its message by provider id.
const PROVIDER_ID_LOCK: i32 = 0x5342_0001;

pub struct PostgresStore {
    /// Processing writes (everything but webhooks' records).
    writer: mpsc::Sender<WriteOp>,
    /// Webhooks' records: a writer of their own on its own connection, so an acknowledgement
    /// never waits for processing writes.
    intake: mpsc::Sender<WriteOp>,
    /// Reads; also the account writes (rare: each in its own transaction, see
    /// `postgres_accounts`).
    pub(super) reader: PgPool,
    writer_tasks: tokio::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum WriteOp {
    Inbound(Vec<NewInbound>, Reply<Recorded>),
    Step(Box<ConversationStep>, Reply<()>),
    Outcome(MessageId, u32, OutboundOutcome, Reply<()>),
    AgentEvents(AgentId, Vec<AgentEventRecord>, usize, Reply<()>),
    SettleOutbox(Vec<String>, Reply<()>),
    Claim(MessageId, Option<i64>, Reply<bool>),
    Prune(i64, i64, Reply<Pruned>),
    MergeContacts(CustomerId, CustomerId, Reply<Option<ContactRecord>>),
    EraseContact(CustomerId, CustomerId, Reply<super::Erasure>),
    /// With a seed: a contact unknown under the id is created as the seed first.
    UpdateContact(
        CustomerId,
        Box<ContactChanges>,
        Vec<WebhookOutboxEntry>,
        Option<Box<ContactRecord>>,
        Reply<ContactUpdate>,
    ),
    /// Commit what came before, close the connection, stop.
    Shutdown(oneshot::Sender<()>),
}

// Column lists: JSON columns are read back as the text that was written.
macro_rules! conversation_columns {
    () => {
        "id, key, channel, customer, status, team, bot_state::text AS bot_state, created_at,
         updated_at, handoff_at, last_seq, assignee, priority, route::text AS route,
         assigned_at, first_response_at, resolved_at, snoozed_until, last_inbound_at,
         sla::text AS sla, version"
    };
}
macro_rules! message_columns {
    () => {
        "id, conversation_id, direction, sender, kind, body::text AS body, provider_id, status,
         error_code, error_reason, attempts, created_at, author"
    };
}

impl PostgresStore {
    /// Connect, run the migrations (nodes starting together take turns: sqlx holds an advisory
    /// lock while it migrates) and start the writer.
    pub async fn open(url: &str, settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.application_name("switchboard");
        let connect_timeout = settings.connect_timeout();
        let mut conn = connect(&options, connect_timeout).await?;
        // Intake's writer has its own connection, ready before the first webhook: an
        // acknowledgement never waits for a connection to be set up.
        let intake_conn = connect(&options, connect_timeout).await?;
        sqlx::migrate!("./migrations/postgres")
            .run(&mut conn)
            .await?;
        // Contacts stored before `contacts.country` existed get theirs (once).
        super::country::backfill_postgres(&mut conn).await?;
        // Hourly report rollups written before the coarser levels existed (once).
        super::levels::backfill_postgres(&mut conn).await?;
        let reader = PgPoolOptions::new()
            .max_connections(settings.read_pool_size.max(1))
            // A burst of new conversations queues for the readers: that wait is the backlog
            // (`switchboard_conversation_backlog`), not a warning per read.
            .acquire_slow_level(log::LevelFilter::Debug)
            .acquire_timeout(connect_timeout)
            .connect_lazy_with(options.clone());
        let (tx, rx) = mpsc::channel(settings.queue_capacity.max(1));
        let (intake_tx, intake_rx) = mpsc::channel(settings.queue_capacity.max(1));
        let writer = |conn, rx, lane| Writer {
            options: options.clone(),
            conn,
            rx,
            lane,
            max_batch: settings.max_batch.max(1),
            max_wait: settings.max_wait(),
            connect_timeout,
            backoff: RECONNECT_BACKOFF_MIN,
            retry_at: None,
        };
        let tasks = vec![
            tokio::spawn(writer(Some(conn), rx, "processing").run()),
            tokio::spawn(writer(Some(intake_conn), intake_rx, "intake").run()),
        ];
        Ok(Self {
            writer: tx,
            intake: intake_tx,
            reader,
            writer_tasks: tokio::sync::Mutex::new(tasks),
        })
    }

    /// Hand a processing write to its writer, waiting for room in its queue.
    async fn write<T>(&self, make: impl FnOnce(Reply<T>) -> WriteOp) -> Result<T, StoreError> {
        self.send(&self.writer, make, false).await
    }

    /// Hand a write to the writer of `lane`; with `shed`, refuse it with `Overloaded` when the
    /// lane's queue is full.
    async fn send<T>(
        &self,
        lane: &mpsc::Sender<WriteOp>,
        make: impl FnOnce(Reply<T>) -> WriteOp,
        shed: bool,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        let op = make(reply);
        if shed {
            lane.try_send(op).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    metrics::counter!(m::MAILBOX_SHEDS, "queue" => "store").increment(1);
                    StoreError::Overloaded
                }
                mpsc::error::TrySendError::Closed(_) => StoreError::Unavailable,
            })?;
        } else {
            lane.send(op).await.map_err(|_| StoreError::Unavailable)?;
        }
        rx.await.map_err(|_| StoreError::Unavailable)?
    }
}

async fn connect(
    options: &PgConnectOptions,
    timeout: Duration,
) -> Result<PgConnection, sqlx::Error> {
    match tokio::time::timeout(timeout, PgConnection::connect_with(options)).await {
        Ok(result) => result,
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no connection to PostgreSQL within {timeout:?}"),
        ))),
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn record_inbound(&self, events: Vec<NewInbound>) -> Result<Recorded, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        // The webhook path sheds: Meta retries a 503, and memory stays bounded.
        self.send(&self.intake, |reply| WriteOp::Inbound(events, reply), true)
            .await
    }

    async fn unprocessed_for(
        &self,
        key: &ConversationKey,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<RecordedInbound>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, channel, payload::text AS payload FROM inbound_events
             WHERE conversation_key = $1 AND NOT processed AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(text(key.as_str()))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let payload: String = row.try_get("payload")?;
                let envelope = from_json(&payload, "inbound payload")?;
                let channel: Option<String> = row.try_get("channel")?;
                Ok(RecordedInbound {
                    seq: row.try_get("seq")?,
                    channel: ChannelId::new(channel.unwrap_or_default()),
                    conversation: key.clone(),
                    envelope,
                })
            })
            .collect()
    }

    async fn conversations_with_backlog(
        &self,
        before_ms: i64,
        limit: i64,
    ) -> Result<Vec<(ChannelId, ConversationKey)>, StoreError> {
        let rows = sqlx::query(
            "SELECT channel, conversation_key, MIN(seq) AS first FROM inbound_events
             WHERE NOT processed AND received_at < $1 AND conversation_key IS NOT NULL
             GROUP BY channel, conversation_key ORDER BY first LIMIT $2",
        )
        .bind(before_ms)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let channel: Option<String> = row.try_get("channel")?;
                Ok((
                    ChannelId::new(channel.unwrap_or_default()),
                    ConversationKey::from_stored(row.try_get("conversation_key")?),
                ))
            })
            .collect()
    }

    async fn load_conversation(
        &self,
        key: &ConversationKey,
    ) -> Result<Option<(ConversationRecord, ContactRecord)>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations WHERE key = $1 ORDER BY created_at DESC, rowid DESC LIMIT 1"
        ))
        .bind(text(key.as_str()))
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let conversation = conversation_from_row(&row)?;
        let contact = self
            .load_contact(&conversation.customer)
            .await?
            .unwrap_or_else(|| ContactRecord {
                customer: conversation.customer.clone(),
                ..ContactRecord::default()
            });
        Ok(Some((conversation, contact)))
    }

    async fn customer_for_alias(
        &self,
        channel: &ChannelId,
        alias: &str,
    ) -> Result<Option<CustomerId>, StoreError> {
        let customer: Option<String> = sqlx::query_scalar(
            "SELECT customer FROM customer_aliases WHERE channel = $1 AND alias = $2",
        )
        .bind(text(channel.as_str()))
        .bind(text(alias))
        .fetch_optional(&self.reader)
        .await?;
        Ok(customer.map(CustomerId::new))
    }

    async fn load_contact(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<ContactRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT customer, name, phone, language, fields::text AS fields, tags::text AS tags
             FROM contacts WHERE customer =
                COALESCE((SELECT customer FROM contact_identities WHERE address = $1 LIMIT 1), $1)",
        )
        .bind(text(customer.as_str()))
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| contact_from_row(&row)).transpose()
    }

    async fn load_contact_listing(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<ContactListing>, StoreError> {
        let row = sqlx::query(
            "SELECT customer, name, phone, language, fields::text AS fields, tags::text AS tags,
                created_at, updated_at, last_inbound_at, conversations
             FROM contacts WHERE customer =
                COALESCE((SELECT customer FROM contact_identities WHERE address = $1 LIMIT 1), $1)",
        )
        .bind(text(customer.as_str()))
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| super::rows::listing_from_row(&row))
            .transpose()
    }

    async fn merge_contacts(
        &self,
        into: &CustomerId,
        from: &CustomerId,
    ) -> Result<Option<ContactRecord>, StoreError> {
        let (into, from) = (into.clone(), from.clone());
        self.write(|reply| WriteOp::MergeContacts(into, from, reply))
            .await
    }

    async fn erase_contact(
        &self,
        customer: &CustomerId,
        erased: &CustomerId,
    ) -> Result<super::Erasure, StoreError> {
        let (customer, erased) = (customer.clone(), erased.clone());
        self.write(|reply| WriteOp::EraseContact(customer, erased, reply))
            .await
    }

    async fn list_contacts(
        &self,
        filter: &ContactFilter,
    ) -> Result<Vec<ContactListing>, StoreError> {
        let mut query = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "SELECT customer, name, phone, language, fields::text AS fields, tags::text AS tags,
                created_at, updated_at, last_inbound_at, conversations
             FROM contacts WHERE TRUE",
        );
        if let Some(tag) = &filter.tag {
            query
                .push(" AND EXISTS (SELECT 1 FROM json_array_elements_text(contacts.tags) AS t(tag) WHERE t.tag = ")
                .push_bind(text(tag).into_owned())
                .push(")");
        }
        if let Some(language) = &filter.language {
            query
                .push(" AND language = ")
                .push_bind(text(language).into_owned());
        }
        if let Some(channel) = &filter.channel {
            query
                .push(" AND customer IN (SELECT customer FROM contact_identities WHERE channel = ")
                .push_bind(text(channel.as_str()).into_owned())
                .push(")");
        }
        if let Some(needle) = &filter.text {
            let pattern = text(&super::like_anywhere(needle)).into_owned();
            query
                .push(" AND (lower(coalesce(name, '')) LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR lower(coalesce(fields->>'email', '')) LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR customer IN (SELECT customer FROM contact_identities WHERE lower(address) LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
            if let Some(digits) = super::phone_digits(needle) {
                query
                    .push(" OR phone LIKE ")
                    .push_bind(format!("%{digits}%"));
            }
            query.push(")");
        }
        if let Some(after) = &filter.after {
            query
                .push(" AND (updated_at < ")
                .push_bind(after.updated_at)
                .push(" OR (updated_at = ")
                .push_bind(after.updated_at)
                .push(" AND customer < ")
                .push_bind(text(&after.id).into_owned())
                .push("))");
        }
        query
            .push(" ORDER BY updated_at DESC, customer DESC LIMIT ")
            .push_bind(filter.limit.max(0));
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(super::rows::listing_from_row).collect()
    }

    async fn update_contact(
        &self,
        customer: &CustomerId,
        changes: &ContactChanges,
        webhooks: Vec<WebhookOutboxEntry>,
    ) -> Result<ContactUpdate, StoreError> {
        let (customer, changes) = (customer.clone(), Box::new(changes.clone()));
        self.write(|reply| WriteOp::UpdateContact(customer, changes, webhooks, None, reply))
            .await
    }

    async fn upsert_contact(
        &self,
        seed: &ContactRecord,
        changes: &ContactChanges,
        webhooks: Vec<WebhookOutboxEntry>,
    ) -> Result<ContactUpdate, StoreError> {
        let (customer, changes) = (seed.customer.clone(), Box::new(changes.clone()));
        let seed = Some(Box::new(seed.clone()));
        self.write(|reply| WriteOp::UpdateContact(customer, changes, webhooks, seed, reply))
            .await
    }

    async fn contact_identities(
        &self,
        customer: &CustomerId,
    ) -> Result<Vec<ContactIdentity>, StoreError> {
        let rows = sqlx::query(
            "SELECT channel, address, first_seen FROM contact_identities
             WHERE customer =
                COALESCE((SELECT customer FROM contact_identities WHERE address = $1 LIMIT 1), $1)
             ORDER BY first_seen, channel",
        )
        .bind(text(customer.as_str()))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(identity_from_row).collect()
    }

    async fn is_processed(&self, seq: i64) -> Result<bool, StoreError> {
        let processed: Option<bool> =
            sqlx::query_scalar("SELECT processed FROM inbound_events WHERE seq = $1")
                .bind(seq)
                .fetch_optional(&self.reader)
                .await?;
        Ok(processed.unwrap_or(true))
    }

    async fn commit_step(&self, step: ConversationStep) -> Result<(), StoreError> {
        // Conversation actors wait for room: the event is already durable, and waiting slows
        // intake upstream through the bounded partitions.
        self.write(|reply| WriteOp::Step(Box::new(step), reply))
            .await
    }

    async fn record_outbound_outcome(
        &self,
        id: MessageId,
        attempts: u32,
        outcome: OutboundOutcome,
    ) -> Result<(), StoreError> {
        self.write(|reply| WriteOp::Outcome(id, attempts, outcome, reply))
            .await
    }

    async fn claim_outbound(
        &self,
        id: MessageId,
        stale_before_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        self.write(|reply| WriteOp::Claim(id, stale_before_ms, reply))
            .await
    }

    async fn outbound_status(&self, id: MessageId) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT status FROM messages WHERE id = $1 AND direction = 'outbound'",
        )
        .bind(id.to_string())
        .fetch_optional(&self.reader)
        .await?)
    }

    async fn pending_outbound(&self) -> Result<Vec<PendingOutbound>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.id, m.body::text AS body, m.reply_to, m.status, m.updated_at, c.key,
                    c.channel, c.customer
             FROM messages m JOIN conversations c ON c.id = m.conversation_id
             WHERE m.direction = 'outbound' AND m.status IN ('queued', 'sending')
             ORDER BY m.created_at, m.rowid",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                let body: String = row.try_get("body")?;
                let content: OutboundContent = from_json(&body, "outbound body")?;
                let reply_to: Option<String> = row.try_get("reply_to")?;
                let status: String = row.try_get("status")?;
                Ok(PendingOutbound {
                    message: OutboundMessage {
                        id: MessageId::parse(&id)
                            .ok_or_else(|| StoreError::Corrupt(format!("message id {id}")))?,
                        conversation: ConversationKey::from_stored(row.try_get("key")?),
                        channel: ChannelId::new(row.try_get::<String, _>("channel")?),
                        to: CustomerId::new(row.try_get::<String, _>("customer")?),
                        content,
                        reply_to: reply_to.map(ProviderMessageId::new),
                    },
                    state: if status == "sending" {
                        OutboundState::Sending
                    } else {
                        OutboundState::Queued
                    },
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect()
    }

    async fn conversation_messages(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = $1 ORDER BY rowid"
        ))
        .bind(text(conversation_id))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(message_from_row).collect()
    }

    async fn message_by_provider_id(
        &self,
        provider_id: &ProviderMessageId,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE provider_id = $1"
        ))
        .bind(text(provider_id.as_str()))
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    async fn counts(&self) -> Result<StoreCounts, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM inbound_events) AS inbound_events,
                    (SELECT COUNT(*) FROM inbound_events WHERE NOT processed) AS unprocessed,
                    (SELECT COUNT(*) FROM conversations) AS conversations,
                    (SELECT COUNT(*) FROM messages) AS messages",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(StoreCounts {
            inbound_events: row.try_get("inbound_events")?,
            unprocessed_events: row.try_get("unprocessed")?,
            conversations: row.try_get("conversations")?,
            messages: row.try_get("messages")?,
        })
    }

    async fn conversation_by_id(&self, id: &str) -> Result<Option<ConversationRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations WHERE id = $1"
        ))
        .bind(text(id))
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(conversation_from_row).transpose()
    }

    async fn list_conversations(
        &self,
        filter: &ConversationFilter,
    ) -> Result<Vec<ConversationRecord>, StoreError> {
        let mut query = sqlx::QueryBuilder::<sqlx::Postgres>::new(concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations WHERE status <> 'bot' AND (team IN ("
        ));
        {
            let mut teams = query.separated(", ");
            teams.push_bind("");
            for team in &filter.visible_teams {
                teams.push_bind(text(team.as_str()).into_owned());
            }
        }
        query.push(")");
        if let Some(viewer) = &filter.viewer {
            query
                .push(" OR assignee = ")
                .push_bind(text(viewer.as_str()).into_owned());
        }
        query.push(")");
        if let Some(status) = filter.status {
            query.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(team) = &filter.team {
            query
                .push(" AND team = ")
                .push_bind(text(team.as_str()).into_owned());
        }
        if let Some(assignee) = &filter.assignee {
            query
                .push(" AND assignee = ")
                .push_bind(text(assignee.as_str()).into_owned());
        }
        if filter.unassigned {
            query.push(" AND status = 'waiting'");
        }
        if let Some(suffix) = &filter.customer_suffix {
            let digits: String = suffix.chars().filter(char::is_ascii_digit).collect();
            query
                .push(" AND customer LIKE ")
                .push_bind(format!("%{digits}"));
        }
        if let Some(channel) = &filter.channel {
            query
                .push(" AND channel = ")
                .push_bind(text(channel.as_str()).into_owned());
        }
        if let Some(tag) = &filter.tag {
            query
                .push(" AND customer IN (SELECT i.address FROM contact_identities i JOIN contacts ON contacts.customer = i.customer, json_array_elements_text(contacts.tags) AS t(tag) WHERE t.tag = ")
                .push_bind(text(tag.as_str()).into_owned())
                .push(")");
        }
        if let Some(text) = &filter.text {
            let pattern = super::like_anywhere(text);
            query
                .push(" AND (customer IN (SELECT i.address FROM contact_identities i JOIN contacts ON contacts.customer = i.customer WHERE lower(contacts.name) LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\')")
                .push(" OR id IN (SELECT conversation_id FROM messages WHERE kind IN ('text', 'note', 'image', 'video', 'document') AND lower(coalesce(body->>'body', body->>'caption', body#>>'{media,caption}', '')) LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
            if let Some(digits) = super::phone_digits(text) {
                query
                    .push(" OR customer LIKE ")
                    .push_bind(format!("%{digits}%"));
            }
            query.push(")");
        }
        if let Some(after) = &filter.after {
            query
                .push(" AND (updated_at < ")
                .push_bind(after.updated_at)
                .push(" OR (updated_at = ")
                .push_bind(after.updated_at)
                .push(" AND id < ")
                .push_bind(text(after.id.as_str()).into_owned())
                .push("))");
        }
        query
            .push(" ORDER BY updated_at DESC, id DESC LIMIT ")
            .push_bind(filter.limit.max(1));
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(conversation_from_row).collect()
    }

    async fn customer_conversations(
        &self,
        customer: &CustomerId,
        limit: i64,
    ) -> Result<Vec<ConversationRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations WHERE customer = $1 OR customer IN (
                SELECT address FROM contact_identities WHERE customer = COALESCE(
                    (SELECT customer FROM contact_identities WHERE address = $1 LIMIT 1), $1))
              ORDER BY created_at DESC, rowid DESC LIMIT $2"
        ))
        .bind(text(customer.as_str()))
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(conversation_from_row).collect()
    }

    async fn last_assignee(
        &self,
        customer: &CustomerId,
        except: &str,
    ) -> Result<Option<AgentId>, StoreError> {
        let agent: Option<String> = sqlx::query_scalar(
            "SELECT assignee FROM conversations
             WHERE customer = $1 AND id <> $2 AND assignee IS NOT NULL
             ORDER BY created_at DESC, rowid DESC LIMIT 1",
        )
        .bind(text(customer.as_str()))
        .bind(text(except))
        .fetch_optional(&self.reader)
        .await?;
        Ok(agent.map(AgentId::new))
    }

    async fn open_conversations(&self) -> Result<Vec<ConversationRecord>, StoreError> {
        // NULLS FIRST: SQLite sorts NULL before any value, PostgreSQL after, unless told.
        let rows = sqlx::query(concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations WHERE status IN ('waiting', 'assigned', 'snoozed')
              ORDER BY handoff_at NULLS FIRST, rowid"
        ))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(conversation_from_row).collect()
    }

    async fn conversation_events(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<ConversationEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, agent, team, detail FROM conversation_events
             WHERE conversation_id = $1 ORDER BY id",
        )
        .bind(text(conversation_id))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ConversationEvent {
                    kind: row.try_get("kind")?,
                    agent: row.try_get::<Option<String>, _>("agent")?.map(AgentId::new),
                    team: row.try_get::<Option<String>, _>("team")?.map(TeamId::new),
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }

    async fn console_outbox(
        &self,
        created_before_ms: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ConsoleOutboxEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, agent, kind, payload::text AS payload, created_at, conversation_key
             FROM console_outbox
             WHERE created_at < $1 ORDER BY created_at, id LIMIT $2",
        )
        .bind(created_before_ms.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(outbox_entry_from_row).collect()
    }

    async fn settle_console_outbox(&self, ids: Vec<String>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.write(|reply| WriteOp::SettleOutbox(ids, reply)).await
    }

    async fn append_agent_events(
        &self,
        agent: &AgentId,
        events: Vec<AgentEventRecord>,
        keep: usize,
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let agent = agent.clone();
        self.write(|reply| WriteOp::AgentEvents(agent, events, keep, reply))
            .await
    }

    async fn agent_events_after(
        &self,
        agent: &AgentId,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AgentEventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, kind, payload::text AS payload, created_at FROM agent_events
             WHERE agent = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(text(agent.as_str()))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(agent_event_from_row).collect()
    }

    async fn agent_event_bounds(&self, agent: &AgentId) -> Result<Option<(i64, i64)>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(seq) AS first, MAX(seq) AS last FROM agent_events WHERE agent = $1",
        )
        .bind(text(agent.as_str()))
        .fetch_one(&self.reader)
        .await?;
        let first: Option<i64> = row.try_get("first")?;
        let last: Option<i64> = row.try_get("last")?;
        Ok(first.zip(last))
    }

    async fn prune(
        &self,
        inbound_before_ms: i64,
        console_before_ms: i64,
    ) -> Result<Pruned, StoreError> {
        self.write(|reply| WriteOp::Prune(inbound_before_ms, console_before_ms, reply))
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        if self.writer.is_closed() || self.intake.is_closed() {
            return Err(StoreError::Unavailable);
        }
        Ok(())
    }

    async fn close(&self) {
        for lane in [&self.intake, &self.writer] {
            let (tx, rx) = oneshot::channel();
            if lane.send(WriteOp::Shutdown(tx)).await.is_ok() {
                let _ = rx.await;
            }
        }
        for task in self.writer_tasks.lock().await.drain(..) {
            let _ = task.await;
        }
        self.reader.close().await;
    }
}

struct Writer {
    options: PgConnectOptions,
    /// None after the connection broke, until a batch reconnects.
    conn: Option<PgConnection>,
    rx: mpsc::Receiver<WriteOp>,
    /// Which writes it serves (`intake` or `processing`): a label of the commit metrics.
    lane: &'static str,
    max_batch: usize,
    max_wait: Duration,
    connect_timeout: Duration,
    /// Pause before the next reconnection attempt, doubling while the database stays away.
    backoff: Duration,
    retry_at: Option<Instant>,
}

/// Why a whole batch failed.
struct BatchFailure {
    error: sqlx::Error,
    /// The `COMMIT` was sent: the batch may have committed.
    committing: bool,
}

impl BatchFailure {
    fn lost_connection(&self) -> bool {
        is_connection_error(&self.error)
    }
}

impl Writer {
    async fn run(mut self) {
        let mut batch = Vec::with_capacity(self.max_batch);
        while let Some(first) = self.rx.recv().await {
            batch.push(first);
            self.fill(&mut batch).await;
            // A shutdown request ends the batch: what came before it commits, then we stop.
            let shutdown = match batch
                .iter()
                .position(|op| matches!(op, WriteOp::Shutdown(_)))
            {
                Some(i) => {
                    let rest = batch.split_off(i);
                    rest.into_iter().next()
                }
                None => None,
            };
            if !batch.is_empty() {
                let started = Instant::now();
                let size = batch.len();
                self.commit(&mut batch).await;
                metrics::histogram!(m::STORE_COMMIT_LATENCY, "lane" => self.lane)
                    .record(started.elapsed().as_secs_f64());
                metrics::histogram!(m::STORE_COMMIT_BATCH, "lane" => self.lane).record(size as f64);
            }
            if let Some(WriteOp::Shutdown(done)) = shutdown {
                self.rx.close();
                if let Some(conn) = self.conn.take()
                    && let Err(e) = conn.close().await
                {
                    tracing::warn!(error = %e, "closing the write connection");
                }
                let _ = done.send(());
                return;
            }
        }
    }

    /// Take what is waiting; if that is little, wait up to `max_wait` for more (not once a
    /// shutdown is asked for).
    async fn fill(&mut self, batch: &mut Vec<WriteOp>) {
        let deadline = tokio::time::Instant::now() + self.max_wait;
        while batch.len() < self.max_batch && !matches!(batch.last(), Some(WriteOp::Shutdown(_))) {
            match self.rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(mpsc::error::TryRecvError::Disconnected) => return,
                Err(mpsc::error::TryRecvError::Empty) => {
                    if self.max_wait.is_zero() {
                        return;
                    }
                    match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                        Ok(Some(op)) => batch.push(op),
                        _ => return,
                    }
                }
            }
        }
    }

    /// The write connection, reconnecting if it broke (not more often than the backoff allows).
    async fn connection(&mut self) -> Result<&mut PgConnection, sqlx::Error> {
        if self.conn.is_none() {
            if let Some(at) = self.retry_at
                && Instant::now() < at
            {
                return Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "no connection to PostgreSQL (waiting to reconnect)",
                )));
            }
            match connect(&self.options, self.connect_timeout).await {
                Ok(conn) => {
                    if self.retry_at.is_some() {
                        tracing::info!("reconnected to PostgreSQL");
                    }
                    self.conn = Some(conn);
                    self.backoff = RECONNECT_BACKOFF_MIN;
                    self.retry_at = None;
                }
                Err(e) => {
                    self.retry_at = Some(Instant::now() + self.backoff);
                    self.backoff = (self.backoff * 2).min(RECONNECT_BACKOFF_MAX);
                    return Err(e);
                }
            }
        }
        self.conn.as_mut().ok_or_else(|| {
            sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "no connection to PostgreSQL",
            ))
        })
    }

    /// Apply every op in its own savepoint of one transaction, commit once, answer everyone.
    async fn commit(&mut self, batch: &mut Vec<WriteOp>) {
        let mut retried = false;
        let failure = loop {
            let conn = match self.connection().await {
                Ok(conn) => conn,
                Err(error) => {
                    break BatchFailure {
                        error,
                        committing: false,
                    };
                }
            };
            match run_batch(conn, batch).await {
                Ok(results) => {
                    for (op, result) in batch.drain(..).zip(results) {
                        reply(op, result);
                    }
                    return;
                }
                Err(failure) if failure.lost_connection() => {
                    self.conn = None;
                    // Nothing of a transaction whose COMMIT was never sent is in the database:
                    // run it again on a new connection (the database restarted since our last
                    // batch, say). Once: if the database is down, say so.
                    if !failure.committing && !retried {
                        retried = true;
                        tracing::warn!(error = %failure.error,
                            "lost the PostgreSQL connection; retrying the batch on a new one");
                        continue;
                    }
                    break failure;
                }
                Err(failure) => {
                    // Leave the connection clean for the next batch, or drop it.
                    if let Some(conn) = self.conn.as_mut()
                        && sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await.is_err()
                    {
                        self.conn = None;
                    }
                    break failure;
                }
            }
        };
        if failure.lost_connection() {
            tracing::warn!(error = %failure.error, committing = failure.committing,
                writes = batch.len(), "PostgreSQL unavailable; writes refused");
            for op in batch.drain(..) {
                reply(op, Err(StoreError::Unavailable));
            }
        } else {
            tracing::error!(error = %failure.error, "grouped commit failed");
            let message = failure.error.to_string();
            for op in batch.drain(..) {
                reply(
                    op,
                    Err(StoreError::Database(sqlx::Error::Protocol(format!(
                        "grouped commit failed: {message}"
                    )))),
                );
            }
        }
    }
}

/// What to send before the next statement of a batch's transaction. Deferred so that it rides
/// in one round trip with the next `SAVEPOINT` or the `COMMIT` (simple-query protocol).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pending {
    Begin,
    Nothing,
    Release,
    Rollback,
}

struct Tx<'c> {
    conn: &'c mut PgConnection,
    pending: Pending,
}

impl Tx<'_> {
    async fn savepoint(&mut self) -> Result<(), sqlx::Error> {
        let sql = match self.pending {
            Pending::Begin => "BEGIN; SAVEPOINT op",
            Pending::Nothing => "SAVEPOINT op",
            Pending::Release => "RELEASE op; SAVEPOINT op",
            Pending::Rollback => "ROLLBACK TO op; RELEASE op; SAVEPOINT op",
        };
        sqlx::raw_sql(sql).execute(&mut *self.conn).await?;
        self.pending = Pending::Nothing;
        Ok(())
    }

    /// End the current savepoint: keep its writes, or undo them.
    fn end(&mut self, keep: bool) {
        self.pending = if keep {
            Pending::Release
        } else {
            Pending::Rollback
        };
    }

    async fn commit(&mut self) -> Result<(), sqlx::Error> {
        let sql = match self.pending {
            Pending::Begin => return Ok(()),
            Pending::Nothing => "COMMIT",
            Pending::Release => "RELEASE op; COMMIT",
            Pending::Rollback => "ROLLBACK TO op; RELEASE op; COMMIT",
        };
        sqlx::raw_sql(sql).execute(&mut *self.conn).await?;
        self.pending = Pending::Begin;
        Ok(())
    }
}

/// One transaction for the batch: first the inbound events of all its webhooks (one insert),
/// then every other write in its savepoint. `Err` when the transaction as a whole failed.
async fn run_batch(
    conn: &mut PgConnection,
    batch: &[WriteOp],
) -> Result<Vec<Result<Applied, StoreError>>, BatchFailure> {
    let fail = |error: sqlx::Error| BatchFailure {
        error,
        committing: false,
    };
    let mut tx = Tx {
        conn,
        pending: Pending::Begin,
    };
    let mut results: Vec<Option<Result<Applied, StoreError>>> =
        batch.iter().map(|_| None).collect();

    let inbound: Vec<(usize, &[NewInbound])> = batch
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            WriteOp::Inbound(events, _) => Some((i, events.as_slice())),
            _ => None,
        })
        .collect();
    if !inbound.is_empty() {
        let ops: Vec<&[NewInbound]> = inbound.iter().map(|(_, events)| *events).collect();
        let mut merged = None;
        for _ in 0..INBOUND_ATTEMPTS {
            tx.savepoint().await.map_err(fail)?;
            match insert_inbound(tx.conn, &ops).await {
                Ok(seqs) => {
                    tx.end(true);
                    merged = Some(seqs);
                    break;
                }
                Err(e) => {
                    tx.end(false);
                    match e {
                        StoreError::Database(db) if is_connection_error(&db) => {
                            return Err(fail(db));
                        }
                        // Another node inserting some of the same redelivered events in
                        // another order: try again, it has committed or rolled back by now.
                        StoreError::Database(db) if is_transient(&db) => continue,
                        e => {
                            tracing::warn!(error = %e,
                                "grouped inbound insert failed; inserting webhook by webhook");
                            break;
                        }
                    }
                }
            }
        }
        match merged {
            Some(seqs) => {
                for ((i, _), seqs) in inbound.iter().zip(seqs) {
                    results[*i] = Some(Ok(Applied::Inbound(seqs)));
                }
            }
            // One webhook's events must not fail the others': each in its own savepoint.
            None => {
                for (i, events) in &inbound {
                    tx.savepoint().await.map_err(fail)?;
                    let result = insert_inbound(tx.conn, &[*events])
                        .await
                        .map(|mut seqs| Applied::Inbound(seqs.pop().unwrap_or_default()));
                    tx.end(result.is_ok());
                    results[*i] = Some(connection_lost(result).map_err(fail)?);
                }
            }
        }
    }

    for (i, op) in batch.iter().enumerate() {
        if matches!(op, WriteOp::Inbound(..)) {
            continue;
        }
        tx.savepoint().await.map_err(fail)?;
        let result = apply(tx.conn, op).await;
        tx.end(result.is_ok());
        results[i] = Some(connection_lost(result).map_err(fail)?);
    }

    tx.commit().await.map_err(|error| BatchFailure {
        error,
        committing: true,
    })?;
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(StoreError::Corrupt("write not applied".into()))))
        .collect())
}

/// A write's own result, or (`Err`) the lost connection that ends the whole batch.
fn connection_lost<T>(result: Result<T, StoreError>) -> Result<Result<T, StoreError>, sqlx::Error> {
    match result {
        Err(StoreError::Database(e)) if is_connection_error(&e) => Err(e),
        other => Ok(other),
    }
}

/// Insert the inbound events of several webhooks with one statement. Returns each webhook's
/// sequences (None: recorded before, or earlier in this batch).
async fn insert_inbound(
    conn: &mut PgConnection,
    ops: &[&[NewInbound]],
) -> Result<Vec<Vec<Option<i64>>>, StoreError> {
    let total: usize = ops.iter().map(|events| events.len()).sum();
    let mut keys = Vec::with_capacity(total);
    let mut channels = Vec::with_capacity(total);
    let mut conversations = Vec::with_capacity(total);
    let mut kinds = Vec::with_capacity(total);
    let mut payloads = Vec::with_capacity(total);
    let mut processed = Vec::with_capacity(total);
    // A key twice in the batch: the first is new, the second a redelivery (as if it came later).
    let mut seen = HashSet::with_capacity(total);
    for event in ops.iter().flat_map(|events| events.iter()) {
        let key = text(&event.dedupe_key);
        if !seen.insert(key.clone()) {
            continue;
        }
        keys.push(key);
        channels.push(event.channel.as_ref().map(|c| text(c.as_str())));
        conversations.push(event.conversation.as_ref().map(|c| text(c.as_str())));
        kinds.push(event.envelope.type_label());
        payloads.push(to_json(&event.envelope)?);
        // Events that belong to no conversation have nothing to process.
        processed.push(event.conversation.is_none() || event.channel.is_none());
    }
    let rows = sqlx::query(
        "INSERT INTO inbound_events
            (dedupe_key, channel, conversation_key, kind, payload, received_at, processed)
         SELECT e.dedupe_key, e.channel, e.conversation_key, e.kind, e.payload::json, $6,
                e.processed
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $7::boolean[])
              WITH ORDINALITY AS e (dedupe_key, channel, conversation_key, kind, payload,
                                    processed, n)
         ORDER BY e.n
         ON CONFLICT ON CONSTRAINT inbound_events_dedupe_key DO NOTHING
         RETURNING seq, dedupe_key",
    )
    .bind(&keys)
    .bind(&channels)
    .bind(&conversations)
    .bind(&kinds)
    .bind(&payloads)
    .bind(now_ms())
    .bind(&processed)
    .fetch_all(&mut *conn)
    .await?;
    let mut new: HashMap<String, i64> = HashMap::with_capacity(rows.len());
    for row in rows {
        new.insert(row.try_get("dedupe_key")?, row.try_get("seq")?);
    }
    // Each key's sequence goes to its first occurrence; `remove` leaves None for the rest.
    Ok(ops
        .iter()
        .map(|events| {
            events
                .iter()
                .map(|event| new.remove(text(&event.dedupe_key).as_ref()))
                .collect()
        })
        .collect())
}

enum Applied {
    Inbound(Vec<Option<i64>>),
    Claimed(bool),
    Pruned(Pruned),
    Merged(Option<ContactRecord>),
    Erased(super::Erasure),
    Updated(ContactUpdate),
    Done,
}

fn reply(op: WriteOp, result: Result<Applied, StoreError>) {
    // A writer that stopped waiting (timed out, dropped) is not an error of the store.
    match op {
        WriteOp::Inbound(events, tx) => {
            let _ = tx.send(result.and_then(|a| match a {
                Applied::Inbound(seqs) if seqs.len() == events.len() => {
                    Ok(events.into_iter().zip(seqs).collect())
                }
                _ => Err(StoreError::Corrupt("unexpected result".into())),
            }));
        }
        WriteOp::Step(_, tx)
        | WriteOp::Outcome(_, _, _, tx)
        | WriteOp::AgentEvents(_, _, _, tx)
        | WriteOp::SettleOutbox(_, tx) => {
            let _ = tx.send(result.map(|_| ()));
        }
        WriteOp::Claim(_, _, tx) => {
            let _ = tx.send(result.and_then(|a| match a {
                Applied::Claimed(claimed) => Ok(claimed),
                _ => Err(StoreError::Corrupt("unexpected result".into())),
            }));
        }
        WriteOp::Prune(_, _, tx) => {
            let _ = tx.send(result.and_then(|a| match a {
                Applied::Pruned(pruned) => Ok(pruned),
                _ => Err(StoreError::Corrupt("unexpected result".into())),
            }));
        }
        WriteOp::MergeContacts(_, _, tx) => {
            let _ = tx.send(result.and_then(|a| match a {
                Applied::Merged(contact) => Ok(contact),
                _ => Err(StoreError::Corrupt("unexpected result".into())),
            }));
        }
        WriteOp::EraseContact(_, _, tx) => {
            let _ = tx.send(result.and_then(|a| match a {
                Applied::Erased(erasure) => Ok(erasure),
                _ => Err(StoreError::Corrupt("unexpected result".into())),
            }));
        }
        WriteOp::UpdateContact(_, _, _, _, tx) => {
            let _ = tx.send(result.and_then(|a| match a {
                Applied::Updated(update) => Ok(update),
                _ => Err(StoreError::Corrupt("unexpected result".into())),
            }));
        }
        WriteOp::Shutdown(_) => {}
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A deadlock or serialization failure: the statement may succeed if run again.
fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| matches!(code.as_ref(), "40P01" | "40001")),
        _ => false,
    }
}

async fn apply(conn: &mut PgConnection, op: &WriteOp) -> Result<Applied, StoreError> {
    match op {
        WriteOp::Inbound(events, _) => {
            let mut seqs = insert_inbound(conn, &[events.as_slice()]).await?;
            Ok(Applied::Inbound(seqs.pop().unwrap_or_default()))
        }
        WriteOp::Claim(id, stale_before_ms, _) => {
            let claimed = sqlx::query(
                "UPDATE messages SET status = 'sending', updated_at = $1
                 WHERE id = $2 AND direction = 'outbound'
                   AND (status = 'queued' OR (status = 'sending' AND updated_at < $3))",
            )
            .bind(now_ms())
            .bind(id.to_string())
            .bind(stale_before_ms.unwrap_or(i64::MIN))
            .execute(&mut *conn)
            .await?
            .rows_affected()
                > 0;
            Ok(Applied::Claimed(claimed))
        }
        WriteOp::MergeContacts(into, from, _) => Ok(Applied::Merged(
            merge_contacts(conn, into.as_str(), from.as_str(), now_ms()).await?,
        )),
        WriteOp::EraseContact(customer, erased, _) => Ok(Applied::Erased(
            super::postgres_erase::erase_contact(conn, customer.as_str(), erased.as_str()).await?,
        )),
        WriteOp::UpdateContact(customer, changes, webhooks, seed, _) => Ok(Applied::Updated(
            update_contact(
                conn,
                customer.as_str(),
                changes,
                webhooks,
                seed.as_deref(),
                now_ms(),
            )
            .await?,
        )),
        WriteOp::Prune(inbound_before, console_before, _) => {
            let inbound_events =
                sqlx::query("DELETE FROM inbound_events WHERE processed AND received_at < $1")
                    .bind(inbound_before)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
            let agent_events = sqlx::query("DELETE FROM agent_events WHERE created_at < $1")
                .bind(console_before)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            let orphan_statuses = sqlx::query("DELETE FROM orphan_statuses WHERE received_at < $1")
                .bind(inbound_before)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            Ok(Applied::Pruned(Pruned {
                inbound_events,
                agent_events,
                orphan_statuses,
            }))
        }
        WriteOp::Step(step, _) => {
            apply_step(conn, step).await?;
            Ok(Applied::Done)
        }
        WriteOp::Outcome(id, attempts, outcome, _) => {
            apply_outcome(conn, *id, *attempts, outcome).await?;
            Ok(Applied::Done)
        }
        WriteOp::AgentEvents(agent, events, keep, _) => {
            apply_agent_events(conn, agent, events, *keep).await?;
            Ok(Applied::Done)
        }
        WriteOp::SettleOutbox(ids, _) => {
            settle_outbox(conn, ids).await?;
            Ok(Applied::Done)
        }
        WriteOp::Shutdown(_) => Ok(Applied::Done),
    }
}

async fn apply_agent_events(
    conn: &mut PgConnection,
    agent: &AgentId,
    events: &[AgentEventRecord],
    keep: usize,
) -> Result<(), StoreError> {
    let Some(last) = events.last().map(|e| e.seq) else {
        return Ok(());
    };
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    let kinds: Vec<Cow<'_, str>> = events.iter().map(|e| text(&e.kind)).collect();
    let payloads = events
        .iter()
        .map(|e| to_json(&e.payload))
        .collect::<Result<Vec<_>, _>>()?;
    let created: Vec<i64> = events.iter().map(|e| e.created_at).collect();
    sqlx::query(
        "INSERT INTO agent_events (agent, seq, kind, payload, created_at)
         SELECT $1, e.seq, e.kind, e.payload::json, e.created_at
         FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::bigint[])
              AS e (seq, kind, payload, created_at)",
    )
    .bind(text(agent.as_str()))
    .bind(&seqs)
    .bind(&kinds)
    .bind(&payloads)
    .bind(&created)
    .execute(&mut *conn)
    .await?;
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    sqlx::query("DELETE FROM agent_events WHERE agent = $1 AND seq <= $2")
        .bind(text(agent.as_str()))
        .bind(last.saturating_sub(keep))
        .execute(&mut *conn)
        .await?;
    let settled: Vec<String> = events.iter().filter_map(|e| e.outbox_id.clone()).collect();
    settle_outbox(conn, &settled).await
}

/// Delete appended console outbox entries.
async fn settle_outbox(conn: &mut PgConnection, ids: &[String]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query("DELETE FROM console_outbox WHERE id = ANY($1::text[])")
        .bind(ids)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The contact an address belongs to: the contact it was linked to, else itself.
pub(super) async fn canonical(
    conn: &mut PgConnection,
    address: &str,
) -> Result<String, StoreError> {
    let found: Option<String> =
        sqlx::query_scalar("SELECT customer FROM contact_identities WHERE address = $1 LIMIT 1")
            .bind(text(address))
            .fetch_optional(&mut *conn)
            .await?;
    Ok(found.unwrap_or_else(|| address.to_string()))
}

/// The stored contact, locked until the transaction ends (two nodes may write one contact).
pub(super) async fn read_contact(
    conn: &mut PgConnection,
    customer: &str,
) -> Result<Option<ContactRecord>, StoreError> {
    let row = sqlx::query(
        "SELECT customer, name, phone, language, fields::text AS fields, tags::text AS tags
         FROM contacts WHERE customer = $1 FOR UPDATE",
    )
    .bind(text(customer))
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| contact_from_row(&row)).transpose()
}

async fn put_contact(
    conn: &mut PgConnection,
    contact: &ContactRecord,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO contacts (customer, name, phone, language, fields, tags, created_at,
            updated_at, country)
         VALUES ($1, $2, $3, $4, $5::json, $6::json, $7, $7, $8)
         ON CONFLICT (customer) DO UPDATE SET name = EXCLUDED.name, phone = EXCLUDED.phone,
            language = EXCLUDED.language, fields = EXCLUDED.fields, tags = EXCLUDED.tags,
            updated_at = EXCLUDED.updated_at, country = EXCLUDED.country",
    )
    .bind(text(contact.customer.as_str()))
    .bind(contact.name.as_deref().map(text))
    .bind(contact.phone.as_deref().map(text))
    .bind(contact.language.as_deref().map(text))
    .bind(to_json(&contact.fields)?)
    .bind(to_json(&contact.tags)?)
    .bind(now)
    .bind(super::country::of(contact))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A step's contact: its changes applied to the stored contact, or the whole contact when none
/// is stored yet.
async fn write_contact(
    conn: &mut PgConnection,
    write: &ContactWrite,
    now: i64,
) -> Result<(), StoreError> {
    let contact = match read_contact(conn, write.contact.customer.as_str()).await? {
        Some(mut stored) => {
            if write.changes.is_empty() {
                return Ok(());
            }
            write.changes.apply(&mut stored);
            stored
        }
        None => write.contact.clone(),
    };
    put_contact(conn, &contact, now).await
}

/// See [`super::Store::merge_contacts`].
/// See [`Store::update_contact`].
/// With a seed, see [`Store::upsert_contact`].
async fn update_contact(
    conn: &mut PgConnection,
    customer: &str,
    changes: &ContactChanges,
    webhooks: &[WebhookOutboxEntry],
    seed: Option<&ContactRecord>,
    now: i64,
) -> Result<ContactUpdate, StoreError> {
    let customer = canonical(conn, customer).await?;
    let before = match (read_contact(conn, &customer).await?, seed) {
        (Some(stored), _) => stored,
        (None, Some(seed)) => {
            put_contact(conn, seed, now).await?;
            seed.clone()
        }
        (None, None) => return Ok(None),
    };
    let mut after = before.clone();
    changes.apply(&mut after);
    if after != before {
        put_contact(conn, &after, now).await?;
        let events = super::with_contact(webhooks, &after);
        insert_webhook_events(conn, &events).await?;
    }
    Ok(Some((before, after)))
}

async fn merge_contacts(
    conn: &mut PgConnection,
    into: &str,
    from: &str,
    now: i64,
) -> Result<Option<ContactRecord>, StoreError> {
    let into = canonical(conn, into).await?;
    let from = canonical(conn, from).await?;
    // Lock in one order whichever way round the merge goes.
    let (first, second) = if into <= from {
        (&into, &from)
    } else {
        (&from, &into)
    };
    let first_row = read_contact(conn, first).await?;
    let second_row = read_contact(conn, second).await?;
    let (survivor, gone) = if first == &into {
        (first_row, second_row)
    } else {
        (second_row, first_row)
    };
    let (Some(survivor), Some(gone)) = (survivor, gone) else {
        return Ok(None);
    };
    if into == from {
        return Ok(Some(survivor));
    }
    let contact = merged(&survivor, &gone);
    put_contact(conn, &contact, now).await?;
    // What both did: the earliest first seen, the latest message, every conversation.
    sqlx::query(
        "UPDATE contacts SET
            conversations = contacts.conversations + g.conversations,
            created_at = LEAST(contacts.created_at, g.created_at),
            last_inbound_at = GREATEST(contacts.last_inbound_at, g.last_inbound_at)
         FROM (SELECT conversations, created_at, last_inbound_at FROM contacts
               WHERE customer = $2) g
         WHERE contacts.customer = $1",
    )
    .bind(text(&into))
    .bind(text(&from))
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE contact_identities SET customer = $1 WHERE customer = $2")
        .bind(text(&into))
        .bind(text(&from))
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM contacts WHERE customer = $1")
        .bind(text(&from))
        .execute(&mut *conn)
        .await?;
    Ok(Some(contact))
}

/// `address` proved `phone`: its contact joins the oldest other contact known by that phone.
async fn link_by_phone(
    conn: &mut PgConnection,
    address: &str,
    phone: &str,
    now: i64,
) -> Result<(), StoreError> {
    let own = canonical(conn, address).await?;
    let other: Option<String> = sqlx::query_scalar(
        "SELECT customer FROM contacts WHERE phone = $1 AND customer <> $2
         ORDER BY created_at, customer LIMIT 1",
    )
    .bind(text(phone))
    .bind(text(&own))
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(other) = other {
        merge_contacts(conn, &other, &own, now).await?;
    }
    Ok(())
}

/// The customer's BSUID names them from now on ([`ConversationStep::alias`]).
async fn link_alias(
    conn: &mut PgConnection,
    channel: &str,
    alias: &str,
    customer: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO customer_aliases (channel, alias, customer, created_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(text(channel))
    .bind(text(alias))
    .bind(text(customer))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let own = canonical(conn, customer).await?;
    let known: Option<String> =
        sqlx::query_scalar("SELECT customer FROM contact_identities WHERE address = $1 LIMIT 1")
            .bind(text(alias))
            .fetch_optional(&mut *conn)
            .await?;
    match known {
        // A contact known by the BSUID alone (it wrote first without its number).
        Some(other) if other != own => {
            merge_contacts(conn, &other, &own, now).await?;
        }
        Some(_) => {}
        None => {
            sqlx::query(
                "INSERT INTO contact_identities (channel, address, customer, first_seen)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(text(channel))
            .bind(text(alias))
            .bind(text(&own))
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

async fn apply_step(conn: &mut PgConnection, step: &ConversationStep) -> Result<(), StoreError> {
    let now = now_ms();
    // Fences first: nothing of a step that lost a race is written.
    mark_processed(conn, step.processed_seq).await?;
    if let Some(c) = &step.conversation {
        write_conversation(conn, c).await?;
    }
    if let Some(write) = &step.contact {
        write_contact(conn, write, now).await?;
    }
    let Some(c) = &step.conversation else {
        if let Some(status) = &step.status {
            apply_status_update(conn, status).await?;
        }
        return Ok(());
    };
    if c.version == 0 {
        // A new conversation: the contact may be new on this channel.
        sqlx::query(
            "INSERT INTO contact_identities (channel, address, customer, first_seen)
             VALUES ($1, $2, COALESCE((SELECT customer FROM contact_identities WHERE address = $2
                LIMIT 1), $2), $3) ON CONFLICT DO NOTHING",
        )
        .bind(text(c.channel.as_str()))
        .bind(text(c.customer.as_str()))
        .bind(c.created_at)
        .execute(&mut *conn)
        .await?;
    }
    if let Some(phone) = &step.link_phone {
        link_by_phone(conn, c.customer.as_str(), phone, now).await?;
    }
    if let Some(alias) = &step.alias {
        link_alias(conn, c.channel.as_str(), alias, c.customer.as_str(), now).await?;
    }
    let inbound_at = step
        .inbound_message
        .as_ref()
        .map(|m| c.last_inbound_at.unwrap_or(m.sent_at.saturating_mul(1000)));
    if c.version == 0 || inbound_at.is_some() {
        // What the contact did (`contact.conversations`, `contact.last_inbound_at`).
        let customer = canonical(conn, c.customer.as_str()).await?;
        sqlx::query(
            "UPDATE contacts SET conversations = conversations + $1,
                last_inbound_at = GREATEST(last_inbound_at, $2)
             WHERE customer = $3",
        )
        .bind(i64::from(c.version == 0))
        .bind(inbound_at)
        .bind(text(&customer))
        .execute(&mut *conn)
        .await?;
    }
    if let Some(message) = &step.inbound_message {
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, direction, sender, kind, body, provider_id,
                status, created_at, updated_at)
             VALUES ($1, $2, 'inbound', 'customer', $3, $4::json, $5, 'received', $6, $7)
             ON CONFLICT DO NOTHING",
        )
        .bind(message.id.to_string())
        .bind(text(&c.id))
        .bind(text(&message.kind))
        .bind(to_json(&message.body)?)
        .bind(text(message.provider_id.as_str()))
        .bind(message.sent_at.saturating_mul(1000))
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    let author = step.agent.as_ref().map(|a| text(a.as_str()));
    for (message, sender) in &step.outbound {
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, direction, sender, kind, body, reply_to,
                status, created_at, updated_at, author)
             VALUES ($1, $2, 'outbound', $3, $4, $5::json, $6, 'queued', $7, $7, $8)",
        )
        .bind(message.id.to_string())
        .bind(text(&c.id))
        .bind(sender.as_str())
        .bind(message.content.type_label())
        .bind(to_json(&message.content)?)
        .bind(message.reply_to.as_ref().map(|r| text(r.as_str())))
        .bind(now)
        .bind(if *sender == Sender::Agent {
            author.clone()
        } else {
            None
        })
        .execute(&mut *conn)
        .await?;
    }
    if let Some((id, note)) = &step.note {
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, direction, sender, kind, body, status,
                created_at, updated_at, author)
             VALUES ($1, $2, 'note', 'agent', 'note', $3::json, 'internal', $4, $4, $5)",
        )
        .bind(id.to_string())
        .bind(text(&c.id))
        .bind(to_json(
            &serde_json::json!({ "type": "note", "body": note }),
        )?)
        .bind(now)
        .bind(author.clone())
        .execute(&mut *conn)
        .await?;
    }
    if !step.events.is_empty() {
        let kinds: Vec<Cow<'_, str>> = step.events.iter().map(|e| text(&e.kind)).collect();
        let agents: Vec<Option<Cow<'_, str>>> = step
            .events
            .iter()
            .map(|e| e.agent.as_ref().map(|a| text(a.as_str())))
            .collect();
        let teams: Vec<Option<Cow<'_, str>>> = step
            .events
            .iter()
            .map(|e| e.team.as_ref().map(|t| text(t.as_str())))
            .collect();
        let details: Vec<Option<Cow<'_, str>>> = step
            .events
            .iter()
            .map(|e| e.detail.as_deref().map(text))
            .collect();
        sqlx::query(
            "INSERT INTO conversation_events (conversation_id, kind, agent, team, detail, at)
             SELECT $1, e.kind, e.agent, e.team, e.detail, $6
             FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY
                  AS e (kind, agent, team, detail, n)
             ORDER BY e.n",
        )
        .bind(text(&c.id))
        .bind(&kinds)
        .bind(&agents)
        .bind(&teams)
        .bind(&details)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    if !step.console.is_empty() {
        let ids: Vec<Cow<'_, str>> = step.console.iter().map(|e| text(&e.id)).collect();
        let agents: Vec<Cow<'_, str>> = step
            .console
            .iter()
            .map(|e| text(e.agent.as_str()))
            .collect();
        let kinds: Vec<Cow<'_, str>> = step.console.iter().map(|e| text(&e.kind)).collect();
        let payloads = step
            .console
            .iter()
            .map(|e| to_json(&e.payload))
            .collect::<Result<Vec<_>, _>>()?;
        let created: Vec<i64> = step.console.iter().map(|e| e.created_at).collect();
        let keys: Vec<Option<&str>> = step
            .console
            .iter()
            .map(|e| e.conversation.as_ref().map(|k| k.as_str()))
            .collect();
        sqlx::query(
            "INSERT INTO console_outbox (id, agent, kind, payload, created_at, conversation_key)
             SELECT e.id, e.agent, e.kind, e.payload::json, e.created_at, e.conversation_key
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[])
                  AS e (id, agent, kind, payload, created_at, conversation_key)",
        )
        .bind(&ids)
        .bind(&agents)
        .bind(&kinds)
        .bind(&payloads)
        .bind(&created)
        .bind(&keys)
        .execute(&mut *conn)
        .await?;
    }
    insert_webhook_events(conn, &step.webhooks).await?;
    super::postgres_reports::write_reports(conn, step).await?;
    if let Some(status) = &step.status {
        apply_status_update(conn, status).await?;
    }
    Ok(())
}

/// Append events to the webhook outbox (`webhook_events`), in order.
async fn insert_webhook_events(
    conn: &mut PgConnection,
    events: &[WebhookOutboxEntry],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<Cow<'_, str>> = events.iter().map(|e| text(&e.id)).collect();
    let kinds: Vec<Cow<'_, str>> = events.iter().map(|e| text(&e.kind)).collect();
    let keys: Vec<Cow<'_, str>> = events
        .iter()
        .map(|e| text(e.conversation.as_str()))
        .collect();
    let teams: Vec<Option<Cow<'_, str>>> = events
        .iter()
        .map(|e| e.team.as_ref().map(|t| text(t.as_str())))
        .collect();
    let channels: Vec<Cow<'_, str>> = events.iter().map(|e| text(e.channel.as_str())).collect();
    let payloads = events
        .iter()
        .map(|e| to_json(&e.payload))
        .collect::<Result<Vec<_>, _>>()?;
    let created: Vec<i64> = events.iter().map(|e| e.created_at).collect();
    sqlx::query(
        "INSERT INTO webhook_events (id, kind, conversation_key, team, channel, payload,
                created_at)
             SELECT e.id, e.kind, e.conversation_key, e.team, e.channel, e.payload, e.created_at
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::bigint[]) WITH ORDINALITY
                  AS e (id, kind, conversation_key, team, channel, payload, created_at, n)
             ORDER BY e.n",
    )
    .bind(&ids)
    .bind(&kinds)
    .bind(&keys)
    .bind(&teams)
    .bind(&channels)
    .bind(&payloads)
    .bind(&created)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Insert a new conversation (version 0 → 1) or update the stored one over the version the step
/// was computed from; anything else is a [`StoreError::Conflict`].
async fn write_conversation(
    conn: &mut PgConnection,
    c: &ConversationRecord,
) -> Result<(), StoreError> {
    if c.version == 0 {
        let inserted = sqlx::query(
            "INSERT INTO conversations
                (id, key, channel, customer, status, team, bot_state, created_at, updated_at,
                 handoff_at, last_seq, assignee, priority, route, assigned_at, first_response_at,
                 resolved_at, snoozed_until, last_inbound_at, sla, version)
             VALUES ($1, $2, $3, $4, $5, $6, $7::json, $8, $9, $10, $11, $12, $13, $14::json, $15,
                     $16, $17, $18, $19, $20::json, 1)",
        )
        .bind(text(&c.id))
        .bind(text(c.key.as_str()))
        .bind(text(c.channel.as_str()))
        .bind(text(c.customer.as_str()))
        .bind(c.status.as_str())
        .bind(c.team.as_ref().map(|t| text(t.as_str())))
        .bind(to_json(&c.bot_state)?)
        .bind(c.created_at)
        .bind(c.updated_at)
        .bind(c.handoff_at)
        .bind(c.last_seq)
        .bind(c.assignee.as_ref().map(|a| text(a.as_str())))
        .bind(c.priority)
        .bind(c.route.as_ref().map(to_json).transpose()?)
        .bind(c.assigned_at)
        .bind(c.first_response_at)
        .bind(c.resolved_at)
        .bind(c.snoozed_until)
        .bind(c.last_inbound_at)
        .bind(to_json(&c.sla)?)
        .execute(&mut *conn)
        .await;
        return match inserted {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
                format!("conversation {} already has an open conversation", c.key),
            )),
            Err(e) => Err(e.into()),
        };
    }
    let updated = sqlx::query(
        "UPDATE conversations SET status = $1, team = $2, bot_state = $3::json, updated_at = $4,
            handoff_at = $5, last_seq = $6, assignee = $7, priority = $8, route = $9::json,
            assigned_at = $10, first_response_at = $11, resolved_at = $12, snoozed_until = $13,
            last_inbound_at = $14, sla = $15::json, version = version + 1
         WHERE id = $16 AND version = $17",
    )
    .bind(c.status.as_str())
    .bind(c.team.as_ref().map(|t| text(t.as_str())))
    .bind(to_json(&c.bot_state)?)
    .bind(c.updated_at)
    .bind(c.handoff_at)
    .bind(c.last_seq)
    .bind(c.assignee.as_ref().map(|a| text(a.as_str())))
    .bind(c.priority)
    .bind(c.route.as_ref().map(to_json).transpose()?)
    .bind(c.assigned_at)
    .bind(c.first_response_at)
    .bind(c.resolved_at)
    .bind(c.snoozed_until)
    .bind(c.last_inbound_at)
    .bind(to_json(&c.sla)?)
    .bind(text(&c.id))
    .bind(c.version)
    .execute(&mut *conn)
    .await;
    match updated {
        Ok(done) if done.rows_affected() == 1 => Ok(()),
        Ok(_) => Err(StoreError::Conflict(format!(
            "conversation {} changed since version {}",
            c.id, c.version
        ))),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
            format!("conversation {} already has an open conversation", c.key),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Mark the inbound event consumed; [`StoreError::Conflict`] if it already was.
async fn mark_processed(conn: &mut PgConnection, seq: Option<i64>) -> Result<(), StoreError> {
    if let Some(seq) = seq {
        let done = sqlx::query(
            "UPDATE inbound_events SET processed = TRUE WHERE seq = $1 AND NOT processed",
        )
        .bind(seq)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "inbound event {seq} already processed"
            )));
        }
    }
    Ok(())
}

/// Serialize, until this transaction ends, every write that ties statuses to a message by this
/// provider id: a status arriving on one node while another records the send's response must
/// not leave the status an orphan that nobody applies.
async fn lock_provider_id(conn: &mut PgConnection, provider_id: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(PROVIDER_ID_LOCK)
        .bind(text(provider_id))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn apply_status_update(
    conn: &mut PgConnection,
    status: &StatusUpdate,
) -> Result<(), StoreError> {
    lock_provider_id(conn, status.provider_id.as_str()).await?;
    let error = status.errors.first();
    // A message whose send response never came back (its sender died mid-request) is known by
    // the id we gave Meta as callback data: the status tells us it did reach Meta.
    if let Some(id) = status
        .biz_opaque_callback_data
        .as_deref()
        .and_then(MessageId::parse)
    {
        sqlx::query(
            "UPDATE messages SET provider_id = $1
             WHERE id = $2 AND direction = 'outbound' AND provider_id IS NULL
               AND NOT EXISTS (SELECT 1 FROM messages WHERE provider_id = $1)",
        )
        .bind(text(status.provider_id.as_str()))
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    }
    apply_status(
        &mut *conn,
        status.provider_id.as_str(),
        status.status.as_str(),
        error.map(|e| e.code),
        error.and_then(|e| e.title.clone().or_else(|| e.message.clone())),
    )
    .await?;
    // What Meta says the message costs, from its first status that says it.
    if let Some(category) = &status.pricing_category {
        sqlx::query(
            "UPDATE messages SET pricing_category = $1, pricing_type = $2
             WHERE provider_id = $3 AND pricing_category IS NULL",
        )
        .bind(text(category))
        .bind(status.pricing_type.as_deref().map(text))
        .bind(text(status.provider_id.as_str()))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Move a message's status forward (never backwards); remember it if the message's provider
/// id is not known yet. The caller holds the provider id's lock.
async fn apply_status(
    conn: &mut PgConnection,
    provider_id: &str,
    status: &str,
    error_code: Option<i64>,
    error_reason: Option<String>,
) -> Result<(), StoreError> {
    if error_code == Some(super::STOPPED_MARKETING) {
        record_stopped_marketing(conn, "provider_id", provider_id, error_reason.as_deref()).await?;
    }
    if error_code == Some(super::HEALTHY_ECOSYSTEM) {
        record_marketing_retry(conn, "provider_id", provider_id).await?;
    }
    // FOR UPDATE: the status we compare with is the committed one, and stays so until we write.
    let current: Option<String> =
        sqlx::query_scalar("SELECT status FROM messages WHERE provider_id = $1 FOR UPDATE")
            .bind(text(provider_id))
            .fetch_optional(&mut *conn)
            .await?;
    match current {
        Some(current) => {
            if status_rank(status) > status_rank(&current) {
                sqlx::query(
                    "UPDATE messages SET status = $1, error_code = COALESCE($2, error_code),
                        error_reason = COALESCE($3, error_reason), updated_at = $4
                     WHERE provider_id = $5",
                )
                .bind(text(status))
                .bind(error_code)
                .bind(error_reason.as_deref().map(text))
                .bind(now_ms())
                .bind(text(provider_id))
                .execute(&mut *conn)
                .await?;
            }
        }
        None => {
            sqlx::query(
                "INSERT INTO orphan_statuses
                    (provider_id, status, error_code, error_reason, received_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(text(provider_id))
            .bind(text(status))
            .bind(error_code)
            .bind(error_reason.as_deref().map(text))
            .bind(now_ms())
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// A 131050 failure of the message whose `column` is `value`: an opt-out in the consent ledger
/// ([`super::stopped_marketing_sql`]).
async fn record_stopped_marketing(
    conn: &mut PgConnection,
    column: &str,
    value: &str,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    let sql = super::side::numbered(&super::stopped_marketing_sql(column));
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(super::stopped_marketing_proof(reason))
        .bind(now_ms())
        .bind(text(value))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A 131049 failure of the message whose `column` is `value`: its retry, later
/// ([`super::marketing_retry_sql`]).
async fn record_marketing_retry(
    conn: &mut PgConnection,
    column: &str,
    value: &str,
) -> Result<(), StoreError> {
    let sql = super::side::numbered(&super::marketing_retry_sql(column));
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now_ms())
        .bind(text(value))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn apply_outcome(
    conn: &mut PgConnection,
    id: MessageId,
    attempts: u32,
    outcome: &OutboundOutcome,
) -> Result<(), StoreError> {
    let now = now_ms();
    match outcome {
        OutboundOutcome::Accepted { provider_id } => {
            if let Some(provider_id) = provider_id {
                lock_provider_id(conn, provider_id.as_str()).await?;
            }
            sqlx::query(
                "UPDATE messages SET provider_id = COALESCE($1, provider_id), attempts = $2,
                    status = CASE WHEN status IN ('queued', 'sending') THEN 'accepted'
                                  ELSE status END,
                    updated_at = $3
                 WHERE id = $4",
            )
            .bind(provider_id.as_ref().map(|p| text(p.as_str())))
            .bind(i64::from(attempts))
            .bind(now)
            .bind(id.to_string())
            .execute(&mut *conn)
            .await?;
            if let Some(provider_id) = provider_id {
                let orphans = sqlx::query(
                    "DELETE FROM orphan_statuses WHERE provider_id = $1
                     RETURNING status, error_code, error_reason",
                )
                .bind(text(provider_id.as_str()))
                .fetch_all(&mut *conn)
                .await?;
                for row in orphans {
                    let status: String = row.try_get("status")?;
                    apply_status(
                        conn,
                        provider_id.as_str(),
                        &status,
                        row.try_get("error_code")?,
                        row.try_get("error_reason")?,
                    )
                    .await?;
                }
            }
        }
        OutboundOutcome::Failed { code, reason } => {
            if *code == Some(super::STOPPED_MARKETING) {
                record_stopped_marketing(conn, "id", &id.to_string(), Some(reason)).await?;
            }
            if *code == Some(super::HEALTHY_ECOSYSTEM) {
                record_marketing_retry(conn, "id", &id.to_string()).await?;
            }
            sqlx::query(
                "UPDATE messages SET status = 'failed', error_code = $1, error_reason = $2,
                    attempts = $3, updated_at = $4 WHERE id = $5",
            )
            .bind(code)
            .bind(text(reason))
            .bind(i64::from(attempts))
            .bind(now)
            .bind(id.to_string())
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// PostgreSQL text cannot hold the NUL character (SQLite's can): it becomes U+FFFD, so a
/// customer who types one does not make their webhook fail for ever. JSON documents are not
/// affected: serde_json writes NUL as the escape `\u0000`, which the `json` type keeps.
pub(super) fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}
