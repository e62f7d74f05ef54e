//! The compiled bot and its decision logic. Pure: no I/O, no clock (time is the `now` argument).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use regex::Regex;

use super::config::{
    AUTO_TEAM, BotConfig, Case, FallbackAction, HttpConfig, MenuConfig, MenuStyle, OptionConfig,
    OutcomeConfig, StepConfig, Text,
};
use super::hours::BusinessHours;
use super::matching::{Matcher, normalize};
use super::{BotError, BotState, BotStep, Handoff, HttpRequestSpec, HttpResult};
use crate::crm::fields::FieldDefs;
use crate::domain::{
    InboundMessage, ListRow, ListSection, MessageContent, OutboundContent, ReplyButton, TeamId,
};
use crate::store::ContactRecord;
use crate::templates::{describe, from_json, urlencode};

// WhatsApp interactive message limits.
const MAX_BUTTONS: usize = 3;
const MAX_BUTTON_TITLE: usize = 20;
const MAX_LIST_ROWS: usize = 10;
const MAX_LIST_SECTIONS: usize = 10;
const MAX_ROW_TITLE: usize = 24;
const MAX_ROW_DESCRIPTION: usize = 72;
const MAX_SECTION_TITLE: usize = 24;
const MAX_LIST_BUTTON: usize = 20;
const MAX_HEADER: usize = 60;
const MAX_FOOTER: usize = 60;

/// Steps entered during one decision before the bot assumes a loop.
const MAX_HOPS: u32 = 20;
/// Used when even the configured error text cannot be rendered.
const LAST_RESORT_TEXT: &str = "Sorry, something went wrong.";
/// Template key of a text that is the same in every language.
const ANY_LANGUAGE: &str = "*";

/// A bot compiled from its [`BotConfig`]: templates parsed and regexes compiled once.
/// Immutable; share it behind an `Arc`.
pub struct Bot {
    env: Environment<'static>,
    default_language: String,
    supported: Vec<String>,
    /// Calling-code prefix → language, longest prefix first.
    by_country: Vec<(String, String)>,
    apis: BTreeMap<String, String>,
    start: String,
    hours: Option<BusinessHours>,
    fallback_after: u32,
    fallback_action: FallbackAction,
    fallback_team: Option<TeamId>,
    faq_repeats_menu: bool,
    texts: Texts,
    shortcuts: Vec<Shortcut>,
    faq: Vec<Faq>,
    steps: BTreeMap<String, Step>,
}

impl fmt::Debug for Bot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bot")
            .field("default_language", &self.default_language)
            .field("start", &self.start)
            .field("steps", &self.steps.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A localized template: language (or `*`) → template name in the environment.
#[derive(Debug, Clone, Default)]
struct Tpl(BTreeMap<String, String>);

#[derive(Debug)]
struct Texts {
    greeting: Tpl,
    not_understood: Tpl,
    fallback: Tpl,
    error: Tpl,
    out_of_hours: Option<Tpl>,
    handoff: Option<Tpl>,
    location_saved: Option<Tpl>,
    invalid_answer: Option<Tpl>,
    list_button: Option<Tpl>,
}

#[derive(Debug, Clone)]
enum Target {
    Goto(String),
    Handoff(Option<TeamId>),
}

#[derive(Debug)]
struct Shortcut {
    matcher: Matcher,
    target: Target,
    text: Option<Tpl>,
}

#[derive(Debug)]
struct Faq {
    matcher: Matcher,
    answer: Tpl,
    goto: Option<String>,
}

#[derive(Debug)]
enum Step {
    Menu(Menu),
    Question(Question),
    Http(Http),
    Handoff {
        team: Option<TeamId>,
        text: Option<Tpl>,
    },
    Message {
        text: Tpl,
        goto: Option<String>,
    },
    End {
        text: Option<Tpl>,
    },
}

#[derive(Debug)]
struct Menu {
    text: Tpl,
    header: Option<Tpl>,
    footer: Option<Tpl>,
    list: bool,
    button: Option<Tpl>,
    sections: Vec<Section>,
}

impl Menu {
    fn options(&self) -> impl Iterator<Item = &MenuOption> {
        self.sections.iter().flat_map(|s| &s.options)
    }
}

#[derive(Debug)]
struct Section {
    title: Option<Tpl>,
    options: Vec<MenuOption>,
}

#[derive(Debug)]
struct MenuOption {
    id: String,
    title: Tpl,
    description: Option<Tpl>,
    keywords: Matcher,
    action: OptionAction,
}

#[derive(Debug)]
enum OptionAction {
    Goto(String),
    Handoff(Option<TeamId>),
    Language {
        language: String,
        goto: Option<String>,
    },
}

#[derive(Debug)]
struct Question {
    text: Tpl,
    field: String,
    set_contact_name: bool,
    validate: Option<Regex>,
    invalid: Option<Tpl>,
    case: Option<Case>,
    accept: Vec<String>,
    goto: Option<String>,
}

#[derive(Debug)]
struct Http {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<BodyTpl>,
    on_success: Outcome,
    on_status: BTreeMap<u16, Outcome>,
    on_error: Option<Outcome>,
    on_failure: Outcome,
}

#[derive(Debug)]
enum BodyTpl {
    Literal(serde_json::Value),
    Template(String),
    Array(Vec<BodyTpl>),
    Object(Vec<(String, BodyTpl)>),
}

#[derive(Debug)]
struct Outcome {
    text: Option<Tpl>,
    target: Option<Target>,
}

// ---------------------------------------------------------------------------------------------
// Compilation
// ---------------------------------------------------------------------------------------------

/// Collects templates into the environment, remembering which ones see `response`.
struct Compiler {
    env: Environment<'static>,
    default_language: String,
    supported: Vec<String>,
    /// (template name, sees `response`)
    templates: Vec<(String, bool)>,
}

impl Compiler {
    fn template(&mut self, name: String, source: &str, response: bool) -> Result<String, BotError> {
        self.env
            .add_template_owned(name.clone(), source.to_string())
            .map_err(|e| BotError::Template {
                name: name.clone(),
                message: e.to_string(),
            })?;
        self.templates.push((name.clone(), response));
        Ok(name)
    }

    fn text(&mut self, path: &str, text: &Text, response: bool) -> Result<Tpl, BotError> {
        let mut out = BTreeMap::new();
        match text {
            Text::Same(source) => {
                let name = self.template(path.to_string(), source, response)?;
                out.insert(ANY_LANGUAGE.to_string(), name);
            }
            Text::PerLanguage(map) => {
                if !map.contains_key(&self.default_language) {
                    return Err(BotError::Invalid(format!(
                        "{path}: no text in the default language {}",
                        self.default_language
                    )));
                }
                for (language, source) in map {
                    if !self.supported.contains(language) {
                        return Err(BotError::Invalid(format!(
                            "{path}: language {language} is not in languages.supported"
                        )));
                    }
                    let name = self.template(format!("{path}.{language}"), source, response)?;
                    out.insert(language.clone(), name);
                }
            }
        }
        Ok(Tpl(out))
    }

    fn opt_text(
        &mut self,
        path: &str,
        text: &Option<Text>,
        response: bool,
    ) -> Result<Option<Tpl>, BotError> {
        text.as_ref()
            .map(|t| self.text(path, t, response))
            .transpose()
    }

    fn body(&mut self, path: &str, value: &serde_json::Value) -> Result<BodyTpl, BotError> {
        Ok(match value {
            serde_json::Value::String(s) if s.contains("{{") || s.contains("{%") => {
                BodyTpl::Template(self.template(path.to_string(), s, false)?)
            }
            serde_json::Value::Array(items) => BodyTpl::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.body(&format!("{path}.{i}"), v))
                    .collect::<Result<_, _>>()?,
            ),
            serde_json::Value::Object(map) => BodyTpl::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.body(&format!("{path}.{k}"), v)?)))
                    .collect::<Result<_, BotError>>()?,
            ),
            other => BodyTpl::Literal(other.clone()),
        })
    }
}

