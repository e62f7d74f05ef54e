//! The store's behavioural suite, written once against `dyn Store` and run against every
//! implementation (`store_suite!` below generates one test per case and backend).

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::channels::WebhookParser;
use crate::channels::whatsapp::webhook::WhatsappWebhookParser;
use crate::domain::{
    ChannelId, ConversationKey, CustomerId, MessageId, OutboundContent, OutboundMessage,
};

mod levels_cases;
mod reach_cases;
use levels_cases::reports_read_from_levels_match_the_hourly_rollups;
use reach_cases::{
    template_retries_wait_their_turn_and_are_held_by_one,
    the_reach_never_passes_the_messaging_limit,
};

const PHONE_NUMBER_ID: &str = "106540352242922";

fn channel() -> ChannelId {
    ChannelId::new("support")
}

fn key(customer: &str) -> ConversationKey {
    ConversationKey::new(&channel(), &CustomerId::new(customer))
}

/// A text message webhook from `customer`, parsed like intake does, as a `NewInbound`.
fn text_event(customer: &str, wamid: &str, body: &str) -> NewInbound {
    let webhook = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "419561257915477", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Sheena"}, "wa_id": customer}],
            "messages": [{"from": customer, "id": wamid, "timestamp": "1749416383",
                          "type": "text", "text": {"body": body}}]
        }}]}]
    });
    inbound(webhook, Some(customer))
}

/// A status webhook for a message we sent to `customer`.
fn status_event(customer: &str, wamid: &str, status: &str, callback: Option<&str>) -> NewInbound {
    let mut update = json!({"id": wamid, "status": status, "timestamp": "1749416400",
                            "recipient_id": customer});
    if let Some(callback) = callback {
        update["biz_opaque_callback_data"] = json!(callback);
    }
    let webhook = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "419561257915477", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
            "statuses": [update]
        }}]}]
    });
    inbound(webhook, Some(customer))
}

fn inbound(webhook: serde_json::Value, customer: Option<&str>) -> NewInbound {
    let body = serde_json::to_vec(&webhook).expect("json");
    let mut envelopes = WhatsappWebhookParser.parse(&body).expect("a valid webhook");
    let envelope = envelopes.remove(0);
    NewInbound {
        dedupe_key: envelope.dedupe_key(),
        channel: Some(channel()),
        conversation: customer.map(key),
        envelope,
    }
}

/// Record events; their sequences (None for redeliveries).
async fn record(store: &dyn Store, events: Vec<NewInbound>) -> Vec<Option<i64>> {
    store
        .record_inbound(events)
        .await
        .expect("recorded")
        .into_iter()
        .map(|(_, seq)| seq)
        .collect()
}

fn new_conversation(customer: &str) -> ConversationRecord {
    ConversationRecord::new(key(customer), channel(), CustomerId::new(customer), 1_000)
}

fn contact(customer: &str, name: &str) -> ContactRecord {
    ContactRecord {
        customer: CustomerId::new(customer),
        name: Some(name.into()),
        ..ContactRecord::default()
    }
}

fn text_to(customer: &str, text: &str) -> OutboundMessage {
    OutboundMessage {
        id: MessageId::generate(),
        conversation: key(customer),
        channel: channel(),
        to: CustomerId::new(customer),
        content: OutboundContent::Text {
            body: text.into(),
            preview_url: false,
        },
        reply_to: None,
    }
}

/// Commit `step` and bump the record's version like the conversation actor does.
async fn commit(store: &dyn Store, c: &mut ConversationRecord, mut step: ConversationStep) {
    step.conversation = Some(c.clone());
    store.commit_step(step).await.expect("committed");
    c.version += 1;
}

fn is_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict(_)))
}

// ---- the cases ----

/// Recording is idempotent by dedupe key; an event is consumed once, by one step.
pub(crate) async fn events_are_recorded_once_and_consumed_once(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let seqs = record(
        store,
        vec![
            text_event("111", "wamid.a", "hi"),
            text_event("111", "wamid.b", "there"),
            text_event("111", "wamid.a", "hi again, same id"),
        ],
    )
    .await;
    let (a, b) = (seqs[0].expect("new"), seqs[1].expect("new"));
    assert!(b > a, "log order");
    assert_eq!(seqs[2], None, "a redelivery within the same batch");
    assert_eq!(
        record(store, vec![text_event("111", "wamid.b", "again")]).await,
        [None],
        "a redelivery later"
    );
    let backlog = store
        .unprocessed_for(&key("111"), 0, 10)
        .await
        .expect("backlog");
    assert_eq!(backlog.iter().map(|e| e.seq).collect::<Vec<_>>(), [a, b]);
    assert!(!store.is_processed(a).await.expect("processed?"));
    assert!(
        store
            .is_processed(a + b + 1000)
            .await
            .expect("unknown = done")
    );

    let mut c = new_conversation("111");
    commit(
        store,
        &mut c,
        ConversationStep {
            processed_seq: Some(a),
            contact: Some(ContactWrite::whole(contact("111", "Sheena"))),
            ..ConversationStep::empty()
        },
    )
    .await;
    assert!(store.is_processed(a).await.expect("processed?"));
    assert_eq!(
        store
            .unprocessed_for(&key("111"), 0, 10)
            .await
            .expect("backlog")
            .iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>(),
        [b]
    );
    // The same event again (a second owner, a replay): refused, and nothing of it is written.
    let again = ConversationStep {
        processed_seq: Some(a),
        conversation: Some(c.clone()),
        contact: Some(ContactWrite::whole(contact("111", "Someone else"))),
        note: Some((MessageId::generate(), "must not be written".into())),
        ..ConversationStep::empty()
    };
    assert!(is_conflict(store.commit_step(again).await));
    let stored = store
        .load_contact(&CustomerId::new("111"))
        .await
        .expect("contact")
        .expect("known");
    assert_eq!(stored.name.as_deref(), Some("Sheena"));
    assert!(
        store
            .conversation_messages(&c.id)
            .await
            .expect("messages")
            .is_empty()
    );
    let (loaded, _) = store
        .load_conversation(&key("111"))
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(loaded.version, 1, "the conflict did not bump the version");
}

/// A step commits only over the version it was computed from; one open conversation per key.
pub(crate) async fn steps_are_fenced_by_version_and_one_open_conversation(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let mut c = new_conversation("222");
    commit(store, &mut c, ConversationStep::empty()).await;
    assert_eq!(c.version, 1);
    let stale = c.clone();
    c.status = ConversationStatus::Waiting;
    commit(store, &mut c, ConversationStep::empty()).await;
    let (loaded, _) = store
        .load_conversation(&key("222"))
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(loaded.version, 2);
    assert_eq!(loaded.status, ConversationStatus::Waiting);

    // A second owner computed from version 1: refused, nothing written.
    let mut lost = stale.clone();
    lost.status = ConversationStatus::Resolved;
    let step = ConversationStep {
        conversation: Some(lost),
        note: Some((MessageId::generate(), "lost".into())),
        outbound: vec![(text_to("222", "lost"), Sender::Bot)],
        ..ConversationStep::empty()
    };
    assert!(is_conflict(store.commit_step(step).await));
    let (loaded, _) = store
        .load_conversation(&key("222"))
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(loaded.status, ConversationStatus::Waiting);
    assert!(
        store
            .conversation_messages(&c.id)
            .await
            .expect("messages")
            .is_empty()
    );

    // A second open conversation for the same customer thread: refused.
    let twin = new_conversation("222");
    assert!(is_conflict(
        store.commit_step(ConversationStep::update(twin)).await
    ));
    // Once resolved, the customer's next conversation is a new one.
    c.status = ConversationStatus::Resolved;
    commit(store, &mut c, ConversationStep::empty()).await;
    let mut next = new_conversation("222");
    commit(store, &mut next, ConversationStep::empty()).await;
    let (loaded, _) = store
        .load_conversation(&key("222"))
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(
        loaded.id, next.id,
        "the newest conversation is the current one"
    );
    assert_eq!(loaded.version, 1);
}

/// Outbound messages are claimed once; a claim left by a dead sender can be taken over only
/// while it is still unconfirmed; a status with our callback data confirms it.
pub(crate) async fn outbound_is_claimed_once_and_confirmed_by_callback(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let mut c = new_conversation("333");
    let first = text_to("333", "first");
    let second = text_to("333", "second");
    commit(
        store,
        &mut c,
        ConversationStep {
            outbound: vec![(first.clone(), Sender::Bot), (second.clone(), Sender::Bot)],
            ..ConversationStep::empty()
        },
    )
    .await;
    let pending = store.pending_outbound().await.expect("pending");
    assert_eq!(
        pending
            .iter()
            .map(|p| (p.message.id, p.state))
            .collect::<Vec<_>>(),
        [
            (first.id, OutboundState::Queued),
            (second.id, OutboundState::Queued)
        ]
    );
    assert_eq!(pending[0].message, first);

    let status = |id| async move { store.outbound_status(id).await.expect("status") };
    assert_eq!(status(first.id).await.as_deref(), Some("queued"));
    assert_eq!(status(MessageId::generate()).await, None);
    assert!(store.claim_outbound(first.id, None).await.expect("claim"));
    assert!(!store.claim_outbound(first.id, None).await.expect("claim"));
    assert_eq!(status(first.id).await.as_deref(), Some("sending"));
    let claimed_at = store
        .pending_outbound()
        .await
        .expect("pending")
        .into_iter()
        .find(|p| p.message.id == first.id)
        .map(|p| {
            assert_eq!(p.state, OutboundState::Sending);
            p.updated_at
        })
        .expect("still pending");
    // Taking over a claim: only if it is older than the cut-off.
    assert!(
        !store
            .claim_outbound(first.id, Some(claimed_at))
            .await
            .expect("claim")
    );
    assert!(
        store
            .claim_outbound(first.id, Some(i64::MAX))
            .await
            .expect("reclaim")
    );
    store
        .record_outbound_outcome(
            first.id,
            1,
            OutboundOutcome::Accepted {
                provider_id: Some(ProviderMessageId::new("wamid.first")),
            },
        )
        .await
        .expect("outcome");
    assert!(
        !store
            .claim_outbound(first.id, Some(i64::MAX))
            .await
            .expect("claim"),
        "a message with an outcome is never claimed again"
    );

    // The second one's sender died mid-request: no provider id known. Meta's status carries
    // our id as callback data, which ties it to the message and settles it.
    assert!(store.claim_outbound(second.id, None).await.expect("claim"));
    let seqs = record(
        store,
        vec![status_event(
            "333",
            "wamid.second",
            "sent",
            Some(&second.id.to_string()),
        )],
    )
    .await;
    commit(
        store,
        &mut c,
        ConversationStep {
            processed_seq: seqs[0],
            status: match store
                .unprocessed_for(&key("333"), 0, 10)
                .await
                .expect("backlog")
                .remove(0)
                .envelope
                .event
            {
                crate::domain::InboundEvent::Status(update) => Some(update),
                other => panic!("a status, not {other:?}"),
            },
            ..ConversationStep::empty()
        },
    )
    .await;
    let message = store
        .message_by_provider_id(&ProviderMessageId::new("wamid.second"))
        .await
        .expect("by provider id")
        .expect("tied by callback data");
    assert_eq!(message.id, second.id.to_string());
    assert_eq!(message.status, "sent");
    assert!(store.pending_outbound().await.expect("pending").is_empty());
    assert!(
        !store
            .claim_outbound(second.id, Some(i64::MAX))
            .await
            .expect("claim"),
        "confirmed by its status: not sent again"
    );
}

