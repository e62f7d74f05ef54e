//! Custom contact field definitions, pure: what an admin defines (a key, a label, a type, the
//! options of a choice, a description), the checks of a definition and of its changes, and the
//! check and normal form of a value written to a defined field.
//!
//! A contact keeps its custom fields as strings (`fields: {key: value}`); a definition gives a
//! key a type, and every write of a contact (a person's edit, a business system's upsert, a
//! CSV import, the bot's saved answers) stores a value of a defined key in its normal form, or
//! is refused naming the field:
//! - `text`: printable, at most [`FIELD_VALUE_MAX`] characters (as any undefined key);
//! - `number`: a finite decimal number (`-12.5`, `1e3`), stored in its shortest form
//!   (`1000`, `0.5`, never `+`, leading zeros, trailing zeros or an exponent); about 15
//!   significant digits are kept;
//! - `date`: a calendar date `YYYY-MM-DD` (`2026-03-05`);
//! - `boolean`: `true` or `false` (also read: `yes`, `no`, `1`, `0`, any case);
//! - `choice`: one of the definition's options, matched ignoring case, stored as the option.
//!
//! Keys nobody defined stay free text, as they always were. A value stored before its key was
//! defined (or after its definition was deleted) stays as it is until it is written again.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::edit::{EMAIL_FIELD, FIELD_VALUE_MAX, LAT_FIELD, LON_FIELD, Patch};

/// The longest key.
pub const KEY_MAX: usize = 64;
/// The longest label (characters).
pub const LABEL_MAX: usize = 100;
/// The longest description (characters).
pub const DESCRIPTION_MAX: usize = 500;
/// The most options of a choice.
pub const OPTIONS_MAX: usize = 100;
/// The longest option (characters).
pub const OPTION_MAX: usize = 100;
/// The most definitions of a deployment.
pub const DEFINITIONS_MAX: usize = 200;

/// What a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Number,
    Date,
    Boolean,
    Choice,
}

