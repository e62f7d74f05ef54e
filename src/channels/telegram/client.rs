//! The Telegram Bot API client: `POST {base}/bot<token>/<method>` with a JSON body, and
//! customers' files by `getFile` and `GET {base}/file/bot<token>/<file_path>`.
//!
//! Texts go by `sendMessage`; the bot's reply buttons and list menus become an inline keyboard
//! (`reply_markup.inline_keyboard`, one button a row, `callback_data` = the option id), so a
//! press comes back as a callback query the parser turns into the same menu choice. Images go
//! by `sendPhoto`, videos by `sendVideo`, audio by `sendAudio`, other files by `sendDocument`
//! (a `file_id` or an https URL); an agent's file from our media store
//! ([`MediaSource::Stored`]) is uploaded with the call as multipart form data (an OGG audio as a
//! voice note, `sendVoice`), its other fields as form fields. A "read
//! receipt" for a button press answers its callback query (`answerCallbackQuery`, which stops
//! the button's spinner); for a message it is a no-op (bots have no read receipts).
//!
//! Errors: `{"ok": false, "error_code", "description", "parameters": {"retry_after"}}`. 429 is
//! [`SendError::RetryAfter`] (the sender waits at least that long), 5xx transient, anything
//! else (400 bad request, 403 blocked by the user, 404 bad token) permanent. The token is part
//! of every URL, so no error text carries the URL.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{callback_of, chat_of, message_id, message_of};
use crate::channels::{
    ChannelClient, RetryClass, SendAccepted, SendError, SendRequest, StoredFile, StoredFiles,
};
use crate::config::{Settings, TelegramBotSettings, TelegramSettings};
use crate::domain::{AccountId, ChannelKind, MediaKind, MediaSource, OutboundContent};
use crate::media::limits::Failure;

/// Telegram's limits (characters / bytes).
const TEXT_MAX: usize = 4096;
const CAPTION_MAX: usize = 1024;
const BUTTON_TEXT_MAX: usize = 64;
/// `callback_data` is 1-64 bytes.
const CALLBACK_DATA_MAX: usize = 64;
const EXCERPT_MAX: usize = 300;

/// Sends through one bot.
pub struct TelegramClient {
    http: reqwest::Client,
    base: String,
    token: SecretString,
    account: AccountId,
    timeout: Duration,
    /// Our media store, for agents' files sent with the call.
    files: Option<Arc<dyn StoredFiles>>,
}

/// What to call: a Bot API method and its JSON body, and a file of our media store to upload
/// with it (then the call is multipart form data).
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub method: &'static str,
    pub body: Value,
    pub file: Option<Upload>,
}

/// A file of our media store uploaded as the form field `field`.
#[derive(Clone, Debug, PartialEq)]
pub struct Upload {
    pub field: &'static str,
    pub media_id: String,
}

impl Call {
    fn json(method: &'static str, body: Value) -> Self {
        Self {
            method,
            body,
            file: None,
        }
    }
}

/// The method and file field that send a file of `kind`.
pub fn file_method(kind: MediaKind) -> (&'static str, &'static str) {
    match kind {
        MediaKind::Image => ("sendPhoto", "photo"),
        MediaKind::Video => ("sendVideo", "video"),
        MediaKind::Audio => ("sendAudio", "audio"),
        MediaKind::Document | MediaKind::Sticker => ("sendDocument", "document"),
    }
}

/// An uploaded audio file in OGG goes as a voice note (`sendAudio` takes MP3 and M4A).
pub fn voice_instead(
    method: &'static str,
    field: &'static str,
    mime_type: Option<&str>,
) -> (&'static str, &'static str) {
    match (method, mime_type) {
        ("sendAudio", Some("audio/ogg")) => ("sendVoice", "voice"),
        _ => (method, field),
    }
}

