//! The SQLite store's writer: one OS thread owning the only write connection (rusqlite), so
//! that a grouped commit runs its statements directly, one after the other, with cached
//! prepared statements, instead of handing each one to another thread and waiting for it.
//!
//! It takes every write waiting in its bounded queue (up to `max_batch`, waiting at most
//! `max_wait` for companions), applies them in one transaction (a write that fails, e.g. a
//! fenced step that lost a race, is rolled back alone: see [`Writer::commit`]), commits once
//! (one fsync, `synchronous = FULL`), then answers every writer. Under load the queue fills while a
//! commit is in flight, so batches grow by themselves.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::accounts::AccountError;
use super::rows::from_json;
use super::sqlite::{Applied, WriteOp, reply};
use super::{
    AgentEventRecord, ContactRecord, ContactWrite, ConversationRecord, ConversationStep,
    OutboundOutcome, Pruned, StoreError, status_rank,
};
use crate::crm::contact::merged;
use crate::domain::{AgentId, CustomerId, MessageId, Sender, StatusUpdate};
use crate::metrics as m;

pub(super) struct Writer {
    conn: Connection,
    /// Webhooks' inbound records: committed on their own, ahead of everything else.
    intake: flume::Receiver<WriteOp>,
    /// Every other write (conversation steps, claims, outcomes, console events…).
    work: flume::Receiver<WriteOp>,
    max_batch: usize,
    max_wait: Duration,
    /// A processing commit closes once it has applied this long while webhooks wait.
    slice: Duration,
    /// Tells the [`Checkpointer`] that a commit added to the WAL.
    committed: flume::Sender<()>,
}

/// Which of the two lanes a commit served (a label of the commit metrics).
#[derive(Clone, Copy)]
enum Lane {
    Intake,
    Processing,
}

impl Lane {
    fn label(self) -> &'static str {
        match self {
            Lane::Intake => "intake",
            Lane::Processing => "processing",
        }
    }
}

/// The write connection: WAL, `synchronous = FULL`, foreign keys, a busy timeout, temporary
/// files (a savepoint's sub-journal) in memory, its own checkpoint only as a backstop (see
/// [`Checkpointer`]).
pub(super) fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(engine)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(engine)?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES};"
    ))
    .map_err(engine)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// The WAL's size (pages) at which the writer checkpoints by itself (SQLite's default). Most
/// pages have been copied back by the [`Checkpointer`] by then, so the writer copies only the
/// rest; and only a checkpoint that finishes at the WAL's end lets the WAL start again from its
/// beginning, which one running beside a busy writer rarely does. With 4,000 the WAL grew to
/// 34 MB in a burst of new conversations, for no gain.
const WRITER_CHECKPOINT_PAGES: u32 = 1_000;

/// The checkpointer's pause after each checkpoint, so commits gather in the WAL in between.
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(100);

/// Copies the WAL's pages back into the database file on a thread and connection of its own
/// (a passive checkpoint: it never waits for, nor blocks, the writer or the readers), so that
/// the writer's commits do not do most of that work. Before, SQLite's automatic checkpoint ran
/// inside the commit that took the WAL past 1,000 pages: every tenth commit or so in a burst
/// paid for the whole copy and the database file's fsync while webhooks waited behind it.
pub(super) struct Checkpointer {
    conn: Connection,
    committed: flume::Receiver<()>,
}

impl Checkpointer {
    pub(super) fn new(path: &Path) -> Result<(Self, flume::Sender<()>), StoreError> {
        let conn = Connection::open(path).map_err(engine)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(engine)?;
        let (tx, committed) = flume::bounded(1);
        Ok((Self { conn, committed }, tx))
    }

    /// Checkpoint after commits, at most once per [`CHECKPOINT_PAUSE`], until the writer is
    /// gone.
    pub(super) fn run(self) {
        let mut due = self.committed.recv().is_ok();
        while due {
            if let Err(e) = self
                .conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            {
                tracing::warn!(error = %e, "WAL checkpoint failed; the writer's own checkpoint backs it up");
            }
            due = false;
            let until = Instant::now() + CHECKPOINT_PAUSE;
            loop {
                match self.committed.recv_deadline(until) {
                    Ok(()) => due = true,
                    Err(flume::RecvTimeoutError::Timeout) => break,
                    Err(flume::RecvTimeoutError::Disconnected) => return,
                }
            }
            if !due {
                due = self.committed.recv().is_ok();
            }
        }
    }
}

pub(super) fn engine(e: rusqlite::Error) -> StoreError {
    StoreError::Engine(e.to_string())
}

pub(super) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.code == rusqlite::ErrorCode::ConstraintViolation
            && (f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY))
}

impl Writer {
    pub(super) fn new(
        conn: Connection,
        intake: flume::Receiver<WriteOp>,
        work: flume::Receiver<WriteOp>,
        max_batch: usize,
        max_wait: Duration,
        slice: Duration,
        committed: flume::Sender<()>,
    ) -> Self {
        Self {
            conn,
            intake,
            work,
            max_batch: max_batch.max(1),
            max_wait,
            slice,
            committed,
        }
    }