/// Retention deletes processed inbound events and old console events, never history or work
/// still to do.
pub(crate) async fn retention_prunes_what_is_done_and_old(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let seqs = record(
        store,
        vec![
            text_event("444", "wamid.done", "processed"),
            text_event("444", "wamid.todo", "not yet"),
        ],
    )
    .await;
    let mut c = new_conversation("444");
    commit(
        store,
        &mut c,
        ConversationStep {
            processed_seq: seqs[0],
            ..ConversationStep::empty()
        },
    )
    .await;
    let agent = crate::domain::AgentId::new("alice");
    store
        .append_agent_events(
            &agent,
            vec![AgentEventRecord {
                seq: 1,
                kind: "presence.changed".into(),
                payload: json!({}),
                created_at: 1_000,
                outbox_id: None,
            }],
            100,
        )
        .await
        .expect("appended");
    let pruned = store.prune(i64::MAX, 2_000).await.expect("pruned");
    assert_eq!(pruned.inbound_events, 1, "only the processed event");
    assert_eq!(pruned.agent_events, 1);
    assert_eq!(
        store
            .unprocessed_for(&key("444"), 0, 10)
            .await
            .expect("backlog")
            .len(),
        1,
        "work still to do is kept"
    );
    assert!(
        store
            .load_conversation(&key("444"))
            .await
            .expect("load")
            .is_some(),
        "history is kept"
    );
    assert!(
        store
            .agent_event_bounds(&agent)
            .await
            .expect("bounds")
            .is_none()
    );
    // A pruned dedupe key no longer recognises a (very late) redelivery: retention must stay
    // longer than Meta's 7 days of retries.
    assert_eq!(
        record(store, vec![text_event("444", "wamid.done", "8 days later")])
            .await
            .len(),
        1
    );
}

fn agent(name: &str) -> AgentId {
    AgentId::new(name)
}

fn team(name: &str) -> TeamId {
    TeamId::new(name)
}

/// A conversation of `customer` in `status`, as routing and assignment leave it.
fn conversation_in(
    customer: &str,
    status: ConversationStatus,
    team_name: Option<&str>,
    assignee: Option<&str>,
    handoff_at: Option<i64>,
    updated_at: i64,
) -> ConversationRecord {
    let mut c = new_conversation(customer);
    c.status = status;
    c.team = team_name.map(team);
    c.assignee = assignee.map(agent);
    c.handoff_at = handoff_at;
    c.updated_at = updated_at;
    c
}

fn ids(conversations: &[ConversationRecord]) -> Vec<&str> {
    conversations.iter().map(|c| c.id.as_str()).collect()
}

/// A delivery status for the message Meta knows as `wamid`.
fn delivery(wamid: &str, status: DeliveryStatus, error: Option<(i64, &str)>) -> StatusUpdate {
    StatusUpdate {
        provider_id: ProviderMessageId::new(wamid),
        status,
        raw_status: status.as_str().into(),
        timestamp: 1_749_416_400,
        recipient: CustomerId::new("777"),
        errors: error
            .map(|(code, title)| crate::domain::ProviderError {
                code,
                title: Some(title.into()),
                message: None,
                details: None,
            })
            .into_iter()
            .collect(),
        pricing_category: None,
        pricing_type: None,
        biz_opaque_callback_data: None,
    }
}

/// Apply a status webhook's update the way a conversation step does.
async fn apply(store: &dyn Store, update: StatusUpdate) {
    store
        .commit_step(ConversationStep {
            status: Some(update),
            ..ConversationStep::empty()
        })
        .await
        .expect("status applied");
}

async fn message(store: &dyn Store, wamid: &str) -> Option<StoredMessage> {
    store
        .message_by_provider_id(&ProviderMessageId::new(wamid))
        .await
        .expect("by provider id")
}

