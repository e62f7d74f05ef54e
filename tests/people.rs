//! People and permissions over real HTTP and websockets, in both modes: email and password
//! login, sessions and personal API tokens, brute-force limits and lockout, the admin API
//! (users, teams, memberships) taking effect on assignment at once, roles and private teams,
//! masked numbers in every response and event, and the audit log.

mod common;

use common::console::*;
use common::*;
use serde_json::{Value, json};

const ADMIN: &str = "admin@example.com";
const SAM: &str = "sam@example.com";
const ALICE_EMAIL: &str = "alice@example.com";

/// A customer whose number the masking tests look for.
const MASKED_WA: &str = "34612345612";

async fn admin(app: &TestApp) -> Console {
    Console::login(app, ADMIN, DEMO_PASSWORD).await
}

async fn audit(admin: &Console, query: &str) -> Vec<Value> {
    let body = expect_status(
        200,
        admin.get(&format!("/api/v1/admin/audit?{query}")).await,
    );
    body["entries"].as_array().cloned().unwrap_or_default()
}

async fn login_and_sessions() {
    let app = spawn_console_app(|_| {}).await;
    let anonymous = Console::anonymous(&app);

    // The contract: 200 {token, user: {id, name, email, role, language}}.
    let (status, body) = anonymous
        .post(
            "/api/v1/auth/login",
            json!({ "email": "Alice@Example.com ", "password": DEMO_PASSWORD }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["token"].as_str().is_some_and(|t| t.len() > 32),
        "{body}"
    );
    assert_eq!(body["user"]["id"], "alice");
    assert_eq!(body["user"]["email"], ALICE_EMAIL);
    assert_eq!(body["user"]["role"], "agent");
    assert_eq!(body["user"]["language"], "en");
    assert_eq!(body["user"]["name"], "Alice Martin");

    // A wrong password and an unknown email look the same.
    let wrong = anonymous
        .post(
            "/api/v1/auth/login",
            json!({ "email": ALICE_EMAIL, "password": "not-the-password" }),
        )
        .await;
    let unknown = anonymous
        .post(
            "/api/v1/auth/login",
            json!({ "email": "nobody@example.com", "password": "not-the-password" }),
        )
        .await;
    assert_eq!(wrong, unknown, "the same answer for both");
    expect_error(401, "unauthorized", wrong);
    expect_error(
        400,
        "bad_request",
        anonymous
            .post("/api/v1/auth/login", json!({ "email": 1 }))
            .await,
    );

    // A session works everywhere a token does, the websocket included.
    let alice = Console::login(&app, ALICE_EMAIL, DEMO_PASSWORD).await;
    let me = expect_status(200, alice.get("/api/v1/me").await);
    assert_eq!(me["user"]["id"], "alice");
    assert_eq!(me["user"]["via"], "session");
    assert_eq!(me["agent"]["teams"], json!(["support"]));
    let socket = ConsoleSocket::connect(&app, alice.token(), None).await;
    assert_eq!(socket.agent, "alice");
    socket.close().await;

    // Two sessions; "log out" ends one, "log out all my sessions" the rest.
    let second = Console::login(&app, ALICE_EMAIL, DEMO_PASSWORD).await;
    let sessions = expect_status(200, alice.get("/api/v1/auth/sessions").await);
    let sessions = sessions["sessions"].as_array().cloned().unwrap_or_default();
    // The first login of this test, Alice's console and the second one.
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    assert_eq!(
        sessions.iter().filter(|s| s["current"] == true).count(),
        1,
        "{sessions:?}"
    );
    expect_status(204, alice.post_empty("/api/v1/auth/logout").await);
    expect_error(401, "unauthorized", alice.get("/api/v1/me").await);
    expect_status(200, second.get("/api/v1/me").await);
    let third = Console::login(&app, ALICE_EMAIL, DEMO_PASSWORD).await;
    let ended = expect_status(200, third.delete("/api/v1/auth/sessions").await);
    assert_eq!(ended["ended"], 3);
    expect_error(401, "unauthorized", second.get("/api/v1/me").await);
    expect_error(401, "unauthorized", third.get("/api/v1/me").await);

    // Every step is in the audit log, with the address it came from.
    let admin = admin(&app).await;
    let logins = audit(&admin, "action=login.success&actor=alice").await;
    assert_eq!(logins.len(), 4, "{logins:?}");
    assert!(logins[0]["address"].as_str().is_some(), "{logins:?}");
    let failures = audit(&admin, "action=login.failure").await;
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(!audit(&admin, "action=logout.all").await.is_empty());
}

async fn demo_tokens_are_personal_api_tokens() {
    let app = spawn_console_app(|_| {}).await;
    let alice = Console::new(&app, ALICE);
    let me = expect_status(200, alice.get("/api/v1/me").await);
    assert_eq!(me["user"]["id"], "alice");
    assert_eq!(me["user"]["via"], "api_token");

    // A new token is shown once, works, is listed without its secret, and can be revoked.
    let created = expect_status(
        201,
        alice
            .post("/api/v1/me/tokens", json!({ "name": "my script" }))
            .await,
    );
    let token = created["token"]["token"].as_str().expect("the token, once");
    let id = created["token"]["id"].as_str().expect("its id");
    let script = Console::new(&app, token);
    assert_eq!(
        expect_status(200, script.get("/api/v1/me").await)["user"]["id"],
        "alice"
    );
    let listed = expect_status(200, alice.get("/api/v1/me/tokens").await);
    let listed = listed.to_string();
    assert!(listed.contains("my script") && listed.contains("configured token"));
    assert!(!listed.contains(token), "a token is never shown twice");
    expect_status(204, alice.delete(&format!("/api/v1/me/tokens/{id}")).await);
    expect_error(401, "unauthorized", script.get("/api/v1/me").await);
    // Logging out is for sessions.
    expect_error(
        400,
        "bad_request",
        alice.post_empty("/api/v1/auth/logout").await,
    );
}

async fn brute_force_is_throttled_and_repeated_failures_lock_the_account() {
    let app = spawn_console_app(|s| {
        s.security.lockout_after_failures = 3;
        s.security.lockout_minutes = 60;
        s.security.auth_failures_per_credential = 100;
        s.security.auth_failures_per_address = 100;
    })
    .await;
    let anonymous = Console::anonymous(&app);
    let attempt = |password: &'static str| {
        let anonymous = &anonymous;
        async move {
            anonymous
                .post(
                    "/api/v1/auth/login",
                    json!({ "email": "bob@example.com", "password": password }),
                )
                .await
        }
    };
    for _ in 0..3 {
        expect_error(401, "unauthorized", attempt("guess").await);
    }
    // Locked: even the right password is refused, with Retry-After.
    let response = app
        .client
        .post(format!("{}/api/v1/auth/login", app.address))
        .json(&json!({ "email": "bob@example.com", "password": DEMO_PASSWORD }))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status().as_u16(), 429);
    let retry: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(retry > 60, "locked for the configured hour: {retry}");

    // An admin lifts the lockout; the audit says who.
    let admin = admin(&app).await;
    let user = expect_status(200, admin.get("/api/v1/admin/users/bob").await);
    assert!(user["user"]["locked_until"].as_i64().is_some(), "{user}");
    expect_status(
        200,
        admin
            .patch("/api/v1/admin/users/bob", json!({ "locked_until": null }))
            .await,
    );
    Console::login(&app, "bob@example.com", DEMO_PASSWORD).await;
    let unlocks = audit(&admin, "action=user.unlock").await;
    assert_eq!(unlocks.len(), 1, "{unlocks:?}");
    assert_eq!(unlocks[0]["actor"], "admin");

    // Per address: the shared limiter answers 429 once an address failed too often.
    let app = spawn_console_app(|s| {
        s.security.auth_failures_per_address = 4;
        s.security.auth_failures_per_credential = 100;
        s.security.lockout_after_failures = 100;
    })
    .await;
    let anonymous = Console::anonymous(&app);
    for i in 0..4 {
        let email = format!("nobody{i}@example.com");
        expect_error(
            401,
            "unauthorized",
            anonymous
                .post(
                    "/api/v1/auth/login",
                    json!({ "email": email, "password": "x" }),
                )
                .await,
        );
    }
    expect_error(
        429,
        "too_many_requests",
        anonymous
            .post(
                "/api/v1/auth/login",
                json!({ "email": ALICE_EMAIL, "password": DEMO_PASSWORD }),
            )
            .await,
    );
}

