//! What the console needs to work all day with many conversations: search and filters with
//! pages, Meta's 24-hour customer-service window, and collisions (who else is viewing or typing).
//! Driven over HTTP and the websocket like the console does, in both modes.

mod common;

use std::time::Duration;

use common::console::*;
use common::*;
use serde_json::{Value, json};

const SUPPORT: &str = "support";

fn ids(conversations: &[Value]) -> Vec<String> {
    conversations
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect()
}

/// One page of `GET /api/v1/conversations?{query}`: the ids and `next`.
async fn page(console: &Console, query: &str) -> (Vec<String>, Option<String>) {
    let body = expect_status(
        200,
        console.get(&format!("/api/v1/conversations?{query}")).await,
    );
    let conversations = body["conversations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    (
        ids(&conversations),
        body["next"].as_str().map(str::to_string),
    )
}

async fn search_and_filters_find_conversations_page_by_page() {
    let app = spawn_console_app(|_| {}).await;
    let alice = Console::new(&app, ALICE);
    // Three customers wait in support (nobody is online).
    let mut waiting = Vec::new();
    for (wa_id, words) in [
        ("15550300001", "my parcel never came"),
        ("15550300002", "wrong size, I want to exchange"),
        ("34600300003", "¿dónde está mi pedido?"),
    ] {
        let customer = Customer::new(&app, wa_id);
        let id = customer.hands_off_to(SUPPORT).await;
        customer.says(words).await;
        waiting.push(id);
    }
    let parcel = waiting[0].clone();
    alice
        .wait_conversation(&parcel, "the customer's words stored", WAIT, |d| {
            d["messages"].as_array().is_some_and(|m| {
                m.iter()
                    .any(|m| message_text(m) == Some("my parcel never came"))
            })
        })
        .await;
    let spanish = waiting[2].clone();
    alice
        .wait_conversation(&spanish, "the customer's words stored", WAIT, |d| {
            d["messages"].as_array().is_some_and(|m| {
                m.iter()
                    .any(|m| message_text(m) == Some("¿dónde está mi pedido?"))
            })
        })
        .await;

    // Words of a message, whatever their case; a name; digits of a number as typed.
    assert_eq!(page(&alice, "q=PARCEL").await.0, [parcel]);
    assert_eq!(page(&alice, "q=pedido").await.0, vec![spanish.clone()]);
    assert_eq!(
        page(&alice, "q=customer%2015550300002").await.0,
        [waiting[1].clone()],
        "the demo bot names customers `Customer <number>`"
    );
    assert_eq!(
        page(&alice, "q=%2B34%20600").await.0,
        vec![spanish.clone()],
        "digits, as typed"
    );
    assert!(page(&alice, "q=nothing-like-this").await.0.is_empty());
    // With the other filters.
    assert_eq!(
        page(&alice, "q=parcel&status=resolved").await.0,
        Vec::<String>::new()
    );
    let (on_support, _) = page(&alice, "status=waiting&channel=support").await;
    let (on_sales, _) = page(&alice, "status=waiting&channel=sales").await;
    assert!(on_sales.is_empty());
    assert_eq!(on_support.len(), 3, "they wrote to the support number");
    assert!(
        page(&alice, "tag=vip").await.0.is_empty(),
        "nobody is tagged"
    );
    // Search never widens what the caller may see: Carla is in another team.
    let carla = Console::new(&app, CARLA);
    assert!(page(&carla, "q=parcel").await.0.is_empty());

    // Pages: newest activity first, each page after the last one's cursor, then no `next`.
    let (first, next) = page(&alice, "status=waiting&limit=2").await;
    assert_eq!(first.len(), 2);
    let next = next.expect("a next page");
    let (second, after) = page(&alice, &format!("status=waiting&limit=2&before={next}")).await;
    assert_eq!(second.len(), 1);
    assert_eq!(after, None, "the last page");
    let mut all = [first, second].concat();
    all.sort();
    let mut expected = waiting.clone();
    expected.sort();
    assert_eq!(all, expected, "every conversation once");

    // Bad input: a clear 400.
    for query in [
        "q=",
        "q=%20%20",
        &format!("q={}", "x".repeat(101)),
        "before=garbage",
        "before=12~",
        "tag=",
    ] {
        expect_error(
            400,
            "bad_request",
            alice.get(&format!("/api/v1/conversations?{query}")).await,
        );
    }
}

