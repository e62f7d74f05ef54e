//! The consent ledger's rules, pure: what an event and a source are, the state a contact's
//! events leave ([`state_of`]), whether a template of a category may go to a contact
//! ([`may_send`]), and what a customer's message does to their consent ([`keyword`]: STOP,
//! BAJA, START...).
//!
//! Meta's own rule: a customer's "stop promotions" blocks marketing templates only; utility and
//! authentication templates follow their own rules (sent in answer to the customer's own
//! transaction), so marketing consent does not gate them. An erased contact gets nothing.

use serde::{Deserialize, Serialize};

use super::templates::Category;
use crate::config::ConsentSettings;

/// One entry of the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentEvent {
    OptedIn,
    OptedOut,
}

impl ConsentEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentEvent::OptedIn => "opted_in",
            ConsentEvent::OptedOut => "opted_out",
        }
    }

    pub fn parse(s: &str) -> Option<ConsentEvent> {
        match s {
            "opted_in" => Some(ConsentEvent::OptedIn),
            "opted_out" => Some(ConsentEvent::OptedOut),
            _ => None,
        }
    }
}

/// Where an entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentSource {
    /// A bot question the customer answered.
    Bot,
    /// A form on the business's website.
    WebForm,
    /// An import of contacts who opted in elsewhere.
    Import,
    /// An agent, with the customer's words as proof.
    Agent,
    /// The customer wrote a stop or start keyword.
    Keyword,
    /// Meta's `user_preferences` webhook ("stop promotions" / "resume promotions").
    UserPreferences,
    /// A marketing template failed with 131050: the customer stopped marketing from us.
    #[serde(rename = "error_131050")]
    Error131050,
    /// A business system through the API.
    Api,
}

impl ConsentSource {
    pub const ALL: [ConsentSource; 8] = [
        ConsentSource::Bot,
        ConsentSource::WebForm,
        ConsentSource::Import,
        ConsentSource::Agent,
        ConsentSource::Keyword,
        ConsentSource::UserPreferences,
        ConsentSource::Error131050,
        ConsentSource::Api,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsentSource::Bot => "bot",
            ConsentSource::WebForm => "web_form",
            ConsentSource::Import => "import",
            ConsentSource::Agent => "agent",
            ConsentSource::Keyword => "keyword",
            ConsentSource::UserPreferences => "user_preferences",
            ConsentSource::Error131050 => "error_131050",
            ConsentSource::Api => "api",
        }
    }

    pub fn parse(s: &str) -> Option<ConsentSource> {
        Self::ALL.into_iter().find(|source| source.as_str() == s)
    }

    /// The sources a person or a business system may record by hand (the others are the
    /// customer's own acts, recorded as they happen).
    pub fn recordable(self) -> bool {
        matches!(
            self,
            ConsentSource::Bot
                | ConsentSource::WebForm
                | ConsentSource::Import
                | ConsentSource::Agent
                | ConsentSource::Api
        )
    }
}

/// Where a contact stands with one business number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsentState {
    /// The contact was erased (nothing goes to it).
    pub erased: bool,
    /// The last event of the ledger for it; None: never asked.
    pub last: Option<ConsentEvent>,
}

/// The state the events (oldest first) leave: the last one.
pub fn state_of(events: impl IntoIterator<Item = ConsentEvent>) -> Option<ConsentEvent> {
    events.into_iter().last()
}

/// Why a template may not go to a contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Erased,
    /// Marketing, and the contact never opted in.
    NoConsent,
    /// Marketing, and the contact opted out since they opted in.
    OptedOut,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Erased => "contact_erased",
            Refusal::NoConsent => "no_consent",
            Refusal::OptedOut => "opted_out",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::Erased => "the contact was erased: nothing is sent to it",
            Refusal::NoConsent => {
                "a marketing template goes only to a contact who opted in on this number, and \
                 this one never did (record the opt-in with its proof first)"
            }
            Refusal::OptedOut => {
                "the contact opted out of marketing on this number: a marketing template goes \
                 only after a new opt-in"
            }
        }
    }
}

