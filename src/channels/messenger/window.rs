//! Messenger's messaging window: a page may answer freely (`messaging_type: RESPONSE`) within
//! 24 hours of the customer's last message; after it, only with the `HUMAN_AGENT` message tag
//! and only within 7 days, for pages Meta approved for it (`human_agent: true` in the page's
//! configuration). Anything later is refused like WhatsApp's closed window.

use crate::channels::WindowRule;

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
    let rule = if human_agent {
        WindowRule::HumanAgent
    } else {
        WindowRule::Service
    };
    let window = rule.at(last_inbound_at, now_ms);
    match (window.open, window.tagged) {
        (false, _) => Err(WindowClosed),
        (true, false) => Ok(MessagingType::Response),
        (true, true) => Ok(MessagingType::HumanAgent),
    }
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
    fn the_console_window_is_the_one_the_send_applies() {
        // What the console shows (and what refuses agents' replies) is the channel's window
        // rule; Messenger's send picks RESPONSE or HUMAN_AGENT from the same rule.
        for human_agent in [false, true] {
            let rule = if human_agent {
                WindowRule::HumanAgent
            } else {
                WindowRule::Service
            };
            for now in [
                WROTE,
                WROTE + 24 * HOUR - 1,
                WROTE + 24 * HOUR,
                WROTE + 30 * HOUR,
                WROTE + 7 * 24 * HOUR - 1,
                WROTE + 7 * 24 * HOUR,
            ] {
                let window = rule.at(Some(WROTE), now);
                assert_eq!(
                    messaging_type(Some(WROTE), now, human_agent),
                    match (window.open, window.tagged) {
                        (false, _) => Err(WindowClosed),
                        (true, false) => Ok(MessagingType::Response),
                        (true, true) => Ok(MessagingType::HumanAgent),
                    }
                );
            }
        }
    }
}
