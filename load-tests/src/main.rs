//! `loadtest`: the end-to-end load test of Switchboard (issue 6). See load-tests/README.md.
//!
//! It starts the release gateway as a child process on a generated configuration (or targets
//! a running one), a fake Graph API that accepts and records sends (and serves the fake
//! business API the bot calls), N simulated agents on the console API, and M simulated
//! customers firing signed webhooks; the same firing goes first at a bare verify+parse server,
//! the ceiling the gateway is reported against. At the end it checks the store: every
//! acknowledged message is there exactly once, every handed-off conversation was assigned
//! exactly once.

mod agents;
mod baseline;
mod campaign;
mod checks;
mod console;
mod crash;
mod customers;
mod gateway;
mod peers;
mod plot;
mod report;
mod sampler;
mod stats;
mod takeover;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use serde_json::json;
use switchboard::fakes::graph::FakeGraph;

use crate::agents::{AgentPlan, AgentStats, REPLY_PREFIX};
use crate::customers::{CustomerPlan, FireStats, Pace, RunIds};
use crate::gateway::{ChildProcess, Deployment, DeploymentPlan, GatewayConfig};
use crate::report::{FireReport, HandoffReport, MemoryPoint, MemoryReport, Ratio, Report};
use crate::sampler::Sampler;
use crate::stats::{Summary, histogram, micros};

const DEFAULT_APP_SECRET: &str = "loadtest-app-secret";

#[derive(Parser, Debug)]
#[command(
    name = "loadtest",
    about = "End-to-end load test of Switchboard: signed webhooks from simulated customers, \
             simulated agents, a bare verify+parse baseline, and checks that nothing \
             acknowledged is lost",
    after_help = "The one command: cargo run --release -p switchboard-load -- burst"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    #[command(flatten)]
    opts: Opts,
}

#[derive(Subcommand, Debug, Clone)]
enum Scenario {
    /// As fast as possible: MESSAGES webhooks from CUSTOMERS customers (default 100,000 from
    /// 20,000), 10 % of them ending in a handoff; baseline first.
    Burst {
        #[arg(long, default_value_t = 100_000)]
        messages: usize,
        #[arg(long, default_value_t = 20_000)]
        customers: usize,
    },
    /// A steady RATE of webhooks a second for DURATION seconds (open loop; latency counts
    /// from when each message was due); baseline first.
    Steady {
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        #[arg(long, default_value_t = 60)]
        duration: u64,
        #[arg(long, default_value_t = 5)]
        messages_per_customer: usize,
    },
    /// A morning ramp: the rate rises from START_RATE to PEAK_RATE over DURATION seconds,
    /// half the customers ask for a person, and there are fewer agents than the peak needs:
    /// queues grow, then drain once the ramp ends.
    Ramp {
        #[arg(long, default_value_t = 20.0)]
        start_rate: f64,
        #[arg(long, default_value_t = 200.0)]
        peak_rate: f64,
        #[arg(long, default_value_t = 60)]
        duration: u64,
        #[arg(long, default_value_t = 4)]
        messages_per_customer: usize,
    },
    /// Resident memory of the gateway: idle, with WEBSOCKETS agent websockets, then with each
    /// count of live conversation actors (every customer writes once).
    Memory {
        #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
        actors: Vec<usize>,
        #[arg(long, default_value_t = 1000)]
        websockets: usize,
    },
    /// Nothing acknowledged is lost: a burst while the gateway is killed with SIGKILL KILLS
    /// times at random moments and started again (`--cluster`: two nodes on Redis and
    /// PostgreSQL, a random one killed each time); customers redeliver what was not
    /// acknowledged, agents work the handoffs throughout. Checks the store and what customers
    /// received: everything acknowledged stored once, every conversation resumed, nothing sent
    /// twice.
    Crash {
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
        #[arg(long, default_value_t = 1_000)]
        customers: usize,
        #[arg(long, default_value_t = 3)]
        kills: usize,
        /// Longest pause between a kill and the restart, ms.
        #[arg(long, default_value_t = 1500)]
        max_down_ms: u64,
        /// With --cluster: kill PostgreSQL (a private server started for the run) instead of
        /// a node; webhooks are answered 503 while it is down.
        #[arg(long)]
        kill_postgres: bool,
        /// Share of acknowledged webhooks delivered a second time.
        #[arg(long, default_value_t = 0.05)]
        redeliver_fraction: f64,
        /// The gateways' `outbound.resend_unconfirmed_after_ms`: a send cut short by a kill is
        /// resent after this unless Meta's status showed it arrived (the default's value).
        #[arg(long, default_value_t = 60_000)]
        resend_after_ms: u64,
        /// After the drain, seconds to keep watching for late sends (default: the resend
        /// delay and 5 s).
        #[arg(long)]
        watch_seconds: Option<u64>,
    },
    /// Live traffic with and without a campaign (issue 17): the burst (over --numbers, or one
    /// number with --one-number), first on a fresh gateway holding RECIPIENTS contacts, then on
    /// another holding the same contacts and a campaign to them at RATE messages a second on
    /// the burst's first number, its audience written before the burst; compares the live
    /// latencies (webhook acks, handoffs reaching agents, agents' replies reaching the Graph
    /// API) and shows the campaign's pace during and after the burst. No baseline.
    Campaign {
        #[arg(long, default_value_t = 100_000)]
        recipients: usize,
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        /// The whole burst to the campaign's number alone (else spread over --numbers, the
        /// campaign on the first).
        #[arg(long)]
        one_number: bool,
        /// Pairs of runs (alone, with the campaign), alternating which goes first; the
        /// comparison is of the medians.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
        #[arg(long, default_value_t = 4_000)]
        customers: usize,
    },
    /// The burst at the baseline server only (the ceiling on this machine).
    Baseline {
        #[arg(long, default_value_t = 100_000)]
        messages: usize,
        #[arg(long, default_value_t = 20_000)]
        customers: usize,
    },
    /// Write the generated configuration (base.yaml + loadtest.yaml) to OUT, to start a gateway
    /// by hand (SWITCHBOARD_CONFIG_DIR=OUT SWITCHBOARD_ENVIRONMENT=loadtest) and aim the load
    /// test at it with --target.
    Config {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
    /// The web console in a headless Chromium (issue 14): CONVERSATIONS customers hand off to
    /// support and wait there; sam@example.com logs in LOGINS times, each in a fresh browser
    /// (login → painted list, transfer size); then one customer writes MESSAGES messages to
    /// the conversation open in the console (event → screen).
    Console {
        #[arg(long, default_value_t = 10_000)]
        conversations: usize,
        #[arg(long, default_value_t = 5)]
        logins: usize,
        #[arg(long, default_value_t = 50)]
        messages: usize,
    },
    /// Switchboard beside its peers (issue 16): the same pre-signed webhooks, in a closed loop
    /// of --connections for SECONDS, at the bare baseline, a whatsapp-api-js receiver (Node) and
    /// a pywa + FastAPI receiver (Python), both routing with the same Redis Lua script, and at
    /// Switchboard, under a new-conversation storm and traffic to assigned conversations.
    /// Prints acks/s, ack latency, processed/s and CPU per message, with ratios. The peers are
    /// installed into --cache (npm, a venv) with --install or when missing.
    Peers {
        /// Install (or update) the peers' packages even if they are there.
        #[arg(long)]
        install: bool,
        /// Where the peers are installed (default: load-tests/.peers-cache).
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Firing time per target and workload.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// The targets, in order.
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "baseline,whatsapp-api-js,pywa,switchboard"
        )]
        only: Vec<peers::Target>,
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "storm,assigned"
        )]
        workloads: Vec<peers::Workload>,
        /// Bodies signed per workload: the most a target can be sent in its window.
        #[arg(long, default_value_t = 600_000)]
        bodies: usize,
        /// The storm's distinct customers (body i from customer i mod N; default: every body
        /// from a new customer).
        #[arg(long)]
        storm_customers: Option<usize>,
        /// The customers of the assigned workload, each handed to an agent before the window.
        #[arg(long, default_value_t = 1_000)]
        assigned_customers: usize,
        /// Node processes and uvicorn workers of the peers.
        #[arg(long, default_value_t = 2)]
        peer_processes: usize,
    },
    /// (internal) The baseline server.
    #[command(hide = true)]
    ServeBaseline {
        #[arg(long)]
        port: u16,
        #[arg(long, default_value_t = 0)]
        workers: usize,
        #[arg(long)]
        app_secret: String,
    },
}

