//! The OpenAPI document (`GET /api/openapi.json`) against the real app: a realistic flow through
//! every area of the API (login, a handoff's conversation, contacts, segments, reports, the
//! administration, API keys, event webhooks, panel apps, push settings, the widget, the
//! channels' webhooks), each answer checked against the document's schema for its path, method
//! and status (JSON Schema 2020-12, `$ref`s resolved into `components`). A 2xx status the
//! document does not name fails, and so does an error that is not the house error body. At the
//! end, the document's operations the flow did not exercise are listed, and a floor on how many
//! it did keeps the flow from shrinking unnoticed. The documentation page must be served too.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::console::*;
use reqwest::Method;
use serde_json::{Value, json};

const SUPPORT: &str = "support";
const WEBSITE_TOKEN: &str = "demo-webchat-website-token";
const SITE: &str = "http://localhost:8000";

/// Checks answers against the document.
struct Checker {
    doc: Value,
    /// (method, path template) → statuses seen.
    seen: std::cell::RefCell<BTreeMap<(String, String), BTreeSet<u16>>>,
}

/// The path template of the document that `path` (without its query) is an instance of:
/// literal segments are preferred to parameters, segment by segment.
fn template<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    let mut best: Option<(&str, Vec<bool>)> = None;
    for key in doc["paths"].as_object()?.keys() {
        let parts: Vec<&str> = key.split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut literal = Vec::new();
        let fits = parts.iter().zip(&segments).all(|(p, s)| {
            let param = p.starts_with('{') && p.ends_with('}');
            literal.push(!param);
            param || p == s
        });
        if fits && best.as_ref().is_none_or(|(_, l)| literal > *l) {
            best = Some((key.as_str(), literal));
        }
    }
    best.map(|(k, _)| k)
}

fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0")
        .replace('/', "~1")
        .replace('{', "%7B")
        .replace('}', "%7D")
}

impl Checker {
    fn new(doc: Value) -> Checker {
        Checker {
            doc,
            seen: Default::default(),
        }
    }

    /// Checks one answer: its status documented (2xx explicitly, errors explicitly or as the
    /// `default` error), and a JSON body valid against that response's schema.
    fn check(&self, method: &Method, path: &str, status: u16, body: Option<&Value>) {
        let Some(key) = template(&self.doc, path) else {
            panic!("{method} {path}: no such path in the document");
        };
        let verb = method.as_str().to_ascii_lowercase();
        let operation = &self.doc["paths"][key][&verb];
        assert!(
            operation.is_object(),
            "{method} {key}: no such operation in the document"
        );
        self.seen
            .borrow_mut()
            .entry((method.to_string(), key.to_string()))
            .or_default()
            .insert(status);
        let code = status.to_string();
        let response = if operation["responses"][&code].is_object() {
            code
        } else {
            assert!(
                status >= 400,
                "{method} {key} answered {status}, which the document does not name"
            );
            "default".to_string()
        };
        let Some(body) = body else { return };
        let content = &operation["responses"][&response]["content"]["application/json"];
        assert!(
            content["schema"].is_object(),
            "{method} {key} {status}: a JSON body where the document has no JSON schema: {body}"
        );
        let pointer = format!(
            "#/paths/{}/{verb}/responses/{response}/content/application~1json/schema",
            pointer_escape(key)
        );
        // The document is the schema's root, so `#/components/…` resolves; it only refers to
        // the one response's schema (the rest are keywords JSON Schema does not know).
        let mut root = self.doc.clone();
        root["$ref"] = json!(pointer);
        root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        let validator = jsonschema::validator_for(&root)
            .unwrap_or_else(|e| panic!("{method} {key} {status}: the schema compiles: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status}: the answer does not match the document:\n{}\n{body:#}",
            errors.join("\n")
        );
    }
}

/// A client of the app that checks every answer.
struct Api<'a> {
    app: &'a common::TestApp,
    checker: &'a Checker,
}

