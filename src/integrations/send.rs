//! A business system's message to a contact (`POST /api/v1/contacts/{id}/messages`), pure:
//! what the body asks to send ([`SendBody::content`]), whether the channel's window lets it go
//! now ([`window_allows`]), and which of the contact's addresses it goes to ([`address_on`]).
//!
//! - `{"channel", "text"}`: free text, only while the customer-service window is open for a
//!   business system: the channel's [`WindowRule`] without Meta's `HUMAN_AGENT` tag, which is
//!   for a person's replies, never an automated system's (outside it: 422 `window_closed`);
//! - `{"channel", "template": {"name", "language", "components"?}}`: an approved template,
//!   at any time, on WhatsApp channels only (elsewhere: 422 `template_unsupported`).
//!
//! A template must be one synced from Meta for that number and APPROVED, and the consent
//! rules apply ([`template_allowed`], docs/CAMPAIGNS.md): a MARKETING template goes only to a
//! contact opted in on that number and not opted out since (422 `no_consent` / `opted_out`);
//! UTILITY and AUTHENTICATION templates are not gated by marketing consent; nothing goes to an
//! erased contact.

use serde::Deserialize;
use serde_json::Value;

use crate::campaigns::consent::{self, ConsentState};
use crate::campaigns::policy::{self, CountryRules, Recipient};
use crate::campaigns::templates::{self, Category, Template, Unusable};
use crate::channels::window::WindowRule;
use crate::domain::{ChannelKind, CustomerId, OutboundContent};
use crate::store::ContactIdentity;

/// WhatsApp's longest text body.
pub const MAX_TEXT: usize = 4096;

/// Meta's longest template name.
pub const MAX_TEMPLATE_NAME: usize = 512;

/// The most components a template message carries (header, body, footer, buttons: a few).
pub const MAX_COMPONENTS: usize = 32;

/// What a Messenger page or Instagram account approved for `HUMAN_AGENT` tells a business
/// system past the 24 hours.
pub const TAGGED_ONLY_REASON: &str = "More than 24 hours have passed since the customer last \
     wrote: Meta's HUMAN_AGENT tag is for a person's replies, not a business system's, so the \
     customer has to write first";

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    /// The channel's id, as conversation views name it (`conversation.channel`).
    pub channel: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub template: Option<TemplateBody>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    pub name: String,
    /// The template's language code (`en_US`, `es`, `pt_BR`).
    pub language: String,
    /// Meta's template components (parameters of the header, body and buttons).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub components: Option<Value>,
}

/// Why a send is refused before it reaches the conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The body is malformed (400).
    BadRequest(String),
    /// Understood but refused by a rule (422), named by `code`.
    Rule { code: &'static str, message: String },
}

impl SendBody {
    /// The content to send on a channel of `kind`, checked.
    pub fn content(&self, kind: ChannelKind) -> Result<OutboundContent, Refusal> {
        let bad = |m: &str| Err(Refusal::BadRequest(m.to_owned()));
        match (&self.text, &self.template) {
            (Some(text), None) => {
                if text.trim().is_empty() {
                    return bad("`text` is empty");
                }
                if text.chars().count() > MAX_TEXT {
                    return Err(Refusal::BadRequest(format!(
                        "`text` is longer than {MAX_TEXT} characters"
                    )));
                }
                Ok(OutboundContent::Text {
                    body: text.clone(),
                    preview_url: false,
                })
            }
            (None, Some(template)) => {
                if kind != ChannelKind::Whatsapp {
                    return Err(Refusal::Rule {
                        code: "template_unsupported",
                        message: format!(
                            "channel {:?} is a {} channel: only WhatsApp sends templates",
                            self.channel,
                            kind.as_str()
                        ),
                    });
                }
                template.content()
            }
            _ => bad("give exactly one of `text` or `template`"),
        }
    }
}

impl TemplateBody {
    fn content(&self) -> Result<OutboundContent, Refusal> {
        let bad = |m: String| Err(Refusal::BadRequest(m));
        let name = self.name.as_str();
        if name.is_empty()
            || name.chars().count() > MAX_TEMPLATE_NAME
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return bad(format!(
                "`template.name` takes 1 to {MAX_TEMPLATE_NAME} lower-case letters, digits \
                 and underscores, as Meta names templates"
            ));
        }
        let language = self.language.as_str();
        if !(2..=15).contains(&language.len())
            || !language
                .chars()
                .all(|c| c.is_ascii_alphabetic() || c == '_' || c == '-')
        {
            return bad("`template.language` is a language code such as `en_US` or `es`".into());
        }
        let components = match &self.components {
            None => Value::Array(Vec::new()),
            Some(Value::Array(items)) => {
                if items.len() > MAX_COMPONENTS {
                    return bad(format!(
                        "`template.components` holds at most {MAX_COMPONENTS} components"
                    ));
                }
                if !items
                    .iter()
                    .all(|c| c.get("type").is_some_and(Value::is_string))
                {
                    return bad(
                        "each of `template.components` is an object with a `type` (header, \
                         body, button), as in Meta's template messages"
                            .into(),
                    );
                }
                Value::Array(items.clone())
            }
            Some(_) => return bad("`template.components` is an array".into()),
        };
        Ok(OutboundContent::Template {
            name: name.to_owned(),
            language: language.to_owned(),
            components,
            marketing_api: false,
            campaign: None,
        })
    }
}