fn invalid(message: String) -> BotError {
    BotError::Invalid(message)
}

fn team(name: &Option<String>) -> Option<TeamId> {
    match name.as_deref() {
        None | Some(AUTO_TEAM) => None,
        Some(t) => Some(TeamId::new(t)),
    }
}

impl Bot {
    /// The language used when nothing else decides.
    pub fn default_language(&self) -> &str {
        &self.default_language
    }

    /// Compile and check a bot configuration (everything but team existence, which
    /// [`BotConfig::validate`] adds). Every template is test-rendered with a sample context in
    /// strict mode, so a misspelt variable is an error here rather than at runtime.
    pub fn new(config: &BotConfig) -> Result<Bot, BotError> {
        let default_language = config.languages.default.clone();
        let mut supported = vec![default_language.clone()];
        for l in &config.languages.supported {
            if !supported.contains(l) {
                supported.push(l.clone());
            }
        }
        for (prefix, language) in &config.languages.by_country_code {
            if !supported.contains(language) {
                return Err(invalid(format!(
                    "languages.by_country_code.{prefix}: {language} is not a supported language"
                )));
            }
            if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_digit()) {
                return Err(invalid(format!(
                    "languages.by_country_code: {prefix:?} is not a calling code"
                )));
            }
        }
        let mut by_country: Vec<(String, String)> = config
            .languages
            .by_country_code
            .iter()
            .map(|(p, l)| (p.clone(), l.clone()))
            .collect();
        by_country.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));

        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.add_filter("urlencode", |v: Value| urlencode(&v));
        let mut c = Compiler {
            env,
            default_language: default_language.clone(),
            supported: supported.clone(),
            templates: Vec::new(),
        };

        let t = &config.texts;
        let texts = Texts {
            greeting: c.text("texts.greeting", &t.greeting, false)?,
            not_understood: c.text("texts.not_understood", &t.not_understood, false)?,
            fallback: c.text("texts.fallback", &t.fallback, false)?,
            error: c.text("texts.error", &t.error, false)?,
            out_of_hours: c.opt_text("texts.out_of_hours", &t.out_of_hours, false)?,
            handoff: c.opt_text("texts.handoff", &t.handoff, false)?,
            location_saved: c.opt_text("texts.location_saved", &t.location_saved, false)?,
            invalid_answer: c.opt_text("texts.invalid_answer", &t.invalid_answer, false)?,
            list_button: c.opt_text("texts.list_button", &t.list_button, false)?,
        };

        let mut intents = BTreeMap::new();
        for (name, m) in &config.intents {
            let matcher = Matcher::new(&m.keywords, &m.patterns, &format!("intents.{name}"))?;
            if matcher.is_empty() {
                return Err(invalid(format!("intents.{name}: no keywords or patterns")));
            }
            intents.insert(name.clone(), matcher);
        }
        let matcher = |what: &str,
                       intent: &Option<String>,
                       keywords: &[String],
                       patterns: &[String]|
         -> Result<Matcher, BotError> {
            let mut m = Matcher::new(keywords, patterns, what)?;
            if let Some(intent) = intent {
                let named = intents
                    .get(intent)
                    .ok_or_else(|| invalid(format!("{what}: unknown intent {intent}")))?;
                m = m.merge(named);
            }
            if m.is_empty() {
                return Err(invalid(format!(
                    "{what}: needs an intent, keywords or patterns"
                )));
            }
            Ok(m)
        };

        let mut shortcuts = Vec::new();
        for (i, s) in config.shortcuts.iter().enumerate() {
            let what = format!("shortcuts[{i}]");
            let target = match (&s.goto, &s.handoff) {
                (Some(goto), None) => Target::Goto(goto.clone()),
                (None, Some(_)) => Target::Handoff(team(&s.handoff)),
                _ => {
                    return Err(invalid(format!(
                        "{what}: needs exactly one of goto, handoff"
                    )));
                }
            };
            shortcuts.push(Shortcut {
                matcher: matcher(&what, &s.intent, &s.keywords, &s.patterns)?,
                target,
                text: c.opt_text(&format!("{what}.text"), &s.text, false)?,
            });
        }

        let mut faq = Vec::new();
        for (i, f) in config.faq.iter().enumerate() {
            let what = format!("faq[{i}]");
            faq.push(Faq {
                matcher: matcher(&what, &f.intent, &f.keywords, &f.patterns)?,
                answer: c.text(&format!("{what}.answer"), &f.answer, false)?,
                goto: f.goto.clone(),
            });
        }

        let mut steps = BTreeMap::new();
        for (name, step) in &config.steps {
            let path = format!("steps.{name}");
            let compiled = match step {
                StepConfig::Menu(m) => Step::Menu(compile_menu(&mut c, &path, m)?),
                StepConfig::Question(q) => {
                    if q.field.trim().is_empty() {
                        return Err(invalid(format!("{path}: empty field name")));
                    }
                    for kind in &q.accept {
                        if !ACCEPTABLE.contains(&kind.as_str()) {
                            return Err(invalid(format!(
                                "{path}.accept: unknown input kind {kind} (use one of {})",
                                ACCEPTABLE.join(", ")
                            )));
                        }
                    }
                    Step::Question(Question {
                        text: c.text(&format!("{path}.text"), &q.text, false)?,
                        field: q.field.clone(),
                        set_contact_name: q.set_contact_name,
                        validate: q
                            .validate
                            .as_deref()
                            .map(|p| {
                                Regex::new(p).map_err(|e| {
                                    invalid(format!("{path}.validate: bad pattern {p:?}: {e}"))
                                })
                            })
                            .transpose()?,
                        invalid: c.opt_text(&format!("{path}.invalid"), &q.invalid, false)?,
                        case: q.case,
                        accept: q.accept.clone(),
                        goto: q.goto.clone(),
                    })
                }
                StepConfig::Http(h) => Step::Http(compile_http(&mut c, &path, h)?),
                StepConfig::Handoff(h) => Step::Handoff {
                    team: team(&h.team),
                    text: c.opt_text(&format!("{path}.text"), &h.text, false)?,
                },
                StepConfig::Message(m) => Step::Message {
                    text: c.text(&format!("{path}.text"), &m.text, false)?,
                    goto: m.goto.clone(),
                },
                StepConfig::End(e) => Step::End {
                    text: c.opt_text(&format!("{path}.text"), &e.text, false)?,
                },
            };
            steps.insert(name.clone(), compiled);
        }

        let bot = Bot {
            env: c.env,
            default_language,
            supported,
            by_country,
            apis: config.apis.clone(),
            start: config.start.clone(),
            hours: config.hours.as_ref().map(BusinessHours::new).transpose()?,
            fallback_after: config.fallback.after.max(1),
            fallback_action: config.fallback.then,
            fallback_team: team(&config.fallback.team),
            faq_repeats_menu: config.faq_repeats_menu,
            texts,
            shortcuts,
            faq,
            steps,
        };
        bot.check_references()?;
        if bot.hours.is_some() && bot.texts.out_of_hours.is_none() {
            return Err(invalid(
                "hours are set but texts.out_of_hours is missing".into(),
            ));
        }
        let fields = config
            .steps
            .values()
            .filter_map(|s| match s {
                StepConfig::Question(q) => Some(q.field.clone()),
                _ => None,
            })
            .collect();
        bot.check_templates(&c.templates, &fields)?;
        bot.check_menu_limits(&fields)?;
        Ok(bot)
    }

    fn check_references(&self) -> Result<(), BotError> {
        let check = |what: &str, goto: &Option<String>| match goto {
            Some(g) if !self.steps.contains_key(g) => {
                Err(invalid(format!("{what}: goto unknown step {g}")))
            }
            _ => Ok(()),
        };
        let check_target = |what: &str, t: &Option<Target>| match t {
            Some(Target::Goto(g)) => check(what, &Some(g.clone())),
            _ => Ok(()),
        };
        check("start", &Some(self.start.clone()))?;
        for (i, s) in self.shortcuts.iter().enumerate() {
            check_target(&format!("shortcuts[{i}]"), &Some(s.target.clone()))?;
        }
        for (i, f) in self.faq.iter().enumerate() {
            check(&format!("faq[{i}]"), &f.goto)?;
        }
        for (name, step) in &self.steps {
            let what = format!("steps.{name}");
            match step {
                Step::Menu(m) => {
                    for o in m.options() {
                        let what = format!("{what}.options.{}", o.id);
                        match &o.action {
                            OptionAction::Goto(g) => check(&what, &Some(g.clone()))?,
                            OptionAction::Language { language, goto } => {
                                check(&what, goto)?;
                                if !self.supported.contains(language) {
                                    return Err(invalid(format!(
                                        "{what}: language {language} is not supported"
                                    )));
                                }
                            }
                            OptionAction::Handoff(_) => {}
                        }
                    }
                }
                Step::Question(q) => check(&what, &q.goto)?,
                Step::Message { goto, .. } => check(&what, goto)?,
                Step::Http(h) => {
                    check_target(&format!("{what}.on_success"), &h.on_success.target)?;
                    check_target(&format!("{what}.on_failure"), &h.on_failure.target)?;
                    if let Some(e) = &h.on_error {
                        check_target(&format!("{what}.on_error"), &e.target)?;
                    }
                    for (status, o) in &h.on_status {
                        check_target(&format!("{what}.on_status.{status}"), &o.target)?;
                    }
                }
                Step::Handoff { .. } | Step::End { .. } => {}
            }
        }
        Ok(())
    }

    /// Render every template once in strict mode with a sample context.
    fn check_templates(
        &self,
        templates: &[(String, bool)],
        fields: &BTreeSet<String>,
    ) -> Result<(), BotError> {
        let mut strict = self.env.clone();
        strict.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        for (name, response) in templates {
            let ctx = self.sample_context(fields, *response);
            strict
                .get_template(name)
                .and_then(|t| t.render(ctx))
                .map_err(|e| BotError::Template {
                    name: name.clone(),
                    message: describe(&e),
                })?;
        }
        Ok(())
    }

    fn sample_context(&self, fields: &BTreeSet<String>, response: bool) -> Value {
        let mut sample_fields: BTreeMap<String, Value> = fields
            .iter()
            .map(|f| (f.clone(), Value::from("sample")))
            .collect();
        sample_fields.insert("location_lat".into(), Value::from("40.4"));
        sample_fields.insert("location_lon".into(), Value::from("-3.7"));
        let fields = Value::from(sample_fields);
        let contact: BTreeMap<&str, Value> = [
            ("name", Value::from("Sample Name")),
            ("phone", Value::from("34600000000")),
            ("language", Value::from(self.default_language.as_str())),
            ("fields", fields.clone()),
            ("tags", Value::from(Vec::<Value>::new())),
        ]
        .into_iter()
        .collect();
        let mut ctx: BTreeMap<&str, Value> = [
            ("contact", Value::from(contact)),
            ("fields", fields),
            ("language", Value::from(self.default_language.as_str())),
            ("apis", Value::from(self.apis.clone())),
        ]
        .into_iter()
        .collect();
        if response {
            let r: BTreeMap<&str, Value> = [
                ("status", Value::from(200)),
                ("body", Value::from_object(AnyValue)),
            ]
            .into_iter()
            .collect();
            ctx.insert("response", Value::from(r));
        }
        Value::from(ctx)
    }

    fn check_menu_limits(&self, fields: &BTreeSet<String>) -> Result<(), BotError> {
        let ctx = self.sample_context(fields, false);
        let too_long = |what: &str, tpl: &Tpl, max: usize| -> Result<(), BotError> {
            for (language, name) in &tpl.0 {
                let rendered = self
                    .env
                    .get_template(name)
                    .and_then(|t| t.render(&ctx))
                    .map_err(|e| BotError::Template {
                        name: name.clone(),
                        message: describe(&e),
                    })?;
                let len = rendered.trim().chars().count();
                if len > max {
                    return Err(invalid(format!(
                        "{what} ({language}): {len} characters, WhatsApp allows {max}"
                    )));
                }
                if len == 0 {
                    return Err(invalid(format!("{what} ({language}): empty")));
                }
            }
            Ok(())
        };
        for (name, step) in &self.steps {
            let Step::Menu(m) = step else { continue };
            let what = format!("steps.{name}");
            if let Some(h) = &m.header {
                too_long(&format!("{what}.header"), h, MAX_HEADER)?;
            }
            if let Some(f) = &m.footer {
                too_long(&format!("{what}.footer"), f, MAX_FOOTER)?;
            }
            let mut ids = BTreeSet::new();
            for o in m.options() {
                if !ids.insert(o.id.as_str()) {
                    return Err(invalid(format!("{what}: option id {} is used twice", o.id)));
                }
                if o.id.is_empty() || o.id.contains('/') {
                    return Err(invalid(format!(
                        "{what}: option id {:?} must be non-empty without '/'",
                        o.id
                    )));
                }
                let max = if m.list {
                    MAX_ROW_TITLE
                } else {
                    MAX_BUTTON_TITLE
                };
                too_long(&format!("{what}.options.{}.title", o.id), &o.title, max)?;
                if let Some(d) = &o.description {
                    if !m.list {
                        return Err(invalid(format!(
                            "{what}.options.{}: descriptions need a list menu",
                            o.id
                        )));
                    }
                    too_long(
                        &format!("{what}.options.{}.description", o.id),
                        d,
                        MAX_ROW_DESCRIPTION,
                    )?;
                }
            }
            if m.list {
                for (i, s) in m.sections.iter().enumerate() {
                    if let Some(t) = &s.title {
                        too_long(&format!("{what}.sections[{i}].title"), t, MAX_SECTION_TITLE)?;
                    }
                }
                let button = m.button.as_ref().or(self.texts.list_button.as_ref());
                if let Some(b) = button {
                    too_long(&format!("{what}.button"), b, MAX_LIST_BUTTON)?;
                }
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Decisions
    // -----------------------------------------------------------------------------------------

    /// The questions that save their answer to a contact field: (step, field, accepted
    /// kinds), by step.
    pub fn question_fields(&self) -> Vec<(String, String, Vec<String>)> {
        self.steps
            .iter()
            .filter_map(|(name, step)| match step {
                Step::Question(q) => Some((name.clone(), q.field.clone(), q.accept.clone())),
                _ => None,
            })
            .collect()
    }

    /// Decide what to do with one customer message.
    ///
    /// `fields`: the contact field definitions in effect; an answer saved to a defined field
    /// must fit its type (it is stored in the field's normal form), else the bot asks again.
    pub fn on_message(
        &self,
        state: &mut BotState,
        contact: &mut ContactRecord,
        msg: &InboundMessage,
        now: DateTime<Utc>,
        fields: &FieldDefs,
    ) -> BotStep {
        let mut turn = Turn::new(state, contact, now, fields);
        if turn.state.handed_off {
            return turn.out;
        }
        let input = Input::from_content(&msg.content);
        if matches!(input, Input::Ignored) {
            return turn.out;
        }
        if let Some(step) = turn.state.pending_http.take() {
            tracing::warn!(
                step,
                "bot: the HTTP result was lost; handling the new message"
            );
        }
        if let Input::Location {
            latitude,
            longitude,
        } = input
        {
            let fields = &mut turn.contact.fields;
            fields.insert("location_lat".into(), latitude.to_string());
            fields.insert("location_lon".into(), longitude.to_string());
        }
        if !turn.state.greeted {
            turn.state.greeted = true;
            let language = self.detect_language(turn.contact, msg);
            if turn.contact.language.is_none() {
                turn.contact.language = Some(language.clone());
            }
            turn.state.language = Some(language);
            self.say(&mut turn, &self.texts.greeting);
            self.first_input(&mut turn, &input);
            return turn.out;
        }
        self.handle_input(&mut turn, &input);
        turn.out
    }

    /// Continue after the HTTP request of the previous step: pick the outcome, answer, go on.
    pub fn on_http_result(
        &self,
        state: &mut BotState,
        contact: &mut ContactRecord,
        result: HttpResult,
        now: DateTime<Utc>,
    ) -> BotStep {
        static NO_FIELDS: FieldDefs = FieldDefs::EMPTY;
        // An HTTP result answers no question: no field is saved here.
        let mut turn = Turn::new(state, contact, now, &NO_FIELDS);
        let Some(name) = turn.state.pending_http.take() else {
            tracing::warn!("bot: HTTP result without a pending HTTP step; ignored");
            return turn.out;
        };
        let Some(Step::Http(http)) = self.steps.get(&name) else {
            tracing::warn!(step = name, "bot: pending HTTP step no longer exists");
            self.enter(&mut turn, &self.start.clone());
            return turn.out;
        };
        let (outcome, status, body, reason) = match result {
            HttpResult::Response { status, body } if (200..300).contains(&status) => {
                (&http.on_success, status, body, format!("status {status}"))
            }
            HttpResult::Response { status, body } => {
                let outcome = http
                    .on_status
                    .get(&status)
                    .or(http.on_error.as_ref())
                    .unwrap_or(&http.on_failure);
                (outcome, status, body, format!("status {status}"))
            }
            HttpResult::Failed { reason } => (
                &http.on_failure,
                0,
                serde_json::Value::String(reason.clone()),
                reason,
            ),
        };
        tracing::debug!(step = name, outcome = reason, "bot: HTTP step finished");
        turn.response = Some((status, body));
        self.apply_outcome(&mut turn, &name, outcome, &reason);
        turn.out
    }

    /// The first message of a conversation, after the greeting.
    fn first_input(&self, turn: &mut Turn<'_>, input: &Input<'_>) {
        if let Input::Choice { id, .. } = input
            && let Some((step, option)) = self.option_by_id(id)
        {
            self.choose(turn, step, option);
            return;
        }
        if let Some(text) = input.text() {
            let normalized = normalize(text);
            if self.try_shortcut(turn, &normalized) {
                return;
            }
            if let Some(faq) = self.faq.iter().find(|f| f.matcher.matches(&normalized)) {
                self.say(turn, &faq.answer);
                let next = faq.goto.clone().unwrap_or_else(|| self.start.clone());
                self.enter(turn, &next);
                return;
            }
        }
        let start = self.start.clone();
        self.enter(turn, &start);
    }

    fn handle_input(&self, turn: &mut Turn<'_>, input: &Input<'_>) {
        // The step the customer was at is gone (the flows were reloaded without it): what they
        // wrote answered something that no longer exists, so it is not read against another
        // step. A tapped option (it names its own menu) or a shortcut still works; anything
        // else shows the start step again.
        let lost = turn
            .state
            .step
            .as_ref()
            .is_some_and(|step| !self.steps.contains_key(step));
        if lost {
            turn.out.restarted_from = turn.state.step.take();
            turn.state.misunderstandings = 0;
        }
        if let Input::Choice { id, .. } = input
            && let Some((step, option)) = self.option_by_id(id)
        {
            self.choose(turn, step, option);
            return;
        }
        if lost {
            if let Some(text) = input.text()
                && self.try_shortcut(turn, &normalize(text))
            {
                return;
            }
            let start = self.start.clone();
            self.enter(turn, &start);
            return;
        }
        let current = turn
            .state
            .step
            .clone()
            .unwrap_or_else(|| self.start.clone());
        let step = self.steps.get(&current);
        if let Some(text) = input.text() {
            let normalized = normalize(text);
            // At a menu its own options come first: "Talk to a person" is an option there, not
            // the "person" shortcut.
            if let Some(Step::Menu(m)) = step
                && let Some(option) = self.option_by_text(m, &normalized)
            {
                self.choose(turn, &current, option);
                return;
            }
            if self.try_shortcut(turn, &normalized) {
                return;
            }
            match step {
                Some(Step::Question(q)) => self.answer(turn, &current, q, text.to_string(), "text"),
                _ => {
                    if self.try_faq(turn, &normalized, &current) {
                        return;
                    }
                    if turn.state.step.is_none() && step.is_some() {
                        // Idle, and the start step is not a menu: run it again.
                        self.enter(turn, &current);
                    } else {
                        self.not_understood(turn, &current);
                    }
                }
            }
            return;
        }
        match (input, step) {
            (
                Input::Location {
                    latitude,
                    longitude,
                },
                Some(Step::Question(q)),
            ) if q.accept.iter().any(|a| a == "location") => {
                self.answer(
                    turn,
                    &current,
                    q,
                    format!("{latitude},{longitude}"),
                    "location",
                );
            }
            (Input::Location { .. }, _) => {
                if let Some(t) = &self.texts.location_saved {
                    self.say(turn, t);
                }
            }
            (Input::Media { kind, id }, Some(Step::Question(q)))
                if q.accept.iter().any(|a| a == kind) =>
            {
                self.answer(turn, &current, q, id.clone(), kind);
            }
            _ => self.not_understood(turn, &current),
        }
    }

    fn try_shortcut(&self, turn: &mut Turn<'_>, normalized: &str) -> bool {
        let Some(shortcut) = self
            .shortcuts
            .iter()
            .find(|s| s.matcher.matches(normalized))
        else {
            return false;
        };
        turn.state.misunderstandings = 0;
        match &shortcut.target {
            Target::Goto(step) => {
                if let Some(t) = &shortcut.text {
                    self.say(turn, t);
                }
                self.enter(turn, step);
            }
            Target::Handoff(team) => {
                let reason = "customer asked for a person".to_string();
                self.handoff(turn, team.clone(), shortcut.text.as_ref(), reason);
            }
        }
        true
    }

    fn try_faq(&self, turn: &mut Turn<'_>, normalized: &str, current: &str) -> bool {
        let Some(faq) = self.faq.iter().find(|f| f.matcher.matches(normalized)) else {
            return false;
        };
        turn.state.misunderstandings = 0;
        self.say(turn, &faq.answer);
        match &faq.goto {
            Some(step) => self.enter(turn, step),
            None => {
                if self.faq_repeats_menu
                    && let Some(Step::Menu(m)) = self.steps.get(current)
                {
                    self.send_menu(turn, current, m);
                }
            }
        }
        true
    }

    fn not_understood(&self, turn: &mut Turn<'_>, current: &str) {
        turn.state.misunderstandings += 1;
        if turn.state.misunderstandings >= self.fallback_after {
            let count = turn.state.misunderstandings;
            turn.state.misunderstandings = 0;
            self.say(turn, &self.texts.fallback);
            match self.fallback_action {
                FallbackAction::Handoff => {
                    let reason = format!("the bot did not understand {count} messages in a row");
                    self.handoff(turn, self.fallback_team.clone(), None, reason);
                }
                FallbackAction::Menu => {
                    let start = self.start.clone();
                    self.enter(turn, &start);
                }
            }
            return;
        }
        match self.steps.get(current) {
            Some(Step::Question(q)) => {
                if let Some(t) = &q.invalid {
                    self.say(turn, t);
                } else {
                    let t = self.texts.invalid_answer.as_ref();
                    self.say(turn, t.unwrap_or(&self.texts.not_understood));
                    self.say(turn, &q.text);
                }
            }
            Some(Step::Menu(m)) => {
                self.say(turn, &self.texts.not_understood);
                self.send_menu(turn, current, m);
            }
            _ => self.say(turn, &self.texts.not_understood),
        }
    }

    fn answer(&self, turn: &mut Turn<'_>, name: &str, q: &Question, value: String, kind: &str) {
        if !q.accept.iter().any(|a| a == kind) {
            self.not_understood(turn, name);
            return;
        }
        let mut value = value.trim().to_string();
        match q.case {
            Some(Case::Upper) => value = value.to_uppercase(),
            Some(Case::Lower) => value = value.to_lowercase(),
            None => {}
        }
        if kind == "text"
            && (value.is_empty() || q.validate.as_ref().is_some_and(|r| !r.is_match(&value)))
        {
            self.not_understood(turn, name);
            return;
        }
        // A field an admin defined takes only values of its type, in its normal form: an
        // answer that does not fit is one the bot did not understand.
        let Ok(value) = turn.fields.value(&q.field, &value) else {
            self.not_understood(turn, name);
            return;
        };
        turn.state.misunderstandings = 0;
        turn.state.step = None;
        if q.set_contact_name {
            turn.contact.name = Some(value.clone());
        }
        turn.contact.fields.insert(q.field.clone(), value);
        match &q.goto {
            Some(next) => self.enter(turn, next),
            None => turn.state.step = None,
        }
    }

    fn choose(&self, turn: &mut Turn<'_>, step: &str, option: &MenuOption) {
        turn.state.misunderstandings = 0;
        match &option.action {
            OptionAction::Goto(next) => self.enter(turn, next),
            OptionAction::Handoff(team) => {
                let title = self.render(turn, &option.title);
                let reason = format!("customer chose \"{title}\" in {step}");
                self.handoff(turn, team.clone(), None, reason);
            }
            OptionAction::Language { language, goto } => {
                turn.state.language = Some(language.clone());
                turn.contact.language = Some(language.clone());
                let next = goto.clone().unwrap_or_else(|| self.start.clone());
                self.enter(turn, &next);
            }
        }
    }

    fn apply_outcome(&self, turn: &mut Turn<'_>, step: &str, outcome: &Outcome, reason: &str) {
        if let Some(t) = &outcome.text {
            self.say(turn, t);
        }
        match &outcome.target {
            Some(Target::Goto(next)) => self.enter(turn, next),
            Some(Target::Handoff(team)) => {
                let reason = format!("{step}: {reason}");
                self.handoff(turn, team.clone(), None, reason);
            }
            None => turn.state.step = None,
        }
    }

    /// Enter a step: send its prompt and wait, or act and move on.
    fn enter(&self, turn: &mut Turn<'_>, name: &str) {
        turn.hops += 1;
        if turn.hops > MAX_HOPS {
            tracing::error!(
                step = name,
                "bot: too many steps in one turn; check for a goto loop"
            );
            self.say(turn, &self.texts.error);
            turn.state.step = None;
            return;
        }
        let Some(step) = self.steps.get(name) else {
            tracing::error!(step = name, "bot: unknown step");
            turn.state.step = None;
            return;
        };
        match step {
            Step::Menu(m) => {
                turn.state.step = Some(name.to_string());
                self.send_menu(turn, name, m);
            }
            Step::Question(q) => {
                turn.state.step = Some(name.to_string());
                self.say(turn, &q.text);
            }
            Step::Message { text, goto } => {
                self.say(turn, text);
                match goto {
                    Some(next) => self.enter(turn, next),
                    None => turn.state.step = None,
                }
            }
            Step::Handoff { team, text } => {
                let reason = format!("flow step {name}");
                self.handoff(turn, team.clone(), text.as_ref(), reason);
            }
            Step::End { text } => {
                if let Some(text) = text {
                    self.say(turn, text);
                }
                turn.state.step = None;
                turn.out.resolve = true;
            }
            Step::Http(http) => {
                turn.state.step = None;
                match self.request(turn, http) {
                    Ok(spec) => {
                        turn.state.pending_http = Some(name.to_string());
                        turn.out.http = Some(spec);
                    }
                    Err(e) => {
                        tracing::warn!(step = name, error = e, "bot: cannot build HTTP request");
                        turn.response = Some((0, serde_json::Value::String(e.clone())));
                        self.apply_outcome(turn, name, &http.on_failure, &e);
                    }
                }
            }
        }
    }

    fn handoff(
        &self,
        turn: &mut Turn<'_>,
        team: Option<TeamId>,
        text: Option<&Tpl>,
        reason: String,
    ) {
        let mut reason = reason;
        match &self.hours {
            Some(hours) if !hours.is_open(turn.now) => {
                if let Some(t) = &self.texts.out_of_hours {
                    self.say(turn, t);
                }
                if !hours.handoff_when_closed {
                    turn.state.misunderstandings = 0;
                    turn.state.step = None;
                    return;
                }
                reason.push_str(" (outside business hours)");
            }
            _ => {
                if let Some(t) = text.or(self.texts.handoff.as_ref()) {
                    self.say(turn, t);
                }
            }
        }
        turn.state.handed_off = true;
        turn.state.step = None;
        turn.state.pending_http = None;
        turn.out.http = None;
        turn.out.handoff = Some(Handoff { team, reason });
    }

    // -----------------------------------------------------------------------------------------
    // Menus
    // -----------------------------------------------------------------------------------------

    fn option_by_id(&self, id: &str) -> Option<(&str, &MenuOption)> {
        let (step, option) = id.split_once('/')?;
        let (name, Step::Menu(menu)) = self.steps.get_key_value(step)? else {
            return None;
        };
        let option = menu.options().find(|o| o.id == option)?;
        Some((name.as_str(), option))
    }

    /// A typed choice: the option's number, its title in any language, or one of its keywords.
    fn option_by_text<'m>(&self, menu: &'m Menu, normalized: &str) -> Option<&'m MenuOption> {
        if let Ok(n) = normalized.parse::<usize>() {
            return n.checked_sub(1).and_then(|i| menu.options().nth(i));
        }
        menu.options().find(|o| {
            o.title.0.values().any(|name| {
                self.env
                    .get_template(name)
                    .and_then(|t| t.render(()))
                    .is_ok_and(|title| normalize(&title) == normalized)
            }) || o.keywords.matches(normalized)
        })
    }

    fn send_menu(&self, turn: &mut Turn<'_>, name: &str, menu: &Menu) {
        let body = self.render(turn, &menu.text);
        let header = menu.header.as_ref().map(|h| self.render(turn, h));
        let header = header
            .filter(|h| !h.is_empty())
            .map(|h| truncate(&h, MAX_HEADER));
        let footer = menu.footer.as_ref().map(|f| self.render(turn, f));
        let footer = footer
            .filter(|f| !f.is_empty())
            .map(|f| truncate(&f, MAX_FOOTER));
        let id = |o: &MenuOption| format!("{name}/{}", o.id);
        let content = if menu.list {
            let button = match menu.button.as_ref().or(self.texts.list_button.as_ref()) {
                Some(b) => self.render(turn, b),
                None => "Options".to_string(),
            };
            let sections = menu
                .sections
                .iter()
                .map(|s| ListSection {
                    title: s
                        .title
                        .as_ref()
                        .map(|t| truncate(&self.render(turn, t), MAX_SECTION_TITLE)),
                    rows: s
                        .options
                        .iter()
                        .map(|o| ListRow {
                            id: id(o),
                            title: truncate(&self.render(turn, &o.title), MAX_ROW_TITLE),
                            description: o
                                .description
                                .as_ref()
                                .map(|d| truncate(&self.render(turn, d), MAX_ROW_DESCRIPTION)),
                        })
                        .collect(),
                })
                .collect();
            OutboundContent::List {
                body,
                header,
                footer,
                button: truncate(&button, MAX_LIST_BUTTON),
                sections,
            }
        } else {
            OutboundContent::Buttons {
                body,
                header,
                footer,
                buttons: menu
                    .options()
                    .map(|o| ReplyButton {
                        id: id(o),
                        title: truncate(&self.render(turn, &o.title), MAX_BUTTON_TITLE),
                    })
                    .collect(),
            }
        };
        turn.out.replies.push(content);
    }

    // -----------------------------------------------------------------------------------------
    // Rendering
    // -----------------------------------------------------------------------------------------

    fn language(&self, turn: &Turn<'_>) -> String {
        turn.state
            .language
            .clone()
            .unwrap_or_else(|| self.default_language.clone())
    }

    fn detect_language(&self, contact: &ContactRecord, msg: &InboundMessage) -> String {
        // The contact's own language, else the one the channel reports for the customer.
        for language in [&contact.language, &msg.customer.language]
            .into_iter()
            .flatten()
        {
            let primary = language
                .split(['-', '_'])
                .next()
                .unwrap_or_default()
                .to_lowercase();
            if self.supported.contains(&primary) {
                return primary;
            }
        }
        let phone = contact
            .phone
            .as_deref()
            .or(msg.customer.wa_id.as_deref())
            .unwrap_or_default();
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        let digits = digits.strip_prefix("00").unwrap_or(&digits);
        self.by_country
            .iter()
            .find(|(prefix, _)| digits.starts_with(prefix.as_str()))
            .map(|(_, language)| language.clone())
            .unwrap_or_else(|| self.default_language.clone())
    }

    fn context(&self, turn: &Turn<'_>) -> Value {
        let c = &*turn.contact;
        let fields = Value::from(c.fields.clone());
        let contact: BTreeMap<&str, Value> = [
            ("name", Value::from(c.name.clone().unwrap_or_default())),
            ("phone", Value::from(c.phone.clone().unwrap_or_default())),
            (
                "language",
                Value::from(c.language.clone().unwrap_or_default()),
            ),
            ("fields", fields.clone()),
            ("tags", Value::from(c.tags.clone())),
        ]
        .into_iter()
        .collect();
        let mut ctx: BTreeMap<&str, Value> = [
            ("contact", Value::from(contact)),
            ("fields", fields),
            ("language", Value::from(self.language(turn))),
            ("apis", Value::from(self.apis.clone())),
        ]
        .into_iter()
        .collect();
        if let Some((status, body)) = &turn.response {
            let r: BTreeMap<&str, Value> =
                [("status", Value::from(*status)), ("body", from_json(body))]
                    .into_iter()
                    .collect();
            ctx.insert("response", Value::from(r));
        }
        Value::from(ctx)
    }

    fn template_name<'t>(&self, turn: &Turn<'_>, tpl: &'t Tpl) -> Option<&'t String> {
        let language = self.language(turn);
        tpl.0
            .get(&language)
            .or_else(|| tpl.0.get(&self.default_language))
            .or_else(|| tpl.0.get(ANY_LANGUAGE))
    }

    fn try_render(&self, name: &str, ctx: &Value) -> Result<String, String> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map(|s| s.trim().to_string())
            .map_err(|e| describe(&e))
    }

    /// Render a text in the conversation's language; on error, log and use `texts.error`.
    fn render(&self, turn: &Turn<'_>, tpl: &Tpl) -> String {
        let ctx = self.context(turn);
        let Some(name) = self.template_name(turn, tpl) else {
            return LAST_RESORT_TEXT.to_string();
        };
        match self.try_render(name, &ctx) {
            Ok(text) => text,
            Err(error) => {
                tracing::warn!(
                    template = name,
                    error,
                    "bot: template failed; sending the error text"
                );
                self.template_name(turn, &self.texts.error)
                    .and_then(|n| self.try_render(n, &ctx).ok())
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| LAST_RESORT_TEXT.to_string())
            }
        }
    }

    fn say(&self, turn: &mut Turn<'_>, tpl: &Tpl) {
        let body = self.render(turn, tpl);
        if !body.is_empty() {
            turn.out.replies.push(OutboundContent::Text {
                body,
                preview_url: false,
            });
        }
    }

    fn request(&self, turn: &Turn<'_>, http: &Http) -> Result<HttpRequestSpec, String> {
        let ctx = self.context(turn);
        let method = self.try_render(&http.method, &ctx)?.to_uppercase();
        if method.is_empty() || !method.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(format!("invalid method {method:?}"));
        }
        let url = self.try_render(&http.url, &ctx)?;
        let headers = http
            .headers
            .iter()
            .map(|(name, tpl)| Ok((name.clone(), self.try_render(tpl, &ctx)?)))
            .collect::<Result<_, String>>()?;
        let body = http
            .body
            .as_ref()
            .map(|b| self.render_body(b, &ctx))
            .transpose()?;
        Ok(HttpRequestSpec {
            method,
            url,
            headers,
            body,
        })
    }

    fn render_body(&self, body: &BodyTpl, ctx: &Value) -> Result<serde_json::Value, String> {
        Ok(match body {
            BodyTpl::Literal(v) => v.clone(),
            BodyTpl::Template(name) => serde_json::Value::String(self.try_render(name, ctx)?),
            BodyTpl::Array(items) => serde_json::Value::Array(
                items
                    .iter()
                    .map(|i| self.render_body(i, ctx))
                    .collect::<Result<_, _>>()?,
            ),
            BodyTpl::Object(fields) => serde_json::Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), self.render_body(v, ctx)?)))
                    .collect::<Result<_, String>>()?,
            ),
        })
    }
}

