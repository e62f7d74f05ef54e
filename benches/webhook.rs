//! Webhook hot path without HTTP: HMAC verification + parsing of a signed WhatsApp body, beside
//! a plain `serde_json::Value` parse of the same bytes as the baseline.
//!
//! `cargo bench --bench webhook -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use switchboard::channels::signature::SignatureVerifier;
use switchboard::channels::whatsapp::webhook::parse_webhook;

const APP_SECRET: &[u8] = b"bench-app-secret";
/// The support channel's phone_number_id in config/base.yaml.
const PHONE_NUMBER_ID: &str = "106540352242922";

/// A text-message webhook carrying `messages` messages from as many customers, the same shape
/// as `tests/common/mod.rs` `text_webhook` (one message is exactly that shape).
fn text_webhook_body(messages: usize) -> Vec<u8> {
    let contacts: Vec<Value> = (0..messages)
        .map(|i| {
            let wa_id = format!("{}", 16_315_550_000u64 + i as u64);
            json!({"profile": {"name": format!("Customer {wa_id}")}, "wa_id": wa_id})
        })
        .collect();
    let msgs: Vec<Value> = (0..messages)
        .map(|i| {
            let wa_id = format!("{}", 16_315_550_000u64 + i as u64);
            json!({
                "from": wa_id,
                "id": format!("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA{i:06}"),
                "timestamp": "1749416383",
                "type": "text",
                "text": {"body": "Hello, I would like to know where my order is, please."}
            })
        })
        .collect();
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "419561257915477", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": contacts,
            "messages": msgs
        }}]}]
    });
    serde_json::to_vec(&body).expect("the webhook body serializes")
}

fn webhook(c: &mut Criterion) {
    let verifier = SignatureVerifier::new(APP_SECRET).expect("an HMAC key of any length");
    let mut group = c.benchmark_group("webhook");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    for messages in [1usize, 100] {
        let body = text_webhook_body(messages);
        let header = verifier.sign(&body);
        // Sanity: the body verifies and parses to one envelope per message.
        verifier
            .verify(Some(header.as_bytes()), &body)
            .expect("the signature verifies");
        let parsed = parse_webhook(&body).expect("the webhook parses");
        assert_eq!(parsed.len(), messages, "one envelope per message");

        group.throughput(Throughput::Elements(messages as u64));
        group.bench_with_input(
            BenchmarkId::new("verify_parse", messages),
            &body,
            |b, body| {
                b.iter(|| {
                    verifier
                        .verify(Some(black_box(header.as_bytes())), black_box(body))
                        .expect("the signature verifies");
                    parse_webhook(black_box(body)).expect("the webhook parses")
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("parse", messages), &body, |b, body| {
            b.iter(|| parse_webhook(black_box(body)).expect("the webhook parses"))
        });
        group.bench_with_input(BenchmarkId::new("verify", messages), &body, |b, body| {
            b.iter(|| {
                verifier
                    .verify(Some(black_box(header.as_bytes())), black_box(body))
                    .expect("the signature verifies")
            })
        });
        group.bench_with_input(
            BenchmarkId::new("value_baseline", messages),
            &body,
            |b, body| {
                b.iter(|| {
                    serde_json::from_slice::<Value>(black_box(body)).expect("the body is JSON")
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, webhook);
criterion_main!(benches);
