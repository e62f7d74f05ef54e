//! Segments over HTTP like the console, in both modes (SQLite; PostgreSQL with Redis): saved CEL
//! filters over the contact variables, counted and paged at once after a person's edit, with
//! what contacts did (`contact.conversations`, `contact.new`, `contact.last_inbound_at`); the
//! database's count (an exact SQL translation) agrees with CEL contact by contact.

mod common;

use common::console::*;
use serde_json::{Value, json};
use switchboard::crm::segment::{Dialect, SegmentFilter};

const SUPPORT: &str = "support";

fn ids(body: &Value, key: &str) -> Vec<String> {
    body[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect()
}

/// Sam (supervisor) saves segments; tagging a contact moves it in at once; the behaviour
/// variables count conversations; bad filters are refused and change nothing; every change is
/// audited; agents may not.
async fn a_segment_follows_contacts_at_once() {
    let app = spawn_console_app(|_| {}).await;
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let alice = Console::new(&app, ALICE);
    alice.set_presence("online").await;
    let vera = Customer::new(&app, "34600700001");
    let other = Customer::new(&app, "34600700002");
    let british = Customer::new(&app, "447400123456");
    vera.opens_the_menu().await;
    other.opens_the_menu().await;
    british.opens_the_menu().await;

    let created = expect_status(
        201,
        sam.post(
            "/api/v1/segments",
            json!({"name": "VIP", "filter": "'vip' in contact.tags"}),
        )
        .await,
    );
    let vip = created["segment"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(created["segment"]["name"], "VIP");
    assert_eq!(created["segment"]["count"], 0, "{created}");

    // Sam tags Vera: she is in the segment at once.
    expect_status(
        200,
        sam.patch("/api/v1/contacts/34600700001", json!({"tags": ["vip"]}))
            .await,
    );
    let read = expect_status(200, sam.get(&format!("/api/v1/segments/{vip}")).await);
    assert_eq!(read["segment"]["count"], 1, "{read}");
    let members = expect_status(
        200,
        sam.get(&format!("/api/v1/segments/{vip}/contacts")).await,
    );
    assert_eq!(ids(&members, "contacts"), ["34600700001"]);
    assert_eq!(members["contacts"][0]["conversations"], 1, "{members}");
    assert!(
        members["contacts"][0]["last_inbound_at"].is_i64(),
        "{members}"
    );

    // Behaviour, the country (stored with the phone) and both together.
    for (filter, expected) in [
        (
            "contact.new && contact.last_inbound_at > now - duration('1h')",
            3,
        ),
        ("contact.conversations > 1", 0),
        ("contact.country == 'GB'", 1),
        ("'vip' in contact.tags && contact.country == 'ES'", 1),
        ("!('vip' in contact.tags) && contact.language == 'es'", 1),
        ("contact.language == null", 0),
    ] {
        let preview = expect_status(
            200,
            sam.post("/api/v1/segments/preview", json!({ "filter": filter }))
                .await,
        );
        assert_eq!(preview["count"], expected, "{filter}: {preview}");
        assert_eq!(
            preview["sample"].as_array().map(Vec::len),
            Some(expected),
            "{filter}: {preview}"
        );
    }

    // A second conversation: Vera is no longer new.
    let first = vera.chooses_team(SUPPORT).await;
    alice
        .wait_conversation(&first, "assigned to alice", WAIT, |d| {
            d["conversation"]["status"] == "assigned"
        })
        .await;
    expect_status(
        200,
        alice
            .post(&format!("/api/v1/conversations/{first}/resolve"), json!({}))
            .await,
    );
    vera.says("hello again").await;
    let returning = json!({"filter": "contact.conversations == 2 && !contact.new"});
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let preview = expect_status(
            200,
            sam.post("/api/v1/segments/preview", returning.clone())
                .await,
        );
        if ids(&preview, "sample") == ["34600700001"] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Vera's second conversation is counted: {preview}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Bad input: refused, nothing saved.
    for (body, status) in [
        (
            json!({"name": "Broken", "filter": "contact.tags.exists("}),
            400,
        ),
        (
            json!({"name": "Lookups", "filter": "lookups.crm != null"}),
            400,
        ),
        (json!({"name": "", "filter": "true"}), 400),
        (
            json!({"name": "Extra", "filter": "true", "owner": "x"}),
            400,
        ),
        (json!({"name": "VIP", "filter": "true"}), 409),
    ] {
        expect_status(status, sam.post("/api/v1/segments", body).await);
    }
    expect_status(
        403,
        alice
            .post(
                "/api/v1/segments",
                json!({"name": "Mine", "filter": "true"}),
            )
            .await,
    );
    expect_status(403, alice.get("/api/v1/segments").await);
    expect_status(404, sam.get("/api/v1/segments/seg_nope").await);
    let listed = expect_status(200, sam.get("/api/v1/segments").await);
    assert_eq!(ids(&listed, "segments"), [vip.as_str()]);

    // A new filter, paged members, then gone.
    let all = expect_status(
        200,
        sam.patch(
            &format!("/api/v1/segments/{vip}"),
            json!({"name": "Everyone", "filter": "true"}),
        )
        .await,
    );
    assert_eq!(all["segment"]["count"], 3, "{all}");
    let page = expect_status(
        200,
        sam.get(&format!("/api/v1/segments/{vip}/contacts?limit=2"))
            .await,
    );
    assert_eq!(ids(&page, "contacts"), ["34600700001", "34600700002"]);
    let cursor = page["next_cursor"].as_str().unwrap_or_default();
    let rest = expect_status(
        200,
        sam.get(&format!(
            "/api/v1/segments/{vip}/contacts?limit=2&cursor={cursor}"
        ))
        .await,
    );
    assert_eq!(ids(&rest, "contacts"), ["447400123456"]);
    assert!(rest["next_cursor"].is_null(), "{rest}");
    expect_status(204, sam.delete(&format!("/api/v1/segments/{vip}")).await);
    expect_status(404, sam.get(&format!("/api/v1/segments/{vip}")).await);

    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    for action in ["segment.create", "segment.update", "segment.delete"] {
        let audit = expect_status(
            200,
            admin
                .get(&format!("/api/v1/admin/audit?action={action}"))
                .await,
        );
        let entries = audit["entries"].as_array().cloned().unwrap_or_default();
        assert_eq!(entries.len(), 1, "{action}: {audit}");
        assert_eq!(entries[0]["actor"], "sam", "{action}: {audit}");
    }
}

/// Contacts of every shape, written as conversation steps write them; each filter is counted
/// three ways that must agree: by the database (exact translation), by CEL over the database's
/// candidates (the same filter made untranslatable), and by CEL over every contact here.
async fn the_database_counts_what_cel_decides() {
    use switchboard::domain::{ChannelId, ConversationKey, CustomerId};
    use switchboard::store::{
        ContactFilter, ContactRecord, ContactWrite, ConversationRecord, ConversationStep,
    };
    let app = spawn_console_app(|_| {}).await;
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let store = app.handle.store.clone();
    let channel = ChannelId::new("support");
    let now = chrono::Utc::now().timestamp_millis();
    let languages = [None, Some("es"), Some("en"), Some("pt")];
    let tags = ["vip", "late", "gold"];
    for i in 0..120i64 {
        let customer = CustomerId::new(format!("3460080{i:04}"));
        let mut contact = ContactRecord {
            customer: customer.clone(),
            name: (i % 5 != 0).then(|| format!("Customer {i}")),
            // Spanish, British, American, Canadian (+1 told apart by the number), none, bad.
            phone: match i % 12 {
                2 | 8 => Some(format!("4474001{i:05}")),
                3 => Some("14155550134".into()),
                9 => Some("16135550123".into()),
                5 => None,
                11 => Some("123".into()),
                _ => Some(customer.as_str().to_string()),
            },
            language: languages[(i % 4) as usize].map(str::to_string),
            ..ContactRecord::default()
        };
        contact.tags = tags
            .iter()
            .enumerate()
            .filter(|(t, _)| i % (*t as i64 + 2) == 0)
            .map(|(_, t)| t.to_string())
            .collect();
        if i % 3 == 0 {
            contact
                .fields
                .insert("plan".into(), ["gold", "free"][(i % 2) as usize].into());
        }
        let mut conversation = ConversationRecord::new(
            ConversationKey::new(&channel, &customer),
            channel.clone(),
            customer.clone(),
            now - i * 3_600_000,
        );
        // Some wrote an hour ago per i, some never.
        conversation.last_inbound_at = (i % 7 != 0).then_some(now - i * 3_600_000);
        let step = ConversationStep {
            contact: Some(ContactWrite::new(&ContactRecord::default(), contact)),
            ..ConversationStep::update(conversation)
        };
        store.commit_step(step).await.expect("step committed");
    }
    // Every contact, as the oracle sees them.
    let mut everyone = Vec::new();
    let mut filter = ContactFilter {
        text: None,
        tag: None,
        language: None,
        channel: None,
        after: None,
        limit: 500,
    };
    loop {
        let page = store.list_contacts(&filter).await.expect("contacts");
        let Some(last) = page.last() else { break };
        filter.after = Some(switchboard::store::ListCursor {
            updated_at: last.updated_at,
            id: last.contact.customer.as_str().to_string(),
        });
        everyone.extend(page);
    }
    assert_eq!(everyone.len(), 120);
    let at = chrono::Utc::now();
    for filter in [
        "'vip' in contact.tags",
        "!('vip' in contact.tags) || 'late' in contact.tags",
        "contact.language == 'es'",
        "contact.language != 'es'",
        "!(contact.language == 'es') && contact.name != null",
        "contact.fields.plan == 'gold'",
        "!(contact.fields.plan == 'gold')",
        "contact.fields['plan'] != 'gold' || 'gold' in contact.tags",
        "'plan' in contact.fields && !contact.new",
        "contact.new",
        "contact.conversations >= 1 && 1 <= contact.conversations",
        "contact.last_inbound_at > now - duration('24h')",
        "!(contact.last_inbound_at > now - duration('24h'))",
        "contact.first_seen <= now - duration('48h') || contact.language == null",
        "contact.name == 'Customer 7' || contact.phone == '34600800013'",
        "contact.phone != '34600800013'",
        "contact.country == 'ES'",
        "'GB' == contact.country && 'vip' in contact.tags",
        "contact.country != 'ES'",
        "!(contact.country == 'US') && contact.language == 'es'",
        "contact.country in ['US', 'CA']",
        "contact.country in ['CA', 'JM'] || contact.country == 'XX'",
        "!(contact.country in ['ES', 'GB'])",
        "contact.country in []",
        "false || true",
    ] {
        let expected = everyone
            .iter()
            .filter(|l| {
                SegmentFilter::compile(filter)
                    .map(|f| f.matches(l, at))
                    .unwrap_or(false)
            })
            .count();
        let exact = expect_status(
            200,
            sam.post("/api/v1/segments/preview", json!({ "filter": filter }))
                .await,
        );
        // Null tests of `contact.country` are not translated: CEL decides every contact.
        let through_cel =
            format!("({filter}) && (contact.country == null || contact.country != null)");
        let by_cel = expect_status(
            200,
            sam.post("/api/v1/segments/preview", json!({ "filter": through_cel }))
                .await,
        );
        // The stored country: the database alone counts it.
        assert!(
            !filter.contains("contact.country")
                || SegmentFilter::compile(filter)
                    .ok()
                    .and_then(|f| f.translate(Dialect::Sqlite, at))
                    .is_some_and(|t| t.exact),
            "{filter} is translated exactly"
        );
        assert_eq!(exact["count"], expected, "{filter}");
        assert_eq!(by_cel["count"], expected, "{filter}");
    }
}

in_both_modes!(
    a_segment_follows_contacts_at_once,
    the_database_counts_what_cel_decides,
);
