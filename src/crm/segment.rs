//! Segments: named CEL filters over the contact variables routing rules see (`contact`, `now`;
//! see [`crate::routing`]). Pure: compiling, evaluating one contact, and translating what it
//! can into SQL.
//!
//! CEL decides membership: a contact is a member when the filter evaluates to `true` for it
//! (an error, such as a missing field, or a non-boolean is not a member). Counting a million
//! contacts one by one in CEL is too slow, so [`SegmentFilter::translate`] turns the filter,
//! or the part of it it understands, into a SQL condition:
//!
//! - **exact** when every part was translated: the database counts and pages alone;
//! - otherwise a **pre-filter**, true for every member (possibly for others too): the database
//!   narrows the candidates and CEL decides each of them.
//!
//! SQL's three-valued logic mirrors CEL's errors: a missing field is `NULL` in SQL and an
//! error in CEL, `NULL AND FALSE` is `FALSE` as `error && false` is `false`, `NOT NULL` is
//! `NULL` as `!error` is an error, and a `NULL` (or an error) is no member on either side. A
//! `null` attribute (`contact.language`) compares equal to nothing in CEL, so equalities on
//! nullable columns are written `coalesce(column = ?, FALSE)`. The tests check the translation
//! against CEL on both databases, contact by contact.

use std::sync::Arc;

use cel::common::ast::{Expr, IdedExpr, ListExpr, LiteralValue, operators};
use chrono::{DateTime, Utc};

use crate::routing::rules::{ContactVars, NOW, cel_time, unknown_variable};
use crate::store::ContactListing;

/// The variables a segment may name.
pub const VARIABLES: [&str; 2] = ["contact", NOW];

/// The longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("the filter is empty")]
    Empty,
    #[error("the filter is longer than {MAX_FILTER_LEN} bytes")]
    TooLong,
    #[error("the filter is not valid CEL: {0}")]
    Syntax(String),
    #[error("the filter names `{0}`; a segment sees only `contact` and `now`")]
    UnknownVariable(String),
}

/// A compiled segment filter.
pub struct SegmentFilter {
    source: String,
    program: cel::Program,
    env: Arc<cel::Env>,
}

impl std::fmt::Debug for SegmentFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentFilter")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// A value bound to a translated condition's `?` placeholders, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Text(String),
    Int(i64),
}

/// Which database the SQL is for: they differ only in how a JSON array is searched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A filter as a SQL condition over the `contacts` table (with `?` placeholders).
#[derive(Clone, Debug, PartialEq)]
pub struct Translation {
    pub condition: String,
    pub values: Vec<SqlValue>,
    /// The condition is the filter itself; otherwise it is only true for every member.
    pub exact: bool,
}

impl Translation {
    fn exact(condition: String, values: Vec<SqlValue>) -> Self {
        Self {
            condition,
            values,
            exact: true,
        }
    }
}

