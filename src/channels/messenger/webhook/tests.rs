use super::*;
use crate::channels::messenger::{customer_id, message_id};

const PAGE: &str = "1234567890";
const PSID: &str = "6789012345";

fn fixture(name: &str) -> &'static str {
    match name {
        "text" => include_str!("../../../../tests/fixtures/messenger/text.json"),
        "quick_reply" => include_str!("../../../../tests/fixtures/messenger/quick_reply.json"),
        "attachments" => include_str!("../../../../tests/fixtures/messenger/attachments.json"),
        "postback" => include_str!("../../../../tests/fixtures/messenger/postback.json"),
        "reaction" => include_str!("../../../../tests/fixtures/messenger/reaction.json"),
        "delivery_read" => include_str!("../../../../tests/fixtures/messenger/delivery_read.json"),
        "edit" => include_str!("../../../../tests/fixtures/messenger/edit.json"),
        "standby_handover_echo" => {
            include_str!("../../../../tests/fixtures/messenger/standby_handover_echo.json")
        }
        other => panic!("no fixture {other}"),
    }
}

fn parse(name: &str) -> Vec<InboundEnvelope> {
    MessengerWebhookParser
        .parse(fixture(name).as_bytes())
        .expect("parses")
}

fn messages(name: &str) -> Vec<InboundMessage> {
    parse(name)
        .into_iter()
        .map(|e| match e.event {
            InboundEvent::Message(m) => *m,
            other => panic!("not a message: {other:?}"),
        })
        .collect()
}

fn page() -> AccountId {
    AccountId::new(PAGE)
}

#[test]
fn a_text_message_is_the_page_scoped_customer_deduplicated_by_mid_per_page() {
    let envelopes = parse("text");
    assert_eq!(envelopes.len(), 1);
    let envelope = &envelopes[0];
    assert_eq!(envelope.channel_kind, ChannelKind::Messenger);
    assert_eq!(envelope.account.as_str(), PAGE);
    assert_eq!(envelope.delivery_id, None);
    assert_eq!(
        envelope.dedupe_key(),
        "m:fbm:1234567890:mid.1457764197618:41d102a3e1ae206a38"
    );
    assert_eq!(
        envelope.customer().map(|c| c.as_str()),
        Some("messenger:1234567890:6789012345")
    );
    let InboundEvent::Message(m) = &envelope.event else {
        panic!("a message")
    };
    assert_eq!(m.customer.user_id.as_deref(), Some(PSID));
    assert_eq!(m.customer.wa_id, None);
    assert_eq!(m.timestamp, 1458692752);
    assert_eq!(
        m.content,
        MessageContent::Text {
            body: "hello, world!".into()
        }
    );
    assert_eq!(m.context, None);

    // The same body again: the same key. Another page's entry with the same mid: another.
    let again = parse("text");
    assert_eq!(again[0].dedupe_key(), envelope.dedupe_key());
    let other_page = fixture("text").replace("\"id\": \"1234567890\"", "\"id\": \"999\"");
    let other = MessengerWebhookParser
        .parse(other_page.as_bytes())
        .expect("parses");
    assert_eq!(other[0].account.as_str(), "999");
    assert_ne!(other[0].dedupe_key(), envelope.dedupe_key());
}

#[test]
fn a_quick_reply_and_a_postback_are_the_bot_s_menu_choices() {
    let m = messages("quick_reply").remove(0);
    assert_eq!(
        m.content,
        MessageContent::ButtonReply {
            id: "main_menu/person".into(),
            title: "Talk to a person".into()
        }
    );
    assert_eq!(m.provider_id, message_id(&page(), "m_quick_reply_1"));

    let m = messages("postback").remove(0);
    assert_eq!(
        m.content,
        MessageContent::ButtonReply {
            id: "main_menu/track".into(),
            title: "Track my order".into()
        }
    );
    assert_eq!(m.provider_id, message_id(&page(), "m_postback_1"));
    assert_eq!(m.customer.id, customer_id(&page(), PSID));

    // An older postback without a mid: keyed by customer, time and payload.
    let no_mid = fixture("postback").replace("\"mid\": \"m_postback_1\",", "");
    let envelopes = MessengerWebhookParser
        .parse(no_mid.as_bytes())
        .expect("parses");
    assert_eq!(
        envelopes[0].dedupe_key(),
        "m:fbpb:1234567890:6789012345:1458692780000:main_menu/track"
    );
}

#[test]
fn attachments_are_media_by_url_locations_and_stickers() {
    let m = messages("attachments");
    assert_eq!(m.len(), 6);
    let media = |kind, url: &str, filename: Option<&str>| MessageContent::Media {
        kind,
        media: Media {
            id: None,
            mime_type: None,
            sha256: None,
            caption: None,
            url: Some(url.into()),
        },
        filename: filename.map(str::to_owned),
        voice: false,
        animated: false,
    };
    assert_eq!(
        m[0].content,
        media(
            MediaKind::Image,
            "https://scontent.xx.fbcdn.net/v/image.jpg",
            None
        )
    );
    assert_eq!(
        m[1].content,
        media(
            MediaKind::Document,
            "https://cdn.fbsbx.com/v/invoice.pdf",
            Some("invoice.pdf")
        )
    );
    assert_eq!(
        m[2].content,
        media(
            MediaKind::Audio,
            "https://cdn.fbsbx.com/v/audioclip.mp4",
            None
        )
    );
    assert_eq!(
        m[3].content,
        media(
            MediaKind::Video,
            "https://video.xx.fbcdn.net/v/clip.mp4",
            None
        )
    );
    assert_eq!(
        m[3].context.as_ref().and_then(|c| c.replied_to.clone()),
        Some(message_id(&page(), "m_earlier"))
    );
    assert_eq!(
        m[4].content,
        MessageContent::Location {
            latitude: 40.416775,
            longitude: -3.70379,
            name: Some("Pin".into()),
            address: None,
            url: Some("https://www.facebook.com/l.php?u=maps".into())
        }
    );
    assert_eq!(m[5].content.type_label(), "sticker");
}