async fn admins_manage_people_and_assignment_follows_at_once() {
    let app = spawn_console_app(|_| {}).await;

    let admin = admin(&app).await;

    // Only admins administer.
    for who in [
        Console::new(&app, ALICE),
        Console::login(&app, SAM, DEMO_PASSWORD).await,
    ] {
        expect_error(403, "forbidden", who.get("/api/v1/admin/users").await);
        expect_error(
            403,
            "forbidden",
            who.post("/api/v1/admin/teams", json!({ "id": "x", "name": "X" }))
                .await,
        );
    }

    // Bad input: a clear error, nothing changed.
    for bad in [
        json!({ "name": "Dana", "email": "not-an-email" }),
        json!({ "name": "Dana", "email": "dana@example.com", "teams": ["nope"] }),
        json!({ "name": "Dana", "email": "dana@example.com", "time_zone": "Mars/Base" }),
        json!({ "name": "Dana", "email": "dana@example.com", "password": "short" }),
        json!({ "name": "Dana", "email": "dana@example.com", "role": "emperor" }),
        json!({ "name": "Dana", "email": ALICE_EMAIL }),
    ] {
        let (status, body) = admin.post("/api/v1/admin/users", bad.clone()).await;
        assert!(status == 400 || status == 409, "{bad} → {status} {body}");
    }
    let users = expect_status(200, admin.get("/api/v1/admin/users").await);
    assert_eq!(users["users"].as_array().map(Vec::len), Some(5), "{users}");

    // A new agent in support, logged in and online, gets the next support conversation.
    let created = expect_status(
        201,
        admin
            .post(
                "/api/v1/admin/users",
                json!({
                    "id": "dana",
                    "name": "Dana Diaz",
                    "email": "Dana@Example.com",
                    "password": "dana-password-1",
                    "teams": ["support"],
                    "capacity": 1,
                    "time_zone": "Europe/Madrid",
                    "language": "es",
                }),
            )
            .await,
    );
    assert_eq!(created["user"]["id"], "dana");
    assert_eq!(created["user"]["email"], "dana@example.com");
    let shown = created.to_string();
    assert!(
        !shown.contains("dana-password-1") && !shown.contains("argon2"),
        "{shown}"
    );
    let dana = Console::login(&app, "dana@example.com", "dana-password-1").await;
    dana.set_presence("online").await;
    let first = hand_off(&app, "34600000001", "support").await;
    dana.wait_status(&first, "assigned", AT_ONCE).await;

    // Capacity 1 is full: the next one waits; raising it takes the waiting one at once.
    let second = hand_off(&app, "34600000002", "support").await;
    dana.wait_status(&second, "waiting", AT_ONCE).await;
    expect_status(
        200,
        admin
            .patch("/api/v1/admin/users/dana", json!({ "capacity": 2 }))
            .await,
    );
    dana.wait_status(&second, "assigned", AT_ONCE).await;

    // Lowering it below the load keeps both, takes no new one.
    expect_status(
        200,
        admin
            .patch("/api/v1/admin/users/dana", json!({ "capacity": 1 }))
            .await,
    );
    let third = hand_off(&app, "34600000003", "support").await;
    dana.wait_status(&third, "waiting", AT_ONCE).await;
    let me = dana.me().await;
    assert_eq!(me["load"], 2, "{me}");

    // Deactivated: Dana is out, her conversations go back to support and to Bob, online now.
    let bob = Console::new(&app, BOB);
    bob.set_presence("online").await;
    // Bob takes the waiting one at once (his capacity is 3).
    bob.wait_status(&third, "assigned", AT_ONCE).await;
    expect_status(204, admin.delete("/api/v1/admin/users/dana").await);
    expect_error(401, "unauthorized", dana.get("/api/v1/me").await);
    for id in [&first, &second] {
        bob.wait_conversation(id, "assigned to bob", AT_ONCE, |d| {
            d["conversation"]["status"] == "assigned" && d["conversation"]["assignee"] == "bob"
        })
        .await;
    }
    let denied = Console::anonymous(&app)
        .post(
            "/api/v1/auth/login",
            json!({ "email": "dana@example.com", "password": "dana-password-1" }),
        )
        .await;
    expect_error(401, "unauthorized", denied);

    // The audit log holds every change, with before and after.
    let changes = audit(&admin, "action=user.&actor=admin").await;
    let actions: Vec<&str> = changes
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "user.deactivate",
            "user.update",
            "user.update",
            "user.create"
        ],
        "newest first: {changes:?}"
    );
    assert_eq!(changes[2]["before"]["capacity"], 1);
    assert_eq!(changes[2]["after"]["capacity"], 2);
    assert!(!changes.iter().any(|e| e.to_string().contains("argon2")));
    // Paged.
    let page = audit(&admin, "limit=2").await;
    assert_eq!(page.len(), 2);
    let next = page[1]["id"].as_i64().expect("id");
    let older = audit(&admin, &format!("limit=2&before={next}")).await;
    assert!(older.iter().all(|e| e["id"].as_i64() < Some(next)));
    // The log is append-only: no route changes it.
    let (status, _) = admin.delete("/api/v1/admin/audit").await;
    assert!(status == 404 || status == 405, "{status}");
}

