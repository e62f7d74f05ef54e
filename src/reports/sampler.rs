//! The presence sampler: every `reports.presence_sample_seconds` (at instants aligned to it) one
//! node reads the assignment state and records what the interval just ended adds to the agents'
//! presence figures ([`super::presence::sample`]), in one transaction keyed by the sample's
//! instant: the store records an instant only once (a watermark), so a retried sample, or two
//! nodes sampling the same instant during a lease hand-over, never count twice.
//!
//! Which node: the embedded mode's only one; in a cluster the node holding partition 0's lease
//! (one at a time, handed over when it dies).

use std::sync::Arc;
use std::time::Duration;

use crate::assign::Assignments;
use crate::cluster::Cluster;
use crate::store::Store;

pub struct PresenceSampler {
    assignments: Arc<dyn Assignments>,
    store: Arc<dyn Store>,
    interval_ms: i64,
    /// Cluster mode: sample only while this node holds partition 0.
    cluster: Option<Arc<Cluster>>,
}

impl PresenceSampler {
    pub fn new(
        assignments: Arc<dyn Assignments>,
        store: Arc<dyn Store>,
        interval_seconds: u64,
        cluster: Option<Arc<Cluster>>,
    ) -> Self {
        let interval_ms = i64::try_from(interval_seconds.clamp(1, 3600) * 1000).unwrap_or(60_000);
        Self {
            assignments,
            store,
            interval_ms,
            cluster,
        }
    }

    /// Take the sample of instant `at`: false when that instant (or a later one) is already
    /// recorded.
    pub async fn sample_at(&self, at: i64) -> anyhow::Result<bool> {
        let snapshot = self.assignments.snapshot().await?;
        let deltas = super::presence::sample(&snapshot.agents, at, self.interval_ms);
        Ok(self.store.record_presence_sample(at, deltas).await?)
    }

    fn leads(&self) -> bool {
        self.cluster
            .as_ref()
            .is_none_or(|c| c.ownership().owns_partition(0))
    }

    /// Sample at every aligned instant until aborted.
    pub fn spawn(self) -> actix_rt::task::JoinHandle<()> {
        actix_rt::spawn(async move {
            loop {
                let now = chrono::Utc::now().timestamp_millis();
                let at = super::presence::next_instant(now + 1, self.interval_ms);
                let wait = u64::try_from(at - now).unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                if !self.leads() {
                    continue;
                }
                match self.sample_at(at).await {
                    Ok(true) => {}
                    Ok(false) => tracing::debug!(at, "presence sample already recorded"),
                    Err(e) => tracing::warn!(error = %e, at, "presence sample failed"),
                }
            }
        })
    }
}
