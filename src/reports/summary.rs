//! A report over a range, pure: the range read from the query (in a time zone), and the stored
//! rollups merged into the answer's counts and times.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

use super::measures::{HOUR_MS, Measure};
use super::sketch::{RELATIVE_ERROR, Sketch};

/// The longest range of one report: a little over a year of hours.
pub const MAX_RANGE_MS: i64 = 400 * 24 * HOUR_MS;

/// How the rollups are grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grouping {
    None,
    Channel,
    Team,
    Agent,
    /// Each hour (labelled in the time zone).
    Hour,
    /// Each day of the time zone.
    Day,
}

impl Grouping {
    pub fn parse(s: Option<&str>) -> Result<Grouping, String> {
        Ok(match s.unwrap_or("") {
            "" => Grouping::None,
            "channel" => Grouping::Channel,
            "team" => Grouping::Team,
            "agent" => Grouping::Agent,
            "hour" => Grouping::Hour,
            "day" => Grouping::Day,
            other => {
                return Err(format!(
                    "unknown group {other:?} (channel, team, agent, hour or day)"
                ));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Grouping::None => "",
            Grouping::Channel => "channel",
            Grouping::Team => "team",
            Grouping::Agent => "agent",
            Grouping::Hour => "hour",
            Grouping::Day => "day",
        }
    }
}

/// A time zone by its IANA name.
pub fn parse_tz(s: Option<&str>) -> Result<Tz, String> {
    match s {
        None | Some("") => Ok(Tz::UTC),
        Some(name) => name
            .parse::<Tz>()
            .map_err(|_| format!("unknown time zone {name:?} (an IANA name, e.g. Europe/Paris)")),
    }
}

/// An instant of the query: RFC 3339, or a date (its midnight in `tz`), or a local date-time
/// without offset (`2026-12-01T09:00`, in `tz`).
pub fn parse_instant(s: &str, tz: Tz) -> Result<i64, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    let local = if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        d.and_time(chrono::NaiveTime::MIN)
    } else if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M") {
        t
    } else if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S") {
        t
    } else {
        return Err(format!(
            "{s:?} is not a date (YYYY-MM-DD) nor a time (RFC 3339)"
        ));
    };
    tz.from_local_datetime(&local)
        .earliest()
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| format!("{s:?} does not exist in {tz}"))
}

/// The range of a report, `[from, to)` in whole UTC hours (`from` rounded down, `to` up: the
/// rollups' grain). Both required; at most [`MAX_RANGE_MS`].
pub fn range(from: Option<&str>, to: Option<&str>, tz: Tz) -> Result<(i64, i64), String> {
    let (Some(from), Some(to)) = (from.filter(|s| !s.is_empty()), to.filter(|s| !s.is_empty()))
    else {
        return Err("`from` and `to` are required".into());
    };
    let from = parse_instant(from, tz)?.div_euclid(HOUR_MS) * HOUR_MS;
    let to = parse_instant(to, tz)?;
    let to = (to + HOUR_MS - 1).div_euclid(HOUR_MS) * HOUR_MS;
    if to <= from {
        return Err("`to` must be after `from`".into());
    }
    if to - from > MAX_RANGE_MS {
        return Err("a report covers at most 400 days".into());
    }
    Ok((from, to))
}

/// One stored rollup total: a group's key (team, agent or channel; "" when not grouped) and
/// hour (0 when not grouped by time), a measure, its count and sum of milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollupCount {
    pub key: String,
    pub hour: i64,
    pub measure: String,
    pub n: i64,
    pub sum_ms: i64,
}

/// One stored sketch bin of a time, grouped likewise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollupBin {
    pub key: String,
    pub hour: i64,
    pub measure: String,
    pub bin: i32,
    pub n: i64,
}

fn iso(ms: i64, tz: Tz) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&tz)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
        })
        .unwrap_or_default()
}

