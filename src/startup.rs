//! `Application::build(settings)`: opens the store, starts the senders, the conversation
//! registry, the partition dispatchers and the sweep, binds the listener (port 0 in tests),
//! and serves until stopped.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};
use secrecy::ExposeSecret;

use crate::bot::{Bot, HttpExecutor};
use crate::channels::signature::SignatureVerifier;
use crate::channels::whatsapp::webhook::WhatsappWebhookParser;
use crate::config::Settings;
use crate::conversation::{ConversationDeps, ConversationRegistry, Partitions, spawn_sweeper};
use crate::domain::ChannelId;
use crate::http::{AppState, routes};
use crate::intake::Intake;
use crate::outbound::Outbound;
use crate::store::Store;
use crate::store::sqlite::SqliteStore;

pub struct Application {
    port: u16,
    server: Server,
    handle: AppHandle,
}

/// What a test or `main` keeps to inspect and stop a running application.
#[derive(Clone)]
pub struct AppHandle {
    server: ServerHandle,
    pub store: Arc<dyn Store>,
    pub conversations: ConversationRegistry,
    sweeper: Arc<actix_rt::task::JoinHandle<()>>,
}

impl AppHandle {
    /// Stop accepting requests, let in-flight ones finish, stop the actors, flush the store.
    pub async fn stop(&self) {
        self.server.stop(true).await;
        self.sweeper.abort();
        self.conversations.stop().await;
        self.store.close().await;
    }
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let prometheus = crate::metrics::install();

        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&settings.database_url(), &settings.database).await?);

        let http_client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.whatsapp.request_timeout_ms))
            .pool_max_idle_per_host(64)
            .build()?;
        let outbound = Outbound::start(&settings, http_client.clone(), store.clone());
        // Messages recorded before a restart but never handed to the provider.
        for message in store.queued_outbound().await? {
            if let Some(sender) = outbound.sender(&message.channel) {
                let _ = sender.send(message).await;
            }
        }

        let mut bots = HashMap::new();
        let mut compiled: HashMap<String, Arc<Bot>> = HashMap::new();
        for (id, channel) in &settings.channels {
            let bot = match compiled.get(&channel.bot) {
                Some(bot) => bot.clone(),
                None => {
                    let config = settings.bots.get(&channel.bot).ok_or_else(|| {
                        anyhow::anyhow!("channel {id} names unknown bot {}", channel.bot)
                    })?;
                    let bot = Arc::new(Bot::new(config)?);
                    compiled.insert(channel.bot.clone(), bot.clone());
                    bot
                }
            };
            bots.insert(ChannelId::new(id.clone()), bot);
        }
        let http_actions = HttpExecutor::new(Duration::from_millis(
            settings.conversations.http_action_timeout_ms,
        ))?;

        let deps = Arc::new(ConversationDeps::new(
            store.clone(),
            bots,
            http_actions,
            outbound,
            settings.conversations.clone(),
            settings.whatsapp.mark_as_read,
        ));
        let conversations = ConversationRegistry::new(deps);
        let partitions = Partitions::start(
            settings.intake.partitions,
            settings.intake.partition_capacity,
            conversations.clone(),
        );
        let sweeper = spawn_sweeper(
            store.clone(),
            conversations.clone(),
            Duration::from_millis(settings.conversations.sweep_interval_ms.max(10)),
            Duration::from_millis(settings.conversations.sweep_grace_ms),
        );

        let state = web::Data::new(AppState {
            settings: settings.clone(),
            store: store.clone(),
            intake: Intake::new(&settings, store.clone(), partitions),
            conversations: conversations.clone(),
            whatsapp_verifier: SignatureVerifier::new(
                settings.whatsapp.app_secret.expose_secret().as_bytes(),
            )
            .map_err(|e| anyhow::anyhow!("app secret: {e}"))?,
            whatsapp_parser: Box::new(WhatsappWebhookParser),
            prometheus,
        });

        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))?;
        let port = listener.local_addr()?.port();
        let mut server =
            HttpServer::new(move || App::new().app_data(state.clone()).configure(routes))
                .listen(listener)?
                .shutdown_timeout(10);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server.run();
        let handle = AppHandle {
            server: server.handle(),
            store,
            conversations,
            sweeper: Arc::new(sweeper),
        };
        tracing::info!(port, "switchboard listening");
        Ok(Self {
            port,
            server,
            handle,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> AppHandle {
        self.handle.clone()
    }

    /// Serve until the server stops (Ctrl-C / SIGTERM, or `AppHandle::stop`).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
