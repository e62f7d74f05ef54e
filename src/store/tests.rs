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
            contact: Some(contact("111", "Sheena")),
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
        contact: Some(contact("111", "Someone else")),
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

    assert!(store.claim_outbound(first.id, None).await.expect("claim"));
    assert!(!store.claim_outbound(first.id, None).await.expect("claim"));
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

/// One test per case for a backend: `store_suite!(module, async fn that makes a store)`.
macro_rules! store_suite {
    ($module:ident, $make:path) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn events_are_recorded_once_and_consumed_once() {
                let (store, _guard) = $make().await;
                super::events_are_recorded_once_and_consumed_once(store.clone()).await;
                store.close().await;
            }

            #[tokio::test]
            async fn steps_are_fenced_by_version_and_one_open_conversation() {
                let (store, _guard) = $make().await;
                super::steps_are_fenced_by_version_and_one_open_conversation(store.clone()).await;
                store.close().await;
            }

            #[tokio::test]
            async fn outbound_is_claimed_once_and_confirmed_by_callback() {
                let (store, _guard) = $make().await;
                super::outbound_is_claimed_once_and_confirmed_by_callback(store.clone()).await;
                store.close().await;
            }

            #[tokio::test]
            async fn retention_prunes_what_is_done_and_old() {
                let (store, _guard) = $make().await;
                super::retention_prunes_what_is_done_and_old(store.clone()).await;
                store.close().await;
            }
        }
    };
}

async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let settings = crate::config::DatabaseSettings {
        url: format!("sqlite://{}", path.display()),
        data_dir: dir.path().to_path_buf(),
        max_batch: 64,
        max_wait_ms: 1,
        queue_capacity: 1024,
        read_pool_size: 2,
        connect_timeout_ms: 2_000,
    };
    let store = sqlite::SqliteStore::open(&settings.url, &settings)
        .await
        .expect("store opens");
    (Arc::new(store), dir)
}

store_suite!(on_sqlite, sqlite);
