//! Agents' console events in a cluster: one stream per agent, `console:{agent}`, whose entry
//! ids are `0-{seq}` with `seq` from the agent's counter, so the sequence is per agent across
//! every node and a range read after a sequence is one XRANGE. Any node appends (the one that
//! runs the conversation); every node reads every agent's stream and hands the events to its
//! agent actors, which push them to the consoles connected to that node. A console that
//! reconnects to another node with its last sequence resumes from the stream, missing nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply};

use super::{Cluster, redis_error};
use crate::agents::{ConsoleLog, Pushed};
use crate::desk::Desk;
use crate::domain::AgentId;
use crate::store::{AgentEventRecord, Store, StoreError};

/// Append events (kind, payload, created_at, outbox id or ""); an event whose outbox id was
/// appended before (a sweep re-emitting an entry whose settlement was lost) is skipped: its
/// sequence comes back 0.
const APPEND: &str = r#"
local stream = KEYS[1]
local counter = KEYS[2]
local keep = tonumber(ARGV[1])
local seen = ARGV[2]
local seqs = {}
for i = 3, #ARGV, 4 do
  local id = ARGV[i + 3]
  if id ~= '' and not redis.call('SET', seen .. id, 1, 'NX', 'PX', 86400000) then
    seqs[#seqs + 1] = 0
  else
    local seq = redis.call('INCR', counter)
    redis.call('XADD', stream, 'MAXLEN', keep, '0-' .. seq,
      'k', ARGV[i], 'p', ARGV[i + 1], 'a', ARGV[i + 2])
    seqs[#seqs + 1] = seq
  end
end
return seqs
"#;

/// The agents' console logs in Redis; the console outbox entries their events come from are
/// settled in the store once appended.
pub struct RedisConsoleLog {
    cluster: Arc<Cluster>,
    store: Arc<dyn Store>,
    append: redis::Script,
}

impl RedisConsoleLog {
    pub fn new(cluster: Arc<Cluster>, store: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self {
            cluster,
            store,
            append: redis::Script::new(APPEND),
        })
    }

    fn stream(&self, agent: &AgentId) -> String {
        self.cluster.key(&format!("console:{agent}"))
    }

    /// Read every agent's stream and hand new events to this node's agent actors, until
    /// aborted. Starts at each stream's end: the actors start there too, and fill any gap from
    /// the stream themselves.
    pub fn spawn_reader(self: &Arc<Self>, desk: Arc<Desk>) -> actix_rt::task::JoinHandle<()> {
        let log = self.clone();
        actix_rt::spawn(async move { log.read(desk).await })
    }

    async fn read(&self, desk: Arc<Desk>) {
        let block = Duration::from_millis(1000);
        let mut agents: Vec<AgentId> = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        let mut by_key: HashMap<String, AgentId> = HashMap::new();
        let mut cursors: HashMap<AgentId, i64> = HashMap::new();
        // Users added at runtime get agent actors; their streams are read from then on.
        let mut generation = usize::MAX;
        let mut conn = None;
        loop {
            if desk.agents_generation() != generation {
                generation = desk.agents_generation();
                for entry in desk.agents() {
                    if cursors.contains_key(&entry.id) {
                        continue;
                    }
                    let last = loop {
                        match self.bounds(&entry.id).await {
                            Ok(bounds) => break bounds.map(|(_, last)| last).unwrap_or(0),
                            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
                        }
                    };
                    cursors.insert(entry.id.clone(), last);
                    let key = self.stream(&entry.id);
                    by_key.insert(key.clone(), entry.id.clone());
                    keys.push(key);
                    agents.push(entry.id.clone());
                }
            }
            if agents.is_empty() {
                tokio::time::sleep(block).await;
                continue;
            }
            let mut connection = match conn.take() {
                Some(c) => c,
                None => match self.cluster.blocking_connection(block).await {
                    Ok(c) => c,
                    Err(e) => {
                        redis_error("console_read", &e);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                },
            };
            let ids: Vec<String> = agents
                .iter()
                .map(|a| format!("0-{}", cursors.get(a).copied().unwrap_or(0)))
                .collect();
            let options = StreamReadOptions::default()
                .count(256)
                .block(block.as_millis() as usize);
            let read: redis::RedisResult<Option<StreamReadReply>> =
                connection.xread_options(&keys, &ids, &options).await;
            match read {
                Ok(reply) => {
                    conn = Some(connection);
                    for stream in reply.map(|r| r.keys).unwrap_or_default() {
                        let Some(agent) = by_key.get(&stream.key) else {
                            continue;
                        };
                        let events: Vec<AgentEventRecord> =
                            stream.ids.iter().filter_map(record).collect();
                        let Some(last) = events.last().map(|e| e.seq) else {
                            continue;
                        };
                        cursors.insert(agent.clone(), last);
                        if let Some(entry) = desk.agent(agent)
                            && entry.addr.send(Pushed(events)).await.is_err()
                        {
                            tracing::warn!(%agent, "agent actor gone; console events not pushed");
                        }
                    }
                }
                Err(e) => {
                    redis_error("console_read", &e);
                    // A stream that restarted from 1 (Redis lost its data): follow it.
                    for agent in &agents {
                        if let Ok(bounds) = self.bounds(agent).await {
                            let last = bounds.map(|(_, last)| last).unwrap_or(0);
                            if cursors.get(agent).is_some_and(|&c| c > last) {
                                cursors.insert(agent.clone(), last);
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}

/// A stream entry as an event record (`0-{seq}`, fields k, p, a).
fn record(entry: &StreamId) -> Option<AgentEventRecord> {
    let seq = entry.id.strip_prefix("0-")?.parse().ok()?;
    let kind: String = entry.get("k")?;
    let payload: String = entry.get("p")?;
    Some(AgentEventRecord {
        seq,
        kind,
        payload: serde_json::from_str(&payload).ok()?,
        created_at: entry.get("a").unwrap_or(0),
        outbox_id: None,
    })
}

fn unavailable(e: redis::RedisError) -> StoreError {
    redis_error("console", &e);
    StoreError::Unavailable
}

#[async_trait]
impl ConsoleLog for RedisConsoleLog {
    fn shared(&self) -> bool {
        true
    }

    async fn append(
        &self,
        agent: &AgentId,
        events: Vec<AgentEventRecord>,
        keep: usize,
    ) -> Result<Vec<AgentEventRecord>, StoreError> {
        let mut invocation = self.append.key(self.stream(agent));
        invocation
            .key(self.cluster.key(&format!("console:{agent}:seq")))
            .arg(keep.max(1))
            .arg(self.cluster.key("console-outbox:"));
        for event in &events {
            let payload = serde_json::to_string(&event.payload)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            invocation
                .arg(&event.kind)
                .arg(payload)
                .arg(event.created_at)
                .arg(event.outbox_id.as_deref().unwrap_or_default());
        }
        let mut conn = self.cluster.conn();
        let seqs: Vec<i64> = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let settled: Vec<String> = events.iter().filter_map(|e| e.outbox_id.clone()).collect();
        if !settled.is_empty()
            && let Err(e) = self.store.settle_console_outbox(settled).await
        {
            // Appended, not settled: a sweep re-emits them, and the script skips them.
            tracing::warn!(%agent, error = %e, "console outbox entries not settled");
        }
        Ok(events
            .into_iter()
            .zip(seqs)
            .filter(|(_, seq)| *seq > 0)
            .map(|(event, seq)| AgentEventRecord { seq, ..event })
            .collect())
    }

    async fn after(
        &self,
        agent: &AgentId,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AgentEventRecord>, StoreError> {
        let mut conn = self.cluster.conn();
        let range: StreamRangeReply = conn
            .xrange_count(
                self.stream(agent),
                format!("(0-{}", after_seq.max(0)),
                "+",
                limit.max(1),
            )
            .await
            .map_err(unavailable)?;
        Ok(range.ids.iter().filter_map(record).collect())
    }

    async fn bounds(&self, agent: &AgentId) -> Result<Option<(i64, i64)>, StoreError> {
        let stream = self.stream(agent);
        let mut conn = self.cluster.conn();
        let (first, last): (StreamRangeReply, StreamRangeReply) = redis::pipe()
            .cmd("XRANGE")
            .arg(&stream)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .cmd("XREVRANGE")
            .arg(&stream)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let seq = |r: &StreamRangeReply| {
            r.ids
                .first()
                .and_then(|e| e.id.strip_prefix("0-")?.parse::<i64>().ok())
        };
        Ok(seq(&first).zip(seq(&last)))
    }
}
