//! Saved segments and their members: the records (one SQL text for both databases, on a pool
//! of their own) and the counting, CEL deciding membership ([`super::segment`]).

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;

use super::segment::{Dialect, SegmentFilter, SqlValue, Translation};
use crate::store::side::SidePool;
use crate::store::{ContactListing, StoreError};

/// A saved segment.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
pub struct SegmentRow {
    pub id: String,
    pub name: String,
    pub filter: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The segments' records.
pub struct Segments {
    pool: SidePool,
}

/// What a write of a segment found.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    Done,
    /// Another segment has this name.
    NameTaken,
    /// No such segment.
    Missing,
}

const COLUMNS: &str = "id, name, filter, created_by, created_at, updated_at";
/// The contact columns [`crate::store::rows`] reads a listing from, the same text in both
/// databases (their JSON columns read back as text).
const CONTACT_COLUMNS: &str = "customer, name, phone, language, CAST(fields AS TEXT) AS fields,
    CAST(tags AS TEXT) AS tags, created_at, updated_at, last_inbound_at, conversations";

fn unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// Run `$body` with `$pool` bound to whichever database's pool `$side` holds.
macro_rules! with_pool {
    ($side:expr, $pool:ident => $body:expr) => {
        match $side {
            SidePool::Sqlite($pool) => $body,
            SidePool::Postgres($pool) => $body,
        }
    };
}

impl Segments {
    pub fn new(pool: SidePool) -> Self {
        Self { pool }
    }

    fn dialect(&self) -> Dialect {
        match self.pool {
            SidePool::Sqlite(_) => Dialect::Sqlite,
            SidePool::Postgres(_) => Dialect::Postgres,
        }
    }

    pub async fn create(&self, row: &SegmentRow) -> Result<Written, StoreError> {
        let sql = self.pool.sql(
            "INSERT INTO segments (id, name, filter, created_by, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        );
        let done = with_pool!(&self.pool, pool => {
            sqlx::query(sql)
                .bind(&row.id)
                .bind(&row.name)
                .bind(&row.filter)
                .bind(&row.created_by)
                .bind(row.created_at)
                .bind(row.updated_at)
                .execute(pool)
                .await
                .map(|_| ())
        });
        match done {
            Ok(()) => Ok(Written::Done),
            Err(e) if unique_violation(&e) => Ok(Written::NameTaken),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list(&self) -> Result<Vec<SegmentRow>, StoreError> {
        let sql = self
            .pool
            .sql(&format!("SELECT {COLUMNS} FROM segments ORDER BY name, id"));
        Ok(with_pool!(&self.pool, pool => sqlx::query_as(sql).fetch_all(pool).await?))
    }

    pub async fn get(&self, id: &str) -> Result<Option<SegmentRow>, StoreError> {
        let sql = self
            .pool
            .sql(&format!("SELECT {COLUMNS} FROM segments WHERE id = ?"));
        Ok(with_pool!(&self.pool, pool => {
            sqlx::query_as(sql).bind(id).fetch_optional(pool).await?
        }))
    }

    /// Write `row`'s name and filter (and its update time).
    pub async fn update(&self, row: &SegmentRow) -> Result<Written, StoreError> {
        let sql = self
            .pool
            .sql("UPDATE segments SET name = ?, filter = ?, updated_at = ? WHERE id = ?");
        let done = with_pool!(&self.pool, pool => {
            sqlx::query(sql)
                .bind(&row.name)
                .bind(&row.filter)
                .bind(row.updated_at)
                .bind(&row.id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        });
        match done {
            Ok(0) => Ok(Written::Missing),
            Ok(_) => Ok(Written::Done),
            Err(e) if unique_violation(&e) => Ok(Written::NameTaken),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let sql = self.pool.sql("DELETE FROM segments WHERE id = ?");
        Ok(with_pool!(&self.pool, pool => {
            sqlx::query(sql).bind(id).execute(pool).await?.rows_affected() > 0
        }))
    }

    /// How many contacts `filter` holds at `now`: counted by the database when the filter
    /// translates exactly, else its candidates one by one through CEL (streamed, never all in
    /// memory).
    pub async fn count(
        &self,
        filter: &SegmentFilter,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let translation = filter.translate(self.dialect(), now);
        if let Some(t) = translation.as_ref().filter(|t| t.exact) {
            let sql = self.pool.sql(&format!(
                "SELECT count(*) FROM contacts WHERE {}",
                t.condition
            ));
            let count: i64 = with_pool!(&self.pool, pool => {
                let mut query = sqlx::query_scalar(sql);
                for value in &t.values {
                    query = match value {
                        SqlValue::Text(v) => query.bind(v.clone()),
                        SqlValue::Int(v) => query.bind(*v),
                    };
                }
                query.fetch_one(pool).await?
            });
            return Ok(u64::try_from(count).unwrap_or(0));
        }
        let sql = self.pool.sql(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts WHERE {}",
            condition(translation.as_ref())
        ));
        let mut count = 0u64;
        with_pool!(&self.pool, pool => {
            let mut query = sqlx::query(sql);
            for value in translation.iter().flat_map(|t| &t.values) {
                query = match value {
                    SqlValue::Text(v) => query.bind(v.clone()),
                    SqlValue::Int(v) => query.bind(*v),
                };
            }
            let mut rows = query.fetch(pool);
            while let Some(row) = rows.try_next().await? {
                let listing = crate::store::rows::listing_from_row(&row)?;
                if filter.matches(&listing, now) {
                    count += 1;
                }
            }
        });
        Ok(count)
    }

    /// Up to `limit` members of `filter` at `now` after the contact id `after`, in id order;
    /// with the cursor of the next page when there may be one.
    pub async fn members(
        &self,
        filter: &SegmentFilter,
        now: DateTime<Utc>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ContactListing>, Option<String>), StoreError> {
        let translation = filter.translate(self.dialect(), now);
        let exact = translation.as_ref().is_some_and(|t| t.exact);
        // Exact: the database pages; else the candidates stream until the page is full.
        let sql = self.pool.sql(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts WHERE {} AND customer > ? ORDER BY customer{}",
            condition(translation.as_ref()),
            if exact { " LIMIT ?" } else { "" },
        ));
        let mut members = Vec::new();
        let mut more = false;
        with_pool!(&self.pool, pool => {
            let mut query = sqlx::query(sql);
            for value in translation.iter().flat_map(|t| &t.values) {
                query = match value {
                    SqlValue::Text(v) => query.bind(v.clone()),
                    SqlValue::Int(v) => query.bind(*v),
                };
            }
            query = query.bind(after.unwrap_or("").to_string());
            if exact {
                query = query.bind(i64::try_from(limit + 1).unwrap_or(i64::MAX));
            }
            let mut rows = query.fetch(pool);
            while let Some(row) = rows.try_next().await? {
                let listing = crate::store::rows::listing_from_row(&row)?;
                if !exact && !filter.matches(&listing, now) {
                    continue;
                }
                if members.len() == limit {
                    more = true;
                    break;
                }
                members.push(listing);
            }
        });
        let next = more
            .then(|| {
                members
                    .last()
                    .map(|l| l.contact.customer.as_str().to_string())
            })
            .flatten();
        Ok((members, next))
    }
}

/// The SQL condition of a translation (every contact without one).
fn condition(t: Option<&Translation>) -> &str {
    t.map_or("TRUE", |t| t.condition.as_str())
}
