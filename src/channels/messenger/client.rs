//! The Messenger Send API client: `POST {base}/{version}/{page id}/messages` with the page's
//! access token.
//!
//! Text goes as `message.text`; the bot's buttons as a button template (at most 3 postback
//! buttons) and its lists as quick replies (at most 13); images, video, audio and files as
//! URL (or uploaded `attachment_id`) attachments; agents' files are uploaded first with the
//! Attachment Upload API ([`MessengerClient::upload_attachment`], see `super::attachments`). Every message goes with
//! `messaging_type: RESPONSE` (see [`super::window`] for when `MESSAGE_TAG` + `HUMAN_AGENT`
//! applies instead): on a page with `human_agent: true`, a message Meta refuses as outside the
//! 24-hour window (error 10, subcode 2018278) is sent again at once with `MESSAGE_TAG` +
//! `HUMAN_AGENT`, which Meta accepts up to 7 days after the customer's last message. Graph errors
//! are read and classified like WhatsApp's.

use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Platform;
use super::window::MessagingType;
use crate::channels::whatsapp::client::{map_reqwest_error, parse_error, truncate};
use crate::channels::{ChannelClient, RetryClass, SendAccepted, SendError, SendRequest};
use crate::config::{InstagramAccountSettings, MessengerPageSettings, MessengerSettings};
use crate::domain::{AccountId, ChannelKind, CustomerId, MediaKind, MediaSource, OutboundContent};

/// The Send API's attachment type of a media kind.
pub fn attachment_type(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image | MediaKind::Sticker => "image",
        MediaKind::Video => "video",
        MediaKind::Audio => "audio",
        MediaKind::Document => "file",
    }
}

/// Messenger's limits (characters, items); Instagram's text is shorter ([`text_max`]).
const TEXT_MAX: usize = 2000;
const INSTAGRAM_TEXT_MAX: usize = 1000;
const TEMPLATE_TEXT_MAX: usize = 640;
const BUTTONS_MAX: usize = 3;
const BUTTON_TITLE_MAX: usize = 20;
const QUICK_REPLIES_MAX: usize = 13;
const QUICK_REPLY_TITLE_MAX: usize = 20;
const PAYLOAD_MAX: usize = 1000;

/// The longest text `platform` accepts in one message.
fn text_max(platform: Platform) -> usize {
    match platform {
        Platform::Messenger => TEXT_MAX,
        Platform::Instagram => INSTAGRAM_TEXT_MAX,
    }
}

/// Sends through one Facebook Page, or one Instagram account ([`MessengerClient::instagram`]).
pub struct MessengerClient {
    platform: Platform,
    http: reqwest::Client,
    url: String,
    upload_url: String,
    /// `{base}/{version}`: the User Profile API is `GET {profile_base}/{user id}`.
    profile_base: String,
    page: AccountId,
    token: SecretString,
    timeout: Duration,
    human_agent: bool,
}

impl MessengerClient {
    pub fn new(
        http: reqwest::Client,
        settings: &MessengerSettings,
        page: &MessengerPageSettings,
    ) -> Self {
        Self::for_platform(
            Platform::Messenger,
            http,
            settings,
            &page.page_id,
            &page.page_access_token,
            page.human_agent,
        )
    }

    /// Sends through one Instagram account: `POST {base}/{version}/{account id}/messages`
    /// with the account's token, under `instagram` settings.
    pub fn instagram(
        http: reqwest::Client,
        settings: &MessengerSettings,
        account: &InstagramAccountSettings,
    ) -> Self {
        Self::for_platform(
            Platform::Instagram,
            http,
            settings,
            &account.account_id,
            &account.access_token,
            account.human_agent,
        )
    }

    fn for_platform(
        platform: Platform,
        http: reqwest::Client,
        settings: &MessengerSettings,
        account: &str,
        token: &SecretString,
        human_agent: bool,
    ) -> Self {
        let profile_base = format!(
            "{}/{}",
            settings.api_base_url.trim_end_matches('/'),
            settings.api_version.trim_matches('/'),
        );
        let base = format!("{profile_base}/{account}");
        Self {
            platform,
            http,
            url: format!("{base}/messages"),
            upload_url: format!("{base}/message_attachments"),
            profile_base,
            page: AccountId::new(account),
            token: token.clone(),
            timeout: Duration::from_millis(settings.request_timeout_ms.max(1)),
            human_agent,
        }
    }