#[derive(Args, Debug, Clone)]
struct Opts {
    /// Aim at a running gateway (http://host:port) instead of starting one. Its Graph API
    /// must be this run's fake (--graph-addr), its agents those of `loadtest config`.
    #[arg(long, global = true)]
    target: Option<String>,
    /// Deploy a cluster instead of one embedded gateway: two nodes (each its own port) on a
    /// private redis-server and a fresh PostgreSQL database; customers and agents are spread
    /// over the nodes, as a load balancer would.
    #[arg(long, global = true)]
    cluster: bool,
    /// With --cluster: the PostgreSQL server to create the run's database on (default:
    /// SWITCHBOARD_TEST_POSTGRES_URL, else a private server started for the run). The database
    /// is dropped at the end.
    #[arg(long, global = true)]
    postgres_url: Option<String>,
    /// The gateway's store, checked at the end (with --target; sqlite://… or postgres://…).
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// The target gateway's process id, to read its memory (with --target).
    #[arg(long, global = true)]
    pid: Option<u32>,
    /// Allow a --target that is not on this machine (loopback).
    #[arg(long, global = true)]
    allow_remote: bool,
    /// The release `switchboard` binary (default: built with cargo, next to this one).
    #[arg(long, global = true)]
    gateway_bin: Option<PathBuf>,
    /// The base configuration layered under the generated one (default: config/base.yaml as
    /// compiled in).
    #[arg(long, global = true)]
    base_config: Option<PathBuf>,
    /// `RUST_LOG` of the started gateway.
    #[arg(long, global = true, default_value = "warn")]
    gateway_log: String,
    /// HTTP workers of the gateway and of the baseline (0: one per core).
    #[arg(long, global = true, default_value_t = 0)]
    workers: usize,
    /// Where the fake Graph API listens (default: a free port; with --target 127.0.0.1:9090).
    #[arg(long, global = true)]
    graph_addr: Option<SocketAddr>,
    /// The Meta app secret webhooks are signed with.
    #[arg(long, global = true)]
    app_secret: Option<String>,
    /// WhatsApp numbers the customers write to (generated channels; 1000 sends/s each).
    #[arg(long, global = true, default_value_t = 16)]
    numbers: usize,
    /// With --target: the phone_number_ids to write to (default: the generated numbers).
    #[arg(long, global = true, value_delimiter = ',')]
    phone_number_ids: Vec<String>,
    /// Simulated agents (scenario default).
    #[arg(long, global = true)]
    agents: Option<usize>,
    /// Conversations each agent may hold (scenario default).
    #[arg(long, global = true)]
    capacity: Option<u32>,
    /// Agents' think time before each reply and before resolving, ms (scenario default).
    #[arg(long, global = true)]
    think_ms: Option<u64>,
    /// Replies per conversation before the agent resolves it.
    #[arg(long, global = true, default_value_t = 2)]
    replies: usize,
    /// Agent tokens are PREFIX00000, PREFIX00001, …
    #[arg(long, global = true, default_value = "lt-agent-")]
    agent_token_prefix: String,
    /// Webhook requests in flight at most (keep-alive connections).
    #[arg(long, global = true)]
    connections: Option<usize>,
    /// Customers writing at the same time (scenario default).
    #[arg(long, global = true)]
    active: Option<usize>,
    /// Share of customers who end by asking for a person (scenario default).
    #[arg(long, global = true)]
    handoff_fraction: Option<f64>,
    /// Share of those who pick Sales (offers, accepted by the agent) instead of typing "agent".
    #[arg(long, global = true, default_value_t = 0.3)]
    sales_fraction: f64,
    /// The gateway does not send read receipts (whatsapp.mark_as_read: false).
    #[arg(long, global = true)]
    no_read_receipts: bool,
    /// Skip the baseline.
    #[arg(long, global = true)]
    no_baseline: bool,
    /// Write the report as JSON.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// Write an SVG of latency, acks/s and queue depth over time.
    #[arg(long, global = true)]
    plot: Option<PathBuf>,
    /// Longest wait after the firing for queues to drain and events to be processed, s.
    #[arg(long, global = true, default_value_t = 300)]
    drain_timeout: u64,
    /// Hard limit of the whole run, s: every loop stops by then.
    #[arg(long, global = true, default_value_t = 1800)]
    max_seconds: u64,
    /// Keep the generated directory (configuration, database, gateway log).
    #[arg(long, global = true)]
    keep: bool,
}

/// The shape of the load, resolved from the scenario and the options.
#[derive(Clone, Debug)]
struct Shape {
    name: String,
    customers: CustomerPlan,
    agents: usize,
    capacity: u32,
    think: Duration,
    replies: usize,
}

