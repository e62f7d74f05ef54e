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

use crate::assign::board::Board;
use crate::assign::memory::MemoryAssignments;
use crate::assign::{Assignments, Placement, Ticket};
use crate::bot::{Bot, HttpExecutor};
use crate::channels::signature::SignatureVerifier;
use crate::channels::whatsapp::webhook::WhatsappWebhookParser;
use crate::config::Settings;
use crate::conversation::commands::conversation_ref;
use crate::conversation::{ConversationDeps, ConversationRegistry, Partitions, spawn_sweeper};
use crate::desk::Desk;
use crate::domain::{ChannelId, TeamId};
use crate::http::{AppState, routes};
use crate::intake::Intake;
use crate::outbound::Outbound;
use crate::routing::Router;
use crate::routing::actor::RouterActor;
use crate::store::ConversationStatus;
use crate::store::Store;

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
    pub desk: Arc<Desk>,
    sweeper: Arc<actix_rt::task::JoinHandle<()>>,
    sampler: Arc<actix_rt::task::JoinHandle<()>>,
    desk_arbiter: actix::ArbiterHandle,
}

impl AppHandle {
    /// Stop accepting requests, let in-flight ones finish, stop the actors, flush the store.
    pub async fn stop(&self) {
        self.server.stop(true).await;
        self.sweeper.abort();
        self.sampler.abort();
        self.conversations.stop().await;
        self.desk_arbiter.stop();
        self.store.close().await;
    }
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let prometheus = crate::metrics::install();

        let store: Arc<dyn Store> = crate::store::open(&settings.database).await?;

        let http_client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.whatsapp.request_timeout_ms))
            .pool_max_idle_per_host(64)
            .build()?;
        let outbound = Outbound::start(&settings, http_client.clone(), store.clone());
        // Messages recorded before a restart that have no outcome yet.
        outbound
            .resume(
                store.as_ref(),
                |_| true,
                Duration::from_millis(settings.outbound.resend_unconfirmed_after_ms),
            )
            .await?;

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

        // Routing, team queues and agents, on their own thread.
        let desk_arbiter = actix::Arbiter::new().handle();
        let assignments: Arc<dyn Assignments> =
            Arc::new(MemoryAssignments::new(Board::from_settings(&settings)));
        let desk = Arc::new(Desk::start(
            settings.clone(),
            store.clone(),
            assignments,
            &desk_arbiter,
        )?);
        let router = Arc::new(Router::new(
            &settings.routing,
            &settings.teams,
            http_client.clone(),
        )?);
        let router = RouterActor::start_on(&desk_arbiter, router, 1024);

        let deps = Arc::new(ConversationDeps::new(
            store.clone(),
            bots,
            http_actions,
            outbound,
            settings.conversations.clone(),
            settings.whatsapp.mark_as_read,
            desk.clone(),
            router,
        ));
        let conversations = ConversationRegistry::new(deps);
        desk.attach(conversations.clone());
        restore(&store, &desk).await?;
        let sampler = desk.spawn_sampler();
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
            desk: desk.clone(),
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
            desk,
            sweeper: Arc::new(sweeper),
            sampler: Arc::new(sampler),
            desk_arbiter,
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

/// Rebuild the queues and assignments from the store after a start: assigned conversations go
/// back to their agents (who start offline until their consoles say otherwise), waiting ones
/// back to their queues in order, snoozed ones get their reopen timers.
async fn restore(store: &Arc<dyn Store>, desk: &Arc<Desk>) -> anyhow::Result<()> {
    let open = store.open_conversations().await?;
    let default_team = TeamId::new(desk.settings.routing.default_team.clone());
    let ticket = |c: &crate::store::ConversationRecord| Ticket {
        conversation: conversation_ref(c),
        team: c
            .team
            .clone()
            .filter(|t| desk.settings.teams.contains_key(t.as_str()))
            .unwrap_or_else(|| default_team.clone()),
        priority: c.priority,
        arrival_ms: c.handoff_at.unwrap_or(c.created_at),
        preferred_agent: None,
    };
    let mut assigned = Vec::new();
    let mut waiting = Vec::new();
    for c in &open {
        match c.status {
            ConversationStatus::Assigned => match &c.assignee {
                Some(agent) if desk.agent(agent).is_some() => {
                    assigned.push((ticket(c), agent.clone()))
                }
                _ => waiting.push(ticket(c)),
            },
            ConversationStatus::Waiting => waiting.push(ticket(c)),
            ConversationStatus::Snoozed => {
                desk.schedule_reopen(conversation_ref(c), c.snoozed_until.unwrap_or(0));
            }
            _ => {}
        }
    }
    if !assigned.is_empty() || !waiting.is_empty() {
        tracing::info!(
            assigned = assigned.len(),
            waiting = waiting.len(),
            "restoring queues and assignments"
        );
    }
    let queued: Vec<Ticket> = waiting.clone();
    desk.assignments.restore(assigned, waiting).await?;
    for ticket in queued {
        if let Ok(Some(position)) = desk.assignments.position(&ticket.conversation.id).await {
            desk.watch(Placement::Queued {
                conversation: ticket.conversation,
                team: ticket.team,
                position,
            })
            .await;
        }
    }
    Ok(())
}
