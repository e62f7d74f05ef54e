//! WhatsApp message templates, pure: what Meta's listing (`GET /{waba-id}/message_templates`)
//! and its template webhooks (`message_template_status_update`, `template_category_update`)
//! say, read tolerantly into [`Template`] and [`TemplateChange`]; and whether a stored template
//! may be sent ([`usable`]).

use serde::Serialize;
use serde_json::Value;

/// Meta's template categories. Sends follow a template's latest category (Meta may
/// re-categorise an approved template).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Category {
    Marketing,
    Utility,
    Authentication,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Marketing => "MARKETING",
            Category::Utility => "UTILITY",
            Category::Authentication => "AUTHENTICATION",
        }
    }

    /// Meta's name of a category (any case); None for anything else.
    pub fn parse(s: &str) -> Option<Category> {
        match s.trim().to_ascii_uppercase().as_str() {
            "MARKETING" => Some(Category::Marketing),
            "UTILITY" => Some(Category::Utility),
            "AUTHENTICATION" => Some(Category::Authentication),
            _ => None,
        }
    }
}

/// The only status a template may be sent in.
pub const APPROVED: &str = "APPROVED";

/// The longest status, reason and name kept (Meta's are far shorter; anything longer is cut).
const MAX_LABEL: usize = 512;

/// A template as stored: one row per channel (WhatsApp number) and Meta's template id.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Template {
    pub channel: String,
    /// Meta's id.
    pub id: String,
    pub name: String,
    /// The language code (`en_US`, `es`).
    pub language: String,
    pub category: Category,
    /// APPROVED, PENDING, REJECTED, PAUSED, DISABLED, ARCHIVED...
    pub status: String,
    /// Meta's components (header, body, footer, buttons), as Meta gave them.
    #[schema(value_type = Vec<Object>)]
    pub components: Value,
    /// NAMED (`{{first_name}}`) or POSITIONAL (`{{1}}`).
    pub parameter_format: String,
    /// Why it was rejected, paused or disabled, when Meta said.
    pub reason: Option<String>,
    /// Unix ms of the last change we learnt of.
    pub updated_at: i64,
}

fn label(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty() && text.chars().count() <= MAX_LABEL).then_some(text)
}

/// One page of Meta's template listing: the templates it holds (an item that cannot be read
/// as one, without an id, name, language or known category, is skipped and counted) and the
/// next page's URL (`paging.next`), when there is one.
#[derive(Debug, Default, PartialEq)]
pub struct ListingPage {
    pub templates: Vec<Template>,
    pub skipped: usize,
    pub next: Option<String>,
}

/// Read one page of `GET /{waba-id}/message_templates` for `channel`; `None` when the body is
/// not a listing at all (no `data` array).
pub fn parse_listing(channel: &str, body: &Value, now_ms: i64) -> Option<ListingPage> {
    let data = body.get("data")?.as_array()?;
    let mut page = ListingPage {
        next: body
            .pointer("/paging/next")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        ..ListingPage::default()
    };
    for item in data {
        match template_of(channel, item, now_ms) {
            Some(t) => page.templates.push(t),
            None => page.skipped += 1,
        }
    }
    Some(page)
}

fn template_of(channel: &str, item: &Value, now_ms: i64) -> Option<Template> {
    let id = label(item.get("id")?)?;
    let name = label(item.get("name")?)?;
    let language = label(item.get("language")?)?;
    let category = Category::parse(item.get("category")?.as_str()?)?;
    let status = item
        .get("status")
        .and_then(label)
        .map(|s| s.to_ascii_uppercase())
        .unwrap_or_else(|| "PENDING".into());
    let components = match item.get("components") {
        Some(Value::Array(items)) => Value::Array(items.clone()),
        _ => Value::Array(Vec::new()),
    };
    let parameter_format = match item.get("parameter_format").and_then(Value::as_str) {
        Some(f) if f.eq_ignore_ascii_case("NAMED") => "NAMED",
        _ => "POSITIONAL",
    }
    .to_owned();
    let reason = item
        .get("rejected_reason")
        .and_then(label)
        .filter(|r| r != "NONE");
    Some(Template {
        channel: channel.to_owned(),
        id,
        name,
        language,
        category,
        status,
        components,
        parameter_format,
        reason,
        updated_at: now_ms,
    })
}