async fn teams_change_at_runtime_and_a_busy_team_cannot_be_deleted() {
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    let created = expect_status(
        201,
        admin
            .post(
                "/api/v1/admin/teams",
                json!({
                    "id": "vip",
                    "name": "VIP",
                    "strategy": "least_busy",
                    "members": ["carla"],
                    "supervisors": ["sam"],
                }),
            )
            .await,
    );
    assert_eq!(created["team"]["members"], json!(["carla"]));
    assert_eq!(created["team"]["supervisors"], json!(["sam"]));
    expect_error(
        409,
        "conflict",
        admin
            .post(
                "/api/v1/admin/teams",
                json!({ "id": "vip", "name": "Again" }),
            )
            .await,
    );
    // Carla now serves vip too: an agent of vip sees it in her teams at once.
    let carla = Console::new(&app, CARLA);
    let teams = carla.teams().await;
    assert!(teams.iter().any(|t| t["id"] == "vip"), "{teams:?}");
    let me = carla.me().await;
    assert_eq!(me["teams"], json!(["sales", "vip"]), "{me}");

    // A conversation transferred there keeps it busy: deleting it is refused.
    carla.set_presence("online").await;
    let id = hand_off(&app, "34600000011", "sales").await;
    // Sales offers: Carla accepts.
    let deadline = tokio::time::Instant::now() + AT_ONCE;
    while carla.accept(&id).await.0 != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never offered to Carla"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    carla.wait_status(&id, "assigned", AT_ONCE).await;
    expect_status(200, carla.transfer_team(&id, "vip").await);
    carla.wait_status(&id, "assigned", AT_ONCE).await;
    expect_error(
        409,
        "conflict",
        admin.delete("/api/v1/admin/teams/vip").await,
    );
    expect_status(200, carla.resolve(&id).await);
    expect_status(
        200,
        admin
            .patch(
                "/api/v1/admin/teams/vip",
                json!({ "strategy": "round_robin" }),
            )
            .await,
    );
    expect_status(204, admin.delete("/api/v1/admin/teams/vip").await);
    expect_error(
        404,
        "not_found",
        admin.delete("/api/v1/admin/teams/vip").await,
    );
    let me = carla.me().await;
    assert_eq!(me["teams"], json!(["sales"]), "{me}");
    // The routing's default team is never deleted.
    expect_error(
        409,
        "conflict",
        admin.delete("/api/v1/admin/teams/support").await,
    );
}

