//! `Application::build(settings)`: opens the store, starts the senders, the desk (routing,
//! queues, agents), the conversations and the way events reach them, binds the listener (port 0
//! in tests), and serves until stopped.
//!
//! The embedded mode (one process) and the cluster mode (`redis.url` set: several nodes sharing
//! Redis and PostgreSQL) build the same parts; only the seams differ: where assignment state,
//! console events, timers and outbound limits live, and how events reach a conversation's actor
//! (in-memory partitions here, partition streams with leases in a cluster).

use std::net::TcpListener;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};
use async_trait::async_trait;
use secrecy::ExposeSecret;

use crate::accounts::directory::{Directory, Snapshot};
use crate::accounts::service::Accounts;
use crate::agents::{ConsoleLog, StoreConsoleLog};
use crate::assign::board::Board;
use crate::assign::memory::MemoryAssignments;
use crate::assign::redis::RedisAssignments;
use crate::assign::{Assignments, Placement, Ticket};
use crate::bot::HttpExecutor;
use crate::channels::signature::SignatureVerifier;
use crate::channels::whatsapp::webhook::WhatsappWebhookParser;
use crate::cluster::Cluster;
use crate::cluster::console::RedisConsoleLog;
use crate::cluster::inbox::{InboxHost, RedisInbox, Resume};
use crate::cluster::leases::LeaseKeeper;
use crate::cluster::throttle::RedisThrottle;
use crate::cluster::timers::RedisTimers;
use crate::config::Settings;
use crate::conversation::commands::{Command, conversation_ref};
use crate::conversation::{
    ConversationDeps, ConversationRegistry, Conversations, InboundLog, Partitions, Remote,
    spawn_sweeper,
};
use crate::desk::Desk;
use crate::domain::TeamId;
use crate::http::{AppState, routes};
use crate::intake::Intake;
use crate::outbound::Outbound;
use crate::reload::{Live, LiveConfig, Reloader};
use crate::routing::actor::RouterActor;
use crate::store::ConversationStatus;
use crate::store::Store;
use crate::timers::{ConversationsCell, LocalTimers, Scheduler};

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
    /// This node's conversation actors.
    pub conversations: ConversationRegistry,
    pub desk: Arc<Desk>,
    /// Cluster mode: this node's connection to the cluster.
    pub cluster: Option<Arc<Cluster>>,
    /// Cluster mode: the node's leases, given back on a graceful stop.
    leases: Option<Arc<LeaseKeeper>>,
    /// Background loops (sweep, gauges, presence, retention, cluster readers), aborted on stop.
    tasks: Arc<Vec<actix_rt::task::JoinHandle<()>>>,
    desk_arbiter: actix::ArbiterHandle,
    /// Reloads the bot flows and routing rules (SIGHUP, the admin API).
    pub reloader: Arc<Reloader>,
    /// The web chat's visitors and transcripts.
    pub webchat: Arc<dyn crate::channels::webchat::records::WebchatRecords>,
}

impl AppHandle {
    /// Stop accepting requests, let in-flight ones finish, hand the partitions to the other
    /// nodes (cluster mode), stop the actors and the senders (what they have not sent stays
    /// recorded for the next start), flush the store.
    pub async fn stop(&self) {
        self.server.stop(true).await;
        for task in self.tasks.iter() {
            task.abort();
        }
        if let Some(leases) = &self.leases {
            leases.leave().await;
        }
        self.conversations.stop().await;
        self.conversations.deps().outbound.stop();
        self.desk_arbiter.stop();
        self.store.close().await;
    }
}

/// The cluster mode's parts that are not behind the embedded mode's seams.
struct ClusterParts {
    cluster: Arc<Cluster>,
    console: Arc<RedisConsoleLog>,
    timers: Arc<RedisTimers>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let prometheus = crate::metrics::install();

        let store: Arc<dyn Store> = crate::store::open(&settings.database).await?;
        // The people: seeded from the YAML into an empty store once; the store's from then on.
        let people = Accounts::seed_and_load(store.as_ref(), &settings).await?;
        let people = Snapshot::new(people);
        Accounts::refuse_demo_credentials(store.as_ref(), &people, &settings).await?;
        let directory = Arc::new(Directory::new(people));
        let (team_specs, agent_specs) = directory.get().specs();
        let people_version = directory.version();

