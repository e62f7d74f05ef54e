//! The edge holds against clients that declare much and send little: the real gateway binary,
//! its resident memory read from /proc, and raw TCP connections that behave badly.
//!
//! - Webhook bodies: 500 connections send their headers (declaring 3 MB) and one byte, then
//!   stall. The gateway's memory barely moves, valid webhooks keep being answered, and every
//!   stalled connection is answered 408 and closed by the body deadline; a body that stops
//!   arriving is answered 408 after the idle timeout; bodies beyond the memory budget of all
//!   unfinished bodies get 503 with Retry-After.
//! - Websocket frames: a frame declared as 1 GiB closes the session with 1009 at its header,
//!   while the client keeps streaming, and the gateway's memory does not follow.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::{Node, ProcessConfig};
use common::*;
use serde_json::json;
use switchboard::fakes::graph::FakeGraph;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MB: u64 = 1024 * 1024;

fn gateway(graph: &FakeGraph, dir: &tempfile::TempDir, server: serde_json::Value) -> Node {
    let db = dir.path().join("switchboard.db");
    let config = ProcessConfig::new(
        &graph.base_url(),
        &format!("sqlite://{}", db.display()),
        json!({ "server": server }),
    );
    Node::start(&config, &[])
}

/// The head of a signed-looking webhook POST declaring `length` bytes of body.
fn webhook_head(port: u16, length: usize) -> String {
    format!(
        "POST /webhooks/whatsapp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/json\r\nX-Hub-Signature-256: sha256={}\r\n\
         Content-Length: {length}\r\n\r\n",
        "0".repeat(64)
    )
}

/// Read what the server says until it closes the connection (or `limit` passes).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&answer).into_owned()),
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

async fn valid_webhooks_are_answered(node: &Node, tag: &str, n: usize) {
    let http = reqwest::Client::new();
    for i in 0..n {
        let wa = format!("1555700{i:04}");
        let webhook = text_webhook(&wa, &format!("wamid.{tag}.{i}"), "hello");
        assert_eq!(
            common::burst::post_signed(&http, &node.address, &webhook).await,
            Some(200),
            "a valid webhook while {tag}"
        );
    }
}

#[actix_rt::test]
async fn stalled_webhook_bodies_hold_no_memory_and_are_closed_by_their_deadline() {
    let graph = Arc::new(FakeGraph::start());
    let dir = tempfile::tempdir().expect("temp dir");
    let deadline = Duration::from_millis(6_000);
    let node = gateway(
        &graph,
        &dir,
        json!({"body_idle_timeout_ms": 60_000, "body_deadline_ms": deadline.as_millis() as u64}),
    );
    valid_webhooks_are_answered(&node, "warm-up", 5).await;
    let before = node.rss_bytes();

    // 500 connections: headers declaring 3 MB, one byte, then nothing.
    let opened = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..500 {
        let mut stream = TcpStream::connect(("127.0.0.1", node.port))
            .await
            .expect("connect");
        stream
            .write_all(format!("{}{{", webhook_head(node.port, 3_000_000)).as_bytes())
            .await
            .expect("write");
        stalled.push(stream);
    }
    // Give the gateway time to take them all in, then weigh it.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let during = node.rss_bytes();
    let grown = during.saturating_sub(before);
    assert!(
        grown < 20 * MB,
        "500 stalled bodies grew the gateway by {} MB ({} -> {} MB)",
        grown / MB,
        before / MB,
        during / MB
    );
    valid_webhooks_are_answered(&node, "500 bodies stall", 20).await;

    // Each one is answered 408 and closed, by the deadline (plus a margin for 500 of them).
    let answers = futures::future::join_all(
        stalled
            .iter_mut()
            .map(|s| read_until_closed(s, deadline + Duration::from_secs(10))),
    )
    .await;
    for (i, answer) in answers.iter().enumerate() {
        let answer = answer
            .as_deref()
            .unwrap_or_else(|| panic!("stalled connection {i} still open after the deadline"));
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "stalled connection {i} was answered {answer:?}"
        );
    }
    assert!(opened.elapsed() >= deadline, "closed before the deadline");
    valid_webhooks_are_answered(&node, "after the stalled ones", 5).await;
}

