use serde_json::json;

use super::*;
use crate::domain::{CustomerId, ListRow, ListSection, ProviderMessageId, ReplyButton};
use crate::fakes::messenger::FakeMessenger;

const PAGE: &str = "1234567890";
const PSID: &str = "6789012345";

fn to() -> CustomerId {
    super::super::customer_id(&AccountId::new(PAGE), PSID)
}

fn request(content: OutboundContent) -> SendRequest {
    SendRequest::Message {
        to: to(),
        content,
        reply_to: None,
        callback_data: Some("our-id".into()),
    }
}

fn body(content: OutboundContent) -> Value {
    request_body(&request(content), MessagingType::Response)
        .expect("sendable")
        .expect("a body")
}

fn settings(base: &str, timeout_ms: u64) -> MessengerSettings {
    MessengerSettings {
        api_base_url: base.into(),
        request_timeout_ms: timeout_ms,
        ..MessengerSettings::default()
    }
}

fn page() -> MessengerPageSettings {
    MessengerPageSettings {
        page_id: PAGE.into(),
        page_access_token: "page-token".to_string().into(),
        human_agent: false,
    }
}

fn text(body: &str) -> OutboundContent {
    OutboundContent::Text {
        body: body.into(),
        preview_url: false,
    }
}

#[test]
fn text_matches_the_send_api_example_as_a_response() {
    assert_eq!(
        body(text("hello, world!")),
        json!({
            "recipient": {"id": PSID},
            "messaging_type": "RESPONSE",
            "message": {"text": "hello, world!"}
        })
    );
    let tagged = request_body(&request(text("later")), MessagingType::HumanAgent)
        .expect("sendable")
        .expect("a body");
    assert_eq!(tagged["messaging_type"], "MESSAGE_TAG");
    assert_eq!(tagged["tag"], "HUMAN_AGENT");
}

