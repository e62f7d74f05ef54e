//! Input normalisation and keyword/pattern matching.

use regex::Regex;

use super::BotError;

/// Lowercase, strip accents, turn punctuation into spaces and collapse whitespace:
/// `"¿Cuál es el HORARIO?"` → `"cual es el horario"`.
pub fn normalize(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut space = true;
    for c in input.chars().flat_map(char::to_lowercase) {
        let c = fold_accent(c);
        if c.is_alphanumeric() {
            out.push(c);
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

fn fold_accent(c: char) -> char {
    match c {
        'á' | 'à' | 'ä' | 'â' | 'ã' | 'å' => 'a',
        'é' | 'è' | 'ë' | 'ê' => 'e',
        'í' | 'ì' | 'ï' | 'î' => 'i',
        'ó' | 'ò' | 'ö' | 'ô' | 'õ' => 'o',
        'ú' | 'ù' | 'ü' | 'û' => 'u',
        'ñ' => 'n',
        'ç' => 'c',
        'ý' | 'ÿ' => 'y',
        other => other,
    }
}

/// Keywords (whole words of the normalised input) and regex patterns.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    keywords: Vec<String>,
    patterns: Vec<Regex>,
}

impl Matcher {
    pub fn new(keywords: &[String], patterns: &[String], what: &str) -> Result<Self, BotError> {
        let keywords = keywords
            .iter()
            .map(|k| normalize(k))
            .filter(|k| !k.is_empty())
            .collect();
        let patterns = patterns
            .iter()
            .map(|p| {
                Regex::new(p)
                    .map_err(|e| BotError::Invalid(format!("{what}: bad pattern {p:?}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { keywords, patterns })
    }

    pub fn is_empty(&self) -> bool {
        self.keywords.is_empty() && self.patterns.is_empty()
    }

    /// `normalized` must come from [`normalize`].
    pub fn matches(&self, normalized: &str) -> bool {
        if normalized.is_empty() {
            return false;
        }
        let padded = format!(" {normalized} ");
        self.keywords
            .iter()
            .any(|k| padded.contains(&format!(" {k} ")))
            || self.patterns.iter().any(|p| p.is_match(normalized))
    }

    /// Combine two matchers (an intent and inline keywords).
    pub fn merge(mut self, other: &Matcher) -> Self {
        self.keywords.extend(other.keywords.iter().cloned());
        self.patterns.extend(other.patterns.iter().cloned());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_accents_and_punctuation() {
        assert_eq!(normalize("¿Cuál es el HORARIO?"), "cual es el horario");
        assert_eq!(normalize("  Envío,  gratis!! "), "envio gratis");
        assert_eq!(normalize("!!!"), "");
    }

    #[test]
    fn keywords_match_whole_words() {
        let m = Matcher::new(&["open".into(), "horario".into()], &[], "t").unwrap();
        assert!(m.matches(&normalize("When are you OPEN?")));
        assert!(m.matches(&normalize("Horário")));
        assert!(!m.matches(&normalize("opened")));
        let p = Matcher::new(&[], &["^ret(urn|orno)".into()], "t").unwrap();
        assert!(p.matches(&normalize("Retorno")));
        assert!(Matcher::new(&[], &["(".into()], "t").is_err());
    }
}
