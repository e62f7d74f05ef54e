//! A template message composed from a person's input, pure: what a synced [`Template`] asks
//! for ([`form`]: the header's format, the body's parameters, the buttons that take a value),
//! and the input checked against it ([`compose`]) into Meta's `components` array (WIRE.md §2,
//! the OpenAPI `TemplateComponent`) and a rendered [`Preview`]. Every problem is named by a
//! code and the field it is about; [`sent_mismatch`] is Meta's own parameter count check of a
//! sent message (132000), for the fake Graph API.
//!
//! The input (`header`, `body`, `buttons`):
//!
//! - `header`: `{"text"}` for a TEXT header with a parameter, `{"image" | "video" | "document":
//!   {"link" | "id", "filename"?}}` for a media header (a filename only for a document);
//! - `body`: `["value", ...]` in order for `{{1}}`, `{{2}}`... (POSITIONAL), or `{"name":
//!   "value"}` for `{{name}}` (NAMED);
//! - `buttons`: `[{"index", "sub_type", "value"}]`: a URL button's suffix (`url`, also the code
//!   of an authentication template's copy-code button), a quick reply's payload (`quick_reply`,
//!   optional: Meta sends the button's text without one), a coupon (`copy_code`).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::templates::Template;

/// A template header's longest text (Meta's limit when a template is created).
pub const MAX_HEADER: usize = 60;
/// A template body's longest text, parameters substituted (Meta answers 132005 past it).
pub const MAX_BODY: usize = 1024;
/// A quick reply's longest payload (as an interactive reply button's id, WIRE.md §2).
pub const MAX_PAYLOAD: usize = 256;
/// A coupon's or a one-time code's longest text.
pub const MAX_CODE: usize = 15;
/// A URL button's longest URL, suffix included.
pub const MAX_URL: usize = 2000;
/// A media id's or a file name's longest text.
const MAX_LABEL: usize = 256;
/// The most consecutive spaces Meta takes in a parameter.
const MAX_SPACES: usize = 4;

/// `{{1}}` or `{{first_name}}` in a template's text.
static PLACEHOLDER: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}").unwrap_or_else(|e| unreachable!("{e}"))
});

/// A media file of a header: by a public link or an id uploaded to Meta.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A document's file name, as the customer sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

/// The header's value: exactly one of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderInput {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub image: Option<MediaRef>,
    #[serde(default)]
    pub video: Option<MediaRef>,
    #[serde(default)]
    pub document: Option<MediaRef>,
}

/// The body's values: in order (POSITIONAL) or by name (NAMED).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum BodyInput {
    Positional(Vec<String>),
    Named(BTreeMap<String, String>),
}

/// A button's value, by the button's position among the template's buttons (from 0).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ButtonInput {
    pub index: u32,
    /// `url`, `quick_reply` or `copy_code`.
    pub sub_type: String,
    pub value: String,
}

/// What a person gives for a template's parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    #[serde(default)]
    pub header: Option<HeaderInput>,
    #[serde(default)]
    pub body: Option<BodyInput>,
    #[serde(default)]
    pub buttons: Vec<ButtonInput>,
}

/// One problem of the input: a code, the field (`header.text`, `body.first_name`, `body[1]`,
/// `buttons[0]`) and what is wrong, in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    pub code: &'static str,
    pub field: String,
    pub message: String,
}

fn problem(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        code,
        field: field.into(),
        message: message.into(),
    }
}

