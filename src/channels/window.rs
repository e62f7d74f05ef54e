//! Messaging windows: how long after the customer's last message a business may send them
//! free-form messages, per channel ([`WindowRule`], chosen by [`ChannelWindows`] from the
//! configuration):
//!
//! - WhatsApp, and Messenger pages and Instagram accounts without Meta's approval for the
//!   `HUMAN_AGENT` tag: 24 hours ([`WindowRule::Service`]; after it only an approved template on
//!   WhatsApp, Meta's 131047, and nothing on Messenger or Instagram);
//! - Messenger pages and Instagram accounts approved for `HUMAN_AGENT`: 24 hours, then a person
//!   may still answer with the tag until 7 days after it ([`WindowRule::HumanAgent`]);
//! - Telegram, X and the web chat have none: a bot may write to a chat that started it, an X
//!   account to a customer who wrote to it, the gateway to its visitor, at any time
//!   ([`WindowRule::None`]).
//!
//! The console shows the same window the reply check applies: both come from here.

use std::collections::HashSet;

use crate::config::Settings;
use crate::domain::{ChannelId, ChannelKind, CustomerId};

/// The window's length, from the customer's last message.
pub const SERVICE_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// How long after the customer's last message the `HUMAN_AGENT` tag may be used.
pub const HUMAN_AGENT_WINDOW_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// What an agent is told when a free-form reply is refused (Meta's 131047, in its words).
pub const WINDOW_CLOSED_REASON: &str = "Re-engagement message: more than 24 hours have passed \
     since the customer last replied, so only a template message can be sent (WhatsApp 131047)";

/// The same on a Messenger page or Instagram account without the `HUMAN_AGENT` tag.
pub const META_WINDOW_CLOSED_REASON: &str = "More than 24 hours have passed since the customer \
     last wrote, and this page is not approved for Meta's HUMAN_AGENT tag: the customer has to \
     write first";

/// The same on a page approved for `HUMAN_AGENT`, once its 7 days are over.
pub const HUMAN_AGENT_CLOSED_REASON: &str = "More than 7 days have passed since the customer \
     last wrote, so even Meta's HUMAN_AGENT tag no longer applies: the customer has to write \
     first";

/// Whether free-form messages may be sent, and until when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceWindow {
    pub open: bool,
    /// When it closes (or closed), unix ms; `None` when the customer never wrote or the
    /// channel has no window.
    pub closes_at: Option<i64>,
    /// Open only for a person writing with Meta's `HUMAN_AGENT` tag (the 24 hours are over).
    pub tagged: bool,
}

/// How a channel limits free-form messages after the customer's last one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowRule {
    /// No window (Telegram, X, the web chat).
    None,
    /// Meta's 24 hours (WhatsApp; Messenger and Instagram without `HUMAN_AGENT`).
    Service,
    /// 24 hours, then up to 7 days with the `HUMAN_AGENT` tag.
    HumanAgent,
}

impl WindowRule {
    /// Its name in conversation views (`window.rule`).
    pub fn as_str(self) -> &'static str {
        match self {
            WindowRule::None => "none",
            WindowRule::Service => "service",
            WindowRule::HumanAgent => "human_agent",
        }
    }

    /// The window at `now_ms` for a customer who last wrote at `last_inbound_at` (unix ms).
    pub fn at(self, last_inbound_at: Option<i64>, now_ms: i64) -> ServiceWindow {
        match self {
            WindowRule::None => ServiceWindow {
                open: true,
                closes_at: None,
                tagged: false,
            },
            WindowRule::Service => service_window(last_inbound_at, now_ms),
            WindowRule::HumanAgent => {
                let first = service_window(last_inbound_at, now_ms);
                match last_inbound_at {
                    Some(last) if !first.open => {
                        let closes_at = last.saturating_add(HUMAN_AGENT_WINDOW_MS);
                        let open = now_ms < closes_at;
                        ServiceWindow {
                            open,
                            closes_at: Some(closes_at),
                            tagged: open,
                        }
                    }
                    _ => first,
                }
            }
        }
    }

    /// The window as conversation views show it: `rule`, `open`, `closes_at` (when free-form
    /// messages end: for `human_agent`, the end of the 7 days), `tagged` (open only with the
    /// tag now) and, for `human_agent`, `tagged_from` (when the 24 hours end and the tag
    /// begins), so a console can follow the clock without asking again.
    pub fn view(self, last_inbound_at: Option<i64>, now_ms: i64) -> serde_json::Value {
        let window = self.at(last_inbound_at, now_ms);
        let (closes_at, tagged_from) = match (self, last_inbound_at) {
            (WindowRule::HumanAgent, Some(last)) => (
                Some(last.saturating_add(HUMAN_AGENT_WINDOW_MS)),
                Some(last.saturating_add(SERVICE_WINDOW_MS)),
            ),
            _ => (window.closes_at, None),
        };
        serde_json::json!({
            "rule": self.as_str(),
            "open": window.open,
            "closes_at": closes_at,
            "tagged": window.tagged,
            "tagged_from": tagged_from,
        })
    }

    /// What an agent is told when this window refuses a free-form reply.
    pub fn closed_reason(self, kind: ChannelKind) -> &'static str {
        match (self, kind) {
            (WindowRule::HumanAgent, _) => HUMAN_AGENT_CLOSED_REASON,
            (_, ChannelKind::Messenger | ChannelKind::Instagram) => META_WINDOW_CLOSED_REASON,
            _ => WINDOW_CLOSED_REASON,
        }
    }
}

