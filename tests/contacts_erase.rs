//! Erasing a contact's personal data on request, in both modes: an admin erases a customer
//! whose conversation is resolved; afterwards nothing of their name, number, email or words is
//! found anywhere (the CRM, the conversation and its transcript, the search, the export, the
//! database's rows themselves), the reports count the same, the audit says who erased whom and
//! why without an erased value, and the same customer writing again is a new contact.
//! Agents and supervisors may not erase; a reason is required; an open conversation is resolved
//! first.

mod common;

use common::TestApp;
use common::console::*;
use serde_json::{Value, json};

const SUPPORT: &str = "support";
const NUMBER: &str = "34600777123";
const NAME: &str = "Zelda Quuxington";
const EMAIL: &str = "zelda.quux@example.org";
const WORDS: &str = "my parcel 4417 never came to Calle Falsa";
const NOTE: &str = "she lives at Calle Falsa 123";

fn erase_path(id: &str) -> String {
    format!("/api/v1/contacts/{id}/erase")
}

/// Every row of every table of the app's database, as text: where an erased value would hide.
async fn database_text(app: &TestApp) -> String {
    let url = app.settings.database.url.clone();
    let mut all = String::new();
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&url).await.expect("database");
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        )
        .fetch_all(&pool)
        .await
        .expect("tables");
        for table in tables {
            let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT t::text FROM \"{table}\" t"
            )))
            .fetch_all(&pool)
            .await
            .expect("rows");
            all.push_str(&format!("\n[{table}]\n{}", rows.join("\n")));
        }
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(&url).await.expect("database");
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&pool)
                .await
                .expect("tables");
        for table in tables {
            let columns: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT name FROM pragma_table_info('{table}')"
            )))
            .fetch_all(&pool)
            .await
            .expect("columns");
            if columns.is_empty() {
                continue;
            }
            let row = columns
                .iter()
                .map(|c| format!("coalesce(CAST(\"{c}\" AS TEXT), '')"))
                .collect::<Vec<_>>()
                .join(" || '|' || ");
            // As bytes: a BLOB cast to TEXT need not be UTF-8.
            let rows: Vec<Vec<u8>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT CAST({row} AS BLOB) FROM \"{table}\""
            )))
            .fetch_all(&pool)
            .await
            .expect("rows");
            let rows: Vec<String> = rows
                .iter()
                .map(|r| String::from_utf8_lossy(r).into_owned())
                .collect();
            all.push_str(&format!("\n[{table}]\n{}", rows.join("\n")));
        }
        pool.close().await;
    }
    all
}

/// Whether the media store holds a file under `digest` (its directory, or `media_blobs`).
async fn blob_stored(app: &TestApp, digest: &str) -> bool {
    let url = app.settings.database.url.clone();
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&url).await.expect("database");
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM media_blobs WHERE sha256 = $1")
            .bind(digest)
            .fetch_one(&pool)
            .await
            .expect("count");
        pool.close().await;
        n > 0
    } else {
        app.settings
            .media
            .dir(&app.settings.database)
            .join(&digest[..2])
            .join(&digest[2..4])
            .join(digest)
            .exists()
    }
}

/// The lines of `text` that hold any of `needles`.
fn found<'a>(text: &'a str, needles: &[&str]) -> Vec<&'a str> {
    let mut table = "";
    let mut hits = Vec::new();
    for line in text.lines() {
        if line.starts_with('[') && line.ends_with(']') {
            table = line;
        } else if needles
            .iter()
            .any(|n| line.to_lowercase().contains(&n.to_lowercase()))
        {
            hits.push(table);
            hits.push(line);
        }
    }
    hits
}

fn today() -> String {
    let from = chrono::Utc::now().date_naive();
    let to = from.succ_opt().unwrap_or(from);
    format!("from={from}&to={to}&tz=UTC")
}