/// Console lists: bot conversations hidden, visibility by team or own assignment, every
/// filter, most recently updated first, the limit; and the single-customer and restore
/// queries, the conversation's events, the counts, records read back exactly as written.
pub(crate) async fn lists_and_lookups_read_back_what_steps_wrote(store: Arc<dyn Store>) {
    let store = store.as_ref();
    use ConversationStatus::*;
    let mut bot = conversation_in("501", Bot, None, None, None, 8_000);
    let mut waiting = conversation_in("502", Waiting, Some("support"), None, Some(2_000), 5_000);
    let mut mine = conversation_in(
        "503",
        Assigned,
        Some("support"),
        Some("alice"),
        Some(1_500),
        6_000,
    );
    let mut elsewhere = conversation_in("504", Assigned, Some("sales"), Some("alice"), None, 7_000);
    let mut snoozed = conversation_in(
        "505",
        Snoozed,
        Some("sales"),
        Some("bob"),
        Some(1_000),
        4_000,
    );
    let mut resolved = conversation_in(
        "506",
        Resolved,
        Some("support"),
        Some("bob"),
        Some(500),
        3_000,
    );
    // Everything a record holds, to read it back exactly.
    mine.bot_state = json!({"step": "menu", "answers": {"order": "A-17"}, "n": 2}).into();
    mine.route = Some(json!({"team": "support", "trace": ["rule vip", {"matched": true}]}).into());
    mine.priority = 5;
    mine.assigned_at = Some(1_600);
    mine.first_response_at = Some(1_700);
    mine.snoozed_until = Some(99_000);
    mine.last_seq = 42;
    mine.last_inbound_at = Some(1_400);
    for c in [
        &mut bot,
        &mut waiting,
        &mut mine,
        &mut elsewhere,
        &mut snoozed,
        &mut resolved,
    ] {
        commit(store, c, ConversationStep::empty()).await;
    }
    let events = vec![
        ConversationEvent {
            kind: "routed".into(),
            agent: None,
            team: Some(team("support")),
            detail: Some("rule vip".into()),
        },
        ConversationEvent {
            kind: "assigned".into(),
            agent: Some(agent("alice")),
            team: Some(team("support")),
            detail: None,
        },
    ];
    commit(
        store,
        &mut mine,
        ConversationStep {
            events: events.clone(),
            agent: Some(agent("alice")),
            note: Some((MessageId::generate(), "VIP, be nice".into())),
            ..ConversationStep::empty()
        },
    )
    .await;
    let transferred = ConversationEvent {
        kind: "transferred".into(),
        agent: Some(agent("bob")),
        team: None,
        detail: Some("to bob".into()),
    };
    commit(
        store,
        &mut mine,
        ConversationStep {
            events: vec![transferred.clone()],
            ..ConversationStep::empty()
        },
    )
    .await;
    // The customer of the resolved conversation writes again: a new one, created later.
    let mut again = ConversationRecord::new(key("506"), channel(), CustomerId::new("506"), 9_000);
    commit(store, &mut again, ConversationStep::empty()).await;

    assert_eq!(
        store.conversation_by_id(&mine.id).await.expect("by id"),
        Some(mine.clone()),
        "read back exactly as written"
    );
    assert_eq!(store.conversation_by_id("nope").await.expect("by id"), None);
    let (loaded, contact) = store
        .load_conversation(&key("503"))
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(loaded, mine);
    assert_eq!(
        contact.customer,
        CustomerId::new("503"),
        "a default contact"
    );
    assert_eq!(
        store.conversation_events(&mine.id).await.expect("events"),
        [events, vec![transferred]].concat(),
        "in order"
    );
    assert!(
        store
            .conversation_events(&waiting.id)
            .await
            .expect("events")
            .is_empty()
    );
    let notes = store.conversation_messages(&mine.id).await.expect("notes");
    assert_eq!(notes.len(), 1);
    assert_eq!(
        (
            notes[0].direction.as_str(),
            notes[0].author.as_deref(),
            &notes[0].body
        ),
        (
            "note",
            Some("alice"),
            &json!({"type": "note", "body": "VIP, be nice"})
        )
    );

    let list = |filter: ConversationFilter| async move {
        store
            .list_conversations(&ConversationFilter {
                limit: 50,
                ..filter
            })
            .await
            .expect("list")
    };
    let all_teams = || vec![team("support"), team("sales")];
    // Alice in support sees support's conversations and her own elsewhere; never the bot's.
    let seen = list(ConversationFilter {
        viewer: Some(agent("alice")),
        visible_teams: vec![team("support")],
        ..ConversationFilter::default()
    })
    .await;
    assert_eq!(
        ids(&seen),
        [&elsewhere.id, &mine.id, &waiting.id, &resolved.id],
        "visible, most recently updated first"
    );
    let seen = list(ConversationFilter {
        visible_teams: vec![team("sales")],
        ..ConversationFilter::default()
    })
    .await;
    assert_eq!(ids(&seen), [&elsewhere.id, &snoozed.id]);
    assert!(
        list(ConversationFilter::default()).await.is_empty(),
        "no team, no viewer: nothing"
    );
    let seen = list(ConversationFilter {
        visible_teams: all_teams(),
        status: Some(Waiting),
        ..ConversationFilter::default()
    })
    .await;
    assert_eq!(ids(&seen), [&waiting.id]);
    let seen = list(ConversationFilter {
        visible_teams: all_teams(),
        team: Some(team("sales")),
        ..ConversationFilter::default()
    })
    .await;
    assert_eq!(ids(&seen), [&elsewhere.id, &snoozed.id]);
    let seen = list(ConversationFilter {
        visible_teams: all_teams(),
        assignee: Some(agent("bob")),
        ..ConversationFilter::default()
    })
    .await;
    assert_eq!(ids(&seen), [&snoozed.id, &resolved.id]);
    let seen = list(ConversationFilter {
        visible_teams: all_teams(),
        unassigned: true,
        ..ConversationFilter::default()
    })
    .await;
    assert_eq!(ids(&seen), [&waiting.id]);
    let seen = store
        .list_conversations(&ConversationFilter {
            visible_teams: all_teams(),
            limit: 2,
            ..ConversationFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(ids(&seen), [&elsewhere.id, &mine.id], "the limit");

    // Keyset paging: each page starts strictly after the last one's (updated_at, id).
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = list(ConversationFilter {
            visible_teams: all_teams(),
            after: after.clone(),
            limit: 2,
            ..ConversationFilter::default()
        })
        .await;
        let page = &page[..page.len().min(2)];
        paged.extend(page.iter().map(|c| c.id.clone()));
        match page.last() {
            Some(last) if page.len() == 2 => after = Some(ListCursor::of(last)),
            _ => break,
        }
    }
    let everything = list(ConversationFilter {
        visible_teams: all_teams(),
        ..ConversationFilter::default()
    })
    .await;
    assert_eq!(
        paged,
        everything.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        "pages cover the list once, in order"
    );
    assert_eq!(
        ListCursor::decode(&ListCursor::of(&mine).encode()),
        Some(ListCursor::of(&mine))
    );
    assert_eq!(ListCursor::decode("12"), None);
    assert_eq!(ListCursor::decode("x~c1"), None);

    // Search: a name, a note's words, digits of the number; and the channel and tag filters.
    let mut named = ContactRecord {
        customer: CustomerId::new("502"),
        name: Some("Zoë O'Hara_100%".into()),
        tags: vec!["vip".into(), "late-payer".into()],
        ..ContactRecord::default()
    };
    commit(
        store,
        &mut waiting,
        ConversationStep {
            contact: Some(ContactWrite::whole(named.clone())),
            ..ConversationStep::empty()
        },
    )
    .await;
    let search = |text: &str| {
        let text = text.to_lowercase();
        async move {
            let seen = list(ConversationFilter {
                visible_teams: all_teams(),
                text: Some(text),
                ..ConversationFilter::default()
            })
            .await;
            seen.into_iter().map(|c| c.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(search("o'hara").await, [waiting.id.clone()], "by name");
    assert_eq!(
        search("_100%").await,
        [waiting.id.clone()],
        "wildcards are literal"
    );
    assert!(search("o_hara").await.is_empty(), "`_` matches only itself");
    assert!(search("100%%").await.is_empty());
    assert_eq!(search("be NICE").await, [mine.id.clone()], "a note's words");
    assert_eq!(
        search("503").await,
        [mine.id.clone()],
        "digits of the number"
    );
    assert_eq!(
        search("+5 03").await,
        [mine.id.clone()],
        "a number as typed"
    );
    assert!(search("nobody").await.is_empty());
    let seen = list(ConversationFilter {
        visible_teams: vec![team("sales")],
        text: Some("o'hara".into()),
        ..ConversationFilter::default()
    })
    .await;
    assert!(
        seen.is_empty(),
        "search never widens what the viewer may see"
    );
    let tagged = |tag: &str| {
        let tag = tag.to_string();
        async move {
            let seen = list(ConversationFilter {
                visible_teams: all_teams(),
                tag: Some(tag),
                ..ConversationFilter::default()
            })
            .await;
            seen.into_iter().map(|c| c.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(tagged("vip").await, [waiting.id.clone()]);
    assert!(tagged("vi").await.is_empty(), "a whole tag, not a part");
    let tagged_before = named.clone();
    named.tags.clear();
    commit(
        store,
        &mut waiting,
        ConversationStep {
            contact: Some(ContactWrite::new(&tagged_before, named)),
            ..ConversationStep::empty()
        },
    )
    .await;
    assert!(tagged("vip").await.is_empty(), "untagged at once");
    let on = |channel: &str| {
        let channel = ChannelId::new(channel);
        async move {
            list(ConversationFilter {
                visible_teams: all_teams(),
                channel: Some(channel),
                ..ConversationFilter::default()
            })
            .await
            .len()
        }
    };
    assert_eq!(on("support").await, everything.len());
    assert_eq!(on("elsewhere").await, 0);

    // The single customer view: newest first, with a limit.
    let history = store
        .customer_conversations(&CustomerId::new("506"), 10)
        .await
        .expect("history");
    assert_eq!(ids(&history), [&again.id, &resolved.id]);
    let history = store
        .customer_conversations(&CustomerId::new("506"), 1)
        .await
        .expect("history");
    assert_eq!(ids(&history), [&again.id]);
    assert_eq!(
        store
            .last_assignee(&CustomerId::new("506"), &again.id)
            .await
            .expect("last assignee"),
        Some(agent("bob")),
        "who served the customer last time"
    );
    assert_eq!(
        store
            .last_assignee(&CustomerId::new("506"), &resolved.id)
            .await
            .expect("last assignee"),
        None,
        "the other conversation has nobody"
    );
    assert_eq!(
        store
            .last_assignee(&CustomerId::new("999"), "")
            .await
            .expect("last assignee"),
        None
    );

    // What a start restores: waiting, assigned and snoozed, by handoff time, the ones without
    // one first.
    let open = store.open_conversations().await.expect("open");
    assert_eq!(
        ids(&open),
        [&elsewhere.id, &snoozed.id, &mine.id, &waiting.id]
    );

    assert_eq!(
        store.counts().await.expect("counts"),
        StoreCounts {
            inbound_events: 0,
            unprocessed_events: 0,
            conversations: 7,
            messages: 1,
        }
    );
}

/// Delivery statuses only move a message forward; statuses that come before the send's
/// response wait as orphans and apply when it comes; failures keep their code and reason.
pub(crate) async fn statuses_move_forward_and_orphans_wait_for_the_send_response(
    store: Arc<dyn Store>,
) {
    let store = store.as_ref();
    let mut c = new_conversation("777");
    let (first, second, third) = (
        text_to("777", "one"),
        text_to("777", "two"),
        text_to("777", "three"),
    );
    commit(
        store,
        &mut c,
        ConversationStep {
            outbound: vec![
                (first.clone(), Sender::Bot),
                (second.clone(), Sender::Agent),
                (third.clone(), Sender::Bot),
            ],
            agent: Some(agent("alice")),
            ..ConversationStep::empty()
        },
    )
    .await;
    let transcript = store.conversation_messages(&c.id).await.expect("messages");
    assert_eq!(
        transcript
            .iter()
            .map(|m| (m.id.clone(), m.status.as_str(), m.author.as_deref()))
            .collect::<Vec<_>>(),
        [
            (first.id.to_string(), "queued", None),
            (second.id.to_string(), "queued", Some("alice")),
            (third.id.to_string(), "queued", None),
        ],
        "in the order recorded, the agent's with its author"
    );

    // The first: accepted, then statuses out of order.
    assert!(store.claim_outbound(first.id, None).await.expect("claim"));
    store
        .record_outbound_outcome(
            first.id,
            2,
            OutboundOutcome::Accepted {
                provider_id: Some(ProviderMessageId::new("wamid.one")),
            },
        )
        .await
        .expect("outcome");
    let m = message(store, "wamid.one").await.expect("known");
    assert_eq!((m.status.as_str(), m.attempts), ("accepted", 2));
    apply(
        store,
        delivery("wamid.one", DeliveryStatus::Delivered, None),
    )
    .await;
    apply(store, delivery("wamid.one", DeliveryStatus::Sent, None)).await;
    let m = message(store, "wamid.one").await.expect("known");
    assert_eq!(m.status, "delivered", "a late `sent` does not move it back");
    apply(store, delivery("wamid.one", DeliveryStatus::Read, None)).await;
    apply(
        store,
        delivery("wamid.one", DeliveryStatus::Delivered, None),
    )
    .await;
    assert_eq!(
        message(store, "wamid.one").await.expect("known").status,
        "read"
    );
    apply(
        store,
        delivery(
            "wamid.one",
            DeliveryStatus::Failed,
            Some((131_047, "Re-engagement message")),
        ),
    )
    .await;
    let m = message(store, "wamid.one").await.expect("known");
    assert_eq!(
        (m.status.as_str(), m.error_code, m.error_reason.as_deref()),
        ("failed", Some(131_047), Some("Re-engagement message"))
    );

    // The second: its statuses arrive before the send's response.
    assert!(store.claim_outbound(second.id, None).await.expect("claim"));
    apply(
        store,
        delivery("wamid.two", DeliveryStatus::Delivered, None),
    )
    .await;
    apply(store, delivery("wamid.two", DeliveryStatus::Read, None)).await;
    apply(store, delivery("wamid.ghost", DeliveryStatus::Sent, None)).await;
    assert_eq!(message(store, "wamid.two").await, None, "not tied yet");
    store
        .record_outbound_outcome(
            second.id,
            1,
            OutboundOutcome::Accepted {
                provider_id: Some(ProviderMessageId::new("wamid.two")),
            },
        )
        .await
        .expect("outcome");
    let m = message(store, "wamid.two")
        .await
        .expect("tied by the response");
    assert_eq!(
        (m.id.as_str(), m.status.as_str()),
        (second.id.to_string().as_str(), "read"),
        "the orphans applied, the furthest wins"
    );

    // The third fails for good.
    assert!(store.claim_outbound(third.id, None).await.expect("claim"));
    store
        .record_outbound_outcome(
            third.id,
            5,
            OutboundOutcome::Failed {
                code: Some(131_026),
                reason: "Message undeliverable".into(),
            },
        )
        .await
        .expect("outcome");
    let m = store
        .conversation_messages(&c.id)
        .await
        .expect("messages")
        .into_iter()
        .find(|m| m.id == third.id.to_string())
        .expect("recorded");
    assert_eq!(
        (
            m.status.as_str(),
            m.error_code,
            m.error_reason.as_deref(),
            m.attempts,
            m.provider_id
        ),
        (
            "failed",
            Some(131_026),
            Some("Message undeliverable"),
            5,
            None
        )
    );
    assert!(store.pending_outbound().await.expect("pending").is_empty());
    assert!(
        !store
            .claim_outbound(third.id, Some(i64::MAX))
            .await
            .expect("claim"),
        "a failed message is not sent again"
    );
    assert!(
        !store
            .claim_outbound(MessageId::generate(), None)
            .await
            .expect("claim"),
        "an unknown message is nobody's to send"
    );
    // Only the status that never found its message is left to prune.
    let pruned = store.prune(i64::MAX, 0).await.expect("pruned");
    assert_eq!(pruned.orphan_statuses, 1);
}

/// An agent's console log: appended in order, read after a sequence with a limit, bounded to
/// its last `keep`, per agent; a batch that reuses a sequence is refused whole.
pub(crate) async fn agent_event_log_appends_pages_and_keeps_its_bound(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (alice, bob) = (agent("alice"), agent("bob"));
    let event = |seq: i64| AgentEventRecord {
        seq,
        kind: format!("kind.{seq}"),
        payload: json!({"seq": seq, "text": "hé \"quoted\"", "nested": [1, {"a": null}]}),
        created_at: 1_000 + seq,
        outbox_id: None,
    };
    assert_eq!(
        store.agent_event_bounds(&alice).await.expect("bounds"),
        None
    );
    store
        .append_agent_events(&alice, (1..=5).map(event).collect(), 3)
        .await
        .expect("appended");
    store
        .append_agent_events(&bob, vec![event(1)], 3)
        .await
        .expect("appended");
    store
        .append_agent_events(&alice, Vec::new(), 3)
        .await
        .expect("nothing to append");
    assert_eq!(
        store.agent_event_bounds(&alice).await.expect("bounds"),
        Some((3, 5)),
        "the last 3 kept"
    );
    assert_eq!(
        store.agent_event_bounds(&bob).await.expect("bounds"),
        Some((1, 1))
    );
    assert_eq!(
        store
            .agent_events_after(&alice, 3, 10)
            .await
            .expect("after"),
        vec![event(4), event(5)]
    );
    assert_eq!(
        store.agent_events_after(&alice, 0, 2).await.expect("after"),
        vec![event(3), event(4)],
        "the limit"
    );
    assert!(
        store
            .agent_events_after(&alice, 5, 10)
            .await
            .expect("after")
            .is_empty()
    );
    store
        .append_agent_events(&alice, vec![event(6), event(7)], 100)
        .await
        .expect("appended");
    assert_eq!(
        store.agent_event_bounds(&alice).await.expect("bounds"),
        Some((3, 7))
    );
    assert!(
        store
            .append_agent_events(&alice, vec![event(8), event(5)], 100)
            .await
            .is_err(),
        "sequence 5 is taken"
    );
    assert_eq!(
        store.agent_event_bounds(&alice).await.expect("bounds"),
        Some((3, 7)),
        "nothing of the refused batch"
    );
}

/// The sweep's query: conversations with unprocessed events, oldest first; events that belong
/// to no conversation are never work.
/// A step's console events are durable with the step (the outbox) and leave it when they are
/// appended to the agent's log, in the same transaction; or settled after an append elsewhere.
pub(crate) async fn console_events_wait_in_the_outbox_until_appended(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let alice = agent("alice");
    let entry = |id: &str, kind: &str, at: i64| ConsoleOutboxEntry {
        id: id.into(),
        agent: alice.clone(),
        kind: kind.into(),
        payload: json!({"conversation": {"id": "c1"}, "text": "hé"}),
        created_at: at,
        conversation: Some(ConversationKey::from_stored("whatsapp:555".to_string())),
    };
    let mut c = new_conversation("555");
    commit(
        store,
        &mut c,
        ConversationStep {
            console: vec![
                entry("o1", "conversation.assigned", 1_000),
                entry("o2", "message.created", 1_001),
            ],
            ..ConversationStep::empty()
        },
    )
    .await;
    commit(
        store,
        &mut c,
        ConversationStep {
            console: vec![entry("o3", "message.created", 5_000)],
            ..ConversationStep::empty()
        },
    )
    .await;
    let all = store.console_outbox(None, 100).await.expect("outbox");
    assert_eq!(
        all,
        vec![
            entry("o1", "conversation.assigned", 1_000),
            entry("o2", "message.created", 1_001),
            entry("o3", "message.created", 5_000)
        ],
        "oldest first, read back as written"
    );
    let old = store
        .console_outbox(Some(2_000), 100)
        .await
        .expect("outbox");
    assert_eq!(old.len(), 2, "only those created before 2,000");
    assert_eq!(
        store.console_outbox(None, 1).await.expect("outbox").len(),
        1
    );

    // Appending settles the entries the events come from, in the same transaction.
    store
        .append_agent_events(
            &alice,
            vec![AgentEventRecord {
                seq: 1,
                kind: "conversation.assigned".into(),
                payload: all[0].payload.clone(),
                created_at: 1_000,
                outbox_id: Some("o1".into()),
            }],
            100,
        )
        .await
        .expect("appended");
    let left: Vec<String> = store
        .console_outbox(None, 100)
        .await
        .expect("outbox")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, vec!["o2".to_string(), "o3".to_string()]);
    // Appended elsewhere (a Redis log): settled by id; unknown ids are no error.
    store
        .settle_console_outbox(vec!["o2".into(), "o3".into(), "nope".into()])
        .await
        .expect("settled");
    assert!(
        store
            .console_outbox(None, 100)
            .await
            .expect("outbox")
            .is_empty()
    );
}

/// A contact's identities: each channel it reached us on, from its first conversation there.
pub(crate) async fn contacts_have_an_identity_per_channel(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let customer = CustomerId::new("666");
    let sales = ChannelId::new("sales_line");
    let mut first = new_conversation("666");
    commit(store, &mut first, ConversationStep::empty()).await;
    // Later steps of the same conversation add nothing.
    commit(store, &mut first, ConversationStep::empty()).await;
    let mut other = ConversationRecord::new(
        ConversationKey::new(&sales, &customer),
        sales.clone(),
        customer.clone(),
        5_000,
    );
    commit(store, &mut other, ConversationStep::empty()).await;
    let identities = store
        .contact_identities(&customer)
        .await
        .expect("identities");
    assert_eq!(
        identities,
        vec![
            ContactIdentity {
                channel: channel(),
                address: "666".into(),
                first_seen: 1_000,
            },
            ContactIdentity {
                channel: sales,
                address: "666".into(),
                first_seen: 5_000,
            },
        ]
    );
    assert!(
        store
            .contact_identities(&CustomerId::new("nobody"))
            .await
            .expect("identities")
            .is_empty()
    );
}

/// The CRM's list: free text over name, email, phone digits and identities; tag, language and
/// channel filters; newest change first, keyset pages; an update applied field by field.
pub(crate) async fn contacts_are_listed_searched_paged_and_updated(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let mut people = Vec::new();
    for (i, (customer, name, email, tag, language)) in [
        (
            "34600000101",
            "Ana López",
            Some("ana@example.com"),
            Some("vip"),
            Some("es"),
        ),
        ("34600000102", "Bruno Díaz", None, None, Some("es")),
        (
            "telegram:1:77",
            "Chen",
            Some("chen@example.org"),
            Some("vip"),
            Some("en"),
        ),
        ("15550000104", "Dora_100%", None, None, None),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = contact(customer, name);
        if customer.starts_with("34") || customer.starts_with("15") {
            c.phone = Some(customer.into());
        }
        if let Some(email) = email {
            c.fields.insert("email".into(), email.into());
        }
        c.tags = tag.into_iter().map(str::to_string).collect();
        c.language = language.map(str::to_string);
        let ch = if customer.starts_with("telegram:") {
            ChannelId::new("telegram")
        } else {
            channel()
        };
        let mut conversation = ConversationRecord::new(
            ConversationKey::new(&ch, &CustomerId::new(customer)),
            ch,
            CustomerId::new(customer),
            1_000 + i as i64,
        );
        commit(
            store,
            &mut conversation,
            ConversationStep {
                contact: Some(ContactWrite::whole(c.clone())),
                ..ConversationStep::empty()
            },
        )
        .await;
        people.push(c);
        // Distinct change times, whatever the clock's resolution.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let names = |listed: &[ContactListing]| -> Vec<String> {
        listed
            .iter()
            .map(|l| l.contact.name.clone().unwrap_or_default())
            .collect()
    };
    let list = |filter: ContactFilter| async move {
        store
            .list_contacts(&ContactFilter {
                limit: 50,
                ..filter
            })
            .await
            .expect("listed")
    };
    // Newest change first.
    assert_eq!(
        names(&list(ContactFilter::default()).await),
        ["Dora_100%", "Chen", "Bruno Díaz", "Ana López"]
    );
    let text = |t: &str| ContactFilter {
        text: Some(t.to_lowercase()),
        ..ContactFilter::default()
    };
    assert_eq!(names(&list(text("lópez")).await), ["Ana López"]);
    assert_eq!(names(&list(text("example.org")).await), ["Chen"]);
    assert_eq!(names(&list(text("600 000 102")).await), ["Bruno Díaz"]);
    assert_eq!(names(&list(text("telegram:1")).await), ["Chen"]);
    // LIKE's wildcards are text.
    assert_eq!(names(&list(text("_100%")).await), ["Dora_100%"]);
    assert!(list(text("%")).await.len() == 1);
    assert_eq!(
        names(
            &list(ContactFilter {
                tag: Some("vip".into()),
                ..ContactFilter::default()
            })
            .await
        ),
        ["Chen", "Ana López"]
    );
    assert_eq!(
        names(
            &list(ContactFilter {
                language: Some("es".into()),
                ..ContactFilter::default()
            })
            .await
        ),
        ["Bruno Díaz", "Ana López"]
    );
    assert_eq!(
        names(
            &list(ContactFilter {
                channel: Some(ChannelId::new("telegram")),
                ..ContactFilter::default()
            })
            .await
        ),
        ["Chen"]
    );
    // Pages of two.
    let first = store
        .list_contacts(&ContactFilter {
            limit: 2,
            ..ContactFilter::default()
        })
        .await
        .expect("page");
    assert_eq!(names(&first), ["Dora_100%", "Chen"]);
    let last = &first[1];
    let second = list(ContactFilter {
        after: Some(ListCursor {
            updated_at: last.updated_at,
            id: last.contact.customer.as_str().to_string(),
        }),
        ..ContactFilter::default()
    })
    .await;
    assert_eq!(names(&second), ["Bruno Díaz", "Ana López"]);

    // An update: field by field, by the contact's id or an address; unknown: None.
    let changes = crate::crm::contact::ContactChanges {
        name: Some(Some("Ana María López".into())),
        tags_added: vec!["gold".into()],
        fields_set: [("city".to_string(), "Sevilla".to_string())].into(),
        ..Default::default()
    };
    let (before, after) = store
        .update_contact(&CustomerId::new("34600000101"), &changes, Vec::new())
        .await
        .expect("updated")
        .expect("known");
    assert_eq!(before, people[0]);
    assert_eq!(after.name.as_deref(), Some("Ana María López"));
    assert_eq!(after.tags, ["vip", "gold"]);
    assert_eq!(
        after.fields.get("email").map(String::as_str),
        Some("ana@example.com")
    );
    assert_eq!(
        after.fields.get("city").map(String::as_str),
        Some("Sevilla")
    );
    let stored = store
        .load_contact(&CustomerId::new("34600000101"))
        .await
        .expect("loaded");
    assert_eq!(stored.as_ref(), Some(&after));
    // The updated contact is the newest change now.
    assert_eq!(
        names(&list(ContactFilter::default()).await)[0],
        "Ana María López"
    );
    assert!(
        store
            .update_contact(&CustomerId::new("nobody"), &changes, Vec::new())
            .await
            .expect("asked")
            .is_none()
    );
}

/// A customer proves on a second channel a number a contact already has: that channel's
/// identity joins the contact (what the contact knows wins, the rest is filled in, tags are
/// united), and everything that reads a contact by a conversation's address finds it. An agent's
/// merge folds a third contact in the same way. Writes are field by field, so a conversation
/// holding an old copy never undoes them.
pub(crate) async fn a_proven_number_links_contacts_and_merges_fold_them(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let wa = CustomerId::new("34600000001");
    let mut ana = contact("34600000001", "Ana");
    ana.phone = Some("34600000001".into());
    ana.tags = vec!["vip".into()];
    ana.fields.insert("city".into(), "Madrid".into());
    let mut on_whatsapp = new_conversation("34600000001");
    on_whatsapp.status = ConversationStatus::Waiting;
    on_whatsapp.team = Some(team("support"));
    commit(
        store,
        &mut on_whatsapp,
        ConversationStep {
            contact: Some(ContactWrite::whole(ana.clone())),
            ..ConversationStep::empty()
        },
    )
    .await;

    // On Telegram she is someone else first, then shares her own (verified) number.
    let tg_channel = ChannelId::new("telegram");
    let tg = CustomerId::new("telegram:1:42");
    let mut anita = contact("telegram:1:42", "anita");
    anita.fields.insert("telegram_user".into(), "anita".into());
    anita.fields.insert("city".into(), "Paris".into());
    anita.tags = vec!["telegram".into()];
    let mut on_telegram = ConversationRecord::new(
        ConversationKey::new(&tg_channel, &tg),
        tg_channel.clone(),
        tg.clone(),
        2_000,
    );
    on_telegram.status = ConversationStatus::Waiting;
    on_telegram.team = Some(team("support"));
    commit(
        store,
        &mut on_telegram,
        ConversationStep {
            contact: Some(ContactWrite::whole(anita.clone())),
            ..ConversationStep::empty()
        },
    )
    .await;
    let mut proven = anita.clone();
    proven.phone = Some("34600000001".into());
    commit(
        store,
        &mut on_telegram,
        ConversationStep {
            contact: Some(ContactWrite::new(&anita, proven)),
            link_phone: Some("34600000001".into()),
            ..ConversationStep::empty()
        },
    )
    .await;
    let linked = store
        .load_contact(&tg)
        .await
        .expect("contact")
        .expect("known");
    assert_eq!(
        linked.customer, wa,
        "the older contact with the number survives"
    );
    assert_eq!(linked.name.as_deref(), Some("Ana"));
    assert_eq!(
        linked.fields.get("city").map(String::as_str),
        Some("Madrid")
    );
    assert_eq!(
        linked.fields.get("telegram_user").map(String::as_str),
        Some("anita")
    );
    assert_eq!(linked.tags, vec!["vip", "telegram"]);
    let addresses =
        |ids: Vec<ContactIdentity>| ids.into_iter().map(|i| i.address).collect::<Vec<_>>();
    let identities = addresses(store.contact_identities(&tg).await.expect("identities"));
    assert_eq!(identities, ["34600000001", "telegram:1:42"]);
    assert_eq!(
        addresses(store.contact_identities(&wa).await.expect("identities")),
        identities
    );
    let history = store
        .customer_conversations(&wa, 10)
        .await
        .expect("history");
    assert_eq!(ids(&history), [&on_telegram.id, &on_whatsapp.id]);
    let tagged = store
        .list_conversations(&ConversationFilter {
            tag: Some("vip".into()),
            visible_teams: vec![team("support")],
            limit: 50,
            ..ConversationFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(
        ids(&tagged).len(),
        2,
        "both channels' conversations carry the contact's tags"
    );

    // The WhatsApp conversation still holds its old copy: its change adds to what is stored.
    let mut returning = ana.clone();
    returning.tags.push("returning".into());
    commit(
        store,
        &mut on_whatsapp,
        ConversationStep {
            contact: Some(ContactWrite::new(&ana, returning)),
            ..ConversationStep::empty()
        },
    )
    .await;
    let after = store
        .load_contact(&wa)
        .await
        .expect("contact")
        .expect("known");
    assert_eq!(after.tags, vec!["vip", "telegram", "returning"]);
    assert_eq!(
        after.fields.get("telegram_user").map(String::as_str),
        Some("anita")
    );

    // A new conversation of a linked address on another number belongs to the same contact.
    let sales = ChannelId::new("sales_line");
    let mut on_sales = ConversationRecord::new(
        ConversationKey::new(&sales, &wa),
        sales.clone(),
        wa.clone(),
        3_000,
    );
    commit(store, &mut on_sales, ConversationStep::empty()).await;
    assert_eq!(
        store
            .contact_identities(&tg)
            .await
            .expect("identities")
            .len(),
        3
    );

    // An agent merges a Messenger contact in.
    let ms_channel = ChannelId::new("messenger");
    let ms = CustomerId::new("messenger:9:77");
    let mut on_messenger = ConversationRecord::new(
        ConversationKey::new(&ms_channel, &ms),
        ms_channel.clone(),
        ms.clone(),
        4_000,
    );
    let mut from_messenger = contact("messenger:9:77", "Ana G.");
    from_messenger.language = Some("es".into());
    commit(
        store,
        &mut on_messenger,
        ConversationStep {
            contact: Some(ContactWrite::whole(from_messenger)),
            ..ConversationStep::empty()
        },
    )
    .await;
    assert_eq!(
        store
            .merge_contacts(&wa, &CustomerId::new("nobody"))
            .await
            .expect("merge"),
        None,
        "an unknown contact merges nothing"
    );
    let same = store
        .merge_contacts(&tg, &wa)
        .await
        .expect("merge")
        .expect("known");
    assert_eq!(
        same.customer, wa,
        "one contact merged with itself is unchanged"
    );
    let merged = store
        .merge_contacts(&tg, &ms)
        .await
        .expect("merge")
        .expect("known");
    assert_eq!(merged.customer, wa);
    assert_eq!(merged.language.as_deref(), Some("es"));
    assert_eq!(merged.name.as_deref(), Some("Ana"));
    assert_eq!(
        store.load_contact(&ms).await.expect("contact"),
        Some(merged)
    );
    assert_eq!(
        store
            .contact_identities(&ms)
            .await
            .expect("identities")
            .len(),
        4
    );
}

pub(crate) async fn backlog_lists_conversations_with_unprocessed_events(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let mut unrouted = text_event("604", "wamid.unrouted", "for no channel");
    unrouted.channel = None;
    let seqs = record(
        store,
        vec![
            text_event("603", "wamid.603a", "first"),
            text_event("601", "wamid.601a", "a"),
            text_event("602", "wamid.602a", "b"),
            text_event("601", "wamid.601b", "c"),
            unrouted,
        ],
    )
    .await;
    assert!(seqs.iter().all(Option::is_some));
    let mut c = new_conversation("603");
    commit(
        store,
        &mut c,
        ConversationStep {
            processed_seq: seqs[0],
            ..ConversationStep::empty()
        },
    )
    .await;
    assert_eq!(
        store
            .conversations_with_backlog(i64::MAX, 10)
            .await
            .expect("backlog"),
        [(channel(), key("601")), (channel(), key("602"))]
    );
    assert_eq!(
        store
            .conversations_with_backlog(i64::MAX, 1)
            .await
            .expect("backlog"),
        [(channel(), key("601"))]
    );
    assert!(
        store
            .conversations_with_backlog(0, 10)
            .await
            .expect("backlog")
            .is_empty(),
        "nothing recorded that long ago"
    );
    let backlog = store
        .unprocessed_for(&key("601"), 0, 10)
        .await
        .expect("backlog");
    assert_eq!(
        backlog.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [seqs[1].expect("new"), seqs[3].expect("new")]
    );
    assert_eq!(backlog[0].channel, channel());
    assert_eq!(
        backlog[0].envelope,
        text_event("601", "wamid.601a", "a").envelope,
        "the envelope as recorded"
    );
    assert_eq!(
        store
            .unprocessed_for(&key("601"), seqs[1].expect("new"), 10)
            .await
            .expect("backlog")
            .len(),
        1,
        "after a sequence"
    );
    assert!(
        store.is_processed(seqs[4].expect("new")).await.expect("?"),
        "no conversation: nothing to do"
    );
    let counts = store.counts().await.expect("counts");
    assert_eq!((counts.inbound_events, counts.unprocessed_events), (5, 3));
}

/// Text with NUL characters (which a customer can type) is stored, never a write refused for
/// ever; in JSON documents it comes back exactly.
pub(crate) async fn text_with_nul_characters_is_stored(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let seqs = record(store, vec![text_event("808", "wamid.nul", "a\u{0}b")]).await;
    let backlog = store
        .unprocessed_for(&key("808"), 0, 10)
        .await
        .expect("backlog");
    assert_eq!(
        backlog[0].envelope,
        text_event("808", "wamid.nul", "a\u{0}b").envelope
    );
    let mut c = new_conversation("808");
    c.bot_state = json!({"name": "x\u{0}y"}).into();
    commit(
        store,
        &mut c,
        ConversationStep {
            processed_seq: seqs[0],
            contact: Some(ContactWrite::whole(contact("808", "Ana\u{0}Bob"))),
            note: Some((MessageId::generate(), "n\u{0}te".into())),
            ..ConversationStep::empty()
        },
    )
    .await;
    let stored = store
        .load_contact(&CustomerId::new("808"))
        .await
        .expect("contact")
        .expect("known");
    let name = stored.name.expect("a name");
    assert!(name.starts_with("Ana") && name.ends_with("Bob"), "{name:?}");
    let (loaded, _) = store
        .load_conversation(&key("808"))
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(
        loaded.bot_state.parse::<serde_json::Value>().unwrap(),
        json!({"name": "x\u{0}y"})
    );
    let notes = store.conversation_messages(&c.id).await.expect("notes");
    assert_eq!(notes[0].body["body"], json!("n\u{0}te"));
}

// ---- cases that open their own stores on the backend's database ----

/// A webhook's record is committed in its own lane, ahead of the processing writes queued
/// before it: its acknowledgement does not wait for them to be applied.
pub(crate) async fn a_webhook_is_recorded_ahead_of_queued_processing_writes(db: &TestDb) {
    use futures::StreamExt;
    let store = db.open_with(|s| s.queue_capacity = 10_000).await;
    const QUEUED: usize = 2_000;
    // Processing writes (settling console outbox entries), all queued before the webhook.
    let mut processing: futures::stream::FuturesUnordered<_> = (0..QUEUED)
        .map(|i| {
            let store = store.clone();
            async move {
                store
                    .settle_console_outbox(vec![format!("queued-{i}")])
                    .await
            }
        })
        .collect();
    // One poll hands every write to the writer's queue (there is room for all).
    let mut answered = 0;
    if let std::task::Poll::Ready(Some(result)) = futures::poll!(processing.next()) {
        result.expect("a processing write");
        answered += 1;
    }
    let webhook = store.record_inbound(vec![text_event("9001", "wamid.ahead", "hi")]);
    tokio::pin!(webhook);
    // One poll hands it to the writer's intake queue, behind nothing of the processing lane.
    let first = futures::poll!(&mut webhook);
    let recorded = match first {
        std::task::Poll::Ready(recorded) => recorded,
        std::task::Poll::Pending => loop {
            tokio::select! {
                biased;
                Some(result) = processing.next() => {
                    result.expect("a processing write");
                    answered += 1;
                }
                recorded = &mut webhook => break recorded,
            }
        },
    };
    let recorded = recorded.expect("the webhook is recorded");
    assert!(recorded[0].1.is_some(), "recorded as new: {recorded:?}");
    assert!(
        answered < QUEUED / 2,
        "the webhook waited for {answered} of the {QUEUED} processing writes queued before it"
    );
    // The processing writes all complete after it, none lost.
    while let Some(result) = processing.next().await {
        result.expect("a processing write");
        answered += 1;
    }
    assert_eq!(answered, QUEUED);
    assert_eq!(store.counts().await.expect("counts").inbound_events, 1);
    store.close().await;
}

/// The webhook path sheds with `Overloaded` when the write queue is full, and records nothing
/// of what it shed; the other writers wait for room instead.
pub(crate) async fn the_webhook_path_sheds_when_the_write_queue_is_full(db: &TestDb) {
    let store = db.open_with(|s| s.queue_capacity = 2).await;
    // Far more webhooks at once than the queue holds while a commit (an fsync) is in flight.
    let results = futures::future::join_all((0..200).map(|i| {
        store.record_inbound(vec![text_event(
            &format!("90{i}"),
            &format!("wamid.shed.{i}"),
            "hi",
        )])
    }))
    .await;
    let shed: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r, Err(StoreError::Overloaded)))
        .map(|(i, _)| i)
        .collect();
    assert!(!shed.is_empty(), "a full queue sheds: {results:?}");
    assert!(
        results
            .iter()
            .filter(|r| !matches!(r, Err(StoreError::Overloaded)))
            .all(|r| matches!(r, Ok(events) if events[0].1.is_some()))
    );
    assert_eq!(
        store.counts().await.expect("counts").inbound_events,
        (200 - shed.len()) as i64,
        "nothing of the shed webhooks"
    );
    // Meta redelivers them: recorded now.
    for i in shed {
        let again = store
            .record_inbound(vec![text_event(
                &format!("90{i}"),
                &format!("wamid.shed.{i}"),
                "hi",
            )])
            .await
            .expect("recorded");
        assert!(again[0].1.is_some());
    }
    // Conversation steps wait for room rather than fail.
    let steps = futures::future::join_all((0..10).map(|i| {
        store.commit_step(ConversationStep::update(new_conversation(&format!(
            "91{i}"
        ))))
    }))
    .await;
    assert!(steps.iter().all(Result::is_ok), "{steps:?}");
    let counts = store.counts().await.expect("counts");
    assert_eq!((counts.inbound_events, counts.conversations), (200, 10));
    store.close().await;
}

/// One grouped commit carries many writers: each gets its own answer, a write that fails is
/// rolled back alone (also what it wrote before failing), a webhook delivered twice in the
/// batch is recorded once.
pub(crate) async fn a_grouped_commit_carries_many_writers(db: &TestDb) {
    let store = db.open_with(|s| s.max_batch = 128).await;
    let seqs = record(
        store.as_ref(),
        vec![
            text_event("950", "wamid.taken", "consumed below"),
            text_event("950", "wamid.stale", "consumed by a stale step, then not"),
        ],
    )
    .await;
    let mut taken = new_conversation("950");
    commit(
        store.as_ref(),
        &mut taken,
        ConversationStep {
            processed_seq: seqs[0],
            ..ConversationStep::empty()
        },
    )
    .await;

    let webhooks = (0..40).map(|i| {
        // Webhooks 10 and 11 carry the same message (a redelivery racing the original).
        let n = if i == 11 { 10 } else { i };
        store.record_inbound(vec![text_event(
            &format!("96{n:02}"),
            &format!("wamid.group.{n}"),
            "hello",
        )])
    });
    let steps = (0..5).map(|i| {
        store.commit_step(ConversationStep {
            note: Some((MessageId::generate(), format!("note {i}"))),
            ..ConversationStep::update(new_conversation(&format!("97{i}")))
        })
    });
    // This one lost a race: its event was processed already.
    let loser = store.commit_step(ConversationStep {
        processed_seq: seqs[0],
        note: Some((MessageId::generate(), "must not be written".into())),
        ..ConversationStep::update(taken.clone())
    });
    // This one fails half-way: it consumes its event, then finds the conversation moved on.
    let stale = store.commit_step(ConversationStep {
        processed_seq: seqs[1],
        note: Some((MessageId::generate(), "must not be written either".into())),
        ..ConversationStep::update(ConversationRecord {
            version: taken.version + 5,
            ..taken.clone()
        })
    });
    let (webhooks, steps, loser, stale) = tokio::join!(
        futures::future::join_all(webhooks),
        futures::future::join_all(steps),
        loser,
        stale
    );
    let webhooks: Vec<Option<i64>> = webhooks
        .into_iter()
        .map(|r| r.expect("recorded")[0].1)
        .collect();
    assert_eq!(
        webhooks.iter().filter(|s| s.is_some()).count(),
        39,
        "the same message twice in one batch: recorded once"
    );
    assert!(webhooks[10].is_some() != webhooks[11].is_some());
    let mut distinct: Vec<i64> = webhooks.iter().flatten().copied().collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 39);
    assert!(steps.iter().all(Result::is_ok), "{steps:?}");
    assert!(is_conflict(loser));
    assert!(is_conflict(stale));
    assert!(
        store
            .conversation_messages(&taken.id)
            .await
            .expect("messages")
            .is_empty(),
        "the loser's and the stale step's notes rolled back alone"
    );
    let stale_seq = seqs[1].expect("recorded");
    assert!(
        !store.is_processed(stale_seq).await.expect("read"),
        "nothing of the stale step is kept, not even its event consumed"
    );
    let counts = store.counts().await.expect("counts");
    assert_eq!(
        (counts.inbound_events, counts.conversations, counts.messages),
        (41, 6, 5)
    );
    if let Some(transactions) = db.inbound_transactions().await {
        // The 39 new webhooks went in together (PostgreSQL shows each row's transaction, the
        // last one that wrote it: the first event's is the step that consumed it).
        assert_eq!(
            transactions, 3,
            "the first event's step, the stale step's untouched event, then one group"
        );
    }
    store.close().await;
}

/// `close` commits every write accepted before it, then refuses more; `ping` tells.
pub(crate) async fn close_flushes_pending_writes(db: &TestDb) {
    // A long wait for companions: `close` arrives while the writer is still gathering.
    let store = db.open_with(|s| s.max_wait_ms = 200).await;
    store.ping().await.expect("alive");
    let pending: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .record_inbound(vec![text_event(
                        &format!("98{i:02}"),
                        &format!("wamid.flush.{i}"),
                        "hi",
                    )])
                    .await
            })
        })
        .collect();
    // Let every writer queue its write (this runtime has one thread).
    tokio::task::yield_now().await;
    store.close().await;
    for write in pending {
        let recorded = write.await.expect("joined").expect("flushed by close");
        assert!(recorded[0].1.is_some());
    }
    assert!(matches!(
        store
            .record_inbound(vec![text_event("9900", "wamid.late", "hi")])
            .await,
        Err(StoreError::Unavailable)
    ));
    assert!(store.ping().await.is_err(), "closed");
    let reopened = db.open().await;
    assert_eq!(
        reopened.counts().await.expect("counts").inbound_events,
        20,
        "all of them durable"
    );
    reopened.close().await;
}

/// Two nodes on one database race for the same event, conversation version, open
/// conversation, webhook and outbound claim: each time exactly one wins and the other gets
/// `Conflict` (or `None`, `false`); nothing is lost or written twice.
pub(crate) async fn two_nodes_race_and_exactly_one_wins(db: &TestDb) {
    let (a, b) = (db.open().await, db.open().await);
    let rounds = 20usize;
    let events: Vec<NewInbound> = (0..rounds)
        .map(|i| text_event("990", &format!("wamid.race.{i}"), "hi"))
        .collect();
    let seqs = record(a.as_ref(), events).await;
    let mut c = new_conversation("990");
    commit(a.as_ref(), &mut c, ConversationStep::empty()).await;
    let mut winners = Vec::new();
    for (round, seq) in seqs.into_iter().enumerate() {
        let step = |node: &str| {
            let mut next = c.clone();
            next.last_seq = seq.expect("new");
            next.bot_state = json!({"node": node, "round": round}).into();
            ConversationStep {
                processed_seq: seq,
                conversation: Some(next),
                note: Some((MessageId::generate(), format!("{node} {round}"))),
                ..ConversationStep::empty()
            }
        };
        let (on_a, on_b) = tokio::join!(a.commit_step(step("a")), b.commit_step(step("b")));
        let winner = match (on_a, on_b) {
            (Ok(()), Err(StoreError::Conflict(_))) => "a",
            (Err(StoreError::Conflict(_)), Ok(())) => "b",
            other => panic!("round {round}: exactly one must win, got {other:?}"),
        };
        winners.push(format!("{winner} {round}"));
        c.version += 1;
        let (loaded, _) = b
            .load_conversation(&key("990"))
            .await
            .expect("load")
            .expect("exists");
        assert_eq!(loaded.version, c.version);
        assert_eq!(
            loaded.bot_state.parse::<serde_json::Value>().unwrap()["node"],
            json!(winner)
        );
        c = loaded;
    }
    let notes: Vec<String> = a
        .conversation_messages(&c.id)
        .await
        .expect("messages")
        .into_iter()
        .map(|m| m.body["body"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(notes, winners, "every winner's note once, no loser's");
    assert!(
        a.unprocessed_for(&key("990"), 0, 100)
            .await
            .expect("backlog")
            .is_empty(),
        "every event processed"
    );

    // Both nodes open the customer's first conversation at once.
    let (on_a, on_b) = tokio::join!(
        a.commit_step(ConversationStep::update(new_conversation("991"))),
        b.commit_step(ConversationStep::update(new_conversation("991")))
    );
    assert!(
        matches!(
            (&on_a, &on_b),
            (Ok(()), Err(StoreError::Conflict(_))) | (Err(StoreError::Conflict(_)), Ok(()))
        ),
        "{on_a:?} {on_b:?}"
    );
    // The same webhook delivered to both nodes.
    let (on_a, on_b) = tokio::join!(
        a.record_inbound(vec![text_event("992", "wamid.twice", "hi")]),
        b.record_inbound(vec![text_event("992", "wamid.twice", "hi")])
    );
    let recorded = [on_a, on_b]
        .into_iter()
        .filter(|r| matches!(r, Ok(events) if events[0].1.is_some()))
        .count();
    assert_eq!(recorded, 1);
    // Both nodes resume the same queued message.
    let mut d = new_conversation("993");
    let out = text_to("993", "once");
    commit(
        a.as_ref(),
        &mut d,
        ConversationStep {
            outbound: vec![(out.clone(), Sender::Bot)],
            ..ConversationStep::empty()
        },
    )
    .await;
    let (on_a, on_b) = tokio::join!(
        a.claim_outbound(out.id, None),
        b.claim_outbound(out.id, None)
    );
    assert_eq!(
        [on_a.expect("claim"), on_b.expect("claim")]
            .iter()
            .filter(|claimed| **claimed)
            .count(),
        1,
        "sent by one node only"
    );
    let counts = a.counts().await.expect("counts");
    assert_eq!(
        (counts.inbound_events, counts.conversations, counts.messages),
        (rounds as i64 + 1, 3, rounds as i64 + 1)
    );
    a.close().await;
    b.close().await;
}

/// An id of 10 KB that does not compress (PostgreSQL compresses a long index entry first).
fn huge_id(prefix: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut id = format!("wamid.{prefix}.");
    let mut block = Sha256::digest(prefix.as_bytes());
    while id.len() < 10 * 1024 {
        id.push_str(&hex::encode(block));
        block = Sha256::digest(block);
    }
    id
}

/// `event` with its provider id (and so its dedupe key) replaced: the edge bounds ids, the
/// store must not depend on it.
fn with_provider_id(mut event: NewInbound, id: &str) -> NewInbound {
    match &mut event.envelope.event {
        crate::domain::InboundEvent::Message(m) => m.provider_id = ProviderMessageId::new(id),
        crate::domain::InboundEvent::Status(s) => s.provider_id = ProviderMessageId::new(id),
        _ => {}
    }
    event.dedupe_key = event.envelope.dedupe_key();
    event
}

/// Provider ids of 10 KB: recorded in one grouped commit with normal events, deduplicated,
/// stored with their message, found by lookups, and their statuses kept and applied.
pub(crate) async fn provider_ids_of_10_kb_are_recorded_and_found(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (inbound_id, outbound_id) = (huge_id("in"), huge_id("out"));
    let events = || {
        vec![
            text_event("888", "wamid.small.1", "before"),
            with_provider_id(text_event("888", "wamid.x", "huge"), &inbound_id),
            with_provider_id(
                status_event("888", "wamid.y", "delivered", None),
                &outbound_id,
            ),
            text_event("888", "wamid.small.2", "after"),
        ]
    };
    let seqs = record(store, events()).await;
    assert!(seqs.iter().all(Option::is_some), "{seqs:?}");
    assert_eq!(record(store, events()).await, [None; 4], "redeliveries");

    // The message with the huge id, in its conversation, found by its id.
    let mut c = new_conversation("888");
    commit(
        store,
        &mut c,
        ConversationStep {
            processed_seq: seqs[1],
            inbound_message: Some(InboundMessageRecord {
                id: MessageId::generate(),
                provider_id: ProviderMessageId::new(&inbound_id),
                kind: "text".into(),
                body: json!({"text": "huge"}),
                sent_at: 1,
            }),
            ..ConversationStep::empty()
        },
    )
    .await;
    let found = message(store, &inbound_id).await.expect("found by its id");
    assert_eq!(found.provider_id.as_deref(), Some(inbound_id.as_str()));
    assert!(message(store, &huge_id("other")).await.is_none());

    // A status that beats the send response waits as an orphan, then applies.
    apply(
        store,
        delivery(&outbound_id, DeliveryStatus::Delivered, None),
    )
    .await;
    apply(
        store,
        delivery(&outbound_id, DeliveryStatus::Delivered, None),
    )
    .await;
    let reply = text_to("888", "a reply");
    commit(
        store,
        &mut c,
        ConversationStep {
            outbound: vec![(reply.clone(), Sender::Bot)],
            ..ConversationStep::empty()
        },
    )
    .await;
    assert!(store.claim_outbound(reply.id, None).await.expect("claim"));
    store
        .record_outbound_outcome(
            reply.id,
            1,
            OutboundOutcome::Accepted {
                provider_id: Some(ProviderMessageId::new(&outbound_id)),
            },
        )
        .await
        .expect("outcome");
    let sent = message(store, &outbound_id).await.expect("found by its id");
    assert_eq!(sent.status, "delivered", "the orphan status applied");
    apply(store, delivery(&outbound_id, DeliveryStatus::Read, None)).await;
    assert_eq!(
        message(store, &outbound_id).await.expect("found").status,
        "read"
    );
}

/// One test per case for a backend: `store_suite!(module, async fn that makes a TestDb)`.
macro_rules! store_suite {
    ($module:ident, $database:path) => {
        mod $module {
            use super::*;

            store_suite!(@store $database,
                events_are_recorded_once_and_consumed_once,
                steps_are_fenced_by_version_and_one_open_conversation,
                outbound_is_claimed_once_and_confirmed_by_callback,
                retention_prunes_what_is_done_and_old,
                lists_and_lookups_read_back_what_steps_wrote,
                statuses_move_forward_and_orphans_wait_for_the_send_response,
                agent_event_log_appends_pages_and_keeps_its_bound,
                console_events_wait_in_the_outbox_until_appended,
                contacts_have_an_identity_per_channel,
                a_proven_number_links_contacts_and_merges_fold_them,
                contacts_are_listed_searched_paged_and_updated,
                backlog_lists_conversations_with_unprocessed_events,
                text_with_nul_characters_is_stored,
                provider_ids_of_10_kb_are_recorded_and_found);
            store_suite!(@database $database,
                the_webhook_path_sheds_when_the_write_queue_is_full,
                a_webhook_is_recorded_ahead_of_queued_processing_writes,
                a_grouped_commit_carries_many_writers,
                close_flushes_pending_writes,
                two_nodes_race_and_exactly_one_wins,
                webhook_events_commit_with_their_step_and_deliver_in_order,
                erasing_a_contact_keeps_its_conversations_and_others_files,
                a_contact_s_country_is_stored_with_its_phone_and_backfilled,
                reports_read_from_levels_match_the_hourly_rollups,
                the_reach_never_passes_the_messaging_limit,
                template_retries_wait_their_turn_and_are_held_by_one);
        }
    };
    (@store $database:path, $($case:ident),+) => {
        $(
            #[tokio::test]
            async fn $case() {
                let db = $database().await;
                let store = db.open().await;
                super::$case(store.clone()).await;
                store.close().await;
            }
        )+
    };
    (@database $database:path, $($case:ident),+) => {
        $(
            #[tokio::test]
            async fn $case() {
                let db = $database().await;
                super::$case(&db).await;
            }
        )+
    };
}

/// An erasure is refused while a conversation is open; then the contact and its identities go,
/// its conversations stay under the opaque id, its media records go, and only the files no
/// other record names are handed back for deletion.
pub(crate) async fn erasing_a_contact_keeps_its_conversations_and_others_files(db: &TestDb) {
    use crate::media::records::{MediaRecords, MediaRow, PgMediaRecords, SqliteMediaRecords};
    let store = db.open().await;
    let media: Box<dyn MediaRecords> = if db.postgres {
        let pool = sqlx::PgPool::connect(&db.settings.url)
            .await
            .expect("connects");
        Box::new(PgMediaRecords::new(pool))
    } else {
        Box::new(
            SqliteMediaRecords::open(&db.settings.sqlite_path())
                .await
                .expect("media records"),
        )
    };
    let (ana, bea) = ("34600111222", "34600333444");
    let mut mine = ConversationRecord::new(key(ana), channel(), CustomerId::new(ana), 1_000);
    commit(
        store.as_ref(),
        &mut mine,
        ConversationStep {
            contact: Some(ContactWrite::whole(contact(ana, "Ana"))),
            ..ConversationStep::empty()
        },
    )
    .await;
    let mut theirs = ConversationRecord::new(key(bea), channel(), CustomerId::new(bea), 1_000);
    theirs.status = ConversationStatus::Resolved;
    commit(
        store.as_ref(),
        &mut theirs,
        ConversationStep {
            contact: Some(ContactWrite::whole(contact(bea, "Bea"))),
            ..ConversationStep::empty()
        },
    )
    .await;
    let (shared, own) = ("a".repeat(64), "b".repeat(64));
    let row = |id: &str, conversation: &str, blob: &str| MediaRow {
        id: id.into(),
        conversation_id: conversation.into(),
        message_id: None,
        channel: "support".into(),
        direction: "inbound".into(),
        kind: "image".into(),
        state: "ready".into(),
        mime_type: Some("image/png".into()),
        expected_sha256: None,
        blob: Some(blob.into()),
        size: Some(1),
        filename: None,
        source_url: None,
        attempts: 0,
        reason: None,
        created_at: 1_000,
        updated_at: 1_000,
    };
    media
        .insert(
            &[
                row("m1", &mine.id, &shared),
                row("m2", &mine.id, &own),
                row("m3", &theirs.id, &shared),
            ],
            0,
        )
        .await
        .expect("media rows");
    let erased = CustomerId::new("erased-1");

    // Open: refused, nothing changed.
    assert_eq!(
        store
            .erase_contact(&CustomerId::new(ana), &erased)
            .await
            .expect("erase"),
        Erasure::Open(vec![mine.id.clone()])
    );
    assert!(
        store
            .load_contact(&CustomerId::new(ana))
            .await
            .expect("load")
            .is_some()
    );
    assert!(media.get("m1").await.expect("get").is_some());

    // Resolved: erased.
    mine.status = ConversationStatus::Resolved;
    commit(store.as_ref(), &mut mine, ConversationStep::empty()).await;
    let Erasure::Erased(done) = store
        .erase_contact(&CustomerId::new(ana), &erased)
        .await
        .expect("erase")
    else {
        panic!("not erased");
    };
    assert_eq!(done.conversations, 1);
    assert_eq!(done.media, 2);
    assert_eq!(done.blobs, vec![own.clone()], "the shared file stays");
    assert_eq!(done.identities.len(), 1);
    assert!(
        store
            .load_contact(&CustomerId::new(ana))
            .await
            .expect("load")
            .is_none()
    );
    assert!(
        store
            .contact_identities(&CustomerId::new(ana))
            .await
            .expect("ids")
            .is_empty()
    );
    assert!(media.get("m1").await.expect("get").is_none());
    assert!(
        media.get("m3").await.expect("get").is_some(),
        "Bea's file record stays"
    );
    let kept = store
        .conversation_by_id(&mine.id)
        .await
        .expect("read")
        .expect("the conversation stays");
    assert_eq!(kept.customer, erased);
    assert_eq!(kept.key, ConversationKey::new(&channel(), &erased));
    assert_eq!(kept.status, ConversationStatus::Resolved);
    assert_eq!(
        kept.version,
        mine.version + 1,
        "a stale copy cannot write over it"
    );
    assert!(
        store
            .load_contact(&CustomerId::new(bea))
            .await
            .expect("load")
            .is_some()
    );
    assert_eq!(
        store
            .erase_contact(&CustomerId::new(ana), &erased)
            .await
            .expect("erase"),
        Erasure::NoSuchContact
    );
    store.close().await;
}

/// A step's webhook events are durable with the step (a refused step writes none); fanned out,
/// each becomes a delivery per endpoint that wants it; a conversation's deliveries to an
/// endpoint are claimed one at a time, in order; a claim is held by its lease; a replay goes
/// out of that order.
pub(crate) async fn webhook_events_commit_with_their_step_and_deliver_in_order(db: &TestDb) {
    use crate::integrations::webhooks::records::{
        self, DeliveryState, EndpointEffect, EndpointRow, Finish,
    };
    let store = db.open().await;
    let hooks = records::open(&db.settings).await.expect("webhook records");
    let endpoint = |id: &str, team: Option<&str>| EndpointRow {
        id: id.into(),
        url: "https://crm.example.com/hooks".into(),
        events: r#"["message.created","conversation.created"]"#.into(),
        team: team.map(str::to_owned),
        channel: None,
        description: None,
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        previous_secret: None,
        previous_secret_until: None,
        enabled: true,
        disabled_reason: None,
        failing_since: None,
        created_at: 1,
        updated_at: 1,
    };
    hooks
        .insert_endpoint(&endpoint("wh_all", None))
        .await
        .expect("endpoint");
    hooks
        .insert_endpoint(&endpoint("wh_sales", Some("sales")))
        .await
        .expect("endpoint");
    let event = |id: &str, kind: &str| WebhookOutboxEntry {
        id: id.into(),
        kind: kind.into(),
        conversation: key("777"),
        team: Some(TeamId::new("support")),
        channel: channel(),
        payload: json!({"type": kind, "timestamp": "2026-01-01T00:00:00.000Z", "data": {}}),
        created_at: 1_000,
    };
    let mut c = new_conversation("777");
    let stale = c.clone();
    commit(
        store.as_ref(),
        &mut c,
        ConversationStep {
            webhooks: vec![
                event("msg_1", "conversation.created"),
                event("msg_2", "message.created"),
            ],
            ..ConversationStep::empty()
        },
    )
    .await;
    // A step refused by the fence writes no event.
    let refused = ConversationStep {
        conversation: Some(stale),
        webhooks: vec![event("msg_lost", "message.created")],
        ..ConversationStep::empty()
    };
    assert!(is_conflict(store.commit_step(refused).await));
    commit(
        store.as_ref(),
        &mut c,
        ConversationStep {
            webhooks: vec![event("msg_3", "conversation.resolved")],
            ..ConversationStep::empty()
        },
    )
    .await;

    assert_eq!(hooks.fan_out(2_000, 100).await.expect("fan out"), 3);
    assert_eq!(hooks.fan_out(2_000, 100).await.expect("fan out"), 0);
    let log = hooks.deliveries("wh_all", None, 10).await.expect("log");
    let mut events: Vec<&str> = log.iter().map(|d| d.event_id.as_str()).collect();
    events.sort_unstable();
    // Not subscribed to conversation.resolved; the sales filter wants none of support's.
    assert_eq!(events, ["msg_1", "msg_2"]);
    assert!(
        hooks
            .deliveries("wh_sales", None, 10)
            .await
            .expect("log")
            .is_empty()
    );

    // One at a time, in order: msg_2 waits for msg_1; a held claim is nobody else's.
    let claimed = hooks.claim_due(3_000, 60_000, 10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].event_id, "msg_1");
    assert_eq!(claimed[0].attempts, 1);
    assert!(
        hooks
            .claim_due(3_001, 60_000, 10)
            .await
            .expect("claim")
            .is_empty()
    );
    let finish = |delivery: &str, state| Finish {
        delivery: delivery.into(),
        endpoint: "wh_all".into(),
        state,
        response_status: Some(500),
        latency_ms: Some(12),
        response_excerpt: Some("boom".into()),
        error: None,
        effect: EndpointEffect::Failing,
        now: 3_002,
    };
    hooks
        .finish(&finish(
            &claimed[0].id,
            DeliveryState::Pending {
                next_attempt_at: 5_000,
            },
        ))
        .await
        .expect("finish");
    // Retrying later still holds msg_2 back.
    assert!(
        hooks
            .claim_due(4_000, 60_000, 10)
            .await
            .expect("claim")
            .is_empty()
    );
    let again = hooks.claim_due(5_000, 60_000, 10).await.expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    let shown = hooks
        .endpoint("wh_all")
        .await
        .expect("read")
        .expect("there");
    assert_eq!(shown.failing_since, Some(3_002));
    hooks
        .finish(&Finish {
            response_status: Some(200),
            effect: EndpointEffect::Succeeded,
            ..finish(&again[0].id, DeliveryState::Delivered)
        })
        .await
        .expect("finish");
    let next = hooks.claim_due(5_001, 60_000, 10).await.expect("claim");
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].event_id, "msg_2");
    let shown = hooks
        .endpoint("wh_all")
        .await
        .expect("read")
        .expect("there");
    assert_eq!(shown.failing_since, None);

    // A replay of the delivered one goes out beside msg_2 (out of the live order).
    let replay = hooks
        .replay("wh_all", &again[0].id, 6_000)
        .await
        .expect("replay")
        .expect("a replay");
    assert_eq!(
        hooks
            .replay("wh_sales", &again[0].id, 6_000)
            .await
            .expect("replay"),
        None
    );
    let claimed = hooks.claim_due(6_000, 60_000, 10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, replay);
    assert_eq!(claimed[0].replay_of.as_deref(), Some(again[0].id.as_str()));
    assert_eq!(
        hooks
            .replay_range("wh_all", 0, 10_000, false, 7_000, 100)
            .await
            .expect("range"),
        2
    );
    assert_eq!(
        hooks
            .replay_range("wh_all", 0, 10_000, true, 7_000, 100)
            .await
            .expect("range"),
        0
    );

    // Disabled: nothing of it is claimed; deleted: its log goes with it.
    hooks
        .finish(&Finish {
            effect: EndpointEffect::Disable("410".into()),
            ..finish(&next[0].id, DeliveryState::Failed)
        })
        .await
        .expect("finish");
    assert!(
        hooks
            .claim_due(1_000_000, 2_000_000, 10)
            .await
            .expect("claim")
            .is_empty()
    );
    assert!(
        !hooks
            .endpoint("wh_all")
            .await
            .expect("read")
            .expect("there")
            .enabled
    );
    assert!(hooks.delete_endpoint("wh_all").await.expect("delete"));
    assert!(!hooks.delete_endpoint("wh_all").await.expect("delete"));
    assert!(
        hooks
            .deliveries("wh_all", None, 10)
            .await
            .expect("log")
            .is_empty()
    );
    store.close().await;
}

