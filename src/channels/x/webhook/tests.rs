use serde_json::json;

use super::*;
use crate::domain::ProviderMessageId;

const ACCOUNT: &str = "4337869213";
const CUSTOMER: &str = "3001969357";

fn parse(value: &Value) -> Vec<InboundEnvelope> {
    parse_delivery(&serde_json::to_vec(value).expect("json")).expect("parses")
}

fn only_message(value: &Value) -> InboundMessage {
    let mut events = parse(value);
    assert_eq!(events.len(), 1, "{events:#?}");
    match events.remove(0).event {
        InboundEvent::Message(m) => *m,
        other => panic!("not a message: {other:?}"),
    }
}

fn users() -> Value {
    json!({
        CUSTOMER: {"id": CUSTOMER, "created_timestamp": "1422556069340", "name": "Jordan Brinks",
                   "screen_name": "furiouscamper", "location": "Boulder, CO", "protected": false,
                   "verified": false, "followers_count": 22, "friends_count": 45,
                   "statuses_count": 494, "profile_image_url": "null",
                   "profile_image_url_https": "https://pbs.twimg.com/profile_images/851526626785480705/cW4WTi7C_normal.jpg"},
        ACCOUNT: {"id": ACCOUNT, "created_timestamp": "1448312972328", "name": "Harrison Test",
                  "screen_name": "Harris_0ff", "protected": false, "verified": false}
    })
}

/// A `message_create` event as X's Account Activity API documents it.
fn dm(id: &str, sender: &str, recipient: &str, message_data: Value) -> Value {
    json!({
        "type": "message_create",
        "id": id,
        "created_timestamp": "1516403560557",
        "message_create": {
            "target": {"recipient_id": recipient},
            "sender_id": sender,
            "source_app_id": "13090192",
            "message_data": message_data
        }
    })
}

/// The delivery of X's documentation example: "Hello World!" from @furiouscamper.
fn hello() -> Value {
    json!({
        "for_user_id": ACCOUNT,
        "direct_message_events": [dm("954491830116155396", CUSTOMER, ACCOUNT, json!({
            "text": "Hello World!",
            "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []}
        }))],
        "users": users(),
        "apps": {"13090192": {"id": "13090192", "name": "FuriousCamperTestApp1",
                              "url": "https://twitter.com/furiouscamper"}}
    })
}

#[test]
fn a_customer_s_dm_is_a_text_from_the_named_customer_deduplicated_by_event_id() {
    let events = parse(&hello());
    assert_eq!(events.len(), 1);
    let envelope = &events[0];
    assert_eq!(envelope.channel_kind, ChannelKind::X);
    assert_eq!(envelope.account.as_str(), ACCOUNT);
    assert_eq!(envelope.delivery_id, None);
    assert_eq!(envelope.dedupe_key(), "m:xdm:4337869213:954491830116155396");
    assert_eq!(
        envelope.customer().map(|c| c.as_str()),
        Some("x:4337869213:3001969357")
    );
    let m = only_message(&hello());
    assert_eq!(m.provider_id.as_str(), "xdm:4337869213:954491830116155396");
    assert_eq!(m.customer.name.as_deref(), Some("Jordan Brinks"));
    assert_eq!(m.customer.user_id.as_deref(), Some(CUSTOMER));
    assert_eq!(m.customer.wa_id, None);
    assert_eq!(m.timestamp, 1516403560);
    assert_eq!(
        m.content,
        MessageContent::Text {
            body: "Hello World!".into()
        }
    );
    // The same event again is the same key; another account's is not.
    let again = parse(&hello());
    assert_eq!(again[0].dedupe_key(), envelope.dedupe_key());
    let mut elsewhere = hello();
    elsewhere["for_user_id"] = json!("1500000000000000001");
    assert_ne!(parse(&elsewhere)[0].dedupe_key(), envelope.dedupe_key());
}

#[test]
fn a_customer_without_a_user_entry_has_no_name_and_a_handle_is_the_fallback() {
    let mut body = hello();
    body["users"] = json!({});
    assert_eq!(only_message(&body).customer.name, None);
    body["users"] =
        json!({CUSTOMER: {"id": CUSTOMER, "name": " ", "screen_name": "furiouscamper"}});
    assert_eq!(
        only_message(&body).customer.name.as_deref(),
        Some("@furiouscamper")
    );
    body.as_object_mut().map(|b| b.remove("users"));
    assert_eq!(only_message(&body).customer.name, None);
}

#[test]
fn a_quick_reply_response_is_the_bot_s_menu_choice() {
    let body = json!({
        "for_user_id": ACCOUNT,
        "direct_message_events": [dm("954491830116155397", CUSTOMER, ACCOUNT, json!({
            "text": "Talk to a person",
            "quick_reply_response": {"type": "options", "metadata": "main_menu/person"}
        }))],
        "users": users()
    });
    assert_eq!(
        only_message(&body).content,
        MessageContent::ButtonReply {
            id: "main_menu/person".into(),
            title: "Talk to a person".into()
        }
    );
    // Without text: titled by its metadata. Empty metadata: just the text.
    let mut bare = body.clone();
    bare["direct_message_events"][0]["message_create"]["message_data"]["text"] = json!("");
    assert_eq!(
        only_message(&bare).content,
        MessageContent::ButtonReply {
            id: "main_menu/person".into(),
            title: "main_menu/person".into()
        }
    );
    let mut empty = body;
    empty["direct_message_events"][0]["message_create"]["message_data"]["quick_reply_response"]["metadata"] =
        json!("");
    assert_eq!(
        only_message(&empty).content,
        MessageContent::Text {
            body: "Talk to a person".into()
        }
    );
}

