//! The X DM client: `POST {base}/2/dm_conversations/with/{participant id}/messages` with
//! `{"text": …}`, authorised for the account ([`Auth`]: OAuth 1.0a user context when its token
//! is configured, since it does not expire; else the OAuth 2.0 user token, which lasts about two
//! hours); the answer's `data.dm_event_id` is the message's provider id.
//!
//! X's v2 send has no buttons: the bot's reply buttons and list menus go as text, their options
//! as numbered lines, in the bot's order, so the customer answers with the number or the
//! option's title (the bot takes either, as it does on every channel). A media by link goes as
//! its caption and link (X shows the link's preview); media by a provider's id and WhatsApp
//! templates are refused (permanently). Read receipts are nothing to send: v2 has no endpoint
//! for them.
//!
//! An agent's file ([`super::attachments`]) is uploaded first with the v2 media upload's
//! chunked flow, `POST {base}/2/media/upload` (multipart `command=INIT` with `media_type`,
//! `total_bytes` and `media_category`, answered `data.id`; `APPEND` of chunks of at most
//! [`CHUNK`] bytes with `segment_index`; `FINALIZE`; then `GET ?command=STATUS` while
//! `processing_info.state` is pending or in progress), and the DM names it:
//! `{"text": caption?, "attachments": [{"media_id": …}]}` (one per DM).
//!
//! Errors: 429 is [`SendError::RetryAfter`] until `x-rate-limit-reset` (epoch seconds); 5xx,
//! 408 and network failures are transient; any other 4xx is permanent, with X's `title` and
//! `detail` (and its first `errors[].message`).

use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{message_id, user_of};
use crate::channels::whatsapp::client::{map_reqwest_error, truncate};
use crate::channels::{ChannelClient, RetryClass, SendAccepted, SendError, SendRequest};
use crate::config::{XAccountSettings, XSettings};
use crate::domain::{AccountId, ChannelKind, MediaSource, OutboundContent, ProviderMessageId};

/// The longest DM text X accepts (characters).
pub const TEXT_MAX: usize = 10_000;
/// The header of X's 429: when the rate-limit window resets (unix seconds).
pub const RATE_LIMIT_RESET_HEADER: &str = "x-rate-limit-reset";
/// Wait this long after a 429 that does not say when the window resets.
const RETRY_AFTER_DEFAULT: Duration = Duration::from_secs(60);
/// ... and never longer than a day (X's longest DM window), whatever the header says.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(24 * 3600);
const EXCERPT_MAX: usize = 300;

/// Largest chunk of a media upload's APPEND (X takes up to 5 MB).
pub const CHUNK: usize = 4 * 1024 * 1024;
/// How long an uploaded video or GIF may be processed before its DM is given up.
const PROCESSING_MAX: Duration = Duration::from_secs(120);

/// How the account's requests are authorised.
#[derive(Clone, Debug)]
pub enum Auth {
    /// Each request signed with OAuth 1.0a for the account (X's user context; the token does
    /// not expire until revoked).
    OAuth1(super::oauth1::OAuth1Credentials),
    /// `Authorization: Bearer` with the account's OAuth 2.0 user token.
    Bearer(SecretString),
}

impl Auth {
    /// The account's: OAuth 1.0a when it is configured, else its OAuth 2.0 token.
    pub fn of(settings: &XSettings, account: &XAccountSettings) -> Self {
        match super::oauth1::credentials_of(settings, account) {
            Some(credentials) => Auth::OAuth1(credentials),
            None => Auth::Bearer(account.access_token.clone()),
        }
    }

    /// A `method` request to `url` (with its query), authorised.
    fn request(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        url: reqwest::Url,
    ) -> reqwest::RequestBuilder {
        match self {
            Auth::OAuth1(credentials) => {
                let header = credentials.authorization(method.as_str(), &url);
                http.request(method, url)
                    .header(reqwest::header::AUTHORIZATION, header)
            }
            Auth::Bearer(token) => http.request(method, url).bearer_auth(token.expose_secret()),
        }
    }
}

/// Sends through one X account.
pub struct XClient {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    account: AccountId,
    timeout: Duration,
}

/// `url` parsed; a malformed one (a bad `x.api_base_url`) fails for good.
fn parse_url(url: &str) -> Result<reqwest::Url, SendError> {
    reqwest::Url::parse(url).map_err(|e| refused(format!("bad X API URL {url}: {e}")))
}

/// One DM to send: to whom, and its body.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub participant_id: String,
    pub body: Value,
}

