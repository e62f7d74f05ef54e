//! A fake business API for the demo bot, the router and the tests: order tracking, appointment
//! booking and open support tickets.
//!
//! Endpoint contract (all JSON, mounted under `/business`):
//!
//! * `GET /business/orders/{number}`: `200 {"number","status","eta","carrier"}` for a known
//!   order, else `404 {"error":"not found"}`. Demo orders: `A1234` (shipped, DHL, eta
//!   2026-12-01), `B5678` (processing, eta 2026-12-10), `C9012` (delivered, eta 2026-11-20).
//! * `POST /business/appointments` with `{"name","date","phone"}` (strings; `date` required
//!   and non-empty): `201 {"id":"APT-<n>","name","date","phone","status":"confirmed"}`, `n`
//!   counting from 1; a body that is not a JSON object or lacks `date` gets
//!   `400 {"error":"..."}`.
//! * `GET /business/tickets?phone=<digits>`: the customer's open support ticket, for the
//!   routing lookup `open_ticket`. `200 {"open":true,"ticket":"T-1001","subject":"Damaged
//!   parcel"}` for phone `34600000001`; `200 {"open":false}` for any other phone, or none.
//!
//! * `GET /business/panel` (with `panel.js`, `panel.css`): the demo's panel app, the page the
//!   console shows in the customer panel. It takes the console's `{type:
//!   "switchboard.context", token}` message from its parent window, only from the console
//!   origins it is told ([`FakeBusiness::set_panel_origins`]; `frame-ancestors` too), and
//!   shows the customer's orders.
//! * `POST /business/panel/context` with `{"token"}`: the token checked with the app's secret
//!   and id (HS256 signature, issuer, audience, expiry: [`panel_apps::verify`], the gateway's
//!   own code) → `200 {"conversation", "contact", "agent", "orders": [order…]}`, else
//!   `401 {"error"}`. A customer's orders: by the contact's id (its WhatsApp number in the
//!   demo): `16505551234` has `A1234` and `B5678`, `34611122233` has `C9012`
//!   ([`FakeBusiness::add_customer_order`]).
//!
//! Every request is recorded ([`FakeBusiness::requests`]); [`FakeBusiness::set_delay`] makes
//! every answer slow (timeout tests). Mount it with [`FakeBusiness::service`] (carries its
//! state), or with [`configure`] plus `web::Data<FakeBusiness>` in the app data.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, Scope, web};
use serde_json::{Value, json};

use crate::integrations::panel_apps;

/// The demo panel app's id (config/base.yaml `panel_apps.demo-orders`): the tokens' audience.
pub const DEMO_PANEL_APP_ID: &str = "demo-orders";
/// Its secret (config/base.yaml; public, refused outside the demo environments).
pub const DEMO_PANEL_APP_SECRET: &str = "psk_demo-orders-panel-app-secret";
/// The demo console's origins (`cargo run` serves it on port 8080).
pub const DEMO_CONSOLE_ORIGINS: [&str; 2] = ["http://127.0.0.1:8080", "http://localhost:8080"];

const PANEL_HTML: &str = include_str!("panel/index.html");
const PANEL_JS: &str = include_str!("panel/panel.js");
const PANEL_CSS: &str = include_str!("panel/panel.css");

/// A request the fake received.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path, e.g. `/business/orders/A1234`.
    pub path: String,
    /// The query string, without the `?` (empty when there is none), e.g. `phone=34600000001`.
    pub query: String,
    /// The JSON body, when it parsed.
    pub body: Option<Value>,
}

/// Shared state of the fake: orders, booked appointments, recorded requests.
#[derive(Clone, Debug)]
pub struct FakeBusiness {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    orders: BTreeMap<String, Value>,
    appointments: Vec<Value>,
    requests: Vec<RecordedRequest>,
    delay: Duration,
    /// Order numbers by customer (the contact's id).
    customer_orders: BTreeMap<String, Vec<String>>,
    panel: Panel,
}

/// The panel app the fake plays: its id and secret (as registered in the gateway) and the
/// console origins it takes messages from and may be framed by.
#[derive(Clone, Debug)]
struct Panel {
    app_id: String,
    secret: String,
    origins: Vec<String>,
}

