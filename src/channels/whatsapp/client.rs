//! The WhatsApp Cloud API send client: `POST {base}/{version}/{phone_number_id}/messages`.
//!
//! Turns [`SendRequest`]s into Meta's JSON bodies (text, media, interactive buttons and lists,
//! templates, read receipts), and Graph answers into [`SendAccepted`] or a classified
//! [`SendError`]. Interactive texts are truncated to Meta's limits on `char` boundaries.

use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::channels::{ChannelClient, RetryClass, SendAccepted, SendError, SendRequest};
use crate::config::{ChannelSettings, WhatsappSettings};
use crate::domain::{
    ChannelKind, CustomerId, ListSection, MediaKind, MediaSource, OutboundContent,
    ProviderMessageId, ReplyButton,
};

/// Meta's limits for interactive messages (characters).
const BODY_MAX: usize = 1024;
const HEADER_MAX: usize = 60;
const FOOTER_MAX: usize = 60;
const BUTTONS_MAX: usize = 3;
const BUTTON_TITLE_MAX: usize = 20;
const BUTTON_ID_MAX: usize = 256;
const LIST_BUTTON_MAX: usize = 20;
const SECTIONS_MAX: usize = 10;
const ROWS_MAX: usize = 10;
const SECTION_TITLE_MAX: usize = 24;
const ROW_TITLE_MAX: usize = 24;
const ROW_ID_MAX: usize = 200;
const ROW_DESCRIPTION_MAX: usize = 72;
/// Longest error-body excerpt kept in an error message.
const EXCERPT_MAX: usize = 300;

/// Sends through one WhatsApp phone number.
pub struct WhatsappClient {
    http: reqwest::Client,
    url: String,
    /// Meta's Marketing Messages API endpoint (`/{phone-number-id}/marketing_messages`): the
    /// same template payload, for marketing templates sent with `marketing_api`.
    marketing_url: String,
    token: SecretString,
    timeout: Duration,
}

impl WhatsappClient {
    /// A client for `channel`'s number; the channel's token overrides `settings.access_token`.
    pub fn new(
        http: reqwest::Client,
        settings: &WhatsappSettings,
        channel: &ChannelSettings,
    ) -> Self {
        let number = format!(
            "{}/{}/{}",
            settings.api_base_url.trim_end_matches('/'),
            settings.api_version.trim_matches('/'),
            channel.phone_number_id
        );
        let url = format!("{number}/messages");
        let marketing_url = format!("{number}/marketing_messages");
        let token = channel
            .access_token
            .clone()
            .unwrap_or_else(|| settings.access_token.clone());
        Self {
            http,
            url,
            marketing_url,
            token,
            timeout: Duration::from_millis(settings.request_timeout_ms.max(1)),
        }
    }

    /// The messages endpoint this client posts to.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn post(&self, request: &SendRequest) -> Result<SendAccepted, SendError> {
        let body = request_body(request);
        let marketing = matches!(
            request,
            SendRequest::Message {
                content: OutboundContent::Template {
                    marketing_api: true,
                    ..
                },
                ..
            }
        );
        let url = if marketing {
            &self.marketing_url
        } else {
            &self.url
        };
        let response = self
            .http
            .post(url)
            .bearer_auth(self.token.expose_secret())
            .timeout(self.timeout)
            .json(&body)
            .send()
            .await
            .map_err(map_reqwest_error)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(map_reqwest_error)?;
        if (200..300).contains(&status) {
            Ok(parse_success(&bytes))
        } else {
            Err(parse_error(status, &bytes))
        }
    }
}

impl ChannelClient for WhatsappClient {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Whatsapp
    }

    fn send<'a>(
        &'a self,
        request: &'a SendRequest,
    ) -> BoxFuture<'a, Result<SendAccepted, SendError>> {
        self.post(request).boxed()
    }
}

pub(crate) fn map_reqwest_error(err: reqwest::Error) -> SendError {
    if err.is_timeout() {
        SendError::Timeout
    } else if err.is_connect() {
        SendError::Transport(format!("connect: {err}"))
    } else {
        SendError::Transport(err.to_string())
    }
}

