//! What a node's death leaves behind (cluster crash runs): how soon its partitions are served
//! again, how soon the console events it committed but never appended reach the agents, and,
//! at the end, whether any assignment decision holds a slot for nothing.
//!
//! Read from the deployment's Redis (which node leases which partition, the assignment state)
//! and PostgreSQL (when messages were processed, the console outbox, the open conversations).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use redis::aio::MultiplexedConnection;
use serde::Serialize;
use switchboard::domain::ConversationKey;

/// How long a measurement waits before it gives up (and reports nothing).
const PATIENCE: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(20);

/// One takeover, measured from the kill.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Takeover {
    /// Partitions the killed node held.
    pub partitions: usize,
    /// From the kill to the first customer message of those partitions processed (committed)
    /// by the node serving them next (the survivor, or the killed node back under its name).
    pub first_event_ms: Option<u64>,
    /// Console events of those partitions committed and not yet appended at the kill.
    pub pending_console_events: usize,
    /// From the kill until all of them were appended to their agents' logs.
    pub console_events_delivered_ms: Option<u64>,
}

/// The assignment state against the store at the end of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Ghosts {
    /// Agents' slots (assigned or counted in their load) with no committed conversation
    /// assigned to them behind: must be 0.
    pub slots_held_by_nothing: usize,
    /// Conversations the assignment state holds (assigned, offered, queued) that the store
    /// does not show waiting or assigned: must be 0.
    pub placed_not_open: usize,
    /// A few of them, for the report.
    pub examples: Vec<String>,
}

/// The deployment's Redis (its key prefix found from the live nodes' registry) and store.
pub struct Probe {
    redis: MultiplexedConnection,
    prefix: String,
    db: sqlx::PgPool,
}

impl Probe {
    pub async fn connect(redis_url: &str, database_url: &str) -> Result<Probe> {
        let mut redis = redis::Client::open(redis_url)?
            .get_multiplexed_async_connection()
            .await
            .context("connecting to the deployment's Redis")?;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("sb:{*}:nodes")
            .query_async(&mut redis)
            .await?;
        let prefix = keys
            .first()
            .and_then(|k| k.strip_suffix("nodes"))
            .context("no cluster node registered in Redis")?
            .to_string();
        let db = sqlx::PgPool::connect(database_url)
            .await
            .context("connecting to the store")?;
        Ok(Probe { redis, prefix, db })
    }

