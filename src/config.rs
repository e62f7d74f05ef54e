//! Layered configuration: `config/base.yaml`, then `config/{environment}.yaml`, then
//! `SWITCHBOARD__SECTION__KEY` environment variables (double underscore for nesting).
//!
//! Every capacity, timeout and rate lives here. Secrets are [`SecretString`]s: they never
//! appear in `Debug` output or logs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::assign::Strategy;
use crate::bot::{BotConfig, Text};
use crate::domain::{AccountId, ChannelId, ChannelKind};
use crate::routing::RoutingSettings;

#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub whatsapp: WhatsappSettings,
    /// The Telegram Bot API (bots themselves are channels of `kind: telegram`).
    #[serde(default)]
    pub telegram: TelegramSettings,
    /// The Messenger Platform app (pages themselves are channels of `kind: messenger`).
    #[serde(default)]
    pub messenger: MessengerSettings,
    /// The Meta app that receives Instagram messaging webhooks (accounts themselves are
    /// channels of `kind: instagram`). The same settings as Messenger's, its own values.
    #[serde(default)]
    pub instagram: MessengerSettings,
    /// The X developer app that receives the Account Activity webhooks (accounts themselves are
    /// channels of `kind: x`).
    #[serde(default)]
    pub x: XSettings,
    pub database: DatabaseSettings,
    pub intake: IntakeSettings,
    pub conversations: ConversationSettings,
    pub outbound: OutboundSettings,
    /// Channels by id: one entry per WhatsApp phone number (later also pages, widgets).
    pub channels: BTreeMap<String, ChannelSettings>,
    /// Bot flows by name; each channel names the bot it runs.
    pub bots: BTreeMap<String, BotConfig>,
    #[serde(default)]
    pub teams: BTreeMap<String, TeamSettings>,
    #[serde(default)]
    pub agents: BTreeMap<String, AgentSettings>,
    /// How handed-off conversations find their team.
    pub routing: RoutingSettings,
    /// Queue texts and limits.
    pub assignment: AssignmentSettings,
    /// The agents' console: REST, websocket and event log.
    pub console: ConsoleSettings,
    /// Cluster mode: several nodes sharing Redis (and PostgreSQL). Empty `redis.url`: the
    /// embedded mode.
    #[serde(default)]
    pub redis: RedisSettings,
    #[serde(default)]
    pub log: LogSettings,
    /// Failed-authentication limits and the browser origins the console API trusts.
    #[serde(default)]
    pub security: SecuritySettings,
    /// Attachments: downloads of customers' media, agents' uploads, the media store.
    #[serde(default)]
    pub media: MediaSettings,
    /// Web Push: how the gateway tells a closed console or a phone about an offer.
    #[serde(default)]
    pub push: PushSettings,
    /// The web chat widget's API (channels themselves are channels of `kind: webchat`).
    #[serde(default)]
    pub webchat: WebchatSettings,
    /// Event webhooks: the lane that delivers events to business systems' endpoints.
    #[serde(default)]
    pub event_webhooks: EventWebhookSettings,
    /// API keys of business systems: their request rate.
    #[serde(default)]
    pub api_keys: ApiKeySettings,
    /// Business-hours calendars by name (teams name theirs: `business_hours`), for SLA clocks.
    #[serde(default)]
    pub business_hours: BTreeMap<String, crate::bot::config::HoursConfig>,
    /// SLA policies per team and priority (docs/REPORTS.md, "SLAs").
    #[serde(default)]
    pub sla: SlaSettings,
    /// Reports: how often agents' presence is sampled (docs/REPORTS.md, "Presence").
    #[serde(default)]
    pub reports: ReportsSettings,
    /// Panel apps registered at start when the store has none (the demo's orders page), by id.
    /// From then on the store holds them and admins change them (`/api/v1/admin/panel-apps`).
    #[serde(default)]
    pub panel_apps: BTreeMap<String, PanelAppSeed>,
    /// WhatsApp message templates: how often they are synced from Meta (docs/CAMPAIGNS.md).
    #[serde(default)]
    pub templates: TemplateSettings,
    /// The consent ledger: the stop and start keywords, per language, and their confirmations
    /// (docs/CAMPAIGNS.md).
    #[serde(default)]
    pub consent: ConsentSettings,
    /// Country rules and the messaging limit of template sends (docs/CAMPAIGNS.md).
    #[serde(default)]
    pub campaigns: CampaignSettings,
    /// `SWITCHBOARD_ENVIRONMENT` (the layer loaded over base.yaml): demo credentials are
    /// refused outside [`DEMO_ENVIRONMENTS`].
    #[serde(skip)]
    pub environment: String,
    /// Where these settings were read from, when they were read from files
    /// ([`Settings::load_from`]); what a reload reads again ([`crate::reload::Reloader`]).
    #[serde(skip)]
    pub source: Option<Arc<ConfigSource>>,
}

/// How a configuration was loaded (its directory, environment layer and whether
/// `SWITCHBOARD__…` variables apply) and the merged tree it was read from, so that a reload
/// reads the same layers again and can tell which settings the files changed since.
#[derive(Clone)]
pub struct ConfigSource {
    pub dir: PathBuf,
    pub environment: String,
    pub use_env: bool,
    /// The merged configuration as loaded (all layers), untyped. It holds secrets: it is never
    /// printed, only compared key by key.
    pub tree: serde_json::Value,
}

impl std::fmt::Debug for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSource")
            .field("dir", &self.dir)
            .field("environment", &self.environment)
            .field("use_env", &self.use_env)
            .finish_non_exhaustive()
    }
}

/// Failed authentications (a wrong console token, a wrong webhook verify token) are counted per
/// client address and per credential in a window; past the limit, every attempt from that
/// address or with that credential is answered 429 with Retry-After until the window ends.
/// Browser origins: the console API and websocket trust the gateway's own origin and these.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct SecuritySettings {
    pub auth_failures_per_address: u32,
    pub auth_failures_per_credential: u32,
    pub auth_failure_window_seconds: u64,
    /// Most addresses and credentials remembered at once (the oldest are forgotten).
    pub auth_failure_tracking: u64,
    /// Origins (`https://console.example.com`) besides the gateway's own that may call the
    /// console API from a browser (CORS) and open its websocket.
    pub allowed_origins: Vec<String>,
    /// A login session ends this long after it began, at the latest.
    pub session_lifetime_hours: u64,
    /// A login session unused for this long ends.
    pub session_idle_minutes: u64,
    /// Consecutive wrong passwords after which an account is locked...
    pub lockout_after_failures: u32,
    /// ...for this long (an admin can unlock it sooner).
    pub lockout_minutes: u64,
    /// An invite or reset token can be used within this long.
    pub reset_token_hours: u64,
    /// Audit entries are kept this long.
    pub audit_retention_days: u64,
    /// Mask customers' numbers in every team that does not say otherwise.
    pub mask_numbers: bool,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            auth_failures_per_address: 20,
            auth_failures_per_credential: 10,
            auth_failure_window_seconds: 60,
            auth_failure_tracking: 100_000,
            allowed_origins: Vec::new(),
            session_lifetime_hours: 7 * 24,
            session_idle_minutes: 8 * 60,
            lockout_after_failures: 10,
            lockout_minutes: 15,
            reset_token_hours: 72,
            audit_retention_days: 400,
            mask_numbers: false,
        }
    }
}

/// Environments where the demo's secrets and tokens may be used (they are public: README).
pub const DEMO_ENVIRONMENTS: &[&str] = &["local", "demo", "test", "loadtest"];

/// Whether a `mailto:` or `https:` contact is on a domain reserved for examples (RFC 2606:
/// example.com, .net, .org, or `.example`), which reaches nobody.
fn is_example_contact(contact: &str) -> bool {
    let rest = contact
        .strip_prefix("mailto:")
        .or_else(|| contact.strip_prefix("https://"))
        .unwrap_or(contact);
    let host = rest
        .rsplit('@')
        .next()
        .unwrap_or(rest)
        .split(['/', ':', '?'])
        .next()
        .unwrap_or("")
        .trim_end_matches('.')
        .to_ascii_lowercase();
    ["example.com", "example.net", "example.org", "example"]
        .iter()
        .any(|reserved| host == *reserved || host.ends_with(&format!(".{reserved}")))
}

/// The demo's public secrets and console tokens (config/base.yaml, README).
const DEMO_SECRETS: &[&str] = &[
    "demo-app-secret",
    "demo-verify-token",
    "demo-access-token",
    "123456789:demo-telegram-bot-token",
    "demo-telegram-webhook-secret",
    "demo-messenger-app-secret",
    "demo-messenger-verify-token",
    "demo-messenger-page-token",
    "demo-instagram-app-secret",
    "demo-instagram-verify-token",
    "demo-instagram-access-token",
    "demo-x-consumer-secret",
    "demo-x-access-token",
    "demo-x-oauth1-token-secret",
    "demo-webchat-website-token",
    "psk_demo-orders-panel-app-secret",
];
pub const DEMO_CONSOLE_TOKENS: &[&str] =
    &["alice-demo-token", "bob-demo-token", "carla-demo-token"];