/// Input kinds a question can accept.
const ACCEPTABLE: &[&str] = &[
    "text", "location", "image", "document", "audio", "video", "sticker",
];

fn compile_menu(c: &mut Compiler, path: &str, m: &MenuConfig) -> Result<Menu, BotError> {
    if !m.options.is_empty() && !m.sections.is_empty() {
        return Err(invalid(format!("{path}: use either options or sections")));
    }
    let mut sections = Vec::new();
    if !m.options.is_empty() {
        sections.push(Section {
            title: None,
            options: compile_options(c, &format!("{path}.options"), &m.options)?,
        });
    }
    for (i, s) in m.sections.iter().enumerate() {
        let spath = format!("{path}.sections[{i}]");
        if s.options.is_empty() {
            return Err(invalid(format!("{spath}: no options")));
        }
        sections.push(Section {
            title: c.opt_text(&format!("{spath}.title"), &s.title, false)?,
            options: compile_options(c, &format!("{spath}.options"), &s.options)?,
        });
    }
    let count: usize = sections.iter().map(|s| s.options.len()).sum();
    if count == 0 {
        return Err(invalid(format!("{path}: a menu needs options")));
    }
    let list = match m.style {
        MenuStyle::Auto => count > MAX_BUTTONS || !m.sections.is_empty(),
        MenuStyle::Buttons => {
            if count > MAX_BUTTONS {
                return Err(invalid(format!(
                    "{path}: {count} buttons, WhatsApp allows {MAX_BUTTONS} (use style: list)"
                )));
            }
            if !m.sections.is_empty() {
                return Err(invalid(format!("{path}: sections need style: list")));
            }
            false
        }
        MenuStyle::List => true,
    };
    if list {
        if count > MAX_LIST_ROWS {
            return Err(invalid(format!(
                "{path}: {count} list rows, WhatsApp allows {MAX_LIST_ROWS}"
            )));
        }
        if sections.len() > MAX_LIST_SECTIONS {
            return Err(invalid(format!(
                "{path}: {} sections, WhatsApp allows {MAX_LIST_SECTIONS}",
                sections.len()
            )));
        }
    }
    Ok(Menu {
        text: c.text(&format!("{path}.text"), &m.text, false)?,
        header: c.opt_text(&format!("{path}.header"), &m.header, false)?,
        footer: c.opt_text(&format!("{path}.footer"), &m.footer, false)?,
        list,
        button: c.opt_text(&format!("{path}.button"), &m.button, false)?,
        sections,
    })
}