fn with_media(media: Value, text: &str) -> Value {
    json!({
        "for_user_id": ACCOUNT,
        "direct_message_events": [dm("954491830116155398", CUSTOMER, ACCOUNT, json!({
            "text": text,
            "entities": {"urls": [{"url": "https://t.co/abc123", "expanded_url": "https://twitter.com/messages/media/954491830116155398", "indices": [13, 36]}]},
            "attachment": {"type": "media", "media": media}
        }))],
        "users": users()
    })
}

#[test]
fn a_photo_is_media_by_its_url_captioned_without_its_link() {
    let photo = json!({
        "id": 954491816111390720_u64, "id_str": "954491816111390720",
        "indices": [13, 36],
        "media_url": "http://ton.twimg.com/1.1/ton/data/dm/954491830116155398/954491816111390720/abc.jpg",
        "media_url_https": "https://ton.twimg.com/1.1/ton/data/dm/954491830116155398/954491816111390720/abc.jpg",
        "url": "https://t.co/abc123", "display_url": "pic.twitter.com/abc123",
        "expanded_url": "https://twitter.com/messages/media/954491830116155398",
        "type": "photo",
        "sizes": {"large": {"w": 1024, "h": 768, "resize": "fit"}}
    });
    let m = only_message(&with_media(photo.clone(), "my receipt https://t.co/abc123"));
    assert_eq!(
        m.content,
        MessageContent::Media {
            kind: MediaKind::Image,
            media: Media {
                id: None,
                mime_type: None,
                sha256: None,
                caption: Some("my receipt".into()),
                url: Some("https://ton.twimg.com/1.1/ton/data/dm/954491830116155398/954491816111390720/abc.jpg".into()),
            },
            filename: None,
            voice: false,
            animated: false,
        }
    );
    // Only the link: no caption.
    let m = only_message(&with_media(photo, "https://t.co/abc123"));
    assert_eq!(m.content.text(), None);
}

#[test]
fn videos_and_gifs_are_their_best_mp4_variant() {
    let video = |kind: &str| {
        json!({
            "id_str": "954491816111390721", "type": kind, "url": "https://t.co/vid",
            "media_url_https": "https://pbs.twimg.com/dm_video_preview/954491816111390721/img/thumb.jpg",
            "video_info": {"aspect_ratio": [16, 9], "variants": [
                {"bitrate": 320000, "content_type": "video/mp4", "url": "https://video.twimg.com/dm_video/1/vid/320x180/low.mp4"},
                {"content_type": "application/x-mpegURL", "url": "https://video.twimg.com/dm_video/1/pl/playlist.m3u8"},
                {"bitrate": 2176000, "content_type": "video/mp4", "url": "https://video.twimg.com/dm_video/1/vid/1280x720/high.mp4"}
            ]}
        })
    };
    for kind in ["video", "animated_gif"] {
        let m = only_message(&with_media(video(kind), "https://t.co/vid"));
        let MessageContent::Media {
            kind: media_kind,
            media,
            ..
        } = &m.content
        else {
            panic!("media: {:?}", m.content)
        };
        assert_eq!(*media_kind, MediaKind::Video, "{kind}");
        assert_eq!(
            media.url.as_deref(),
            Some("https://video.twimg.com/dm_video/1/vid/1280x720/high.mp4")
        );
        assert_eq!(media.mime_type.as_deref(), Some("video/mp4"));
    }
    // No variants: the preview's URL.
    let mut bare = video("video");
    bare.as_object_mut().map(|m| m.remove("video_info"));
    let m = only_message(&with_media(bare, "look"));
    let MessageContent::Media { media, .. } = &m.content else {
        panic!("media")
    };
    assert_eq!(
        media.url.as_deref(),
        Some("https://pbs.twimg.com/dm_video_preview/954491816111390721/img/thumb.jpg")
    );
    assert_eq!(media.caption.as_deref(), Some("look"));
}

#[test]
fn the_account_s_own_dms_are_echoes_recorded_but_not_routed() {
    let body = json!({
        "for_user_id": ACCOUNT,
        "direct_message_events": [
            dm("954491830116155399", ACCOUNT, CUSTOMER, json!({"text": "Our reply"})),
            dm("954491830116155400", CUSTOMER, ACCOUNT, json!({"text": "thanks"}))
        ],
        "users": users()
    });
    let events = parse(&body);
    assert_eq!(events.len(), 2);
    let InboundEvent::Other(echo) = &events[0].event else {
        panic!("an echo: {:?}", events[0])
    };
    assert_eq!(echo.field, "message_echo");
    assert_eq!(events[0].customer(), None);
    assert!(matches!(events[1].event, InboundEvent::Message(_)));
    // A redelivery repeats the echo's key.
    assert_eq!(parse(&body)[0].dedupe_key(), events[0].dedupe_key());
}

