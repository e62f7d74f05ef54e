//! Reports in PostgreSQL: the writer's part of a conversation step (the report row and the
//! rollups, in the step's savepoint) and the reads.

use async_trait::async_trait;
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Row};

use super::postgres::{PostgresStore, text};
use super::reports::{
    LevelRead, LevelRow, PRESENCE_SAMPLER, REPORT_COLUMNS, REPORT_UPSERT, ReportPage, ReportStore,
    RollupQuery, attach_bins, facts, fold, hour_bin_from, is_time, level_deltas, level_row_from,
    level_sql, merged_bins, presence_measures_sql, report_from_row,
};
use super::{ConversationStep, StoreError};
use crate::reports::ConversationReport;
use crate::reports::advance;
use crate::reports::levels::LevelDeltas;
use crate::reports::summary::{RollupBin, RollupCount};

/// What the step adds to the reports, written in the step's savepoint after its fences (the
/// conversation row's version update also serializes the steps of one conversation, so its
/// report row is read and written by one transaction at a time). Rollup rows are upserted in
/// key order.
pub(super) async fn write_reports(
    conn: &mut PgConnection,
    step: &ConversationStep,
) -> Result<(), StoreError> {
    let Some(facts) = facts(step) else {
        return Ok(());
    };
    let prev = sqlx::query(AssertSqlSafe(format!(
        "SELECT {REPORT_COLUMNS} FROM conversation_reports WHERE conversation_id = $1"
    )))
    .bind(&facts.conversation.id)
    .fetch_optional(&mut *conn)
    .await?
    .map(|row| report_from_row(&row))
    .transpose()?;
    let (row, deltas) = advance(prev.as_ref(), &facts);
    if prev.as_ref() != Some(&row) {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO conversation_reports ({REPORT_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                $18, $19, $20)
             {REPORT_UPSERT}"
        )))
        .bind(text(&row.conversation_id))
        .bind(text(&row.channel))
        .bind(text(&row.team))
        .bind(text(&row.agent))
        .bind(&row.status)
        .bind(row.outcome.map(|o| o.as_str()))
        .bind(row.opened_at)
        .bind(row.first_handoff_at)
        .bind(row.queued_at)
        .bind(row.first_assigned_at)
        .bind(row.first_response_at)
        .bind(row.resolved_at)
        .bind(row.held_since)
        .bind(row.awaiting_since)
        .bind(row.wait_ms)
        .bind(row.handle_ms)
        .bind(row.replies)
        .bind(row.transfers)
        .bind(row.reopens)
        .bind(row.updated_at)
        .execute(&mut *conn)
        .await?;
    }
    add_rollups(conn, deltas).await
}

/// Add deltas to the rollups (count, sum and, for a time, its bins), rows in key order.
async fn add_rollups(
    conn: &mut PgConnection,
    deltas: Vec<crate::reports::Delta>,
) -> Result<(), StoreError> {
    let folded = fold(deltas);
    for ((hour, team, agent, channel, measure), (n, sum_ms, bins)) in &folded {
        sqlx::query(
            "INSERT INTO report_counts (hour, team, agent, channel, measure, n, sum_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (hour, team, agent, channel, measure) DO UPDATE SET
                n = report_counts.n + EXCLUDED.n, sum_ms = report_counts.sum_ms + EXCLUDED.sum_ms",
        )
        .bind(*hour)
        .bind(text(team))
        .bind(text(agent))
        .bind(text(channel))
        .bind(*measure)
        .bind(*n)
        .bind(*sum_ms)
        .execute(&mut *conn)
        .await?;
        for (bin, count) in bins {
            sqlx::query(
                "INSERT INTO report_bins (hour, team, agent, channel, measure, bin, n)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (hour, team, agent, channel, measure, bin) DO UPDATE SET
                    n = report_bins.n + EXCLUDED.n",
            )
            .bind(*hour)
            .bind(text(team))
            .bind(text(agent))
            .bind(text(channel))
            .bind(*measure)
            .bind(*bin)
            .bind(*count)
            .execute(&mut *conn)
            .await?;
        }
    }
    write_levels(conn, level_deltas(&folded)).await
}

