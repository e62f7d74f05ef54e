//! Instagram messaging (the Instagram API's messaging, `object: "instagram"` webhooks): the
//! same Meta messaging platform as Messenger, so the parser, the Send API client and the
//! messaging window are Messenger's, parameterised by [`Platform::Instagram`].
//!
//! One channel is one Instagram professional account. Its account is the Instagram account id
//! (the `id` of each webhook `entry`). A customer is an Instagram-scoped id (IGSID), namespaced
//! per account (`instagram:<account id>:<igsid>`); a message is `igm:<account id>:<mid>`.
//! Story replies carry the story as their context (`igstory:<account>:<story id>`, its link as
//! the referral); story mentions and shared posts are media the agent sees by their link.

use crate::channels::messenger::Platform;
use crate::channels::messenger::webhook::parse_delivery_for;
use crate::channels::{ParseError, WebhookParser};
use crate::domain::{AccountId, ChannelKind, CustomerId, InboundEnvelope, ProviderMessageId};

pub use crate::channels::messenger::client::MessengerClient as InstagramClient;

/// The customer with Instagram-scoped id `igsid` of account `account`.
pub fn customer_id(account: &AccountId, igsid: &str) -> CustomerId {
    Platform::Instagram.customer_id(account, igsid)
}

/// The IGSID of a customer of this channel; `None` for anything else.
pub fn igsid_of(customer: &CustomerId) -> Option<&str> {
    Platform::Instagram.user_of(customer)
}

/// Message `mid` of account `account`.
pub fn message_id(account: &AccountId, mid: &str) -> ProviderMessageId {
    Platform::Instagram.message_id(account, mid)
}

/// Parses the deliveries of every Instagram account (the entries name their account).
pub struct InstagramWebhookParser;

impl WebhookParser for InstagramWebhookParser {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Instagram
    }

    fn parse(&self, body: &[u8]) -> Result<Vec<InboundEnvelope>, ParseError> {
        parse_delivery_for(Platform::Instagram, body)
    }
}

#[cfg(test)]
mod tests;
