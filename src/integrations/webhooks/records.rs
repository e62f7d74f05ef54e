//! The webhook tables (migrations `0016_event_webhooks.sql` SQLite, `0015_event_webhooks.sql`
//! PostgreSQL): endpoints, the outbox (`webhook_events`, written by conversation steps through
//! the store) and the deliveries with their log.
//!
//! Like media, webhooks keep their own connections (SQLite: one connection on the store's file,
//! waiting for the store's writer through `busy_timeout`, transactions begun `IMMEDIATE`;
//! PostgreSQL: a small pool). Both implementations share their SQL (written with `?`, numbered
//! for PostgreSQL); they differ only where the databases do: PostgreSQL claims rows with
//! `FOR UPDATE SKIP LOCKED` and fans out under an advisory lock, so several nodes deliver and
//! never two the same delivery at once, and one node at a time turns the outbox into deliveries
//! (which keeps each conversation's order).

use async_trait::async_trait;
use serde::Serialize;
use sqlx::AssertSqlSafe;

use super::events::{EventFacts, Subscription, wants};
use crate::store::StoreError;

#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct EndpointRow {
    pub id: String,
    pub url: String,
    /// JSON array of event types.
    pub events: String,
    pub team: Option<String>,
    pub channel: Option<String>,
    pub description: Option<String>,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<i64>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl EndpointRow {
    pub fn event_types(&self) -> Vec<String> {
        serde_json::from_str(&self.events).unwrap_or_default()
    }

    pub fn subscription(&self) -> Subscription {
        Subscription {
            events: self.event_types(),
            team: self.team.clone(),
            channel: self.channel.clone(),
        }
    }

    /// The secrets that sign at `now`: the current one, and the previous one during its grace.
    pub fn signing_secrets(&self, now: i64) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(previous), Some(until)) = (&self.previous_secret, self.previous_secret_until)
            && until > now
        {
            secrets.push(previous);
        }
        secrets
    }

    /// What admins see (never a secret).
    pub fn view(&self, now: i64) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "url": self.url,
            "events": self.event_types(),
            "team": self.team,
            "channel": self.channel,
            "description": self.description,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "failing_since": self.failing_since,
            "previous_secret_expires_at": self.previous_secret_until.filter(|u| *u > now),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_seq: i64,
    pub kind: String,
    pub conversation_key: String,
    #[serde(skip)]
    pub payload: String,
    pub replay_of: Option<String>,
    /// pending, delivered, failed
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    #[serde(skip)]
    pub lease_until: Option<i64>,
    pub response_status: Option<i64>,
    pub latency_ms: Option<i64>,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub delivered_at: Option<i64>,
}

impl DeliveryRow {
    /// What the delivery log shows.
    pub fn view(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["type"] = serde_json::Value::String(self.kind.clone());
        v["next_attempt_at"] = match self.state.as_str() {
            "pending" => self.next_attempt_at.into(),
            _ => serde_json::Value::Null,
        };
        v
    }
}

/// Where an attempt leaves its delivery.
#[derive(Clone, Debug, PartialEq)]
pub enum DeliveryState {
    Pending { next_attempt_at: i64 },
    Delivered,
    Failed,
}

/// What an attempt does to its endpoint.
#[derive(Clone, Debug, PartialEq)]
pub enum EndpointEffect {
    /// Answered 2xx: not failing any more.
    Succeeded,
    /// Failed: failing since now, unless it already was.
    Failing,
    /// Disabled, with the reason.
    Disable(String),
}

/// An attempt's result, written at once.
#[derive(Clone, Debug, PartialEq)]
pub struct Finish {
    pub delivery: String,
    pub endpoint: String,
    pub state: DeliveryState,
    pub response_status: Option<i64>,
    pub latency_ms: Option<i64>,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    pub effect: EndpointEffect,
    pub now: i64,
}

/// A page of the delivery log ends here: the last row's `created_at` and id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogCursor {
    pub created_at: i64,
    pub id: String,
}

impl LogCursor {
    pub fn encode(&self) -> String {
        format!("{}~{}", self.created_at, self.id)
    }

    pub fn decode(s: &str) -> Option<Self> {
        let (at, id) = s.split_once('~')?;
        Some(Self {
            created_at: at.parse().ok()?,
            id: (!id.is_empty() && id.len() <= 128).then(|| id.to_owned())?,
        })
    }
}

