//! The agents' console (docs/CONSOLE_API.md), driven end to end like Meta and a browser would:
//! customers write through signed webhooks and walk through the demo bot to a handoff; agents
//! use the REST API and the websocket; what the customer receives is read from the fake Graph
//! API. Each story runs on its own application, database and fake Graph API.

mod common;

use std::time::Duration;

use common::console::*;
use common::*;
use serde_json::{Value, json};

const SUPPORT: &str = "support";

/// The ids in a list of conversations.
fn ids(conversations: &[Value]) -> Vec<String> {
    conversations
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect()
}

/// The message of a conversation detail with this direction and text.
fn find_message<'a>(detail: &'a Value, direction: &str, text: &str) -> Option<&'a Value> {
    detail["messages"]
        .as_array()?
        .iter()
        .find(|m| m["direction"] == direction && message_text(m) == Some(text))
}

/// A conversation event that says it is back from a snooze: assigned again, or updated with
/// reason `reopened`.
fn is_reopen_of(event: &Value, conversation: &str) -> bool {
    event_conversation(event) == Some(conversation)
        && (event["kind"] == ASSIGNED
            || (event["kind"] == UPDATED && event["data"]["reason"] == "reopened"))
}

/// An agent who is online with an open console.
async fn online(app: &TestApp, token: &str) -> (Console, ConsoleSocket) {
    let console = Console::new(app, token);
    let socket = ConsoleSocket::connect(app, token, None).await;
    console.set_presence("online").await;
    (console, socket)
}

// 1 ----------------------------------------------------------------------------------------

async fn a_customer_reaches_an_agent_and_they_talk_both_ways() {
    let app = spawn_console_app(|_| {}).await;
    let alice = Console::new(&app, ALICE);
    let mut ws = ConsoleSocket::connect(&app, ALICE, None).await;
    assert_eq!(ws.hello["type"], "hello");
    assert_eq!(ws.agent, "alice");
    alice.set_presence("online").await;
    let me = alice.me().await;
    assert_eq!(me["id"], "alice", "{me}");
    assert_eq!(me["presence"], "online", "{me}");
    assert_eq!(me["capacity"], 3, "{me}");
    assert_eq!(me["load"], 0, "{me}");
    let teams: Vec<&str> = me["teams"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().or_else(|| t["id"].as_str()))
        .collect();
    assert_eq!(teams, [SUPPORT], "{me}");

    // The customer goes through the bot and asks for customer support.
    let ana = Customer::new(&app, "15550100001");
    let id = ana.hands_off_to(SUPPORT).await;

    // Alice is online with room: the conversation is hers, and her console says so.
    let assigned = ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    let conversation = &assigned["data"]["conversation"];
    assert_eq!(conversation["id"], id.as_str());
    assert_eq!(conversation["customer"]["id"], "15550100001");
    assert_eq!(conversation["customer"]["name"], "Customer 15550100001");
    assert_eq!(conversation["team"], SUPPORT);
    assert_eq!(conversation["assignee"], "alice");
    assert_eq!(conversation["status"], "assigned");
    assert!(conversation["assigned_at"].is_i64(), "{conversation}");
    assert!(
        ids(&alice.conversations("assignee=me").await).contains(&id),
        "the conversation is in her list"
    );
    assert!(ids(&alice.conversations("status=assigned").await).contains(&id));
    assert_eq!(alice.me().await["load"], 1);

    // Alice answers; the customer gets it on WhatsApp.
    let reply = "Hi, I'm Alice. How can I help?";
    let body = expect_status(201, alice.reply(&id, reply).await);
    let message = &body["message"];
    assert_eq!(message["conversation_id"], id.as_str(), "{body}");
    assert_eq!(message["direction"], "outbound", "{body}");
    assert_eq!(message["sender"], "agent", "{body}");
    assert_eq!(message["author"], "alice", "{body}");
    assert_eq!(message_text(message), Some(reply), "{body}");
    ana.wait_for_text(reply).await;
    let sent = ana.received();
    let last = sent.last().expect("a message");
    assert_eq!(last["type"], "text");
    assert_eq!(last["text"]["body"], reply);
    ws.wait_for_message(&id, "outbound", reply, WAIT).await;

    // The customer answers: it shows up live on Alice's console.
    ana.says("My order A1234 has not arrived").await;
    let created = ws
        .wait_for_message(&id, "inbound", "My order A1234 has not arrived", WAIT)
        .await;
    assert_eq!(created["data"]["message"]["sender"], "customer");

    // WhatsApp reports the agent's message delivered: the console hears it.
    let detail = alice
        .wait_conversation(&id, "a provider id on Alice's message", WAIT, |d| {
            find_message(d, "outbound", reply).is_some_and(|m| m["provider_id"].is_string())
        })
        .await;
    let provider_id = find_message(&detail, "outbound", reply).expect("the reply")["provider_id"]
        .as_str()
        .expect("provider id")
        .to_string();
    assert!(
        detail["conversation"]["first_response_at"].is_i64(),
        "the first response is recorded: {detail:#}"
    );
    ana.status(&provider_id, "delivered").await;
    let status = ws
        .wait_for("message.status delivered", WAIT, |e| {
            e["kind"] == MESSAGE_STATUS
                && e["data"]["provider_id"] == provider_id.as_str()
                && e["data"]["status"] == "delivered"
        })
        .await;
    assert_eq!(status["data"]["conversation_id"], id.as_str());
    alice
        .wait_conversation(&id, "the reply delivered", WAIT, |d| {
            find_message(d, "outbound", reply).is_some_and(|m| m["status"] == "delivered")
        })
        .await;
}