    /// Serve writes until shut down (or every sender is gone).
    ///
    /// Each round first commits the webhooks that wait (their own transaction: an
    /// acknowledgement never waits for processing writes to be applied), then the processing
    /// writes that wait, in order. A processing commit that has applied `slice` of work while
    /// webhooks came in closes there; the writes it did not reach go first in the next round.
    pub(super) fn run(mut self) {
        let mut intake = Vec::with_capacity(self.max_batch);
        let mut work: Vec<WriteOp> = Vec::with_capacity(self.max_batch);
        loop {
            // Nothing in hand: sleep until either lane has something, then gather companions
            // for that lane for up to `max_wait`.
            if work.is_empty() {
                let woke = flume::Selector::new()
                    .recv(&self.intake, |op| op.map(|op| (Lane::Intake, op)))
                    .recv(&self.work, |op| op.map(|op| (Lane::Processing, op)))
                    .wait();
                match woke {
                    Ok((Lane::Intake, op)) => {
                        intake.push(op);
                        fill(&self.intake, &mut intake, self.max_batch, self.max_wait);
                    }
                    Ok((Lane::Processing, op)) => {
                        work.push(op);
                        fill(&self.work, &mut work, self.max_batch, self.max_wait);
                    }
                    // Every sender is gone: the store was dropped without a shutdown.
                    Err(_) => return,
                }
            }
            fill(&self.intake, &mut intake, self.max_batch, Duration::ZERO);
            if !intake.is_empty() {
                self.commit(&mut intake, Lane::Intake, None);
            }
            fill(&self.work, &mut work, self.max_batch, Duration::ZERO);
            // A shutdown request ends the round: what came before it commits, then we stop.
            let shutdown = match work
                .iter()
                .position(|op| matches!(op, WriteOp::Shutdown(_)))
            {
                Some(i) => work.split_off(i).into_iter().next(),
                None => None,
            };
            if !work.is_empty() {
                // No early close once stopping: everything before the request commits now.
                let slice = shutdown.is_none().then_some(self.slice);
                self.commit(&mut work, Lane::Processing, slice);
            }
            if let Some(WriteOp::Shutdown(done)) = shutdown {
                // Whatever is still queued is refused: the store is closing.
                drop(self.intake);
                drop(self.work);
                if let Err((_, e)) = self.conn.close() {
                    tracing::warn!(error = %e, "closing the write connection");
                }
                let _ = done.send(());
                return;
            }
        }
    }

    /// Apply the ops of `batch` in order in one transaction, commit once, answer every op
    /// applied and remove it from `batch`. With a `slice`, stop applying once that much time
    /// went by while webhooks are waiting: the rest stays in `batch`.
    ///
    /// Each op must stand alone: one that fails (a fenced step that lost a race, a refused
    /// account write) leaves nothing behind while the others commit. The first attempt applies
    /// the ops one after the other with nothing around them, which is nearly always enough: a
    /// savepoint per op would copy every page the op touches into the sub-journal first. Only
    /// when an op fails is that attempt rolled back and the same ops applied again, each in its
    /// own savepoint.
    fn commit(&mut self, batch: &mut Vec<WriteOp>, lane: Lane, slice: Option<Duration>) {
        let started = Instant::now();
        let intake = &self.intake;
        let mut results: Vec<Result<Applied, StoreError>> = Vec::with_capacity(batch.len());
        let outcome: Result<(), rusqlite::Error> = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut failed = false;
            for op in batch.iter() {
                if !results.is_empty()
                    && slice.is_some_and(|slice| started.elapsed() >= slice)
                    && !intake.is_empty()
                {
                    break;
                }
                let result = apply(&tx, op);
                failed = !result.as_ref().is_ok_and(Applied::keep);
                results.push(result);
                if failed {
                    break;
                }
            }
            if !failed {
                return tx.commit();
            }
            tx.rollback()?;
            // Again, isolating each op: the same ops, and those the first attempt did not
            // reach (so the slice still counts from the start).
            metrics::counter!(m::STORE_ISOLATED_COMMITS).increment(1);
            results.clear();
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            for op in batch.iter() {
                if !results.is_empty()
                    && slice.is_some_and(|slice| started.elapsed() >= slice)
                    && !intake.is_empty()
                {
                    break;
                }
                tx.execute_batch("SAVEPOINT op")?;
                let result = apply(&tx, op);
                if result.as_ref().is_ok_and(Applied::keep) {
                    tx.execute_batch("RELEASE op")?;
                } else {
                    tx.execute_batch("ROLLBACK TO op; RELEASE op")?;
                }
                results.push(result);
            }
            tx.commit()
        })();
        let size = results.len();
        match outcome {
            Ok(()) => {
                for (op, result) in batch.drain(..size).zip(results) {
                    reply(op, result);
                }
                // One signal waiting is enough: the checkpointer copies whatever is there.
                let _ = self.committed.try_send(());
            }
            Err(e) => {
                // Nothing of the transaction is kept: every op it was to carry fails.
                tracing::error!(error = %e, "grouped commit failed");
                let message = e.to_string();
                for op in batch.drain(..) {
                    reply(
                        op,
                        Err(StoreError::Engine(format!("commit failed: {message}"))),
                    );
                }
            }
        }
        metrics::histogram!(m::STORE_COMMIT_LATENCY, "lane" => lane.label())
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!(m::STORE_COMMIT_BATCH, "lane" => lane.label()).record(size as f64);
    }
}