/// Add to the coarser rollups in three statements whatever the step's size, rows in key order:
/// counts and sums with one upsert; the times' rows with another that returns their stored
/// sketches (and locks the rows until the transaction ends, so writers on other nodes wait),
/// then the merged sketches in one update.
pub(super) async fn write_levels(
    conn: &mut PgConnection,
    levels: LevelDeltas,
) -> Result<(), StoreError> {
    #[derive(Default)]
    struct Columns {
        level: Vec<&'static str>,
        period: Vec<i64>,
        team: Vec<String>,
        agent: Vec<String>,
        channel: Vec<String>,
        measure: Vec<&'static str>,
        n: Vec<i64>,
        sum_ms: Vec<i64>,
    }
    let (mut counts, mut times) = (Columns::default(), Columns::default());
    let mut added = std::collections::HashMap::new();
    for ((level, period, team, agent, channel, measure), (n, sum_ms, bins)) in levels {
        let c = if is_time(measure) {
            added.insert(
                (
                    level.as_str(),
                    period,
                    text(&team).into_owned(),
                    text(&agent).into_owned(),
                    text(&channel).into_owned(),
                    measure,
                ),
                bins,
            );
            &mut times
        } else {
            &mut counts
        };
        c.level.push(level.as_str());
        c.period.push(period);
        c.team.push(text(&team).into_owned());
        c.agent.push(text(&agent).into_owned());
        c.channel.push(text(&channel).into_owned());
        c.measure.push(measure);
        c.n.push(n);
        c.sum_ms.push(sum_ms);
    }
    let upsert = |c: Columns, returning: &'static str| {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO report_levels (level, period, team, agent, channel, measure, n, sum_ms)
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                $6::text[], $7::bigint[], $8::bigint[])
             ON CONFLICT (level, period, team, agent, channel, measure) DO UPDATE SET
                n = report_levels.n + EXCLUDED.n, sum_ms = report_levels.sum_ms + EXCLUDED.sum_ms
             {returning}"
        )))
        .bind(c.level)
        .bind(c.period)
        .bind(c.team)
        .bind(c.agent)
        .bind(c.channel)
        .bind(c.measure)
        .bind(c.n)
        .bind(c.sum_ms)
    };
    if !counts.level.is_empty() {
        upsert(counts, "").execute(&mut *conn).await?;
    }
    if times.level.is_empty() {
        return Ok(());
    }
    let stored = upsert(
        times,
        "RETURNING level, period, team, agent, channel, measure, bins",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut merged = Columns::default();
    let mut sketches: Vec<Vec<u8>> = Vec::with_capacity(stored.len());
    let empty = std::collections::BTreeMap::new();
    for row in &stored {
        let level: String = row.try_get("level")?;
        let Some(level) = crate::reports::levels::Level::ALL
            .into_iter()
            .find(|l| l.as_str() == level)
        else {
            continue;
        };
        let measure: String = row.try_get("measure")?;
        let Some(measure) = crate::reports::Measure::parse(&measure).map(|m| m.as_str()) else {
            continue;
        };
        let key = (
            level.as_str(),
            row.try_get::<i64, _>("period")?,
            row.try_get::<String, _>("team")?,
            row.try_get::<String, _>("agent")?,
            row.try_get::<String, _>("channel")?,
            measure,
        );
        let bins: Option<Vec<u8>> = row.try_get("bins")?;
        sketches.push(merged_bins(
            bins.as_deref(),
            added.get(&key).unwrap_or(&empty),
        ));
        merged.level.push(key.0);
        merged.period.push(key.1);
        merged.team.push(key.2);
        merged.agent.push(key.3);
        merged.channel.push(key.4);
        merged.measure.push(key.5);
    }
    sqlx::query(
        "UPDATE report_levels AS r SET bins = u.bins
         FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],
                $7::bytea[])
            AS u(level, period, team, agent, channel, measure, bins)
         WHERE r.level = u.level AND r.period = u.period AND r.team = u.team
            AND r.agent = u.agent AND r.channel = u.channel AND r.measure = u.measure",
    )
    .bind(merged.level)
    .bind(merged.period)
    .bind(merged.team)
    .bind(merged.agent)
    .bind(merged.channel)
    .bind(merged.measure)
    .bind(sketches)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// ` AND team = ANY($n)` for a team filter (nothing for None).