fn shape(scenario: &Scenario, o: &Opts, numbers: Vec<String>) -> Result<Shape> {
    // (customers, per customer, extra, pace, agents, capacity, think ms, active, handoff)
    let (name, customers, per, extra, pace, agents, capacity, think, active, handoff) =
        match scenario.clone() {
            Scenario::Burst {
                messages,
                customers,
            }
            | Scenario::Campaign {
                messages,
                customers,
                ..
            }
            | Scenario::Baseline {
                messages,
                customers,
            } => {
                if customers == 0 || messages < customers {
                    bail!("--messages must be at least --customers (> 0)");
                }
                (
                    match scenario {
                        Scenario::Baseline { .. } => "baseline",
                        Scenario::Campaign { .. } => "campaign",
                        _ => "burst",
                    },
                    customers,
                    messages / customers,
                    messages % customers,
                    Pace::Unlimited,
                    100,
                    5,
                    200,
                    2000.min(customers),
                    0.1,
                )
            }
            Scenario::Steady {
                rate,
                duration,
                messages_per_customer,
            } => {
                let total = (rate * duration as f64).ceil() as usize;
                let per = messages_per_customer.max(1);
                (
                    "steady",
                    total / per + 1,
                    per,
                    0,
                    Pace::Constant {
                        rate,
                        duration: Duration::from_secs(duration),
                    },
                    50,
                    5,
                    500,
                    (rate as usize).clamp(50, 4000),
                    0.2,
                )
            }
            Scenario::Ramp {
                start_rate,
                peak_rate,
                duration,
                messages_per_customer,
            } => {
                let total = ((start_rate + peak_rate) / 2.0 * duration as f64).ceil() as usize;
                let per = messages_per_customer.max(1);
                (
                    "ramp",
                    total / per + 1,
                    per,
                    0,
                    Pace::Ramp {
                        from: start_rate,
                        to: peak_rate,
                        duration: Duration::from_secs(duration),
                    },
                    20,
                    2,
                    1000,
                    ((peak_rate / 4.0) as usize).clamp(20, 4000),
                    0.5,
                )
            }
            Scenario::Memory { .. }
            | Scenario::Console { .. }
            | Scenario::Crash { .. }
            | Scenario::Config { .. }
            | Scenario::Peers { .. }
            | Scenario::ServeBaseline { .. } => {
                bail!("not a firing scenario")
            }
        };
    let handoff_fraction = o.handoff_fraction.unwrap_or(handoff);
    if !(0.0..=1.0).contains(&handoff_fraction) || !(0.0..=1.0).contains(&o.sales_fraction) {
        bail!("--handoff-fraction and --sales-fraction are between 0 and 1");
    }
    Ok(Shape {
        name: name.to_string(),
        customers: CustomerPlan {
            first: 0,
            customers,
            messages_per_customer: per,
            extra,
            handoff_fraction,
            sales_fraction: o.sales_fraction,
            pace,
            active: o.active.unwrap_or(active).max(1),
            connections: o.connections.unwrap_or(64).max(1),
            numbers,
            persistent: false,
            redeliver_fraction: 0.0,
        },
        agents: o.agents.unwrap_or(agents),
        capacity: o.capacity.unwrap_or(capacity),
        think: Duration::from_millis(o.think_ms.unwrap_or(think)),
        replies: o.replies,
    })
}

/// What the fake Graph API received that the report needs (it keeps no request list).
#[derive(Default)]
struct GraphTap {
    sends: AtomicU64,
    /// Template messages (a campaign's).
    templates: AtomicU64,
    read_receipts: AtomicU64,
    replies: Mutex<HashMap<String, Instant>>,
}

fn start_graph(addr: SocketAddr) -> Result<(FakeGraph, Arc<GraphTap>)> {
    let graph = FakeGraph::start_on(addr)
        .with_context(|| format!("starting the fake Graph API on {addr}"))?;
    graph.set_record_limit(0);
    let tap = Arc::new(GraphTap::default());
    let t = tap.clone();
    graph.observe(move |r| {
        if !r.accepted() {
            return;
        }
        if r.is_read_receipt() {
            t.read_receipts.fetch_add(1, Ordering::Relaxed);
            return;
        }
        t.sends.fetch_add(1, Ordering::Relaxed);
        if r.body.get("type").and_then(|v| v.as_str()) == Some("template") {
            t.templates.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(text) = r.body.pointer("/text/body").and_then(|v| v.as_str())
            && text.starts_with(REPLY_PREFIX)
            && let Ok(mut replies) = t.replies.lock()
        {
            replies.insert(text.to_string(), r.received);
        }
    });
    Ok((graph, tap))
}

fn check_target(url: &str, allow_remote: bool) -> Result<()> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .with_context(|| format!("--target {url}: expected http://host:port"))?;
    let host = rest.split('/').next().unwrap_or_default();
    let host = host
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(host)
        .trim_matches(['[', ']']);
    let local = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !local && !allow_remote {
        bail!("--target {url} is not on this machine; pass --allow-remote if you mean it");
    }
    Ok(())
}

fn numbers(o: &Opts) -> Vec<String> {
    if o.target.is_some() && !o.phone_number_ids.is_empty() {
        return o.phone_number_ids.clone();
    }
    (0..o.numbers.max(1))
        .map(gateway::phone_number_id)
        .collect()
}

fn gateway_config(
    o: &Opts,
    port: u16,
    graph_url: String,
    agents: usize,
    capacity: u32,
) -> GatewayConfig {
    GatewayConfig {
        port,
        workers: o.workers,
        app_secret: o
            .app_secret
            .clone()
            .unwrap_or_else(|| DEFAULT_APP_SECRET.into()),
        graph_url,
        numbers: o.numbers.max(1),
        agents,
        capacity,
        token_prefix: o.agent_token_prefix.clone(),
        data_dir: PathBuf::from("./data"),
        mark_as_read: !o.no_read_receipts,
        database_url: None,
        env: Vec::new(),
        extra_yaml: String::new(),
    }
}

/// The gateway under test: started here (one embedded gateway, or cluster nodes), or the
/// --target.
struct UnderTest {
    /// Every node's base URL (one unless --cluster).
    bases: Vec<String>,
    database_url: Option<String>,
    /// The (first) gateway's process id, for its memory.
    pid: Option<u32>,
    /// Every node's process id, for their CPU time.
    pids: Vec<u32>,
    _deployment: Option<Deployment>,
}

impl UnderTest {
    fn base_url(&self) -> &str {
        &self.bases[0]
    }

