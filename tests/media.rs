//! Attachments both ways (docs/CONSOLE_API.md, "Media"), end to end: a customer's media is
//! announced by a signed webhook, downloaded in the background from the fake Graph API (which
//! holds the file like Meta does), checked and served to those who may open the conversation;
//! an agent's attachment is checked, uploaded to the fake Graph API and sent by its media id.
//! Each scenario runs in the embedded mode (a directory, SQLite) and in the cluster mode
//! (PostgreSQL holds the bytes).

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::console::*;
use common::*;
use serde_json::{Value, json};

const SUPPORT: &str = "support";

/// A real 1×1 PNG.
fn png() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")
        .expect("png")
}

/// A JPEG header padded to `len` bytes.
fn jpeg(len: usize) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
    v.resize(len, 0);
    v
}

/// Downloads retry fast and give up after two attempts here.
fn quick_media(settings: &mut switchboard::config::Settings) {
    settings.media.poll_interval_ms = 50;
    settings.media.initial_backoff_ms = 10;
    settings.media.max_backoff_ms = 50;
    settings.media.max_attempts = 2;
}

/// A webhook carrying an image from `wa_id` with this media id and checksum.
fn image_webhook(wa_id: &str, media_id: &str, sha256: &str) -> Value {
    let wamid = next_wamid(wa_id);
    message_webhook(
        wa_id,
        &wamid,
        json!({"type": "image", "image": {"id": media_id, "mime_type": "image/png",
               "sha256": sha256, "caption": "my receipt"}}),
    )
}

/// `GET /api/v1/media/{id}` as `token`: status, headers, body.
async fn fetch(app: &TestApp, token: &str, id: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let response = app
        .client
        .get(format!("{}/api/v1/media/{id}", app.address))
        .bearer_auth(token)
        .send()
        .await
        .expect("media request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("media body").to_vec();
    (status, headers, body)
}

/// Wait until the media is no longer pending (202) for `token`; the final answer.
async fn settled(
    app: &TestApp,
    token: &str,
    id: &str,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = fetch(app, token, id).await;
        if answer.0 != 202 && answer.0 != 404 || Instant::now() > deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

/// Alice online with a support conversation from `wa_id` assigned to her.
async fn assigned_to_alice(app: &TestApp, wa_id: &str) -> (Console, String) {
    let alice = Console::new(app, ALICE);
    let mut ws = ConsoleSocket::connect(app, ALICE, None).await;
    alice.set_presence("online").await;
    let id = hand_off(app, wa_id, SUPPORT).await;
    ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    (alice, id)
}

// 1 ----------------------------------------------------------------------------------------

async fn a_customers_image_is_downloaded_checked_and_shown_only_to_who_may_see_it() {
    let app = spawn_console_app(quick_media).await;
    let (alice, id) = assigned_to_alice(&app, "15550400001").await;
    let customer = Customer::new(&app, "15550400001");

    let planted = app.graph.plant_media(&png(), "image/png");
    customer
        .sends(&image_webhook(
            "15550400001",
            &planted.id,
            &planted.sha256_base64(),
        ))
        .await;

    // The transcript names the media by its id; the bytes come from the media endpoint.
    let detail = alice
        .wait_conversation(&id, "the image in the transcript", WAIT, |d| {
            d["messages"].as_array().is_some_and(|ms| {
                ms.iter()
                    .any(|m| m["body"]["media"]["id"] == planted.id.as_str())
            })
        })
        .await;
    let message = detail["messages"]
        .as_array()
        .and_then(|ms| {
            ms.iter()
                .find(|m| m["body"]["media"]["id"] == planted.id.as_str())
        })
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(message["kind"], "image", "{message}");
    assert_eq!(message["body"]["kind"], "image", "{message}");

    let (status, headers, body) = settled(&app, ALICE, &planted.id).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, png(), "the bytes Meta held");
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("content-type"), "image/png");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert!(header("content-security-policy").contains("sandbox"));
    assert!(header("content-disposition").starts_with("inline"));
    // Downloaded once, with the access token.
    let downloads: Vec<_> = app
        .graph
        .downloads()
        .into_iter()
        .filter(|d| d.media_id == planted.id)
        .collect();
    assert_eq!(downloads.len(), 1, "{downloads:?}");
    let token = format!(
        "Bearer {}",
        secrecy::ExposeSecret::expose_secret(&app.settings.whatsapp.access_token)
    );
    assert_eq!(downloads[0].authorization.as_deref(), Some(token.as_str()));

    // Carla (sales) may not open a support conversation: to her the media does not exist.
    let (status, _, body) = fetch(&app, CARLA, &planted.id).await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json_of(&body)["error"]["code"], "not_found");
    let (status, _, _) = fetch(&app, CARLA, "no-such-media").await;
    assert_eq!(status, 404);
    // Without a token: 401.
    let anonymous = app
        .client
        .get(format!("{}/api/v1/media/{}", app.address, planted.id))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status().as_u16(), 401);
}

