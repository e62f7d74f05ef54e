//! The bot's YAML schema (`bots.<name>` in the configuration). Everything about a flow lives
//! here; [`crate::bot::Bot::new`] compiles it and rejects inconsistent configurations.
//!
//! Keys are lowercase so that `SWITCHBOARD__BOTS__<NAME>__...` environment variables (which
//! the `config` crate lowercases) can override them, e.g. `SWITCHBOARD__BOTS__DEFAULT__APIS__ORDERS`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::TeamSettings;

/// One bot: languages, texts, intents, FAQ, shortcuts, business hours and the steps of its flows.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BotConfig {
    #[serde(default)]
    pub languages: LanguageConfig,
    /// Base URLs of the business's APIs, visible to templates as `apis.<name>`.
    #[serde(default)]
    pub apis: BTreeMap<String, String>,
    /// The step shown after the greeting and whenever the customer is back at the start.
    pub start: String,
    /// Business hours; absent means always open.
    #[serde(default)]
    pub hours: Option<HoursConfig>,
    #[serde(default)]
    pub fallback: FallbackConfig,
    /// After an FAQ answer without its own `goto`, send the current menu again.
    #[serde(default = "yes")]
    pub faq_repeats_menu: bool,
    pub texts: TextsConfig,
    /// Named sets of keywords / regex patterns, referenced by `faq` and `shortcuts`.
    #[serde(default)]
    pub intents: BTreeMap<String, MatchConfig>,
    /// Inputs that work at any point: "agent", "menu", "language"...
    #[serde(default)]
    pub shortcuts: Vec<ShortcutConfig>,
    /// Answers given while the customer is at a menu.
    #[serde(default)]
    pub faq: Vec<FaqConfig>,
    pub steps: BTreeMap<String, StepConfig>,
}

fn yes() -> bool {
    true
}

/// Language detection.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageConfig {
    /// Used when nothing else decides, and the fallback for texts missing in a language.
    #[serde(default = "default_language")]
    pub default: String,
    /// Languages the bot speaks (the default is implied).
    #[serde(default)]
    pub supported: Vec<String>,
    /// Phone country calling code prefix → language, e.g. `"34": es`. Longest prefix wins.
    #[serde(default)]
    pub by_country_code: BTreeMap<String, String>,
}

fn default_language() -> String {
    "en".to_string()
}

impl Default for LanguageConfig {
    fn default() -> Self {
        Self {
            default: default_language(),
            supported: Vec::new(),
            by_country_code: BTreeMap::new(),
        }
    }
}

/// A text in one or several languages: a plain string (all languages) or `{en: ..., es: ...}`.
/// Each text is a minijinja template.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Text {
    Same(String),
    PerLanguage(BTreeMap<String, String>),
}

/// Texts the engine itself sends.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TextsConfig {
    /// First message of a conversation.
    pub greeting: Text,
    /// An input that matched nothing (before the fallback kicks in).
    pub not_understood: Text,
    /// Said when the fallback triggers after repeated misunderstandings.
    pub fallback: Text,
    /// Sent when a template fails at runtime (it should not use variables).
    pub error: Text,
    /// Said when a customer asks for a human outside business hours.
    #[serde(default)]
    pub out_of_hours: Option<Text>,
    /// Said on handoff when the handoff step/option has no text of its own.
    #[serde(default)]
    pub handoff: Option<Text>,
    /// Said when a location is shared outside a question that accepts one.
    #[serde(default)]
    pub location_saved: Option<Text>,
    /// Default re-ask text for a question's invalid answer.
    #[serde(default)]
    pub invalid_answer: Option<Text>,
    /// Label of the button that opens a list menu.
    #[serde(default)]
    pub list_button: Option<Text>,
}

/// Keywords (whole words, case and accents ignored) and/or regex patterns (matched against
/// the lowercased, accent-free input).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub patterns: Vec<String>,
}