impl Default for FakeBusiness {
    fn default() -> Self {
        let orders = [
            ("A1234", "shipped", "2026-12-01", "DHL"),
            ("B5678", "processing", "2026-12-10", "UPS"),
            ("C9012", "delivered", "2026-11-20", "SEUR"),
        ]
        .into_iter()
        .map(|(number, status, eta, carrier)| {
            let order = json!({"number": number, "status": status, "eta": eta, "carrier": carrier});
            (number.to_string(), order)
        })
        .collect();
        let customer_orders = [
            ("16505551234", vec!["A1234", "B5678"]),
            ("34611122233", vec!["C9012"]),
        ]
        .into_iter()
        .map(|(c, o)| (c.to_string(), o.into_iter().map(String::from).collect()))
        .collect();
        Self {
            inner: Arc::new(Mutex::new(Inner {
                orders,
                appointments: Vec::new(),
                requests: Vec::new(),
                delay: Duration::ZERO,
                customer_orders,
                panel: Panel {
                    app_id: DEMO_PANEL_APP_ID.into(),
                    secret: DEMO_PANEL_APP_SECRET.into(),
                    origins: DEMO_CONSOLE_ORIGINS.iter().map(|o| o.to_string()).collect(),
                },
            })),
        }
    }
}

impl FakeBusiness {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the data inconsistent: keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The routes under `/business`, with this state attached.
    pub fn service(&self) -> Scope {
        routes(web::scope("/business").app_data(web::Data::new(self.clone())))
    }

    /// Add or replace an order (`order` is returned as is by `GET /business/orders/{number}`).
    pub fn add_order(&self, number: &str, order: Value) {
        self.lock().orders.insert(number.to_string(), order);
    }

    /// Give customer `customer` (a contact's id) the order `number` (see [`Self::add_order`]).
    pub fn add_customer_order(&self, customer: &str, number: &str) {
        self.lock()
            .customer_orders
            .entry(customer.to_string())
            .or_default()
            .push(number.to_string());
    }

    /// The panel app this fake is: its id and secret as the gateway registered it.
    pub fn set_panel_app(&self, app_id: &str, secret: &str) {
        let mut inner = self.lock();
        inner.panel.app_id = app_id.to_string();
        inner.panel.secret = secret.to_string();
    }

    /// The console origins the panel page takes the context from (and may be framed by).
    pub fn set_panel_origins(&self, origins: Vec<String>) {
        self.lock().panel.origins = origins;
    }

    /// Requests received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Appointments booked so far.
    pub fn appointments(&self) -> Vec<Value> {
        self.lock().appointments.clone()
    }

    /// Delay every answer by `delay` (zero by default).
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    fn record(&self, req: &HttpRequest, body: Option<Value>) -> Duration {
        let mut inner = self.lock();
        inner.requests.push(RecordedRequest {
            method: req.method().to_string(),
            path: req.path().to_string(),
            query: req.query_string().to_string(),
            body,
        });
        inner.delay
    }
}

/// Register the routes under `/business`; the app must provide `web::Data<FakeBusiness>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(routes(web::scope("/business")));
}

fn routes(scope: Scope) -> Scope {
    scope
        .route("/orders/{number}", web::get().to(get_order))
        .route("/appointments", web::post().to(book_appointment))
        .route("/tickets", web::get().to(get_tickets))
        .route("/panel", web::get().to(panel_page))
        .route("/panel.js", web::get().to(panel_script))
        .route("/panel.css", web::get().to(panel_style))
        .route("/panel/context", web::post().to(panel_context))
}

/// The console origins fit for the page's meta tag and `frame-ancestors`: what a URL's origin
/// serializes to (nothing that could end an attribute or a directive).
fn safe_origins(origins: &[String]) -> Vec<&str> {
    origins
        .iter()
        .map(String::as_str)
        .filter(|o| {
            (o.starts_with("http://") || o.starts_with("https://"))
                && o.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || matches!(b, b':' | b'/' | b'.' | b'-' | b'[' | b']')
                })
        })
        .collect()
}

async fn panel_page(state: web::Data<FakeBusiness>, req: HttpRequest) -> HttpResponse {
    state.record(&req, None);
    let origins = state.lock().panel.origins.clone();
    let origins = safe_origins(&origins);
    let ancestors = if origins.is_empty() {
        "'none'".to_string()
    } else {
        origins.join(" ")
    };
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
         base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}"
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(PANEL_HTML.replace("{{ORIGINS}}", &origins.join(" ")))
}

async fn panel_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .body(PANEL_JS)
}

async fn panel_style() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(PANEL_CSS)
}

