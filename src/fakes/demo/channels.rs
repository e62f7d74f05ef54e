//! The demo page's other channels: the person plays a Telegram, Messenger, Instagram or X
//! customer. What the page sends becomes exactly the webhook that provider delivers (a
//! Telegram Update with the bot's secret header; Messenger's `object: page` and Instagram's
//! `object: instagram` signed with their app secrets; an X Account Activity delivery signed
//! with the consumer secret); what the gateway sends that customer (recorded by fake-graph's
//! Bot API, Send API and DM API) comes back as the conversation, with the buttons the customer
//! can press: Telegram's inline keyboard (a `callback_query`), Messenger's and Instagram's
//! quick replies and postback buttons, X's numbered lines (the number sent as a DM).
//!
//! Endpoints, under `/_demo/{channel}/` (`telegram`, `messenger`, `instagram`, `x`):
//! - `POST send` `{from, name?, text | button {id, title, kind?, reply_to?}}`: one customer
//!   message or press (`kind`: Messenger's `quick_reply` or `postback`; `reply_to`: the
//!   Telegram message whose button was pressed);
//! - `GET conversation?user=…`: both sides, oldest first, as
//!   `{id, from, at, text, buttons: [{id, title, kind}], status}`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Delivery, Demo, SEND_ATTEMPTS, SEND_PAUSE, bounded, enabled, lock, optional, parse};
use crate::channels::signature::SignatureVerifier;
use crate::channels::x::XSigner;
use crate::fakes::graph::Shared;
use crate::fakes::messenger::SendCall;
use crate::fakes::statuses::post_with_header;
use crate::fakes::telegram::RecordedCall;
use crate::fakes::x::SentDm;
use crate::http::error::ApiError;

/// Customer messages kept for these channels (all together); older ones are forgotten first.
const MAX_MESSAGES: usize = 10_000;

/// The demo configuration's channels of each kind (config/base.yaml): their ids and secrets.
#[derive(Clone, Debug)]
pub struct DemoChannels {
    /// The Telegram channel's name: its webhook is `/webhooks/telegram/{name}`.
    pub telegram_channel: String,
    /// BotFather's token (`<bot id>:<secret>`): the calls of this bot are the conversation.
    pub telegram_bot_token: String,
    /// `X-Telegram-Bot-Api-Secret-Token`.
    pub telegram_webhook_secret: String,
    /// The Facebook Page's id and the Messenger app's secret.
    pub messenger_page_id: String,
    pub messenger_app_secret: String,
    /// The Instagram account's id and the app's secret.
    pub instagram_account_id: String,
    pub instagram_app_secret: String,
    /// The X account's user id (`for_user_id`) and the app's consumer secret.
    pub x_account_id: String,
    pub x_consumer_secret: String,
    /// The web chat channel and its website token: the demo "website" embeds its widget.
    pub webchat_channel: String,
    pub webchat_website_token: String,
}

impl Default for DemoChannels {
    fn default() -> Self {
        DemoChannels {
            telegram_channel: "telegram".into(),
            telegram_bot_token: "123456789:demo-telegram-bot-token".into(),
            telegram_webhook_secret: "demo-telegram-webhook-secret".into(),
            messenger_page_id: "1234567890".into(),
            messenger_app_secret: "demo-messenger-app-secret".into(),
            instagram_account_id: "17841400000000001".into(),
            instagram_app_secret: "demo-instagram-app-secret".into(),
            x_account_id: "1500000000000000001".into(),
            x_consumer_secret: "demo-x-consumer-secret".into(),
            webchat_channel: "webchat".into(),
            webchat_website_token: "demo-webchat-website-token".into(),
        }
    }
}

/// A channel the page plays besides WhatsApp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Telegram,
    Messenger,
    Instagram,
    X,
}

