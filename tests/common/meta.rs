//! Messenger and Instagram, as Meta delivers to them, for the channel tests: one
//! [`MetaChannel`] per platform of the demo configuration (its page or account id, this test's
//! app secret and verify token), building Meta's deliveries, signing and posting them, and
//! answering the bot's menus like a customer tapping a quick reply or a template button.

use serde_json::{Value, json};
use switchboard::channels::signature::SignatureVerifier;
use switchboard::config::Settings;
use switchboard::domain::CustomerId;
use switchboard::fakes::messenger::{FakeMessenger, SendCall};

use super::TestApp;
use super::console::WAIT;

/// One Meta messaging platform of the demo configuration.
pub struct MetaChannel {
    /// `messenger` or `instagram`: the channel id, the settings section, the webhook path and
    /// the customers' namespace.
    pub name: &'static str,
    /// The delivery's `object`.
    pub object: &'static str,
    /// The demo page (Messenger) or Instagram account (config/base.yaml).
    pub page_id: &'static str,
    pub app_secret: &'static str,
    pub verify_token: &'static str,
}

pub const MESSENGER: MetaChannel = MetaChannel {
    name: "messenger",
    object: "page",
    page_id: "1234567890",
    app_secret: "test-messenger-app-secret",
    verify_token: "test-messenger-verify-token",
};

pub const INSTAGRAM: MetaChannel = MetaChannel {
    name: "instagram",
    object: "instagram",
    page_id: "17841400000000001",
    app_secret: "test-instagram-app-secret",
    verify_token: "test-instagram-verify-token",
};

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl MetaChannel {
    /// The demo configuration's channel pointed at `fake`, with this test's secrets.
    pub fn configure(&self, settings: &mut Settings, fake: &FakeMessenger) {
        let app = match self.name {
            "instagram" => &mut settings.instagram,
            _ => &mut settings.messenger,
        };
        app.api_base_url = fake.base_url();
        app.app_secret = self.app_secret.to_string().into();
        app.verify_token = self.verify_token.to_string().into();
        let configured = settings
            .channels
            .get(self.name)
            .is_some_and(|c| c.messenger.is_some() || c.instagram.is_some());
        assert!(
            configured,
            "the demo configuration has a {} channel",
            self.name
        );
    }

    /// The customer `psid` (a PSID or an IGSID) as the gateway names them.
    pub fn customer(&self, psid: &str) -> CustomerId {
        CustomerId::new(format!("{}:{}:{psid}", self.name, self.page_id))
    }

    /// One delivery for the page or account with these `messaging` events.
    pub fn delivery(&self, messaging: Vec<Value>) -> Value {
        json!({
            "object": self.object,
            "entry": [{"id": self.page_id, "time": now_ms(), "messaging": messaging}]
        })
    }

    fn event(&self, psid: &str, body: (&str, Value)) -> Value {
        let mut event = json!({
            "sender": {"id": psid}, "recipient": {"id": self.page_id}, "timestamp": now_ms(),
        });
        event[body.0] = body.1;
        event
    }

    pub fn text(&self, psid: &str, mid: &str, text: &str) -> Value {
        self.event(psid, ("message", json!({"mid": mid, "text": text})))
    }

    pub fn quick_reply(&self, psid: &str, mid: &str, title: &str, payload: &str) -> Value {
        let message = json!({"mid": mid, "text": title, "quick_reply": {"payload": payload}});
        self.event(psid, ("message", message))
    }

    pub fn postback(&self, psid: &str, mid: &str, title: &str, payload: &str) -> Value {
        let postback = json!({"mid": mid, "title": title, "payload": payload});
        self.event(psid, ("postback", postback))
    }

    /// A customer's file, as Meta delivers it: a link to its CDN.
    pub fn attachment(&self, psid: &str, mid: &str, kind: &str, url: &str) -> Value {
        let message = json!({"mid": mid, "attachments": [{"type": kind, "payload": {"url": url}}]});
        self.event(psid, ("message", message))
    }

    /// POST `body` to the channel's webhook, signed with `secret` when there is one; the status.
    pub async fn post(&self, app: &TestApp, body: &Value, secret: Option<&str>) -> u16 {
        let bytes = serde_json::to_vec(body).expect("json");
        let mut request = app
            .client
            .post(format!("{}/webhooks/{}", app.address, self.name))
            .header("content-type", "application/json")
            .body(bytes.clone());
        if let Some(secret) = secret {
            let signature = SignatureVerifier::new(secret.as_bytes())
                .expect("key")
                .sign(&bytes);
            request = request.header("x-hub-signature-256", signature);
        }
        request
            .send()
            .await
            .expect("request sent")
            .status()
            .as_u16()
    }

    /// The customer picks `payload` from the newest message to `psid` offering it, as Meta
    /// sends it (a quick reply, or a template button's postback).
    pub async fn choose(
        &self,
        app: &TestApp,
        fake: &FakeMessenger,
        psid: &str,
        mid: &str,
        payload: &str,
        at_ms: i64,
    ) {
        let calls = fake
            .wait_until(WAIT, |calls| {
                calls.iter().any(|c| {
                    c.recipient() == Some(psid) && choices(c).iter().any(|(p, _, _)| p == payload)
                })
            })
            .await;
        let Some((_, title, quick)) = calls
            .iter()
            .rev()
            .filter(|c| c.recipient() == Some(psid))
            .flat_map(choices)
            .find(|(p, _, _)| p == payload)
        else {
            panic!("nothing offered {payload} to {psid}: {calls:#?}")
        };
        let mut event = if quick {
            self.quick_reply(psid, mid, &title, payload)
        } else {
            self.postback(psid, mid, &title, payload)
        };
        event["timestamp"] = json!(at_ms);
        assert_eq!(
            self.post(app, &self.delivery(vec![event]), Some(self.app_secret))
                .await,
            200
        );
    }
}

/// The choices a sent message offers: (payload, title, as quick reply?).
pub fn choices(call: &SendCall) -> Vec<(String, String, bool)> {
    let message = &call.body["message"];
    let quick = message["quick_replies"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|q| (q["payload"].clone(), q["title"].clone(), true));
    let buttons = message["attachment"]["payload"]["buttons"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| (b["payload"].clone(), b["title"].clone(), false));
    quick
        .chain(buttons)
        .filter_map(|(p, t, q)| Some((p.as_str()?.to_owned(), t.as_str()?.to_owned(), q)))
        .collect()
}
