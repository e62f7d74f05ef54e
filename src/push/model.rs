//! What notifications are made of: a user's choices, a browser's push subscription, the
//! server's VAPID key pair.

use serde::{Deserialize, Serialize};

use crate::domain::AgentId;

/// Which events notify a user (in the tab and by Web Push).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyEvents {
    /// A conversation offered to me.
    pub offer: bool,
    /// A conversation assigned to me.
    pub assignment: bool,
    /// A customer's message in a conversation of mine.
    pub message: bool,
}

/// A user's notification settings, kept on the server (every device of the user follows them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationSettings {
    /// A sound in the open console.
    pub sound: bool,
    /// A desktop notification from the open console (the browser asks permission once).
    pub desktop: bool,
    pub events: NotifyEvents,
}

impl Default for NotificationSettings {
    /// Everything on: a contact center's agent should hear about an offer.
    fn default() -> Self {
        Self {
            sound: true,
            desktop: true,
            events: NotifyEvents {
                offer: true,
                assignment: true,
                message: true,
            },
        }
    }
}

/// The events that notify, by the console event kind they come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyKind {
    Offer,
    Assignment,
    Message,
    Sla,
}

impl NotifyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyKind::Offer => "offer",
            NotifyKind::Assignment => "assignment",
            NotifyKind::Message => "message",
            NotifyKind::Sla => "sla",
        }
    }

    /// Whether `settings` want this kind.
    pub fn wanted(self, settings: &NotificationSettings) -> bool {
        match self {
            NotifyKind::Offer => settings.events.offer,
            NotifyKind::Assignment => settings.events.assignment,
            NotifyKind::Message => settings.events.message,
            // A breach always notifies (how, sound or desktop, still follows the settings).
            NotifyKind::Sla => true,
        }
    }
}

/// One browser's (or phone's) Web Push subscription, as its PushSubscription JSON gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushSubscription {
    pub id: String,
    pub user: AgentId,
    /// The push service's URL for this browser (a capability: never shown back whole).
    pub endpoint: String,
    /// The browser's P-256 public key (uncompressed point), base64url.
    pub p256dh: String,
    /// The browser's 16-byte auth secret, base64url.
    pub auth: String,
    pub user_agent: Option<String>,
    pub created_at: i64,
    /// The login session it was made in: it ends with it (log out, log out everywhere,
    /// expiry), so a browser nobody is logged in to hears nothing more. `None`: made with a
    /// personal API token, kept until removed.
    pub session: Option<String>,
}

/// The server's VAPID key pair (RFC 8292), base64url without padding: the P-256 private
/// scalar (32 bytes) and the uncompressed public point (65 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct VapidKeys {
    pub private_key: String,
    pub public_key: String,
    pub created_at: i64,
}

impl std::fmt::Debug for VapidKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKeys")
            .field("public_key", &self.public_key)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}
