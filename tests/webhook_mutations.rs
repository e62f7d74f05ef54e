//! Properties of webhook parsing and intake under mutated bodies (issue 12, part 3): real
//! messages and statuses from the fixtures, some of them made odd (a lone surrogate escape,
//! `1e400`, nesting deeper than serde_json allows, a duplicate key, not an object, an
//! oversized id), a non-array `statuses`, or a body that is not JSON at all.
//!
//! - The parser never panics, types every untouched item exactly as it would without its odd
//!   siblings, reports each odd item alone with its text as received, and gives different odd
//!   items different dedupe keys (and a redelivered one the same).
//! - End to end: every untouched message of a body answered 200 is recorded once and processed
//!   once; a body answered 400 records nothing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use switchboard::channels::WebhookParser;
use switchboard::channels::whatsapp::webhook::{MESSAGES_FIELD, WhatsappWebhookParser};
use switchboard::domain::{InboundEnvelope, InboundEvent};

/// What is done to one item.
#[derive(Clone, Debug, PartialEq)]
enum Mutation {
    None,
    LoneSurrogateInId,
    HugeTimestamp,
    DeepId(usize),
    DuplicateId,
    NotAnObject(&'static str),
    LongId(usize),
}

impl Mutation {
    fn is_odd(&self) -> bool {
        *self != Mutation::None
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => Just(Mutation::None),
        1 => Just(Mutation::LoneSurrogateInId),
        1 => Just(Mutation::HugeTimestamp),
        1 => (130usize..400).prop_map(Mutation::DeepId),
        1 => Just(Mutation::DuplicateId),
        1 => prop::sample::select(vec!["42", "\"junk\"", "[1,2]", "null", "true", "{}"])
            .prop_map(Mutation::NotAnObject),
        1 => (257usize..12_000).prop_map(Mutation::LongId),
    ]
}

#[derive(Clone, Debug)]
struct Item {
    /// Index into the pool of messages (or statuses).
    pool: usize,
    customer: usize,
    mutation: Mutation,
}

#[derive(Clone, Debug)]
struct Case {
    nonce: u64,
    messages: Vec<Item>,
    statuses: Vec<Item>,
    /// `statuses` sent as an object instead of an array.
    statuses_not_an_array: bool,
    /// An invalid escape in the first message's text: the body is not JSON.
    not_json: bool,
}

fn item(pool: usize) -> impl Strategy<Value = Item> {
    (0..pool, 0usize..3, mutation()).prop_map(|(pool, customer, mutation)| Item {
        pool,
        customer,
        mutation,
    })
}

fn case(pools: &Pools) -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        prop::collection::vec(item(pools.messages.len()), 0..5),
        prop::collection::vec(item(pools.statuses.len()), 0..4),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.05),
    )
        .prop_map(
            |(nonce, messages, statuses, statuses_not_an_array, not_json)| Case {
                nonce,
                messages,
                statuses,
                statuses_not_an_array,
                not_json,
            },
        )
}

/// Every message and status of the fixtures' `messages` changes.
struct Pools {
    messages: Vec<Value>,
    statuses: Vec<Value>,
}