fn compile_options(
    c: &mut Compiler,
    path: &str,
    options: &[OptionConfig],
) -> Result<Vec<MenuOption>, BotError> {
    options
        .iter()
        .map(|o| {
            let what = format!("{path}.{}", o.id);
            let action = match (&o.goto, &o.handoff, &o.language) {
                (Some(g), None, None) => OptionAction::Goto(g.clone()),
                (None, Some(_), None) => OptionAction::Handoff(team(&o.handoff)),
                (goto, None, Some(l)) => OptionAction::Language {
                    language: l.clone(),
                    goto: goto.clone(),
                },
                _ => {
                    return Err(invalid(format!(
                        "{what}: needs one of goto, handoff, language (language may add goto)"
                    )));
                }
            };
            Ok(MenuOption {
                id: o.id.clone(),
                title: c.text(&format!("{what}.title"), &o.title, false)?,
                description: c.opt_text(&format!("{what}.description"), &o.description, false)?,
                keywords: Matcher::new(&o.keywords, &[], &what)?,
                action,
            })
        })
        .collect()
}

fn compile_http(c: &mut Compiler, path: &str, h: &HttpConfig) -> Result<Http, BotError> {
    let outcome = |c: &mut Compiler, what: &str, o: &OutcomeConfig| -> Result<Outcome, BotError> {
        let target = match (&o.goto, &o.handoff) {
            (Some(g), None) => Some(Target::Goto(g.clone())),
            (None, Some(_)) => Some(Target::Handoff(team(&o.handoff))),
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err(invalid(format!("{what}: use goto or handoff, not both")));
            }
        };
        Ok(Outcome {
            text: c.opt_text(&format!("{what}.text"), &o.text, true)?,
            target,
        })
    };
    let mut on_status = BTreeMap::new();
    for (status, o) in &h.on_status {
        let code: u16 = status
            .parse()
            .ok()
            .filter(|s| (100..600).contains(s))
            .ok_or_else(|| {
                invalid(format!(
                    "{path}.on_status: {status:?} is not an HTTP status"
                ))
            })?;
        on_status.insert(code, outcome(c, &format!("{path}.on_status.{status}"), o)?);
    }
    Ok(Http {
        method: c.template(format!("{path}.method"), &h.method, false)?,
        url: c.template(format!("{path}.url"), &h.url, false)?,
        headers: h
            .headers
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    c.template(format!("{path}.headers.{k}"), v, false)?,
                ))
            })
            .collect::<Result<_, BotError>>()?,
        body: h
            .body
            .as_ref()
            .map(|b| c.body(&format!("{path}.body"), b))
            .transpose()?,
        on_success: outcome(c, &format!("{path}.on_success"), &h.on_success)?,
        on_status,
        on_error: h
            .on_error
            .as_ref()
            .map(|o| outcome(c, &format!("{path}.on_error"), o))
            .transpose()?,
        on_failure: outcome(c, &format!("{path}.on_failure"), &h.on_failure)?,
    })
}

