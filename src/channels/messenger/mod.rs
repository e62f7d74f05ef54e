//! Facebook Messenger channel (Messenger Platform): webhook parsing, the Send API client, the
//! messaging window, and the ids they share.
//!
//! One channel is one Facebook Page. Its account is the page id (the `id` of each webhook
//! `entry`). A customer is a page-scoped id (PSID), namespaced per page
//! (`messenger:<page id>:<psid>`) so it never collides with a WhatsApp number, a Telegram chat
//! or another page's PSID; a message is `fbm:<page id>:<mid>` (a redelivery repeats the `mid`,
//! and the same `mid` seen by two pages is two events).

pub mod attachments;
pub mod client;
pub mod webhook;
pub mod window;

use crate::domain::{AccountId, ChannelKind, CustomerId, ProviderMessageId};

/// The Meta messaging platforms that share this module's webhook parser and Send API client:
/// Messenger (a Facebook Page) and Instagram messaging (an Instagram professional account).
/// They differ in the webhook's `object`, the channel kind and the prefixes of their ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    Messenger,
    Instagram,
}

impl Platform {
    pub fn kind(self) -> ChannelKind {
        match self {
            Platform::Messenger => ChannelKind::Messenger,
            Platform::Instagram => ChannelKind::Instagram,
        }
    }

    /// The `object` of this platform's webhook deliveries.
    pub fn object(self) -> &'static str {
        match self {
            Platform::Messenger => "page",
            Platform::Instagram => "instagram",
        }
    }

    /// A short name for logs and refusals.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Messenger => "Messenger",
            Platform::Instagram => "Instagram",
        }
    }

    fn customer_prefix(self) -> &'static str {
        match self {
            Platform::Messenger => "messenger:",
            Platform::Instagram => "instagram:",
        }
    }

    /// The prefix of this platform's own message-like ids (`fb…`, `ig…`).
    pub(crate) fn id_prefix(self) -> &'static str {
        match self {
            Platform::Messenger => "fb",
            Platform::Instagram => "ig",
        }
    }

    fn message_prefix(self) -> &'static str {
        match self {
            Platform::Messenger => "fbm:",
            Platform::Instagram => "igm:",
        }
    }

    /// The customer with scoped id `user` of account `account`.
    pub fn customer_id(self, account: &AccountId, user: &str) -> CustomerId {
        CustomerId::new(format!("{}{account}:{user}", self.customer_prefix()))
    }

    /// The scoped user id of a customer of this platform; `None` for anything else.
    pub fn user_of(self, customer: &CustomerId) -> Option<&str> {
        let rest = customer.as_str().strip_prefix(self.customer_prefix())?;
        let (_, user) = rest.split_once(':')?;
        (!user.is_empty()).then_some(user)
    }

    /// Message `mid` of account `account`.
    pub fn message_id(self, account: &AccountId, mid: &str) -> ProviderMessageId {
        ProviderMessageId::new(format!("{}{account}:{mid}", self.message_prefix()))
    }

    /// The `mid` of one of this platform's message ids; `None` for anything else.
    pub fn mid_of(self, id: &ProviderMessageId) -> Option<&str> {
        let rest = id.as_str().strip_prefix(self.message_prefix())?;
        let (_, mid) = rest.split_once(':')?;
        (!mid.is_empty()).then_some(mid)
    }
}

/// The customer with page-scoped id `psid` of page `page`.
pub fn customer_id(page: &AccountId, psid: &str) -> CustomerId {
    Platform::Messenger.customer_id(page, psid)
}

/// The PSID of a customer of this channel; `None` for anything else.
pub fn psid_of(customer: &CustomerId) -> Option<&str> {
    Platform::Messenger.user_of(customer)
}

/// Message `mid` of page `page`.
pub fn message_id(page: &AccountId, mid: &str) -> ProviderMessageId {
    Platform::Messenger.message_id(page, mid)
}

/// The Messenger `mid` of one of this channel's message ids; `None` for anything else.
pub fn mid_of(id: &ProviderMessageId) -> Option<&str> {
    Platform::Messenger.mid_of(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_refuse_other_channels() {
        let page = AccountId::new("1234567890");
        let customer = customer_id(&page, "6789012345");
        assert_eq!(customer.as_str(), "messenger:1234567890:6789012345");
        assert_eq!(psid_of(&customer), Some("6789012345"));
        assert_eq!(psid_of(&CustomerId::new("15550001111")), None);
        assert_eq!(psid_of(&CustomerId::new("telegram:1:2")), None);
        assert_eq!(psid_of(&CustomerId::new("messenger:1:")), None);

        // Meta's mids contain colons and dots: kept whole.
        let message = message_id(&page, "mid.1457764197618:41d102a3e1ae206a38");
        assert_eq!(
            message.as_str(),
            "fbm:1234567890:mid.1457764197618:41d102a3e1ae206a38"
        );
        assert_eq!(
            mid_of(&message),
            Some("mid.1457764197618:41d102a3e1ae206a38")
        );
        assert_eq!(mid_of(&ProviderMessageId::new("wamid.HBgL")), None);
        assert_ne!(
            message_id(&AccountId::new("999"), "m_1"),
            message_id(&page, "m_1")
        );
    }
}
