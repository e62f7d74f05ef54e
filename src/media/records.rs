//! The `media` table (migrations `0008_media.sql` SQLite, `0007_media.sql` PostgreSQL, and
//! `source_url` from `0013`/`0012`): one row per provider media id (or per message, for media
//! the provider gave as a link), with its state (pending / ready / unavailable), the conversation it
//! belongs to (for the policy), and the name of its bytes in the media store.
//!
//! Media keep their own connections: SQLite through a one-connection sqlx pool on the store's
//! file (WAL; a write waits for the store's writer through `busy_timeout`), PostgreSQL through
//! a small pool. These writes are rare (one or two per media) and never on a webhook's path.

use async_trait::async_trait;
use serde::Serialize;

use crate::store::StoreError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaState {
    Pending,
    Ready,
    Unavailable,
}

impl MediaState {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaState::Pending => "pending",
            MediaState::Ready => "ready",
            MediaState::Unavailable => "unavailable",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "ready" => MediaState::Ready,
            "pending" => MediaState::Pending,
            _ => MediaState::Unavailable,
        }
    }
}

#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct MediaRow {
    pub id: String,
    pub conversation_id: String,
    pub message_id: Option<String>,
    pub channel: String,
    pub direction: String,
    pub kind: String,
    pub state: String,
    pub mime_type: Option<String>,
    pub expected_sha256: Option<String>,
    pub blob: Option<String>,
    pub size: Option<i64>,
    pub filename: Option<String>,
    /// Where the bytes are when the provider gave a link instead of a media id (Messenger,
    /// Instagram, X): downloaded from it, never past `media.url_hosts` (X's: `x.media_hosts`).
    pub source_url: Option<String>,
    pub attempts: i64,
    pub reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl MediaRow {
    pub fn state(&self) -> MediaState {
        MediaState::parse(&self.state)
    }

    /// What the console API shows of it.
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "state": self.state,
            "kind": self.kind,
            "direction": self.direction,
            "mime_type": self.mime_type,
            "size": self.size,
            "filename": self.filename,
            "reason": if self.state() == MediaState::Unavailable { self.reason.clone() } else { None },
        })
    }
}

/// An inbound media message that has no media row yet.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Discovered {
    pub message_id: String,
    pub conversation_id: String,
    pub channel: String,
    pub body: String,
}

/// How a download attempt ended.
#[derive(Clone, Debug)]
pub enum Finish {
    Ready {
        blob: String,
        size: i64,
        mime_type: Option<String>,
    },
    Retry {
        at_ms: i64,
        reason: String,
    },
    Unavailable {
        reason: String,
    },
}

#[async_trait]
pub trait MediaRecords: Send + Sync + 'static {
    async fn get(&self, id: &str) -> Result<Option<MediaRow>, StoreError>;
    /// Insert rows that are not there yet (by id); rows already there are left as they are.
    async fn insert(&self, rows: &[MediaRow], next_attempt_at: i64) -> Result<(), StoreError>;
    /// Inbound media messages stored since `since_ms` (their `updated_at`) without a media row.
    async fn discover(&self, since_ms: i64, limit: i64) -> Result<Vec<Discovered>, StoreError>;
    /// Take up to `limit` pending media due by `now`, that no node holds: count an attempt and
    /// hold them until `lease_until`.
    async fn claim_due(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<MediaRow>, StoreError>;
    async fn finish(&self, id: &str, finish: &Finish) -> Result<(), StoreError>;
}

/// The columns of [`MediaRow`], for `concat!` (static SQL only).
macro_rules! columns {
    () => {
        "id, conversation_id, message_id, channel, direction, kind, state, mime_type, \
         expected_sha256, blob, size, filename, source_url, attempts, reason, created_at, \
         updated_at"
    };
}

/// The media kinds of `messages.kind` (as in the partial index `messages_inbound_media`).
macro_rules! kinds {
    () => {
        "('image', 'audio', 'video', 'document', 'sticker')"
    };
}

pub struct SqliteMediaRecords {
    pool: sqlx::SqlitePool,
}

impl SqliteMediaRecords {
    /// A connection of its own to the store's file (already migrated by the store).
    pub async fn open(path: &std::path::Path) -> Result<Self, StoreError> {
        Ok(Self {
            pool: crate::store::sqlite::side_pool(path).await?,
        })
    }
}

