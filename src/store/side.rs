//! Pools of their own on the store's database, for the rooms that keep their records beside
//! the store's and query them with one SQL text for both databases (`?` placeholders, numbered
//! for PostgreSQL by [`numbered`]).

use crate::config::DatabaseSettings;

use super::StoreError;

/// A pool on the store's database, whichever it is.
#[derive(Clone, Debug)]
pub enum SidePool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl SidePool {
    /// `connections` connections on the database `database` names (already migrated by the
    /// store).
    pub async fn open(database: &DatabaseSettings, connections: u32) -> Result<Self, StoreError> {
        let url = database.url.trim();
        Ok(
            if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                SidePool::Postgres(
                    sqlx::postgres::PgPoolOptions::new()
                        .max_connections(connections.max(1))
                        .acquire_timeout(database.connect_timeout())
                        .connect(url)
                        .await?,
                )
            } else {
                SidePool::Sqlite(
                    super::sqlite::side_pool_of(&database.sqlite_path(), connections).await?,
                )
            },
        )
    }

    /// The statement beginning a transaction that writes. On SQLite `BEGIN IMMEDIATE`: the
    /// write lock is taken at once, waiting for the store's writer like any statement (a
    /// deferred transaction that reads and then writes fails at once with "database is locked"
    /// when the store's writer committed in between).
    pub fn begin_write(&self) -> &'static str {
        match self {
            SidePool::Sqlite(_) => "BEGIN IMMEDIATE",
            SidePool::Postgres(_) => "BEGIN",
        }
    }

    /// `sql` written with `?` placeholders, as this database takes it.
    pub fn sql(&self, sql: &str) -> sqlx::AssertSqlSafe<String> {
        sqlx::AssertSqlSafe(match self {
            SidePool::Sqlite(_) => sql.to_owned(),
            SidePool::Postgres(_) => numbered(sql),
        })
    }
}

/// `?` placeholders numbered `$1…` for PostgreSQL (the statement must hold no other `?`).
pub fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(
            super::numbered("UPDATE t SET a = ?, b = ? WHERE id = ?"),
            "UPDATE t SET a = $1, b = $2 WHERE id = $3"
        );
    }
}