/// Credentials and headers of a request.
#[derive(Clone, Default)]
struct As {
    bearer: Option<String>,
    headers: Vec<(&'static str, String)>,
}

fn bearer(token: &str) -> As {
    As {
        bearer: Some(token.to_string()),
        headers: Vec::new(),
    }
}

fn anonymous() -> As {
    As::default()
}

fn widget(visitor: Option<&str>) -> As {
    As {
        bearer: visitor.map(str::to_string),
        headers: vec![
            ("x-website-token", WEBSITE_TOKEN.to_string()),
            ("origin", SITE.to_string()),
        ],
    }
}

impl Api<'_> {
    async fn call(
        &self,
        method: Method,
        path: &str,
        who: &As,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .app
            .client
            .request(method.clone(), format!("{}{path}", self.app.address));
        if let Some(token) = &who.bearer {
            request = request.bearer_auth(token);
        }
        for (name, value) in &who.headers {
            request = request.header(*name, value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let json = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let bytes = response.bytes().await.expect("a body");
        let value = if json && !bytes.is_empty() {
            Some(serde_json::from_slice::<Value>(&bytes).unwrap_or_else(|e| {
                panic!("{method} {path}: a JSON answer that does not parse: {e}")
            }))
        } else {
            None
        };
        self.checker.check(&method, path, status, value.as_ref());
        (status, value.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, who: &As) -> (u16, Value) {
        self.call(Method::GET, path, who, None).await
    }
    async fn post(&self, path: &str, who: &As, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, who, Some(body)).await
    }
    async fn post_empty(&self, path: &str, who: &As) -> (u16, Value) {
        self.call(Method::POST, path, who, None).await
    }
    async fn put(&self, path: &str, who: &As, body: Value) -> (u16, Value) {
        self.call(Method::PUT, path, who, Some(body)).await
    }
    async fn patch(&self, path: &str, who: &As, body: Value) -> (u16, Value) {
        self.call(Method::PATCH, path, who, Some(body)).await
    }
    async fn delete(&self, path: &str, who: &As) -> (u16, Value) {
        self.call(Method::DELETE, path, who, None).await
    }
}

fn str_of<'v>(value: &'v Value, pointer: &str) -> &'v str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{pointer} in {value}"))
}

