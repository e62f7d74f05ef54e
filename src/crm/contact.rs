//! Field-level contact changes and merging, pure.

use std::collections::{BTreeMap, BTreeSet};

use crate::store::ContactRecord;

/// What a writer changed in a contact, field by field. Applied to the stored contact rather
/// than writing a whole copy back, so a conversation holding an older copy in memory never undoes
/// what another conversation (or a merge) wrote meanwhile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactChanges {
    /// `Some(value)`: the field was set to `value` (`Some(None)`: cleared).
    pub name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub language: Option<Option<String>>,
    pub fields_set: BTreeMap<String, String>,
    pub fields_removed: BTreeSet<String>,
    pub tags_added: Vec<String>,
    pub tags_removed: BTreeSet<String>,
}

impl ContactChanges {
    /// The changes that turn `before` into `after`.
    pub fn between(before: &ContactRecord, after: &ContactRecord) -> Self {
        let scalar = |b: &Option<String>, a: &Option<String>| (b != a).then(|| a.clone());
        let fields_set = after
            .fields
            .iter()
            .filter(|(k, v)| before.fields.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let fields_removed = before
            .fields
            .keys()
            .filter(|k| !after.fields.contains_key(*k))
            .cloned()
            .collect();
        let tags_added = after
            .tags
            .iter()
            .filter(|t| !before.tags.contains(t))
            .cloned()
            .collect();
        let tags_removed = before
            .tags
            .iter()
            .filter(|t| !after.tags.contains(t))
            .cloned()
            .collect();
        Self {
            name: scalar(&before.name, &after.name),
            phone: scalar(&before.phone, &after.phone),
            language: scalar(&before.language, &after.language),
            fields_set,
            fields_removed,
            tags_added,
            tags_removed,
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Apply these changes to `contact` (the stored one).
    pub fn apply(&self, contact: &mut ContactRecord) {
        if let Some(name) = &self.name {
            contact.name = name.clone();
        }
        if let Some(phone) = &self.phone {
            contact.phone = phone.clone();
        }
        if let Some(language) = &self.language {
            contact.language = language.clone();
        }
        for key in &self.fields_removed {
            contact.fields.remove(key);
        }
        for (key, value) in &self.fields_set {
            contact.fields.insert(key.clone(), value.clone());
        }
        contact.tags.retain(|t| !self.tags_removed.contains(t));
        for tag in &self.tags_added {
            if !contact.tags.contains(tag) {
                contact.tags.push(tag.clone());
            }
        }
    }
}

/// `from` folded into `into`: what `into` knows wins; `from` fills what `into` lacks (name,
/// phone, language, each custom field); tags are the union, `into`'s first. The result keeps
/// `into`'s id.
pub fn merged(into: &ContactRecord, from: &ContactRecord) -> ContactRecord {
    let mut out = into.clone();
    let fill = |mine: &mut Option<String>, theirs: &Option<String>| {
        if mine.is_none() {
            mine.clone_from(theirs);
        }
    };
    fill(&mut out.name, &from.name);
    fill(&mut out.phone, &from.phone);
    fill(&mut out.language, &from.language);
    for (key, value) in &from.fields {
        out.fields
            .entry(key.clone())
            .or_insert_with(|| value.clone());
    }
    for tag in &from.tags {
        if !out.tags.contains(tag) {
            out.tags.push(tag.clone());
        }
    }
    out
}

/// A phone number in the form numbers are compared in: its digits, international, without `+`
/// (`+34 600-00-00-01` → `34600000001`, as WhatsApp's `wa_id`). `None` when it cannot be a full
/// international number (fewer than 7 or more than 15 digits, E.164), or when it starts with a
/// `0` (a national form whose country is unknown).
pub fn phone_digits(raw: &str) -> Option<String> {
    if raw
        .chars()
        .any(|c| !(c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.')))
    {
        return None;
    }
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    let plausible = (7..=15).contains(&digits.len()) && !digits.starts_with('0');
    plausible.then_some(digits)
}

/// The country (ISO 3166-1 alpha-2, e.g. `ES`) of an international phone number given as its
/// digits (`34600000001`) or with a `+`, from libphonenumber's metadata: numbers sharing a
/// calling code (+1: the US, Canada and the Caribbean) are told apart by the number itself.
/// `None` when it is not a valid international number.
pub fn country_of(phone: &str) -> Option<String> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    if !(7..=15).contains(&digits.len()) {
        return None;
    }
    let number = phonenumber::parse(None, format!("+{digits}")).ok()?;
    let id = number.country().id()?;
    Some(id.as_ref().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CustomerId;

    fn contact(id: &str) -> ContactRecord {
        ContactRecord {
            customer: CustomerId::new(id),
            ..ContactRecord::default()
        }
    }

    fn rich() -> ContactRecord {
        let mut c = contact("34600000001");
        c.name = Some("Ana".into());
        c.phone = Some("34600000001".into());
        c.language = Some("es".into());
        c.fields.insert("city".into(), "Madrid".into());
        c.fields.insert("plan".into(), "gold".into());
        c.tags = vec!["vip".into(), "late-payer".into()];
        c
    }

    #[test]
    fn no_change_is_empty() {
        assert!(ContactChanges::between(&rich(), &rich()).is_empty());
        assert!(ContactChanges::between(&contact("a"), &contact("a")).is_empty());
    }

    #[test]
    fn each_kind_of_change_is_seen_and_applied() {
        let before = rich();
        let mut after = before.clone();
        after.name = Some("Ana María".into());
        after.language = None;
        after.fields.insert("city".into(), "Sevilla".into());
        after.fields.remove("plan");
        after.fields.insert("order".into(), "A-1".into());
        after.tags.retain(|t| t != "late-payer");
        after.tags.push("returning".into());
        let changes = ContactChanges::between(&before, &after);
        assert_eq!(changes.name, Some(Some("Ana María".into())));
        assert_eq!(changes.phone, None);
        assert_eq!(changes.language, Some(None));
        assert_eq!(changes.fields_set.len(), 2);
        assert!(changes.fields_removed.contains("plan"));
        assert_eq!(changes.tags_added, vec!["returning".to_string()]);
        assert!(changes.tags_removed.contains("late-payer"));
        let mut applied = before.clone();
        changes.apply(&mut applied);
        assert_eq!(applied, after);
    }

    /// Two writers holding the same old copy: each one's changes survive the other's.
    #[test]
    fn concurrent_writers_do_not_undo_each_other() {
        let stored = rich();
        let mut one = stored.clone();
        one.tags.push("from-telegram".into());
        one.fields.insert("telegram_user".into(), "anita".into());
        let mut two = stored.clone();
        two.name = Some("Ana G.".into());
        two.tags.retain(|t| t != "vip");
        let mut db = stored.clone();
        ContactChanges::between(&stored, &one).apply(&mut db);
        ContactChanges::between(&stored, &two).apply(&mut db);
        assert_eq!(db.name.as_deref(), Some("Ana G."));
        assert_eq!(db.tags, vec!["late-payer", "from-telegram"]);
        assert_eq!(
            db.fields.get("telegram_user").map(String::as_str),
            Some("anita")
        );
        assert_eq!(db.fields.get("plan").map(String::as_str), Some("gold"));
    }

    #[test]
    fn applying_to_a_contact_that_already_has_a_tag_adds_it_once() {
        let mut after = contact("x");
        after.tags = vec!["vip".into()];
        let changes = ContactChanges::between(&contact("x"), &after);
        let mut db = rich();
        changes.apply(&mut db);
        assert_eq!(db.tags, vec!["vip", "late-payer"]);
    }

    #[test]
    fn merge_keeps_what_the_survivor_knows_and_fills_the_rest() {
        let into = rich();
        let mut from = contact("telegram:1:42");
        from.name = Some("anita".into());
        from.fields.insert("city".into(), "Paris".into());
        from.fields.insert("telegram_user".into(), "anita".into());
        from.tags = vec!["vip".into(), "telegram".into()];
        let out = merged(&into, &from);
        assert_eq!(out.customer, into.customer);
        assert_eq!(out.name.as_deref(), Some("Ana"));
        assert_eq!(out.fields.get("city").map(String::as_str), Some("Madrid"));
        assert_eq!(
            out.fields.get("telegram_user").map(String::as_str),
            Some("anita")
        );
        assert_eq!(out.tags, vec!["vip", "late-payer", "telegram"]);

        let mut bare = contact("telegram:1:42");
        bare.language = Some("fr".into());
        let out = merged(&bare, &into);
        assert_eq!(out.customer.as_str(), "telegram:1:42");
        assert_eq!(out.name.as_deref(), Some("Ana"));
        assert_eq!(out.language.as_deref(), Some("fr"));
        assert_eq!(out.phone.as_deref(), Some("34600000001"));
    }

    #[test]
    fn phone_digits_accepts_international_forms_only() {
        assert_eq!(
            phone_digits("+34 600-00-00-01").as_deref(),
            Some("34600000001")
        );
        assert_eq!(phone_digits("34600000001").as_deref(), Some("34600000001"));
        assert_eq!(
            phone_digits("+1 (415) 555.0100").as_deref(),
            Some("14155550100")
        );
        assert_eq!(phone_digits("0600000001"), None, "national form");
        assert_eq!(phone_digits("+12345"), None, "too short");
        assert_eq!(phone_digits("+1234567890123456"), None, "too long");
        assert_eq!(phone_digits("+34 600 abc"), None);
        assert_eq!(phone_digits(""), None);
    }

    #[test]
    fn a_number_s_country_is_told_by_the_number_not_only_its_calling_code() {
        for (phone, country) in [
            ("34600000001", Some("ES")),
            ("+34 612 34 56 12", Some("ES")),
            ("14155550134", Some("US")),
            ("16135550123", Some("CA")),
            ("18765550123", Some("JM")),
            ("447400123456", Some("GB")),
            ("447911123456", Some("GG")),
            ("5511987654321", Some("BR")),
            ("971501234567", Some("AE")),
            ("123", None),
            ("not a number", None),
            ("9999999999999999", None),
        ] {
            assert_eq!(country_of(phone).as_deref(), country, "{phone}");
        }
    }
}
