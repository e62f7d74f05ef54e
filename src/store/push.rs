//! The durable record of notifications: [`PushStore`], part of every [`Store`](super::Store).
//! Each user's notification settings, their browsers' Web Push subscriptions, and the server's
//! VAPID key pair (written once, so every node and every restart signs with the same key).

use async_trait::async_trait;

use super::StoreError;
use crate::domain::AgentId;
use crate::push::model::{NotificationSettings, PushSubscription, VapidKeys};

#[async_trait]
pub trait PushStore: Send + Sync + 'static {
    /// A user's settings; `None` until the user saved some (the defaults apply).
    async fn notification_settings(
        &self,
        user: &AgentId,
    ) -> Result<Option<NotificationSettings>, StoreError>;

    /// Replace a user's settings.
    async fn save_notification_settings(
        &self,
        user: &AgentId,
        settings: &NotificationSettings,
        at: i64,
    ) -> Result<(), StoreError>;

    /// The stored key pair; if there is none yet, `candidate` is stored and answered. Two
    /// nodes racing both get the one that was stored first.
    async fn vapid_keys(&self, candidate: &VapidKeys) -> Result<VapidKeys, StoreError>;

    /// Store a subscription; one with the same endpoint (the same browser subscribing again,
    /// maybe for another user) is replaced but keeps its id. Answers the stored row.
    async fn save_push_subscription(
        &self,
        subscription: &PushSubscription,
    ) -> Result<PushSubscription, StoreError>;

    /// A user's subscriptions, oldest first.
    async fn push_subscriptions(&self, user: &AgentId)
    -> Result<Vec<PushSubscription>, StoreError>;

    /// Delete a subscription by id (only if it is `user`'s, when given); answers whether it
    /// existed.
    async fn delete_push_subscription(
        &self,
        user: Option<&AgentId>,
        id: &str,
    ) -> Result<bool, StoreError>;
}

pub(super) fn settings_from_row(
    row: &impl super::rows::StoreRow,
) -> Result<NotificationSettings, StoreError> {
    Ok(NotificationSettings {
        sound: row.flag("sound")?,
        desktop: row.flag("desktop")?,
        events: crate::push::model::NotifyEvents {
            offer: row.flag("offers")?,
            assignment: row.flag("assignments")?,
            message: row.flag("messages")?,
        },
    })
}

pub(super) fn subscription_from_row(
    row: &impl super::rows::StoreRow,
) -> Result<PushSubscription, StoreError> {
    Ok(PushSubscription {
        id: row.text("id")?,
        user: AgentId::new(row.text("user_id")?),
        endpoint: row.text("endpoint")?,
        p256dh: row.text("p256dh")?,
        auth: row.text("auth")?,
        user_agent: row.opt_text("user_agent")?,
        created_at: row.int("created_at")?,
        session: row.opt_text("session_id")?,
    })
}

pub(super) fn vapid_from_row(row: &impl super::rows::StoreRow) -> Result<VapidKeys, StoreError> {
    Ok(VapidKeys {
        private_key: row.text("private_key")?,
        public_key: row.text("public_key")?,
        created_at: row.int("created_at")?,
    })
}
