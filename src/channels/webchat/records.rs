//! The web chat's records (migrations `0012_webchat.sql` SQLite, `0011_webchat.sql`
//! PostgreSQL): the visitors (`webchat_visitors`, by the SHA-256 of their token), and the reads
//! the widget needs: a visitor's transcript after a sequence (the `messages` rows of the
//! customer's conversations, inbound and outbound only: never notes), and whose a file is.
//!
//! Like the media records, these keep their own connections: SQLite a one-connection pool on
//! the store's file (WAL; a write waits for the store's writer through `busy_timeout`),
//! PostgreSQL a small pool. A visitor is written when the session starts, when a form names
//! them, when used (at most once an hour: `last_seen_at`, from which their token lasts
//! `webchat.visitor_days`), and deleted once expired; everything else is a read.

use async_trait::async_trait;

use super::TranscriptRow;
use crate::store::StoreError;

/// A visitor of a webchat channel.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct Visitor {
    pub token_sha256: String,
    pub channel: String,
    pub visitor: String,
    pub customer: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
}

#[async_trait]
pub trait WebchatRecords: Send + Sync + 'static {
    async fn create_visitor(&self, visitor: &Visitor) -> Result<(), StoreError>;
    async fn visitor(&self, token_sha256: &str) -> Result<Option<Visitor>, StoreError>;
    /// Set the name and email a visitor gave (a pre-chat or offline form), keeping the old ones
    /// where none is given.
    async fn update_visitor(
        &self,
        token_sha256: &str,
        name: Option<&str>,
        email: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Record a visitor's use at `at` (unix ms): their token lasts from then.
    async fn touch_visitor(&self, token_sha256: &str, at: i64) -> Result<(), StoreError>;
    /// Delete the visitors last seen before `before` (unix ms): their tokens have expired.
    /// Their conversations and contacts stay (history).
    async fn prune_visitors(&self, before: i64) -> Result<u64, StoreError>;
    /// `customer`'s inbound and outbound messages with a sequence above `after`, in order.
    async fn transcript(
        &self,
        customer: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<TranscriptRow>, StoreError>;
    /// The customer whose conversation holds media `media_id`.
    async fn media_customer(&self, media_id: &str) -> Result<Option<String>, StoreError>;
}

macro_rules! visitor_columns {
    () => {
        "token_sha256, channel, visitor, customer, name, email, created_at, last_seen_at"
    };
}

pub struct SqliteWebchatRecords {
    pool: sqlx::SqlitePool,
}

impl SqliteWebchatRecords {
    /// A connection of its own to the store's file (already migrated by the store).
    pub async fn open(path: &std::path::Path) -> Result<Self, StoreError> {
        Ok(Self {
            pool: crate::store::sqlite::side_pool(path).await?,
        })
    }
}

#[async_trait]
impl WebchatRecords for SqliteWebchatRecords {
    async fn create_visitor(&self, v: &Visitor) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO webchat_visitors (",
            visitor_columns!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&v.token_sha256)
        .bind(&v.channel)
        .bind(&v.visitor)
        .bind(&v.customer)
        .bind(&v.name)
        .bind(&v.email)
        .bind(v.created_at)
        .bind(v.last_seen_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn visitor(&self, token_sha256: &str) -> Result<Option<Visitor>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            visitor_columns!(),
            " FROM webchat_visitors WHERE token_sha256 = ?"
        ))
        .bind(token_sha256)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn update_visitor(
        &self,
        token_sha256: &str,
        name: Option<&str>,
        email: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webchat_visitors SET name = COALESCE(?, name), email = COALESCE(?, email),
                last_seen_at = ? WHERE token_sha256 = ?",
        )
        .bind(name)
        .bind(email)
        .bind(chrono::Utc::now().timestamp_millis())
        .bind(token_sha256)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn touch_visitor(&self, token_sha256: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE webchat_visitors SET last_seen_at = ? WHERE token_sha256 = ?")
            .bind(at)
            .bind(token_sha256)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn prune_visitors(&self, before: i64) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM webchat_visitors WHERE last_seen_at < ?")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    async fn transcript(
        &self,
        customer: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<TranscriptRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT m.rowid AS seq, m.id, m.direction, m.sender, m.kind, m.body, m.provider_id, m.created_at
             FROM messages m JOIN conversations c ON c.id = m.conversation_id
             WHERE c.customer = ? AND m.direction IN ('inbound', 'outbound') AND m.rowid > ?
             ORDER BY m.rowid LIMIT ?",
        )
        .bind(customer)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn media_customer(&self, media_id: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT c.customer FROM media x JOIN conversations c ON c.id = x.conversation_id
             WHERE x.id = ?",
        )
        .bind(media_id)
        .fetch_optional(&self.pool)
        .await?)
    }
}

pub struct PgWebchatRecords {
    pool: sqlx::PgPool,
}

impl PgWebchatRecords {
    pub fn new(pool: sqlx::PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl WebchatRecords for PgWebchatRecords {
    async fn create_visitor(&self, v: &Visitor) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO webchat_visitors (",
            visitor_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&v.token_sha256)
        .bind(&v.channel)
        .bind(&v.visitor)
        .bind(&v.customer)
        .bind(&v.name)
        .bind(&v.email)
        .bind(v.created_at)
        .bind(v.last_seen_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn visitor(&self, token_sha256: &str) -> Result<Option<Visitor>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            visitor_columns!(),
            " FROM webchat_visitors WHERE token_sha256 = $1"
        ))
        .bind(token_sha256)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn update_visitor(
        &self,
        token_sha256: &str,
        name: Option<&str>,
        email: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webchat_visitors SET name = COALESCE($1, name), email = COALESCE($2, email),
                last_seen_at = $3 WHERE token_sha256 = $4",
        )
        .bind(name)
        .bind(email)
        .bind(chrono::Utc::now().timestamp_millis())
        .bind(token_sha256)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn touch_visitor(&self, token_sha256: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE webchat_visitors SET last_seen_at = $1 WHERE token_sha256 = $2")
            .bind(at)
            .bind(token_sha256)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn prune_visitors(&self, before: i64) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM webchat_visitors WHERE last_seen_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    async fn transcript(
        &self,
        customer: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<TranscriptRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT m.rowid AS seq, m.id, m.direction, m.sender, m.kind, m.body::text AS body,
                    m.provider_id, m.created_at
             FROM messages m JOIN conversations c ON c.id = m.conversation_id
             WHERE c.customer = $1 AND m.direction IN ('inbound', 'outbound') AND m.rowid > $2
             ORDER BY m.rowid LIMIT $3",
        )
        .bind(customer)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn media_customer(&self, media_id: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT c.customer FROM media x JOIN conversations c ON c.id = x.conversation_id
             WHERE x.id = $1",
        )
        .bind(media_id)
        .fetch_optional(&self.pool)
        .await?)
    }
}

/// The records of this mode: PostgreSQL when the store is PostgreSQL, else the SQLite file.
pub async fn open(
    settings: &crate::config::Settings,
) -> anyhow::Result<std::sync::Arc<dyn WebchatRecords>> {
    let url = settings.database.url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(settings.database.connect_timeout())
            .connect(url)
            .await?;
        return Ok(std::sync::Arc::new(PgWebchatRecords::new(pool)));
    }
    Ok(std::sync::Arc::new(
        SqliteWebchatRecords::open(&settings.database.sqlite_path()).await?,
    ))
}
