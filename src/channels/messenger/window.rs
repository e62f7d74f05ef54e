//! Messenger's messaging window: a page may answer freely (`messaging_type: RESPONSE`) within
//! 24 hours of the customer's last message; after it, only with the `HUMAN_AGENT` message tag
//! and only within 7 days, for pages Meta approved for it (`human_agent: true` in the page's
//! configuration). Anything later is refused like WhatsApp's closed window.

use crate::channels::SERVICE_WINDOW_MS;

/// How long after the customer's last message the `HUMAN_AGENT` tag may be used.
pub const HUMAN_AGENT_WINDOW_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// How a message may be sent to the customer now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessagingType {
    /// `messaging_type: RESPONSE`: within 24 hours of the customer's last message.
    Response,
    /// `messaging_type: MESSAGE_TAG`, `tag: HUMAN_AGENT`: 24 hours to 7 days, a person writing.
    HumanAgent,
}

/// The window is closed: no free-form message may be sent (the caller answers `window_closed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowClosed;

/// How a message may be sent at `now_ms` to a customer who last wrote at `last_inbound_at`
/// (unix ms) on a page that may (`human_agent`) or may not use the `HUMAN_AGENT` tag.
pub fn messaging_type(
    last_inbound_at: Option<i64>,
    now_ms: i64,
    human_agent: bool,
) -> Result<MessagingType, WindowClosed> {
    let last = last_inbound_at.ok_or(WindowClosed)?;
    if now_ms < last.saturating_add(SERVICE_WINDOW_MS) {
        Ok(MessagingType::Response)
    } else if human_agent && now_ms < last.saturating_add(HUMAN_AGENT_WINDOW_MS) {
        Ok(MessagingType::HumanAgent)
    } else {
        Err(WindowClosed)
    }
}

/// Whether an agent's free-form reply may go to `customer` now: on a Messenger page that may
/// use `HUMAN_AGENT`, up to 7 days after the customer's last message ([`messaging_type`]); on
/// every other page and channel, while the shared service window is open
/// ([`crate::channels::service_window_for`]).
pub fn agent_reply_allowed(
    customer: &crate::domain::CustomerId,
    last_inbound_at: Option<i64>,
    now_ms: i64,
    human_agent: bool,
) -> bool {
    let meta = super::psid_of(customer).is_some()
        || super::Platform::Instagram.user_of(customer).is_some();
    if human_agent && meta {
        return messaging_type(last_inbound_at, now_ms, true).is_ok();
    }
    crate::channels::service_window_for(customer, last_inbound_at, now_ms).open
}

#[cfg(test)]
mod tests {
    use super::*;

    const WROTE: i64 = 1_700_000_000_000;
    const HOUR: i64 = 60 * 60 * 1000;

    #[test]
    fn a_response_within_24_hours_with_or_without_human_agent() {
        for human_agent in [false, true] {
            assert_eq!(
                messaging_type(Some(WROTE), WROTE, human_agent),
                Ok(MessagingType::Response)
            );
            assert_eq!(
                messaging_type(Some(WROTE), WROTE + 24 * HOUR - 1, human_agent),
                Ok(MessagingType::Response)
            );
        }
    }

    #[test]
    fn human_agent_from_24_hours_to_7_days_only_where_the_page_may() {
        let day_two = WROTE + 24 * HOUR;
        assert_eq!(
            messaging_type(Some(WROTE), day_two, true),
            Ok(MessagingType::HumanAgent)
        );
        assert_eq!(
            messaging_type(Some(WROTE), day_two, false),
            Err(WindowClosed)
        );
        assert_eq!(
            messaging_type(Some(WROTE), WROTE + 7 * 24 * HOUR - 1, true),
            Ok(MessagingType::HumanAgent)
        );
        assert_eq!(
            messaging_type(Some(WROTE), WROTE + 7 * 24 * HOUR, true),
            Err(WindowClosed)
        );
    }

    #[test]
    fn closed_when_the_customer_never_wrote_and_safe_at_the_edges() {
        assert_eq!(messaging_type(None, WROTE, true), Err(WindowClosed));
        assert_eq!(
            messaging_type(Some(i64::MAX), i64::MAX - 1, false),
            Ok(MessagingType::Response)
        );
        assert_eq!(messaging_type(Some(i64::MIN), 0, true), Err(WindowClosed));
    }

    #[test]
    fn the_24_hours_are_the_shared_service_window() {
        // The conversation's window (what the console shows, what refuses agents' replies) is
        // the same 24 hours for a Messenger customer as for a WhatsApp one.
        let customer = crate::channels::messenger::customer_id(
            &crate::domain::AccountId::new("1234567890"),
            "6789012345",
        );
        for now in [
            WROTE,
            WROTE + 24 * HOUR - 1,
            WROTE + 24 * HOUR,
            WROTE + 30 * HOUR,
        ] {
            assert_eq!(
                crate::channels::service_window_for(&customer, Some(WROTE), now).open,
                messaging_type(Some(WROTE), now, false).is_ok()
            );
        }
    }

    #[test]
    fn agents_may_reply_for_7_days_only_on_a_human_agent_page() {
        let page = crate::domain::AccountId::new("1234567890");
        let customer = crate::channels::messenger::customer_id(&page, "6789012345");
        let number = crate::domain::CustomerId::new("15550001111");
        let day_three = WROTE + 3 * 24 * HOUR;
        assert!(agent_reply_allowed(
            &customer,
            Some(WROTE),
            WROTE + HOUR,
            false
        ));
        assert!(!agent_reply_allowed(
            &customer,
            Some(WROTE),
            day_three,
            false
        ));
        assert!(agent_reply_allowed(&customer, Some(WROTE), day_three, true));
        assert!(!agent_reply_allowed(
            &customer,
            Some(WROTE),
            WROTE + 8 * 24 * HOUR,
            true
        ));
        assert!(!agent_reply_allowed(&customer, None, WROTE, true));
        // The flag is a Messenger page's: a WhatsApp customer keeps the 24 hours.
        assert!(!agent_reply_allowed(&number, Some(WROTE), day_three, true));
        assert!(agent_reply_allowed(
            &number,
            Some(WROTE),
            WROTE + HOUR,
            true
        ));
    }
}