/// `contacts.country` is the phone's country (`crm::contact::country_of`) whichever write set
/// the phone: a step, an upsert (import, business API), an update, a merge; erasing removes
/// the row. Contacts written without it (before the column existed) get theirs when the store
/// opens, across batches, once.
pub(crate) async fn a_contact_s_country_is_stored_with_its_phone_and_backfilled(db: &TestDb) {
    use crate::crm::contact::ContactChanges;
    let store = db.open().await;
    let contact = |id: &str, phone: Option<&str>| ContactRecord {
        customer: CustomerId::new(id),
        phone: phone.map(str::to_string),
        ..ContactRecord::default()
    };
    // A step writes Ana's contact with her Spanish number.
    let mut ana = new_conversation("34600000001");
    let step = ConversationStep {
        contact: Some(ContactWrite::new(
            &ContactRecord::default(),
            contact("34600000001", Some("34600000001")),
        )),
        ..ConversationStep::empty()
    };
    commit(store.as_ref(), &mut ana, step).await;
    // Imported: a Canadian number (+1, told apart by the number), none, a bad one.
    for (id, phone) in [
        ("ca", Some("16135550123")),
        ("none", None),
        ("bad", Some("123")),
        ("moved", Some("447400123456")),
    ] {
        store
            .upsert_contact(&contact(id, phone), &ContactChanges::default(), Vec::new())
            .await
            .expect("upserted");
    }
    // A new number (Jamaica), then one cleared.
    let renumbered = ContactChanges {
        phone: Some(Some("18765550123".into())),
        ..ContactChanges::default()
    };
    store
        .update_contact(&CustomerId::new("bad"), &renumbered, Vec::new())
        .await
        .expect("updated");
    let cleared = ContactChanges {
        phone: Some(None),
        ..ContactChanges::default()
    };
    store
        .update_contact(&CustomerId::new("ca"), &cleared, Vec::new())
        .await
        .expect("updated");
    // A merge gives the contact without a number the other's British one.
    store
        .merge_contacts(&CustomerId::new("none"), &CustomerId::new("moved"))
        .await
        .expect("merged");
    let expected = vec![
        ("34600000001".to_string(), Some("ES".to_string())),
        ("bad".into(), Some("JM".into())),
        ("ca".into(), None),
        ("none".into(), Some("GB".into())),
    ];
    assert_eq!(stored_countries(db).await, expected);
    store.close().await;

    // As before the column: no countries, many contacts (more than a batch), the cursor the
    // migration leaves.
    let extra = 10_050;
    let generate = if db.postgres {
        format!(
            "INSERT INTO contacts (customer, phone, fields, tags, created_at, updated_at)
             SELECT 'x' || lpad(i::text, 6, '0'), '4474001' || lpad(i::text, 5, '0'),
                '{{}}'::json, '[]'::json, 0, 0
             FROM generate_series(1, {extra}) AS s(i)"
        )
    } else {
        format!(
            "INSERT INTO contacts (customer, phone, fields, tags, created_at, updated_at)
             WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {extra})
             SELECT 'x' || printf('%06d', i), '4474001' || printf('%05d', i), '{{}}', '[]', 0, 0
             FROM s"
        )
    };
    execute(
        db,
        &[
            &generate,
            "UPDATE contacts SET country = NULL",
            "INSERT INTO contact_country_backfill (after) VALUES ('')",
        ],
    )
    .await;
    let store = db.open().await;
    let after = stored_countries(db).await;
    assert_eq!(after.len(), expected.len() + extra);
    assert_eq!(after[..expected.len()], expected[..]);
    assert!(
        after[expected.len()..]
            .iter()
            .all(|(_, country)| country.as_deref() == Some("GB")),
        "every generated British number has its country"
    );
    assert_eq!(
        backfill_cursors(db).await,
        0,
        "the cursor is gone when done"
    );
    store.close().await;
    // Erased: the row goes, its country with it.
    let store = db.open().await;
    store
        .erase_contact(&CustomerId::new("bad"), &CustomerId::new("erased-1"))
        .await
        .expect("erased");
    assert!(!stored_countries(db).await.iter().any(|(id, _)| id == "bad"));
    store.close().await;
}