/// Each channel's [`WindowRule`], from the configuration: the kind of channel a conversation is
/// on ([`super::kind_of`] its customer) and whether Meta approved its page or account for
/// `HUMAN_AGENT` (`human_agent: true`).
#[derive(Clone, Debug, Default)]
pub struct ChannelWindows {
    human_agent: HashSet<ChannelId>,
}

impl ChannelWindows {
    /// The rules where `human_agent` are the channels approved for the tag.
    pub fn new(human_agent: impl IntoIterator<Item = ChannelId>) -> Self {
        Self {
            human_agent: human_agent.into_iter().collect(),
        }
    }

    /// The rules of the configured channels.
    pub fn from_settings(settings: &Settings) -> Self {
        Self::new(
            settings
                .channels
                .iter()
                .filter(|(_, c)| {
                    c.messenger.as_ref().is_some_and(|page| page.human_agent)
                        || c.instagram.as_ref().is_some_and(|a| a.human_agent)
                })
                .map(|(id, _)| ChannelId::new(id.clone())),
        )
    }

    /// The rule of a conversation with `customer` on `channel`.
    pub fn rule(&self, channel: &ChannelId, customer: &CustomerId) -> WindowRule {
        match super::kind_of(customer) {
            ChannelKind::Telegram | ChannelKind::X | ChannelKind::Webchat => WindowRule::None,
            ChannelKind::Messenger | ChannelKind::Instagram
                if self.human_agent.contains(channel) =>
            {
                WindowRule::HumanAgent
            }
            _ => WindowRule::Service,
        }
    }

    /// The window of a conversation with `customer` on `channel` at `now_ms`.
    pub fn window(
        &self,
        channel: &ChannelId,
        customer: &CustomerId,
        last_inbound_at: Option<i64>,
        now_ms: i64,
    ) -> ServiceWindow {
        self.rule(channel, customer).at(last_inbound_at, now_ms)
    }
}

