//! What the webhooks tell: the event types, the events a conversation step produces (pure: built
//! from the step itself, right before it commits), and which endpoints an event goes to (pure).
//!
//! Every event is `{"type", "timestamp", "data"}`; `data.conversation` summarises the
//! conversation it belongs to (docs/WEBHOOKS.md lists each type's `data`).

use serde_json::{Value, json};

use crate::store::{ContactRecord, ConversationRecord, ConversationStep, WebhookOutboxEntry};

/// Every event type an endpoint may subscribe to.
pub const EVENT_TYPES: [&str; 10] = [
    "message.created",
    "message.status",
    "conversation.created",
    "conversation.assigned",
    "conversation.transferred",
    "conversation.resolved",
    "conversation.reopened",
    "conversation.sla_breached",
    "contact.created",
    "contact.updated",
];

pub fn is_event_type(kind: &str) -> bool {
    EVENT_TYPES.contains(&kind)
}

/// What an endpoint subscribed to: its types and optional filters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub events: Vec<String>,
    pub team: Option<String>,
    pub channel: Option<String>,
}

/// What an event is, for matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventFacts<'a> {
    pub kind: &'a str,
    pub team: Option<&'a str>,
    pub channel: &'a str,
}

/// Whether an endpoint subscribed this way gets this event: it names the type, and each filter
/// it has is the event's (a team filter never matches an event of a conversation without team,
/// such as one still with the bot).
pub fn wants(subscription: &Subscription, event: EventFacts<'_>) -> bool {
    subscription.events.iter().any(|e| e == event.kind)
        && subscription
            .team
            .as_deref()
            .is_none_or(|team| event.team == Some(team))
        && subscription
            .channel
            .as_deref()
            .is_none_or(|channel| channel == event.channel)
}

/// A new event id (`msg_` and a UUID v7: sortable, unique across nodes).
pub fn new_event_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}

fn conversation_summary(c: &ConversationRecord) -> Value {
    json!({
        "id": c.id,
        "channel": c.channel,
        "customer": c.customer,
        "status": c.status.as_str(),
        "team": c.team,
        "assignee": c.assignee,
    })
}

/// A contact as webhook events carry it.
pub fn contact_view(contact: &ContactRecord) -> Value {
    json!({
        "id": contact.customer,
        "name": contact.name,
        "phone": contact.phone,
        "language": contact.language,
        "fields": contact.fields,
        "tags": contact.tags,
    })
}

/// `contact.updated` for a person's edit of a contact outside any conversation step (the
/// contacts API), ordered with `via`, the contact's most recent conversation. Its `contact` is
/// filled in by the store with the contact as the write left it.
pub fn contact_updated(via: &ConversationRecord, now_ms: i64) -> WebhookOutboxEntry {
    let timestamp = chrono::DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    WebhookOutboxEntry {
        id: new_event_id(),
        kind: "contact.updated".into(),
        conversation: via.key.clone(),
        team: via.team.clone(),
        channel: via.channel.clone(),
        payload: json!({ "type": "contact.updated", "timestamp": timestamp, "data": {
            "contact": Value::Null,
            "conversation": conversation_summary(via),
        }}),
        created_at: now_ms,
    }
}

