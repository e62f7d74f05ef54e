//! The ceiling: a minimal actix-web server whose `POST /webhooks/whatsapp` verifies the
//! signature (`SignatureVerifier`) and parses the body with the gateway's own parser
//! (`WhatsappWebhookParser`), then answers 200 and does nothing else. It runs as its own
//! process (`loadtest serve-baseline`), like the gateway, with the same number of HTTP workers,
//! and the same scenario is fired at it, so the gateway's results read as a ratio to it.

use std::hint::black_box;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::{Context, Result};
use switchboard::channels::WebhookParser;
use switchboard::channels::signature::{SIGNATURE_HEADER, SignatureVerifier};
use switchboard::channels::whatsapp::webhook::WhatsappWebhookParser;

/// Meta's largest webhook body; the gateway's `server.max_body_bytes` default.
const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

struct State {
    verifier: SignatureVerifier,
}

async fn receive(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let header = req.headers().get(SIGNATURE_HEADER).map(|v| v.as_bytes());
    if state.verifier.verify(header, &body).is_err() {
        return HttpResponse::Unauthorized().finish();
    }
    match WhatsappWebhookParser.parse(&body) {
        Ok(envelopes) => {
            black_box(envelopes);
            HttpResponse::Ok().finish()
        }
        Err(_) => HttpResponse::BadRequest().finish(),
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().finish()
}

/// Serve on 127.0.0.1:`port` until killed (`workers` 0: one per core, like the gateway).
pub fn serve(port: u16, workers: usize, app_secret: &str) -> Result<()> {
    let verifier = SignatureVerifier::new(app_secret.as_bytes())
        .map_err(|e| anyhow::anyhow!("app secret: {e}"))?;
    let state = web::Data::new(State { verifier });
    actix_web::rt::System::new().block_on(async move {
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .route("/webhooks/whatsapp", web::post().to(receive))
                .route("/healthz", web::get().to(healthz))
        })
        .bind(("127.0.0.1", port))
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
        if workers > 0 {
            server = server.workers(workers);
        }
        server.run().await.context("baseline server")
    })
}