#[actix_rt::test]
async fn every_answer_matches_the_document() {
    let app = spawn_console_app(|_| {}).await;

    // The document: public, JSON, OpenAPI 3.1.
    let response = app
        .client
        .get(format!("{}/api/openapi.json", app.address))
        .send()
        .await
        .expect("the document");
    assert_eq!(response.status().as_u16(), 200);
    let doc: Value = response.json().await.expect("JSON");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );
    let checker = Checker::new(doc.clone());
    let api = Api {
        app: &app,
        checker: &checker,
    };

    // The documentation page and its files.
    let page = app
        .client
        .get(format!("{}/api/docs", app.address))
        .send()
        .await
        .expect("the docs page");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap_or_default();
    assert!(html.contains("/api/docs/swagger-ui-bundle.js"), "{html}");
    for file in ["swagger-ui-bundle.js", "swagger-ui.css", "start.js"] {
        let answer = app
            .client
            .get(format!("{}/api/docs/{file}", app.address))
            .send()
            .await
            .expect("a file");
        assert_eq!(answer.status().as_u16(), 200, "{file}");
    }

    // Operations.
    api.get("/healthz", &anonymous()).await;
    api.get("/readyz", &anonymous()).await;
    api.get("/metrics", &anonymous()).await;
    api.get("/api/openapi.json", &anonymous()).await;

    // Logging in; sessions and personal tokens.
    let (status, _) = api
        .post(
            "/api/v1/auth/login",
            &anonymous(),
            json!({"email": "alice@example.com", "password": "wrong-password"}),
        )
        .await;
    assert_eq!(status, 401);
    let (status, login) = api
        .post(
            "/api/v1/auth/login",
            &anonymous(),
            json!({"email": "alice@example.com", "password": DEMO_PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{login}");
    let session = bearer(str_of(&login, "/token"));
    api.get("/api/v1/auth/sessions", &session).await;
    let (status, created) = api
        .post("/api/v1/me/tokens", &session, json!({"name": "script"}))
        .await;
    assert!(status < 300, "{created}");
    let token_id = str_of(&created, "/token/id").to_string();
    api.get("/api/v1/me/tokens", &session).await;
    api.delete(&format!("/api/v1/me/tokens/{token_id}"), &session)
        .await;
    api.delete("/api/v1/me/tokens/no-such-token", &session)
        .await;
    let (status, _) = api
        .post(
            "/api/v1/auth/password",
            &session,
            json!({"current_password": "wrong", "new_password": "alice-password-2"}),
        )
        .await;
    assert!(status >= 400);
    api.post(
        "/api/v1/auth/reset",
        &anonymous(),
        json!({"token": "no-such-link", "password": "erin-password-1"}),
    )
    .await;
    api.get("/api/v1/me", &anonymous()).await;
    let (_, second) = api
        .post(
            "/api/v1/auth/login",
            &anonymous(),
            json!({"email": "alice@example.com", "password": DEMO_PASSWORD}),
        )
        .await;
    let alice_session = bearer(str_of(&second, "/token"));
    let (_, listed) = api.get("/api/v1/auth/sessions", &alice_session).await;
    let other_session = listed["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["current"] == false)
        .and_then(|s| s["id"].as_str())
        .expect("the first session")
        .to_string();
    api.delete("/api/v1/auth/sessions/no-such-session", &alice_session)
        .await;

    // The desk.
    let alice = bearer(ALICE);
    api.get("/api/v1/me", &alice).await;
    api.put("/api/v1/me/presence", &alice, json!({"presence": "online"}))
        .await;
    api.put("/api/v1/me/presence", &alice, json!({"presence": "sleepy"}))
        .await;
    api.get("/api/v1/teams", &alice).await;
    api.get("/api/v1/quick-replies", &alice).await;

    // A customer is handed off; the agent works the conversation.
    let customer = common::console::Customer::new(&app, "34600900001");
    let conversation = customer.hands_off_to(SUPPORT).await;
    let other = common::console::Customer::new(&app, "34600900002")
        .hands_off_to(SUPPORT)
        .await;
    let conv = format!("/api/v1/conversations/{conversation}");
    api.get("/api/v1/conversations", &alice).await;
    api.get("/api/v1/conversations?status=nonsense", &alice)
        .await;
    api.get(&conv, &alice).await;
    api.get("/api/v1/conversations/no-such-conversation", &alice)
        .await;
    api.post(&format!("{conv}/accept"), &alice, json!({})).await;
    let (status, reply) = api
        .post(
            &format!("{conv}/messages"),
            &alice,
            json!({"text": "Hello!"}),
        )
        .await;
    assert!(status < 300, "{reply}");
    api.post(&format!("{conv}/notes"), &alice, json!({"text": "VIP"}))
        .await;
    api.post(&format!("{conv}/reveal"), &alice, json!({})).await;
    api.get(&format!("{conv}/panel-apps"), &alice).await;
    api.patch(&format!("{conv}/contact"), &alice, json!({"tags": ["vip"]}))
        .await;
    api.patch(&format!("{conv}/contact"), &alice, json!({"tags": "vip"}))
        .await;
    api.post(
        &format!("{conv}/contact/merge"),
        &alice,
        json!({"from_conversation": other}),
    )
    .await;
    let (_, snapshot) = api.get(&conv, &alice).await;
    assert!(snapshot["messages"].is_array(), "{snapshot}");
    let (hour, _) = whole_second_after(std::time::Duration::from_secs(3600));
    api.post(&format!("{conv}/snooze"), &alice, json!({"until": hour}))
        .await;
    api.post(
        &format!("{conv}/transfer"),
        &alice,
        json!({"team": "no-such-team"}),
    )
    .await;
    api.post(
        &format!("/api/v1/conversations/{other}/transfer"),
        &alice,
        json!({"team": "sales"}),
    )
    .await;
    api.post(&format!("{conv}/attachments"), &alice, json!({}))
        .await;
    api.post(&format!("{conv}/resolve"), &alice, json!({}))
        .await;
    api.post(&format!("{conv}/frobnicate"), &alice, json!({}))
        .await;
    api.get("/api/v1/media/no-such-media", &alice).await;

    // Supervisors: presence, contacts, segments, reports.
    let sam_login = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let sam = bearer(sam_login.token());
    api.post(&format!("{conv}/reveal"), &sam, json!({})).await;
    api.put(
        "/api/v1/agents/bob/presence",
        &sam,
        json!({"presence": "away"}),
    )
    .await;
    api.get("/api/v1/contacts", &sam).await;
    api.get("/api/v1/contacts?q=600900001", &sam).await;
    api.get("/api/v1/contacts/34600900001", &sam).await;
    api.get("/api/v1/contacts/no-such-contact", &sam).await;
    api.get("/api/v1/contacts/export.csv", &sam).await;
    api.patch(
        "/api/v1/contacts/34600900001",
        &sam,
        json!({"name": "Ana", "fields": {"plan": "gold"}}),
    )
    .await;
    api.patch(
        "/api/v1/contacts/34600900001",
        &sam,
        json!({"email": "nope"}),
    )
    .await;
    let (status, segment) = api
        .post(
            "/api/v1/segments",
            &sam,
            json!({"name": "VIP", "filter": "'vip' in contact.tags"}),
        )
        .await;
    assert!(status < 300, "{segment}");
    let segment_id = str_of(&segment, "/segment/id").to_string();
    api.get("/api/v1/segments", &sam).await;
    api.post(
        "/api/v1/segments/preview",
        &sam,
        json!({"filter": "'vip' in contact.tags"}),
    )
    .await;
    api.post("/api/v1/segments/preview", &sam, json!({"filter": "(("}))
        .await;
    api.get(&format!("/api/v1/segments/{segment_id}"), &sam)
        .await;
    api.patch(
        &format!("/api/v1/segments/{segment_id}"),
        &sam,
        json!({"name": "VIPs"}),
    )
    .await;
    api.get(&format!("/api/v1/segments/{segment_id}/contacts"), &sam)
        .await;
    api.delete(&format!("/api/v1/segments/{segment_id}"), &sam)
        .await;
    api.get("/api/v1/segments/no-such-segment", &sam).await;
    let day = "from=2026-11-30&to=2026-12-01&tz=Europe/Madrid";
    api.get(&format!("/api/v1/reports/summary?{day}"), &sam)
        .await;
    api.get(&format!("/api/v1/reports/summary?{day}&group=team"), &sam)
        .await;
    api.get(&format!("/api/v1/reports/summary?{day}&group=agent"), &sam)
        .await;
    // One agent's figures: presence, business-hours times, transfers in.
    api.get(
        &format!("/api/v1/reports/summary?{day}&agent=bob&group=hour"),
        &sam,
    )
    .await;
    api.get("/api/v1/reports/summary?from=yesterday", &sam)
        .await;
    api.get(&format!("/api/v1/reports/conversations.csv?{day}"), &sam)
        .await;
    api.get(
        &format!("/api/v1/reports/summary.csv?{day}&group=agent"),
        &sam,
    )
    .await;
    api.get("/api/v1/reports/summary", &alice).await;

    // The administration.
    let admin_login = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let admin = bearer(admin_login.token());
    api.get("/api/v1/admin/users", &admin).await;
    api.get("/api/v1/admin/users", &alice).await;
    let (status, user) = api
        .post(
            "/api/v1/admin/users",
            &admin,
            json!({"id": "erin", "name": "Erin", "email": "erin@example.com", "teams": ["sales"]}),
        )
        .await;
    assert!(status < 300, "{user}");
    api.post(
        "/api/v1/admin/users",
        &admin,
        json!({"id": "erin", "name": "Erin", "email": "erin@example.com"}),
    )
    .await;
    api.get("/api/v1/admin/users/erin", &admin).await;
    api.patch("/api/v1/admin/users/erin", &admin, json!({"capacity": 3}))
        .await;
    api.post_empty("/api/v1/admin/users/erin/reset", &admin)
        .await;
    api.post_empty("/api/v1/admin/users/erin/logout", &admin)
        .await;
    api.delete("/api/v1/admin/users/erin", &admin).await;
    api.get("/api/v1/admin/users/no-such-user", &admin).await;
    api.get("/api/v1/admin/teams", &admin).await;
    api.post(
        "/api/v1/admin/teams",
        &admin,
        json!({"id": "claims", "name": "Claims"}),
    )
    .await;
    api.post(
        "/api/v1/admin/teams",
        &admin,
        json!({"id": "billing", "name": "Billing"}),
    )
    .await;
    api.patch(
        "/api/v1/admin/teams/claims",
        &admin,
        json!({"name": "Claims and returns"}),
    )
    .await;
    api.patch(
        "/api/v1/admin/teams/claims",
        &admin,
        json!({"sla": [
            {"priority": 10, "first_response_seconds": 60, "business_hours": true},
            {"priority": null, "first_response_seconds": 300, "next_response_seconds": 600, "resolution_seconds": 86400},
        ]}),
    )
    .await;
    api.patch(
        "/api/v1/admin/teams/claims",
        &admin,
        json!({"sla": [{"first_response_seconds": 0}]}),
    )
    .await;
    api.get("/api/v1/admin/teams", &admin).await;
    api.delete("/api/v1/admin/teams/claims", &admin).await;
    api.delete("/api/v1/admin/teams/billing", &admin).await;
    // Contact field definitions: defined, refused (bad, taken), read by anyone, changed,
    // deleted.
    api.post(
        "/api/v1/admin/contact-fields",
        &admin,
        json!({"key": "plan", "label": "Plan", "type": "choice", "options": ["Gold", "Silver"]}),
    )
    .await;
    api.post(
        "/api/v1/admin/contact-fields",
        &admin,
        json!({"key": "plan", "label": "Plan", "type": "text"}),
    )
    .await;
    api.post(
        "/api/v1/admin/contact-fields",
        &admin,
        json!({"key": "Bad", "label": "Plan", "type": "text"}),
    )
    .await;
    api.post(
        "/api/v1/admin/contact-fields",
        &admin,
        json!({"key": "seats", "label": "Seats", "type": "number", "description": "Licensed seats"}),
    )
    .await;
    api.get("/api/v1/admin/contact-fields", &admin).await;
    api.get("/api/v1/contact-fields", &alice).await;
    api.patch(
        "/api/v1/admin/contact-fields/plan",
        &admin,
        json!({"label": "Tier", "options": ["Gold", "Silver", "Platinum"]}),
    )
    .await;
    api.patch(
        "/api/v1/admin/contact-fields/plan",
        &admin,
        json!({"type": "text"}),
    )
    .await;
    api.patch(
        "/api/v1/contacts/34600900001",
        &sam,
        json!({"fields": {"seats": "many"}}),
    )
    .await;
    api.delete("/api/v1/admin/contact-fields/seats", &admin)
        .await;
    api.delete("/api/v1/admin/contact-fields/seats", &admin)
        .await;
    let (_, alices) = api
        .post(
            "/api/v1/me/tokens",
            &alice_session,
            json!({"name": "report"}),
        )
        .await;
    api.get("/api/v1/admin/tokens", &admin).await;
    api.get("/api/v1/admin/tokens?user=alice", &admin).await;
    api.delete(
        &format!("/api/v1/admin/tokens/{}", str_of(&alices, "/token/id")),
        &admin,
    )
    .await;
    api.delete("/api/v1/admin/tokens/no-such-token", &admin)
        .await;
    api.get("/api/v1/admin/audit", &admin).await;
    api.get("/api/v1/admin/audit?action=login", &admin).await;
    api.post_empty("/api/v1/admin/reload", &admin).await;

    // API keys, and a key at work.
    let (status, key) = api
        .post(
            "/api/v1/admin/api-keys",
            &admin,
            json!({"name": "CRM", "scopes": ["contacts:read", "contacts:write", "webhooks:manage", "messages:send"]}),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let key_id = str_of(&key, "/api_key/id").to_string();
    let crm = bearer(str_of(&key, "/api_key/token"));
    api.get("/api/v1/admin/api-keys", &admin).await;
    api.get(&format!("/api/v1/admin/api-keys/{key_id}"), &admin)
        .await;
    api.post(
        "/api/v1/admin/api-keys",
        &admin,
        json!({"name": "x", "scopes": []}),
    )
    .await;
    api.put(
        "/api/v1/contacts",
        &crm,
        json!({"match": {"phone": "+34 600 900 004"}, "set": {"tags": ["parcel-pending"]}}),
    )
    .await;
    api.put("/api/v1/contacts", &crm, json!({"match": {}}))
        .await;
    api.get("/api/v1/contacts/34600900004", &crm).await;
    api.post(
        "/api/v1/contacts/merge",
        &sam,
        json!({"into": "34600900001", "from": "34600900004"}),
    )
    .await;
    api.post(
        "/api/v1/contacts/merge",
        &sam,
        json!({"into": "34600900001", "from": "no-such-contact"}),
    )
    .await;
    api.get("/api/v1/conversations", &crm).await;
    api.get("/api/v1/me", &crm).await;
    // The key writes to the customer (a new conversation: the last one is resolved), then hands
    // it to sales.
    let (status, sent) = api
        .post(
            "/api/v1/contacts/34600900001/messages",
            &crm,
            json!({"channel": "support", "text": "Your parcel is on its way."}),
        )
        .await;
    assert_eq!(status, 202, "{sent}");
    api.post(
        "/api/v1/contacts/34600900001/messages",
        &crm,
        json!({"channel": "nope", "text": "x"}),
    )
    .await;
    let opened = str_of(&sent, "/conversation_id").to_string();
    let (status, handed) = api
        .post(
            &format!("/api/v1/conversations/{opened}/handoff"),
            &crm,
            json!({"team": "sales", "note": "Parcel question"}),
        )
        .await;
    assert_eq!(status, 200, "{handed}");
    api.post(
        &format!("/api/v1/conversations/{opened}/handoff"),
        &crm,
        json!({"team": "atlantis"}),
    )
    .await;

    // Templates and consent (docs/CAMPAIGNS.md).
    let (status, synced) = api.post("/api/v1/templates/sync", &admin, json!({})).await;
    assert_eq!(status, 200, "{synced}");
    api.post("/api/v1/templates/sync", &admin, json!({"channel": "nope"}))
        .await;
    let (status, listed) = api.get("/api/v1/templates?channel=support", &crm).await;
    assert_eq!(status, 200, "{listed}");
    api.get("/api/v1/templates?category=PROMO", &admin).await;
    // An agent fills a template, sees it and sends it (docs/CAMPAIGNS.md, "Sending a template").
    let filled = json!({"channel": "support", "name": "parcel_update", "language": "en_US",
                        "body": ["PX-1"]});
    let (status, previewed) = api.post("/api/v1/templates/preview", &alice, filled).await;
    assert_eq!(status, 200, "{previewed}");
    api.post(
        "/api/v1/templates/preview",
        &alice,
        json!({"channel": "support", "name": "parcel_update", "language": "en_US"}),
    )
    .await;
    let third = common::console::Customer::new(&app, "34600900003")
        .hands_off_to(SUPPORT)
        .await;
    let third = format!("/api/v1/conversations/{third}");
    api.post(&format!("{third}/accept"), &alice, json!({}))
        .await;
    let (status, offered) = api.get(&format!("{third}/templates"), &alice).await;
    assert_eq!(status, 200, "{offered}");
    let (status, sent) = api
        .post(
            &format!("{third}/messages"),
            &alice,
            json!({"template": {"name": "parcel_update", "language": "en_US", "body": ["PX-1"]}}),
        )
        .await;
    assert_eq!(status, 201, "{sent}");
    let (status, recorded) = api
        .post(
            "/api/v1/contacts/34600900001/consent",
            &crm,
            json!({"channel": "support", "source": "web_form", "proof": "form #1"}),
        )
        .await;
    assert_eq!(status, 201, "{recorded}");
    api.post(
        "/api/v1/contacts/34600900001/consent",
        &crm,
        json!({"channel": "support"}),
    )
    .await;
    let (status, consent) = api.get("/api/v1/contacts/34600900001/consent", &crm).await;
    assert_eq!(status, 200, "{consent}");
    api.get("/api/v1/contacts/no-such-contact/consent", &admin)
        .await;
    let (status, _) = api.get("/api/v1/consent.csv", &admin).await;
    assert_eq!(status, 200);
    api.get("/api/v1/consent.csv", &crm).await;

    // Event webhooks.
    let (status, hook) = api
        .post(
            "/api/v1/webhooks",
            &admin,
            json!({"url": "https://crm.example.com/hooks", "events": ["contact.updated"]}),
        )
        .await;
    assert!(status < 300, "{hook}");
    let hook_id = str_of(&hook, "/webhook/id").to_string();
    let hook_path = format!("/api/v1/webhooks/{hook_id}");
    api.get("/api/v1/webhooks", &admin).await;
    api.get("/api/v1/webhooks", &crm).await;
    api.get(&hook_path, &admin).await;
    // A contact changes: the endpoint gets a delivery (its URL does not answer: it stays in
    // the log, pending or failed), which an admin replays.
    api.patch(
        "/api/v1/contacts/34600900001",
        &sam,
        json!({"tags": ["vip", "openapi"]}),
    )
    .await;
    let deadline = std::time::Instant::now() + WAIT;
    let log = loop {
        let (_, log) = api.get(&format!("{hook_path}/deliveries"), &admin).await;
        if log["deliveries"][0].is_object() || std::time::Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    if let Some(delivery) = log["deliveries"][0]["id"].as_str() {
        api.post_empty(&format!("{hook_path}/deliveries/{delivery}/replay"), &admin)
            .await;
        api.get(&format!("{hook_path}/deliveries"), &admin).await;
    }
    api.patch(&hook_path, &admin, json!({"enabled": false}))
        .await;
    api.patch(&hook_path, &admin, json!({"enabled": "yes"}))
        .await;
    api.post_empty(&format!("{hook_path}/rotate"), &admin).await;
    api.get(&format!("{hook_path}/deliveries"), &admin).await;
    api.post_empty(
        &format!("{hook_path}/deliveries/no-such-delivery/replay"),
        &admin,
    )
    .await;
    api.post(
        &format!("{hook_path}/replay"),
        &admin,
        json!({"since": "2000-01-01T00:00:00Z"}),
    )
    .await;
    api.delete(&hook_path, &admin).await;
    api.post_empty(&format!("/api/v1/admin/api-keys/{key_id}/rotate"), &admin)
        .await;
    api.delete(&format!("/api/v1/admin/api-keys/{key_id}"), &admin)
        .await;

    // Panel apps.
    let (status, panel) = api
        .post(
            "/api/v1/admin/panel-apps",
            &admin,
            json!({"name": "Orders", "url": "https://crm.example.com/panel"}),
        )
        .await;
    assert!(status < 300, "{panel}");
    let panel_id = str_of(&panel, "/panel_app/id").to_string();
    api.get("/api/v1/admin/panel-apps", &admin).await;
    api.get(&format!("/api/v1/conversations/{other}/panel-apps"), &sam)
        .await;
    api.patch(
        &format!("/api/v1/admin/panel-apps/{panel_id}"),
        &admin,
        json!({"name": "Order history"}),
    )
    .await;
    api.patch(
        &format!("/api/v1/admin/panel-apps/{panel_id}"),
        &admin,
        json!({"url": "javascript:alert(1)"}),
    )
    .await;
    api.post_empty(
        &format!("/api/v1/admin/panel-apps/{panel_id}/rotate"),
        &admin,
    )
    .await;
    api.delete(&format!("/api/v1/admin/panel-apps/{panel_id}"), &admin)
        .await;

    // Push notifications' settings.
    api.get("/api/v1/me/notifications", &alice).await;
    api.put("/api/v1/me/notifications", &alice, json!({"sound": false}))
        .await;
    api.put("/api/v1/me/notifications", &alice, json!({"volume": 11}))
        .await;
    api.get("/api/v1/push/key", &alice).await;
    api.get("/api/v1/me/push-subscriptions", &alice).await;
    api.post(
        "/api/v1/me/push-subscriptions",
        &alice,
        json!({"endpoint": "https://push.example.com/x", "keys": {"p256dh": "AAAA", "auth": "AAAA"}}),
    )
    .await;
    api.delete("/api/v1/me/push-subscriptions/no-such-subscription", &alice)
        .await;

    // The widget.
    let (status, started) = api
        .post(
            "/api/v1/widget/sessions",
            &widget(None),
            json!({"name": "Visitor"}),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let visitor = widget(Some(str_of(&started, "/visitor_token")));
    api.post(
        "/api/v1/widget/messages",
        &visitor,
        json!({"client_id": "m-1", "text": "Hi"}),
    )
    .await;
    api.post("/api/v1/widget/messages", &visitor, json!({"text": 1}))
        .await;
    // The transcript shows the visitor's message and the bot's answer once they are stored.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (_, transcript) = api.get("/api/v1/widget/transcript?after=0", &visitor).await;
        let shown = transcript["messages"].as_array().map_or(0, Vec::len);
        if shown >= 2 || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    api.get("/api/v1/widget/status", &visitor).await;
    api.post(
        "/api/v1/widget/offline",
        &visitor,
        json!({"client_id": "m-2", "email": "visitor@example.com", "message": "Call me"}),
    )
    .await;
    api.get("/api/v1/widget/media/no-such-media", &visitor)
        .await;
    api.post(
        "/api/v1/widget/attachments?client_id=m-3",
        &visitor,
        json!({}),
    )
    .await;
    api.get("/api/v1/widget/status", &widget(Some("wcv_nope")))
        .await;

    // The channels' webhooks.
    api.get(
        &format!(
            "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={}&hub.challenge=42",
            common::VERIFY_TOKEN
        ),
        &anonymous(),
    )
    .await;
    api.get(
        "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=42",
        &anonymous(),
    )
    .await;
    api.post("/webhooks/whatsapp", &anonymous(), json!({"object": "x"}))
        .await;
    let inbound = common::text_webhook("34600900009", "wamid.openapi-1", "Hello");
    let signed = As {
        bearer: None,
        headers: vec![(
            "x-hub-signature-256",
            app.sign(inbound.to_string().as_bytes()),
        )],
    };
    let (status, _) = api
        .call(
            Method::POST,
            "/webhooks/whatsapp",
            &signed,
            Some(inbound.clone()),
        )
        .await;
    assert_eq!(status, 200);
    api.get("/webhooks/messenger?hub.mode=subscribe", &anonymous())
        .await;
    api.post("/webhooks/messenger", &anonymous(), json!({}))
        .await;
    api.get("/webhooks/instagram?hub.mode=subscribe", &anonymous())
        .await;
    api.post("/webhooks/instagram", &anonymous(), json!({}))
        .await;
    api.post("/webhooks/telegram/nope", &anonymous(), json!({}))
        .await;
    api.get("/webhooks/x?crc_token=abc", &anonymous()).await;
    api.post("/webhooks/x", &anonymous(), json!({})).await;

    // Ending sessions.
    api.delete(
        &format!("/api/v1/auth/sessions/{other_session}"),
        &alice_session,
    )
    .await;
    api.delete("/api/v1/auth/sessions", &alice_session).await;
    let (_, again) = api
        .post(
            "/api/v1/auth/login",
            &anonymous(),
            json!({"email": "alice@example.com", "password": DEMO_PASSWORD}),
        )
        .await;
    let session = bearer(str_of(&again, "/token"));
    // Logging out ends the session.
    let (status, _) = api.post_empty("/api/v1/auth/logout", &session).await;
    assert!(status < 300);
    api.get("/api/v1/auth/sessions", &session).await;

    // What the flow exercised, route by route.
    let seen = checker.seen.borrow();
    let mut missed = Vec::new();
    let mut total = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("an item").keys() {
            total += 1;
            let key = (method.to_ascii_uppercase(), path.clone());
            match seen.get(&key) {
                Some(statuses) => println!("exercised  {method:7} {path}  {statuses:?}"),
                None => missed.push(format!("{method} {path}")),
            }
        }
    }
    for m in &missed {
        println!("not exercised  {m}");
    }
    let exercised = total - missed.len();
    println!("{exercised} of {total} operations exercised");
    assert!(
        exercised * 100 >= total * 90,
        "the flow exercises {exercised} of {total} operations; not exercised: {missed:#?}"
    );
}
