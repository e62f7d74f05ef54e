//! Headers every answer carries, and the console API's CORS policy.
//!
//! - Every response: `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, and a
//!   `Content-Security-Policy`: for HTML, the console's strict policy (own origin only, no
//!   inline script or style, no framing); for anything else, nothing may load at all.
//! - The console API (`/api/…`): `Cache-Control: no-store`, and CORS preflights answered for
//!   the gateway's own origin and `security.allowed_origins` only.

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Next};

/// The console's policy for HTML: scripts, styles, images, fonts and connections (REST and the
/// websocket) from the gateway itself; no inline script, no plugins, no framing.
pub const HTML_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; media-src 'self' blob:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/// The console page's policy: [`HTML_CSP`], and the origins of the registered panel apps as the
/// only frames it may show (`frame-src`; none registered: no frame at all). Computed for every
/// load of the page, so a registration applies at the console's next load, without a restart.
/// The origins come from [`crate::integrations::panel_apps::origin`] (scheme, host and port of a
/// checked URL: nothing that could end a directive).
pub fn console_csp(frame_origins: &[String]) -> String {
    let mut origins: Vec<&str> = frame_origins
        .iter()
        .map(String::as_str)
        .filter(|o| {
            !o.is_empty()
                && o.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b';' && b != b',')
        })
        .collect();
    origins.sort_unstable();
    origins.dedup();
    let frames = if origins.is_empty() {
        "'none'".to_string()
    } else {
        origins.join(" ")
    };
    format!("{HTML_CSP}; frame-src {frames}")
}

/// Everything else (JSON, text, metrics) is data, never a document that loads anything.
pub const DATA_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Middleware (with `actix_web::middleware::from_fn`) adding the headers every answer carries.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(if html { HTML_CSP } else { DATA_CSP }),
        );
    }
    Ok(response)
}

/// `Cache-Control: no-store` on the API's answers (they hold customers' data).
pub fn api_cache_control() -> DefaultHeaders {
    DefaultHeaders::new().add((header::CACHE_CONTROL, "no-store"))
}

/// The console API's CORS policy: the gateway's own origin and `allowed_origins`.
pub fn cors(allowed_origins: Vec<String>) -> Cors {
    Cors::default()
        .allowed_origin_fn(move |origin, head| {
            let host = head
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok());
            origin
                .to_str()
                .is_ok_and(|o| super::origin::allowed(o, host, &allowed_origins))
        })
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([header::RETRY_AFTER, super::request_id::HEADER])
        .max_age(600)
}

#[cfg(test)]
mod tests {
    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpResponse, test, web};

    use super::*;

    #[::core::prelude::v1::test]
    fn the_console_frames_only_the_panel_apps_origins() {
        assert_eq!(console_csp(&[]), format!("{HTML_CSP}; frame-src 'none'"));
        let csp = console_csp(&[
            "https://crm.example.com".into(),
            "http://127.0.0.1:9090".into(),
            "https://crm.example.com".into(),
        ]);
        assert!(csp.starts_with(HTML_CSP), "{csp}");
        assert!(
            csp.ends_with("; frame-src http://127.0.0.1:9090 https://crm.example.com"),
            "{csp}"
        );
        // Anything that could end the directive or add a source is left out.
        let csp = console_csp(&["https://a.com; script-src *".into(), "x,y".into()]);
        assert!(csp.ends_with("; frame-src 'none'"), "{csp}");
        assert!(!csp.contains('*'), "{csp}");
    }

    #[actix_web::test]
    async fn html_gets_the_strict_policy_and_data_gets_none() {
        let app = test::init_service(
            App::new()
                .wrap(from_fn(security_headers))
                .route(
                    "/page",
                    web::get().to(|| async {
                        HttpResponse::Ok()
                            .content_type("text/html; charset=utf-8")
                            .body("<!doctype html><p>hi</p>")
                    }),
                )
                .route(
                    "/data",
                    web::get().to(|| async { HttpResponse::Ok().json(serde_json::json!({})) }),
                ),
        )
        .await;
        let page =
            test::call_service(&app, test::TestRequest::get().uri("/page").to_request()).await;
        let csp = page.headers().get(header::CONTENT_SECURITY_POLICY).cloned();
        assert_eq!(csp.as_ref().and_then(|v| v.to_str().ok()), Some(HTML_CSP));
        assert!(HTML_CSP.contains("script-src 'self'") && !HTML_CSP.contains("unsafe-inline"));
        let data =
            test::call_service(&app, test::TestRequest::get().uri("/data").to_request()).await;
        assert_eq!(
            data.headers()
                .get(header::CONTENT_SECURITY_POLICY)
                .and_then(|v| v.to_str().ok()),
            Some(DATA_CSP)
        );
        for response in [&page, &data] {
            assert_eq!(
                response.headers().get(header::X_CONTENT_TYPE_OPTIONS),
                Some(&HeaderValue::from_static("nosniff"))
            );
            assert_eq!(
                response.headers().get(header::REFERRER_POLICY),
                Some(&HeaderValue::from_static("no-referrer"))
            );
        }
    }
}