/// A JSON body as form fields: strings as they are, anything else as JSON (what the Bot API
/// expects of `reply_markup`, `reply_parameters`...).
pub fn form_fields(body: &Value) -> Vec<(String, String)> {
    body.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

impl TelegramClient {
    pub fn new(
        http: reqwest::Client,
        settings: &TelegramSettings,
        bot: &TelegramBotSettings,
    ) -> Self {
        Self {
            http,
            base: settings.api_base_url.trim_end_matches('/').to_string(),
            token: bot.bot_token.clone(),
            account: AccountId::new(bot.bot_id().unwrap_or_default()),
            timeout: Duration::from_millis(settings.request_timeout_ms.max(1)),
            files: None,
        }
    }

    /// Send agents' files from this media store (without it, such a send is refused).
    pub fn with_files(mut self, files: Arc<dyn StoredFiles>) -> Self {
        self.files = Some(files);
        self
    }

    /// Call `method` with `body`; the `result` of a successful answer.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, SendError> {
        let url = format!("{}/bot{}/{method}", self.base, self.token.expose_secret());
        let response = self
            .http
            .post(url)
            .timeout(self.timeout)
            .json(body)
            .send()
            .await
            .map_err(map_reqwest_error)?;
        Self::answer(response).await
    }

    /// Call `method` with `body` as form fields and `file` as the part `field`.
    pub async fn call_with_file(
        &self,
        method: &str,
        body: &Value,
        field: &str,
        file: StoredFile,
    ) -> Result<Value, SendError> {
        let url = format!("{}/bot{}/{method}", self.base, self.token.expose_secret());
        let size = file.bytes.len() as u64;
        let mut part =
            reqwest::multipart::Part::stream_with_length(reqwest::Body::from(file.bytes), size)
                .file_name(file.filename.unwrap_or_else(|| "file".into()));
        if let Some(mime) = file.mime_type.as_deref() {
            part = part
                .mime_str(mime)
                .map_err(|e| permanent(&format!("the file's type {mime}: {e}")))?;
        }
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in form_fields(body) {
            form = form.text(name, value);
        }
        let response = self
            .http
            .post(url)
            .timeout(self.timeout.max(Duration::from_secs(120)))
            .multipart(form.part(field.to_string(), part))
            .send()
            .await
            .map_err(map_reqwest_error)?;
        Self::answer(response).await
    }

    async fn answer(response: reqwest::Response) -> Result<Value, SendError> {
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(map_reqwest_error)?;
        if (200..300).contains(&status) {
            // An unreadable 2xx still counts as accepted (retrying would send twice).
            Ok(serde_json::from_slice::<Answer>(&bytes)
                .ok()
                .and_then(|a| a.result)
                .unwrap_or(Value::Null))
        } else {
            Err(parse_error(status, &bytes))
        }
    }

    /// Register this bot's webhook: Telegram then POSTs every update to `url` with `secret`
    /// in `X-Telegram-Bot-Api-Secret-Token`.
    pub async fn set_webhook(&self, url: &str, secret: &SecretString) -> Result<(), SendError> {
        self.call(
            "setWebhook",
            &json!({
                "url": url,
                "secret_token": secret.expose_secret(),
                "allowed_updates": ["message", "edited_message", "callback_query"],
            }),
        )
        .await
        .map(|_| ())
    }

    /// Download a customer's file: `getFile` for its `file_path` (valid for an hour), then
    /// `GET {base}/file/bot<token>/<file_path>`, at most `max` bytes (the Bot API serves up to
    /// 20 MB). Transient failures are [`Failure::Retry`]; a file Telegram will not give (too
    /// big, unknown id) or one over `max` is [`Failure::Gone`].
    pub async fn download(&self, file_id: &str, max: u64) -> Result<Bytes, Failure> {
        let file = self
            .call("getFile", &json!({ "file_id": file_id }))
            .await
            .map_err(|e| match e.class() {
                RetryClass::Permanent => Failure::Gone(format!("media_gone: {e}")),
                _ => Failure::Retry(format!("getFile: {e}")),
            })?;
        let too_large = || Failure::Gone(format!("too_large: over {max} bytes"));
        if file
            .get("file_size")
            .and_then(Value::as_u64)
            .is_some_and(|n| n > max)
        {
            return Err(too_large());
        }
        let Some(path) = file.get("file_path").and_then(Value::as_str) else {
            return Err(Failure::Gone(
                "media_gone: getFile gave no file_path".into(),
            ));
        };
        let url = format!(
            "{}/file/bot{}/{}",
            self.base,
            self.token.expose_secret(),
            path.trim_start_matches('/')
        );
        let response = self
            .http
            .get(url)
            .timeout(self.timeout.max(Duration::from_secs(60)))
            .send()
            .await
            .map_err(|e| Failure::Retry(format!("download: {}", map_reqwest_error(e))))?;
        crate::media::limits::read_capped(response, max, |e| map_reqwest_error(e).to_string()).await
    }

    async fn send_request(&self, request: &SendRequest) -> Result<SendAccepted, SendError> {
        let Some(call) = call_for(request)? else {
            return Ok(SendAccepted { provider_id: None });
        };
        let result = match &call.file {
            None => self.call(call.method, &call.body).await?,
            Some(upload) => {
                let files = self
                    .files
                    .as_ref()
                    .ok_or_else(|| permanent("this bot has no media store to send files from"))?;
                let file = files
                    .file(&upload.media_id)
                    .await
                    .map_err(|e| SendError::Transport(format!("media store: {e}")))?
                    .ok_or_else(|| permanent("the file is no longer in the media store"))?;
                let (method, field) =
                    voice_instead(call.method, upload.field, file.mime_type.as_deref());
                self.call_with_file(method, &call.body, field, file).await?
            }
        };
        Ok(SendAccepted {
            provider_id: sent_id(&self.account, &result),
        })
    }
}