/// The demo users' password (`demo-password`) as config/base.yaml holds it: argon2id.
pub const DEMO_PASSWORD_ARGON2: &str = "$argon2id$v=19$m=19456,t=2,p=1$7bgfJWUTZnlFEFZNxgUJYA$d7Omljq1+uV72I0Yoq/D/YBzj5QS9tHtuPO5f9N3QFo";

/// Cluster mode. Redis holds presence, queues and assignments, the partition streams and their
/// leases, the timers, the agents' console streams and the outbound rate limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct RedisSettings {
    /// `redis://host:port/db`; empty: embedded mode (no Redis).
    pub url: String,
    /// Prefix of every key (several deployments can share a Redis).
    pub namespace: String,
    /// This node's name in leases and consumer groups; empty: `{hostname}-{pid}-{random}`.
    pub node_id: String,
    /// A node that stops renewing its leases for this long loses its partitions to the others.
    pub lease_ttl_ms: u64,
    /// How often a node renews its leases and rebalances partitions.
    pub lease_renew_ms: u64,
    /// How long an agent's action waits for the node that owns the conversation.
    pub command_timeout_ms: u64,
    /// How long a partition read blocks waiting for entries.
    pub read_block_ms: u64,
    /// Entries read per partition at a time.
    pub read_batch: usize,
    /// How often due timers are handed to their conversations' owners.
    pub timer_poll_ms: u64,
    /// Timeout of one Redis command (a Redis that does not answer counts as down).
    pub response_timeout_ms: u64,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            namespace: "switchboard".into(),
            node_id: String::new(),
            lease_ttl_ms: 5000,
            lease_renew_ms: 1000,
            command_timeout_ms: 5000,
            read_block_ms: 200,
            read_batch: 256,
            timer_poll_ms: 100,
            response_timeout_ms: 2000,
        }
    }
}