#[test]
fn buttons_are_a_button_template_and_lists_quick_replies() {
    let buttons = |n: usize| OutboundContent::Buttons {
        body: "How can I help?".into(),
        header: None,
        footer: None,
        buttons: (0..n)
            .map(|i| ReplyButton {
                id: format!("main_menu/{i}"),
                title: format!("A rather long choice number {i}"),
            })
            .collect(),
    };
    assert_eq!(
        body(buttons(2))["message"],
        json!({"attachment": {"type": "template", "payload": {
            "template_type": "button",
            "text": "How can I help?",
            "buttons": [
                {"type": "postback", "title": "A rather long choice", "payload": "main_menu/0"},
                {"type": "postback", "title": "A rather long choice", "payload": "main_menu/1"}
            ]
        }}})
    );
    // More than a template takes: quick replies.
    let many = body(buttons(5));
    assert_eq!(
        many["message"]["quick_replies"].as_array().map(Vec::len),
        Some(5)
    );

    let list = OutboundContent::List {
        body: "Pick one".into(),
        header: None,
        footer: None,
        button: "Menu".into(),
        sections: vec![ListSection {
            title: None,
            rows: (0..20)
                .map(|i| ListRow {
                    id: format!("row/{i}"),
                    title: format!("Row {i}"),
                    description: None,
                })
                .collect(),
        }],
    };
    let message = body(list)["message"].clone();
    assert_eq!(message["text"], "Pick one");
    let replies = message["quick_replies"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(replies.len(), 13);
    assert_eq!(
        replies[0],
        json!({"content_type": "text", "title": "Row 0", "payload": "row/0"})
    );
}

#[test]
fn media_by_url_or_attachment_id_and_what_messenger_cannot_send() {
    let media = |kind, source| OutboundContent::Media {
        kind,
        source,
        caption: None,
        filename: None,
    };
    assert_eq!(
        body(media(
            MediaKind::Image,
            MediaSource::Link("https://example.com/a.png".into())
        ))["message"],
        json!({"attachment": {"type": "image", "payload": {"url": "https://example.com/a.png", "is_reusable": true}}})
    );
    assert_eq!(
        body(media(
            MediaKind::Document,
            MediaSource::Id("1857777774821032".into())
        ))["message"],
        json!({"attachment": {"type": "file", "payload": {"attachment_id": "1857777774821032"}}})
    );
    let template = OutboundContent::Template {
        name: "hello_world".into(),
        language: "en_US".into(),
        components: Value::Null,
        marketing_api: false,
        campaign: None,
    };
    let err = request_body(&request(template), MessagingType::Response).expect_err("refused");
    assert_eq!(err.class(), RetryClass::Permanent);
    let whatsapp = SendRequest::Message {
        to: CustomerId::new("15550001111"),
        content: text("x"),
        reply_to: None,
        callback_data: None,
    };
    assert!(request_body(&whatsapp, MessagingType::Response).is_err());
    // A read receipt marks the customer's conversation seen; one of another channel, nothing.
    let read = SendRequest::MarkRead {
        to: to(),
        message_id: ProviderMessageId::new("fbm:1:m_1"),
        typing_indicator: false,
    };
    assert_eq!(
        request_body(&read, MessagingType::Response),
        Ok(Some(
            json!({"recipient": {"id": PSID}, "sender_action": "mark_seen"})
        ))
    );
    let elsewhere = SendRequest::MarkRead {
        to: CustomerId::new("15550001111"),
        message_id: ProviderMessageId::new("wamid.1"),
        typing_indicator: false,
    };
    assert_eq!(request_body(&elsewhere, MessagingType::Response), Ok(None));
}

#[actix_web::test]
async fn sends_with_the_page_token_and_maps_graph_errors() {
    let fake = FakeMessenger::start();
    let client = MessengerClient::new(
        reqwest::Client::new(),
        &settings(&format!("{}/", fake.base_url()), 2000),
        &page(),
    );
    assert_eq!(
        client.url(),
        format!("{}/v23.0/{PAGE}/messages", fake.base_url())
    );
    let accepted = client
        .send(&request(text("hello")))
        .await
        .expect("accepted");
    assert_eq!(
        accepted.provider_id,
        Some(super::super::message_id(&AccountId::new(PAGE), "m_fake1"))
    );
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].page_id, PAGE);
    assert_eq!(calls[0].authorization.as_deref(), Some("Bearer page-token"));
    assert_eq!(calls[0].body["messaging_type"], "RESPONSE");
    assert_eq!(fake.texts_to(PSID), vec!["hello".to_string()]);

    // A read receipt is Messenger's `mark_seen` sender action.
    let read = SendRequest::MarkRead {
        to: to(),
        message_id: ProviderMessageId::new("fbm:1:m_1"),
        typing_indicator: false,
    };
    assert_eq!(
        client.send(&read).await,
        Ok(SendAccepted { provider_id: None })
    );
    let calls = fake.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].body["sender_action"], "mark_seen");
    assert_eq!(calls[1].body["recipient"]["id"], PSID);

    fake.fail_next(613, 400, 1);
    let err = client.send(&request(text("a"))).await.expect_err("rate");
    assert_eq!(err.code(), Some(613));
    assert_eq!(err.class(), RetryClass::Transient);
    fake.fail_next(1200, 400, 1);
    let err = client
        .send(&request(text("a")))
        .await
        .expect_err("temporary");
    assert_eq!(err.class(), RetryClass::Transient);
    // Outside the window (10 / 2018278), user unavailable (551): never retried.
    fake.fail_next(10, 400, 1);
    let err = client.send(&request(text("a"))).await.expect_err("window");
    assert_eq!(err.class(), RetryClass::Permanent);
    fake.fail_next(551, 400, 1);
    let err = client
        .send(&request(text("a")))
        .await
        .expect_err("unavailable");
    assert_eq!(err.class(), RetryClass::Permanent);

    let short = MessengerClient::new(
        reqwest::Client::new(),
        &settings("http://127.0.0.1:9", 300),
        &page(),
    );
    let err = short.send(&request(text("x"))).await.expect_err("connect");
    assert_eq!(err.class(), RetryClass::Transient);
}

