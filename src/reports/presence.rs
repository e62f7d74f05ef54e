//! Per-agent presence figures, pure: what one presence sample adds to the rollups.
//!
//! A sampler ([`crate::reports::sampler`]) reads the assignment state every `interval` (at
//! instants aligned to it) and writes, per agent and each of the agent's teams, the time of the
//! interval just ended that the agent spent in the presence it has at the sample: `presence_online`
//! or `presence_away`, and while online the load × time (`presence_load`) and capacity × time
//! (`presence_capacity`), whose ratio is the occupancy. The interval is counted from the later
//! of its start and the moment the agent entered that presence (`presence_since`), so a sample
//! never counts time the agent spent otherwise; the piece of an interval before a change is not
//! counted (at most one interval per change). The definitions are in docs/REPORTS.md.

use super::measures::{Delta, HOUR_MS, Measure, hour_of};
use crate::assign::AgentView;
use crate::domain::Presence;

/// The first sample instant at or after `now_ms`: a multiple of `interval_ms` since the epoch.
pub fn next_instant(now_ms: i64, interval_ms: i64) -> i64 {
    let interval = interval_ms.max(1);
    now_ms.div_euclid(interval) * interval
        + if now_ms.rem_euclid(interval) == 0 {
            0
        } else {
            interval
        }
}

/// `[from, to)` cut at UTC hour boundaries.
fn hour_pieces(from: i64, to: i64) -> Vec<(i64, i64)> {
    let mut pieces = Vec::new();
    let mut start = from;
    while start < to {
        let end = (hour_of(start) + HOUR_MS).min(to);
        pieces.push((start, end));
        start = end;
    }
    pieces
}

/// The deltas of the sample taken at `at` (unix ms) over the `interval_ms` before it, from the
/// agents as the assignment state shows them then. Channel "" (presence has none); an agent of
/// no team is counted under team "".
pub fn sample(agents: &[AgentView], at: i64, interval_ms: i64) -> Vec<Delta> {
    let mut deltas = Vec::new();
    for agent in agents {
        let per_ms: &[(Measure, i64)] = match agent.presence {
            Presence::Offline => continue,
            Presence::Away => &[(Measure::PresenceAway, 1)],
            Presence::Online => &[
                (Measure::PresenceOnline, 1),
                (Measure::PresenceLoad, agent.load as i64),
                (Measure::PresenceCapacity, agent.capacity as i64),
            ],
        };
        let from = (at - interval_ms.max(0)).max(agent.presence_since_ms.unwrap_or(i64::MIN));
        let no_team = [crate::domain::TeamId::new("")];
        let teams = if agent.teams.is_empty() {
            &no_team[..]
        } else {
            &agent.teams[..]
        };
        for (start, end) in hour_pieces(from, at) {
            for team in teams {
                for (measure, factor) in per_ms {
                    deltas.push(Delta {
                        hour: hour_of(start),
                        team: team.as_str().to_string(),
                        agent: agent.agent.as_str().to_string(),
                        channel: String::new(),
                        measure: *measure,
                        ms: Some((end - start).saturating_mul(*factor)),
                    });
                }
            }
        }
    }
    deltas
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AgentId, TeamId};

    const M: i64 = 60_000;
    /// 2026-11-30T09:00:00Z.
    const NINE: i64 = 1_795_996_800_000 + 9 * HOUR_MS;

    fn agent(id: &str, presence: Presence, since: Option<i64>, teams: &[&str]) -> AgentView {
        AgentView {
            agent: AgentId::new(id),
            presence,
            presence_since_ms: since,
            teams: teams.iter().map(|t| TeamId::new(*t)).collect(),
            capacity: 4,
            load: 1,
            assigned: vec![],
            offered: vec![],
        }
    }

    fn sum(deltas: &[Delta], team: &str, measure: Measure) -> i64 {
        deltas
            .iter()
            .filter(|d| d.team == team && d.measure == measure)
            .filter_map(|d| d.ms)
            .sum()
    }

    #[test]
    fn instants_are_aligned() {
        assert_eq!(next_instant(NINE, M), NINE);
        assert_eq!(next_instant(NINE + 1, M), NINE + M);
        assert_eq!(next_instant(NINE + M - 1, M), NINE + M);
        assert_eq!(next_instant(-1, M), 0);
    }

    #[test]
    fn online_counts_load_and_capacity_under_each_team() {
        let a = agent(
            "alice",
            Presence::Online,
            Some(NINE - HOUR_MS),
            &["sales", "support"],
        );
        let d = sample(&[a], NINE + M, M);
        for team in ["sales", "support"] {
            assert_eq!(sum(&d, team, Measure::PresenceOnline), M);
            assert_eq!(sum(&d, team, Measure::PresenceLoad), M);
            assert_eq!(sum(&d, team, Measure::PresenceCapacity), 4 * M);
            assert_eq!(sum(&d, team, Measure::PresenceAway), 0);
        }
        assert!(d.iter().all(|d| d.channel.is_empty() && d.hour == NINE));
    }

    #[test]
    fn a_change_within_the_interval_counts_from_the_change() {
        let a = agent("alice", Presence::Away, Some(NINE + 20_000), &["support"]);
        let d = sample(&[a], NINE + M, M);
        assert_eq!(sum(&d, "support", Measure::PresenceAway), 40_000);
        assert_eq!(sum(&d, "support", Measure::PresenceOnline), 0);
        // A change at the instant itself: nothing yet.
        let b = agent("bob", Presence::Online, Some(NINE + M), &["support"]);
        assert!(sample(&[b], NINE + M, M).is_empty());
    }

    #[test]
    fn offline_agents_add_nothing_and_no_team_is_blank() {
        let off = agent("carla", Presence::Offline, Some(0), &["sales"]);
        assert!(sample(&[off], NINE, M).is_empty());
        let lone = agent("dan", Presence::Online, None, &[]);
        let d = sample(&[lone], NINE, M);
        assert_eq!(sum(&d, "", Measure::PresenceOnline), M);
    }

    #[test]
    fn an_interval_across_the_hour_is_split() {
        let a = agent("alice", Presence::Online, Some(0), &["support"]);
        // A 7-minute interval ending 09:03 covers 08:56–09:00 and 09:00–09:03.
        let d = sample(&[a], NINE + 3 * M, 7 * M);
        let online: Vec<(i64, Option<i64>)> = d
            .iter()
            .filter(|d| d.measure == Measure::PresenceOnline)
            .map(|d| (d.hour, d.ms))
            .collect();
        assert_eq!(online, [(NINE - HOUR_MS, Some(4 * M)), (NINE, Some(3 * M))]);
    }
}
