//! The durable record of reports: [`ReportStore`], part of every [`Store`](super::Store).
//! Conversation steps write it (the writers call [`crate::reports::advance`] in the step's
//! transaction); these are the reads.

use async_trait::async_trait;

use super::StoreError;
use crate::reports::ConversationReport;
use crate::reports::levels::{LevelDeltas, Source, add_to_levels};
use crate::reports::summary::{Grouping, RollupBin, RollupCount};

/// Which rollups a report merges: `[from, to)` in unix ms (whole hours), only these teams
/// (None: all), only this agent.
#[derive(Clone, Debug, PartialEq)]
pub struct RollupQuery {
    pub from: i64,
    pub to: i64,
    pub teams: Option<Vec<String>>,
    pub agent: Option<String>,
    pub grouping: Grouping,
}

impl RollupQuery {
    /// The SQL of the group's key and hour columns (fixed text, never from the caller).
    pub(super) fn columns(&self) -> (&'static str, &'static str) {
        let key = match self.grouping {
            Grouping::Channel => "channel",
            Grouping::Team => "team",
            Grouping::Agent => "agent",
            Grouping::None | Grouping::Hour | Grouping::Day => "CAST('' AS TEXT)",
        };
        let hour = match self.grouping {
            Grouping::Hour | Grouping::Day => "hour",
            _ => "CAST(0 AS BIGINT)",
        };
        (key, hour)
    }
}

/// A page of conversations' report rows: opened in `[from, to)`, of these teams (None: all),
/// after the cursor (opened_at, conversation id), at most `limit`, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportPage {
    pub from: i64,
    pub to: i64,
    pub teams: Option<Vec<String>>,
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

/// One read of a report over the coarser rollups (`src/reports/levels.rs`): a source, the
/// starts of its periods, and either the presence measures or the others.
#[derive(Clone, Debug, PartialEq)]
pub struct LevelRead {
    pub source: Source,
    pub periods: Vec<i64>,
    pub presence: bool,
    /// Presence of all teams: the team levels' rows of [`crate::reports::levels::ALL_TEAMS`]
    /// (otherwise those rows are left out).
    pub all_teams: bool,
}

/// A row of a [`LevelRead`]: per period, team, agent and channel, with its sketch's bins for a
/// time.
#[derive(Clone, Debug, PartialEq)]
pub struct LevelRow {
    pub period: i64,
    pub team: String,
    pub agent: String,
    pub channel: String,
    pub measure: String,
    pub n: i64,
    pub sum_ms: i64,
    pub bins: Vec<(i32, i64)>,
}

#[async_trait]
pub trait ReportStore: Send + Sync + 'static {
    /// The rows of each read, all read in one transaction (one snapshot: the pieces of a
    /// report add and subtract consistently), only these teams (None: all), only this agent.
    async fn report_levels(
        &self,
        teams: &Option<Vec<String>>,
        agent: &Option<String>,
        reads: &[LevelRead],
    ) -> Result<Vec<Vec<LevelRow>>, StoreError>;

    /// The rollups of the query, summed per (group key, hour, measure) and per bin.
    async fn report_rollups(
        &self,
        query: &RollupQuery,
    ) -> Result<(Vec<RollupCount>, Vec<RollupBin>), StoreError>;

    /// Record the presence sample of instant `at` (unix ms) and its rollup deltas, in one
    /// transaction, unless a sample of that instant or a later one is recorded already (then
    /// nothing is written: false).
    async fn record_presence_sample(
        &self,
        at: i64,
        deltas: Vec<crate::reports::Delta>,
    ) -> Result<bool, StoreError>;

    /// A page of conversations' report rows.
    async fn conversation_reports(
        &self,
        page: &ReportPage,
    ) -> Result<Vec<ConversationReport>, StoreError>;
}

/// A report row read back (either database).
pub(super) fn report_from_row(
    row: &impl super::rows::StoreRow,
) -> Result<ConversationReport, sqlx::Error> {
    Ok(ConversationReport {
        conversation_id: row.text("conversation_id")?,
        channel: row.text("channel")?,
        team: row.text("team")?,
        agent: row.text("agent")?,
        status: row.text("status")?,
        outcome: row
            .opt_text("outcome")?
            .as_deref()
            .and_then(crate::reports::Outcome::parse),
        opened_at: row.int("opened_at")?,
        first_handoff_at: row.opt_int("first_handoff_at")?,
        queued_at: row.opt_int("queued_at")?,
        first_assigned_at: row.opt_int("first_assigned_at")?,
        first_response_at: row.opt_int("first_response_at")?,
        resolved_at: row.opt_int("resolved_at")?,
        held_since: row.opt_int("held_since")?,
        awaiting_since: row.opt_int("awaiting_since")?,
        wait_ms: row.int("wait_ms")?,
        handle_ms: row.int("handle_ms")?,
        replies: row.int("replies")?,
        transfers: row.int("transfers")?,
        reopens: row.int("reopens")?,
        updated_at: row.int("updated_at")?,
    })
}