/// What the panel page shows for a context token: checked with the app's secret, else 401.
async fn panel_context(
    state: web::Data<FakeBusiness>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    state.record(&req, parsed.clone());
    let Some(token) = parsed
        .as_ref()
        .and_then(|b| b.get("token"))
        .and_then(Value::as_str)
    else {
        return HttpResponse::BadRequest().json(json!({"error": "expected {\"token\"}"}));
    };
    let panel = state.lock().panel.clone();
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    let claims = match panel_apps::verify(&panel.secret, &panel.app_id, token, now) {
        Ok(claims) => claims,
        Err(e) => {
            return HttpResponse::Unauthorized()
                .json(json!({"error": format!("the token does not verify: {e}")}));
        }
    };
    let context = claims.custom;
    let orders: Vec<Value> = {
        let inner = state.lock();
        inner
            .customer_orders
            .get(&context.contact.id)
            .into_iter()
            .flatten()
            .filter_map(|n| inner.orders.get(n).cloned())
            .collect()
    };
    HttpResponse::Ok().json(json!({
        "conversation": context.conversation,
        "team": context.team,
        "contact": context.contact,
        "agent": context.agent,
        "orders": orders,
    }))
}

async fn pause(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

async fn get_order(
    state: web::Data<FakeBusiness>,
    req: HttpRequest,
    number: web::Path<String>,
) -> HttpResponse {
    let delay = state.record(&req, None);
    pause(delay).await;
    let order = state.lock().orders.get(number.as_str()).cloned();
    match order {
        Some(order) => HttpResponse::Ok().json(order),
        None => HttpResponse::NotFound().json(json!({"error": "not found"})),
    }
}

/// The demo customer with an open ticket.
const TICKET_PHONE: &str = "34600000001";

async fn get_tickets(state: web::Data<FakeBusiness>, req: HttpRequest) -> HttpResponse {
    let delay = state.record(&req, None);
    pause(delay).await;
    // Lenient like the real systems it stands for: a query that does not parse has no phone.
    let query: BTreeMap<String, String> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    if query.get("phone").map(String::as_str) == Some(TICKET_PHONE) {
        HttpResponse::Ok()
            .json(json!({"open": true, "ticket": "T-1001", "subject": "Damaged parcel"}))
    } else {
        HttpResponse::Ok().json(json!({"open": false}))
    }
}

async fn book_appointment(
    state: web::Data<FakeBusiness>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let delay = state.record(&req, parsed.clone());
    pause(delay).await;
    let Some(Value::Object(fields)) = parsed else {
        return HttpResponse::BadRequest().json(json!({"error": "expected a JSON object"}));
    };
    let text = |key: &str| fields.get(key).and_then(Value::as_str).unwrap_or_default();
    if text("date").trim().is_empty() {
        return HttpResponse::BadRequest().json(json!({"error": "date is required"}));
    }
    let mut inner = state.lock();
    let id = format!("APT-{}", inner.appointments.len() + 1);
    let appointment = json!({
        "id": id,
        "name": text("name"),
        "date": text("date"),
        "phone": text("phone"),
        "status": "confirmed",
    });
    inner.appointments.push(appointment.clone());
    HttpResponse::Created().json(appointment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{App, test};

    #[actix_web::test]
    async fn serves_orders_and_appointments() {
        let fake = FakeBusiness::default();
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(fake.clone()))
                .configure(configure),
        )
        .await;

        let req = test::TestRequest::get()
            .uri("/business/orders/A1234")
            .to_request();
        let body: Value = test::call_and_read_body_json(&app, req).await;
        assert_eq!(
            body,
            json!({"number":"A1234","status":"shipped","eta":"2026-12-01","carrier":"DHL"})
        );

        let req = test::TestRequest::get()
            .uri("/business/orders/NOPE")
            .to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), 404);
        let body: Value = test::read_body_json(resp).await;
        assert_eq!(body, json!({"error": "not found"}));

        let req = test::TestRequest::post()
            .uri("/business/appointments")
            .set_json(json!({"name": "Ana", "date": "next Monday", "phone": "34600"}))
            .to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), 201);
        let body: Value = test::read_body_json(resp).await;
        assert_eq!(body["id"], "APT-1");
        assert_eq!(body["date"], "next Monday");

        let req = test::TestRequest::post()
            .uri("/business/appointments")
            .set_payload("not json")
            .to_request();
        assert_eq!(test::call_service(&app, req).await.status(), 400);
        let req = test::TestRequest::post()
            .uri("/business/appointments")
            .set_json(json!({"name": "Ana"}))
            .to_request();
        assert_eq!(test::call_service(&app, req).await.status(), 400);

        assert_eq!(fake.requests().len(), 5);
        assert_eq!(fake.appointments().len(), 1);
        assert_eq!(fake.requests()[1].path, "/business/orders/NOPE");
    }

    #[actix_web::test]
    async fn the_panel_shows_a_verified_customers_orders_and_refuses_other_tokens() {
        use crate::integrations::panel_apps::{AgentClaim, ContactClaim, PanelContext};
        let fake = FakeBusiness::default();
        fake.set_panel_origins(vec!["http://127.0.0.1:8081".into(), "\"><script>".into()]);
        let app = test::init_service(App::new().service(fake.service())).await;
        let page = test::call_service(
            &app,
            test::TestRequest::get().uri("/business/panel").to_request(),
        )
        .await;
        assert_eq!(page.status(), 200);
        let csp = page
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            csp.ends_with("frame-ancestors http://127.0.0.1:8081"),
            "{csp}"
        );
        let html = String::from_utf8_lossy(&test::read_body(page).await).into_owned();
        assert!(
            html.contains(r#"<meta name="switchboard-origins" content="http://127.0.0.1:8081">"#),
            "{html}"
        );
        assert!(!html.contains("<script>\""), "{html}");

        let context = |customer: &str| PanelContext {
            conversation: "conv-1".into(),
            team: Some("support".into()),
            contact: ContactClaim {
                id: customer.into(),
                name: Some("Sheena".into()),
                phone: None,
                channel: "support".into(),
            },
            agent: AgentClaim {
                id: "alice".into(),
                name: "Alice".into(),
            },
        };
        let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
        let ask = |token: String| {
            test::TestRequest::post()
                .uri("/business/panel/context")
                .set_json(json!({ "token": token }))
                .to_request()
        };
        let token = panel_apps::mint(
            DEMO_PANEL_APP_SECRET,
            DEMO_PANEL_APP_ID,
            context("16505551234"),
            now,
        )
        .expect("minted");
        let body: Value = test::call_and_read_body_json(&app, ask(token)).await;
        assert_eq!(body["conversation"], "conv-1");
        assert_eq!(body["agent"]["name"], "Alice");
        let numbers: Vec<&str> = body["orders"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["number"].as_str())
            .collect();
        assert_eq!(numbers, ["A1234", "B5678"]);
        // A customer without orders: none.
        let token = panel_apps::mint(
            DEMO_PANEL_APP_SECRET,
            DEMO_PANEL_APP_ID,
            context("999"),
            now,
        )
        .expect("minted");
        let body: Value = test::call_and_read_body_json(&app, ask(token)).await;
        assert_eq!(body["orders"], json!([]));
        // Another secret, another app's audience, an expired token, no token: refused.
        for token in [
            panel_apps::mint(
                "psk_another-secret-entirely",
                DEMO_PANEL_APP_ID,
                context("16505551234"),
                now,
            ),
            panel_apps::mint(DEMO_PANEL_APP_SECRET, "crm", context("16505551234"), now),
            panel_apps::mint(
                DEMO_PANEL_APP_SECRET,
                DEMO_PANEL_APP_ID,
                context("16505551234"),
                now - 3600,
            ),
        ] {
            let resp = test::call_service(&app, ask(token.expect("minted"))).await;
            assert_eq!(resp.status(), 401);
        }
        let resp = test::call_service(
            &app,
            test::TestRequest::post()
                .uri("/business/panel/context")
                .set_payload("nope")
                .to_request(),
        )
        .await;
        assert_eq!(resp.status(), 400);
        for path in ["/business/panel.js", "/business/panel.css"] {
            let resp =
                test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
            assert_eq!(resp.status(), 200, "{path}");
        }
    }

    #[actix_web::test]
    async fn serves_tickets() {
        let fake = FakeBusiness::default();
        let app = test::init_service(App::new().service(fake.service())).await;

        let req = test::TestRequest::get()
            .uri("/business/tickets?phone=34600000001")
            .to_request();
        let body: Value = test::call_and_read_body_json(&app, req).await;
        assert_eq!(
            body,
            json!({"open": true, "ticket": "T-1001", "subject": "Damaged parcel"})
        );
        for uri in ["/business/tickets?phone=34600000002", "/business/tickets"] {
            let req = test::TestRequest::get().uri(uri).to_request();
            let body: Value = test::call_and_read_body_json(&app, req).await;
            assert_eq!(body, json!({"open": false}));
        }

        let requests = fake.requests();
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[0].method, "GET");
        assert_eq!(requests[0].path, "/business/tickets");
        assert_eq!(requests[0].query, "phone=34600000001");
        assert_eq!(requests[2].query, "");
    }
}