/// Meta's 24 hours at `now_ms` for a customer who last wrote at `last_inbound_at` (unix ms).
pub fn service_window(last_inbound_at: Option<i64>, now_ms: i64) -> ServiceWindow {
    match last_inbound_at {
        Some(last) => {
            let closes_at = last.saturating_add(SERVICE_WINDOW_MS);
            ServiceWindow {
                open: now_ms < closes_at,
                closes_at: Some(closes_at),
                tagged: false,
            }
        }
        None => ServiceWindow {
            open: false,
            closes_at: None,
            tagged: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::messenger::Platform;
    use crate::domain::AccountId;

    const WROTE: i64 = 1_700_000_000_000;
    const HOUR: i64 = 60 * 60 * 1000;

    fn window(open: bool, closes_at: Option<i64>, tagged: bool) -> ServiceWindow {
        ServiceWindow {
            open,
            closes_at,
            tagged,
        }
    }

    #[test]
    fn open_for_exactly_24_hours_after_the_customer_wrote() {
        let at = |ms| service_window(Some(WROTE), ms);
        assert_eq!(
            at(WROTE),
            window(true, Some(WROTE + SERVICE_WINDOW_MS), false)
        );
        assert!(at(WROTE + SERVICE_WINDOW_MS - 1).open);
        assert!(!at(WROTE + SERVICE_WINDOW_MS).open);
        assert!(!at(WROTE + 3 * SERVICE_WINDOW_MS).open);
    }

    #[test]
    fn closed_when_the_customer_never_wrote_and_safe_at_the_edges() {
        assert_eq!(service_window(None, 0), window(false, None, false));
        assert!(service_window(Some(i64::MAX), i64::MAX - 1).open);
        assert!(!service_window(Some(i64::MIN), 0).open);
        for rule in [WindowRule::Service, WindowRule::HumanAgent] {
            assert_eq!(rule.at(None, WROTE), window(false, None, false), "{rule:?}");
            assert!(rule.at(Some(i64::MAX), i64::MAX - 1).open);
            assert!(!rule.at(Some(i64::MIN), 0).open);
        }
        assert!(WindowRule::None.at(Some(i64::MIN), i64::MAX).open);
    }

    #[test]
    fn human_agent_adds_tagged_days_up_to_7_after_the_customer_wrote() {
        let rule = WindowRule::HumanAgent;
        let week = WROTE + HUMAN_AGENT_WINDOW_MS;
        // The first 24 hours: an ordinary response.
        assert_eq!(
            rule.at(Some(WROTE), WROTE + HOUR),
            window(true, Some(WROTE + SERVICE_WINDOW_MS), false)
        );
        assert_eq!(
            rule.at(Some(WROTE), WROTE + SERVICE_WINDOW_MS - 1),
            window(true, Some(WROTE + SERVICE_WINDOW_MS), false)
        );
        // Then the tag, until the 7 days end.
        for now in [
            WROTE + SERVICE_WINDOW_MS,
            WROTE + 3 * SERVICE_WINDOW_MS,
            week - 1,
        ] {
            assert_eq!(rule.at(Some(WROTE), now), window(true, Some(week), true));
        }
        for now in [week, week + HOUR, week * 2] {
            assert_eq!(rule.at(Some(WROTE), now), window(false, Some(week), false));
        }
    }

    #[test]
    fn no_window_is_always_open_and_never_closes() {
        for last in [None, Some(WROTE)] {
            for now in [WROTE, WROTE + 30 * SERVICE_WINDOW_MS] {
                assert_eq!(WindowRule::None.at(last, now), window(true, None, false));
            }
        }
    }

    #[test]
    fn each_channel_kind_has_its_rule_and_only_approved_meta_channels_the_tag() {
        let page = ChannelId::new("page");
        let approved = ChannelId::new("approved");
        let windows = ChannelWindows::new([approved.clone()]);
        let account = AccountId::new("123");
        let cases = [
            (
                CustomerId::new("15550001111"),
                WindowRule::Service,
                WindowRule::Service,
            ),
            (
                Platform::Messenger.customer_id(&account, "4444"),
                WindowRule::Service,
                WindowRule::HumanAgent,
            ),
            (
                Platform::Instagram.customer_id(&account, "5555"),
                WindowRule::Service,
                WindowRule::HumanAgent,
            ),
            (
                crate::channels::telegram::customer_id(&account, 1111111),
                WindowRule::None,
                WindowRule::None,
            ),
            (
                crate::channels::x::customer_id(&account, "3001969357"),
                WindowRule::None,
                WindowRule::None,
            ),
            (
                crate::channels::webchat::customer_id(&page, "0123abcd"),
                WindowRule::None,
                WindowRule::None,
            ),
        ];
        for (customer, plain, tagged) in cases {
            assert_eq!(windows.rule(&page, &customer), plain, "{customer}");
            // A WhatsApp number on a channel listed as approved (a misconfiguration) keeps
            // Meta's 24 hours: only Messenger and Instagram have the tag.
            assert_eq!(windows.rule(&approved, &customer), tagged, "{customer}");
        }
        // Nothing approved: Meta's 24 hours.
        let psid = Platform::Messenger.customer_id(&account, "4444");
        assert_eq!(
            ChannelWindows::default().rule(&approved, &psid),
            WindowRule::Service
        );
    }

    #[test]
    fn views_show_when_free_text_ends_and_when_the_tag_begins() {
        let now = WROTE + HOUR;
        assert_eq!(
            WindowRule::Service.view(Some(WROTE), now),
            serde_json::json!({"rule": "service", "open": true,
                "closes_at": WROTE + SERVICE_WINDOW_MS, "tagged": false, "tagged_from": null})
        );
        assert_eq!(
            WindowRule::HumanAgent.view(Some(WROTE), now),
            serde_json::json!({"rule": "human_agent", "open": true,
                "closes_at": WROTE + HUMAN_AGENT_WINDOW_MS, "tagged": false,
                "tagged_from": WROTE + SERVICE_WINDOW_MS})
        );
        assert_eq!(
            WindowRule::HumanAgent.view(Some(WROTE), WROTE + 3 * SERVICE_WINDOW_MS)["tagged"],
            true
        );
        assert_eq!(
            WindowRule::HumanAgent.view(None, now),
            serde_json::json!({"rule": "human_agent", "open": false, "closes_at": null,
                "tagged": false, "tagged_from": null})
        );
        assert_eq!(
            WindowRule::None.view(Some(WROTE), now),
            serde_json::json!({"rule": "none", "open": true, "closes_at": null,
                "tagged": false, "tagged_from": null})
        );
    }

    #[test]
    fn refusals_say_which_rule_closed() {
        assert_eq!(
            WindowRule::Service.closed_reason(ChannelKind::Whatsapp),
            WINDOW_CLOSED_REASON
        );
        for kind in [ChannelKind::Messenger, ChannelKind::Instagram] {
            assert_eq!(
                WindowRule::Service.closed_reason(kind),
                META_WINDOW_CLOSED_REASON
            );
            assert_eq!(
                WindowRule::HumanAgent.closed_reason(kind),
                HUMAN_AGENT_CLOSED_REASON
            );
        }
    }
}