    /// The messages endpoint this client posts to.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// Upload a file with the Attachment Upload API (`POST /{page or account id}/
    /// message_attachments`, multipart: `message` = `{"attachment": {"type", "payload":
    /// {"is_reusable": true}}}`, the file as `filedata`, and `platform=instagram` for an
    /// Instagram account); the `attachment_id` to send it by. One attempt.
    pub async fn upload_attachment(
        &self,
        bytes: bytes::Bytes,
        attachment_type: &str,
        mime_type: &str,
        filename: &str,
        timeout: Duration,
    ) -> Result<String, SendError> {
        #[derive(Deserialize)]
        struct Uploaded {
            attachment_id: String,
        }
        let part = reqwest::multipart::Part::stream_with_length(
            reqwest::Body::from(bytes.clone()),
            bytes.len() as u64,
        )
        .file_name(filename.to_string())
        .mime_str(mime_type)
        .map_err(|e| SendError::Transport(format!("upload: {e}")))?;
        let message = json!({
            "attachment": { "type": attachment_type, "payload": { "is_reusable": true } }
        });
        let mut form = reqwest::multipart::Form::new().text("message", message.to_string());
        if self.platform == Platform::Instagram {
            form = form.text("platform", "instagram");
        }
        let response = self
            .http
            .post(&self.upload_url)
            .bearer_auth(self.token.expose_secret())
            .timeout(timeout)
            .multipart(form.part("filedata", part))
            .send()
            .await
            .map_err(map_reqwest_error)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(map_reqwest_error)?;
        if !(200..300).contains(&status) {
            return Err(reclassify(parse_error(status, &body)));
        }
        serde_json::from_slice::<Uploaded>(&body)
            .map(|u| u.attachment_id)
            .map_err(|e| SendError::Transport(format!("upload: unreadable answer: {e}")))
    }

    async fn post(&self, request: &SendRequest) -> Result<SendAccepted, SendError> {
        match self.post_as(request, MessagingType::Response).await {
            Err(Refused::OutsideWindow(_)) if self.human_agent => self
                .post_as(request, MessagingType::HumanAgent)
                .await
                .map_err(Refused::into_error),
            other => other.map_err(Refused::into_error),
        }
    }

    async fn post_as(
        &self,
        request: &SendRequest,
        messaging_type: MessagingType,
    ) -> Result<SendAccepted, Refused> {
        let body = match request_body_for(self.platform, request, messaging_type)? {
            Some(body) => body,
            // Nothing to send (a read receipt of a customer of another channel).
            None => return Ok(SendAccepted { provider_id: None }),
        };
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(self.token.expose_secret())
            .timeout(self.timeout)
            .json(&body)
            .send()
            .await
            .map_err(map_reqwest_error)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(map_reqwest_error)?;
        if (200..300).contains(&status) {
            Ok(self.parse_success(&bytes))
        } else if outside_window(&bytes) {
            Err(Refused::OutsideWindow(parse_error(status, &bytes)))
        } else {
            Err(Refused::Other(reclassify(parse_error(status, &bytes))))
        }
    }

    /// A 2xx answer: `{"recipient_id": …, "message_id": …}`. An unreadable 2xx body still
    /// counts as accepted (retrying would send the message twice).
    fn parse_success(&self, bytes: &[u8]) -> SendAccepted {
        #[derive(Deserialize)]
        struct Success {
            message_id: Option<String>,
        }
        let provider_id = match serde_json::from_slice::<Success>(bytes) {
            Ok(body) => body
                .message_id
                .map(|mid| self.platform.message_id(&self.page, &mid)),
            Err(err) => {
                tracing::warn!(error = %err, platform = self.platform.name(), "unreadable success body");
                None
            }
        };
        SendAccepted { provider_id }
    }
}

impl ChannelClient for MessengerClient {
    fn kind(&self) -> ChannelKind {
        self.platform.kind()
    }

    fn send<'a>(
        &'a self,
        request: &'a SendRequest,
    ) -> BoxFuture<'a, Result<SendAccepted, SendError>> {
        self.post(request).boxed()
    }

    fn profile_name<'a>(&'a self, customer: &'a CustomerId) -> BoxFuture<'a, Option<String>> {
        self.profile(customer).boxed()
    }
}

