//! A campaign, pure (docs/CAMPAIGNS.md, "Campaigns"): what a person asks for ([`CampaignSpec`]:
//! the number, the template, the parameters mapped from contact fields, the audience, the
//! schedule, the frequency cap), its states and what moves them ([`transition`]), who of the
//! audience it may reach and why not ([`eligibility`], an [`Exclusion`] per reason), each
//! recipient's parameters ([`resolve`]), the local-time window ([`Window::next_open`]) and the
//! price table ([`Prices`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::compose::{BodyInput, ButtonInput, HeaderInput, MediaRef, TemplateInput};
use super::consent::{self, ConsentState};
use super::policy::{self, CountryRules, Recipient};
use super::templates::Category;
use crate::store::ContactRecord;

/// A campaign name's longest length.
pub const MAX_NAME: usize = 200;
/// The most segments a campaign excludes.
pub const MAX_EXCLUDED: usize = 20;
/// The longest frequency-cap period.
pub const MAX_CAP_DAYS: u32 = 365;

/// What a person asks for (`POST /api/v1/campaigns`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignSpec {
    pub name: String,
    /// The WhatsApp channel (business number) it goes from.
    pub channel: String,
    pub template: TemplateRef,
    /// Where each parameter's value comes from.
    #[serde(default)]
    pub parameters: ParameterMap,
    pub audience: Audience,
    #[serde(default)]
    pub schedule: Schedule,
    /// No customer gets more than `messages` marketing messages of campaigns in `days` days.
    #[serde(default)]
    pub frequency_cap: Option<FrequencyCap>,
    /// At most this many messages per second (below the number's share, `campaigns.share`).
    #[serde(default)]
    pub rate: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRef {
    pub name: String,
    pub language: String,
}

/// A segment, minus the members of other segments.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    /// The segment's id.
    pub segment: String,
    #[serde(default)]
    pub exclude_segments: Vec<String>,
}

/// When: now (nothing given), at `start_at`, and only while each recipient's local time is
/// within `window`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub start_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowSpec>,
}

/// Hours of the recipient's day (`"09:00"` to `"20:00"`, local time). A recipient's zone is
/// their contact's `timezone` field (an IANA name) when it has one, else `timezone` here.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    pub from: String,
    pub to: String,
    #[serde(default = "utc")]
    pub timezone: String,
}

fn utc() -> String {
    "UTC".into()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FrequencyCap {
    pub messages: u32,
    pub days: u32,
}

/// Where a parameter's value comes from: a fixed `value`, or a contact `field` (`name`,
/// `phone`, `language`, `country` or a custom field's key) with a `default` for contacts
/// without it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// The header's value: a text parameter from a source, or a media file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderMap {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Source>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<MediaRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<MediaRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<MediaRef>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum BodyMap {
    Positional(Vec<Source>),
    Named(BTreeMap<String, Source>),
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ButtonMap {
    pub index: u32,
    pub sub_type: String,
    pub value: Source,
}

/// The template's parameters, each from a [`Source`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParameterMap {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderMap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<BodyMap>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<ButtonMap>,
}

impl CampaignSpec {
    /// What is wrong with the spec on its own (the template, segments and channel are checked
    /// against the records by the caller), in words; empty when nothing is.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            problems.push(format!("`name` takes 1 to {MAX_NAME} characters"));
        }
        if self.audience.segment.trim().is_empty() {
            problems.push("`audience.segment` names no segment".into());
        }
        if self.audience.exclude_segments.len() > MAX_EXCLUDED {
            problems.push(format!(
                "`audience.exclude_segments` takes at most {MAX_EXCLUDED} segments"
            ));
        }
        if let Some(window) = &self.schedule.window
            && let Err(e) = Window::of(window)
        {
            problems.push(e);
        }
        if let Some(cap) = self.frequency_cap
            && (cap.messages == 0 || cap.days == 0 || cap.days > MAX_CAP_DAYS)
        {
            problems.push(format!(
                "`frequency_cap` takes at least one message in 1 to {MAX_CAP_DAYS} days"
            ));
        }
        if self.rate == Some(0) {
            problems.push("`rate` is at least 1 message per second".into());
        }
        for source in self.parameters.sources() {
            match (&source.value, &source.field) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => problems.push(
                    "each parameter takes exactly one of `value` or `field` (with an optional \
                     `default`)"
                        .into(),
                ),
            }
            if source.value.is_some() && source.default.is_some() {
                problems.push("a fixed `value` takes no `default`".into());
            }
        }
        problems
    }
}

