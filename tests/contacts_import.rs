//! Contacts from CSV (`POST /api/v1/contacts/import`), in both modes: rows create and update
//! contacts by phone, email or id, bad rows come back with an `error` column while the others
//! are written, an export imports back unchanged, a tag imported routes the next handoff, only
//! supervisors, admins and keys with `contacts:write` import, a bad file changes nothing, and
//! each import is audited once.

mod common;

use common::TestApp;
use common::console::*;
use serde_json::{Value, json};

const IMPORT: &str = "/api/v1/contacts/import";

/// POST `csv` as `content_type` with `token`: the status and the JSON answer.
async fn post_csv(app: &TestApp, token: &str, content_type: &str, csv: &str) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}{IMPORT}", app.address))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(csv.to_string())
        .send()
        .await
        .expect("answered");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn import(app: &TestApp, token: &str, csv: &str) -> Value {
    expect_status(200, post_csv(app, token, "text/csv", csv).await)
}

async fn export(app: &TestApp, token: &str) -> String {
    let response = app
        .client
        .get(format!("{}/api/v1/contacts/export.csv", app.address))
        .bearer_auth(token)
        .send()
        .await
        .expect("exported");
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.expect("the CSV")
}

fn counts(answer: &Value) -> [u64; 5] {
    ["rows", "created", "updated", "unchanged", "rejected"]
        .map(|k| answer[k].as_u64().unwrap_or(99))
}

async fn audit(app: &TestApp) -> Vec<Value> {
    let admin = Console::login(app, "admin@example.com", DEMO_PASSWORD).await;
    let body = expect_status(
        200,
        admin.get("/api/v1/admin/audit?action=contact.import").await,
    );
    body["entries"].as_array().cloned().unwrap_or_default()
}

/// Sam (supervisor) imports new contacts, then updates them by phone, by email and by id; bad
/// rows come back with why, the good ones are written all the same; each import is one audit
/// entry with its counts.
async fn rows_create_and_update_contacts_and_bad_rows_come_back() {
    let app = spawn_console_app(|_| {}).await;
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;

    let first = import(
        &app,
        sam.token(),
        "\u{feff}phone,email,name,language,tags,field.plan\r\n\
         +34 600 900 001,vera@example.com,Vera,es,vip;gold,pro\r\n\
         34600900002,,Omar,ar,\"new,trial\",\r\n\
         34600900003,not an email,Bad Mail,,,\r\n\
         ,,No Key,,,\r\n\
         ,nobody@example.com,Unknown,,,\r\n\
         34600900004,,\"=HYPERLINK(\"\"x\"\")\",,has space,\r\n",
    )
    .await;
    assert_eq!(counts(&first), [6, 2, 0, 0, 4], "{first}");
    let rejected = first["rejected_csv"].as_str().expect("the rejected rows");
    let lines: Vec<&str> = rejected.split("\r\n").collect();
    assert_eq!(
        lines[0], "phone,email,name,language,tags,field.plan,error",
        "{rejected}"
    );
    assert!(
        lines[1].starts_with("34600900003,not an email,Bad Mail,,,,invalid email"),
        "{rejected}"
    );
    assert_eq!(lines[2], ",,No Key,,,,\"no phone, email or identity\"");
    assert!(
        lines[3].starts_with(",nobody@example.com,Unknown,,,,no contact has this email"),
        "{rejected}"
    );
    // As given, its formula guarded for a spreadsheet; why: the tag.
    assert!(
        lines[4].starts_with("34600900004,,\"'=HYPERLINK(\"\"x\"\")\",,has space,,\"invalid tags"),
        "{rejected}"
    );
    expect_status(404, sam.get("/api/v1/contacts/34600900003").await);
    expect_status(404, sam.get("/api/v1/contacts/34600900004").await);

    let vera = expect_status(200, sam.get("/api/v1/contacts/34600900001").await);
    let vera = &vera["contact"];
    assert_eq!(vera["name"], "Vera");
    assert_eq!(vera["phone"], "34600900001");
    assert_eq!(vera["email"], "vera@example.com");
    assert_eq!(vera["language"], "es");
    assert_eq!(vera["tags"], json!(["vip", "gold"]));
    assert_eq!(vera["fields"]["plan"], "pro");
    let omar = expect_status(200, sam.get("/api/v1/contacts/34600900002").await);
    assert_eq!(omar["contact"]["tags"], json!(["new", "trial"]));

    // By phone (a new name), by email (a new language), by id (nothing new); empty cells keep
    // what is there.
    let second = import(
        &app,
        sam.token(),
        "id,phone,email,name,language\n\
         ,34600900002,,Omar Said,\n\
         ,,VERA@example.com,,pt-BR\n\
         34600900001,,,Vera,\n",
    )
    .await;
    assert_eq!(counts(&second), [3, 0, 2, 1, 0], "{second}");
    assert_eq!(second["rejected_csv"], Value::Null);
    let omar = expect_status(200, sam.get("/api/v1/contacts/34600900002").await);
    assert_eq!(omar["contact"]["name"], "Omar Said");
    assert_eq!(omar["contact"]["language"], "ar");
    assert_eq!(omar["contact"]["tags"], json!(["new", "trial"]));
    let vera = expect_status(200, sam.get("/api/v1/contacts/34600900001").await);
    assert_eq!(vera["contact"]["language"], "pt-BR");
    assert_eq!(vera["contact"]["name"], "Vera");

    // One entry per import, as Sam, with its counts.
    let entries = audit(&app).await;
    assert_eq!(entries.len(), 2, "{entries:#?}");
    assert!(entries.iter().all(|e| e["actor"] == "sam"), "{entries:#?}");
    let counted: Vec<Value> = entries
        .iter()
        .map(|e| e["after"]["created"].clone())
        .collect();
    assert!(counted.contains(&json!(2)), "{entries:#?}");
}