/// The columns of `conversation_reports`, in the order the writers bind them.
pub(super) const REPORT_COLUMNS: &str = "conversation_id, channel, team, agent, status, outcome,
    opened_at, first_handoff_at, queued_at, first_assigned_at, first_response_at, resolved_at,
    held_since, awaiting_since, wait_ms, handle_ms, replies, transfers, reopens, updated_at";

/// What an insert of a report row that finds the conversation's row already there changes:
/// everything but the conversation's channel and opening (both databases' upsert syntax).
pub(super) const REPORT_UPSERT: &str = "ON CONFLICT (conversation_id) DO UPDATE SET
    team = excluded.team, agent = excluded.agent, status = excluded.status,
    outcome = excluded.outcome, first_handoff_at = excluded.first_handoff_at,
    queued_at = excluded.queued_at, first_assigned_at = excluded.first_assigned_at,
    first_response_at = excluded.first_response_at, resolved_at = excluded.resolved_at,
    held_since = excluded.held_since, awaiting_since = excluded.awaiting_since,
    wait_ms = excluded.wait_ms, handle_ms = excluded.handle_ms, replies = excluded.replies,
    transfers = excluded.transfers, reopens = excluded.reopens, updated_at = excluded.updated_at";

/// The facts of a step that the reports need.
pub(super) fn facts(step: &super::ConversationStep) -> Option<crate::reports::StepFacts<'_>> {
    let c = step.conversation.as_ref()?;
    Some(crate::reports::StepFacts {
        conversation: c,
        events: &step.events,
        customer_wrote: step.inbound_message.is_some(),
        agent_replies: step
            .outbound
            .iter()
            .filter(|(_, sender)| *sender == crate::domain::Sender::Agent)
            .count(),
        calendars: &step.calendars,
    })
}

/// The watermark row of the presence samples in `report_samples`.
pub(super) const PRESENCE_SAMPLER: &str = "presence";