impl ParameterMap {
    fn sources(&self) -> Vec<&Source> {
        let mut all: Vec<&Source> = Vec::new();
        if let Some(text) = self.header.as_ref().and_then(|h| h.text.as_ref()) {
            all.push(text);
        }
        match &self.body {
            Some(BodyMap::Positional(v)) => all.extend(v.iter()),
            Some(BodyMap::Named(m)) => all.extend(m.values()),
            None => {}
        }
        all.extend(self.buttons.iter().map(|b| &b.value));
        all
    }
}

/// A contact field's value, for a [`Source`]: `name`, `phone`, `language`, `country` or a
/// custom field.
fn field_of(contact: &ContactRecord, country: Option<&str>, field: &str) -> Option<String> {
    let value = match field {
        "name" => contact.name.clone(),
        "phone" => contact.phone.clone(),
        "language" => contact.language.clone(),
        "country" => country.map(str::to_owned),
        other => contact.fields.get(other).cloned(),
    };
    value.filter(|v| !v.trim().is_empty())
}

fn value_of(source: &Source, contact: &ContactRecord, country: Option<&str>) -> Option<String> {
    if let Some(value) = &source.value {
        return Some(value.clone());
    }
    source
        .field
        .as_deref()
        .and_then(|f| field_of(contact, country, f))
        .or_else(|| source.default.clone())
}

/// The template input for one contact: each source's value, or the first parameter the contact
/// has no value for (and no default).
pub fn resolve(
    map: &ParameterMap,
    contact: &ContactRecord,
    country: Option<&str>,
) -> Result<TemplateInput, String> {
    let get = |source: &Source, name: &str| {
        value_of(source, contact, country).ok_or_else(|| name.to_owned())
    };
    let header = match &map.header {
        None => None,
        Some(h) => Some(HeaderInput {
            text: h.text.as_ref().map(|s| get(s, "header.text")).transpose()?,
            image: h.image.clone(),
            video: h.video.clone(),
            document: h.document.clone(),
        }),
    };
    let body = match &map.body {
        None => None,
        Some(BodyMap::Positional(sources)) => Some(BodyInput::Positional(
            sources
                .iter()
                .enumerate()
                .map(|(i, s)| get(s, &format!("body[{}]", i + 1)))
                .collect::<Result<_, _>>()?,
        )),
        Some(BodyMap::Named(sources)) => Some(BodyInput::Named(
            sources
                .iter()
                .map(|(k, s)| get(s, &format!("body.{k}")).map(|v| (k.clone(), v)))
                .collect::<Result<_, _>>()?,
        )),
    };
    let buttons = map
        .buttons
        .iter()
        .map(|b| {
            get(&b.value, &format!("buttons[{}]", b.index)).map(|value| ButtonInput {
                index: b.index,
                sub_type: b.sub_type.clone(),
                value,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(TemplateInput {
        header,
        body,
        buttons,
    })
}

/// A campaign's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Created, not started: it may be previewed.
    Draft,
    /// Started, waiting for its `start_at`.
    Scheduled,
    Running,
    Paused,
    /// Every recipient was sent to or excluded.
    Completed,
    Cancelled,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Scheduled => "scheduled",
            State::Running => "running",
            State::Paused => "paused",
            State::Completed => "completed",
            State::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        Some(match s {
            "draft" => State::Draft,
            "scheduled" => State::Scheduled,
            "running" => State::Running,
            "paused" => State::Paused,
            "completed" => State::Completed,
            "cancelled" => State::Cancelled,
            _ => return None,
        })
    }
}

/// What a person does to a campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Start,
    Pause,
    Resume,
    Cancel,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "start" => Action::Start,
            "pause" => Action::Pause,
            "resume" => Action::Resume,
            "cancel" => Action::Cancel,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Cancel => "cancel",
        }
    }
}