/// Every contact's stored country, by id.
async fn stored_countries(db: &TestDb) -> Vec<(String, Option<String>)> {
    let sql = "SELECT customer, country FROM contacts ORDER BY customer";
    if db.postgres {
        let pool = sqlx::PgPool::connect(&db.settings.url)
            .await
            .expect("connects");
        sqlx::query_as(sql).fetch_all(&pool).await.expect("read")
    } else {
        let pool = sqlx::SqlitePool::connect(&db.settings.url)
            .await
            .expect("connects");
        sqlx::query_as(sql).fetch_all(&pool).await.expect("read")
    }
}

async fn backfill_cursors(db: &TestDb) -> i64 {
    count(db, "SELECT count(*) FROM contact_country_backfill").await
}

/// The single integer a query answers.
async fn count(db: &TestDb, sql: &'static str) -> i64 {
    if db.postgres {
        let pool = sqlx::PgPool::connect(&db.settings.url)
            .await
            .expect("connects");
        sqlx::query_scalar(sql)
            .fetch_one(&pool)
            .await
            .expect("read")
    } else {
        let pool = sqlx::SqlitePool::connect(&db.settings.url)
            .await
            .expect("connects");
        sqlx::query_scalar(sql)
            .fetch_one(&pool)
            .await
            .expect("read")
    }
}