impl RedisSettings {
    pub fn enabled(&self) -> bool {
        !self.url.trim().is_empty()
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Largest accepted webhook body (Meta sends at most 3 MB).
    pub max_body_bytes: usize,
    /// A webhook body must keep arriving: longest silence between two of its chunks (408).
    #[serde(default = "defaults::body_idle_timeout_ms")]
    pub body_idle_timeout_ms: u64,
    /// ... and longest time for the whole body, from the end of the headers (408).
    #[serde(default = "defaults::body_deadline_ms")]
    pub body_deadline_ms: u64,
    /// Memory all unfinished webhook bodies may hold together; over it, 503 + Retry-After.
    #[serde(default = "defaults::max_pending_body_bytes")]
    pub max_pending_body_bytes: usize,
    /// Addresses of load balancers whose `X-Forwarded-For` names the client (for the
    /// failed-authentication limits); requests from anyone else count by their own address.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

mod defaults {
    pub fn body_idle_timeout_ms() -> u64 {
        5_000
    }
    pub fn body_deadline_ms() -> u64 {
        30_000
    }
    pub fn max_pending_body_bytes() -> usize {
        64 * 1024 * 1024
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct WhatsappSettings {
    /// The Meta app secret: key of the `X-Hub-Signature-256` HMAC.
    pub app_secret: SecretString,
    /// The token Meta echoes in the GET verification handshake.
    pub verify_token: SecretString,
    /// Graph API base URL (`https://graph.facebook.com`); tests point it at a fake.
    pub api_base_url: String,
    /// Graph API version path segment, e.g. `v23.0`.
    pub api_version: String,
    /// System-user access token used for sends, unless a channel has its own.
    pub access_token: SecretString,
    pub request_timeout_ms: u64,
    /// Send a read receipt for each inbound message.
    pub mark_as_read: bool,
}

/// The Telegram Bot API, shared by every bot (channel of `kind: telegram`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct TelegramSettings {
    /// `https://api.telegram.org`; tests and the demo point it at a fake.
    pub api_base_url: String,
    pub request_timeout_ms: u64,
}

impl Default for TelegramSettings {
    fn default() -> Self {
        Self {
            api_base_url: "https://api.telegram.org".into(),
            request_timeout_ms: 10_000,
        }
    }
}

/// The Meta app that receives every page's Messenger webhooks (channels of `kind: messenger`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct MessengerSettings {
    /// The app secret: key of the `X-Hub-Signature-256` HMAC of Messenger webhooks.
    pub app_secret: SecretString,
    /// The token Meta echoes in the GET verification handshake of `/webhooks/messenger`.
    pub verify_token: SecretString,
    /// Graph API base URL (`https://graph.facebook.com`); tests and the demo point it at a fake.
    pub api_base_url: String,
    /// Graph API version path segment, e.g. `v23.0`.
    pub api_version: String,
    pub request_timeout_ms: u64,
}

impl Default for MessengerSettings {
    fn default() -> Self {
        Self {
            app_secret: SecretString::from(String::new()),
            verify_token: SecretString::from(String::new()),
            api_base_url: "https://graph.facebook.com".into(),
            api_version: "v23.0".into(),
            request_timeout_ms: 10_000,
        }
    }
}

/// One Facebook Page (`channels.<id>.messenger`).
#[derive(Clone, Debug, Deserialize)]
pub struct MessengerPageSettings {
    /// The page id: the `id` of the webhook entries for this page, and the channel's account.
    pub page_id: String,
    /// The page access token the Send API is called with.
    pub page_access_token: SecretString,
    /// Meta approved the page for the `HUMAN_AGENT` tag: agents may answer from 24 hours to 7
    /// days after the customer's last message.
    #[serde(default)]
    pub human_agent: bool,
}

/// One Instagram professional account (`channels.<id>.instagram`).
#[derive(Clone, Debug, Deserialize)]
pub struct InstagramAccountSettings {
    /// The Instagram account id: the `id` of the webhook entries for this account, and the
    /// channel's account.
    pub account_id: String,
    /// The access token the messages endpoint is called with.
    pub access_token: SecretString,
    /// Meta approved the app for the `HUMAN_AGENT` tag: agents may answer from 24 hours to 7
    /// days after the customer's last message.
    #[serde(default)]
    pub human_agent: bool,
}

/// The X API and the developer app whose Account Activity webhooks reach `/webhooks/x`
/// (channels of `kind: x`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct XSettings {
    /// `https://api.x.com`; tests and the demo point it at a fake.
    pub api_base_url: String,
    pub request_timeout_ms: u64,
    /// The app's consumer secret (API key secret): key of the CRC answer and of the
    /// `x-twitter-webhooks-signature` HMAC, and half of the OAuth 1.0a signatures of DM
    /// media downloads.
    pub consumer_secret: SecretString,
    /// The app's consumer key (API key): the other half of those signatures.
    pub consumer_key: String,
    /// Where customers' DM media may be downloaded from, signed for the account (names, or
    /// `.suffix`es): X's DM media hosts. Never `media.url_hosts`: no signature goes anywhere
    /// else.
    #[serde(default = "default_x_media_hosts")]
    pub media_hosts: Vec<String>,
}

fn default_x_media_hosts() -> Vec<String> {
    vec![
        "ton.x.com".into(),
        "ton.twitter.com".into(),
        "video.twimg.com".into(),
    ]
}

impl Default for XSettings {
    fn default() -> Self {
        Self {
            api_base_url: "https://api.x.com".into(),
            request_timeout_ms: 10_000,
            consumer_secret: SecretString::from(String::new()),
            consumer_key: String::new(),
            media_hosts: default_x_media_hosts(),
        }
    }
}

/// One X account (`channels.<id>.x`).
#[derive(Clone, Debug, Deserialize)]
pub struct XAccountSettings {
    /// The account's numeric user id: the webhooks' `for_user_id`, and the channel's account.
    pub account_id: String,
    /// The account's OAuth 2.0 user-context access token (`dm.write`), for sending.
    pub access_token: SecretString,
    /// DMs the account may send per window (all customers together): X allows about 15 per
    /// 15 minutes per user on its basic tiers.
    #[serde(default = "default_x_sends_per_window")]
    pub sends_per_window: u32,
    #[serde(default = "default_x_window_seconds")]
    pub window_seconds: u64,
    /// The account's OAuth 1.0a access token and secret (X's "Access Token and Secret" of the
    /// account, read permission at least): customers' DM media are downloaded only with
    /// requests signed with them and the app's consumer key and secret. Without them, those
    /// files are kept as links the console cannot open (the message and its text still come).
    #[serde(default)]
    pub oauth1_access_token: Option<String>,
    #[serde(default)]
    pub oauth1_access_token_secret: Option<SecretString>,
}

fn default_x_sends_per_window() -> u32 {
    15
}

fn default_x_window_seconds() -> u64 {
    900
}

/// One Telegram bot (`channels.<id>.telegram`).
#[derive(Clone, Debug, Deserialize)]
pub struct TelegramBotSettings {
    /// BotFather's token, `<bot id>:<secret>`; the bot id is the channel's account.
    pub bot_token: SecretString,
    /// What Telegram sends in `X-Telegram-Bot-Api-Secret-Token` (given to it by `setWebhook`):
    /// 1-256 characters `A-Z a-z 0-9 _ -`.
    pub webhook_secret: SecretString,
    /// The gateway's public base URL (`https://switchboard.example.com`): when set, the bot's
    /// webhook is registered at start (`setWebhook` to `{public_url}/webhooks/telegram/<id>`
    /// with the secret). When absent, nothing is registered.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Messages to one chat per minute (Telegram: about one a second).
    #[serde(default = "default_per_chat_per_minute")]
    pub per_chat_per_minute: u32,
    /// Messages to one chat that may go at once.
    #[serde(default = "default_per_chat_burst")]
    pub per_chat_burst: u32,
}

fn default_per_chat_per_minute() -> u32 {
    60
}

fn default_per_chat_burst() -> u32 {
    3
}

impl TelegramBotSettings {
    /// The numeric bot id before the `:` of the token; `None` when the token has no such form.
    pub fn bot_id(&self) -> Option<String> {
        use secrecy::ExposeSecret;
        let (id, rest) = self.bot_token.expose_secret().split_once(':')?;
        (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !rest.is_empty())
            .then(|| id.to_string())
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db`; empty means `{data_dir}/switchboard.db`;
    /// `postgres://user:password@host:port/database` for PostgreSQL (cluster mode).
    pub url: String,
    /// Where the embedded store keeps its file.
    pub data_dir: PathBuf,
    /// Most writes carried by one grouped commit.
    pub max_batch: usize,
    /// Longest a write waits for companions before its group commits.
    pub max_wait_ms: u64,
    /// Pending writes accepted before intake answers 503 (webhooks' records have a queue of
    /// this size of their own, beside the processing writes').
    pub queue_capacity: usize,
    /// A processing commit closes once it has applied this much work (microseconds) while
    /// webhooks wait for their own commit, so an acknowledgement waits at most about this long
    /// behind processing.
    #[serde(default = "default_processing_slice_us")]
    pub processing_slice_us: u64,
    /// Read connections.
    pub read_pool_size: u32,
    /// Processed inbound events (the dedupe keys of redeliveries) are kept this long; Meta
    /// retries for up to 7 days, so keep at least 8.
    pub inbound_retention_days: u32,
    /// Agents' console events are kept this long (and at most `console.event_log_size`).
    pub console_retention_days: u32,
    /// How often retention runs.
    pub prune_interval_minutes: u64,
    /// PostgreSQL: longest wait for a new connection (or a free read connection) before the
    /// operation fails.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

fn default_connect_timeout_ms() -> u64 {
    5000
}

fn default_processing_slice_us() -> u64 {
    2000
}

impl DatabaseSettings {
    pub fn sqlite_path(&self) -> PathBuf {
        match self.url.strip_prefix("sqlite://") {
            Some(path) if !path.is_empty() => PathBuf::from(path.split('?').next().unwrap_or(path)),
            _ => self.data_dir.join("switchboard.db"),
        }
    }
    pub fn max_wait(&self) -> Duration {
        Duration::from_millis(self.max_wait_ms)
    }
    pub fn processing_slice(&self) -> Duration {
        Duration::from_micros(self.processing_slice_us)
    }
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms.max(1))
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct IntakeSettings {
    /// Dispatch partitions: each conversation's events go through one, in order.
    pub partitions: usize,
    /// Recorded events waiting for dispatch, per partition.
    pub partition_capacity: usize,
    /// `Retry-After` seconds on a 503.
    pub retry_after_seconds: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ConversationSettings {
    /// Arbiters (threads) the conversation actors are spread over.
    pub arbiters: usize,
    /// Mailbox capacity of each conversation actor.
    pub mailbox_capacity: usize,
    /// A conversation actor with no event for this long stops (its state is in the store).
    pub idle_timeout_seconds: u64,
    /// Timeout of the bot's HTTP action steps.
    pub http_action_timeout_ms: u64,
    /// How often to look for recorded events left unprocessed (a dropped dispatch, a crash).
    pub sweep_interval_ms: u64,
    /// How old an unprocessed event must be before the sweep nudges its conversation.
    pub sweep_grace_ms: u64,
    /// Crash tests only: freeze every customer-message step that places a conversation at
    /// this point, forever, so a test can kill the process there. `none` (the default) never
    /// fires.
    #[serde(default)]
    pub halt_for_crash_test: HaltPoint,
}

/// Where a conversation step freezes for a crash test (`conversations.halt_for_crash_test`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HaltPoint {
    /// Never (production).
    #[default]
    None,
    /// After a step took an assignment decision (the agent's slot is held), before its commit.
    AfterDecision,
    /// After such a step committed, before its console events are appended to the agents'
    /// logs.
    AfterCommit,
}

#[derive(Clone, Debug, Deserialize)]
pub struct OutboundSettings {
    /// Token bucket per phone number: messages per second (Meta: 80 by default, up to 1,000).
    pub messages_per_second: u32,
    /// Pair rate: messages to one recipient per minute (Meta: 1 per 6 s, about 10 a minute).
    pub per_recipient_per_minute: u32,
    /// Pair rate burst: messages to one recipient that may go at once.
    pub per_recipient_burst: u32,
    /// Attempts per message, the first included.
    pub max_attempts: usize,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// Base delay after a pair-rate error (131056); Meta advises 4^X seconds.
    pub pair_rate_backoff_ms: u64,
    /// Messages waiting in one number's sender before producers are slowed.
    pub queue_capacity: usize,
    /// Concurrent requests to the provider per number.
    pub max_in_flight: usize,
    /// A limit on all of a channel's sends over a longer window than a second (an X account's
    /// DMs: about 15 per 15 minutes); none by default. Set per channel
    /// ([`ChannelSettings::outbound`]).
    #[serde(default)]
    pub quota: Option<SendQuota>,
    /// A message whose sender died mid-request (claimed, no outcome) is sent again after this
    /// long unless a status webhook (which carries our id as callback data) shows it reached
    /// Meta meanwhile.
    pub resend_unconfirmed_after_ms: u64,
}

/// At most `sends` messages per `window_seconds`, in bursts of up to `sends`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct SendQuota {
    pub sends: u32,
    pub window_seconds: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ChannelSettings {
    pub kind: ChannelKind,
    /// WhatsApp: the `phone_number_id` webhooks carry in `metadata` (required there).
    #[serde(default)]
    pub phone_number_id: String,
    #[serde(default)]
    pub display_phone_number: Option<String>,
    /// The bot that answers on this channel (a key of `bots`).
    pub bot: String,
    /// Overrides `whatsapp.access_token` for this number.
    #[serde(default)]
    pub access_token: Option<SecretString>,
    /// WhatsApp: the business account (WABA) the number belongs to, whose message templates it
    /// syncs (`GET /{waba_id}/message_templates`) and whose template webhooks it hears. None:
    /// no templates are synced for it.
    #[serde(default)]
    pub waba_id: Option<String>,
    /// Overrides `outbound.messages_per_second` for this number.
    #[serde(default)]
    pub messages_per_second: Option<u32>,
    /// `kind: telegram`: the bot (required there).
    #[serde(default)]
    pub telegram: Option<TelegramBotSettings>,
    /// `kind: messenger`: the page (required there).
    #[serde(default)]
    pub messenger: Option<MessengerPageSettings>,
    /// `kind: instagram`: the account (required there).
    #[serde(default)]
    pub instagram: Option<InstagramAccountSettings>,
    /// `kind: x`: the X account (required there).
    #[serde(default)]
    pub x: Option<XAccountSettings>,
    /// `kind: webchat`: the website token and the sites that may embed the widget (required
    /// there).
    #[serde(default)]
    pub webchat: Option<WebchatChannelSettings>,
}

/// One web chat widget (`channels.<id>.webchat`).
#[derive(Clone, Debug, Deserialize)]
pub struct WebchatChannelSettings {
    /// What the widget sends (`X-Website-Token`): it names the channel; with a visitor's token
    /// it authenticates the visitor's requests.
    pub website_token: SecretString,
    /// The sites (`https://www.example.com`) whose pages may use the widget's API (CORS and the
    /// websocket's `Origin`).
    #[serde(default)]
    pub origins: Vec<String>,
    /// The team whose online agents make the widget `open` (absent: any team).
    #[serde(default)]
    pub team: Option<String>,
}

impl WebchatChannelSettings {
    /// The channel's account: a digest of its website token (the token itself is never
    /// stored; two channels cannot share a token).
    pub fn account(&self) -> AccountId {
        use secrecy::ExposeSecret;
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.website_token.expose_secret().as_bytes());
        AccountId::new(format!("wc-{}", &hex::encode(digest)[..16]))
    }
}

/// The web chat widget's API: limits, the visitor's websocket.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct WebchatSettings {
    /// Requests to `/api/v1/widget/*` per client address per minute, and the burst allowed.
    pub requests_per_minute_per_address: u32,
    pub request_burst_per_address: u32,
    /// Messages, files and offline forms per visitor per minute, and the burst allowed.
    pub messages_per_minute_per_visitor: u32,
    pub message_burst_per_visitor: u32,
    /// Visitor sessions created per client address per hour.
    pub sessions_per_hour_per_address: u32,
    /// Longest text a visitor may send.
    pub max_text_chars: usize,
    /// Largest file a visitor may send (and within the type's own limit, `media::limits`).
    pub max_file_bytes: usize,
    /// Websocket ping interval, and how long a silent widget is kept.
    pub heartbeat_seconds: u64,
    pub client_timeout_seconds: u64,
    /// A socket also reads the transcript this often when nothing woke it (cluster fallback).
    pub poll_interval_ms: u64,
    /// Most messages one socket frame batch or one transcript page holds.
    pub page_size: i64,
    /// Largest websocket frame accepted from a widget.
    pub max_frame_bytes: usize,
    /// A visitor's token lasts this many days after its last use (renewed on use); an expired
    /// one is refused (401: the widget starts a new session) and pruned by the retention loop.
    pub visitor_days: u32,
}

impl Default for WebchatSettings {
    fn default() -> Self {
        Self {
            requests_per_minute_per_address: 600,
            request_burst_per_address: 120,
            messages_per_minute_per_visitor: 30,
            message_burst_per_visitor: 10,
            sessions_per_hour_per_address: 60,
            max_text_chars: 4096,
            max_file_bytes: 10 * 1024 * 1024,
            heartbeat_seconds: 20,
            client_timeout_seconds: 60,
            poll_interval_ms: 3000,
            page_size: 200,
            max_frame_bytes: 4096,
            visitor_days: 90,
        }
    }
}

impl ChannelSettings {
    /// The provider's account the channel's webhooks name: WhatsApp's `phone_number_id`, a
    /// Telegram bot's id.
    pub fn account(&self) -> AccountId {
        match (self.kind, &self.telegram) {
            (ChannelKind::Telegram, Some(bot)) => AccountId::new(bot.bot_id().unwrap_or_default()),
            (ChannelKind::Messenger, _) => AccountId::new(
                self.messenger
                    .as_ref()
                    .map(|page| page.page_id.clone())
                    .unwrap_or_default(),
            ),
            (ChannelKind::Instagram, _) => AccountId::new(
                self.instagram
                    .as_ref()
                    .map(|account| account.account_id.clone())
                    .unwrap_or_default(),
            ),
            (ChannelKind::X, _) => AccountId::new(
                self.x
                    .as_ref()
                    .map(|account| account.account_id.clone())
                    .unwrap_or_default(),
            ),
            (ChannelKind::Webchat, _) => self
                .webchat
                .as_ref()
                .map(WebchatChannelSettings::account)
                .unwrap_or_default(),
            _ => AccountId::new(self.phone_number_id.clone()),
        }
    }

