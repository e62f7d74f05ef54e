use serde_json::json;

use super::*;
use crate::config::PushSettings;

fn alice() -> AgentId {
    AgentId::new("alice".to_string())
}

#[test]
fn offers_assignments_and_customer_messages_notify() {
    let offered =
        json!({"conversation": {"id": "c1", "customer": {"name": "Ana"}}, "expires_at": 5000});
    let n = notice_for(&alice(), "conversation.offered", &offered).expect("an offer notifies");
    assert_eq!(n.kind, NotifyKind::Offer);
    assert_eq!(n.conversation_id, "c1");
    assert_eq!(n.customer.as_deref(), Some("Ana"));
    assert_eq!(n.expires_at, Some(5000));

    let assigned = json!({"conversation": {"id": "c2", "customer": {"name": "Bo"}}});
    let n = notice_for(&alice(), "conversation.assigned", &assigned).expect("notifies");
    assert_eq!(
        (n.kind, n.conversation_id.as_str()),
        (NotifyKind::Assignment, "c2")
    );

    let inbound = json!({"conversation_id": "c3", "message": {"direction": "inbound"}});
    let n = notice_for(&alice(), "message.created", &inbound).expect("notifies");
    assert_eq!(
        (n.kind, n.conversation_id.as_str()),
        (NotifyKind::Message, "c3")
    );
}

#[test]
fn other_events_do_not_notify() {
    let outbound = json!({"conversation_id": "c3", "message": {"direction": "outbound"}});
    assert_eq!(notice_for(&alice(), "message.created", &outbound), None);
    let note = json!({"conversation_id": "c3", "message": {"direction": "note"}});
    assert_eq!(notice_for(&alice(), "message.created", &note), None);
    let updated = json!({"conversation": {"id": "c1"}, "reason": "resolved"});
    assert_eq!(notice_for(&alice(), "conversation.updated", &updated), None);
    assert_eq!(notice_for(&alice(), "presence.changed", &json!({})), None);
    // No conversation id: nothing to point at.
    assert_eq!(
        notice_for(&alice(), "conversation.offered", &json!({})),
        None
    );
}

#[test]
fn the_payload_names_the_conversation_and_nothing_else() {
    let n = notice_for(
        &alice(),
        "conversation.offered",
        &json!({"conversation": {"id": "c1", "customer": {"name": "+34 6•• ••• •12", "phone": "+34 6•• ••• •12"}}, "expires_at": 9}),
    )
    .expect("notifies");
    let p = payload(&n);
    assert_eq!(p["kind"], "offer");
    assert_eq!(p["conversation_id"], "c1");
    assert_eq!(p["url"], "/#/conversations/c1");
    assert!(p.get("phone").is_none());
    let keys: Vec<&String> = p.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 5, "{p}");
}

#[test]
fn an_offer_lives_until_it_expires_and_is_urgent() {
    let mut n = Notice {
        agent: alice(),
        kind: NotifyKind::Offer,
        conversation_id: "c".into(),
        customer: None,
        expires_at: Some(31_000),
    };
    assert_eq!(ttl_and_urgency(&n, 1_000, 3600), (30, Urgency::High));
    // Already expired: not kept at all.
    assert_eq!(ttl_and_urgency(&n, 40_000, 3600).0, 0);
    n.kind = NotifyKind::Message;
    assert_eq!(ttl_and_urgency(&n, 1_000, 3600), (3600, Urgency::Normal));
    n.kind = NotifyKind::Assignment;
    assert_eq!(ttl_and_urgency(&n, 1_000, 3600), (3600, Urgency::High));
}

/// A subscription's JSON with a real P-256 public key.
fn subscription(endpoint: &str) -> SubscriptionJson {
    let (pair, _) = ece::generate_keypair_and_auth_secret().expect("keys");
    let public = pair.pub_as_raw().expect("raw");
    serde_json::from_value(json!({
        "endpoint": endpoint,
        "expirationTime": null,
        "keys": {"p256dh": URL_SAFE_NO_PAD.encode(public), "auth": URL_SAFE_NO_PAD.encode([7u8; 16])}
    }))
    .expect("json")
}

#[test]
fn browsers_subscriptions_are_accepted() {
    let settings = PushSettings::default();
    let s = validate(
        &subscription("https://fcm.googleapis.com/fcm/send/abc"),
        &settings,
        &alice(),
        Some("Chrome"),
        1,
    )
    .expect("Chrome's push service");
    assert_eq!(s.user, alice());
    assert_eq!(s.user_agent.as_deref(), Some("Chrome"));
    validate(
        &subscription("https://updates.push.services.mozilla.com/wpush/v2/x"),
        &settings,
        &alice(),
        None,
        1,
    )
    .expect("Firefox's push service");
    validate(
        &subscription("https://web.push.apple.com/x"),
        &settings,
        &alice(),
        None,
        1,
    )
    .expect("Safari's push service");
}

