//! Reports in SQLite: the writer's part of a conversation step (the report row and the rollups,
//! with the step, after its fences) and the reads.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::{AssertSqlSafe, Row};

use super::reports::{
    LevelRead, LevelRow, PRESENCE_SAMPLER, REPORT_COLUMNS, REPORT_UPSERT, ReportPage, ReportStore,
    RollupQuery, attach_bins, facts, fold, hour_bin_from, is_time, level_deltas, level_row_from,
    level_sql, merged_bins, presence_measures_sql,
};
use super::sqlite::SqliteStore;
use super::sqlite_accounts_writer::{AccountDone, AccountWrite};
use super::sqlite_writer::engine;
use super::{ConversationStep, StoreError};
use crate::reports::levels::LevelDeltas;
use crate::reports::summary::{RollupBin, RollupCount};
use crate::reports::{ConversationReport, Outcome, advance};

fn read_report(conn: &Connection, id: &str) -> rusqlite::Result<Option<ConversationReport>> {
    conn.prepare_cached(&format!(
        "SELECT {REPORT_COLUMNS} FROM conversation_reports WHERE conversation_id = ?"
    ))?
    .query_row([id], |row| {
        Ok(ConversationReport {
            conversation_id: row.get(0)?,
            channel: row.get(1)?,
            team: row.get(2)?,
            agent: row.get(3)?,
            status: row.get(4)?,
            outcome: row
                .get::<_, Option<String>>(5)?
                .as_deref()
                .and_then(Outcome::parse),
            opened_at: row.get(6)?,
            first_handoff_at: row.get(7)?,
            queued_at: row.get(8)?,
            first_assigned_at: row.get(9)?,
            first_response_at: row.get(10)?,
            resolved_at: row.get(11)?,
            held_since: row.get(12)?,
            awaiting_since: row.get(13)?,
            wait_ms: row.get(14)?,
            handle_ms: row.get(15)?,
            replies: row.get(16)?,
            transfers: row.get(17)?,
            reopens: row.get(18)?,
            updated_at: row.get(19)?,
        })
    })
    .optional()
}

/// What the step adds to the reports, written with the step (after its fences: a
/// step that lost a race writes nothing, so nothing is ever counted twice).
pub(super) fn write_reports(conn: &Connection, step: &ConversationStep) -> Result<(), StoreError> {
    let Some(facts) = facts(step) else {
        return Ok(());
    };
    let prev = read_report(conn, &facts.conversation.id).map_err(engine)?;
    let (row, deltas) = advance(prev.as_ref(), &facts);
    if prev.as_ref() != Some(&row) {
        conn.prepare_cached(&format!(
            "INSERT INTO conversation_reports ({REPORT_COLUMNS})
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             {REPORT_UPSERT}"
        ))
        .and_then(|mut s| {
            s.execute(params![
                row.conversation_id,
                row.channel,
                row.team,
                row.agent,
                row.status,
                row.outcome.map(|o| o.as_str()),
                row.opened_at,
                row.first_handoff_at,
                row.queued_at,
                row.first_assigned_at,
                row.first_response_at,
                row.resolved_at,
                row.held_since,
                row.awaiting_since,
                row.wait_ms,
                row.handle_ms,
                row.replies,
                row.transfers,
                row.reopens,
                row.updated_at
            ])
        })
        .map_err(engine)?;
    }
    add_rollups(conn, deltas)
}

/// Add deltas to the rollups (count, sum and, for a time, its bins), hourly and coarser.
fn add_rollups(conn: &Connection, deltas: Vec<crate::reports::Delta>) -> Result<(), StoreError> {
    let folded = fold(deltas);
    for ((hour, team, agent, channel, measure), (n, sum_ms, bins)) in &folded {
        conn.prepare_cached(
            "INSERT INTO report_counts (hour, team, agent, channel, measure, n, sum_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (hour, team, agent, channel, measure) DO UPDATE SET
                n = report_counts.n + excluded.n, sum_ms = report_counts.sum_ms + excluded.sum_ms",
        )
        .and_then(|mut s| s.execute(params![hour, team, agent, channel, measure, n, sum_ms]))
        .map_err(engine)?;
        for (bin, count) in bins {
            conn.prepare_cached(
                "INSERT INTO report_bins (hour, team, agent, channel, measure, bin, n)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (hour, team, agent, channel, measure, bin) DO UPDATE SET
                    n = report_bins.n + excluded.n",
            )
            .and_then(|mut s| s.execute(params![hour, team, agent, channel, measure, bin, count]))
            .map_err(engine)?;
        }
    }
    write_levels(conn, level_deltas(&folded))
}