fn pools() -> Pools {
    let mut pools = Pools {
        messages: Vec::new(),
        statuses: Vec::new(),
    };
    for (_, body) in fixtures() {
        let body: Value = serde_json::from_slice(&body).expect("fixture JSON");
        let changes = body["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|entry| entry["changes"].as_array().into_iter().flatten());
        for change in changes.filter(|c| c["field"] == MESSAGES_FIELD) {
            let value = &change["value"];
            pools
                .messages
                .extend(value["messages"].as_array().into_iter().flatten().cloned());
            pools
                .statuses
                .extend(value["statuses"].as_array().into_iter().flatten().cloned());
        }
    }
    assert!(pools.messages.len() > 10 && pools.statuses.len() > 3);
    pools
}

fn customer(case: &Case, n: usize) -> String {
    format!("1555{:03}{n:04}", case.nonce % 1000)
}

/// One item's text, and its id when it is untouched.
fn item_text(case: &Case, kind: &str, index: usize, item: &Item, template: &Value) -> String {
    let mut value = template.clone();
    let id = format!("wamid.{kind}.{}.{index}", case.nonce);
    let who = customer(case, item.customer);
    if kind == "m" {
        value["from"] = json!(who);
    } else {
        value["recipient_id"] = json!(who);
    }
    value["id"] = json!("@ID@");
    if item.mutation == Mutation::HugeTimestamp {
        value["timestamp"] = json!("@TS@");
    }
    let text = serde_json::to_string(&value).expect("item JSON");
    let quoted_id = format!("\"{id}\"");
    match &item.mutation {
        Mutation::None => text.replace("\"@ID@\"", &quoted_id),
        Mutation::LoneSurrogateInId => text.replace("\"@ID@\"", &format!("\"{id}\\ud800\"")),
        Mutation::HugeTimestamp => text
            .replace("\"@ID@\"", &quoted_id)
            .replace("\"@TS@\"", "1e400"),
        Mutation::DeepId(depth) => text.replace(
            "\"@ID@\"",
            &format!("{}{}", "[".repeat(*depth), "]".repeat(*depth)),
        ),
        Mutation::DuplicateId => text.replace(
            "\"id\":\"@ID@\"",
            &format!("\"id\":{quoted_id},\"id\":\"{id}.again\""),
        ),
        Mutation::NotAnObject(text) => (*text).to_owned(),
        Mutation::LongId(len) => text.replace("\"@ID@\"", &format!("\"{id}{}\"", "x".repeat(*len))),
    }
}

/// The body of `case`, with its mutations, or without any (`clean`).
fn body(case: &Case, pools: &Pools, clean: bool) -> (Vec<u8>, Vec<String>, Vec<String>) {
    let pick = |kind: &str, items: &[Item], pool: &[Value]| -> Vec<String> {
        items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let mut item = item.clone();
                if clean {
                    item.mutation = Mutation::None;
                }
                item_text(case, kind, index, &item, &pool[item.pool])
            })
            .collect()
    };
    let messages = pick("m", &case.messages, &pools.messages);
    let statuses = pick("s", &case.statuses, &pools.statuses);
    let contacts: Vec<Value> = (0..3)
        .map(|n| json!({"profile": {"name": format!("P{n}")}, "wa_id": customer(case, n)}))
        .collect();
    let statuses_text = if case.statuses_not_an_array && !clean {
        format!("{{\"items\":[{}]}}", statuses.join(","))
    } else {
        format!("[{}]", statuses.join(","))
    };
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"419561257915477","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"{PHONE_NUMBER_ID}"}},"contacts":{},"messages":[{}],"statuses":{statuses_text}}}}}]}}]}}"#,
        Value::Array(contacts),
        messages.join(","),
    );
    let body = if case.not_json && !clean {
        // An escape that is no escape: invalid JSON syntax, wherever it sits.
        body.replacen("\"messaging_product\"", "\"messaging\\u12product\"", 1)
    } else {
        body
    };
    (body.into_bytes(), messages, statuses)
}

fn parse(body: &[u8]) -> Vec<InboundEnvelope> {
    WhatsappWebhookParser.parse(body).expect("the body parses")
}

/// The parser property for one case.
fn check_parse(case: &Case, pools: &Pools) -> Result<(), TestCaseError> {
    let (body, messages, statuses) = body(case, pools, false);
    let parsed = WhatsappWebhookParser.parse(&body);
    if case.not_json {
        prop_assert!(parsed.is_err(), "a body that is not JSON is refused");
        return Ok(());
    }
    let events = parsed.map_err(|e| TestCaseError::fail(format!("{e}")))?;
    let clean = parse(&body_of_clean(case, pools));
    // The expected events: untouched items as in the clean body, odd ones as their text.
    let mut expected: Vec<Expected> = Vec::new();
    let all_items = case.messages.iter().zip(&messages);
    for (n, (item, text)) in all_items.enumerate() {
        expected.push(if item.mutation.is_odd() {
            Expected::Odd("messages[]", text.clone())
        } else {
            Expected::Same(clean[n].clone())
        });
    }
    if case.statuses_not_an_array {
        let list = format!("{{\"items\":[{}]}}", statuses.join(","));
        expected.push(Expected::Odd("statuses", list));
    } else {
        for (n, (item, text)) in case.statuses.iter().zip(&statuses).enumerate() {
            expected.push(if item.mutation.is_odd() {
                Expected::Odd("statuses[]", text.clone())
            } else {
                Expected::Same(clean[case.messages.len() + n].clone())
            });
        }
    }
    if expected.is_empty() {
        // A value with nothing to type is one event for the whole value.
        prop_assert_eq!(events.len(), 1);
        return Ok(());
    }
    prop_assert_eq!(events.len(), expected.len());
    let mut odd_keys: BTreeMap<String, (&str, String)> = BTreeMap::new();
    for (event, expected) in events.iter().zip(&expected) {
        match expected {
            Expected::Same(clean) => prop_assert_eq!(event, clean),
            Expected::Odd(place, text) => {
                let InboundEvent::Other(other) = &event.event else {
                    return Err(TestCaseError::fail(format!("not Other: {event:?}")));
                };
                prop_assert_eq!(other.field.as_str(), MESSAGES_FIELD);
                prop_assert_eq!(other.raw.as_deref(), Some(text.as_str()));
                prop_assert_eq!(event.account.as_str(), PHONE_NUMBER_ID);
                // Different odd fragments (or the same text in another place), different
                // keys; the same fragment, the same key.
                let fragment = (*place, text.clone());
                if let Some(earlier) = odd_keys.insert(event.dedupe_key(), fragment.clone()) {
                    prop_assert_eq!(earlier, fragment);
                }
            }
        }
    }
    let texts: BTreeSet<&(&str, String)> = odd_keys.values().collect();
    prop_assert_eq!(texts.len(), odd_keys.len());
    // A redelivery parses to the same events, so to the same keys.
    prop_assert_eq!(&parse(&body), &events);
    Ok(())
}