/// Where the conversation goes: a step or a handoff.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShortcutConfig {
    /// An intent name; or use `keywords` / `patterns` inline.
    #[serde(default)]
    pub intent: Option<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub patterns: Vec<String>,
    #[serde(default)]
    pub goto: Option<String>,
    /// A team name, or `auto` for automatic routing.
    #[serde(default)]
    pub handoff: Option<String>,
    /// Said before going to the step or handing off.
    #[serde(default)]
    pub text: Option<Text>,
}

/// An FAQ entry: when the input matches, answer.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaqConfig {
    #[serde(default)]
    pub intent: Option<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub patterns: Vec<String>,
    pub answer: Text,
    /// Step to go to after answering (default: stay, and resend the menu if
    /// `faq_repeats_menu`).
    #[serde(default)]
    pub goto: Option<String>,
}

/// What happens after repeated misunderstandings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackConfig {
    /// Consecutive unmatched inputs that trigger the fallback.
    #[serde(default = "default_after")]
    pub after: u32,
    #[serde(default)]
    pub then: FallbackAction,
    /// Team for the fallback handoff (`auto` or absent: automatic routing).
    #[serde(default)]
    pub team: Option<String>,
}

fn default_after() -> u32 {
    2
}

impl Default for FallbackConfig {
    fn default() -> Self {
        Self {
            after: default_after(),
            then: FallbackAction::Handoff,
            team: None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FallbackAction {
    /// Hand the conversation to a human.
    #[default]
    Handoff,
    /// Show the start menu again and reset the counter.
    Menu,
}

/// Weekly opening hours in a timezone.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HoursConfig {
    /// IANA name, e.g. `Europe/Madrid`.
    pub timezone: String,
    /// `mon`..`sun` → `"09:00-18:00"` (several ranges comma-separated, `closed`, or
    /// `"00:00-24:00"`). A missing day is closed.
    #[serde(default)]
    pub weekly: BTreeMap<String, String>,
    /// `YYYY-MM-DD` dates closed all day (holidays).
    #[serde(default)]
    pub closed_dates: Vec<String>,
    /// Whether a handoff asked for outside hours still happens (queued for opening time).
    #[serde(default = "yes")]
    pub handoff_when_closed: bool,
}

/// One step of a flow, tagged by `type`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StepConfig {
    Menu(MenuConfig),
    Question(QuestionConfig),
    Http(HttpConfig),
    Handoff(HandoffConfig),
    Message(MessageConfig),
    End(EndConfig),
}

/// A menu: sent as reply buttons (≤3 options) or a list.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MenuConfig {
    pub text: Text,
    #[serde(default)]
    pub header: Option<Text>,
    #[serde(default)]
    pub footer: Option<Text>,
    #[serde(default)]
    pub style: MenuStyle,
    /// List menus: label of the button opening the list (default `texts.list_button`).
    #[serde(default)]
    pub button: Option<Text>,
    /// The options (one list section); or use `sections`.
    #[serde(default)]
    pub options: Vec<OptionConfig>,
    #[serde(default)]
    pub sections: Vec<SectionConfig>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MenuStyle {
    /// Buttons up to 3 options, a list beyond.
    #[default]
    Auto,
    Buttons,
    List,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SectionConfig {
    #[serde(default)]
    pub title: Option<Text>,
    pub options: Vec<OptionConfig>,
}

/// A menu option: exactly one of `goto`, `handoff`, `language` (which may add `goto`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OptionConfig {
    /// Unique within the menu.
    pub id: String,
    pub title: Text,
    #[serde(default)]
    pub description: Option<Text>,
    /// Extra words that choose this option when typed.
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub goto: Option<String>,
    /// A team name, or `auto`.
    #[serde(default)]
    pub handoff: Option<String>,
    /// Switch the conversation to this language (then `goto`, default: the start step).
    #[serde(default)]
    pub language: Option<String>,
}

/// A question whose answer is saved as a contact field.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionConfig {
    pub text: Text,
    /// The contact field that receives the answer.
    pub field: String,
    /// Also store the answer as the contact's name.
    #[serde(default)]
    pub set_contact_name: bool,
    /// Regex the (trimmed) answer must match; `(?i)` for case-insensitive.
    #[serde(default)]
    pub validate: Option<String>,
    /// Re-ask text on an invalid answer (default `texts.invalid_answer`, then the question).
    #[serde(default)]
    pub invalid: Option<Text>,
    /// Change the answer's case before saving: `upper` or `lower`.
    #[serde(default)]
    pub case: Option<Case>,
    /// Input kinds accepted as an answer: `text` (default), `location`, `image`, `document`,
    /// `audio`, `video`, `sticker`. Media answers save the media id.
    #[serde(default = "accept_text")]
    pub accept: Vec<String>,
    /// Step after a valid answer (default: back to the start step).
    #[serde(default)]
    pub goto: Option<String>,
}