    /// The outbound limits of this channel: `outbound` with the channel's own per-recipient
    /// rate where it has one (a Telegram bot's per-chat limit), and its quota (an X account's
    /// DMs per window).
    pub fn outbound(&self, base: &OutboundSettings) -> OutboundSettings {
        let mut settings = base.clone();
        if let Some(bot) = &self.telegram {
            settings.per_recipient_per_minute = bot.per_chat_per_minute;
            settings.per_recipient_burst = bot.per_chat_burst;
        }
        if let (ChannelKind::X, Some(account)) = (self.kind, &self.x) {
            settings.quota = Some(SendQuota {
                sends: account.sends_per_window,
                window_seconds: account.window_seconds,
            });
        }
        settings
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct TeamSettings {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `round_robin` or `least_busy`.
    #[serde(default)]
    pub strategy: Strategy,
    /// 0: assign at once. N: offer to the agent, who must accept within N seconds (else the
    /// next agent gets the offer).
    #[serde(default)]
    pub offer_timeout_seconds: u64,
    /// Move a conversation still queued after a while to another team's queue.
    #[serde(default)]
    pub overflow: Option<OverflowSettings>,
    /// Most conversations waiting in the queue; beyond it the customer is told to try later.
    #[serde(default = "default_max_queue")]
    pub max_queue: usize,
    /// A private inbox: its agents see only the conversations assigned to them.
    #[serde(default)]
    pub private: bool,
    /// Mask customers' numbers in this team's conversations (unset: `security.mask_numbers`).
    #[serde(default)]
    pub mask_numbers: Option<bool>,
    /// A business-hours calendar's name, for the team's SLA clocks.
    #[serde(default)]
    pub business_hours: Option<String>,
}

fn default_max_queue() -> usize {
    10_000
}

#[derive(Clone, Debug, Deserialize)]
pub struct OverflowSettings {
    pub team: String,
    pub after_seconds: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AgentSettings {
    pub name: String,
    #[serde(default)]
    pub teams: Vec<String>,
    /// Most concurrent conversations, across all the agent's teams.
    #[serde(default = "default_capacity")]
    pub capacity: u32,
    /// SHA-256 (hex) of a personal API token of the user (seeded as one).
    /// `switchboard hash-token <token>` prints it.
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// Login email; without one the user cannot log in with a password.
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default = "default_role")]
    pub role: crate::accounts::model::Role,
    /// argon2id PHC string of the password (`switchboard hash-password` prints one).
    #[serde(default)]
    pub password_argon2: Option<String>,
    /// Teams the user supervises.
    #[serde(default)]
    pub supervises: Vec<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
}

fn default_role() -> crate::accounts::model::Role {
    crate::accounts::model::Role::Agent
}

#[derive(Clone, Debug, Deserialize)]
pub struct AssignmentSettings {
    /// Told to a customer whose conversation waits in a queue (minijinja: `position`, `team`).
    pub queue_message: Option<Text>,
    /// Told when the team's queue is full.
    pub queue_full_message: Text,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ConsoleSettings {
    /// Console events kept per agent for consoles that reconnect (older ones are pruned).
    pub event_log_size: usize,
    /// Websocket ping interval.
    pub heartbeat_seconds: u64,
    /// A console that answers no ping for this long is disconnected.
    pub client_timeout_seconds: u64,
    /// Largest websocket frame accepted from a console.
    pub max_frame_bytes: usize,
    /// Events buffered per websocket session; a console that falls further behind is
    /// disconnected and resumes from the event log when it reconnects.
    pub session_buffer: usize,
    /// Mailbox of each agent actor.
    pub agent_mailbox: usize,
    /// Most conversations one list request returns.
    pub max_page_size: usize,
    /// An agent stays online (or away) this long after setting it, kept alive while any of
    /// their console websockets is open (on any node); then they go offline by themselves.
    pub presence_ttl_seconds: u64,
    /// Canned answers by shortcut (`/hours`).
    #[serde(default)]
    pub quick_replies: BTreeMap<String, QuickReply>,
}

/// Web Push (RFC 8030) with VAPID (RFC 8292): the key pair is generated once and kept in the
/// store; subscriptions come from the consoles.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct PushSettings {
    /// Send pushes at all (the API still takes subscriptions when off).
    pub enabled: bool,
    /// The VAPID `sub` claim: a `mailto:` or `https:` contact for push services' operators.
    pub subject: String,
    /// Notifications waiting to be sent; past it they are dropped (and counted): a push never
    /// slows a conversation.
    pub queue_capacity: usize,
    /// Pushes in flight at once.
    pub concurrency: usize,
    /// Time allowed to a push service to answer.
    pub timeout_ms: u64,
    /// How long a push service keeps an assignment or message notification for a device that
    /// is offline (an offer is kept until it expires).
    pub ttl_seconds: u32,
    /// Hosts (or suffixes, starting with a dot) a subscription's endpoint may name; empty: any.
    /// The defaults are the browsers' push services (Chrome, Firefox, Edge, Safari).
    pub endpoint_hosts: Vec<String>,
    /// Accept `http://` endpoints (tests and local push services only).
    pub allow_http_endpoints: bool,
    /// Subscriptions one user may keep (each browser or phone is one).
    pub max_subscriptions_per_user: usize,
    /// Further tries of a push the push service did not take (a timeout, 429 or 5xx), with
    /// exponential backoff from `retry_min_delay_ms` (its `Retry-After` when longer, at most
    /// 30 s), never past the notice's time to live.
    pub retries: u32,
    pub retry_min_delay_ms: u64,
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            subject: "mailto:switchboard@example.com".into(),
            queue_capacity: 1024,
            concurrency: 8,
            timeout_ms: 5000,
            ttl_seconds: 3600,
            endpoint_hosts: vec![
                ".googleapis.com".into(),
                ".mozilla.com".into(),
                ".notify.windows.com".into(),
                ".push.apple.com".into(),
            ],
            allow_http_endpoints: false,
            max_subscriptions_per_user: 20,
            retries: 3,
            retry_min_delay_ms: 1000,
        }
    }
}

#[derive(Clone, Debug, Deserialize, serde::Serialize)]
pub struct QuickReply {
    pub title: String,
    pub text: String,
}

fn default_capacity() -> u32 {
    3
}

