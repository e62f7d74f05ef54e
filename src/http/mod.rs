//! The HTTP edge (actix-web): webhooks, health, metrics.

pub mod admin;
pub mod api_keys;
pub mod auth;
pub mod auth_api;
pub mod body;
pub mod business;
pub mod campaign_runs;
pub mod campaigns;
pub mod console;
pub mod contact_fields;
pub mod contacts;
pub mod contacts_erase;
pub mod contacts_import;
pub mod error;
pub mod event_webhooks;
pub mod headers;
pub mod health;
pub mod media;
pub mod openapi;
pub mod origin;
pub mod panel_apps;
pub mod push;
pub mod reports;
pub mod request_id;
pub mod schemas;
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
    /// The supervisor board's SLA figures (at risk, breached), read at most every 5 s.
    pub live_sla: Arc<crate::reports::live::LiveSla>,
    /// Templates and the consent ledger.
    pub campaigns: Arc<crate::campaigns::Campaigns>,
    /// Campaigns: their records and runs.
    pub runner: Arc<crate::campaigns::runner::Runner>,
}

/// Every route, with the console API behind its CORS policy (`allowed_origins`: the origins
/// besides the gateway's own that may call it from a browser).
pub fn routes(allowed_origins: Vec<String>) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        register(cfg, &mut openapi::Book::default(), allowed_origins.clone());
    }
}

/// Registers every route into `cfg`, and each route's documentation into `book` (see
/// [`openapi`]: the OpenAPI document is built from these registrations).
pub fn register(
    cfg: &mut web::ServiceConfig,
    book: &mut openapi::Book,
    allowed_origins: Vec<String>,
) {
    use actix_web::http::Method;
    const CONSOLE_FILES: &str = "the web console's files (HTML, scripts, styles)";
    let widget = widget::scope().configure(|cfg| {
        widget::routes(&mut openapi::Api::new(cfg, widget::PREFIX, book));
    });
    let console = console::scope().configure(|cfg| {
        console::routes(&mut openapi::Api::new(cfg, console::PREFIX, book));
    });
    let mut api = openapi::Api::new(cfg, "", book);
    api.other(
        Method::GET,
        "/",
        web::get().to(webapp::index),
        CONSOLE_FILES,
    )
    .other(
        Method::HEAD,
        "/",
        web::head().to(webapp::index),
        CONSOLE_FILES,
    )
    // The console's files go compressed to browsers that take it (gzip, brotli, zstd:
    // actix picks from Accept-Encoding); nothing else is compressed here.
    .other_service(
        Method::GET,
        "/assets/{path:.*}",
        web::resource("/assets/{path:.*}")
            .wrap(actix_web::middleware::Compress::default())
            .route(web::get().to(webapp::asset)),
        CONSOLE_FILES,
    )
    .other(
        Method::GET,
        "/sw.js",
        web::get().to(webapp::worker),
        CONSOLE_FILES,
    )
    .other(
        Method::GET,
        "/manifest.webmanifest",
        web::get().to(webapp::manifest),
        CONSOLE_FILES,
    )
    .op(webhooks::__path_verify, webhooks::verify)
    .op(webhooks::__path_receive, webhooks::receive)
    .op(
        webhooks::__path_verify_messenger,
        webhooks::verify_messenger,
    )
    .op(
        webhooks::__path_receive_messenger,
        webhooks::receive_messenger,
    )
    .op(
        webhooks::__path_verify_instagram,
        webhooks::verify_instagram,
    )
    .op(
        webhooks::__path_receive_instagram,
        webhooks::receive_instagram,
    )
    .op(
        webhooks::__path_receive_telegram,
        webhooks::receive_telegram,
    )
    .op(webhooks::__path_crc_x, webhooks::crc_x)
    .op(webhooks::__path_receive_x, webhooks::receive_x)
    // The web chat widget's script, for the pages of the sites that embed it.
    .other_service(
        Method::GET,
        "/widget.js",
        web::resource("/widget.js")
            .wrap(actix_web::middleware::Compress::default())
            .route(web::get().to(widget::script)),
        "the web chat widget's script (JavaScript)",
    )
    .op(health::__path_healthz, health::healthz)
    .op(health::__path_readyz, health::readyz)
    .op(health::__path_metrics, health::metrics);
    openapi::routes(&mut api);
    // Before the console's `/api/v1`: the widget's API has its own CORS policy.
    api.scope(widget).scope(
        console
            .wrap(headers::api_cache_control())
            .wrap(headers::cors(allowed_origins)),
    );
}
