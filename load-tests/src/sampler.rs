//! Samples the gateway while the load runs: `GET /metrics` every 250 ms for the queue depth
//! (`switchboard_queue_depth{team=…}`, which the gateway republishes every second and on
//! presence changes), live conversation actors and websocket sessions, plus the resident
//! memory of the gateway process when the load test started it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

pub const INTERVAL: Duration = Duration::from_millis(250);

#[derive(Clone, Debug, Default, Serialize)]
pub struct Sample {
    /// Seconds since the start of the run.
    pub t: f64,
    /// Conversations waiting in all team queues.
    pub queue_depth: f64,
    pub queue_by_team: BTreeMap<String, f64>,
    pub live_conversations: f64,
    pub websocket_sessions: f64,
    pub rss_mib: Option<f64>,
}

/// The values of the gauges we read from a Prometheus text exposition.
pub fn parse_metrics(text: &str) -> (BTreeMap<String, f64>, f64, f64) {
    let mut queues = BTreeMap::new();
    let mut live = 0.0;
    let mut sessions = 0.0;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        if let Some(labels) = name.strip_prefix("switchboard_queue_depth{") {
            let team = labels
                .split(',')
                .find_map(|l| l.strip_prefix("team=\""))
                .and_then(|l| l.split('"').next())
                .unwrap_or("?");
            queues.insert(team.to_string(), value);
        } else if name == "switchboard_live_conversations" {
            live = value;
        } else if name == "switchboard_websocket_sessions" {
            sessions = value;
        }
    }
    (queues, live, sessions)
}

pub struct Sampler {
    pub samples: Mutex<Vec<Sample>>,
}

impl Sampler {
    pub fn latest(&self) -> Sample {
        self.samples
            .lock()
            .ok()
            .and_then(|s| s.last().cloned())
            .unwrap_or_default()
    }
    pub fn all(&self) -> Vec<Sample> {
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }
    pub fn max_queue_depth(&self) -> f64 {
        self.samples
            .lock()
            .map(|s| s.iter().map(|x| x.queue_depth).fold(0.0, f64::max))
            .unwrap_or(0.0)
    }
}

/// Sample `metrics_url` (and `pid`'s memory) until `stop` is set.
pub fn spawn(
    metrics_url: String,
    pid: Option<u32>,
    start: Instant,
    stop: Arc<AtomicBool>,
) -> Arc<Sampler> {
    let sampler = Arc::new(Sampler {
        samples: Mutex::new(Vec::new()),
    });
    let out = sampler.clone();
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut ticks = tokio::time::interval(INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while !stop.load(Ordering::Relaxed) {
            ticks.tick().await;
            let text = match http.get(&metrics_url).send().await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(_) => continue,
            };
            let (queue_by_team, live, sessions) = parse_metrics(&text);
            let sample = Sample {
                t: start.elapsed().as_secs_f64(),
                queue_depth: queue_by_team.values().sum(),
                queue_by_team,
                live_conversations: live,
                websocket_sessions: sessions,
                rss_mib: pid
                    .and_then(crate::gateway::rss_kib)
                    .map(|k| k as f64 / 1024.0),
            };
            if let Ok(mut samples) = out.samples.lock() {
                samples.push(sample);
            }
        }
    });
    sampler
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_gauges() {
        let text = "# HELP switchboard_queue_depth x\n# TYPE switchboard_queue_depth gauge\n\
            switchboard_queue_depth{team=\"support\"} 12\nswitchboard_queue_depth{team=\"sales\"} 3\n\
            switchboard_live_conversations 1500\nswitchboard_websocket_sessions 7\n\
            switchboard_queue_oldest_wait_seconds{team=\"support\"} 2.5\n";
        let (queues, live, sessions) = parse_metrics(text);
        assert_eq!(queues.get("support"), Some(&12.0));
        assert_eq!(queues.get("sales"), Some(&3.0));
        assert_eq!(queues.len(), 2);
        assert_eq!((live, sessions), (1500.0, 7.0));
    }
}