// 2 ----------------------------------------------------------------------------------------

async fn a_busy_team_queues_customers_in_order_and_tells_them_their_place() {
    let app = spawn_console_app(|s| {
        s.agents.get_mut("alice").expect("alice").capacity = 1;
    })
    .await;
    // Alice online with room for one conversation; Bob (support too) is offline.
    let (alice, mut ws) = online(&app, ALICE).await;

    let first = Customer::new(&app, "15550200001");
    let c1 = first.hands_off_to(SUPPORT).await;
    ws.wait_for_conversation(ASSIGNED, &c1, WAIT).await;

    let second = Customer::new(&app, "15550200002");
    let c2 = second.hands_off_to(SUPPORT).await;
    let told = second.wait_for_text("in the queue").await;
    assert!(told.contains("number 1"), "{told}");

    let third = Customer::new(&app, "15550200003");
    let c3 = third.hands_off_to(SUPPORT).await;
    let told = third.wait_for_text("in the queue").await;
    assert!(told.contains("number 2"), "{told}");

    assert!(
        !first.texts().iter().any(|t| t.contains("in the queue")),
        "the first customer got an agent and was never queued: {:?}",
        first.texts()
    );
    for id in [&c2, &c3] {
        let conversation = alice.conversation(id).await["conversation"].clone();
        assert_eq!(conversation["status"], "waiting", "{conversation}");
        assert!(conversation["assignee"].is_null(), "{conversation}");
    }
    assert_eq!(alice.queue(SUPPORT).await, vec![c2.clone(), c3.clone()]);
    let unassigned = ids(&alice.conversations("unassigned=true").await);
    assert!(unassigned.contains(&c2) && unassigned.contains(&c3) && !unassigned.contains(&c1));

    // Alice resolves the first: the second is hers at once, the third still waits.
    let resolved = expect_status(200, alice.resolve(&c1).await);
    assert_eq!(resolved["conversation"]["status"], "resolved", "{resolved}");
    assert!(
        resolved["conversation"]["resolved_at"].is_i64(),
        "{resolved}"
    );
    let updated = ws.wait_for_conversation(UPDATED, &c1, WAIT).await;
    assert_eq!(updated["data"]["reason"], "resolved");
    let assigned = ws.wait_for_conversation(ASSIGNED, &c2, AT_ONCE).await;
    assert_eq!(assigned["data"]["conversation"]["assignee"], "alice");
    assert_eq!(
        alice.conversation(&c3).await["conversation"]["status"],
        "waiting"
    );
    assert_eq!(alice.queue(SUPPORT).await, vec![c3.clone()]);

    // And the third after the next one.
    expect_status(200, alice.resolve(&c2).await);
    ws.wait_for_conversation(ASSIGNED, &c3, AT_ONCE).await;
    assert!(alice.queue(SUPPORT).await.is_empty());
}

// 3 ----------------------------------------------------------------------------------------

async fn an_agent_going_online_takes_the_waiting_conversation_at_once() {
    let app = spawn_console_app(|_| {}).await;
    let alice = Console::new(&app, ALICE);
    let mut alice_ws = ConsoleSocket::connect(&app, ALICE, None).await;
    let mut bob_ws = ConsoleSocket::connect(&app, BOB, None).await;
    assert_eq!(alice.me().await["presence"], "offline");

    // Nobody is online: the customer waits.
    let customer = Customer::new(&app, "15550300001");
    let id = customer.hands_off_to(SUPPORT).await;
    let told = customer.wait_for_text("in the queue").await;
    assert!(told.contains("number 1"), "{told}");
    assert_eq!(
        alice.conversation(&id).await["conversation"]["status"],
        "waiting"
    );
    assert_eq!(alice.queue(SUPPORT).await, vec![id.clone()]);

    // Alice comes online: the queue drains to her without waiting for anything else.
    alice.set_presence("online").await;
    let assigned = alice_ws.wait_for_conversation(ASSIGNED, &id, AT_ONCE).await;
    assert_eq!(assigned["data"]["conversation"]["assignee"], "alice");
    assert_eq!(assigned["data"]["conversation"]["status"], "assigned");
    assert!(alice.queue(SUPPORT).await.is_empty());

    // Her teammate's console (and hers) hear about her presence.
    let is_alice_online = |e: &Value| {
        e["kind"] == PRESENCE_CHANGED
            && e["data"]["agent"] == "alice"
            && e["data"]["presence"] == "online"
    };
    bob_ws
        .wait_for("alice online, on Bob's console", WAIT, is_alice_online)
        .await;
    alice_ws
        .wait_for("alice online, on her console", WAIT, is_alice_online)
        .await;
}

