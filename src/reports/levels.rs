//! Coarser rollups ("levels"), pure: what a conversation step adds to them, how their sketches
//! are stored, and which of their rows (added or subtracted) make up each group of a report.
//!
//! The hourly rollups (hour × team × agent × channel) answer any grouping, but a report merges
//! every row of its range: a year of a busy contact center is tens of millions of rows. The
//! same step transaction therefore also writes seven coarser levels, each a row per period × team
//! (× agent or channel) × measure with its count, sum and whole sketch (the bins in one value,
//! see [`encode_bins`]):
//!
//! | level | period | per | measures |
//! |---|---|---|---|
//! | `team_hour` | UTC hour | team | all |
//! | `team_day` | UTC day | team | all |
//! | `team_month` | UTC month | team | all |
//! | `agent_day` | UTC day | team, agent | all |
//! | `agent_month` | UTC month | team, agent | all |
//! | `channel_day` | UTC day | team, channel | all but presence |
//! | `channel_month` | UTC month | team, channel | all but presence |
//!
//! Presence is per agent and the sampler writes an agent's figures under each of their teams: a
//! team's rows sum its agents' time, and the team levels also keep presence under the
//! pseudo-team [`ALL_TEAMS`], each agent's sample counted once (the largest of their teams'), for
//! reports over all teams.
//!
//! A report's range `[from, to)` (whole hours) is covered by whole months, then whole days, and
//! the hours at its edges, each with a sign: the days nearest to `from` and `to` are taken whole,
//! and the up to twelve hours by which an edge misses a midnight are added or subtracted (counts
//! and sketch bins subtract exactly as they add: the rows were written by the same steps). A day
//! of a time zone other than UTC is one UTC day ± the hours of its offset; its hours come from
//! `team_hour` or, per agent, from the hourly rollups.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;

use super::measures::{HOUR_MS, Measure};
use super::summary::Grouping;

/// One day, in unix milliseconds.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// A coarser rollup level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    TeamHour,
    TeamDay,
    TeamMonth,
    AgentDay,
    AgentMonth,
    ChannelDay,
    ChannelMonth,
}

/// The span of a level's periods (and of a piece of a report's cover).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Span {
    Hour,
    Day,
    Month,
}

impl Level {
    pub const ALL: [Level; 7] = [
        Level::TeamHour,
        Level::TeamDay,
        Level::TeamMonth,
        Level::AgentDay,
        Level::AgentMonth,
        Level::ChannelDay,
        Level::ChannelMonth,
    ];

    /// Its name in the stores.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::TeamHour => "team_hour",
            Level::TeamDay => "team_day",
            Level::TeamMonth => "team_month",
            Level::AgentDay => "agent_day",
            Level::AgentMonth => "agent_month",
            Level::ChannelDay => "channel_day",
            Level::ChannelMonth => "channel_month",
        }
    }

    /// Per agent (and per team, channel `""`); the other levels have agent `""` and leave
    /// presence out.
    pub fn per_agent(self) -> bool {
        matches!(self, Level::AgentDay | Level::AgentMonth)
    }

    /// Per channel (and per team, agent `""`); the other levels have channel `""`.
    pub fn per_channel(self) -> bool {
        matches!(self, Level::ChannelDay | Level::ChannelMonth)
    }

    pub fn span(self) -> Span {
        match self {
            Level::TeamHour => Span::Hour,
            Level::TeamDay | Level::AgentDay | Level::ChannelDay => Span::Day,
            Level::TeamMonth | Level::AgentMonth | Level::ChannelMonth => Span::Month,
        }
    }

    /// Whether the level keeps this measure (presence has no channel).
    pub fn keeps(self, measure: Measure) -> bool {
        !self.per_channel() || !measure.is_presence()
    }

    /// A level per team only (agent and channel `""`).
    pub fn per_team(self) -> bool {
        !self.per_agent() && !self.per_channel()
    }

    /// The start of the level's period holding the hour `hour` (UTC).
    pub fn period_of(self, hour: i64) -> i64 {
        self.span().start_of(hour)
    }
}

impl Span {
    /// The start of the UTC hour, day or month holding `t`.
    pub fn start_of(self, t: i64) -> i64 {
        match self {
            Span::Hour => t.div_euclid(HOUR_MS) * HOUR_MS,
            Span::Day => t.div_euclid(DAY_MS) * DAY_MS,
            Span::Month => month_start(t),
        }
    }