#[async_trait]
pub trait WebhookRecords: Send + Sync + 'static {
    async fn insert_endpoint(&self, e: &EndpointRow) -> Result<(), StoreError>;
    async fn endpoints(&self) -> Result<Vec<EndpointRow>, StoreError>;
    async fn endpoint(&self, id: &str) -> Result<Option<EndpointRow>, StoreError>;
    /// Write every field of `e` but its id and creation time; false when there is no such
    /// endpoint.
    async fn update_endpoint(&self, e: &EndpointRow) -> Result<bool, StoreError>;
    /// Delete it and its deliveries; false when there is no such endpoint.
    async fn delete_endpoint(&self, id: &str) -> Result<bool, StoreError>;
    /// Turn up to `limit` outbox events, oldest first, into pending deliveries to the enabled
    /// endpoints that want them, and delete them from the outbox; how many events were taken.
    async fn fan_out(&self, now: i64, limit: i64) -> Result<usize, StoreError>;
    /// Take up to `limit` pending deliveries due by `now`, of enabled endpoints, that no node
    /// holds and that no earlier delivery of the same conversation to the same endpoint is
    /// still waiting for (replays excepted): count an attempt, hold them until `lease_until`.
    async fn claim_due(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError>;
    async fn finish(&self, finish: &Finish) -> Result<(), StoreError>;
    /// An endpoint's deliveries, newest first, after `before` (a page's end).
    async fn deliveries(
        &self,
        endpoint: &str,
        before: Option<&LogCursor>,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError>;
    async fn delivery(&self, endpoint: &str, id: &str) -> Result<Option<DeliveryRow>, StoreError>;
    /// Queue one delivery again (a new delivery of the same event, out of the live order): the
    /// new delivery's id, None when there is no such delivery.
    async fn replay(
        &self,
        endpoint: &str,
        delivery: &str,
        now: i64,
    ) -> Result<Option<String>, StoreError>;
    /// Queue again every delivery (not itself a replay) created in `[from, to)`, only the failed
    /// ones with `failed_only`, at most `limit`: how many.
    async fn replay_range(
        &self,
        endpoint: &str,
        from: i64,
        to: i64,
        failed_only: bool,
        now: i64,
        limit: i64,
    ) -> Result<u64, StoreError>;
    /// Retention: delete finished deliveries last changed before `before`.
    async fn prune(&self, before: i64) -> Result<u64, StoreError>;
}

/// The columns of [`EndpointRow`].
macro_rules! endpoint_columns {
    () => {
        "id, url, events, team, channel, description, secret, previous_secret, \
         previous_secret_until, enabled, disabled_reason, failing_since, created_at, updated_at"
    };
}

/// The columns of [`DeliveryRow`].
macro_rules! delivery_columns {
    () => {
        "id, endpoint_id, event_id, event_seq, kind, conversation_key, payload, replay_of, \
         state, attempts, next_attempt_at, lease_until, response_status, latency_ms, \
         response_excerpt, error, created_at, updated_at, delivered_at"
    };
}

const INSERT_ENDPOINT: &str = concat!(
    "INSERT INTO webhook_endpoints (",
    endpoint_columns!(),
    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
);
const ENDPOINTS: &str = concat!(
    "SELECT ",
    endpoint_columns!(),
    " FROM webhook_endpoints ORDER BY created_at, id"
);
const ENDPOINT: &str = concat!(
    "SELECT ",
    endpoint_columns!(),
    " FROM webhook_endpoints WHERE id = ?"
);
const UPDATE_ENDPOINT: &str = "UPDATE webhook_endpoints SET url = ?, events = ?, team = ?,
    channel = ?, description = ?, secret = ?, previous_secret = ?, previous_secret_until = ?,
    enabled = ?, disabled_reason = ?, failing_since = ?, updated_at = ? WHERE id = ?";
const DELETE_DELIVERIES_OF: &str = "DELETE FROM webhook_deliveries WHERE endpoint_id = ?";
const DELETE_ENDPOINT: &str = "DELETE FROM webhook_endpoints WHERE id = ?";
const OUTBOX: &str = "SELECT seq, id, kind, conversation_key, team, channel, payload
    FROM webhook_events ORDER BY seq LIMIT ?";
const SUBSCRIBERS: &str =
    "SELECT id, events, team, channel FROM webhook_endpoints WHERE enabled ORDER BY id";
const INSERT_DELIVERY: &str = "INSERT INTO webhook_deliveries (id, endpoint_id, event_id,
    event_seq, kind, conversation_key, payload, state, attempts, next_attempt_at, created_at,
    updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)";