impl MessengerClient {
    /// The customer's name from Meta's User Profile API: Messenger's
    /// `GET /{PSID}?fields=first_name,last_name`, Instagram's `GET /{IGSID}?fields=name,username`
    /// (the name, else `@username`), with the page's or account's token. Meta answers only for
    /// customers who wrote to the page; any failure is `None` (logged).
    async fn profile(&self, customer: &CustomerId) -> Option<String> {
        let user = self.platform.user_of(customer)?;
        // A PSID or IGSID is digits; anything else is not asked for.
        if !user.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let fields = match self.platform {
            Platform::Messenger => "first_name,last_name",
            Platform::Instagram => "name,username",
        };
        let answer = self
            .http
            .get(format!("{}/{user}", self.profile_base))
            .query(&[("fields", fields)])
            .bearer_auth(self.token.expose_secret())
            .timeout(self.timeout)
            .send()
            .await;
        let response = match answer {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                tracing::info!(channel = %self.page, status = r.status().as_u16(), "no profile from Meta");
                return None;
            }
            Err(e) => {
                tracing::info!(channel = %self.page, error = %e.without_url(), "no profile from Meta");
                return None;
            }
        };
        let profile: Value = response.json().await.ok()?;
        profile_name(self.platform, &profile)
    }
}

/// The display name in a User Profile API answer: Messenger's first and last names, Instagram's
/// name or `@username`; trimmed, at most [`PROFILE_NAME_MAX`] characters, `None` when empty.
pub fn profile_name(platform: Platform, profile: &Value) -> Option<String> {
    let text = |key: &str| {
        profile
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let name = match platform {
        Platform::Messenger => {
            let parts: Vec<&str> = [text("first_name"), text("last_name")]
                .into_iter()
                .flatten()
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        }
        Platform::Instagram => text("name")
            .map(str::to_string)
            .or_else(|| text("username").map(|u| format!("@{u}"))),
    }?;
    Some(name.chars().take(PROFILE_NAME_MAX).collect())
}

/// The longest profile name kept (characters).
pub const PROFILE_NAME_MAX: usize = 200;

/// Why a send failed: Meta's "outside the allowed window" (tried again with `HUMAN_AGENT` where
/// the page may), or anything else.
enum Refused {
    OutsideWindow(SendError),
    Other(SendError),
}

impl Refused {
    fn into_error(self) -> SendError {
        match self {
            Refused::OutsideWindow(e) | Refused::Other(e) => e,
        }
    }
}

impl From<SendError> for Refused {
    fn from(error: SendError) -> Self {
        Refused::Other(error)
    }
}

/// Meta's refusal of a message sent outside the 24-hour window: code 10, subcode 2018278.
fn outside_window(bytes: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Envelope {
        error: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        code: i64,
        error_subcode: Option<i64>,
    }
    serde_json::from_slice::<Envelope>(bytes)
        .is_ok_and(|e| e.error.code == 10 && e.error.error_subcode == Some(2018278))
}

/// Messenger's own codes on top of the shared Graph table: 1200 ("temporary send message
/// failure") is worth another try.
fn reclassify(error: SendError) -> SendError {
    match error {
        SendError::Provider {
            code: 1200,
            http_status,
            message,
            ..
        } => SendError::Provider {
            code: 1200,
            http_status,
            message,
            class: RetryClass::Transient,
        },
        other => other,
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

/// The Send API body of `request` sent as `messaging_type`; `None` when there is nothing to
/// send (a read receipt: Messenger's `mark_seen` needs the customer, which it does not name).
/// Refused (permanently) when the recipient is not a Messenger customer or the content has no
/// Messenger form (a WhatsApp template).
pub fn request_body(
    request: &SendRequest,
    messaging_type: MessagingType,
) -> Result<Option<Value>, SendError> {
    request_body_for(Platform::Messenger, request, messaging_type)
}

/// [`request_body`] for `platform`: Instagram's body has the same shape (`recipient.id` is the
/// Instagram-scoped id), with its shorter texts.
pub fn request_body_for(
    platform: Platform,
    request: &SendRequest,
    messaging_type: MessagingType,
) -> Result<Option<Value>, SendError> {
    let (to, content) = match request {
        SendRequest::Message { to, content, .. } => (to, content),
        // The customer sees their messages seen (the whole conversation: Meta marks no single
        // message).
        SendRequest::MarkRead { to, .. } => {
            return Ok(platform
                .user_of(to)
                .map(|psid| json!({"recipient": {"id": psid}, "sender_action": "mark_seen"})));
        }
    };
    let Some(psid) = platform.user_of(to) else {
        return Err(refused(format!(
            "{to} is not a {} customer",
            platform.name()
        )));
    };
    let message = message_object_for(platform, content)?;
    let mut body = json!({
        "recipient": { "id": psid },
        "message": message,
    });
    match messaging_type {
        MessagingType::Response => body["messaging_type"] = json!("RESPONSE"),
        MessagingType::HumanAgent => {
            body["messaging_type"] = json!("MESSAGE_TAG");
            body["tag"] = json!("HUMAN_AGENT");
        }
    }
    Ok(Some(body))
}

/// The `message` object of one content.
pub fn message_object(content: &OutboundContent) -> Result<Value, SendError> {
    message_object_for(Platform::Messenger, content)
}

/// The `message` object of one content on `platform`. Instagram takes the same attachments,
/// button template (up to 3 postback buttons) and quick replies (up to 13) as Messenger; only
/// its texts are shorter.
pub fn message_object_for(
    platform: Platform,
    content: &OutboundContent,
) -> Result<Value, SendError> {
    let text_max = text_max(platform);
    Ok(match content {
        OutboundContent::Text { body, .. } => json!({ "text": truncate(body, text_max) }),
        OutboundContent::Media {
            kind,
            source,
            caption,
            ..
        } => {
            let kind = attachment_type(*kind);
            let payload = match source {
                MediaSource::Link(url) => json!({ "url": url, "is_reusable": true }),
                MediaSource::Id(id) => json!({ "attachment_id": id }),
                // Files go to Meta first (the Attachment Upload API) and are sent by their id.
                MediaSource::Stored(_) => {
                    return Err(refused(format!(
                        "{} sends files by their attachment id, not from our store",
                        platform.name()
                    )));
                }
            };
            if caption.as_deref().is_some_and(|c| !c.is_empty()) {
                tracing::debug!("messenger: attachments carry no caption; caption not sent");
            }
            json!({ "attachment": { "type": kind, "payload": payload } })
        }
        OutboundContent::Buttons {
            body,
            header,
            buttons,
            ..
        } => {
            let text = match header.as_deref().filter(|h| !h.is_empty()) {
                Some(header) => format!("{header}\n\n{body}"),
                None => body.clone(),
            };
            if buttons.is_empty() {
                json!({ "text": truncate(&text, text_max) })
            } else if buttons.len() <= BUTTONS_MAX {
                let buttons: Vec<Value> = buttons
                    .iter()
                    .map(|b| {
                        json!({
                            "type": "postback",
                            "title": truncate(&b.title, BUTTON_TITLE_MAX),
                            "payload": truncate(&b.id, PAYLOAD_MAX),
                        })
                    })
                    .collect();
                json!({
                    "attachment": {
                        "type": "template",
                        "payload": {
                            "template_type": "button",
                            "text": truncate(&text, TEMPLATE_TEXT_MAX),
                            "buttons": buttons,
                        }
                    }
                })
            } else {
                quick_replies(&text, text_max, buttons.iter().map(|b| (&b.id, &b.title)))
            }
        }
        OutboundContent::List {
            body,
            header,
            sections,
            ..
        } => {
            let text = match header.as_deref().filter(|h| !h.is_empty()) {
                Some(header) => format!("{header}\n\n{body}"),
                None => body.clone(),
            };
            quick_replies(
                &text,
                text_max,
                sections
                    .iter()
                    .flat_map(|s| s.rows.iter())
                    .map(|r| (&r.id, &r.title)),
            )
        }
        OutboundContent::Template { name, .. } => {
            return Err(refused(format!(
                "template {name}: {} has no message templates",
                platform.name()
            )));
        }
    })
}

/// A text with quick replies (at most 13; none: plain text).
fn quick_replies<'a>(
    text: &str,
    text_max: usize,
    choices: impl Iterator<Item = (&'a String, &'a String)>,
) -> Value {
    let replies: Vec<Value> = choices
        .take(QUICK_REPLIES_MAX)
        .map(|(id, title)| {
            json!({
                "content_type": "text",
                "title": truncate(title, QUICK_REPLY_TITLE_MAX),
                "payload": truncate(id, PAYLOAD_MAX),
            })
        })
        .collect();
    let mut message = json!({ "text": truncate(text, text_max) });
    if !replies.is_empty() {
        message["quick_replies"] = Value::Array(replies);
    }
    message
}

#[cfg(test)]
mod tests;
