//! An edit of a contact by a person (`PATCH /api/v1/contacts/{id}`), checked and turned into
//! field-level [`ContactChanges`], pure. Any of `name`, `email`, `language`, `location`, `tags`,
//! `fields`; `null` clears (for `fields`, a key set to `null` removes it). `tags` is the whole
//! new set. The email and the location are kept as the contact fields the bot writes (`email`,
//! `location_lat`, `location_lon`), so they are set through their own properties, not `fields`.
//! A field an admin defined ([`super::fields`]) takes only values of its type, stored in their
//! normal form; a blank value of a defined field that is not text removes it, as `null` does.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

use super::contact::ContactChanges;
use super::fields::{FieldDefs, FieldType};
use crate::store::ContactRecord;

pub const NAME_MAX: usize = 200;
pub const EMAIL_MAX: usize = 254;
pub const TAG_MAX: usize = 64;
pub const TAGS_MAX: usize = 50;
pub const FIELD_KEY_MAX: usize = 64;
pub const FIELD_VALUE_MAX: usize = 1000;
pub const FIELDS_MAX: usize = 100;

/// The contact fields that have their own property.
pub const EMAIL_FIELD: &str = "email";
pub const LAT_FIELD: &str = "location_lat";
pub const LON_FIELD: &str = "location_lon";

/// A JSON property that may be absent (unchanged), `null` (cleared) or a value.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Patch<T> {
    #[default]
    Unchanged,
    Clear,
    Set(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            None => Patch::Clear,
            Some(v) => Patch::Set(v),
        })
    }
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
}

/// The body of a contact edit.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    /// Absent: unchanged; `null`: cleared.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub name: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub email: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub language: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<Location>)]
    pub location: Patch<Location>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Custom fields: a string value sets, `null` removes.
    #[serde(default)]
    #[schema(value_type = Option<std::collections::BTreeMap<String, Option<String>>>)]
    pub fields: Option<BTreeMap<String, Value>>,
}

/// Why an edit is refused: the property and what is wrong, for a 422.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

fn invalid(field: &str, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

/// Printable text: no control characters.
fn printable(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// A tag as stored: trimmed, lowercase, 1-64 characters of letters, digits, `-`, `_`, `:`.
pub fn normalize_tag(tag: &str) -> Option<String> {
    let tag = tag.trim().to_lowercase();
    let ok = !tag.is_empty()
        && tag.chars().count() <= TAG_MAX
        && tag
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ':'));
    ok.then_some(tag)
}

