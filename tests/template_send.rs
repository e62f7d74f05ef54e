//! An agent sends a WhatsApp template from the console, end to end over HTTP, in both modes:
//! after the customer-service window closed (free text refused, nothing sent) the agent picks
//! one of the number's approved templates, fills its header, body and button parameters, and
//! the fake Graph API (which checks template sends like Meta) receives exactly Meta's
//! components; a marketing template to a contact without consent is refused (`no_consent`)
//! until an opt-in is recorded; bad parameters are refused naming the field, and nothing is
//! sent; the preview route renders a filled template or names what is wrong.

mod common;

use std::time::Duration;

use common::console::*;
use common::customers_wrote_ago;
use serde_json::{Value, json};

const SUPPORT: &str = "support";

async fn admin(app: &common::TestApp) -> Console {
    Console::login(app, "admin@example.com", DEMO_PASSWORD).await
}

fn ready_fill() -> Value {
    json!({"name": "parcel_ready", "language": "en_US",
           "header": {"image": {"link": "https://parcels.example/locker.jpg"}},
           "body": ["Ana", "PX-9"],
           "buttons": [{"index": 0, "sub_type": "url", "value": "PX-9"}]})
}

/// The app with `parcel_ready` among the fake's templates, synced.
async fn app_with_templates() -> common::TestApp {
    let app = spawn_console_app(|_| {}).await;
    let mut templates = app.graph.templates();
    templates.push(parcel_ready_template());
    app.graph.set_templates(templates);
    let admin = admin(&app).await;
    let synced = expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    assert_eq!(synced["failed"], json!([]), "{synced}");
    app
}

/// A customer who last wrote `ago`, handed off to support and assigned to Alice.
async fn alices_conversation(app: &common::TestApp, wa_id: &str, ago: Duration) -> String {
    let alice = Console::new(app, ALICE);
    let mut alice_ws = ConsoleSocket::connect(app, ALICE, None).await;
    alice.set_presence("online").await;
    customers_wrote_ago(ago);
    let id = Customer::new(app, wa_id).hands_off_to(SUPPORT).await;
    customers_wrote_ago(Duration::ZERO);
    alice_ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    id
}

fn templates_sent(app: &common::TestApp, wa_id: &str) -> Vec<Value> {
    app.graph
        .messages_to(wa_id)
        .into_iter()
        .filter(|m| m["type"] == "template")
        .collect()
}