/// Mutable context of one decision.
struct Turn<'a> {
    state: &'a mut BotState,
    contact: &'a mut ContactRecord,
    now: DateTime<Utc>,
    /// The contact field definitions a saved answer must fit.
    fields: &'a FieldDefs,
    /// The HTTP response templates may use (`response.status`, `response.body`).
    response: Option<(u16, serde_json::Value)>,
    out: BotStep,
    hops: u32,
}

impl<'a> Turn<'a> {
    fn new(
        state: &'a mut BotState,
        contact: &'a mut ContactRecord,
        now: DateTime<Utc>,
        fields: &'a FieldDefs,
    ) -> Self {
        Self {
            state,
            contact,
            now,
            fields,
            response: None,
            out: BotStep::default(),
            hops: 0,
        }
    }
}

/// What the bot sees of a message.
enum Input<'a> {
    Text(&'a str),
    Choice {
        id: &'a str,
        title: &'a str,
    },
    Location {
        latitude: f64,
        longitude: f64,
    },
    Media {
        kind: &'static str,
        id: String,
    },
    /// Reactions, system notices, edits, revokes: no reply.
    Ignored,
    /// Anything else: not understood.
    Other,
}

impl<'a> Input<'a> {
    fn from_content(content: &'a MessageContent) -> Self {
        match content {
            MessageContent::Text { body } => Input::Text(body),
            MessageContent::ButtonReply { id, title }
            | MessageContent::ListReply { id, title, .. } => Input::Choice { id, title },
            MessageContent::Button { payload, text } => Input::Choice {
                id: payload.as_deref().unwrap_or_default(),
                title: text,
            },
            MessageContent::Location {
                latitude,
                longitude,
                ..
            } => Input::Location {
                latitude: *latitude,
                longitude: *longitude,
            },
            MessageContent::Media { kind, media, .. } => Input::Media {
                kind: kind.as_str(),
                id: media.id.clone().unwrap_or_default(),
            },
            MessageContent::Reaction { .. }
            | MessageContent::System { .. }
            | MessageContent::Edit { .. }
            | MessageContent::Revoke { .. } => Input::Ignored,
            MessageContent::Contacts { .. }
            | MessageContent::FlowReply { .. }
            | MessageContent::Order { .. }
            | MessageContent::Unsupported { .. }
            | MessageContent::Unknown { .. } => Input::Other,
        }
    }

    /// Typed text, or a choice's title.
    fn text(&self) -> Option<&'a str> {
        match self {
            Input::Text(t) => Some(t),
            Input::Choice { title, .. } => Some(title),
            _ => None,
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Stands for an unknown response body at validation: every attribute exists.
#[derive(Debug)]
struct AnyValue;

impl Object for AnyValue {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, _key: &Value) -> Option<Value> {
        Some(Value::from_object(AnyValue))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Empty
    }

    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sample")
    }
}