/// The webhook URL of channel `id` under the gateway's public base URL.
pub fn webhook_url(public_url: &str, id: &str) -> String {
    format!(
        "{}/webhooks/telegram/{id}",
        public_url.trim_end_matches('/')
    )
}

/// For every Telegram channel with a `public_url`, register its webhook (`setWebhook`) in the
/// background, retrying transient failures with backoff; the outcome is logged. Channels
/// without one are left as they are (their webhook is set by hand, see docs/CHANNELS.md).
/// Must be called inside a tokio runtime.
pub fn register_webhooks(settings: &Settings, http: reqwest::Client) {
    for (id, channel) in &settings.channels {
        let (ChannelKind::Telegram, Some(bot)) = (channel.kind, &channel.telegram) else {
            continue;
        };
        let Some(public_url) = bot.public_url.as_deref().filter(|u| !u.trim().is_empty()) else {
            continue;
        };
        let client = TelegramClient::new(http.clone(), &settings.telegram, bot);
        let url = webhook_url(public_url, id);
        let secret = bot.webhook_secret.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let once = || client.set_webhook(&url, &secret);
            let result = once
                .retry(
                    ExponentialBuilder::new()
                        .with_min_delay(Duration::from_secs(1))
                        .with_max_delay(Duration::from_secs(60))
                        .with_jitter()
                        .with_max_times(8),
                )
                .when(|e: &SendError| e.class() != RetryClass::Permanent)
                .adjust(|e: &SendError, delay| match (e.retry_after(), delay) {
                    (Some(after), Some(delay)) => Some(delay.max(after)),
                    (_, delay) => delay,
                })
                .await;
            match result {
                Ok(()) => tracing::info!(channel = %id, %url, "telegram: webhook registered"),
                Err(e) => {
                    tracing::error!(channel = %id, %url, error = %e, "telegram: cannot register the webhook")
                }
            }
        });
    }
}

impl ChannelClient for TelegramClient {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Telegram
    }

    fn send<'a>(
        &'a self,
        request: &'a SendRequest,
    ) -> BoxFuture<'a, Result<SendAccepted, SendError>> {
        self.send_request(request).boxed()
    }
}

#[derive(Deserialize)]
struct Answer {
    result: Option<Value>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    error_code: Option<i64>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    parameters: Option<ResponseParameters>,
}

#[derive(Deserialize)]
struct ResponseParameters {
    #[serde(default)]
    retry_after: Option<u64>,
    #[serde(default)]
    migrate_to_chat_id: Option<i64>,
}

/// The id of the message a send created (`result.message_id` in `result.chat.id`).
fn sent_id(account: &AccountId, result: &Value) -> Option<crate::domain::ProviderMessageId> {
    let message = result.get("message_id")?.as_i64()?;
    let chat = result.get("chat")?.get("id")?.as_i64()?;
    Some(message_id(account, chat, message))
}