    /// The start of the next period after the one starting at `start`.
    pub fn next(self, start: i64) -> i64 {
        match self {
            Span::Hour => start + HOUR_MS,
            Span::Day => start + DAY_MS,
            Span::Month => next_month(start),
        }
    }
}

fn date_of(t: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(t)
        .map(|d| d.date_naive())
        .unwrap_or_default()
}

fn midnight(d: NaiveDate) -> i64 {
    d.and_time(chrono::NaiveTime::MIN)
        .and_utc()
        .timestamp_millis()
}

/// The start of the UTC month holding `t`.
pub fn month_start(t: i64) -> i64 {
    let d = date_of(t);
    midnight(d.with_day(1).unwrap_or(d))
}

/// The start of the UTC month after the one starting at `start`.
pub fn next_month(start: i64) -> i64 {
    let d = date_of(start);
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .map(midnight)
        .unwrap_or(start + 31 * DAY_MS)
}

/// A sketch's bins as stored in a level row: (bin, count) pairs in ascending bin order, each a
/// little-endian i32 then a little-endian i64.
pub fn encode_bins(bins: &BTreeMap<i32, i64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(bins.len() * 12);
    for (bin, n) in bins {
        if *n != 0 {
            out.extend_from_slice(&bin.to_le_bytes());
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
    out
}

/// The bins stored by [`encode_bins`]; None if the value is not such a list.
pub fn decode_bins(bytes: &[u8]) -> Option<Vec<(i32, i64)>> {
    if !bytes.len().is_multiple_of(12) {
        return None;
    }
    bytes
        .chunks_exact(12)
        .map(|c| {
            let bin = i32::from_le_bytes(c.get(0..4)?.try_into().ok()?);
            let n = i64::from_le_bytes(c.get(4..12)?.try_into().ok()?);
            Some((bin, n))
        })
        .collect()
}

/// A stored sketch (None: none yet) with `add` merged in, in one pass over the stored pairs
/// (a step adds a bin or two to a sketch of hundreds); None if the stored value is not one.
pub fn merge_bins(stored: Option<&[u8]>, add: &BTreeMap<i32, i64>) -> Option<Vec<u8>> {
    let stored = stored.unwrap_or_default();
    if !stored.len().is_multiple_of(12) {
        return None;
    }
    let mut out = Vec::with_capacity(stored.len() + add.len() * 12);
    let mut adding = add.iter().filter(|(_, n)| **n != 0).peekable();
    let push = |out: &mut Vec<u8>, bin: i32, n: i64| {
        if n != 0 {
            out.extend_from_slice(&bin.to_le_bytes());
            out.extend_from_slice(&n.to_le_bytes());
        }
    };
    for chunk in stored.chunks_exact(12) {
        let bin = i32::from_le_bytes(chunk.get(0..4)?.try_into().ok()?);
        let mut n = i64::from_le_bytes(chunk.get(4..12)?.try_into().ok()?);
        while let Some((b, c)) = adding.peek() {
            if **b < bin {
                push(&mut out, **b, **c);
                adding.next();
            } else {
                if **b == bin {
                    n += **c;
                    adding.next();
                }
                break;
            }
        }
        push(&mut out, bin, n);
    }
    for (b, c) in adding {
        push(&mut out, *b, *c);
    }
    Some(out)
}

/// The key of a level row: (level, period, team, agent, channel, measure); agent `""` but in
/// agent levels, channel `""` but in channel levels.
pub type LevelKey = (Level, i64, String, String, String, &'static str);

/// What steps add to level rows: count, sum of ms and bins, per row.
pub type LevelDeltas = BTreeMap<LevelKey, (i64, i64, BTreeMap<i32, i64>)>;

/// The level rows an hourly rollup increment adds to: (hour, team, agent, channel, measure) with
/// its count, sum and bins.
pub fn add_to_levels(
    out: &mut LevelDeltas,
    (hour, team, agent, channel, measure): (i64, &str, &str, &str, &'static str),
    (n, sum_ms, bins): (i64, i64, &BTreeMap<i32, i64>),
) {
    let Some(m) = Measure::parse(measure) else {
        return;
    };
    for level in Level::ALL {
        if !level.keeps(m) {
            continue;
        }
        let agent = if level.per_agent() { agent } else { "" };
        let channel = if level.per_channel() { channel } else { "" };
        let row = out
            .entry((
                level,
                level.period_of(hour),
                team.to_string(),
                agent.to_string(),
                channel.to_string(),
                measure,
            ))
            .or_default();
        row.0 += n;
        row.1 += sum_ms;
        for (bin, c) in bins {
            *row.2.entry(*bin).or_default() += c;
        }
    }
}

/// The pseudo-team of the team levels' presence rows over all teams (each agent once).
pub const ALL_TEAMS: &str = "*";

/// Presence of one batch of increments under [`ALL_TEAMS`] in the team levels: per hour, agent
/// and measure, the largest of the agent's teams' rows (the sampler writes the same figures
/// under each).
pub fn add_presence_of_all_teams<'a>(
    out: &mut LevelDeltas,
    rows: impl IntoIterator<Item = (i64, &'a str, &'static str, i64, i64)>,
) {
    let mut best: BTreeMap<(i64, &str, &'static str), (i64, i64)> = BTreeMap::new();
    for (hour, agent, measure, n, sum_ms) in rows {
        if !Measure::parse(measure).is_some_and(Measure::is_presence) {
            continue;
        }
        let b = best.entry((hour, agent, measure)).or_default();
        *b = (b.0.max(n), b.1.max(sum_ms));
    }
    for ((hour, _agent, measure), (n, sum_ms)) in best {
        for level in Level::ALL.into_iter().filter(|l| l.per_team()) {
            let row = out
                .entry((
                    level,
                    level.period_of(hour),
                    ALL_TEAMS.to_string(),
                    String::new(),
                    String::new(),
                    measure,
                ))
                .or_default();
            row.0 += n;
            row.1 += sum_ms;
        }
    }
}

/// Where a piece of a report is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// The hourly rollups (summed over channels).
    Hourly,
    Level(Level),
}

/// A period of a report's cover with its sign: `+1` added, `-1` subtracted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Piece {
    pub span: Span,
    pub start: i64,
    pub sign: i64,
}

/// The nearest UTC midnight to `t` (the earlier one at a tie).
fn nearest_midnight(t: i64) -> i64 {
    (t + DAY_MS / 2 - 1).div_euclid(DAY_MS) * DAY_MS
}

fn hours(from: i64, to: i64, sign: i64, out: &mut Vec<Piece>) {
    let mut h = from;
    while h < to {
        out.push(Piece {
            span: Span::Hour,
            start: h,
            sign,
        });
        h += HOUR_MS;
    }
}

/// `[from, to)` (whole hours) as signed pieces: whole UTC months (when `months`), whole UTC days
/// and at most twelve hours at each edge, added or subtracted. Sums of the pieces' rows are the
/// sums of the range's hours.
pub fn cover(from: i64, to: i64, months: bool) -> Vec<Piece> {
    let mut out = Vec::new();
    let (s, e) = (nearest_midnight(from), nearest_midnight(to));
    if e <= s || to <= from {
        hours(from, to, 1, &mut out);
        return out;
    }
    if from < s {
        hours(from, s, 1, &mut out);
    } else {
        hours(s, from, -1, &mut out);
    }
    if e < to {
        hours(e, to, 1, &mut out);
    } else {
        hours(to, e, -1, &mut out);
    }
    let mut d = s;
    while d < e {
        if months && month_start(d) == d && next_month(d) <= e {
            out.push(Piece {
                span: Span::Month,
                start: d,
                sign: 1,
            });
            d = next_month(d);
        } else {
            out.push(Piece {
                span: Span::Day,
                start: d,
                sign: 1,
            });
            d += DAY_MS;
        }
    }
    out
}

/// The days of `tz` in `[from, to)`: each day's first hour and its end (a day is the UTC hours
/// whose start falls on that date in `tz`, as the hourly rollups are labelled), with its label.
pub fn local_days(from: i64, to: i64, tz: Tz) -> Vec<(i64, i64, String)> {
    let label = |h: i64| {
        DateTime::<Utc>::from_timestamp_millis(h)
            .map(|t| t.with_timezone(&tz).date_naive().to_string())
            .unwrap_or_default()
    };
    let mut out: Vec<(i64, i64, String)> = Vec::new();
    let mut h = from;
    while h < to {
        let l = label(h);
        match out.last_mut() {
            Some(last) if last.2 == l => last.1 = h + HOUR_MS,
            _ => out.push((h, h + HOUR_MS, l)),
        }
        h += HOUR_MS;
    }
    out
}

/// The group a piece's rows go to: (order, label); for groupings by key, the rows' key decides.
pub type Group = (i64, String);

/// A report's pieces and, when grouped by day, each piece's groups: for each piece, the group
/// it counts in (None: the row's key decides) and its sign. A day's hour may count in two days
/// of the time zone (subtracted from one, added to the next).
pub fn plan(grouping: Grouping, tz: Tz, from: i64, to: i64) -> Vec<(Piece, Option<Group>)> {
    match grouping {
        Grouping::Hour => {
            let mut hours_of = Vec::new();
            hours(from, to, 1, &mut hours_of);
            hours_of
                .into_iter()
                .map(|p| {
                    let label = super::summary::label(Grouping::Hour, "", p.start, tz);
                    (p, Some((p.start, label)))
                })
                .collect()
        }
        Grouping::Day => local_days(from, to, tz)
            .into_iter()
            .flat_map(|(a, b, label)| {
                cover(a, b, false)
                    .into_iter()
                    .map(move |p| (p, Some((a, label.clone()))))
            })
            .collect(),
        _ => cover(from, to, true)
            .into_iter()
            .map(|p| (p, None))
            .collect(),
    }
}

/// Whether a report reads the levels: always, but by channel for one agent (the agent levels
/// have no channel: it reads the hourly rollups, a few rows per hour for one agent).
pub fn uses_levels(grouping: Grouping, one_agent: bool) -> bool {
    !(grouping == Grouping::Channel && one_agent)
}

/// Which rows a report reads besides presence: the team levels, or per agent (grouped by agent
/// or filtered to one), or per channel (grouped by channel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Per {
    Team,
    Agent,
    Channel,
}

impl Per {
    pub fn of(grouping: Grouping, one_agent: bool) -> Per {
        match grouping {
            Grouping::Agent => Per::Agent,
            _ if one_agent => Per::Agent,
            Grouping::Channel => Per::Channel,
            _ => Per::Team,
        }
    }
}

/// Where a report reads presence: each team's rows (grouped by team, or one team), the rows of
/// [`ALL_TEAMS`] (all teams), or each agent's, the largest of their teams' per period (per agent,
/// or several teams but not all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresenceFrom {
    Teams,
    AllTeams,
    Agents,
}