async fn private_teams_and_supervisors() {
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    let alice = Console::new(&app, ALICE);
    let bob = Console::new(&app, BOB);
    alice.set_presence("online").await;
    let alices = hand_off(&app, "34600000021", "support").await;
    alice.wait_status(&alices, "assigned", AT_ONCE).await;
    // Bob (support too) sees it in the public team, but may not act on it.
    expect_status(
        200,
        bob.get(&format!("/api/v1/conversations/{alices}")).await,
    );
    expect_error(403, "forbidden", bob.resolve(&alices).await);
    expect_error(403, "forbidden", bob.note(&alices, "mine now").await);
    // Carla (sales) does not even know it exists.
    let carla = Console::new(&app, CARLA);
    expect_error(
        404,
        "not_found",
        carla.get(&format!("/api/v1/conversations/{alices}")).await,
    );

    // Support becomes private: Bob sees neither its list nor its queue nor Alice's
    // conversation; Alice still sees hers.
    expect_status(
        200,
        admin
            .patch("/api/v1/admin/teams/support", json!({ "private": true }))
            .await,
    );
    // Alice steps away: the next support customer waits in the queue.
    alice.set_presence("away").await;
    let waiting = hand_off(&app, "34600000022", "support").await;
    admin.wait_status(&waiting, "waiting", AT_ONCE).await;
    expect_error(
        404,
        "not_found",
        bob.get(&format!("/api/v1/conversations/{alices}")).await,
    );
    expect_error(
        404,
        "not_found",
        bob.get(&format!("/api/v1/conversations/{waiting}")).await,
    );
    assert!(bob.conversations("team=support").await.is_empty());
    let support = bob
        .teams()
        .await
        .into_iter()
        .find(|t| t["id"] == "support")
        .expect("bob still sees his team");
    assert_eq!(support["queue"], json!([]), "{support}");
    expect_status(
        200,
        alice.get(&format!("/api/v1/conversations/{alices}")).await,
    );

    // Sam supervises support: sees everything, reassigns, forces presence; audited.
    let sam = Console::login(&app, SAM, DEMO_PASSWORD).await;
    let listed = sam.conversations("team=support").await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let board = sam.teams().await;
    let support = board
        .iter()
        .find(|t| t["id"] == "support")
        .expect("support");
    assert_eq!(support["queue"], json!([waiting]), "{support}");
    let before = chrono::Utc::now().timestamp_millis();
    expect_status(
        200,
        sam.put(
            "/api/v1/agents/bob/presence",
            json!({ "presence": "online" }),
        )
        .await,
    );
    let after = chrono::Utc::now().timestamp_millis();
    // The board dates the change: the supervisor sees how long Bob has been online.
    let board = sam.teams().await;
    let bob_on_board = board
        .iter()
        .find(|t| t["id"] == "support")
        .and_then(|t| t["agents"].as_array())
        .and_then(|agents| agents.iter().find(|a| a["id"] == "bob"))
        .cloned()
        .expect("bob on the board");
    assert_eq!(bob_on_board["presence"], "online", "{bob_on_board}");
    let since = bob_on_board["presence_since"]
        .as_i64()
        .expect("a time in status");
    assert!(
        (before..=after).contains(&since),
        "{before} <= {since} <= {after}"
    );
    // Sam watches (Bob cannot see the waiting conversation of a private team until it is his).
    sam.wait_conversation(&waiting, "assigned to bob", AT_ONCE, |d| {
        d["conversation"]["status"] == "assigned" && d["conversation"]["assignee"] == "bob"
    })
    .await;
    expect_status(200, sam.transfer_agent(&alices, "bob").await);
    let moved = bob.wait_status(&alices, "assigned", AT_ONCE).await;
    assert_eq!(moved["assignee"], "bob");
    // Sam may not reply to a conversation he does not hold; Alice may no longer touch it.
    expect_error(403, "forbidden", sam.reply(&alices, "hi").await);
    expect_error(404, "not_found", alice.resolve(&alices).await);
    // An agent may not force anyone's presence.
    expect_error(
        403,
        "forbidden",
        alice
            .put("/api/v1/agents/bob/presence", json!({ "presence": "away" }))
            .await,
    );
    let entries = audit(&admin, "actor=sam").await;
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"presence.force"), "{actions:?}");
    assert!(actions.contains(&"conversation.reassign"), "{actions:?}");
}

