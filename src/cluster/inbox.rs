//! Partition streams: the way into a conversation's actor, whichever node it runs on.
//!
//! `in:{p}` is partition `p`'s stream. Entries are either a recorded inbound event (`t=e`,
//! already durable in the store) or a command (`t=c`: an agent's action or the desk's
//! placement or timer, with an optional reply address and deadline). The owner of `p` reads
//! the stream in the consumer group `owners` under its node name, hands each entry to its
//! conversation's actor, and acknowledges (and deletes) it once the actor is done with it, so
//! the stream holds only what is not finished: its length is the partition's backlog, bounded
//! by `intake.partition_capacity` (intake sheds with 503 beyond it).
//!
//! A node that takes a partition over claims every entry still pending under another consumer
//! (read by the previous owner but not finished) and delivers it first; entries it read itself
//! but did not finish (an actor that stopped) are claimed again after a while. Replays are
//! harmless: an event is processed once (the store fences it), a command past its deadline is
//! dropped, and the desk's commands re-check the conversation's state.
//!
//! Backpressure: each owned partition has a bounded local queue in front of its dispatcher, and
//! the reader only reads partitions whose queue has room, so a slow conversation holds back its
//! own partition, never the others.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dashmap::DashMap;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use redis::AsyncCommands;
use redis::streams::{StreamAutoClaimOptions, StreamId, StreamReadOptions, StreamReadReply};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::leases::PartitionHost;
use super::{Cluster, redis_error};
use crate::conversation::commands::{Command, CommandError, CommandReply};
use crate::conversation::{ConversationRegistry, InboundLog, LogUnavailable, Remote};
use crate::domain::{ChannelId, ConversationKey, InboundEnvelope};
use crate::metrics as m;
use crate::store::RecordedInbound;

const GROUP: &str = "owners";

/// A recorded inbound event as its stream entry carries it.
#[derive(Serialize, Deserialize)]
struct EventWire {
    seq: i64,
    channel: ChannelId,
    conversation: ConversationKey,
    envelope: InboundEnvelope,
}

/// The answer to a remote command, published to the asking node.
#[derive(Serialize, Deserialize)]
struct ReplyWire {
    id: String,
    result: Result<CommandReply, CommandError>,
}

/// What the partition owner does with one entry.
enum Work {
    Event(Box<RecordedInbound>),
    Command {
        channel: ChannelId,
        key: ConversationKey,
        command: Box<Command>,
        /// `{node}|{request id}`, when someone waits for the answer.
        reply: Option<String>,
        /// Unix ms after which nobody waits any more (0: no deadline).
        deadline: i64,
    },
}

struct Entry {
    partition: usize,
    id: String,
    work: Work,
}

/// An entry the owner is done with (processed, or dropped for good): acknowledge and delete.
struct Done {
    partition: usize,
    id: String,
}

/// Hooks the inbox calls when it takes partitions: `prepare` before it serves them (settle
/// what their previous owner left half done), `resume` once it does (sweep the store for their
/// recorded-but-unprocessed events and resume their pending outbound messages).
#[async_trait]
pub trait Resume: Send + Sync + 'static {
    async fn prepare(&self, partitions: Vec<usize>);
    async fn resume(&self, partitions: Vec<usize>);
}

pub struct RedisInbox {
    cluster: Arc<Cluster>,
    registry: ConversationRegistry,
    capacity: usize,
    /// Local queues of the partitions served now.
    queues: DashMap<usize, mpsc::Sender<Entry>>,
    done: mpsc::Sender<Done>,
    /// Remote commands waiting for their answer, by request id.
    waiting: DashMap<String, oneshot::Sender<Result<CommandReply, CommandError>>>,
    resume: std::sync::OnceLock<Arc<dyn Resume>>,
    /// Commands answered recently (request id → answer), so that a redelivered command is
    /// answered again rather than run twice.
    answered: moka::sync::Cache<String, Result<CommandReply, CommandError>>,
}