async fn execute(db: &TestDb, statements: &[&str]) {
    for sql in statements {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        if db.postgres {
            let pool = sqlx::PgPool::connect(&db.settings.url)
                .await
                .expect("connects");
            sqlx::query(sql).execute(&pool).await.expect("executed");
        } else {
            let pool = sqlx::SqlitePool::connect(&db.settings.url)
                .await
                .expect("connects");
            sqlx::query(sql).execute(&pool).await.expect("executed");
        }
    }
}

/// A fresh, empty database of one backend, with the settings to open stores on it.
pub(crate) struct TestDb {
    settings: crate::config::DatabaseSettings,
    /// Keeps the database (a temporary directory, a PostgreSQL database) until the test ends.
    _guard: Box<dyn std::any::Any + Send>,
    postgres: bool,
}

impl TestDb {
    fn new(url: String, guard: Box<dyn std::any::Any + Send>, postgres: bool) -> TestDb {
        TestDb {
            settings: crate::config::DatabaseSettings {
                url,
                data_dir: std::env::temp_dir(),
                max_batch: 64,
                max_wait_ms: 1,
                queue_capacity: 1024,
                processing_slice_us: 2000,
                read_pool_size: 2,
                connect_timeout_ms: 2_000,
                inbound_retention_days: 8,
                console_retention_days: 7,
                prune_interval_minutes: 60,
            },
            _guard: guard,
            postgres,
        }
    }