/// The state `action` takes a campaign in `state` to (`start_at` after `now`: a start waits,
/// scheduled); else why it cannot, in words (409).
pub fn transition(
    state: State,
    action: Action,
    start_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<State, String> {
    let waits = start_at.is_some_and(|at| at > now);
    match (state, action) {
        (State::Draft, Action::Start) if waits => Ok(State::Scheduled),
        (State::Draft, Action::Start) => Ok(State::Running),
        (State::Scheduled | State::Running, Action::Pause) => Ok(State::Paused),
        (State::Paused, Action::Resume) if waits => Ok(State::Scheduled),
        (State::Paused, Action::Resume) => Ok(State::Running),
        (State::Draft | State::Scheduled | State::Running | State::Paused, Action::Cancel) => {
            Ok(State::Cancelled)
        }
        (state, action) => Err(format!(
            "a {} campaign cannot {}",
            state.as_str(),
            action.as_str()
        )),
    }
}

/// Why a contact of the audience gets nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Exclusion {
    /// No WhatsApp address: never wrote on the number and has no phone.
    NoNumber,
    /// Another contact of the audience has the same address.
    Duplicate,
    /// A member of an excluded segment.
    ExcludedSegment,
    /// A country rule (sanctions, the allow and deny lists, the US pause).
    CountryRule,
    /// Marketing, and never opted in on this number.
    NoConsent,
    /// Marketing, and opted out on this number.
    OptedOut,
    /// Already sent `messages` marketing messages in the cap's `days`.
    FrequencyCap,
    /// A parameter's field is empty for the contact and has no default.
    MissingParameter,
}

impl Exclusion {
    pub const ALL: [Exclusion; 8] = [
        Exclusion::NoNumber,
        Exclusion::Duplicate,
        Exclusion::ExcludedSegment,
        Exclusion::CountryRule,
        Exclusion::NoConsent,
        Exclusion::OptedOut,
        Exclusion::FrequencyCap,
        Exclusion::MissingParameter,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Exclusion::NoNumber => "no_number",
            Exclusion::Duplicate => "duplicate",
            Exclusion::ExcludedSegment => "excluded_segment",
            Exclusion::CountryRule => "country_rule",
            Exclusion::NoConsent => "no_consent",
            Exclusion::OptedOut => "opted_out",
            Exclusion::FrequencyCap => "frequency_cap",
            Exclusion::MissingParameter => "missing_parameter",
        }
    }

    pub fn parse(s: &str) -> Option<Exclusion> {
        Exclusion::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// What is known of one contact of the audience, for [`eligibility`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// Its address on the campaign's number; None: it has none.
    pub address: Option<&'a str>,
    pub country: Option<&'a str>,
    /// An earlier contact of the audience has this address.
    pub duplicate: bool,
    /// It is in an excluded segment.
    pub excluded: bool,
    pub consent: ConsentState,
    /// Marketing messages of campaigns sent to the address within the cap's period.
    pub recent_marketing: u32,
    /// Its parameters resolve (else the first one that does not).
    pub parameters: Result<(), String>,
}

/// May a campaign of `category` reach the candidate: the first rule that refuses it, in the
/// order of [`Exclusion`].
pub fn eligibility(
    category: Category,
    countries: &CountryRules,
    cap: Option<FrequencyCap>,
    candidate: &Candidate<'_>,
) -> Result<(), Exclusion> {
    let Some(address) = candidate.address else {
        return Err(Exclusion::NoNumber);
    };
    if candidate.duplicate {
        return Err(Exclusion::Duplicate);
    }
    if candidate.excluded {
        return Err(Exclusion::ExcludedSegment);
    }
    policy::country_allows(
        countries,
        category,
        Recipient::of(address, candidate.country),
    )
    .map_err(|_| Exclusion::CountryRule)?;
    consent::may_send(category, candidate.consent).map_err(|refusal| match refusal {
        consent::Refusal::OptedOut => Exclusion::OptedOut,
        // An erased contact is no member of any segment; counted as never asked.
        consent::Refusal::NoConsent | consent::Refusal::Erased => Exclusion::NoConsent,
    })?;
    if category == Category::Marketing
        && let Some(cap) = cap
        && candidate.recent_marketing >= cap.messages
    {
        return Err(Exclusion::FrequencyCap);
    }
    candidate
        .parameters
        .as_ref()
        .map_err(|_| Exclusion::MissingParameter)?;
    Ok(())
}