impl XClient {
    pub fn new(http: reqwest::Client, settings: &XSettings, account: &XAccountSettings) -> Self {
        Self {
            http,
            base: settings.api_base_url.trim_end_matches('/').to_string(),
            auth: Auth::of(settings, account),
            account: AccountId::new(account.account_id.clone()),
            timeout: Duration::from_millis(settings.request_timeout_ms.max(1)),
        }
    }

    async fn post(&self, request: &SendRequest) -> Result<SendAccepted, SendError> {
        let Some(call) = call_for(request)? else {
            return Ok(SendAccepted { provider_id: None });
        };
        let url = parse_url(&format!(
            "{}/2/dm_conversations/with/{}/messages",
            self.base, call.participant_id
        ))?;
        let response = self
            .auth
            .request(&self.http, reqwest::Method::POST, url)
            .timeout(self.timeout)
            .json(&call.body)
            .send()
            .await
            .map_err(map_reqwest_error)?;
        let status = response.status().as_u16();
        let reset = response
            .headers()
            .get(RATE_LIMIT_RESET_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok());
        let bytes = response.bytes().await.map_err(map_reqwest_error)?;
        if (200..300).contains(&status) {
            Ok(SendAccepted {
                provider_id: sent_id(&self.account, &bytes),
            })
        } else {
            Err(parse_error(
                status,
                reset,
                &bytes,
                chrono::Utc::now().timestamp(),
            ))
        }
    }
}

impl XClient {
    /// Upload `bytes` (of type `mime_type`) for a DM as `category` (`dm_image`, `dm_gif`,
    /// `dm_video`): X's media id once it is usable. Each call is one try; the caller retries.
    pub async fn upload_media(
        &self,
        bytes: &bytes::Bytes,
        mime_type: &str,
        category: &str,
        timeout: Duration,
    ) -> Result<String, SendError> {
        let url = format!("{}/2/media/upload", self.base);
        let init = reqwest::multipart::Form::new()
            .text("command", "INIT")
            .text("media_type", mime_type.to_owned())
            .text("total_bytes", bytes.len().to_string())
            .text("media_category", category.to_owned());
        let answer = self.upload_call(&url, init, timeout).await?;
        let id = media_id_of(&answer)
            .ok_or_else(|| SendError::Transport("X's INIT answer has no data.id".into()))?;
        for (index, chunk) in bytes.chunks(CHUNK).enumerate() {
            let part = reqwest::multipart::Part::stream_with_length(
                bytes.slice_ref(chunk),
                chunk.len() as u64,
            )
            .file_name("media")
            .mime_str("application/octet-stream")
            .map_err(|e| SendError::Transport(e.to_string()))?;
            let append = reqwest::multipart::Form::new()
                .text("command", "APPEND")
                .text("media_id", id.clone())
                .text("segment_index", index.to_string())
                .part("media", part);
            self.upload_call(&url, append, timeout).await?;
        }
        let finalize = reqwest::multipart::Form::new()
            .text("command", "FINALIZE")
            .text("media_id", id.clone());
        let mut answer = self.upload_call(&url, finalize, timeout).await?;
        let deadline = tokio::time::Instant::now() + PROCESSING_MAX;
        loop {
            match processing_of(&answer) {
                Processing::Done => return Ok(id),
                Processing::Failed(why) => {
                    return Err(refused(format!("X could not process the file: {why}")));
                }
                Processing::Wait(wait) => {
                    if tokio::time::Instant::now() + wait > deadline {
                        return Err(SendError::Timeout);
                    }
                    tokio::time::sleep(wait).await;
                    answer = self.status(&url, &id, timeout).await?;
                }
            }
        }
    }

    async fn upload_call(
        &self,
        url: &str,
        form: reqwest::multipart::Form,
        timeout: Duration,
    ) -> Result<Value, SendError> {
        let response = self
            .auth
            .request(&self.http, reqwest::Method::POST, parse_url(url)?)
            .timeout(timeout)
            .multipart(form)
            .send()
            .await
            .map_err(map_reqwest_error)?;
        self.answer(response).await
    }

    async fn status(&self, url: &str, id: &str, timeout: Duration) -> Result<Value, SendError> {
        let mut url = parse_url(url)?;
        url.query_pairs_mut()
            .append_pair("command", "STATUS")
            .append_pair("media_id", id);
        let response = self
            .auth
            .request(&self.http, reqwest::Method::GET, url)
            .timeout(timeout)
            .send()
            .await
            .map_err(map_reqwest_error)?;
        self.answer(response).await
    }