/// What a template webhook changes in the templates it names (by Meta's id; the name and
/// language are kept for the log).
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateChange {
    pub id: String,
    pub name: Option<String>,
    pub language: Option<String>,
    /// `message_template_status_update`: the new status (`event`).
    pub status: Option<String>,
    /// The reason Meta gave (`NONE` is no reason).
    pub reason: Option<String>,
    /// `template_category_update` (`new_category`), or the category a status update carries.
    pub category: Option<Category>,
}

/// The change a template webhook's `value` describes, for the fields
/// `message_template_status_update` and `template_category_update`; None for other fields
/// or a value without a template id.
pub fn change_of(field: &str, value: &Value) -> Option<TemplateChange> {
    let id = label(value.get("message_template_id")?)?;
    let name = value.get("message_template_name").and_then(label);
    let language = value.get("message_template_language").and_then(label);
    match field {
        "message_template_status_update" => Some(TemplateChange {
            id,
            name,
            language,
            status: value
                .get("event")
                .and_then(label)
                .map(|s| s.to_ascii_uppercase()),
            reason: value
                .get("reason")
                .or_else(|| value.get("disable_info"))
                .and_then(label)
                .filter(|r| r != "NONE"),
            category: value
                .get("message_template_category")
                .and_then(Value::as_str)
                .and_then(Category::parse),
        }),
        "template_category_update" => Some(TemplateChange {
            id,
            name,
            language,
            status: None,
            reason: None,
            category: value
                .get("new_category")
                .or_else(|| value.get("correct_category"))
                .and_then(Value::as_str)
                .and_then(Category::parse),
        }),
        _ => None,
    }
}

/// Why a template may not be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unusable {
    /// No template of that name and language on the channel (never synced, or deleted).
    Unknown,
    /// It exists but is not APPROVED (its status and Meta's reason).
    NotApproved {
        status: String,
        reason: Option<String>,
    },
}

impl Unusable {
    pub fn code(&self) -> &'static str {
        match self {
            Unusable::Unknown => "unknown_template",
            Unusable::NotApproved { .. } => "template_not_approved",
        }
    }
}