async fn an_agent_whose_consoles_are_all_closed_goes_offline_by_itself() {
    let app = spawn_console_app(|s| s.console.presence_ttl_seconds = 2).await;
    // Bob keeps a console open; Alice only says she is online, over REST, and has no console.
    let (bob, mut bob_ws) = online(&app, BOB).await;
    let alice = Console::new(&app, ALICE);
    alice.set_presence("online").await;
    bob.set_presence("away").await;
    let customer = Customer::new(&app, "15550300101");
    let id = customer.hands_off_to(SUPPORT).await;
    assert_eq!(
        alice.wait_status(&id, "assigned", WAIT).await["assignee"],
        "alice"
    );

    // Her lease ends: offline by herself, and her teammates hear of it.
    let offline = bob_ws
        .wait_for("alice offline by herself", WAIT, |e| {
            e["kind"] == PRESENCE_CHANGED
                && e["data"]["agent"] == "alice"
                && e["data"]["presence"] == "offline"
        })
        .await;
    assert_eq!(offline["data"]["presence"], "offline");
    assert_eq!(alice.me().await["presence"], "offline");
    // Bob's open console kept him (away) well past the lease.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(bob.me().await["presence"], "away");
    // What Alice held stays hers; nothing new goes to her.
    assert_eq!(
        alice.conversation(&id).await["conversation"]["assignee"],
        "alice"
    );
    bob.set_presence("online").await;
    let next = Customer::new(&app, "15550300102");
    let next_id = next.hands_off_to(SUPPORT).await;
    bob_ws.wait_for_conversation(ASSIGNED, &next_id, WAIT).await;
}

// 4 ----------------------------------------------------------------------------------------

async fn offers_expire_to_the_next_agent_and_are_accepted_or_rejected() {
    let app = spawn_console_app(|s| {
        s.teams
            .get_mut("sales")
            .expect("sales")
            .offer_timeout_seconds = 1;
        add_agent(s, "dave", &["sales"], 3, DAVE);
    })
    .await;
    let agents = ["carla", "dave"];
    let (carla, carla_ws) = online(&app, CARLA).await;
    let (dave, dave_ws) = online(&app, DAVE).await;
    let consoles = [carla, dave];
    let mut sockets = [carla_ws, dave_ws];

    // A sales customer: one agent is offered the conversation and lets the offer lapse.
    let c1 = hand_off(&app, "15550400001", "sales").await;
    let (first, offer) = wait_any(&mut sockets, "the first offer", WAIT, |e| {
        e["kind"] == OFFERED && event_conversation(e) == Some(c1.as_str())
    })
    .await;
    let second = 1 - first;
    let offered_at = offer["at"].as_i64().expect("at");
    let expires_at = offer["data"]["expires_at"]
        .as_i64()
        .unwrap_or_else(|| panic!("an offer says when it expires: {offer}"));
    assert!(
        (offered_at..=offered_at + 2_000).contains(&expires_at) && expires_at > offered_at,
        "a one-second offer: {offer}"
    );
    assert_eq!(offer["data"]["conversation"]["status"], "waiting");

    // Nobody accepted: after the timeout the other agent is offered it.
    let next = sockets[second]
        .wait_for_conversation(OFFERED, &c1, WAIT)
        .await;
    assert!(
        next["at"].as_i64().expect("at") >= expires_at,
        "the next agent is offered it once the first offer expired: {next}"
    );
    let expired = sockets[first]
        .wait_for("the first offer expired", WAIT, |e| {
            e["kind"] == UPDATED
                && event_conversation(e) == Some(c1.as_str())
                && e["data"]["reason"] == "offer_expired"
        })
        .await;
    assert!(expired["at"].as_i64().expect("at") >= expires_at);
    expect_error(409, "conflict", consoles[first].accept(&c1).await);

    // The second agent accepts in time.
    let accepted = expect_status(200, consoles[second].accept(&c1).await);
    assert_eq!(accepted["conversation"]["status"], "assigned", "{accepted}");
    assert_eq!(accepted["conversation"]["assignee"], agents[second]);
    let assigned = sockets[second]
        .wait_for_conversation(ASSIGNED, &c1, WAIT)
        .await;
    assert_eq!(assigned["data"]["conversation"]["assignee"], agents[second]);

    // Another customer: whoever is offered it rejects; the other is offered it right away.
    let c2 = hand_off(&app, "15550400002", "sales").await;
    let (who, offer) = wait_any(
        &mut sockets,
        "the offer of the second customer",
        WAIT,
        |e| e["kind"] == OFFERED && event_conversation(e) == Some(c2.as_str()),
    )
    .await;
    let expires_at = offer["data"]["expires_at"].as_i64().expect("expires_at");
    let rejected = expect_status(200, consoles[who].reject(&c2).await);
    assert!(rejected.is_object(), "{rejected}");
    let other = 1 - who;
    let passed_on = sockets[other]
        .wait_for_conversation(OFFERED, &c2, WAIT)
        .await;
    assert!(
        passed_on["at"].as_i64().expect("at") < expires_at,
        "the rejection passed the offer on before it would have expired: {passed_on}"
    );
    let accepted = expect_status(200, consoles[other].accept(&c2).await);
    assert_eq!(accepted["conversation"]["assignee"], agents[other]);
    sockets[other]
        .wait_for_conversation(ASSIGNED, &c2, WAIT)
        .await;
}

// 5 ----------------------------------------------------------------------------------------

