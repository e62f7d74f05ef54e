//! Partition leases: which node runs which conversations.
//!
//! Every `lease_renew_ms` each node runs one script, atomically: it registers itself as alive
//! (`nodes`, a sorted set scored by expiry), forgets nodes that stopped renewing, releases the
//! partitions it was asked to give back, renews the leases it holds (`lease:{p}`, the node's
//! name with a TTL of `lease_ttl_ms`), and takes free partitions up to its fair share,
//! `ceil(partitions / live nodes)`. Beyond its share it is told which partitions to give back:
//! it stops serving them first and releases them on the next tick, so a node that joins gets
//! its share within a few ticks, and a node that dies loses its leases after `lease_ttl_ms`.
//!
//! A node that cannot renew (Redis unreachable) stops serving everything once its leases may
//! have expired: it never keeps running conversations another node may have taken.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Cluster, redis_error};

/// What a node does when it gains or loses partitions.
#[async_trait]
pub trait PartitionHost: Send + Sync + 'static {
    /// Settle what previous owners left of partitions just acquired, before anything of theirs
    /// is served (bounded by the lease keeper: it must renew meanwhile).
    async fn prepare(&self, _partitions: &[usize]) {}
    /// Start serving partitions just acquired (claim their streams' unfinished entries, resume
    /// their work).
    async fn start(&self, partitions: &[usize]);
    /// Stop serving partitions (lost, or to be released); return once stopped.
    async fn stop(&self, partitions: &[usize]);
}

const TICK: &str = r#"
local prefix = KEYS[1]
local node = ARGV[1]
local ttl = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nodes = prefix .. 'nodes'
redis.call('ZADD', nodes, now + ttl, node)
redis.call('ZREMRANGEBYSCORE', nodes, '-inf', now)
local live = redis.call('ZCARD', nodes)
for i = 4, #ARGV do
  local key = prefix .. 'lease:' .. ARGV[i]
  if redis.call('GET', key) == node then redis.call('DEL', key) end