#[test]
fn reactions_and_their_removal() {
    let m = messages("reaction");
    assert_eq!(
        m[0].content,
        MessageContent::Reaction {
            message_id: message_id(&page(), "m_page_reply_1"),
            emoji: Some("\u{2764}\u{fe0f}".into())
        }
    );
    assert_eq!(
        m[1].content,
        MessageContent::Reaction {
            message_id: message_id(&page(), "m_page_reply_1"),
            emoji: None
        }
    );
    assert_ne!(m[0].provider_id, m[1].provider_id);
}

#[test]
fn deliveries_and_reads_are_statuses() {
    let envelopes = parse("delivery_read");
    assert_eq!(envelopes.len(), 2);
    let InboundEvent::Status(delivered) = &envelopes[0].event else {
        panic!("a status")
    };
    assert_eq!(
        delivered.provider_id,
        message_id(&page(), "mid.1458668856218:ed81099e15d3f4f233")
    );
    assert_eq!(delivered.status, DeliveryStatus::Delivered);
    assert_eq!(delivered.recipient, customer_id(&page(), PSID));
    assert_eq!(delivered.timestamp, 1458668856);
    let InboundEvent::Status(read) = &envelopes[1].event else {
        panic!("a status")
    };
    assert_eq!(read.status, DeliveryStatus::Read);
    assert_eq!(
        read.provider_id.as_str(),
        "fbread:1234567890:6789012345:1458668856253"
    );
    assert_eq!(envelopes[1].type_label(), "status_read");
}

#[test]
fn an_edit_points_at_the_original_and_a_deletion_revokes_it() {
    let m = messages("edit").remove(0);
    let original = message_id(&page(), "mid.1457764197618:41d102a3e1ae206a38");
    assert_eq!(m.provider_id.as_str(), format!("{original}:edit:1"));
    assert_eq!(
        m.content,
        MessageContent::Edit {
            original_message_id: original.clone(),
            content: Box::new(MessageContent::Text {
                body: "hello, world (edited)".into()
            })
        }
    );

    let deleted = fixture("text").replace("\"text\": \"hello, world!\"", "\"is_deleted\": true");
    let envelopes = MessengerWebhookParser
        .parse(deleted.as_bytes())
        .expect("parses");
    let InboundEvent::Message(m) = &envelopes[0].event else {
        panic!("a message")
    };
    assert_eq!(
        m.content,
        MessageContent::Revoke {
            original_message_id: original.clone()
        }
    );
    assert_ne!(m.provider_id, original);
}

#[test]
fn standby_handover_and_echoes_are_other_events_not_errors() {
    let envelopes = parse("standby_handover_echo");
    let fields: Vec<&str> = envelopes
        .iter()
        .map(|e| match &e.event {
            InboundEvent::Other(o) => o.field.as_str(),
            other => panic!("other: {other:?}"),
        })
        .collect();
    assert_eq!(
        fields,
        vec!["pass_thread_control", "message_echo", "standby"]
    );
    assert!(envelopes.iter().all(|e| e.customer().is_none()));
    assert!(envelopes.iter().all(|e| e.account.as_str() == PAGE));
    // Each has its own key; a redelivery repeats them.
    let keys: std::collections::HashSet<String> =
        envelopes.iter().map(|e| e.dedupe_key()).collect();
    assert_eq!(keys.len(), 3);
    let again: std::collections::HashSet<String> = parse("standby_handover_echo")
        .iter()
        .map(|e| e.dedupe_key())
        .collect();
    assert_eq!(keys, again);
}

#[test]
fn untypable_and_unknown_events_are_kept_as_other() {
    let body = serde_json::json!({
        "object": "page",
        "entry": [
            {"id": PAGE, "time": 1, "messaging": [
                {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1,
                 "message": {"text": "no mid"}},
                {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1,
                 "something_new": {"x": 1}},
                {"sender": {}, "recipient": {"id": PAGE}, "timestamp": 1,
                 "postback": {"payload": "p"}},
                {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1,
                 "message": {"mid": "m_poll", "attachments": [{"type": "fallback", "payload": null}]}}
            ]},
            {"time": 2, "messaging": []}
        ]
    });
    let envelopes = MessengerWebhookParser
        .parse(body.to_string().as_bytes())
        .expect("parses");
    assert_eq!(envelopes.len(), 5);
    let label = |i: usize| match &envelopes[i].event {
        InboundEvent::Other(o) => o.field.clone(),
        InboundEvent::Message(m) => format!("message:{}", m.content.type_label()),
        other => panic!("{other:?}"),
    };
    assert_eq!(label(0), "message");
    assert_eq!(label(1), "messaging");
    assert_eq!(label(2), "postback");
    assert_eq!(label(3), "message:unknown");
    assert_eq!(label(4), "entry");
}

#[test]
fn only_a_body_that_is_no_page_delivery_is_an_error() {
    let parser = MessengerWebhookParser;
    assert!(matches!(
        parser.parse(b"{not json"),
        Err(ParseError::Json(_))
    ));
    assert!(matches!(
        parser.parse(br#"{"object":"whatsapp_business_account","entry":[]}"#),
        Err(ParseError::UnexpectedObject(_))
    ));
    assert!(
        parser
            .parse(br#"{"object":"page"}"#)
            .expect("parses")
            .is_empty()
    );
}