/// Attachments both ways (see `media`). Meta's own size limits per type are fixed in
/// `media::limits`; these bound what this gateway does around them.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct MediaSettings {
    /// Where the embedded media store keeps files; empty: `{database.data_dir}/media`.
    pub dir: PathBuf,
    /// Largest file downloaded or accepted (Meta's largest, a document, is 100 MB).
    pub max_bytes: u64,
    /// How often the downloader looks for new inbound media and due retries.
    pub poll_interval_ms: u64,
    /// Downloads running at once per node.
    pub concurrency: usize,
    /// Attempts before an inbound media is marked unavailable.
    pub max_attempts: u32,
    /// Backoff between attempts (exponential, with jitter), in milliseconds.
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// Longest a node holds a download before another may take it (cluster).
    pub lease_ms: u64,
    /// Agents' attachments being received or uploaded at once per node (each holds its file
    /// in memory, up to `max_bytes`); more get 503 + Retry-After.
    pub max_uploads: usize,
    /// Uploads to Meta: attempts on transient failures, and the timeout of each.
    pub upload_attempts: u32,
    pub upload_timeout_ms: u64,
    /// Hosts (or suffixes, starting with a dot) a provider's link to a customer's file may name
    /// (Messenger and Instagram attachments come as CDN URLs); anything else is never fetched.
    /// An IP address listed here may be reached even if private (tests, a local CDN); otherwise
    /// a name that resolves to a private, loopback or link-local address is refused. Redirects
    /// are followed only to hosts of this list. Default: Meta's CDNs.
    pub url_hosts: Vec<String>,
    /// Fetch `http://` links too (tests only: refused outside the test environments).
    pub allow_http_urls: bool,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::new(),
            max_bytes: 100 * 1024 * 1024,
            poll_interval_ms: 500,
            concurrency: 4,
            max_attempts: 6,
            initial_backoff_ms: 1000,
            max_backoff_ms: 60_000,
            lease_ms: 120_000,
            max_uploads: 8,
            upload_attempts: 3,
            upload_timeout_ms: 120_000,
            url_hosts: vec![
                ".fbcdn.net".into(),
                ".fbsbx.com".into(),
                ".cdninstagram.com".into(),
                ".facebook.com".into(),
            ],
            allow_http_urls: false,
        }
    }
}

/// Event webhooks (docs/WEBHOOKS.md): the delivery lane's pace, retries and limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct EventWebhookSettings {
    /// Run the delivery lane on this node (the outbox is written either way).
    pub enabled: bool,
    /// How often the lane fans the outbox out and looks for due deliveries.
    pub poll_interval_ms: u64,
    /// Deliveries in flight at once per node (the lane's bound).
    pub concurrency: usize,
    /// Outbox events fanned out per round.
    pub batch: i64,
    /// One attempt's timeout (connect, send, answer).
    pub timeout_ms: u64,
    /// How long a node holds a claimed delivery before another may take it (cluster); longer
    /// than `timeout_ms`.
    pub lease_ms: u64,
    /// Waits between attempts: after the first failed attempt the first wait, and so on; the
    /// delivery fails once the schedule is spent (1 + its length attempts).
    pub retry_schedule_ms: Vec<u64>,
    /// An endpoint failing (no success) for this long is disabled and the admins told.
    pub disable_after_ms: u64,
    /// After a secret rotation, how long the previous secret still signs (both signatures).
    pub rotation_grace_ms: u64,
    /// Endpoints at most.
    pub max_endpoints: usize,
    /// Finished deliveries (the log) are kept this long.
    pub retention_days: u64,
    /// Accept `http://` endpoint URLs (tests and demos only: refused in other environments).
    pub allow_http: bool,
    /// Private addresses (loopback, RFC 1918, link-local…) deliveries may go to anyway, e.g.
    /// a CRM on the contact center's own network. Any other private address is refused, as a
    /// URL's literal address and whatever a name resolves to when connecting.
    pub allowed_private_addresses: Vec<String>,
}

/// Reports' settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportsSettings {
    /// Every how many seconds agents' presence is sampled for the per-agent online and away
    /// times and occupancy (at most 3600; samples fall on multiples of it); 0 turns the sampling
    /// off (no presence figures).
    pub presence_sample_seconds: u64,
}

impl Default for ReportsSettings {
    fn default() -> Self {
        Self {
            presence_sample_seconds: 60,
        }
    }
}

/// SLA policies: the first that matches a conversation's team and priority applies.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct SlaSettings {
    /// The share of a target after which a running clock is "at risk" (0 < at_risk <= 1).
    pub at_risk: f64,
    pub policies: Vec<SlaPolicySettings>,
}

impl Default for SlaSettings {
    fn default() -> Self {
        Self {
            at_risk: 0.75,
            policies: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicySettings {
    /// The team it applies to (unset: any team).
    #[serde(default)]
    pub team: Option<String>,
    /// The queue priority it applies to (unset: any).
    #[serde(default)]
    pub priority: Option<i32>,
    /// Targets in seconds; an unset one is not measured.
    #[serde(default)]
    pub first_response_seconds: Option<u64>,
    #[serde(default)]
    pub next_response_seconds: Option<u64>,
    #[serde(default)]
    pub resolution_seconds: Option<u64>,
    /// Count only the team's business hours (its `business_hours` calendar); calendar time
    /// otherwise, or when the team has no calendar.
    #[serde(default)]
    pub business_hours: bool,
}
/// A panel app registered at start when the store holds none (`panel_apps.<id>`): the id is
/// the token's audience, so the app knows it in advance.
#[derive(Clone, Debug, Deserialize)]
pub struct PanelAppSeed {
    pub name: String,
    pub url: String,
    /// Team ids; empty: shown in every team's conversations.
    #[serde(default)]
    pub teams: Vec<String>,
    /// The key of the context tokens (HS256), shared with the app.
    pub secret: SecretString,
}

/// The shortest panel app secret a seed may hold.
pub const MIN_PANEL_APP_SECRET: usize = 24;

/// WhatsApp message templates (`templates`): synced from Meta on demand
/// (`POST /api/v1/templates/sync`) and every `sync_interval_minutes` (one node at a time).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct TemplateSettings {
    /// 0: only on demand.
    pub sync_interval_minutes: u64,
    /// Templates asked per page of Meta's listing (`limit`).
    pub page_size: u32,
    /// Pages read at most in one sync (a WABA holds at most 6,000 templates).
    pub max_pages: u32,
    /// A node holds a channel's scheduled sync this long before another may take it over.
    pub lease_ms: u64,
    /// How often a node looks for a due sync.
    pub poll_interval_ms: u64,
}

impl Default for TemplateSettings {
    fn default() -> Self {
        Self {
            sync_interval_minutes: 60,
            page_size: 100,
            max_pages: 100,
            lease_ms: 120_000,
            poll_interval_ms: 30_000,
        }
    }
}

/// Country rules and the business portfolio's messaging limit (`campaigns`), for every
/// template a business system, an agent or a campaign sends.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CampaignSettings {
    /// ISO 3166-1 alpha-2 codes marketing may (`allow`; empty: all) or may not (`deny`) reach.
    pub marketing_countries: CountryLists,
    /// Meta delivers no marketing template to United States numbers while its pause lasts:
    /// refuse them (on by default; turn off when Meta lifts the pause).
    pub us_marketing_paused: bool,
    /// Unique customers reached outside a service window per moving 24 hours, shared by all
    /// this gateway's WhatsApp numbers (one business portfolio): `meta` (read from Meta's
    /// phone-number field with each template sync; 250 until read), a number, `unlimited`, or
    /// Meta's tier name (`TIER_2K`).
    pub messaging_limit: crate::campaigns::policy::LimitSetting,
    /// After Meta's 131049 a template is sent again after each of these waits (ms after the
    /// failure: 12 h, 24 h, 48 h), then given up; empty: never retried.
    pub retry_131049_ms: Vec<u64>,
    /// How often a node looks for a due retry.
    pub retry_poll_interval_ms: u64,
    /// A node holds a retry it took this long at most.
    pub retry_lease_ms: u64,
    /// The most of a number's throughput (`messages_per_second`) campaigns take, 0 to 1; live
    /// conversations' messages always go first.
    pub share: f64,
    /// How often a node looks for a campaign to send (and how long an idle lane sleeps).
    pub poll_interval_ms: u64,
    /// A node holds a campaign it sends this long, renewed while it sends; another node takes
    /// it over when it lapses.
    pub lease_ms: u64,
    /// Contacts of the audience read (and recipients written) per page.
    pub audience_page: usize,
    /// Recipients claimed per round.
    pub batch: usize,
    /// Campaigns wait while more than this many customers' events wait for their
    /// conversations on the node (live traffic first).
    pub live_backlog: usize,
    /// The price of a message per country and category, for estimates and costs.
    pub prices: crate::campaigns::campaign::Prices,
    /// Campaigns' marketing templates go through Meta's Marketing Messages API
    /// (`POST /{phone-number-id}/marketing_messages`) instead of `/messages`.
    pub marketing_messages_api: bool,
}

impl Default for CampaignSettings {
    fn default() -> Self {
        Self {
            marketing_countries: CountryLists::default(),
            us_marketing_paused: true,
            messaging_limit: crate::campaigns::policy::LimitSetting::Meta,
            retry_131049_ms: vec![43_200_000, 86_400_000, 172_800_000],
            retry_poll_interval_ms: 60_000,
            retry_lease_ms: 300_000,
            share: 0.5,
            poll_interval_ms: 1_000,
            lease_ms: 30_000,
            audience_page: 500,
            batch: 50,
            live_backlog: 16,
            prices: crate::campaigns::campaign::Prices::default(),
            marketing_messages_api: false,
        }
    }
}

/// Lists of countries (`campaigns.marketing_countries`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CountryLists {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

/// One language's consent keywords (`consent.keywords.<language>`): a customer message that is
/// exactly one of them (any case, closing punctuation ignored) opts out or in again, and is
/// confirmed once.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ConsentKeywords {
    pub stop: Vec<String>,
    pub start: Vec<String>,
    pub stop_reply: String,
    pub start_reply: String,
}

/// The consent ledger's settings (`consent`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct ConsentSettings {
    /// Keywords and confirmations by language code; every bot language needs an entry.
    pub keywords: BTreeMap<String, ConsentKeywords>,
}