/// Every string of every console answer and event an agent of a masked team gets, checked
/// for the customer's number in any form.
fn assert_masked(what: &str, value: &Value) {
    let text = value.to_string();
    for form in [MASKED_WA, "612345612", "612 34 56 12"] {
        assert!(!text.contains(form), "{what} leaks {form}: {text}");
    }
}

async fn masked_numbers_never_reach_a_masked_agent() {
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    expect_status(
        200,
        admin
            .patch(
                "/api/v1/admin/teams/support",
                json!({ "mask_numbers": true }),
            )
            .await,
    );
    let alice = Console::new(&app, ALICE);
    alice.set_presence("online").await;
    let mut socket = ConsoleSocket::connect(&app, ALICE, None).await;
    let customer = Customer::new(&app, MASKED_WA);
    let id = customer.hands_off_to("support").await;
    alice.wait_status(&id, "assigned", AT_ONCE).await;
    customer
        .says("my order is 7781, call me on the number I write from")
        .await;
    socket.wait_for_kind(MESSAGE_CREATED, AT_ONCE).await;
    expect_status(201, alice.reply(&id, "On it").await);
    expect_status(201, alice.note(&id, "checking the order").await);

    // Every endpoint an agent uses.
    let detail = alice.conversation(&id).await;
    assert_eq!(
        detail["conversation"]["customer"]["id"], "+34 6•• ••• •12",
        "{detail}"
    );
    for (what, value) in [
        ("GET /me", expect_status(200, alice.get("/api/v1/me").await)),
        (
            "GET /teams",
            expect_status(200, alice.get("/api/v1/teams").await),
        ),
        (
            "GET /conversations",
            expect_status(200, alice.get("/api/v1/conversations").await),
        ),
        ("GET /conversations/{id}", detail.clone()),
        (
            "search by the last digits",
            expect_status(200, alice.get("/api/v1/conversations?phone=5612").await),
        ),
        (
            "POST /messages",
            expect_status(201, alice.reply(&id, "One more thing").await),
        ),
        (
            "POST /notes",
            expect_status(201, alice.note(&id, "another note").await),
        ),
        (
            "GET /quick-replies",
            expect_status(200, alice.get("/api/v1/quick-replies").await),
        ),
        (
            "POST /messages (quick reply)",
            expect_status(201, alice.send_quick_reply(&id, "hours").await),
        ),
    ] {
        assert_masked(what, &value);
    }
    let found = alice.conversations("phone=5612").await;
    assert_eq!(
        found.len(),
        1,
        "searching by the last digits finds it: {found:?}"
    );
    assert!(alice.conversations("phone=9999").await.is_empty());

    // Resolving and every event the websocket pushed, and the log a reconnect replays.
    let resolved = expect_status(200, alice.resolve(&id).await);
    assert_masked("POST /resolve", &resolved);
    socket.wait_for_kind(UPDATED, AT_ONCE).await;
    for event in &socket.received {
        assert_masked("a websocket event", event);
    }
    assert!(socket.received.len() >= 4, "{:?}", socket.received);
    socket.close().await;
    let replay = ConsoleSocket::connect(&app, ALICE, Some(0)).await;
    for event in &replay.received {
        assert_masked("a replayed event", event);
    }

    // A supervisor sees it masked too, and reveals it on purpose: audited.
    let sam = Console::login(&app, SAM, DEMO_PASSWORD).await;
    assert_masked("the supervisor's view", &sam.conversation(&id).await);
    let revealed = expect_status(
        200,
        sam.post_empty(&format!("/api/v1/conversations/{id}/reveal"))
            .await,
    );
    assert_eq!(revealed["customer"], MASKED_WA);
    expect_error(
        403,
        "forbidden",
        alice
            .post_empty(&format!("/api/v1/conversations/{id}/reveal"))
            .await,
    );
    let reveals = audit(&admin, "action=number.reveal").await;
    assert_eq!(reveals.len(), 1, "{reveals:?}");
    assert_eq!(reveals[0]["actor"], "sam");
    assert_eq!(reveals[0]["target"], id.as_str());

    // An unmasked team shows numbers as they are.
    let carla = Console::new(&app, CARLA);
    carla.set_presence("online").await;
    let sales = hand_off(&app, "34699988877", "sales").await;
    let view = carla.conversation(&sales).await;
    assert_eq!(view["conversation"]["customer"]["id"], "34699988877");
}

