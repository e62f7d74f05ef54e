//! Liveness, readiness and the Prometheus scrape endpoint.

use actix_web::{HttpResponse, web};

use super::AppState;

/// The process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses(
        (status = 200, description = "OK.", body = super::schemas::HealthHealthzResponse),
    )
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// The process can take traffic: the store answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "OK.", body = super::schemas::HealthReadyzResponse),
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        Err(e) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"status": "unavailable", "reason": e.to_string()})),
    }
}

/// The Prometheus exposition. Before rendering: the live actors, and whether the store answers a
/// ping within 2 s (`switchboard_store_up`, for the "database away" alert).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus metrics (text exposition format).", body = String, content_type = "text/plain"),
    )
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let deps = state.conversations.registry().deps();
    metrics::gauge!(crate::metrics::LIVE_CONVERSATIONS).set(deps.live_actors() as f64);
    metrics::gauge!(crate::metrics::CONVERSATION_BACKLOG).set(deps.backlog.len() as f64);
    let ping = tokio::time::timeout(std::time::Duration::from_secs(2), state.store.ping()).await;
    let up = matches!(ping, Ok(Ok(())));
    metrics::gauge!(crate::metrics::STORE_UP).set(if up { 1.0 } else { 0.0 });
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.prometheus.render())
}
