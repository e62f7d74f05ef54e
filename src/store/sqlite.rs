//! The embedded store: one SQLite file in WAL mode.
//!
//! All writes go through one writer thread that owns the only write connection (see
//! `sqlite_writer`): grouped commits, each write standing alone (rolled back alone when it
//! fails), one fsync per group, every writer answered after it. The webhook path sheds with `Overloaded` when the bounded write queue is
//! full; conversation steps wait for room. Migrations and reads use sqlx (reads from a pool of
//! read-only connections).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, Row};
use tokio::sync::oneshot;

use super::accounts::AccountError;
use super::rows::{
    agent_event_from_row, contact_from_row, conversation_from_row, from_json, identity_from_row,
    message_from_row, outbox_entry_from_row,
};
use super::sqlite_accounts_writer::{AccountDone, AccountWrite};
use super::{
    AgentEventRecord, ConsoleOutboxEntry, ContactFilter, ContactIdentity, ContactListing,
    ContactRecord, ContactUpdate, ConversationEvent, ConversationFilter, ConversationRecord,
    ConversationStep, NewInbound, OutboundOutcome, OutboundState, PendingOutbound, Pruned,
    Recorded, RecordedInbound, Store, StoreCounts, StoreError, StoredMessage,
};
use crate::config::DatabaseSettings;
use crate::crm::contact::ContactChanges;
use crate::domain::{
    AgentId, ChannelId, ConversationKey, CustomerId, MessageId, OutboundContent, OutboundMessage,
    ProviderMessageId, TeamId,
};
use crate::metrics as m;

/// A pool of one connection of its own on the store's file (already migrated by the store), for
/// the rooms that keep their records beside the store's (media, web chat visitors, event
/// webhooks): WAL, `synchronous=FULL`, and a write waits for the store's writer through
/// `busy_timeout`.
pub async fn side_pool(path: &std::path::Path) -> Result<sqlx::SqlitePool, StoreError> {
    side_pool_of(path, 1).await
}

/// [`side_pool`] with `connections` connections (readers run side by side under WAL).
pub async fn side_pool_of(
    path: &std::path::Path,
    connections: u32,
) -> Result<sqlx::SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10));
    Ok(SqlitePoolOptions::new()
        .max_connections(connections.max(1))
        .connect_with(options)
        .await?)
}

pub struct SqliteStore {
    /// Processing writes (everything but webhooks' records).
    pub(super) writer: flume::Sender<WriteOp>,
    /// Webhooks' records: the writer commits them on their own, ahead of processing.
    intake: flume::Sender<WriteOp>,
    pub(super) reader: SqlitePool,
    writer_thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The WAL's checkpointer (`sqlite_writer::Checkpointer`); it stops after the writer.
    checkpoint_thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

pub(super) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub(super) enum WriteOp {
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
        Vec<super::WebhookOutboxEntry>,
        Option<Box<ContactRecord>>,
        Reply<ContactUpdate>,
    ),
    /// A write to the records of people (see `sqlite_accounts`): it may be refused.
    Account(
        Box<AccountWrite>,
        oneshot::Sender<Result<AccountDone, AccountError>>,
    ),
    /// Commit what came before, close the connection, stop.
    Shutdown(oneshot::Sender<()>),
}