async fn password_reset_links_are_single_use() {
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    // An invited user without a password gets a one-time link.
    let created = expect_status(
        201,
        admin
            .post(
                "/api/v1/admin/users",
                json!({ "id": "erin", "name": "Erin", "email": "erin@example.com", "teams": ["sales"] }),
            )
            .await,
    );
    let token = created["invite"]["token"]
        .as_str()
        .expect("an invite token");
    assert!(
        created["invite"]["url"]
            .as_str()
            .is_some_and(|u| u.contains(token))
    );
    let anonymous = Console::anonymous(&app);
    expect_error(
        400,
        "bad_request",
        anonymous
            .post(
                "/api/v1/auth/reset",
                json!({ "token": token, "password": "short" }),
            )
            .await,
    );
    expect_status(
        204,
        anonymous
            .post(
                "/api/v1/auth/reset",
                json!({ "token": token, "password": "erin-password-1" }),
            )
            .await,
    );
    expect_error(
        401,
        "unauthorized",
        anonymous
            .post(
                "/api/v1/auth/reset",
                json!({ "token": token, "password": "erin-password-2" }),
            )
            .await,
    );
    let erin = Console::login(&app, "erin@example.com", "erin-password-1").await;
    // Forced logout by an admin.
    let ended = expect_status(
        200,
        admin.post_empty("/api/v1/admin/users/erin/logout").await,
    );
    assert_eq!(ended["ended"], 1);
    expect_error(401, "unauthorized", erin.get("/api/v1/me").await);
    // Changing one's own password needs the current one.
    let erin = Console::login(&app, "erin@example.com", "erin-password-1").await;
    expect_error(
        403,
        "forbidden",
        erin.post(
            "/api/v1/auth/password",
            json!({ "current_password": "wrong", "new_password": "erin-password-3" }),
        )
        .await,
    );
    expect_status(
        204,
        erin.post(
            "/api/v1/auth/password",
            json!({ "current_password": "erin-password-1", "new_password": "erin-password-3" }),
        )
        .await,
    );
    Console::login(&app, "erin@example.com", "erin-password-3").await;
}

