//! A mergeable percentile sketch of durations (DDSketch, Masson et al., VLDB 2019).
//!
//! A duration of `v` milliseconds (> 0) falls in the bin `⌈log_γ v⌉` of DDSketch's logarithmic
//! index mapping (the `sketches-ddsketch` crate's [`Config`], α = 1%, γ = (1 + α)/(1 − α)); a
//! duration of 0 is counted apart. A bin is only a count, so two sketches merge by adding their
//! counts: exactly, in any order and any grouping — which is what lets a report over any range and
//! any grouping be a merge of the hourly rollups (the stores keep one row per bin and merge
//! with `SUM`). A quantile is read back as the representative value of the bin holding its rank,
//! within [`RELATIVE_ERROR`] of the true value of that rank.

use std::collections::BTreeMap;

use sketches_ddsketch::Config;

/// The relative error of a percentile read from a sketch: 1%.
pub const RELATIVE_ERROR: f64 = 0.01;

/// The most bins one sketch keeps; durations from 1 ms to years need about 1,600.
const MAX_BINS: u32 = 4096;

/// The bin key kept for durations of 0 ms (no logarithm).
pub const ZERO_BIN: i32 = i32::MIN;

fn config() -> Config {
    // Values are whole milliseconds, so anything under 1 is 0 and counted apart.
    Config::new(RELATIVE_ERROR, MAX_BINS, 0.5)
}

/// The bin of a duration in milliseconds (negative durations, a clock step backwards, count
/// as 0).
pub fn bin_of(ms: i64) -> i32 {
    if ms <= 0 {
        ZERO_BIN
    } else {
        config().key(ms as f64)
    }
}

/// Counts per bin, and the exact count and sum (for the mean).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sketch {
    bins: BTreeMap<i32, u64>,
    count: u64,
    sum_ms: i64,
}

impl Sketch {
    pub fn add(&mut self, ms: i64) {
        *self.bins.entry(bin_of(ms)).or_default() += 1;
        self.count += 1;
        self.sum_ms = self.sum_ms.saturating_add(ms.max(0));
    }

    /// Add `n` durations already binned (a stored rollup row).
    pub fn add_bin(&mut self, bin: i32, n: u64) {
        if n > 0 {
            *self.bins.entry(bin).or_default() += n;
        }
    }

    /// Add the exact count and sum of a stored rollup (kept beside the bins).
    pub fn add_totals(&mut self, count: u64, sum_ms: i64) {
        self.count += count;
        self.sum_ms = self.sum_ms.saturating_add(sum_ms);
    }

    pub fn merge(&mut self, other: &Sketch) {
        for (bin, n) in &other.bins {
            *self.bins.entry(*bin).or_default() += n;
        }
        self.add_totals(other.count, other.sum_ms);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn sum_ms(&self) -> i64 {
        self.sum_ms
    }

    /// The exact mean in milliseconds (None when empty).
    pub fn mean_ms(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum_ms as f64 / self.count as f64)
    }

    /// The `q`-quantile (0 ≤ q ≤ 1) in milliseconds: the value of rank ⌊q·(n − 1)⌋ (0-based,
    /// ascending), within [`RELATIVE_ERROR`]. None when empty or `q` is outside [0, 1].
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let binned: u64 = self.bins.values().sum();
        if binned == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = (q * (binned - 1) as f64).floor() as u64;
        let mut seen = 0u64;
        let config = config();
        for (bin, n) in &self.bins {
            seen += n;
            if seen > rank {
                return Some(if *bin == ZERO_BIN {
                    0.0
                } else {
                    config.value(*bin)
                });
            }
        }
        None
    }

    /// The bins, ascending (for storage: one row per bin).
    pub fn bins(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        self.bins.iter().map(|(b, n)| (*b, *n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(sorted: &[i64], q: f64) -> f64 {
        sorted[(q * (sorted.len() - 1) as f64).floor() as usize] as f64
    }

    fn close(got: f64, want: f64) -> bool {
        if want == 0.0 {
            got == 0.0
        } else {
            ((got - want) / want).abs() <= RELATIVE_ERROR
        }
    }

    #[test]
    fn empty_has_no_quantile_nor_mean() {
        let s = Sketch::default();
        assert_eq!(s.quantile_ms(0.5), None);
        assert_eq!(s.mean_ms(), None);
    }

    #[test]
    fn quantiles_are_within_the_relative_error() {
        let mut values: Vec<i64> = (0..2000).map(|i| (i * i * 37 + 11) % 3_600_000).collect();
        values.push(0);
        let mut s = Sketch::default();
        for v in &values {
            s.add(*v);
        }
        values.sort();
        for q in [0.0, 0.1, 0.5, 0.9, 0.99, 1.0] {
            let got = s.quantile_ms(q).unwrap_or(-1.0);
            assert!(close(got, exact(&values, q)), "q {q}: {got}");
        }
        assert_eq!(s.count(), values.len() as u64);
        assert_eq!(s.sum_ms(), values.iter().sum::<i64>());
    }

    #[test]
    fn merging_is_exact_whatever_the_grouping() {
        let values: Vec<i64> = (1..500).map(|i| i * 997 % 100_000).collect();
        let mut whole = Sketch::default();
        values.iter().for_each(|v| whole.add(*v));
        let mut parts = vec![Sketch::default(); 7];
        for (i, v) in values.iter().enumerate() {
            parts[i % 7].add(*v);
        }
        let mut forwards = Sketch::default();
        parts.iter().for_each(|p| forwards.merge(p));
        let mut backwards = Sketch::default();
        parts.iter().rev().for_each(|p| backwards.merge(p));
        assert_eq!(forwards, whole);
        assert_eq!(backwards, whole);
        // Rebuilt from stored rows.
        let mut stored = Sketch::default();
        for (b, n) in whole.bins() {
            stored.add_bin(b, n);
        }
        stored.add_totals(whole.count(), whole.sum_ms());
        assert_eq!(stored, whole);
    }

    #[test]
    fn zero_and_negative_durations_are_zero() {
        let mut s = Sketch::default();
        s.add(0);
        s.add(-5);
        assert_eq!(s.quantile_ms(1.0), Some(0.0));
        assert_eq!(s.sum_ms(), 0);
        assert_eq!(bin_of(-1), ZERO_BIN);
    }

    #[test]
    fn out_of_range_quantile_is_none() {
        let mut s = Sketch::default();
        s.add(10);
        assert_eq!(s.quantile_ms(1.5), None);
        assert_eq!(s.quantile_ms(-0.1), None);
    }
}