/// Take what waits on `rx` into `batch` (up to `max_batch`); if that is little, wait up to
/// `max_wait` for more. Stops at a shutdown request.
fn fill(
    rx: &flume::Receiver<WriteOp>,
    batch: &mut Vec<WriteOp>,
    max_batch: usize,
    max_wait: Duration,
) {
    let deadline = Instant::now() + max_wait;
    while batch.len() < max_batch && !matches!(batch.last(), Some(WriteOp::Shutdown(_))) {
        match rx.try_recv() {
            Ok(op) => batch.push(op),
            Err(flume::TryRecvError::Disconnected) => return,
            Err(flume::TryRecvError::Empty) => {
                if max_wait.is_zero() {
                    return;
                }
                match rx.recv_deadline(deadline) {
                    Ok(op) => batch.push(op),
                    Err(_) => return,
                }
            }
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn apply(conn: &Connection, op: &WriteOp) -> Result<Applied, StoreError> {
    match op {
        WriteOp::Inbound(events, _) => {
            let now = now_ms();
            let mut insert = conn
                .prepare_cached(
                    "INSERT INTO inbound_events
                        (dedupe_key, channel, conversation_key, kind, payload, received_at, processed)
                     VALUES (?, ?, ?, ?, ?, ?, ?)
                     ON CONFLICT (dedupe_key) DO NOTHING RETURNING seq",
                )
                .map_err(engine)?;
            let mut seqs = Vec::with_capacity(events.len());
            for event in events {
                let payload = to_json(&event.envelope)?;
                // Events that belong to no conversation have nothing to process.
                let processed = event.conversation.is_none() || event.channel.is_none();
                let seq: Option<i64> = insert
                    .query_row(
                        params![
                            event.dedupe_key,
                            event.channel.as_ref().map(|c| c.as_str()),
                            event.conversation.as_ref().map(|c| c.as_str()),
                            event.envelope.type_label(),
                            payload,
                            now,
                            processed,
                        ],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(engine)?;
                seqs.push(seq);
            }
            Ok(Applied::Inbound(seqs))
        }
        WriteOp::Claim(id, stale_before_ms, _) => {
            let claimed = conn
                .prepare_cached(
                    "UPDATE messages SET status = 'sending', updated_at = ?
                     WHERE id = ? AND direction = 'outbound'
                       AND (status = 'queued' OR (status = 'sending' AND updated_at < ?))",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        now_ms(),
                        id.to_string(),
                        stale_before_ms.unwrap_or(i64::MIN)
                    ])
                })
                .map_err(engine)?
                > 0;
            Ok(Applied::Claimed(claimed))
        }
        WriteOp::Prune(inbound_before, console_before, _) => {
            let inbound_events = conn
                .execute(
                    "DELETE FROM inbound_events WHERE processed = 1 AND received_at < ?",
                    params![inbound_before],
                )
                .map_err(engine)? as u64;
            let agent_events = conn
                .execute(
                    "DELETE FROM agent_events WHERE created_at < ?",
                    params![console_before],
                )
                .map_err(engine)? as u64;
            let orphan_statuses = conn
                .execute(
                    "DELETE FROM orphan_statuses WHERE received_at < ?",
                    params![inbound_before],
                )
                .map_err(engine)? as u64;
            Ok(Applied::Pruned(Pruned {
                inbound_events,
                agent_events,
                orphan_statuses,
            }))
        }
        WriteOp::Step(step, _) => {
            apply_step(conn, step)?;
            Ok(Applied::Done)
        }
        WriteOp::Outcome(id, attempts, outcome, _) => {
            apply_outcome(conn, *id, *attempts, outcome)?;
            Ok(Applied::Done)
        }
        WriteOp::AgentEvents(agent, events, keep, _) => {
            apply_agent_events(conn, agent, events, *keep)?;
            Ok(Applied::Done)
        }
        WriteOp::SettleOutbox(ids, _) => {
            settle_outbox(conn, ids)?;
            Ok(Applied::Done)
        }
        WriteOp::Account(write, _) => Ok(match super::sqlite_accounts_writer::apply(conn, write) {
            Ok(done) => Applied::Account(done),
            Err(AccountError::Store(e)) => return Err(e),
            Err(refusal) => Applied::Refused(refusal),
        }),
        WriteOp::MergeContacts(into, from, _) => Ok(Applied::Merged(merge_contacts(
            conn,
            into.as_str(),
            from.as_str(),
            now_ms(),
        )?)),
        WriteOp::EraseContact(customer, erased, _) => Ok(Applied::Erased(
            super::sqlite_erase::erase_contact(conn, customer.as_str(), erased.as_str())?,
        )),
        WriteOp::UpdateContact(customer, changes, webhooks, seed, _) => {
            Ok(Applied::Updated(update_contact(
                conn,
                customer.as_str(),
                changes,
                webhooks,
                seed.as_deref(),
                now_ms(),
            )?))
        }
        WriteOp::Shutdown(_) => Ok(Applied::Done),
    }
}

/// The contact an address belongs to: the contact it was linked to, else itself.
pub(super) fn canonical(conn: &Connection, address: &str) -> rusqlite::Result<String> {
    conn.prepare_cached("SELECT customer FROM contact_identities WHERE address = ? LIMIT 1")?
        .query_row(params![address], |row| row.get(0))
        .optional()
        .map(|found| found.unwrap_or_else(|| address.to_string()))
}

pub(super) fn read_contact(
    conn: &Connection,
    customer: &str,
) -> Result<Option<ContactRecord>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT name, phone, language, fields, tags FROM contacts WHERE customer = ?",
        )
        .and_then(|mut s| {
            s.query_row(params![customer], |row| {
                Ok((
                    row.get::<_, Option<String>>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                ))
            })
            .optional()
        })
        .map_err(engine)?;
    let Some((name, phone, language, fields, tags)) = row else {
        return Ok(None);
    };
    Ok(Some(ContactRecord {
        customer: CustomerId::new(customer),
        name,
        phone,
        language,
        fields: from_json(&fields, "contact fields")?,
        tags: from_json(&tags, "contact tags")?,
    }))
}

