//! `loadtest crash`: the proof that nothing acknowledged is lost, as a run anyone can repeat.
//!
//! Customers fire signed webhooks while the gateway is killed with SIGKILL at random moments
//! and started again on the same store (`--cluster`: two nodes on a private Redis and a fresh
//! PostgreSQL database; a random node is killed each time, the other takes over its partitions,
//! and the killed one rejoins). Like Meta, the customers redeliver every webhook that was not
//! answered 200 (to the next node), and redeliver some that were (Meta delivers at least once);
//! agents work the handoffs throughout, their consoles reconnecting after their last sequence;
//! a Meta-like status feed confirms every send. At the end it checks, from the store and from
//! what the fake Graph API received:
//!
//! - every acknowledged message is recorded exactly once, processed, and once in its
//!   transcript (and so is every message redelivered after a failed delivery);
//! - every handed-off conversation was assigned exactly once and announced once;
//! - every conversation resumed: each customer got the greeting once and one answer to each
//!   order number they sent (the bot's question state survived the kill);
//! - no message reached a customer twice (each send carries our message id as
//!   `biz_opaque_callback_data`; a resend of a message cut short by the kill would repeat it).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::json;
use switchboard::fakes::statuses::StatusFeed;

use crate::agents::{AgentPlan, AgentStats};
use crate::customers::{CustomerPlan, FireStats, RunIds, script};
use crate::gateway::{self, Deployment, DeploymentPlan};
use crate::report::Report;
use crate::takeover::{Ghosts, Probe, Takeover};
use crate::{DEFAULT_APP_SECRET, Opts, Scenario};

/// How a crash run goes.
#[derive(Clone, Debug)]
pub struct CrashPlan {
    pub messages: usize,
    pub customers: usize,
    pub kills: usize,
    /// Longest pause between a kill and the restart, ms (each pause is random up to it).
    pub max_down_ms: u64,
    /// Cluster: kill PostgreSQL (an immediate shutdown, a private server started for the
    /// run) instead of a node; webhooks are answered 503 while it is down.
    pub kill_postgres: bool,
    /// Share of acknowledged webhooks delivered twice.
    pub redeliver_fraction: f64,
    /// `outbound.resend_unconfirmed_after_ms` of the gateways: a send cut short by a kill is
    /// resent after this unless Meta's status showed it arrived.
    pub resend_after_ms: u64,
    /// After the drain, how long to keep watching for late duplicate sends, s (default: the
    /// resend delay and 5 s).
    pub watch_seconds: Option<u64>,
}

/// One kill.
#[derive(Clone, Debug, Serialize)]
pub struct Kill {
    /// Seconds since the start of the firing.
    pub at_s: f64,
    /// Webhooks acknowledged by then.
    pub acknowledged: u64,
    /// "node 0", "node 1" or "postgres".
    pub what: String,
    /// From the kill until it was back (a node answering `/readyz`, PostgreSQL accepting
    /// connections).
    pub down_ms: u64,
    /// A killed node's partitions served again (cluster).
    pub takeover: Option<Takeover>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CrashReport {
    pub mode: String,
    pub planned_kills: usize,
    pub kills: Vec<Kill>,
    /// Acknowledged webhooks delivered a second time.
    pub redelivered: u64,
    /// Sends the fake Graph API accepted (not read receipts).
    pub sends: u64,
    /// Messages (our ids) the fake Graph API accepted more than once.
    pub sent_twice: usize,
    /// Customers whose greeting did not arrive exactly once.
    pub greeting_not_once: usize,
    /// Customers who did not get exactly one answer per order number they sent.
    pub order_answers_wrong: usize,
    /// Cluster: assignment decisions holding a slot or a queue place for nothing, at the end.
    pub ghosts: Option<Ghosts>,
    pub violations: Vec<String>,
}

/// What reached customers, from the fake Graph API.
#[derive(Default)]
struct Deliveries {
    /// When each message (by `biz_opaque_callback_data`, our message id) was accepted.
    by_message: Mutex<HashMap<String, Vec<Instant>>>,
    /// Per customer: greetings and order answers received.
    greetings: Mutex<HashMap<String, u32>>,
    order_answers: Mutex<HashMap<String, u32>>,
}

fn count(map: &Mutex<HashMap<String, u32>>, key: &str) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key.to_string()).or_default() += 1;
    }
}