/// The measures whose rows repeat the same agent's figures under each of the agent's teams
/// (SQL list): a report takes, per agent and hour, the largest of those rows unless it groups
/// by team.
pub(super) fn presence_measures_sql() -> String {
    crate::reports::Measure::PRESENCE
        .iter()
        .map(|m| format!("'{}'", m.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Deltas sorted by their row (so concurrent writers lock rollup rows in one order) and folded:
/// (hour, team, agent, channel, measure) → (count, sum of ms, bins).
pub(super) type Folded = std::collections::BTreeMap<
    (i64, String, String, String, &'static str),
    (i64, i64, std::collections::BTreeMap<i32, i64>),
>;

pub(super) fn fold(deltas: Vec<crate::reports::Delta>) -> Folded {
    let mut folded = Folded::new();
    for d in deltas {
        let entry = folded
            .entry((d.hour, d.team, d.agent, d.channel, d.measure.as_str()))
            .or_default();
        entry.0 += 1;
        if let Some(ms) = d.ms {
            entry.1 += ms.max(0);
            if d.measure.is_time() {
                *entry
                    .2
                    .entry(crate::reports::sketch::bin_of(ms))
                    .or_default() += 1;
            }
        }
    }
    folded
}

/// The level rows a step's (or a presence sample's) folded hourly deltas add to.
pub(super) fn level_deltas(folded: &Folded) -> LevelDeltas {
    let mut out = LevelDeltas::new();
    crate::reports::levels::add_presence_of_all_teams(
        &mut out,
        folded
            .iter()
            .map(|((hour, _, agent, _, measure), (n, sum_ms, _))| {
                (*hour, agent.as_str(), *measure, *n, *sum_ms)
            }),
    );
    for ((hour, team, agent, channel, measure), (n, sum_ms, bins)) in folded {
        add_to_levels(
            &mut out,
            (*hour, team, agent, channel, measure),
            (*n, *sum_ms, bins),
        );
    }
    out
}

/// The SQL of a read's rows (its counts) and, from the hourly rollups, of its bins; `filter` is
/// the backend's team and agent conditions (`AND …`, placeholders bound in that order). The
/// periods are our own integers, written into the text.
pub(super) fn level_sql(read: &LevelRead, filter: &str) -> (String, Option<String>) {
    let periods = read
        .periods
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let class = format!(
        "measure {}IN ({})",
        if read.presence { "" } else { "NOT " },
        presence_measures_sql()
    );
    match read.source {
        Source::Level(level) => (
            format!(
                "SELECT period, team, agent, channel, measure, n, sum_ms, bins FROM report_levels
                 WHERE level = '{}' AND period IN ({periods}){filter} AND {class} AND team {} '{}'",
                level.as_str(),
                if read.all_teams { "=" } else { "<>" },
                crate::reports::levels::ALL_TEAMS,
            ),
            None,
        ),
        Source::Hourly => (
            format!(
                "SELECT hour AS period, team, agent, channel, measure, n, sum_ms,
                    CAST(NULL AS BYTEA) AS bins
                 FROM report_counts WHERE hour IN ({periods}){filter} AND {class}"
            ),
            (!read.presence).then(|| {
                format!(
                    "SELECT hour AS period, team, agent, channel, measure, bin, n
                     FROM report_bins WHERE hour IN ({periods}){filter}"
                )
            }),
        ),
    }
}

/// A bin of the hourly rollups read apart: ((hour, team, agent, channel, measure), (bin, count)).
pub(super) type HourBin = ((i64, String, String, String, String), (i32, i64));

/// Bins read apart (the hourly rollups: one row per bin) joined to their rows.
pub(super) fn attach_bins(rows: &mut [LevelRow], bins: Vec<HourBin>) {
    type Key<'a> = (i64, &'a str, &'a str, &'a str, &'a str);
    let mut index: std::collections::HashMap<Key<'_>, usize> =
        std::collections::HashMap::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        index.insert((r.period, &r.team, &r.agent, &r.channel, &r.measure), i);
    }
    let mut found = Vec::with_capacity(bins.len());
    for ((period, team, agent, channel, measure), bin) in bins {
        let key = (
            period,
            team.as_str(),
            agent.as_str(),
            channel.as_str(),
            measure.as_str(),
        );
        if let Some(i) = index.get(&key) {
            found.push((*i, bin));
        }
    }
    for (i, bin) in found {
        if let Some(r) = rows.get_mut(i) {
            r.bins.push(bin);
        }
    }
}

/// A row of a [`LevelRead`] read back (either database; the columns of [`level_sql`]).
pub(super) fn level_row_from(row: &impl super::rows::StoreRow) -> Result<LevelRow, StoreError> {
    Ok(LevelRow {
        period: row.int("period")?,
        team: row.text("team")?,
        agent: row.text("agent")?,
        channel: row.text("channel")?,
        measure: row.text("measure")?,
        n: row.int("n")?,
        sum_ms: row.int("sum_ms")?,
        bins: stored_bins(row.opt_bytes("bins")?)?,
    })
}

/// A bin of the hourly rollups read back (either database).
pub(super) fn hour_bin_from(row: &impl super::rows::StoreRow) -> Result<HourBin, sqlx::Error> {
    Ok((
        (
            row.int("period")?,
            row.text("team")?,
            row.text("agent")?,
            row.text("channel")?,
            row.text("measure")?,
        ),
        (row.int32("bin")?, row.int("n")?),
    ))
}

/// A stored sketch value read back.
pub(super) fn stored_bins(bytes: Option<Vec<u8>>) -> Result<Vec<(i32, i64)>, StoreError> {
    match bytes {
        None => Ok(Vec::new()),
        Some(b) => crate::reports::levels::decode_bins(&b)
            .ok_or_else(|| StoreError::Corrupt("a report level's bins are unreadable".into())),
    }
}

/// A stored sketch with `add` merged in; a stored value that cannot be read (never written by
/// us) is logged and replaced rather than stopping every step of its team.
pub(super) fn merged_bins(
    stored: Option<&[u8]>,
    add: &std::collections::BTreeMap<i32, i64>,
) -> Vec<u8> {
    crate::reports::levels::merge_bins(stored, add).unwrap_or_else(|| {
        tracing::error!("a report level's stored bins are unreadable: replaced");
        crate::reports::levels::encode_bins(add)
    })
}

/// Whether a level row keeps a sketch (written after a read of the stored bins).
pub(super) fn is_time(measure: &str) -> bool {
    crate::reports::Measure::parse(measure).is_some_and(|m| m.is_time())
}
