//! Being Meta during a burst: signed webhooks from many customers to gateway processes, each
//! customer's messages one after the other, redelivered until acknowledged.

use std::time::Duration;

use serde_json::Value;
use switchboard::channels::signature::SignatureVerifier;
use switchboard::fakes::graph::FakeGraph;

use super::{APP_SECRET, text_webhook};

/// POST a signed webhook to the gateway at `address`; its HTTP status, None when it could not
/// be reached (a dead node).
pub async fn post_signed(http: &reqwest::Client, address: &str, webhook: &Value) -> Option<u16> {
    let body = serde_json::to_vec(webhook).expect("json");
    let signer = SignatureVerifier::new(APP_SECRET.as_bytes()).expect("key");
    http.post(format!("{address}/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signer.sign(&body))
        .body(body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// POST until the webhook is acknowledged (200), like Meta retrying; panics after 60 s.
pub async fn deliver(http: &reqwest::Client, address: &str, webhook: &Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while post_signed(http, address, webhook).await != Some(200) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never acknowledged: {webhook}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `(wamid, webhook)` for each text `customer` writes, in order (wamids unique per `tag`).
pub fn script(tag: &str, customer: &str, texts: &[&str]) -> Vec<(String, Value)> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let wamid = format!("wamid.{tag}.{customer}.{i}");
            (wamid.clone(), text_webhook(customer, &wamid, text))
        })
        .collect()
}

/// Texts (and interactive bodies) the fake Graph API accepted for `customer`, in order.
pub fn texts(graph: &FakeGraph, customer: &str) -> Vec<String> {
    graph
        .messages_to(customer)
        .iter()
        .filter_map(|m| {
            m.pointer("/text/body")
                .or_else(|| m.pointer("/interactive/body/text"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

/// Wait until `customer` received as many texts as `expected` holds, then check each contains
/// its expected part, in order, once.
pub async fn expect_texts(graph: &FakeGraph, customer: &str, expected: &[String], wait: Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let got = texts(graph, customer);
        if got.len() >= expected.len() || tokio::time::Instant::now() > deadline {
            assert_eq!(
                got.len(),
                expected.len(),
                "{customer}: every answer once: {got:#?}"
            );
            for (g, w) in got.iter().zip(expected) {
                assert!(g.contains(w.as_str()), "{customer}: {got:#?}");
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Run a burst (any future) and call `kill` the first time `when` holds while it runs.
pub async fn kill_during<F: std::future::Future>(
    burst: F,
    when: impl Fn() -> bool,
    mut kill: impl FnMut(),
) -> F::Output {
    let mut burst = std::pin::pin!(burst);
    let mut killed = false;
    loop {
        tokio::select! {
            out = &mut burst => {
                assert!(killed, "the burst ended before the kill");
                return out;
            }
            _ = tokio::time::sleep(Duration::from_millis(2)), if !killed => {
                if when() {
                    kill();
                    killed = true;
                }
            }
        }
    }
}