/// Why the template named `name` in `language` may not be sent, as a refusal (422).
pub fn unusable_refusal(name: &str, language: &str, unusable: Unusable) -> Refusal {
    Refusal::Rule {
        code: unusable.code(),
        message: match unusable {
            Unusable::Unknown => format!(
                "no template {name:?} in {language:?} for this number: sync the templates \
                 (POST /api/v1/templates/sync) or check its name and language"
            ),
            Unusable::NotApproved { status, reason } => format!(
                "template {name:?} in {language:?} is {status}{}: only an APPROVED template is sent",
                reason.map(|r| format!(" ({r})")).unwrap_or_default()
            ),
        },
    }
}

/// May a template go out: `template` is the stored one of that channel, name and language, and
/// `consent` the contact's state on that number. Its category when it may; else the rule that
/// refuses it (422), named by its code: `unknown_template`, `template_not_approved`, a country
/// rule's (`us_marketing_paused`, `country_denied`, `country_not_allowed`, `unknown_country`,
/// `sanctioned_country`; `recipient` is the address's number and country, or a BSUID), then
/// `no_consent`, `opted_out`, `contact_erased`.
pub fn template_allowed(
    name: &str,
    language: &str,
    template: Option<&Template>,
    countries: &CountryRules,
    recipient: Recipient<'_>,
    consent: ConsentState,
) -> Result<Category, Refusal> {
    let category = templates::usable(template)
        .map_err(|unusable| unusable_refusal(name, language, unusable))?;
    policy::country_allows(countries, category, recipient).map_err(|refusal| Refusal::Rule {
        code: refusal.code(),
        message: format!(
            "template {name:?} is {}: {}",
            category.as_str(),
            refusal.message()
        ),
    })?;
    consent::may_send(category, consent).map_err(|refusal| Refusal::Rule {
        code: refusal.code(),
        message: format!(
            "template {name:?} is {}: {}",
            category.as_str(),
            refusal.message()
        ),
    })?;
    Ok(category)
}

/// May a business system send `content` now, on a conversation whose window follows `rule`
/// and whose customer last wrote at `last_inbound_at` (unix ms)? A template always; anything
/// else only inside the window, and never on the strength of Meta's `HUMAN_AGENT` tag. Else
/// why not, in the provider's words.
pub fn window_allows(
    content: &OutboundContent,
    rule: WindowRule,
    kind: ChannelKind,
    last_inbound_at: Option<i64>,
    now_ms: i64,
) -> Result<(), &'static str> {
    if matches!(content, OutboundContent::Template { .. }) {
        return Ok(());
    }
    let window = rule.at(last_inbound_at, now_ms);
    match (window.open, window.tagged) {
        (true, false) => Ok(()),
        (true, true) => Err(TAGGED_ONLY_REASON),
        (false, _) => Err(rule.closed_reason(kind)),
    }
}