fn map_reqwest_error(err: reqwest::Error) -> SendError {
    // The URL holds the bot token: never in a message.
    let err = err.without_url();
    if err.is_timeout() {
        SendError::Timeout
    } else if err.is_connect() {
        SendError::Transport(format!("connect: {err}"))
    } else {
        SendError::Transport(err.to_string())
    }
}

/// A non-2xx answer, classified.
pub fn parse_error(http_status: u16, bytes: &[u8]) -> SendError {
    let Ok(answer) = serde_json::from_slice::<ErrorAnswer>(bytes) else {
        let excerpt = truncate(&String::from_utf8_lossy(bytes), EXCERPT_MAX);
        return if http_status == 408 || http_status == 429 || http_status >= 500 {
            SendError::Transport(format!("HTTP {http_status}: {excerpt}"))
        } else {
            SendError::Provider {
                code: i64::from(http_status),
                http_status,
                message: format!("HTTP {http_status} without a Bot API error: {excerpt}"),
                class: RetryClass::Permanent,
            }
        };
    };
    let code = answer.error_code.unwrap_or(i64::from(http_status));
    let mut message = answer.description;
    let parameters = answer.parameters;
    if let Some(chat) = parameters.as_ref().and_then(|p| p.migrate_to_chat_id) {
        message = format!("{message} (the group is now chat {chat})");
    }
    if code == 429 || http_status == 429 {
        let seconds = parameters.and_then(|p| p.retry_after).unwrap_or(1);
        return SendError::RetryAfter {
            code,
            http_status,
            message,
            retry_after: Duration::from_secs(seconds),
        };
    }
    SendError::Provider {
        code,
        http_status,
        message,
        class: classify(code, http_status),
    }
}

/// Bot API errors: 5xx (and Telegram's own 5xx codes) are transient; 400 (bad request),
/// 401/404 (bad token), 403 (the user blocked the bot, or it cannot write first) and anything
/// else permanent. 429 is [`SendError::RetryAfter`], not classified here.
pub fn classify(code: i64, http_status: u16) -> RetryClass {
    if http_status >= 500 || code >= 500 {
        RetryClass::Transient
    } else if code == 429 {
        RetryClass::Throughput
    } else {
        RetryClass::Permanent
    }
}

fn permanent(message: &str) -> SendError {
    SendError::Provider {
        code: 400,
        http_status: 0,
        message: message.to_string(),
        class: RetryClass::Permanent,
    }
}

/// The Bot API call for a send request; `None` when there is nothing to call (a read receipt
/// for a message). Pure: tested without a network.
pub fn call_for(request: &SendRequest) -> Result<Option<Call>, SendError> {
    match request {
        SendRequest::MarkRead { message_id, .. } => Ok(callback_of(message_id)
            .map(|query| Call::json("answerCallbackQuery", json!({ "callback_query_id": query })))),
        SendRequest::Message {
            to,
            content,
            reply_to,
            ..
        } => {
            let chat = chat_of(to).ok_or_else(|| permanent("not a Telegram chat"))?;
            let mut call = content_call(chat, content)?;
            // Quote the customer's message when it is in this chat.
            if let Some((reply_chat, reply_message)) = reply_to.as_ref().and_then(message_of)
                && reply_chat == chat
                && let Some(body) = call.body.as_object_mut()
            {
                body.insert(
                    "reply_parameters".into(),
                    json!({"message_id": reply_message, "allow_sending_without_reply": true}),
                );
            }
            Ok(Some(call))
        }
    }
}