#[test]
fn typing_is_dropped_and_a_customer_s_read_is_a_read_status_of_the_dm_named() {
    let typing = json!({
        "for_user_id": ACCOUNT,
        "direct_message_indicate_typing_events": [{
            "created_timestamp": "1518127183443", "sender_id": CUSTOMER,
            "target": {"recipient_id": ACCOUNT}
        }],
        "users": users()
    });
    assert!(parse(&typing).is_empty());

    let read = |sender: &str| {
        json!({
            "for_user_id": ACCOUNT,
            "direct_message_mark_read_events": [{
                "created_timestamp": "1518452444662", "sender_id": sender,
                "target": {"recipient_id": ACCOUNT},
                "last_read_event_id": "963085315333238788"
            }],
            "users": users()
        })
    };
    let events = parse(&read(CUSTOMER));
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].event,
        InboundEvent::Status(StatusUpdate {
            provider_id: ProviderMessageId::new("xdm:4337869213:963085315333238788"),
            status: DeliveryStatus::Read,
            raw_status: "read".into(),
            timestamp: 1518452444,
            recipient: customer_id(&AccountId::new(ACCOUNT), CUSTOMER),
            errors: vec![],
            pricing_category: None,
            pricing_type: None,
            biz_opaque_callback_data: None,
        })
    );
    // The account reading the customer's DMs (its own inbox): nothing.
    assert!(parse(&read(ACCOUNT)).is_empty());
    // A read that does not type: nothing either.
    let mut broken = read(CUSTOMER);
    broken["direct_message_mark_read_events"][0]
        .as_object_mut()
        .map(|r| r.remove("last_read_event_id"));
    assert!(parse(&broken).is_empty());
}

#[test]
fn unknown_events_fields_and_types_are_tolerated() {
    let body = json!({
        "for_user_id": ACCOUNT,
        "user_has_blocked": false,
        "a_future_flag": {"x": 1},
        "favorite_events": [{"id": "a7ba59eab0bfcba386f7acedac279542", "created_at": "Mon Mar 26 16:33:26 +0000 2018",
                             "timestamp_ms": 1522082006140_u64, "favorited_status": {"id_str": "1"}}],
        "direct_message_events": [
            {"type": "participants_join", "id": "1", "created_timestamp": "1516403560557"},
            {"type": "message_create", "id": "2"},
            dm("954491830116155401", CUSTOMER, ACCOUNT, json!({
                "text": "hi", "a_new_field": [1, 2, 3],
                "attachment": {"type": "location", "location": {"type": "shared_coordinate"}}
            })),
            dm("954491830116155402", CUSTOMER, ACCOUNT, json!({}))
        ],
        "users": users()
    });
    let events = parse(&body);
    let fields: Vec<String> = events
        .iter()
        .map(|e| match &e.event {
            InboundEvent::Other(o) => o.field.clone(),
            InboundEvent::Message(m) => m.content.type_label().to_owned(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        fields,
        [
            "direct_message_events",
            "direct_message_events",
            "text",
            "unknown",
            "favorite_events"
        ]
    );
    // Two unknown events never share a key.
    assert_ne!(events[0].dedupe_key(), events[1].dedupe_key());
    assert!(events.iter().all(|e| e.account.as_str() == ACCOUNT));
}

#[test]
fn numeric_ids_are_accepted() {
    let body = json!({
        "for_user_id": 4337869213_u64,
        "direct_message_events": [{
            "type": "message_create", "id": 954491830116155403_u64,
            "created_timestamp": 1516403560557_u64,
            "message_create": {"sender_id": 3001969357_u64, "target": {"recipient_id": 4337869213_u64},
                               "message_data": {"text": "hi"}}
        }]
    });
    let m = only_message(&body);
    assert_eq!(m.provider_id.as_str(), "xdm:4337869213:954491830116155403");
    assert_eq!(m.customer.id.as_str(), "x:4337869213:3001969357");
    assert_eq!(m.timestamp, 1516403560);
}

#[test]
fn only_a_body_that_is_no_object_is_an_error_and_one_without_account_is_unrouted() {
    assert!(matches!(
        parse_delivery(b"{not json"),
        Err(ParseError::Json(_))
    ));
    assert!(matches!(
        parse_delivery(b"[1, 2]"),
        Err(ParseError::UnexpectedObject(_))
    ));
    // X's revoke notice, for example, names no `for_user_id`: kept, unrouted.
    let revoke = json!({"user_event": {"revoke": {"date_time": "2018-05-24T09:48:12+00:00",
        "target": {"app_id": "13090192"}, "source": {"user_id": "63046977"}}}});
    let events = parse(&revoke);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].account.as_str(), "");
    assert!(matches!(&events[0].event, InboundEvent::Other(o) if o.field == "delivery"));
    // An account and nothing else: nothing to record.
    assert!(parse(&json!({"for_user_id": ACCOUNT})).is_empty());
}