/// The label of a group: its key, its hour in `tz`, or its day in `tz`.
pub fn label(grouping: Grouping, key: &str, hour: i64, tz: Tz) -> String {
    match grouping {
        Grouping::Hour => iso(hour, tz),
        Grouping::Day => DateTime::<Utc>::from_timestamp_millis(hour)
            .map(|t| t.with_timezone(&tz).date_naive().to_string())
            .unwrap_or_default(),
        _ => key.to_string(),
    }
}

/// What a rollup row adds to a group (or subtracts, with negative counts): a measure's count,
/// sum of ms and sketch bins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// The group: its order and key (label); `(0, "")` when not grouped.
    pub group: (i64, String),
    pub measure: Measure,
    pub n: i64,
    pub sum_ms: i64,
    pub bins: Vec<(i32, i64)>,
}

/// A time being merged: count, sum and bins, signed until the end. The bins are dense (a
/// report adds hundreds of thousands of rows of hundreds of bins each; the keys of durations
/// from 1 ms to years span about 1,600 values).
#[derive(Default)]
struct Merging {
    n: i64,
    sum_ms: i64,
    /// Counts of the bins from `base` up.
    dense: Vec<i64>,
    base: i32,
    /// The bin of 0 ms.
    zero: i64,
    /// Bins too far from the others to keep dense (none written by [`super::sketch::bin_of`]).
    sparse: BTreeMap<i32, i64>,
}

/// The widest span of dense bins.
const DENSE_BINS: i64 = 8_192;

impl Merging {
    fn add_bin(&mut self, bin: i32, n: i64) {
        if bin == super::sketch::ZERO_BIN {
            self.zero += n;
            return;
        }
        let (lo, hi) = if self.dense.is_empty() {
            (bin, bin)
        } else {
            (
                self.base.min(bin),
                (self.base + self.dense.len() as i32 - 1).max(bin),
            )
        };
        if i64::from(hi) - i64::from(lo) >= DENSE_BINS {
            *self.sparse.entry(bin).or_default() += n;
            return;
        }
        if self.dense.is_empty() {
            self.base = bin;
        } else if bin < self.base {
            let grow = (self.base - bin) as usize;
            self.dense.splice(0..0, std::iter::repeat_n(0, grow));
            self.base = bin;
        }
        let i = (bin - self.base) as usize;
        if i >= self.dense.len() {
            self.dense.resize(i + 1, 0);
        }
        if let Some(c) = self.dense.get_mut(i) {
            *c += n;
        }
    }

    fn sketch(&self) -> Sketch {
        let mut s = Sketch::default();
        s.add_bin(super::sketch::ZERO_BIN, self.zero.max(0) as u64);
        for (i, n) in self.dense.iter().enumerate() {
            s.add_bin(self.base + i as i32, (*n).max(0) as u64);
        }
        for (bin, n) in &self.sparse {
            s.add_bin(*bin, (*n).max(0) as u64);
        }
        s.add_totals(self.n.max(0) as u64, self.sum_ms.max(0));
        s
    }
}

#[derive(Default)]
struct Figures {
    counts: BTreeMap<Measure, i64>,
    times: BTreeMap<Measure, Merging>,
    /// Presence measures: their sums of milliseconds.
    sums: BTreeMap<Measure, i64>,
    /// The rows' counts, all measures together: a group whose added and subtracted rows cancel
    /// out (it had rows only in subtracted hours) is left out.
    rows: i64,
}

fn seconds(ms: Option<f64>) -> Value {
    ms.map(|v| json!((v / 10.0).round() / 100.0))
        .unwrap_or(Value::Null)
}