impl RedisInbox {
    /// Start the reader, the acknowledger and the reply listener.
    pub fn start(
        cluster: Arc<Cluster>,
        registry: ConversationRegistry,
        capacity: usize,
    ) -> (Arc<Self>, Vec<actix_rt::task::JoinHandle<()>>) {
        let (done_tx, done_rx) = mpsc::channel(capacity.max(1024));
        let inbox = Arc::new(Self {
            cluster,
            registry,
            capacity: capacity.max(1),
            queues: DashMap::new(),
            done: done_tx,
            waiting: DashMap::new(),
            resume: std::sync::OnceLock::new(),
            answered: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(120))
                .build(),
        });
        let tasks = vec![
            actix_rt::spawn(inbox.clone().read()),
            actix_rt::spawn(inbox.clone().acknowledge(done_rx)),
            actix_rt::spawn(inbox.clone().listen_for_replies()),
            actix_rt::spawn(inbox.clone().reclaim_stale()),
        ];
        (inbox, tasks)
    }

    /// What to run when partitions are taken (set once, after the outbound senders exist).
    pub fn set_resume(&self, resume: Arc<dyn Resume>) {
        let _ = self.resume.set(resume);
    }

    fn stream(&self, partition: usize) -> String {
        self.cluster.key(&format!("in:{partition}"))
    }

    fn partition_of(&self, key: &ConversationKey) -> usize {
        key.partition(self.cluster.ownership().partitions())
    }

    fn partition_of_stream(&self, stream: &str) -> Option<usize> {
        stream
            .strip_prefix(self.cluster.prefix())
            .and_then(|rest| rest.strip_prefix("in:"))
            .and_then(|p| p.parse().ok())
    }

    async fn ensure_group(&self, partition: usize) -> redis::RedisResult<()> {
        let mut conn = self.cluster.conn();
        let created: redis::RedisResult<()> = conn
            .xgroup_create_mkstream(self.stream(partition), GROUP, "0")
            .await;
        match created {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => other,
        }
    }

    /// Append a command for a conversation to its partition's stream.
    async fn append_command(
        &self,
        channel: &ChannelId,
        key: &ConversationKey,
        command: &Command,
        reply: Option<&str>,
        deadline: i64,
    ) -> Result<(), CommandError> {
        let data = serde_json::to_string(command)
            .map_err(|e| CommandError::BadRequest(format!("command not serializable: {e}")))?;
        let mut conn = self.cluster.conn();
        let added: redis::RedisResult<String> = conn
            .xadd(
                self.stream(self.partition_of(key)),
                "*",
                &[
                    ("t", "c"),
                    ("d", data.as_str()),
                    ("ch", channel.as_str()),
                    ("k", key.as_str()),
                    ("r", reply.unwrap_or("")),
                    ("dl", deadline.to_string().as_str()),
                ],
            )
            .await;
        added.map(|_| ()).map_err(|e| {
            redis_error("command", &e);
            CommandError::Unavailable(format!("cluster unreachable: {e}"))
        })
    }

    /// The reader: one blocking XREADGROUP over every served partition with room in its queue.
    async fn read(self: Arc<Self>) {
        let block = Duration::from_millis(self.cluster.settings.read_block_ms);
        let batch = self.cluster.settings.read_batch;
        let mut conn = None;
        loop {
            let ready: Vec<usize> = self
                .queues
                .iter()
                .filter(|q| q.value().capacity() >= batch.min(self.capacity))
                .map(|q| *q.key())
                .collect();
            if ready.is_empty() {
                tokio::time::sleep(block / 4).await;
                continue;
            }
            let mut connection = match conn.take() {
                Some(c) => c,
                None => match self.cluster.blocking_connection(block).await {
                    Ok(c) => c,
                    Err(e) => {
                        redis_error("read", &e);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                },
            };
            let keys: Vec<String> = ready.iter().map(|&p| self.stream(p)).collect();
            let ids: Vec<&str> = ready.iter().map(|_| ">").collect();
            let options = StreamReadOptions::default()
                .group(GROUP, &self.cluster.node)
                .count(batch)
                .block(block.as_millis() as usize);
            let read: redis::RedisResult<Option<StreamReadReply>> =
                connection.xread_options(&keys, &ids, &options).await;
            match read {
                Ok(reply) => {
                    conn = Some(connection);
                    for stream in reply.map(|r| r.keys).unwrap_or_default() {
                        let Some(partition) = self.partition_of_stream(&stream.key) else {
                            continue;
                        };
                        self.enqueue(partition, stream.ids).await;
                    }
                }
                Err(e) if e.code() == Some("NOGROUP") => {
                    // The stream was lost (Redis restarted empty): recreate the groups.
                    conn = Some(connection);
                    for &p in &ready {
                        if let Err(e) = self.ensure_group(p).await {
                            redis_error("group", &e);
                        }
                    }
                }
                Err(e) => {
                    redis_error("read", &e);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Turn stream entries into work for the partition's dispatcher. An entry that cannot be
    /// understood is dropped (acknowledged) with an error: it would never get better.
    async fn enqueue(&self, partition: usize, entries: Vec<StreamId>) {
        let Some(queue) = self.queues.get(&partition).map(|q| q.value().clone()) else {
            return; // no longer served: the entries stay pending for the next owner
        };
        for entry in entries {
            let id = entry.id.clone();
            match parse(&entry) {
                Ok(work) => {
                    // The reader checked for room; if the queue filled meanwhile (or closed),
                    // the entry stays pending and is claimed again later.
                    if queue
                        .try_send(Entry {
                            partition,
                            id,
                            work,
                        })
                        .is_err()
                    {
                        metrics::counter!(m::MAILBOX_SHEDS, "queue" => "partition").increment(1);
                    }
                }
                Err(reason) => {
                    tracing::error!(partition, id = %entry.id, %reason, "unreadable stream entry; dropped");
                    let _ = self
                        .done
                        .send(Done {
                            partition,
                            id: entry.id,
                        })
                        .await;
                }
            }
        }
    }

    /// One partition's dispatcher: deliver events to their actors, run commands.
    async fn dispatch(self: Arc<Self>, mut queue: mpsc::Receiver<Entry>) {
        let mut in_flight = FuturesUnordered::new();
        loop {
            tokio::select! {
                entry = queue.recv() => match entry {
                    Some(entry) => {
                        // Handed over meanwhile: leave it pending for the new owner to claim.
                        if !self.cluster.ownership().owns_partition(entry.partition) {
                            continue;
                        }
                        if let Some(waiting) = self.clone().handle(entry).await {
                            in_flight.push(waiting);
                        }
                    }
                    None => break,
                },
                Some(finished) = in_flight.next(), if !in_flight.is_empty() => {
                    if let Some(done) = finished {
                        let _ = self.done.send(done).await;
                    }
                }
            }
        }
        // Stopped serving: what is still in flight finishes in its actor; acknowledge it then.
        while let Some(finished) = in_flight.next().await {
            if let Some(done) = finished {
                let _ = self.done.send(done).await;
            }
        }
    }

    /// Start one entry; the future resolves once it is done (None: not done, leave it pending).
    async fn handle(
        self: Arc<Self>,
        entry: Entry,
    ) -> Option<futures::future::BoxFuture<'static, Option<Done>>> {
        let Entry {
            partition,
            id,
            work,
        } = entry;
        match work {
            Work::Event(event) => {
                metrics::counter!(m::CLUSTER_ENTRIES, "kind" => "event").increment(1);
                let (tx, rx) = oneshot::channel();
                self.registry.deliver_with(*event, Some(tx)).await;
                Some(Box::pin(async move {
                    match rx.await {
                        Ok(true) => Some(Done { partition, id }),
                        _ => None,
                    }
                }))
            }
            Work::Command {
                channel,
                key,
                command,
                reply,
                deadline,
            } => {
                metrics::counter!(m::CLUSTER_ENTRIES, "kind" => "command").increment(1);
                let now = chrono::Utc::now().timestamp_millis();
                let inbox = self.clone();
                Some(Box::pin(async move {
                    let request = reply.as_deref().and_then(|r| r.split_once('|'));
                    let result = match request.and_then(|(_, id)| inbox.answered.get(id)) {
                        Some(answer) => answer, // redelivered: answer again, never run twice
                        None if deadline > 0 && now > deadline => {
                            metrics::counter!(m::CLUSTER_COMMANDS, "outcome" => "expired")
                                .increment(1);
                            Err(CommandError::Unavailable("the request expired".into()))
                        }
                        None => {
                            let result = inbox.registry.command(&channel, &key, *command).await;
                            if let Some((_, id)) = request {
                                inbox.answered.insert(id.to_string(), result.clone());
                            }
                            result
                        }
                    };
                    if let Some((node, request)) = request {
                        inbox.answer(node, request, result).await;
                    }
                    Some(Done { partition, id })
                }))
            }
        }
    }

    async fn answer(&self, node: &str, request: &str, result: Result<CommandReply, CommandError>) {
        let Ok(message) = serde_json::to_string(&ReplyWire {
            id: request.to_string(),
            result,
        }) else {
            return;
        };
        let mut conn = self.cluster.conn();
        let published: redis::RedisResult<i64> = conn
            .publish(self.cluster.key(&format!("reply:{node}")), message)
            .await;
        if let Err(e) = published {
            redis_error("reply", &e);
        }
    }

    /// Acknowledge and delete finished entries, a batch at a time.
    async fn acknowledge(self: Arc<Self>, mut done: mpsc::Receiver<Done>) {
        let mut batch: Vec<Done> = Vec::new();
        loop {
            let Some(first) = done.recv().await else {
                return;
            };
            batch.push(first);
            while batch.len() < 512 {
                match done.try_recv() {
                    Ok(more) => batch.push(more),
                    Err(_) => break,
                }
            }
            let mut by_partition: BTreeMap<usize, Vec<String>> = BTreeMap::new();
            for d in batch.drain(..) {
                by_partition.entry(d.partition).or_default().push(d.id);
            }
            let mut pipe = redis::pipe();
            for (partition, ids) in &by_partition {
                let stream = self.stream(*partition);
                pipe.xack(&stream, GROUP, ids).ignore();
                pipe.xdel(&stream, ids).ignore();
            }
            let mut conn = self.cluster.conn();
            if let Err(e) = pipe.query_async::<()>(&mut conn).await {
                // Not acknowledged: the entries are replayed later, which is harmless.
                redis_error("ack", &e);
            }
        }
    }

    /// Answers to this node's remote commands arrive on `reply:{node}`.
    async fn listen_for_replies(self: Arc<Self>) {
        let channel = self.cluster.key(&format!("reply:{}", self.cluster.node));
        loop {
            let mut pubsub = match self.cluster.pubsub().await {
                Ok(pubsub) => pubsub,
                Err(e) => {
                    redis_error("subscribe", &e);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            if let Err(e) = pubsub.subscribe(&channel).await {
                redis_error("subscribe", &e);
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                let Ok(payload) = message.get_payload::<String>() else {
                    continue;
                };
                match serde_json::from_str::<ReplyWire>(&payload) {
                    Ok(reply) => {
                        if let Some((_, waiter)) = self.waiting.remove(&reply.id) {
                            let _ = waiter.send(reply.result);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "unreadable command reply"),
                }
            }
            tracing::warn!("reply subscription lost; resubscribing");
        }
    }

    /// Entries this node read but never finished (their actor stopped) are delivered again
    /// after a while.
    async fn reclaim_stale(self: Arc<Self>) {
        let idle = Duration::from_millis(self.cluster.settings.lease_ttl_ms.max(1000) * 2);
        loop {
            tokio::time::sleep(idle / 2).await;
            let served: Vec<usize> = self.queues.iter().map(|q| *q.key()).collect();
            for partition in served {
                self.claim(partition, idle).await;
            }
        }
    }

    /// Claim the partition's pending entries idle for at least `min_idle` (zero: all of them,
    /// when taking the partition over) and deliver them.
    async fn claim(&self, partition: usize, min_idle: Duration) {
        let stream = self.stream(partition);
        let mut cursor = "0-0".to_string();
        loop {
            let mut conn = self.cluster.conn();
            let claimed: redis::RedisResult<redis::streams::StreamAutoClaimReply> = conn
                .xautoclaim_options(
                    &stream,
                    GROUP,
                    &self.cluster.node,
                    min_idle.as_millis() as u64,
                    &cursor,
                    StreamAutoClaimOptions::default().count(256),
                )
                .await;
            match claimed {
                Ok(reply) => {
                    if !reply.claimed.is_empty() {
                        tracing::info!(
                            partition,
                            entries = reply.claimed.len(),
                            "claimed unfinished entries"
                        );
                        self.enqueue(partition, reply.claimed).await;
                    }
                    if reply.next_stream_id == "0-0" || reply.next_stream_id.is_empty() {
                        return;
                    }
                    cursor = reply.next_stream_id;
                }
                Err(e) => {
                    redis_error("claim", &e);
                    return;
                }
            }
        }
    }
}

fn parse(entry: &StreamId) -> Result<Work, String> {
    let kind: String = entry.get("t").ok_or("no t field")?;
    let data: String = entry.get("d").ok_or("no d field")?;
    match kind.as_str() {
        "e" => {
            let wire: EventWire = serde_json::from_str(&data).map_err(|e| e.to_string())?;
            Ok(Work::Event(Box::new(RecordedInbound {
                seq: wire.seq,
                channel: wire.channel,
                conversation: wire.conversation,
                envelope: wire.envelope,
            })))
        }
        "c" => {
            let command: Command = serde_json::from_str(&data).map_err(|e| e.to_string())?;
            let channel: String = entry.get("ch").ok_or("no ch field")?;
            let key: String = entry.get("k").ok_or("no k field")?;
            let reply: String = entry.get("r").unwrap_or_default();
            let deadline: i64 = entry
                .get::<String>("dl")
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            Ok(Work::Command {
                channel: ChannelId::new(channel),
                key: ConversationKey::from_stored(key),
                command: Box::new(command),
                reply: Some(reply).filter(|r| !r.is_empty()),
                deadline,
            })
        }
        other => Err(format!("unknown entry type {other}")),
    }
}

#[async_trait]
impl InboundLog for RedisInbox {
    fn partitions(&self) -> usize {
        self.cluster.ownership().partitions()
    }

    async fn has_room(&self, needed: &BTreeMap<usize, usize>) -> Result<bool, LogUnavailable> {
        if needed.is_empty() {
            return Ok(true);
        }
        let mut pipe = redis::pipe();
        for partition in needed.keys() {
            pipe.xlen(self.stream(*partition));
        }
        let mut conn = self.cluster.conn();
        let lengths: Vec<usize> = pipe.query_async(&mut conn).await.map_err(|e| {
            redis_error("backlog", &e);
            LogUnavailable(e.to_string())
        })?;
        Ok(needed
            .values()
            .zip(lengths)
            .all(|(n, len)| len + n <= self.capacity))
    }

    async fn publish(&self, events: Vec<RecordedInbound>) -> Result<(), LogUnavailable> {
        if events.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for event in events {
            let partition = self.partition_of(&event.conversation);
            let data = serde_json::to_string(&EventWire {
                seq: event.seq,
                channel: event.channel,
                conversation: event.conversation,
                envelope: event.envelope,
            })
            .map_err(|e| LogUnavailable(format!("event not serializable: {e}")))?;
            pipe.xadd(
                self.stream(partition),
                "*",
                &[("t", "e"), ("d", data.as_str())],
            )
            .ignore();
        }
        let mut conn = self.cluster.conn();
        pipe.query_async::<()>(&mut conn).await.map_err(|e| {
            redis_error("publish", &e);
            LogUnavailable(e.to_string())
        })
    }
}

#[async_trait]
impl Remote for RedisInbox {
    fn owns(&self, key: &ConversationKey) -> bool {
        self.cluster.ownership().owns(key)
    }

    async fn command(
        &self,
        channel: &ChannelId,
        key: &ConversationKey,
        command: Command,
    ) -> Result<CommandReply, CommandError> {
        let request = uuid::Uuid::now_v7().simple().to_string();
        let timeout = Duration::from_millis(self.cluster.settings.command_timeout_ms);
        let deadline = chrono::Utc::now().timestamp_millis()
            + i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX / 2);
        let (tx, rx) = oneshot::channel();
        self.waiting.insert(request.clone(), tx);
        let reply_to = format!("{}|{request}", self.cluster.node);
        if let Err(e) = self
            .append_command(channel, key, &command, Some(&reply_to), deadline)
            .await
        {
            self.waiting.remove(&request);
            return Err(e);
        }
        let answer = tokio::time::timeout(timeout, rx).await;
        self.waiting.remove(&request);
        let outcome = match &answer {
            Ok(Ok(Ok(_))) => "ok",
            Ok(Ok(Err(_))) => "refused",
            _ => "timeout",
        };
        metrics::counter!(m::CLUSTER_COMMANDS, "outcome" => outcome).increment(1);
        match answer {
            Ok(Ok(result)) => result,
            _ => Err(CommandError::Unavailable(
                "the node owning the conversation did not answer in time; retry".into(),
            )),
        }
    }

    async fn tell(
        &self,
        channel: &ChannelId,
        key: &ConversationKey,
        command: Command,
    ) -> Result<(), CommandError> {
        self.append_command(channel, key, &command, None, 0).await
    }
}

/// The inbox as the lease keeper's partition host: starts and stops serving partitions.
pub struct InboxHost(pub Arc<RedisInbox>);

#[async_trait]
impl PartitionHost for InboxHost {
    async fn prepare(&self, partitions: &[usize]) {
        if let Some(resume) = self.0.resume.get().cloned() {
            resume.prepare(partitions.to_vec()).await;
        }
    }

    async fn start(&self, partitions: &[usize]) {
        let inbox = &self.0;
        for &partition in partitions {
            if let Err(e) = inbox.ensure_group(partition).await {
                redis_error("group", &e);
            }
            let (tx, rx) = mpsc::channel(inbox.capacity);
            inbox.queues.insert(partition, tx);
            actix_rt::spawn(inbox.clone().dispatch(rx));
            let claimer = inbox.clone();
            actix_rt::spawn(async move {
                // Everything the previous owner read but did not finish, first.
                claimer.claim(partition, Duration::ZERO).await;
            });
        }
        if let Some(resume) = inbox.resume.get().cloned() {
            let partitions = partitions.to_vec();
            actix_rt::spawn(async move { resume.resume(partitions).await });
        }
    }

    async fn stop(&self, partitions: &[usize]) {
        let inbox = &self.0;
        for partition in partitions {
            // Dropping the sender ends the dispatcher once its queue is drained.
            inbox.queues.remove(partition);
        }
        inbox
            .registry
            .stop_partitions(partitions, inbox.cluster.ownership().partitions())
            .await;
    }
}
