//! The embedded store: one SQLite file in WAL mode.
//!
//! All writes go through one writer task that owns the only write connection. It takes every
//! write waiting in its bounded queue (up to `max_batch`, waiting at most `max_wait` for
//! companions), applies each inside its own savepoint of one transaction, commits once (one
//! fsync, `synchronous = FULL`), then answers every writer. Under load the queue fills while a
//! commit is in flight, so batches grow by themselves. Reads use a separate pool.

use std::str::FromStr;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection, Row};
use tokio::sync::{mpsc, oneshot};

use super::{
    AgentEventRecord, ContactRecord, ConversationEvent, ConversationFilter, ConversationRecord,
    ConversationStatus, ConversationStep, NewInbound, OutboundOutcome, OutboundState,
    PendingOutbound, Pruned, Recorded, RecordedInbound, Store, StoreCounts, StoreError,
    StoredMessage, status_rank,
};
use crate::config::DatabaseSettings;
use crate::domain::{
    AgentId, ChannelId, ConversationKey, CustomerId, MessageId, OutboundContent, OutboundMessage,
    ProviderMessageId, Sender, TeamId,
};
use crate::metrics as m;

pub struct SqliteStore {
    writer: mpsc::Sender<WriteOp>,
    reader: SqlitePool,
    writer_task: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum WriteOp {
    Inbound(Vec<NewInbound>, Reply<Recorded>),
    Step(Box<ConversationStep>, Reply<()>),
    Outcome(MessageId, u32, OutboundOutcome, Reply<()>),
    AgentEvents(AgentId, Vec<AgentEventRecord>, usize, Reply<()>),
    Claim(MessageId, Option<i64>, Reply<bool>),
    Prune(i64, i64, Reply<Pruned>),
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
        let reader = SqlitePoolOptions::new()
            .max_connections(settings.read_pool_size.max(1))
            .connect_with(options.clone().read_only(true))
            .await?;
        let (tx, rx) = mpsc::channel(settings.queue_capacity);
        let writer = Writer {
            conn,
            rx,
            max_batch: settings.max_batch,
            max_wait: settings.max_wait(),
        };
        let task = tokio::spawn(writer.run());
        Ok(Self {
            writer: tx,
            reader,
            writer_task: tokio::sync::Mutex::new(Some(task)),
        })
    }