impl SqliteStore {
    /// Open (creating if needed) the database file and run migrations.
    pub async fn open(url: &str, settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        if let Some(parent) = settings.sqlite_path().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Corrupt(format!("cannot create data dir {}: {e}", parent.display()))
            })?;
        }
        let mut conn = SqliteConnection::connect_with(&options).await?;
        sqlx::migrate!("./migrations/sqlite").run(&mut conn).await?;
        conn.close().await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(settings.read_pool_size.max(1))
            // A burst of new conversations queues for the readers: that wait is the backlog
            // (`switchboard_conversation_backlog`), not a warning per read.
            .acquire_slow_level(log::LevelFilter::Debug)
            .connect_with(options.clone().read_only(true))
            .await?;
        let mut write_conn = super::sqlite_writer::connect(options.get_filename())?;
        // Contacts stored before `contacts.country` existed get theirs, and hourly report
        // rollups written before the coarser levels existed are folded into them (once).
        let write_conn = tokio::task::spawn_blocking(move || {
            super::country::backfill_sqlite(&mut write_conn)?;
            super::levels::backfill_sqlite(&mut write_conn).map(|()| write_conn)
        })
        .await
        .map_err(|e| StoreError::Engine(format!("the backfills stopped: {e}")))??;
        let (tx, rx) = flume::bounded(settings.queue_capacity.max(1));
        let (intake_tx, intake_rx) = flume::bounded(settings.queue_capacity.max(1));
        let (checkpointer, committed) =
            super::sqlite_writer::Checkpointer::new(options.get_filename())?;
        let writer = super::sqlite_writer::Writer::new(
            write_conn,
            intake_rx,
            rx,
            settings.max_batch,
            settings.max_wait(),
            settings.processing_slice(),
            committed,
        );
        // The checkpointer stops once the writer (holding its signal) is gone.
        let checkpoints = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpointer.run())
            .map_err(|e| StoreError::Engine(format!("cannot start the checkpointer: {e}")))?;
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| StoreError::Engine(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            writer: tx,
            intake: intake_tx,
            reader,
            writer_thread: std::sync::Mutex::new(Some(thread)),
            checkpoint_thread: std::sync::Mutex::new(Some(checkpoints)),
        })
    }

    /// Hand a processing write to the writer, waiting for room in its queue.
    async fn write<T>(&self, make: impl FnOnce(Reply<T>) -> WriteOp) -> Result<T, StoreError> {
        self.send(&self.writer, make, false).await
    }

    /// Hand a write to the writer on `lane`; with `shed`, refuse it with `Overloaded` when the
    /// lane's queue is full.
    async fn send<T>(
        &self,
        lane: &flume::Sender<WriteOp>,
        make: impl FnOnce(Reply<T>) -> WriteOp,
        shed: bool,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        let op = make(reply);
        if shed {
            lane.try_send(op).map_err(|e| match e {
                flume::TrySendError::Full(_) => {
                    metrics::counter!(m::MAILBOX_SHEDS, "queue" => "store").increment(1);
                    StoreError::Overloaded
                }
                flume::TrySendError::Disconnected(_) => StoreError::Unavailable,
            })?;
        } else {
            lane.send_async(op)
                .await
                .map_err(|_| StoreError::Unavailable)?;
        }
        rx.await.map_err(|_| StoreError::Unavailable)?
    }
}

