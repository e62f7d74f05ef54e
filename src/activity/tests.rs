use super::*;

fn signal(conversation: &str, user: &str, state: State, at_ms: i64) -> Signal {
    Signal {
        conversation: conversation.into(),
        user: AgentId::new(user),
        name: user.to_uppercase(),
        state,
        at_ms,
    }
}

fn names(people: &[Person]) -> Vec<(String, bool)> {
    people.iter().map(|p| (p.name.clone(), p.typing)).collect()
}

#[test]
fn viewing_typing_and_leaving_are_seen_by_the_others() {
    let mut seen = Seen::default();
    assert!(seen.apply(&signal("c1", "bob", State::Viewing, 1_000), 1_000));
    assert!(
        !seen.apply(&signal("c1", "bob", State::Viewing, 2_000), 2_000),
        "a refresh changes nothing others see"
    );
    assert_eq!(
        names(&seen.people("c1", None, 2_000)),
        [("BOB".into(), false)]
    );
    assert!(
        seen.people("c1", Some(&AgentId::new("bob")), 2_000)
            .is_empty(),
        "nobody is told about themselves"
    );
    assert!(seen.apply(&signal("c1", "alice", State::Typing, 3_000), 3_000));
    assert_eq!(
        names(&seen.people("c1", Some(&AgentId::new("bob")), 3_000)),
        [("ALICE".into(), true)]
    );
    assert!(
        seen.apply(&signal("c1", "alice", State::Viewing, 4_000), 4_000),
        "stopped typing"
    );
    assert!(seen.apply(&signal("c1", "alice", State::Idle, 5_000), 5_000));
    assert_eq!(
        names(&seen.people("c1", None, 5_000)),
        [("BOB".into(), false)]
    );
    assert!(
        seen.people("c2", None, 5_000).is_empty(),
        "per conversation"
    );
    assert!(
        !seen.apply(&signal("c9", "carla", State::Idle, 5_000), 5_000),
        "leaving where one never was changes nothing"
    );
}

#[test]
fn signals_expire_by_themselves() {
    let mut seen = Seen::default();
    seen.apply(&signal("c1", "bob", State::Typing, 0), 0);
    seen.apply(&signal("c2", "bob", State::Viewing, 0), 0);
    assert!(seen.expire(TYPING_TTL_MS - 1).is_empty());
    assert_eq!(
        seen.expire(TYPING_TTL_MS),
        ["c1".to_string()],
        "typing ran out"
    );
    assert_eq!(
        names(&seen.people("c1", None, TYPING_TTL_MS)),
        [("BOB".into(), false)],
        "still viewing"
    );
    let mut gone = seen.expire(VIEWING_TTL_MS);
    gone.sort();
    assert_eq!(gone, ["c1".to_string(), "c2".to_string()]);
    assert!(seen.people("c1", None, VIEWING_TTL_MS).is_empty());
    assert!(seen.marks.is_empty(), "nothing kept for nobody");
    // A late (reordered) viewing signal never shortens a newer one.
    seen.apply(&signal("c1", "bob", State::Viewing, 10_000), 10_000);
    seen.apply(&signal("c1", "bob", State::Viewing, 5_000), 10_000);
    assert_eq!(
        seen.people("c1", None, 10_000 + VIEWING_TTL_MS - 1).len(),
        1
    );
}

#[test]
fn people_are_listed_by_name_and_the_replica_is_bounded() {
    let mut seen = Seen::default();
    for user in ["carla", "alice", "bob"] {
        seen.apply(&signal("c1", user, State::Viewing, 0), 0);
    }
    let people = seen.people("c1", None, 1);
    assert_eq!(
        people.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["ALICE", "BOB", "CARLA"]
    );
    let mut full = Seen::default();
    for i in 0..MAX_CONVERSATIONS {
        full.apply(&signal(&format!("c{i}"), "bob", State::Viewing, 0), 0);
    }
    assert!(
        !full.apply(&signal("one-more", "bob", State::Viewing, 0), 0),
        "full: refused"
    );
    assert!(
        full.apply(
            &signal("one-more", "bob", State::Viewing, VIEWING_TTL_MS),
            VIEWING_TTL_MS
        ),
        "room again once the old ones expired"
    );
}

#[tokio::test]
async fn watchers_are_told_of_changes_but_not_of_themselves() {
    let activity = Activity::new(None);
    let (bob_tx, mut bob_rx) = mpsc::channel(8);
    let (alice_tx, mut alice_rx) = mpsc::channel(8);
    let bob_session = activity.session();
    let alice_session = activity.session();
    assert!(activity.watch(bob_session, "c1", &AgentId::new("bob"), &bob_tx));
    let first: serde_json::Value =
        serde_json::from_str(&bob_rx.recv().await.expect("frame")).expect("json");
    assert_eq!(
        first,
        json!({"type": "activity", "conversation_id": "c1", "people": []})
    );
    activity
        .signal(signal("c1", "bob", State::Viewing, now_ms()))
        .await;
    assert!(
        bob_rx.try_recv().is_ok(),
        "bob's own change: told, with nobody else"
    );
    assert!(activity.watch(alice_session, "c1", &AgentId::new("alice"), &alice_tx));
    let told: serde_json::Value =
        serde_json::from_str(&alice_rx.recv().await.expect("frame")).expect("json");
    assert_eq!(
        told["people"],
        json!([{"id": "bob", "name": "BOB", "typing": false}])
    );
    activity
        .signal(signal("c1", "alice", State::Typing, now_ms()))
        .await;
    let told: serde_json::Value =
        serde_json::from_str(&bob_rx.recv().await.expect("frame")).expect("json");
    assert_eq!(
        told["people"],
        json!([{"id": "alice", "name": "ALICE", "typing": true}])
    );
    activity.unwatch(bob_session, None);
    activity
        .signal(signal("c1", "alice", State::Idle, now_ms()))
        .await;
    assert!(bob_rx.try_recv().is_err(), "bob no longer watches");
}