async fn csv(app: &TestApp, console: &Console) -> String {
    let response = app
        .client
        .get(format!("{}/api/v1/contacts/export.csv", app.address))
        .bearer_auth(console.token())
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.unwrap_or_default()
}

async fn an_admin_erases_a_customer_and_nothing_of_them_remains() {
    let app = spawn_console_app(|_| {}).await;
    let alice = Console::new(&app, ALICE);
    alice.set_presence("online").await;
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;

    // A customer talks to Alice; Sam completes their contact; Alice writes a note.
    let customer = Customer::new(&app, NUMBER);
    let id = customer.hands_off_to(SUPPORT).await;
    customer.says(WORDS).await;
    alice
        .wait_conversation(&id, "the customer's words stored", WAIT, |d| {
            d["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| message_text(m) == Some(WORDS)))
        })
        .await;
    expect_status(201, alice.reply(&id, "Hello Zelda, let me look").await);
    expect_status(201, alice.note(&id, NOTE).await);
    // A file Alice sent them: its record and its bytes go with the erasure.
    let scan = jpeg_bytes(2048);
    let digest = switchboard::media::limits::digest_hex(&scan);
    let (status, sent) = attach_file(
        &app,
        ALICE,
        &id,
        scan,
        "image/jpeg",
        "passport.jpg",
        Some("your passport scan"),
    )
    .await;
    assert_eq!(status, 201, "{sent}");
    let media_id = sent["message"]["body"]["source"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!media_id.is_empty(), "{sent}");
    assert!(blob_stored(&app, &digest).await, "the file is stored");
    expect_status(
        200,
        sam.patch(
            &format!("/api/v1/contacts/{NUMBER}"),
            json!({"name": NAME, "email": EMAIL, "tags": ["vip"]}),
        )
        .await,
    );

    // Who may not, what is refused, and an open conversation: nothing changes.
    let reason = json!({"reason": "the customer asked by email on 6 December"});
    for console in [&alice, &sam] {
        expect_status(403, console.post(&erase_path(NUMBER), reason.clone()).await);
    }
    expect_status(400, admin.post(&erase_path(NUMBER), json!({})).await);
    expect_status(
        400,
        admin
            .post(&erase_path(NUMBER), json!({"reason": "   "}))
            .await,
    );
    expect_status(
        404,
        admin.post(&erase_path("34600000000"), reason.clone()).await,
    );
    let refused = expect_status(409, admin.post(&erase_path(NUMBER), reason.clone()).await);
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&id)),
        "{refused}"
    );
    let kept = expect_status(200, sam.get(&format!("/api/v1/contacts/{NUMBER}")).await);
    assert_eq!(kept["contact"]["name"], NAME);

    expect_status(200, alice.resolve(&id).await);
    let before = expect_status(
        200,
        admin
            .get(&format!("/api/v1/reports/summary?{}", today()))
            .await,
    );
    assert_eq!(before["total"]["counts"]["opened"], 1, "{before}");

    // The admin erases the customer.
    let erased = expect_status(200, admin.post(&erase_path(NUMBER), reason.clone()).await);
    let opaque = erased["erased"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(opaque.starts_with("erased-"), "{erased}");
    assert_eq!(erased["erased"]["conversations"], 1, "{erased}");
    assert!(
        erased["erased"]["messages"].as_u64().unwrap_or(0) >= 3,
        "{erased}"
    );
    // Once erased, there is nothing left to erase.
    expect_status(404, admin.post(&erase_path(NUMBER), reason.clone()).await);

    // The CRM knows nothing of them.
    expect_status(404, sam.get(&format!("/api/v1/contacts/{NUMBER}")).await);
    for q in ["600777123", "zelda", "quux@example"] {
        let listed = expect_status(200, sam.get(&format!("/api/v1/contacts?q={q}")).await);
        assert_eq!(listed["contacts"], json!([]), "{q}: {listed}");
    }
    let exported = csv(&app, &sam).await;
    assert!(
        found(&exported, &[NUMBER, "Zelda", EMAIL]).is_empty(),
        "{exported}"
    );

    // The conversation stays, with its times, team and agent, and nothing of the customer.
    let seen = admin.conversation(&id).await;
    let text = seen.to_string();
    for needle in [NUMBER, "Zelda", EMAIL, "parcel", "Calle Falsa"] {
        assert!(!text.contains(needle), "{needle} in {seen:#}");
    }
    assert_eq!(seen["conversation"]["status"], "resolved");
    assert_eq!(seen["conversation"]["team"], SUPPORT);
    assert_eq!(seen["conversation"]["assignee"], "alice");
    let messages = seen["messages"].as_array().cloned().unwrap_or_default();
    assert!(!messages.is_empty(), "{seen:#}");
    assert!(
        messages
            .iter()
            .all(|m| m["kind"] == "erased" && m["body"] == json!({"type": "erased"})),
        "{seen:#}"
    );
    // Kept for the reports, read-only.
    expect_status(
        409,
        admin
            .post(
                &format!("/api/v1/conversations/{id}/notes"),
                json!({"text": "more"}),
            )
            .await,
    );
    let searched = expect_status(200, admin.get("/api/v1/conversations?q=parcel").await);
    assert_eq!(searched["conversations"], json!([]), "{searched}");
    let searched = expect_status(200, admin.get("/api/v1/conversations?q=600777123").await);
    assert_eq!(searched["conversations"], json!([]), "{searched}");

    // Their files are gone: the record and the bytes.
    expect_status(404, admin.get(&format!("/api/v1/media/{media_id}")).await);
    assert!(!blob_stored(&app, &digest).await, "the file is deleted");

    // The reports count the same.
    let after = expect_status(
        200,
        admin
            .get(&format!("/api/v1/reports/summary?{}", today()))
            .await,
    );
    assert_eq!(after["total"]["counts"], before["total"]["counts"]);

    // Audited: who, the reason, the opaque id; never an erased value.
    let audit = expect_status(
        200,
        admin.get("/api/v1/admin/audit?action=contact.erase").await,
    );
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["actor"], "admin", "{audit}");
    assert_eq!(entries[0]["target"], opaque.as_str(), "{audit}");
    assert_eq!(
        entries[0]["after"]["reason"],
        "the customer asked by email on 6 December"
    );
    let whole_audit = expect_status(200, admin.get("/api/v1/admin/audit?limit=200").await);
    assert!(
        found(&whole_audit.to_string(), &[NUMBER, "Zelda", EMAIL]).is_empty(),
        "{whole_audit:#}"
    );

    // Nor is anything of them left in the database's rows.
    let rows = database_text(&app).await;
    let hits = found(
        &rows,
        &[
            NUMBER,
            "600777123",
            "Zelda",
            EMAIL,
            "parcel 4417",
            "Calle Falsa",
        ],
    );
    assert!(hits.is_empty(), "{hits:#?}");

    // The same customer writing again is a new contact.
    customer.says("hello again").await;
    let fresh = wait_until_contact(&admin, NUMBER).await;
    // (The demo bot names a customer it does not know `Customer <number>`.)
    assert_ne!(fresh["contact"]["name"], NAME, "{fresh}");
    assert!(fresh["contact"]["email"].is_null(), "{fresh}");
    assert_eq!(fresh["contact"]["tags"], json!([]), "{fresh}");
    let conversations = fresh["contact"]["conversations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(conversations.len(), 1, "{fresh}");
    assert_ne!(conversations[0]["id"], id.as_str(), "{fresh}");
}

/// The contact read by `id` once it exists with a conversation.
async fn wait_until_contact(console: &Console, id: &str) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (status, body) = console.get(&format!("/api/v1/contacts/{id}")).await;
        if status == 200
            && body["contact"]["conversations"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
        {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{id} never came back: {status} {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

in_both_modes!(an_admin_erases_a_customer_and_nothing_of_them_remains);
