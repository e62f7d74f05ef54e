//! Notifications in the embedded store: [`PushStore`] for [`SqliteStore`]. Writes go to the
//! one writer thread (as account writes, `AccountWrite::Push`); reads come from the read pool.

use async_trait::async_trait;
use rusqlite::{Connection, params};

use super::StoreError;
use super::push::{PushStore, settings_from_row, subscription_from_row, vapid_from_row};
use super::sqlite::SqliteStore;
use super::sqlite_accounts_writer::{AccountDone, AccountWrite};
use super::sqlite_writer::engine;
use crate::domain::AgentId;
use crate::push::model::{NotificationSettings, PushSubscription, VapidKeys};

/// A notification write for the writer thread.
pub(super) enum PushWrite {
    Settings(AgentId, NotificationSettings, i64),
    /// Insert the key pair unless one is there.
    Vapid(VapidKeys),
    Subscribe(PushSubscription),
    Unsubscribe(Option<AgentId>, String),
}

/// Apply one notification write on the writer's connection.
pub(super) fn apply(conn: &Connection, write: &PushWrite) -> Result<AccountDone, StoreError> {
    match write {
        PushWrite::Settings(user, s, at) => {
            conn.prepare_cached(
                "INSERT INTO notification_settings
                    (user_id, sound, desktop, offers, assignments, messages, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (user_id) DO UPDATE SET sound = excluded.sound,
                    desktop = excluded.desktop, offers = excluded.offers,
                    assignments = excluded.assignments, messages = excluded.messages,
                    updated_at = excluded.updated_at",
            )
            .and_then(|mut st| {
                st.execute(params![
                    user.as_str(),
                    s.sound,
                    s.desktop,
                    s.events.offer,
                    s.events.assignment,
                    s.events.message,
                    at
                ])
            })
            .map_err(engine)?;
            Ok(AccountDone::Nothing)
        }
        PushWrite::Vapid(k) => {
            conn.prepare_cached(
                "INSERT INTO vapid_keys (id, private_key, public_key, created_at)
                 VALUES (1, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            )
            .and_then(|mut st| st.execute(params![k.private_key, k.public_key, k.created_at]))
            .map_err(engine)?;
            Ok(AccountDone::Nothing)
        }
        PushWrite::Subscribe(s) => {
            conn.prepare_cached(
                "INSERT INTO push_subscriptions
                    (id, user_id, endpoint, p256dh, auth, user_agent, created_at, session_id)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id,
                    p256dh = excluded.p256dh, auth = excluded.auth,
                    user_agent = excluded.user_agent, session_id = excluded.session_id",
            )
            .and_then(|mut st| {
                st.execute(params![
                    s.id,
                    s.user.as_str(),
                    s.endpoint,
                    s.p256dh,
                    s.auth,
                    s.user_agent,
                    s.created_at,
                    s.session
                ])
            })
            .map_err(engine)?;
            Ok(AccountDone::Nothing)
        }
        PushWrite::Unsubscribe(user, id) => {
            let n = match user {
                Some(user) => conn
                    .prepare_cached("DELETE FROM push_subscriptions WHERE id = ? AND user_id = ?")
                    .and_then(|mut st| st.execute(params![id, user.as_str()])),
                None => conn
                    .prepare_cached("DELETE FROM push_subscriptions WHERE id = ?")
                    .and_then(|mut st| st.execute(params![id])),
            }
            .map_err(engine)?;
            Ok(AccountDone::Flag(n > 0))
        }
    }
}

impl SqliteStore {
    async fn push_write(&self, write: PushWrite) -> Result<AccountDone, StoreError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.writer
            .send_async(super::sqlite::WriteOp::Account(
                Box::new(AccountWrite::Push(write)),
                reply,
            ))
            .await
            .map_err(|_| StoreError::Unavailable)?;
        rx.await
            .map_err(|_| StoreError::Unavailable)?
            .map_err(super::accounts_rows::store_error)
    }
}

#[async_trait]
impl PushStore for SqliteStore {
    async fn notification_settings(
        &self,
        user: &AgentId,
    ) -> Result<Option<NotificationSettings>, StoreError> {
        sqlx::query("SELECT * FROM notification_settings WHERE user_id = ?")
            .bind(user.as_str())
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(settings_from_row)
            .transpose()
    }

    async fn save_notification_settings(
        &self,
        user: &AgentId,
        settings: &NotificationSettings,
        at: i64,
    ) -> Result<(), StoreError> {
        self.push_write(PushWrite::Settings(user.clone(), *settings, at))
            .await
            .map(drop)
    }

    async fn vapid_keys(&self, candidate: &VapidKeys) -> Result<VapidKeys, StoreError> {
        self.push_write(PushWrite::Vapid(candidate.clone())).await?;
        let row = sqlx::query("SELECT * FROM vapid_keys WHERE id = 1")
            .fetch_one(&self.reader)
            .await?;
        vapid_from_row(&row)
    }

    async fn save_push_subscription(
        &self,
        subscription: &PushSubscription,
    ) -> Result<PushSubscription, StoreError> {
        self.push_write(PushWrite::Subscribe(subscription.clone()))
            .await?;
        let row = sqlx::query("SELECT * FROM push_subscriptions WHERE endpoint = ?")
            .bind(&subscription.endpoint)
            .fetch_one(&self.reader)
            .await?;
        subscription_from_row(&row)
    }

    async fn push_subscriptions(
        &self,
        user: &AgentId,
    ) -> Result<Vec<PushSubscription>, StoreError> {
        sqlx::query("SELECT * FROM push_subscriptions WHERE user_id = ? ORDER BY created_at, id")
            .bind(user.as_str())
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(subscription_from_row)
            .collect()
    }

    async fn delete_push_subscription(
        &self,
        user: Option<&AgentId>,
        id: &str,
    ) -> Result<bool, StoreError> {
        match self
            .push_write(PushWrite::Unsubscribe(user.cloned(), id.to_string()))
            .await?
        {
            AccountDone::Flag(b) => Ok(b),
            other => Err(StoreError::Corrupt(format!(
                "unexpected answer of the writer: {other:?}"
            ))),
        }
    }
}