#[async_trait]
impl MediaRecords for SqliteMediaRecords {
    async fn get(&self, id: &str) -> Result<Option<MediaRow>, StoreError> {
        Ok(
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM media WHERE id = ?"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn insert(&self, rows: &[MediaRow], next_attempt_at: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for r in rows {
            sqlx::query(concat!(
                "INSERT INTO media (",
                columns!(),
                ", next_attempt_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO NOTHING"
            ))
            .bind(&r.id)
            .bind(&r.conversation_id)
            .bind(&r.message_id)
            .bind(&r.channel)
            .bind(&r.direction)
            .bind(&r.kind)
            .bind(&r.state)
            .bind(&r.mime_type)
            .bind(&r.expected_sha256)
            .bind(&r.blob)
            .bind(r.size)
            .bind(&r.filename)
            .bind(&r.source_url)
            .bind(r.attempts)
            .bind(&r.reason)
            .bind(r.created_at)
            .bind(r.updated_at)
            .bind(next_attempt_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn discover(&self, since_ms: i64, limit: i64) -> Result<Vec<Discovered>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT m.id AS message_id, m.conversation_id, c.channel, m.body
             FROM messages m JOIN conversations c ON c.id = m.conversation_id
             WHERE m.direction = 'inbound' AND m.kind IN ",
            kinds!(),
            " AND m.updated_at >= ?
               AND NOT EXISTS (SELECT 1 FROM media x WHERE x.message_id = m.id)
             ORDER BY m.updated_at LIMIT ?"
        ))
        .bind(since_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn claim_due(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<MediaRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "UPDATE media SET lease_until = ?, attempts = attempts + 1, updated_at = ?
             WHERE id IN (SELECT id FROM media WHERE state = 'pending' AND next_attempt_at <= ?
                          AND lease_until <= ? ORDER BY next_attempt_at LIMIT ?)
             RETURNING ",
            columns!()
        ))
        .bind(lease_until)
        .bind(now)
        .bind(now)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn finish(&self, id: &str, finish: &Finish) -> Result<(), StoreError> {
        let now = chrono::Utc::now().timestamp_millis();
        let query = match finish {
            Finish::Ready {
                blob,
                size,
                mime_type,
            } => sqlx::query(
                "UPDATE media SET state = 'ready', blob = ?, size = ?,
                    mime_type = COALESCE(?, mime_type), reason = NULL, lease_until = 0,
                    updated_at = ? WHERE id = ?",
            )
            .bind(blob)
            .bind(size)
            .bind(mime_type)
            .bind(now)
            .bind(id),
            Finish::Retry { at_ms, reason } => sqlx::query(
                "UPDATE media SET next_attempt_at = ?, reason = ?, lease_until = 0, updated_at = ?
                 WHERE id = ? AND state = 'pending'",
            )
            .bind(at_ms)
            .bind(reason)
            .bind(now)
            .bind(id),
            Finish::Unavailable { reason } => sqlx::query(
                "UPDATE media SET state = 'unavailable', reason = ?, lease_until = 0,
                    updated_at = ? WHERE id = ? AND state = 'pending'",
            )
            .bind(reason)
            .bind(now)
            .bind(id),
        };
        query.execute(&self.pool).await?;
        Ok(())
    }
}

pub struct PgMediaRecords {
    pool: sqlx::PgPool,
}

impl PgMediaRecords {
    pub fn new(pool: sqlx::PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl MediaRecords for PgMediaRecords {
    async fn get(&self, id: &str) -> Result<Option<MediaRow>, StoreError> {
        Ok(
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM media WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn insert(&self, rows: &[MediaRow], next_attempt_at: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for r in rows {
            sqlx::query(concat!(
                "INSERT INTO media (",
                columns!(),
                ", next_attempt_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                         $18)
                 ON CONFLICT (id) DO NOTHING"
            ))
            .bind(&r.id)
            .bind(&r.conversation_id)
            .bind(&r.message_id)
            .bind(&r.channel)
            .bind(&r.direction)
            .bind(&r.kind)
            .bind(&r.state)
            .bind(&r.mime_type)
            .bind(&r.expected_sha256)
            .bind(&r.blob)
            .bind(r.size)
            .bind(&r.filename)
            .bind(&r.source_url)
            .bind(r.attempts)
            .bind(&r.reason)
            .bind(r.created_at)
            .bind(r.updated_at)
            .bind(next_attempt_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn discover(&self, since_ms: i64, limit: i64) -> Result<Vec<Discovered>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT m.id AS message_id, m.conversation_id, c.channel, m.body::text AS body
             FROM messages m JOIN conversations c ON c.id = m.conversation_id
             WHERE m.direction = 'inbound' AND m.kind IN ",
            kinds!(),
            " AND m.updated_at >= $1
               AND NOT EXISTS (SELECT 1 FROM media x WHERE x.message_id = m.id)
             ORDER BY m.updated_at LIMIT $2"
        ))
        .bind(since_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn claim_due(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<MediaRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "UPDATE media SET lease_until = $1, attempts = attempts + 1, updated_at = $2
             WHERE id IN (SELECT id FROM media WHERE state = 'pending' AND next_attempt_at <= $2
                          AND lease_until <= $2 ORDER BY next_attempt_at LIMIT $3
                          FOR UPDATE SKIP LOCKED)
             RETURNING ",
            columns!()
        ))
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn finish(&self, id: &str, finish: &Finish) -> Result<(), StoreError> {
        let now = chrono::Utc::now().timestamp_millis();
        let query = match finish {
            Finish::Ready {
                blob,
                size,
                mime_type,
            } => sqlx::query(
                "UPDATE media SET state = 'ready', blob = $1, size = $2,
                    mime_type = COALESCE($3, mime_type), reason = NULL, lease_until = 0,
                    updated_at = $4 WHERE id = $5",
            )
            .bind(blob)
            .bind(size)
            .bind(mime_type)
            .bind(now)
            .bind(id),
            Finish::Retry { at_ms, reason } => sqlx::query(
                "UPDATE media SET next_attempt_at = $1, reason = $2, lease_until = 0,
                    updated_at = $3 WHERE id = $4 AND state = 'pending'",
            )
            .bind(at_ms)
            .bind(reason)
            .bind(now)
            .bind(id),
            Finish::Unavailable { reason } => sqlx::query(
                "UPDATE media SET state = 'unavailable', reason = $1, lease_until = 0,
                    updated_at = $2 WHERE id = $3 AND state = 'pending'",
            )
            .bind(reason)
            .bind(now)
            .bind(id),
        };
        query.execute(&self.pool).await?;
        Ok(())
    }
}
