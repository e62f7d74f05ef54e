//! Notifications in the cluster store: [`PushStore`] for [`PostgresStore`]. Each write is one
//! statement on the pool (rare, and each stands alone).

use async_trait::async_trait;

use super::StoreError;
use super::postgres::{PostgresStore, text};
use super::push::{PushStore, settings_from_row, subscription_from_row, vapid_from_row};
use crate::domain::AgentId;
use crate::push::model::{NotificationSettings, PushSubscription, VapidKeys};

#[async_trait]
impl PushStore for PostgresStore {
    async fn notification_settings(
        &self,
        user: &AgentId,
    ) -> Result<Option<NotificationSettings>, StoreError> {
        sqlx::query("SELECT * FROM notification_settings WHERE user_id = $1")
            .bind(text(user.as_str()))
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(settings_from_row)
            .transpose()
    }

    async fn save_notification_settings(
        &self,
        user: &AgentId,
        s: &NotificationSettings,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO notification_settings
                (user_id, sound, desktop, offers, assignments, messages, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (user_id) DO UPDATE SET sound = excluded.sound,
                desktop = excluded.desktop, offers = excluded.offers,
                assignments = excluded.assignments, messages = excluded.messages,
                updated_at = excluded.updated_at",
        )
        .bind(text(user.as_str()))
        .bind(s.sound)
        .bind(s.desktop)
        .bind(s.events.offer)
        .bind(s.events.assignment)
        .bind(s.events.message)
        .bind(at)
        .execute(&self.reader)
        .await?;
        Ok(())
    }

    async fn vapid_keys(&self, k: &VapidKeys) -> Result<VapidKeys, StoreError> {
        sqlx::query(
            "INSERT INTO vapid_keys (id, private_key, public_key, created_at)
             VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&k.private_key)
        .bind(&k.public_key)
        .bind(k.created_at)
        .execute(&self.reader)
        .await?;
        let row = sqlx::query("SELECT * FROM vapid_keys WHERE id = 1")
            .fetch_one(&self.reader)
            .await?;
        vapid_from_row(&row)
    }

    async fn save_push_subscription(
        &self,
        s: &PushSubscription,
    ) -> Result<PushSubscription, StoreError> {
        let row = sqlx::query(
            "INSERT INTO push_subscriptions
                (id, user_id, endpoint, p256dh, auth, user_agent, created_at, session_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id,
                p256dh = excluded.p256dh, auth = excluded.auth,
                user_agent = excluded.user_agent, session_id = excluded.session_id
             RETURNING *",
        )
        .bind(text(&s.id))
        .bind(text(s.user.as_str()))
        .bind(text(&s.endpoint))
        .bind(text(&s.p256dh))
        .bind(text(&s.auth))
        .bind(s.user_agent.as_deref().map(text))
        .bind(s.created_at)
        .bind(s.session.as_deref().map(text))
        .fetch_one(&self.reader)
        .await?;
        subscription_from_row(&row)
    }

    async fn push_subscriptions(
        &self,
        user: &AgentId,
    ) -> Result<Vec<PushSubscription>, StoreError> {
        sqlx::query("SELECT * FROM push_subscriptions WHERE user_id = $1 ORDER BY created_at, id")
            .bind(text(user.as_str()))
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
        let done = match user {
            Some(user) => {
                sqlx::query("DELETE FROM push_subscriptions WHERE id = $1 AND user_id = $2")
                    .bind(text(id))
                    .bind(text(user.as_str()))
                    .execute(&self.reader)
                    .await?
            }
            None => {
                sqlx::query("DELETE FROM push_subscriptions WHERE id = $1")
                    .bind(text(id))
                    .execute(&self.reader)
                    .await?
            }
        };
        Ok(done.rows_affected() > 0)
    }
}