fn content_call(chat: i64, content: &OutboundContent) -> Result<Call, SendError> {
    Ok(match content {
        OutboundContent::Text { body, preview_url } => Call::json(
            "sendMessage",
            json!({
                "chat_id": chat,
                "text": truncate(body, TEXT_MAX),
                "link_preview_options": {"is_disabled": !preview_url},
            }),
        ),
        OutboundContent::Buttons {
            body,
            header,
            footer,
            buttons,
        } => keyboard_message(
            chat,
            header.as_deref(),
            body,
            footer.as_deref(),
            buttons
                .iter()
                .map(|b| (b.id.as_str(), b.title.as_str()))
                .collect(),
        ),
        OutboundContent::List {
            body,
            header,
            footer,
            sections,
            ..
        } => keyboard_message(
            chat,
            header.as_deref(),
            body,
            footer.as_deref(),
            sections
                .iter()
                .flat_map(|s| s.rows.iter())
                .map(|r| (r.id.as_str(), r.title.as_str()))
                .collect(),
        ),
        OutboundContent::Media {
            kind,
            source,
            caption,
            ..
        } => {
            let (method, field) = file_method(*kind);
            let mut body = json!({ "chat_id": chat });
            let mut file = None;
            match source {
                MediaSource::Id(id) => body[field] = json!(id),
                MediaSource::Link(url) => body[field] = json!(url),
                MediaSource::Stored(id) => {
                    file = Some(Upload {
                        field,
                        media_id: id.clone(),
                    })
                }
            }
            if let Some(caption) = caption
                && let Some(b) = body.as_object_mut()
            {
                b.insert("caption".into(), json!(truncate(caption, CAPTION_MAX)));
            }
            Call { method, body, file }
        }
        OutboundContent::Template { .. } => {
            return Err(permanent(
                "templates are a WhatsApp feature: Telegram has none",
            ));
        }
    })
}

/// A text with an inline keyboard: one button a row, its option id as `callback_data`
/// (options whose id is longer than Telegram's 64 bytes cannot be offered and are left out).
fn keyboard_message(
    chat: i64,
    header: Option<&str>,
    body: &str,
    footer: Option<&str>,
    options: Vec<(&str, &str)>,
) -> Call {
    let text = [header, Some(body), footer]
        .into_iter()
        .flatten()
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    let rows: Vec<Value> = options
        .into_iter()
        .filter(|(id, _)| !id.is_empty() && id.len() <= CALLBACK_DATA_MAX)
        .map(|(id, title)| json!([{ "text": truncate(title, BUTTON_TEXT_MAX), "callback_data": id }]))
        .collect();
    Call::json(
        "sendMessage",
        json!({
            "chat_id": chat,
            "text": truncate(&text, TEXT_MAX),
            "reply_markup": {"inline_keyboard": rows},
        }),
    )
}