const DELETE_EVENT: &str = "DELETE FROM webhook_events WHERE seq = ?";
/// Due, free, of an enabled endpoint, first of its conversation for its endpoint.
macro_rules! claimable {
    () => {
        "SELECT d.id FROM webhook_deliveries d
         JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE e.enabled AND d.state = 'pending' AND d.next_attempt_at <= ?
           AND (d.lease_until IS NULL OR d.lease_until <= ?)
           AND (d.replay_of IS NOT NULL OR NOT EXISTS (
                SELECT 1 FROM webhook_deliveries p
                WHERE p.endpoint_id = d.endpoint_id AND p.conversation_key = d.conversation_key
                  AND p.state = 'pending' AND p.replay_of IS NULL
                  AND p.event_seq < d.event_seq))
         ORDER BY d.next_attempt_at, d.event_seq LIMIT ?"
    };
}
const CLAIM_SQLITE: &str = concat!(
    "UPDATE webhook_deliveries SET lease_until = ?, attempts = attempts + 1, updated_at = ?
     WHERE id IN (",
    claimable!(),
    ") RETURNING ",
    delivery_columns!()
);
const CLAIM_PG: &str = concat!(
    "UPDATE webhook_deliveries SET lease_until = ?, attempts = attempts + 1, updated_at = ?
     WHERE id IN (",
    claimable!(),
    " FOR UPDATE OF d SKIP LOCKED) RETURNING ",
    delivery_columns!()
);
const FINISH_DELIVERY: &str = "UPDATE webhook_deliveries SET state = ?, next_attempt_at = ?,
    lease_until = NULL, response_status = ?, latency_ms = ?, response_excerpt = ?, error = ?,
    updated_at = ?, delivered_at = ? WHERE id = ?";
const ENDPOINT_SUCCEEDED: &str =
    "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL";
const ENDPOINT_FAILING: &str =
    "UPDATE webhook_endpoints SET failing_since = ? WHERE id = ? AND failing_since IS NULL";
const ENDPOINT_DISABLE: &str = "UPDATE webhook_endpoints SET enabled = FALSE,
    disabled_reason = ?, failing_since = COALESCE(failing_since, ?), updated_at = ? WHERE id = ?";
const DELIVERIES: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM webhook_deliveries WHERE endpoint_id = ?
      AND (created_at < ? OR (created_at = ? AND id < ?))
      ORDER BY created_at DESC, id DESC LIMIT ?"
);
const DELIVERY: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM webhook_deliveries WHERE endpoint_id = ? AND id = ?"
);
const REPLAY: &str = "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_seq, kind,
    conversation_key, payload, replay_of, state, attempts, next_attempt_at, created_at,
    updated_at)
    SELECT ?, endpoint_id, event_id, event_seq, kind, conversation_key, payload,
           COALESCE(replay_of, id), 'pending', 0, ?, ?, ?
    FROM webhook_deliveries WHERE endpoint_id = ? AND id = ?";
const IN_RANGE: &str = "SELECT id FROM webhook_deliveries
    WHERE endpoint_id = ? AND replay_of IS NULL AND created_at >= ? AND created_at < ?
      AND (state = 'failed' OR NOT ?)
    ORDER BY created_at, id LIMIT ?";
/// Cheap reads first, so an idle lane never takes SQLite's write lock (which the store's
/// writer would then wait for).
const ANY_OUTBOX: &str = "SELECT seq FROM webhook_events LIMIT 1";
const ANY_DUE: &str = "SELECT next_attempt_at FROM webhook_deliveries
    WHERE state = 'pending' AND next_attempt_at <= ?
      AND (lease_until IS NULL OR lease_until <= ?) LIMIT 1";
const PRUNE: &str = "DELETE FROM webhook_deliveries WHERE state <> 'pending' AND updated_at < ?";