/// The category of the stored template to send, when it may be sent: it exists and is APPROVED.
pub fn usable(template: Option<&Template>) -> Result<Category, Unusable> {
    match template {
        None => Err(Unusable::Unknown),
        Some(t) if t.status == APPROVED => Ok(t.category),
        Some(t) => Err(Unusable::NotApproved {
            status: t.status.clone(),
            reason: t.reason.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_listing_page_is_read_tolerantly() {
        let body = json!({
            "data": [
                {"id": "920070352646140", "name": "fall_sale", "language": "en_US",
                 "category": "MARKETING", "status": "APPROVED", "parameter_format": "NAMED",
                 "components": [{"type": "BODY", "text": "Hi {{first_name}}"}]},
                {"id": 1192339204654487_u64, "name": "hello_world", "language": "en_US",
                 "category": "utility", "status": "rejected", "rejected_reason": "INVALID_FORMAT"},
                {"id": "1", "name": "no_category", "language": "en"},
                {"id": "2", "name": "odd", "language": "en", "category": "ACCOUNT_UPDATE"},
                {"name": "no_id", "language": "en", "category": "UTILITY"},
                "not an object"
            ],
            "paging": {"cursors": {"before": "a", "after": "b"}, "next": "https://graph/next"}
        });
        let page = parse_listing("support", &body, 7).expect("a listing");
        assert_eq!(page.next.as_deref(), Some("https://graph/next"));
        assert_eq!(page.skipped, 4);
        assert_eq!(page.templates.len(), 2);
        let sale = &page.templates[0];
        assert_eq!(sale.category, Category::Marketing);
        assert_eq!(sale.parameter_format, "NAMED");
        assert_eq!(sale.components[0]["type"], "BODY");
        assert_eq!(sale.updated_at, 7);
        let hello = &page.templates[1];
        assert_eq!(hello.id, "1192339204654487");
        assert_eq!(hello.status, "REJECTED");
        assert_eq!(hello.parameter_format, "POSITIONAL");
        assert_eq!(hello.reason.as_deref(), Some("INVALID_FORMAT"));
        assert_eq!(hello.components, json!([]));
        // The last page has no next; a body without data is no listing.
        let last = parse_listing("s", &json!({"data": [], "paging": {"cursors": {}}}), 0);
        assert_eq!(last, Some(ListingPage::default()));
        assert_eq!(parse_listing("s", &json!({"error": {}}), 0), None);
        assert_eq!(parse_listing("s", &json!({"data": {}}), 0), None);
    }

    #[test]
    fn template_webhooks_change_status_reason_and_category() {
        let status = change_of(
            "message_template_status_update",
            &json!({"event": "PAUSED", "message_template_id": 1689556908129832_u64,
                    "message_template_name": "order_confirmation",
                    "message_template_language": "en_US", "reason": "LOW_QUALITY"}),
        )
        .expect("a change");
        assert_eq!(status.id, "1689556908129832");
        assert_eq!(status.status.as_deref(), Some("PAUSED"));
        assert_eq!(status.reason.as_deref(), Some("LOW_QUALITY"));
        assert_eq!(status.category, None);
        let approved = change_of(
            "message_template_status_update",
            &json!({"event": "APPROVED", "message_template_id": "5", "reason": "NONE",
                    "message_template_category": "MARKETING"}),
        )
        .expect("a change");
        assert_eq!(approved.reason, None);
        assert_eq!(approved.category, Some(Category::Marketing));
        let moved = change_of(
            "template_category_update",
            &json!({"message_template_id": 5, "previous_category": "UTILITY",
                    "new_category": "MARKETING"}),
        )
        .expect("a change");
        assert_eq!(moved.category, Some(Category::Marketing));
        assert_eq!(moved.status, None);
        assert_eq!(
            change_of("user_preferences", &json!({"message_template_id": 5})),
            None
        );
        assert_eq!(
            change_of(
                "message_template_status_update",
                &json!({"event": "APPROVED"})
            ),
            None
        );
        assert_eq!(
            change_of(
                "message_template_status_update",
                &json!({"message_template_id": {}})
            ),
            None
        );
    }

    #[test]
    fn only_a_stored_approved_template_is_usable() {
        let mut t = Template {
            channel: "support".into(),
            id: "1".into(),
            name: "parcel_update".into(),
            language: "en_US".into(),
            category: Category::Utility,
            status: APPROVED.into(),
            components: json!([]),
            parameter_format: "POSITIONAL".into(),
            reason: None,
            updated_at: 0,
        };
        assert_eq!(usable(Some(&t)), Ok(Category::Utility));
        assert_eq!(usable(None), Err(Unusable::Unknown));
        assert_eq!(usable(None).unwrap_err().code(), "unknown_template");
        for status in ["PENDING", "REJECTED", "PAUSED", "DISABLED", "ARCHIVED"] {
            t.status = status.into();
            t.reason = Some("LOW_QUALITY".into());
            let refused = usable(Some(&t)).unwrap_err();
            assert_eq!(refused.code(), "template_not_approved");
            assert_eq!(
                refused,
                Unusable::NotApproved {
                    status: status.into(),
                    reason: Some("LOW_QUALITY".into())
                }
            );
        }
    }
}