    /// A 2xx answer's JSON (`null` when empty, as APPEND's), or the classified error.
    async fn answer(&self, response: reqwest::Response) -> Result<Value, SendError> {
        let status = response.status().as_u16();
        let reset = response
            .headers()
            .get(RATE_LIMIT_RESET_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok());
        let bytes = response.bytes().await.map_err(map_reqwest_error)?;
        if (200..300).contains(&status) {
            Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
        } else {
            Err(parse_error(
                status,
                reset,
                &bytes,
                chrono::Utc::now().timestamp(),
            ))
        }
    }
}

/// The media id of an upload's answer: `data.id` (v2), or `media_id_string` (v1.1's shape).
pub fn media_id_of(answer: &Value) -> Option<String> {
    answer
        .pointer("/data/id")
        .or_else(|| answer.get("media_id_string"))
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
}

/// Where an uploaded file's processing stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Processing {
    Done,
    Wait(Duration),
    Failed(String),
}

/// An upload's `processing_info` (in `data`, or at the top in v1.1's shape): none or
/// `succeeded` is done; `pending`/`in_progress` waits `check_after_secs` (1 to 30 s).
pub fn processing_of(answer: &Value) -> Processing {
    let Some(info) = answer
        .pointer("/data/processing_info")
        .or_else(|| answer.get("processing_info"))
    else {
        return Processing::Done;
    };
    match info.get("state").and_then(Value::as_str) {
        Some("pending" | "in_progress") => {
            let seconds = info
                .get("check_after_secs")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 30);
            Processing::Wait(Duration::from_secs(seconds))
        }
        Some("failed") => Processing::Failed(
            info.pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("failed")
                .to_owned(),
        ),
        _ => Processing::Done,
    }
}

impl ChannelClient for XClient {
    fn kind(&self) -> ChannelKind {
        ChannelKind::X
    }

    fn send<'a>(
        &'a self,
        request: &'a SendRequest,
    ) -> BoxFuture<'a, Result<SendAccepted, SendError>> {
        self.post(request).boxed()
    }
}

/// The id of the DM a send created: `data.dm_event_id`. An unreadable 2xx still counts as
/// accepted (retrying would send twice), without an id.
fn sent_id(account: &AccountId, bytes: &[u8]) -> Option<ProviderMessageId> {
    #[derive(Deserialize)]
    struct Answer {
        data: Data,
    }
    #[derive(Deserialize)]
    struct Data {
        dm_event_id: String,
    }
    match serde_json::from_slice::<Answer>(bytes) {
        Ok(answer) if !answer.data.dm_event_id.is_empty() => {
            Some(message_id(account, &answer.data.dm_event_id))
        }
        _ => {
            tracing::warn!("x: a send was accepted without a readable dm_event_id");
            None
        }
    }
}

/// A non-2xx answer, classified. `reset`: the `x-rate-limit-reset` header (unix seconds);
/// `now`: unix seconds.
pub fn parse_error(http_status: u16, reset: Option<i64>, bytes: &[u8], now: i64) -> SendError {
    let message = error_message(http_status, bytes);
    let code = i64::from(http_status);
    if http_status == 429 {
        let retry_after = match reset {
            Some(reset) => Duration::from_secs(u64::try_from(reset - now).unwrap_or(0).max(1)),
            None => RETRY_AFTER_DEFAULT,
        };
        return SendError::RetryAfter {
            code,
            http_status,
            message,
            retry_after: retry_after.min(RETRY_AFTER_MAX),
        };
    }
    let class = if http_status >= 500 || http_status == 408 {
        RetryClass::Transient
    } else {
        RetryClass::Permanent
    };
    SendError::Provider {
        code,
        http_status,
        message,
        class,
    }
}

/// X's problem body (`title`, `detail`, `errors[].message`) as one line; anything else as an
/// excerpt.
fn error_message(http_status: u16, bytes: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Problem {
        title: Option<String>,
        detail: Option<String>,
        #[serde(default)]
        errors: Vec<ErrorItem>,
    }
    #[derive(Deserialize)]
    struct ErrorItem {
        message: Option<String>,
    }
    let parts: Vec<String> = match serde_json::from_slice::<Problem>(bytes) {
        Ok(problem) => [
            problem.title,
            problem.detail,
            problem.errors.into_iter().find_map(|e| e.message),
        ]
        .into_iter()
        .flatten()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect(),
        Err(_) => Vec::new(),
    };
    if parts.is_empty() {
        let excerpt = truncate(&String::from_utf8_lossy(bytes), EXCERPT_MAX);
        format!("HTTP {http_status} without an X error: {excerpt}")
    } else {
        truncate(&parts.join(": "), EXCERPT_MAX * 2)
    }
}

