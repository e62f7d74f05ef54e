//! The results of a run: one serializable report (`--json`), printed as a table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::checks::CheckReport;
use crate::sampler::Sample;
use crate::stats::{SecondPoint, Summary};

#[derive(Clone, Debug, Default, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub kernel: String,
    pub memory_gib: f64,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_string())
            .unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string();
        let memory_gib = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kib| kib / 1024.0 / 1024.0)
            .unwrap_or(0.0);
        Machine {
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            cpu,
            kernel,
            memory_gib,
        }
    }
}

/// Webhook firing at one target (the gateway or the baseline).
#[derive(Clone, Debug, Default, Serialize)]
pub struct FireReport {
    pub target: String,
    pub requests: u64,
    pub acknowledged: u64,
    pub status_503: u64,
    pub errors: BTreeMap<String, u64>,
    /// From the first request to the last acknowledgement.
    pub seconds: f64,
    pub acks_per_second: f64,
    pub ack_latency: Summary,
    pub per_second: Vec<SecondPoint>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Ratio {
    /// Gateway acks/s ÷ baseline acks/s (the target: at least 0.6).
    pub acks_per_second: f64,
    /// Gateway ÷ baseline ack latency.
    pub ack_p50: f64,
    pub ack_p99: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct HandoffReport {
    pub handoffs_acknowledged: usize,
    /// Handoff message sent → the agent's first websocket event about it (offered or
    /// assigned), measured by the load test.
    pub to_agent_event: Summary,
    /// … of the conversations an agent with room took at once (never queued).
    pub to_agent_event_not_queued: Summary,
    /// … of the conversations that waited in a queue.
    pub to_agent_event_queued: Summary,
    /// Handoff message sent → `conversation.assigned` (after the accept, for offers).
    pub to_assigned: Summary,
    pub offers: u64,
    pub accepted: u64,
    pub replies: u64,
    pub resolved: u64,
    /// An agent's reply POST → the fake Graph API receiving the send.
    pub reply_to_graph: Summary,
    pub replies_not_received: usize,
    pub agent_errors: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct MemoryPoint {
    pub what: String,
    pub rss_mib: f64,
    pub live_conversations: f64,
    pub websocket_sessions: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct MemoryReport {
    pub points: Vec<MemoryPoint>,
    pub per_websocket_kib: Option<f64>,
    /// KiB per live conversation actor, at each actor count.
    pub per_actor_kib: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub scenario: String,
    pub command: String,
    pub unix_time: u64,
    pub machine: Machine,
    pub plan: serde_json::Value,
    pub baseline: Option<FireReport>,
    pub gateway: Option<FireReport>,
    pub ratio: Option<Ratio>,
    pub handoff: Option<HandoffReport>,
    pub max_queue_depth: f64,
    pub samples: Vec<Sample>,
    pub checks: Option<CheckReport>,
    pub memory: Option<MemoryReport>,
    pub crash: Option<crate::crash::CrashReport>,
    /// Time from the end of the firing until every handoff was worked and every event
    /// processed.
    pub drain_seconds: Option<f64>,
    /// CPU time of the gateway's processes from the start of the firing to the end of the
    /// drain, seconds.
    pub gateway_cpu_seconds: Option<f64>,
    /// That CPU time per acknowledged message, milliseconds.
    pub cpu_ms_per_message: Option<f64>,
    pub passed: bool,
}

fn summary_row(out: &mut String, name: &str, s: &Summary) {
    let _ = writeln!(
        out,
        "  {name:<38} {:>9} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        s.count, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms
    );
}

impl Report {
    /// A report of `scenario` run now on this machine, by this command, with this plan.
    pub fn begin(scenario: &str, plan: serde_json::Value) -> Report {
        Report {
            scenario: scenario.to_string(),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            unix_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            machine: Machine::read(),
            plan,
            passed: true,
            ..Report::default()
        }
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "\n== {} ==  ({} cores, {}, Linux {})",
            self.scenario, m.cores, m.cpu, m.kernel
        );
        let fires: Vec<&FireReport> = self.baseline.iter().chain(self.gateway.iter()).collect();
        if !fires.is_empty() {
            let _ = writeln!(
                out,
                "\n  {:<10} {:>9} {:>9} {:>7} {:>7} {:>8} {:>10} {:>8} {:>8} {:>8} {:>8}",
                "target",
                "requests",
                "acked",
                "503",
                "errors",
                "seconds",
                "acks/s",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "max ms"
            );
            for f in fires {
                let errors: u64 = f.errors.values().sum();
                let l = &f.ack_latency;
                let _ = writeln!(
                    out,
                    "  {:<10} {:>9} {:>9} {:>7} {:>7} {:>8.1} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
                    f.target,
                    f.requests,
                    f.acknowledged,
                    f.status_503,
                    errors,
                    f.seconds,
                    f.acks_per_second,
                    l.p50_ms,
                    l.p90_ms,
                    l.p99_ms,
                    l.max_ms
                );
                if !f.errors.is_empty() {
                    let _ = writeln!(out, "  {:<10} errors: {:?}", "", f.errors);
                }
            }
        }
        if let Some(r) = &self.ratio {
            let _ = writeln!(
                out,
                "\n  gateway / baseline: acks/s {:.2} (target ≥ 0.60), ack p50 {:.2}×, ack p99 {:.2}×",
                r.acks_per_second, r.ack_p50, r.ack_p99
            );
        }
        if let Some(h) = &self.handoff {
            let _ = writeln!(
                out,
                "\n  {:<38} {:>9} {:>9} {:>9} {:>9} {:>9}",
                "handoffs and replies (ms)", "count", "p50", "p90", "p99", "max"
            );
            summary_row(&mut out, "handoff → agent's ws event", &h.to_agent_event);
            summary_row(
                &mut out,
                "  … agent had room (not queued)",
                &h.to_agent_event_not_queued,
            );
            summary_row(&mut out, "  … waited in a queue", &h.to_agent_event_queued);
            summary_row(&mut out, "handoff → conversation.assigned", &h.to_assigned);
            summary_row(&mut out, "agent reply → fake Graph API", &h.reply_to_graph);
            let _ = writeln!(
                out,
                "  handoffs acked {}, offers {}, accepted {}, replies {}, resolved {}, replies never received {}",
                h.handoffs_acknowledged,
                h.offers,
                h.accepted,
                h.replies,
                h.resolved,
                h.replies_not_received
            );
            if !h.agent_errors.is_empty() {
                let _ = writeln!(out, "  agent errors: {:?}", h.agent_errors);
            }
        }
        if !self.samples.is_empty() {
            let _ = writeln!(out, "\n  queue depth: max {:.0}", self.max_queue_depth);
            // A dozen points of the queue depth over time.
            let step = (self.samples.len() / 12).max(1);
            let points: Vec<String> = self
                .samples
                .iter()
                .step_by(step)
                .map(|s| format!("{:.0}s:{:.0}", s.t, s.queue_depth))
                .collect();
            let _ = writeln!(out, "  over time: {}", points.join("  "));
        }
        if let Some(d) = self.drain_seconds {
            let _ = writeln!(out, "  drained {d:.1} s after the last webhook");
        }
        if let (Some(cpu), Some(per)) = (self.gateway_cpu_seconds, self.cpu_ms_per_message) {
            let _ = writeln!(
                out,
                "  gateway CPU from the first webhook to the drain: {cpu:.1} s, {per:.2} ms per \
                 acknowledged message"
            );
        }
        if let Some(mem) = &self.memory {
            let _ = writeln!(
                out,
                "\n  {:<44} {:>10} {:>10} {:>10}",
                "memory", "RSS MiB", "actors", "websockets"
            );
            for p in &mem.points {
                let _ = writeln!(
                    out,
                    "  {:<44} {:>10.1} {:>10.0} {:>10.0}",
                    p.what, p.rss_mib, p.live_conversations, p.websocket_sessions
                );
            }
            if let Some(ws) = mem.per_websocket_kib {
                let _ = writeln!(out, "  per agent websocket: {ws:.1} KiB");
            }
            for (what, kib) in &mem.per_actor_kib {
                let _ = writeln!(out, "  per conversation actor ({what}): {kib:.2} KiB");
            }
        }
        if let Some(k) = &self.crash {
            let _ = writeln!(
                out,
                "\n  crash ({}): {} kills of {} planned",
                k.mode,
                k.kills.len(),
                k.planned_kills
            );
            for kill in &k.kills {
                let _ = writeln!(
                    out,
                    "    {} killed at {:.1} s, {} acknowledged by then, back {} ms later",
                    kill.what, kill.at_s, kill.acknowledged, kill.down_ms
                );
                if let Some(t) = &kill.takeover {
                    let ms = |v: Option<u64>| v.map_or("never".to_string(), |v| format!("{v} ms"));
                    let _ = writeln!(
                        out,
                        "      its {} partitions: first event processed after {}; its {} pending \
                         console events delivered after {}",
                        t.partitions,
                        ms(t.first_event_ms),
                        t.pending_console_events,
                        ms(t.console_events_delivered_ms)
                    );
                }
            }
            if let Some(g) = &k.ghosts {
                let _ = writeln!(
                    out,
                    "  at the end: {} agent slots and {} placed conversations held by nothing",
                    g.slots_held_by_nothing, g.placed_not_open
                );
            }
            let _ = writeln!(
                out,
                "  {} acknowledged webhooks redelivered; {} sends, {} of them a message sent twice; \
                 {} customers without exactly one greeting, {} with a wrong number of order answers",
                k.redelivered, k.sends, k.sent_twice, k.greeting_not_once, k.order_answers_wrong
            );
        }
        if let Some(c) = &self.checks {
            let _ = writeln!(
                out,
                "\n  checks: {} acknowledged, {} recorded ({} recorded without a 200), {} handed-off conversations ({} queued), {} assigned exactly once, {} announced exactly once",
                c.acknowledged,
                c.recorded,
                c.recorded_not_acknowledged,
                c.handed_off_conversations,
                c.queued_conversations,
                c.assigned_exactly_once,
                c.announced_exactly_once
            );
            if c.violations.is_empty() {
                let _ = writeln!(
                    out,
                    "  checks PASSED: every acknowledged message reached the store exactly once; every handed-off conversation was assigned exactly once"
                );
            } else {
                let _ = writeln!(out, "\n  !!!!!!!! CHECKS FAILED !!!!!!!!");
                for v in &c.violations {
                    let _ = writeln!(out, "  !! {v}");
                }
            }
        }
        out
    }
}
