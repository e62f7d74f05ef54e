use serde_json::json;

use super::*;
use crate::domain::{ListRow, ListSection, OutboundContent, ReplyButton};

fn message(value: serde_json::Value) -> VisitorMessage {
    serde_json::from_value(value).expect("a visitor message")
}

#[test]
fn ids_are_namespaced_per_channel_and_visitor() {
    let channel = ChannelId::new("site");
    let customer = customer_id(&channel, "0123abcd");
    assert_eq!(customer.as_str(), "webchat:site:0123abcd");
    assert!(is_visitor(&customer));
    assert!(!is_visitor(&CustomerId::new("15550001111")));
    assert!(!is_visitor(&CustomerId::new("telegram:1:2")));
    assert_eq!(
        message_id(&channel, "0123abcd", "m-1").as_str(),
        "wc:site:0123abcd:m-1"
    );
    let visitor = new_visitor();
    assert_eq!(visitor.len(), 32);
    assert_ne!(visitor, new_visitor());
}

#[test]
fn a_text_or_a_choice_and_nothing_else() {
    let text = message(json!({"client_id": "a1", "text": "  hello  "}));
    assert_eq!(
        text.content(10),
        Ok(MessageContent::Text {
            body: "hello".into()
        })
    );
    let choice = message(
        json!({"client_id": "a2", "choice": {"id": "main_menu/person", "title": "Talk to a person"}}),
    );
    assert_eq!(
        choice.content(10),
        Ok(MessageContent::ButtonReply {
            id: "main_menu/person".into(),
            title: "Talk to a person".into()
        })
    );
    let untitled = message(json!({"client_id": "a3", "choice": {"id": "x"}}));
    assert!(
        matches!(untitled.content(10), Ok(MessageContent::ButtonReply { ref title, .. }) if title == "x")
    );
    for (bad, why) in [
        (json!({"client_id": "", "text": "hi"}), Refused::ClientId),
        (json!({"client_id": "a b", "text": "hi"}), Refused::ClientId),
        (
            json!({"client_id": "x".repeat(65), "text": "hi"}),
            Refused::ClientId,
        ),
        (json!({"client_id": "a4"}), Refused::Shape),
        (
            json!({"client_id": "a5", "text": "hi", "choice": {"id": "x"}}),
            Refused::Shape,
        ),
        (json!({"client_id": "a6", "text": "   "}), Refused::Empty),
        (
            json!({"client_id": "a7", "text": "élan vital!"}),
            Refused::TooLong(10),
        ),
        (
            json!({"client_id": "a8", "choice": {"id": ""}}),
            Refused::Choice,
        ),
    ] {
        assert_eq!(message(bad.clone()).content(10), Err(why), "{bad}");
    }
    assert!(
        serde_json::from_value::<VisitorMessage>(
            json!({"client_id": "a", "text": "x", "extra": 1})
        )
        .is_err()
    );
}

#[test]
fn form_fields_are_trimmed_bounded_and_emails_look_like_emails() {
    assert_eq!(
        form_field(Some("  Ana "), 10, false),
        Ok(Some("Ana".into()))
    );
    assert_eq!(form_field(Some("   "), 10, false), Ok(None));
    assert_eq!(form_field(None, 10, true), Ok(None));
    assert_eq!(
        form_field(Some("x".repeat(11).as_str()), 10, false),
        Err(BadField)
    );
    assert_eq!(form_field(Some("a\u{7}b"), 10, false), Err(BadField));
    assert_eq!(
        form_field(Some("ana@example.com"), 254, true),
        Ok(Some("ana@example.com".into()))
    );
    for bad in ["ana", "@example.com", "ana@localhost", "a na@example.com"] {
        assert_eq!(form_field(Some(bad), 254, true), Err(BadField), "{bad}");
    }
}

fn row(seq: i64, direction: &str, sender: &str, body: serde_json::Value) -> TranscriptRow {
    TranscriptRow {
        seq,
        id: format!("m{seq}"),
        direction: direction.into(),
        sender: sender.into(),
        kind: "x".into(),
        body: body.to_string(),
        provider_id: (direction == "inbound").then(|| format!("wc:site:v1:c{seq}")),
        created_at: 1000 + seq,
    }
}

#[test]
fn a_visitor_sees_texts_menus_and_files_never_notes_or_templates() {
    let inbound = row(
        1,
        "inbound",
        "customer",
        serde_json::to_value(MessageContent::Text { body: "hi".into() }).expect("json"),
    );
    assert_eq!(
        visible(&inbound),
        Some(
            json!({"seq": 1, "id": "m1", "from": "visitor", "created_at": 1001, "client_id": "c1", "type": "text", "text": "hi"})
        )
    );
    let press = row(
        2,
        "inbound",
        "customer",
        serde_json::to_value(MessageContent::ButtonReply {
            id: "a".into(),
            title: "Sales".into(),
        })
        .expect("json"),
    );
    assert_eq!(visible(&press).expect("shown")["text"], "Sales");
    let buttons = OutboundContent::Buttons {
        body: "Pick one".into(),
        header: None,
        footer: None,
        buttons: vec![ReplyButton {
            id: "b1".into(),
            title: "One".into(),
        }],
    };
    let shown = visible(&row(
        3,
        "outbound",
        "bot",
        serde_json::to_value(&buttons).expect("json"),
    ))
    .expect("shown");
    assert_eq!(shown["from"], "bot");
    assert_eq!(shown["type"], "buttons");
    assert_eq!(shown["options"], json!([{"id": "b1", "title": "One"}]));
    let list = OutboundContent::List {
        body: "Teams".into(),
        header: None,
        footer: None,
        button: "Choose".into(),
        sections: vec![ListSection {
            title: None,
            rows: vec![ListRow {
                id: "t1".into(),
                title: "Support".into(),
                description: None,
            }],
        }],
    };
    let shown = visible(&row(
        4,
        "outbound",
        "agent",
        serde_json::to_value(&list).expect("json"),
    ))
    .expect("shown");
    assert_eq!(shown["from"], "agent");
    assert_eq!(shown["options"][0]["id"], "t1");
    let note = row(
        5,
        "note",
        "agent",
        json!({"type": "note", "body": "secret"}),
    );
    assert_eq!(visible(&note), None);
    let template = OutboundContent::Template {
        name: "t".into(),
        language: "en".into(),
        components: serde_json::Value::Null,
        marketing_api: false,
        campaign: None,
    };
    assert_eq!(
        visible(&row(
            6,
            "outbound",
            "bot",
            serde_json::to_value(&template).expect("json")
        )),
        None
    );
    let garbage = TranscriptRow {
        body: "not json".into(),
        ..inbound
    };
    assert_eq!(visible(&garbage), None);
}

#[test]
fn a_visitor_expires_days_after_the_last_use_which_is_renewed_at_most_hourly() {
    let day = 24 * 3600 * 1000;
    let now = 1_800_000_000_000;
    assert!(!visitor_expired(now - 89 * day, now, 90));
    assert!(!visitor_expired(now - 90 * day, now, 90));
    assert!(visitor_expired(now - 90 * day - 1, now, 90));
    assert_eq!(expired_before(now, 90), now - 90 * day);
    assert!(visitor_expired(now - 2 * day, now, 1));
    assert!(!renew_due(now - RENEW_AFTER_MS + 1, now));
    assert!(renew_due(now - RENEW_AFTER_MS, now));
    // A clock that went back never renews into the past nor panics.
    assert!(!renew_due(now + 5, now));
    assert!(!visitor_expired(now + 5, now, 90));
}
