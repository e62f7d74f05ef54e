//! Cluster-mode harness: a private `redis-server`, one PostgreSQL database (created for the
//! test, dropped after), a shared fake Graph API, and several gateway nodes (the real
//! application, each on its own port) in this test process. Webhooks and consoles can be aimed
//! at any node, like a load balancer would.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use switchboard::config::Settings;
use switchboard::fakes::graph::FakeGraph;
use switchboard::testkit::postgres::TestDatabase;
use switchboard::testkit::redis::RedisServer;
use tokio::time::Instant;

use super::{TestApp, test_settings};

pub struct TestCluster {
    pub redis: RedisServer,
    pub graph: Arc<FakeGraph>,
    pub nodes: Vec<Option<TestApp>>,
    pub settings: Settings,
    pub db_path: PathBuf,
    pub database: TestDatabase,
    _dir: tempfile::TempDir,
}

/// Cluster settings every node shares: fast leases and timers so tests see handovers quickly.
pub fn cluster_settings(settings: &mut Settings, redis: &RedisServer) {
    settings.redis.url = redis.url();
    settings.redis.namespace = "test".into();
    settings.redis.lease_ttl_ms = 1500;
    settings.redis.lease_renew_ms = 250;
    settings.redis.read_block_ms = 100;
    settings.redis.timer_poll_ms = 50;
    settings.redis.command_timeout_ms = 5000;
    settings.intake.partitions = 8;
}

impl TestCluster {
    /// `nodes` nodes of the demo configuration on one Redis and one store, `customize`d, and
    /// wait until every partition has an owner.
    pub async fn start(nodes: usize, customize: impl Fn(&mut Settings)) -> TestCluster {
        let database = TestDatabase::create()
            .await
            .expect("a PostgreSQL test database");
        Self::start_on(database, nodes, customize).await
    }

    /// [`start`](Self::start) on a given database.
    pub async fn start_on(
        database: TestDatabase,
        nodes: usize,
        customize: impl Fn(&mut Settings),
    ) -> TestCluster {
        let redis = RedisServer::start().expect("redis-server starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let graph = Arc::new(FakeGraph::start());
        let mut settings = test_settings(dir.path(), &graph);
        super::console::console_defaults(&mut settings);
        cluster_settings(&mut settings, &redis);
        settings.database.url = database.url().to_string();
        customize(&mut settings);
        let db_path = dir.path().join("switchboard.db");
        let mut cluster = TestCluster {
            redis,
            graph,
            nodes: Vec::new(),
            settings,
            db_path,
            database,
            _dir: dir,
        };
        for _ in 0..nodes {
            cluster.add_node().await;
        }
        cluster.settle().await;
        cluster
    }

    /// Start one more node.
    pub async fn add_node(&mut self) -> usize {
        let index = self.nodes.len();
        let mut settings = self.settings.clone();
        settings.redis.node_id = format!("node-{index}");
        let app = TestApp::start(settings, self.graph.clone(), self.db_path.clone()).await;
        self.nodes.push(Some(app));
        index
    }

    /// A running node.
    pub fn node(&self, index: usize) -> &TestApp {
        self.nodes[index].as_ref().expect("the node is running")
    }

    /// Running nodes, by index.
    pub fn running(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_some())
            .collect()
    }

    /// Stop a node gracefully (it hands its partitions over at once).
    pub async fn stop_node(&mut self, index: usize) {
        if let Some(app) = self.nodes[index].take() {
            app.handle.stop().await;
        }
    }

    /// Partitions each running node serves now.
    pub fn ownership(&self) -> Vec<(usize, Vec<usize>)> {
        self.running()
            .into_iter()
            .map(|i| {
                let owned = self
                    .node(i)
                    .handle
                    .cluster
                    .as_ref()
                    .map(|c| c.ownership().owned())
                    .unwrap_or_default();
                (i, owned)
            })
            .collect()
    }

    /// Wait until every partition is served by exactly one running node, each with a share.
    pub async fn settle(&self) {
        let partitions = self.settings.intake.partitions;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ownership = self.ownership();
            let mut all: Vec<usize> = ownership.iter().flat_map(|(_, p)| p.clone()).collect();
            all.sort_unstable();
            let each = ownership.iter().all(|(_, p)| !p.is_empty());
            if all == (0..partitions).collect::<Vec<_>>() && each {
                return;
            }
            if Instant::now() >= deadline {
                panic!("partitions never settled: {ownership:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