    fn webhook_urls(&self) -> Vec<String> {
        self.bases
            .iter()
            .map(|b| format!("{b}/webhooks/whatsapp"))
            .collect()
    }
}

async fn gateway_under_test(
    o: &Opts,
    graph_url: String,
    agents: usize,
    capacity: u32,
) -> Result<UnderTest> {
    gateway_under_test_with(o, graph_url, agents, capacity, "").await
}

/// [`gateway_under_test`] with `extra_yaml` added to the generated configuration.
async fn gateway_under_test_with(
    o: &Opts,
    graph_url: String,
    agents: usize,
    capacity: u32,
    extra_yaml: &str,
) -> Result<UnderTest> {
    if let Some(target) = &o.target {
        check_target(target, o.allow_remote)?;
        return Ok(UnderTest {
            bases: vec![target.trim_end_matches('/').to_string()],
            database_url: o.database_url.clone(),
            pid: o.pid,
            pids: o.pid.into_iter().collect(),
            _deployment: None,
        });
    }
    let binary = gateway::locate_binary(o.gateway_bin.clone())?;
    let plan = DeploymentPlan {
        cluster_nodes: if o.cluster { 2 } else { 0 },
        postgres_url: o.postgres_url.clone(),
        own_postgres: false,
    };
    let deployment = Deployment::start(
        &plan,
        &binary,
        o.base_config.as_deref(),
        &o.gateway_log,
        o.keep,
        &reqwest::Client::new(),
        || {
            let mut config = gateway_config(
                o,
                gateway::free_port()?,
                graph_url.clone(),
                agents,
                capacity,
            );
            config.extra_yaml = extra_yaml.to_owned();
            Ok(config)
        },
    )
    .await?;
    Ok(UnderTest {
        bases: deployment.base_urls(),
        database_url: Some(deployment.database_url.clone()),
        pid: deployment.nodes.first().map(|g| g.process.pid()),
        pids: deployment.nodes.iter().map(|g| g.process.pid()).collect(),
        _deployment: Some(deployment),
    })
}

/// The CPU time the gateway's processes used so far, seconds (None: one of them is not on
/// this machine or is gone).
fn gateway_cpu_seconds(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|pid| gateway::cpu_seconds(*pid)).sum()
}

/// Print a progress line every second until `done`.
fn spawn_progress(
    label: String,
    fire: Arc<FireStats>,
    agents: Option<Arc<AgentStats>>,
    sampler: Option<Arc<Sampler>>,
    tap: Arc<GraphTap>,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        ticks.tick().await;
        let mut last_acked = 0;
        while !done.load(Ordering::Relaxed) {
            ticks.tick().await;
            let acked = fire.acked.get();
            let mut line = format!(
                "[{:>6.1}s] {label}: sent {} acked {} ({}/s) 503s {} errors {}",
                fire.start.elapsed().as_secs_f64(),
                fire.sent.get(),
                acked,
                acked - last_acked,
                fire.unavailable.get(),
                fire.errors.total()
            );
            last_acked = acked;
            if let Some(s) = &sampler {
                let s = s.latest();
                line.push_str(&format!(
                    " | queue {:.0} live {:.0}",
                    s.queue_depth, s.live_conversations
                ));
                if let Some(rss) = s.rss_mib {
                    line.push_str(&format!(" rss {rss:.0} MiB"));
                }
            }
            if let Some(a) = &agents {
                let handoffs = fire.handoffs.lock().map(|h| h.len()).unwrap_or(0);
                line.push_str(&format!(
                    " | handoffs {} assigned {} resolved {} working {}",
                    handoffs,
                    a.assigned.lock().map(|m| m.len()).unwrap_or(0),
                    a.resolved.get(),
                    a.working.load(Ordering::Relaxed)
                ));
            }
            line.push_str(&format!(
                " | graph sends {}",
                tap.sends.load(Ordering::Relaxed)
            ));
            eprintln!("{line}");
        }
    })
}

fn fire_report(target: &str, f: &FireStats) -> FireReport {
    FireReport {
        target: target.to_string(),
        requests: f.sent.get(),
        acknowledged: f.acked.get(),
        status_503: f.unavailable.get(),
        errors: f.errors.snapshot(),
        seconds: f.firing_time().as_secs_f64(),
        acks_per_second: f.acks_per_second(),
        ack_latency: Summary::of(&f.latency.snapshot()),
        per_second: f.per_second.series(),
    }
}

fn deadline(o: &Opts, started: Instant) -> Instant {
    started + Duration::from_secs(o.max_seconds)
}

/// Start `loadtest serve-baseline` (a child process of this binary) on a free port, its log in
/// `logs`, and wait until it answers; the process and its base URL.
pub(crate) async fn start_baseline_server(
    workers: usize,
    secret: &str,
    logs: &std::path::Path,
) -> Result<(ChildProcess, String)> {
    let port = gateway::free_port()?;
    let exe = std::env::current_exe().context("locating this binary")?;
    let mut command = Command::new(exe);
    command.args([
        "serve-baseline",
        "--port",
        &port.to_string(),
        "--workers",
        &workers.to_string(),
        "--app-secret",
        secret,
    ]);
    let log = logs.join(format!("switchboard-load-baseline-{port}.log"));
    let mut server = ChildProcess::spawn("baseline server", command, log)?;
    let base = format!("http://127.0.0.1:{port}");
    server
        .wait_ready(
            &reqwest::Client::new(),
            &format!("{base}/healthz"),
            Duration::from_secs(30),
        )
        .await?;
    Ok((server, base))
}

/// Fire `plan` at the baseline server (a child process of this binary).
async fn run_baseline(
    o: &Opts,
    plan: &CustomerPlan,
    tap: Arc<GraphTap>,
    stop: Arc<AtomicBool>,
    until: Instant,
) -> Result<FireReport> {
    let secret = o
        .app_secret
        .clone()
        .unwrap_or_else(|| DEFAULT_APP_SECRET.into());
    let (server, base) = start_baseline_server(o.workers, &secret, &std::env::temp_dir()).await?;
    eprintln!(
        "baseline: {base} (pid {}): verify + parse, nothing else",
        server.pid()
    );
    let start = Instant::now();
    let stats = Arc::new(FireStats::new(start));
    let done = Arc::new(AtomicBool::new(false));
    let progress = spawn_progress(
        "baseline".into(),
        stats.clone(),
        None,
        None,
        tap,
        done.clone(),
    );
    let result = customers::fire(
        plan.clone(),
        RunIds::new(),
        vec![format!("{base}/webhooks/whatsapp")],
        &secret,
        stats.clone(),
        stop,
        until,
    )
    .await;
    done.store(true, Ordering::Relaxed);
    let _ = progress.await;
    let log = server.log.clone();
    drop(server);
    let _ = std::fs::remove_file(&log);
    result?;
    Ok(fire_report("baseline", &stats))
}

