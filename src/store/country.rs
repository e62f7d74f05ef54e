//! The stored `contacts.country` (the phone number's country, [`country_of`]): every write of a
//! contact's phone writes it (the writers' `put_contact`); contacts stored before the column
//! existed get theirs here, once, when the store opens.
//!
//! The migration that added the column left a cursor row in `contact_country_backfill` when
//! there were contacts with a phone. Opening the store walks them in customer order, a batch
//! per transaction, computing the country with the same Rust function the writers use (SQL
//! cannot: libphonenumber's metadata tells +1's countries apart by the number), and moves the
//! cursor with each batch, so a crash resumes where it stopped; the row goes when all are done
//! and later openings cost one read. A contact's row is only updated while its phone is still
//! the one read (a node already running may write it meanwhile, with its country). The cost is
//! measured in BENCHMARKS.md (segments).

use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, params};
use sqlx::PgConnection;

use super::sqlite_writer::engine;
use super::{ContactRecord, StoreError};
use crate::crm::contact::country_of;

/// The stored country of a contact: its phone number's.
pub(super) fn of(contact: &ContactRecord) -> Option<String> {
    contact.phone.as_deref().and_then(country_of)
}

/// Contacts per transaction.
const BATCH: usize = 10_000;

/// The country of each (customer, phone) that has one.
fn countries(rows: Vec<(String, String)>) -> Vec<(String, String, String)> {
    rows.into_iter()
        .filter_map(|(customer, phone)| {
            country_of(&phone).map(|country| (customer, phone, country))
        })
        .collect()
}

fn done(filled: usize, started: Instant) {
    tracing::info!(
        contacts = filled,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "contacts' countries filled from their phone numbers"
    );
}

/// Fill the countries the migration left to compute (SQLite, before the writer starts).
pub(super) fn backfill_sqlite(conn: &mut Connection) -> Result<(), StoreError> {
    let started = Instant::now();
    let mut filled = 0;
    loop {
        let tx = conn.transaction().map_err(engine)?;
        let Some(after) = tx
            .query_row("SELECT after FROM contact_country_backfill", [], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .map_err(engine)?
        else {
            break;
        };
        let rows: Vec<(String, String)> = tx
            .prepare_cached(
                "SELECT customer, phone FROM contacts
                 WHERE customer > ? AND phone IS NOT NULL ORDER BY customer LIMIT ?",
            )
            .and_then(|mut s| {
                s.query_map(params![after, BATCH as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .map_err(engine)?;
        let last = rows.last().map(|(customer, _)| customer.clone());
        let full = rows.len() == BATCH;
        {
            let mut update = tx
                .prepare_cached("UPDATE contacts SET country = ? WHERE customer = ? AND phone = ?")
                .map_err(engine)?;
            for (customer, phone, country) in countries(rows) {
                update
                    .execute(params![country, customer, phone])
                    .map_err(engine)?;
                filled += 1;
            }
        }
        match last.filter(|_| full) {
            Some(last) => tx.execute("UPDATE contact_country_backfill SET after = ?", [last]),
            None => tx.execute("DELETE FROM contact_country_backfill", []),
        }
        .map_err(engine)?;
        tx.commit().map_err(engine)?;
        if !full {
            done(filled, started);
            break;
        }
    }
    Ok(())
}

/// Fill the countries the migration left to compute (PostgreSQL, right after migrating; nodes
/// starting together may both work, writing the same countries).
pub(super) async fn backfill_postgres(conn: &mut PgConnection) -> Result<(), StoreError> {
    use sqlx::Connection as _;
    let started = Instant::now();
    let mut filled = 0;
    loop {
        let mut tx = conn.begin().await?;
        let Some(after): Option<String> =
            sqlx::query_scalar("SELECT after FROM contact_country_backfill LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?
        else {
            break;
        };
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT customer, phone FROM contacts
             WHERE customer > $1 AND phone IS NOT NULL ORDER BY customer LIMIT $2",
        )
        .bind(&after)
        .bind(BATCH as i64)
        .fetch_all(&mut *tx)
        .await?;
        let last = rows.last().map(|(customer, _)| customer.clone());
        let full = rows.len() == BATCH;
        let found = countries(rows);
        filled += found.len();
        let mut columns: [Vec<String>; 3] = Default::default();
        for (customer, phone, country) in found {
            columns[0].push(customer);
            columns[1].push(phone);
            columns[2].push(country);
        }
        let [customers, phones, countries] = columns;
        sqlx::query(
            "UPDATE contacts SET country = v.country
             FROM unnest($1::text[], $2::text[], $3::text[]) AS v(customer, phone, country)
             WHERE contacts.customer = v.customer AND contacts.phone = v.phone",
        )
        .bind(customers)
        .bind(phones)
        .bind(countries)
        .execute(&mut *tx)
        .await?;
        match last.filter(|_| full) {
            Some(last) => {
                sqlx::query("UPDATE contact_country_backfill SET after = $1")
                    .bind(last)
                    .execute(&mut *tx)
                    .await?
            }
            None => {
                sqlx::query("DELETE FROM contact_country_backfill")
                    .execute(&mut *tx)
                    .await?
            }
        };
        tx.commit().await?;
        if !full {
            done(filled, started);
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_numbers_with_a_country_are_written() {
        let rows = vec![
            ("a".to_string(), "34600000001".to_string()),
            ("b".to_string(), "123".to_string()),
            ("c".to_string(), "16135550123".to_string()),
        ];
        assert_eq!(
            super::countries(rows),
            vec![
                ("a".into(), "34600000001".into(), "ES".into()),
                ("c".into(), "16135550123".into(), "CA".into())
            ]
        );
    }
}