/// `?` placeholders numbered `$1…` for PostgreSQL (the statements above hold no `?` otherwise).
pub(crate) fn numbered(sql: &str) -> String {
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

/// A new delivery id.
pub fn new_delivery_id() -> String {
    format!("dlv_{}", uuid::Uuid::now_v7().simple())
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    seq: i64,
    id: String,
    kind: String,
    conversation_key: String,
    team: Option<String>,
    channel: Option<String>,
    payload: String,
}

#[derive(sqlx::FromRow)]
struct Subscriber {
    id: String,
    events: String,
    team: Option<String>,
    channel: Option<String>,
}

/// One implementation over either pool: `$pg` picks PostgreSQL's numbered placeholders, its
/// claim and its fan-out lock.
macro_rules! records_impl {
    ($ty:ty, $pg:expr, $begin:expr) => {
        impl $ty {
            fn sql(sql: &'static str) -> AssertSqlSafe<String> {
                AssertSqlSafe(if $pg { numbered(sql) } else { sql.to_owned() })
            }
        }

        #[async_trait]
        impl WebhookRecords for $ty {
            async fn insert_endpoint(&self, e: &EndpointRow) -> Result<(), StoreError> {
                sqlx::query(Self::sql(INSERT_ENDPOINT))
                    .bind(&e.id)
                    .bind(&e.url)
                    .bind(&e.events)
                    .bind(&e.team)
                    .bind(&e.channel)
                    .bind(&e.description)
                    .bind(&e.secret)
                    .bind(&e.previous_secret)
                    .bind(e.previous_secret_until)
                    .bind(e.enabled)
                    .bind(&e.disabled_reason)
                    .bind(e.failing_since)
                    .bind(e.created_at)
                    .bind(e.updated_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn endpoints(&self) -> Result<Vec<EndpointRow>, StoreError> {
                Ok(sqlx::query_as(Self::sql(ENDPOINTS))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn endpoint(&self, id: &str) -> Result<Option<EndpointRow>, StoreError> {
                Ok(sqlx::query_as(Self::sql(ENDPOINT))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn update_endpoint(&self, e: &EndpointRow) -> Result<bool, StoreError> {
                let done = sqlx::query(Self::sql(UPDATE_ENDPOINT))
                    .bind(&e.url)
                    .bind(&e.events)
                    .bind(&e.team)
                    .bind(&e.channel)
                    .bind(&e.description)
                    .bind(&e.secret)
                    .bind(&e.previous_secret)
                    .bind(e.previous_secret_until)
                    .bind(e.enabled)
                    .bind(&e.disabled_reason)
                    .bind(e.failing_since)
                    .bind(e.updated_at)
                    .bind(&e.id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_endpoint(&self, id: &str) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin_with($begin).await?;
                sqlx::query(Self::sql(DELETE_DELIVERIES_OF))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let done = sqlx::query(Self::sql(DELETE_ENDPOINT))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }

            async fn fan_out(&self, now: i64, limit: i64) -> Result<usize, StoreError> {
                let any: Option<(i64,)> = sqlx::query_as(Self::sql(ANY_OUTBOX))
                    .fetch_optional(&self.pool)
                    .await?;
                if any.is_none() {
                    return Ok(0);
                }
                let mut tx = self.pool.begin_with($begin).await?;
                if $pg {
                    // One node at a time turns the outbox into deliveries: a conversation's
                    // events become deliveries in their order.
                    let (locked,): (bool,) =
                        sqlx::query_as("SELECT pg_try_advisory_xact_lock(1919191919)")
                            .fetch_one(&mut *tx)
                            .await?;
                    if !locked {
                        return Ok(0);
                    }
                }
                let events: Vec<OutboxRow> = sqlx::query_as(Self::sql(OUTBOX))
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                if events.is_empty() {
                    return Ok(0);
                }
                let subscribers: Vec<(Subscriber, Subscription)> =
                    sqlx::query_as::<_, Subscriber>(Self::sql(SUBSCRIBERS))
                        .fetch_all(&mut *tx)
                        .await?
                        .into_iter()
                        .map(|s| {
                            let subscription = Subscription {
                                events: serde_json::from_str(&s.events).unwrap_or_default(),
                                team: s.team.clone(),
                                channel: s.channel.clone(),
                            };
                            (s, subscription)
                        })
                        .collect();
                for event in &events {
                    let facts = EventFacts {
                        kind: &event.kind,
                        team: event.team.as_deref(),
                        channel: event.channel.as_deref().unwrap_or_default(),
                    };
                    for (subscriber, subscription) in &subscribers {
                        if !wants(subscription, facts) {
                            continue;
                        }
                        sqlx::query(Self::sql(INSERT_DELIVERY))
                            .bind(new_delivery_id())
                            .bind(&subscriber.id)
                            .bind(&event.id)
                            .bind(event.seq)
                            .bind(&event.kind)
                            .bind(&event.conversation_key)
                            .bind(&event.payload)
                            .bind(now)
                            .bind(now)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                    }
                    sqlx::query(Self::sql(DELETE_EVENT))
                        .bind(event.seq)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(events.len())
            }

            async fn claim_due(
                &self,
                now: i64,
                lease_until: i64,
                limit: i64,
            ) -> Result<Vec<DeliveryRow>, StoreError> {
                let any: Option<(i64,)> = sqlx::query_as(Self::sql(ANY_DUE))
                    .bind(now)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?;
                if any.is_none() {
                    return Ok(Vec::new());
                }
                let claim = if $pg { CLAIM_PG } else { CLAIM_SQLITE };
                let mut rows: Vec<DeliveryRow> = sqlx::query_as(Self::sql(claim))
                    .bind(lease_until)
                    .bind(now)
                    .bind(now)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.sort_by_key(|r| (r.next_attempt_at, r.event_seq));
                Ok(rows)
            }

            async fn finish(&self, f: &Finish) -> Result<(), StoreError> {
                let (state, next_at, delivered_at) = match f.state {
                    DeliveryState::Pending { next_attempt_at } => {
                        ("pending", next_attempt_at, None)
                    }
                    DeliveryState::Delivered => ("delivered", f.now, Some(f.now)),
                    DeliveryState::Failed => ("failed", f.now, None),
                };
                let mut tx = self.pool.begin_with($begin).await?;
                sqlx::query(Self::sql(FINISH_DELIVERY))
                    .bind(state)
                    .bind(next_at)
                    .bind(f.response_status)
                    .bind(f.latency_ms)
                    .bind(&f.response_excerpt)
                    .bind(&f.error)
                    .bind(f.now)
                    .bind(delivered_at)
                    .bind(&f.delivery)
                    .execute(&mut *tx)
                    .await?;
                match &f.effect {
                    EndpointEffect::Succeeded => {
                        sqlx::query(Self::sql(ENDPOINT_SUCCEEDED))
                            .bind(&f.endpoint)
                            .execute(&mut *tx)
                            .await?;
                    }
                    EndpointEffect::Failing => {
                        sqlx::query(Self::sql(ENDPOINT_FAILING))
                            .bind(f.now)
                            .bind(&f.endpoint)
                            .execute(&mut *tx)
                            .await?;
                    }
                    EndpointEffect::Disable(reason) => {
                        sqlx::query(Self::sql(ENDPOINT_DISABLE))
                            .bind(reason)
                            .bind(f.now)
                            .bind(f.now)
                            .bind(&f.endpoint)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn deliveries(
                &self,
                endpoint: &str,
                before: Option<&LogCursor>,
                limit: i64,
            ) -> Result<Vec<DeliveryRow>, StoreError> {
                let (at, id) = before.map_or((i64::MAX, "~"), |c| (c.created_at, c.id.as_str()));
                Ok(sqlx::query_as(Self::sql(DELIVERIES))
                    .bind(endpoint)
                    .bind(at)
                    .bind(at)
                    .bind(id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn delivery(
                &self,
                endpoint: &str,
                id: &str,
            ) -> Result<Option<DeliveryRow>, StoreError> {
                Ok(sqlx::query_as(Self::sql(DELIVERY))
                    .bind(endpoint)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn replay(
                &self,
                endpoint: &str,
                delivery: &str,
                now: i64,
            ) -> Result<Option<String>, StoreError> {
                let id = new_delivery_id();
                let done = sqlx::query(Self::sql(REPLAY))
                    .bind(&id)
                    .bind(now)
                    .bind(now)
                    .bind(now)
                    .bind(endpoint)
                    .bind(delivery)
                    .execute(&self.pool)
                    .await?;
                Ok((done.rows_affected() > 0).then_some(id))
            }

            async fn replay_range(
                &self,
                endpoint: &str,
                from: i64,
                to: i64,
                failed_only: bool,
                now: i64,
                limit: i64,
            ) -> Result<u64, StoreError> {
                let mut tx = self.pool.begin_with($begin).await?;
                let ids: Vec<(String,)> = sqlx::query_as(Self::sql(IN_RANGE))
                    .bind(endpoint)
                    .bind(from)
                    .bind(to)
                    .bind(failed_only)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                for (original,) in &ids {
                    sqlx::query(Self::sql(REPLAY))
                        .bind(new_delivery_id())
                        .bind(now)
                        .bind(now)
                        .bind(now)
                        .bind(endpoint)
                        .bind(original)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(ids.len() as u64)
            }

            async fn prune(&self, before: i64) -> Result<u64, StoreError> {
                Ok(sqlx::query(Self::sql(PRUNE))
                    .bind(before)
                    .execute(&self.pool)
                    .await?
                    .rows_affected())
            }
        }
    };
}

/// The records of the store `database` names: PostgreSQL's (a small pool of their own) or the
/// SQLite file's.
pub async fn open(
    database: &crate::config::DatabaseSettings,
) -> Result<std::sync::Arc<dyn WebhookRecords>, StoreError> {
    let url = database.url.trim();
    Ok(
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(database.connect_timeout())
                .connect(url)
                .await?;
            std::sync::Arc::new(PgWebhookRecords::new(pool))
        } else {
            std::sync::Arc::new(SqliteWebhookRecords::open(&database.sqlite_path()).await?)
        },
    )
}

pub struct SqliteWebhookRecords {
    pool: sqlx::SqlitePool,
}

impl SqliteWebhookRecords {
    /// A connection of its own to the store's file (already migrated by the store).
    pub async fn open(path: &std::path::Path) -> Result<Self, StoreError> {
        Ok(Self {
            pool: crate::store::sqlite::side_pool(path).await?,
        })
    }
}

records_impl!(SqliteWebhookRecords, false, "BEGIN IMMEDIATE");

pub struct PgWebhookRecords {
    pool: sqlx::PgPool,
}

impl PgWebhookRecords {
    pub fn new(pool: sqlx::PgPool) -> Self {
        Self { pool }
    }
}

records_impl!(PgWebhookRecords, true, "BEGIN");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(
            numbered("UPDATE t SET a = ?, b = ? WHERE id = ?"),
            "UPDATE t SET a = $1, b = $2 WHERE id = $3"
        );
        assert_eq!(numbered(CLAIM_PG).matches('$').count(), 5);
        assert!(!numbered(REPLAY).contains('?'));
    }

    #[test]
    fn log_cursors_round_trip_and_refuse_garbage() {
        let cursor = LogCursor {
            created_at: 42,
            id: "dlv_1".into(),
        };
        assert_eq!(LogCursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(LogCursor::decode("x~dlv"), None);
        assert_eq!(LogCursor::decode("42~"), None);
        assert_eq!(LogCursor::decode("42"), None);
    }

    #[test]
    fn the_previous_secret_signs_only_during_its_grace() {
        let mut e = EndpointRow {
            id: "wh_1".into(),
            url: "https://example.com".into(),
            events: r#"["message.created"]"#.into(),
            team: None,
            channel: None,
            description: None,
            secret: "whsec_new".into(),
            previous_secret: None,
            previous_secret_until: None,
            enabled: true,
            disabled_reason: None,
            failing_since: None,
            created_at: 0,
            updated_at: 0,
        };
        assert_eq!(e.signing_secrets(10), ["whsec_new"]);
        e.previous_secret = Some("whsec_old".into());
        e.previous_secret_until = Some(100);
        assert_eq!(e.signing_secrets(10), ["whsec_new", "whsec_old"]);
        assert_eq!(e.signing_secrets(100), ["whsec_new"]);
        assert_eq!(e.event_types(), ["message.created"]);
        assert!(!e.view(10).to_string().contains("whsec_"));
    }
}