#[actix_rt::test]
async fn a_body_that_stops_arriving_gets_408_and_the_budget_of_all_bodies_holds() {
    let graph = Arc::new(FakeGraph::start());
    let dir = tempfile::tempdir().expect("temp dir");
    let node = gateway(
        &graph,
        &dir,
        json!({
            "body_idle_timeout_ms": 1_000,
            "body_deadline_ms": 60_000,
            "max_pending_body_bytes": 1_048_576,
            "max_body_bytes": 1_000_000,
        }),
    );

    // Silent after 10 KB: 408 after the idle timeout, long before the deadline.
    let started = Instant::now();
    let mut quiet = TcpStream::connect(("127.0.0.1", node.port))
        .await
        .expect("connect");
    quiet
        .write_all(webhook_head(node.port, 100_000).as_bytes())
        .await
        .expect("write");
    quiet.write_all(&[b' '; 10_000]).await.expect("write");
    let answer = read_until_closed(&mut quiet, Duration::from_secs(10))
        .await
        .expect("the idle body is answered and closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "answered {answer:?}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // Two slow bodies of 600 KB each do not fit a budget of 1 MB together: the second is told
    // to come back later (503 + Retry-After), the first is still read.
    let mut first = TcpStream::connect(("127.0.0.1", node.port))
        .await
        .expect("connect");
    first
        .write_all(webhook_head(node.port, 600_000).as_bytes())
        .await
        .expect("write");
    first.write_all(&[b' '; 590_000]).await.expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut second = TcpStream::connect(("127.0.0.1", node.port))
        .await
        .expect("connect");
    second
        .write_all(webhook_head(node.port, 600_000).as_bytes())
        .await
        .expect("write");
    let _ = second.write_all(&[b' '; 590_000]).await;
    let answer = read_until_closed(&mut second, Duration::from_secs(10))
        .await
        .expect("the body over the budget is answered and closed");
    assert!(answer.starts_with("HTTP/1.1 503"), "answered {answer:?}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "no Retry-After in {answer:?}"
    );
    // The first one ends (its signature is wrong: 401), and frees its share.
    first.write_all(&[b' '; 10_000]).await.expect("write");
    let answer = read_until_closed_or_answered(&mut first).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "answered {answer:?}");
    valid_webhooks_are_answered(&node, "after the budget was reached", 5).await;
    let metrics = reqwest::get(format!("{}/metrics", node.address))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    for reason in ["idle", "budget"] {
        assert!(
            metrics.contains(&format!(
                "switchboard_webhook_bodies_refused_total{{reason=\"{reason}\"}} 1"
            )),
            "refusals for {reason} not counted:\n{metrics}"
        );
    }
}

/// The first answer on a keep-alive connection (the server does not close it).
async fn read_until_closed_or_answered(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&answer).contains("\r\n\r\n") {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// A websocket handshake to the console as Alice, over a raw connection.
async fn console_socket(node: &Node) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", node.port))
        .await
        .expect("connect");
    let request = format!(
        "GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\nAuthorization: Bearer alice-demo-token\r\n\r\n",
        node.port
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream
            .read_exact(&mut byte)
            .await
            .expect("handshake answer");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "handshake: {head}");
    stream
}

#[actix_rt::test]
async fn a_websocket_frame_declared_as_1_gib_closes_the_session_at_its_header() {
    let graph = Arc::new(FakeGraph::start());
    let dir = tempfile::tempdir().expect("temp dir");
    let node = gateway(&graph, &dir, json!({}));
    let socket = console_socket(&node).await;
    let before = node.rss_bytes();
    let (mut reader, mut writer) = socket.into_split();

    // A masked text frame declaring 1 GiB, then its "payload" streamed as fast as it goes.
    let mut header = vec![0x81u8, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 30).to_be_bytes());
    header.extend_from_slice(&[7, 7, 7, 7]);
    writer.write_all(&header).await.expect("frame header");
    let streamer = tokio::spawn(async move {
        let chunk = vec![b'x'; 1 << 20];
        let mut sent = 0u64;
        while sent < 256 * MB {
            if writer.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len() as u64;
        }
        sent
    });

    // The server's frames until its Close: 0x88, length, then the code.
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let close_code = loop {
        let n = tokio::time::timeout(Duration::from_secs(20), reader.read(&mut buf))
            .await
            .expect("the server answers the 1 GiB frame within 20 s")
            .expect("read");
        assert!(n > 0, "closed without a close frame");
        received.extend_from_slice(&buf[..n]);
        if let Some(code) = close_code_in(&received) {
            break code;
        }
    };
    assert_eq!(close_code, 1009, "close code");
    let sent = streamer.await.expect("streamer");
    let after = node.rss_bytes();
    assert!(
        after.saturating_sub(before) < 20 * MB,
        "after {} MB streamed the gateway grew by {} MB",
        sent / MB,
        after.saturating_sub(before) / MB
    );
}

/// The code of the first Close frame among the server's (unmasked) frames, if complete.
fn close_code_in(mut bytes: &[u8]) -> Option<u16> {
    loop {
        if bytes.len() < 2 {
            return None;
        }
        let opcode = bytes[0] & 0x0f;
        let (len, head) = match bytes[1] & 0x7f {
            126 if bytes.len() >= 4 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 if bytes.len() >= 10 => {
                let mut eight = [0u8; 8];
                eight.copy_from_slice(&bytes[2..10]);
                (u64::from_be_bytes(eight) as usize, 10)
            }
            126 | 127 => return None,
            n => (n as usize, 2),
        };
        if bytes.len() < head + len {
            return None;
        }
        if opcode == 0x8 {
            return (len >= 2).then(|| u16::from_be_bytes([bytes[head], bytes[head + 1]]));
        }
        bytes = &bytes[head + len..];
    }
}