async fn a_conversation_is_transferred_to_another_team_and_to_another_agent() {
    let app = spawn_console_app(|_| {}).await;
    let (alice, alice_ws) = online(&app, ALICE).await;
    let bob = Console::new(&app, BOB);
    let bob_ws = ConsoleSocket::connect(&app, BOB, None).await;

    // Only Alice is online: the support conversation is hers.
    let c1 = hand_off(&app, "15550500001", SUPPORT).await;
    let mut sockets = [alice_ws, bob_ws];
    sockets[0].wait_for_conversation(ASSIGNED, &c1, WAIT).await;
    bob.set_presence("online").await;

    // To a team: billing, where Bob (online, with room) takes it.
    let moved = expect_status(200, alice.transfer_team(&c1, "billing").await);
    assert_eq!(moved["conversation"]["team"], "billing", "{moved}");
    let left = sockets[0].wait_for_conversation(UPDATED, &c1, WAIT).await;
    assert_eq!(left["data"]["reason"], "transferred");
    assert_ne!(left["data"]["conversation"]["assignee"], "alice");
    let arrived = sockets[1].wait_for_conversation(ASSIGNED, &c1, WAIT).await;
    assert_eq!(arrived["data"]["conversation"]["team"], "billing");
    assert_eq!(arrived["data"]["conversation"]["assignee"], "bob");
    let now = bob.conversation(&c1).await["conversation"].clone();
    assert_eq!(
        (&now["team"], &now["assignee"], &now["status"]),
        (&json!("billing"), &json!("bob"), &json!("assigned"))
    );
    // Neither her team's nor hers any more: Alice no longer sees it.
    expect_error(
        404,
        "not_found",
        alice.get(&format!("/api/v1/conversations/{c1}")).await,
    );

    // To an agent: whoever gets the next support conversation hands it to the other.
    let consoles = [alice, bob];
    let agents = ["alice", "bob"];
    let c2 = hand_off(&app, "15550500002", SUPPORT).await;
    let (holder, _) = wait_any(
        &mut sockets,
        "the second conversation assigned",
        WAIT,
        |e| e["kind"] == ASSIGNED && event_conversation(e) == Some(c2.as_str()),
    )
    .await;
    let other = 1 - holder;
    let moved = expect_status(
        200,
        consoles[holder].transfer_agent(&c2, agents[other]).await,
    );
    assert_eq!(moved["conversation"]["assignee"], agents[other], "{moved}");
    let left = sockets[holder]
        .wait_for_conversation(UPDATED, &c2, WAIT)
        .await;
    assert_eq!(left["data"]["reason"], "transferred");
    let arrived = sockets[other]
        .wait_for_conversation(ASSIGNED, &c2, WAIT)
        .await;
    assert_eq!(arrived["data"]["conversation"]["assignee"], agents[other]);
    assert_eq!(arrived["data"]["conversation"]["team"], SUPPORT);
    // Only the new assignee may answer now.
    expect_error(
        403,
        "forbidden",
        consoles[holder].reply(&c2, "still me?").await,
    );
    expect_status(
        201,
        consoles[other].reply(&c2, "I'll take it from here").await,
    );
}

// 6 ----------------------------------------------------------------------------------------

async fn snoozing_frees_the_agent_and_the_conversation_comes_back_on_time_or_when_the_customer_writes()
 {
    let app = spawn_console_app(|s| {
        s.agents.get_mut("alice").expect("alice").capacity = 1;
    })
    .await;
    let (alice, mut ws) = online(&app, ALICE).await;
    let ana = Customer::new(&app, "15550600001");
    let a = ana.hands_off_to(SUPPORT).await;
    ws.wait_for_conversation(ASSIGNED, &a, WAIT).await;
    let ben = Customer::new(&app, "15550600002");
    let b = ben.hands_off_to(SUPPORT).await;
    ben.wait_for_text("in the queue").await;

    // Snooze Ana's conversation for two seconds: Alice has room again, Ben gets her at once.
    let (until, until_ms) = whole_second_after(Duration::from_secs(2));
    let snoozed = expect_status(200, alice.snooze(&a, &until).await);
    assert_eq!(snoozed["conversation"]["status"], "snoozed", "{snoozed}");
    assert_eq!(
        snoozed["conversation"]["snoozed_until"], until_ms,
        "{snoozed}"
    );
    let updated = ws.wait_for_conversation(UPDATED, &a, WAIT).await;
    assert_eq!(updated["data"]["reason"], "snoozed");
    ws.wait_for_conversation(ASSIGNED, &b, AT_ONCE).await;

    // Ben's is snoozed for an hour; Ana's comes back by itself, not before its time.
    let (in_an_hour, _) = whole_second_after(Duration::from_secs(3600));
    let snoozed = expect_status(200, alice.snooze(&b, &in_an_hour).await);
    assert_eq!(snoozed["conversation"]["status"], "snoozed");
    let back = ws
        .wait_for("Ana's conversation back from its snooze", WAIT, |e| {
            is_reopen_of(e, &a)
        })
        .await;
    assert!(
        back["at"].as_i64().expect("at") >= until_ms,
        "reopened at its time, not before: {back}"
    );
    let conversation = alice.wait_status(&a, "assigned", WAIT).await;
    assert_eq!(conversation["assignee"], "alice", "{conversation}");
    assert_eq!(
        alice.conversation(&b).await["conversation"]["status"],
        "snoozed",
        "Ben's snooze is not over"
    );

    // Ben writes: his conversation comes back before its time, with his message.
    expect_status(200, alice.resolve(&a).await);
    ben.says("Hello? Is anybody there?").await;
    ws.wait_for("Ben's conversation back when he wrote", WAIT, |e| {
        is_reopen_of(e, &b)
    })
    .await;
    let detail = alice
        .wait_conversation(&b, "assigned again, with Ben's message", WAIT, |d| {
            d["conversation"]["status"] == "assigned"
                && find_message(d, "inbound", "Hello? Is anybody there?").is_some()
        })
        .await;
    assert_eq!(detail["conversation"]["assignee"], "alice");
}