fn put_contact(conn: &Connection, contact: &ContactRecord, now: i64) -> Result<(), StoreError> {
    let (fields, tags) = (to_json(&contact.fields)?, to_json(&contact.tags)?);
    conn.prepare_cached(
        "INSERT INTO contacts (customer, name, phone, country, language, fields, tags, created_at,
            updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (customer) DO UPDATE SET name = excluded.name, phone = excluded.phone,
            country = excluded.country, language = excluded.language, fields = excluded.fields,
            tags = excluded.tags, updated_at = excluded.updated_at",
    )
    .and_then(|mut s| {
        s.execute(params![
            contact.customer.as_str(),
            contact.name,
            contact.phone,
            super::country::of(contact),
            contact.language,
            fields,
            tags,
            now,
            now
        ])
    })
    .map_err(engine)?;
    Ok(())
}

/// A step's contact: its changes applied to the stored contact, or the whole contact when none
/// is stored yet.
fn write_contact(conn: &Connection, write: &ContactWrite, now: i64) -> Result<(), StoreError> {
    let contact = match read_contact(conn, write.contact.customer.as_str())? {
        Some(mut stored) => {
            if write.changes.is_empty() {
                return Ok(());
            }
            write.changes.apply(&mut stored);
            stored
        }
        None => write.contact.clone(),
    };
    put_contact(conn, &contact, now)
}

/// See [`super::Store::update_contact`] and [`super::Store::upsert_contact`] (with a seed).
fn update_contact(
    conn: &Connection,
    customer: &str,
    changes: &crate::crm::contact::ContactChanges,
    webhooks: &[super::WebhookOutboxEntry],
    seed: Option<&ContactRecord>,
    now: i64,
) -> Result<super::ContactUpdate, StoreError> {
    let customer = canonical(conn, customer).map_err(engine)?;
    let before = match (read_contact(conn, &customer)?, seed) {
        (Some(stored), _) => stored,
        (None, Some(seed)) => {
            put_contact(conn, seed, now)?;
            seed.clone()
        }
        (None, None) => return Ok(None),
    };
    let mut after = before.clone();
    changes.apply(&mut after);
    if after != before {
        put_contact(conn, &after, now)?;
        let events = super::with_contact(webhooks, &after);
        insert_webhook_events(conn, &events)?;
    }
    Ok(Some((before, after)))
}

/// See [`super::Store::merge_contacts`].
pub(super) fn merge_contacts(
    conn: &Connection,
    into: &str,
    from: &str,
    now: i64,
) -> Result<Option<ContactRecord>, StoreError> {
    let into = canonical(conn, into).map_err(engine)?;
    let from = canonical(conn, from).map_err(engine)?;
    let (Some(survivor), Some(gone)) = (read_contact(conn, &into)?, read_contact(conn, &from)?)
    else {
        return Ok(None);
    };
    if into == from {
        return Ok(Some(survivor));
    }
    let contact = merged(&survivor, &gone);
    put_contact(conn, &contact, now)?;
    // What both did: the earliest first seen, the latest message, every conversation.
    conn.prepare_cached(
        "UPDATE contacts SET
            conversations = contacts.conversations + g.conversations,
            created_at = min(contacts.created_at, g.created_at),
            last_inbound_at = CASE WHEN g.last_inbound_at IS NULL THEN contacts.last_inbound_at
                ELSE max(coalesce(contacts.last_inbound_at, g.last_inbound_at), g.last_inbound_at)
                END
         FROM (SELECT conversations, created_at, last_inbound_at FROM contacts WHERE customer = ?2) g
         WHERE contacts.customer = ?1",
    )
    .and_then(|mut s| s.execute(params![into, from]))
    .map_err(engine)?;
    conn.prepare_cached("UPDATE contact_identities SET customer = ? WHERE customer = ?")
        .and_then(|mut s| s.execute(params![into, from]))
        .map_err(engine)?;
    conn.prepare_cached("DELETE FROM contacts WHERE customer = ?")
        .and_then(|mut s| s.execute(params![from]))
        .map_err(engine)?;
    Ok(Some(contact))
}