/// May a template of `category` go to a contact in `state`? Marketing only to a contact opted
/// in and not opted out since; utility and authentication are not gated by marketing consent;
/// never to an erased contact.
pub fn may_send(category: Category, state: ConsentState) -> Result<(), Refusal> {
    if state.erased {
        return Err(Refusal::Erased);
    }
    match (category, state.last) {
        (Category::Utility | Category::Authentication, _) => Ok(()),
        (Category::Marketing, Some(ConsentEvent::OptedIn)) => Ok(()),
        (Category::Marketing, Some(ConsentEvent::OptedOut)) => Err(Refusal::OptedOut),
        (Category::Marketing, None) => Err(Refusal::NoConsent),
    }
}

/// What a customer's message does to their consent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeywordOutcome {
    /// Not a keyword: the message goes on as usual.
    NotKeyword,
    /// A keyword that changes the state: record `event` and answer `reply` (in the customer's
    /// language), once.
    Record { event: ConsentEvent, reply: String },
    /// A keyword that changes nothing (a second STOP): nothing recorded, nothing answered.
    Unchanged { event: ConsentEvent },
}

impl KeywordOutcome {
    /// Whether the message was a keyword (the bot does not answer it).
    pub fn is_keyword(&self) -> bool {
        !matches!(self, KeywordOutcome::NotKeyword)
    }
}

/// A message's text as keywords are compared: trimmed, without closing punctuation, upper case.
fn normal(text: &str) -> String {
    text.trim()
        .trim_end_matches(['.', '!', '?', '¡', '¿', '。', '؟'])
        .trim()
        .to_uppercase()
}

/// Whether `text` is one of the stop or start words of any language (whatever the state).
pub fn is_keyword_text(text: &str, settings: &ConsentSettings) -> bool {
    let said = normal(text);
    !said.is_empty()
        && settings
            .keywords
            .values()
            .any(|k| k.stop.iter().chain(&k.start).any(|w| normal(w) == said))
}

