//! A request id for every HTTP request: the caller's `X-Request-Id` when it sent a sane one
//! (a proxy's, a load balancer's), else a new one. It is echoed back in the response's
//! `X-Request-Id` and carried by a `request` span, so every log line written while the request
//! is handled (JSON logs: `span.request_id`) can be found from the answer a caller holds.
//!
//! The finished request is logged at `debug` (method, route template, status, milliseconds),
//! at `warn` for a 5xx. Never the path's values or the query string: they may hold tokens.

use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

/// The header carrying the id, both ways.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id taken from a caller; a longer one is replaced.
const MAX_LEN: usize = 128;

/// A request's id, in the request's extensions for handlers that want it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The caller's id if it is one we may log and echo: 1 to 128 characters of letters, digits
/// and `-_.:/+=`. Anything else (empty, too long, spaces, control characters, quotes) is
/// replaced by a new id.
pub fn accept(sent: Option<&str>) -> Option<String> {
    let sent = sent?;
    let fine = !sent.is_empty()
        && sent.len() <= MAX_LEN
        && sent
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=".contains(&b));
    fine.then(|| sent.to_string())
}

/// A new id: a UUID v7 (time-ordered), hyphenated.
pub fn generate() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

/// Middleware (with `actix_web::middleware::from_fn`): the id, its span, the echo, the log.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let sent = req.headers().get(&HEADER).and_then(|v| v.to_str().ok());
    let id = accept(sent).unwrap_or_else(generate);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = %id, method = %method);
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let _entered = span.enter();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let route = response
                .request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_string());
            if status >= 500 {
                tracing::warn!(%route, status, elapsed_ms, "request failed");
            } else {
                tracing::debug!(%route, status, elapsed_ms, "request");
            }
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(HEADER, value);
            }
            Ok(response)
        }
        Err(e) => {
            tracing::warn!(error = %e, elapsed_ms, "request failed");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::middleware::from_fn;
    use actix_web::test as actix_test;
    use actix_web::{App, HttpResponse, web};

    use super::*;

    #[test]
    fn a_sane_id_is_taken_anything_else_is_replaced() {
        assert_eq!(accept(Some("abc-123")), Some("abc-123".into()));
        assert_eq!(
            accept(Some("Root=1-5759e988-bd862e3fe1be46a994272793")),
            Some("Root=1-5759e988-bd862e3fe1be46a994272793".into())
        );
        assert_eq!(accept(None), None);
        assert_eq!(accept(Some("")), None);
        assert_eq!(accept(Some("a b")), None);
        assert_eq!(accept(Some("a\"b")), None);
        assert_eq!(accept(Some("line\nbreak")), None);
        assert_eq!(accept(Some("é")), None);
        assert_eq!(
            accept(Some(&"x".repeat(MAX_LEN))),
            Some("x".repeat(MAX_LEN))
        );
        assert_eq!(accept(Some(&"x".repeat(MAX_LEN + 1))), None);
        let id = generate();
        assert_eq!(accept(Some(&id)), Some(id.clone()));
        assert_ne!(generate(), id);
    }

    #[actix_web::test]
    async fn the_id_is_echoed_or_made_and_handlers_see_it() {
        let app = actix_test::init_service(App::new().wrap(from_fn(request_id)).route(
            "/",
            web::get().to(|req: actix_web::HttpRequest| async move {
                let id = req
                    .extensions()
                    .get::<RequestId>()
                    .map(|r| r.0.clone())
                    .unwrap_or_default();
                HttpResponse::Ok().body(id)
            }),
        ))
        .await;
        let sent = actix_test::TestRequest::get()
            .uri("/")
            .insert_header(("x-request-id", "from-the-proxy-1"))
            .to_request();
        let response = actix_test::call_service(&app, sent).await;
        assert_eq!(
            response.headers().get("x-request-id").map(|v| v.as_bytes()),
            Some(&b"from-the-proxy-1"[..])
        );
        assert_eq!(actix_test::read_body(response).await, "from-the-proxy-1");

        let bad = actix_test::TestRequest::get()
            .uri("/")
            .insert_header(("x-request-id", "no spaces please"))
            .to_request();
        let response = actix_test::call_service(&app, bad).await;
        let echoed = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_default();
        assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "{echoed}");
        assert_eq!(actix_test::read_body(response).await, echoed.as_bytes());
    }
}