/// `address` proved `phone`: its contact joins the oldest other contact known by that phone.
fn link_by_phone(
    conn: &Connection,
    address: &str,
    phone: &str,
    now: i64,
) -> Result<(), StoreError> {
    let own = canonical(conn, address).map_err(engine)?;
    let other: Option<String> = conn
        .prepare_cached(
            "SELECT customer FROM contacts WHERE phone = ? AND customer <> ?
             ORDER BY created_at, customer LIMIT 1",
        )
        .and_then(|mut s| {
            s.query_row(params![phone, own], |row| row.get(0))
                .optional()
        })
        .map_err(engine)?;
    if let Some(other) = other {
        merge_contacts(conn, &other, &own, now)?;
    }
    Ok(())
}

/// The customer's BSUID names them from now on ([`ConversationStep::alias`]).
fn link_alias(
    conn: &Connection,
    channel: &str,
    alias: &str,
    customer: &str,
    now: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO customer_aliases (channel, alias, customer, created_at)
         VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .and_then(|mut s| s.execute(params![channel, alias, customer, now]))
    .map_err(engine)?;
    let own = canonical(conn, customer).map_err(engine)?;
    let known: Option<String> = conn
        .prepare_cached("SELECT customer FROM contact_identities WHERE address = ? LIMIT 1")
        .and_then(|mut s| s.query_row(params![alias], |row| row.get(0)).optional())
        .map_err(engine)?;
    match known {
        // A contact known by the BSUID alone (it wrote first without its number).
        Some(other) if other != own => {
            merge_contacts(conn, &other, &own, now)?;
        }
        Some(_) => {}
        None => {
            conn.prepare_cached(
                "INSERT INTO contact_identities (channel, address, customer, first_seen)
                 VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![channel, alias, own, now]))
            .map_err(engine)?;
        }
    }
    Ok(())
}