    /// Partition → node leasing it now; the partition count.
    async fn leases(&mut self) -> Result<(HashMap<usize, String>, usize)> {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}lease:*", self.prefix))
            .query_async(&mut self.redis)
            .await?;
        let mut leases = HashMap::new();
        for key in keys {
            let Some(p) = key.rsplit(':').next().and_then(|p| p.parse::<usize>().ok()) else {
                continue;
            };
            let node: Option<String> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut self.redis)
                .await?;
            if let Some(node) = node {
                leases.insert(p, node);
            }
        }
        let count = leases.keys().max().map_or(0, |p| p + 1);
        Ok((leases, count))
    }

    /// Right before killing `node`: the partitions it holds (and the partition count).
    pub async fn partitions_of(&mut self, node: &str) -> Result<(BTreeSet<usize>, usize)> {
        let (leases, count) = self.leases().await?;
        Ok((
            leases
                .into_iter()
                .filter(|(_, n)| n == node)
                .map(|(p, _)| p)
                .collect(),
            count,
        ))
    }

    /// Right after the kill: measure the takeover of `partitions` (of `count`), from `killed`
    /// (`killed_ms`, unix ms).
    pub async fn takeover(
        self,
        partitions: BTreeSet<usize>,
        count: usize,
        killed: Instant,
        killed_ms: i64,
    ) -> Takeover {
        let mine = |key: &str| {
            partitions.contains(&ConversationKey::from_stored(key.to_string()).partition(count))
        };
        let mut report = Takeover {
            partitions: partitions.len(),
            ..Takeover::default()
        };
        // What the dead node committed and did not append (the live node's rows are appended
        // within milliseconds, and are not of these partitions).
        let outbox: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT id, conversation_key FROM console_outbox")
                .fetch_all(&self.db)
                .await
                .unwrap_or_default();
        let mut pending: HashSet<String> = outbox
            .into_iter()
            .filter(|(_, key)| key.as_deref().is_some_and(mine))
            .map(|(id, _)| id)
            .collect();
        report.pending_console_events = pending.len();
        if pending.is_empty() {
            report.console_events_delivered_ms = Some(0);
        }
        let ms = |since: Instant| since.elapsed().as_millis() as u64;
        while killed.elapsed() < PATIENCE
            && (report.first_event_ms.is_none() || report.console_events_delivered_ms.is_none())
        {
            if report.first_event_ms.is_none() {
                let keys: Vec<String> = sqlx::query_scalar(
                    "SELECT DISTINCT c.key FROM messages m JOIN conversations c
                     ON c.id = m.conversation_id
                     WHERE m.direction = 'inbound' AND m.updated_at > $1",
                )
                .bind(killed_ms)
                .fetch_all(&self.db)
                .await
                .unwrap_or_default();
                if keys.iter().any(|k| mine(k)) {
                    report.first_event_ms = Some(ms(killed));
                }
            }
            if report.console_events_delivered_ms.is_none() {
                let ids: Vec<String> = pending.iter().cloned().collect();
                let left: Vec<String> =
                    sqlx::query_scalar("SELECT id FROM console_outbox WHERE id = ANY($1)")
                        .bind(&ids)
                        .fetch_all(&self.db)
                        .await
                        .unwrap_or_else(|_| ids.clone());
                pending = left.into_iter().collect();
                if pending.is_empty() {
                    report.console_events_delivered_ms = Some(ms(killed));
                }
            }
            tokio::time::sleep(POLL).await;
        }
        self.db.close().await;
        report
    }

    /// At the end: every decision the assignment state holds has a committed, open
    /// conversation behind it, assigned to the agent whose slot it takes.
    pub async fn ghosts(mut self) -> Result<Ghosts> {
        let key = |k: &str| format!("{}{k}", self.prefix);
        let open: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT id, status, assignee FROM conversations WHERE status IN ('waiting', 'assigned')",
        )
        .fetch_all(&self.db)
        .await?;
        let open_ids: HashSet<&str> = open.iter().map(|(id, _, _)| id.as_str()).collect();
        let mut ghosts = Ghosts::default();
        let placed: Vec<String> = redis::cmd("SMEMBERS")
            .arg(key("placed"))
            .query_async(&mut self.redis)
            .await?;
        for id in placed.iter().filter(|id| !open_ids.contains(id.as_str())) {
            ghosts.placed_not_open += 1;
            if ghosts.examples.len() < 10 {
                ghosts.examples.push(format!("placed, not open: {id}"));
            }
        }
        let agents: Vec<String> = redis::cmd("ZRANGE")
            .arg(key("agents"))
            .arg(0)
            .arg(-1)
            .query_async(&mut self.redis)
            .await?;
        for agent in agents {
            let assigned: Vec<String> = redis::cmd("ZRANGE")
                .arg(key(&format!("assigned:{agent}")))
                .arg(0)
                .arg(-1)
                .query_async(&mut self.redis)
                .await?;
            let offered: usize = redis::cmd("ZCARD")
                .arg(key(&format!("offered:{agent}")))
                .query_async(&mut self.redis)
                .await?;
            let load: Option<usize> = redis::cmd("HGET")
                .arg(key(&format!("agent:{agent}")))
                .arg("load")
                .query_async(&mut self.redis)
                .await?;
            let recorded: HashSet<&str> = open
                .iter()
                .filter(|(_, status, who)| status == "assigned" && who.as_deref() == Some(&agent))
                .map(|(id, _, _)| id.as_str())
                .collect();
            let unrecorded: Vec<&String> = assigned
                .iter()
                .filter(|id| !recorded.contains(id.as_str()))
                .collect();
            // Load beyond what the agent holds at all counts too (a load never released).
            let excess = load.unwrap_or(0).saturating_sub(assigned.len() + offered);
            ghosts.slots_held_by_nothing += unrecorded.len() + excess;
            for id in unrecorded {
                if ghosts.examples.len() < 10 {
                    ghosts.examples.push(format!(
                        "{agent}: slot held by {id}, not assigned to them in the store"
                    ));
                }
            }
        }
        self.db.close().await;
        Ok(ghosts)
    }
}