/// An export imports back unchanged: names with formulas, tags, fields, a location, emails.
async fn an_export_imports_back_unchanged() {
    let app = spawn_console_app(|_| {}).await;
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    import(
        &app,
        sam.token(),
        "phone,name,email,language,tags,field.plan,field.seats\n\
         34600910001,\"=HYPERLINK(\"\"x\"\")\",ana@example.com,es,vip;gold,pro,3\n\
         34600910002,\"Ben, the \"\"Boss\"\"\",,en,,,\n\
         34600910003,-minus,,,new,,\n",
    )
    .await;
    expect_status(
        200,
        sam.patch(
            "/api/v1/contacts/34600910002",
            json!({"location": {"latitude": 40.4168, "longitude": -3.7038}}),
        )
        .await,
    );
    let before = export(&app, sam.token()).await;
    let contacts = before.split("\r\n").filter(|l| !l.is_empty()).count() - 1;
    assert!(contacts >= 3, "{before}");
    assert!(before.contains("'=HYPERLINK"), "{before}");

    let again = import(&app, sam.token(), &before).await;
    let n = contacts as u64;
    assert_eq!(counts(&again), [n, 0, 0, n, 0], "{again}");
    assert_eq!(export(&app, sam.token()).await, before);
    let ana = expect_status(200, sam.get("/api/v1/contacts/34600910001").await);
    assert_eq!(ana["contact"]["name"], "=HYPERLINK(\"x\")");
    let ben = expect_status(200, sam.get("/api/v1/contacts/34600910002").await);
    assert_eq!(ben["contact"]["location"]["latitude"], 40.4168);
}

/// A tag imported while the bot talks to a customer routes their handoff (the demo's `vip`
/// rule, priority 10).
async fn an_imported_tag_routes_the_next_handoff() {
    let app = spawn_console_app(|_| {}).await;
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let alice = Console::new(&app, ALICE);
    alice.set_presence("online").await;
    let vera = Customer::new(&app, "34600920001");
    vera.opens_the_menu().await;
    let answer = import(&app, sam.token(), "phone,tags\n34600920001,VIP\n").await;
    assert_eq!(counts(&answer), [1, 0, 1, 0, 0], "{answer}");
    let id = vera.chooses_team("support").await;
    let view = alice
        .wait_conversation(&id, "assigned to alice", WAIT, |d| {
            d["conversation"]["status"] == "assigned"
        })
        .await;
    assert_eq!(view["conversation"]["route"]["priority"], 10, "{view}");
}

/// Agents and keys without `contacts:write` may not import; a key with it may (audited as the
/// key). A bad header, a file too large or not CSV changes nothing.
async fn who_may_import_and_bad_files_change_nothing() {
    let app = spawn_console_app(|_| {}).await;
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let csv = "phone,name\n34600930001,Ana\n";

    expect_status(403, post_csv(&app, ALICE, "text/csv", csv).await);
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let key = |scopes: &[&str]| {
        let admin = &admin;
        let body = json!({"name": format!("import {}", scopes.join(" ")), "scopes": scopes});
        async move {
            let created = expect_status(201, admin.post("/api/v1/admin/api-keys", body).await);
            let key = &created["api_key"];
            (
                key["id"].as_str().unwrap_or_default().to_owned(),
                key["token"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    let (_, reader) = key(&["contacts:read"]).await;
    expect_status(403, post_csv(&app, &reader, "text/csv", csv).await);

    // Refused files: nothing is written.
    expect_status(
        400,
        post_csv(
            &app,
            sam.token(),
            "text/csv",
            "phone,colour\n34600930001,red\n",
        )
        .await,
    );
    expect_status(
        400,
        post_csv(&app, sam.token(), "text/csv", "name,tags\nAna,vip\n").await,
    );
    expect_status(
        400,
        post_csv(&app, sam.token(), "text/csv", "phone,phone\n1,2\n").await,
    );
    expect_status(400, post_csv(&app, sam.token(), "text/csv", "").await);
    expect_status(
        415,
        post_csv(&app, sam.token(), "application/json", csv).await,
    );
    let mut many = String::from("phone\n");
    for i in 0..50_001 {
        many.push_str(&format!("3460{:07}\n", i));
    }
    let (status, body) = post_csv(&app, sam.token(), "text/csv", &many).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    let mut big = String::from("phone,name\n34600930001,");
    big.push_str(&"x".repeat(10 * 1024 * 1024));
    let (status, body) = post_csv(&app, sam.token(), "text/csv", &big).await;
    assert_eq!(status, 413, "{body}");
    expect_status(404, sam.get("/api/v1/contacts/34600930001").await);
    expect_status(404, sam.get("/api/v1/contacts/34600000000").await);
    assert!(audit(&app).await.is_empty());

    // A key with contacts:write imports, audited as the key.
    let (writer_id, writer) = key(&["contacts:write"]).await;
    let answer = import(&app, &writer, csv).await;
    assert_eq!(counts(&answer), [1, 1, 0, 0, 0], "{answer}");
    let ana = expect_status(200, sam.get("/api/v1/contacts/34600930001").await);
    assert_eq!(ana["contact"]["name"], "Ana");
    let entries = audit(&app).await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(entries[0]["actor_kind"], "api_key");
    assert_eq!(entries[0]["actor"], writer_id.as_str());
    assert_eq!(entries[0]["after"]["created"], 1);
}

in_both_modes!(
    rows_create_and_update_contacts_and_bad_rows_come_back,
    an_export_imports_back_unchanged,
    an_imported_tag_routes_the_next_handoff,
    who_may_import_and_bad_files_change_nothing,
);
