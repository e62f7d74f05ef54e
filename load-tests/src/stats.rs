//! Latency histograms (hdrhistogram, microseconds), per-second series and error counts,
//! shared between the tasks of a run.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency recorded: an hour, in microseconds (larger values are clamped).
const MAX_MICROS: u64 = 3_600_000_000;

pub fn histogram() -> Histogram<u64> {
    // 3 significant digits over 1 µs ..= 1 h.
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("constant histogram bounds are valid")
}

pub fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, MAX_MICROS)
}

/// Percentiles of a histogram, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Summary {
    pub fn of(h: &Histogram<u64>) -> Summary {
        if h.is_empty() {
            return Summary::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Summary {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}

/// A histogram behind a mutex (recording is a few nanoseconds; contention is negligible at
/// the rates a 2-core machine reaches).
pub struct SharedHistogram(Mutex<Histogram<u64>>);

impl Default for SharedHistogram {
    fn default() -> Self {
        Self(Mutex::new(histogram()))
    }
}

impl SharedHistogram {
    pub fn record(&self, d: Duration) {
        if let Ok(mut h) = self.0.lock() {
            let _ = h.record(micros(d));
        }
    }
    pub fn snapshot(&self) -> Histogram<u64> {
        self.0
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|_| histogram())
    }
}

/// Counts by error kind (`http_500`, `timeout`, `connect`, `503` ...).
#[derive(Default)]
pub struct Errors(Mutex<BTreeMap<String, u64>>);

impl Errors {
    pub fn add(&self, kind: impl Into<String>) {
        if let Ok(mut m) = self.0.lock() {
            *m.entry(kind.into()).or_default() += 1;
        }
    }
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
    pub fn total(&self) -> u64 {
        self.0.lock().map(|m| m.values().sum()).unwrap_or(0)
    }
}

/// One histogram per second of the run (for the plot and the per-second table).
pub struct PerSecond {
    start: Instant,
    seconds: Mutex<Vec<Histogram<u64>>>,
}

impl PerSecond {
    pub fn new(start: Instant) -> Self {
        Self {
            start,
            seconds: Mutex::new(Vec::new()),
        }
    }
    pub fn record(&self, at: Instant, d: Duration) {
        let second = at.saturating_duration_since(self.start).as_secs() as usize;
        if let Ok(mut v) = self.seconds.lock() {
            while v.len() <= second {
                v.push(histogram());
            }
            let _ = v[second].record(micros(d));
        }
    }
    /// (second, count, p50 ms, p99 ms) for every second so far.
    pub fn series(&self) -> Vec<SecondPoint> {
        self.seconds
            .lock()
            .map(|v| {
                v.iter()
                    .enumerate()
                    .map(|(i, h)| {
                        let s = Summary::of(h);
                        SecondPoint {
                            second: i as u64,
                            count: h.len(),
                            p50_ms: s.p50_ms,
                            p99_ms: s.p99_ms,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct SecondPoint {
    pub second: u64,
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// A monotonic counter.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
