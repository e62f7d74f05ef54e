//! Meta's customer-service window: a business may send free-form messages to a customer only
//! within 24 hours of the customer's last message; after it, only an approved template
//! (WhatsApp's error 131047). WhatsApp has this rule (Messenger and Instagram a similar one);
//! Telegram and X have none: a bot may write to a chat that started it, and an X account to a
//! customer who wrote to it, at any time ([`service_window_for`]).

/// The window's length, from the customer's last message.
pub const SERVICE_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// What an agent is told when a free-form reply is refused (Meta's 131047, in its words).
pub const WINDOW_CLOSED_REASON: &str = "Re-engagement message: more than 24 hours have passed \
     since the customer last replied, so only a template message can be sent (WhatsApp 131047)";

use crate::domain::CustomerId;

/// Whether free-form messages may be sent, and until when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceWindow {
    pub open: bool,
    /// When it closes (or closed), unix ms; `None` when the customer never wrote.
    pub closes_at: Option<i64>,
}

/// The window of `customer`'s channel: always open on channels without one (a Telegram chat,
/// an X customer, a web chat visitor), else [`service_window`].
pub fn service_window_for(
    customer: &CustomerId,
    last_inbound_at: Option<i64>,
    now_ms: i64,
) -> ServiceWindow {
    if super::telegram::chat_of(customer).is_some()
        || super::x::user_of(customer).is_some()
        || super::webchat::is_visitor(customer)
    {
        return ServiceWindow {
            open: true,
            closes_at: None,
        };
    }
    service_window(last_inbound_at, now_ms)
}

/// The window at `now_ms` for a customer who last wrote at `last_inbound_at` (unix ms).
pub fn service_window(last_inbound_at: Option<i64>, now_ms: i64) -> ServiceWindow {
    match last_inbound_at {
        Some(last) => {
            let closes_at = last.saturating_add(SERVICE_WINDOW_MS);
            ServiceWindow {
                open: now_ms < closes_at,
                closes_at: Some(closes_at),
            }
        }
        None => ServiceWindow {
            open: false,
            closes_at: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_for_exactly_24_hours_after_the_customer_wrote() {
        let wrote = 1_700_000_000_000;
        let at = |ms| service_window(Some(wrote), ms);
        assert_eq!(
            at(wrote),
            ServiceWindow {
                open: true,
                closes_at: Some(wrote + SERVICE_WINDOW_MS)
            }
        );
        assert!(at(wrote + SERVICE_WINDOW_MS - 1).open);
        assert!(!at(wrote + SERVICE_WINDOW_MS).open);
        assert!(!at(wrote + 3 * SERVICE_WINDOW_MS).open);
    }

    #[test]
    fn a_telegram_chat_has_no_window_and_a_whatsapp_customer_has_it() {
        let wrote = 1_700_000_000_000;
        let later = wrote + 3 * SERVICE_WINDOW_MS;
        let chat = crate::channels::telegram::customer_id(
            &crate::domain::AccountId::new("123456789"),
            1111111,
        );
        let open = ServiceWindow {
            open: true,
            closes_at: None,
        };
        assert_eq!(service_window_for(&chat, Some(wrote), later), open);
        assert_eq!(service_window_for(&chat, None, later), open);
        let visitor = crate::channels::webchat::customer_id(
            &crate::domain::ChannelId::new("webchat"),
            "0123abcd",
        );
        assert_eq!(service_window_for(&visitor, Some(wrote), later), open);
        let number = CustomerId::new("15550001111");
        assert_eq!(
            service_window_for(&number, Some(wrote), later),
            service_window(Some(wrote), later)
        );
        assert!(!service_window_for(&number, Some(wrote), later).open);
    }

    #[test]
    fn an_x_customer_has_no_window() {
        let wrote = 1_700_000_000_000;
        let later = wrote + 30 * SERVICE_WINDOW_MS;
        let customer = crate::channels::x::customer_id(
            &crate::domain::AccountId::new("1500000000000000001"),
            "3001969357",
        );
        let open = ServiceWindow {
            open: true,
            closes_at: None,
        };
        assert_eq!(service_window_for(&customer, Some(wrote), later), open);
        assert_eq!(service_window_for(&customer, None, later), open);
    }

    #[test]
    fn closed_when_the_customer_never_wrote_and_safe_at_the_edges() {
        assert_eq!(
            service_window(None, 0),
            ServiceWindow {
                open: false,
                closes_at: None
            }
        );
        assert!(service_window(Some(i64::MAX), i64::MAX - 1).open);
        assert!(!service_window(Some(i64::MIN), 0).open);
    }
}