fn refused(message: String) -> SendError {
    SendError::Provider {
        code: 0,
        http_status: 0,
        message,
        class: RetryClass::Permanent,
    }
}

/// The DM for a send request; `None` when there is nothing to send (a read receipt). Pure:
/// tested without a network.
pub fn call_for(request: &SendRequest) -> Result<Option<Call>, SendError> {
    let SendRequest::Message { to, content, .. } = request else {
        return Ok(None);
    };
    let participant = user_of(to).ok_or_else(|| refused(format!("{to} is not an X customer")))?;
    let body = match content {
        // A file uploaded to X (an agent's attachment): the DM names it, with its caption.
        OutboundContent::Media {
            source: MediaSource::Id(media_id),
            caption,
            ..
        } => {
            let mut body = json!({ "attachments": [{ "media_id": media_id }] });
            if let Some(caption) = caption.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
                body["text"] = Value::String(truncate(caption, TEXT_MAX));
            }
            body
        }
        _ => json!({ "text": truncate(&text_of(content)?, TEXT_MAX) }),
    };
    Ok(Some(Call {
        participant_id: participant.to_owned(),
        body,
    }))
}

/// The DM text of one content.
pub fn text_of(content: &OutboundContent) -> Result<String, SendError> {
    Ok(match content {
        OutboundContent::Text { body, .. } => body.clone(),
        OutboundContent::Buttons {
            body,
            header,
            footer,
            buttons,
        } => numbered_menu(
            header.as_deref(),
            body,
            footer.as_deref(),
            &[(None, buttons.iter().map(|b| b.title.as_str()).collect())],
        ),
        OutboundContent::List {
            body,
            header,
            footer,
            sections,
            ..
        } => numbered_menu(
            header.as_deref(),
            body,
            footer.as_deref(),
            &sections
                .iter()
                .map(|s| {
                    (
                        s.title.as_deref(),
                        s.rows.iter().map(|r| r.title.as_str()).collect::<Vec<_>>(),
                    )
                })
                .collect::<Vec<_>>(),
        ),
        OutboundContent::Media {
            source: MediaSource::Link(url),
            caption,
            ..
        } => match caption.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            Some(caption) => format!("{caption}\n{url}"),
            None => url.clone(),
        },
        OutboundContent::Media {
            source: MediaSource::Id(_) | MediaSource::Stored(_),
            ..
        } => {
            return Err(refused(
                "only a file uploaded to X (by its media id) can be sent as an X DM".into(),
            ));
        }
        OutboundContent::Template { name, .. } => {
            return Err(refused(format!(
                "template {name}: templates are a WhatsApp feature; X has none"
            )));
        }
    })
}