async fn free_text_waits_for_the_customer_once_the_24_hour_window_closed() {
    let app = spawn_console_app(|_| {}).await;
    let (alice, mut ws) = {
        let console = Console::new(&app, ALICE);
        let socket = ConsoleSocket::connect(&app, ALICE, None).await;
        console.set_presence("online").await;
        (console, socket)
    };
    // Meta delivers this customer's messages late: written 25 hours ago.
    customers_wrote_ago(Duration::from_secs(25 * 3600));
    let late = Customer::new(&app, "15550300101");
    let id = late.hands_off_to(SUPPORT).await;
    ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    let view = &alice.conversation(&id).await["conversation"];
    assert_eq!(view["window"]["open"], false, "{view}");
    let last = view["last_inbound_at"].as_i64().expect("last_inbound_at");
    assert!(last < now_ms() - 24 * 3600 * 1000, "{view}");
    assert_eq!(view["window"]["closes_at"], last + 24 * 3600 * 1000);

    let (status, body) = alice.reply(&id, "Hello?").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("window_closed")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("24 hours") && m.contains("131047")),
        "Meta's reason: {body}"
    );
    assert!(
        !late.texts().iter().any(|t| t == "Hello?"),
        "nothing reached the customer"
    );
    // A note is still fine.
    expect_status(201, alice.note(&id, "window closed, template needed").await);

    // The customer writes now: the window opens again for 24 hours.
    customers_wrote_ago(Duration::ZERO);
    late.says("still there?").await;
    let view = alice
        .wait_conversation(&id, "the window open again", WAIT, |d| {
            d["conversation"]["window"]["open"] == true
        })
        .await;
    let closes = view["conversation"]["window"]["closes_at"]
        .as_i64()
        .expect("closes_at");
    assert!(closes > now_ms() + 23 * 3600 * 1000, "{view}");
    expect_status(201, alice.reply(&id, "Yes, here I am").await);
    late.wait_for_text("Yes, here I am").await;

    // The customer answers that very message: the transcript keeps what it replies to.
    let ours = |d: &Value| {
        d["messages"].as_array().and_then(|m| {
            m.iter()
                .find(|m| message_text(m) == Some("Yes, here I am"))
                .and_then(|m| m["provider_id"].as_str().map(str::to_string))
        })
    };
    let detail = alice
        .wait_conversation(&id, "a provider id on the reply", WAIT, |d| {
            ours(d).is_some()
        })
        .await;
    let wamid = ours(&detail).expect("provider id");
    let mut webhook = text_webhook(&late.wa_id, &next_wamid(&late.wa_id), "thanks!");
    webhook["entry"][0]["changes"][0]["value"]["messages"][0]["context"] =
        json!({"from": "15550783881", "id": wamid});
    late.sends(&webhook).await;
    alice
        .wait_conversation(&id, "the answer in context", WAIT, |d| {
            d["messages"].as_array().is_some_and(|m| {
                m.iter().any(|m| {
                    message_text(m) == Some("thanks!")
                        && m["body"]["context"]["replied_to"] == wamid.as_str()
                })
            })
        })
        .await;
}

/// The next frame of type `kind` (not an event) for which `matches` holds.
async fn wait_frame(
    socket: &mut ConsoleSocket,
    kind: &str,
    what: &str,
    matches: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            panic!("{}: no {kind} frame with {what}", socket.agent);
        }
        let frame = socket.wait_for_control(kind, left).await;
        if matches(&frame) {
            return frame;
        }
    }
}

/// The next `activity` frame about `conversation` whose people satisfy `matches`.
async fn wait_activity(
    socket: &mut ConsoleSocket,
    conversation: &str,
    what: &str,
    matches: impl Fn(&Value) -> bool,
) -> Value {
    wait_frame(socket, "activity", what, |f| {
        f["conversation_id"] == conversation && matches(&f["people"])
    })
    .await
}