/// The webhook events of a step, in the order they happened: the conversation's creation, the
/// contact's, the customer's message, assignment and status events, the replies, a delivery
/// status, a contact update. Nothing for a step without a conversation (a stray status). Private
/// notes are never told.
///
/// `contact_stored`: the contact existed in the store before this step (else a contact change
/// is `contact.created`). `now_ms` is the events' time.
pub fn of_step(
    step: &ConversationStep,
    contact_stored: bool,
    now_ms: i64,
) -> Vec<WebhookOutboxEntry> {
    let Some(c) = &step.conversation else {
        return Vec::new();
    };
    let summary = conversation_summary(c);
    let timestamp = chrono::DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut out = Vec::new();
    let mut push = |kind: &str, mut data: Value| {
        data["conversation"] = summary.clone();
        out.push(WebhookOutboxEntry {
            id: new_event_id(),
            kind: kind.to_owned(),
            conversation: c.key.clone(),
            team: c.team.clone(),
            channel: c.channel.clone(),
            payload: json!({ "type": kind, "timestamp": timestamp, "data": data }),
            created_at: now_ms,
        });
    };
    let contact_changed = step.contact.as_ref();
    if c.version == 0 {
        push("conversation.created", json!({}));
    }
    if !contact_stored && let Some(write) = contact_changed {
        push(
            "contact.created",
            json!({ "contact": contact_view(&write.contact) }),
        );
    }
    if let Some(m) = &step.inbound_message {
        push(
            "message.created",
            json!({ "message": {
                "id": m.id.to_string(),
                "direction": "inbound",
                "sender": "customer",
                "kind": m.kind,
                "body": m.body,
                "provider_id": m.provider_id,
                "sent_at": m.sent_at,
            }}),
        );
    }
    for event in &step.events {
        let kind = match event.kind.as_str() {
            "assigned" => "conversation.assigned",
            "transferred" => "conversation.transferred",
            "resolved" => "conversation.resolved",
            "reopened" => "conversation.reopened",
            "sla_breached" => "conversation.sla_breached",
            _ => continue,
        };
        push(
            kind,
            json!({ "agent": event.agent, "team": event.team, "detail": event.detail }),
        );
    }
    for (message, sender) in &step.outbound {
        push(
            "message.created",
            json!({ "message": {
                "id": message.id.to_string(),
                "direction": "outbound",
                "sender": sender.as_str(),
                "author": (*sender == crate::domain::Sender::Agent).then_some(step.agent.as_ref()).flatten(),
                "kind": serde_json::to_value(&message.content).ok().and_then(|v| v.get("type").cloned()),
                "body": serde_json::to_value(&message.content).unwrap_or(Value::Null),
            }}),
        );
    }
    if let Some(status) = &step.status {
        push(
            "message.status",
            json!({
                "provider_id": status.provider_id,
                "status": status.status.as_str(),
                "timestamp": status.timestamp,
                "error_code": status.errors.first().map(|e| e.code),
            }),
        );
    }
    if contact_stored
        && let Some(write) = contact_changed
        && !write.changes.is_empty()
    {
        push(
            "contact.updated",
            json!({ "contact": contact_view(&write.contact) }),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChannelId, ConversationKey, CustomerId, MessageId, ProviderMessageId};
    use crate::store::{ContactWrite, ConversationEvent, ConversationStatus, InboundMessageRecord};

    fn sub(events: &[&str], team: Option<&str>, channel: Option<&str>) -> Subscription {
        Subscription {
            events: events.iter().map(|e| e.to_string()).collect(),
            team: team.map(str::to_owned),
            channel: channel.map(str::to_owned),
        }
    }

    #[test]
    fn an_endpoint_gets_the_types_it_names_within_its_filters() {
        let facts = |kind, team, channel| EventFacts {
            kind,
            team,
            channel,
        };
        let all = sub(&EVENT_TYPES, None, None);
        for kind in EVENT_TYPES {
            assert!(wants(&all, facts(kind, None, "wa")));
            assert!(wants(&all, facts(kind, Some("sales"), "tg")));
            let only = sub(&[kind], None, None);
            for other in EVENT_TYPES {
                assert_eq!(wants(&only, facts(other, None, "wa")), other == kind);
            }
        }
        let support = sub(&["message.created"], Some("support"), None);
        assert!(wants(
            &support,
            facts("message.created", Some("support"), "wa")
        ));
        assert!(!wants(
            &support,
            facts("message.created", Some("sales"), "wa")
        ));
        assert!(!wants(&support, facts("message.created", None, "wa")));
        let whatsapp = sub(&["message.created"], None, Some("wa"));
        assert!(wants(&whatsapp, facts("message.created", None, "wa")));
        assert!(!wants(&whatsapp, facts("message.created", None, "tg")));
        let both = sub(&["message.created"], Some("support"), Some("wa"));
        assert!(wants(
            &both,
            facts("message.created", Some("support"), "wa")
        ));
        assert!(!wants(
            &both,
            facts("message.created", Some("support"), "tg")
        ));
        assert!(!wants(&both, facts("message.created", Some("sales"), "wa")));
        assert!(!wants(
            &sub(&[], None, None),
            facts("message.created", None, "wa")
        ));
    }

    fn conversation(version: i64) -> ConversationRecord {
        let mut c = ConversationRecord::new(
            ConversationKey::from_stored("wa:34600000001".into()),
            ChannelId::new("wa"),
            CustomerId::new("34600000001"),
            1_000,
        );
        c.version = version;
        c
    }

    fn kinds(entries: &[WebhookOutboxEntry]) -> Vec<&str> {
        entries.iter().map(|e| e.kind.as_str()).collect()
    }

    #[test]
    fn a_first_message_creates_the_conversation_and_the_contact() {
        let contact = ContactRecord {
            customer: CustomerId::new("34600000001"),
            name: Some("Ana".into()),
            ..ContactRecord::default()
        };
        let step = ConversationStep {
            conversation: Some(conversation(0)),
            contact: Some(ContactWrite::whole(contact)),
            inbound_message: Some(InboundMessageRecord {
                id: MessageId::generate(),
                provider_id: ProviderMessageId::new("wamid.1"),
                kind: "text".into(),
                body: json!({"type": "text", "body": "hi"}),
                sent_at: 1,
            }),
            ..ConversationStep::empty()
        };
        let events = of_step(&step, false, 2_000);
        assert_eq!(
            kinds(&events),
            ["conversation.created", "contact.created", "message.created"]
        );
        let created = &events[2].payload;
        assert_eq!(created["type"], "message.created");
        assert_eq!(created["timestamp"], "1970-01-01T00:00:02.000Z");
        assert_eq!(created["data"]["message"]["body"]["body"], "hi");
        assert_eq!(created["data"]["conversation"]["channel"], "wa");
        assert_eq!(events[1].payload["data"]["contact"]["name"], "Ana");
        // Every event has its own id, and all carry the conversation for ordering.
        assert_ne!(events[0].id, events[1].id);
        assert!(
            events
                .iter()
                .all(|e| e.conversation.as_str() == "wa:34600000001")
        );
    }

    #[test]
    fn assignment_events_are_told_and_the_others_are_not() {
        let mut c = conversation(3);
        c.status = ConversationStatus::Assigned;
        c.team = Some(crate::domain::TeamId::new("support"));
        let event = |kind: &str| ConversationEvent {
            kind: kind.into(),
            agent: None,
            team: None,
            detail: None,
        };
        let step = ConversationStep {
            conversation: Some(c),
            events: [
                "routed",
                "queued",
                "offered",
                "assigned",
                "transferred",
                "snoozed",
                "reopened",
                "resolved",
            ]
            .into_iter()
            .map(event)
            .collect(),
            note: Some((MessageId::generate(), "private".into())),
            ..ConversationStep::empty()
        };
        let events = of_step(&step, true, 0);
        assert_eq!(
            kinds(&events),
            [
                "conversation.assigned",
                "conversation.transferred",
                "conversation.reopened",
                "conversation.resolved"
            ]
        );
        assert!(
            events
                .iter()
                .all(|e| e.team.as_ref().map(|t| t.as_str()) == Some("support"))
        );
        assert!(
            !events
                .iter()
                .any(|e| e.payload.to_string().contains("private"))
        );
    }

    #[test]
    fn a_known_contact_changes_only_when_something_changed() {
        let before = ContactRecord {
            customer: CustomerId::new("34600000001"),
            ..ContactRecord::default()
        };
        let mut after = before.clone();
        let unchanged = ConversationStep {
            conversation: Some(conversation(2)),
            contact: Some(ContactWrite::new(&before, after.clone())),
            ..ConversationStep::empty()
        };
        assert!(of_step(&unchanged, true, 0).is_empty());
        after.tags.push("vip".into());
        let changed = ConversationStep {
            conversation: Some(conversation(2)),
            contact: Some(ContactWrite::new(&before, after)),
            ..ConversationStep::empty()
        };
        let events = of_step(&changed, true, 0);
        assert_eq!(kinds(&events), ["contact.updated"]);
        assert_eq!(events[0].payload["data"]["contact"]["tags"], json!(["vip"]));
        assert!(of_step(&ConversationStep::empty(), true, 0).is_empty());
    }
}