    /// A store on this database, through `store::open` (which picks the backend by URL).
    pub(crate) async fn open(&self) -> Arc<dyn Store> {
        self.open_with(|_| {}).await
    }

    pub(crate) async fn open_with(
        &self,
        adjust: impl FnOnce(&mut crate::config::DatabaseSettings),
    ) -> Arc<dyn Store> {
        let mut settings = self.settings.clone();
        adjust(&mut settings);
        open(&settings).await.expect("the store opens")
    }

    /// PostgreSQL: how many transactions wrote the inbound events (each row's `xmin`).
    async fn inbound_transactions(&self) -> Option<i64> {
        if !self.postgres {
            return None;
        }
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&self.settings.url)
            .await
            .expect("connects");
        let n = sqlx::query_scalar("SELECT COUNT(DISTINCT xmin::text) FROM inbound_events")
            .fetch_one(&mut conn)
            .await
            .expect("query");
        let _ = sqlx::Connection::close(conn).await;
        Some(n)
    }
}

pub(super) async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    TestDb::new(url, Box::new(dir), false)
}

pub(super) async fn postgres() -> TestDb {
    let db = crate::testkit::postgres::TestDatabase::create()
        .await
        .expect("a PostgreSQL test database");
    TestDb::new(db.url().to_string(), Box::new(db), true)
}