impl Channel {
    pub fn parse(name: &str) -> Option<Channel> {
        match name {
            "telegram" => Some(Channel::Telegram),
            "messenger" => Some(Channel::Messenger),
            "instagram" => Some(Channel::Instagram),
            "x" => Some(Channel::X),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What the page sends: checked, then shaped like the provider's webhook (pure).

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSend {
    pub from: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub button: Option<Press>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Press {
    pub id: String,
    pub title: String,
    /// Messenger/Instagram: `quick_reply` (default) or `postback`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Telegram: the id of the bot's message whose button was pressed.
    #[serde(default)]
    pub reply_to: Option<String>,
}

/// What the customer did.
#[derive(Debug, PartialEq)]
pub enum Act {
    Text(String),
    /// A Telegram inline button (`callback_data`, labelled `title`) of the bot's message
    /// `message_id`.
    Callback {
        data: String,
        title: String,
        message_id: i64,
    },
    /// A Messenger/Instagram quick reply.
    QuickReply {
        payload: String,
        title: String,
    },
    /// A Messenger/Instagram postback button.
    Postback {
        payload: String,
        title: String,
    },
}

/// A checked customer message.
#[derive(Debug, PartialEq)]
pub struct ChannelInput {
    pub user: String,
    pub name: String,
    pub act: Act,
}

impl ChannelInput {
    /// What the page shows for it (a press: the button's label).
    pub fn shown(&self) -> &str {
        match &self.act {
            Act::Text(text) => text,
            Act::Callback { title, .. }
            | Act::QuickReply { title, .. }
            | Act::Postback { title, .. } => title,
        }
    }
}

/// Check what the page sent for `channel`: a user id of digits, a name, a text or a press.
pub fn check(channel: Channel, request: &ChannelSend) -> Result<ChannelInput, String> {
    let user = request.from.trim();
    if !(1..=19).contains(&user.len())
        || !user.bytes().all(|b| b.is_ascii_digit())
        || user.parse::<i64>().map_or(true, |n| n <= 0)
    {
        return Err("from must be a user id: 1 to 19 digits".into());
    }
    let name = optional("name", request.name.as_deref(), 60)?
        .unwrap_or_else(|| "Demo customer".to_string());
    let act = match (&request.text, &request.button) {
        (Some(text), None) => Act::Text(bounded("text", text, 4096)?),
        (None, Some(press)) => {
            let id = bounded("button.id", &press.id, 256)?;
            let title = bounded("button.title", &press.title, 80)?;
            match channel {
                Channel::Telegram => {
                    let message_id = press
                        .reply_to
                        .as_deref()
                        .and_then(|m| m.trim().parse::<i64>().ok())
                        .ok_or("button.reply_to must be the id of the bot's message")?;
                    if id.len() > 64 {
                        return Err(
                            "button.id is Telegram's callback_data: at most 64 bytes".into()
                        );
                    }
                    Act::Callback {
                        data: id,
                        title,
                        message_id,
                    }
                }
                Channel::Messenger | Channel::Instagram => {
                    match press.kind.as_deref().unwrap_or("quick_reply") {
                        "quick_reply" => Act::QuickReply { payload: id, title },
                        "postback" => Act::Postback { payload: id, title },
                        other => {
                            return Err(format!(
                                "button.kind is quick_reply or postback, not {other:?}"
                            ));
                        }
                    }
                }
                // X has no buttons: the customer answers a numbered menu with the number.
                Channel::X => Act::Text(id),
            }
        }
        _ => return Err("give exactly one of text, button".into()),
    };
    Ok(ChannelInput {
        user: user.to_string(),
        name,
        act,
    })
}

/// Telegram's Update for `input`: a message in the private chat, or the press of a button of
/// the bot's message `pressed` (its recorded `sendMessage` body) as a `callback_query`.
pub fn telegram_update(
    input: &ChannelInput,
    update_id: i64,
    message_id: i64,
    at: DateTime<Utc>,
    bot_id: i64,
    pressed: Option<&Value>,
) -> Value {
    let user_id = input.user.parse::<i64>().unwrap_or_default();
    let from = json!({"id": user_id, "is_bot": false, "first_name": input.name});
    let chat = json!({"id": user_id, "first_name": input.name, "type": "private"});
    match &input.act {
        Act::Callback {
            data,
            message_id: pressed_id,
            ..
        } => {
            let mut message = json!({
                "message_id": pressed_id,
                "from": {"id": bot_id, "is_bot": true, "first_name": "Demo bot"},
                "chat": chat,
                "date": at.timestamp(),
            });
            if let Some(body) = pressed {
                for field in ["text", "reply_markup"] {
                    if let Some(value) = body.get(field) {
                        message[field] = value.clone();
                    }
                }
            }
            json!({
                "update_id": update_id,
                "callback_query": {
                    "id": format!("{update_id}"),
                    "from": from,
                    "message": message,
                    "chat_instance": format!("-{user_id}"),
                    "data": data,
                }
            })
        }
        other => {
            let text = match other {
                Act::Text(text) => text.as_str(),
                _ => input.shown(),
            };
            json!({
                "update_id": update_id,
                "message": {
                    "message_id": message_id,
                    "from": from,
                    "chat": chat,
                    "date": at.timestamp(),
                    "text": text,
                }
            })
        }
    }
}

/// Messenger's (`object: page`) or Instagram's (`object: instagram`) webhook for `input`
/// from the customer `input.user` to the page or account `recipient`.
pub fn meta_messaging(
    object: &str,
    recipient: &str,
    input: &ChannelInput,
    mid: &str,
    at: DateTime<Utc>,
) -> Value {
    let ms = at.timestamp_millis();
    let mut event = json!({
        "sender": {"id": input.user},
        "recipient": {"id": recipient},
        "timestamp": ms,
    });
    match &input.act {
        Act::Postback { payload, title } => {
            event["postback"] = json!({"mid": mid, "title": title, "payload": payload});
        }
        Act::QuickReply { payload, title } => {
            event["message"] =
                json!({"mid": mid, "text": title, "quick_reply": {"payload": payload}});
        }
        other => {
            let text = match other {
                Act::Text(text) => text.as_str(),
                _ => input.shown(),
            };
            event["message"] = json!({"mid": mid, "text": text});
        }
    }
    json!({
        "object": object,
        "entry": [{"id": recipient, "time": ms, "messaging": [event]}],
    })
}

/// X's Account Activity delivery of a DM `input` (a text) to the account `account_id`.
pub fn x_delivery(
    account_id: &str,
    input: &ChannelInput,
    event_id: &str,
    at: DateTime<Utc>,
) -> Value {
    let user = input.user.as_str();
    let screen_name: String = input
        .name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(15)
        .collect();
    json!({
        "for_user_id": account_id,
        "direct_message_events": [{
            "type": "message_create",
            "id": event_id,
            "created_timestamp": at.timestamp_millis().to_string(),
            "message_create": {
                "target": {"recipient_id": account_id},
                "sender_id": user,
                "message_data": {"text": input.shown(), "entities": {}},
            },
        }],
        "users": {
            user: {"id": user, "name": input.name,
                   "screen_name": if screen_name.is_empty() { "customer".to_string() } else { screen_name },
                   "protected": false, "verified": false},
            account_id: {"id": account_id, "name": "Demo business", "screen_name": "demo"},
        },
    })
}

// ---------------------------------------------------------------------------------------------
// What the gateway sent, as the page shows it (pure).

fn button(id: &str, title: &str, kind: &str) -> Value {
    json!({"id": id, "title": title, "kind": kind})
}

fn business_row(id: String, at: DateTime<Utc>, text: String, buttons: Vec<Value>) -> Value {
    json!({"id": id, "from": "business", "at": at.to_rfc3339(), "text": text,
           "buttons": buttons, "status": "sent"})
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// A Bot API call of the bot to chat `user` (a message it sent), as a row.
pub fn telegram_row(call: &RecordedCall, user: &str) -> Option<Value> {
    let message_id = call.message_id?;
    if !call.ok || call.chat_id().map(|c| c.to_string()).as_deref() != Some(user) {
        return None;
    }
    let body = &call.body;
    let text = match call.method.as_str() {
        "sendMessage" => str_at(body, "/text").unwrap_or_default().to_string(),
        method => {
            let kind = method.strip_prefix("send").unwrap_or(method).to_lowercase();
            let caption = str_at(body, "/caption").unwrap_or_default();
            format!("[{kind}] {caption}").trim().to_string()
        }
    };
    let buttons = body
        .pointer("/reply_markup/inline_keyboard")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|b| {
            let data = str_at(b, "/callback_data")?;
            Some(button(data, str_at(b, "/text").unwrap_or(data), "callback"))
        })
        .collect();
    Some(business_row(
        message_id.to_string(),
        call.received_at,
        text,
        buttons,
    ))
}

/// A Send API call of page or account `page_id` to `user`, as a row.
pub fn messenger_row(call: &SendCall, page_id: &str, user: &str) -> Option<Value> {
    let mid = call.message_id.clone()?;
    if call.page_id != page_id || call.recipient() != Some(user) {
        return None;
    }
    let message = call.body.get("message")?;
    let payload = message.pointer("/attachment/payload");
    let text = str_at(message, "/text")
        .or_else(|| payload.and_then(|p| str_at(p, "/text")))
        .map(str::to_string)
        .unwrap_or_else(|| {
            let kind = str_at(message, "/attachment/type").unwrap_or("message");
            format!("[{kind}]")
        });
    let mut buttons: Vec<Value> = payload
        .and_then(|p| p.get("buttons"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("postback"))
        .filter_map(|b| {
            let payload = str_at(b, "/payload")?;
            Some(button(
                payload,
                str_at(b, "/title").unwrap_or(payload),
                "postback",
            ))
        })
        .collect();
    buttons.extend(
        message
            .get("quick_replies")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|q| {
                let payload = str_at(q, "/payload")?;
                Some(button(
                    payload,
                    str_at(q, "/title").unwrap_or(payload),
                    "quick_reply",
                ))
            }),
    );
    Some(business_row(mid, call.received_at, text, buttons))
}

/// The options of a numbered menu (`1. Track my order` lines): `(number, title)`.
pub fn numbered_options(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let (number, title) = line.trim().split_once(". ")?;
            (!number.is_empty() && number.len() <= 3 && number.bytes().all(|b| b.is_ascii_digit()))
                .then(|| (number.to_string(), title.trim().to_string()))
        })
        .collect()
}

/// A DM of the account to `user`, as a row: its numbered lines become buttons.
pub fn x_row(dm: &SentDm, user: &str) -> Option<Value> {
    let id = dm.dm_event_id.clone()?;
    if dm.participant_id != user {
        return None;
    }
    let text = dm
        .text()
        .map(str::to_string)
        .unwrap_or_else(|| "[media]".to_string());
    let buttons = numbered_options(&text)
        .iter()
        .map(|(number, title)| button(number, title, "number"))
        .collect();
    Some(business_row(id, dm.received_at, text, buttons))
}

// ---------------------------------------------------------------------------------------------
// State and HTTP.

/// A message the page sent on one of these channels.
#[derive(Clone, Debug)]
pub(crate) struct ChannelMessage {
    channel: Channel,
    user: String,
    id: String,
    at: DateTime<Utc>,
    text: String,
    delivery: Delivery,
}

#[derive(Default)]
pub(crate) struct ChannelState {
    messages: VecDeque<ChannelMessage>,
}

/// Ids that grow and do not repeat across restarts of the fake (the gateway dedupes by them).
pub(crate) struct Ids(AtomicI64);

impl Ids {
    pub(crate) fn new() -> Ids {
        Ids(AtomicI64::new(Utc::now().timestamp_millis()))
    }

    fn next(&self) -> i64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/website", web::get().to(website))
        .route("/_demo/{channel}/send", web::post().to(send))
        .route("/_demo/{channel}/conversation", web::get().to(conversation));
}

/// `&`, `<`, `>` and `"` escaped for an HTML attribute.
fn attribute(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A business's website embedding the gateway's web chat widget, as a site would
/// (`<script src="{gateway}/widget.js" data-channel=… data-token=…>`); `gateway`: an origin.
pub fn website_html(gateway: &str, channel: &str, token: &str) -> String {
    let (gateway, channel, token) = (attribute(gateway), attribute(channel), attribute(token));
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme: the demo business's website</title>
<link rel="stylesheet" href="/_demo/demo.css">
</head>
<body class="website">
<header class="bar"><p class="to">Acme, the demo business: its website, with the web chat widget
of the gateway (bottom corner). The <a href="/">customer page</a> plays the other channels.</p></header>
<main><h1>Acme</h1><p>Orders, deliveries, returns and appointments. Questions? Chat with us.</p></main>
<script src="{gateway}/widget.js" data-channel="{channel}" data-token="{token}" async></script>
</body>
</html>
"#
    )
}

/// The website's CSP: the widget's script, API and WebSocket from the gateway, its inline
/// styles (in its shadow root), nothing else.
fn website_csp(gateway: &str) -> String {
    let ws = gateway
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1);
    format!(
        "default-src 'none'; script-src {gateway}; style-src 'self' 'unsafe-inline'; \
         connect-src {gateway} {ws}; img-src {gateway} blob: data:; media-src {gateway} blob:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

async fn website(shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    use actix_web::http::header;
    let demo = enabled(&shared)?;
    let gateway = reqwest::Url::parse(&demo.config.webhook_url)
        .map(|u| u.origin().ascii_serialization())
        .map_err(|e| ApiError::Internal(format!("webhook URL: {e}")))?;
    let c = &demo.config.channels;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CONTENT_SECURITY_POLICY, website_csp(&gateway)))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(website_html(
            &gateway,
            &c.webchat_channel,
            &c.webchat_website_token,
        )))
}