end
local mine = {}
for p = 0, count - 1 do
  local key = prefix .. 'lease:' .. p
  if redis.call('GET', key) == node then
    redis.call('PEXPIRE', key, ttl)
    mine[#mine + 1] = p
  end
end
local share = math.ceil(count / live)
local excess = {}
for i = share + 1, #mine do excess[#excess + 1] = mine[i] end
if #mine < share then
  -- Start looking at a different place on every node, so joiners do not all race for 0.
  local start = tonumber(string.sub(redis.sha1hex(node), 1, 6), 16) % count
  for i = 0, count - 1 do
    if #mine >= share then break end
    local p = (start + i) % count
    if redis.call('SET', prefix .. 'lease:' .. p, node, 'NX', 'PX', ttl) then
      mine[#mine + 1] = p
    end
  end
end
return {mine, excess, live}
"#;

const LEAVE: &str = r#"
local prefix = KEYS[1]
local node = ARGV[1]
local count = tonumber(ARGV[2])
for p = 0, count - 1 do
  local key = prefix .. 'lease:' .. p
  if redis.call('GET', key) == node then redis.call('DEL', key) end
end
redis.call('ZREM', prefix .. 'nodes', node)
return 1
"#;

/// Keeps this node's leases and tells the host which partitions to serve.
pub struct LeaseKeeper {
    cluster: Arc<Cluster>,
    host: Arc<dyn PartitionHost>,
    tick: redis::Script,
    leave: redis::Script,
}

impl LeaseKeeper {
    pub fn new(cluster: Arc<Cluster>, host: Arc<dyn PartitionHost>) -> Arc<Self> {
        Arc::new(Self {
            cluster,
            host,
            tick: redis::Script::new(TICK),
            leave: redis::Script::new(LEAVE),
        })
    }

    /// Renew and rebalance every `lease_renew_ms` until aborted.
    pub fn spawn(self: &Arc<Self>) -> actix_rt::task::JoinHandle<()> {
        let keeper = self.clone();
        actix_rt::spawn(async move { keeper.run().await })
    }

    async fn run(&self) {
        let settings = &self.cluster.settings;
        let ttl = Duration::from_millis(settings.lease_ttl_ms);
        let every = Duration::from_millis(settings.lease_renew_ms);
        let count = self.cluster.ownership().partitions();
        let mut to_release: Vec<usize> = Vec::new();
        // Leases are valid until (time of the last successful renewal's request) + ttl; stop
        // serving a renewal period before that.
        let mut valid_until: Option<Instant> = None;
        loop {
            let asked = Instant::now();
            let mut invocation = self.tick.key(self.cluster.prefix());
            invocation
                .arg(&self.cluster.node)
                .arg(settings.lease_ttl_ms)
                .arg(count);
            for p in &to_release {
                invocation.arg(*p);
            }
            let mut conn = self.cluster.conn();
            match invocation
                .invoke_async::<(Vec<usize>, Vec<usize>, usize)>(&mut conn)
                .await
            {
                Ok((mine, excess, live)) => {
                    valid_until = Some(asked + ttl.saturating_sub(every));
                    to_release.clear();
                    let held: BTreeSet<usize> = mine.iter().copied().collect();
                    let excess: BTreeSet<usize> = excess.into_iter().collect();
                    let serving: BTreeSet<usize> =
                        self.cluster.ownership().owned().into_iter().collect();
                    // Lost (someone else holds it now) or beyond our share: stop serving.
                    let stop: Vec<usize> = serving
                        .iter()
                        .copied()
                        .filter(|p| !held.contains(p) || excess.contains(p))
                        .collect();
                    if !stop.is_empty() {
                        tracing::info!(node = %self.cluster.node, partitions = ?stop, live, "handing partitions over");
                        self.stop(&stop).await;
                    }
                    // Beyond our share: give back on the next tick, now that we stopped.
                    to_release.extend(excess.iter().copied().filter(|p| held.contains(p)));
                    let start: Vec<usize> = held
                        .iter()
                        .copied()
                        .filter(|p| !serving.contains(p) && !excess.contains(p))
                        .collect();
                    if !start.is_empty() {
                        tracing::info!(node = %self.cluster.node, partitions = ?start, live, "taking partitions");
                        // Before this node serves them (and so before its actors run there):
                        // at most half a lease, so the next renewal is still in time.
                        let bound = ttl / 2;
                        if tokio::time::timeout(bound, self.host.prepare(&start))
                            .await
                            .is_err()
                        {
                            tracing::warn!(partitions = ?start, "take-over preparation took too long; serving anyway");
                        }
                        for &p in &start {
                            self.cluster.ownership().set(p, true);
                        }
                        self.host.start(&start).await;
                    }
                }
                Err(e) => {
                    redis_error("lease", &e);
                    if valid_until.is_some_and(|until| Instant::now() >= until) {
                        let serving = self.cluster.ownership().owned();
                        if !serving.is_empty() {
                            tracing::warn!(node = %self.cluster.node, partitions = ?serving,
                                "leases could not be renewed; no longer serving them");
                            self.stop(&serving).await;
                        }
                        valid_until = None;
                    }
                }
            }
            let elapsed = asked.elapsed();
            tokio::time::sleep(every.saturating_sub(elapsed)).await;
        }
    }

    async fn stop(&self, partitions: &[usize]) {
        for &p in partitions {
            self.cluster.ownership().set(p, false);
        }
        self.host.stop(partitions).await;
    }

    /// Leave the cluster (graceful shutdown): stop serving, give every lease back, deregister.
    pub async fn leave(&self) {
        let serving = self.cluster.ownership().owned();
        self.stop(&serving).await;
        let mut conn = self.cluster.conn();
        if let Err(e) = self
            .leave
            .key(self.cluster.prefix())
            .arg(&self.cluster.node)
            .arg(self.cluster.ownership().partitions())
            .invoke_async::<i64>(&mut conn)
            .await
        {
            redis_error("leave", &e);
        }
    }
}