store_suite!(on_sqlite, sqlite);
store_suite!(on_postgres, postgres);

/// PostgreSQL goes away and comes back: writes fail (intake answers 503) while it is down and
/// succeed after, reads too, without reopening the store; nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writes_fail_while_the_database_is_down_and_recover_without_reopening() {
    let server = Arc::new(std::sync::Mutex::new(
        crate::testkit::postgres::PgServer::new().expect("a private PostgreSQL"),
    ));
    let url = server.lock().expect("lock").url();
    let db = crate::testkit::postgres::TestDatabase::create_on(&url)
        .await
        .expect("a database");
    let db = TestDb::new(db.url().to_string(), Box::new(db), true);
    let store = db.open_with(|s| s.connect_timeout_ms = 500).await;
    let before = record(
        store.as_ref(),
        vec![text_event("700", "wamid.before", "before")],
    )
    .await;
    assert!(before[0].is_some());

    let stopper = server.clone();
    tokio::task::spawn_blocking(move || stopper.lock().expect("lock").stop())
        .await
        .expect("joined")
        .expect("stops");
    for i in 0..3 {
        let down = store
            .record_inbound(vec![text_event("700", &format!("wamid.down.{i}"), "down")])
            .await;
        assert!(
            matches!(down, Err(StoreError::Unavailable)),
            "a write while the database is down: {down:?}"
        );
    }
    let mut down = new_conversation("701");
    assert!(
        store
            .commit_step(ConversationStep::update(down.clone()))
            .await
            .is_err()
    );
    assert!(store.ping().await.is_err());

    let starter = server.clone();
    tokio::task::spawn_blocking(move || starter.lock().expect("lock").start())
        .await
        .expect("joined")
        .expect("starts again");
    // The writer reconnects by itself (its pause between attempts is at most a second).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let after = loop {
        match store
            .record_inbound(vec![text_event("700", "wamid.after", "after")])
            .await
        {
            Ok(recorded) => break recorded,
            Err(e) if std::time::Instant::now() < deadline => {
                eprintln!("not yet: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the store did not recover: {e}"),
        }
    };
    assert!(after[0].1.is_some());
    commit(store.as_ref(), &mut down, ConversationStep::empty()).await;
    store.ping().await.expect("reads recovered");
    let backlog = store
        .unprocessed_for(&key("700"), 0, 10)
        .await
        .expect("backlog");
    assert_eq!(
        backlog
            .iter()
            .map(|e| e.envelope.dedupe_key())
            .collect::<Vec<_>>(),
        [
            text_event("700", "wamid.before", "").dedupe_key,
            text_event("700", "wamid.after", "").dedupe_key
        ],
        "acknowledged before and after, nothing of what was refused"
    );
    store.close().await;
    drop(db);
}

#[test]
fn json_text_keeps_the_text_and_reads_it_back() {
    let null = JsonText::null();
    assert!(null.is_null());
    assert_eq!(null.as_str(), "null");

    let state = crate::bot::BotState {
        greeted: true,
        language: Some("es".into()),
        step: Some("menu".into()),
        ..Default::default()
    };
    let text = JsonText::of(&state).unwrap();
    assert!(!text.is_null());
    assert_eq!(text.parse::<crate::bot::BotState>().unwrap(), state);
    // Stored and loaded as the same text: a row's JSON is read back unchanged.
    let stored = serde_json::to_string(&text).unwrap();
    assert_eq!(stored, text.as_str());
    let loaded: JsonText = serde_json::from_str(&stored).unwrap();
    assert_eq!(loaded, text);

    let value: JsonText = json!({"step": "menu", "n": 2}).into();
    assert_eq!(
        value.parse::<serde_json::Value>().unwrap(),
        json!({"n": 2, "step": "menu"})
    );
    assert_ne!(value, text);
    // Text that is not JSON is refused, not kept.
    assert!(serde_json::from_str::<JsonText>("{not json").is_err());
}