/// How a Graph error code (and the HTTP status it came with) should be handled.
///
/// Keyed on the code first (Meta's advice); the HTTP status only decides for codes not listed:
/// 5xx is transient, anything else permanent.
pub fn classify(code: i64, http_status: u16) -> RetryClass {
    match code {
        130429 => RetryClass::Throughput,
        131056 => RetryClass::PairRate,
        // Unknown error, maintenance / throughput upgrade, service temporarily unavailable,
        // API unknown / service, app and WABA rate limits.
        131000 | 131057 | 131016 | 133004 | 1 | 2 | 4 | 17 | 32 | 613 | 80007 => {
            RetryClass::Transient
        }
        // Auth, permissions, parameters, recipient, policy and template errors.
        0
        | 3
        | 10
        | 100
        | 190
        | 200..=299
        | 368
        | 130472
        | 130497
        | 131005
        | 131008
        | 131009
        | 131021
        | 131026
        | 131030
        | 131031
        | 131037
        | 131042
        | 131045
        | 131047
        | 131048
        | 131049
        | 131050
        | 131051
        | 131052
        | 131053
        | 131064
        | 132000..=132999
        | 133000
        | 133005..=133016 => RetryClass::Permanent,
        _ if http_status >= 500 => RetryClass::Transient,
        _ => RetryClass::Permanent,
    }
}

#[derive(Deserialize)]
struct SuccessBody {
    #[serde(default)]
    messages: Vec<SuccessMessage>,
}

#[derive(Deserialize)]
struct SuccessMessage {
    id: String,
}

/// A 2xx answer: the message id when there is one. An unreadable 2xx body still counts as
/// accepted (retrying would send the message twice).
fn parse_success(bytes: &[u8]) -> SendAccepted {
    let provider_id = match serde_json::from_slice::<SuccessBody>(bytes) {
        Ok(body) => body
            .messages
            .into_iter()
            .next()
            .map(|m| ProviderMessageId::new(m.id)),
        Err(err) => {
            tracing::warn!(error = %err, "whatsapp: unreadable success body");
            None
        }
    };
    SendAccepted { provider_id }
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    #[serde(default)]
    message: String,
    code: i64,
    #[serde(default)]
    error_data: Option<ErrorData>,
    #[serde(default)]
    is_transient: Option<bool>,
    #[serde(default)]
    fbtrace_id: Option<String>,
}

#[derive(Deserialize)]
struct ErrorData {
    #[serde(default)]
    details: Option<String>,
}

/// A non-2xx answer. A Graph envelope becomes [`SendError::Provider`] classified by
/// [`classify`] (a permanent class is relaxed to transient when Meta flags `is_transient`).
/// Without an envelope: 408, 429 and 5xx are transport failures (retried); other statuses are
/// permanent provider errors whose `code` is the HTTP status.
pub(crate) fn parse_error(http_status: u16, bytes: &[u8]) -> SendError {
    match serde_json::from_slice::<ErrorEnvelope>(bytes) {
        Ok(ErrorEnvelope { error }) => {
            let mut class = classify(error.code, http_status);
            if class == RetryClass::Permanent && error.is_transient == Some(true) {
                class = RetryClass::Transient;
            }
            let mut message = error.message;
            if let Some(details) = error.error_data.and_then(|d| d.details)
                && !details.is_empty()
            {
                message = format!("{message}: {details}");
            }
            if let Some(trace) = error.fbtrace_id {
                tracing::debug!(code = error.code, fbtrace_id = %trace, "whatsapp: graph error");
            }
            SendError::Provider {
                code: error.code,
                http_status,
                message,
                class,
            }
        }
        Err(_) => {
            let excerpt = truncate(&String::from_utf8_lossy(bytes), EXCERPT_MAX);
            if http_status == 408 || http_status == 429 || http_status >= 500 {
                SendError::Transport(format!("HTTP {http_status}: {excerpt}"))
            } else {
                SendError::Provider {
                    code: i64::from(http_status),
                    http_status,
                    message: format!("HTTP {http_status} without a Graph error body: {excerpt}"),
                    class: RetryClass::Permanent,
                }
            }
        }
    }
}

/// At most `max` characters of `s`, cut on a `char` boundary.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((index, _)) => s[..index].to_string(),
        None => s.to_string(),
    }
}