impl Default for ConsentSettings {
    fn default() -> Self {
        let entry =
            |stop: &[&str], start: &[&str], stop_reply: &str, start_reply: &str| ConsentKeywords {
                stop: stop.iter().map(|s| s.to_string()).collect(),
                start: start.iter().map(|s| s.to_string()).collect(),
                stop_reply: stop_reply.into(),
                start_reply: start_reply.into(),
            };
        let keywords = BTreeMap::from([
            (
                "en".to_string(),
                entry(
                    &["STOP", "UNSUBSCRIBE", "STOP PROMOTIONS"],
                    &["START", "RESUME", "RESUME PROMOTIONS"],
                    "You will no longer receive promotions from us. Write START to receive them again.",
                    "You will receive our promotions again. Write STOP to stop them at any time.",
                ),
            ),
            (
                "es".to_string(),
                entry(
                    &["BAJA", "PARAR", "STOP"],
                    &["ALTA", "REANUDAR", "START"],
                    "Ya no recibirás nuestras promociones. Escribe ALTA para volver a recibirlas.",
                    "Volverás a recibir nuestras promociones. Escribe BAJA para dejar de recibirlas cuando quieras.",
                ),
            ),
            (
                "pt".to_string(),
                entry(
                    &["PARAR", "SAIR", "STOP"],
                    &["VOLTAR", "RETOMAR", "START"],
                    "Você não receberá mais nossas promoções. Escreva VOLTAR para recebê-las novamente.",
                    "Você voltará a receber nossas promoções. Escreva PARAR para interrompê-las quando quiser.",
                ),
            ),
            (
                "fr".to_string(),
                entry(
                    &["ARRÊT", "ARRET", "STOP"],
                    &["REPRENDRE", "START"],
                    "Vous ne recevrez plus nos promotions. Écrivez REPRENDRE pour les recevoir à nouveau.",
                    "Vous recevrez à nouveau nos promotions. Écrivez ARRÊT pour les arrêter à tout moment.",
                ),
            ),
            (
                "ru".to_string(),
                entry(
                    &["СТОП", "ОТПИСАТЬСЯ", "STOP"],
                    &["СТАРТ", "ПОДПИСАТЬСЯ", "START"],
                    "Вы больше не будете получать наши акции. Напишите СТАРТ, чтобы снова их получать.",
                    "Вы снова будете получать наши акции. Напишите СТОП, чтобы отказаться в любой момент.",
                ),
            ),
            (
                "ar".to_string(),
                entry(
                    &["إيقاف", "توقف", "STOP"],
                    &["بدء", "استئناف", "START"],
                    "لن تصلك عروضنا بعد الآن. اكتب بدء لتصلك من جديد.",
                    "ستصلك عروضنا من جديد. اكتب إيقاف لإيقافها في أي وقت.",
                ),
            ),
        ]);
        Self { keywords }
    }
}

/// API keys of business systems (`/api/v1/admin/api-keys`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct ApiKeySettings {
    /// Requests per key per minute, and the burst allowed, counted on each node; past them the
    /// answer is 429 with Retry-After.
    pub requests_per_minute: u32,
    pub burst: u32,
}

impl Default for ApiKeySettings {
    fn default() -> Self {
        Self {
            requests_per_minute: 600,
            burst: 60,
        }
    }
}

impl Default for EventWebhookSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_interval_ms: 500,
            concurrency: 16,
            batch: 200,
            timeout_ms: 10_000,
            lease_ms: 60_000,
            retry_schedule_ms: vec![
                5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
            ],
            disable_after_ms: 5 * 24 * 3_600_000,
            rotation_grace_ms: 24 * 3_600_000,
            max_endpoints: 100,
            retention_days: 30,
            allow_http: false,
            allowed_private_addresses: Vec::new(),
        }
    }
}