fn body_of_clean(case: &Case, pools: &Pools) -> Vec<u8> {
    body(case, pools, true).0
}

enum Expected {
    Same(InboundEnvelope),
    /// Reported alone: where it sat, and its text.
    Odd(&'static str, String),
}

#[test]
fn odd_messages_are_reported_alone_and_their_siblings_are_typed() {
    let pools = pools();
    let mut runner = TestRunner::new(Config {
        cases: 192,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&case(&pools), |case| check_parse(&case, &pools))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_parser_never_panics_on_damaged_bodies() {
    let bodies: Vec<Vec<u8>> = fixtures().into_iter().map(|(_, body)| body).collect();
    let damage = (
        0..bodies.len(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    );
    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&damage, |(n, edits)| {
            let mut body = bodies[n].clone();
            for (at, byte, how) in edits {
                let at = at.index(body.len().max(1));
                match how {
                    0 if at < body.len() => body[at] = byte,
                    1 => body.insert(at.min(body.len()), byte),
                    _ if at < body.len() => {
                        body.remove(at);
                    }
                    _ => {}
                }
            }
            // Ok or Err, never a panic; and the same answer twice.
            let first = WhatsappWebhookParser.parse(&body).ok();
            prop_assert_eq!(first, WhatsappWebhookParser.parse(&body).ok());
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

const WAIT: Duration = Duration::from_secs(20);

#[actix_rt::test]
async fn every_good_message_of_an_acknowledged_mutated_body_is_processed_once() {
    let app = TestApp::spawn().await;
    let pools = pools();
    // A fixed seed: the same bodies every run.
    let mut runner = TestRunner::deterministic();
    let strategy = case(&pools);
    let mut good_messages: Vec<String> = Vec::new();
    let mut good_statuses: Vec<String> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    let mut keys: BTreeSet<String> = BTreeSet::new();
    for n in 0..24 {
        let mut case = strategy.new_tree(&mut runner).expect("a case").current();
        // Some of each shape whatever the seed gives.
        case.not_json |= n % 8 == 3;
        case.statuses_not_an_array |= n % 8 == 5;
        let (body, _, _) = body(&case, &pools, false);
        let clean = parse(&body_of_clean(&case, &pools));
        let ids = |kind: &str, items: &[Item]| -> Vec<String> {
            items
                .iter()
                .enumerate()
                .filter(|(_, item)| !item.mutation.is_odd())
                .map(|(n, _)| format!("wamid.{kind}.{}.{n}", case.nonce))
                .collect()
        };
        let messages = ids("m", &case.messages);
        let statuses = if case.statuses_not_an_array {
            Vec::new()
        } else {
            ids("s", &case.statuses)
        };
        // Sent twice: the second is a redelivery.
        for _ in 0..2 {
            let status = app.post_webhook(&body).await.status().as_u16();
            assert_eq!(status, if case.not_json { 400 } else { 200 }, "{case:?}");
        }
        if case.not_json {
            refused.extend(messages);
            continue;
        }
        keys.extend(parse(&body).iter().map(InboundEnvelope::dedupe_key));
        good_messages.extend(messages);
        // A status's key names its status too.
        good_statuses.extend(statuses.iter().filter_map(|id| {
            clean.iter().find_map(|e| match &e.event {
                InboundEvent::Status(s) if s.provider_id.as_str() == id => {
                    Some(format!("s:{id}:{}", s.raw_status))
                }
                _ => None,
            })
        }));
    }
    assert!(!refused.is_empty(), "a body was refused");

    // Everything recorded is processed (bounded wait), once.
    let deadline = tokio::time::Instant::now() + WAIT;
    let db = app.db().await;
    loop {
        let unprocessed: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM inbound_events WHERE NOT processed")
                .fetch_one(&db)
                .await
                .expect("count");
        if unprocessed == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{unprocessed} left");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbound_events")
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(
        total as usize,
        keys.len(),
        "each distinct event recorded once"
    );
    for id in &good_messages {
        let recorded: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM inbound_events WHERE dedupe_key = ? AND processed",
        )
        .bind(format!("m:{id}"))
        .fetch_one(&db)
        .await
        .expect("count");
        assert_eq!(recorded, 1, "{id} recorded and processed");
        let stored: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages WHERE provider_id = ? AND direction = 'inbound'",
        )
        .bind(id)
        .fetch_one(&db)
        .await
        .expect("count");
        assert_eq!(stored, 1, "{id} in its conversation once");
    }
    for key in &good_statuses {
        let recorded: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM inbound_events WHERE dedupe_key = ? AND processed",
        )
        .bind(key)
        .fetch_one(&db)
        .await
        .expect("count");
        assert_eq!(recorded, 1, "{key} recorded and processed");
    }
    for id in &refused {
        let recorded: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM inbound_events WHERE dedupe_key = ?")
                .bind(format!("m:{id}"))
                .fetch_one(&db)
                .await
                .expect("count");
        assert_eq!(recorded, 0, "{id}: its body was refused");
    }
    assert!(good_messages.len() > 10, "the run exercised something");
    db.close().await;
}