fn channel_of(name: &str) -> Result<Channel, ApiError> {
    Channel::parse(name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no demo channel {name:?} (telegram, messenger, instagram, x)"
        ))
    })
}

/// The gateway's URL at `path` (the origin of the configured WhatsApp webhook URL).
fn webhook_url(demo: &Demo, path: &str) -> Result<String, ApiError> {
    reqwest::Url::parse(&demo.config.webhook_url)
        .and_then(|u| u.join(path))
        .map(String::from)
        .map_err(|e| ApiError::Internal(format!("webhook URL: {e}")))
}

/// A customer's webhook, ready to post.
struct Webhook {
    url: String,
    /// The id the page shows the message under.
    id: String,
    body: Vec<u8>,
    /// The header that authenticates it (a secret or a signature).
    header: (&'static str, String),
}

/// The webhook for `input`: its URL, body and the header that authenticates it.
fn webhook(
    demo: &Demo,
    shared: &Shared,
    channel: Channel,
    input: &ChannelInput,
    at: DateTime<Utc>,
) -> Result<Webhook, ApiError> {
    let c = &demo.config.channels;
    let internal = |e: String| ApiError::Internal(e);
    let to_bytes = |v: &Value| serde_json::to_vec(v).map_err(|e| internal(e.to_string()));
    match channel {
        Channel::Telegram => {
            let update_id = demo.ids.next();
            let bot_id = c
                .telegram_bot_token
                .split(':')
                .next()
                .and_then(|id| id.parse::<i64>().ok())
                .unwrap_or_default();
            let pressed = match &input.act {
                Act::Callback { message_id, .. } => {
                    let body = shared.telegram_calls().into_iter().rev().find(|call| {
                        call.message_id == Some(*message_id)
                            && call.chat_id().map(|c| c.to_string()).as_deref()
                                == Some(input.user.as_str())
                    });
                    match body {
                        Some(call) => Some(call.body),
                        None => {
                            return Err(ApiError::NotFound(format!(
                                "the bot sent {} no message {message_id}",
                                input.user
                            )));
                        }
                    }
                }
                _ => None,
            };
            let update = telegram_update(input, update_id, update_id, at, bot_id, pressed.as_ref());
            let id = match &input.act {
                Act::Callback { .. } => format!("cb{update_id}"),
                _ => update_id.to_string(),
            };
            Ok(Webhook {
                url: webhook_url(demo, &format!("/webhooks/telegram/{}", c.telegram_channel))?,
                id,
                body: to_bytes(&update)?,
                header: (
                    "x-telegram-bot-api-secret-token",
                    c.telegram_webhook_secret.clone(),
                ),
            })
        }
        Channel::Messenger | Channel::Instagram => {
            let (object, recipient, secret, path) = if channel == Channel::Messenger {
                (
                    "page",
                    &c.messenger_page_id,
                    &c.messenger_app_secret,
                    "/webhooks/messenger",
                )
            } else {
                (
                    "instagram",
                    &c.instagram_account_id,
                    &c.instagram_app_secret,
                    "/webhooks/instagram",
                )
            };
            let mid = format!("m_demo{}", uuid::Uuid::now_v7().simple());
            let body = to_bytes(&meta_messaging(object, recipient, input, &mid, at))?;
            let signer = SignatureVerifier::new(secret.as_bytes())
                .map_err(|e| internal(format!("app secret: {e}")))?;
            let signature = signer.sign(&body);
            Ok(Webhook {
                url: webhook_url(demo, path)?,
                id: mid,
                body,
                header: ("x-hub-signature-256", signature),
            })
        }
        Channel::X => {
            let event_id = demo.ids.next().to_string();
            let body = to_bytes(&x_delivery(&c.x_account_id, input, &event_id, at))?;
            let signer = XSigner::new(c.x_consumer_secret.as_bytes())
                .map_err(|e| internal(format!("consumer secret: {e}")))?;
            let signature = signer.sign(&body);
            Ok(Webhook {
                url: webhook_url(demo, "/webhooks/x")?,
                id: event_id,
                body,
                header: ("x-twitter-webhooks-signature", signature),
            })
        }
    }
}

async fn send(
    shared: web::Data<Shared>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let demo = enabled(&shared)?;
    let channel = channel_of(&path)?;
    let request: ChannelSend = parse(&body)?;
    let input = check(channel, &request).map_err(ApiError::BadRequest)?;
    let at = Utc::now();
    let Webhook {
        url,
        id,
        body: bytes,
        header: (header, value),
    } = webhook(&demo, &shared, channel, &input, at)?;
    {
        let mut state = lock_channels(&demo);
        while state.messages.len() >= MAX_MESSAGES {
            state.messages.pop_front();
        }
        state.messages.push_back(ChannelMessage {
            channel,
            user: input.user.clone(),
            id: id.clone(),
            at,
            text: input.shown().to_string(),
            delivery: Delivery::Sending,
        });
    }
    let result = post_with_header(
        &demo.http,
        &bytes,
        (header, &value),
        |_| Some(url.clone()),
        SEND_ATTEMPTS,
        SEND_PAUSE,
    )
    .await;
    if let Some(m) = lock_channels(&demo)
        .messages
        .iter_mut()
        .rev()
        .find(|m| m.id == id && m.channel == channel)
    {
        m.delivery = match &result {
            Ok(()) => Delivery::Delivered,
            Err(e) => Delivery::Failed(e.clone()),
        };
    }
    match result {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({"id": id, "status": "delivered"}))),
        Err(error) => {
            tracing::warn!(%id, %error, "demo: the gateway did not take a customer message");
            Ok(
                HttpResponse::build(StatusCode::BAD_GATEWAY).json(json!({"error": {
                    "code": "webhook_not_delivered",
                    "message": format!("the gateway did not take the webhook: {error}"),
                }})),
            )
        }
    }
}