/// At most `max` characters of `s`, cut on a `char` boundary.
fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((index, _)) => s[..index].to_string(),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::telegram::{callback_id, customer_id};
    use crate::domain::{CustomerId, ListRow, ListSection, ProviderMessageId, ReplyButton};

    const BOT: &str = "123456789";

    fn to(chat: i64) -> CustomerId {
        customer_id(&AccountId::new(BOT), chat)
    }

    fn message(content: OutboundContent) -> SendRequest {
        SendRequest::Message {
            to: to(1111111),
            content,
            reply_to: None,
            callback_data: Some("our-id".into()),
        }
    }

    fn call(request: &SendRequest) -> Call {
        call_for(request)
            .expect("a call")
            .expect("something to call")
    }

    #[test]
    fn a_text_is_send_message_to_the_chat() {
        let c = call(&message(OutboundContent::Text {
            body: "Hello".into(),
            preview_url: false,
        }));
        assert_eq!(c.method, "sendMessage");
        assert_eq!(
            c.body,
            json!({"chat_id": 1111111, "text": "Hello", "link_preview_options": {"is_disabled": true}})
        );
    }

    #[test]
    fn buttons_and_lists_are_inline_keyboards_whose_data_is_the_option_id() {
        let c = call(&message(OutboundContent::Buttons {
            body: "How can I help?".into(),
            header: Some("Acme".into()),
            footer: None,
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
        }));
        assert_eq!(c.method, "sendMessage");
        assert_eq!(c.body["text"], "Acme\n\nHow can I help?");
        assert_eq!(
            c.body["reply_markup"],
            json!({"inline_keyboard": [
                [{"text": "Track my order", "callback_data": "main_menu/track"}],
                [{"text": "Talk to a person", "callback_data": "main_menu/person"}]
            ]})
        );
        let c = call(&message(OutboundContent::List {
            body: "Which team?".into(),
            header: None,
            footer: Some("Pick one".into()),
            button: "Choose".into(),
            sections: vec![ListSection {
                title: Some("Teams".into()),
                rows: vec![
                    ListRow {
                        id: "choose_team/support".into(),
                        title: "Support".into(),
                        description: None,
                    },
                    ListRow {
                        id: "x".repeat(65),
                        title: "Too long an id".into(),
                        description: None,
                    },
                ],
            }],
        }));
        assert_eq!(c.body["text"], "Which team?\n\nPick one");
        assert_eq!(
            c.body["reply_markup"]["inline_keyboard"],
            json!([[{"text": "Support", "callback_data": "choose_team/support"}]])
        );
    }

    #[test]
    fn images_are_photos_other_files_documents_and_templates_are_refused() {
        let c = call(&message(OutboundContent::Media {
            kind: MediaKind::Image,
            source: MediaSource::Link("https://example.com/a.jpg".into()),
            caption: Some("your invoice".into()),
            filename: None,
        }));
        assert_eq!(c.method, "sendPhoto");
        assert_eq!(
            c.body,
            json!({"chat_id": 1111111, "photo": "https://example.com/a.jpg", "caption": "your invoice"})
        );
        let c = call(&message(OutboundContent::Media {
            kind: MediaKind::Document,
            source: MediaSource::Id("BQACAgQAAxkBAAI".into()),
            caption: None,
            filename: Some("invoice.pdf".into()),
        }));
        assert_eq!(c.method, "sendDocument");
        assert_eq!(
            c.body,
            json!({"chat_id": 1111111, "document": "BQACAgQAAxkBAAI"})
        );
        let err = call_for(&message(OutboundContent::Template {
            name: "hello".into(),
            language: "en".into(),
            components: Value::Null,
            marketing_api: false,
            campaign: None,
        }))
        .expect_err("refused");
        assert_eq!(err.class(), RetryClass::Permanent);
        // Not a Telegram customer at all.
        let err = call_for(&SendRequest::Message {
            to: CustomerId::new("15550001111"),
            content: OutboundContent::Text {
                body: "x".into(),
                preview_url: false,
            },
            reply_to: None,
            callback_data: None,
        })
        .expect_err("refused");
        assert_eq!(err.class(), RetryClass::Permanent);
    }

    #[test]
    fn a_stored_file_is_uploaded_with_the_call_by_its_kind() {
        let c = call(&message(OutboundContent::Media {
            kind: MediaKind::Video,
            source: MediaSource::Stored("tgout:1".into()),
            caption: Some("the demo".into()),
            filename: None,
        }));
        assert_eq!(c.method, "sendVideo");
        assert_eq!(c.body, json!({"chat_id": 1111111, "caption": "the demo"}));
        assert_eq!(
            c.file,
            Some(Upload {
                field: "video",
                media_id: "tgout:1".into()
            })
        );
        assert_eq!(file_method(MediaKind::Audio), ("sendAudio", "audio"));
        assert_eq!(
            file_method(MediaKind::Sticker),
            ("sendDocument", "document")
        );
        assert_eq!(
            voice_instead("sendAudio", "audio", Some("audio/ogg")),
            ("sendVoice", "voice")
        );
        assert_eq!(
            voice_instead("sendAudio", "audio", Some("audio/mpeg")),
            ("sendAudio", "audio")
        );
        assert_eq!(
            voice_instead("sendPhoto", "photo", Some("audio/ogg")),
            ("sendPhoto", "photo")
        );
        let mut fields = form_fields(&json!({"chat_id": 42, "caption": "hi",
            "reply_parameters": {"message_id": 7}}));
        fields.sort();
        assert_eq!(
            fields,
            vec![
                ("caption".to_string(), "hi".to_string()),
                ("chat_id".to_string(), "42".to_string()),
                (
                    "reply_parameters".to_string(),
                    r#"{"message_id":7}"#.to_string()
                ),
            ]
        );
    }

    #[test]
    fn a_reply_quotes_a_message_of_the_same_chat_only() {
        let bot = AccountId::new(BOT);
        let mut request = message(OutboundContent::Text {
            body: "Sure".into(),
            preview_url: true,
        });
        if let SendRequest::Message { reply_to, .. } = &mut request {
            *reply_to = Some(message_id(&bot, 1111111, 1365));
        }
        let c = call(&request);
        assert_eq!(c.body["reply_parameters"]["message_id"], 1365);
        assert_eq!(c.body["link_preview_options"]["is_disabled"], false);
        if let SendRequest::Message { reply_to, .. } = &mut request {
            *reply_to = Some(message_id(&bot, 42, 1365));
        }
        assert!(call(&request).body.get("reply_parameters").is_none());
    }

    #[test]
    fn a_read_receipt_answers_a_button_press_and_is_nothing_for_a_message() {
        let bot = AccountId::new(BOT);
        let c = call(&SendRequest::MarkRead {
            to: crate::domain::CustomerId::new("telegram:1:2"),
            message_id: callback_id(&bot, "4382bfdwdsb323b2d9"),
            typing_indicator: false,
        });
        assert_eq!(c.method, "answerCallbackQuery");
        assert_eq!(c.body, json!({"callback_query_id": "4382bfdwdsb323b2d9"}));
        assert_eq!(
            call_for(&SendRequest::MarkRead {
                to: crate::domain::CustomerId::new("telegram:1:2"),
                message_id: message_id(&bot, 1, 2),
                typing_indicator: true,
            })
            .expect("fine"),
            None
        );
    }

    #[test]
    fn errors_are_classified_and_retry_after_is_kept() {
        let err = parse_error(
            429,
            br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#,
        );
        assert_eq!(err.class(), RetryClass::Throughput);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(err.code(), Some(429));
        let blocked = parse_error(
            403,
            br#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#,
        );
        assert_eq!(blocked.class(), RetryClass::Permanent);
        assert_eq!(blocked.retry_after(), None);
        let bad = parse_error(
            400,
            br#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#,
        );
        assert_eq!(bad.class(), RetryClass::Permanent);
        let down = parse_error(
            502,
            br#"{"ok":false,"error_code":502,"description":"Bad Gateway"}"#,
        );
        assert_eq!(down.class(), RetryClass::Transient);
        assert_eq!(parse_error(503, b"<html>").class(), RetryClass::Transient);
        assert_eq!(parse_error(429, b"").class(), RetryClass::Transient);
        assert_eq!(parse_error(401, b"nope").class(), RetryClass::Permanent);
        let migrated = parse_error(
            400,
            br#"{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1001234}}"#,
        );
        assert!(migrated.to_string().contains("-1001234"), "{migrated}");
    }

    #[test]
    fn a_sent_message_s_id_is_its_chat_and_number() {
        let bot = AccountId::new(BOT);
        assert_eq!(
            sent_id(
                &bot,
                &json!({"message_id": 1367, "date": 1441645600, "chat": {"id": 1111111, "type": "private"}, "text": "Hi"})
            ),
            Some(ProviderMessageId::new("tg:123456789:1111111:1367"))
        );
        assert_eq!(sent_id(&bot, &json!(true)), None);
    }

    #[tokio::test]
    async fn a_file_is_downloaded_by_get_file_within_its_limit() {
        let fake = crate::fakes::telegram::FakeTelegram::start();
        let bot = TelegramBotSettings {
            bot_token: SecretString::from("42:test-token"),
            webhook_secret: SecretString::from("s"),
            public_url: None,
            per_chat_per_minute: 60,
            per_chat_burst: 1,
        };
        let client = TelegramClient::new(
            reqwest::Client::new(),
            &TelegramSettings {
                api_base_url: fake.base_url(),
                request_timeout_ms: 5000,
            },
            &bot,
        );
        let bytes = vec![7u8; 1000];
        let id = fake.plant_file(&bytes);
        assert_eq!(client.download(&id, 1000).await.expect("downloaded"), bytes);
        assert!(matches!(
            client.download(&id, 999).await,
            Err(Failure::Gone(reason)) if reason.starts_with("too_large")
        ));
        assert!(matches!(
            client.download("no-such-file", 1000).await,
            Err(Failure::Gone(reason)) if reason.starts_with("media_gone")
        ));
        fake.fail_next(Some("getFile"), 502, "Bad Gateway", None, 1);
        assert!(matches!(
            client.download(&id, 1000).await,
            Err(Failure::Retry(_))
        ));
        // Nothing with the token in it reaches a failure reason.
        fake.fail_next(Some("getFile"), 429, "Too Many Requests", Some(3), 1);
        let Err(Failure::Retry(reason)) = client.download(&id, 1000).await else {
            panic!("a 429 is retried later")
        };
        assert!(!reason.contains("test-token"), "{reason}");
    }
}
