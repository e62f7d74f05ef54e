//! Contacts from CSV (`POST /api/v1/contacts/import`), pure: the header's columns, each row as
//! the contact it names and the [`ContactPatch`] it makes, and the rejected rows written back
//! with an `error` column.
//!
//! The columns are the ones the export writes ([`super::export::HEADER`]), plus `identity` and
//! `field.<key>`; any order, each at most once, one at least of `id`, `identity`, `phone`,
//! `email`:
//! - `id`: a contact's id or any of its identities' addresses (as the export writes it): names
//!   an existing contact, never creates one;
//! - `identity`: `<channel>:<address>` (`telegram:4242`): names a contact, created when unknown;
//! - `phone`: a number (`+34 600 400 001`): names a contact, created when unknown (the phone
//!   itself is the channel's word: it is never changed by an import);
//! - `email`: names an existing contact, and is set on the contact a row names otherwise;
//! - `name`, `language`: set;
//! - `tags`: the contact's whole set of tags, separated by `;` (as exported) or `,`;
//! - `fields`: a JSON object of custom fields (as exported; its `location_lat` and
//!   `location_lon` set the location), merged into the contact's fields;
//! - `field.<key>`: one custom field (wins over the same key in `fields`);
//! - `country`, `channels`, `created_at`, `updated_at`, `last_inbound_at`, `conversations`: the
//!   export's read-only columns, accepted and ignored.
//!
//! An empty cell changes nothing (an import never clears a value). A cell the export guarded
//! against spreadsheet formulas (a leading `'` before `=`, `+`, `-`, `@`) is read without its
//! guard, so an export imports back unchanged. A masked number (holding `•`) in `id` or
//! `phone` names nothing: such a row is matched by its other columns.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::edit::{self, ContactPatch, Location, Patch};
use super::upsert::{IdentityBody, Match, MatchBody};

/// The largest body an import takes (bytes).
pub const MAX_BYTES: usize = 10 * 1024 * 1024;
/// The most rows (after the header) an import takes.
pub const MAX_ROWS: usize = 50_000;

/// The character masked numbers are written with.
const MASK: char = '•';

/// What one column of the header holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Column {
    Id,
    Identity,
    Name,
    Phone,
    Email,
    Language,
    Tags,
    Fields,
    Field(String),
    /// One of the export's read-only columns.
    Ignored,
}

/// The export's columns an import reads past.
const READ_ONLY: [&str; 6] = [
    "country",
    "channels",
    "created_at",
    "updated_at",
    "last_inbound_at",
    "conversations",
];

/// A checked header: each column's meaning, and the names as given (for the rejected rows).
#[derive(Clone, Debug)]
pub struct Header {
    pub columns: Vec<Column>,
    pub names: Vec<String>,
}

/// The header row checked: every column known and given once, and a column that names a
/// contact; else why not (a 400, before anything is written).
pub fn header(names: &[String]) -> Result<Header, String> {
    let mut columns = Vec::with_capacity(names.len());
    let mut seen = BTreeSet::new();
    for raw in names {
        let name = raw.trim();
        let column = match name {
            "id" => Column::Id,
            "identity" => Column::Identity,
            "name" => Column::Name,
            "phone" => Column::Phone,
            "email" => Column::Email,
            "language" => Column::Language,
            "tags" => Column::Tags,
            "fields" => Column::Fields,
            n if READ_ONLY.contains(&n) => Column::Ignored,
            n => match n.strip_prefix("field.") {
                Some(key) if edit::field_key_ok(key) => Column::Field(key.to_string()),
                Some(key) => {
                    return Err(format!(
                        "column {name:?}: field keys are 1 to {} of a-z, 0-9 and _ \
                         (email and location have their own columns), not {key:?}",
                        edit::FIELD_KEY_MAX
                    ));
                }
                None => {
                    return Err(format!(
                        "unknown column {name:?}: the columns are id, identity, name, phone, \
                         email, language, tags, fields, field.<key> and the export's read-only \
                         ones ({})",
                        READ_ONLY.join(", ")
                    ));
                }
            },
        };
        if !seen.insert(name.to_string()) {
            return Err(format!("column {name:?} is given twice"));
        }
        columns.push(column);
    }
    let names_a_contact = columns.iter().any(|c| {
        matches!(
            c,
            Column::Id | Column::Identity | Column::Phone | Column::Email
        )
    });
    if !names_a_contact {
        return Err("the header needs at least one of id, identity, phone or email".into());
    }
    Ok(Header {
        columns,
        names: names.to_vec(),
    })
}