impl Figures {
    fn json(&self) -> Value {
        let mut counts = Map::new();
        for m in Measure::COUNTS {
            counts.insert(
                m.as_str().into(),
                json!(self.counts.get(&m).copied().unwrap_or(0)),
            );
        }
        let times = |measures: [Measure; 5]| {
            let mut times = Map::new();
            // Named like the calendar-time measure, in both objects.
            for (m, named) in measures.into_iter().zip(Measure::TIMES) {
                let s = self.times.get(&m).map(Merging::sketch).unwrap_or_default();
                times.insert(
                    named.as_str().into(),
                    json!({
                        "count": s.count(),
                        "mean_s": seconds(s.mean_ms()),
                        "p50_s": seconds(s.quantile_ms(0.5)),
                        "p90_s": seconds(s.quantile_ms(0.9)),
                        "p99_s": seconds(s.quantile_ms(0.99)),
                    }),
                );
            }
            Value::Object(times)
        };
        // Per agent: time online and away, and occupancy (load over capacity while online).
        let sum = |m: Measure| self.sums.get(&m).copied().unwrap_or(0);
        let capacity = sum(Measure::PresenceCapacity);
        let occupancy = (capacity > 0).then(|| {
            (sum(Measure::PresenceLoad) as f64 / capacity as f64 * 10_000.0).round() / 10_000.0
        });
        let presence = json!({
            "online_s": seconds(Some(sum(Measure::PresenceOnline) as f64)),
            "away_s": seconds(Some(sum(Measure::PresenceAway) as f64)),
            "occupancy": occupancy,
        });
        // The share of each SLA clock that stopped within its target.
        let mut sla = Map::new();
        for (clock, met, missed) in Measure::SLA {
            let met = self.counts.get(&met).copied().unwrap_or(0);
            let missed = self.counts.get(&missed).copied().unwrap_or(0);
            let share = (met + missed > 0).then(|| met as f64 / (met + missed) as f64);
            sla.insert(
                clock.as_str().into(),
                json!({ "met": met, "missed": missed, "share_met": share }),
            );
        }
        json!({
            "counts": counts,
            "times": times(Measure::TIMES),
            "times_business_hours": times(Measure::TIMES_BH),
            "sla": sla,
            "presence": presence,
        })
    }
}

/// The report's JSON from hourly rollup rows (grouped by key, or by hour labelled in `tz`).
pub fn summarize(
    counts: &[RollupCount],
    bins: &[RollupBin],
    grouping: Grouping,
    tz: Tz,
    from: i64,
    to: i64,
) -> Value {
    let group_of = |key: &str, hour: i64| -> (i64, String) {
        match grouping {
            // Hours sort by time; a day by its label.
            Grouping::Hour => (hour, label(grouping, key, hour, tz)),
            Grouping::Day => (0, label(grouping, key, hour, tz)),
            _ => (0, key.to_string()),
        }
    };
    let counts = counts.iter().filter_map(|c| {
        Some(Part {
            group: group_of(&c.key, c.hour),
            measure: Measure::parse(&c.measure)?,
            n: c.n,
            sum_ms: c.sum_ms,
            bins: Vec::new(),
        })
    });
    let bins = bins.iter().filter_map(|b| {
        Some(Part {
            group: group_of(&b.key, b.hour),
            measure: Measure::parse(&b.measure)?,
            n: 0,
            sum_ms: 0,
            bins: vec![(b.bin, b.n)],
        })
    });
    summarize_parts(counts.chain(bins), grouping, tz, from, to)
}