    /// Hand a write to the writer; shed with `Overloaded` when its queue is full.
    async fn write<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> WriteOp,
        shed: bool,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        let op = make(reply);
        if shed {
            self.writer.try_send(op).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    metrics::counter!(m::MAILBOX_SHEDS, "queue" => "store").increment(1);
                    StoreError::Overloaded
                }
                mpsc::error::TrySendError::Closed(_) => StoreError::Unavailable,
            })?;
        } else {
            self.writer
                .send(op)
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
        self.write(|reply| WriteOp::Inbound(events, reply), true)
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

    async fn load_contact(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<ContactRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM contacts WHERE customer = ?")
            .bind(customer.as_str())
            .fetch_optional(&self.reader)
            .await?;
        row.map(|row| contact_from_row(&row)).transpose()
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
        self.write(|reply| WriteOp::Step(Box::new(step), reply), false)
            .await
    }

    async fn record_outbound_outcome(
        &self,
        id: MessageId,
        attempts: u32,
        outcome: OutboundOutcome,
    ) -> Result<(), StoreError> {
        self.write(
            |reply| WriteOp::Outcome(id, attempts, outcome, reply),
            false,
        )
        .await
    }

    async fn claim_outbound(
        &self,
        id: MessageId,
        stale_before_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        self.write(|reply| WriteOp::Claim(id, stale_before_ms, reply), false)
            .await
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
        query
            .push(" ORDER BY updated_at DESC LIMIT ")
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
            "SELECT * FROM conversations WHERE customer = ?
             ORDER BY created_at DESC, rowid DESC LIMIT ?",
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
        self.write(
            |reply| WriteOp::AgentEvents(agent, events, keep, reply),
            false,
        )
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
        rows.iter()
            .map(|row| {
                let payload: String = row.try_get("payload")?;
                Ok(AgentEventRecord {
                    seq: row.try_get("seq")?,
                    kind: row.try_get("kind")?,
                    payload: from_json(&payload, "agent event")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
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
        self.write(
            |reply| WriteOp::Prune(inbound_before_ms, console_before_ms, reply),
            false,
        )
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        if self.writer.is_closed() {
            return Err(StoreError::Unavailable);
        }
        Ok(())
    }

    async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.writer.send(WriteOp::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
        if let Some(task) = self.writer_task.lock().await.take() {
            let _ = task.await;
        }
        self.reader.close().await;
    }
}

struct Writer {
    conn: SqliteConnection,
    rx: mpsc::Receiver<WriteOp>,
    max_batch: usize,
    max_wait: Duration,
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
                metrics::histogram!(m::STORE_COMMIT_LATENCY)
                    .record(started.elapsed().as_secs_f64());
                metrics::histogram!(m::STORE_COMMIT_BATCH).record(size as f64);
            }
            if let Some(WriteOp::Shutdown(done)) = shutdown {
                self.rx.close();
                if let Err(e) = self.conn.close().await {
                    tracing::warn!(error = %e, "closing the write connection");
                }
                let _ = done.send(());
                return;
            }
        }
    }

    /// Take what is waiting; if that is little, wait up to `max_wait` for more.
    async fn fill(&mut self, batch: &mut Vec<WriteOp>) {
        let deadline = tokio::time::Instant::now() + self.max_wait;
        while batch.len() < self.max_batch {
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

    /// Apply every op in its own savepoint of one transaction, commit once, answer everyone.
    async fn commit(&mut self, batch: &mut Vec<WriteOp>) {
        let mut results: Vec<Result<Applied, StoreError>> = Vec::with_capacity(batch.len());
        let outcome: Result<(), StoreError> = async {
            let mut tx = self.conn.begin().await?;
            for op in batch.iter() {
                sqlx::query("SAVEPOINT op").execute(&mut *tx).await?;
                let result = apply(&mut tx, op).await;
                if result.is_ok() {
                    sqlx::query("RELEASE op").execute(&mut *tx).await?;
                } else {
                    sqlx::query("ROLLBACK TO op").execute(&mut *tx).await?;
                    sqlx::query("RELEASE op").execute(&mut *tx).await?;
                }
                results.push(result);
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        match outcome {
            Ok(()) => {
                for (op, result) in batch.drain(..).zip(results) {
                    reply(op, result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "grouped commit failed");
                let message = e.to_string();
                for op in batch.drain(..) {
                    reply(
                        op,
                        Err(StoreError::Corrupt(format!("commit failed: {message}"))),
                    );
                }
            }
        }
    }
}

enum Applied {
    Inbound(Vec<Option<i64>>),
    Claimed(bool),
    Pruned(Pruned),
    Done,
}

fn reply(op: WriteOp, result: Result<Applied, StoreError>) {
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
        | WriteOp::AgentEvents(_, _, _, tx) => {
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
        WriteOp::Shutdown(_) => {}
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn apply(conn: &mut SqliteConnection, op: &WriteOp) -> Result<Applied, StoreError> {
    match op {
        WriteOp::Inbound(events, _) => {
            let now = now_ms();
            let mut seqs = Vec::with_capacity(events.len());
            for event in events {
                let payload = serde_json::to_string(&event.envelope)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                // Events that belong to no conversation have nothing to process.
                let processed = event.conversation.is_none() || event.channel.is_none();
                let seq: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO inbound_events
                        (dedupe_key, channel, conversation_key, kind, payload, received_at, processed)
                     VALUES (?, ?, ?, ?, ?, ?, ?)
                     ON CONFLICT (dedupe_key) DO NOTHING RETURNING seq",
                )
                .bind(&event.dedupe_key)
                .bind(event.channel.as_ref().map(|c| c.as_str()))
                .bind(event.conversation.as_ref().map(|c| c.as_str()))
                .bind(event.envelope.type_label())
                .bind(payload)
                .bind(now)
                .bind(processed)
                .fetch_optional(&mut *conn)
                .await?;
                seqs.push(seq);
            }
            Ok(Applied::Inbound(seqs))
        }
        WriteOp::Claim(id, stale_before_ms, _) => {
            let claimed = sqlx::query(
                "UPDATE messages SET status = 'sending', updated_at = ?
                 WHERE id = ? AND direction = 'outbound'
                   AND (status = 'queued' OR (status = 'sending' AND updated_at < ?))",
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
        WriteOp::Prune(inbound_before, console_before, _) => {
            let inbound_events =
                sqlx::query("DELETE FROM inbound_events WHERE processed = 1 AND received_at < ?")
                    .bind(inbound_before)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
            let agent_events = sqlx::query("DELETE FROM agent_events WHERE created_at < ?")
                .bind(console_before)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            let orphan_statuses = sqlx::query("DELETE FROM orphan_statuses WHERE received_at < ?")
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
        WriteOp::Shutdown(_) => Ok(Applied::Done),
    }
}

async fn apply_agent_events(
    conn: &mut SqliteConnection,
    agent: &AgentId,
    events: &[AgentEventRecord],
    keep: usize,
) -> Result<(), StoreError> {
    let mut last = None;
    for event in events {
        sqlx::query(
            "INSERT INTO agent_events (agent, seq, kind, payload, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(agent.as_str())
        .bind(event.seq)
        .bind(&event.kind)
        .bind(to_json(&event.payload)?)
        .bind(event.created_at)
        .execute(&mut *conn)
        .await?;
        last = Some(event.seq);
    }
    if let Some(last) = last {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        sqlx::query("DELETE FROM agent_events WHERE agent = ? AND seq <= ?")
            .bind(agent.as_str())
            .bind(last.saturating_sub(keep))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn apply_step(
    conn: &mut SqliteConnection,
    step: &ConversationStep,
) -> Result<(), StoreError> {
    let now = now_ms();
    // Fences first: nothing of a step that lost a race is written.
    mark_processed(conn, step.processed_seq).await?;
    if let Some(c) = &step.conversation {
        write_conversation(conn, c).await?;
    }
    if let Some(contact) = &step.contact {
        sqlx::query(
            "INSERT INTO contacts (customer, name, phone, language, fields, tags, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (customer) DO UPDATE SET name = excluded.name, phone = excluded.phone,
                language = excluded.language, fields = excluded.fields, tags = excluded.tags,
                updated_at = excluded.updated_at",
        )
        .bind(contact.customer.as_str())
        .bind(&contact.name)
        .bind(&contact.phone)
        .bind(&contact.language)
        .bind(to_json(&contact.fields)?)
        .bind(to_json(&contact.tags)?)
        .bind(now)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    let Some(c) = &step.conversation else {
        if let Some(status) = &step.status {
            apply_status_update(conn, status).await?;
        }
        return Ok(());
    };
    if let Some(message) = &step.inbound_message {
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, direction, sender, kind, body, provider_id,
                status, created_at, updated_at)
             VALUES (?, ?, 'inbound', 'customer', ?, ?, ?, 'received', ?, ?)
             ON CONFLICT DO NOTHING",
        )
        .bind(message.id.to_string())
        .bind(&c.id)
        .bind(&message.kind)
        .bind(to_json(&message.body)?)
        .bind(message.provider_id.as_str())
        .bind(message.sent_at.saturating_mul(1000))
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    let author = step.agent.as_ref().map(|a| a.as_str());
    for (message, sender) in &step.outbound {
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, direction, sender, kind, body, reply_to,
                status, created_at, updated_at, author)
             VALUES (?, ?, 'outbound', ?, ?, ?, ?, 'queued', ?, ?, ?)",
        )
        .bind(message.id.to_string())
        .bind(&c.id)
        .bind(sender.as_str())
        .bind(message.content.type_label())
        .bind(to_json(&message.content)?)
        .bind(message.reply_to.as_ref().map(|r| r.as_str()))
        .bind(now)
        .bind(now)
        .bind(if *sender == Sender::Agent {
            author
        } else {
            None
        })
        .execute(&mut *conn)
        .await?;
    }
    if let Some((id, text)) = &step.note {
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, direction, sender, kind, body, status,
                created_at, updated_at, author)
             VALUES (?, ?, 'note', 'agent', 'note', ?, 'internal', ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(&c.id)
        .bind(to_json(
            &serde_json::json!({ "type": "note", "body": text }),
        )?)
        .bind(now)
        .bind(now)
        .bind(author)
        .execute(&mut *conn)
        .await?;
    }
    for event in &step.events {
        sqlx::query(
            "INSERT INTO conversation_events (conversation_id, kind, agent, team, detail, at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&c.id)
        .bind(&event.kind)
        .bind(event.agent.as_ref().map(|a| a.as_str()))
        .bind(event.team.as_ref().map(|t| t.as_str()))
        .bind(&event.detail)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    if let Some(status) = &step.status {
        apply_status_update(conn, status).await?;
    }
    Ok(())
}

/// Insert a new conversation (version 0 → 1) or update the stored one over the version the step
/// was computed from; anything else is a [`StoreError::Conflict`].
async fn write_conversation(
    conn: &mut SqliteConnection,
    c: &ConversationRecord,
) -> Result<(), StoreError> {
    if c.version == 0 {
        let inserted = sqlx::query(
            "INSERT INTO conversations
                (id, key, channel, customer, status, team, bot_state, created_at, updated_at,
                 handoff_at, last_seq, assignee, priority, route, assigned_at, first_response_at,
                 resolved_at, snoozed_until, version)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
        )
        .bind(&c.id)
        .bind(c.key.as_str())
        .bind(c.channel.as_str())
        .bind(c.customer.as_str())
        .bind(c.status.as_str())
        .bind(c.team.as_ref().map(|t| t.as_str()))
        .bind(to_json(&c.bot_state)?)
        .bind(c.created_at)
        .bind(c.updated_at)
        .bind(c.handoff_at)
        .bind(c.last_seq)
        .bind(c.assignee.as_ref().map(|a| a.as_str()))
        .bind(c.priority)
        .bind(c.route.as_ref().map(to_json).transpose()?)
        .bind(c.assigned_at)
        .bind(c.first_response_at)
        .bind(c.resolved_at)
        .bind(c.snoozed_until)
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
        "UPDATE conversations SET status = ?, team = ?, bot_state = ?, updated_at = ?,
            handoff_at = ?, last_seq = ?, assignee = ?, priority = ?, route = ?, assigned_at = ?,
            first_response_at = ?, resolved_at = ?, snoozed_until = ?, version = version + 1
         WHERE id = ? AND version = ?",
    )
    .bind(c.status.as_str())
    .bind(c.team.as_ref().map(|t| t.as_str()))
    .bind(to_json(&c.bot_state)?)
    .bind(c.updated_at)
    .bind(c.handoff_at)
    .bind(c.last_seq)
    .bind(c.assignee.as_ref().map(|a| a.as_str()))
    .bind(c.priority)
    .bind(c.route.as_ref().map(to_json).transpose()?)
    .bind(c.assigned_at)
    .bind(c.first_response_at)
    .bind(c.resolved_at)
    .bind(c.snoozed_until)
    .bind(&c.id)
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
async fn mark_processed(conn: &mut SqliteConnection, seq: Option<i64>) -> Result<(), StoreError> {
    if let Some(seq) = seq {
        let done =
            sqlx::query("UPDATE inbound_events SET processed = 1 WHERE seq = ? AND processed = 0")
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

async fn apply_status_update(
    conn: &mut SqliteConnection,
    status: &crate::domain::StatusUpdate,
) -> Result<(), StoreError> {
    let error = status.errors.first();
    // A message whose send response never came back (its sender died mid-request) is known by
    // the id we gave Meta as callback data: the status tells us it did reach Meta.
    if let Some(id) = status
        .biz_opaque_callback_data
        .as_deref()
        .and_then(MessageId::parse)
    {
        sqlx::query(
            "UPDATE messages SET provider_id = ?
             WHERE id = ? AND direction = 'outbound' AND provider_id IS NULL
               AND NOT EXISTS (SELECT 1 FROM messages WHERE provider_id = ?)",
        )
        .bind(status.provider_id.as_str())
        .bind(id.to_string())
        .bind(status.provider_id.as_str())
        .execute(&mut *conn)
        .await?;
    }
    apply_status(
        conn,
        status.provider_id.as_str(),
        status.status.as_str(),
        error.map(|e| e.code),
        error.and_then(|e| e.title.clone().or_else(|| e.message.clone())),
    )
    .await
}

/// Move a message's status forward (never backwards); remember it if the message's provider
/// id is not known yet.
async fn apply_status(
    conn: &mut SqliteConnection,
    provider_id: &str,
    status: &str,
    error_code: Option<i64>,
    error_reason: Option<String>,
) -> Result<(), StoreError> {
    let current: Option<String> =
        sqlx::query_scalar("SELECT status FROM messages WHERE provider_id = ?")
            .bind(provider_id)
            .fetch_optional(&mut *conn)
            .await?;
    match current {
        Some(current) => {
            if status_rank(status) > status_rank(&current) {
                sqlx::query(
                    "UPDATE messages SET status = ?, error_code = COALESCE(?, error_code),
                        error_reason = COALESCE(?, error_reason), updated_at = ?
                     WHERE provider_id = ?",
                )
                .bind(status)
                .bind(error_code)
                .bind(error_reason)
                .bind(now_ms())
                .bind(provider_id)
                .execute(&mut *conn)
                .await?;
            }
        }
        None => {
            sqlx::query(
                "INSERT INTO orphan_statuses (provider_id, status, error_code, error_reason, received_at)
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(provider_id)
            .bind(status)
            .bind(error_code)
            .bind(error_reason)
            .bind(now_ms())
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

async fn apply_outcome(
    conn: &mut SqliteConnection,
    id: MessageId,
    attempts: u32,
    outcome: &OutboundOutcome,
) -> Result<(), StoreError> {
    let now = now_ms();
    match outcome {
        OutboundOutcome::Accepted { provider_id } => {
            sqlx::query(
                "UPDATE messages SET provider_id = COALESCE(?, provider_id), attempts = ?,
                    status = CASE WHEN status IN ('queued', 'sending') THEN 'accepted' ELSE status END,
                    updated_at = ?
                 WHERE id = ?",
            )
            .bind(provider_id.as_ref().map(|p| p.as_str()))
            .bind(attempts)
            .bind(now)
            .bind(id.to_string())
            .execute(&mut *conn)
            .await?;
            if let Some(provider_id) = provider_id {
                let orphans = sqlx::query(
                    "DELETE FROM orphan_statuses WHERE provider_id = ?
                     RETURNING status, error_code, error_reason",
                )
                .bind(provider_id.as_str())
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
            sqlx::query(
                "UPDATE messages SET status = 'failed', error_code = ?, error_reason = ?,
                    attempts = ?, updated_at = ? WHERE id = ?",
            )
            .bind(code)
            .bind(reason)
            .bind(attempts)
            .bind(now)
            .bind(id.to_string())
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn conversation_from_row(row: &SqliteRow) -> Result<ConversationRecord, StoreError> {
    let status: String = row.try_get("status")?;
    let bot_state: String = row.try_get("bot_state")?;
    let team: Option<String> = row.try_get("team")?;
    let route: Option<String> = row.try_get("route")?;
    Ok(ConversationRecord {
        id: row.try_get("id")?,
        key: ConversationKey::from_stored(row.try_get("key")?),
        channel: ChannelId::new(row.try_get::<String, _>("channel")?),
        customer: CustomerId::new(row.try_get::<String, _>("customer")?),
        status: ConversationStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("conversation status {status}")))?,
        team: team.map(TeamId::new),
        bot_state: from_json(&bot_state, "bot_state")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        handoff_at: row.try_get("handoff_at")?,
        last_seq: row.try_get("last_seq")?,
        assignee: row
            .try_get::<Option<String>, _>("assignee")?
            .map(AgentId::new),
        priority: row.try_get("priority")?,
        route: route.map(|r| from_json(&r, "route")).transpose()?,
        assigned_at: row.try_get("assigned_at")?,
        first_response_at: row.try_get("first_response_at")?,
        resolved_at: row.try_get("resolved_at")?,
        snoozed_until: row.try_get("snoozed_until")?,
        version: row.try_get("version")?,
    })
}

fn contact_from_row(row: &SqliteRow) -> Result<ContactRecord, StoreError> {
    let fields: String = row.try_get("fields")?;
    let tags: String = row.try_get("tags")?;
    Ok(ContactRecord {
        customer: CustomerId::new(row.try_get::<String, _>("customer")?),
        name: row.try_get("name")?,
        phone: row.try_get("phone")?,
        language: row.try_get("language")?,
        fields: from_json(&fields, "contact fields")?,
        tags: from_json(&tags, "contact tags")?,
    })
}

fn message_from_row(row: &SqliteRow) -> Result<StoredMessage, StoreError> {
    let body: String = row.try_get("body")?;
    Ok(StoredMessage {
        id: row.try_get("id")?,
        conversation_id: row.try_get("conversation_id")?,
        direction: row.try_get("direction")?,
        sender: row.try_get("sender")?,
        kind: row.try_get("kind")?,
        body: from_json(&body, "message body")?,
        provider_id: row.try_get("provider_id")?,
        status: row.try_get("status")?,
        error_code: row.try_get("error_code")?,
        error_reason: row.try_get("error_reason")?,
        attempts: row.try_get("attempts")?,
        created_at: row.try_get("created_at")?,
        author: row.try_get("author")?,
    })
}
