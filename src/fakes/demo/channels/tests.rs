use super::*;
use crate::channels::WebhookParser;
use crate::channels::instagram::InstagramWebhookParser;
use crate::channels::messenger::webhook::MessengerWebhookParser;
use crate::channels::telegram::webhook::TelegramWebhookParser;
use crate::channels::x::webhook::XWebhookParser;
use crate::domain::{AccountId, InboundEvent, MessageContent};

fn send(body: Value) -> Result<ChannelSend, String> {
    serde_json::from_value(body).map_err(|e| e.to_string())
}

fn input(channel: Channel, body: Value) -> ChannelInput {
    let request = send(body).expect("json");
    check(channel, &request).expect("valid")
}

fn fixture(path: &str) -> Value {
    let path = format!("{}/tests/fixtures/{path}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The one message the parser makes of `webhook`: its content.
fn parsed(parser: &dyn WebhookParser, webhook: &Value) -> MessageContent {
    let body = serde_json::to_vec(webhook).expect("json");
    let envelopes = parser.parse(&body).expect("the gateway parses it");
    assert_eq!(envelopes.len(), 1, "{envelopes:#?}");
    match &envelopes[0].event {
        InboundEvent::Message(m) => m.content.clone(),
        other => panic!("not a message: {other:?}"),
    }
}

#[test]
fn the_defaults_are_the_demo_configurations_channels() {
    use secrecy::ExposeSecret;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let settings =
        crate::config::Settings::load_from(&dir, "local", false).expect("the demo configuration");
    let d = DemoChannels::default();
    let channel = |name: &str| settings.channels.get(name).expect(name);
    let bot = channel(&d.telegram_channel)
        .telegram
        .as_ref()
        .expect("a bot");
    assert_eq!(bot.bot_token.expose_secret(), d.telegram_bot_token);
    assert_eq!(
        bot.webhook_secret.expose_secret(),
        d.telegram_webhook_secret
    );
    let page = channel("messenger").messenger.as_ref().expect("a page");
    assert_eq!(page.page_id, d.messenger_page_id);
    assert_eq!(
        settings.messenger.app_secret.expose_secret(),
        d.messenger_app_secret
    );
    let account = channel("instagram").instagram.as_ref().expect("an account");
    assert_eq!(account.account_id, d.instagram_account_id);
    assert_eq!(
        settings.instagram.app_secret.expose_secret(),
        d.instagram_app_secret
    );
    let x = channel("x").x.as_ref().expect("an X account");
    assert_eq!(x.account_id, d.x_account_id);
    assert_eq!(
        settings.x.consumer_secret.expose_secret(),
        d.x_consumer_secret
    );
    let widget = channel(&d.webchat_channel)
        .webchat
        .as_ref()
        .expect("a widget");
    assert_eq!(
        widget.website_token.expose_secret(),
        d.webchat_website_token
    );
    // The demo website (fake-graph's `/website`) may embed it.
    for origin in ["http://127.0.0.1:9090", "http://localhost:9090"] {
        assert!(widget.origins.iter().any(|o| o == origin), "{origin}");
    }
}

#[test]
fn messenger_and_instagram_webhooks_are_shaped_like_metas_fixtures() {
    let text = fixture("messenger/text");
    let at = DateTime::from_timestamp_millis(1458692752478).expect("time");
    let customer = input(
        Channel::Messenger,
        json!({"from": "6789012345", "text": "hello, world!"}),
    );
    let mid = "mid.1457764197618:41d102a3e1ae206a38";
    assert_eq!(
        meta_messaging("page", "1234567890", &customer, mid, at),
        text
    );

    let quick = fixture("messenger/quick_reply");
    let at = DateTime::from_timestamp_millis(1458692760000).expect("time");
    let pressed = input(
        Channel::Messenger,
        json!({"from": "6789012345",
               "button": {"id": "main_menu/person", "title": "Talk to a person"}}),
    );
    assert_eq!(
        meta_messaging("page", "1234567890", &pressed, "m_quick_reply_1", at),
        quick
    );

    let postback = fixture("messenger/postback");
    let at = DateTime::from_timestamp_millis(1458692780000).expect("time");
    let pressed = input(
        Channel::Messenger,
        json!({"from": "6789012345",
               "button": {"id": "main_menu/track", "title": "Track my order", "kind": "postback"}}),
    );
    assert_eq!(
        meta_messaging("page", "1234567890", &pressed, "m_postback_1", at),
        postback
    );

    // The gateway's parsers read them as the customer's text and presses.
    let at = Utc::now();
    assert_eq!(
        parsed(
            &MessengerWebhookParser,
            &meta_messaging("page", "1234567890", &customer, "m_1", at)
        ),
        MessageContent::Text {
            body: "hello, world!".into()
        }
    );
    let on_instagram = meta_messaging("instagram", "17841400000000001", &pressed, "m_2", at);
    assert_eq!(on_instagram["object"], "instagram");
    match parsed(&InstagramWebhookParser, &on_instagram) {
        MessageContent::ButtonReply { id, .. } => assert_eq!(id, "main_menu/track"),
        other => panic!("a press: {other:?}"),
    }
}

#[test]
fn telegram_updates_and_x_deliveries_are_read_by_the_gateways_parsers() {
    let at = Utc::now();
    let bot = TelegramWebhookParser {
        account: AccountId::new("123456789"),
    };
    let hello = input(
        Channel::Telegram,
        json!({"from": "7001", "name": "Ana", "text": "hi"}),
    );
    let update = telegram_update(&hello, 10, 11, at, 123456789, None);
    assert_eq!(update["message"]["chat"]["id"], 7001);
    assert_eq!(
        parsed(&bot, &update),
        MessageContent::Text { body: "hi".into() }
    );
    let menu = json!({"chat_id": 7001, "text": "How can we help?", "reply_markup":
        {"inline_keyboard": [[{"text": "Talk to a person", "callback_data": "main_menu/person"}]]}});
    let press = input(
        Channel::Telegram,
        json!({"from": "7001", "button": {"id": "main_menu/person", "title": "Talk to a person",
                                           "reply_to": "1001"}}),
    );
    let update = telegram_update(&press, 12, 12, at, 123456789, Some(&menu));
    assert_eq!(update["callback_query"]["message"]["message_id"], 1001);
    assert_eq!(
        update["callback_query"]["message"]["reply_markup"],
        menu["reply_markup"]
    );
    match parsed(&bot, &update) {
        MessageContent::ButtonReply { id, .. } => assert_eq!(id, "main_menu/person"),
        other => panic!("a press: {other:?}"),
    }

    // X: a text, and a press of a numbered option is its number as text.
    let number = input(
        Channel::X,
        json!({"from": "42", "name": "Jo", "button": {"id": "3", "title": "Talk to a person"}}),
    );
    assert_eq!(number.act, Act::Text("3".into()));
    let delivery = x_delivery("1500000000000000001", &number, "1900000000000000001", at);
    assert_eq!(
        parsed(&XWebhookParser, &delivery),
        MessageContent::Text { body: "3".into() }
    );
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let cases = [
        (
            Channel::Telegram,
            json!({"from": "12a", "text": "hi"}),
            "user id",
        ),
        (
            Channel::Telegram,
            json!({"from": "0", "text": "hi"}),
            "user id",
        ),
        (Channel::X, json!({"from": "42"}), "exactly one"),
        (
            Channel::Messenger,
            json!({"from": "42", "text": "hi", "button": {"id": "a", "title": "A"}}),
            "exactly one",
        ),
        (
            Channel::Instagram,
            json!({"from": "42", "text": "  "}),
            "text is empty",
        ),
        (
            Channel::Telegram,
            json!({"from": "42", "button": {"id": "a", "title": "A"}}),
            "reply_to",
        ),
        (
            Channel::Messenger,
            json!({"from": "42", "button": {"id": "a", "title": "A", "kind": "url"}}),
            "quick_reply or postback",
        ),
    ];
    for (channel, body, reason) in cases {
        let request = send(body.clone()).expect("json");
        let error = check(channel, &request).expect_err("refused");
        assert!(error.contains(reason), "{body}: {error}");
    }
    assert!(send(json!({"from": "42", "txt": "hi"})).is_err());
    assert_eq!(Channel::parse("whatsapp"), None);
}

#[test]
fn what_the_gateway_sent_shows_with_its_buttons() {
    let at = Utc::now();
    let call = RecordedCall {
        token: "123456789:demo-telegram-bot-token".into(),
        method: "sendMessage".into(),
        body: json!({"chat_id": 7001, "text": "Menu", "reply_markup": {"inline_keyboard":
            [[{"text": "Track", "callback_data": "m/track"}], [{"text": "Person", "callback_data": "m/person"}]]}}),
        ok: true,
        file: None,
        message_id: Some(1001),
        received_at: at,
    };
    let row = telegram_row(&call, "7001").expect("a row");
    assert_eq!(row["id"], "1001");
    assert_eq!(row["text"], "Menu");
    assert_eq!(
        row["buttons"],
        json!([{"id": "m/track", "title": "Track", "kind": "callback"},
               {"id": "m/person", "title": "Person", "kind": "callback"}])
    );
    assert!(telegram_row(&call, "7002").is_none());

    let template = SendCall {
        page_id: "1234567890".into(),
        authorization: None,
        body: json!({"recipient": {"id": "42"}, "message": {"attachment": {"type": "template",
            "payload": {"template_type": "button", "text": "Pick one",
                        "buttons": [{"type": "postback", "title": "Track", "payload": "m/track"}]}}}}),
        message_id: Some("m_fake1".into()),
        received_at: at,
    };
    let row = messenger_row(&template, "1234567890", "42").expect("a row");
    assert_eq!(row["text"], "Pick one");
    assert_eq!(
        row["buttons"],
        json!([{"id": "m/track", "title": "Track", "kind": "postback"}])
    );
    assert!(messenger_row(&template, "17841400000000001", "42").is_none());
    let quick = SendCall {
        body: json!({"recipient": {"id": "42"}, "message": {"text": "Language?",
            "quick_replies": [{"content_type": "text", "title": "English", "payload": "l/en"}]}}),
        ..template.clone()
    };
    let row = messenger_row(&quick, "1234567890", "42").expect("a row");
    assert_eq!(
        row["buttons"],
        json!([{"id": "l/en", "title": "English", "kind": "quick_reply"}])
    );

    assert_eq!(
        numbered_options(
            "Acme\n\nHow can we help?\n\n1. Track my order\n2. Talk to a person\n\nThanks. Bye"
        ),
        vec![
            ("1".to_string(), "Track my order".to_string()),
            ("2".to_string(), "Talk to a person".to_string())
        ]
    );
}

#[test]
fn the_website_embeds_the_widget_of_the_gateway() {
    let html = website_html("http://127.0.0.1:8080", "webchat", "tok\"<x>");
    assert!(html.contains(
        r#"<script src="http://127.0.0.1:8080/widget.js" data-channel="webchat" data-token="tok&quot;&lt;x&gt;" async>"#
    ), "{html}");
    let csp = website_csp("http://127.0.0.1:8080");
    assert!(csp.contains("script-src http://127.0.0.1:8080;"), "{csp}");
    assert!(
        csp.contains("connect-src http://127.0.0.1:8080 ws://127.0.0.1:8080;"),
        "{csp}"
    );
}

#[test]
fn both_sides_are_merged_oldest_first() {
    let row = |id: &str, at: &str| json!({"id": id, "at": at});
    let merged = merge(
        vec![
            row("c1", "2026-01-01T10:00:00+00:00"),
            row("c2", "2026-01-01T10:00:05+00:00"),
        ],
        vec![
            row("b1", "2026-01-01T10:00:00+00:00"),
            row("b2", "2026-01-01T10:00:03+00:00"),
        ],
    );
    let ids: Vec<&str> = merged.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids, ["c1", "b1", "b2", "c2"]);
}