fn apply_agent_events(
    conn: &Connection,
    agent: &AgentId,
    events: &[AgentEventRecord],
    keep: usize,
) -> Result<(), StoreError> {
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO agent_events (agent, seq, kind, payload, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .map_err(engine)?;
    let mut last = None;
    for event in events {
        insert
            .execute(params![
                agent.as_str(),
                event.seq,
                event.kind,
                to_json(&event.payload)?,
                event.created_at
            ])
            .map_err(engine)?;
        last = Some(event.seq);
    }
    let settled: Vec<String> = events.iter().filter_map(|e| e.outbox_id.clone()).collect();
    settle_outbox(conn, &settled)?;
    if let Some(last) = last {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        conn.prepare_cached("DELETE FROM agent_events WHERE agent = ? AND seq <= ?")
            .and_then(|mut s| s.execute(params![agent.as_str(), last.saturating_sub(keep)]))
            .map_err(engine)?;
    }
    Ok(())
}

/// Delete appended console outbox entries.
fn settle_outbox(conn: &Connection, ids: &[String]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut delete = conn
        .prepare_cached("DELETE FROM console_outbox WHERE id = ?")
        .map_err(engine)?;
    for id in ids {
        delete.execute(params![id]).map_err(engine)?;
    }
    Ok(())
}

fn apply_step(conn: &Connection, step: &ConversationStep) -> Result<(), StoreError> {
    let now = now_ms();
    // Fences first: nothing of a step that lost a race is written.
    mark_processed(conn, step.processed_seq)?;
    if let Some(c) = &step.conversation {
        write_conversation(conn, c)?;
    }
    if let Some(write) = &step.contact {
        write_contact(conn, write, now)?;
    }
    let Some(c) = &step.conversation else {
        if let Some(status) = &step.status {
            apply_status_update(conn, status)?;
        }
        return Ok(());
    };
    if c.version == 0 {
        // A new conversation: the contact may be new on this channel.
        conn.prepare_cached(
            "INSERT INTO contact_identities (channel, address, customer, first_seen)
             VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .and_then(|mut s| {
            s.execute(params![
                c.channel.as_str(),
                c.customer.as_str(),
                canonical(conn, c.customer.as_str())?,
                c.created_at
            ])
        })
        .map_err(engine)?;
    }
    if let Some(phone) = &step.link_phone {
        link_by_phone(conn, c.customer.as_str(), phone, now)?;
    }
    if let Some(alias) = &step.alias {
        link_alias(conn, c.channel.as_str(), alias, c.customer.as_str(), now)?;
    }
    let inbound_at = step
        .inbound_message
        .as_ref()
        .map(|m| c.last_inbound_at.unwrap_or(m.sent_at.saturating_mul(1000)));
    if c.version == 0 || inbound_at.is_some() {
        // What the contact did (`contact.conversations`, `contact.last_inbound_at`).
        conn.prepare_cached(
            "UPDATE contacts SET conversations = conversations + ?1,
                last_inbound_at = CASE WHEN ?2 IS NULL THEN last_inbound_at
                                       ELSE max(coalesce(last_inbound_at, ?2), ?2) END
             WHERE customer = ?3",
        )
        .and_then(|mut s| {
            s.execute(params![
                i64::from(c.version == 0),
                inbound_at,
                canonical(conn, c.customer.as_str())?
            ])
        })
        .map_err(engine)?;
    }
    if let Some(message) = &step.inbound_message {
        let body = to_json(&message.body)?;
        conn.prepare_cached(
            "INSERT INTO messages (id, conversation_id, direction, sender, kind, body, provider_id,
                status, created_at, updated_at)
             VALUES (?, ?, 'inbound', 'customer', ?, ?, ?, 'received', ?, ?)
             ON CONFLICT DO NOTHING",
        )
        .and_then(|mut s| {
            s.execute(params![
                message.id.to_string(),
                c.id,
                message.kind,
                body,
                message.provider_id.as_str(),
                message.sent_at.saturating_mul(1000),
                now
            ])
        })
        .map_err(engine)?;
    }
    let author = step.agent.as_ref().map(|a| a.as_str());
    if !step.outbound.is_empty() {
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO messages (id, conversation_id, direction, sender, kind, body, reply_to,
                    status, created_at, updated_at, author)
                 VALUES (?, ?, 'outbound', ?, ?, ?, ?, 'queued', ?, ?, ?)",
            )
            .map_err(engine)?;
        for (message, sender) in &step.outbound {
            insert
                .execute(params![
                    message.id.to_string(),
                    c.id,
                    sender.as_str(),
                    message.content.type_label(),
                    to_json(&message.content)?,
                    message.reply_to.as_ref().map(|r| r.as_str()),
                    now,
                    now,
                    if *sender == Sender::Agent {
                        author
                    } else {
                        None
                    }
                ])
                .map_err(engine)?;
        }
    }
    if let Some((id, text)) = &step.note {
        conn.prepare_cached(
            "INSERT INTO messages (id, conversation_id, direction, sender, kind, body, status,
                created_at, updated_at, author)
             VALUES (?, ?, 'note', 'agent', 'note', ?, 'internal', ?, ?, ?)",
        )
        .and_then(|mut s| {
            s.execute(params![
                id.to_string(),
                c.id,
                serde_json::json!({ "type": "note", "body": text }).to_string(),
                now,
                now,
                author
            ])
        })
        .map_err(engine)?;
    }
    if !step.events.is_empty() {
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO conversation_events (conversation_id, kind, agent, team, detail, at)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .map_err(engine)?;
        for event in &step.events {
            insert
                .execute(params![
                    c.id,
                    event.kind,
                    event.agent.as_ref().map(|a| a.as_str()),
                    event.team.as_ref().map(|t| t.as_str()),
                    event.detail,
                    now
                ])
                .map_err(engine)?;
        }
    }
    if !step.console.is_empty() {
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO console_outbox (id, agent, kind, payload, created_at, conversation_key)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .map_err(engine)?;
        for entry in &step.console {
            insert
                .execute(params![
                    entry.id,
                    entry.agent.as_str(),
                    entry.kind,
                    to_json(&entry.payload)?,
                    entry.created_at,
                    entry.conversation.as_ref().map(|k| k.as_str())
                ])
                .map_err(engine)?;
        }
    }
    insert_webhook_events(conn, &step.webhooks)?;
    super::sqlite_reports::write_reports(conn, step)?;
    if let Some(status) = &step.status {
        apply_status_update(conn, status)?;
    }
    Ok(())
}