#[test]
fn bad_subscriptions_are_refused_with_a_reason() {
    let settings = PushSettings::default();
    let refused = |s: SubscriptionJson| validate(&s, &settings, &alice(), None, 1).unwrap_err();
    assert!(refused(subscription("http://fcm.googleapis.com/x")).contains("scheme"));
    assert!(refused(subscription("https://evil.example/x")).contains("not allowed"));
    assert!(refused(subscription("https://googleapis.com.evil.example/x")).contains("not allowed"));
    assert!(refused(subscription("not a url")).contains("endpoint"));
    assert!(refused(subscription("https://user:pw@fcm.googleapis.com/x")).contains("credentials"));
    let long = format!("https://fcm.googleapis.com/{}", "a".repeat(3000));
    assert!(refused(subscription(&long)).contains("longer"));

    let mut bad_key = subscription("https://fcm.googleapis.com/x");
    bad_key.keys.p256dh = URL_SAFE_NO_PAD.encode([4u8; 65]);
    assert!(refused(bad_key).contains("p256dh"));
    let mut bad_auth = subscription("https://fcm.googleapis.com/x");
    bad_auth.keys.auth = URL_SAFE_NO_PAD.encode([1u8; 8]);
    assert!(refused(bad_auth).contains("auth"));
    let mut not_b64 = subscription("https://fcm.googleapis.com/x");
    not_b64.keys.auth = "%%%".into();
    assert!(refused(not_b64).contains("auth"));

    let local = PushSettings {
        allow_http_endpoints: true,
        endpoint_hosts: Vec::new(),
        ..PushSettings::default()
    };
    validate(
        &subscription("http://127.0.0.1:9/push/x"),
        &local,
        &alice(),
        None,
        1,
    )
    .expect("a local push service where allowed");
}

#[test]
fn the_audience_is_the_origin_with_its_port() {
    let url = reqwest::Url::parse("http://127.0.0.1:4567/push/x").expect("url");
    assert_eq!(origin(&url), "http://127.0.0.1:4567");
    let url = reqwest::Url::parse("https://fcm.googleapis.com/fcm/send/x").expect("url");
    assert_eq!(origin(&url), "https://fcm.googleapis.com");
}

#[test]
fn a_failed_push_waits_for_the_backoff_or_the_services_retry_after_within_its_lifetime() {
    let s = Duration::from_secs;
    let minute = s(60);
    // Backon's wait, unless the push service asks for longer (capped at 30 s).
    assert_eq!(next_try(Some(s(1)), None, minute), Some(s(1)));
    assert_eq!(next_try(Some(s(1)), Some(s(5)), minute), Some(s(5)));
    assert_eq!(next_try(Some(s(8)), Some(s(5)), minute), Some(s(8)));
    assert_eq!(next_try(Some(s(1)), Some(s(3600)), minute), Some(s(30)));
    // The tries are spent: give up whatever the service says.
    assert_eq!(next_try(None, Some(s(1)), minute), None);
    // A notice that would expire before the next try (an offer of 20 s) is given up.
    assert_eq!(next_try(Some(s(4)), None, s(3)), None);
    assert_eq!(next_try(Some(s(1)), Some(s(20)), s(15)), None);
    assert_eq!(next_try(Some(s(1)), None, Duration::ZERO), None);
}

#[test]
fn a_user_without_subscriptions_is_remembered_for_a_while_and_forgotten_on_subscribing() {
    let unsubscribed = super::Unsubscribed::default();
    let (alice, bob) = (
        AgentId::new("alice".to_string()),
        AgentId::new("bob".to_string()),
    );
    let now = std::time::Instant::now();
    assert!(!unsubscribed.known(&alice, now), "never looked up");
    unsubscribed.remember(&alice, now);
    assert!(unsubscribed.known(&alice, now));
    assert!(!unsubscribed.known(&bob, now), "only who was looked up");
    assert!(
        !unsubscribed.known(&alice, now + super::NO_SUBSCRIPTION_TTL),
        "looked up again once the time is over"
    );
    unsubscribed.remember(&alice, now);
    unsubscribed.forget(&alice);
    assert!(
        !unsubscribed.known(&alice, now),
        "a subscription made here applies at once"
    );
}

#[test]
fn the_users_remembered_are_bounded() {
    let unsubscribed = super::Unsubscribed::default();
    let now = std::time::Instant::now();
    for i in 0..super::Unsubscribed::MAX_REMEMBERED + 10 {
        unsubscribed.remember(&AgentId::new(format!("agent-{i}")), now);
    }
    let held = unsubscribed.0.lock().map(|users| users.len()).unwrap_or(0);
    assert_eq!(held, super::Unsubscribed::MAX_REMEMBERED);
    // Once they are stale, room is made for new ones.
    let later = now + super::NO_SUBSCRIPTION_TTL;
    unsubscribed.remember(&AgentId::new("newcomer".to_string()), later);
    assert!(unsubscribed.known(&AgentId::new("newcomer".to_string()), later));
    let held = unsubscribed.0.lock().map(|users| users.len()).unwrap_or(0);
    assert_eq!(held, 1);
}