/// A window of the day in local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub from: NaiveTime,
    pub to: NaiveTime,
    pub timezone: chrono_tz::Tz,
}

fn time_of(s: &str, name: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .map_err(|_| format!("`schedule.window.{name}` is a time of day like \"09:00\""))
}

/// An IANA time zone's name, read.
pub fn zone_of(name: &str) -> Option<chrono_tz::Tz> {
    name.trim().parse().ok()
}

impl Window {
    pub fn of(spec: &WindowSpec) -> Result<Window, String> {
        let from = time_of(&spec.from, "from")?;
        let to = time_of(&spec.to, "to")?;
        if from == to {
            return Err("`schedule.window` is empty: `from` equals `to`".into());
        }
        let timezone = zone_of(&spec.timezone).ok_or_else(|| {
            format!(
                "`schedule.window.timezone` {:?} is no IANA time zone (like \"Europe/Madrid\")",
                spec.timezone
            )
        })?;
        Ok(Window { from, to, timezone })
    }

    fn inside(&self, local: NaiveTime) -> bool {
        if self.from < self.to {
            local >= self.from && local < self.to
        } else {
            // Across midnight (22:00 to 06:00).
            local >= self.from || local < self.to
        }
    }

    /// The first time at or after `now` that a recipient in `zone` (else the window's own) is
    /// within the window: `now` itself when it is.
    pub fn next_open(&self, now: DateTime<Utc>, zone: Option<chrono_tz::Tz>) -> DateTime<Utc> {
        let zone = zone.unwrap_or(self.timezone);
        let local = now.with_timezone(&zone);
        if self.inside(local.time()) {
            return now;
        }
        // Today's opening, else tomorrow's (a day later at most); a DST gap moves it later.
        for days in 0..=2 {
            let date = local.date_naive() + Duration::days(days);
            let naive = date.and_time(self.from);
            let opening = match zone.from_local_datetime(&naive) {
                chrono::LocalResult::Single(t) => t,
                chrono::LocalResult::Ambiguous(t, _) => t,
                chrono::LocalResult::None => {
                    match zone.from_local_datetime(&(naive + Duration::hours(1))) {
                        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t,
                        chrono::LocalResult::None => continue,
                    }
                }
            };
            let opening = opening.with_timezone(&Utc);
            if opening > now {
                return opening;
            }
        }
        // Unreachable in practice (a day always has its opening); never earlier than now.
        now + Duration::days(1)
    }
}

/// A message's price per category, for a country.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CategoryPrices {
    pub marketing: f64,
    pub utility: f64,
    pub authentication: f64,
}

impl CategoryPrices {
    pub fn of(&self, category: &str) -> f64 {
        match category.to_ascii_lowercase().as_str() {
            "marketing" | "marketing_lite" => self.marketing,
            "utility" => self.utility,
            "authentication" | "authentication_international" => self.authentication,
            _ => 0.0,
        }
    }
}

/// The price table (`campaigns.prices`): per country (ISO 3166-1 alpha-2), else `default`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Prices {
    pub currency: String,
    pub default: CategoryPrices,
    pub countries: BTreeMap<String, CategoryPrices>,
}

impl Default for Prices {
    fn default() -> Self {
        Self {
            currency: "USD".into(),
            default: CategoryPrices {
                marketing: 0.025,
                utility: 0.004,
                authentication: 0.004,
            },
            countries: BTreeMap::new(),
        }
    }
}

impl Prices {
    /// The price of a message of `category` to a number of `country`.
    pub fn price(&self, country: Option<&str>, category: &str) -> f64 {
        country
            .and_then(|c| self.countries.get(&c.to_ascii_uppercase()))
            .unwrap_or(&self.default)
            .of(category)
    }
}

/// Whether a status's pricing charges the message: `regular` does; the free types
/// (`free_customer_service`, `free_entry_point`) do not; none given (older statuses): charged
/// when it has a category.
pub fn charged(pricing_type: Option<&str>) -> bool {
    !pricing_type.is_some_and(|t| t.starts_with("free"))
}

/// A sum of money, rounded to a ten-thousandth for showing.
pub fn money(amount: f64) -> f64 {
    (amount * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests;