/// Append events to the webhook outbox (`webhook_events`), in order.
fn insert_webhook_events(
    conn: &Connection,
    events: &[super::WebhookOutboxEntry],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO webhook_events (id, kind, conversation_key, team, channel, payload,
                created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .map_err(engine)?;
    for entry in events {
        insert
            .execute(params![
                entry.id,
                entry.kind,
                entry.conversation.as_str(),
                entry.team.as_ref().map(|t| t.as_str()),
                entry.channel.as_str(),
                to_json(&entry.payload)?,
                entry.created_at
            ])
            .map_err(engine)?;
    }
    Ok(())
}

/// Insert a new conversation (version 0 → 1) or update the stored one over the version the step
/// was computed from; anything else is a [`StoreError::Conflict`].
fn write_conversation(conn: &Connection, c: &ConversationRecord) -> Result<(), StoreError> {
    let bot_state = to_json(&c.bot_state)?;
    let route = c.route.as_ref().map(to_json).transpose()?;
    let sla = to_json(&c.sla)?;
    let open_twice = || {
        StoreError::Conflict(format!(
            "conversation {} already has an open conversation",
            c.key
        ))
    };
    if c.version == 0 {
        let inserted = conn
            .prepare_cached(
                "INSERT INTO conversations
                    (id, key, channel, customer, status, team, bot_state, created_at, updated_at,
                     handoff_at, last_seq, assignee, priority, route, assigned_at, first_response_at,
                     resolved_at, snoozed_until, last_inbound_at, sla, version)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    c.id,
                    c.key.as_str(),
                    c.channel.as_str(),
                    c.customer.as_str(),
                    c.status.as_str(),
                    c.team.as_ref().map(|t| t.as_str()),
                    bot_state,
                    c.created_at,
                    c.updated_at,
                    c.handoff_at,
                    c.last_seq,
                    c.assignee.as_ref().map(|a| a.as_str()),
                    c.priority,
                    route,
                    c.assigned_at,
                    c.first_response_at,
                    c.resolved_at,
                    c.snoozed_until,
                    c.last_inbound_at,
                    sla
                ])
            });
        return match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(open_twice()),
            Err(e) => Err(engine(e)),
        };
    }
    let updated = conn
        .prepare_cached(
            "UPDATE conversations SET status = ?, team = ?, bot_state = ?, updated_at = ?,
                handoff_at = ?, last_seq = ?, assignee = ?, priority = ?, route = ?, assigned_at = ?,
                first_response_at = ?, resolved_at = ?, snoozed_until = ?, last_inbound_at = ?,
                sla = ?, version = version + 1
             WHERE id = ? AND version = ?",
        )
        .and_then(|mut s| {
            s.execute(params![
                c.status.as_str(),
                c.team.as_ref().map(|t| t.as_str()),
                bot_state,
                c.updated_at,
                c.handoff_at,
                c.last_seq,
                c.assignee.as_ref().map(|a| a.as_str()),
                c.priority,
                route,
                c.assigned_at,
                c.first_response_at,
                c.resolved_at,
                c.snoozed_until,
                c.last_inbound_at,
                sla,
                c.id,
                c.version
            ])
        });
    match updated {
        Ok(1) => Ok(()),
        Ok(_) => Err(StoreError::Conflict(format!(
            "conversation {} changed since version {}",
            c.id, c.version
        ))),
        Err(e) if is_unique_violation(&e) => Err(open_twice()),
        Err(e) => Err(engine(e)),
    }
}

/// Mark the inbound event consumed; [`StoreError::Conflict`] if it already was.
fn mark_processed(conn: &Connection, seq: Option<i64>) -> Result<(), StoreError> {
    if let Some(seq) = seq {
        let done = conn
            .prepare_cached(
                "UPDATE inbound_events SET processed = 1 WHERE seq = ? AND processed = 0",
            )
            .and_then(|mut s| s.execute(params![seq]))
            .map_err(engine)?;
        if done == 0 {
            return Err(StoreError::Conflict(format!(
                "inbound event {seq} already processed"
            )));
        }
    }
    Ok(())
}

fn apply_status_update(conn: &Connection, status: &StatusUpdate) -> Result<(), StoreError> {
    let error = status.errors.first();
    // A message whose send response never came back (its sender died mid-request) is known by
    // the id we gave Meta as callback data: the status tells us it did reach Meta.
    if let Some(id) = status
        .biz_opaque_callback_data
        .as_deref()
        .and_then(MessageId::parse)
    {
        conn.prepare_cached(
            "UPDATE messages SET provider_id = ?
             WHERE id = ? AND direction = 'outbound' AND provider_id IS NULL
               AND NOT EXISTS (SELECT 1 FROM messages WHERE provider_id = ?)",
        )
        .and_then(|mut s| {
            s.execute(params![
                status.provider_id.as_str(),
                id.to_string(),
                status.provider_id.as_str()
            ])
        })
        .map_err(engine)?;
    }
    apply_status(
        conn,
        status.provider_id.as_str(),
        status.status.as_str(),
        error.map(|e| e.code),
        error.and_then(|e| e.title.clone().or_else(|| e.message.clone())),
    )?;
    // What Meta says the message costs, from its first status that says it.
    if let Some(category) = &status.pricing_category {
        conn.prepare_cached(
            "UPDATE messages SET pricing_category = ?, pricing_type = ?
             WHERE provider_id = ? AND pricing_category IS NULL",
        )
        .and_then(|mut s| {
            s.execute(params![
                category,
                status.pricing_type,
                status.provider_id.as_str()
            ])
        })
        .map_err(engine)?;
    }
    Ok(())
}

/// Move a message's status forward (never backwards); remember it if the message's provider
/// id is not known yet.
fn apply_status(
    conn: &Connection,
    provider_id: &str,
    status: &str,
    error_code: Option<i64>,
    error_reason: Option<String>,
) -> Result<(), StoreError> {
    if error_code == Some(super::STOPPED_MARKETING) {
        record_stopped_marketing(conn, "provider_id", provider_id, error_reason.as_deref())?;
    }
    if error_code == Some(super::HEALTHY_ECOSYSTEM) {
        record_marketing_retry(conn, "provider_id", provider_id)?;
    }
    let current: Option<String> = conn
        .prepare_cached("SELECT status FROM messages WHERE provider_id = ?")
        .and_then(|mut s| {
            s.query_row(params![provider_id], |row| row.get(0))
                .optional()
        })
        .map_err(engine)?;
    match current {
        Some(current) => {
            if status_rank(status) > status_rank(&current) {
                conn.prepare_cached(
                    "UPDATE messages SET status = ?, error_code = COALESCE(?, error_code),
                        error_reason = COALESCE(?, error_reason), updated_at = ?
                     WHERE provider_id = ?",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        status,
                        error_code,
                        error_reason,
                        now_ms(),
                        provider_id
                    ])
                })
                .map_err(engine)?;
            }
        }
        None => {
            conn.prepare_cached(
                "INSERT INTO orphan_statuses (provider_id, status, error_code, error_reason, received_at)
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    provider_id,
                    status,
                    error_code,
                    error_reason,
                    now_ms()
                ])
            })
            .map_err(engine)?;
        }
    }
    Ok(())
}