/// A menu as text: header, body, the options numbered from 1 in order (under their section's
/// title when there are several sections), footer; blocks separated by a blank line.
fn numbered_menu(
    header: Option<&str>,
    body: &str,
    footer: Option<&str>,
    sections: &[(Option<&str>, Vec<&str>)],
) -> String {
    let titled = sections.len() > 1;
    let mut number = 0;
    let mut lines = Vec::new();
    for (title, options) in sections {
        if titled && let Some(title) = title.map(str::trim).filter(|t| !t.is_empty()) {
            lines.push(title.to_string());
        }
        for option in options {
            number += 1;
            lines.push(format!("{number}. {option}"));
        }
    }
    let options = lines.join("\n");
    [header, Some(body), Some(options.as_str()), footer]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::x::customer_id;
    use crate::domain::{CustomerId, ListRow, ListSection, MediaKind, ReplyButton};

    const ACCOUNT: &str = "1500000000000000001";

    fn message(content: OutboundContent) -> SendRequest {
        SendRequest::Message {
            to: customer_id(&AccountId::new(ACCOUNT), "3001969357"),
            content,
            reply_to: None,
            callback_data: Some("our-id".into()),
        }
    }

    fn call(content: OutboundContent) -> Call {
        call_for(&message(content))
            .expect("a call")
            .expect("something to send")
    }

    #[test]
    fn a_text_goes_to_the_customer_cut_at_10000_characters() {
        let c = call(OutboundContent::Text {
            body: "Hello".into(),
            preview_url: false,
        });
        assert_eq!(c.participant_id, "3001969357");
        assert_eq!(c.body, json!({"text": "Hello"}));
        let long = "é".repeat(TEXT_MAX + 5);
        let c = call(OutboundContent::Text {
            body: long,
            preview_url: false,
        });
        assert_eq!(
            c.body["text"].as_str().map(|t| t.chars().count()),
            Some(TEXT_MAX)
        );
    }

    #[test]
    fn buttons_and_lists_are_numbered_lines_in_the_bot_s_order() {
        let c = call(OutboundContent::Buttons {
            body: "How can I help?".into(),
            header: Some("Acme".into()),
            footer: Some("Reply with a number".into()),
            buttons: vec![
                ReplyButton {
                    id: "main_menu/track".into(),
                    title: "Track my order".into(),
                },
                ReplyButton {
                    id: "main_menu/person".into(),
                    title: "Talk to a person".into(),
                },
            ],
        });
        assert_eq!(
            c.body["text"],
            "Acme\n\nHow can I help?\n\n1. Track my order\n2. Talk to a person\n\nReply with a number"
        );
        let row = |id: &str, title: &str| ListRow {
            id: id.into(),
            title: title.into(),
            description: None,
        };
        let c = call(OutboundContent::List {
            body: "Which team?".into(),
            header: None,
            footer: None,
            button: "Choose".into(),
            sections: vec![ListSection {
                title: Some("Teams".into()),
                rows: vec![row("t/support", "Support"), row("t/sales", "Sales")],
            }],
        });
        assert_eq!(c.body["text"], "Which team?\n\n1. Support\n2. Sales");
        // Several sections: numbered on across them, under their titles.
        let c = call(OutboundContent::List {
            body: "Pick one".into(),
            header: None,
            footer: None,
            button: "Choose".into(),
            sections: vec![
                ListSection {
                    title: Some("Orders".into()),
                    rows: vec![row("a/1", "Track"), row("a/2", "Return")],
                },
                ListSection {
                    title: Some("People".into()),
                    rows: vec![row("a/3", "Talk to a person")],
                },
            ],
        });
        assert_eq!(
            c.body["text"],
            "Pick one\n\nOrders\n1. Track\n2. Return\nPeople\n3. Talk to a person"
        );
    }

    #[test]
    fn links_go_as_text_and_uploaded_files_templates_and_strangers_are_refused() {
        let c = call(OutboundContent::Media {
            kind: MediaKind::Image,
            source: MediaSource::Link("https://example.com/a.jpg".into()),
            caption: Some("your invoice".into()),
            filename: None,
        });
        assert_eq!(c.body["text"], "your invoice\nhttps://example.com/a.jpg");
        for content in [
            OutboundContent::Media {
                kind: MediaKind::Document,
                source: MediaSource::Stored("tgout:1234".into()),
                caption: None,
                filename: Some("a.pdf".into()),
            },
            OutboundContent::Template {
                name: "hello".into(),
                language: "en".into(),
                components: Value::Null,
                marketing_api: false,
                campaign: None,
            },
        ] {
            let err = call_for(&message(content)).expect_err("refused");
            assert_eq!(err.class(), RetryClass::Permanent);
        }
        let err = call_for(&SendRequest::Message {
            to: CustomerId::new("15550001111"),
            content: OutboundContent::Text {
                body: "x".into(),
                preview_url: false,
            },
            reply_to: None,
            callback_data: None,
        })
        .expect_err("not an X customer");
        assert_eq!(err.class(), RetryClass::Permanent);
        // A read receipt: nothing to send.
        assert_eq!(
            call_for(&SendRequest::MarkRead {
                to: crate::domain::CustomerId::new("x:1:2"),
                message_id: message_id(&AccountId::new(ACCOUNT), "1"),
                typing_indicator: false,
            })
            .expect("fine"),
            None
        );
    }

    #[test]
    fn an_uploaded_file_goes_by_its_media_id_with_its_caption_as_text() {
        let c = call(OutboundContent::Media {
            kind: MediaKind::Image,
            source: MediaSource::Id("1880028106020515840".into()),
            caption: Some(" your receipt ".into()),
            filename: None,
        });
        assert_eq!(
            c.body,
            json!({"text": "your receipt", "attachments": [{"media_id": "1880028106020515840"}]})
        );
        let c = call(OutboundContent::Media {
            kind: MediaKind::Video,
            source: MediaSource::Id("1880028106020515841".into()),
            caption: None,
            filename: None,
        });
        assert_eq!(
            c.body,
            json!({"attachments": [{"media_id": "1880028106020515841"}]})
        );
    }

    #[test]
    fn an_upload_s_id_and_processing_are_read_from_x_s_answers() {
        assert_eq!(
            media_id_of(&json!({"data": {"id": "1880028106020515840",
                "media_key": "13_1880028106020515840", "expires_after_secs": 1295999}})),
            Some("1880028106020515840".into())
        );
        assert_eq!(
            media_id_of(&json!({"media_id": 1, "media_id_string": "601413451156586496"})),
            Some("601413451156586496".into())
        );
        assert_eq!(media_id_of(&json!({"data": {"id": "../x"}})), None);
        assert_eq!(media_id_of(&Value::Null), None);

        assert_eq!(
            processing_of(&json!({"data": {"id": "1"}})),
            Processing::Done
        );
        assert_eq!(
            processing_of(&json!({"data": {"processing_info":
                {"state": "in_progress", "check_after_secs": 5}}})),
            Processing::Wait(Duration::from_secs(5))
        );
        assert_eq!(
            processing_of(&json!({"data": {"processing_info":
                {"state": "pending", "check_after_secs": 100000}}})),
            Processing::Wait(Duration::from_secs(30))
        );
        assert_eq!(
            processing_of(&json!({"data": {"processing_info": {"state": "succeeded"}}})),
            Processing::Done
        );
        assert_eq!(
            processing_of(&json!({"data": {"processing_info": {"state": "failed",
                "error": {"code": 1, "name": "InvalidMedia", "message": "Unsupported video"}}}})),
            Processing::Failed("Unsupported video".into())
        );
    }

    #[test]
    fn the_sent_dm_s_id_is_its_event_id() {
        let account = AccountId::new(ACCOUNT);
        assert_eq!(
            sent_id(
                &account,
                br#"{"data":{"dm_conversation_id":"1500000000000000001-3001969357","dm_event_id":"1582838223746449412"}}"#
            ),
            Some(ProviderMessageId::new(
                "xdm:1500000000000000001:1582838223746449412"
            ))
        );
        assert_eq!(sent_id(&account, b"{}"), None);
        assert_eq!(sent_id(&account, b"not json"), None);
    }

    #[test]
    fn a_429_waits_until_the_reset_5xx_is_transient_and_4xx_permanent_with_x_s_words() {
        let now = 1_765_000_000;
        let limited = parse_error(
            429,
            Some(now + 90),
            br#"{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}"#,
            now,
        );
        assert_eq!(limited.class(), RetryClass::Throughput);
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(90)));
        assert_eq!(limited.code(), Some(429));
        // A reset already past: at least a second; none: a minute; a silly one: a day at most.
        assert_eq!(
            parse_error(429, Some(now - 5), b"", now).retry_after(),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            parse_error(429, None, b"", now).retry_after(),
            Some(RETRY_AFTER_DEFAULT)
        );
        assert_eq!(
            parse_error(429, Some(now + 10_000_000), b"", now).retry_after(),
            Some(RETRY_AFTER_MAX)
        );

        for status in [500, 502, 503, 408] {
            assert_eq!(
                parse_error(status, None, b"<html>", now).class(),
                RetryClass::Transient,
                "{status}"
            );
        }
        let forbidden = parse_error(
            403,
            None,
            br#"{"detail":"You are not permitted to send a message to this user.","type":"https://api.twitter.com/2/problems/not-authorized-for-resource","title":"Forbidden","status":403}"#,
            now,
        );
        assert_eq!(forbidden.class(), RetryClass::Permanent);
        assert_eq!(forbidden.retry_after(), None);
        let text = forbidden.to_string();
        assert!(
            text.contains("Forbidden: You are not permitted to send a message to this user."),
            "{text}"
        );
        let invalid = parse_error(
            400,
            None,
            br#"{"errors":[{"parameters":{"text":[""]},"message":"The `text` field must not be empty"}],"title":"Invalid Request","detail":"One or more parameters to your request was invalid.","type":"https://api.twitter.com/2/problems/invalid-request"}"#,
            now,
        );
        assert_eq!(invalid.class(), RetryClass::Permanent);
        assert!(
            invalid
                .to_string()
                .contains("The `text` field must not be empty"),
            "{invalid}"
        );
        let bare = parse_error(401, None, b"Unauthorized", now);
        assert_eq!(bare.class(), RetryClass::Permanent);
        assert!(bare.to_string().contains("Unauthorized"), "{bare}");
    }
}