        let http_client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.whatsapp.request_timeout_ms))
            .pool_max_idle_per_host(64)
            .build()?;

        // The bot flows and routing rules: one snapshot a reload swaps whole (crate::reload).
        let live = LiveConfig::new(
            Live::compile(
                &settings.bots,
                &settings.routing,
                &settings.channels,
                &settings.teams,
                http_client.clone(),
                None,
            )
            .map_err(|e| anyhow::anyhow!(e))?,
        );
        tracing::info!(fingerprint = %live.fingerprint(), "bot flows and routing rules compiled");
        // A question saving media or a location to a typed contact field would ask forever.
        for warning in crate::crm::fields::question_mismatches(
            directory.get().fields(),
            &live.question_fields(),
        ) {
            tracing::warn!("{warning}: such answers are refused and the question asked again");
        }
        let reloader = Arc::new(Reloader::new(
            settings.clone(),
            live.clone(),
            http_client.clone(),
        ));
        let http_actions = HttpExecutor::new(Duration::from_millis(
            settings.conversations.http_action_timeout_ms,
        ))?;

        // Cluster mode (Redis set) or the embedded mode: the same parts, different seams.
        let parts = match settings.redis.enabled() {
            true => {
                let cluster = Cluster::connect(&settings).await?;
                Some(ClusterParts {
                    console: RedisConsoleLog::new(cluster.clone(), store.clone()),
                    timers: RedisTimers::new(cluster.clone()),
                    cluster,
                })
            }
            false => None,
        };
        let conversations_cell: ConversationsCell = Arc::new(OnceLock::new());
        let (assignments, console_log, timers): (
            Arc<dyn Assignments>,
            Arc<dyn ConsoleLog>,
            Arc<dyn Scheduler>,
        ) = match &parts {
            Some(parts) => (
                Arc::new(
                    RedisAssignments::connect(
                        parts.cluster.conn(),
                        parts.cluster.namespace(),
                        team_specs,
                        agent_specs,
                        people_version,
                    )
                    .await?,
                ),
                parts.console.clone(),
                parts.timers.clone(),
            ),
            None => (
                Arc::new(MemoryAssignments::new(Board::new(team_specs, agent_specs))),
                Arc::new(StoreConsoleLog(store.clone())),
                Arc::new(LocalTimers::new(conversations_cell.clone())),
            ),
        };
        // Attachments: the media store of this mode (Telegram's sender reads agents' files from
        // it) and, below, the downloader of customers' media.
        let media = crate::media::Media::open(settings.clone(), http_client.clone()).await?;
        let files: Arc<dyn crate::channels::StoredFiles> = media.clone();
        // Web chat visitors' sockets are woken when a message is sent to them (on any node).
        let wakeups =
            crate::channels::webchat::wake::Wakeups::new(parts.as_ref().map(|p| p.cluster.clone()));
        let outbound = match &parts {
            Some(parts) => Outbound::start_all(
                &settings,
                http_client.clone(),
                store.clone(),
                Some(files.clone()),
                |channel, mps, outbound| {
                    Arc::new(RedisThrottle::new(
                        parts.cluster.clone(),
                        channel,
                        mps,
                        outbound,
                    ))
                },
                wakeups.clone(),
            ),
            None => Outbound::start_all(
                &settings,
                http_client.clone(),
                store.clone(),
                Some(files.clone()),
                |_, mps, outbound| Arc::new(crate::outbound::LocalThrottle::new(mps, outbound)),
                wakeups.clone(),
            ),
        };
        let unconfirmed = Duration::from_millis(settings.outbound.resend_unconfirmed_after_ms);
        // The webhooks answer Telegram button presses through the bots' senders.
        let webhook_outbound = outbound.clone();
        crate::channels::telegram::client::register_webhooks(&settings, http_client.clone());

        // Routing, team queues and agents, on their own thread.
        let desk_arbiter = actix::Arbiter::new().handle();
        let (teams_now, agents_now) = directory.get().specs();
        assignments
            .configure(teams_now, agents_now, people_version)
            .await?;
        // Who is viewing or typing where (collisions) and what changed in conversations, for
        // the consoles; shared by every node in a cluster.
        let activity = crate::activity::Activity::new(parts.as_ref().map(|p| p.cluster.clone()));
        let desk = Arc::new(Desk::start(
            settings.clone(),
            directory.clone(),
            assignments,
            console_log,
            conversations_cell,
            timers,
            activity.clone(),
            &desk_arbiter,
        )?);
        let router = RouterActor::start_on(&desk_arbiter, live.clone(), 1024);

        // Templates and the consent ledger (docs/CAMPAIGNS.md).
        let campaigns = Arc::new(crate::campaigns::Campaigns::new(
            &settings,
            http_client.clone(),
            crate::campaigns::records::open(&settings.database).await?,
        ));
        // Whether any event webhook endpoint is enabled (kept by the webhooks below).
        let subscribed = crate::integrations::webhooks::Subscribed::default();
        let deps = Arc::new(
            ConversationDeps::new(
                store.clone(),
                live,
                http_actions,
                outbound.clone(),
                settings.conversations.clone(),
                settings.whatsapp.mark_as_read,
                desk.clone(),
                router,
            )
            .with_windows(crate::channels::ChannelWindows::from_settings(&settings))
            .with_campaigns(campaigns.clone())
            .with_event_webhooks(subscribed.clone())
            .with_sla(
                crate::reports::sla_rules::SlaRules::from_settings(&settings)
                    .map_err(anyhow::Error::msg)?
                    .with_directory(directory.clone()),
            ),
        );
        let live_sla = Arc::new(crate::reports::live::LiveSla::new(
            store.clone(),
            deps.sla.clone(),
        ));
        let registry = ConversationRegistry::new(deps);
        let auth_throttle = Arc::new(crate::accounts::throttle::AuthThrottle::new(
            &settings.security,
        ));
        let accounts = Arc::new(Accounts::new(
            store.clone(),
            directory.clone(),
            desk.clone(),
            settings.clone(),
            auth_throttle.clone(),
        ));
        let visitors = crate::channels::webchat::records::open(&settings).await?;
        // Panel apps' registrations.
        let panel_apps = crate::integrations::panel_app_records::open(&settings.database).await?;
        {
            use crate::integrations::panel_app_records as records;
            let people = directory.get();
            let rows = records::seed_rows(
                &settings.panel_apps,
                crate::config::DEMO_ENVIRONMENTS.contains(&settings.environment.as_str()),
                |t| people.team(&crate::domain::TeamId::new(t)).is_some(),
                chrono::Utc::now().timestamp_millis(),
            )
            .map_err(|e| anyhow::anyhow!(e))?;
            let added = records::seed(panel_apps.as_ref(), rows).await?;
            if added > 0 {
                tracing::info!(added, "panel apps registered from the configuration");
            }
        }
        // Event webhooks: the records, and the delivery lane (its own task and bound).
        let webhooks = crate::integrations::webhooks::Webhooks::open(
            &settings,
            store.clone(),
            desk.clone(),
            subscribed,
        )
        .await?;
        // Segments count with long reads: two connections of their own.
        let segments = Arc::new(crate::crm::segments::Segments::new(
            crate::store::side::SidePool::open(&settings.database, 2).await?,
        ));
        // API keys of business systems: their records and limits.
        let api_keys = crate::integrations::api_keys::ApiKeys::open(&settings).await?;
        let mut tasks = vec![
            media.spawn_downloader(),
            accounts.spawn_refresher(),
            accounts.spawn_housekeeping(),
            desk.spawn_sampler(),
            desk.spawn_presence_keeper(),
            spawn_retention(store.clone(), visitors.clone(), &settings),
        ];
        // Agents' online and away time and occupancy (docs/REPORTS.md, "Presence").
        if settings.reports.presence_sample_seconds > 0 {
            tasks.push(
                crate::reports::sampler::PresenceSampler::new(
                    desk.assignments.clone(),
                    store.clone(),
                    settings.reports.presence_sample_seconds,
                    parts.as_ref().map(|p| p.cluster.clone()),
                )
                .spawn(),
            );
        }
        tasks.push(webhooks.spawn_subscription_watch());
        if settings.event_webhooks.enabled {
            tasks.push(webhooks.spawn());
        }
        // Templates synced on a schedule, one node at a time.
        tasks.extend(campaigns.spawn_scheduler());
        tasks.extend(activity.spawn());
        tasks.extend(wakeups.spawn());
        let webchat = Arc::new(crate::http::widget::Webchat {
            records: visitors.clone(),
            wakeups,
            limits: crate::channels::webchat::limits::Limits::new(&settings.webchat),
        });
        // Web Push: the VAPID key pair every node shares, and the queue of notices.
        if settings.push.enabled {
            let vapid = crate::push::Vapid::load(store.as_ref()).await?;
            let (pusher, task) = crate::push::Pusher::start(
                &settings.push,
                store.clone(),
                http_client.clone(),
                vapid,
            );
            desk.attach_push(pusher);
            tasks.push(task);
        }
        let sweep_every = Duration::from_millis(settings.conversations.sweep_interval_ms.max(10));
        let sweep_grace = Duration::from_millis(settings.conversations.sweep_grace_ms);
        let mut leases = None;
        let (conversations, log): (Conversations, Arc<dyn InboundLog>) = match &parts {
            None => {
                let conversations = Conversations::new(registry.clone(), None);
                desk.attach(conversations.clone());
                // Messages recorded before a restart that have no outcome yet.
                outbound
                    .resume(store.as_ref(), |_| true, unconfirmed)
                    .await?;
                restore(&store, &desk).await?;
                schedule_sla_checks(&store, &desk, &registry.deps().sla).await?;
                // Console events of steps committed just before a crash.
                let replayed = desk.replay_console_outbox(store.as_ref(), None).await?;
                if replayed > 0 {
                    tracing::info!(replayed, "console events appended from the outbox");
                }
                let log: Arc<dyn InboundLog> = Arc::new(Partitions::start(
                    settings.intake.partitions,
                    settings.intake.partition_capacity,
                    registry.clone(),
                ));
                tasks.push(spawn_sweeper(
                    store.clone(),
                    registry.clone(),
                    None,
                    sweep_every,
                    sweep_grace,
                ));
                (conversations, log)
            }
            Some(parts) => {
                let (inbox, inbox_tasks) = RedisInbox::start(
                    parts.cluster.clone(),
                    registry.clone(),
                    settings.intake.partition_capacity,
                );
                tasks.extend(inbox_tasks);
                let remote: Arc<dyn Remote> = inbox.clone();
                let conversations = Conversations::new(registry.clone(), Some(remote.clone()));
                desk.attach(conversations.clone());
                if !desk.assignments.is_ready().await? {
                    restore(&store, &desk).await?;
                    schedule_sla_checks(&store, &desk, &registry.deps().sla).await?;
                }
                inbox.set_resume(Arc::new(TakeOver {
                    store: store.clone(),
                    desk: desk.clone(),
                    registry: registry.clone(),
                    conversations: conversations.clone(),
                    outbound,
                    unconfirmed,
                    partitions: settings.intake.partitions,
                }));
                tasks.push(parts.timers.spawn_mover());
                tasks.push(parts.console.spawn_reader(desk.clone()));
                tasks.push(spawn_board_watch(store.clone(), desk.clone()));
                tasks.push(desk.spawn_outbox_sweep(store.clone()));
                tasks.push(spawn_sweeper(
                    store.clone(),
                    registry.clone(),
                    Some(remote),
                    sweep_every,
                    sweep_grace,
                ));
                let keeper =
                    LeaseKeeper::new(parts.cluster.clone(), Arc::new(InboxHost(inbox.clone())));
                tasks.push(keeper.spawn());
                leases = Some(keeper);
                let log: Arc<dyn InboundLog> = inbox;
                (conversations, log)
            }
        };

        // Campaigns: their records and the lane that sends them (docs/CAMPAIGNS.md).
        let runner = Arc::new(crate::campaigns::runner::Runner::new(
            &settings,
            crate::campaigns::runner::store::CampaignStore::new(
                crate::store::side::SidePool::open(&settings.database, 2).await?,
            ),
            campaigns.clone(),
            segments.clone(),
        ));
        tasks.push(crate::campaigns::runner::lane::spawn(
            crate::campaigns::runner::lane::Lane {
                runner: runner.clone(),
                campaigns: campaigns.clone(),
                conversations: conversations.clone(),
                outbound: webhook_outbound.clone(),
            },
        ));
        // Templates Meta answered 131049 to, sent again later (docs/CAMPAIGNS.md).
        if !settings.campaigns.retry_131049_ms.is_empty() {
            tasks.push(crate::campaigns::retries::spawn(
                campaigns.clone(),
                conversations.clone(),
                &settings.campaigns,
            ));
        }
        let state = web::Data::new(AppState {
            settings: settings.clone(),
            store: store.clone(),
            intake: Intake::new(&settings, store.clone(), log).with_campaigns(campaigns.clone()),
            conversations,
            whatsapp_verifier: SignatureVerifier::new(
                settings.whatsapp.app_secret.expose_secret().as_bytes(),
            )
            .map_err(|e| anyhow::anyhow!("app secret: {e}"))?,
            whatsapp_parser: Box::new(WhatsappWebhookParser),
            messenger_verifier: messenger_verifier(&settings)?,
            instagram_verifier: instagram_verifier(&settings)?,
            x_signer: x_signer(&settings)?,
            outbound: webhook_outbound,
            prometheus,
            desk: desk.clone(),
            bodies: crate::http::body::BodyBudget::new(
                &settings.server,
                settings.intake.retry_after_seconds,
            ),
            auth_throttle,
            reloader: reloader.clone(),
            accounts,
            activity,
            media,
            webchat,
            webhooks,
            segments,
            api_keys,
            panel_apps,
            live_sla,
            campaigns,
            runner,
        });

        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))?;
        let port = listener.local_addr()?.port();
        let routes = routes(settings.security.allowed_origins.clone());
        // The web console's files, embedded in the binary, indexed once.
        let console = web::Data::new(crate::http::webapp::Console::load());
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(console.clone())
                .wrap(actix_web::middleware::from_fn(
                    crate::http::headers::security_headers,
                ))
                // Outermost: every log line of a request carries its id.
                .wrap(actix_web::middleware::from_fn(
                    crate::http::request_id::request_id,
                ))
                .configure(routes.clone())
        })
        .listen(listener)?
        .shutdown_timeout(10);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server.run();
        let handle = AppHandle {
            server: server.handle(),
            store,
            conversations: registry,
            desk,
            cluster: parts.map(|p| p.cluster),
            leases,
            tasks: Arc::new(tasks),
            desk_arbiter,
            reloader,
            webchat: visitors,
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

/// Rebuild the queues and assignments from the store after a start (in a cluster: when Redis
/// holds no board, e.g. it restarted empty): assigned conversations go back to their agents
/// (who start offline until their consoles say otherwise), waiting ones back to their queues in
/// order, snoozed ones get their reopen timers.
pub(crate) async fn restore(store: &Arc<dyn Store>, desk: &Arc<Desk>) -> anyhow::Result<()> {
    let open = store.open_conversations().await?;
    let default_team = TeamId::new(desk.settings.routing.default_team.clone());
    let ticket = |c: &crate::store::ConversationRecord| Ticket {
        conversation: conversation_ref(c),
        team: c
            .team
            .clone()
            .filter(|t| desk.directory.get().team(t).is_some())
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
    if !desk.assignments.restore(assigned, waiting).await? {
        return Ok(()); // another node rebuilt the shared state and has been deciding since
    }
    // The timers went with the state they belonged to: snoozes end, offers and overflows.
    for c in open
        .iter()
        .filter(|c| c.status == ConversationStatus::Snoozed)
    {
        desk.schedule_reopen(conversation_ref(c), c.snoozed_until.unwrap_or(0));
    }
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

/// SLA checks are timers: after a start (or with a Redis that lost its timers), each open
/// conversation's next due time is scheduled again. A check that finds nothing due, or a breach
/// already announced, does nothing.
async fn schedule_sla_checks(
    store: &Arc<dyn Store>,
    desk: &Arc<Desk>,
    sla: &crate::reports::sla_rules::SlaRules,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp_millis();
    for c in store.open_conversations().await? {
        if let Some(due) = sla.next_due(&c, now) {
            desk.schedule_sla_check(conversation_ref(&c), due);
        }
    }
    Ok(())
}

/// Prune what retention allows (processed inbound events and their dedupe keys, old console
/// events, web chat visitors whose token expired), once at start and then every
/// `database.prune_interval_minutes`.
fn spawn_retention(
    store: Arc<dyn Store>,
    visitors: Arc<dyn crate::channels::webchat::records::WebchatRecords>,
    settings: &Settings,
) -> actix_rt::task::JoinHandle<()> {
    let visitor_days = settings.webchat.visitor_days;
    let day_ms: i64 = 24 * 3600 * 1000;
    let inbound_ms = i64::from(settings.database.inbound_retention_days).saturating_mul(day_ms);
    let console_ms = i64::from(settings.database.console_retention_days).saturating_mul(day_ms);
    let every = Duration::from_secs(settings.database.prune_interval_minutes.max(1) * 60);
    actix_rt::spawn(async move {
        loop {
            let now = chrono::Utc::now().timestamp_millis();
            match store.prune(now - inbound_ms, now - console_ms).await {
                Ok(pruned) if pruned != crate::store::Pruned::default() => {
                    tracing::info!(?pruned, "retention: pruned");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention: prune failed"),
            }
            let expired = crate::channels::webchat::expired_before(now, visitor_days);
            match visitors.prune_visitors(expired).await {
                Ok(0) => {}
                Ok(visitors) => {
                    tracing::info!(visitors, "retention: pruned expired web chat visitors")
                }
                Err(e) => tracing::warn!(error = %e, "retention: pruning web chat visitors failed"),
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// What a node does when it takes partitions over (at start, when another node leaves or dies,
/// on rebalancing): process their recorded-but-unprocessed events, resume their outbound
/// messages that have no outcome, and make sure their waiting conversations are in the queues.
struct TakeOver {
    store: Arc<dyn Store>,
    desk: Arc<Desk>,
    registry: ConversationRegistry,
    conversations: Conversations,
    outbound: Outbound,
    unconfirmed: Duration,
    partitions: usize,
}

#[async_trait]
impl Resume for TakeOver {
    /// Before serving the partitions: release the decisions a dead owner took and never
    /// recorded, and append the console events it committed and never appended, so the
    /// conversations' newer events come after them.
    async fn prepare(&self, partitions: Vec<usize>) {
        let mine = |key: &crate::domain::ConversationKey| {
            partitions.contains(&key.partition(self.partitions))
        };
        match self
            .desk
            .release_unrecorded(self.store.as_ref(), mine)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                released = n,
                ?partitions,
                "take-over: unrecorded decisions released"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "take-over: cannot check the assignment decisions")
            }
        }
        match self.desk.settle_outbox_of(self.store.as_ref(), mine).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                appended = n,
                ?partitions,
                "take-over: console events of the previous owner appended"
            ),
            Err(e) => tracing::warn!(error = %e, "take-over: cannot read the console outbox"),
        }
    }

    async fn resume(&self, partitions: Vec<usize>) {
        let mine = |key: &crate::domain::ConversationKey| {
            partitions.contains(&key.partition(self.partitions))
        };
        match self
            .store
            .conversations_with_backlog(i64::MAX, 100_000)
            .await
        {
            Ok(backlog) => {
                for (channel, key) in backlog.into_iter().filter(|(_, k)| mine(k)) {
                    self.registry.nudge(&channel, &key);
                }
            }
            Err(e) => tracing::warn!(error = %e, "take-over: cannot read the backlog"),
        }
        match self
            .outbound
            .resume(self.store.as_ref(), mine, self.unconfirmed)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(messages = n, ?partitions, "take-over: outbound resumed"),
            Err(e) => tracing::warn!(error = %e, "take-over: cannot resume outbound"),
        }
        // Read before the store, like the preparation does (see `assign::ghosts`).
        let holdings = self.desk.assignments.holdings().await;
        match self.store.open_conversations().await {
            Ok(open) => {
                // Decisions still unrecorded (the preparation timed out or failed): this node
                // serves the partitions now, so their owners' actors settle them, in order with
                // any step in flight (released unless it is the customer's current conversation).
                if let Ok(holdings) = &holdings {
                    let recorded = crate::desk::placed_in_store(&open);
                    for ghost in crate::assign::ghosts(holdings, &recorded, mine) {
                        self.conversations.tell(
                            &ghost.channel,
                            &ghost.key,
                            Command::Reconcile {
                                conversation_id: ghost.id.clone(),
                            },
                        );
                    }
                }
                for c in open
                    .iter()
                    .filter(|c| c.status == ConversationStatus::Waiting && mine(&c.key))
                {
                    self.conversations.tell(
                        &c.channel,
                        &c.key,
                        Command::Reconcile {
                            conversation_id: c.id.clone(),
                        },
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "take-over: cannot read open conversations"),
        }
    }
}

/// Cluster mode: if Redis loses the assignment state (it restarted without its data), rebuild
/// it from the store; checked every few seconds by every node (one of them rebuilds).
fn spawn_board_watch(store: Arc<dyn Store>, desk: Arc<Desk>) -> actix_rt::task::JoinHandle<()> {
    actix_rt::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(3)).await;
            if let Ok(false) = desk.assignments.is_ready().await {
                tracing::warn!("the shared assignment state is gone; rebuilding it from the store");
                if let Err(e) = restore(&store, &desk).await {
                    tracing::warn!(error = %e, "rebuilding the assignment state failed");
                }
            }
        }
    })
}

/// The Instagram webhooks' verifier, when an account is configured (validation made sure the
/// app secret is set then).
fn instagram_verifier(
    settings: &crate::config::Settings,
) -> anyhow::Result<Option<SignatureVerifier>> {
    let accounts = settings
        .channels
        .values()
        .any(|c| c.kind == crate::domain::ChannelKind::Instagram && c.instagram.is_some());
    let secret = settings.instagram.app_secret.expose_secret();
    if !accounts || secret.is_empty() {
        return Ok(None);
    }
    SignatureVerifier::new(secret.as_bytes())
        .map(Some)
        .map_err(|e| anyhow::anyhow!("instagram app secret: {e}"))
}

/// The X webhooks' signer (CRC answers, signature checks), when an X account is configured
/// (validation made sure the consumer secret is set then).
fn x_signer(
    settings: &crate::config::Settings,
) -> anyhow::Result<Option<crate::channels::x::XSigner>> {
    let accounts = settings
        .channels
        .values()
        .any(|c| c.kind == crate::domain::ChannelKind::X && c.x.is_some());
    let secret = settings.x.consumer_secret.expose_secret();
    if !accounts || secret.is_empty() {
        return Ok(None);
    }
    crate::channels::x::XSigner::new(secret.as_bytes())
        .map(Some)
        .map_err(|e| anyhow::anyhow!("x consumer secret: {e}"))
}

/// The Messenger webhooks' verifier, when a page is configured (validation made sure the app
/// secret is set then).
fn messenger_verifier(
    settings: &crate::config::Settings,
) -> anyhow::Result<Option<SignatureVerifier>> {
    let pages = settings
        .channels
        .values()
        .any(|c| c.kind == crate::domain::ChannelKind::Messenger && c.messenger.is_some());
    let secret = settings.messenger.app_secret.expose_secret();
    if !pages || secret.is_empty() {
        return Ok(None);
    }
    SignatureVerifier::new(secret.as_bytes())
        .map(Some)
        .map_err(|e| anyhow::anyhow!("messenger app secret: {e}"))
}
