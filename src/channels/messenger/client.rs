//! The Messenger Send API client: `POST {base}/{version}/{page id}/messages` with the page's
//! access token.
//!
//! Text goes as `message.text`; the bot's buttons as a button template (at most 3 postback
//! buttons) and its lists as quick replies (at most 13); images, video, audio and files as
//! URL (or uploaded `attachment_id`) attachments. Every message goes with
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

use super::window::MessagingType;
use super::{message_id, psid_of};
use crate::channels::whatsapp::client::{map_reqwest_error, parse_error, truncate};
use crate::channels::{ChannelClient, RetryClass, SendAccepted, SendError, SendRequest};
use crate::config::{MessengerPageSettings, MessengerSettings};
use crate::domain::{AccountId, ChannelKind, MediaKind, MediaSource, OutboundContent};

/// Messenger's limits (characters, items).
const TEXT_MAX: usize = 2000;
const TEMPLATE_TEXT_MAX: usize = 640;
const BUTTONS_MAX: usize = 3;
const BUTTON_TITLE_MAX: usize = 20;
const QUICK_REPLIES_MAX: usize = 13;
const QUICK_REPLY_TITLE_MAX: usize = 20;
const PAYLOAD_MAX: usize = 1000;

/// Sends through one Facebook Page.
pub struct MessengerClient {
    http: reqwest::Client,
    url: String,
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
        let url = format!(
            "{}/{}/{}/messages",
            settings.api_base_url.trim_end_matches('/'),
            settings.api_version.trim_matches('/'),
            page.page_id
        );
        Self {
            http,
            url,
            page: AccountId::new(page.page_id.clone()),
            token: page.page_access_token.clone(),
            timeout: Duration::from_millis(settings.request_timeout_ms.max(1)),
            human_agent: page.human_agent,
        }
    }

    /// The messages endpoint this client posts to.
    pub fn url(&self) -> &str {
        &self.url
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
        let body = match request_body(request, messaging_type)? {
            Some(body) => body,
            // Nothing to send (a read receipt names no recipient on this channel).
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
            Ok(body) => body.message_id.map(|mid| message_id(&self.page, &mid)),
            Err(err) => {
                tracing::warn!(error = %err, "messenger: unreadable success body");
                None
            }
        };
        SendAccepted { provider_id }
    }
}

impl ChannelClient for MessengerClient {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Messenger
    }

    fn send<'a>(
        &'a self,
        request: &'a SendRequest,
    ) -> BoxFuture<'a, Result<SendAccepted, SendError>> {
        self.post(request).boxed()
    }
}

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
    let SendRequest::Message { to, content, .. } = request else {
        return Ok(None);
    };
    let Some(psid) = psid_of(to) else {
        return Err(refused(format!("{to} is not a Messenger customer")));
    };
    let message = message_object(content)?;
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
    Ok(match content {
        OutboundContent::Text { body, .. } => json!({ "text": truncate(body, TEXT_MAX) }),
        OutboundContent::Media {
            kind,
            source,
            caption,
            ..
        } => {
            let kind = match kind {
                MediaKind::Image | MediaKind::Sticker => "image",
                MediaKind::Video => "video",
                MediaKind::Audio => "audio",
                MediaKind::Document => "file",
            };
            let payload = match source {
                MediaSource::Link(url) => json!({ "url": url, "is_reusable": true }),
                MediaSource::Id(id) => json!({ "attachment_id": id }),
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
                json!({ "text": truncate(&text, TEXT_MAX) })
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
                quick_replies(&text, buttons.iter().map(|b| (&b.id, &b.title)))
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
                sections
                    .iter()
                    .flat_map(|s| s.rows.iter())
                    .map(|r| (&r.id, &r.title)),
            )
        }
        OutboundContent::Template { name, .. } => {
            return Err(refused(format!(
                "template {name}: Messenger has no message templates"
            )));
        }
    })
}

/// A text with quick replies (at most 13; none: plain text).
fn quick_replies<'a>(text: &str, choices: impl Iterator<Item = (&'a String, &'a String)>) -> Value {
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
    let mut message = json!({ "text": truncate(text, TEXT_MAX) });
    if !replies.is_empty() {
        message["quick_replies"] = Value::Array(replies);
    }
    message
}

#[cfg(test)]
mod tests;