/// The JSON body for a send request.
pub fn request_body(request: &SendRequest) -> Value {
    match request {
        SendRequest::Message {
            to,
            content,
            reply_to,
            callback_data,
        } => message_body(to, content, reply_to.as_ref(), callback_data.as_deref()),
        SendRequest::MarkRead {
            message_id,
            typing_indicator,
            ..
        } => mark_read_body(message_id, *typing_indicator),
    }
}

/// `{"messaging_product":"whatsapp","status":"read","message_id":…}`, with
/// `typing_indicator: {type: "text"}` when asked.
pub fn mark_read_body(message_id: &ProviderMessageId, typing_indicator: bool) -> Value {
    let mut body = json!({
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": message_id.as_str(),
    });
    if typing_indicator {
        body["typing_indicator"] = json!({ "type": "text" });
    }
    body
}

/// Where a send names its customer: a phone number (`wa_id`, digits) goes in `to`; a customer
/// known only by their business-scoped user id (BSUID, `US.13491208655302741918`: a country
/// code, a period, letters and digits), whose number Meta withholds, goes in `recipient`.
pub fn recipient_field(to: &CustomerId) -> &'static str {
    let id = to.as_str().trim_start_matches('+');
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        "to"
    } else {
        "recipient"
    }
}

/// The body of a message send: the common envelope plus the type's object.
pub fn message_body(
    to: &CustomerId,
    content: &OutboundContent,
    reply_to: Option<&ProviderMessageId>,
    callback_data: Option<&str>,
) -> Value {
    let (kind, object) = content_object(content);
    let mut body = Map::new();
    body.insert("messaging_product".into(), json!("whatsapp"));
    body.insert("recipient_type".into(), json!("individual"));
    body.insert(recipient_field(to).into(), json!(to.as_str()));
    body.insert("type".into(), json!(kind));
    body.insert(kind.into(), object);
    if let Some(id) = reply_to {
        body.insert("context".into(), json!({ "message_id": id.as_str() }));
    }
    if let Some(data) = callback_data {
        body.insert("biz_opaque_callback_data".into(), json!(data));
    }
    Value::Object(body)
}

/// The message `type` and its object. Interactive messages without any button or row are
/// sent as plain text (Meta would reject them).
fn content_object(content: &OutboundContent) -> (&'static str, Value) {
    match content {
        OutboundContent::Text { body, preview_url } => {
            ("text", json!({ "body": body, "preview_url": preview_url }))
        }
        OutboundContent::Media {
            kind,
            source,
            caption,
            filename,
        } => media_object(*kind, source, caption.as_deref(), filename.as_deref()),
        OutboundContent::Buttons {
            body,
            header,
            footer,
            buttons,
        } => match buttons_object(body, header.as_deref(), footer.as_deref(), buttons) {
            Some(object) => ("interactive", object),
            None => text_fallback(body),
        },
        OutboundContent::List {
            body,
            header,
            footer,
            button,
            sections,
        } => match list_object(body, header.as_deref(), footer.as_deref(), button, sections) {
            Some(object) => ("interactive", object),
            None => text_fallback(body),
        },
        OutboundContent::Template {
            name,
            language,
            components,
            ..
        } => {
            let mut object = json!({ "name": name, "language": { "code": language } });
            let has_components = match components {
                Value::Null => false,
                Value::Array(items) => !items.is_empty(),
                _ => true,
            };
            if has_components {
                object["components"] = components.clone();
            }
            ("template", object)
        }
    }
}

fn text_fallback(body: &str) -> (&'static str, Value) {
    ("text", json!({ "body": body, "preview_url": false }))
}

/// `{id|link, caption?, filename?}` under the media kind: captions for image, video and
/// document only, filenames for documents only (Meta rejects them elsewhere).
fn media_object(
    kind: MediaKind,
    source: &MediaSource,
    caption: Option<&str>,
    filename: Option<&str>,
) -> (&'static str, Value) {
    let mut object = Map::new();
    match source {
        // Never made for WhatsApp (its files are uploaded to Meta first and sent by id): Meta
        // refuses an id it does not know, permanently.
        MediaSource::Id(id) | MediaSource::Stored(id) => object.insert("id".into(), json!(id)),
        MediaSource::Link(link) => object.insert("link".into(), json!(link)),
    };
    let takes_caption = matches!(
        kind,
        MediaKind::Image | MediaKind::Video | MediaKind::Document
    );
    if let Some(caption) = caption.filter(|_| takes_caption) {
        object.insert("caption".into(), json!(caption));
    }
    if let Some(filename) = filename.filter(|_| kind == MediaKind::Document) {
        object.insert("filename".into(), json!(filename));
    }
    (kind.as_str(), Value::Object(object))
}