/// The address a contact is written to on `channel` (of `kind`): its identity there, else, on
/// WhatsApp, its phone number (a WhatsApp customer's id is their number: the first
/// conversation opens with it and the number's identity joins the contact). None when the
/// contact cannot be reached there.
pub fn address_on(
    channel: &str,
    kind: ChannelKind,
    identities: &[ContactIdentity],
    phone: Option<&str>,
) -> Option<CustomerId> {
    if let Some(identity) = identities.iter().find(|i| i.channel.as_str() == channel) {
        return Some(CustomerId::new(identity.address.clone()));
    }
    if kind == ChannelKind::Whatsapp {
        return phone
            .and_then(crate::crm::contact::phone_digits)
            .map(CustomerId::new);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::window::{
        META_WINDOW_CLOSED_REASON, SERVICE_WINDOW_MS, WINDOW_CLOSED_REASON,
    };
    use crate::domain::ChannelId;
    use serde_json::json;

    fn body(value: Value) -> SendBody {
        serde_json::from_value(value).expect("a send body")
    }

    #[test]
    fn text_and_templates_are_checked() {
        let text = body(json!({"channel": "support", "text": "Your parcel left"}));
        assert_eq!(
            text.content(ChannelKind::Telegram),
            Ok(OutboundContent::Text {
                body: "Your parcel left".into(),
                preview_url: false
            })
        );
        let template = body(json!({"channel": "support", "template": {
            "name": "parcel_update", "language": "en_US",
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "A-1"}]}]
        }}));
        let content = template.content(ChannelKind::Whatsapp).expect("a template");
        assert_eq!(content.type_label(), "template");
        // No components: an empty list.
        let bare =
            body(json!({"channel": "support", "template": {"name": "hello", "language": "es"}}));
        assert_eq!(
            bare.content(ChannelKind::Whatsapp),
            Ok(OutboundContent::Template {
                name: "hello".into(),
                language: "es".into(),
                components: json!([]),
                marketing_api: false,
                campaign: None,
            })
        );
        // Templates are WhatsApp's only.
        for kind in [
            ChannelKind::Messenger,
            ChannelKind::Instagram,
            ChannelKind::Telegram,
            ChannelKind::X,
            ChannelKind::Webchat,
        ] {
            assert!(
                matches!(
                    template.content(kind),
                    Err(Refusal::Rule {
                        code: "template_unsupported",
                        ..
                    })
                ),
                "{kind:?}"
            );
        }
        // Malformed bodies: 400.
        for bad in [
            json!({"channel": "support"}),
            json!({"channel": "support", "text": "  "}),
            json!({"channel": "support", "text": "x".repeat(MAX_TEXT + 1)}),
            json!({"channel": "support", "text": "hi", "template": {"name": "a", "language": "en"}}),
            json!({"channel": "support", "template": {"name": "Bad Name", "language": "en"}}),
            json!({"channel": "support", "template": {"name": "", "language": "en"}}),
            json!({"channel": "support", "template": {"name": "a", "language": "e"}}),
            json!({"channel": "support", "template": {"name": "a", "language": "en US"}}),
            json!({"channel": "support", "template": {"name": "a", "language": "en", "components": {}}}),
            json!({"channel": "support", "template": {"name": "a", "language": "en", "components": [1]}}),
            json!({"channel": "support", "template": {"name": "a", "language": "en", "components": [{"text": "x"}]}}),
        ] {
            assert!(
                matches!(
                    body(bad.clone()).content(ChannelKind::Whatsapp),
                    Err(Refusal::BadRequest(_))
                ),
                "{bad}"
            );
        }
        let many: Vec<Value> = (0..=MAX_COMPONENTS)
            .map(|_| json!({"type": "body"}))
            .collect();
        let too_many = body(
            json!({"channel": "s", "template": {"name": "a", "language": "en", "components": many}}),
        );
        assert!(matches!(
            too_many.content(ChannelKind::Whatsapp),
            Err(Refusal::BadRequest(_))
        ));
        // Unknown fields are refused by the body's type.
        assert!(
            serde_json::from_value::<SendBody>(json!({"channel": "s", "text": "x", "to": "1"}))
                .is_err()
        );
    }

    #[test]
    fn a_template_must_be_approved_and_marketing_needs_consent() {
        use crate::campaigns::consent::ConsentEvent::{OptedIn, OptedOut};
        let template = |category, status: &str| Template {
            channel: "support".into(),
            id: "1".into(),
            name: "t".into(),
            language: "en".into(),
            category,
            status: status.into(),
            components: json!([]),
            parameter_format: "POSITIONAL".into(),
            reason: None,
            updated_at: 0,
        };
        let code = |r: Result<Category, Refusal>| match r {
            Ok(c) => c.as_str(),
            Err(Refusal::Rule { code, .. }) => code,
            Err(Refusal::BadRequest(m)) => panic!("bad request {m}"),
        };
        let state = |last| ConsentState {
            erased: false,
            last,
        };
        let spain = Recipient::Number {
            country: Some("ES"),
        };
        let rules = CountryRules {
            us_marketing_paused: true,
            ..CountryRules::default()
        };
        let allowed = |name: &str, language: &str, t: Option<&Template>, consent| {
            template_allowed(name, language, t, &rules, spain, consent)
        };
        assert_eq!(
            code(allowed("t", "en", None, state(Some(OptedIn)))),
            "unknown_template"
        );
        let paused = template(Category::Utility, "PAUSED");
        assert_eq!(
            code(allowed("t", "en", Some(&paused), state(None))),
            "template_not_approved"
        );
        let marketing = template(Category::Marketing, "APPROVED");
        assert_eq!(
            code(allowed("t", "en", Some(&marketing), state(None))),
            "no_consent"
        );
        assert_eq!(
            code(allowed("t", "en", Some(&marketing), state(Some(OptedOut)))),
            "opted_out"
        );
        assert_eq!(
            code(allowed("t", "en", Some(&marketing), state(Some(OptedIn)))),
            "MARKETING"
        );
        for category in [Category::Utility, Category::Authentication] {
            let t = template(category, "APPROVED");
            for last in [None, Some(OptedIn), Some(OptedOut)] {
                assert_eq!(
                    code(allowed("t", "en", Some(&t), state(last))),
                    category.as_str()
                );
            }
            let erased = ConsentState {
                erased: true,
                last: Some(OptedIn),
            };
            assert_eq!(code(allowed("t", "en", Some(&t), erased)), "contact_erased");
        }
        // Country rules come before consent: marketing to a US number during Meta's pause.
        let us = Recipient::Number {
            country: Some("US"),
        };
        for last in [None, Some(OptedIn)] {
            assert_eq!(
                code(template_allowed(
                    "t",
                    "en",
                    Some(&marketing),
                    &rules,
                    us,
                    state(last)
                )),
                "us_marketing_paused"
            );
        }
        let utility = template(Category::Utility, "APPROVED");
        assert_eq!(
            code(template_allowed(
                "t",
                "en",
                Some(&utility),
                &rules,
                us,
                state(None)
            )),
            "UTILITY"
        );
        // A paused marketing template is refused for its status before consent is weighed.
        let paused = template(Category::Marketing, "PAUSED");
        assert_eq!(
            code(allowed("t", "en", Some(&paused), state(Some(OptedIn)))),
            "template_not_approved"
        );
    }

    #[test]
    fn free_text_only_inside_the_window_and_never_on_the_tag() {
        let now = 10 * SERVICE_WINDOW_MS;
        let text = OutboundContent::Text {
            body: "hi".into(),
            preview_url: false,
        };
        let template = OutboundContent::Template {
            name: "hello".into(),
            language: "en".into(),
            components: json!([]),
            marketing_api: false,
            campaign: None,
        };
        let wa = ChannelKind::Whatsapp;
        let recent = Some(now - 1000);
        let old = Some(now - SERVICE_WINDOW_MS - 1);
        assert_eq!(
            window_allows(&text, WindowRule::Service, wa, recent, now),
            Ok(())
        );
        assert_eq!(
            window_allows(&text, WindowRule::Service, wa, old, now),
            Err(WINDOW_CLOSED_REASON)
        );
        // Never written: closed.
        assert_eq!(
            window_allows(&text, WindowRule::Service, wa, None, now),
            Err(WINDOW_CLOSED_REASON)
        );
        // A template goes at any time.
        for last in [recent, old, None] {
            assert_eq!(
                window_allows(&template, WindowRule::Service, wa, last, now),
                Ok(())
            );
        }
        // Channels without a window.
        assert_eq!(
            window_allows(&text, WindowRule::None, ChannelKind::Telegram, None, now),
            Ok(())
        );
        // Messenger: closed after 24 hours; with HUMAN_AGENT the tag is not for an API.
        let messenger = ChannelKind::Messenger;
        assert_eq!(
            window_allows(&text, WindowRule::Service, messenger, old, now),
            Err(META_WINDOW_CLOSED_REASON)
        );
        assert_eq!(
            window_allows(&text, WindowRule::HumanAgent, messenger, recent, now),
            Ok(())
        );
        assert_eq!(
            window_allows(&text, WindowRule::HumanAgent, messenger, old, now),
            Err(TAGGED_ONLY_REASON)
        );
        assert!(
            window_allows(
                &text,
                WindowRule::HumanAgent,
                messenger,
                Some(now - 8 * SERVICE_WINDOW_MS),
                now
            )
            .is_err()
        );
    }

    #[test]
    fn the_address_is_the_channels_identity_else_a_whatsapp_number() {
        let identity = |channel: &str, address: &str| ContactIdentity {
            channel: ChannelId::new(channel),
            address: address.into(),
            first_seen: 0,
        };
        let ids = [
            identity("tg", "telegram:1:42"),
            identity("support", "34600100001"),
        ];
        assert_eq!(
            address_on("tg", ChannelKind::Telegram, &ids, None),
            Some(CustomerId::new("telegram:1:42"))
        );
        assert_eq!(
            address_on(
                "support",
                ChannelKind::Whatsapp,
                &ids,
                Some("34 699 000 000")
            ),
            Some(CustomerId::new("34600100001"))
        );
        // No identity on that WhatsApp number: the contact's phone.
        assert_eq!(
            address_on(
                "sales",
                ChannelKind::Whatsapp,
                &ids,
                Some("+34 699 000 000")
            ),
            Some(CustomerId::new("34699000000"))
        );
        assert_eq!(address_on("sales", ChannelKind::Whatsapp, &ids, None), None);
        // Elsewhere an address is only known once the customer wrote there.
        assert_eq!(
            address_on(
                "messenger",
                ChannelKind::Messenger,
                &ids,
                Some("34699000000")
            ),
            None
        );
    }
}