/// The next `conversation` frame about `id` whose conversation satisfies `matches`.
async fn wait_news(
    socket: &mut ConsoleSocket,
    id: &str,
    what: &str,
    matches: impl Fn(&Value) -> bool,
) -> Value {
    wait_frame(socket, "conversation", what, |f| {
        f["conversation"]["id"] == id && matches(&f["conversation"])
    })
    .await
}

fn activity(conversation: &str, state: &str) -> Value {
    json!({"type": "activity", "conversation_id": conversation, "state": state})
}

async fn people_see_who_else_is_viewing_or_typing_a_conversation() {
    let app = spawn_console_app(|_| {}).await;
    let alice = Console::new(&app, ALICE);
    let mut alice_ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;
    let id = Customer::new(&app, "15550300201")
        .hands_off_to(SUPPORT)
        .await;
    alice_ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;

    // Alice opens it: nobody else is there.
    alice_ws.send_json(&activity(&id, "viewing")).await;
    wait_activity(&mut alice_ws, &id, "nobody", |p| p == &json!([])).await;
    // Bob, her teammate, opens it too: each sees the other.
    let mut bob_ws = ConsoleSocket::connect(&app, BOB, None).await;
    bob_ws.send_json(&activity(&id, "viewing")).await;
    wait_activity(&mut bob_ws, &id, "alice viewing", |p| {
        p == &json!([{"id": "alice", "name": "Alice Martin", "typing": false}])
    })
    .await;
    wait_activity(&mut alice_ws, &id, "bob viewing", |p| {
        p == &json!([{"id": "bob", "name": "Bob Chen", "typing": false}])
    })
    .await;
    // Alice types: Bob sees it; she stops (sent): he sees that too.
    alice_ws.send_json(&activity(&id, "typing")).await;
    wait_activity(&mut bob_ws, &id, "alice typing", |p| p[0]["typing"] == true).await;
    alice_ws.send_json(&activity(&id, "viewing")).await;
    wait_activity(&mut bob_ws, &id, "alice no longer typing", |p| {
        p[0]["typing"] == false
    })
    .await;
    // Bob leaves; then Alice's console closes: the other is told.
    bob_ws.send_json(&activity(&id, "idle")).await;
    wait_activity(&mut alice_ws, &id, "bob gone", |p| p == &json!([])).await;
    bob_ws.send_json(&activity(&id, "viewing")).await;
    wait_activity(&mut bob_ws, &id, "alice there", |p| p[0]["id"] == "alice").await;
    alice_ws.close().await;
    wait_activity(&mut bob_ws, &id, "alice gone with her console", |p| {
        p == &json!([])
    })
    .await;

    // Carla, of another team, may not know the conversation exists.
    let mut carla_ws = ConsoleSocket::connect(&app, CARLA, None).await;
    carla_ws.send_json(&activity(&id, "viewing")).await;
    let refused = carla_ws.wait_for_control("error", WAIT).await;
    assert_eq!(refused["error"]["code"], "not_found", "{refused}");
    // Bad frames: a clear error, and the session goes on.
    carla_ws.send_json(&activity(&id, "dancing")).await;
    let refused = carla_ws.wait_for_control("error", WAIT).await;
    assert_eq!(refused["error"]["code"], "bad_request", "{refused}");
    carla_ws.send_json(&json!({"type": "ping"})).await;
    carla_ws.wait_for_control("pong", WAIT).await;
}

