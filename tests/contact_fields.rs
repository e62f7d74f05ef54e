//! Custom contact field definitions, in both modes: admins define, list, change and delete them
//! (refusals change nothing; every change is audited); every signed-in user reads them; and
//! every write of a contact checks a defined field's value and stores it in its normal form:
//! a person's edit (of a contact, through a conversation), a business system's upsert, a CSV
//! import (the row is rejected naming the field) and the bot's saved answers (asked again).

mod common;

use common::TestApp;
use common::console::*;
use serde_json::{Value, json};

const ADMIN_FIELDS: &str = "/api/v1/admin/contact-fields";

async fn admin(app: &TestApp) -> Console {
    Console::login(app, "admin@example.com", DEMO_PASSWORD).await
}

fn keys(list: &Value) -> Vec<&str> {
    list["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["key"].as_str())
        .collect()
}

fn message(answer: &Value) -> String {
    answer["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Define the fields the write paths are checked against.
async fn define_fields(admin: &Console) {
    for body in [
        json!({"key": "seats", "label": "Seats", "type": "number"}),
        json!({"key": "renewal", "label": "Renewal", "type": "date"}),
        json!({"key": "paid", "label": "Paid", "type": "boolean"}),
        json!({"key": "plan", "label": "Plan", "type": "choice", "options": ["Gold", "Silver"]}),
        json!({"key": "appointment_date", "label": "Appointment", "type": "date"}),
    ] {
        expect_status(201, admin.post(ADMIN_FIELDS, body).await);
    }
}

async fn admins_define_change_and_delete_fields() {
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    let alice = Console::new(&app, ALICE);
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;

    // Only admins define; everyone signed in reads.
    let plan = json!({"key": "plan", "label": "Plan", "type": "choice",
                      "options": ["Gold", "Silver"], "description": "Their plan"});
    expect_status(403, alice.post(ADMIN_FIELDS, plan.clone()).await);
    expect_status(403, sam.post(ADMIN_FIELDS, plan.clone()).await);
    expect_status(403, sam.get(ADMIN_FIELDS).await);
    expect_status(
        401,
        Console::anonymous(&app).get("/api/v1/contact-fields").await,
    );

    // Bad definitions: 400 naming the property, nothing defined.
    for (body, property) in [
        (
            json!({"key": "Plan", "label": "Plan", "type": "text"}),
            "`key`",
        ),
        (
            json!({"key": "email", "label": "Email", "type": "text"}),
            "`key`",
        ),
        (
            json!({"key": "plan", "label": "", "type": "text"}),
            "`label`",
        ),
        (
            json!({"key": "plan", "label": "Plan", "type": "list"}),
            "`type`",
        ),
        (
            json!({"key": "plan", "label": "Plan", "type": "choice"}),
            "`options`",
        ),
        (
            json!({"key": "plan", "label": "Plan", "type": "number", "options": ["a"]}),
            "`options`",
        ),
    ] {
        let answer = expect_status(400, admin.post(ADMIN_FIELDS, body.clone()).await);
        assert!(message(&answer).starts_with(property), "{body}: {answer}");
    }
    expect_status(
        400,
        admin
            .post(ADMIN_FIELDS, json!({"key": "x", "colour": 1}))
            .await,
    );
    assert!(keys(&expect_status(200, admin.get(ADMIN_FIELDS).await)).is_empty());

    let created = expect_status(201, admin.post(ADMIN_FIELDS, plan.clone()).await);
    assert_eq!(created["field"]["key"], "plan");
    assert_eq!(created["field"]["type"], "choice");
    assert_eq!(created["field"]["options"], json!(["Gold", "Silver"]));
    assert_eq!(created["field"]["description"], "Their plan");
    // No demo question saves media or a location to it.
    assert_eq!(created["warnings"], json!([]), "{created}");
    // A taken key: 409.
    let taken = expect_status(409, admin.post(ADMIN_FIELDS, plan).await);
    assert!(message(&taken).contains("plan"), "{taken}");
    expect_status(
        201,
        admin
            .post(
                ADMIN_FIELDS,
                json!({"key": "seats", "label": "Seats", "type": "number"}),
            )
            .await,
    );
    // An agent reads them (the console renders the inputs from them).
    let read = expect_status(200, alice.get("/api/v1/contact-fields").await);
    assert_eq!(keys(&read), ["plan", "seats"]);
    assert_eq!(read["fields"][0]["label"], "Plan");

    // Changes: the label, the description, a choice's options; never the type or the key.
    let path = format!("{ADMIN_FIELDS}/plan");
    let changed = expect_status(
        200,
        admin
            .patch(
                &path,
                json!({"label": "Tier", "options": ["Gold", "Silver", "Platinum"], "description": null}),
            )
            .await,
    );
    assert_eq!(changed["field"]["label"], "Tier");
    assert_eq!(changed["field"]["options"][2], "Platinum");
    assert_eq!(changed["field"]["description"], Value::Null);
    for (body, property) in [
        (json!({"type": "text"}), "`type`"),
        (json!({"key": "tier"}), "`key`"),
        (json!({"options": []}), "`options`"),
        (json!({"label": "  "}), "`label`"),
    ] {
        let answer = expect_status(400, admin.patch(&path, body.clone()).await);
        assert!(message(&answer).starts_with(property), "{body}: {answer}");
    }
    let answer = expect_status(
        400,
        admin
            .patch(&format!("{ADMIN_FIELDS}/seats"), json!({"options": ["a"]}))
            .await,
    );
    assert!(message(&answer).starts_with("`options`"), "{answer}");
    expect_status(
        404,
        admin
            .patch(&format!("{ADMIN_FIELDS}/ghost"), json!({"label": "G"}))
            .await,
    );
    expect_status(403, alice.patch(&path, json!({"label": "Mine"})).await);
    let read = expect_status(200, alice.get("/api/v1/contact-fields").await);
    assert_eq!(read["fields"][0]["label"], "Tier", "{read}");
    assert_eq!(read["fields"][0]["type"], "choice", "{read}");

    // Deleting keeps the values on contacts: the key is free text again.
    let contact = "/api/v1/contacts/34600700001";
    expect_status(
        201,
        sam.put(
            "/api/v1/contacts",
            json!({"match": {"phone": "34600700001"}, "set": {"fields": {"seats": "04"}}}),
        )
        .await,
    );
    expect_status(403, alice.delete(&format!("{ADMIN_FIELDS}/seats")).await);
    expect_status(204, admin.delete(&format!("{ADMIN_FIELDS}/seats")).await);
    expect_status(404, admin.delete(&format!("{ADMIN_FIELDS}/seats")).await);
    let kept = expect_status(200, sam.get(contact).await);
    assert_eq!(kept["contact"]["fields"]["seats"], "4", "{kept}");
    let free = expect_status(
        200,
        sam.patch(contact, json!({"fields": {"seats": "a dozen"}}))
            .await,
    );
    assert_eq!(free["contact"]["fields"]["seats"], "a dozen", "{free}");
    assert_eq!(
        keys(&expect_status(200, admin.get(ADMIN_FIELDS).await)),
        ["plan"]
    );

    // Audited: each change once, by the admin, with what it was and what it became.
    for (action, count) in [
        ("contact_field.create", 2),
        ("contact_field.update", 1),
        ("contact_field.delete", 1),
    ] {
        let log = expect_status(
            200,
            admin
                .get(&format!("/api/v1/admin/audit?action={action}"))
                .await,
        );
        let entries = log["entries"].as_array().cloned().unwrap_or_default();
        assert_eq!(entries.len(), count, "{action}: {log}");
        assert!(entries.iter().all(|e| e["actor"] == "admin"), "{log}");
        assert!(
            entries.iter().all(|e| e["target_kind"] == "contact_field"),
            "{log}"
        );
    }
    let log = expect_status(
        200,
        admin
            .get("/api/v1/admin/audit?action=contact_field.update")
            .await,
    );
    assert_eq!(log["entries"][0]["before"]["label"], "Plan", "{log}");
    assert_eq!(log["entries"][0]["after"]["label"], "Tier", "{log}");
}

async fn every_write_of_a_contact_checks_defined_fields() {
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    define_fields(&admin).await;
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;

    // A business system's upsert: a bad value creates nothing; a good one is normalised.
    let contact = "/api/v1/contacts/34600700002";
    let upsert = |set: Value| json!({"match": {"phone": "+34 600 700 002"}, "set": set});
    let refused = expect_status(
        422,
        sam.put(
            "/api/v1/contacts",
            upsert(json!({"name": "Nora", "fields": {"plan": "Gold", "seats": "many"}})),
        )
        .await,
    );
    assert_eq!(refused["error"]["code"], "invalid_contact");
    assert!(message(&refused).starts_with("fields.seats"), "{refused}");
    expect_status(404, sam.get(contact).await);
    let created = expect_status(
        201,
        sam.put(
            "/api/v1/contacts",
            upsert(
                json!({"fields": {"plan": "gold", "seats": "+012.50", "paid": "yes",
                                     "renewal": "2027-01-31", "notes": "007"}}),
            ),
        )
        .await,
    );
    let fields = &created["contact"]["fields"];
    assert_eq!(fields["plan"], "Gold", "{created}");
    assert_eq!(fields["seats"], "12.5", "{created}");
    assert_eq!(fields["paid"], "true", "{created}");
    assert_eq!(fields["renewal"], "2027-01-31", "{created}");
    assert_eq!(fields["notes"], "007", "an undefined key stays free text");

    // A person's edit: refused whole (nothing changes), or normalised.
    let refused = expect_status(
        422,
        sam.patch(
            contact,
            json!({"name": "Nora B", "fields": {"renewal": "31/01/2027"}}),
        )
        .await,
    );
    assert!(message(&refused).starts_with("fields.renewal"), "{refused}");
    let same = expect_status(200, sam.get(contact).await);
    assert_eq!(same["contact"]["name"], Value::Null, "{same}");
    assert_eq!(same["contact"]["fields"]["renewal"], "2027-01-31");
    let edited = expect_status(
        200,
        sam.patch(
            contact,
            json!({"fields": {"paid": false, "seats": 3, "plan": "SILVER"}}),
        )
        .await,
    );
    let fields = &edited["contact"]["fields"];
    assert_eq!(
        (&fields["paid"], &fields["seats"], &fields["plan"]),
        (&json!("false"), &json!("3"), &json!("Silver")),
        "{edited}"
    );

    // Through a conversation (the console's customer panel).
    let customer = Customer::new(&app, "34600700003");
    let id = customer.hands_off_to("support").await;
    let alice = Console::new(&app, ALICE);
    let path = format!("/api/v1/conversations/{id}/contact");
    let refused = expect_status(
        422,
        alice
            .patch(&path, json!({"fields": {"plan": "Bronze"}}))
            .await,
    );
    assert!(message(&refused).starts_with("fields.plan"), "{refused}");
    assert!(message(&refused).contains("\"Gold\""), "{refused}");
    let edited = expect_status(
        200,
        alice
            .patch(
                &path,
                json!({"fields": {"plan": "silver", "renewal": "2026-12-31"}}),
            )
            .await,
    );
    assert_eq!(edited["contact"]["fields"]["plan"], "Silver", "{edited}");
    assert_eq!(edited["contact"]["fields"]["renewal"], "2026-12-31");

    // A CSV import: the bad row comes back naming the field; the good one is normalised.
    let csv = "phone,field.seats,field.paid,field.plan\r\n\
               34600700004,7,yes,gold\r\n\
               34600700005,seven,no,Gold\r\n";
    let response = app
        .client
        .post(format!("{}/api/v1/contacts/import", app.address))
        .bearer_auth(sam.token())
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["created"], 1, "{answer}");
    assert_eq!(answer["rejected"], 1, "{answer}");
    let rejected = answer["rejected_csv"].as_str().unwrap_or_default();
    assert!(rejected.contains("fields.seats"), "{rejected}");
    assert!(rejected.contains("34600700005"), "{rejected}");
    let imported = expect_status(200, sam.get("/api/v1/contacts/34600700004").await);
    let fields = &imported["contact"]["fields"];
    assert_eq!(
        (&fields["seats"], &fields["paid"], &fields["plan"]),
        (&json!("7"), &json!("true"), &json!("Gold")),
        "{imported}"
    );
    expect_status(404, sam.get("/api/v1/contacts/34600700005").await);

    // The bot: an answer that does not fit the field is asked again; a good one is saved.
    let booker = Customer::new(&app, "15550700006");
    booker.opens_the_menu().await;
    booker.says("2").await;
    booker.wait_for_text("Which day").await;
    booker.says("2026-02-30").await;
    booker
        .wait_for_text("Please write the date as YYYY-MM-DD")
        .await;
    booker.says("2026-12-03").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, body) = sam.get("/api/v1/contacts/15550700006").await;
        if status == 200 && body["contact"]["fields"]["appointment_date"] == "2026-12-03" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bot never saved the date: {status} {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

in_both_modes!(
    admins_define_change_and_delete_fields,
    every_write_of_a_contact_checks_defined_fields,
);

/// A definition made through one node is enforced by the other within a second or two (the
/// directory's version moved; every node refreshes it).
#[actix_rt::test]
async fn a_definition_made_through_one_node_is_enforced_by_the_other() {
    let cluster = common::cluster::TestCluster::start(2, |_| {}).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let admin = admin(a).await;
    let sam = Console::login(b, "sam@example.com", DEMO_PASSWORD).await;
    expect_status(
        201,
        sam.put(
            "/api/v1/contacts",
            json!({"match": {"phone": "34600700010"}, "set": {"fields": {"seats": "x"}}}),
        )
        .await,
    );
    expect_status(
        201,
        admin
            .post(
                ADMIN_FIELDS,
                json!({"key": "seats", "label": "Seats", "type": "number"}),
            )
            .await,
    );
    let contact = "/api/v1/contacts/34600700010";
    let deadline = tokio::time::Instant::now() + AT_ONCE;
    loop {
        let (status, body) = sam.patch(contact, json!({"fields": {"seats": "x"}})).await;
        if status == 422 {
            assert!(message(&body).starts_with("fields.seats"), "{body}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "node B never learned of the definition: {status} {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let listed = expect_status(200, sam.get("/api/v1/contact-fields").await);
    assert_eq!(keys(&listed), ["seats"]);
    let edited = expect_status(
        200,
        sam.patch(contact, json!({"fields": {"seats": "05"}})).await,
    );
    assert_eq!(edited["contact"]["fields"]["seats"], "5");
}
