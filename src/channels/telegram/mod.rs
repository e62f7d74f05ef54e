//! Telegram Bot API channel: `Update` parsing, the send client and the ids they share.
//!
//! One channel is one bot. Its account is the bot id (the digits before the `:` of the
//! token). A customer is a chat, namespaced per bot (`telegram:<bot id>:<chat id>`) so it never
//! collides with a WhatsApp number or another bot's chat; a message is `tg:<bot id>:<chat
//! id>:<message id>` (Telegram numbers messages per chat); a button press is the callback
//! query's id, `tgcb:<bot id>:<callback query id>`.

pub mod attachments;
pub mod client;
pub mod webhook;

use crate::domain::{AccountId, CustomerId, ProviderMessageId};

/// The header Telegram sends every webhook delivery with (the `secret_token` of `setWebhook`).
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

const CUSTOMER_PREFIX: &str = "telegram:";
const MESSAGE_PREFIX: &str = "tg:";
const CALLBACK_PREFIX: &str = "tgcb:";

/// The customer of chat `chat_id` of bot `account`.
pub fn customer_id(account: &AccountId, chat_id: i64) -> CustomerId {
    CustomerId::new(format!("{CUSTOMER_PREFIX}{account}:{chat_id}"))
}

/// The chat id of a customer of this channel; `None` for anything else.
pub fn chat_of(customer: &CustomerId) -> Option<i64> {
    let rest = customer.as_str().strip_prefix(CUSTOMER_PREFIX)?;
    let (_, chat) = rest.rsplit_once(':')?;
    chat.parse().ok()
}

/// Message `message_id` of chat `chat_id` of bot `account`.
pub fn message_id(account: &AccountId, chat_id: i64, message_id: i64) -> ProviderMessageId {
    ProviderMessageId::new(format!("{MESSAGE_PREFIX}{account}:{chat_id}:{message_id}"))
}

/// The (chat id, message id) of one of this channel's message ids.
pub fn message_of(id: &ProviderMessageId) -> Option<(i64, i64)> {
    let rest = id.as_str().strip_prefix(MESSAGE_PREFIX)?;
    let mut parts = rest.split(':');
    let _bot = parts.next()?;
    let chat = parts.next()?.parse().ok()?;
    let message = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((chat, message))
}

/// The id of a button press (callback query) of bot `account`.
pub fn callback_id(account: &AccountId, query_id: &str) -> ProviderMessageId {
    ProviderMessageId::new(format!("{CALLBACK_PREFIX}{account}:{query_id}"))
}

/// The callback query id of a button press's id; `None` for anything else.
pub fn callback_of(id: &ProviderMessageId) -> Option<&str> {
    let rest = id.as_str().strip_prefix(CALLBACK_PREFIX)?;
    rest.split_once(':').map(|(_, query)| query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_refuse_other_channels() {
        let bot = AccountId::new("123456789");
        let customer = customer_id(&bot, -1001234567890);
        assert_eq!(customer.as_str(), "telegram:123456789:-1001234567890");
        assert_eq!(chat_of(&customer), Some(-1001234567890));
        assert_eq!(chat_of(&CustomerId::new("15550001111")), None);
        assert_eq!(chat_of(&CustomerId::new("telegram:1:x")), None);

        let message = message_id(&bot, 42, 7);
        assert_eq!(message.as_str(), "tg:123456789:42:7");
        assert_eq!(message_of(&message), Some((42, 7)));
        assert_eq!(message_of(&ProviderMessageId::new("wamid.HBgL")), None);
        assert_eq!(message_of(&ProviderMessageId::new("tg:1:2:3:4")), None);

        let press = callback_id(&bot, "4382bfdwdsb323b2d9");
        assert_eq!(callback_of(&press), Some("4382bfdwdsb323b2d9"));
        assert_eq!(callback_of(&message), None);
    }
}