/// Longest a node may take to come back before the run fails.
const RESTART_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn run(plan: &CrashPlan, o: &Opts) -> Result<Report> {
    if o.target.is_some() {
        bail!("crash starts (and kills) its own gateways: --target does not apply");
    }
    if plan.customers == 0 || plan.messages < plan.customers {
        bail!("--messages must be at least --customers (> 0)");
    }
    let started = Instant::now();
    let until = crate::deadline(o, started);
    let burst = Scenario::Burst {
        messages: plan.messages,
        customers: plan.customers,
    };
    let mut shape = crate::shape(&burst, o, crate::numbers(o))?;
    shape.name = "crash".into();
    shape.customers.persistent = true;
    shape.customers.redeliver_fraction = plan.redeliver_fraction;
    shape.customers.handoff_fraction = o.handoff_fraction.unwrap_or(0.2);
    shape.customers.active = o.active.unwrap_or(500).min(plan.customers).max(1);
    shape.agents = o.agents.unwrap_or(20);
    shape.think = Duration::from_millis(o.think_ms.unwrap_or(100));

    let (graph, tap) = crate::start_graph(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let deliveries = Arc::new(Deliveries::default());
    {
        let d = deliveries.clone();
        graph.observe(move |r| {
            if !r.accepted() || r.is_read_receipt() {
                return;
            }
            if let Some(id) = r.body["biz_opaque_callback_data"].as_str()
                && let Ok(mut m) = d.by_message.lock()
            {
                m.entry(id.to_string()).or_default().push(r.received);
            }
            let text = r
                .body
                .pointer("/text/body")
                .or_else(|| r.body.pointer("/interactive/body/text"))
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            let to = r.to().unwrap_or_default();
            if text.contains("Welcome to Acme") {
                count(&d.greetings, to);
            }
            if text.contains("Order A1234 ") {
                count(&d.order_answers, to);
            }
        });
    }

    // The gateways: one embedded node, or two cluster nodes on Redis + PostgreSQL.
    if plan.kill_postgres && !o.cluster {
        bail!("--kill-postgres is for --cluster (the embedded store is SQLite)");
    }
    let binary = gateway::locate_binary(o.gateway_bin.clone())?;
    let http = reqwest::Client::new();
    let deployment_plan = DeploymentPlan {
        cluster_nodes: if o.cluster { 2 } else { 0 },
        postgres_url: o.postgres_url.clone(),
        own_postgres: plan.kill_postgres,
    };
    let mut deployment = Deployment::start(
        &deployment_plan,
        &binary,
        o.base_config.as_deref(),
        &o.gateway_log,
        o.keep,
        &http,
        || {
            let mut cfg = crate::gateway_config(
                o,
                gateway::free_port()?,
                graph.base_url(),
                shape.agents,
                shape.capacity,
            );
            // A send cut short by a kill is resent after this unless Meta's status shows it
            // arrived; the run watches that long after draining, so a wrong resend is seen.
            cfg.env.push((
                "SWITCHBOARD__OUTBOUND__RESEND_UNCONFIRMED_AFTER_MS".into(),
                plan.resend_after_ms.to_string(),
            ));
            Ok(cfg)
        },
    )
    .await?;
    let bases = deployment.base_urls();
    let database_url = deployment.database_url.clone();
    let redis_url = deployment.redis_url();
    let feed = StatusFeed::start(&graph, bases.clone(), &app_secret(o));

    let agent_stats = Arc::new(AgentStats::new());
    let (stop_agents, agents_rx) = tokio::sync::watch::channel(false);
    let agent_tasks = crate::agents::start(
        &bases,
        AgentPlan {
            tokens: (0..shape.agents)
                .map(|i| gateway::agent_token(&o.agent_token_prefix, i))
                .collect(),
            go_online: true,
            think: shape.think,
            replies: shape.replies,
            persistent: true,
        },
        agent_stats.clone(),
        agents_rx,
    )
    .await?;
    eprintln!("agents: {} logged in and online", shape.agents);

    let ids = RunIds::new();
    let start = Instant::now();
    let fire = Arc::new(FireStats::new(start));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler_stop = Arc::new(AtomicBool::new(false));
    let sampler = crate::sampler::spawn(
        format!("{}/metrics", bases[0]),
        None,
        start,
        sampler_stop.clone(),
    );
    let progress_done = Arc::new(AtomicBool::new(false));
    let progress = crate::spawn_progress(
        "crash".into(),
        fire.clone(),
        Some(agent_stats.clone()),
        Some(sampler.clone()),
        tap.clone(),
        progress_done.clone(),
    );
    let webhook_urls: Vec<String> = bases
        .iter()
        .map(|b| format!("{b}/webhooks/whatsapp"))
        .collect();
    let secret = app_secret(o);
    let firing = crate::customers::fire(
        shape.customers.clone(),
        ids,
        webhook_urls,
        &secret,
        fire.clone(),
        stop.clone(),
        until,
    );

    // The kills: kill k comes once a random share around (k + 1) / (kills + 1) of all
    // webhooks was acknowledged; the node stays down for a random pause, then starts again.
    let total = shape.customers.total_messages() as u64;
    let mut marks: Vec<u64> = (0..plan.kills as u64)
        .map(|k| {
            let slot = total / (plan.kills as u64 + 1);
            let jitter = rand::random::<u64>() % (slot / 2).max(1);
            slot * (k + 1) - slot / 4 + jitter
        })
        .collect();
    marks.sort_unstable();
    let firing_done = AtomicBool::new(false);
    let firing = async {
        let out = firing.await;
        firing_done.store(true, Ordering::Relaxed);
        out
    };
    let killer = async {
        let mut kills = Vec::new();
        let mut measuring = Vec::new();
        for mark in marks {
            while fire.acked.get() < mark && !firing_done.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            if firing_done.load(Ordering::Relaxed) {
                break;
            }
            let at = start.elapsed();
            let acknowledged = fire.acked.get();
            let killed = Instant::now();
            let pause = Duration::from_millis(rand::random::<u64>() % plan.max_down_ms.max(1));
            let what = if let Some(pg) = deployment.postgres.as_mut() {
                tokio::task::block_in_place(|| pg.kill());
                eprintln!(
                    "!! PostgreSQL killed (immediate shutdown) at {acknowledged} acknowledged; \
                     restarting in {} ms",
                    pause.as_millis()
                );
                tokio::time::sleep(pause).await;
                tokio::task::block_in_place(|| pg.start()).context("restarting PostgreSQL")?;
                "postgres".to_string()
            } else {
                let nodes = &mut deployment.nodes;
                let n = rand::random::<u64>() as usize % nodes.len();
                // Which partitions it holds, to measure their takeover from the kill on.
                let mut probe = match &redis_url {
                    Some(url) => match Probe::connect(url, &database_url).await {
                        Ok(mut probe) => match probe.partitions_of(&format!("node-{n}")).await {
                            Ok(held) => Some((probe, held)),
                            Err(e) => {
                                eprintln!("note: takeover not measured: {e:#}");
                                None
                            }
                        },
                        Err(e) => {
                            eprintln!("note: takeover not measured: {e:#}");
                            None
                        }
                    },
                    None => None,
                };
                nodes[n].kill();
                let killed_ms = now_ms();
                if let Some((probe, (held, count))) = probe.take() {
                    measuring.push((
                        kills.len(),
                        tokio::spawn(probe.takeover(held, count, killed, killed_ms)),
                    ));
                }
                eprintln!(
                    "!! node {n} killed (SIGKILL) at {acknowledged} acknowledged; restarting in {} ms",
                    pause.as_millis()
                );
                tokio::time::sleep(pause).await;
                tokio::time::timeout(RESTART_TIMEOUT, nodes[n].restart(&http))
                    .await
                    .with_context(|| {
                        format!("node {n} did not come back within {RESTART_TIMEOUT:?}")
                    })?
                    .with_context(|| format!("restarting node {n}"))?;
                format!("node {n}")
            };
            let down_ms = killed.elapsed().as_millis() as u64;
            eprintln!("   {what} is back after {down_ms} ms");
            kills.push(Kill {
                at_s: at.as_secs_f64(),
                acknowledged,
                what,
                down_ms,
                takeover: None,
            });
        }
        anyhow::Ok((kills, measuring))
    };
    let (fired, kills) = tokio::join!(firing, killer);
    fired?;
    let (mut kills, measuring) = kills?;
    for (k, measurement) in measuring {
        if let (Some(kill), Ok(takeover)) = (kills.get_mut(k), measurement.await) {
            eprintln!(
                "   takeover of {}: {} partitions; first event processed after {:?} ms; {} \
                 pending console events delivered after {:?} ms",
                kill.what,
                takeover.partitions,
                takeover.first_event_ms,
                takeover.pending_console_events,
                takeover.console_events_delivered_ms
            );
            kill.takeover = Some(takeover);
        }
    }
    let fired_at = Instant::now();
    eprintln!("firing done; waiting for handoffs to be worked and events processed");

    // Drain: every handoff assigned and worked, every recorded event processed.
    let db = crate::checks::open(&database_url).await?;
    let drain_until = (fired_at + Duration::from_secs(o.drain_timeout)).min(until);
    let drained = crate::drain(
        &fire,
        &agent_stats,
        None,
        Some(&db),
        &ids,
        &stop,
        drain_until,
    )
    .await?;
    let drain_seconds = drained.then(|| fired_at.elapsed().as_secs_f64());
    if !drained {
        eprintln!(
            "!! not drained within --drain-timeout {} s",
            o.drain_timeout
        );
    }
    // A send cut short by a kill is resent after the resend delay (unless its status
    // arrived): watch a while longer, so a wrong resend would be seen.
    let watch = plan
        .watch_seconds
        .unwrap_or(plan.resend_after_ms.div_ceil(1000) + 5);
    eprintln!("drained; watching {watch} s more for late sends");
    tokio::time::sleep(Duration::from_secs(watch)).await;
    sampler_stop.store(true, Ordering::Relaxed);
    progress_done.store(true, Ordering::Relaxed);
    let _ = progress.await;

    // Cluster: nothing holds a slot for nothing (checked until it holds, a few seconds: a step
    // may be committing right now).
    let ghosts = match &redis_url {
        Some(url) => Some(settled_ghosts(url, &database_url).await?),
        None => None,
    };
    let mut queued = std::collections::HashSet::new();
    let mut checks =
        crate::checks::check(&db, &ids, &fire, Some(&agent_stats), &mut queued).await?;
    db.close().await;
    let crash = crash_checks(
        plan,
        o.cluster,
        &shape.customers,
        &ids,
        &fire,
        &deliveries,
        kills,
        &tap,
    );
    let mut crash = crash;
    if let Some(g) = &ghosts {
        eprintln!(
            "slots held by nothing: {}; placed conversations not open in the store: {}",
            g.slots_held_by_nothing, g.placed_not_open
        );
        if g.slots_held_by_nothing > 0 || g.placed_not_open > 0 {
            crash.violations.push(format!(
                "{} agent slots and {} placed conversations held by nothing at the end, e.g. {:?}",
                g.slots_held_by_nothing, g.placed_not_open, g.examples
            ));
        }
    }
    crash.ghosts = ghosts;
    checks.violations.extend(crash.violations.iter().cloned());
    if !drained {
        checks
            .violations
            .push("the run did not drain within --drain-timeout".into());
    }

    let _ = stop_agents.send(true);
    for task in agent_tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    drop(feed);
    let mut report = Report::begin(
        "crash",
        json!({
            "mode": if o.cluster { "cluster (2 nodes, Redis, PostgreSQL)" } else { "embedded (SQLite)" },
            "customers": shape.customers.customers,
            "messages": shape.customers.total_messages(),
            "kills": plan.kills,
            "kill": if plan.kill_postgres { "postgres" } else { "node" },
            "max_down_ms": plan.max_down_ms,
            "resend_unconfirmed_after_ms": plan.resend_after_ms,
            "redeliver_fraction": plan.redeliver_fraction,
            "handoff_fraction": shape.customers.handoff_fraction,
            "agents": shape.agents,
            "capacity": shape.capacity,
        }),
    );
    report.passed = checks.violations.is_empty();
    report.drain_seconds = drain_seconds;
    report.max_queue_depth = sampler.max_queue_depth();
    report.samples = sampler.all();
    report.handoff = Some(crate::handoff_report(&fire, &agent_stats, &tap, &queued));
    report.gateway = Some(crate::fire_report("gateway", &fire));
    report.checks = Some(checks);
    report.crash = Some(crash);
    drop(deployment);
    drop(graph);
    Ok(report)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The assignment state against the store, until they agree or 10 s passed.
async fn settled_ghosts(redis_url: &str, database_url: &str) -> Result<Ghosts> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let ghosts = Probe::connect(redis_url, database_url)
            .await?
            .ghosts()
            .await?;
        if (ghosts.slots_held_by_nothing == 0 && ghosts.placed_not_open == 0)
            || Instant::now() >= until
        {
            return Ok(ghosts);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn app_secret(o: &Opts) -> String {
    o.app_secret
        .clone()
        .unwrap_or_else(|| DEFAULT_APP_SECRET.into())
}

/// What reached the customers: nothing twice, every conversation resumed.
#[allow(clippy::too_many_arguments)]
fn crash_checks(
    plan: &CrashPlan,
    cluster: bool,
    customers: &CustomerPlan,
    ids: &RunIds,
    fire: &FireStats,
    deliveries: &Deliveries,
    kills: Vec<Kill>,
    tap: &crate::GraphTap,
) -> CrashReport {
    let mut r = CrashReport {
        mode: if cluster { "cluster" } else { "embedded" }.into(),
        redelivered: fire.redelivered.get(),
        sends: tap.sends.load(Ordering::Relaxed),
        ..CrashReport::default()
    };
    if kills.len() < plan.kills {
        // Not a broken invariant: the run proved less than asked. Said, not failed.
        eprintln!(
            "note: only {} of {} kills happened before the firing ended (more --messages, or \
             fewer --kills, for more)",
            kills.len(),
            plan.kills
        );
    }
    r.planned_kills = plan.kills;
    r.kills = kills;
    let by_message = deliveries
        .by_message
        .lock()
        .map(|m| m.clone())
        .unwrap_or_default();
    // (our id, times, ms from the first send to the second)
    let twice: Vec<(&String, usize, u128)> = by_message
        .iter()
        .filter(|(_, at)| at.len() > 1)
        .map(|(id, at)| (id, at.len(), (at[1] - at[0]).as_millis()))
        .collect();
    r.sent_twice = twice.len();
    if !twice.is_empty() {
        let gaps: Vec<u128> = twice.iter().map(|t| t.2).collect();
        r.violations.push(format!(
            "{} messages reached a customer more than once, the second time {}–{} ms after \
             the first (our id, times, ms), e.g. {:?}",
            twice.len(),
            gaps.iter().min().unwrap_or(&0),
            gaps.iter().max().unwrap_or(&0),
            twice.iter().take(5).collect::<Vec<_>>()
        ));
    }
    // Each customer's script is known: the greeting once; one answer per order number sent.
    let greetings = deliveries
        .greetings
        .lock()
        .map(|m| m.clone())
        .unwrap_or_default();
    let answers = deliveries
        .order_answers
        .lock()
        .map(|m| m.clone())
        .unwrap_or_default();
    let acked: std::collections::HashSet<(u32, u16)> = fire
        .acked_ids
        .lock()
        .map(|a| a.iter().copied().collect())
        .unwrap_or_default();
    let (mut greeting_wrong, mut answers_wrong) = (Vec::new(), Vec::new());
    for i in customers.first..customers.first + customers.customers {
        let texts = script(customers.messages_of(i), customers.handoff_of(i));
        if !(0..texts.len()).all(|k| acked.contains(&(i as u32, k as u16))) {
            // Not every message was acknowledged (the run was stopped): nothing to expect.
            continue;
        }
        let wa_id = ids.wa_id(i);
        let got = greetings.get(&wa_id).copied().unwrap_or(0);
        if got != 1 {
            greeting_wrong.push((wa_id.clone(), got));
        }
        let orders = texts.iter().filter(|t| **t == "A1234").count() as u32;
        let got = answers.get(&wa_id).copied().unwrap_or(0);
        if got != orders {
            answers_wrong.push((wa_id, orders, got));
        }
    }
    r.greeting_not_once = greeting_wrong.len();
    r.order_answers_wrong = answers_wrong.len();
    if !greeting_wrong.is_empty() {
        r.violations.push(format!(
            "{} customers did not get the greeting exactly once (customer, times), e.g. {:?}",
            greeting_wrong.len(),
            greeting_wrong.iter().take(5).collect::<Vec<_>>()
        ));
    }
    if !answers_wrong.is_empty() {
        r.violations.push(format!(
            "{} customers did not get one answer per order number (customer, sent, answers), \
             e.g. {:?}",
            answers_wrong.len(),
            answers_wrong.iter().take(5).collect::<Vec<_>>()
        ));
    }
    r
}