// 7 ----------------------------------------------------------------------------------------

async fn a_private_note_stays_in_the_console_and_never_reaches_the_customer() {
    let app = spawn_console_app(|_| {}).await;
    let (alice, mut ws) = online(&app, ALICE).await;
    let customer = Customer::new(&app, "15550700001");
    let id = customer.hands_off_to(SUPPORT).await;
    ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;

    let note = "Private: customer sounds upset, offer a discount code";
    let body = expect_status(201, alice.note(&id, note).await);
    let message = &body["message"];
    assert_eq!(message["direction"], "note", "{body}");
    assert_eq!(message["author"], "alice", "{body}");
    assert_eq!(message["status"], "internal", "{body}");
    assert!(message["provider_id"].is_null(), "{body}");
    assert_eq!(message_text(message), Some(note), "{body}");
    ws.wait_for_message(&id, "note", note, WAIT).await;
    let detail = alice.conversation(&id).await;
    let stored = find_message(&detail, "note", note).expect("the note is in the conversation");
    assert_eq!(stored["author"], "alice");

    // A real reply after it goes out; the note never does.
    let reply = "Thanks for waiting, let me check";
    expect_status(201, alice.reply(&id, reply).await);
    customer.wait_for_text(reply).await;
    assert!(
        !customer.texts().iter().any(|t| t.contains("discount code")),
        "{:?}",
        customer.texts()
    );
    let leaked: Vec<_> = app
        .graph
        .requests()
        .into_iter()
        .filter(|r| r.body.to_string().contains("discount code"))
        .collect();
    assert!(
        leaked.is_empty(),
        "the note reached the Graph API: {leaked:?}"
    );
}

// 8 ----------------------------------------------------------------------------------------

async fn only_the_right_agents_see_and_answer_a_conversation() {
    let app = spawn_console_app(|_| {}).await;
    let (alice, mut ws) = online(&app, ALICE).await;
    let customer = Customer::new(&app, "15550800001");
    let id = customer.hands_off_to(SUPPORT).await;
    ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    let path = format!("/api/v1/conversations/{id}");

    // Another team's agent: as if it did not exist.
    let carla = Console::new(&app, CARLA);
    expect_error(404, "not_found", carla.get(&path).await);
    expect_error(404, "not_found", carla.reply(&id, "carla was here").await);
    assert!(!ids(&carla.conversations("").await).contains(&id));

    // A teammate sees it but may not answer someone else's conversation.
    let bob = Console::new(&app, BOB);
    assert_eq!(
        bob.conversation(&id).await["conversation"]["assignee"],
        "alice"
    );
    expect_error(403, "forbidden", bob.reply(&id, "bob was here").await);

    // No token, a wrong token: 401, on REST and on the websocket.
    let nobody = Console::anonymous(&app);
    expect_error(401, "unauthorized", nobody.get("/api/v1/me").await);
    expect_error(401, "unauthorized", nobody.get(&path).await);
    expect_error(
        401,
        "unauthorized",
        nobody.reply(&id, "anonymous was here").await,
    );
    let forger = Console::new(&app, "alice-demo-token-not");
    expect_error(401, "unauthorized", forger.get("/api/v1/me").await);
    expect_error(
        401,
        "unauthorized",
        forger.reply(&id, "forger was here").await,
    );
    for (token, token_in) in [
        (None, TokenIn::Header),
        (Some("nope"), TokenIn::Header),
        (Some("nope"), TokenIn::Query),
    ] {
        match ConsoleSocket::connect_with(&app, token, token_in, None).await {
            Err(status) => assert_eq!(status, 401, "websocket with {token:?} in {token_in:?}"),
            Ok(socket) => panic!("websocket accepted with {token:?}: {}", socket.hello),
        }
    }

    // The assignee herself: unknown conversation 404, malformed body 400.
    expect_error(
        404,
        "not_found",
        alice
            .get("/api/v1/conversations/no-such-conversation")
            .await,
    );
    expect_error(
        400,
        "bad_request",
        alice
            .post(&format!("{path}/messages"), json!({"text": 42}))
            .await,
    );

    // Only Alice's answer reached the customer.
    let reply = "Alice here, I'm on it";
    expect_status(201, alice.reply(&id, reply).await);
    customer.wait_for_text(reply).await;
    let texts = customer.texts();
    assert!(
        !texts.iter().any(|t| t.contains("was here")),
        "refused replies were sent: {texts:?}"
    );
}

// 9 ----------------------------------------------------------------------------------------