/// A 131050 failure of the message whose `column` is `value`: an opt-out in the consent ledger
/// ([`super::stopped_marketing_sql`]).
fn record_stopped_marketing(
    conn: &Connection,
    column: &str,
    value: &str,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    conn.prepare_cached(&super::stopped_marketing_sql(column))
        .and_then(|mut s| {
            s.execute(params![
                uuid::Uuid::now_v7().to_string(),
                super::stopped_marketing_proof(reason),
                now_ms(),
                value
            ])
        })
        .map_err(engine)?;
    Ok(())
}

/// A 131049 failure of the message whose `column` is `value`: its retry, later
/// ([`super::marketing_retry_sql`]).
fn record_marketing_retry(conn: &Connection, column: &str, value: &str) -> Result<(), StoreError> {
    conn.prepare_cached(&super::marketing_retry_sql(column))
        .and_then(|mut s| s.execute(params![now_ms(), value]))
        .map_err(engine)?;
    Ok(())
}

fn apply_outcome(
    conn: &Connection,
    id: MessageId,
    attempts: u32,
    outcome: &OutboundOutcome,
) -> Result<(), StoreError> {
    let now = now_ms();
    match outcome {
        OutboundOutcome::Accepted { provider_id } => {
            conn.prepare_cached(
                "UPDATE messages SET provider_id = COALESCE(?, provider_id), attempts = ?,
                    status = CASE WHEN status IN ('queued', 'sending') THEN 'accepted' ELSE status END,
                    updated_at = ?
                 WHERE id = ?",
            )
            .and_then(|mut s| {
                s.execute(params![
                    provider_id.as_ref().map(|p| p.as_str()),
                    attempts,
                    now,
                    id.to_string()
                ])
            })
            .map_err(engine)?;
            if let Some(provider_id) = provider_id {
                let orphans: Vec<(String, Option<i64>, Option<String>)> = conn
                    .prepare_cached(
                        "DELETE FROM orphan_statuses WHERE provider_id = ?
                         RETURNING status, error_code, error_reason",
                    )
                    .and_then(|mut s| {
                        s.query_map(params![provider_id.as_str()], |row| {
                            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                        })?
                        .collect()
                    })
                    .map_err(engine)?;
                for (status, code, reason) in orphans {
                    apply_status(conn, provider_id.as_str(), &status, code, reason)?;
                }
            }
        }
        OutboundOutcome::Failed { code, reason } => {
            if *code == Some(super::STOPPED_MARKETING) {
                record_stopped_marketing(conn, "id", &id.to_string(), Some(reason))?;
            }
            if *code == Some(super::HEALTHY_ECOSYSTEM) {
                record_marketing_retry(conn, "id", &id.to_string())?;
            }
            conn.prepare_cached(
                "UPDATE messages SET status = 'failed', error_code = ?, error_reason = ?,
                    attempts = ?, updated_at = ? WHERE id = ?",
            )
            .and_then(|mut s| s.execute(params![code, reason, attempts, now, id.to_string()]))
            .map_err(engine)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checkpointer copies committed pages into the database file on its own, after a
    /// commit tells it to, and stops once the writer's end of its signal is gone.
    #[test]
    fn the_checkpointer_copies_the_wal_back_then_stops_with_the_writer() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("store.db");
        let writer = connect(&path).expect("write connection");
        // Nothing copied back by the writer itself during this test.
        writer
            .execute_batch(
                "PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
            )
            .expect("schema");
        let db_size = || std::fs::metadata(&path).map_or(0, |m| m.len());
        let (checkpointer, committed) = Checkpointer::new(&path).expect("checkpointer");
        {
            let mut insert = writer
                .prepare("INSERT INTO t (body) VALUES (?)")
                .expect("statement");
            for _ in 0..500 {
                insert.execute(["x".repeat(1_000)]).expect("insert");
            }
        }
        assert!(
            db_size() < 100_000,
            "the rows are in the WAL only: {}",
            db_size()
        );
        let thread = std::thread::spawn(move || checkpointer.run());
        committed.try_send(()).expect("signal");
        let deadline = Instant::now() + Duration::from_secs(10);
        while db_size() < 500_000 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(db_size() >= 500_000, "copied back: {}", db_size());
        drop(committed);
        thread
            .join()
            .expect("the checkpointer stops with the writer");
        let rows: i64 = writer
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, 500);
    }
}