/// YAML seeds an empty store once; after that the store is the truth (embedded mode, where a
/// restart keeps the database file).
#[actix_rt::test]
async fn the_store_is_the_truth_after_the_first_start() {
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    expect_status(
        200,
        admin
            .patch("/api/v1/admin/users/alice", json!({ "capacity": 7 }))
            .await,
    );
    let (mut settings, graph, db_path, dir) = app.stop().await;
    // The YAML changes; the store does not follow it.
    if let Some(alice) = settings.agents.get_mut("alice") {
        alice.capacity = 1;
    }
    settings.agents.remove("bob");
    let mut app = TestApp::start(settings, graph, db_path).await;
    app.keep_dir(dir);
    let admin = Console::login(&app, ADMIN, DEMO_PASSWORD).await;
    let alice = expect_status(200, admin.get("/api/v1/admin/users/alice").await);
    assert_eq!(alice["user"]["capacity"], 7, "{alice}");
    expect_status(200, admin.get("/api/v1/admin/users/bob").await);
    assert_eq!(Console::new(&app, BOB).me().await["id"], "bob");
}

async fn admins_reload_the_flows_and_rules_and_it_is_audited() {
    let app = spawn_console_app(|_| {}).await;
    expect_error(
        403,
        "forbidden",
        Console::new(&app, ALICE)
            .post_empty("/api/v1/admin/reload")
            .await,
    );
    let admin = admin(&app).await;
    // The demo files are valid: the report names the new fingerprint (the swap itself is
    // proven against the real binary in tests/reload.rs).
    let body = expect_status(200, admin.post_empty("/api/v1/admin/reload").await);
    assert!(body["reload"]["fingerprint"].as_str().is_some(), "{body}");
    let entries = audit(&admin, "action=config.reload").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["actor"], "admin");
}