impl SegmentFilter {
    /// Check and compile `source`.
    pub fn compile(source: &str) -> Result<Self, FilterError> {
        let source = source.trim();
        if source.is_empty() {
            return Err(FilterError::Empty);
        }
        if source.len() > MAX_FILTER_LEN {
            return Err(FilterError::TooLong);
        }
        let program =
            cel::Program::compile(source).map_err(|e| FilterError::Syntax(e.to_string()))?;
        if let Some(name) = unknown_variable(&program, &VARIABLES) {
            return Err(FilterError::UnknownVariable(name));
        }
        Ok(Self {
            source: source.to_string(),
            program,
            env: Arc::new(cel::Env::stdlib()),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether `listing` is a member at `now`.
    pub fn matches(&self, listing: &ContactListing, now: DateTime<Utc>) -> bool {
        let mut context = cel::Context::with_env(Arc::clone(&self.env));
        context.add_variable_as_val(
            "contact",
            ContactVars::of(&listing.contact, &listing.behaviour).to_cel(),
        );
        context.add_variable_as_val(NOW, cel_time(Some(now)));
        matches!(self.program.execute(&context), Ok(cel::Value::Bool(true)))
    }

    /// The filter as SQL at `now` (see the module documentation); `None` when nothing of it
    /// could be translated (every contact is a candidate).
    pub fn translate(&self, dialect: Dialect, now: DateTime<Utc>) -> Option<Translation> {
        Translator { dialect, now }.boolean(self.program.expression())
    }
}

struct Translator {
    dialect: Dialect,
    now: DateTime<Utc>,
}

/// What a `contact.<attribute>` is in the table.
enum Column {
    /// A text column that may be NULL (CEL sees null).
    NullableText(&'static str),
    /// The same, indexed: its conditions are written so the index can answer them.
    IndexedText(&'static str),
    /// An integer column never NULL.
    Int(&'static str),
    /// A timestamp in unix ms that may be NULL (CEL sees null, and comparing null fails).
    Time(&'static str),
    /// `contact.fields.<key>`: text, missing when NULL (CEL fails).
    Field(String),
}

/// A constant a comparison's other side folds to.
enum Constant {
    Text(String),
    Int(i64),
    Time(i64),
}

impl Translator {
    /// A boolean expression.
    fn boolean(&self, e: &IdedExpr) -> Option<Translation> {
        match &e.expr {
            Expr::Literal(LiteralValue::Boolean(b)) => Some(Translation::exact(
                if *b.inner() { "TRUE" } else { "FALSE" }.into(),
                Vec::new(),
            )),
            Expr::Select(select) if !select.test && is_contact(&select.operand) => (select.field
                == "new")
                .then(|| Translation::exact("conversations <= 1".into(), Vec::new())),
            Expr::Call(call) if call.target.is_none() => {
                match (call.func_name.as_str(), call.args.as_slice()) {
                    (operators::LOGICAL_AND, [a, b]) => {
                        match (self.boolean(a), self.boolean(b)) {
                            (Some(a), Some(b)) => Some(Translation {
                                condition: format!("({} AND {})", a.condition, b.condition),
                                values: [a.values, b.values].concat(),
                                exact: a.exact && b.exact,
                            }),
                            // One side alone is true for every member.
                            (Some(one), None) | (None, Some(one)) => Some(Translation {
                                exact: false,
                                ..one
                            }),
                            (None, None) => None,
                        }
                    }
                    (operators::LOGICAL_OR, [a, b]) => {
                        let (a, b) = (self.boolean(a)?, self.boolean(b)?);
                        Some(Translation {
                            condition: format!("({} OR {})", a.condition, b.condition),
                            values: [a.values, b.values].concat(),
                            exact: a.exact && b.exact,
                        })
                    }
                    (operators::LOGICAL_NOT, [a]) => {
                        // Only an exact condition can be negated.
                        let a = self.boolean(a).filter(|a| a.exact)?;
                        Some(Translation::exact(
                            format!("(NOT {})", a.condition),
                            a.values,
                        ))
                    }
                    (operators::IN, [item, collection]) => self.membership(item, collection),
                    (op, [a, b]) => self.comparison(op, a, b),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// `"vip" in contact.tags`, `"plan" in contact.fields`, `contact.country in ["ES", "PT"]`.
    fn membership(&self, item: &IdedExpr, collection: &IdedExpr) -> Option<Translation> {
        if let Expr::List(list) = &collection.expr {
            return self.one_of(item, list);
        }
        let Expr::Literal(LiteralValue::String(item)) = &item.expr else {
            return None;
        };
        let item = item.inner().to_string();
        match contact_attribute(collection)? {
            "tags" => Some(Translation::exact(
                match self.dialect {
                    Dialect::Sqlite => {
                        "EXISTS (SELECT 1 FROM json_each(contacts.tags) WHERE json_each.value = ?)"
                    }
                    Dialect::Postgres => {
                        "EXISTS (SELECT 1 FROM json_array_elements_text(contacts.tags) AS t(v) \
                         WHERE t.v = ?)"
                    }
                }
                .into(),
                vec![SqlValue::Text(item)],
            )),
            "fields" if field_key(&item) => Some(Translation::exact(
                "(contacts.fields ->> ?) IS NOT NULL".into(),
                vec![SqlValue::Text(item)],
            )),
            _ => None,
        }
    }

    /// `contact.<text attribute> in [<strings>]`: a null attribute is in no list (as in CEL,
    /// where null equals no string).
    fn one_of(&self, item: &IdedExpr, list: &ListExpr) -> Option<Translation> {
        let col = match self.column(item)? {
            Column::NullableText(col) | Column::IndexedText(col) => col,
            _ => return None,
        };
        if !list.optional_indices.is_empty() {
            return None;
        }
        let values = list
            .elements
            .iter()
            .map(|e| match &e.expr {
                Expr::Literal(LiteralValue::String(s)) => Some(SqlValue::Text(s.inner().into())),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        if values.is_empty() {
            return Some(Translation::exact("FALSE".into(), values));
        }
        Some(Translation::exact(
            format!(
                "({col} IS NOT NULL AND {col} IN ({}))",
                vec!["?"; values.len()].join(", ")
            ),
            values,
        ))
    }

    /// `<attribute> <op> <constant>` either way round.
    fn comparison(&self, op: &str, a: &IdedExpr, b: &IdedExpr) -> Option<Translation> {
        let sql_op = match op {
            operators::EQUALS => "=",
            operators::NOT_EQUALS => "<>",
            operators::LESS => "<",
            operators::LESS_EQUALS => "<=",
            operators::GREATER => ">",
            operators::GREATER_EQUALS => ">=",
            _ => return None,
        };
        let (column, constant, sql_op) = match (self.column(a), self.column(b)) {
            (Some(column), None) => (column, self.constant(b)?, sql_op),
            (None, Some(column)) => (column, self.constant(a)?, flipped(sql_op)),
            _ => return None,
        };
        let equality = matches!(sql_op, "=" | "<>");
        match (column, constant) {
            (Column::NullableText(col), Constant::Text(v)) if equality => {
                // null == "x" is false and null != "x" true in CEL.
                let otherwise = if sql_op == "=" { "FALSE" } else { "TRUE" };
                Some(Translation::exact(
                    format!("coalesce({col} {sql_op} ?, {otherwise})"),
                    vec![SqlValue::Text(v)],
                ))
            }
            // `col = ?` for the index; NULL (no country) is no member of `==` and a member
            // of `!=`, as in CEL.
            (Column::IndexedText(col), Constant::Text(v)) if equality => Some(Translation::exact(
                if sql_op == "=" {
                    format!("({col} IS NOT NULL AND {col} = ?)")
                } else {
                    format!("({col} IS NULL OR {col} <> ?)")
                },
                vec![SqlValue::Text(v)],
            )),
            (Column::Field(key), Constant::Text(v)) if equality => Some(Translation::exact(
                format!("(contacts.fields ->> ?) {sql_op} ?"),
                vec![SqlValue::Text(key), SqlValue::Text(v)],
            )),
            (Column::Int(col), Constant::Int(v)) => Some(Translation::exact(
                format!("{col} {sql_op} ?"),
                vec![SqlValue::Int(v)],
            )),
            // Comparing null with a timestamp fails in CEL; NULL compares to NULL in SQL.
            (Column::Time(col), Constant::Time(v)) => Some(Translation::exact(
                format!("{col} {sql_op} ?"),
                vec![SqlValue::Int(v)],
            )),
            _ => None,
        }
    }

    /// `contact.<attribute>` as a column.
    fn column(&self, e: &IdedExpr) -> Option<Column> {
        if let Some(name) = contact_attribute(e) {
            return match name {
                "name" => Some(Column::NullableText("name")),
                "phone" => Some(Column::IndexedText("phone")),
                // Stored with the phone (`crm::contact::country_of`, the function CEL's
                // `contact.country` is computed with).
                "country" => Some(Column::IndexedText("country")),
                "language" => Some(Column::NullableText("language")),
                "conversations" => Some(Column::Int("conversations")),
                "first_seen" => Some(Column::Time("created_at")),
                "last_inbound_at" => Some(Column::Time("last_inbound_at")),
                _ => None,
            };
        }
        // contact.fields.key, contact.fields["key"]
        let key = match &e.expr {
            Expr::Select(select) if !select.test => {
                (contact_attribute(&select.operand)? == "fields").then(|| select.field.clone())?
            }
            Expr::Call(call) if call.func_name == operators::INDEX && call.target.is_none() => {
                let [target, key] = call.args.as_slice() else {
                    return None;
                };
                let Expr::Literal(LiteralValue::String(key)) = &key.expr else {
                    return None;
                };
                (contact_attribute(target)? == "fields").then(|| key.inner().to_string())?
            }
            _ => return None,
        };
        field_key(&key).then_some(Column::Field(key))
    }

    /// A constant: a literal, `now`, `now ± duration("…")`, `timestamp("…")`.
    fn constant(&self, e: &IdedExpr) -> Option<Constant> {
        match &e.expr {
            Expr::Literal(LiteralValue::String(s)) => Some(Constant::Text(s.inner().to_string())),
            Expr::Literal(LiteralValue::Int(i)) => Some(Constant::Int(*i.inner())),
            Expr::Ident(name) if name == NOW => Some(Constant::Time(self.now.timestamp_millis())),
            Expr::Call(call) if call.target.is_none() => {
                match (call.func_name.as_str(), call.args.as_slice()) {
                    ("timestamp", [text]) => {
                        let Expr::Literal(LiteralValue::String(text)) = &text.expr else {
                            return None;
                        };
                        DateTime::parse_from_rfc3339(text.inner())
                            .ok()
                            .map(|t| Constant::Time(t.timestamp_millis()))
                    }
                    (operators::SUBSTRACT | operators::ADD, [base, span]) => {
                        let Constant::Time(base) = self.constant(base)? else {
                            return None;
                        };
                        let span = duration_ms(span)?;
                        Some(Constant::Time(if call.func_name == operators::ADD {
                            base.checked_add(span)?
                        } else {
                            base.checked_sub(span)?
                        }))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// `duration("…")` in milliseconds, as CEL reads it.
fn duration_ms(e: &IdedExpr) -> Option<i64> {
    let Expr::Call(call) = &e.expr else {
        return None;
    };
    let [text] = call.args.as_slice() else {
        return None;
    };
    let Expr::Literal(LiteralValue::String(text)) = &text.expr else {
        return None;
    };
    if call.func_name != "duration" || call.target.is_some() {
        return None;
    }
    // CEL parses its own duration syntax: compile `duration(<the literal>)` and run it.
    let literal = serde_json::to_string(text.inner()).ok()?;
    let program = cel::Program::compile(&format!("duration({literal})")).ok()?;
    match program.execute(&cel::Context::default()) {
        Ok(cel::Value::Duration(d)) => Some(d.num_milliseconds()),
        _ => None,
    }
}

/// `contact.<name>` → `name`.
fn contact_attribute(e: &IdedExpr) -> Option<&str> {
    match &e.expr {
        Expr::Select(select) if !select.test && is_contact(&select.operand) => {
            Some(select.field.as_str())
        }
        _ => None,
    }
}

fn is_contact(e: &IdedExpr) -> bool {
    matches!(&e.expr, Expr::Ident(name) if name == "contact")
}

/// A field key SQL may name (as a bound JSON path label).
fn field_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn flipped(op: &'static str) -> &'static str {
    match op {
        "<" => ">",
        "<=" => ">=",
        ">" => "<",
        ">=" => "<=",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::behaviour::ContactBehaviour;
    use crate::domain::CustomerId;
    use crate::store::ContactRecord;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000).unwrap_or_default()
    }

    fn ana() -> ContactListing {
        let mut contact = ContactRecord {
            customer: CustomerId::new("34600000001"),
            name: Some("Ana".into()),
            phone: Some("34600000001".into()),
            language: Some("es".into()),
            tags: vec!["vip".into()],
            ..ContactRecord::default()
        };
        contact.fields.insert("plan".into(), "gold".into());
        ContactListing {
            contact,
            created_at: 1_700_000_000_000,
            updated_at: 1_700_000_000_000,
            behaviour: ContactBehaviour {
                first_seen: Some(1_700_000_000_000),
                last_inbound_at: Some(1_800_000_000_000 - 3_600_000),
                conversations: 3,
            },
        }
    }

    fn compile(source: &str) -> SegmentFilter {
        match SegmentFilter::compile(source) {
            Ok(f) => f,
            Err(e) => panic!("{source}: {e}"),
        }
    }

    #[test]
    fn filters_are_checked_before_they_are_saved() {
        assert_eq!(
            SegmentFilter::compile("  ").unwrap_err(),
            FilterError::Empty
        );
        assert!(matches!(
            SegmentFilter::compile("contact.tags.exists(").unwrap_err(),
            FilterError::Syntax(_)
        ));
        assert_eq!(
            SegmentFilter::compile("lookups.crm != null").unwrap_err(),
            FilterError::UnknownVariable("lookups".into())
        );
        assert_eq!(
            SegmentFilter::compile(&"a".repeat(MAX_FILTER_LEN + 1)).unwrap_err(),
            FilterError::TooLong
        );
        // Comprehension variables are not unknown names.
        compile("contact.tags.exists(t, t.startsWith('v'))");
    }

    #[test]
    fn membership_is_what_cel_says() {
        let ana = ana();
        for (filter, member) in [
            ("'vip' in contact.tags", true),
            (
                "contact.language == 'es' && contact.fields.plan == 'gold'",
                true,
            ),
            ("contact.country == 'ES'", true),
            ("contact.conversations > 3", false),
            ("!contact.new", true),
            ("contact.last_inbound_at > now - duration('2h')", true),
            ("contact.last_inbound_at > now - duration('30m')", false),
            (
                "contact.first_seen < timestamp('2024-01-01T00:00:00Z')",
                true,
            ),
            // A missing field is an error: no member, negated or not.
            ("contact.fields.city == 'Madrid'", false),
            ("!(contact.fields.city == 'Madrid')", false),
            // Not a boolean.
            ("contact.name", false),
        ] {
            assert_eq!(compile(filter).matches(&ana, now()), member, "{filter}");
        }
    }

    /// The conversions docs/CONSOLE_API.md ("Contact fields") tells people to use: typed
    /// fields are strings to CEL, compared as numbers or dates once converted.
    #[test]
    fn typed_fields_compare_once_converted() {
        let mut ana = ana();
        let fields = &mut ana.contact.fields;
        fields.insert("seats".into(), "12.5".into());
        fields.insert("renewal".into(), "2027-01-15".into());
        fields.insert("odd".into(), "many".into());
        for (filter, member) in [
            ("double(contact.fields.seats) >= 10.0", true),
            ("double(contact.fields.seats) >= 13.0", false),
            ("contact.fields.renewal < '2027-02-01'", true),
            (
                "timestamp(contact.fields.renewal + 'T00:00:00Z') < timestamp('2027-01-16T00:00:00Z')",
                true,
            ),
            (
                "timestamp(contact.fields.renewal + 'T00:00:00Z') < now + duration('720h')",
                true,
            ),
            (
                "timestamp(contact.fields.renewal + 'T00:00:00Z') > now + duration('720h')",
                false,
            ),
            (
                "'seats' in contact.fields && double(contact.fields.seats) > 1.0",
                true,
            ),
            (
                "'rooms' in contact.fields && double(contact.fields.rooms) > 1.0",
                false,
            ),
            // A value that does not convert: an error, so no member.
            ("double(contact.fields.odd) > 1.0", false),
        ] {
            assert_eq!(compile(filter).matches(&ana, now()), member, "{filter}");
        }
    }

    #[test]
    fn what_sql_can_say_is_translated_exactly() {
        let t = compile("'vip' in contact.tags && contact.language != 'en'")
            .translate(Dialect::Sqlite, now())
            .expect("translated");
        assert!(t.exact);
        assert_eq!(
            t.condition,
            "(EXISTS (SELECT 1 FROM json_each(contacts.tags) WHERE json_each.value = ?) AND \
             coalesce(language <> ?, TRUE))"
        );
        assert_eq!(
            t.values,
            vec![SqlValue::Text("vip".into()), SqlValue::Text("en".into())]
        );

        let t =
            compile("contact.last_inbound_at >= now - duration('1h') || 3 < contact.conversations")
                .translate(Dialect::Postgres, now())
                .expect("translated");
        assert!(t.exact);
        assert_eq!(t.condition, "(last_inbound_at >= ? OR conversations > ?)");
        assert_eq!(
            t.values,
            vec![
                SqlValue::Int(1_800_000_000_000 - 3_600_000),
                SqlValue::Int(3)
            ]
        );

        let t = compile("contact.fields['plan'] == 'gold' && !contact.new")
            .translate(Dialect::Sqlite, now())
            .expect("translated");
        assert!(t.exact);
        assert_eq!(
            t.condition,
            "((contacts.fields ->> ?) = ? AND (NOT conversations <= 1))"
        );
    }

    #[test]
    fn the_stored_country_is_translated_exactly() {
        // `contacts.country` is written with the phone by the function CEL's variable uses.
        for (filter, dialect, condition, values) in [
            (
                "contact.country == 'ES'",
                Dialect::Sqlite,
                "(country IS NOT NULL AND country = ?)",
                vec!["ES"],
            ),
            (
                "'US' == contact.country",
                Dialect::Postgres,
                "(country IS NOT NULL AND country = ?)",
                vec!["US"],
            ),
            (
                "contact.country != 'ES'",
                Dialect::Sqlite,
                "(country IS NULL OR country <> ?)",
                vec!["ES"],
            ),
            (
                "contact.country in ['US', 'CA']",
                Dialect::Postgres,
                "(country IS NOT NULL AND country IN (?, ?))",
                vec!["US", "CA"],
            ),
            ("contact.country in []", Dialect::Sqlite, "FALSE", vec![]),
            (
                "contact.language in ['es']",
                Dialect::Sqlite,
                "(language IS NOT NULL AND language IN (?))",
                vec!["es"],
            ),
            (
                "'vip' in contact.tags && contact.country == 'ES'",
                Dialect::Sqlite,
                "(EXISTS (SELECT 1 FROM json_each(contacts.tags) WHERE json_each.value = ?) AND \
                 (country IS NOT NULL AND country = ?))",
                vec!["vip", "ES"],
            ),
            (
                "!(contact.country in ['ES'])",
                Dialect::Sqlite,
                "(NOT (country IS NOT NULL AND country IN (?)))",
                vec!["ES"],
            ),
        ] {
            let t = compile(filter)
                .translate(dialect, now())
                .unwrap_or_else(|| panic!("{filter}: not translated"));
            assert!(t.exact, "{filter}");
            assert_eq!(t.condition, condition, "{filter}");
            let values: Vec<SqlValue> = values
                .into_iter()
                .map(|v| SqlValue::Text(v.into()))
                .collect();
            assert_eq!(t.values, values, "{filter}");
        }
        // CEL agrees, for a contact with a Spanish number and one without a number.
        let mut nobody = ana();
        nobody.contact.phone = None;
        for (filter, ana_in, nobody_in) in [
            ("contact.country == 'ES'", true, false),
            ("contact.country != 'ES'", false, true),
            ("contact.country in ['ES', 'PT']", true, false),
            ("!(contact.country in ['PT'])", true, true),
            ("contact.country in []", false, false),
        ] {
            let f = compile(filter);
            assert_eq!(f.matches(&ana(), now()), ana_in, "{filter}");
            assert_eq!(f.matches(&nobody, now()), nobody_in, "{filter}");
        }
        // Lists SQL would not compare as CEL does are left to CEL.
        for filter in [
            "contact.country in ['ES', 1]",
            "contact.country in [contact.name]",
            "contact.conversations in [1, 2]",
        ] {
            assert!(
                compile(filter).translate(Dialect::Sqlite, now()).is_none(),
                "{filter}"
            );
        }
    }

    #[test]
    fn what_sql_cannot_say_leaves_a_prefilter_or_nothing() {
        // String functions: the database narrows to the vip, CEL decides each of them.
        let t = compile("'vip' in contact.tags && contact.name.startsWith('A')")
            .translate(Dialect::Sqlite, now())
            .expect("a pre-filter");
        assert!(!t.exact);
        assert_eq!(t.values, vec![SqlValue::Text("vip".into())]);
        // Either side of an `||` unknown: every contact is a candidate.
        assert!(
            compile("'vip' in contact.tags || contact.name.startsWith('A')")
                .translate(Dialect::Sqlite, now())
                .is_none()
        );
        // A pre-filter cannot be negated.
        assert!(
            compile("!('vip' in contact.tags && contact.name.startsWith('A'))")
                .translate(Dialect::Sqlite, now())
                .is_none()
        );
        // Field keys SQL would have to quote are left to CEL.
        assert!(
            compile("contact.fields['a.b'] == 'x'")
                .translate(Dialect::Sqlite, now())
                .is_none()
        );
    }
}