fn accept_text() -> Vec<String> {
    vec!["text".to_string()]
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Case {
    Upper,
    Lower,
}

/// A call to a business API; the caller executes it and the outcome picks the reply.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "default_method")]
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON body; every string in it is a template.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// Any 2xx response.
    pub on_success: OutcomeConfig,
    /// Specific statuses, e.g. `"404"`.
    #[serde(default)]
    pub on_status: BTreeMap<String, OutcomeConfig>,
    /// Other non-2xx responses (default: `on_failure`).
    #[serde(default)]
    pub on_error: Option<OutcomeConfig>,
    /// No response: timeout, connection refused, a broken request template.
    pub on_failure: OutcomeConfig,
}

fn default_method() -> String {
    "GET".to_string()
}

/// What to say and where to go after an HTTP step. Templates see `response.status` and
/// `response.body`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeConfig {
    #[serde(default)]
    pub text: Option<Text>,
    /// Default: back to the start step (without resending it).
    #[serde(default)]
    pub goto: Option<String>,
    /// A team name, or `auto`.
    #[serde(default)]
    pub handoff: Option<String>,
}

/// Hand the conversation to a human.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffConfig {
    /// A team name, or `auto` (the default) for automatic routing.
    #[serde(default)]
    pub team: Option<String>,
    /// Default: `texts.handoff`.
    #[serde(default)]
    pub text: Option<Text>,
}

/// The bot is done: say goodbye (optionally) and resolve the conversation, resolved by the bot
/// alone (`resolved_by_bot` in the reports). The customer's next message starts a new
/// conversation.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EndConfig {
    #[serde(default)]
    pub text: Option<Text>,
}

/// Say something, then go on.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MessageConfig {
    pub text: Text,
    /// Default: back to the start step (without resending it).
    #[serde(default)]
    pub goto: Option<String>,
}

/// The team reference meaning "automatic routing".
pub const AUTO_TEAM: &str = "auto";

impl BotConfig {
    /// Compile the bot (templates, regexes, references, WhatsApp limits) and check that every
    /// team it names exists.
    pub fn validate(&self, teams: &BTreeMap<String, TeamSettings>) -> Result<(), String> {
        crate::bot::Bot::new(self).map_err(|e| e.to_string())?;
        for team in self.team_references() {
            if !teams.contains_key(&team) {
                return Err(format!("unknown team {team}"));
            }
        }
        Ok(())
    }

    /// Every team name the bot can hand off to (not `auto`).
    pub fn team_references(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut add = |t: &Option<String>| {
            if let Some(t) = t
                && t != AUTO_TEAM
            {
                out.push(t.clone());
            }
        };
        add(&self.fallback.team);
        for s in &self.shortcuts {
            add(&s.handoff);
        }
        for step in self.steps.values() {
            match step {
                StepConfig::Menu(m) => {
                    for o in m
                        .options
                        .iter()
                        .chain(m.sections.iter().flat_map(|s| &s.options))
                    {
                        add(&o.handoff);
                    }
                }
                StepConfig::Http(h) => {
                    add(&h.on_success.handoff);
                    add(&h.on_failure.handoff);
                    if let Some(e) = &h.on_error {
                        add(&e.handoff);
                    }
                    for o in h.on_status.values() {
                        add(&o.handoff);
                    }
                }
                StepConfig::Handoff(h) => add(&h.team),
                StepConfig::Question(_) | StepConfig::Message(_) | StepConfig::End(_) => {}
            }
        }
        out
    }
}