/// Add to the coarser rollups: counts and sums with an upsert; a time's sketch read, merged and
/// written back (the writer is the only one).
pub(super) fn write_levels(conn: &Connection, levels: LevelDeltas) -> Result<(), StoreError> {
    for ((level, period, team, agent, channel, measure), (n, sum_ms, bins)) in levels {
        let bins = if is_time(measure) {
            let stored: Option<Vec<u8>> = conn
                .prepare_cached(
                    "SELECT bins FROM report_levels WHERE level = ? AND period = ? AND team = ?
                        AND agent = ? AND channel = ? AND measure = ?",
                )
                .and_then(|mut s| {
                    s.query_row(
                        params![level.as_str(), period, team, agent, channel, measure],
                        |r| r.get::<_, Option<Vec<u8>>>(0),
                    )
                    .optional()
                })
                .map_err(engine)?
                .flatten();
            Some(merged_bins(stored.as_deref(), &bins))
        } else {
            None
        };
        conn.prepare_cached(
            "INSERT INTO report_levels
                (level, period, team, agent, channel, measure, n, sum_ms, bins)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (level, period, team, agent, channel, measure) DO UPDATE SET
                n = report_levels.n + excluded.n,
                sum_ms = report_levels.sum_ms + excluded.sum_ms,
                bins = COALESCE(excluded.bins, report_levels.bins)",
        )
        .and_then(|mut s| {
            s.execute(params![
                level.as_str(),
                period,
                team,
                agent,
                channel,
                measure,
                n,
                sum_ms,
                bins
            ])
        })
        .map_err(engine)?;
    }
    Ok(())
}

/// A reports write for the writer thread (as account writes, `AccountWrite::Reports`).
pub(super) enum ReportWrite {
    /// A presence sample: its instant and what it adds.
    PresenceSample(i64, Vec<crate::reports::Delta>),
}

/// Apply one reports write on the writer's connection (standing alone in its group): a sample whose
/// instant is not after the watermark writes nothing (`Flag(false)`).
pub(super) fn apply(conn: &Connection, write: &ReportWrite) -> Result<AccountDone, StoreError> {
    match write {
        ReportWrite::PresenceSample(at, deltas) => {
            let moved = conn
                .prepare_cached(
                    "INSERT INTO report_samples (sampler, at) VALUES (?, ?)
                     ON CONFLICT (sampler) DO UPDATE SET at = excluded.at
                        WHERE report_samples.at < excluded.at",
                )
                .and_then(|mut s| s.execute(params![PRESENCE_SAMPLER, at]))
                .map_err(engine)?;
            if moved == 0 {
                return Ok(AccountDone::Flag(false));
            }
            add_rollups(conn, deltas.clone())?;
            Ok(AccountDone::Flag(true))
        }
    }
}

/// `AND team IN (?, …)` for a team filter (nothing for None; never true for no team).
fn teams_clause(teams: &Option<Vec<String>>) -> String {
    match teams {
        None => String::new(),
        Some(t) if t.is_empty() => " AND 0".into(),
        Some(t) => format!(" AND team IN ({})", vec!["?"; t.len()].join(", ")),
    }
}