/// burst, steady, ramp, baseline; with `campaign`, a campaign started on the number just
/// before the firing (its sends during the firing are reported).
async fn run_firing(
    scenario: &Scenario,
    o: &Opts,
    campaign: Option<&campaign::CampaignLoad>,
) -> Result<Report> {
    let started = Instant::now();
    let until = deadline(o, started);
    let numbers = if matches!(
        scenario,
        Scenario::Campaign {
            one_number: true,
            ..
        }
    ) {
        // The burst and the campaign on one number.
        vec![gateway::phone_number_id(0)]
    } else {
        numbers(o)
    };
    let shape = shape(scenario, o, numbers)?;
    let only_baseline = matches!(scenario, Scenario::Baseline { .. });
    let graph_addr = o.graph_addr.unwrap_or_else(|| {
        if o.target.is_some() {
            SocketAddr::from(([127, 0, 0, 1], 9090))
        } else {
            SocketAddr::from(([127, 0, 0, 1], 0))
        }
    });
    let (graph, tap) = start_graph(graph_addr)?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted: stopping the firing");
                stop.store(true, Ordering::Relaxed);
            }
        });
    }
    let mut report = Report::begin(
        &shape.name,
        json!({
            "customers": shape.customers.customers,
            "messages": shape.customers.total_messages(),
            "messages_per_customer": shape.customers.messages_per_customer,
            "pace": format!("{:?}", shape.customers.pace),
            "active_customers": shape.customers.active,
            "connections": shape.customers.connections,
            "handoff_fraction": shape.customers.handoff_fraction,
            "sales_fraction": shape.customers.sales_fraction,
            "numbers": shape.customers.numbers.len(),
            "agents": shape.agents,
            "capacity": shape.capacity,
            "think_ms": shape.think.as_millis() as u64,
            "replies": shape.replies,
            "read_receipts": !o.no_read_receipts,
            "workers": o.workers,
        }),
    );
    eprintln!("plan: {}", report.plan);

    if (!o.no_baseline || only_baseline) && !matches!(scenario, Scenario::Campaign { .. }) {
        report.baseline =
            Some(run_baseline(o, &shape.customers, tap.clone(), stop.clone(), until).await?);
    }
    if only_baseline {
        drop(graph);
        return Ok(report);
    }

    let under = gateway_under_test_with(
        o,
        graph.base_url(),
        shape.agents,
        shape.capacity,
        if campaign.is_some() {
            campaign::EXTRA_YAML
        } else {
            ""
        },
    )
    .await?;
    if let Some(load) = campaign {
        let database = under
            .database_url
            .clone()
            .context("the campaign scenario needs the gateway's store")?;
        campaign::prepare(under.base_url(), &database, load).await?;
    }
    let templates_before = tap.templates.load(Ordering::Relaxed);
    let agent_stats = Arc::new(AgentStats::new());
    let (stop_agents, agents_stop_rx) = tokio::sync::watch::channel(false);
    let tokens: Vec<String> = (0..shape.agents)
        .map(|i| gateway::agent_token(&o.agent_token_prefix, i))
        .collect();
    let agent_tasks = agents::start(
        &under.bases,
        AgentPlan {
            tokens,
            go_online: true,
            think: shape.think,
            replies: shape.replies,
            persistent: false,
        },
        agent_stats.clone(),
        agents_stop_rx,
    )
    .await?;
    eprintln!(
        "agents: {} logged in, websockets connected, online",
        shape.agents
    );

    let ids = RunIds::new();
    let start = Instant::now();
    let cpu_at_start = gateway_cpu_seconds(&under.pids);
    let sampler_stop = Arc::new(AtomicBool::new(false));
    let sampler = sampler::spawn(
        format!("{}/metrics", under.base_url()),
        under.pid,
        start,
        sampler_stop.clone(),
    );
    let fire = Arc::new(FireStats::new(start));
    let progress_done = Arc::new(AtomicBool::new(false));
    let progress = spawn_progress(
        "gateway".into(),
        fire.clone(),
        Some(agent_stats.clone()),
        Some(sampler.clone()),
        tap.clone(),
        progress_done.clone(),
    );
    let secret = o
        .app_secret
        .clone()
        .unwrap_or_else(|| DEFAULT_APP_SECRET.into());
    customers::fire(
        shape.customers.clone(),
        ids,
        under.webhook_urls(),
        &secret,
        fire.clone(),
        stop.clone(),
        until,
    )
    .await?;
    let fired = Instant::now();
    if campaign.is_some_and(|c| c.start) {
        let sent = tap.templates.load(Ordering::Relaxed) - templates_before;
        let seconds = fire.firing_time().as_secs_f64();
        eprintln!(
            "campaign: {sent} templates reached the Graph API during the {seconds:.1} s of firing \
             ({:.0}/s)",
            if seconds > 0.0 {
                sent as f64 / seconds
            } else {
                0.0
            }
        );
        report.plan["campaign_templates_during_firing"] = json!(sent);
        report.plan["campaign_templates_per_second"] = json!(if seconds > 0.0 {
            sent as f64 / seconds
        } else {
            0.0
        });
    }
    let campaign_before_drain = tap.templates.load(Ordering::Relaxed);
    eprintln!("firing done; waiting for handoffs to be worked and events processed");

    // Drain: every acknowledged handoff assigned (and its conversation worked), queues empty.
    let drain_until = (fired + Duration::from_secs(o.drain_timeout)).min(until);
    let db = match &under.database_url {
        Some(url) => Some(checks::open(url).await?),
        None => {
            eprintln!("no --database-url: the store checks are skipped");
            None
        }
    };
    let drained = drain(
        &fire,
        &agent_stats,
        Some(&sampler),
        db.as_ref(),
        &ids,
        &stop,
        drain_until,
    )
    .await?;
    report.drain_seconds = drained.then(|| fired.elapsed().as_secs_f64());
    // The gateway's CPU for the firing and the drain: what each acknowledged message cost.
    if let (Some(before), Some(after)) = (cpu_at_start, gateway_cpu_seconds(&under.pids)) {
        let seconds = after - before;
        report.gateway_cpu_seconds = Some(seconds);
        let acked = fire.acked.get();
        if acked > 0 {
            report.cpu_ms_per_message = Some(seconds * 1000.0 / acked as f64);
        }
    }
    if !drained {
        eprintln!(
            "!! not drained within --drain-timeout {} s",
            o.drain_timeout
        );
    }
    // Let the last replies reach the fake Graph API.
    tokio::time::sleep(Duration::from_secs(1)).await;
    if campaign.is_some_and(|c| c.start) {
        // The campaign once live traffic is gone: its own pace for 10 s.
        let during_drain = tap.templates.load(Ordering::Relaxed) - campaign_before_drain;
        let before = tap.templates.load(Ordering::Relaxed);
        let watched = Instant::now();
        tokio::time::sleep(Duration::from_secs(10)).await;
        let rate = (tap.templates.load(Ordering::Relaxed) - before) as f64
            / watched.elapsed().as_secs_f64();
        eprintln!(
            "campaign: {during_drain} templates while the burst drained; then {rate:.0}/s alone"
        );
        report.plan["campaign_templates_during_drain"] = json!(during_drain);
        report.plan["campaign_templates_per_second_alone"] = json!(rate);
    }
    sampler_stop.store(true, Ordering::Relaxed);
    progress_done.store(true, Ordering::Relaxed);
    let _ = progress.await;

    let mut queued = HashSet::new();
    if let Some(db) = &db {
        let checks = checks::check(db, &ids, &fire, Some(&agent_stats), &mut queued).await?;
        report.passed &= checks.violations.is_empty();
        report.checks = Some(checks);
        db.close().await;
    }
    if !drained {
        report.passed = false;
    }
    report.handoff = Some(handoff_report(&fire, &agent_stats, &tap, &queued));
    let _ = stop_agents.send(true);
    for task in agent_tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    let gateway = fire_report("gateway", &fire);
    if let Some(b) = &report.baseline {
        let div = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        report.ratio = Some(Ratio {
            acks_per_second: div(gateway.acks_per_second, b.acks_per_second),
            ack_p50: div(gateway.ack_latency.p50_ms, b.ack_latency.p50_ms),
            ack_p99: div(gateway.ack_latency.p99_ms, b.ack_latency.p99_ms),
        });
    }
    report.gateway = Some(gateway);
    report.samples = sampler.all();
    report.max_queue_depth = sampler.max_queue_depth();
    drop(under);
    drop(graph);
    Ok(report)
}

