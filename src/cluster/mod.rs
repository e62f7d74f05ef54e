//! Cluster mode: several gateway nodes behind a load balancer, with Redis as the distributed
//! engine and PostgreSQL as the durable store. The same binary runs it when `redis.url` is set.
//!
//! - **Ownership** ([`leases`]): conversations are spread over `intake.partitions` partitions
//!   (`key.partition(n)`, a stable hash). Each node leases a fair share of the partitions (a
//!   key per partition with a TTL, renewed; rebalanced when nodes join or leave) and runs the
//!   conversation actors of its partitions only. A node that stops renewing loses its
//!   partitions to the others. Leases can overlap for a moment around a handover; the store's
//!   fences (an event is processed once, a step commits only over the version it was computed
//!   from) keep that harmless.
//! - **Inbound** ([`inbox`]): intake records a webhook's events in the store (the durable
//!   record), appends each to its partition's stream, and only then answers 200. The owner reads
//!   its partitions' streams in a consumer group, delivers to its actors and acknowledges each
//!   entry once its event is processed; a node that takes a partition over claims what the
//!   previous owner had read but not finished. Agents' actions and the desk's commands for a
//!   conversation owned elsewhere travel the same streams; answers come back over pub/sub.
//! - **Timers** ([`timers`]): offer timeouts, overflow waits and snoozes in a sorted set; due
//!   ones are moved atomically into their conversation's partition stream.
//! - **Console** ([`console`]): each agent's events in a stream numbered by Redis; every node
//!   reads the streams and pushes to the consoles connected to it.
//! - **Limits** ([`throttle`]): each number's throughput and pair rates as GCRA in Redis.
//! - Presence, queues and assignments: `assign::redis::RedisAssignments` (Lua).

pub mod console;
pub mod inbox;
pub mod leases;
pub mod throttle;
pub mod timers;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};

use crate::config::{RedisSettings, Settings};
use crate::domain::ConversationKey;
use crate::metrics as m;

/// This node's connection to the cluster.
pub struct Cluster {
    /// This node's name (leases, consumer groups, reply channel).
    pub node: String,
    /// `sb:{namespace}:`: every key of the deployment shares the hash tag, hence one slot.
    prefix: String,
    client: redis::Client,
    conn: ConnectionManager,
    pub settings: RedisSettings,
    ownership: Arc<Ownership>,
}

impl Cluster {
    /// Connect to Redis (it must answer now; later outages are survived).
    pub async fn connect(settings: &Settings) -> anyhow::Result<Arc<Cluster>> {
        let redis_settings = settings.redis.clone();
        let client = redis::Client::open(redis_settings.url.as_str())
            .map_err(|e| anyhow::anyhow!("redis.url: {e}"))?;
        let timeout = Duration::from_millis(redis_settings.response_timeout_ms.max(1));
        // Fail fast while Redis is away (webhooks get their 503 at once, Meta retries), and
        // try again on the next command: one reconnection attempt at a time, no long backoff.
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(timeout))
            .set_connection_timeout(Some(timeout.min(Duration::from_millis(500))))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(200));
        let conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to Redis at redis.url: {e}"))?;
        let node = if redis_settings.node_id.is_empty() {
            let host = std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "node".into());
            let random = uuid::Uuid::now_v7().simple().to_string();
            format!(
                "{host}-{}-{}",
                std::process::id(),
                &random[random.len() - 6..]
            )
        } else {
            redis_settings.node_id.clone()
        };
        let prefix = format!("sb:{{{}}}:", redis_settings.namespace);
        tracing::info!(%node, namespace = %redis_settings.namespace, "cluster mode");
        // The series exist from the start (a node that never gains a partition shows 0; the
        // alerts' rates see Redis errors from the first; a lone node sends no command to
        // another), not only after their first change.
        metrics::gauge!(m::CLUSTER_PARTITIONS).set(0.0);
        metrics::counter!(m::CLUSTER_REDIS_ERRORS, "op" => "lease").increment(0);
        metrics::counter!(m::CLUSTER_COMMANDS, "outcome" => "ok").increment(0);
        Ok(Arc::new(Cluster {
            node,
            prefix,
            client,
            conn,
            ownership: Arc::new(Ownership::new(settings.intake.partitions)),
            settings: redis_settings,
        }))
    }

    /// A handle on the shared, self-reconnecting connection (cheap to clone).
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// A dedicated connection for blocking reads (they would hold up everyone else's commands
    /// on the shared one); it waits up to `block` plus the usual response timeout.
    pub async fn blocking_connection(
        &self,
        block: Duration,
    ) -> redis::RedisResult<MultiplexedConnection> {
        let timeout = Duration::from_millis(self.settings.response_timeout_ms.max(1));
        let config = redis::AsyncConnectionConfig::new()
            .set_response_timeout(Some(block + timeout))
            .set_connection_timeout(Some(timeout));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// A dedicated pub/sub connection.
    pub async fn pubsub(&self) -> redis::RedisResult<redis::aio::PubSub> {
        self.client.get_async_pubsub().await
    }

    /// A key of this deployment: `sb:{namespace}:{suffix}`.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    /// The key prefix (scripts build their keys from it).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn namespace(&self) -> &str {
        &self.settings.namespace
    }

    pub fn ownership(&self) -> &Arc<Ownership> {
        &self.ownership
    }
}

/// Which partitions this node owns now (a lease it holds and has started serving).
pub struct Ownership {
    owned: Vec<AtomicBool>,
}

impl Ownership {
    pub fn new(partitions: usize) -> Self {
        Self {
            owned: (0..partitions.max(1))
                .map(|_| AtomicBool::new(false))
                .collect(),
        }
    }

    pub fn partitions(&self) -> usize {
        self.owned.len()
    }

    pub fn owns_partition(&self, partition: usize) -> bool {
        self.owned
            .get(partition)
            .is_some_and(|p| p.load(Ordering::Acquire))
    }

    pub fn owns(&self, key: &ConversationKey) -> bool {
        self.owns_partition(key.partition(self.owned.len()))
    }

    pub fn owned(&self) -> Vec<usize> {
        (0..self.owned.len())
            .filter(|&p| self.owns_partition(p))
            .collect()
    }

    pub(crate) fn set(&self, partition: usize, owned: bool) {
        if let Some(p) = self.owned.get(partition) {
            p.store(owned, Ordering::Release);
        }
        metrics::gauge!(m::CLUSTER_PARTITIONS).set(self.owned().len() as f64);
    }
}

/// Count a failed Redis operation (`op`: what it was for).
pub(crate) fn redis_error(op: &'static str, error: &redis::RedisError) {
    metrics::counter!(m::CLUSTER_REDIS_ERRORS, "op" => op).increment(1);
    tracing::warn!(op, %error, "redis");
}
