//! The HTTP edge (actix-web): webhooks, health, metrics.

pub mod admin;
pub mod api_keys;
pub mod auth;
pub mod auth_api;
pub mod body;
pub mod business;
pub mod console;
pub mod contacts;
pub mod contacts_erase;
pub mod error;
pub mod event_webhooks;
pub mod headers;
pub mod health;
pub mod media;
pub mod origin;
pub mod panel_apps;
pub mod push;
pub mod reports;
pub mod request_id;
pub mod segments;
pub mod webapp;
pub mod webhooks;
pub mod widget;
pub mod ws;
pub mod ws_limit;

use std::sync::Arc;

use actix_web::web;
use metrics_exporter_prometheus::PrometheusHandle;

pub use error::ApiError;

use crate::channels::WebhookParser;
use crate::channels::signature::SignatureVerifier;
use crate::config::Settings;
use crate::conversation::Conversations;
use crate::desk::Desk;
use crate::intake::Intake;
use crate::store::Store;

/// Shared, read-only state of the HTTP workers.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub intake: Intake,
    pub conversations: Conversations,
    pub whatsapp_verifier: SignatureVerifier,
    pub whatsapp_parser: Box<dyn WebhookParser>,
    /// Keyed with `messenger.app_secret`; `None` when no Messenger page is configured (then
    /// `/webhooks/messenger` answers 404).
    pub messenger_verifier: Option<SignatureVerifier>,
    /// Keyed with `instagram.app_secret`; `None` when no Instagram account is configured (then
    /// `/webhooks/instagram` answers 404).
    pub instagram_verifier: Option<SignatureVerifier>,
    /// Keyed with `x.consumer_secret`; `None` when no X account is configured (then
    /// `/webhooks/x` answers 404).
    pub x_signer: Option<crate::channels::x::XSigner>,
    pub prometheus: PrometheusHandle,
    pub desk: Arc<Desk>,
    /// Memory of the webhook bodies still arriving.
    pub bodies: body::BodyBudget,
    /// Failed authentications per client address and credential.
    pub auth_throttle: Arc<crate::accounts::throttle::AuthThrottle>,
    /// Reloads the bot flows and routing rules from the configuration files.
    pub reloader: Arc<crate::reload::Reloader>,
    /// Users, sessions, tokens, the directory and the audit log.
    pub accounts: Arc<crate::accounts::service::Accounts>,
    /// Who is viewing or typing in which conversation (collisions).
    pub activity: Arc<crate::activity::Activity>,
    /// Attachments: the media store and records, Meta's media endpoints.
    pub media: Arc<crate::media::Media>,
    /// The channels' senders (the Telegram webhook answers button presses through them).
    pub outbound: crate::outbound::Outbound,
    /// The web chat widget's visitors, wakes and limits.
    pub webchat: Arc<widget::Webchat>,
    /// Event webhooks: endpoints, deliveries, replays.
    pub webhooks: Arc<crate::integrations::webhooks::Webhooks>,
    /// The CRM's saved segments.
    pub segments: Arc<crate::crm::segments::Segments>,
    /// API keys of business systems: records, recognition, rate limits.
    pub api_keys: Arc<crate::integrations::api_keys::ApiKeys>,
    /// Panel apps' registrations (the durable store's table).
    pub panel_apps: Arc<dyn crate::integrations::panel_app_records::PanelAppRecords>,
}

/// Every route, with the console API behind its CORS policy (`allowed_origins`: the origins
/// besides the gateway's own that may call it from a browser).
pub fn routes(allowed_origins: Vec<String>) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.route("/", web::get().to(webapp::index))
            .route("/", web::head().to(webapp::index))
            // The console's files go compressed to browsers that take it (gzip, brotli, zstd:
            // actix picks from Accept-Encoding); nothing else is compressed here.
            .service(
                web::resource("/assets/{path:.*}")
                    .wrap(actix_web::middleware::Compress::default())
                    .route(web::get().to(webapp::asset)),
            )
            .route("/sw.js", web::get().to(webapp::worker))
            .route("/manifest.webmanifest", web::get().to(webapp::manifest))
            .route("/webhooks/whatsapp", web::get().to(webhooks::verify))
            .route("/webhooks/whatsapp", web::post().to(webhooks::receive))
            .route(
                "/webhooks/messenger",
                web::get().to(webhooks::verify_messenger),
            )
            .route(
                "/webhooks/messenger",
                web::post().to(webhooks::receive_messenger),
            )
            .route(
                "/webhooks/instagram",
                web::get().to(webhooks::verify_instagram),
            )
            .route(
                "/webhooks/instagram",
                web::post().to(webhooks::receive_instagram),
            )
            .route(
                "/webhooks/telegram/{channel}",
                web::post().to(webhooks::receive_telegram),
            )
            .route("/webhooks/x", web::get().to(webhooks::crc_x))
            .route("/webhooks/x", web::post().to(webhooks::receive_x))
            // The web chat widget's script, for the pages of the sites that embed it.
            .service(
                web::resource("/widget.js")
                    .wrap(actix_web::middleware::Compress::default())
                    .route(web::get().to(widget::script)),
            )
            .route("/healthz", web::get().to(health::healthz))
            .route("/readyz", web::get().to(health::readyz))
            .route("/metrics", web::get().to(health::metrics))
            // Before the console's `/api/v1`: the widget's API has its own CORS policy.
            .service(widget::scope())
            .service(
                console::scope()
                    .wrap(headers::api_cache_control())
                    .wrap(headers::cors(allowed_origins.clone())),
            );
    }
}