fn lock_channels(demo: &Demo) -> std::sync::MutexGuard<'_, ChannelState> {
    lock(&demo.channels)
}

#[derive(Deserialize)]
struct ConversationQuery {
    user: String,
}

/// Both sides for `user` on `channel`, oldest first (a customer message before the answer it
/// caused at equal times).
pub(crate) fn merge(customer: Vec<Value>, business: Vec<Value>) -> Vec<Value> {
    let mut rows: Vec<Value> = customer.into_iter().chain(business).collect();
    rows.sort_by_key(|r| {
        r["at"]
            .as_str()
            .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.with_timezone(&Utc))
    });
    rows
}

async fn conversation(
    shared: web::Data<Shared>,
    path: web::Path<String>,
    query: web::Query<ConversationQuery>,
) -> Result<HttpResponse, ApiError> {
    let demo = enabled(&shared)?;
    let channel = channel_of(&path)?;
    let user = query.user.trim().to_string();
    let customer: Vec<Value> = lock_channels(&demo)
        .messages
        .iter()
        .filter(|m| m.channel == channel && m.user == user)
        .map(|m| {
            let (status, error) = match &m.delivery {
                Delivery::Sending => ("sending", None),
                Delivery::Delivered => ("delivered", None),
                Delivery::Failed(e) => ("failed", Some(e.clone())),
            };
            let mut row = json!({"id": m.id, "from": "customer", "at": m.at.to_rfc3339(),
                                 "text": m.text, "buttons": [], "status": status});
            if let Some(error) = error {
                row["error"] = json!(error);
            }
            row
        })
        .collect();
    let c = &demo.config.channels;
    let business: Vec<Value> = match channel {
        Channel::Telegram => shared
            .telegram_calls()
            .iter()
            .filter(|call| call.token == c.telegram_bot_token)
            .filter_map(|call| telegram_row(call, &user))
            .collect(),
        Channel::Messenger => shared
            .messenger_calls()
            .iter()
            .filter_map(|call| messenger_row(call, &c.messenger_page_id, &user))
            .collect(),
        Channel::Instagram => shared
            .messenger_calls()
            .iter()
            .filter_map(|call| messenger_row(call, &c.instagram_account_id, &user))
            .collect(),
        Channel::X => shared
            .x_calls()
            .iter()
            .filter_map(|dm| x_row(dm, &user))
            .collect(),
    };
    Ok(HttpResponse::Ok().json(json!({"user": user, "messages": merge(customer, business)})))
}

#[cfg(test)]
mod tests;