async fn a_reconnecting_console_gets_what_it_missed_and_every_session_gets_everything() {
    let app = spawn_console_app(|_| {}).await;
    let alice = Console::new(&app, ALICE);
    // Alice's browser (token in the header) and phone (token in the query, like a browser's
    // websocket has to).
    let mut browser = ConsoleSocket::connect(&app, ALICE, None).await;
    let mut phone = ConsoleSocket::connect_with_query_token(&app, ALICE, None).await;
    assert_eq!(phone.agent, "alice");
    alice.set_presence("online").await;

    let ana = Customer::new(&app, "15550900001");
    let id = ana.hands_off_to(SUPPORT).await;
    let on_browser = browser.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    let on_phone = phone.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    assert_eq!(on_browser, on_phone, "both sessions get the same event");
    ana.says("first").await;
    let on_browser = browser
        .wait_for_message(&id, "inbound", "first", WAIT)
        .await;
    let on_phone = phone.wait_for_message(&id, "inbound", "first", WAIT).await;
    assert_eq!(on_browser["seq"], on_phone["seq"]);

    // The console may ping.
    browser.send_json(&json!({"type": "ping"})).await;
    browser.wait_for_control("pong", WAIT).await;

    // The browser goes away; more happens meanwhile (the phone sees it live).
    let last = browser.last_seq.expect("the browser received events");
    browser.close().await;
    ana.says("second").await;
    ana.says("third").await;
    phone.wait_for_message(&id, "inbound", "second", WAIT).await;
    phone.wait_for_message(&id, "inbound", "third", WAIT).await;
    let target = phone.last_seq.expect("seq");
    assert!(target >= last + 2);

    // It comes back with its last seq: exactly the missed events, in order, then live ones.
    let mut browser = ConsoleSocket::connect(&app, ALICE, Some(last)).await;
    assert!(
        browser.hello_last_seq() >= target,
        "hello says where the log is: {}",
        browser.hello
    );
    browser.catch_up_to(target, WAIT).await;
    assert!(browser.resync.is_none(), "nothing was pruned");
    let replayed = browser.received_after(last);
    let missed: Vec<Value> = phone
        .received_after(last)
        .into_iter()
        .filter(|e| e["seq"].as_i64().is_some_and(|s| s <= target))
        .collect();
    assert_eq!(
        replayed, missed,
        "the replay is exactly what the phone saw live"
    );
    let texts: Vec<&str> = replayed
        .iter()
        .filter(|e| e["kind"] == MESSAGE_CREATED)
        .filter_map(|e| message_text(&e["data"]["message"]))
        .collect();
    assert_eq!(texts, ["second", "third"]);

    ana.says("fourth").await;
    let on_browser = browser
        .wait_for_message(&id, "inbound", "fourth", WAIT)
        .await;
    let on_phone = phone.wait_for_message(&id, "inbound", "fourth", WAIT).await;
    assert_eq!(on_browser, on_phone);
    assert!(on_browser["seq"].as_i64().expect("seq") > target);
}

async fn a_console_that_missed_more_than_the_log_keeps_is_told_to_resync() {
    let app = spawn_console_app(|s| s.console.event_log_size = 3).await;
    let alice = Console::new(&app, ALICE);
    let mut browser = ConsoleSocket::connect(&app, ALICE, None).await;
    let mut phone = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;
    let ana = Customer::new(&app, "15550900002");
    let id = ana.hands_off_to(SUPPORT).await;
    browser.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    let last = browser.last_seq.expect("seq");
    browser.close().await;

    for n in 1..=6 {
        ana.says(&format!("message {n}")).await;
    }
    phone
        .wait_for_message(&id, "inbound", "message 6", WAIT)
        .await;
    let target = phone.last_seq.expect("seq");

    let mut browser = ConsoleSocket::connect(&app, ALICE, Some(last)).await;
    browser.catch_up_to(target, WAIT).await;
    let resync = browser
        .resync
        .clone()
        .expect("the log no longer holds every missed event: resync");
    let oldest = resync["oldest_seq"].as_i64().expect("oldest_seq");
    assert!(oldest > last + 1, "{resync}");
    assert!(
        target - oldest < 3,
        "the log keeps the last 3 events: {resync}, newest {target}"
    );
    assert_eq!(
        browser.received.first().and_then(|e| e["seq"].as_i64()),
        Some(oldest),
        "the events the log still has follow the resync"
    );
}

// 10 ---------------------------------------------------------------------------------------