/// Wait until every acknowledged handoff was assigned and its conversation worked, the queues
/// are empty (per `sampler`, when given) and every recorded event of the run is processed (per
/// the store, when given); false when `until` came first.
async fn drain(
    fire: &FireStats,
    agents: &AgentStats,
    sampler: Option<&Sampler>,
    db: Option<&sqlx::AnyPool>,
    ids: &RunIds,
    stop: &AtomicBool,
    until: Instant,
) -> Result<bool> {
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        let handoffs = fire
            .handoffs
            .lock()
            .map(|h| h.values().filter(|s| s.acked).count())
            .unwrap_or(0);
        let assigned = agents.assigned_customers();
        let working = agents.working.load(Ordering::Relaxed);
        let queue = sampler.map(|s| s.latest().queue_depth).unwrap_or(0.0);
        let unprocessed = match db {
            Some(db) => checks::unprocessed(db, ids).await?,
            None => 0,
        };
        if assigned >= handoffs && working == 0 && queue == 0.0 && unprocessed == 0 {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(false)
}

fn handoff_report(
    fire: &FireStats,
    agents: &AgentStats,
    tap: &GraphTap,
    queued: &HashSet<String>,
) -> HandoffReport {
    let handoffs = fire.handoffs.lock().map(|h| h.clone()).unwrap_or_default();
    let (mut all, mut not_queued, mut was_queued, mut assigned) =
        (histogram(), histogram(), histogram(), histogram());
    if let Ok(first) = agents.first_event.lock() {
        for (conversation, seen) in first.iter() {
            let Some(h) = handoffs.get(&seen.customer) else {
                continue;
            };
            let d = micros(seen.at.saturating_duration_since(h.sent));
            let _ = all.record(d);
            let _ = if queued.contains(conversation) {
                was_queued.record(d)
            } else {
                not_queued.record(d)
            };
        }
    }
    if let Ok(seen) = agents.assigned.lock() {
        for events in seen.values() {
            if let Some(first) = events.first()
                && let Some(h) = handoffs.get(&first.customer)
            {
                let _ = assigned.record(micros(first.at.saturating_duration_since(h.sent)));
            }
        }
    }
    let mut reply = histogram();
    let mut missing = 0;
    let received = tap.replies.lock().map(|r| r.clone()).unwrap_or_default();
    if let Ok(sent) = agents.reply_sent.lock() {
        for (text, at) in sent.iter() {
            match received.get(text) {
                Some(got) => {
                    let _ = reply.record(micros(got.saturating_duration_since(*at)));
                }
                None => missing += 1,
            }
        }
    }
    HandoffReport {
        handoffs_acknowledged: handoffs.values().filter(|h| h.acked).count(),
        to_agent_event: Summary::of(&all),
        to_agent_event_not_queued: Summary::of(&not_queued),
        to_agent_event_queued: Summary::of(&was_queued),
        to_assigned: Summary::of(&assigned),
        offers: agents.offers.get(),
        accepted: agents.accepted.get(),
        replies: agents.replies.get(),
        resolved: agents.resolved.get(),
        reply_to_graph: Summary::of(&reply),
        replies_not_received: missing,
        agent_errors: agents.errors.snapshot(),
    }
}

/// Memory: idle, with agent websockets, then with each count of live conversation actors.
async fn run_memory(actors: &[usize], websockets: usize, o: &Opts) -> Result<Report> {
    if o.cluster {
        bail!("memory measures one embedded gateway: --cluster does not apply");
    }
    let started = Instant::now();
    let until = deadline(o, started);
    let graph_addr = o.graph_addr.unwrap_or_else(|| {
        if o.target.is_some() {
            SocketAddr::from(([127, 0, 0, 1], 9090))
        } else {
            SocketAddr::from(([127, 0, 0, 1], 0))
        }
    });
    let (graph, tap) = start_graph(graph_addr)?;
    let under = gateway_under_test(o, graph.base_url(), websockets, 1).await?;
    let Some(pid) = under.pid else {
        bail!("the memory scenario reads the gateway's memory: pass --pid with --target");
    };
    let Some(database_url) = &under.database_url else {
        bail!("the memory scenario waits on the store: pass --database-url with --target");
    };
    let db = checks::open(database_url).await?;
    let http = reqwest::Client::new();
    let metrics_url = format!("{}/metrics", under.base_url());
    let read = |what: String| {
        let http = http.clone();
        let metrics_url = metrics_url.clone();
        async move {
            // Let the allocator and the gauges settle.
            tokio::time::sleep(Duration::from_secs(3)).await;
            let text = match http.get(&metrics_url).send().await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            let (_, live, sessions) = sampler::parse_metrics(&text);
            let rss = gateway::rss_kib(pid)
                .map(|k| k as f64 / 1024.0)
                .unwrap_or(0.0);
            eprintln!(
                "memory: {what}: RSS {rss:.1} MiB, {live:.0} live actors, {sessions:.0} websockets"
            );
            MemoryPoint {
                what,
                rss_mib: rss,
                live_conversations: live,
                websocket_sessions: sessions,
            }
        }
    };
    let mut mem = MemoryReport::default();
    let idle = read("started, idle".into()).await;
    mem.points.push(idle.clone());

    let agent_stats = Arc::new(AgentStats::new());
    let (stop_agents, rx) = tokio::sync::watch::channel(false);
    let tokens = (0..websockets)
        .map(|i| gateway::agent_token(&o.agent_token_prefix, i))
        .collect();
    let tasks = agents::start(
        &under.bases,
        AgentPlan {
            tokens,
            go_online: false,
            think: Duration::from_secs(1),
            replies: 0,
            persistent: false,
        },
        agent_stats.clone(),
        rx,
    )
    .await?;
    let with_ws = read(format!("{websockets} agent websockets connected")).await;
    mem.per_websocket_kib =
        Some((with_ws.rss_mib - idle.rss_mib) * 1024.0 / websockets.max(1) as f64);
    mem.points.push(with_ws.clone());

    let ids = RunIds::new();
    let start = Instant::now();
    let fire = Arc::new(FireStats::new(start));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let sampler_stop = Arc::new(AtomicBool::new(false));
    let sampler = sampler::spawn(metrics_url.clone(), Some(pid), start, sampler_stop.clone());
    let progress = spawn_progress(
        "memory".into(),
        fire.clone(),
        None,
        Some(sampler.clone()),
        tap.clone(),
        done.clone(),
    );
    let mut sorted = actors.to_vec();
    sorted.sort_unstable();
    let mut first = 0;
    for &count in &sorted {
        if count <= first {
            continue;
        }
        let plan = CustomerPlan {
            first,
            customers: count - first,
            messages_per_customer: 1,
            extra: 0,
            handoff_fraction: 0.0,
            sales_fraction: 0.0,
            pace: Pace::Unlimited,
            active: o.active.unwrap_or(2000),
            connections: o.connections.unwrap_or(64),
            numbers: numbers(o),
            persistent: false,
            redeliver_fraction: 0.0,
        };
        customers::fire(
            plan,
            ids,
            under.webhook_urls(),
            &o.app_secret
                .clone()
                .unwrap_or_else(|| DEFAULT_APP_SECRET.into()),
            fire.clone(),
            stop.clone(),
            until,
        )
        .await?;
        first = count;
        // Every greeting processed and sent before measuring.
        if !checks::wait_processed(&db, &ids, Duration::from_secs(o.drain_timeout)).await? {
            eprintln!("!! events still unprocessed after --drain-timeout");
        }
        let wait_until = Instant::now() + Duration::from_secs(o.drain_timeout);
        while checks::queued_outbound(&db).await? > 0 && Instant::now() < wait_until {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let point = read(format!("{count} customers wrote once")).await;
        mem.per_actor_kib.insert(
            count.to_string(),
            (point.rss_mib - with_ws.rss_mib) * 1024.0 / point.live_conversations.max(1.0),
        );
        mem.points.push(point);
    }
    done.store(true, Ordering::Relaxed);
    sampler_stop.store(true, Ordering::Relaxed);
    let _ = progress.await;
    let mut queued = HashSet::new();
    let checks = checks::check(&db, &ids, &fire, None, &mut queued).await?;
    db.close().await;
    let _ = stop_agents.send(true);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    let live_ok = mem
        .points
        .iter()
        .skip(2)
        .zip(sorted.iter().filter(|c| **c > 0))
        .all(|(p, &c)| p.live_conversations >= c as f64);
    let mut report = Report {
        gateway: Some(fire_report("gateway", &fire)),
        samples: sampler.all(),
        max_queue_depth: sampler.max_queue_depth(),
        passed: checks.violations.is_empty(),
        checks: Some(checks),
        memory: Some(mem),
        ..Report::begin(
            "memory",
            json!({"actors": sorted, "websockets": websockets, "numbers": o.numbers}),
        )
    };
    if !live_ok {
        eprintln!(
            "!! fewer live conversation actors than customers: some stopped or never started"
        );
        report.passed = false;
    }
    drop(under);
    drop(graph);
    Ok(report)
}

fn write_config(out: &std::path::Path, port: u16, o: &Opts) -> Result<()> {
    let graph = o
        .graph_addr
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9090)));
    let mut cfg = gateway_config(
        o,
        port,
        format!("http://{graph}"),
        o.agents.unwrap_or(100),
        o.capacity.unwrap_or(5),
    );
    cfg.data_dir = std::path::absolute(out.join("data")).unwrap_or_else(|_| out.join("data"));
    gateway::write_config_dir(out, o.base_config.as_deref(), &cfg)?;
    println!(
        "wrote {}/base.yaml and loadtest.yaml ({} agents, tokens {}00000…, app secret {:?}, Graph API http://{graph}).\n\
         Start the gateway:   SWITCHBOARD_CONFIG_DIR={} SWITCHBOARD_ENVIRONMENT=loadtest target/release/switchboard\n\
         Then fire at it:     cargo run --release -p switchboard-load -- burst --target http://127.0.0.1:{port} \
         --graph-addr {graph} --agents {} --database-url sqlite://{}/switchboard.db",
        out.display(),
        cfg.agents,
        cfg.token_prefix,
        cfg.app_secret,
        out.display(),
        cfg.agents,
        cfg.data_dir.display()
    );
    Ok(())
}

