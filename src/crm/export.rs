//! Contacts as CSV (`GET /api/v1/contacts/export.csv`), pure: the header, one row per contact,
//! and cells a spreadsheet will not run as formulas.

use crate::store::ContactListing;

/// The columns, in order.
pub const HEADER: [&str; COLUMNS] = [
    "id",
    "name",
    "phone",
    "email",
    "language",
    "country",
    "tags",
    "fields",
    "channels",
    "created_at",
    "updated_at",
    "last_inbound_at",
    "conversations",
];

/// How many columns a row has.
pub const COLUMNS: usize = 13;

/// A cell as written: text a spreadsheet would read as a formula (starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return) gets a leading `'` (OWASP's CSV injection advice).
pub fn cell(value: &str) -> String {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_string(),
    }
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// One contact's row: `channels` are its identities' channel ids, `mask` hides numbers in any
/// text (the caller's masking rules; a masked number starts with `+`, so a cell that is one
/// gets the guard's `'`).
pub fn row(
    listing: &ContactListing,
    channels: &[String],
    mask: impl Fn(&str) -> String,
) -> [String; COLUMNS] {
    let c = &listing.contact;
    let email = c
        .fields
        .get(super::edit::EMAIL_FIELD)
        .cloned()
        .unwrap_or_default();
    let fields: std::collections::BTreeMap<&String, &String> = c
        .fields
        .iter()
        .filter(|(k, _)| k.as_str() != super::edit::EMAIL_FIELD)
        .collect();
    let fields = if fields.is_empty() {
        String::new()
    } else {
        serde_json::to_string(&fields).unwrap_or_default()
    };
    let country = c
        .phone
        .as_deref()
        .and_then(super::contact::country_of)
        .unwrap_or_default();
    // Every text goes through the mask: a name or a field may hold the number too.
    let text = |s: &str| cell(&mask(s));
    [
        text(c.customer.as_str()),
        text(c.name.as_deref().unwrap_or_default()),
        text(c.phone.as_deref().unwrap_or_default()),
        text(&email),
        text(c.language.as_deref().unwrap_or_default()),
        country,
        text(&c.tags.join(";")),
        text(&fields),
        text(&channels.join(";")),
        time(listing.created_at),
        time(listing.updated_at),
        listing
            .behaviour
            .last_inbound_at
            .map(time)
            .unwrap_or_default(),
        listing.behaviour.conversations.to_string(),
    ]
}

/// `rows` written as CSV (RFC 4180: quoted where needed, CRLF line ends), after the header
/// when `header`.
pub fn write(header: bool, rows: &[[String; COLUMNS]]) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    if header {
        out.write_record(HEADER)?;
    }
    for r in rows {
        out.write_record(r)?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CustomerId;
    use crate::store::ContactRecord;

    fn ana() -> ContactListing {
        let mut contact = ContactRecord {
            customer: CustomerId::new("34600000001"),
            name: Some("Ana \"La Jefa\", López".into()),
            phone: Some("34600000001".into()),
            language: Some("es".into()),
            tags: vec!["vip".into(), "gold".into()],
            ..ContactRecord::default()
        };
        contact
            .fields
            .insert("email".into(), "ana@example.com".into());
        contact.fields.insert("city".into(), "Madrid".into());
        ContactListing {
            contact,
            created_at: 1_700_000_000_000,
            updated_at: 1_700_000_060_000,
            behaviour: crate::crm::behaviour::ContactBehaviour {
                first_seen: Some(1_700_000_000_000),
                last_inbound_at: Some(1_700_000_030_000),
                conversations: 2,
            },
        }
    }

    #[test]
    fn formulas_are_defused_and_other_text_is_kept() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("+34600"), "'+34600");
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("\tx"), "'\tx");
        assert_eq!(cell("Ana"), "Ana");
        assert_eq!(cell(""), "");
        assert_eq!(cell("a=b"), "a=b");
    }

    #[test]
    fn a_row_has_every_column_quoted_where_needed() {
        let rows = [row(&ana(), &["support".into(), "telegram".into()], |s| {
            s.to_string()
        })];
        let text = String::from_utf8(write(true, &rows).expect("csv")).expect("utf-8");
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "id,name,phone,email,language,country,tags,fields,channels,created_at,updated_at,\
             last_inbound_at,conversations"
        );
        assert_eq!(
            lines[1],
            "34600000001,\"Ana \"\"La Jefa\"\", López\",34600000001,ana@example.com,es,ES,vip;gold,\
             \"{\"\"city\"\":\"\"Madrid\"\"}\",support;telegram,2023-11-14T22:13:20Z,2023-11-14T22:14:20Z,\
             2023-11-14T22:13:50Z,2"
        );
        assert_eq!(lines[2], "");
        // Without the header: the rows alone (the pages after the first).
        let more = String::from_utf8(write(false, &rows).expect("csv")).expect("utf-8");
        assert!(more.starts_with("34600000001,"));
    }

    #[test]
    fn numbers_go_through_the_mask() {
        let r = row(&ana(), &[], |s| {
            if s == "34600000001" {
                "+34 6•• ••• •01".into()
            } else {
                s.to_string()
            }
        });
        assert_eq!(r[0], "'+34 6•• ••• •01");
        assert_eq!(r[2], "'+34 6•• ••• •01");
    }
}