impl PresenceFrom {
    pub fn of(per: Per, grouping: Grouping, teams: Option<usize>) -> PresenceFrom {
        match (per, grouping, teams) {
            (Per::Agent, _, _) => PresenceFrom::Agents,
            (_, Grouping::Team, _) | (_, _, Some(1)) => PresenceFrom::Teams,
            (_, _, None) => PresenceFrom::AllTeams,
            _ => PresenceFrom::Agents,
        }
    }
}

/// Where a piece's measures are read: (source of the measures other than presence, source of
/// presence). An hour comes from `team_hour`, or per agent or channel from the hourly rollups.
pub fn sources(span: Span, per: Per, presence: PresenceFrom) -> (Source, Source) {
    let agent = match span {
        Span::Hour => Source::Hourly,
        Span::Day => Source::Level(Level::AgentDay),
        Span::Month => Source::Level(Level::AgentMonth),
    };
    let team = match span {
        Span::Hour => Source::Level(Level::TeamHour),
        Span::Day => Source::Level(Level::TeamDay),
        Span::Month => Source::Level(Level::TeamMonth),
    };
    let others = match (per, span) {
        (Per::Agent, _) => agent,
        (Per::Team, _) => team,
        (Per::Channel, Span::Hour) => Source::Hourly,
        (Per::Channel, Span::Day) => Source::Level(Level::ChannelDay),
        (Per::Channel, Span::Month) => Source::Level(Level::ChannelMonth),
    };
    let presence = match presence {
        PresenceFrom::Agents => agent,
        PresenceFrom::Teams | PresenceFrom::AllTeams => team,
    };
    (others, presence)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .unwrap_or(i64::MIN)
    }

    /// The signed hours a cover stands for.
    fn expand(pieces: &[Piece]) -> BTreeMap<i64, i64> {
        let mut out = BTreeMap::new();
        for p in pieces {
            let mut h = p.start;
            while h < p.span.next(p.start) {
                *out.entry(h).or_insert(0) += p.sign;
                h += HOUR_MS;
            }
        }
        out.retain(|_, v| *v != 0);
        out
    }

    #[test]
    fn covers_stand_for_exactly_their_hours() {
        let base = at("2026-01-30T00:00:00Z");
        for from_h in [0, 1, 5, 11, 12, 13, 23, 24, 25, 24 * 40 + 7] {
            for len_h in [
                1,
                2,
                11,
                12,
                13,
                23,
                24,
                25,
                47,
                48,
                24 * 31,
                24 * 70 + 13,
                24 * 400,
            ] {
                let from = base + from_h * HOUR_MS;
                let to = from + len_h * HOUR_MS;
                for months in [false, true] {
                    let pieces = cover(from, to, months);
                    let want: BTreeMap<i64, i64> =
                        (0..len_h).map(|i| (from + i * HOUR_MS, 1)).collect();
                    assert_eq!(expand(&pieces), want, "{from_h} +{len_h} {months}");
                    let edge = pieces.iter().filter(|p| p.span == Span::Hour).count();
                    assert!(edge <= 24 || len_h < 24, "{from_h} +{len_h}: {edge} hours");
                    if !months {
                        assert!(pieces.iter().all(|p| p.span != Span::Month));
                    }
                }
            }
        }
    }

    #[test]
    fn a_year_is_twelve_months() {
        let from = at("2026-01-01T00:00:00Z");
        let to = at("2027-01-01T00:00:00Z");
        let pieces = cover(from, to, true);
        assert_eq!(pieces.len(), 12);
        assert!(pieces.iter().all(|p| p.span == Span::Month && p.sign == 1));
        // In Madrid: an hour subtracted at each end.
        let pieces = cover(from - HOUR_MS, to - HOUR_MS, true);
        assert_eq!(pieces.iter().filter(|p| p.span == Span::Month).count(), 12);
        assert_eq!(
            pieces
                .iter()
                .filter(|p| p.span == Span::Hour)
                .map(|p| (p.start, p.sign))
                .collect::<Vec<_>>(),
            vec![(from - HOUR_MS, 1), (to - HOUR_MS, -1)]
        );
    }

    #[test]
    fn local_days_follow_the_zone_and_its_changes() {
        let tz: Tz = "Europe/Madrid".parse().unwrap_or(Tz::UTC);
        // 2026-03-29: summer time starts in Madrid (a day of 23 hours).
        let from = at("2026-03-27T23:00:00Z");
        let to = at("2026-03-30T22:00:00Z");
        let days = local_days(from, to, tz);
        let lens: Vec<i64> = days.iter().map(|(a, b, _)| (b - a) / HOUR_MS).collect();
        assert_eq!(lens, vec![24, 23, 24]);
        assert_eq!(days[1].2, "2026-03-29");
        // Half-hour zones: a day is the hours starting on that date.
        let tz: Tz = "Asia/Kolkata".parse().unwrap_or(Tz::UTC);
        let days = local_days(at("2026-05-01T00:00:00Z"), at("2026-05-03T00:00:00Z"), tz);
        assert_eq!(days[0].2, "2026-05-01");
        // 18:00 UTC is 23:30 there (May 1), 19:00 UTC is 00:30 (May 2).
        assert_eq!(days[1].0, at("2026-05-01T19:00:00Z"));
    }

    #[test]
    fn a_plan_by_day_covers_each_day_with_its_own_pieces() {
        let tz: Tz = "Europe/Madrid".parse().unwrap_or(Tz::UTC);
        let from = at("2026-01-04T23:00:00Z");
        let to = at("2026-01-07T23:00:00Z");
        let plan = plan(Grouping::Day, tz, from, to);
        let mut per_day: BTreeMap<String, Vec<Piece>> = BTreeMap::new();
        for (p, g) in plan {
            per_day
                .entry(g.map(|g| g.1).unwrap_or_default())
                .or_default()
                .push(p);
        }
        assert_eq!(per_day.len(), 3);
        for (day, pieces) in &per_day {
            assert_eq!(
                pieces.len(),
                3,
                "{day}: a UTC day, an hour added, one subtracted"
            );
            assert_eq!(expand(pieces).values().sum::<i64>(), 24);
        }
    }

    #[test]
    fn bins_round_trip_and_merge() {
        let a: BTreeMap<i32, i64> = [(i32::MIN, 2), (-3, 1), (520, 7)].into_iter().collect();
        let bytes = encode_bins(&a);
        assert_eq!(decode_bins(&bytes), Some(a.clone().into_iter().collect()));
        assert_eq!(decode_bins(&bytes[1..]), None);
        let b: BTreeMap<i32, i64> = [(520, 1), (600, 1)].into_iter().collect();
        let merged = merge_bins(Some(&bytes), &b).and_then(|m| decode_bins(&m));
        assert_eq!(
            merged,
            Some(vec![(i32::MIN, 2), (-3, 1), (520, 8), (600, 1)])
        );
        assert_eq!(merge_bins(Some(&[1, 2, 3]), &b), None);
        // Any interleaving, against the map's own merge.
        let mut r = 17u64;
        let mut next = || {
            r = r.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (r >> 40) as i64 % 60
        };
        let mut stored: BTreeMap<i32, i64> = BTreeMap::new();
        let mut bytes = Vec::new();
        for _ in 0..200 {
            let add: BTreeMap<i32, i64> = (0..(next() % 4))
                .map(|_| (next() as i32 - 30, 1 + next()))
                .collect();
            for (b, n) in &add {
                *stored.entry(*b).or_default() += n;
            }
            bytes = merge_bins(Some(&bytes), &add).unwrap_or_default();
            assert_eq!(
                decode_bins(&bytes),
                Some(stored.clone().into_iter().collect())
            );
        }
        assert_eq!(
            merge_bins(None, &b).and_then(|m| decode_bins(&m)),
            Some(vec![(520, 1), (600, 1)])
        );
        assert_eq!(encode_bins(&BTreeMap::new()), Vec::<u8>::new());
    }

    #[test]
    fn increments_reach_every_level_but_presence_stays_per_agent() {
        let hour = at("2026-02-03T10:00:00Z");
        let bins: BTreeMap<i32, i64> = [(500, 1)].into_iter().collect();
        let mut out = LevelDeltas::new();
        add_to_levels(
            &mut out,
            (hour, "sales", "alice", "whatsapp", "wait_in_queue"),
            (1, 900, &bins),
        );
        add_to_levels(
            &mut out,
            (hour, "sales", "bob", "whatsapp", "wait_in_queue"),
            (1, 100, &bins),
        );
        add_to_levels(
            &mut out,
            (hour, "sales", "alice", "", "presence_online"),
            (1, 60, &BTreeMap::new()),
        );
        let team_month = out.get(&(
            Level::TeamMonth,
            at("2026-02-01T00:00:00Z"),
            "sales".into(),
            String::new(),
            String::new(),
            "wait_in_queue",
        ));
        assert_eq!(
            team_month.map(|r| (r.0, r.1, r.2.get(&500).copied())),
            Some((2, 1000, Some(2)))
        );
        assert!(
            out.keys()
                .any(|k| k.0 == Level::AgentDay && k.5 == "presence_online")
        );
        assert!(
            !out.keys()
                .any(|k| k.0.per_channel() && k.5 == "presence_online")
        );
        add_presence_of_all_teams(
            &mut out,
            [
                (hour, "alice", "presence_online", 1, 60),
                (hour, "alice", "presence_online", 1, 60),
                (hour, "bob", "presence_online", 1, 30),
                (hour, "bob", "replies", 1, 0),
            ],
        );
        let all = out.get(&(
            Level::TeamDay,
            at("2026-02-03T00:00:00Z"),
            ALL_TEAMS.into(),
            String::new(),
            String::new(),
            "presence_online",
        ));
        assert_eq!(all.map(|r| (r.0, r.1)), Some((2, 90)));
        assert!(out.contains_key(&(
            Level::ChannelDay,
            at("2026-02-03T00:00:00Z"),
            "sales".into(),
            String::new(),
            "whatsapp".into(),
            "wait_in_queue",
        )));
        // Team and channel levels shared; each agent's own two; alice's presence in her team's
        // and hers; then presence of all teams in the three team levels.
        assert_eq!(out.len(), 3 + 2 + 2 + 2 + 5 + 3);
    }

    #[test]
    fn months_and_days_start_where_they_should() {
        let t = at("2026-12-31T23:59:00Z");
        assert_eq!(month_start(t), at("2026-12-01T00:00:00Z"));
        assert_eq!(next_month(month_start(t)), at("2027-01-01T00:00:00Z"));
        assert_eq!(Span::Day.start_of(t), at("2026-12-31T00:00:00Z"));
        assert_eq!(Level::TeamHour.period_of(t), at("2026-12-31T23:00:00Z"));
    }
}