impl MediaSettings {
    /// The embedded media store's directory.
    pub fn dir(&self, database: &DatabaseSettings) -> PathBuf {
        if self.dir.as_os_str().is_empty() {
            database.data_dir.join("media")
        } else {
            self.dir.clone()
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct LogSettings {
    /// `tracing` filter, e.g. `info,switchboard=debug`; `RUST_LOG` wins when set.
    pub filter: String,
    /// JSON lines instead of human-readable text.
    pub json: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            filter: "info".into(),
            json: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Load(#[from] config::ConfigError),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Load from `./config` (or `SWITCHBOARD_CONFIG_DIR`), for `SWITCHBOARD_ENVIRONMENT`
    /// (default `local`), with `SWITCHBOARD__…` overrides.
    pub fn load() -> Result<Self, ConfigError> {
        let dir = std::env::var_os("SWITCHBOARD_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("config"));
        let environment =
            std::env::var("SWITCHBOARD_ENVIRONMENT").unwrap_or_else(|_| "local".to_string());
        Self::load_from(&dir, &environment, true)
    }

    /// Load `base.yaml` and `{environment}.yaml` (optional) from `dir`; with `use_env`, apply
    /// `SWITCHBOARD__…` overrides too.
    pub fn load_from(dir: &Path, environment: &str, use_env: bool) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from(dir.join("base.yaml")).required(true))
            .add_source(
                config::File::from(dir.join(format!("{environment}.yaml"))).required(false),
            );
        if use_env {
            builder = builder.add_source(
                config::Environment::with_prefix("SWITCHBOARD")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            );
        }
        let merged = builder.build()?;
        let tree: serde_json::Value = merged.clone().try_deserialize()?;
        let mut settings: Settings = merged.try_deserialize()?;
        settings.environment = environment.to_string();
        settings.source = Some(Arc::new(ConfigSource {
            dir: dir.to_path_buf(),
            environment: environment.to_string(),
            use_env,
            tree,
        }));
        settings.validate()?;
        Ok(settings)
    }

    /// The keys that hold a public demo credential (or no secret at all), in the order of the
    /// configuration. Empty when every secret is the operator's own.
    pub fn demo_credentials(&self) -> Vec<String> {
        use secrecy::ExposeSecret;
        use sha2::Digest;
        let public = |secret: &SecretString| {
            let secret = secret.expose_secret();
            secret.trim().is_empty() || DEMO_SECRETS.contains(&secret)
        };
        let mut keys = Vec::new();
        for (key, secret) in [
            ("whatsapp.app_secret", &self.whatsapp.app_secret),
            ("whatsapp.verify_token", &self.whatsapp.verify_token),
            ("whatsapp.access_token", &self.whatsapp.access_token),
        ] {
            if public(secret) {
                keys.push(key.to_string());
            }
        }
        for (id, channel) in &self.channels {
            if channel.access_token.as_ref().is_some_and(public) {
                keys.push(format!("channels.{id}.access_token"));
            }
            if let Some(page) = &channel.messenger
                && public(&page.page_access_token)
            {
                keys.push(format!("channels.{id}.messenger.page_access_token"));
            }
            if let Some(account) = &channel.instagram
                && public(&account.access_token)
            {
                keys.push(format!("channels.{id}.instagram.access_token"));
            }
            if let Some(account) = &channel.x {
                if public(&account.access_token) {
                    keys.push(format!("channels.{id}.x.access_token"));
                }
                if account
                    .oauth1_access_token_secret
                    .as_ref()
                    .is_some_and(public)
                {
                    keys.push(format!("channels.{id}.x.oauth1_access_token_secret"));
                }
            }
            if let Some(widget) = &channel.webchat
                && public(&widget.website_token)
            {
                keys.push(format!("channels.{id}.webchat.website_token"));
            }
            if let Some(bot) = &channel.telegram {
                if public(&bot.bot_token) {
                    keys.push(format!("channels.{id}.telegram.bot_token"));
                }
                if public(&bot.webhook_secret) {
                    keys.push(format!("channels.{id}.telegram.webhook_secret"));
                }
            }
        }
        if self
            .channels
            .values()
            .any(|c| c.kind == ChannelKind::Messenger)
        {
            for (key, secret) in [
                ("messenger.app_secret", &self.messenger.app_secret),
                ("messenger.verify_token", &self.messenger.verify_token),
            ] {
                if public(secret) {
                    keys.push(key.to_string());
                }
            }
        }
        if self
            .channels
            .values()
            .any(|c| c.kind == ChannelKind::Instagram)
        {
            for (key, secret) in [
                ("instagram.app_secret", &self.instagram.app_secret),
                ("instagram.verify_token", &self.instagram.verify_token),
            ] {
                if public(secret) {
                    keys.push(key.to_string());
                }
            }
        }
        if self.channels.values().any(|c| c.kind == ChannelKind::X)
            && public(&self.x.consumer_secret)
        {
            keys.push("x.consumer_secret".to_string());
        }
        for (id, app) in &self.panel_apps {
            if public(&app.secret) {
                keys.push(format!("panel_apps.{id}.secret"));
            }
        }
        // Push services write to the VAPID contact when something is wrong: the demo's
        // example.com reaches nobody.
        if self.push.enabled && is_example_contact(&self.push.subject) {
            keys.push("push.subject".to_string());
        }
        let demo_hashes: Vec<String> = DEMO_CONSOLE_TOKENS
            .iter()
            .map(|t| hex::encode(sha2::Sha256::digest(t.as_bytes())))
            .collect();
        for (id, agent) in &self.agents {
            if let Some(hash) = &agent.token_sha256
                && demo_hashes.iter().any(|d| d.eq_ignore_ascii_case(hash))
            {
                keys.push(format!("agents.{id}.token_sha256"));
            }
            if agent.password_argon2.as_deref() == Some(DEMO_PASSWORD_ARGON2) {
                keys.push(format!("agents.{id}.password_argon2"));
            }
        }
        keys
    }

    /// The panel app seeds: what the admin API would accept, and a secret long enough.
    fn validate_panel_apps(&self) -> Result<(), ConfigError> {
        use crate::integrations::panel_apps;
        use secrecy::ExposeSecret;
        let loopback = DEMO_ENVIRONMENTS.contains(&self.environment.as_str());
        for (id, app) in &self.panel_apps {
            let bad = |what: String| ConfigError::Invalid(format!("panel_apps.{id}: {what}"));
            if id.is_empty()
                || id.len() > 64
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(bad(
                    "the id must be 1 to 64 letters, digits, `-` or `_`".into()
                ));
            }
            panel_apps::name(&app.name).map_err(|e| bad(e.message))?;
            panel_apps::url(&app.url, loopback).map_err(|e| bad(e.message))?;
            panel_apps::teams(&app.teams, |t| self.teams.contains_key(t))
                .map_err(|e| bad(e.message))?;
            if app.secret.expose_secret().len() < MIN_PANEL_APP_SECRET {
                return Err(bad(format!(
                    "`secret` must have at least {MIN_PANEL_APP_SECRET} characters"
                )));
            }
        }
        Ok(())
    }

    /// Every bot language has consent keywords, each entry has stop and start words and both
    /// confirmations, and no word both stops and starts.
    fn validate_consent(&self) -> Result<(), ConfigError> {
        for (language, k) in &self.consent.keywords {
            let bad =
                |what: &str| ConfigError::Invalid(format!("consent.keywords.{language}: {what}"));
            if k.stop.iter().chain(&k.start).any(|w| w.trim().is_empty())
                || k.stop.is_empty()
                || k.start.is_empty()
            {
                return Err(bad(
                    "`stop` and `start` each need at least one non-empty word",
                ));
            }
            if k.stop_reply.trim().is_empty() || k.start_reply.trim().is_empty() {
                return Err(bad("`stop_reply` and `start_reply` must not be empty"));
            }
        }
        let all =
            |pick: fn(&ConsentKeywords) -> &Vec<String>| -> std::collections::HashSet<String> {
                self.consent
                    .keywords
                    .values()
                    .flat_map(|k| pick(k).iter().map(|w| w.trim().to_uppercase()))
                    .collect()
            };
        if let Some(word) = all(|k| &k.stop).intersection(&all(|k| &k.start)).next() {
            return Err(ConfigError::Invalid(format!(
                "consent.keywords: {word:?} is both a stop and a start word"
            )));
        }
        let lists = &self.campaigns.marketing_countries;
        for (list, countries) in [("allow", &lists.allow), ("deny", &lists.deny)] {
            if let Some(bad) = countries
                .iter()
                .find(|c| c.trim().len() != 2 || !c.trim().chars().all(|x| x.is_ascii_alphabetic()))
            {
                return Err(ConfigError::Invalid(format!(
                    "campaigns.marketing_countries.{list}: {bad:?} is not a two-letter country code (ISO 3166-1, e.g. ES)"
                )));
            }
        }
        let share = self.campaigns.share;
        if !(share > 0.0 && share <= 1.0) {
            return Err(ConfigError::Invalid(format!(
                "campaigns.share: {share} is not above 0 and at most 1 (a share of the number's throughput)"
            )));
        }
        let prices = &self.campaigns.prices;
        let negative = std::iter::once(("default", &prices.default))
            .chain(prices.countries.iter().map(|(c, p)| (c.as_str(), p)))
            .find(|(_, p)| {
                [p.marketing, p.utility, p.authentication]
                    .iter()
                    .any(|v| !v.is_finite() || *v < 0.0)
            });
        if let Some((country, _)) = negative {
            return Err(ConfigError::Invalid(format!(
                "campaigns.prices.{country}: prices are numbers of 0 or more"
            )));
        }
        for (name, bot) in &self.bots {
            for language in &bot.languages.supported {
                if !self.consent.keywords.contains_key(language) {
                    return Err(ConfigError::Invalid(format!(
                        "consent.keywords has no entry for language {language} of bot {name}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Cross-field checks that serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if !DEMO_ENVIRONMENTS.contains(&self.environment.as_str()) {
            let keys = self.demo_credentials();
            if !keys.is_empty() {
                return invalid(format!(
                    "SWITCHBOARD_ENVIRONMENT={} refuses to start with demo or empty credentials: {} \
                     (set your own, e.g. SWITCHBOARD__WHATSAPP__APP_SECRET; remove or replace the \
                     demo agents; demo credentials are allowed only in the {} environments)",
                    self.environment,
                    keys.join(", "),
                    DEMO_ENVIRONMENTS.join(", ")
                ));
            }
        }
        if self.outbound.messages_per_second == 0 || self.outbound.messages_per_second > 1000 {
            return invalid("outbound.messages_per_second must be 1..=1000".into());
        }
        if self.outbound.per_recipient_per_minute == 0 || self.outbound.per_recipient_burst == 0 {
            return invalid("outbound.per_recipient_* must be positive".into());
        }
        if self.intake.partitions == 0 || self.conversations.arbiters == 0 {
            return invalid("intake.partitions and conversations.arbiters must be positive".into());
        }
        if self.database.inbound_retention_days < 8 {
            return invalid(
                "database.inbound_retention_days must be at least 8 (Meta retries for 7 days)"
                    .into(),
            );
        }
        if self.database.max_batch == 0 || self.database.queue_capacity == 0 {
            return invalid(
                "database.max_batch and database.queue_capacity must be positive".into(),
            );
        }
        if self.push.queue_capacity == 0 || self.push.concurrency == 0 {
            return invalid("push.queue_capacity and push.concurrency must be positive".into());
        }
        if !(self.push.subject.starts_with("mailto:") || self.push.subject.starts_with("https:")) {
            return invalid("push.subject must be a mailto: or https: URL (RFC 8292)".into());
        }
        crate::reports::sla_rules::SlaRules::from_settings(self).map_err(ConfigError::Invalid)?;
        if self.reports.presence_sample_seconds > 3600 {
            return invalid("reports.presence_sample_seconds must be 0 (off) to 3600".into());
        }
        self.validate_panel_apps()?;
        self.validate_consent()?;
        let mut seen = std::collections::HashSet::new();
        for (id, channel) in &self.channels {
            if !self.bots.contains_key(&channel.bot) {
                return invalid(format!("channel {id} names unknown bot {}", channel.bot));
            }
            if let Some(mps) = channel.messages_per_second
                && (mps == 0 || mps > 1000)
            {
                return invalid(format!(
                    "channel {id}: messages_per_second must be 1..=1000"
                ));
            }
            if channel.kind == ChannelKind::Telegram {
                use secrecy::ExposeSecret;
                let Some(bot) = &channel.telegram else {
                    return invalid(format!(
                        "channel {id}: kind telegram needs telegram.bot_token and telegram.webhook_secret"
                    ));
                };
                if bot.bot_id().is_none() {
                    return invalid(format!(
                        "channel {id}: telegram.bot_token must look like <bot id>:<secret> (BotFather's token)"
                    ));
                }
                let secret = bot.webhook_secret.expose_secret();
                if secret.is_empty()
                    || secret.len() > 256
                    || !secret
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return invalid(format!(
                        "channel {id}: telegram.webhook_secret must be 1-256 characters A-Z, a-z, 0-9, _ or -"
                    ));
                }
                if bot.per_chat_per_minute == 0 || bot.per_chat_burst == 0 {
                    return invalid(format!(
                        "channel {id}: telegram.per_chat_per_minute and per_chat_burst must be positive"
                    ));
                }
            } else if channel.kind == ChannelKind::Messenger {
                use secrecy::ExposeSecret;
                let Some(page) = &channel.messenger else {
                    return invalid(format!(
                        "channel {id}: kind messenger needs messenger.page_id and messenger.page_access_token"
                    ));
                };
                if page.page_id.is_empty() || !page.page_id.bytes().all(|b| b.is_ascii_digit()) {
                    return invalid(format!(
                        "channel {id}: messenger.page_id must be the page's numeric id"
                    ));
                }
                if self.messenger.app_secret.expose_secret().is_empty()
                    || self.messenger.verify_token.expose_secret().is_empty()
                {
                    return invalid(format!(
                        "channel {id}: a messenger channel needs messenger.app_secret and messenger.verify_token"
                    ));
                }
            } else if channel.kind == ChannelKind::Instagram {
                use secrecy::ExposeSecret;
                let Some(account) = &channel.instagram else {
                    return invalid(format!(
                        "channel {id}: kind instagram needs instagram.account_id and instagram.access_token"
                    ));
                };
                if account.account_id.is_empty()
                    || !account.account_id.bytes().all(|b| b.is_ascii_digit())
                {
                    return invalid(format!(
                        "channel {id}: instagram.account_id must be the account's numeric id"
                    ));
                }
                if self.instagram.app_secret.expose_secret().is_empty()
                    || self.instagram.verify_token.expose_secret().is_empty()
                {
                    return invalid(format!(
                        "channel {id}: an instagram channel needs instagram.app_secret and instagram.verify_token"
                    ));
                }
            } else if channel.kind == ChannelKind::X {
                use secrecy::ExposeSecret;
                let Some(account) = &channel.x else {
                    return invalid(format!(
                        "channel {id}: kind x needs x.account_id and x.access_token"
                    ));
                };
                if account.account_id.is_empty()
                    || !account.account_id.bytes().all(|b| b.is_ascii_digit())
                {
                    return invalid(format!(
                        "channel {id}: x.account_id must be the account's numeric user id"
                    ));
                }
                if account.sends_per_window == 0 || account.window_seconds == 0 {
                    return invalid(format!(
                        "channel {id}: x.sends_per_window and x.window_seconds must be positive"
                    ));
                }
                let token = account
                    .oauth1_access_token
                    .as_deref()
                    .is_some_and(|t| !t.trim().is_empty());
                let secret = account
                    .oauth1_access_token_secret
                    .as_ref()
                    .is_some_and(|s| !s.expose_secret().is_empty());
                if token != secret {
                    return invalid(format!(
                        "channel {id}: x.oauth1_access_token and x.oauth1_access_token_secret go together"
                    ));
                }
                if token && self.x.consumer_key.trim().is_empty() {
                    return invalid(format!(
                        "channel {id}: x.oauth1_access_token needs x.consumer_key (the app's API key)"
                    ));
                }
                if self.x.consumer_secret.expose_secret().is_empty() {
                    return invalid(format!(
                        "channel {id}: an x channel needs x.consumer_secret"
                    ));
                }
            } else if channel.kind == ChannelKind::Webchat {
                use secrecy::ExposeSecret;
                let Some(widget) = &channel.webchat else {
                    return invalid(format!(
                        "channel {id}: kind webchat needs webchat.website_token and webchat.origins"
                    ));
                };
                let token = widget.website_token.expose_secret();
                if token.len() < 16
                    || token.len() > 256
                    || !token
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return invalid(format!(
                        "channel {id}: webchat.website_token must be 16-256 characters A-Z, a-z, 0-9, _ or -"
                    ));
                }
                for origin in &widget.origins {
                    if crate::http::origin::normalize(origin).is_none() {
                        return invalid(format!(
                            "channel {id}: webchat.origins: {origin:?} is not an origin like https://www.example.com"
                        ));
                    }
                }
                if let Some(team) = &widget.team
                    && !self.teams.contains_key(team)
                {
                    return invalid(format!("channel {id}: webchat.team {team} is not a team"));
                }
            } else if channel.phone_number_id.is_empty() {
                return invalid(format!("channel {id}: phone_number_id is required"));
            }
            if !seen.insert((channel.kind, channel.account())) {
                return invalid(format!(
                    "channel {id}: account {} is used twice",
                    channel.account()
                ));
            }
        }
        for (name, bot) in &self.bots {
            bot.validate(&self.teams)
                .map_err(|e| ConfigError::Invalid(format!("bot {name}: {e}")))?;
        }
        for (id, agent) in &self.agents {
            for team in &agent.teams {
                if !self.teams.contains_key(team) {
                    return invalid(format!("agent {id} is in unknown team {team}"));
                }
            }
            for team in &agent.supervises {
                if !self.teams.contains_key(team) {
                    return invalid(format!("agent {id} supervises unknown team {team}"));
                }
            }
            if let Some(hash) = &agent.token_sha256
                && (hash.len() != 64 || hex::decode(hash).is_err())
            {
                return invalid(format!("agent {id}: token_sha256 must be 64 hex digits"));
            }
            if let Some(hash) = &agent.password_argon2
                && !hash.starts_with("$argon2id$")
            {
                return invalid(format!(
                    "agent {id}: password_argon2 must be an argon2id PHC string \
                     (`switchboard hash-password` prints one)"
                ));
            }
        }
        let mut emails = std::collections::HashSet::new();
        for (id, agent) in &self.agents {
            if let Some(email) = &agent.email
                && !emails.insert(email.trim().to_lowercase())
            {
                return invalid(format!("agent {id}: email {email} is used twice"));
            }
        }
        for (id, team) in &self.teams {
            if let Some(overflow) = &team.overflow
                && (!self.teams.contains_key(&overflow.team) || &overflow.team == id)
            {
                return invalid(format!(
                    "team {id} overflows to unknown team {}",
                    overflow.team
                ));
            }
            if team.max_queue == 0 {
                return invalid(format!("team {id}: max_queue must be positive"));
            }
        }
        if !self.teams.contains_key(&self.routing.default_team) {
            return invalid(format!(
                "routing.default_team {} is not a team",
                self.routing.default_team
            ));
        }
        if self.redis.enabled() {
            let r = &self.redis;
            if r.lease_renew_ms == 0 || r.lease_ttl_ms < 2 * r.lease_renew_ms {
                return invalid(
                    "redis.lease_ttl_ms must be at least twice redis.lease_renew_ms".into(),
                );
            }
            if r.namespace.is_empty() || r.namespace.contains(['{', '}']) {
                return invalid("redis.namespace must be non-empty, without braces".into());
            }
            if r.read_batch == 0 || r.timer_poll_ms == 0 || r.read_block_ms == 0 {
                return invalid(
                    "redis.read_batch, read_block_ms and timer_poll_ms must be positive".into(),
                );
            }
        }
        let w = &self.event_webhooks;
        if w.poll_interval_ms == 0 || w.concurrency == 0 || w.batch <= 0 || w.timeout_ms == 0 {
            return invalid(
                "event_webhooks.poll_interval_ms, concurrency, batch and timeout_ms must be \
                 positive"
                    .into(),
            );
        }
        if w.lease_ms <= w.timeout_ms {
            return invalid("event_webhooks.lease_ms must be longer than timeout_ms".into());
        }
        if let Some(bad) = w
            .allowed_private_addresses
            .iter()
            .find(|a| a.trim().parse::<std::net::IpAddr>().is_err())
        {
            return invalid(format!(
                "event_webhooks.allowed_private_addresses: {bad:?} is not an IP address"
            ));
        }
        if w.allow_http && !DEMO_ENVIRONMENTS.contains(&self.environment.as_str()) {
            return invalid(format!(
                "event_webhooks.allow_http sends events over plain HTTP; it is refused outside \
                 the {} environments (SWITCHBOARD_ENVIRONMENT={})",
                DEMO_ENVIRONMENTS.join("/"),
                self.environment
            ));
        }
        if self.media.allow_http_urls && !["test", "loadtest"].contains(&self.environment.as_str())
        {
            return invalid(format!(
                "media.allow_http_urls fetches customers' files over plain HTTP; it is refused \
                 outside the test and loadtest environments (SWITCHBOARD_ENVIRONMENT={})",
                self.environment
            ));
        }
        if self.conversations.halt_for_crash_test != HaltPoint::None
            && !["test", "loadtest"].contains(&self.environment.as_str())
        {
            return invalid(format!(
                "conversations.halt_for_crash_test freezes conversations; it is refused outside \
                 the test and loadtest environments (SWITCHBOARD_ENVIRONMENT={})",
                self.environment
            ));
        }
        let server = &self.server;
        if server.max_pending_body_bytes < server.max_body_bytes {
            return invalid(
                "server.max_pending_body_bytes must be at least server.max_body_bytes (or the \
                 largest webhook could never be read)"
                    .into(),
            );
        }
        if server.body_idle_timeout_ms == 0 || server.body_deadline_ms == 0 {
            return invalid(
                "server.body_idle_timeout_ms and server.body_deadline_ms must be positive".into(),
            );
        }
        let security = &self.security;
        if security.auth_failures_per_address == 0
            || security.auth_failures_per_credential == 0
            || security.auth_failure_window_seconds == 0
            || security.auth_failure_tracking == 0
        {
            return invalid("security.auth_failure* values must be positive".into());
        }
        for origin in &security.allowed_origins {
            if crate::http::origin::normalize(origin).is_none() {
                return invalid(format!(
                    "security.allowed_origins: {origin:?} is not an origin like https://console.example.com"
                ));
            }
        }
        let w = &self.webchat;
        if w.requests_per_minute_per_address == 0
            || w.request_burst_per_address == 0
            || w.messages_per_minute_per_visitor == 0
            || w.message_burst_per_visitor == 0
            || w.sessions_per_hour_per_address == 0
            || w.max_text_chars == 0
            || w.page_size <= 0
            || w.poll_interval_ms == 0
            || w.max_frame_bytes == 0
            || w.visitor_days == 0
        {
            return invalid("webchat limits must be positive".into());
        }
        if self.console.session_buffer == 0
            || self.console.agent_mailbox == 0
            || self.console.event_log_size == 0
            || self.console.max_page_size == 0
        {
            return invalid("console sizes must be positive".into());
        }
        Ok(())
    }

    /// The channel a provider account (phone_number_id) belongs to.
    pub fn channel_for_account(&self, kind: ChannelKind, account: &AccountId) -> Option<ChannelId> {
        self.channels
            .iter()
            .find(|(_, c)| c.kind == kind && &c.account() == account)
            .map(|(id, _)| ChannelId::new(id.clone()))
    }

    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.database.sqlite_path().display())
        } else {
            self.database.url.clone()
        }
    }
}