/// A cell without the export's formula guard: `'=…`, `'+…`, `'-…`, `'@…` read as written
/// before the guard ([`super::export::cell`]).
pub fn unguard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

/// One row: the ways it names its contact, in the order they are tried, and its edit.
#[derive(Clone, Debug, Default)]
pub struct Row {
    /// The `id` column: an existing contact's id or address.
    pub id: Option<String>,
    /// `identity`, `phone`, `email`, as given in the row (tried in this order).
    pub matches: Vec<Match>,
    pub patch: ContactPatch,
}

fn invalid(field: &str, message: &str) -> String {
    format!("invalid {field}: {message}")
}

/// A row read against its header; else why it is rejected (the `error` column).
pub fn row(header: &Header, cells: &[String]) -> Result<Row, String> {
    if cells.len() != header.columns.len() {
        return Err(format!(
            "expected {} columns, got {}",
            header.columns.len(),
            cells.len()
        ));
    }
    let mut out = Row::default();
    let (mut identity, mut phone, mut email) = (None, None, None);
    let mut fields: Option<BTreeMap<String, Value>> = None;
    let mut single: Vec<(String, String)> = Vec::new();
    for (column, raw) in header.columns.iter().zip(cells) {
        let value = unguard(raw.trim()).trim();
        if value.is_empty() {
            continue;
        }
        match column {
            Column::Id if !value.contains(MASK) => out.id = Some(value.to_string()),
            Column::Phone if !value.contains(MASK) => {
                let by = MatchBody {
                    phone: Some(value.to_string()),
                    ..MatchBody::default()
                };
                phone = Some(by.parse().map_err(|_| {
                    invalid(
                        "phone",
                        "a phone number of 7 to 15 digits, like +34 600 400 001",
                    )
                })?);
            }
            Column::Id | Column::Phone | Column::Ignored => {}
            Column::Identity => {
                let Some((channel, address)) = value.split_once(':') else {
                    return Err(invalid(
                        "identity",
                        "<channel>:<address>, like telegram:4242",
                    ));
                };
                let by = MatchBody {
                    identity: Some(IdentityBody {
                        channel: channel.to_string(),
                        address: address.to_string(),
                    }),
                    ..MatchBody::default()
                };
                identity =
                    Some(by.parse().map_err(|_| {
                        invalid("identity", "<channel>:<address>, like telegram:4242")
                    })?);
            }
            Column::Email => {
                let by = MatchBody {
                    email: Some(value.to_string()),
                    ..MatchBody::default()
                };
                email = Some(
                    by.parse()
                        .map_err(|_| invalid("email", "an email address like name@example.com"))?,
                );
                out.patch.email = Patch::Set(value.to_string());
            }
            Column::Name => out.patch.name = Patch::Set(value.to_string()),
            Column::Language => out.patch.language = Patch::Set(value.to_string()),
            Column::Tags => {
                out.patch.tags = Some(
                    value
                        .split([';', ','])
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_string)
                        .collect(),
                );
            }
            Column::Fields => {
                let parsed: BTreeMap<String, Value> =
                    serde_json::from_str(value).map_err(|_| {
                        invalid(
                            "fields",
                            "a JSON object of fields, like {\"plan\":\"gold\"}",
                        )
                    })?;
                fields = Some(parsed);
            }
            Column::Field(key) => single.push((key.clone(), value.to_string())),
        }
    }
    let mut fields = fields.unwrap_or_default();
    // The location travels in the export's fields; an edit sets it through its own property.
    let lat = fields.remove(edit::LAT_FIELD);
    let lon = fields.remove(edit::LON_FIELD);
    match (lat, lon) {
        (None, None) => {}
        (Some(lat), Some(lon)) => {
            let number = |v: &Value| match v {
                Value::String(s) => s.trim().parse::<f64>().ok(),
                Value::Number(n) => n.as_f64(),
                _ => None,
            };
            let (Some(latitude), Some(longitude)) = (number(&lat), number(&lon)) else {
                return Err(invalid(
                    "location",
                    "location_lat and location_lon are numbers",
                ));
            };
            out.patch.location = Patch::Set(Location {
                latitude,
                longitude,
            });
        }
        _ => {
            return Err(invalid(
                "location",
                "location_lat and location_lon go together",
            ));
        }
    }
    for (key, value) in single {
        fields.insert(key, Value::String(value));
    }
    if !fields.is_empty() {
        out.patch.fields = Some(fields);
    }
    out.matches = [identity, phone, email].into_iter().flatten().collect();
    if out.id.is_none() && out.matches.is_empty() {
        return Err("no phone, email or identity".into());
    }
    Ok(out)
}