/// A database seeded with the demo's people keeps their public passwords and tokens: started
/// in production, the gateway refuses until they are changed, and says which.
#[actix_rt::test]
async fn production_refuses_a_store_holding_demo_credentials() {
    let app = spawn_console_app(|_| {}).await;
    let (mut settings, _graph, _db_path, _dir) = app.stop().await;
    settings.environment = "production".into();
    settings.whatsapp.app_secret = "a-real-app-secret".to_string().into();
    settings.whatsapp.verify_token = "a-real-verify-token".to_string().into();
    settings.whatsapp.access_token = "EAAG-real".to_string().into();
    for bot in settings
        .channels
        .values_mut()
        .filter_map(|c| c.telegram.as_mut())
    {
        bot.bot_token = "987654321:AAH-real-token".to_string().into();
        bot.webhook_secret = "a-real-webhook-secret".to_string().into();
    }
    settings.messenger.app_secret = "a-real-messenger-secret".to_string().into();
    settings.messenger.verify_token = "a-real-messenger-verify-token".to_string().into();
    for page in settings
        .channels
        .values_mut()
        .filter_map(|c| c.messenger.as_mut())
    {
        page.page_access_token = "EAAB-real-page-token".to_string().into();
    }
    settings.instagram.app_secret = "a-real-instagram-secret".to_string().into();
    settings.instagram.verify_token = "a-real-instagram-verify-token".to_string().into();
    for account in settings
        .channels
        .values_mut()
        .filter_map(|c| c.instagram.as_mut())
    {
        account.access_token = "IGAA-real-token".to_string().into();
    }
    settings.x.consumer_secret = "a-real-x-consumer-secret".to_string().into();
    for account in settings.channels.values_mut().filter_map(|c| c.x.as_mut()) {
        account.access_token = "real-x-user-token".to_string().into();
        account.oauth1_access_token_secret = Some("real-x-oauth1-secret".to_string().into());
    }
    for widget in settings
        .channels
        .values_mut()
        .filter_map(|c| c.webchat.as_mut())
    {
        widget.website_token = "a-real-website-token-0123".to_string().into();
    }
    settings.push.subject = "mailto:noc@acme.com".into();
    for app in settings.panel_apps.values_mut() {
        app.secret = "psk_an-operators-own-panel-secret".to_string().into();
        app.url = "https://orders.example.com/panel".into();
    }
    for agent in settings.agents.values_mut() {
        agent.token_sha256 = Some("ab".repeat(32));
        agent.password_argon2 = None;
    }
    settings
        .validate()
        .expect("the YAML itself holds no demo credential");
    let refused = match switchboard::startup::Application::build(settings).await {
        Ok(_) => panic!("production started with demo credentials in its store"),
        Err(e) => e.to_string(),
    };
    assert!(
        refused.contains("the demo password of admin@example.com"),
        "{refused}"
    );
    assert!(refused.contains("the demo API token of alice"), "{refused}");
}

in_both_modes!(
    login_and_sessions,
    demo_tokens_are_personal_api_tokens,
    brute_force_is_throttled_and_repeated_failures_lock_the_account,
    admins_manage_people_and_assignment_follows_at_once,
    teams_change_at_runtime_and_a_busy_team_cannot_be_deleted,
    private_teams_and_supervisors,
    masked_numbers_never_reach_a_masked_agent,
    password_reset_links_are_single_use,
    admins_reload_the_flows_and_rules_and_it_is_audited,
);