async fn quick_replies_are_listed_and_sent_by_shortcut() {
    let app = spawn_console_app(|_| {}).await;
    let (alice, mut ws) = online(&app, ALICE).await;

    let listed = alice.quick_replies().await;
    let configured = &app.settings.console.quick_replies;
    assert_eq!(listed.len(), configured.len(), "{listed:?}");
    for (shortcut, reply) in configured {
        let entry = listed
            .iter()
            .find(|q| q["shortcut"] == shortcut.as_str())
            .unwrap_or_else(|| panic!("{shortcut} listed: {listed:?}"));
        assert_eq!(entry["title"], reply.title.as_str());
        assert_eq!(entry["text"], reply.text.as_str());
    }
    let hours = configured["hours"].text.clone();
    let thanks = configured["thanks"].text.clone();

    let customer = Customer::new(&app, "15551000001");
    let id = customer.hands_off_to(SUPPORT).await;
    ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;

    let body = expect_status(201, alice.send_quick_reply(&id, "hours").await);
    assert_eq!(
        message_text(&body["message"]),
        Some(hours.as_str()),
        "{body}"
    );
    customer.wait_for_text(&hours).await;

    expect_error(
        400,
        "bad_request",
        alice.send_quick_reply(&id, "no-such-shortcut").await,
    );

    expect_status(201, alice.send_quick_reply(&id, "thanks").await);
    customer.wait_for_text(&thanks).await;
    let texts = customer.texts();
    let at = texts.iter().position(|t| *t == hours).expect("hours sent");
    assert_eq!(
        &texts[at + 1..],
        std::slice::from_ref(&thanks),
        "nothing was sent for the unknown shortcut"
    );
    // Both replies are in the transcript (every reply is recorded before it is sent, the second
    // one too, although it changes nothing else about the conversation).
    let shown = alice.conversation(&id).await;
    let replies: Vec<&str> = shown["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["sender"] == "agent" && m["direction"] == "outbound")
        .filter_map(message_text)
        .collect();
    assert_eq!(replies, [hours.as_str(), thanks.as_str()], "{shown}");
}

// 11 ---------------------------------------------------------------------------------------

async fn a_customer_near_the_madrid_store_who_lets_us_choose_goes_to_sales() {
    let app = spawn_console_app(|_| {}).await;
    let carla = Console::new(&app, CARLA);

    let customer = Customer::new(&app, "34600111333");
    customer.opens_the_menu().await;
    customer.shares_location(40.4168, -3.7038).await; // Puerta del Sol
    let id = customer.chooses_team("anyone").await;

    let conversation = carla.conversation(&id).await["conversation"].clone();
    assert_eq!(conversation["team"], "sales", "{conversation:#}");
    let route = &conversation["route"];
    assert_eq!(route["team"], "sales", "{conversation:#}");
    let trace = route["trace"].as_array().cloned().unwrap_or_default();
    assert!(
        !trace.is_empty()
            && trace
                .iter()
                .all(|step| step.as_str().is_some_and(|s| !s.is_empty())),
        "the route says why: {route}"
    );
    assert!(ids(&carla.conversations("team=sales").await).contains(&id));
    // Not a support conversation: support agents do not see it.
    expect_error(
        404,
        "not_found",
        Console::new(&app, ALICE)
            .get(&format!("/api/v1/conversations/{id}"))
            .await,
    );
}

async fn a_returning_customer_goes_back_to_the_agent_who_served_them() {
    let app = spawn_console_app(|s| s.routing.prefer_last_agent = true).await;
    let (alice, mut alice_ws) = online(&app, ALICE).await;
    let ana = Customer::new(&app, "15551100001");
    let first = ana.hands_off_to(SUPPORT).await;
    alice_ws.wait_for_conversation(ASSIGNED, &first, WAIT).await;
    let other = hand_off(&app, "15551100002", SUPPORT).await;
    alice_ws.wait_for_conversation(ASSIGNED, &other, WAIT).await;
    expect_status(201, alice.reply(&first, "Sorted, have a nice day").await);
    expect_status(200, alice.resolve(&first).await);

    // Bob comes online with nothing on his plate: least busy would pick him...
    let (bob, _bob_ws) = online(&app, BOB).await;
    assert_eq!(bob.me().await["load"], 0);
    assert_eq!(alice.me().await["load"], 1);

    // ...but Ana comes back, and Alice served her last.
    let again = ana.hands_off_to(SUPPORT).await;
    assert_ne!(again, first, "a new conversation");
    let assigned = alice_ws.wait_for_conversation(ASSIGNED, &again, WAIT).await;
    let conversation = &assigned["data"]["conversation"];
    assert_eq!(conversation["assignee"], "alice", "{conversation:#}");
    assert_eq!(
        conversation["route"]["preferred_agent"], "alice",
        "{conversation:#}"
    );
    let detail = alice.conversation(&again).await;
    assert!(
        ids(detail["history"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default())
        .contains(&first),
        "her earlier conversation is in the history: {detail:#}"
    );
    // Two conversations on one number: one identity, from the first.
    let identities = &detail["contact"]["identities"];
    assert_eq!(identities.as_array().map(Vec::len), Some(1), "{detail:#}");
    assert_eq!(identities[0]["kind"], "whatsapp", "{identities}");
    assert_eq!(identities[0]["address"], "15551100001", "{identities}");
    assert!(identities[0]["channel"].is_string(), "{identities}");
    assert!(identities[0]["first_seen"].is_i64(), "{identities}");
    assert_eq!(bob.me().await["load"], 0);
    assert_eq!(
        bob.conversation(&again).await["conversation"]["assignee"],
        "alice"
    );
}

async fn a_customers_history_shows_only_conversations_the_agent_may_open() {
    let app = spawn_console_app(|s| s.routing.prefer_last_agent = false).await;
    let (alice, mut alice_ws) = online(&app, ALICE).await;
    let (carla, mut carla_ws) = online(&app, CARLA).await;
    let ana = Customer::new(&app, "15551400001");
    let support = ana.hands_off_to(SUPPORT).await;
    alice_ws
        .wait_for_conversation(ASSIGNED, &support, WAIT)
        .await;
    expect_status(200, alice.resolve(&support).await);
    let sales = ana.hands_off_to("sales").await;
    assert_ne!(sales, support, "a new conversation");
    carla_ws.wait_for_conversation(OFFERED, &sales, WAIT).await;
    expect_status(200, carla.accept(&sales).await);

    let history = |detail: &Value| {
        ids(detail["history"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default())
    };
    // Carla (sales) may not open the support conversation: it is not in her view of Ana.
    let detail = carla.conversation(&sales).await;
    assert!(
        !history(&detail).contains(&support),
        "another team's conversation in the history: {detail:#}"
    );
    expect_error(
        404,
        "not_found",
        carla.get(&format!("/api/v1/conversations/{support}")).await,
    );
    // Alice (support) sees her own, without the sales one.
    let detail = alice.conversation(&support).await;
    assert!(
        !history(&detail).contains(&sales),
        "another team's conversation in the history: {detail:#}"
    );
    expect_error(
        404,
        "not_found",
        alice.get(&format!("/api/v1/conversations/{sales}")).await,
    );
    // Bob is in support too: he sees the support conversation in the history of a later one.
    expect_status(200, carla.resolve(&sales).await);
    let again = ana.hands_off_to(SUPPORT).await;
    alice_ws.wait_for_conversation(ASSIGNED, &again, WAIT).await;
    let detail = Console::new(&app, BOB).conversation(&again).await;
    let seen = history(&detail);
    assert!(seen.contains(&support), "{detail:#}");
    assert!(!seen.contains(&sales), "{detail:#}");
}

// 12 ---------------------------------------------------------------------------------------

async fn metrics_show_queues_assignment_response_agents_sessions_and_offers() {
    use switchboard::metrics::{
        AGENTS, FIRST_RESPONSE, OFFERS, QUEUE_DEPTH, TIME_TO_ASSIGN, WEBSOCKET_SESSIONS,
    };
    let app = spawn_console_app(|_| {}).await;

    // The full path in support...
    let (alice, mut alice_ws) = online(&app, ALICE).await;
    let customer = Customer::new(&app, "15551200001");
    let id = customer.hands_off_to(SUPPORT).await;
    alice_ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    expect_status(201, alice.reply(&id, "Hello from Alice").await);
    customer.wait_for_text("Hello from Alice").await;
    alice
        .wait_conversation(&id, "the first response recorded", WAIT, |d| {
            d["conversation"]["first_response_at"].is_i64()
        })
        .await;
    // ...and an offer in sales, accepted.
    let (carla, mut carla_ws) = online(&app, CARLA).await;
    let sale = hand_off(&app, "15551200002", "sales").await;
    carla_ws.wait_for_conversation(OFFERED, &sale, WAIT).await;
    expect_status(200, carla.accept(&sale).await);
    carla_ws.wait_for_conversation(ASSIGNED, &sale, WAIT).await;

    let metrics = app.metrics().await;
    for name in [
        QUEUE_DEPTH,
        TIME_TO_ASSIGN,
        AGENTS,
        WEBSOCKET_SESSIONS,
        FIRST_RESPONSE,
        OFFERS,
    ] {
        assert!(metrics.contains(name), "{name} in /metrics:\n{metrics}");
    }
    let at_least_one = |name: &str, labels: &[(&str, &str)]| {
        let value = metric_value(&metrics, name, labels);
        assert!(
            value.is_some_and(|v| v >= 1.0),
            "{name}{labels:?} = {value:?}:\n{metrics}"
        );
    };
    at_least_one(&format!("{TIME_TO_ASSIGN}_count"), &[("team", SUPPORT)]);
    at_least_one(&format!("{FIRST_RESPONSE}_count"), &[("team", SUPPORT)]);
    // People's times have buckets up to a day (an overnight queue is not lost in +Inf).
    for name in [TIME_TO_ASSIGN, FIRST_RESPONSE] {
        at_least_one(
            &format!("{name}_bucket"),
            &[("team", SUPPORT), ("le", "86400")],
        );
        at_least_one(
            &format!("{name}_bucket"),
            &[("team", SUPPORT), ("le", "3600")],
        );
    }
    at_least_one(OFFERS, &[("outcome", "accepted")]);
    at_least_one(AGENTS, &[("presence", "online")]);
    at_least_one(WEBSOCKET_SESSIONS, &[]);
    assert!(
        metric_value(&metrics, QUEUE_DEPTH, &[("team", SUPPORT)]).is_some(),
        "the support queue's depth:\n{metrics}"
    );
}

in_both_modes!(
    a_customer_reaches_an_agent_and_they_talk_both_ways,
    a_busy_team_queues_customers_in_order_and_tells_them_their_place,
    an_agent_going_online_takes_the_waiting_conversation_at_once,
    an_agent_whose_consoles_are_all_closed_goes_offline_by_itself,
    offers_expire_to_the_next_agent_and_are_accepted_or_rejected,
    a_conversation_is_transferred_to_another_team_and_to_another_agent,
    snoozing_frees_the_agent_and_the_conversation_comes_back_on_time_or_when_the_customer_writes,
    a_private_note_stays_in_the_console_and_never_reaches_the_customer,
    only_the_right_agents_see_and_answer_a_conversation,
    a_reconnecting_console_gets_what_it_missed_and_every_session_gets_everything,
    a_console_that_missed_more_than_the_log_keeps_is_told_to_resync,
    quick_replies_are_listed_and_sent_by_shortcut,
    a_customer_near_the_madrid_store_who_lets_us_choose_goes_to_sales,
    a_returning_customer_goes_back_to_the_agent_who_served_them,
    metrics_show_queues_assignment_response_agents_sessions_and_offers,
    a_customers_history_shows_only_conversations_the_agent_may_open,
);