#[async_trait]
impl ReportStore for SqliteStore {
    async fn report_levels(
        &self,
        teams: &Option<Vec<String>>,
        agent: &Option<String>,
        reads: &[LevelRead],
    ) -> Result<Vec<Vec<LevelRow>>, StoreError> {
        let mut filter = teams_clause(teams);
        if agent.is_some() {
            filter.push_str(" AND agent = ?");
        }
        let bind = |sql: String| {
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for t in teams.iter().flatten() {
                q = q.bind(t.clone());
            }
            if let Some(a) = agent {
                q = q.bind(a.clone());
            }
            q
        };
        // One snapshot for every piece.
        let mut tx = self.reader.begin().await?;
        let mut out = Vec::with_capacity(reads.len());
        for read in reads {
            if read.periods.is_empty() {
                out.push(Vec::new());
                continue;
            }
            let (rows_sql, bins_sql) = level_sql(read, &filter);
            let mut rows = bind(rows_sql)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(level_row_from)
                .collect::<Result<Vec<_>, StoreError>>()?;
            if let Some(sql) = bins_sql {
                let bins = bind(sql)
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(hour_bin_from)
                    .collect::<Result<Vec<_>, sqlx::Error>>()?;
                attach_bins(&mut rows, bins);
            }
            out.push(rows);
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn report_rollups(
        &self,
        query: &RollupQuery,
    ) -> Result<(Vec<RollupCount>, Vec<RollupBin>), StoreError> {
        let (key, hour) = query.columns();
        let mut filter = format!("hour >= ? AND hour < ?{}", teams_clause(&query.teams));
        if query.agent.is_some() {
            filter.push_str(" AND agent = ?");
        }
        // Presence rows repeat an agent's figures under each of its teams: per agent and hour
        // the largest (the same, unless its teams changed within the hour), unless by team.
        let presence = presence_measures_sql();
        let counts_sql = format!(
            "SELECT k, h, measure, CAST(SUM(n) AS BIGINT) AS n, CAST(SUM(s) AS BIGINT) AS s
             FROM (
                SELECT {key} AS k, {hour} AS h, measure, n, sum_ms AS s FROM report_counts
                WHERE {filter} AND measure NOT IN ({presence})
                UNION ALL
                SELECT {key} AS k, {hour} AS h, measure, MAX(n) AS n, MAX(sum_ms) AS s
                FROM report_counts WHERE {filter} AND measure IN ({presence})
                GROUP BY 1, 2, 3, agent, hour
             ) AS t GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        );
        let bins_sql = format!(
            "SELECT {key} AS k, {hour} AS h, measure, bin, CAST(SUM(n) AS BIGINT) AS n
             FROM report_bins WHERE {filter} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
        );
        let bind = |sql: String, times: usize| {
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for _ in 0..times {
                q = q.bind(query.from).bind(query.to);
                for t in query.teams.iter().flatten() {
                    q = q.bind(t.clone());
                }
                if let Some(a) = &query.agent {
                    q = q.bind(a.clone());
                }
            }
            q
        };
        let counts = bind(counts_sql, 2)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(|r| {
                Ok(RollupCount {
                    key: r.try_get("k")?,
                    hour: r.try_get("h")?,
                    measure: r.try_get("measure")?,
                    n: r.try_get("n")?,
                    sum_ms: r.try_get("s")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let bins = bind(bins_sql, 1)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(|r| {
                Ok(RollupBin {
                    key: r.try_get("k")?,
                    hour: r.try_get("h")?,
                    measure: r.try_get("measure")?,
                    bin: r.try_get("bin")?,
                    n: r.try_get("n")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok((counts, bins))
    }

    async fn record_presence_sample(
        &self,
        at: i64,
        deltas: Vec<crate::reports::Delta>,
    ) -> Result<bool, StoreError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.writer
            .send_async(super::sqlite::WriteOp::Account(
                Box::new(AccountWrite::Reports(ReportWrite::PresenceSample(
                    at, deltas,
                ))),
                reply,
            ))
            .await
            .map_err(|_| StoreError::Unavailable)?;
        match rx
            .await
            .map_err(|_| StoreError::Unavailable)?
            .map_err(super::accounts_rows::store_error)?
        {
            AccountDone::Flag(recorded) => Ok(recorded),
            _ => Ok(false),
        }
    }

    async fn conversation_reports(
        &self,
        page: &ReportPage,
    ) -> Result<Vec<ConversationReport>, StoreError> {
        let mut sql = format!(
            "SELECT {REPORT_COLUMNS} FROM conversation_reports
             WHERE opened_at >= ? AND opened_at < ?{}",
            teams_clause(&page.teams)
        );
        if page.after.is_some() {
            sql.push_str(" AND (opened_at, conversation_id) > (?, ?)");
        }
        sql.push_str(" ORDER BY opened_at, conversation_id LIMIT ?");
        let mut q = sqlx::query(AssertSqlSafe(sql))
            .bind(page.from)
            .bind(page.to);
        for t in page.teams.iter().flatten() {
            q = q.bind(t.clone());
        }
        if let Some((at, id)) = &page.after {
            q = q.bind(*at).bind(id.clone());
        }
        let rows = q.bind(page.limit).fetch_all(&self.reader).await?;
        Ok(rows
            .iter()
            .map(super::reports::report_from_row)
            .collect::<Result<Vec<_>, sqlx::Error>>()?)
    }
}