/// Live latencies without and with the campaign: the median of each over the rounds, their
/// ratio, and each round's own ratio (the rounds alternate which run goes first).
fn print_campaign_comparison(alone: &[Report], with: &[Report]) {
    type Metric = (&'static str, fn(&Report) -> Option<f64>);
    let metrics: [Metric; 7] = [
        ("webhook acks/s", |r| {
            r.gateway.as_ref().map(|g| g.acks_per_second)
        }),
        ("ack latency p50 (ms)", |r| {
            r.gateway.as_ref().map(|g| g.ack_latency.p50_ms)
        }),
        ("ack latency p99 (ms)", |r| {
            r.gateway.as_ref().map(|g| g.ack_latency.p99_ms)
        }),
        ("handoff -> agent's ws p50 (ms)", |r| {
            r.handoff.as_ref().map(|h| h.to_agent_event.p50_ms)
        }),
        ("handoff -> agent's ws p99 (ms)", |r| {
            r.handoff.as_ref().map(|h| h.to_agent_event.p99_ms)
        }),
        ("agent reply -> Graph p50 (ms)", |r| {
            r.handoff.as_ref().map(|h| h.reply_to_graph.p50_ms)
        }),
        ("agent reply -> Graph p99 (ms)", |r| {
            r.handoff.as_ref().map(|h| h.reply_to_graph.p99_ms)
        }),
    ];
    let median = |mut v: Vec<f64>| -> f64 {
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    let ratio = |a: f64, b: f64| if a > 0.0 { b / a } else { 0.0 };
    println!(
        "live traffic with a campaign on the burst's number: medians of {} rounds (fresh \
         gateways, same contacts)",
        alone.len().min(with.len())
    );
    println!(
        "{:<32} {:>11} {:>13} {:>7}  each round",
        "", "burst alone", "with campaign", "ratio"
    );
    for (name, of) in metrics {
        let a: Vec<f64> = alone.iter().filter_map(of).collect();
        let w: Vec<f64> = with.iter().filter_map(of).collect();
        let rounds: Vec<String> = a
            .iter()
            .zip(&w)
            .map(|(a, w)| format!("{:.2}", ratio(*a, *w)))
            .collect();
        let (a, w) = (median(a), median(w));
        println!(
            "{:<32} {:>11.1} {:>13.1} {:>7.2}  {}",
            name,
            a,
            w,
            ratio(a, w),
            rounds.join(" ")
        );
    }
    for (name, key) in [
        (
            "campaign templates/s, firing",
            "campaign_templates_per_second",
        ),
        (
            "campaign templates, draining",
            "campaign_templates_during_drain",
        ),
        (
            "campaign templates/s, alone",
            "campaign_templates_per_second_alone",
        ),
    ] {
        let each: Vec<f64> = with
            .iter()
            .map(|r| r.plan[key].as_f64().unwrap_or(0.0))
            .collect();
        let rounds: Vec<String> = each.iter().map(|v| format!("{v:.0}")).collect();
        println!(
            "{:<32} {:>11} {:>13.0} {:>7}  {}",
            name,
            "-",
            median(each),
            "",
            rounds.join(" ")
        );
    }
}

fn finish(report: &Report, o: &Opts) -> Result<bool> {
    println!("{}", report.table());
    if let Some(path) = &o.json {
        let text = serde_json::to_string_pretty(report).context("serializing the report")?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &o.plot {
        plot::write_svg(report, path)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(report.passed)
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match &cli.scenario {
        Scenario::ServeBaseline {
            port,
            workers,
            app_secret,
        } => return baseline::serve(*port, *workers, app_secret),
        Scenario::Config { out, port } => return write_config(out, *port, &cli.opts),
        _ => {}
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    if let Scenario::Console {
        conversations,
        logins,
        messages,
    } = &cli.scenario
    {
        let plan = console::ConsolePlan {
            conversations: *conversations,
            logins: *logins,
            messages: *messages,
        };
        let result = runtime.block_on(console::run(&plan, &cli.opts));
        runtime.shutdown_timeout(Duration::from_secs(2));
        return result;
    }
    if let Scenario::Peers {
        install,
        cache,
        seconds,
        only,
        workloads,
        bodies,
        storm_customers,
        assigned_customers,
        peer_processes,
    } = &cli.scenario
    {
        let plan = peers::PeersPlan {
            install: *install,
            cache: cache.clone(),
            seconds: *seconds,
            targets: only.clone(),
            workloads: workloads.clone(),
            bodies: *bodies,
            storm_customers: *storm_customers,
            assigned_customers: *assigned_customers,
            peer_processes: *peer_processes,
        };
        let result = runtime.block_on(peers::run(&plan, &cli.opts));
        runtime.shutdown_timeout(Duration::from_secs(2));
        if !result? {
            eprintln!("FAILED: see the lines marked !! above");
            std::process::exit(1);
        }
        return Ok(());
    }
    let report = runtime.block_on(async {
        match &cli.scenario {
            Scenario::Memory { actors, websockets } => {
                run_memory(actors, *websockets, &cli.opts).await
            }
            Scenario::Crash {
                messages,
                customers,
                kills,
                max_down_ms,
                kill_postgres,
                redeliver_fraction,
                resend_after_ms,
                watch_seconds,
            } => {
                let plan = crash::CrashPlan {
                    messages: *messages,
                    customers: *customers,
                    kills: *kills,
                    max_down_ms: *max_down_ms,
                    kill_postgres: *kill_postgres,
                    redeliver_fraction: *redeliver_fraction,
                    resend_after_ms: *resend_after_ms,
                    watch_seconds: *watch_seconds,
                };
                crash::run(&plan, &cli.opts).await
            }
            Scenario::Campaign {
                recipients,
                rate,
                rounds,
                ..
            } => {
                let load = campaign::CampaignLoad {
                    recipients: *recipients,
                    rate: *rate,
                    start: false,
                };
                // Both gateways hold the same contacts; only one runs the campaign. The rounds
                // alternate which goes first (this machine's noise, warm caches).
                let with_campaign = campaign::CampaignLoad {
                    start: true,
                    ..load.clone()
                };
                let (mut alone, mut with) = (Vec::new(), Vec::new());
                for round in 0..(*rounds).max(1) {
                    for campaign_run in [round % 2 == 1, round % 2 == 0] {
                        if campaign_run {
                            eprintln!("== round {}: the burst with the campaign", round + 1);
                            with.push(
                                run_firing(&cli.scenario, &cli.opts, Some(&with_campaign)).await?,
                            );
                        } else {
                            eprintln!("== round {}: the burst alone (the contacts)", round + 1);
                            alone.push(run_firing(&cli.scenario, &cli.opts, Some(&load)).await?);
                        }
                    }
                }
                print_campaign_comparison(&alone, &with);
                let mut last = with.pop().context("no run")?;
                last.passed &= alone.iter().chain(&with).all(|r| r.passed);
                Ok(last)
            }
            scenario => run_firing(scenario, &cli.opts, None).await,
        }
    })?;
    let passed = finish(&report, &cli.opts)?;
    runtime.shutdown_timeout(Duration::from_secs(2));
    if !passed {
        eprintln!("FAILED: see the violations above");
        std::process::exit(1);
    }
    Ok(())
}
