//! Waking visitors' sockets when their transcript grew.
//!
//! Each open socket watches its customer's counter ([`Wakeups::watch`]); a wake bumps it. A
//! watch never misses a bump made after it was taken (tokio's `watch`), so a socket that reads
//! the transcript and then waits sees every later wake. In a cluster the business's message may
//! be sent by another node than the one holding the visitor's socket: a wake is published on one
//! Redis pub/sub channel (`sb:{ns}:webchat`) every node listens to, the giving node included.
//! Publishing goes through a bounded queue (full: dropped and counted); sockets also read the
//! transcript every `webchat.poll_interval_ms`, so a lost wake only delays a message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{mpsc, watch};

use crate::cluster::Cluster;
use crate::domain::CustomerId;

/// Wakes waiting to be published (cluster mode); beyond it they are dropped.
const PUBLISH_QUEUE: usize = 4096;
/// Every this many new watches, the counters nobody watches are forgotten.
const TIDY_EVERY: usize = 256;

pub struct Wakeups {
    local: Mutex<Local>,
    cluster: Option<Arc<Cluster>>,
    outgoing: mpsc::Sender<String>,
    outgoing_rx: Mutex<Option<mpsc::Receiver<String>>>,
}

#[derive(Default)]
struct Local {
    counters: HashMap<String, watch::Sender<u64>>,
    since_tidy: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Wakeups {
    /// In this process only (embedded), or across the cluster.
    pub fn new(cluster: Option<Arc<Cluster>>) -> Arc<Self> {
        let (outgoing, rx) = mpsc::channel(PUBLISH_QUEUE);
        Arc::new(Self {
            local: Mutex::new(Local::default()),
            cluster,
            outgoing,
            outgoing_rx: Mutex::new(Some(rx)),
        })
    }

    /// A receiver that changes whenever `customer`'s transcript may have grown.
    pub fn watch(&self, customer: &CustomerId) -> watch::Receiver<u64> {
        let mut local = lock(&self.local);
        local.since_tidy += 1;
        if local.since_tidy >= TIDY_EVERY {
            local.since_tidy = 0;
            local.counters.retain(|_, tx| tx.receiver_count() > 0);
        }
        local
            .counters
            .entry(customer.as_str().to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// `customer`'s transcript grew: wake their sockets, here and (cluster) on every node.
    pub fn wake(&self, customer: &CustomerId) {
        if self.cluster.is_some() {
            if self
                .outgoing
                .try_send(customer.as_str().to_string())
                .is_ok()
            {
                return;
            }
            metrics::counter!(crate::metrics::LIVE_NEWS_DROPPED).increment(1);
        }
        self.wake_here(customer.as_str());
    }

    /// Wake the sockets of this node.
    pub fn wake_here(&self, customer: &str) {
        if let Some(tx) = lock(&self.local).counters.get(customer) {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Cluster mode: the publishing task and the listener (none embedded).
    pub fn spawn(self: &Arc<Self>) -> Vec<actix_rt::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        let Some(cluster) = self.cluster.clone() else {
            return tasks;
        };
        if let Some(mut outgoing) = lock(&self.outgoing_rx).take() {
            let cluster = cluster.clone();
            let me = self.clone();
            tasks.push(actix_rt::spawn(async move {
                let mut conn = cluster.conn();
                let channel = channel(&cluster);
                while let Some(customer) = outgoing.recv().await {
                    let published: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                        .arg(&channel)
                        .arg(&customer)
                        .query_async(&mut conn)
                        .await;
                    if let Err(e) = published {
                        // Redis away: this node's sockets still hear it; others poll.
                        tracing::debug!(error = %e, "webchat wake not published");
                        me.wake_here(&customer);
                    }
                }
            }));
        }
        let me = self.clone();
        tasks.push(actix_rt::spawn(async move {
            loop {
                if let Err(e) = me.listen(&cluster).await {
                    tracing::warn!(error = %e, "webchat wake channel lost; subscribing again");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }));
        tasks
    }

    async fn listen(&self, cluster: &Cluster) -> redis::RedisResult<()> {
        let mut pubsub = cluster.pubsub().await?;
        pubsub.subscribe(channel(cluster)).await?;
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            if let Ok(customer) = message.get_payload::<String>() {
                self.wake_here(&customer);
            }
        }
        Ok(())
    }
}

fn channel(cluster: &Cluster) -> String {
    cluster.key("webchat")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wake_reaches_every_watcher_of_that_customer_only() {
        let wakeups = Wakeups::new(None);
        let ana = CustomerId::new("webchat:w:ana");
        let mut first = wakeups.watch(&ana);
        let mut second = wakeups.watch(&ana);
        let mut other = wakeups.watch(&CustomerId::new("webchat:w:bob"));
        wakeups.wake(&ana);
        assert!(first.has_changed().unwrap_or(false));
        assert!(second.has_changed().unwrap_or(false));
        assert!(!other.has_changed().unwrap_or(true));
        first.borrow_and_update();
        assert!(!first.has_changed().unwrap_or(true));
        // A wake with nobody watching is nothing.
        wakeups.wake(&CustomerId::new("webchat:w:nobody"));
        let _ = (&mut second, &mut other);
    }

    #[tokio::test]
    async fn counters_nobody_watches_are_forgotten() {
        let wakeups = Wakeups::new(None);
        for n in 0..TIDY_EVERY * 2 {
            drop(wakeups.watch(&CustomerId::new(format!("webchat:w:{n}"))));
        }
        assert!(lock(&wakeups.local).counters.len() <= TIDY_EVERY);
    }
}