/// An IETF language tag's shape: `es`, `pt-BR`, `zh-Hant-TW`.
fn language_ok(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or_default();
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// An address of the usual shape (one `@`, something before it, a dotted domain after it).
pub(crate) fn email_ok(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
        && printable(email)
}

/// A custom field's key: 1-64 of `a-z 0-9 _`, not one with its own property.
pub(crate) fn field_key_ok(key: &str) -> bool {
    (1..=FIELD_KEY_MAX).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && ![EMAIL_FIELD, LAT_FIELD, LON_FIELD].contains(&key)
}

impl ContactPatch {
    /// The changes this edit makes to `current`, or why it is refused (nothing changes then).
    /// Values of the keys `defs` defines are checked against their type and normalised.
    pub fn changes(
        &self,
        current: &ContactRecord,
        defs: &FieldDefs,
    ) -> Result<ContactChanges, Invalid> {
        let mut after = current.clone();
        match &self.name {
            Patch::Unchanged => {}
            Patch::Clear => after.name = None,
            Patch::Set(name) => {
                let name = name.trim();
                if name.is_empty() || name.chars().count() > NAME_MAX || !printable(name) {
                    return Err(invalid(
                        "name",
                        format!("1 to {NAME_MAX} printable characters, or null"),
                    ));
                }
                after.name = Some(name.to_string());
            }
        }
        match &self.email {
            Patch::Unchanged => {}
            Patch::Clear => {
                after.fields.remove(EMAIL_FIELD);
            }
            Patch::Set(email) => {
                let email = email.trim();
                if email.len() > EMAIL_MAX || !email_ok(email) {
                    return Err(invalid(
                        "email",
                        "an email address like name@example.com, or null",
                    ));
                }
                after.fields.insert(EMAIL_FIELD.into(), email.to_string());
            }
        }
        match &self.language {
            Patch::Unchanged => {}
            Patch::Clear => after.language = None,
            Patch::Set(language) => {
                let language = language.trim();
                if !language_ok(language) {
                    return Err(invalid(
                        "language",
                        "a language tag like es or pt-BR, or null",
                    ));
                }
                after.language = Some(language.to_string());
            }
        }
        match &self.location {
            Patch::Unchanged => {}
            Patch::Clear => {
                after.fields.remove(LAT_FIELD);
                after.fields.remove(LON_FIELD);
            }
            Patch::Set(Location {
                latitude,
                longitude,
            }) => {
                if !(-90.0..=90.0).contains(latitude) || !(-180.0..=180.0).contains(longitude) {
                    return Err(invalid(
                        "location",
                        "latitude within ±90 and longitude within ±180, or null",
                    ));
                }
                after.fields.insert(LAT_FIELD.into(), latitude.to_string());
                after.fields.insert(LON_FIELD.into(), longitude.to_string());
            }
        }
        if let Some(tags) = &self.tags {
            let mut seen = BTreeSet::new();
            let mut list = Vec::new();
            for tag in tags {
                let Some(tag) = normalize_tag(tag) else {
                    return Err(invalid(
                        "tags",
                        format!(
                            "tags are 1 to {TAG_MAX} letters, digits, '-', '_' or ':' (got {tag:?})"
                        ),
                    ));
                };
                if seen.insert(tag.clone()) {
                    list.push(tag);
                }
            }
            if list.len() > TAGS_MAX {
                return Err(invalid("tags", format!("at most {TAGS_MAX} tags")));
            }
            after.tags = list;
        }
        if let Some(fields) = &self.fields {
            for (key, value) in fields {
                if !field_key_ok(key) {
                    return Err(invalid(
                        "fields",
                        format!(
                            "field keys are 1 to {FIELD_KEY_MAX} of a-z, 0-9 and _ (email and location have their own properties): {key:?}"
                        ),
                    ));
                }
                let given = match value {
                    Value::Null => None,
                    Value::String(v)
                        if v.chars().count() <= FIELD_VALUE_MAX && printable(v.trim()) =>
                    {
                        Some(v.trim().to_string())
                    }
                    Value::Number(n) => Some(n.to_string()),
                    Value::Bool(b) => Some(b.to_string()),
                    _ => {
                        return Err(invalid(
                            "fields",
                            format!(
                                "{key}: a string of at most {FIELD_VALUE_MAX} characters, a number, a boolean, or null"
                            ),
                        ));
                    }
                };
                let def = defs.get(key);
                let blank_typed = given.as_deref().is_some_and(str::is_empty)
                    && def.is_some_and(|d| d.kind != FieldType::Text);
                match given {
                    Some(v) if !blank_typed => {
                        let v = defs
                            .value(key, &v)
                            .map_err(|message| invalid(&format!("fields.{key}"), message))?;
                        after.fields.insert(key.clone(), v);
                    }
                    _ => {
                        after.fields.remove(key);
                    }
                }
            }
            if after.fields.len() > FIELDS_MAX {
                return Err(invalid("fields", format!("at most {FIELDS_MAX} fields")));
            }
        }
        Ok(ContactChanges::between(current, &after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ana() -> ContactRecord {
        let mut c = ContactRecord {
            customer: crate::domain::CustomerId::new("34600000001"),
            name: Some("Ana".into()),
            phone: Some("34600000001".into()),
            language: Some("es".into()),
            ..ContactRecord::default()
        };
        c.fields.insert("city".into(), "Madrid".into());
        c.fields
            .insert(EMAIL_FIELD.into(), "ana@example.com".into());
        c.tags = vec!["vip".into()];
        c
    }

    fn patch(body: Value) -> ContactPatch {
        serde_json::from_value(body).expect("a patch")
    }

    fn apply(body: Value) -> Result<ContactRecord, Invalid> {
        let before = ana();
        let changes = patch(body).changes(&before, &FieldDefs::default())?;
        let mut after = before;
        changes.apply(&mut after);
        Ok(after)
    }

    #[test]
    fn an_empty_patch_changes_nothing() {
        assert!(
            patch(json!({}))
                .changes(&ana(), &FieldDefs::default())
                .expect("ok")
                .is_empty()
        );
    }

    #[test]
    fn each_property_sets_and_null_clears() {
        let after = apply(json!({
            "name": "  Ana María ", "email": "ana.maria@example.org", "language": "pt-BR",
            "location": {"latitude": 40.4168, "longitude": -3.7038},
            "tags": ["VIP", "gold", "vip"], "fields": {"city": null, "plan": "pro", "seats": 3, "paid": true}
        }))
        .expect("valid");
        assert_eq!(after.name.as_deref(), Some("Ana María"));
        assert_eq!(after.language.as_deref(), Some("pt-BR"));
        assert_eq!(after.tags, ["vip", "gold"]);
        let fields: Vec<(&str, &str)> = after
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("email", "ana.maria@example.org"),
                ("location_lat", "40.4168"),
                ("location_lon", "-3.7038"),
                ("paid", "true"),
                ("plan", "pro"),
                ("seats", "3"),
            ]
        );
        let cleared = apply(
            json!({"name": null, "email": null, "language": null, "location": null, "tags": []}),
        )
        .expect("valid");
        assert_eq!(cleared.name, None);
        assert_eq!(cleared.language, None);
        assert!(cleared.tags.is_empty());
        assert!(!cleared.fields.contains_key(EMAIL_FIELD));
        assert_eq!(
            cleared.fields.get("city").map(String::as_str),
            Some("Madrid")
        );
        // The phone is the channel's word, not editable here.
        assert_eq!(cleared.phone.as_deref(), Some("34600000001"));
    }

    #[test]
    fn bad_values_are_refused_naming_the_property() {
        let long = "x".repeat(NAME_MAX + 1);
        let many: Vec<String> = (0..=TAGS_MAX).map(|i| format!("t{i}")).collect();
        for (body, field) in [
            (json!({"name": ""}), "name"),
            (json!({"name": long}), "name"),
            (json!({"name": "a\u{0007}b"}), "name"),
            (json!({"email": "not an email"}), "email"),
            (json!({"email": "a@b"}), "email"),
            (json!({"email": "a@@b.com"}), "email"),
            (json!({"language": "Spanish"}), "language"),
            (json!({"language": "e"}), "language"),
            (
                json!({"location": {"latitude": 91.0, "longitude": 0.0}}),
                "location",
            ),
            (
                json!({"location": {"latitude": 0.0, "longitude": -180.5}}),
                "location",
            ),
            (json!({"tags": ["ok", "has space"]}), "tags"),
            (json!({"tags": [""]}), "tags"),
            (json!({"tags": many}), "tags"),
            (json!({"fields": {"Bad-Key": "x"}}), "fields"),
            (json!({"fields": {"email": "x@y.z"}}), "fields"),
            (json!({"fields": {"location_lat": "1"}}), "fields"),
            (json!({"fields": {"nested": {"a": 1}}}), "fields"),
            (json!({"fields": {"list": [1]}}), "fields"),
            (
                json!({"fields": {"long": "y".repeat(FIELD_VALUE_MAX + 1)}}),
                "fields",
            ),
        ] {
            let err = apply(body.clone()).expect_err(&body.to_string());
            assert_eq!(err.field, field, "{body}: {err:?}");
        }
    }

    #[test]
    fn unknown_properties_and_wrong_types_do_not_parse() {
        for body in [
            json!({"phone": "1"}),
            json!({"name": 3}),
            json!({"tags": "vip"}),
            json!({"location": {"latitude": 1}}),
        ] {
            assert!(
                serde_json::from_value::<ContactPatch>(body.clone()).is_err(),
                "{body}"
            );
        }
    }

    fn defs() -> FieldDefs {
        use super::super::fields::FieldDefinition;
        let def = |key: &str, kind: FieldType, options: &[&str]| FieldDefinition {
            key: key.into(),
            label: key.to_uppercase(),
            kind,
            options: options.iter().map(|o| o.to_string()).collect(),
            description: None,
            created_at: 0,
            updated_at: 0,
        };
        FieldDefs::new([
            def("seats", FieldType::Number, &[]),
            def("renewal", FieldType::Date, &[]),
            def("paid", FieldType::Boolean, &[]),
            def("plan", FieldType::Choice, &["Gold", "Silver"]),
            def("city", FieldType::Text, &[]),
        ])
    }

    fn apply_typed(body: Value) -> Result<ContactRecord, Invalid> {
        let before = ana();
        let changes = patch(body).changes(&before, &defs())?;
        let mut after = before;
        changes.apply(&mut after);
        Ok(after)
    }

    #[test]
    fn defined_fields_take_values_of_their_type_in_normal_form() {
        let after = apply_typed(json!({"fields": {
            "seats": "007", "renewal": " 2026-03-05", "paid": "yes", "plan": "gold",
            "city": " Sevilla ", "free": "007"
        }}))
        .expect("valid");
        let get = |k: &str| after.fields.get(k).map(String::as_str);
        assert_eq!(get("seats"), Some("7"));
        assert_eq!(get("renewal"), Some("2026-03-05"));
        assert_eq!(get("paid"), Some("true"));
        assert_eq!(get("plan"), Some("Gold"));
        assert_eq!(get("city"), Some("Sevilla"));
        assert_eq!(get("free"), Some("007"), "an undefined key stays free text");
        // JSON numbers and booleans are read as their text.
        let after = apply_typed(json!({"fields": {"seats": 2.50, "paid": false}})).expect("valid");
        assert_eq!(after.fields["seats"], "2.5");
        assert_eq!(after.fields["paid"], "false");
        // A blank typed value removes the field; a blank text is kept as it always was.
        let mut with = ana();
        with.fields.insert("seats".into(), "3".into());
        let changes = patch(json!({"fields": {"seats": "", "city": ""}}))
            .changes(&with, &defs())
            .expect("valid");
        changes.apply(&mut with);
        assert!(!with.fields.contains_key("seats"));
        assert_eq!(with.fields["city"], "");
    }

    #[test]
    fn a_value_that_does_not_fit_its_field_refuses_the_whole_edit() {
        for (body, field) in [
            (json!({"fields": {"seats": "many"}}), "fields.seats"),
            (json!({"fields": {"seats": true}}), "fields.seats"),
            (
                json!({"fields": {"renewal": "05/03/2026"}}),
                "fields.renewal",
            ),
            (json!({"fields": {"paid": "maybe"}}), "fields.paid"),
            (json!({"fields": {"paid": 2}}), "fields.paid"),
            (json!({"fields": {"plan": "Bronze"}}), "fields.plan"),
            (
                json!({"name": "Ana B", "fields": {"plan": "Gold", "seats": "x"}}),
                "fields.seats",
            ),
        ] {
            let err = apply_typed(body.clone()).expect_err(&body.to_string());
            assert_eq!(err.field, field, "{body}: {err:?}");
        }
    }

    #[test]
    fn tags_are_normalized() {
        assert_eq!(normalize_tag(" VIP ").as_deref(), Some("vip"));
        assert_eq!(normalize_tag("open:ticket").as_deref(), Some("open:ticket"));
        assert_eq!(normalize_tag("cliente_oro").as_deref(), Some("cliente_oro"));
        assert_eq!(normalize_tag("قيمة").as_deref(), Some("قيمة"));
        assert_eq!(normalize_tag("a b"), None);
        assert_eq!(normalize_tag(&"t".repeat(TAG_MAX + 1)), None);
    }
}
