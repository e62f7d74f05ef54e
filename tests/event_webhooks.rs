//! Event webhooks, end to end: an admin subscribes endpoints of a real HTTP receiver (an
//! actix-web server on port 0 in this test, recording every request and answering as planned);
//! a customer goes through the bot to an agent, who replies and resolves; the receiver gets
//! each event signed per Standard Webhooks (checked with the `standardwebhooks` crate's
//! `verify`), in the conversation's order, retried after 500 and 429; 410 disables its
//! endpoint; filters hold; a replay and a range replay send again; a rotated secret signs
//! beside the new one; bad input changes nothing. In both modes.

mod common;

use common::cluster::TestCluster;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use common::console::*;
use serde_json::{Value, json};
use standardwebhooks::Webhook;
use tokio::time::Instant;

const SUPPORT: &str = "support";

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn id(&self) -> &str {
        self.header("webhook-id")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON event")
    }

    fn kind(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_owned()
    }

    fn verifies_with(&self, secret: &str) -> bool {
        Webhook::new(secret)
            .expect("a whsec_ secret")
            .verify(&self.body, &self.headers)
            .is_ok()
    }
}

/// Planned answers: a status and its `Retry-After`.
type Answers = VecDeque<(u16, Option<&'static str>)>;

/// The receiver: records requests; answers each path's planned statuses in turn, then 200.
#[derive(Default)]
struct Receiver {
    received: Mutex<Vec<Received>>,
    plans: Mutex<HashMap<String, Answers>>,
    /// Paths that always answer this status.
    always: Mutex<HashMap<String, u16>>,
    /// How long each answer takes.
    delay: Mutex<Option<Duration>>,
}

impl Receiver {
    fn plan(&self, path: &str, answers: &[(u16, Option<&'static str>)]) {
        self.plans
            .lock()
            .unwrap()
            .insert(path.to_owned(), answers.iter().copied().collect());
    }

    fn always(&self, path: &str, status: u16) {
        self.always.lock().unwrap().insert(path.to_owned(), status);
    }

    fn received(&self, path: &str) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Wait until the requests to `path` satisfy `done`.
    async fn wait(
        &self,
        path: &str,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = self.received(path);
            if done(&got) {
                return got;
            }
            if Instant::now() > deadline {
                let kinds: Vec<String> = got.iter().map(Received::kind).collect();
                panic!("{path}: waited for {what}; got {kinds:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    receiver: web::Data<Receiver>,
) -> HttpResponse {
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in req.headers() {
        if let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes()),
            reqwest::header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.insert(name, value);
        }
    }
    let path = req.path().to_owned();
    let delay = *receiver.delay.lock().unwrap();
    if let Some(delay) = delay {
        actix_rt::time::sleep(delay).await;
    }
    receiver.received.lock().unwrap().push(Received {
        path: path.clone(),
        headers,
        body: body.to_vec(),
    });
    let always = receiver.always.lock().unwrap().get(&path).copied();
    let planned = receiver
        .plans
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(VecDeque::pop_front);
    let (status, retry_after) = always.map(|s| (s, None)).or(planned).unwrap_or((200, None));
    let mut answer =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("a status"));
    if let Some(seconds) = retry_after {
        answer.insert_header(("Retry-After", seconds));
    }
    answer.body(if status == 200 { "ok" } else { "boom" })
}

/// The receiver's server on a free port: its base URL.
fn start_receiver(receiver: Arc<Receiver>) -> String {
    let data = web::Data::from(receiver);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::post().to(receive))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("the receiver binds");
    let port = server.addrs()[0].port();
    actix_rt::spawn(server.run());
    format!("http://127.0.0.1:{port}")
}

fn first_arrivals(requests: &[Received]) -> Vec<(String, String)> {
    let mut seen = Vec::<(String, String)>::new();
    for r in requests {
        if !seen.iter().any(|(id, _)| id == r.id()) {
            seen.push((r.id().to_owned(), r.kind()));
        }
    }
    seen
}

fn position(arrivals: &[(String, String)], kind: &str) -> usize {
    arrivals
        .iter()
        .position(|(_, k)| k == kind)
        .unwrap_or_else(|| panic!("no {kind} in {arrivals:?}"))
}

async fn webhook(admin: &Console, id: &str) -> Value {
    expect_status(200, admin.get(&format!("/api/v1/webhooks/{id}")).await)["webhook"].clone()
}

/// The `webhook.disable` audit entries, once there is one (the lane writes the entry right
/// after disabling the endpoint).
async fn disable_audit(admin: &Console) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let audit = expect_status(
            200,
            admin
                .get("/api/v1/admin/audit?action=webhook.disable")
                .await,
        );
        if audit["entries"].as_array().is_some_and(|e| !e.is_empty()) || Instant::now() > deadline {
            return audit;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn deliveries(admin: &Console, id: &str) -> Vec<Value> {
    let page = expect_status(
        200,
        admin
            .get(&format!("/api/v1/webhooks/{id}/deliveries?limit=200"))
            .await,
    );
    page["deliveries"].as_array().cloned().unwrap_or_default()
}

async fn events_reach_subscribers_signed_in_order_retried_and_replayable() {
    let receiver = Arc::new(Receiver::default());
    let base = start_receiver(receiver.clone());
    let app = spawn_console_app(|settings| {
        let w = &mut settings.event_webhooks;
        w.allow_http = true;
        w.allowed_private_addresses = vec!["127.0.0.1".into()];
        w.poll_interval_ms = 20;
        w.retry_schedule_ms = vec![30, 30, 30, 30];
        w.timeout_ms = 2_000;
        w.lease_ms = 5_000;
    })
    .await;
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let alice = Console::new(&app, ALICE);
    let all = json!([
        "message.created",
        "message.status",
        "conversation.created",
        "conversation.assigned",
        "conversation.transferred",
        "conversation.resolved",
        "conversation.reopened",
        "contact.created",
        "contact.updated"
    ]);
    let all = &all;

    // Bad input is refused with a clear error, and changes nothing.
    let create = |body: Value| {
        let admin = &admin;
        async move { admin.post("/api/v1/webhooks", body).await }
    };
    expect_status(
        403,
        alice
            .post(
                "/api/v1/webhooks",
                json!({"url": format!("{base}/a"), "events": all}),
            )
            .await,
    );
    expect_error(
        422,
        "invalid_url",
        create(json!({"url": "ftp://crm.example.com/", "events": all})).await,
    );
    expect_error(
        422,
        "invalid_url",
        create(json!({"url": "not a url", "events": all})).await,
    );
    expect_error(
        422,
        "unknown_event_type",
        create(
            json!({"url": format!("{base}/a"), "events": ["message.created", "message.exploded"]}),
        )
        .await,
    );
    expect_error(
        422,
        "invalid_events",
        create(json!({"url": format!("{base}/a"), "events": []})).await,
    );
    expect_error(
        422,
        "unknown_team",
        create(json!({"url": format!("{base}/a"), "events": all, "team": "nobody"})).await,
    );
    expect_status(400, create(json!({"events": all})).await);
    let listed = expect_status(200, admin.get("/api/v1/webhooks").await);
    assert_eq!(listed["webhooks"], json!([]), "{listed}");

    // A: everything (first answers 500, then 429 with Retry-After, then 200s). B: sales only
    // (this customer goes to support). C: support's assignments only. D: answers 410.
    receiver.plan("/a", &[(500, None), (429, Some("0"))]);
    receiver.always("/d", 410);
    let created = expect_status(
        201,
        create(json!({"url": format!("{base}/a"), "events": all})).await,
    );
    let a = created["webhook"]["id"].as_str().expect("an id").to_owned();
    let secret = created["webhook"]["secret"]
        .as_str()
        .expect("a secret")
        .to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    let b = expect_status(
        201,
        create(json!({"url": format!("{base}/b"), "events": all, "team": "sales"})).await,
    )["webhook"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let c = expect_status(
        201,
        create(json!({"url": format!("{base}/c"), "events": ["conversation.assigned"], "team": SUPPORT})).await,
    );
    let c_secret = c["webhook"]["secret"]
        .as_str()
        .expect("a secret")
        .to_owned();
    let d = expect_status(
        201,
        create(json!({"url": format!("{base}/d"), "events": all})).await,
    )["webhook"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    // The secret is shown once.
    let shown = webhook(&admin, &a).await;
    assert!(
        shown.get("secret").is_none() && !shown.to_string().contains("whsec_"),
        "{shown}"
    );
    assert_eq!(shown["enabled"], true);

    // A customer reaches Alice through the bot; she replies and resolves.
    let _ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;
    let ana = Customer::new(&app, "34600500001");
    let conversation = ana.hands_off_to(SUPPORT).await;
    alice.wait_status(&conversation, "assigned", WAIT).await;
    expect_status(201, alice.reply(&conversation, "Hello Ana").await);
    expect_status(200, alice.resolve(&conversation).await);

    let got = receiver
        .wait("/a", "conversation.resolved", |got| {
            got.iter().any(|r| r.kind() == "conversation.resolved")
        })
        .await;
    // Signed: every request verifies with the endpoint's secret, and only with it.
    for r in &got {
        assert!(r.verifies_with(&secret), "{:?}", r.headers);
        assert!(!r.verifies_with(&c_secret));
        assert_eq!(r.header("content-type"), "application/json");
        assert!(r.id().starts_with("msg_"));
    }
    // The first event was tried three times (500, 429, 200) before anything else was sent:
    // deliveries of one conversation keep their order.
    assert_eq!(got[0].kind(), "conversation.created");
    assert_eq!(got[0].id(), got[1].id());
    assert_eq!(got[1].id(), got[2].id());
    assert_ne!(got[2].id(), got[3].id());
    let arrivals = first_arrivals(&got);
    let created_at = position(&arrivals, "conversation.created");
    let message = position(&arrivals, "message.created");
    let assigned = position(&arrivals, "conversation.assigned");
    let resolved = position(&arrivals, "conversation.resolved");
    assert!(
        created_at < message && message < assigned && assigned < resolved,
        "{arrivals:?}"
    );
    // Alice's reply is a message too, told between the assignment and the resolve.
    let replies: Vec<Value> = got
        .iter()
        .map(Received::json)
        .filter(|e| {
            e["type"] == "message.created" && e["data"]["message"]["direction"] == "outbound"
        })
        .collect();
    assert!(
        replies
            .iter()
            .any(|e| e["data"]["message"]["body"]["body"] == "Hello Ana"),
        "{replies:?}"
    );
    let event = got[3].json();
    assert!(event["timestamp"].is_string(), "{event}");
    assert_eq!(event["data"]["conversation"]["id"], conversation.as_str());

    // The delivery log tells the retries.
    let log = deliveries(&admin, &a).await;
    let first = log
        .iter()
        .find(|d| d["event_id"] == got[0].id())
        .expect("the first delivery is logged")
        .clone();
    assert_eq!(first["state"], "delivered", "{first}");
    assert_eq!(first["attempts"], 3, "{first}");
    assert_eq!(first["response_status"], 200, "{first}");
    assert_eq!(first["response_excerpt"], "ok", "{first}");
    assert!(first["latency_ms"].is_i64(), "{first}");

    // Filters: C got exactly the support assignment; B (sales) nothing at all. (The outbox
    // fans an event out to every endpoint at once, so B's deliveries would exist by now.)
    let to_c = receiver
        .wait("/c", "the assignment", |got| !got.is_empty())
        .await;
    assert_eq!(to_c.len(), 1);
    assert_eq!(to_c[0].kind(), "conversation.assigned");
    assert!(to_c[0].verifies_with(&c_secret));
    assert!(deliveries(&admin, &b).await.is_empty());
    assert!(receiver.received("/b").is_empty());

    // 410 disabled D at once, after its first request; the admins are told in the audit log.
    let gone = webhook(&admin, &d).await;
    assert_eq!(gone["enabled"], false, "{gone}");
    assert!(
        gone["disabled_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("410"),
        "{gone}"
    );
    assert_eq!(receiver.received("/d").len(), 1);
    let audit = disable_audit(&admin).await;
    assert_eq!(
        audit["entries"].as_array().map(Vec::len),
        Some(1),
        "{audit}"
    );

    // Replay one delivery: the same event (same webhook-id) comes again, signed.
    let replayed = expect_status(
        202,
        admin
            .post_empty(&format!(
                "/api/v1/webhooks/{a}/deliveries/{}/replay",
                first["id"].as_str().unwrap_or_default()
            ))
            .await,
    );
    assert_eq!(replayed["delivery"]["replay_of"], first["id"]);
    let first_id = got[0].id().to_owned();
    let again = receiver
        .wait("/a", "the replay", |got| {
            got.iter().filter(|r| r.id() == first_id).count() == 4
        })
        .await;
    assert!(again.iter().all(|r| r.verifies_with(&secret)));
    expect_status(
        404,
        admin
            .post_empty(&format!("/api/v1/webhooks/{a}/deliveries/dlv_nope/replay"))
            .await,
    );

    // Rotate the secret: both sign for a while; a receiver holding either verifies.
    let rotated = expect_status(
        200,
        admin
            .post_empty(&format!("/api/v1/webhooks/{a}/rotate"))
            .await,
    );
    let new_secret = rotated["webhook"]["secret"]
        .as_str()
        .expect("a new secret")
        .to_owned();
    assert_ne!(new_secret, secret);
    assert!(
        rotated["webhook"]["previous_secret_expires_at"].is_i64(),
        "{rotated}"
    );
    let before = receiver.received("/a").len();
    ana.says("one more thing").await;
    let later = receiver
        .wait("/a", "the new message", |got| {
            got[before.min(got.len())..]
                .iter()
                .any(|r| r.kind() == "message.created")
        })
        .await;
    let fresh = later[before..]
        .iter()
        .find(|r| r.kind() == "message.created")
        .expect("the new message");
    assert_eq!(fresh.header("webhook-signature").split(' ').count(), 2);
    assert!(fresh.verifies_with(&new_secret) && fresh.verifies_with(&secret));

    // Replay a time range: every delivery since the start, once more.
    let sent_before = receiver.received("/a").len();
    let originals = deliveries(&admin, &a)
        .await
        .iter()
        .filter(|d| d["replay_of"].is_null())
        .count();
    let range = expect_status(
        202,
        admin
            .post(
                &format!("/api/v1/webhooks/{a}/replay"),
                json!({"since": "2000-01-01T00:00:00Z"}),
            )
            .await,
    );
    let replayed = range["replayed"].as_u64().unwrap_or_default() as usize;
    assert!(replayed >= originals, "{range}");
    let all_again = sent_before + replayed;
    receiver
        .wait("/a", "the range replay", |got| got.len() >= all_again)
        .await;
    expect_status(
        400,
        admin
            .post(
                &format!("/api/v1/webhooks/{a}/replay"),
                json!({"since": "yesterday"}),
            )
            .await,
    );

    // Updates are validated whole; delete removes the endpoint and its log.
    expect_error(
        422,
        "unknown_event_type",
        admin
            .patch(
                &format!("/api/v1/webhooks/{a}"),
                json!({"events": ["nope"]}),
            )
            .await,
    );
    expect_error(
        422,
        "invalid_url",
        admin
            .patch(
                &format!("/api/v1/webhooks/{a}"),
                json!({"url": "ftp://x.example/"}),
            )
            .await,
    );
    expect_error(
        422,
        "unknown_team",
        admin
            .patch(&format!("/api/v1/webhooks/{a}"), json!({"team": "nobody"}))
            .await,
    );
    expect_status(
        400,
        admin
            .patch(&format!("/api/v1/webhooks/{a}"), json!({"enabled": "yes"}))
            .await,
    );
    assert_eq!(
        webhook(&admin, &a).await["events"],
        json!(all.as_array().map(|a| {
            let mut v: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
            v.sort();
            v
        }))
    );
    let patched = expect_status(
        200,
        admin
            .patch(
                &format!("/api/v1/webhooks/{d}"),
                json!({"enabled": true, "events": ["message.status"]}),
            )
            .await,
    );
    assert_eq!(patched["webhook"]["enabled"], true, "{patched}");
    assert_eq!(patched["webhook"]["events"], json!(["message.status"]));
    assert_eq!(patched["webhook"]["disabled_reason"], Value::Null);
    let response = admin.delete(&format!("/api/v1/webhooks/{b}")).await;
    assert_eq!(response.0, 204, "{response:?}");
    expect_status(404, admin.get(&format!("/api/v1/webhooks/{b}")).await);
    expect_status(
        404,
        admin.get(&format!("/api/v1/webhooks/{b}/deliveries")).await,
    );
    let audit = expect_status(
        200,
        admin.get("/api/v1/admin/audit?action=webhook.create").await,
    );
    assert_eq!(
        audit["entries"].as_array().map(Vec::len),
        Some(4),
        "{audit}"
    );
}

/// An endpoint that keeps failing is disabled once it failed for `disable_after_ms`, the
/// admins are told in the audit log, and re-enabling it resumes its deliveries.
async fn an_endpoint_failing_too_long_is_disabled_and_admins_are_told() {
    let receiver = Arc::new(Receiver::default());
    let base = start_receiver(receiver.clone());
    let app = spawn_console_app(|settings| {
        let w = &mut settings.event_webhooks;
        w.allow_http = true;
        w.allowed_private_addresses = vec!["127.0.0.1".into()];
        w.poll_interval_ms = 20;
        w.retry_schedule_ms = vec![50; 20];
        w.disable_after_ms = 300;
        w.timeout_ms = 2_000;
        w.lease_ms = 5_000;
    })
    .await;
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let mut admin_console = ConsoleSocket::connect(&app, admin.token(), None).await;
    receiver.always("/down", 503);
    let created = expect_status(
        201,
        admin
            .post(
                "/api/v1/webhooks",
                json!({"url": format!("{base}/down"), "events": ["message.created"]}),
            )
            .await,
    );
    let id = created["webhook"]["id"].as_str().expect("an id").to_owned();
    Customer::new(&app, "34600700001").says("hello").await;

    let deadline = Instant::now() + WAIT;
    let disabled = loop {
        let shown = webhook(&admin, &id).await;
        if shown["enabled"] == false {
            break shown;
        }
        assert!(Instant::now() < deadline, "never disabled: {shown}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let reason = disabled["disabled_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("failing for more than"), "{disabled}");
    assert!(disabled["failing_since"].is_i64(), "{disabled}");
    assert!(receiver.received("/down").len() >= 2);
    // The admins' consoles are told (after the audit entry is written).
    let told = admin_console.wait_for_kind("webhook.disabled", WAIT).await;
    assert_eq!(told["data"]["webhook"]["id"], id.as_str(), "{told}");
    let audit = disable_audit(&admin).await;
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["target"], id.as_str());
    assert_eq!(entries[0]["actor_kind"], "system", "{audit}");

    // Fixed and enabled again: the waiting deliveries go out, in order.
    receiver.always("/down", 200);
    let enabled = expect_status(
        200,
        admin
            .patch(&format!("/api/v1/webhooks/{id}"), json!({"enabled": true}))
            .await,
    );
    assert_eq!(
        enabled["webhook"]["failing_since"],
        Value::Null,
        "{enabled}"
    );
    let log = deliveries(&admin, &id).await;
    let waiting = log.iter().filter(|d| d["state"] == "pending").count();
    assert!(waiting > 0, "{log:?}");
    let deadline = Instant::now() + WAIT;
    loop {
        let log = deliveries(&admin, &id).await;
        if log.iter().all(|d| d["state"] == "delivered") {
            break;
        }
        assert!(Instant::now() < deadline, "never delivered: {log:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A person's edit of a contact (the contacts API, outside any conversation step) is told to
/// the business as `contact.updated`, with the contact as the edit left it and its most recent
/// conversation; an edit that changes nothing tells nothing.
async fn a_person_s_contact_edit_is_told_as_contact_updated() {
    let receiver = Arc::new(Receiver::default());
    let base = start_receiver(receiver.clone());
    let app = spawn_console_app(|settings| {
        let w = &mut settings.event_webhooks;
        w.allow_http = true;
        w.allowed_private_addresses = vec!["127.0.0.1".into()];
        w.poll_interval_ms = 20;
        w.timeout_ms = 2_000;
        w.lease_ms = 5_000;
    })
    .await;
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let created = expect_status(
        201,
        admin
            .post(
                "/api/v1/webhooks",
                json!({"url": format!("{base}/crm"), "events": ["contact.updated"]}),
            )
            .await,
    );
    let secret = created["webhook"]["secret"]
        .as_str()
        .expect("a secret")
        .to_owned();
    let customer = Customer::new(&app, "34600800001");
    let id = customer.hands_off_to(SUPPORT).await;
    let path = "/api/v1/contacts/34600800001";
    expect_status(
        200,
        admin
            .patch(
                path,
                json!({"tags": ["open-ticket"], "fields": {"ticket": "T-42"}}),
            )
            .await,
    );
    // The same again: nothing changes, nothing is told.
    expect_status(
        200,
        admin
            .patch(
                path,
                json!({"tags": ["open-ticket"], "fields": {"ticket": "T-42"}}),
            )
            .await,
    );
    let got = receiver
        .wait("/crm", "contact.updated", |r| {
            r.iter().any(|r| r.kind() == "contact.updated")
        })
        .await;
    let event = got[0].json();
    assert!(got[0].verifies_with(&secret));
    assert_eq!(event["data"]["contact"]["id"], "34600800001", "{event}");
    assert_eq!(
        event["data"]["contact"]["tags"],
        json!(["open-ticket"]),
        "{event}"
    );
    assert_eq!(
        event["data"]["contact"]["fields"]["ticket"], "T-42",
        "{event}"
    );
    assert_eq!(event["data"]["conversation"]["id"], id.as_str(), "{event}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let updates = receiver
        .received("/crm")
        .iter()
        .filter(|r| r.kind() == "contact.updated")
        .count();
    assert_eq!(updates, 1, "one edit, one event");
}

/// While no endpoint is enabled, conversation steps write no events to the outbox (nobody
/// would receive them); an endpoint created by an admin starts them at once, and disabling the
/// last one stops them again. The lane is off on this node, so written events stay countable.
#[actix_rt::test]
async fn steps_write_events_only_while_an_endpoint_is_enabled() {
    let app = spawn_console_app(|settings| {
        let w = &mut settings.event_webhooks;
        w.enabled = false;
        w.allow_http = true;
        w.allowed_private_addresses = vec!["127.0.0.1".into()];
    })
    .await;
    const OUTBOX: &str = "SELECT COUNT(*) FROM webhook_events";
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    Customer::new(&app, "34600900001")
        .hands_off_to(SUPPORT)
        .await;
    assert_eq!(app.scalar(OUTBOX).await, 0, "no endpoint, no events");

    let created = expect_status(
        201,
        admin
            .post(
                "/api/v1/webhooks",
                json!({"url": "http://127.0.0.1:9/crm", "events": ["conversation.created"]}),
            )
            .await,
    );
    let id = created["webhook"]["id"].as_str().expect("an id").to_owned();
    Customer::new(&app, "34600900002")
        .hands_off_to(SUPPORT)
        .await;
    let written = app.scalar(OUTBOX).await;
    assert!(
        written > 0,
        "an enabled endpoint: the steps' events are written"
    );

    expect_status(
        200,
        admin
            .patch(&format!("/api/v1/webhooks/{id}"), json!({"enabled": false}))
            .await,
    );
    Customer::new(&app, "34600900003")
        .hands_off_to(SUPPORT)
        .await;
    assert_eq!(
        app.scalar(OUTBOX).await,
        written,
        "the last endpoint disabled: no more events"
    );
}

in_both_modes!(
    events_reach_subscribers_signed_in_order_retried_and_replayable,
    an_endpoint_failing_too_long_is_disabled_and_admins_are_told,
    a_person_s_contact_edit_is_told_as_contact_updated,
);

/// Two nodes share one PostgreSQL store: either delivers (claims with a lease, `FOR UPDATE
/// SKIP LOCKED`), never both the same delivery, and each conversation's events still arrive in
/// their order, while customers write through both nodes.
#[actix_rt::test]
async fn two_nodes_share_the_lane_and_never_deliver_twice() {
    let receiver = Arc::new(Receiver::default());
    *receiver.delay.lock().unwrap() = Some(Duration::from_millis(20));
    let base = start_receiver(receiver.clone());
    let cluster = TestCluster::start(2, |settings| {
        let w = &mut settings.event_webhooks;
        w.allow_http = true;
        w.allowed_private_addresses = vec!["127.0.0.1".into()];
        w.poll_interval_ms = 10;
        w.concurrency = 4;
        w.timeout_ms = 2_000;
        w.lease_ms = 5_000;
    })
    .await;
    let admin = Console::login(cluster.node(0), "admin@example.com", DEMO_PASSWORD).await;
    let created = expect_status(
        201,
        admin
            .post(
                "/api/v1/webhooks",
                json!({"url": format!("{base}/all"), "events": ["conversation.created", "contact.created", "message.created"]}),
            )
            .await,
    );
    let id = created["webhook"]["id"].as_str().expect("an id").to_owned();
    let secret = created["webhook"]["secret"]
        .as_str()
        .expect("a secret")
        .to_owned();

    let customers: Vec<String> = (0..6).map(|i| format!("3460060000{i}")).collect();
    for (i, wa_id) in customers.iter().enumerate() {
        let node = cluster.node(i % 2);
        let customer = Customer::new(node, wa_id);
        customer.says("hello").await;
        customer.says("are you there?").await;
    }
    // Each customer's conversation, contact and two messages at least (the bot answers too).
    let got = receiver
        .wait("/all", "every customer's events", |got| {
            customers.iter().all(|c| {
                got.iter()
                    .filter(|r| r.json()["data"]["conversation"]["customer"] == c.as_str())
                    .filter(|r| r.kind() == "message.created")
                    .filter(|r| r.json()["data"]["message"]["direction"] == "inbound")
                    .count()
                    == 2
            })
        })
        .await;
    // Never twice: nothing failed, so every event arrived once.
    let mut ids: Vec<&str> = got.iter().map(Received::id).collect();
    ids.sort_unstable();
    let unique = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), unique, "an event was delivered twice");
    assert!(got.iter().all(|r| r.verifies_with(&secret)));
    // In order per conversation: arrivals follow the outbox's sequence.
    let log = deliveries(&admin, &id).await;
    let seq_of = |event: &str| {
        log.iter()
            .find(|d| d["event_id"] == event)
            .and_then(|d| d["event_seq"].as_i64())
            .unwrap_or_else(|| panic!("{event} is not in the log"))
    };
    for customer in &customers {
        let seqs: Vec<i64> = got
            .iter()
            .filter(|r| r.json()["data"]["conversation"]["customer"] == customer.as_str())
            .map(|r| seq_of(r.id()))
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{customer}: {seqs:?}");
        assert!(seqs.len() >= 4, "{customer}: {seqs:?}");
    }
}

/// Administration › Webhooks › the endpoint's delivery log, with a delivered delivery shown.
async fn open_delivery_log(browser: &common::browser::Browser, id: &str) {
    for css in [
        "#nav-admin".to_owned(),
        "#admin-webhooks".to_owned(),
        format!(".webhook-row[data-id='{id}'] .webhook-log"),
    ] {
        browser
            .wait_css(&css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
    }
    browser.wait_css(".delivery[data-state='delivered']").await;
}

/// The admin console's webhook screen, in a real Chromium: the endpoints, one's delivery log
/// (a retried delivery, then delivered), and a new endpoint's secret shown once. Screenshots in
/// target/screenshots/console-admin-webhooks*.png.
#[actix_rt::test]
async fn the_admin_screen_shows_webhooks_and_their_deliveries() {
    use common::browser::Browser;
    let receiver = Arc::new(Receiver::default());
    let base = start_receiver(receiver.clone());
    let app = spawn_console_app(|settings| {
        let w = &mut settings.event_webhooks;
        w.allow_http = true;
        w.allowed_private_addresses = vec!["127.0.0.1".into()];
        w.poll_interval_ms = 20;
        w.retry_schedule_ms = vec![30, 30];
    })
    .await;
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    receiver.plan("/crm", &[(500, None)]);
    let created = expect_status(
        201,
        admin
            .post(
                "/api/v1/webhooks",
                json!({"url": format!("{base}/crm"), "events": ["conversation.created", "message.created"], "description": "CRM"}),
            )
            .await,
    );
    let id = created["webhook"]["id"].as_str().expect("an id").to_owned();
    Customer::new(&app, "34600800001").says("hello").await;
    receiver
        .wait("/crm", "a retry and more", |got| got.len() >= 3)
        .await;

    let browser = Browser::start(1280, 800, "en").await;
    browser.login(&app.address, "admin@example.com", None).await;
    open_delivery_log(&browser, &id).await;
    browser.screenshot("console-admin-webhooks").await;

    browser
        .wait_css("#webhook-new")
        .await
        .click()
        .await
        .expect("new webhook");
    let url = browser.wait_css("#webhook-url").await;
    url.clear().await.expect("cleared");
    url.send_keys(&format!("{base}/other"))
        .await
        .expect("url typed");
    browser
        .wait_css("#webhook-save")
        .await
        .click()
        .await
        .expect("saved");
    let secret = browser.wait_css("#webhook-secret").await;
    let value = secret
        .prop("value")
        .await
        .expect("a value")
        .unwrap_or_default();
    assert!(value.starts_with("whsec_"), "{value}");
    browser.screenshot("console-admin-webhook-secret").await;
    browser.close().await;

    // A phone, in Arabic (right to left).
    let browser = Browser::start(390, 844, "ar").await;
    browser
        .login(&app.address, "admin@example.com", Some("ar"))
        .await;
    open_delivery_log(&browser, &id).await;
    browser.screenshot("console-admin-webhooks-phone-ar").await;
    browser.close().await;
    let listed = expect_status(200, admin.get("/api/v1/webhooks").await);
    assert_eq!(
        listed["webhooks"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
}

/// At least once through a crash: the real gateway binary is killed with SIGKILL in the middle
/// of a burst while deliveries are waiting (the receiver answers slowly), started again on the
/// same database, and Meta (this test) redelivers what was not acknowledged: every customer
/// message reaches the receiver, none is lost (the outbox is written with the step; a
/// delivery's claim lapses with its lease).
#[actix_rt::test]
async fn a_gateway_killed_mid_burst_loses_no_event() {
    use common::burst;
    use common::process::{Node, ProcessConfig};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use switchboard::fakes::graph::FakeGraph;

    let receiver = Arc::new(Receiver::default());
    *receiver.delay.lock().unwrap() = Some(Duration::from_millis(15));
    let base = start_receiver(receiver.clone());
    let graph = Arc::new(FakeGraph::start());
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("switchboard.db");
    let config = ProcessConfig::new(
        &graph.base_url(),
        &format!("sqlite://{}", db.display()),
        json!({"event_webhooks": {
            "allow_http": true, "allowed_private_addresses": ["127.0.0.1"],
            "poll_interval_ms": 20, "retry_schedule_ms": [50, 50, 50, 50], "lease_ms": 2000,
            "timeout_ms": 1000,
        }}),
    );
    let mut node = Node::start(&config, &[]);
    let admin = Console::login_at(&node.address, "admin@example.com", DEMO_PASSWORD).await;
    expect_status(
        201,
        admin
            .post(
                "/api/v1/webhooks",
                json!({"url": format!("{base}/crash"), "events": ["message.created"]}),
            )
            .await,
    );

    let customers: Vec<String> = (0..15).map(|n| format!("1555740{n:04}")).collect();
    let scripts: Vec<Vec<(String, Value)>> = customers
        .iter()
        .map(|wa| burst::script("whcrash", wa, &["hello", "Track my order", "A1234"]))
        .collect();
    let total: usize = scripts.iter().map(Vec::len).sum();
    let http = reqwest::Client::new();
    let acked = Arc::new(AtomicUsize::new(0));
    let address = node.address.clone();
    let burst = futures::future::join_all(scripts.iter().map(|script| {
        let (http, acked, address) = (&http, acked.clone(), address.clone());
        async move {
            for (_, webhook) in script {
                if burst::post_signed(http, &address, webhook).await != Some(200) {
                    break;
                }
                acked.fetch_add(1, Ordering::SeqCst);
            }
        }
    }));
    burst::kill_during(
        burst,
        || acked.load(Ordering::SeqCst) >= total / 2,
        || node.kill(),
    )
    .await;
    let before_restart = receiver.received("/crash").len();

    // Started again on the same database; Meta redelivers everything (duplicates are
    // recognised by the gateway).
    let node = Node::start(&config, &[]);
    for script in &scripts {
        for (_, webhook) in script {
            burst::deliver(&http, &node.address, webhook).await;
        }
    }
    let wamids: Vec<String> = scripts.iter().flatten().map(|(w, _)| w.clone()).collect();
    let got = receiver
        .wait("/crash", "every customer message", |got| {
            let told: std::collections::HashSet<String> = got
                .iter()
                .map(Received::json)
                .filter_map(|e| {
                    e["data"]["message"]["provider_id"]
                        .as_str()
                        .map(str::to_owned)
                })
                .collect();
            wamids.iter().all(|w| told.contains(w))
        })
        .await;
    assert!(
        before_restart < got.len(),
        "deliveries went on after the restart"
    );
    drop(node);
}
