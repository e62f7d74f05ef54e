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
//! Every request is recorded ([`FakeBusiness::requests`]); [`FakeBusiness::set_delay`] makes
//! every answer slow (timeout tests). Mount it with [`FakeBusiness::service`] (carries its
//! state), or with [`configure`] plus `web::Data<FakeBusiness>` in the app data.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, Scope, web};
use serde_json::{Value, json};

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
        Self {
            inner: Arc::new(Mutex::new(Inner {
                orders,
                appointments: Vec::new(),
                requests: Vec::new(),
                delay: Duration::ZERO,
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