/// `header`/`footer`/`body` of an interactive object, truncated to Meta's limits.
fn interactive_frame(
    kind: &str,
    body: &str,
    header: Option<&str>,
    footer: Option<&str>,
) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("type".into(), json!(kind));
    if let Some(header) = header.filter(|h| !h.is_empty()) {
        object.insert(
            "header".into(),
            json!({ "type": "text", "text": truncate(header, HEADER_MAX) }),
        );
    }
    object.insert("body".into(), json!({ "text": truncate(body, BODY_MAX) }));
    if let Some(footer) = footer.filter(|f| !f.is_empty()) {
        object.insert(
            "footer".into(),
            json!({ "text": truncate(footer, FOOTER_MAX) }),
        );
    }
    object
}

/// Reply buttons: the first three, titles ≤20 and ids ≤256 characters. None without buttons.
fn buttons_object(
    body: &str,
    header: Option<&str>,
    footer: Option<&str>,
    buttons: &[ReplyButton],
) -> Option<Value> {
    if buttons.is_empty() {
        return None;
    }
    let buttons: Vec<Value> = buttons
        .iter()
        .take(BUTTONS_MAX)
        .map(|b| {
            json!({
                "type": "reply",
                "reply": {
                    "id": truncate(&b.id, BUTTON_ID_MAX),
                    "title": truncate(&b.title, BUTTON_TITLE_MAX),
                },
            })
        })
        .collect();
    let mut object = interactive_frame("button", body, header, footer);
    object.insert("action".into(), json!({ "buttons": buttons }));
    Some(Value::Object(object))
}

