//! The coarser report rollups (`src/reports/levels.rs`) of hourly rollups written before they
//! existed: folded once, when the store opens, by the same function the steps write them with.
//!
//! The migration that added `report_levels` left a row in `report_levels_backfill` when there
//! were hourly rollups. Opening the store then rebuilds every level from the hourly rows, a UTC
//! day at a time, in one transaction (a crash starts it again from nothing), and removes the
//! row. On PostgreSQL the transaction holds `report_levels` exclusively: a node already running
//! the new version waits to write its levels until the rebuild is done, and its steps that
//! committed before are counted once (in the hourly rows read by the rebuild). Nodes of the
//! previous version write no levels: upgrade them all together.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use rusqlite::{Connection, params};
use sqlx::{PgConnection, Row};

use super::StoreError;
use super::sqlite_writer::engine;
use crate::reports::Measure;
use crate::reports::levels::{DAY_MS, LevelDeltas, add_to_levels};

type HourRow = (i64, String, String, String, String);

/// One day's hourly rows (summed over channels) and their bins, folded into level deltas.
fn fold_day(counts: Vec<(HourRow, i64, i64)>, bins: Vec<(HourRow, i32, i64)>) -> LevelDeltas {
    let mut sketches: HashMap<HourRow, BTreeMap<i32, i64>> = HashMap::new();
    for (row, bin, n) in bins {
        *sketches.entry(row).or_default().entry(bin).or_default() += n;
    }
    let empty = BTreeMap::new();
    let mut out = LevelDeltas::new();
    crate::reports::levels::add_presence_of_all_teams(
        &mut out,
        counts.iter().filter_map(|(row, n, sum_ms)| {
            let m = Measure::parse(&row.4)?;
            Some((row.0, row.2.as_str(), m.as_str(), *n, *sum_ms))
        }),
    );
    for (row, n, sum_ms) in counts {
        let Some(m) = Measure::parse(&row.4) else {
            continue;
        };
        let bins = sketches.get(&row).unwrap_or(&empty);
        add_to_levels(
            &mut out,
            (row.0, &row.1, &row.2, &row.3, m.as_str()),
            (n, sum_ms, bins),
        );
    }
    out
}

const COUNTS_SQL: &str = "SELECT hour, team, agent, channel, measure, n, sum_ms
    FROM report_counts WHERE hour >= $1 AND hour < $2";
const BINS_SQL: &str = "SELECT hour, team, agent, channel, measure, bin, n
    FROM report_bins WHERE hour >= $1 AND hour < $2";

fn done(days: i64, started: Instant) {
    tracing::info!(
        days,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "report levels built from the hourly rollups"
    );
}

/// Build the levels if the migration asked for it (SQLite, before the writer starts).
pub(super) fn backfill_sqlite(conn: &mut Connection) -> Result<(), StoreError> {
    let pending: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM report_levels_backfill)",
            [],
            |r| r.get(0),
        )
        .map_err(engine)?;
    if !pending {
        return Ok(());
    }
    let started = Instant::now();
    let tx = conn.transaction().map_err(engine)?;
    tx.execute("DELETE FROM report_levels", [])
        .map_err(engine)?;
    let (lo, hi): (Option<i64>, Option<i64>) = tx
        .query_row("SELECT MIN(hour), MAX(hour) FROM report_counts", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(engine)?;
    let mut days = 0;
    if let (Some(lo), Some(hi)) = (lo, hi) {
        let mut day = lo.div_euclid(DAY_MS) * DAY_MS;
        while day <= hi {
            let end = day + DAY_MS;
            let counts = tx
                .prepare_cached(COUNTS_SQL)
                .and_then(|mut s| {
                    s.query_map(params![day, end], |r| {
                        Ok((
                            (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?),
                            r.get(5)?,
                            r.get(6)?,
                        ))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(engine)?;
            let bins = tx
                .prepare_cached(BINS_SQL)
                .and_then(|mut s| {
                    s.query_map(params![day, end], |r| {
                        Ok((
                            (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?),
                            r.get(5)?,
                            r.get(6)?,
                        ))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(engine)?;
            super::sqlite_reports::write_levels(&tx, fold_day(counts, bins))?;
            day = end;
            days += 1;
        }
    }
    tx.execute("DELETE FROM report_levels_backfill", [])
        .map_err(engine)?;
    tx.commit().map_err(engine)?;
    done(days, started);
    Ok(())
}

/// A row of [`COUNTS_SQL`] or [`BINS_SQL`] (PostgreSQL): the hourly row's key and two values.
fn hour_row<A, B>(r: &sqlx::postgres::PgRow) -> Result<(HourRow, A, B), sqlx::Error>
where
    A: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    B: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    Ok((
        (
            r.try_get(0)?,
            r.try_get(1)?,
            r.try_get(2)?,
            r.try_get(3)?,
            r.try_get(4)?,
        ),
        r.try_get(5)?,
        r.try_get(6)?,
    ))
}

/// Build the levels if the migration asked for it (PostgreSQL, when a node opens the store).
pub(super) async fn backfill_postgres(conn: &mut PgConnection) -> Result<(), StoreError> {
    let pending: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM report_levels_backfill)")
        .fetch_one(&mut *conn)
        .await?;
    if !pending {
        return Ok(());
    }
    let started = Instant::now();
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::query("LOCK TABLE report_levels IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    // Another node may have done it while this one waited for the lock.
    let pending: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM report_levels_backfill)")
        .fetch_one(&mut *tx)
        .await?;
    if !pending {
        tx.commit().await?;
        return Ok(());
    }
    sqlx::query("DELETE FROM report_levels")
        .execute(&mut *tx)
        .await?;
    let (lo, hi): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT MIN(hour), MAX(hour) FROM report_counts")
            .fetch_one(&mut *tx)
            .await?;
    let mut days = 0;
    if let (Some(lo), Some(hi)) = (lo, hi) {
        let mut day = lo.div_euclid(DAY_MS) * DAY_MS;
        while day <= hi {
            let end = day + DAY_MS;
            let counts = sqlx::query(COUNTS_SQL)
                .bind(day)
                .bind(end)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(hour_row)
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            let bins = sqlx::query(BINS_SQL)
                .bind(day)
                .bind(end)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(hour_row)
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            super::postgres_reports::write_levels(&mut tx, fold_day(counts, bins)).await?;
            day = end;
            days += 1;
        }
    }
    sqlx::query("DELETE FROM report_levels_backfill")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    done(days, started);
    Ok(())
}
