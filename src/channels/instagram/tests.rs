use super::*;
use crate::domain::{DeliveryStatus, InboundEvent, InboundMessage, MediaKind, MessageContent};

const ACCOUNT: &str = "17841400000000001";
const IGSID: &str = "5550001";

fn parse(body: &str) -> Vec<InboundEnvelope> {
    InstagramWebhookParser
        .parse(body.as_bytes())
        .expect("parses")
}

fn messages() -> Vec<InboundMessage> {
    parse(include_str!(
        "../../../tests/fixtures/instagram/messages.json"
    ))
    .into_iter()
    .filter_map(|e| match e.event {
        InboundEvent::Message(m) => Some(*m),
        _ => None,
    })
    .collect()
}

fn account() -> AccountId {
    AccountId::new(ACCOUNT)
}

#[test]
fn ids_are_namespaced_per_account_and_apart_from_messenger() {
    let customer = customer_id(&account(), IGSID);
    assert_eq!(customer.as_str(), "instagram:17841400000000001:5550001");
    assert_eq!(igsid_of(&customer), Some(IGSID));
    assert_eq!(crate::channels::messenger::psid_of(&customer), None);
    assert_eq!(
        igsid_of(&crate::channels::messenger::customer_id(&account(), IGSID)),
        None
    );
    assert_eq!(
        message_id(&account(), "aWdf:1").as_str(),
        "igm:17841400000000001:aWdf:1"
    );
}

#[test]
fn messages_attachments_story_mentions_shares_and_story_replies() {
    let envelopes = parse(include_str!(
        "../../../tests/fixtures/instagram/messages.json"
    ));
    assert_eq!(envelopes.len(), 7);
    for e in &envelopes {
        assert_eq!(e.channel_kind, ChannelKind::Instagram);
        assert_eq!(e.account.as_str(), ACCOUNT);
    }
    assert_eq!(
        envelopes[0].dedupe_key(),
        "m:igm:17841400000000001:aWdfZAG1faXRlbTox"
    );
    assert_eq!(
        envelopes[0].customer().map(|c| c.as_str()),
        Some("instagram:17841400000000001:5550001")
    );

    let m = messages();
    assert_eq!(m.len(), 6, "the echo is not the customer's message");
    assert_eq!(
        m[0].content,
        MessageContent::Text {
            body: "Hello, is my order shipped?".into()
        }
    );
    assert_eq!(m[0].timestamp, 1_700_000_000);
    let MessageContent::Media { kind, media, .. } = &m[1].content else {
        panic!("an image: {:?}", m[1].content)
    };
    assert_eq!(*kind, MediaKind::Image);
    assert_eq!(
        media.url.as_deref(),
        Some("https://lookaside.example/image.jpg")
    );
    let MessageContent::Media { media, .. } = &m[2].content else {
        panic!("a story mention: {:?}", m[2].content)
    };
    assert_eq!(media.caption.as_deref(), Some("story mention"));
    assert_eq!(
        media.url.as_deref(),
        Some("https://lookaside.example/story.mp4")
    );
    let MessageContent::Media { media, .. } = &m[3].content else {
        panic!("a share: {:?}", m[3].content)
    };
    assert_eq!(media.caption.as_deref(), Some("shared post"));

    // A story reply: the text, with the story as its context and link.
    assert_eq!(
        m[4].content,
        MessageContent::Text {
            body: "Love this!".into()
        }
    );
    let context = m[4].context.as_ref().expect("story context");
    assert_eq!(
        context.replied_to.as_ref().map(|id| id.as_str()),
        Some("igstory:17841400000000001:18000000000000001")
    );
    let referral = m[4].referral.as_ref().expect("story link");
    assert_eq!(referral.source_type.as_deref(), Some("story"));
    assert_eq!(
        referral.source_url.as_deref(),
        Some("https://lookaside.example/my-story.jpg")
    );

    // A quick reply: the bot's menu choice.
    assert_eq!(
        m[5].content,
        MessageContent::ButtonReply {
            id: "HOURS".into(),
            title: "Opening hours".into()
        }
    );

    let InboundEvent::Other(echo) = &envelopes[6].event else {
        panic!("an echo is other")
    };
    assert_eq!(echo.field, "message_echo");
}