/// Why an edit is refused, as a rejected row's `error` (the JSON API's "or null" dropped).
pub fn edit_error(e: &edit::Invalid) -> String {
    invalid(&e.field, e.message.trim_end_matches(", or null"))
}

/// The rejected rows as CSV: the header as given plus `error`, each row as given plus why,
/// every cell guarded against spreadsheet formulas.
pub fn rejected_csv(
    header: &[String],
    rows: &[(Vec<String>, String)],
) -> Result<String, csv::Error> {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .flexible(true)
        .from_writer(Vec::new());
    let guard = |s: &str| super::export::cell(s);
    out.write_record(
        header
            .iter()
            .map(|h| guard(h))
            .chain(std::iter::once("error".to_string())),
    )?;
    for (cells, error) in rows {
        out.write_record(
            cells
                .iter()
                .map(|c| guard(c))
                .chain(std::iter::once(guard(error))),
        )?;
    }
    let bytes = out.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The records of a CSV text (an optional UTF-8 BOM first), at most `max_rows` after the
/// header: the header's cells and the rows'. `Err(None)` when there are more rows than that,
/// `Err(Some(why))` when the text is no CSV.
#[allow(clippy::type_complexity)]
pub fn records(
    text: &str,
    max_rows: usize,
) -> Result<(Vec<String>, Vec<Vec<String>>), Option<String>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut all = reader.records();
    let header = match all.next() {
        Some(Ok(h)) => h.iter().map(str::to_string).collect::<Vec<_>>(),
        Some(Err(e)) => return Err(Some(format!("the header row: {e}"))),
        None => return Err(Some("the CSV is empty: a header row comes first".into())),
    };
    let mut rows = Vec::new();
    for record in all {
        let record = record.map_err(|e| Some(format!("not CSV: {e}")))?;
        if rows.len() == max_rows {
            return Err(None);
        }
        rows.push(record.iter().map(str::to_string).collect());
    }
    Ok((header, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|s| s.to_string()).collect()
    }

    fn read(header_cells: &[&str], cells: &[&str]) -> Result<Row, String> {
        let h = header(&strings(header_cells)).expect("a header");
        row(&h, &strings(cells))
    }

    #[test]
    fn the_export_header_is_accepted_and_unknown_columns_are_not() {
        let h = header(&strings(&super::super::export::HEADER)).expect("the export's header");
        assert_eq!(h.columns[0], Column::Id);
        assert_eq!(h.columns[5], Column::Ignored);
        let h = header(&strings(&["phone", "field.plan"])).expect("a field column");
        assert_eq!(h.columns[1], Column::Field("plan".into()));
        for bad in [
            &["phone", "colour"][..],
            &["phone", "phone"],
            &["name", "tags"],
            &["phone", "field.Bad Key"],
            &["phone", "field.email"],
            &["phone", "error"],
        ] {
            assert!(header(&strings(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_row_names_its_contact_and_sets_what_it_gives() {
        let r = read(
            &[
                "id",
                "identity",
                "phone",
                "email",
                "name",
                "language",
                "tags",
                "fields",
                "field.plan",
                "country",
            ],
            &[
                "",
                "telegram:4242",
                "'+34 600 400 001",
                " Vera@Example.com ",
                "'-Vera-",
                "es",
                "vip; gold,new",
                r#"{"city":"Madrid","plan":"silver","location_lat":"40.5","location_lon":"-3.7"}"#,
                "gold",
                "ES",
            ],
        )
        .expect("a good row");
        assert_eq!(r.id, None);
        assert_eq!(
            r.matches,
            [
                Match::Identity {
                    channel: "telegram".into(),
                    address: "4242".into()
                },
                Match::Phone("34600400001".into()),
                Match::Email("vera@example.com".into()),
            ]
        );
        assert_eq!(r.patch.name, Patch::Set("-Vera-".into()));
        assert_eq!(r.patch.email, Patch::Set("Vera@Example.com".into()));
        assert_eq!(r.patch.language, Patch::Set("es".into()));
        assert_eq!(
            r.patch.tags,
            Some(strings(&["vip", "gold", "new"])),
            "either separator"
        );
        let fields = r.patch.fields.expect("fields");
        assert_eq!(fields.get("plan"), Some(&Value::String("gold".into())));
        assert_eq!(fields.get("city"), Some(&Value::String("Madrid".into())));
        assert!(!fields.contains_key("location_lat"));
        assert!(matches!(
            r.patch.location,
            Patch::Set(Location { latitude, longitude }) if latitude == 40.5 && longitude == -3.7
        ));
    }

    #[test]
    fn empty_and_masked_cells_change_and_name_nothing() {
        let r = read(
            &["id", "phone", "email", "name", "tags"],
            &[
                "'+34 6•• ••• •01",
                "'+34 6•• ••• •01",
                "a@example.com",
                "",
                "",
            ],
        )
        .expect("matched by email");
        assert_eq!(r.id, None);
        assert_eq!(r.matches, [Match::Email("a@example.com".into())]);
        assert_eq!(r.patch.name, Patch::Unchanged);
        assert_eq!(r.patch.tags, None);
        let r = read(&["id", "name"], &["34600400001", "Ana"]).expect("by id");
        assert_eq!(r.id.as_deref(), Some("34600400001"));
    }

    #[test]
    fn bad_rows_say_why() {
        let cases: [(&[&str], &[&str], &str); 7] = [
            (
                &["phone", "name"],
                &["", "Ana"],
                "no phone, email or identity",
            ),
            (&["phone"], &["12"], "invalid phone"),
            (&["email"], &["not an email"], "invalid email"),
            (&["identity"], &["4242"], "invalid identity"),
            (
                &["phone", "fields"],
                &["34600400001", "[1]"],
                "invalid fields",
            ),
            (
                &["phone", "fields"],
                &["34600400001", r#"{"location_lat":"1"}"#],
                "invalid location",
            ),
            (
                &["phone", "name"],
                &["34600400001"],
                "expected 2 columns, got 1",
            ),
        ];
        for (h, cells, why) in cases {
            let err = read(h, cells).expect_err(why);
            assert!(err.starts_with(why), "{cells:?}: {err}");
        }
    }

    #[test]
    fn rejected_rows_come_back_as_given_with_their_error() {
        let text = rejected_csv(
            &strings(&["phone", "name"]),
            &[(strings(&["12", "=cmd"]), "invalid phone: digits".into())],
        )
        .expect("csv");
        assert_eq!(
            text,
            "phone,name,error\r\n12,'=cmd,invalid phone: digits\r\n"
        );
    }

    #[test]
    fn records_take_a_bom_and_stop_past_the_limit() {
        let (h, rows) = records("\u{feff}phone,name\r\n34600400001,\"A, B\"\n", 5).expect("ok");
        assert_eq!(h, ["phone", "name"]);
        assert_eq!(rows, [strings(&["34600400001", "A, B"])]);
        assert_eq!(records("phone\n1\n2\n3\n", 2), Err(None));
        assert!(matches!(records("", 2), Err(Some(_))));
    }
}