impl FieldType {
    pub const ALL: [FieldType; 5] = [
        FieldType::Text,
        FieldType::Number,
        FieldType::Date,
        FieldType::Boolean,
        FieldType::Choice,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Number => "number",
            FieldType::Date => "date",
            FieldType::Boolean => "boolean",
            FieldType::Choice => "choice",
        }
    }

    pub fn parse(s: &str) -> Option<FieldType> {
        FieldType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// One defined field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldDefinition {
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// A choice's options, in their order; empty for the other types.
    pub options: Vec<String>,
    pub description: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Why a definition or a value is refused: the property and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

fn invalid(field: &str, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

fn printable(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// A definition's key: `[a-z][a-z0-9_]{0,63}`, not a key with its own property (`email`,
/// `location_lat`, `location_lon`).
pub fn key_ok(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && key.len() <= KEY_MAX
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && ![EMAIL_FIELD, LAT_FIELD, LON_FIELD].contains(&key)
}

fn check_label(label: &str) -> Result<String, Invalid> {
    let label = label.trim();
    if label.is_empty() || label.chars().count() > LABEL_MAX || !printable(label) {
        return Err(invalid(
            "label",
            format!("1 to {LABEL_MAX} printable characters"),
        ));
    }
    Ok(label.to_owned())
}

fn check_description(description: &str) -> Result<Option<String>, Invalid> {
    let description = description.trim();
    if description.chars().count() > DESCRIPTION_MAX
        || description.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(invalid(
            "description",
            format!("at most {DESCRIPTION_MAX} printable characters, or null"),
        ));
    }
    Ok((!description.is_empty()).then(|| description.to_owned()))
}

/// A choice's options: 1 to [`OPTIONS_MAX`], each trimmed, 1 to [`OPTION_MAX`] printable
/// characters, no two the same ignoring case.
fn check_options(options: &[String]) -> Result<Vec<String>, Invalid> {
    if options.is_empty() || options.len() > OPTIONS_MAX {
        return Err(invalid(
            "options",
            format!("a choice has 1 to {OPTIONS_MAX} options"),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(options.len());
    for option in options {
        let option = option.trim();
        if option.is_empty() || option.chars().count() > OPTION_MAX || !printable(option) {
            return Err(invalid(
                "options",
                format!("each option is 1 to {OPTION_MAX} printable characters (got {option:?})"),
            ));
        }
        if !seen.insert(option.to_lowercase()) {
            return Err(invalid(
                "options",
                format!("{option:?} is given twice (options differ by more than case)"),
            ));
        }
        out.push(option.to_owned());
    }
    Ok(out)
}

/// The body of a new definition (`POST /api/v1/admin/contact-fields`).
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewField {
    pub key: Option<String>,
    pub label: Option<String>,
    /// `text`, `number`, `date`, `boolean` or `choice`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// A choice's options (required for a choice, refused for the other types).
    pub options: Option<Vec<String>>,
    pub description: Option<String>,
}

impl NewField {
    /// The definition this body makes at `now`, or why not.
    pub fn definition(&self, now: i64) -> Result<FieldDefinition, Invalid> {
        let key = match self.key.as_deref().map(str::trim) {
            Some(key) if key_ok(key) => key.to_owned(),
            _ => {
                return Err(invalid(
                    "key",
                    format!(
                        "a letter a-z, then up to {} of a-z, 0-9 and _ (not email, location_lat or location_lon)",
                        KEY_MAX - 1
                    ),
                ));
            }
        };
        let label = check_label(
            self.label
                .as_deref()
                .ok_or_else(|| invalid("label", "required"))?,
        )?;
        let kind = self
            .kind
            .as_deref()
            .and_then(|k| FieldType::parse(k.trim()))
            .ok_or_else(|| invalid("type", "one of text, number, date, boolean, choice"))?;
        let options = match (kind, &self.options) {
            (FieldType::Choice, Some(options)) => check_options(options)?,
            (FieldType::Choice, None) => {
                return Err(invalid("options", "a choice needs its options"));
            }
            (_, Some(options)) if !options.is_empty() => {
                return Err(invalid("options", "only a choice has options"));
            }
            _ => Vec::new(),
        };
        let description = match &self.description {
            Some(d) => check_description(d)?,
            None => None,
        };
        Ok(FieldDefinition {
            key,
            label,
            kind,
            options,
            description,
            created_at: now,
            updated_at: now,
        })
    }
}

/// The body of a change (`PATCH /api/v1/admin/contact-fields/{key}`): absent properties stay.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldChange {
    pub label: Option<String>,
    /// `null` clears it.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub description: Patch<String>,
    /// A choice's whole new list of options.
    pub options: Option<Vec<String>>,
    /// Refused unless it is the field's type: a field's type never changes.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Refused unless it is the field's key.
    pub key: Option<String>,
}

impl FieldChange {
    /// `current` changed at `now`, or why not (nothing changes then).
    pub fn apply(&self, current: &FieldDefinition, now: i64) -> Result<FieldDefinition, Invalid> {
        let mut after = current.clone();
        if let Some(key) = &self.key
            && key.trim() != current.key
        {
            return Err(invalid(
                "key",
                "a field's key cannot change (define a new field)",
            ));
        }
        if let Some(kind) = &self.kind
            && kind.trim() != current.kind.as_str()
        {
            return Err(invalid(
                "type",
                "a field's type cannot change (values already stored may not fit the new one); define a new field",
            ));
        }
        if let Some(label) = &self.label {
            after.label = check_label(label)?;
        }
        match &self.description {
            Patch::Unchanged => {}
            Patch::Clear => after.description = None,
            Patch::Set(d) => after.description = check_description(d)?,
        }
        if let Some(options) = &self.options {
            if current.kind != FieldType::Choice {
                return Err(invalid("options", "only a choice has options"));
            }
            after.options = check_options(options)?;
        }
        if after != *current {
            after.updated_at = now;
        }
        Ok(after)
    }
}

/// The definitions in effect, by key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldDefs {
    by_key: BTreeMap<String, FieldDefinition>,
}

impl FieldDefs {
    /// No definitions.
    pub const EMPTY: FieldDefs = FieldDefs {
        by_key: BTreeMap::new(),
    };

    pub fn new(definitions: impl IntoIterator<Item = FieldDefinition>) -> FieldDefs {
        FieldDefs {
            by_key: definitions
                .into_iter()
                .map(|d| (d.key.clone(), d))
                .collect(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&FieldDefinition> {
        self.by_key.get(key)
    }

    /// Every definition, by key.
    pub fn all(&self) -> impl Iterator<Item = &FieldDefinition> {
        self.by_key.values()
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The value to store for `key`: a defined key's value checked and in its normal form
    /// ([`normalize`]); an undefined key's value as given (free text, checked by the caller).
    /// The error is a sentence for the field `fields.<key>`.
    pub fn value(&self, key: &str, value: &str) -> Result<String, String> {
        match self.get(key) {
            Some(def) => normalize(def, value),
            None => Ok(value.to_owned()),
        }
    }
}

/// A bot question that saves its answer to a contact field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuestionField {
    /// The bot's name and the question's step.
    pub bot: String,
    pub step: String,
    pub field: String,
    /// The answer kinds the question accepts (`text`, `image`, `location`…).
    pub accept: Vec<String>,
}

/// The questions whose answers a defined field cannot hold: a field of another type than text
/// takes typed text only, never a media id or a location. One sentence each (for the log at
/// start and the admin's answer); such an answer would be refused and the question asked again.
pub fn question_mismatches(defs: &FieldDefs, questions: &[QuestionField]) -> Vec<String> {
    let mut out = Vec::new();
    for q in questions {
        let Some(def) = defs.get(&q.field) else {
            continue;
        };
        if def.kind == FieldType::Text {
            continue;
        }
        let odd: Vec<&str> = q
            .accept
            .iter()
            .map(String::as_str)
            .filter(|k| *k != "text")
            .collect();
        if !odd.is_empty() {
            out.push(format!(
                "bot {} step {} saves {} answers to the {} field {}, which only takes typed text",
                q.bot,
                q.step,
                odd.join(", "),
                def.kind.as_str(),
                def.key
            ));
        }
    }
    out
}

/// `raw` as a value of `def` in its normal form, or what `def` takes.
pub fn normalize(def: &FieldDefinition, raw: &str) -> Result<String, String> {
    let value = raw.trim();
    match def.kind {
        FieldType::Text => {
            if value.chars().count() > FIELD_VALUE_MAX || !printable(value) {
                Err(format!(
                    "a text of at most {FIELD_VALUE_MAX} printable characters"
                ))
            } else {
                Ok(value.to_owned())
            }
        }
        FieldType::Number => number(value)
            .ok_or_else(|| format!("a number like 42 or -3.75 (got {:?})", shorten(value))),
        FieldType::Date => {
            date(value).ok_or_else(|| format!("a date YYYY-MM-DD (got {:?})", shorten(value)))
        }
        FieldType::Boolean => boolean(value)
            .map(|b| b.to_string())
            .ok_or_else(|| format!("true or false (got {:?})", shorten(value))),
        FieldType::Choice => def
            .options
            .iter()
            .find(|o| o.to_lowercase() == value.to_lowercase())
            .cloned()
            .ok_or_else(|| {
                format!(
                    "one of {} (got {:?})",
                    def.options
                        .iter()
                        .map(|o| format!("{o:?}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    shorten(value)
                )
            }),
    }
}

/// At most 40 characters of a refused value, for its error.
fn shorten(value: &str) -> String {
    value.chars().take(40).collect()
}

/// A finite decimal in its shortest form. The standard library reads it; only the shapes of
/// a written decimal are let through (no `inf`, `NaN`, hex or thousands separators).
fn number(value: &str) -> Option<String> {
    if value.is_empty()
        || value.len() > 64
        || !value
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        || !value.bytes().any(|b| b.is_ascii_digit())
    {
        return None;
    }
    let n: f64 = value.parse().ok()?;
    if !n.is_finite() {
        return None;
    }
    // `-0` is `0`; Display writes the shortest digits that read back as the same number,
    // without an exponent.
    let n = if n == 0.0 { 0.0 } else { n };
    Some(n.to_string())
}

/// A calendar date written `YYYY-MM-DD` (four-digit year, two-digit month and day).
fn date(value: &str) -> Option<String> {
    let b = value.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .map(|d| d.format("%Y-%m-%d").to_string())
}

/// `true`/`false`, `yes`/`no`, `1`/`0`, any case.
fn boolean(value: &str) -> Option<bool> {
    match value.to_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(kind: FieldType, options: &[&str]) -> FieldDefinition {
        FieldDefinition {
            key: "k".into(),
            label: "K".into(),
            kind,
            options: options.iter().map(|o| o.to_string()).collect(),
            description: None,
            created_at: 1,
            updated_at: 1,
        }
    }

    fn new(body: serde_json::Value) -> Result<FieldDefinition, Invalid> {
        serde_json::from_value::<NewField>(body)
            .expect("a body")
            .definition(5)
    }

    #[test]
    fn keys() {
        for ok in ["a", "plan", "order_number", "a1_b2", &"k".repeat(KEY_MAX)] {
            assert!(key_ok(ok), "{ok}");
        }
        for bad in [
            "",
            "1plan",
            "_plan",
            "Plan",
            "plan-b",
            "plan b",
            "plán",
            &"k".repeat(KEY_MAX + 1),
            "email",
            "location_lat",
            "location_lon",
        ] {
            assert!(!key_ok(bad), "{bad}");
        }
    }

    #[test]
    fn types_read_and_write_their_names() {
        for t in FieldType::ALL {
            assert_eq!(FieldType::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).expect("json"), json!(t.as_str()));
        }
        assert_eq!(FieldType::parse("Number"), None);
        assert_eq!(FieldType::parse("list"), None);
    }

    #[test]
    fn numbers_are_finite_decimals_in_their_shortest_form() {
        let d = def(FieldType::Number, &[]);
        for (raw, stored) in [
            ("42", "42"),
            (" 42 ", "42"),
            ("+42", "42"),
            ("042", "42"),
            ("-3.750", "-3.75"),
            ("0.5", "0.5"),
            (".5", "0.5"),
            ("5.", "5"),
            ("1e3", "1000"),
            ("2.5E-2", "0.025"),
            ("-0", "0"),
            ("0.000", "0"),
            ("1234567.891", "1234567.891"),
        ] {
            assert_eq!(normalize(&d, raw).as_deref(), Ok(stored), "{raw}");
        }
        for bad in [
            "",
            "abc",
            "1,5",
            "1 000",
            "NaN",
            "inf",
            "-infinity",
            "0x10",
            "1e400",
            "--1",
            "1.2.3",
            "e",
            ".",
            "+",
            "١٢",
        ] {
            let err = normalize(&d, bad).expect_err(bad);
            assert!(err.starts_with("a number"), "{bad}: {err}");
        }
    }

    #[test]
    fn dates_are_calendar_days_written_year_month_day() {
        let d = def(FieldType::Date, &[]);
        for (raw, stored) in [
            ("2026-03-05", "2026-03-05"),
            (" 2024-02-29 ", "2024-02-29"),
            ("0001-01-01", "0001-01-01"),
            ("9999-12-31", "9999-12-31"),
        ] {
            assert_eq!(normalize(&d, raw).as_deref(), Ok(stored), "{raw}");
        }
        for bad in [
            "",
            "2026-3-5",
            "2026/03/05",
            "05-03-2026",
            "2023-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-04-31",
            "20260305",
            "2026-03-05T10:00",
            "tomorrow",
            "+2026-03-0",
        ] {
            let err = normalize(&d, bad).expect_err(bad);
            assert!(err.starts_with("a date"), "{bad}: {err}");
        }
    }

    #[test]
    fn booleans_are_stored_true_or_false() {
        let d = def(FieldType::Boolean, &[]);
        for (raw, stored) in [
            ("true", "true"),
            ("TRUE", "true"),
            ("yes", "true"),
            ("Yes", "true"),
            ("1", "true"),
            ("false", "false"),
            ("False", "false"),
            ("no", "false"),
            ("NO", "false"),
            ("0", "false"),
            (" true ", "true"),
        ] {
            assert_eq!(normalize(&d, raw).as_deref(), Ok(stored), "{raw}");
        }
        for bad in ["", "y", "n", "2", "si", "on", "truthy"] {
            assert!(normalize(&d, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn choices_match_an_option_ignoring_case_and_store_the_option() {
        let d = def(FieldType::Choice, &["Gold", "Silver", "Über"]);
        for (raw, stored) in [
            ("Gold", "Gold"),
            ("gold", "Gold"),
            (" SILVER ", "Silver"),
            ("über", "Über"),
        ] {
            assert_eq!(normalize(&d, raw).as_deref(), Ok(stored), "{raw}");
        }
        for bad in ["", "bronze", "gol", "Gold Silver"] {
            let err = normalize(&d, bad).expect_err(bad);
            assert!(err.contains("\"Gold\", \"Silver\""), "{err}");
        }
    }

    #[test]
    fn texts_are_printable_and_bounded() {
        let d = def(FieldType::Text, &[]);
        assert_eq!(normalize(&d, "  hola ").as_deref(), Ok("hola"));
        assert_eq!(normalize(&d, "").as_deref(), Ok(""));
        assert!(normalize(&d, "a\u{7}b").is_err());
        assert!(normalize(&d, &"x".repeat(FIELD_VALUE_MAX + 1)).is_err());
        assert!(normalize(&d, &"x".repeat(FIELD_VALUE_MAX)).is_ok());
    }

    #[test]
    fn undefined_keys_stay_free_text() {
        let defs = FieldDefs::new([FieldDefinition {
            key: "seats".into(),
            ..def(FieldType::Number, &[])
        }]);
        assert_eq!(defs.value("seats", "007").as_deref(), Ok("7"));
        assert!(defs.value("seats", "seven").is_err());
        assert_eq!(defs.value("city", "007").as_deref(), Ok("007"));
        assert_eq!(defs.len(), 1);
        assert!(FieldDefs::default().is_empty());
    }

    #[test]
    fn questions_whose_answers_a_field_cannot_hold_are_told() {
        let defs = FieldDefs::new([
            FieldDefinition {
                key: "photo".into(),
                ..def(FieldType::Number, &[])
            },
            FieldDefinition {
                key: "note".into(),
                ..def(FieldType::Text, &[])
            },
            FieldDefinition {
                key: "day".into(),
                ..def(FieldType::Date, &[])
            },
        ]);
        let q = |field: &str, accept: &[&str]| QuestionField {
            bot: "main".into(),
            step: format!("ask_{field}"),
            field: field.into(),
            accept: accept.iter().map(|a| a.to_string()).collect(),
        };
        let told = question_mismatches(
            &defs,
            &[
                q("photo", &["text", "image", "document"]),
                q("note", &["image"]),
                q("day", &["text"]),
                q("free", &["location"]),
            ],
        );
        assert_eq!(
            told,
            [
                "bot main step ask_photo saves image, document answers to the number field photo, which only takes typed text"
            ]
        );
    }

    #[test]
    fn a_new_definition_is_checked_property_by_property() {
        let made = new(json!({
            "key": "plan", "label": "  Plan ", "type": "choice",
            "options": [" Gold", "Silver "], "description": " Their plan "
        }))
        .expect("valid");
        assert_eq!(made.key, "plan");
        assert_eq!(made.label, "Plan");
        assert_eq!(made.kind, FieldType::Choice);
        assert_eq!(made.options, ["Gold", "Silver"]);
        assert_eq!(made.description.as_deref(), Some("Their plan"));
        assert_eq!((made.created_at, made.updated_at), (5, 5));
        let number =
            new(json!({"key": "seats", "label": "Seats", "type": "number", "options": []}))
                .expect("valid");
        assert!(number.options.is_empty());
        assert_eq!(number.description, None);
        let many: Vec<String> = (0..=OPTIONS_MAX).map(|i| format!("o{i}")).collect();
        for (body, field) in [
            (json!({"label": "X", "type": "text"}), "key"),
            (json!({"key": "Bad", "label": "X", "type": "text"}), "key"),
            (json!({"key": "email", "label": "X", "type": "text"}), "key"),
            (json!({"key": "x", "type": "text"}), "label"),
            (json!({"key": "x", "label": " ", "type": "text"}), "label"),
            (
                json!({"key": "x", "label": "y".repeat(LABEL_MAX + 1), "type": "text"}),
                "label",
            ),
            (json!({"key": "x", "label": "X"}), "type"),
            (json!({"key": "x", "label": "X", "type": "list"}), "type"),
            (
                json!({"key": "x", "label": "X", "type": "choice"}),
                "options",
            ),
            (
                json!({"key": "x", "label": "X", "type": "choice", "options": []}),
                "options",
            ),
            (
                json!({"key": "x", "label": "X", "type": "choice", "options": ["a", "A"]}),
                "options",
            ),
            (
                json!({"key": "x", "label": "X", "type": "choice", "options": ["a", " "]}),
                "options",
            ),
            (
                json!({"key": "x", "label": "X", "type": "choice", "options": many}),
                "options",
            ),
            (
                json!({"key": "x", "label": "X", "type": "number", "options": ["a"]}),
                "options",
            ),
            (
                json!({"key": "x", "label": "X", "type": "text",
                       "description": "d".repeat(DESCRIPTION_MAX + 1)}),
                "description",
            ),
        ] {
            let err = new(body.clone()).expect_err(&body.to_string());
            assert_eq!(err.field, field, "{body}: {err:?}");
        }
        assert!(serde_json::from_value::<NewField>(json!({"key": "x", "colour": 1})).is_err());
    }

    #[test]
    fn a_change_keeps_the_key_and_the_type() {
        let current = FieldDefinition {
            key: "plan".into(),
            description: Some("old".into()),
            ..def(FieldType::Choice, &["Gold"])
        };
        let change = |body: serde_json::Value| {
            serde_json::from_value::<FieldChange>(body)
                .expect("a body")
                .apply(&current, 9)
        };
        let changed = change(json!({"label": "Tier", "options": ["Gold", "Platinum"],
                                    "description": null, "type": "choice", "key": "plan"}))
        .expect("valid");
        assert_eq!(changed.label, "Tier");
        assert_eq!(changed.options, ["Gold", "Platinum"]);
        assert_eq!(changed.description, None);
        assert_eq!(changed.updated_at, 9);
        assert_eq!(changed.created_at, 1);
        let same = change(json!({"label": "K"})).expect("valid");
        assert_eq!(
            same, current,
            "an empty change changes nothing, not even the time"
        );
        for (body, field) in [
            (json!({"type": "text"}), "type"),
            (json!({"key": "tier"}), "key"),
            (json!({"label": ""}), "label"),
            (json!({"options": []}), "options"),
            (json!({"description": "\u{0}"}), "description"),
        ] {
            let err = change(body.clone()).expect_err(&body.to_string());
            assert_eq!(err.field, field, "{body}: {err:?}");
        }
        let number = def(FieldType::Number, &[]);
        let err = serde_json::from_value::<FieldChange>(json!({"options": ["a"]}))
            .expect("a body")
            .apply(&number, 9)
            .expect_err("options of a number");
        assert_eq!(err.field, "options");
    }
}
