//! Masked phone numbers. Where a team masks numbers, a customer's number leaves the server
//! only masked (`+34 6•• ••• •12`: the country code, the first national digit and the last two
//! digits kept), in every response and event. Masking happens at serialization in one place,
//! [`Masker::apply`], which rewrites every string of a JSON document that holds one of the
//! conversation's numbers, whatever the field, so no endpoint or event can forget a field.

use serde_json::Value;

/// The masking character.
const DOT: char = '•';

/// ITU-T E.164 country calling codes of one or two digits; every other code has three. The
/// codes are a prefix code, so the first match is the country code.
const ONE_DIGIT: &[&str] = &["1", "7"];
const TWO_DIGITS: &[&str] = &[
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47",
    "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65",
    "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
];

/// How many leading digits of an international number (digits only, no `+`) are its country
/// calling code.
fn country_code_len(digits: &str) -> usize {
    if ONE_DIGIT.iter().any(|c| digits.starts_with(c)) {
        1
    } else if TWO_DIGITS.iter().any(|c| digits.starts_with(c)) {
        2
    } else {
        3
    }
}

/// The digits of `raw`, if it looks like a phone number: optional `+`, digits, spaces, dots,
/// dashes and parentheses, with 7 to 15 digits (E.164's longest).
pub fn phone_digits(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let body = trimmed.strip_prefix('+').unwrap_or(trimmed);
    if body.is_empty()
        || !body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '.' | '-' | '(' | ')'))
    {
        return None;
    }
    let digits: String = body.chars().filter(char::is_ascii_digit).collect();
    (7..=15).contains(&digits.len()).then_some(digits)
}

/// `+34 612 34 56 12` → `+34 6•• ••• •12`. Something that is not a phone number is masked
/// whole (`•••`), never shown.
pub fn mask_number(raw: &str) -> String {
    let Some(digits) = phone_digits(raw) else {
        return DOT.to_string().repeat(3);
    };
    let cc = country_code_len(&digits).min(digits.len().saturating_sub(4));
    let (code, national) = digits.split_at(cc);
    let n = national.len();
    let masked: String = national
        .chars()
        .enumerate()
        .map(|(i, c)| if i == 0 || i + 2 >= n { c } else { DOT })
        .collect();
    // Groups of three, a lone last digit joining the group before it.
    let chars: Vec<char> = masked.chars().collect();
    let mut groups: Vec<String> = chars.chunks(3).map(|g| g.iter().collect()).collect();
    if groups.len() > 1 && groups.last().is_some_and(|g| g.chars().count() == 1) {
        let last = groups.pop().unwrap_or_default();
        if let Some(previous) = groups.last_mut() {
            previous.push_str(&last);
        }
    }
    format!("+{code} {}", groups.join(" "))
}

/// Whether `raw` (a number) ends with the digits of `suffix` (search by last digits, which
/// works on masked numbers too: they keep the last two).
pub fn ends_with_digits(raw: &str, suffix: &str) -> bool {
    let digits: String = suffix.chars().filter(char::is_ascii_digit).collect();
    !digits.is_empty()
        && raw
            .chars()
            .filter(char::is_ascii_digit)
            .collect::<String>()
            .ends_with(&digits)
}

/// Rewrites the numbers it was given wherever they appear in a JSON document.
#[derive(Clone, Debug, Default)]
pub struct Masker {
    /// (what appears, what replaces it), longest first.
    rules: Vec<(String, String)>,
}

impl Masker {
    /// A masker for these numbers (a customer id, a contact's phone, identities' addresses).
    /// Each is matched as written and as its bare digits, with and without `+`.
    pub fn new<'a>(numbers: impl IntoIterator<Item = &'a str>) -> Masker {
        let mut rules: Vec<(String, String)> = Vec::new();
        for raw in numbers {
            let Some(digits) = phone_digits(raw) else {
                continue;
            };
            let masked = mask_number(raw);
            for form in [raw.trim().to_string(), format!("+{digits}"), digits] {
                if !form.is_empty() && !rules.iter().any(|(f, _)| *f == form) {
                    rules.push((form, masked.clone()));
                }
            }
        }
        rules.sort_by_key(|r| std::cmp::Reverse(r.0.len()));
        Masker { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Mask one string.
    pub fn text(&self, s: &str) -> Option<String> {
        let mut out: Option<String> = None;
        for (form, masked) in &self.rules {
            let current = out.as_deref().unwrap_or(s);
            if current.contains(form.as_str()) {
                out = Some(current.replace(form.as_str(), masked));
            }
        }
        out
    }

    /// Mask every string (and object key) of `value` in place.
    pub fn apply(&self, value: &mut Value) {
        if self.rules.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                if let Some(masked) = self.text(s) {
                    *s = masked;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.apply(v)),
            Value::Object(map) => {
                let renamed: Vec<(String, String)> = map
                    .keys()
                    .filter_map(|k| self.text(k).map(|m| (k.clone(), m)))
                    .collect();
                for (from, to) in renamed {
                    if let Some(v) = map.remove(&from) {
                        map.insert(to, v);
                    }
                }
                map.values_mut().for_each(|v| self.apply(v));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_like_the_contract() {
        assert_eq!(mask_number("+34 612 34 56 12"), "+34 6•• ••• •12");
        assert_eq!(mask_number("34612345612"), "+34 6•• ••• •12");
        assert_eq!(mask_number("+1 (415) 555-0134"), "+1 4•• ••• ••34");
        assert_eq!(mask_number("971501234567"), "+971 5•• ••• •67");
        assert_eq!(mask_number("not a number"), "•••");
        assert_eq!(mask_number("12345"), "•••");
    }

    #[test]
    fn a_masked_number_keeps_no_more_than_it_should() {
        for raw in [
            "34612345612",
            "14155550134",
            "447700900123",
            "5511987654321",
        ] {
            let masked = mask_number(raw);
            let shown: String = masked.chars().filter(char::is_ascii_digit).collect();
            assert!(shown.len() <= raw.len() - 5, "{raw} → {masked}");
            assert!(ends_with_digits(&masked, &raw[raw.len() - 2..]));
        }
    }

    #[test]
    fn every_string_of_a_document_is_masked() {
        let masker = Masker::new(["34612345612", "+34 612 34 56 12"]);
        let mut doc = json!({
            "customer": {"id": "34612345612", "phone": "+34 612 34 56 12"},
            "key": "wa-main:34612345612",
            "identities": [{"address": "+34612345612"}],
            "by_number": {"34612345612": 1},
            "count": 3,
            "text": "hello",
        });
        masker.apply(&mut doc);
        let text = doc.to_string();
        assert!(!text.contains("612345612"), "{text}");
        assert!(!text.contains("612 34 56"), "{text}");
        assert_eq!(doc["customer"]["id"], "+34 6•• ••• •12");
        assert_eq!(doc["key"], "wa-main:+34 6•• ••• •12");
        assert_eq!(doc["text"], "hello");
    }

    #[test]
    fn search_by_last_digits() {
        assert!(ends_with_digits("34612345612", "612"));
        assert!(ends_with_digits("+34 6•• ••• •12", "12"));
        assert!(!ends_with_digits("34612345612", "99"));
        assert!(!ends_with_digits("34612345612", ""));
    }
}