async fn team_inboxes_and_supervisors_follow_conversations_live() {
    let app = spawn_console_app(|_| {}).await;
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let mut sam_ws = ConsoleSocket::connect(&app, sam.token(), None).await;
    let mut bob_ws = ConsoleSocket::connect(&app, BOB, None).await;
    let mut carla_ws = ConsoleSocket::connect(&app, CARLA, None).await;

    // A customer waits in support (nobody online): its inbox, on Bob's and Sam's consoles, hears.
    let customer = Customer::new(&app, "15550300301");
    let id = customer.hands_off_to(SUPPORT).await;
    wait_news(&mut bob_ws, &id, "waiting in support", |c| {
        c["status"] == "waiting"
    })
    .await;
    wait_news(&mut sam_ws, &id, "waiting in support", |c| {
        c["status"] == "waiting"
    })
    .await;
    // Sam opens it while it waits: the customer's words reach him live (no agent's log has them).
    sam_ws
        .send_json(&json!({"type": "activity", "conversation_id": id, "state": "viewing"}))
        .await;
    wait_activity(&mut sam_ws, &id, "his view registered", |_| true).await;
    customer.says("is anybody there?").await;
    wait_frame(&mut sam_ws, "live", "the waiting customer's message", |f| {
        f["kind"] == "message.created"
            && message_text(&f["data"]["message"]) == Some("is anybody there?")
    })
    .await;

    // Alice comes online and takes it: everyone who may see the inbox sees it move.
    let alice = Console::new(&app, ALICE);
    let mut alice_ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;
    alice_ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    wait_news(&mut sam_ws, &id, "assigned to alice", |c| {
        c["status"] == "assigned" && c["assignee"] == "alice"
    })
    .await;
    wait_news(&mut bob_ws, &id, "assigned to alice", |c| {
        c["assignee"] == "alice"
    })
    .await;

    // Sam still has it open: what the customer and Alice write reaches him live.
    customer.says("is a supervisor reading this?").await;
    let live = wait_frame(&mut sam_ws, "live", "the customer's message", |f| {
        f["kind"] == "message.created"
            && message_text(&f["data"]["message"]) == Some("is a supervisor reading this?")
    })
    .await;
    assert_eq!(live["data"]["conversation_id"], id.as_str(), "{live}");
    expect_status(201, alice.reply(&id, "Alice answering").await);
    wait_frame(&mut sam_ws, "live", "alice's answer", |f| {
        f["kind"] == "message.created"
            && message_text(&f["data"]["message"]) == Some("Alice answering")
    })
    .await;

    // Carla (sales) was never told about a support conversation.
    carla_ws.send_json(&json!({"type": "ping"})).await;
    carla_ws.wait_for_control("pong", WAIT).await;
    assert!(
        !carla_ws
            .others
            .iter()
            .any(|f| f["type"] == "conversation" || f["type"] == "live"),
        "carla heard of it: {:?}",
        carla_ws.others
    );
    // Bob, who is not watching, got the list news but not the messages.
    bob_ws.send_json(&json!({"type": "ping"})).await;
    bob_ws.wait_for_control("pong", WAIT).await;
    assert!(!bob_ws.others.iter().any(|f| f["type"] == "live"));
}

/// A long queue: the board gets its head (100 ids, in service order) and its length, never all
/// of it.
async fn the_board_lists_the_head_of_a_long_queue_and_counts_it_all() {
    let app = spawn_console_app(|_| {}).await;
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let customers: Vec<Customer> = (0..105)
        .map(|n| Customer::new(&app, &format!("1555040{n:04}")))
        .collect();
    futures::future::join_all(customers.iter().map(|c| c.hands_off_to(SUPPORT))).await;
    let support = sam
        .teams()
        .await
        .into_iter()
        .find(|t| t["id"] == SUPPORT)
        .expect("support");
    assert_eq!(support["queue_length"], 105, "{support}");
    let head = support["queue"].as_array().expect("queue");
    assert_eq!(head.len(), 100);
    // Each of them a different conversation waiting in support.
    let waiting: std::collections::BTreeSet<String> = sam
        .conversations("team=support&status=waiting&limit=200")
        .await
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(waiting.len(), 105);
    let listed: std::collections::BTreeSet<String> = head
        .iter()
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect();
    assert_eq!(listed.len(), 100);
    assert!(listed.is_subset(&waiting));
}

in_both_modes!(
    team_inboxes_and_supervisors_follow_conversations_live,
    search_and_filters_find_conversations_page_by_page,
    free_text_waits_for_the_customer_once_the_24_hour_window_closed,
    people_see_who_else_is_viewing_or_typing_a_conversation,
);

#[actix_rt::test]
async fn the_board_lists_the_head_of_a_long_queue() {
    the_board_lists_the_head_of_a_long_queue_and_counts_it_all().await;
}
