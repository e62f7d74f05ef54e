//! What a contact did, as routing rules and segments see it: `contact.first_seen`,
//! `contact.last_inbound_at`, `contact.conversations` and `contact.new`. Pure.
//!
//! The store keeps the counts up to date with the conversation steps that cause them (a new
//! conversation counts one, a customer's message moves `last_inbound_at`; a merge adds both
//! contacts' figures up). A step in progress is not stored yet: the router sees the contact
//! [as that step leaves it](ContactBehaviour::with_conversation).

use serde::Serialize;

use crate::store::ConversationRecord;

/// Times are unix milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ContactBehaviour {
    /// When the contact was first seen (created).
    pub first_seen: Option<i64>,
    /// When the customer last wrote, on any channel.
    pub last_inbound_at: Option<i64>,
    /// Conversations the contact has had, the current one included.
    pub conversations: i64,
}

impl ContactBehaviour {
    /// A first conversation (or none yet).
    pub fn is_new(&self) -> bool {
        self.conversations <= 1
    }

    /// The figures as the step in progress on `c` leaves them: a conversation not stored yet
    /// (`version == 0`) counts, and so does its customer's last message.
    pub fn with_conversation(mut self, c: &ConversationRecord) -> Self {
        if c.version == 0 {
            self.conversations += 1;
            self.first_seen = Some(
                self.first_seen
                    .map_or(c.created_at, |f| f.min(c.created_at)),
            );
        }
        if let Some(at) = c.last_inbound_at {
            self.last_inbound_at = Some(self.last_inbound_at.map_or(at, |l| l.max(at)));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChannelId, ConversationKey, CustomerId};

    fn conversation(
        version: i64,
        created_at: i64,
        last_inbound_at: Option<i64>,
    ) -> ConversationRecord {
        let (channel, customer) = (ChannelId::new("wa"), CustomerId::new("34600000001"));
        let key = ConversationKey::new(&channel, &customer);
        let mut c = ConversationRecord::new(key, channel, customer, created_at);
        c.version = version;
        c.created_at = created_at;
        c.last_inbound_at = last_inbound_at;
        c
    }

    #[test]
    fn a_customer_never_seen_is_new_with_one_conversation() {
        let b = ContactBehaviour::default().with_conversation(&conversation(0, 1_000, Some(1_000)));
        assert_eq!(
            b,
            ContactBehaviour {
                first_seen: Some(1_000),
                last_inbound_at: Some(1_000),
                conversations: 1
            }
        );
        assert!(b.is_new());
    }

    #[test]
    fn a_returning_customer_counts_the_new_conversation_and_keeps_first_seen() {
        let stored = ContactBehaviour {
            first_seen: Some(10),
            last_inbound_at: Some(500),
            conversations: 3,
        };
        let b = stored.with_conversation(&conversation(0, 2_000, Some(2_000)));
        assert_eq!(b.conversations, 4);
        assert_eq!(b.first_seen, Some(10));
        assert_eq!(b.last_inbound_at, Some(2_000));
        assert!(!b.is_new());
    }

    #[test]
    fn a_stored_conversation_is_not_counted_twice() {
        let stored = ContactBehaviour {
            first_seen: Some(10),
            last_inbound_at: Some(900),
            conversations: 1,
        };
        let b = stored.with_conversation(&conversation(3, 10, Some(800)));
        assert_eq!(b.conversations, 1);
        // An older message never moves the last one back.
        assert_eq!(b.last_inbound_at, Some(900));
        assert!(b.is_new());
    }
}