// 2 ----------------------------------------------------------------------------------------

async fn a_wrong_checksum_an_expired_url_or_a_forgotten_id_ends_unavailable() {
    let app = spawn_console_app(quick_media).await;
    let (_alice, _id) = assigned_to_alice(&app, "15550400002").await;
    let customer = Customer::new(&app, "15550400002");

    let tampered = app.graph.plant_media(&png(), "image/png");
    let wrong = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    customer
        .sends(&image_webhook("15550400002", &tampered.id, &wrong))
        .await;

    let expired = app.graph.plant_media(&jpeg(2000), "image/jpeg");
    app.graph.expire_media_url(&expired.id);
    customer
        .sends(&image_webhook(
            "15550400002",
            &expired.id,
            &expired.sha256_base64(),
        ))
        .await;

    let forgotten = app.graph.plant_media(&png(), "image/png");
    app.graph.forget_media(&forgotten.id);
    customer
        .sends(&image_webhook(
            "15550400002",
            &forgotten.id,
            &forgotten.sha256_base64(),
        ))
        .await;

    for (media, reason) in [
        (&tampered, "checksum_mismatch"),
        (&expired, "url_expired"),
        (&forgotten, "media_gone"),
    ] {
        let (status, _, body) = settled(&app, ALICE, &media.id).await;
        let body = json_of(&body);
        assert_eq!(status, 410, "{reason}: {body}");
        assert_eq!(body["error"]["code"], "gone", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(reason)),
            "{reason}: {body}"
        );
    }
    // The expired URL was tried again (max_attempts = 2) before giving up.
    let expired_tries = app
        .graph
        .downloads()
        .iter()
        .filter(|d| d.media_id == expired.id)
        .count();
    assert_eq!(expired_tries, 2);
}

// 3 ----------------------------------------------------------------------------------------