fn teams_clause(teams: &Option<Vec<String>>, n: usize) -> String {
    match teams {
        None => String::new(),
        Some(_) => format!(" AND team = ANY(${n})"),
    }
}

#[async_trait]
impl ReportStore for PostgresStore {
    async fn report_levels(
        &self,
        teams: &Option<Vec<String>>,
        agent: &Option<String>,
        reads: &[LevelRead],
    ) -> Result<Vec<Vec<LevelRow>>, StoreError> {
        let mut filter = teams_clause(teams, 1);
        if agent.is_some() {
            let n = if teams.is_some() { 2 } else { 1 };
            filter.push_str(&format!(" AND agent = ${n}"));
        }
        let bind = |sql: String| {
            let mut q = sqlx::query(AssertSqlSafe(sql));
            if let Some(t) = teams {
                q = q.bind(t.clone());
            }
            if let Some(a) = agent {
                q = q.bind(a.clone());
            }
            q
        };
        // One snapshot for every piece.
        let mut tx = self.reader.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
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
        let mut filter = format!("hour >= $1 AND hour < $2{}", teams_clause(&query.teams, 3));
        if query.agent.is_some() {
            let n = if query.teams.is_some() { 4 } else { 3 };
            filter.push_str(&format!(" AND agent = ${n}"));
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
        let bind = |sql: String| {
            let mut q = sqlx::query(AssertSqlSafe(sql))
                .bind(query.from)
                .bind(query.to);
            if let Some(t) = &query.teams {
                q = q.bind(t.clone());
            }
            if let Some(a) = &query.agent {
                q = q.bind(a.clone());
            }
            q
        };
        let counts = bind(counts_sql)
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
        let bins = bind(bins_sql)
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
        let mut tx = self.reader.begin().await?;
        let moved = sqlx::query(
            "INSERT INTO report_samples (sampler, at) VALUES ($1, $2)
             ON CONFLICT (sampler) DO UPDATE SET at = EXCLUDED.at
                WHERE report_samples.at < EXCLUDED.at",
        )
        .bind(PRESENCE_SAMPLER)
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        add_rollups(&mut tx, deltas).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn conversation_reports(
        &self,
        page: &ReportPage,
    ) -> Result<Vec<ConversationReport>, StoreError> {
        let mut sql = format!(
            "SELECT {REPORT_COLUMNS} FROM conversation_reports
             WHERE opened_at >= $1 AND opened_at < $2{}",
            teams_clause(&page.teams, 3)
        );
        let mut n = if page.teams.is_some() { 4 } else { 3 };
        if page.after.is_some() {
            sql.push_str(&format!(
                " AND (opened_at, conversation_id) > (${}, ${})",
                n,
                n + 1
            ));
            n += 2;
        }
        sql.push_str(&format!(" ORDER BY opened_at, conversation_id LIMIT ${n}"));
        let mut q = sqlx::query(AssertSqlSafe(sql))
            .bind(page.from)
            .bind(page.to);
        if let Some(t) = &page.teams {
            q = q.bind(t.clone());
        }
        if let Some((at, id)) = &page.after {
            q = q.bind(*at).bind(id.clone());
        }
        let rows = q.bind(page.limit).fetch_all(&self.reader).await?;
        Ok(rows
            .iter()
            .map(report_from_row)
            .collect::<Result<Vec<_>, sqlx::Error>>()?)
    }
}