#[actix_web::test]
async fn outside_the_window_a_human_agent_page_tags_the_message_and_others_fail() {
    let fake = FakeMessenger::start();
    let plain = MessengerClient::new(
        reqwest::Client::new(),
        &settings(&fake.base_url(), 2000),
        &page(),
    );
    fake.fail_next_with(10, Some(2018278), 400, 1);
    let err = plain
        .send(&request(text("late")))
        .await
        .expect_err("closed");
    assert_eq!(err.code(), Some(10));
    assert_eq!(err.class(), RetryClass::Permanent);
    assert_eq!(fake.calls().len(), 1);

    let approved = MessengerClient::new(
        reqwest::Client::new(),
        &settings(&fake.base_url(), 2000),
        &MessengerPageSettings {
            human_agent: true,
            ..page()
        },
    );
    fake.fail_next_with(10, Some(2018278), 400, 1);
    let accepted = approved
        .send(&request(text("later")))
        .await
        .expect("tagged");
    assert!(accepted.provider_id.is_some());
    let calls = fake.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[1].body["messaging_type"], "RESPONSE");
    assert_eq!(calls[2].body["messaging_type"], "MESSAGE_TAG");
    assert_eq!(calls[2].body["tag"], "HUMAN_AGENT");

    // Other refusals are not retried with the tag, and past 7 days Meta refuses the tag too.
    fake.fail_next(10, 400, 1);
    assert!(approved.send(&request(text("x"))).await.is_err());
    assert_eq!(fake.calls().len(), 4);
    fake.fail_next_with(10, Some(2018278), 400, 2);
    assert!(approved.send(&request(text("x"))).await.is_err());
    assert_eq!(fake.calls().len(), 6);
}

#[test]
fn a_profile_s_name_is_the_first_and_last_names_or_instagram_s_name_or_username() {
    let m = Platform::Messenger;
    let ig = Platform::Instagram;
    let cases = [
        (
            m,
            json!({"first_name": "Jordan", "last_name": "Smith"}),
            Some("Jordan Smith"),
        ),
        (
            m,
            json!({"first_name": " Jordan ", "last_name": ""}),
            Some("Jordan"),
        ),
        (m, json!({"last_name": "Smith"}), Some("Smith")),
        (m, json!({"first_name": "", "last_name": "  "}), None),
        (m, json!({"name": "Not Messenger's field"}), None),
        (m, json!({"first_name": 7}), None),
        (
            ig,
            json!({"name": "Ana Lima", "username": "ana.ig"}),
            Some("Ana Lima"),
        ),
        (
            ig,
            json!({"name": "", "username": "ana.ig"}),
            Some("@ana.ig"),
        ),
        (ig, json!({"username": " "}), None),
        (ig, json!([]), None),
    ];
    for (platform, profile, expected) in cases {
        assert_eq!(
            profile_name(platform, &profile).as_deref(),
            expected,
            "{platform:?} {profile}"
        );
    }
    let long = "é".repeat(500);
    let name = profile_name(m, &json!({"first_name": long})).unwrap_or_default();
    assert_eq!(name.chars().count(), PROFILE_NAME_MAX);
}

#[actix_rt::test]
async fn the_profile_is_asked_with_the_page_token_and_a_refusal_is_no_name() {
    let fake = FakeMessenger::start();
    let settings = MessengerSettings {
        api_base_url: fake.base_url(),
        ..MessengerSettings::default()
    };
    let page = MessengerPageSettings {
        page_id: "1234567890".into(),
        page_access_token: SecretString::from("page-token"),
        human_agent: false,
    };
    let client = MessengerClient::new(reqwest::Client::new(), &settings, &page);
    let account = AccountId::new("1234567890");
    fake.plant_profile("111", json!({"first_name": "Jo", "last_name": "Doe"}));
    let known = Platform::Messenger.customer_id(&account, "111");
    assert_eq!(client.profile_name(&known).await.as_deref(), Some("Jo Doe"));
    // Meta's error 100 (a user who never wrote to the page): no name.
    let unknown = Platform::Messenger.customer_id(&account, "222");
    assert_eq!(client.profile_name(&unknown).await, None);
    // Not a PSID, or another channel's customer: never asked.
    for other in [
        Platform::Messenger.customer_id(&account, "../me"),
        CustomerId::new("15550001111"),
    ] {
        assert_eq!(client.profile_name(&other).await, None);
    }
    let asked = fake.profile_requests();
    assert_eq!(asked.len(), 2, "{asked:#?}");
    assert_eq!(asked[0].authorization.as_deref(), Some("Bearer page-token"));
    assert_eq!(asked[0].fields.as_deref(), Some("first_name,last_name"));
}