#[test]
fn postbacks_reactions_seen_and_changes() {
    let envelopes = parse(include_str!(
        "../../../tests/fixtures/instagram/postback_reaction_read.json"
    ));
    assert_eq!(envelopes.len(), 4);
    let InboundEvent::Message(postback) = &envelopes[0].event else {
        panic!("a postback")
    };
    assert_eq!(
        postback.content,
        MessageContent::ButtonReply {
            id: "AGENT".into(),
            title: "Talk to a person".into()
        }
    );
    assert_eq!(
        postback.provider_id.as_str(),
        "igm:17841400000000001:aWdfZAG1faXRlbTo4"
    );
    let InboundEvent::Message(reaction) = &envelopes[1].event else {
        panic!("a reaction")
    };
    assert_eq!(
        reaction.content,
        MessageContent::Reaction {
            message_id: message_id(&account(), "aWdfZAG1faXRlbTo5"),
            emoji: Some("\u{2764}".into()),
        }
    );
    // Instagram's seen names the message: its status is that message's.
    let InboundEvent::Status(seen) = &envelopes[2].event else {
        panic!("a status")
    };
    assert_eq!(seen.status, DeliveryStatus::Read);
    assert_eq!(
        seen.provider_id,
        message_id(&account(), "aWdfZAG1faXRlbTo5")
    );
    assert_eq!(seen.recipient, customer_id(&account(), IGSID));
    assert_eq!(seen.timestamp, 1_700_000_001);
    let InboundEvent::Other(change) = &envelopes[3].event else {
        panic!("a change is other")
    };
    assert_eq!(change.field, "changes");
}

#[test]
fn redelivery_repeats_the_keys_and_other_platforms_are_refused() {
    let body = include_str!("../../../tests/fixtures/instagram/postback_reaction_read.json");
    let keys = |b: &str| -> Vec<String> { parse(b).iter().map(|e| e.dedupe_key()).collect() };
    assert_eq!(keys(body), keys(body));
    assert!(
        InstagramWebhookParser
            .parse(br#"{"object":"page","entry":[]}"#)
            .is_err()
    );
    assert!(
        crate::channels::messenger::webhook::MessengerWebhookParser
            .parse(body.as_bytes())
            .is_err()
    );
    assert!(InstagramWebhookParser.parse(b"not json").is_err());
    // Unknown events and entries without an id are kept, not errors.
    let odd = br#"{"object":"instagram","entry":[{"time":1},{"id":"1","messaging":[{"sender":{"id":"2"},"whatever":{}}]}]}"#;
    assert_eq!(InstagramWebhookParser.parse(odd).expect("parses").len(), 2);
}

#[test]
fn the_send_body_is_messenger_s_with_instagram_s_limits() {
    use crate::channels::SendRequest;
    use crate::channels::messenger::client::request_body_for;
    use crate::channels::messenger::window::MessagingType;
    use crate::domain::{OutboundContent, ReplyButton};

    let message = |to: CustomerId, content: OutboundContent| SendRequest::Message {
        to,
        content,
        reply_to: None,
        callback_data: None,
    };
    let text = OutboundContent::Text {
        body: "x".repeat(1500),
        preview_url: false,
    };
    let body = request_body_for(
        Platform::Instagram,
        &message(customer_id(&account(), IGSID), text.clone()),
        MessagingType::Response,
    )
    .expect("a body")
    .expect("something to send");
    assert_eq!(body["recipient"]["id"], IGSID);
    assert_eq!(body["messaging_type"], "RESPONSE");
    assert_eq!(
        body["message"]["text"].as_str().map(|t| t.chars().count()),
        Some(1000)
    );
    let tagged = request_body_for(
        Platform::Instagram,
        &message(customer_id(&account(), IGSID), text.clone()),
        MessagingType::HumanAgent,
    )
    .expect("a body")
    .expect("something to send");
    assert_eq!(tagged["tag"], "HUMAN_AGENT");

    // A Messenger customer is not an Instagram one.
    let messenger = crate::channels::messenger::customer_id(&account(), IGSID);
    assert!(
        request_body_for(
            Platform::Instagram,
            &message(messenger, text),
            MessagingType::Response
        )
        .is_err()
    );

    // Up to 3 buttons: a button template; more: at most 13 quick replies.
    let buttons = |n: usize| OutboundContent::Buttons {
        body: "Pick one".into(),
        header: None,
        footer: None,
        buttons: (0..n)
            .map(|i| ReplyButton {
                id: format!("b{i}"),
                title: format!("Choice {i}"),
            })
            .collect(),
    };
    let three = request_body_for(
        Platform::Instagram,
        &message(customer_id(&account(), IGSID), buttons(3)),
        MessagingType::Response,
    )
    .expect("a body")
    .expect("something to send");
    assert_eq!(
        three["message"]["attachment"]["payload"]["template_type"],
        "button"
    );
    let many = request_body_for(
        Platform::Instagram,
        &message(customer_id(&account(), IGSID), buttons(20)),
        MessagingType::Response,
    )
    .expect("a body")
    .expect("something to send");
    assert_eq!(
        many["message"]["quick_replies"].as_array().map(Vec::len),
        Some(13)
    );
}