#[async_trait]
impl Store for SqliteStore {
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
            "SELECT seq, channel, payload FROM inbound_events
             WHERE conversation_key = ? AND processed = 0 AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(key.as_str())
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
             WHERE processed = 0 AND received_at < ? AND conversation_key IS NOT NULL
             GROUP BY channel, conversation_key ORDER BY first LIMIT ?",
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
        let row = sqlx::query(
            "SELECT * FROM conversations WHERE key = ? ORDER BY created_at DESC, rowid DESC LIMIT 1",
        )
        .bind(key.as_str())
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
            "SELECT customer FROM customer_aliases WHERE channel = ? AND alias = ?",
        )
        .bind(channel.as_str())
        .bind(alias)
        .fetch_optional(&self.reader)
        .await?;
        Ok(customer.map(CustomerId::new))
    }

    async fn load_contact(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<ContactRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM contacts WHERE customer =
                COALESCE((SELECT customer FROM contact_identities WHERE address = ?1 LIMIT 1), ?1)",
        )
        .bind(customer.as_str())
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| contact_from_row(&row)).transpose()
    }

    async fn load_contact_listing(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<ContactListing>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM contacts WHERE customer =
                COALESCE((SELECT customer FROM contact_identities WHERE address = ?1 LIMIT 1), ?1)",
        )
        .bind(customer.as_str())
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
        let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "SELECT customer, name, phone, language, fields, tags, created_at, updated_at,
                last_inbound_at, conversations
             FROM contacts WHERE 1 = 1",
        );
        if let Some(tag) = &filter.tag {
            query
                .push(
                    " AND EXISTS (SELECT 1 FROM json_each(contacts.tags) WHERE json_each.value = ",
                )
                .push_bind(tag.clone())
                .push(")");
        }
        if let Some(language) = &filter.language {
            query.push(" AND language = ").push_bind(language.clone());
        }
        if let Some(channel) = &filter.channel {
            query
                .push(" AND customer IN (SELECT customer FROM contact_identities WHERE channel = ")
                .push_bind(channel.as_str().to_string())
                .push(")");
        }
        if let Some(text) = &filter.text {
            let pattern = super::like_anywhere(text);
            query
                .push(" AND (lower(coalesce(name, '')) LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR lower(coalesce(json_extract(fields, '$.email'), '')) LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR customer IN (SELECT customer FROM contact_identities WHERE lower(address) LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
            if let Some(digits) = super::phone_digits(text) {
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
                .push_bind(after.id.clone())
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
        webhooks: Vec<super::WebhookOutboxEntry>,
    ) -> Result<ContactUpdate, StoreError> {
        let (customer, changes) = (customer.clone(), Box::new(changes.clone()));
        self.write(|reply| WriteOp::UpdateContact(customer, changes, webhooks, None, reply))
            .await
    }

    async fn upsert_contact(
        &self,
        seed: &ContactRecord,
        changes: &ContactChanges,
        webhooks: Vec<super::WebhookOutboxEntry>,
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
                COALESCE((SELECT customer FROM contact_identities WHERE address = ?1 LIMIT 1), ?1)
             ORDER BY first_seen, channel",
        )
        .bind(customer.as_str())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(identity_from_row).collect()
    }

    async fn is_processed(&self, seq: i64) -> Result<bool, StoreError> {
        let processed: Option<bool> =
            sqlx::query_scalar("SELECT processed != 0 FROM inbound_events WHERE seq = ?")
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
            "SELECT status FROM messages WHERE id = ? AND direction = 'outbound'",
        )
        .bind(id.to_string())
        .fetch_optional(&self.reader)
        .await?)
    }

    async fn pending_outbound(&self) -> Result<Vec<PendingOutbound>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.id, m.body, m.reply_to, m.status, m.updated_at, c.key, c.channel, c.customer
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
        let rows = sqlx::query("SELECT * FROM messages WHERE conversation_id = ? ORDER BY rowid")
            .bind(conversation_id)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(message_from_row).collect()
    }

    async fn message_by_provider_id(
        &self,
        provider_id: &ProviderMessageId,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let row = sqlx::query("SELECT * FROM messages WHERE provider_id = ?")
            .bind(provider_id.as_str())
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    async fn counts(&self) -> Result<StoreCounts, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM inbound_events) AS inbound_events,
                    (SELECT COUNT(*) FROM inbound_events WHERE processed = 0) AS unprocessed,
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
        let row = sqlx::query("SELECT * FROM conversations WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(conversation_from_row).transpose()
    }

    async fn list_conversations(
        &self,
        filter: &ConversationFilter,
    ) -> Result<Vec<ConversationRecord>, StoreError> {
        let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "SELECT * FROM conversations WHERE status != 'bot' AND (team IN (",
        );
        {
            let mut teams = query.separated(", ");
            teams.push_bind("");
            for team in &filter.visible_teams {
                teams.push_bind(team.as_str().to_string());
            }
        }
        query.push(")");
        if let Some(viewer) = &filter.viewer {
            query
                .push(" OR assignee = ")
                .push_bind(viewer.as_str().to_string());
        }
        query.push(")");
        if let Some(status) = filter.status {
            query.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(team) = &filter.team {
            query
                .push(" AND team = ")
                .push_bind(team.as_str().to_string());
        }
        if let Some(assignee) = &filter.assignee {
            query
                .push(" AND assignee = ")
                .push_bind(assignee.as_str().to_string());
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
            query.push(" AND channel = ").push_bind(channel.as_str());
        }
        if let Some(tag) = &filter.tag {
            query
                .push(" AND customer IN (SELECT i.address FROM contact_identities i JOIN contacts ON contacts.customer = i.customer, json_each(contacts.tags) WHERE json_each.value = ")
                .push_bind(tag.as_str())
                .push(")");
        }
        if let Some(text) = &filter.text {
            let pattern = super::like_anywhere(text);
            query
                .push(" AND (customer IN (SELECT i.address FROM contact_identities i JOIN contacts ON contacts.customer = i.customer WHERE lower(contacts.name) LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\')")
                .push(" OR id IN (SELECT conversation_id FROM messages WHERE kind IN ('text', 'note', 'image', 'video', 'document') AND lower(coalesce(json_extract(body, '$.body'), json_extract(body, '$.caption'), json_extract(body, '$.media.caption'), '')) LIKE ")
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
                .push_bind(after.id.as_str())
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
        let rows = sqlx::query(
            "SELECT * FROM conversations WHERE customer = ?1 OR customer IN (
                SELECT address FROM contact_identities WHERE customer = COALESCE(
                    (SELECT customer FROM contact_identities WHERE address = ?1 LIMIT 1), ?1))
             ORDER BY created_at DESC, rowid DESC LIMIT ?2",
        )
        .bind(customer.as_str())
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
             WHERE customer = ? AND id != ? AND assignee IS NOT NULL
             ORDER BY created_at DESC, rowid DESC LIMIT 1",
        )
        .bind(customer.as_str())
        .bind(except)
        .fetch_optional(&self.reader)
        .await?;
        Ok(agent.map(AgentId::new))
    }

    async fn open_conversations(&self) -> Result<Vec<ConversationRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM conversations WHERE status IN ('waiting', 'assigned', 'snoozed')
             ORDER BY handoff_at, rowid",
        )
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
             WHERE conversation_id = ? ORDER BY id",
        )
        .bind(conversation_id)
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
            "SELECT id, agent, kind, payload, created_at, conversation_key FROM console_outbox
             WHERE created_at < ? ORDER BY created_at, id LIMIT ?",
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
            "SELECT seq, kind, payload, created_at FROM agent_events
             WHERE agent = ? AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(agent.as_str())
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(agent_event_from_row).collect()
    }

    async fn agent_event_bounds(&self, agent: &AgentId) -> Result<Option<(i64, i64)>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(seq) AS first, MAX(seq) AS last FROM agent_events WHERE agent = ?",
        )
        .bind(agent.as_str())
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
        if self.writer.is_disconnected() {
            return Err(StoreError::Unavailable);
        }
        Ok(())
    }

    async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.writer.send_async(WriteOp::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
        let thread = self
            .writer_thread
            .lock()
            .ok()
            .and_then(|mut thread| thread.take());
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        let checkpoints = self
            .checkpoint_thread
            .lock()
            .ok()
            .and_then(|mut thread| thread.take());
        if let Some(thread) = checkpoints {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        self.reader.close().await;
    }
}