/// What `text` (the whole message) does, given the state before it (`prior`) and the contact's
/// language: a stop keyword of any configured language opts out, a start keyword opts in again
/// (only after an opt-out: otherwise it is not taken as a keyword);
/// the confirmation is in the contact's language when it has texts, else in the language of
/// the keyword (the default language's when the word is in several, like STOP), else the
/// default.
pub fn keyword(
    text: &str,
    settings: &ConsentSettings,
    prior: Option<ConsentEvent>,
    contact_language: Option<&str>,
    default_language: &str,
) -> KeywordOutcome {
    let said = normal(text);
    if said.is_empty() || said.chars().count() > 64 {
        return KeywordOutcome::NotKeyword;
    }
    let of = |k: &crate::config::ConsentKeywords| {
        if k.stop.iter().any(|w| normal(w) == said) {
            Some(ConsentEvent::OptedOut)
        } else if k.start.iter().any(|w| normal(w) == said) {
            Some(ConsentEvent::OptedIn)
        } else {
            None
        }
    };
    // A word of several languages (STOP is in all of them) is the default language's when it
    // is one of them, else the first's.
    let found = settings
        .keywords
        .get(default_language)
        .and_then(|k| of(k).map(|event| (event, default_language)))
        .or_else(|| {
            settings
                .keywords
                .iter()
                .find_map(|(language, k)| of(k).map(|event| (event, language.as_str())))
        });
    let Some((event, keyword_language)) = found else {
        return KeywordOutcome::NotKeyword;
    };
    // A start word opts in *again*: only after an opt-out. Otherwise it is the customer's word
    // for something else (the demo bot's menu answers "start").
    if event == ConsentEvent::OptedIn && prior != Some(ConsentEvent::OptedOut) {
        return KeywordOutcome::NotKeyword;
    }
    if prior == Some(event) {
        return KeywordOutcome::Unchanged { event };
    }
    let texts = contact_language
        .and_then(|l| settings.keywords.get(l))
        .or_else(|| settings.keywords.get(keyword_language))
        .or_else(|| settings.keywords.get(default_language));
    let reply = texts
        .map(|k| match event {
            ConsentEvent::OptedOut => k.stop_reply.clone(),
            ConsentEvent::OptedIn => k.start_reply.clone(),
        })
        .unwrap_or_default();
    KeywordOutcome::Record { event, reply }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConsentEvent::{OptedIn, OptedOut};

    #[test]
    fn may_send_follows_the_category_and_the_last_event() {
        let categories = [
            Category::Marketing,
            Category::Utility,
            Category::Authentication,
        ];
        let lasts = [None, Some(OptedIn), Some(OptedOut)];
        for category in categories {
            for last in lasts {
                for erased in [false, true] {
                    let state = ConsentState { erased, last };
                    let expected = match (erased, category, last) {
                        (true, _, _) => Err(Refusal::Erased),
                        (false, Category::Marketing, Some(OptedIn)) => Ok(()),
                        (false, Category::Marketing, Some(OptedOut)) => Err(Refusal::OptedOut),
                        (false, Category::Marketing, None) => Err(Refusal::NoConsent),
                        (false, Category::Utility | Category::Authentication, _) => Ok(()),
                    };
                    assert_eq!(
                        may_send(category, state),
                        expected,
                        "{category:?} {last:?} erased={erased}"
                    );
                }
            }
        }
        assert_eq!(Refusal::NoConsent.code(), "no_consent");
        assert_eq!(Refusal::OptedOut.code(), "opted_out");
        assert_eq!(Refusal::Erased.code(), "contact_erased");
    }

    #[test]
    fn the_state_is_the_last_event() {
        assert_eq!(state_of([]), None);
        assert_eq!(state_of([OptedIn]), Some(OptedIn));
        assert_eq!(state_of([OptedIn, OptedOut]), Some(OptedOut));
        // Opted in again after an opt-out.
        assert_eq!(state_of([OptedIn, OptedOut, OptedIn]), Some(OptedIn));
        // An opt-in older than an opt-out does not count.
        let state = ConsentState {
            erased: false,
            last: state_of([OptedOut, OptedIn, OptedOut]),
        };
        assert_eq!(may_send(Category::Marketing, state), Err(Refusal::OptedOut));
    }

    #[test]
    fn sources_and_events_round_trip() {
        for source in ConsentSource::ALL {
            assert_eq!(ConsentSource::parse(source.as_str()), Some(source));
            let json = serde_json::to_value(source).expect("json");
            assert_eq!(json, source.as_str());
        }
        assert_eq!(ConsentSource::parse("fax"), None);
        assert!(ConsentSource::Agent.recordable());
        assert!(!ConsentSource::Keyword.recordable());
        assert!(!ConsentSource::UserPreferences.recordable());
        assert!(!ConsentSource::Error131050.recordable());
        for event in [OptedIn, OptedOut] {
            assert_eq!(ConsentEvent::parse(event.as_str()), Some(event));
        }
        assert_eq!(ConsentEvent::parse("maybe"), None);
    }

    fn settings() -> ConsentSettings {
        ConsentSettings::default()
    }

    fn reply_of(outcome: &KeywordOutcome) -> &str {
        match outcome {
            KeywordOutcome::Record { reply, .. } => reply,
            other => panic!("not recorded: {other:?}"),
        }
    }

    #[test]
    fn stop_keywords_of_every_language_opt_out_once() {
        let s = settings();
        for (text, language) in [
            ("STOP", "en"),
            ("stop", "en"),
            (" Stop! ", "en"),
            ("BAJA", "es"),
            ("baja.", "es"),
            ("PARAR", "pt"),
            ("ARRÊT", "fr"),
            ("arrêt", "fr"),
            ("СТОП", "ru"),
            ("стоп", "ru"),
            ("إيقاف", "ar"),
        ] {
            let outcome = keyword(text, &s, None, Some(language), "en");
            assert!(
                matches!(
                    &outcome,
                    KeywordOutcome::Record {
                        event: OptedOut,
                        ..
                    }
                ),
                "{text}: {outcome:?}"
            );
            let expected = &s.keywords[language].stop_reply;
            assert_eq!(reply_of(&outcome), expected, "{text}");
            // Already opted out: nothing recorded, nothing said.
            assert_eq!(
                keyword(text, &s, Some(OptedOut), Some(language), "en"),
                KeywordOutcome::Unchanged { event: OptedOut },
                "{text}"
            );
            // After an opt-in, a stop counts again.
            assert!(matches!(
                keyword(text, &s, Some(OptedIn), Some(language), "en"),
                KeywordOutcome::Record {
                    event: OptedOut,
                    ..
                }
            ));
        }
    }

    #[test]
    fn a_word_of_every_language_is_confirmed_in_the_default_language() {
        let s = settings();
        // STOP is a stop word of all six languages: a customer of no known language gets the
        // bot's default language, never the first language in alphabetical order (ar).
        for default in ["en", "es", "fr"] {
            let outcome = keyword("STOP", &s, None, None, default);
            assert_eq!(
                reply_of(&outcome),
                &s.keywords[default].stop_reply,
                "{default}"
            );
        }
        // A word of one language only is that language's.
        let outcome = keyword("BAJA", &s, None, None, "en");
        assert_eq!(reply_of(&outcome), &s.keywords["es"].stop_reply);
        // A default language with no keywords: the first language that has the word.
        let outcome = keyword("STOP", &s, None, None, "de");
        assert_eq!(reply_of(&outcome), &s.keywords["ar"].stop_reply);
    }

    #[test]
    fn start_keywords_opt_in_again() {
        let s = settings();
        for (text, language) in [
            ("START", "en"),
            ("resume", "en"),
            ("ALTA", "es"),
            ("Reanudar", "es"),
            ("VOLTAR", "pt"),
            ("REPRENDRE", "fr"),
            ("СТАРТ", "ru"),
            ("بدء", "ar"),
        ] {
            let outcome = keyword(text, &s, Some(OptedOut), Some(language), "en");
            assert!(
                matches!(&outcome, KeywordOutcome::Record { event: OptedIn, .. }),
                "{text}: {outcome:?}"
            );
            assert_eq!(reply_of(&outcome), s.keywords[language].start_reply);
            // Not opted out: a start word is not a keyword (the bot may take "start" as its
            // menu), whether opted in already or never asked.
            for prior in [Some(OptedIn), None] {
                assert_eq!(
                    keyword(text, &s, prior, Some(language), "en"),
                    KeywordOutcome::NotKeyword,
                    "{text} {prior:?}"
                );
            }
            assert!(is_keyword_text(text, &s));
        }
        assert!(is_keyword_text("baja!", &s));
        assert!(!is_keyword_text("hola", &s));
    }

    #[test]
    fn the_reply_is_in_the_customers_language() {
        let s = settings();
        // A Spanish customer writing STOP hears Spanish.
        let outcome = keyword("STOP", &s, None, Some("es"), "en");
        assert_eq!(reply_of(&outcome), s.keywords["es"].stop_reply);
        // No language known: the keyword's; a language without texts: the keyword's too.
        let outcome = keyword("BAJA", &s, None, None, "en");
        assert_eq!(reply_of(&outcome), s.keywords["es"].stop_reply);
        let outcome = keyword("BAJA", &s, None, Some("de"), "en");
        assert_eq!(reply_of(&outcome), s.keywords["es"].stop_reply);
    }

    #[test]
    fn other_messages_are_not_keywords() {
        let s = settings();
        for text in [
            "",
            "   ",
            "stop sending me the wrong parcels",
            "please stop",
            "stopp",
            "hola",
            &"STOP ".repeat(30),
        ] {
            let outcome = keyword(text, &s, None, Some("en"), "en");
            assert_eq!(outcome, KeywordOutcome::NotKeyword, "{text:?}");
            assert!(!outcome.is_keyword());
        }
    }
}