/// A list: button text ≤20, at most 10 sections and 10 rows in all (Meta counts rows across
/// sections), titles ≤24, row ids ≤200, descriptions ≤72. None without any row.
fn list_object(
    body: &str,
    header: Option<&str>,
    footer: Option<&str>,
    button: &str,
    sections: &[ListSection],
) -> Option<Value> {
    let mut rows_left = ROWS_MAX;
    let mut out = Vec::new();
    for section in sections.iter().take(SECTIONS_MAX) {
        let rows: Vec<Value> = section
            .rows
            .iter()
            .take(rows_left)
            .map(|row| {
                let mut r = json!({
                    "id": truncate(&row.id, ROW_ID_MAX),
                    "title": truncate(&row.title, ROW_TITLE_MAX),
                });
                if let Some(description) = row.description.as_deref().filter(|d| !d.is_empty()) {
                    r["description"] = json!(truncate(description, ROW_DESCRIPTION_MAX));
                }
                r
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        rows_left -= rows.len();
        let mut s = json!({ "rows": rows });
        if let Some(title) = section.title.as_deref().filter(|t| !t.is_empty()) {
            s["title"] = json!(truncate(title, SECTION_TITLE_MAX));
        }
        out.push(s);
    }
    if out.is_empty() {
        return None;
    }
    let mut object = interactive_frame("list", body, header, footer);
    object.insert(
        "action".into(),
        json!({ "button": truncate(button, LIST_BUTTON_MAX), "sections": out }),
    );
    Some(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ListRow;
    use crate::fakes::graph::FakeGraph;

    fn to() -> CustomerId {
        CustomerId::new("16505551234")
    }

    fn message(content: OutboundContent) -> Value {
        message_body(&to(), &content, None, None)
    }

    fn settings(base: &str, timeout_ms: u64) -> WhatsappSettings {
        WhatsappSettings {
            app_secret: SecretString::from("secret"),
            verify_token: SecretString::from("verify"),
            api_base_url: base.to_string(),
            api_version: "v23.0".into(),
            access_token: SecretString::from("global-token"),
            request_timeout_ms: timeout_ms,
            mark_as_read: true,
        }
    }

    fn channel(token: Option<&str>) -> ChannelSettings {
        ChannelSettings {
            kind: ChannelKind::Whatsapp,
            phone_number_id: "106540352242922".into(),
            display_phone_number: None,
            bot: "default".into(),
            access_token: token.map(SecretString::from),
            waba_id: None,
            messages_per_second: None,
            telegram: None,
            messenger: None,
            instagram: None,
            x: None,
            webchat: None,
        }
    }

    fn text_request(body: &str) -> SendRequest {
        SendRequest::Message {
            to: to(),
            content: OutboundContent::Text {
                body: body.into(),
                preview_url: false,
            },
            reply_to: None,
            callback_data: None,
        }
    }

    #[test]
    fn text_matches_meta_example_with_context_and_callback() {
        let content = OutboundContent::Text {
            body: "<TEXT_MSG_CONTENT>".into(),
            preview_url: false,
        };
        let reply_to = ProviderMessageId::new("<MSGID_OF_PREV_MSG>");
        let body = message_body(&to(), &content, Some(&reply_to), None);
        // OAPI "Send Reply to Text Message".
        assert_eq!(
            body,
            json!({
                "context": { "message_id": "<MSGID_OF_PREV_MSG>" },
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "text": { "body": "<TEXT_MSG_CONTENT>", "preview_url": false },
                "to": "16505551234",
                "type": "text"
            })
        );
        let body = message_body(&to(), &content, None, Some("0fS5cePMok"));
        assert_eq!(body["biz_opaque_callback_data"], "0fS5cePMok");
        assert!(body.get("context").is_none());
    }

    #[test]
    fn media_by_id_and_link_match_meta_examples() {
        // OAPI "Send Document Message by ID".
        let body = message(OutboundContent::Media {
            kind: MediaKind::Document,
            source: MediaSource::Id("<DOCUMENT_OBJECT_ID>".into()),
            caption: Some("<DOCUMENT_CAPTION_TO_SEND>".into()),
            filename: Some("<DOCUMENT_FILENAME>".into()),
        });
        assert_eq!(
            body,
            json!({
                "document": {
                    "caption": "<DOCUMENT_CAPTION_TO_SEND>",
                    "filename": "<DOCUMENT_FILENAME>",
                    "id": "<DOCUMENT_OBJECT_ID>"
                },
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "16505551234",
                "type": "document"
            })
        );
        // OAPI "Send Video Message by URL".
        let body = message(OutboundContent::Media {
            kind: MediaKind::Video,
            source: MediaSource::Link("<http(s)://video-url>".into()),
            caption: Some("<VIDEO_CAPTION_TEXT>".into()),
            filename: Some("ignored.mp4".into()),
        });
        assert_eq!(
            body,
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "16505551234",
                "type": "video",
                "video": { "caption": "<VIDEO_CAPTION_TEXT>", "link": "<http(s)://video-url>" }
            })
        );
        // Audio takes neither caption nor filename.
        let body = message(OutboundContent::Media {
            kind: MediaKind::Audio,
            source: MediaSource::Id("<AUDIO_OBJECT_ID>".into()),
            caption: Some("no".into()),
            filename: Some("no".into()),
        });
        assert_eq!(body["audio"], json!({ "id": "<AUDIO_OBJECT_ID>" }));
    }

    #[test]
    fn reply_buttons_match_meta_example() {
        let body = message(OutboundContent::Buttons {
            body: "<BUTTON_TEXT>".into(),
            header: None,
            footer: None,
            buttons: vec![
                ReplyButton {
                    id: "<UNIQUE_BUTTON_ID_1>".into(),
                    title: "<BUTTON_TITLE_1>".into(),
                },
                ReplyButton {
                    id: "<UNIQUE_BUTTON_ID_2>".into(),
                    title: "<BUTTON_TITLE_2>".into(),
                },
            ],
        });
        // OAPI "Send Reply Button".
        assert_eq!(
            body,
            json!({
                "interactive": {
                    "action": {
                        "buttons": [
                            { "reply": { "id": "<UNIQUE_BUTTON_ID_1>", "title": "<BUTTON_TITLE_1>" }, "type": "reply" },
                            { "reply": { "id": "<UNIQUE_BUTTON_ID_2>", "title": "<BUTTON_TITLE_2>" }, "type": "reply" }
                        ]
                    },
                    "body": { "text": "<BUTTON_TEXT>" },
                    "type": "button"
                },
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "16505551234",
                "type": "interactive"
            })
        );
    }

    #[test]
    fn buttons_are_capped_and_truncated_on_char_boundaries() {
        let long = "é".repeat(30) + "🙂";
        let body = message(OutboundContent::Buttons {
            body: "ü".repeat(2000),
            header: Some("h".repeat(100)),
            footer: Some("f".repeat(100)),
            buttons: (0..5)
                .map(|i| ReplyButton {
                    id: format!("b{i}"),
                    title: long.clone(),
                })
                .collect(),
        });
        let i = &body["interactive"];
        let buttons = i["action"]["buttons"].as_array().expect("buttons");
        assert_eq!(buttons.len(), 3);
        assert_eq!(buttons[0]["reply"]["title"], "é".repeat(20));
        assert_eq!(
            i["body"]["text"].as_str().map(|t| t.chars().count()),
            Some(1024)
        );
        assert_eq!(
            i["header"],
            json!({ "type": "text", "text": "h".repeat(60) })
        );
        assert_eq!(i["footer"]["text"].as_str().map(str::len), Some(60));
        assert_eq!(truncate("🙂🙂🙂", 2), "🙂🙂");
        assert_eq!(truncate("ab", 5), "ab");
        assert_eq!(truncate("", 0), "");
        // No buttons at all: plain text instead of a message Meta would reject.
        let body = message(OutboundContent::Buttons {
            body: "pick".into(),
            header: None,
            footer: None,
            buttons: vec![],
        });
        assert_eq!(body["type"], "text");
        assert_eq!(body["text"]["body"], "pick");
    }

    #[test]
    fn list_matches_meta_example() {
        let section = |n: u8| ListSection {
            title: Some(format!("<LIST_SECTION_{n}_TITLE>")),
            rows: (1..=2)
                .map(|r| ListRow {
                    id: format!("<LIST_SECTION_{n}_ROW_{r}_ID>"),
                    title: format!("<SECTION_{n}_ROW_{r}_TITLE>"),
                    description: Some(format!("<SECTION_{n}_ROW_{r}_DESC>")),
                })
                .collect(),
        };
        let body = message(OutboundContent::List {
            body: "<BODY_TEXT>".into(),
            header: Some("<HEADER_TEXT>".into()),
            footer: Some("<FOOTER_TEXT>".into()),
            button: "<BUTTON_TEXT>".into(),
            sections: vec![section(1), section(2)],
        });
        // OAPI "Send List Message" (its row titles exceed 24 characters: truncated here).
        let row = |n: u8, r: u8| {
            json!({
                "description": format!("<SECTION_{n}_ROW_{r}_DESC>"),
                "id": format!("<LIST_SECTION_{n}_ROW_{r}_ID>"),
                "title": truncate(&format!("<SECTION_{n}_ROW_{r}_TITLE>"), 24),
            })
        };
        assert_eq!(
            body,
            json!({
                "interactive": {
                    "action": {
                        "button": "<BUTTON_TEXT>",
                        "sections": [
                            { "rows": [row(1, 1), row(1, 2)], "title": "<LIST_SECTION_1_TITLE>" },
                            { "rows": [row(2, 1), row(2, 2)], "title": "<LIST_SECTION_2_TITLE>" }
                        ]
                    },
                    "body": { "text": "<BODY_TEXT>" },
                    "footer": { "text": "<FOOTER_TEXT>" },
                    "header": { "text": "<HEADER_TEXT>", "type": "text" },
                    "type": "list"
                },
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "16505551234",
                "type": "interactive"
            })
        );
    }

    #[test]
    fn list_limits_sections_and_rows() {
        let sections: Vec<ListSection> = (0..12)
            .map(|s| ListSection {
                title: Some("Ç".repeat(40)),
                rows: (0..12)
                    .map(|r| ListRow {
                        id: format!("{s}-{r}"),
                        title: "Ж".repeat(40),
                        description: None,
                    })
                    .collect(),
            })
            .collect();
        let body = message(OutboundContent::List {
            body: "b".into(),
            header: None,
            footer: None,
            button: "B".repeat(30),
            sections,
        });
        let action = &body["interactive"]["action"];
        assert_eq!(action["button"], "B".repeat(20));
        let sections = action["sections"].as_array().expect("sections");
        assert!(sections.len() <= 10);
        let rows: usize = sections
            .iter()
            .map(|s| s["rows"].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(rows, 10);
        assert_eq!(sections[0]["title"], "Ç".repeat(24));
        assert_eq!(sections[0]["rows"][0]["title"], "Ж".repeat(24));
    }

    #[test]
    fn a_customer_known_only_by_bsuid_is_the_recipient() {
        let text = OutboundContent::Text {
            body: "hi".into(),
            preview_url: false,
        };
        let bsuid = CustomerId::new("US.13491208655302741918");
        let body = message_body(&bsuid, &text, None, None);
        assert_eq!(body["recipient"], "US.13491208655302741918");
        assert!(body.get("to").is_none(), "{body}");
        for number in ["16505551234", "+16505551234"] {
            let body = message_body(&CustomerId::new(number), &text, None, None);
            assert_eq!(body["to"], number);
            assert!(body.get("recipient").is_none(), "{body}");
        }
        assert_eq!(recipient_field(&CustomerId::new("")), "recipient");
    }

    #[test]
    fn template_matches_meta_example() {
        // OAPI "Send Test Message".
        let body = message(OutboundContent::Template {
            name: "hello_world".into(),
            language: "en_US".into(),
            components: Value::Null,
            marketing_api: false,
            campaign: None,
        });
        assert_eq!(
            body,
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "template": { "language": { "code": "en_US" }, "name": "hello_world" },
                "to": "16505551234",
                "type": "template"
            })
        );
        let components =
            json!([{ "type": "body", "parameters": [{ "type": "text", "text": "text-string" }] }]);
        let body = message(OutboundContent::Template {
            name: "template-name".into(),
            language: "language-and-locale-code".into(),
            components: components.clone(),
            marketing_api: true,
            campaign: None,
        });
        // The Marketing Messages API takes the same payload (only the endpoint differs).
        assert_eq!(body["template"]["components"], components);
        assert_eq!(body.get("marketing_api"), None);
    }

    #[test]
    fn mark_read_matches_meta_example() {
        let id = ProviderMessageId::new(
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUYzMjEzNDM2RTZGQ0MzMDJBRgA=",
        );
        // OAPI "Send typing indicator and read receipt".
        assert_eq!(
            mark_read_body(&id, true),
            json!({
                "message_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUYzMjEzNDM2RTZGQ0MzMDJBRgA=",
                "messaging_product": "whatsapp",
                "status": "read",
                "typing_indicator": { "type": "text" }
            })
        );
        assert!(mark_read_body(&id, false).get("typing_indicator").is_none());
    }

    #[test]
    fn classify_follows_the_error_table() {
        use RetryClass::*;
        assert_eq!(classify(130429, 400), Throughput);
        assert_eq!(classify(130429, 429), Throughput);
        assert_eq!(classify(131056, 400), PairRate);
        // 131049 (healthy ecosystem) and 131050 (stopped marketing) are never retried at once:
        // 131049 goes to the retry lane (hours later), 131050 never again.
        assert_eq!(classify(131049, 400), Permanent);
        assert_eq!(classify(131050, 400), Permanent);
        for code in [131000, 131057, 2, 1, 4, 80007] {
            assert_eq!(classify(code, 400), Transient, "{code}");
            assert_eq!(classify(code, 500), Transient, "{code}");
        }
        for code in [
            131026, 131047, 131050, 131051, 131008, 131009, 100, 190, 10, 200, 250, 299, 132000,
            132001, 132015, 368, 131048, 131049,
        ] {
            assert_eq!(classify(code, 400), Permanent, "{code}");
            // A known permanent code stays permanent even with a 5xx.
            assert_eq!(classify(code, 500), Permanent, "{code}");
        }
        assert_eq!(classify(987654, 500), Transient);
        assert_eq!(classify(987654, 503), Transient);
        assert_eq!(classify(987654, 400), Permanent);
        assert_eq!(classify(987654, 404), Permanent);
    }

    #[test]
    fn error_envelopes_parse() {
        let err = parse_error(
            400,
            br#"{"error":{"message":"(#131026) Message Undeliverable","type":"OAuthException","code":131026,
                "error_data":{"messaging_product":"whatsapp","details":"not on WhatsApp"},"fbtrace_id":"Az8"}}"#,
        );
        assert_eq!(
            err,
            SendError::Provider {
                code: 131026,
                http_status: 400,
                message: "(#131026) Message Undeliverable: not on WhatsApp".into(),
                class: RetryClass::Permanent,
            }
        );
        let err = parse_error(
            400,
            br#"{"error":{"message":"x","type":"T","code":987,"is_transient":true}}"#,
        );
        assert_eq!(err.class(), RetryClass::Transient);
        assert_eq!(err.code(), Some(987));
        let err = parse_error(502, b"<html>Bad gateway</html>");
        assert!(matches!(err, SendError::Transport(_)), "{err:?}");
        assert_eq!(err.class(), RetryClass::Transient);
        let err = parse_error(404, b"not found");
        assert_eq!(err.class(), RetryClass::Permanent);
        assert_eq!(err.code(), Some(404));
        assert_eq!(
            parse_success(br#"{"messaging_product":"whatsapp","contacts":[{"input":"1","wa_id":"1"}],"messages":[{"id":"wamid.A","message_status":"accepted"}]}"#),
            SendAccepted { provider_id: Some(ProviderMessageId::new("wamid.A")) }
        );
        assert_eq!(
            parse_success(br#"{"success":true}"#),
            SendAccepted { provider_id: None }
        );
        assert_eq!(
            parse_success(b"garbage"),
            SendAccepted { provider_id: None }
        );
    }

    #[actix_web::test]
    async fn sends_over_http_with_the_channel_token() {
        let fake = FakeGraph::start();
        let client = WhatsappClient::new(
            reqwest::Client::new(),
            &settings(&format!("{}/", fake.base_url()), 2000),
            &channel(Some("channel-token")),
        );
        assert_eq!(
            client.url(),
            format!("{}/v23.0/106540352242922/messages", fake.base_url())
        );
        let accepted = client.send(&text_request("hello")).await.expect("accepted");
        assert!(
            accepted
                .provider_id
                .is_some_and(|id| id.as_str().starts_with("wamid."))
        );
        let read = SendRequest::MarkRead {
            to: crate::domain::CustomerId::new("16505551234"),
            message_id: ProviderMessageId::new("wamid.IN"),
            typing_indicator: true,
        };
        assert_eq!(
            client.send(&read).await,
            Ok(SendAccepted { provider_id: None })
        );

        let requests = fake.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].phone_number_id, "106540352242922");
        assert_eq!(
            requests[0].authorization.as_deref(),
            Some("Bearer channel-token")
        );
        assert_eq!(requests[0].body, request_body(&text_request("hello")));
        assert_eq!(requests[1].body["typing_indicator"]["type"], "text");

        let global = WhatsappClient::new(
            reqwest::Client::new(),
            &settings(&fake.base_url(), 2000),
            &channel(None),
        );
        global.send(&text_request("x")).await.expect("accepted");
        assert_eq!(
            fake.requests()[2].authorization.as_deref(),
            Some("Bearer global-token")
        );
    }

    #[tokio::test]
    async fn graph_errors_timeouts_and_connect_failures() {
        let fake = FakeGraph::start();
        let client = WhatsappClient::new(
            reqwest::Client::new(),
            &settings(&fake.base_url(), 300),
            &channel(None),
        );

        fake.fail_next(None, 130429, 429, 1);
        let err = client
            .send(&text_request("a"))
            .await
            .expect_err("throttled");
        assert_eq!(err.code(), Some(130429));
        assert_eq!(err.class(), RetryClass::Throughput);
        assert!(matches!(
            err,
            SendError::Provider {
                http_status: 429,
                ..
            }
        ));

        fake.fail_next(None, 131056, 400, 1);
        let err = client
            .send(&text_request("a"))
            .await
            .expect_err("pair rate");
        assert_eq!(err.class(), RetryClass::PairRate);

        fake.set_latency(Duration::from_millis(1500));
        let err = client
            .send(&text_request("slow"))
            .await
            .expect_err("timeout");
        assert_eq!(err, SendError::Timeout);

        // A port nobody listens on.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr").port()
        };
        let closed = WhatsappClient::new(
            reqwest::Client::new(),
            &settings(&format!("http://127.0.0.1:{port}"), 300),
            &channel(None),
        );
        let err = closed.send(&text_request("x")).await.expect_err("connect");
        assert!(matches!(err, SendError::Transport(_)), "{err:?}");
        assert_eq!(err.class(), RetryClass::Transient);
    }
}