pub(super) enum Applied {
    Inbound(Vec<Option<i64>>),
    Claimed(bool),
    Pruned(Pruned),
    Merged(Option<ContactRecord>),
    Erased(super::Erasure),
    Updated(ContactUpdate),
    Account(AccountDone),
    /// An account write refused (nothing of it is kept: it is rolled back alone).
    Refused(AccountError),
    Done,
}

impl Applied {
    /// Whether the write is kept rather than rolled back.
    pub(super) fn keep(&self) -> bool {
        !matches!(self, Applied::Refused(_))
    }
}

pub(super) fn reply(op: WriteOp, result: Result<Applied, StoreError>) {
    // A writer that stopped waiting (timed out, dropped) is not an error of the store.
    match op {
        WriteOp::Inbound(events, tx) => {
            let _ = tx.send(result.and_then(|a| match a {
                Applied::Inbound(seqs) => Ok(events.into_iter().zip(seqs).collect()),
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
        WriteOp::Account(_, tx) => {
            let _ = tx.send(match result {
                Ok(Applied::Account(done)) => Ok(done),
                Ok(Applied::Refused(refusal)) => Err(refusal),
                Ok(_) => Err(StoreError::Corrupt("unexpected result".into()).into()),
                Err(e) => Err(e.into()),
            });
        }
        WriteOp::Shutdown(_) => {}
    }
}