/// The report's JSON: the whole range's figures (`total`) and, when grouped, each group's
/// (`groups`, in their order). Times in seconds (to the hundredth), percentiles within
/// `relative_error`.
pub fn summarize_parts(
    parts: impl IntoIterator<Item = Part>,
    grouping: Grouping,
    tz: Tz,
    from: i64,
    to: i64,
) -> Value {
    let mut total = Figures::default();
    let mut groups: BTreeMap<(i64, String), Figures> = BTreeMap::new();
    for p in parts {
        let m = p.measure;
        let g = groups.entry(p.group).or_default();
        for f in [&mut total, g] {
            f.rows += p.n;
            if m.is_time() {
                let t = f.times.entry(m).or_default();
                t.n += p.n;
                t.sum_ms = t.sum_ms.saturating_add(p.sum_ms);
                for (bin, n) in &p.bins {
                    t.add_bin(*bin, *n);
                }
            } else if m.is_presence() {
                *f.sums.entry(m).or_default() += p.sum_ms;
            } else {
                *f.counts.entry(m).or_default() += p.n;
            }
        }
    }
    let mut out = json!({
        "from": iso(from, tz),
        "to": iso(to, tz),
        "tz": tz.name(),
        "relative_error": RELATIVE_ERROR,
        "total": total.json(),
    });
    if grouping != Grouping::None {
        out["group"] = json!(grouping.as_str());
        out["groups"] = Value::Array(
            groups
                .iter()
                .filter(|(_, f)| f.rows != 0)
                .map(|((_, key), f)| {
                    let mut v = f.json();
                    v["key"] = json!(key);
                    v
                })
                .collect(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(key: &str, hour: i64, m: Measure, n: i64, sum: i64) -> RollupCount {
        RollupCount {
            key: key.into(),
            hour,
            measure: m.as_str().into(),
            n,
            sum_ms: sum,
        }
    }

    #[test]
    fn bad_time_zone_and_range_are_refused() {
        assert!(parse_tz(Some("Mars/Olympus")).is_err());
        assert_eq!(parse_tz(None), Ok(Tz::UTC));
        assert!(range(None, Some("2026-12-02"), Tz::UTC).is_err());
        assert!(range(Some("2026-12-02"), Some("2026-12-01"), Tz::UTC).is_err());
        assert!(range(Some("yesterday"), Some("2026-12-01"), Tz::UTC).is_err());
        assert!(range(Some("2020-01-01"), Some("2026-12-01"), Tz::UTC).is_err());
    }

    #[test]
    fn dates_are_midnights_of_the_zone_and_round_to_hours() {
        let tz: Tz = "Europe/Paris".parse().unwrap_or(Tz::UTC);
        let (from, to) = range(Some("2026-12-01"), Some("2026-12-02"), tz).unwrap_or((0, 0));
        assert_eq!(
            from,
            parse_instant("2026-11-30T23:00:00Z", Tz::UTC).unwrap_or(1)
        );
        assert_eq!(to - from, 24 * HOUR_MS);
        let (from, to) = range(
            Some("2026-12-01T10:20:00Z"),
            Some("2026-12-01T10:40:00Z"),
            Tz::UTC,
        )
        .unwrap_or((0, 0));
        assert_eq!(to - from, HOUR_MS);
        assert_eq!(from % HOUR_MS, 0);
    }

    #[test]
    fn days_merge_the_hours_of_the_zone() {
        let tz: Tz = "America/New_York".parse().unwrap_or(Tz::UTC);
        // 2026-12-02 03:00 UTC is Dec 1 22:00 in New York; 05:00 UTC is Dec 2 00:00.
        let h3 = parse_instant("2026-12-02T03:00:00Z", Tz::UTC).unwrap_or(0);
        let h5 = h3 + 2 * HOUR_MS;
        let counts = vec![
            count("", h3, Measure::Opened, 2, 0),
            count("", h5, Measure::Opened, 3, 0),
            count("", h5, Measure::WaitInQueue, 1, 4000),
        ];
        let bins = vec![RollupBin {
            key: "".into(),
            hour: h5,
            measure: "wait_in_queue".into(),
            bin: super::super::sketch::bin_of(4000),
            n: 1,
        }];
        let v = summarize(&counts, &bins, Grouping::Day, tz, h3, h5 + HOUR_MS);
        assert_eq!(v["total"]["counts"]["opened"], 5);
        assert_eq!(v["groups"][0]["key"], "2026-12-01");
        assert_eq!(v["groups"][0]["counts"]["opened"], 2);
        assert_eq!(v["groups"][1]["key"], "2026-12-02");
        assert_eq!(v["groups"][1]["counts"]["opened"], 3);
        assert_eq!(v["groups"][1]["times"]["wait_in_queue"]["count"], 1);
        assert_eq!(v["groups"][1]["times"]["wait_in_queue"]["mean_s"], 4.0);
        let p50 = v["total"]["times"]["wait_in_queue"]["p50_s"]
            .as_f64()
            .unwrap_or(0.0);
        assert!((p50 - 4.0).abs() <= 4.0 * RELATIVE_ERROR);
        assert_eq!(v["total"]["times"]["first_response"]["p50_s"], Value::Null);
    }

    #[test]
    fn presence_sums_give_times_and_occupancy() {
        let counts = vec![
            count("alice", 0, Measure::PresenceOnline, 2, 1_800_000),
            count("alice", 0, Measure::PresenceAway, 1, 600_000),
            count("alice", 0, Measure::PresenceLoad, 2, 1_800_000),
            count("alice", 0, Measure::PresenceCapacity, 2, 5_400_000),
            count("bob", 0, Measure::Replies, 3, 0),
            count("bob", 0, Measure::WaitInQueueBh, 1, 5_000),
        ];
        let bins = vec![RollupBin {
            key: "bob".into(),
            hour: 0,
            measure: "wait_in_queue_bh".into(),
            bin: super::super::sketch::bin_of(5_000),
            n: 1,
        }];
        let v = summarize(&counts, &bins, Grouping::Agent, Tz::UTC, 0, HOUR_MS);
        assert_eq!(v["groups"][0]["presence"]["online_s"], 1800.0);
        assert_eq!(v["groups"][0]["presence"]["away_s"], 600.0);
        // Load 1 of capacity 3 while online.
        assert_eq!(v["groups"][0]["presence"]["occupancy"], 0.3333);
        // Bob was never online: no occupancy; his business-hours wait under its plain name.
        assert_eq!(v["groups"][1]["presence"]["occupancy"], Value::Null);
        assert_eq!(v["groups"][1]["presence"]["online_s"], 0.0);
        assert_eq!(
            v["groups"][1]["times_business_hours"]["wait_in_queue"]["count"],
            1
        );
        assert_eq!(
            v["groups"][1]["times_business_hours"]["wait_in_queue"]["mean_s"],
            5.0
        );
        assert_eq!(v["groups"][1]["times"]["wait_in_queue"]["count"], 0);
        // Presence sums are not counts.
        assert!(v["total"]["counts"].get("presence_online").is_none());
    }

    #[test]
    fn bins_far_apart_and_subtracted_merge_exactly() {
        let part = |bins: Vec<(i32, i64)>| Part {
            group: (0, String::new()),
            measure: Measure::WaitInQueue,
            n: bins.iter().map(|b| b.1).sum(),
            sum_ms: 0,
            bins,
        };
        let parts = vec![
            part(vec![(500, 2), (i32::MIN, 1)]),
            part(vec![(-20, 1), (900_000, 1), (501, 3)]),
            part(vec![(501, -1), (-20_000, 1)]),
        ];
        let mut merging = Merging::default();
        for p in &parts {
            for (b, n) in &p.bins {
                merging.add_bin(*b, *n);
            }
        }
        let mut want = Sketch::default();
        for (b, n) in [
            (i32::MIN, 1),
            (-20_000, 1),
            (-20, 1),
            (500, 2),
            (501, 2),
            (900_000, 1),
        ] {
            want.add_bin(b, n);
        }
        let mut got = merging.sketch();
        got.add_totals(0, 0);
        assert_eq!(
            got.bins().collect::<Vec<_>>(),
            want.bins().collect::<Vec<_>>()
        );
    }

    #[test]
    fn unknown_measures_are_skipped_and_groups_keyed() {
        let counts = vec![
            count("sales", 0, Measure::Transfers, 1, 0),
            count("support", 0, Measure::Transfers, 2, 0),
            RollupCount {
                key: "x".into(),
                hour: 0,
                measure: "future_measure".into(),
                n: 9,
                sum_ms: 0,
            },
        ];
        let v = summarize(&counts, &[], Grouping::Team, Tz::UTC, 0, HOUR_MS);
        assert_eq!(v["total"]["counts"]["transfers"], 3);
        assert_eq!(v["groups"].as_array().map(|a| a.len()), Some(2));
        assert_eq!(v["groups"][1]["key"], "support");
        assert!(Grouping::parse(Some("week")).is_err());
    }
}