async fn an_agents_attachment_is_checked_uploaded_and_sent_by_its_id() {
    let app = spawn_console_app(quick_media).await;
    let (alice, id) = assigned_to_alice(&app, "15550400003").await;
    let customer = Customer::new(&app, "15550400003");
    let before = customer.received().len();

    let (status, body) = attach_file(
        &app,
        ALICE,
        &id,
        png(),
        "application/octet-stream",
        "receipt.png",
        Some("Your receipt"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let message = &body["message"];
    assert_eq!(message["body"]["kind"], "image", "{body}");
    let media_id = message["body"]["source"]["id"]
        .as_str()
        .expect("sent by media id")
        .to_string();

    // Uploaded to Meta as multipart, typed from the bytes (not the declared type).
    let uploads = app.graph.uploads();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    let upload = &uploads[0];
    assert_eq!(upload.status, 200);
    assert_eq!(upload.id.as_deref(), Some(media_id.as_str()));
    assert_eq!(upload.declared_type.as_deref(), Some("image/png"));
    assert_eq!(upload.messaging_product.as_deref(), Some("whatsapp"));
    assert_eq!(upload.filename.as_deref(), Some("receipt.png"));
    assert_eq!(upload.phone_number_id, PHONE_NUMBER_ID);
    assert_eq!(app.graph.media(&media_id).map(|m| m.bytes), Some(png()));

    // Then sent by id, with the caption.
    let sent = customer
        .wait_for_message(before, "the image", |m| m["type"] == "image")
        .await;
    assert_eq!(sent["image"]["id"], media_id.as_str(), "{sent}");
    assert_eq!(sent["image"]["caption"], "Your receipt", "{sent}");

    // The transcript shows it: the media is served from our store.
    let (status, headers, bytes) = fetch(&app, ALICE, &media_id).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, png());
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("image/png")
    );
    let detail = alice.conversation(&id).await;
    assert!(
        detail["messages"].as_array().is_some_and(|ms| ms
            .iter()
            .any(|m| m["body"]["source"]["id"] == media_id.as_str())),
        "{detail}"
    );

    // A document keeps its name, and is served as a download.
    // (Large enough to be served in several pieces.)
    let mut pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n".to_vec();
    pdf.extend((0..700_000u32).map(|i| b'a' + (i % 26) as u8));
    let pdf_sent = pdf.clone();
    let (status, body) = attach_file(
        &app,
        ALICE,
        &id,
        pdf,
        "application/pdf",
        "../Invoice 7.pdf",
        None,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["message"]["body"]["kind"], "document", "{body}");
    assert_eq!(
        body["message"]["body"]["filename"], "Invoice 7.pdf",
        "{body}"
    );
    let doc_id = body["message"]["body"]["source"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (status, headers, served) = fetch(&app, ALICE, &doc_id).await;
    assert_eq!(status, 200);
    assert_eq!(served, pdf_sent, "the whole document, piece by piece");
    let disposition = headers
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(disposition.contains("Invoice 7.pdf"), "{disposition}");

    // Refused before anything reaches Meta: a wrong type, too big, empty, a caption on audio.
    let html = b"<!doctype html><script>alert(1)</script>".to_vec();
    let (status, body) = attach_file(&app, ALICE, &id, html, "image/png", "x.png", None).await;
    assert_eq!(status, 415, "{body}");
    assert_eq!(body["error"]["code"], "unsupported_media_type");
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00".to_vec();
    let (status, _) = attach_file(&app, ALICE, &id, gif, "image/gif", "x.gif", None).await;
    assert_eq!(status, 415);
    let big = jpeg(5 * 1024 * 1024 + 1);
    let (status, body) = attach_file(&app, ALICE, &id, big, "image/jpeg", "big.jpg", None).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    let (status, body) =
        attach_file(&app, ALICE, &id, Vec::new(), "image/png", "e.png", None).await;
    assert_eq!(status, 400, "{body}");
    let mp3 = b"ID3\x03\x00\x00\x00\x00\x00\x00".to_vec();
    let (status, _) = attach_file(&app, ALICE, &id, mp3, "audio/mpeg", "a.mp3", Some("hi")).await;
    assert_eq!(status, 400);
    // Not a multipart body at all.
    let (status, body) = alice
        .post(
            &format!("/api/v1/conversations/{id}/attachments"),
            json!({"file": "x"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    // Someone who may not reply: 404 for who may not see it.
    let (status, _) = attach_file(&app, CARLA, &id, png(), "image/png", "x.png", None).await;
    assert_eq!(status, 404);
    assert_eq!(
        app.graph.uploads().len(),
        2,
        "only the two good files were uploaded"
    );

    // Meta refusing the upload: 502, nothing sent.
    app.graph.fail_next(None, 131053, 400, 1);
    let count = |d: &Value| d["messages"].as_array().map(Vec::len).unwrap_or(0);
    let messages_before = count(&alice.conversation(&id).await);
    let (status, body) = attach_file(&app, ALICE, &id, png(), "image/png", "x.png", None).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "upstream_failed");
    assert_eq!(
        count(&alice.conversation(&id).await),
        messages_before,
        "no message recorded"
    );
}

// 4 ----------------------------------------------------------------------------------------

/// A download still pending when the gateway stops is finished after the restart.
#[actix_rt::test]
async fn a_pending_download_resumes_after_a_restart() {
    let app = spawn_console_app(|s| {
        quick_media(s);
        s.media.max_attempts = 1_000_000;
        s.media.initial_backoff_ms = 1;
        s.media.max_backoff_ms = 1;
        // A download cut short by the stop is taken again a second later.
        s.media.lease_ms = 1000;
    })
    .await;
    let (_alice, _id) = assigned_to_alice(&app, "15550400004").await;
    let planted = app.graph.plant_media(&png(), "image/png");
    app.graph.expire_media_url(&planted.id);
    Customer::new(&app, "15550400004")
        .sends(&image_webhook(
            "15550400004",
            &planted.id,
            &planted.sha256_base64(),
        ))
        .await;
    // Tried, failed, still pending.
    let deadline = Instant::now() + WAIT;
    while !app
        .graph
        .downloads()
        .iter()
        .any(|d| d.media_id == planted.id)
    {
        assert!(Instant::now() < deadline, "no download attempt");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _, body) = fetch(&app, ALICE, &planted.id).await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json_of(&body)["media"]["state"], "pending");

    let (settings, graph, db_path, dir) = app.stop().await;
    graph.renew_media_url(&planted.id);
    let mut app = TestApp::start(settings, graph, db_path).await;
    app.keep_dir(dir);
    let (status, _, body) = settled(&app, ALICE, &planted.id).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, png());
}

in_both_modes!(
    a_customers_image_is_downloaded_checked_and_shown_only_to_who_may_see_it,
    a_wrong_checksum_an_expired_url_or_a_forgotten_id_ends_unavailable,
    an_agents_attachment_is_checked_uploaded_and_sent_by_its_id,
);