/// What a template asks for, for a form: its header, body and footer texts, the parameters
/// of each, and its buttons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Form {
    /// NAMED or POSITIONAL.
    pub parameter_format: String,
    pub header: Option<HeaderForm>,
    /// The body's text, with its placeholders.
    pub body: String,
    /// The body's parameters: names (NAMED) or `1`, `2`... (POSITIONAL), in the order given.
    pub body_parameters: Vec<String>,
    pub footer: Option<String>,
    pub buttons: Vec<ButtonForm>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HeaderForm {
    /// TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION.
    pub format: String,
    /// A TEXT header's text, with its placeholder.
    pub text: Option<String>,
    /// A TEXT header's parameter (its name, or `1`), when it has one.
    pub parameter: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ButtonForm {
    pub index: u32,
    /// Meta's button type: QUICK_REPLY, URL, PHONE_NUMBER, COPY_CODE, OTP, FLOW, CATALOG...
    #[serde(rename = "type")]
    pub kind: String,
    /// The label the customer sees.
    pub text: String,
    /// A URL button's URL, with its placeholder.
    pub url: Option<String>,
    /// The value it takes (`url`, `quick_reply`, `copy_code`), if any.
    pub sub_type: Option<String>,
    /// Whether a send must give that value (a quick reply's payload is optional).
    pub required: bool,
}

/// A template as the customer will see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Preview {
    pub header: Option<PreviewHeader>,
    pub body: String,
    pub footer: Option<String>,
    pub buttons: Vec<PreviewButton>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PreviewHeader {
    /// TEXT, IMAGE, VIDEO or DOCUMENT.
    pub format: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaRef>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PreviewButton {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
    /// A URL button's URL, its suffix appended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A quick reply's payload (its text when none is given), a coupon or a code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// The message: Meta's `components` (an array, empty when the template takes no parameter)
/// and its preview.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Composed {
    pub components: Value,
    pub preview: Preview,
}

fn kind_of(component: &Value) -> String {
    component
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_uppercase()
}

fn text_of(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// The distinct placeholders of `text`, in the order they first appear.
fn placeholders(text: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for capture in PLACEHOLDER.captures_iter(text) {
        if let Some(name) = capture.get(1).map(|m| m.as_str().to_owned())
            && !seen.contains(&name)
        {
            seen.push(name);
        }
    }
    seen
}

/// Positional parameters go in the order of their numbers.
fn ordered(mut names: Vec<String>, named: bool) -> Vec<String> {
    if !named {
        names.sort_by_key(|n| n.parse::<u64>().unwrap_or(u64::MAX));
    }
    names
}

/// `text` with each placeholder replaced by its value (left as it is without one).
fn substitute(text: &str, values: &BTreeMap<String, String>) -> String {
    PLACEHOLDER
        .replace_all(text, |c: &regex::Captures<'_>| {
            let name = c.get(1).map(|m| m.as_str()).unwrap_or_default();
            values
                .get(name)
                .cloned()
                .unwrap_or_else(|| c.get(0).map(|m| m.as_str().to_owned()).unwrap_or_default())
        })
        .into_owned()
}

/// What `template` asks for.
pub fn form(template: &Template) -> Form {
    let named = template.parameter_format.eq_ignore_ascii_case("NAMED");
    let components = template.components.as_array().cloned().unwrap_or_default();
    let mut form = Form {
        parameter_format: if named { "NAMED" } else { "POSITIONAL" }.into(),
        header: None,
        body: String::new(),
        body_parameters: Vec::new(),
        footer: None,
        buttons: Vec::new(),
    };
    for component in &components {
        match kind_of(component).as_str() {
            "HEADER" => {
                let format = text_of(component, "format")
                    .unwrap_or_else(|| "TEXT".into())
                    .to_ascii_uppercase();
                let text = text_of(component, "text");
                let parameter = text
                    .as_deref()
                    .filter(|_| format == "TEXT")
                    .and_then(|t| placeholders(t).into_iter().next());
                form.header = Some(HeaderForm {
                    format,
                    text,
                    parameter,
                });
            }
            "BODY" => {
                form.body = text_of(component, "text").unwrap_or_default();
                form.body_parameters = ordered(placeholders(&form.body), named);
            }
            "FOOTER" => form.footer = text_of(component, "text"),
            "BUTTONS" => {
                let buttons = component.get("buttons").and_then(Value::as_array);
                for (index, button) in buttons.into_iter().flatten().enumerate() {
                    let kind = kind_of(button);
                    let url = text_of(button, "url");
                    let dynamic_url = url.as_deref().is_some_and(|u| !placeholders(u).is_empty());
                    let (sub_type, required) = match kind.as_str() {
                        "URL" if dynamic_url => (Some("url"), true),
                        "QUICK_REPLY" => (Some("quick_reply"), false),
                        "COPY_CODE" => (Some("copy_code"), true),
                        // An authentication template's code button takes the code as a URL
                        // button's parameter (Meta's authentication templates).
                        "OTP" => (Some("url"), true),
                        _ => (None, false),
                    };
                    form.buttons.push(ButtonForm {
                        index: u32::try_from(index).unwrap_or(u32::MAX),
                        text: text_of(button, "text").unwrap_or_else(|| kind.clone()),
                        kind,
                        url,
                        sub_type: sub_type.map(str::to_owned),
                        required,
                    });
                }
            }
            _ => {}
        }
    }
    form
}

/// A parameter's text: not empty, no new line or tab, at most four spaces in a row (Meta
/// refuses the rest).
fn check_text(field: &str, value: &str, problems: &mut Vec<Problem>) -> bool {
    if value.trim().is_empty() {
        problems.push(problem(
            "empty_parameter",
            field,
            format!("`{field}` is empty"),
        ));
        return false;
    }
    if value.contains(['\n', '\r', '\t']) {
        problems.push(problem(
            "invalid_parameter",
            field,
            format!("`{field}` has a new line or a tab, which WhatsApp refuses in a parameter"),
        ));
        return false;
    }
    if value.contains(&" ".repeat(MAX_SPACES + 1)) {
        problems.push(problem(
            "invalid_parameter",
            field,
            format!("`{field}` has more than {MAX_SPACES} spaces in a row"),
        ));
        return false;
    }
    true
}

/// A media reference: exactly one of an http(s) link or an id; a file name only for a document.
fn check_media(field: &str, media: &MediaRef, document: bool, problems: &mut Vec<Problem>) {
    match (&media.link, &media.id) {
        (Some(link), None) => match reqwest::Url::parse(link.trim()) {
            Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => {}
            _ => problems.push(problem(
                "invalid_media",
                format!("{field}.link"),
                format!("`{field}.link` is not an http(s) URL"),
            )),
        },
        (None, Some(id)) => {
            if id.trim().is_empty()
                || id.chars().count() > MAX_LABEL
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            {
                problems.push(problem(
                    "invalid_media",
                    format!("{field}.id"),
                    format!("`{field}.id` is not a media id uploaded to Meta"),
                ));
            }
        }
        _ => problems.push(problem(
            "invalid_media",
            field,
            format!("`{field}` takes exactly one of `link` or `id`"),
        )),
    }
    match &media.filename {
        Some(_) if !document => problems.push(problem(
            "invalid_media",
            format!("{field}.filename"),
            "only a document has a file name",
        )),
        Some(name) if name.trim().is_empty() || name.chars().count() > MAX_LABEL => {
            problems.push(problem(
                "invalid_media",
                format!("{field}.filename"),
                format!("`{field}.filename` takes 1 to {MAX_LABEL} characters"),
            ))
        }
        _ => {}
    }
}

fn media_object(media: &MediaRef) -> Value {
    let mut object = serde_json::Map::new();
    if let Some(link) = &media.link {
        object.insert("link".into(), json!(link.trim()));
    }
    if let Some(id) = &media.id {
        object.insert("id".into(), json!(id.trim()));
    }
    if let Some(name) = &media.filename {
        object.insert("filename".into(), json!(name));
    }
    Value::Object(object)
}

/// A text parameter of Meta's, named when the template's parameters are.
fn text_parameter(named: bool, name: &str, value: &str) -> Value {
    if named {
        json!({"type": "text", "parameter_name": name, "text": value})
    } else {
        json!({"type": "text", "text": value})
    }
}

/// Check `input` against `template` and build the message: Meta's components and the preview;
/// or every problem found.
pub fn compose(template: &Template, input: &TemplateInput) -> Result<Composed, Vec<Problem>> {
    let form = form(template);
    let named = form.parameter_format == "NAMED";
    let mut problems = Vec::new();
    let mut components = Vec::new();

    // The header.
    let header_input = input.header.as_ref();
    let mut preview_header = None;
    match (&form.header, header_input) {
        (None, None) => {}
        (None, Some(_)) => problems.push(problem(
            "extra_parameter",
            "header",
            "this template has no header to fill",
        )),
        (Some(header), given) => {
            let given = given.cloned().unwrap_or_default();
            let kinds = [
                ("TEXT", given.text.is_some()),
                ("IMAGE", given.image.is_some()),
                ("VIDEO", given.video.is_some()),
                ("DOCUMENT", given.document.is_some()),
            ];
            let chosen: Vec<&str> = kinds.iter().filter(|k| k.1).map(|k| k.0).collect();
            match header.format.as_str() {
                "TEXT" => {
                    let text = header.text.clone().unwrap_or_default();
                    match (&header.parameter, given.text.as_deref()) {
                        _ if chosen.iter().any(|k| *k != "TEXT") => problems.push(problem(
                            "wrong_header_format",
                            "header",
                            "this template's header is a text: give `header.text`",
                        )),
                        (None, Some(_)) => problems.push(problem(
                            "extra_parameter",
                            "header.text",
                            "this template's header has no parameter",
                        )),
                        (Some(_), None) => problems.push(problem(
                            "missing_parameter",
                            "header.text",
                            format!("this template's header needs a value: {text}"),
                        )),
                        (Some(name), Some(value)) => {
                            if check_text("header.text", value, &mut problems) {
                                let values = BTreeMap::from([(name.clone(), value.to_owned())]);
                                let rendered = substitute(&text, &values);
                                if rendered.chars().count() > MAX_HEADER {
                                    problems.push(problem(
                                        "too_long",
                                        "header.text",
                                        format!(
                                            "the header is longer than {MAX_HEADER} characters \
                                             with this value"
                                        ),
                                    ));
                                }
                                components.push(json!({
                                    "type": "header",
                                    "parameters": [text_parameter(named, name, value)],
                                }));
                                preview_header = Some(PreviewHeader {
                                    format: "TEXT".into(),
                                    text: Some(rendered),
                                    media: None,
                                });
                            }
                        }
                        (None, None) => {
                            preview_header = Some(PreviewHeader {
                                format: "TEXT".into(),
                                text: Some(text),
                                media: None,
                            });
                        }
                    }
                }
                format @ ("IMAGE" | "VIDEO" | "DOCUMENT") => {
                    let lower = format.to_ascii_lowercase();
                    let media = match format {
                        "IMAGE" => given.image.as_ref(),
                        "VIDEO" => given.video.as_ref(),
                        _ => given.document.as_ref(),
                    };
                    if chosen.iter().any(|k| *k != format) {
                        problems.push(problem(
                            "wrong_header_format",
                            "header",
                            format!(
                                "this template's header is {} {lower}: give `header.{lower}`",
                                if format == "IMAGE" { "an" } else { "a" }
                            ),
                        ));
                    } else if let Some(media) = media {
                        let field = format!("header.{lower}");
                        let before = problems.len();
                        check_media(&field, media, format == "DOCUMENT", &mut problems);
                        if problems.len() == before {
                            let mut parameter = serde_json::Map::new();
                            parameter.insert("type".into(), json!(lower));
                            parameter.insert(lower.clone(), media_object(media));
                            components.push(json!({
                                "type": "header",
                                "parameters": [parameter],
                            }));
                            preview_header = Some(PreviewHeader {
                                format: format.to_owned(),
                                text: None,
                                media: Some(media.clone()),
                            });
                        }
                    } else {
                        problems.push(problem(
                            "missing_parameter",
                            format!("header.{lower}"),
                            format!(
                                "this template's header is {} {lower}: give its `link` or `id`",
                                if format == "IMAGE" { "an" } else { "a" }
                            ),
                        ));
                    }
                }
                other => problems.push(problem(
                    "unsupported_template",
                    "header",
                    format!("a {other} header cannot be sent from here"),
                )),
            }
        }
    }

    // The body.
    let mut values = BTreeMap::new();
    match (&input.body, named) {
        (None, _) => {}
        (Some(BodyInput::Positional(list)), false) => {
            for (i, value) in list.iter().enumerate() {
                values.insert((i + 1).to_string(), value.clone());
            }
        }
        (Some(BodyInput::Named(map)), true) => values = map.clone(),
        // An empty list or object is no value at all, whatever the format.
        (Some(BodyInput::Positional(list)), true) if list.is_empty() => {}
        (Some(BodyInput::Named(map)), false) if map.is_empty() => {}
        (Some(BodyInput::Positional(_)), true) => problems.push(problem(
            "wrong_parameter_format",
            "body",
            "this template's parameters are named: give `body` as an object {\"name\": \"value\"}",
        )),
        (Some(BodyInput::Named(_)), false) => problems.push(problem(
            "wrong_parameter_format",
            "body",
            "this template's parameters are positional: give `body` as a list [\"value\", ...]",
        )),
    }
    let field = |name: &str| {
        if named {
            format!("body.{name}")
        } else {
            let n = name.parse::<usize>().unwrap_or(1).saturating_sub(1);
            format!("body[{n}]")
        }
    };
    let mut parameters = Vec::new();
    for name in &form.body_parameters {
        match values.get(name) {
            None => problems.push(problem(
                "missing_parameter",
                field(name),
                format!("the body's parameter {{{{{name}}}}} has no value"),
            )),
            Some(value) => {
                if check_text(&field(name), value, &mut problems) {
                    parameters.push(text_parameter(named, name, value));
                }
            }
        }
    }
    for name in values.keys() {
        if !form.body_parameters.contains(name) {
            problems.push(problem(
                "extra_parameter",
                field(name),
                if named {
                    format!("the body has no parameter {{{{{name}}}}}")
                } else {
                    format!(
                        "the body takes {} value(s), not more",
                        form.body_parameters.len()
                    )
                },
            ));
        }
    }
    let body = substitute(&form.body, &values);
    if body.chars().count() > MAX_BODY {
        problems.push(problem(
            "too_long",
            "body",
            format!("the body is longer than {MAX_BODY} characters with these values"),
        ));
    }
    if !parameters.is_empty() {
        components.push(json!({"type": "body", "parameters": parameters}));
    }

    // The buttons.
    let mut given: BTreeMap<u32, &ButtonInput> = BTreeMap::new();
    for (i, button) in input.buttons.iter().enumerate() {
        if given.insert(button.index, button).is_some() {
            problems.push(problem(
                "duplicate_button",
                format!("buttons[{i}]"),
                format!("button {} is given twice", button.index),
            ));
        }
    }
    for index in given.keys() {
        if !form.buttons.iter().any(|b| b.index == *index) {
            problems.push(problem(
                "unknown_button",
                format!("buttons[{index}]"),
                format!(
                    "this template has {} button(s): no button {index}",
                    form.buttons.len()
                ),
            ));
        }
    }
    let mut preview_buttons = Vec::new();
    for button in &form.buttons {
        let field = format!("buttons[{}]", button.index);
        let value = given.get(&button.index);
        let mut preview = PreviewButton {
            kind: button.kind.clone(),
            text: button.text.clone(),
            url: button.url.clone(),
            value: None,
        };
        match (&button.sub_type, value) {
            (None, None) => {}
            (None, Some(_)) => problems.push(problem(
                "extra_parameter",
                field,
                format!("button {} ({}) takes no value", button.index, button.kind),
            )),
            (Some(_), None) if button.required => problems.push(problem(
                "missing_parameter",
                field,
                format!(
                    "button {} ({}) needs a value: {}",
                    button.index,
                    button.kind,
                    button.url.as_deref().unwrap_or(&button.text)
                ),
            )),
            (Some(_), None) => preview.value = Some(button.text.clone()),
            (Some(sub_type), Some(input)) => {
                if !input.sub_type.eq_ignore_ascii_case(sub_type) {
                    problems.push(problem(
                        "wrong_button_type",
                        format!("{field}.sub_type"),
                        format!(
                            "button {} ({}) takes a `{sub_type}` value, not `{}`",
                            button.index, button.kind, input.sub_type
                        ),
                    ));
                } else if let Some(parameter) =
                    button_parameter(button, sub_type, &input.value, &field, &mut problems)
                {
                    if let Some(url) = &button.url {
                        preview.url = Some(substitute(
                            url,
                            &placeholders(url)
                                .into_iter()
                                .map(|p| (p, input.value.clone()))
                                .collect(),
                        ));
                    }
                    preview.value = Some(input.value.clone());
                    components.push(json!({
                        "type": "button",
                        "sub_type": sub_type,
                        "index": button.index.to_string(),
                        "parameters": [parameter],
                    }));
                }
            }
        }
        preview_buttons.push(preview);
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Composed {
        components: Value::Array(components),
        preview: Preview {
            header: preview_header,
            body,
            footer: form.footer,
            buttons: preview_buttons,
        },
    })
}

/// A button's parameter, checked: a URL's suffix, a payload, a coupon or a code.
fn button_parameter(
    button: &ButtonForm,
    sub_type: &str,
    value: &str,
    field: &str,
    problems: &mut Vec<Problem>,
) -> Option<Value> {
    let field = format!("{field}.value");
    if value.trim().is_empty() {
        problems.push(problem(
            "empty_parameter",
            &field,
            format!("`{field}` is empty"),
        ));
        return None;
    }
    let too_long = |max: usize, problems: &mut Vec<Problem>| {
        problems.push(problem(
            "too_long",
            &field,
            format!("`{field}` is longer than {max} characters"),
        ));
        None
    };
    match sub_type {
        "quick_reply" => {
            if value.chars().count() > MAX_PAYLOAD {
                return too_long(MAX_PAYLOAD, problems);
            }
            Some(json!({"type": "payload", "payload": value}))
        }
        "copy_code" => {
            if value.chars().count() > MAX_CODE {
                return too_long(MAX_CODE, problems);
            }
            Some(json!({"type": "coupon_code", "coupon_code": value}))
        }
        _ if button.kind == "OTP" => {
            if value.chars().count() > MAX_CODE {
                return too_long(MAX_CODE, problems);
            }
            Some(json!({"type": "text", "text": value}))
        }
        _ => {
            if value.chars().any(char::is_whitespace) {
                problems.push(problem(
                    "invalid_parameter",
                    &field,
                    format!("`{field}` is the end of a URL: no spaces"),
                ));
                return None;
            }
            let prefix = button.url.as_deref().unwrap_or_default();
            if prefix.chars().count() + value.chars().count() > MAX_URL {
                return too_long(MAX_URL, problems);
            }
            Some(json!({"type": "text", "text": value}))
        }
    }
}

/// How many parameters a sent message's `components` give, per component: `header`, `body`
/// and `button:{index}`.
fn sent_counts(components: &Value) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for component in components.as_array().into_iter().flatten() {
        let kind = kind_of(component).to_ascii_lowercase();
        let key = if kind == "button" {
            let index = match component.get("index") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            format!("button:{index}")
        } else {
            kind
        };
        let n = component
            .get("parameters")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        *counts.entry(key).or_insert(0) += n;
    }
    counts
}

/// Meta's check of a sent template's parameters (error 132000, "Number of parameters does not
/// match the expected number of params"): the header, the body and each button that takes a
/// value must get exactly as many as the template has (a quick reply's payload may be left
/// out). None when they match; else what differs.
pub fn sent_mismatch(template: &Template, components: &Value) -> Option<String> {
    let form = form(template);
    let sent = sent_counts(components);
    let got = |key: &str| sent.get(key).copied().unwrap_or(0);
    let header_expected = match &form.header {
        Some(h) if h.format == "TEXT" => usize::from(h.parameter.is_some()),
        Some(_) => 1,
        None => 0,
    };
    let mut differences = Vec::new();
    if got("header") != header_expected {
        differences.push(format!(
            "header: expected {header_expected}, got {}",
            got("header")
        ));
    }
    if got("body") != form.body_parameters.len() {
        differences.push(format!(
            "body: expected {}, got {}",
            form.body_parameters.len(),
            got("body")
        ));
    }
    for button in &form.buttons {
        let key = format!("button:{}", button.index);
        let n = got(&key);
        let ok = match (&button.sub_type, button.required) {
            (None, _) => n == 0,
            (Some(_), true) => n == 1,
            (Some(_), false) => n <= 1,
        };
        if !ok {
            differences.push(format!("button {}: got {n}", button.index));
        }
    }
    for key in sent.keys() {
        if let Some(index) = key.strip_prefix("button:")
            && !form.buttons.iter().any(|b| b.index.to_string() == index)
        {
            differences.push(format!("no button {index}"));
        }
        if !matches!(key.as_str(), "header" | "body") && !key.starts_with("button:") {
            differences.push(format!("no component {key}"));
        }
    }
    (!differences.is_empty()).then(|| differences.join("; "))
}

#[cfg(test)]
mod tests;
