//! Facebook Messenger channel (Messenger Platform): webhook parsing, the Send API client, the
//! messaging window, and the ids they share.
//!
//! One channel is one Facebook Page. Its account is the page id (the `id` of each webhook
//! `entry`). A customer is a page-scoped id (PSID), namespaced per page
//! (`messenger:<page id>:<psid>`) so it never collides with a WhatsApp number, a Telegram chat
//! or another page's PSID; a message is `fbm:<page id>:<mid>` (a redelivery repeats the `mid`,
//! and the same `mid` seen by two pages is two events).

pub mod client;
pub mod webhook;
pub mod window;

use crate::domain::{AccountId, CustomerId, ProviderMessageId};

const CUSTOMER_PREFIX: &str = "messenger:";
const MESSAGE_PREFIX: &str = "fbm:";

/// The customer with page-scoped id `psid` of page `page`.
pub fn customer_id(page: &AccountId, psid: &str) -> CustomerId {
    CustomerId::new(format!("{CUSTOMER_PREFIX}{page}:{psid}"))
}

/// The PSID of a customer of this channel; `None` for anything else.
pub fn psid_of(customer: &CustomerId) -> Option<&str> {
    let rest = customer.as_str().strip_prefix(CUSTOMER_PREFIX)?;
    let (_, psid) = rest.split_once(':')?;
    (!psid.is_empty()).then_some(psid)
}

/// Message `mid` of page `page`.
pub fn message_id(page: &AccountId, mid: &str) -> ProviderMessageId {
    ProviderMessageId::new(format!("{MESSAGE_PREFIX}{page}:{mid}"))
}

/// The Messenger `mid` of one of this channel's message ids; `None` for anything else.
pub fn mid_of(id: &ProviderMessageId) -> Option<&str> {
    let rest = id.as_str().strip_prefix(MESSAGE_PREFIX)?;
    let (_, mid) = rest.split_once(':')?;
    (!mid.is_empty()).then_some(mid)
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
