//! A report read from the store: the pieces of [`levels::plan`] read from the coarser rollups
//! (and the hourly ones for edge hours per agent or channel) in one snapshot, each row added to
//! (or subtracted from) its group; by channel for one agent, a merge of the hourly rollups.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono_tz::Tz;
use serde_json::Value;

use super::levels::{self, Group, Source, Span};
use super::measures::Measure;
use super::summary::{self, Grouping, Part};
use crate::store::StoreError;
use crate::store::reports::{LevelRead, LevelRow, ReportStore, RollupQuery};

/// Where a period's rows count: each time, its sign and its group (None: the row's key).
type Uses = Vec<(i64, Option<Group>)>;

/// The summary of `query` (its range in whole hours), labelled in `tz`.
pub async fn summary<S: ReportStore + ?Sized>(
    store: &S,
    query: &RollupQuery,
    tz: Tz,
) -> Result<Value, StoreError> {
    if !levels::uses_levels(query.grouping, query.agent.is_some()) {
        let (counts, bins) = store.report_rollups(query).await?;
        return Ok(summary::summarize(
            &counts,
            &bins,
            query.grouping,
            tz,
            query.from,
            query.to,
        ));
    }
    let per = levels::Per::of(query.grouping, query.agent.is_some());
    let presence_from =
        levels::PresenceFrom::of(per, query.grouping, query.teams.as_ref().map(Vec::len));
    let mut reads: BTreeMap<(Source, bool), BTreeSet<i64>> = BTreeMap::new();
    let mut uses: HashMap<(Span, i64), Uses> = HashMap::new();
    for (piece, group) in levels::plan(query.grouping, tz, query.from, query.to) {
        let (others, presence) = levels::sources(piece.span, per, presence_from);
        reads
            .entry((others, false))
            .or_default()
            .insert(piece.start);
        reads
            .entry((presence, true))
            .or_default()
            .insert(piece.start);
        uses.entry((piece.span, piece.start))
            .or_default()
            .push((piece.sign, group));
    }
    let reads: Vec<LevelRead> = reads
        .into_iter()
        .map(|((source, presence), periods)| LevelRead {
            source,
            periods: periods.into_iter().collect(),
            presence,
            all_teams: presence && presence_from == levels::PresenceFrom::AllTeams,
        })
        .collect();
    let results = store
        .report_levels(&query.teams, &query.agent, &reads)
        .await?;
    let mut parts = Vec::new();
    for (read, rows) in reads.iter().zip(results) {
        let span = match read.source {
            Source::Hourly => Span::Hour,
            Source::Level(level) => level.span(),
        };
        let rows = if read.presence && presence_from == levels::PresenceFrom::Agents {
            per_agent_presence(rows, query.grouping == Grouping::Team)
        } else {
            rows
        };
        for row in rows {
            let Some(measure) = Measure::parse(&row.measure) else {
                continue;
            };
            for (sign, group) in uses.get(&(span, row.period)).into_iter().flatten() {
                let group = group.clone().unwrap_or_else(|| {
                    let key = match query.grouping {
                        Grouping::Team => &row.team,
                        Grouping::Agent => &row.agent,
                        Grouping::Channel => &row.channel,
                        _ => "",
                    };
                    (0, key.to_string())
                });
                parts.push(Part {
                    group,
                    measure,
                    n: sign * row.n,
                    sum_ms: sign * row.sum_ms,
                    bins: row.bins.iter().map(|(b, n)| (*b, sign * n)).collect(),
                });
            }
        }
    }
    Ok(summary::summarize_parts(
        parts,
        query.grouping,
        tz,
        query.from,
        query.to,
    ))
}

/// Presence rows repeat an agent's figures under each of its teams: per period and agent the
/// largest (the same, unless the agent's teams changed within the period), unless by team.
fn per_agent_presence(rows: Vec<LevelRow>, by_team: bool) -> Vec<LevelRow> {
    let mut best: BTreeMap<(i64, String, String, String), LevelRow> = BTreeMap::new();
    for row in rows {
        let team = if by_team {
            row.team.clone()
        } else {
            String::new()
        };
        let key = (row.period, row.agent.clone(), row.measure.clone(), team);
        match best.get_mut(&key) {
            Some(b) => {
                b.n = b.n.max(row.n);
                b.sum_ms = b.sum_ms.max(row.sum_ms);
            }
            None => {
                best.insert(key, row);
            }
        }
    }
    best.into_values().collect()
}