/// Past the 24 hours free text is refused; the agent's template goes, with Meta's components.
async fn an_agent_sends_a_template_after_the_window_closed() {
    let app = app_with_templates().await;
    let id = alices_conversation(&app, "34600610001", Duration::from_secs(25 * 3600)).await;
    let alice = Console::new(&app, ALICE);
    let path = format!("/api/v1/conversations/{id}/messages");

    expect_error(
        422,
        "window_closed",
        alice.post(&path, json!({"text": "Still there?"})).await,
    );

    // The number's approved templates, with what each asks for.
    let offered = expect_status(
        200,
        alice
            .get(&format!("/api/v1/conversations/{id}/templates"))
            .await,
    );
    assert_eq!(offered["channel"], SUPPORT, "{offered}");
    let listed = offered["templates"].as_array().cloned().unwrap_or_default();
    assert!(
        !listed.iter().any(|t| t["name"] == "winter_sale"),
        "a pending template is not offered: {offered}"
    );
    let ready = listed
        .iter()
        .find(|t| t["name"] == "parcel_ready")
        .expect("parcel_ready offered");
    assert_eq!(ready["category"], "UTILITY");
    assert_eq!(ready["form"]["header"]["format"], "IMAGE", "{ready}");
    assert_eq!(ready["form"]["body_parameters"], json!(["1", "2"]));
    assert_eq!(ready["form"]["buttons"][0]["sub_type"], "url");
    assert_eq!(ready["form"]["buttons"][0]["required"], true);
    assert_eq!(ready["form"]["buttons"][1]["required"], false);

    let before = templates_sent(&app, "34600610001").len();
    let sent = expect_status(
        201,
        alice.post(&path, json!({"template": ready_fill()})).await,
    );
    assert_eq!(sent["message"]["kind"], "template", "{sent}");
    assert_eq!(sent["message"]["sender"], "agent", "{sent}");
    let customer = Customer::new(&app, "34600610001");
    let received = customer
        .wait_for_message(0, "the template", |m| {
            m["template"]["name"] == "parcel_ready"
        })
        .await;
    assert_eq!(
        received["template"],
        json!({
            "name": "parcel_ready",
            "language": {"code": "en_US"},
            "components": parcel_ready_components("PX-9"),
        }),
        "{received}"
    );
    assert_eq!(templates_sent(&app, "34600610001").len(), before + 1);
    // The transcript has it, by Alice.
    let detail = alice.conversation(&id).await;
    let last = detail["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["kind"], "template", "{detail}");
    assert_eq!(last["body"]["name"], "parcel_ready", "{last}");
}

/// A marketing template goes only to a contact opted in on that number (the business API's
/// rule): refused and not sent before the opt-in, sent with named parameters after it.
async fn a_marketing_template_needs_consent() {
    let app = app_with_templates().await;
    let id = alices_conversation(&app, "34600610002", Duration::ZERO).await;
    let alice = Console::new(&app, ALICE);
    let path = format!("/api/v1/conversations/{id}/messages");
    let sale = json!({"template": {"name": "spring_sale", "language": "en_US",
                                   "body": {"first_name": "Ana"}}});
    let before = templates_sent(&app, "34600610002").len();
    let (status, body) = alice.post(&path, sale.clone()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("no_consent")),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(templates_sent(&app, "34600610002").len(), before);

    expect_status(
        201,
        admin(&app)
            .await
            .post(
                "/api/v1/contacts/34600610002/consent",
                json!({"channel": SUPPORT, "proof": "Said yes to offers on the phone"}),
            )
            .await,
    );
    expect_status(201, alice.post(&path, sale).await);
    let received = Customer::new(&app, "34600610002")
        .wait_for_message(0, "the marketing template", |m| {
            m["template"]["name"] == "spring_sale"
        })
        .await;
    assert_eq!(
        received["template"]["components"],
        json!([{"type": "body", "parameters": [
            {"type": "text", "parameter_name": "first_name", "text": "Ana"}]}]),
        "{received}"
    );
}

/// Bad parameters are refused with the problem's code and field; nothing is recorded or sent.
async fn bad_parameters_name_the_field_and_send_nothing() {
    let app = app_with_templates().await;
    let id = alices_conversation(&app, "34600610003", Duration::ZERO).await;
    let alice = Console::new(&app, ALICE);
    let path = format!("/api/v1/conversations/{id}/messages");
    let transcript = alice.conversation(&id).await["messages"]
        .as_array()
        .map_or(0, Vec::len);
    let before = templates_sent(&app, "34600610003").len();
    let with = |change: &dyn Fn(&mut Value)| {
        let mut fill = ready_fill();
        change(&mut fill);
        json!({ "template": fill })
    };
    for (status, code, field, body) in [
        (
            422,
            "missing_parameter",
            "body[1]",
            with(&|f| f["body"] = json!(["Ana"])),
        ),
        (
            422,
            "extra_parameter",
            "body[2]",
            with(&|f| f["body"] = json!(["Ana", "PX-9", "more"])),
        ),
        (
            422,
            "empty_parameter",
            "body[0]",
            with(&|f| f["body"] = json!([" ", "PX-9"])),
        ),
        (
            422,
            "wrong_header_format",
            "header",
            with(&|f| f["header"] = json!({"text": "Hello"})),
        ),
        (
            422,
            "missing_parameter",
            "header.image",
            with(&|f| f["header"] = Value::Null),
        ),
        (
            422,
            "invalid_media",
            "header.image.link",
            with(&|f| f["header"] = json!({"image": {"link": "file:///etc/passwd"}})),
        ),
        (
            422,
            "missing_parameter",
            "buttons[0]",
            with(&|f| f["buttons"] = json!([])),
        ),
        (
            422,
            "wrong_button_type",
            "buttons[0].sub_type",
            with(&|f| f["buttons"][0]["sub_type"] = json!("quick_reply")),
        ),
        (
            422,
            "unknown_button",
            "buttons[5]",
            with(&|f| {
                f["buttons"] = json!([{"index": 0, "sub_type": "url", "value": "PX-9"},
                                      {"index": 5, "sub_type": "url", "value": "x"}])
            }),
        ),
        (
            422,
            "wrong_parameter_format",
            "body",
            with(&|f| f["body"] = json!({"name": "Ana"})),
        ),
        (
            422,
            "unknown_template",
            "",
            with(&|f| f["language"] = json!("fr")),
        ),
        (
            422,
            "template_not_approved",
            "",
            json!({"template": {"name": "winter_sale", "language": "en_US",
                                "body": {"first_name": "Ana"}}}),
        ),
        (
            400,
            "bad_request",
            "",
            json!({"text": "hi", "template": {"name": "parcel_ready", "language": "en_US"}}),
        ),
        (
            400,
            "bad_request",
            "",
            with(&|f| f["colour"] = json!("red")),
        ),
    ] {
        let answer = alice.post(&path, body.clone()).await;
        assert_eq!(answer.0, status, "{body}: {}", answer.1);
        assert_eq!(answer.1["error"]["code"], code, "{body}: {}", answer.1);
        if !field.is_empty() {
            let message = answer.1["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains(&format!("`{field}`")),
                "{body}: the message names {field}: {message}"
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(templates_sent(&app, "34600610003").len(), before);
    assert_eq!(
        alice.conversation(&id).await["messages"]
            .as_array()
            .map_or(0, Vec::len),
        transcript,
        "nothing recorded"
    );
}

/// The preview route: a filled template as the customer will see it and Meta's components, or
/// a 422 naming what is wrong; agents and keys that send may use it.
async fn the_preview_route_renders_or_names_the_problem() {
    let app = app_with_templates().await;
    let alice = Console::new(&app, ALICE);
    let mut fill = ready_fill();
    fill["channel"] = json!(SUPPORT);
    let previewed = expect_status(
        200,
        alice.post("/api/v1/templates/preview", fill.clone()).await,
    );
    assert_eq!(
        previewed["preview"]["body"], "Hi Ana, parcel PX-9 is ready at the locker.",
        "{previewed}"
    );
    assert_eq!(previewed["preview"]["footer"], "Parcels Inc.");
    assert_eq!(previewed["preview"]["header"]["format"], "IMAGE");
    assert_eq!(
        previewed["preview"]["header"]["media"]["link"],
        "https://parcels.example/locker.jpg"
    );
    assert_eq!(
        previewed["preview"]["buttons"][0]["url"],
        "https://parcels.example/t/PX-9"
    );
    assert_eq!(previewed["preview"]["buttons"][1]["text"], "Talk to us");
    assert_eq!(previewed["category"], "UTILITY");
    assert_eq!(previewed["components"][1]["parameters"][1]["text"], "PX-9");

    let mut missing = fill.clone();
    missing["body"] = json!(["Ana"]);
    let (status, body) = alice.post("/api/v1/templates/preview", missing).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("missing_parameter")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("`body[1]`")),
        "{body}"
    );
    let mut elsewhere = fill.clone();
    elsewhere["channel"] = json!("telegram");
    expect_error(
        422,
        "unknown_channel",
        alice.post("/api/v1/templates/preview", elsewhere).await,
    );
    let mut unknown = fill.clone();
    unknown["name"] = json!("no_such_template");
    expect_error(
        422,
        "unknown_template",
        alice.post("/api/v1/templates/preview", unknown).await,
    );
    // Marketing is previewed without consent (there is no contact): the send weighs it.
    expect_status(
        200,
        alice
            .post(
                "/api/v1/templates/preview",
                json!({"channel": SUPPORT, "name": "spring_sale", "language": "en_US",
                       "body": {"first_name": "Ana"}}),
            )
            .await,
    );
    // Keys: those that send may; others not.
    let admin = admin(&app).await;
    for (scopes, status) in [
        (json!(["messages:send"]), 200),
        (json!(["contacts:read"]), 403),
    ] {
        let created = expect_status(
            201,
            admin
                .post(
                    "/api/v1/admin/api-keys",
                    json!({"name": "k", "scopes": scopes}),
                )
                .await,
        );
        let key = Console::new(&app, created["api_key"]["token"].as_str().expect("a token"));
        let (got, body) = key.post("/api/v1/templates/preview", fill.clone()).await;
        assert_eq!(got, status, "{scopes}: {body}");
    }
    expect_error(
        401,
        "unauthorized",
        Console::anonymous(&app)
            .post("/api/v1/templates/preview", fill)
            .await,
    );
}

/// An agent's template outside the window counts toward the portfolio's messaging limit like a
/// business system's: past it, 429 `messaging_limit` and nothing sent.
async fn an_agents_template_counts_toward_the_messaging_limit() {
    let app = spawn_console_app(|s| {
        s.campaigns.messaging_limit = switchboard::campaigns::policy::LimitSetting::Fixed(
            switchboard::campaigns::policy::MessagingLimit::Customers(1),
        );
    })
    .await;
    let admin = admin(&app).await;
    expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    let late = Duration::from_secs(25 * 3600);
    let first = alices_conversation(&app, "34600610004", late).await;
    let second = alices_conversation(&app, "34600610005", late).await;
    let alice = Console::new(&app, ALICE);
    let parcel = json!({"template": {"name": "parcel_update", "language": "en_US",
                                     "body": ["PX-4"]}});
    expect_status(
        201,
        alice
            .post(
                &format!("/api/v1/conversations/{first}/messages"),
                parcel.clone(),
            )
            .await,
    );
    let before = templates_sent(&app, "34600610005").len();
    expect_error(
        429,
        "messaging_limit",
        alice
            .post(&format!("/api/v1/conversations/{second}/messages"), parcel)
            .await,
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(templates_sent(&app, "34600610005").len(), before);
}

in_both_modes!(
    an_agents_template_counts_toward_the_messaging_limit,
    an_agent_sends_a_template_after_the_window_closed,
    a_marketing_template_needs_consent,
    bad_parameters_name_the_field_and_send_nothing,
    the_preview_route_renders_or_names_the_problem,
);
