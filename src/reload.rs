//! Reloading the bot flows and the routing rules without a restart.
//!
//! The flows (`bots:`) and the routing (`routing:`) are what operators change most, and a
//! restart drops websockets and actors for nothing. Both are compiled into one immutable
//! snapshot, [`Live`], published through an [`ArcSwap`] ([`LiveConfig`]): every conversation
//! actor takes the current snapshot once per message (one atomic load and a reference count,
//! no lock, nothing held across an await), and the [`RouterActor`](crate::routing::RouterActor)
//! once per handoff. A reload builds a whole new snapshot aside and swaps it in with one store,
//! so a conversation sees either the old flows and rules or the new ones, never a mix, and a
//! message already being handled finishes with the snapshot it started with.
//!
//! [`Reloader::reload`] reads the configuration again from where it was loaded (the same
//! directory, environment layer and `SWITCHBOARD__…` variables), validates all of it
//! ([`Settings::load_from`] runs every check of [`Settings::validate`]), compiles the bots and
//! the routing rules exactly as start-up does, and only if everything compiles swaps the
//! snapshot. Anything wrong refuses the reload with a message naming the problem, and what runs
//! stays untouched.
//!
//! Everything else (server, database, Redis, channels, teams, agents, outbound, console...) is
//! built into long-lived parts at start-up and is not reloaded: settings that differ in the
//! files are listed in the report as needing a restart. The new flows and rules are compiled
//! against the channels and teams that run: a channel keeps the bot it was started with (a
//! reload that removes it is refused), and a flow or rule naming a team that is not running is
//! refused.
//!
//! A conversation in the middle of a flow whose step the new flows no longer have goes on from
//! the start step (see `Bot::on_message`); its actor logs it.
//!
//! Each node reloads its own configuration: in a cluster, reload every node (the report's
//! fingerprint tells whether they run the same flows and rules).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::bot::{Bot, BotConfig};
use crate::config::{ChannelSettings, ConfigError, ConfigSource, Settings, TeamSettings};
use crate::domain::ChannelId;
use crate::routing::{Router, RoutingSettings};

/// The top-level sections a reload applies; every other one needs a restart.
const RELOADED: &[&str] = &["bots", "routing"];

/// The bot flows and routing rules in effect: compiled, immutable, swapped whole.
pub struct Live {
    /// The bot each channel runs.
    bots: HashMap<ChannelId, Arc<Bot>>,
    /// The same bots by name (reused by the next reload when their configuration is unchanged).
    compiled: BTreeMap<String, Arc<Bot>>,
    router: Arc<Router>,
    /// What they were compiled from: every bot's configuration and the routing, as JSON.
    flows: BTreeMap<String, Value>,
    routing: Value,
    fingerprint: String,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("bots", &self.compiled.keys().collect::<Vec<_>>())
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Live {
    /// Compile the bots the `channels` run and the routing, against `teams`: what start-up does
    /// and what a reload does with the new files (with the running channels and teams).
    /// Unchanged parts of `previous` are reused as they are (a router keeps its lookup cache).
    pub fn compile(
        bots: &BTreeMap<String, BotConfig>,
        routing: &RoutingSettings,
        channels: &BTreeMap<String, ChannelSettings>,
        teams: &BTreeMap<String, TeamSettings>,
        http: reqwest::Client,
        previous: Option<&Live>,
    ) -> Result<Live, String> {
        let flows: BTreeMap<String, Value> = bots
            .iter()
            .map(|(name, bot)| Ok((name.clone(), to_json(bot)?)))
            .collect::<Result<_, String>>()?;
        let routing_json = to_json(routing)?;

        let mut compiled: BTreeMap<String, Arc<Bot>> = BTreeMap::new();
        let mut by_channel = HashMap::new();
        for (id, channel) in channels {
            let name = &channel.bot;
            let bot = match compiled.get(name) {
                Some(bot) => bot.clone(),
                None => {
                    let config = bots.get(name).ok_or_else(|| {
                        format!(
                            "channel {id} runs bot {name}, which the configuration does not define"
                        )
                    })?;
                    let reused = previous.and_then(|p| {
                        (p.flows.get(name) == flows.get(name))
                            .then(|| p.compiled.get(name).cloned())
                            .flatten()
                    });
                    let bot = match reused {
                        Some(bot) => bot,
                        None => {
                            for team in config.team_references() {
                                if !teams.contains_key(&team) {
                                    return Err(format!("bot {name}: unknown team {team}"));
                                }
                            }
                            Arc::new(Bot::new(config).map_err(|e| format!("bot {name}: {e}"))?)
                        }
                    };
                    compiled.insert(name.clone(), bot.clone());
                    bot
                }
            };
            by_channel.insert(ChannelId::new(id.clone()), bot);
        }

        let router = match previous.filter(|p| p.routing == routing_json) {
            Some(p) => p.router.clone(),
            None => Arc::new(Router::new(routing, teams, http).map_err(|e| e.to_string())?),
        };
        let fingerprint = fingerprint(&flows, &routing_json);
        Ok(Live {
            bots: by_channel,
            compiled,
            router,
            flows,
            routing: routing_json,
            fingerprint,
        })
    }

    /// The bot `channel` runs.
    pub fn bot(&self, channel: &ChannelId) -> Option<&Arc<Bot>> {
        self.bots.get(channel)
    }

    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    /// A digest of the flows and routing in effect (16 hex digits): equal on two nodes, they
    /// run the same flows and rules.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// The handle on the [`Live`] snapshot shared by the conversation actors, the router and the
/// [`Reloader`]. Cloning shares it.
#[derive(Clone)]
pub struct LiveConfig(Arc<ArcSwap<Live>>);

impl std::fmt::Debug for LiveConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LiveConfig").field(&*self.0.load()).finish()
    }
}

impl LiveConfig {
    pub fn new(live: Live) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(live)))
    }

    /// Only a router and no bots (benchmarks and tests of the router alone).
    pub fn of_router(router: Arc<Router>) -> Self {
        let routing = Value::Null;
        Self::new(Live {
            bots: HashMap::new(),
            compiled: BTreeMap::new(),
            router,
            fingerprint: fingerprint(&BTreeMap::new(), &routing),
            flows: BTreeMap::new(),
            routing,
        })
    }

    /// Every bot's questions that save their answer to a contact field.
    pub fn question_fields(&self) -> Vec<crate::crm::fields::QuestionField> {
        let live = self.0.load();
        let mut out = Vec::new();
        for (name, bot) in &live.compiled {
            for (step, field, accept) in bot.question_fields() {
                out.push(crate::crm::fields::QuestionField {
                    bot: name.clone(),
                    step,
                    field,
                    accept,
                });
            }
        }
        out
    }

    /// The current snapshot, to keep for the whole of one message (or one handoff).
    pub fn snapshot(&self) -> Arc<Live> {
        self.0.load_full()
    }

    /// The bot `channel` runs now.
    pub fn bot(&self, channel: &ChannelId) -> Option<Arc<Bot>> {
        self.0.load().bots.get(channel).cloned()
    }

    /// The router now.
    pub fn router(&self) -> Arc<Router> {
        self.0.load().router.clone()
    }

    pub fn fingerprint(&self) -> String {
        self.0.load().fingerprint.clone()
    }

    fn store(&self, live: Arc<Live>) {
        self.0.store(live);
    }
}

/// Names added, removed and changed between two configurations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// Compare two maps by key, naming each `{prefix}{key}`.
    fn between(old: &BTreeMap<String, Value>, new: &BTreeMap<String, Value>, prefix: &str) -> Self {
        let mut changes = Changes::default();
        for (key, value) in new {
            match old.get(key) {
                None => changes.added.push(format!("{prefix}{key}")),
                Some(previous) if previous != value => {
                    changes.changed.push(format!("{prefix}{key}"))
                }
                Some(_) => {}
            }
        }
        for key in old.keys().filter(|k| !new.contains_key(*k)) {
            changes.removed.push(format!("{prefix}{key}"));
        }
        changes
    }

    fn append(&mut self, mut other: Changes) {
        self.added.append(&mut other.added);
        self.removed.append(&mut other.removed);
        self.changed.append(&mut other.changed);
    }
}

/// `added a, b; removed c; changed d`, or `none`: for log lines.
impl std::fmt::Display for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = [
            ("added", &self.added),
            ("removed", &self.removed),
            ("changed", &self.changed),
        ]
        .into_iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(what, names)| format!("{what} {}", names.join(", ")))
        .collect();
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join("; "))
        }
    }
}

/// What a reload did (serializable as an API answer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReloadReport {
    /// Fingerprint of the flows and rules in effect now.
    pub fingerprint: String,
    /// ... and before the reload (equal: nothing changed).
    pub previous_fingerprint: String,
    /// Bots (flows) by name.
    pub flows: Changes,
    /// Steps of the bots present before and after, as `bot.step`.
    pub steps: Changes,
    /// Routing rules by name (a rule moved to another position counts as changed; a repeated
    /// name is told apart as `name#2`).
    pub rules: Changes,
    /// Other routing settings that changed: `routing.default_team`, `routing.stores.<id>`,
    /// `routing.lookups.<name>`...
    pub routing: Vec<String>,
    /// Settings that differ in the files from what runs and are not reloaded (`server.port`,
    /// `channels.support`, `teams.sales`...): they apply at the next restart (teams and
    /// agents are not reloaded at all).
    pub needs_restart: Vec<String>,
}

impl ReloadReport {
    /// Whether the flows or the routing changed.
    pub fn changed(&self) -> bool {
        self.fingerprint != self.previous_fingerprint
    }
}

/// Why a reload was refused; what runs is untouched. Its text names the problem, for a log
/// line or an API answer.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The files cannot be read or parsed, or a value has the wrong type.
    #[error("the configuration cannot be read: {0}")]
    Unreadable(String),
    /// The configuration reads but does not hold together (a flow pointing at a missing step,
    /// a routing rule that does not compile, a team that is not running...).
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// The application was built from settings made in code, not loaded from files.
    #[error("the configuration was not loaded from files; there is nothing to reload")]
    NotFromFiles,
    /// The reload could not run to its end.
    #[error("the reload failed: {0}")]
    Failed(String),
}

impl ReloadError {
    /// A stable code for an API answer.
    pub fn code(&self) -> &'static str {
        match self {
            ReloadError::Unreadable(_) => "config_unreadable",
            ReloadError::Invalid(_) => "config_invalid",
            ReloadError::NotFromFiles => "config_not_from_files",
            ReloadError::Failed(_) => "internal",
        }
    }
}

impl From<ConfigError> for ReloadError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Load(e) => ReloadError::Unreadable(e.to_string()),
            ConfigError::Invalid(message) => ReloadError::Invalid(message),
        }
    }
}

/// Reloads the bot flows and routing rules from where the configuration was loaded; see the
/// module documentation.
pub struct Reloader {
    /// Where the running configuration came from, and its tree then.
    source: Option<Arc<ConfigSource>>,
    /// The settings the application was built with: its channels and teams.
    running: Arc<Settings>,
    live: LiveConfig,
    /// For the routing lookups of a new router.
    http: reqwest::Client,
    /// One reload at a time, so each one's report compares with the one before.
    serial: Mutex<()>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("source", &self.source)
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// A reloader for the application built from `running`, publishing into `live`.
    pub fn new(running: Arc<Settings>, live: LiveConfig, http: reqwest::Client) -> Self {
        Self {
            source: running.source.clone(),
            running,
            live,
            http,
            serial: Mutex::new(()),
        }
    }

    /// The flows and rules in effect.
    pub fn live(&self) -> &LiveConfig {
        &self.live
    }

    /// Read the configuration again, validate it, and swap in its flows and rules; on a
    /// refusal nothing changes. Logs the outcome. Runs on a blocking thread (it reads files
    /// and compiles templates and expressions).
    pub async fn reload(self: &Arc<Self>) -> Result<ReloadReport, ReloadError> {
        let this = Arc::clone(self);
        match tokio::task::spawn_blocking(move || this.reload_blocking()).await {
            Ok(outcome) => outcome,
            Err(e) => {
                let e = ReloadError::Failed(e.to_string());
                tracing::error!(error = %e, "configuration reload failed");
                Err(e)
            }
        }
    }

    /// [`reload`](Self::reload), on the calling thread.
    pub fn reload_blocking(&self) -> Result<ReloadReport, ReloadError> {
        let _serial = self.serial.lock().unwrap_or_else(|e| e.into_inner());
        match self.prepare() {
            Ok((next, report)) => {
                if report.changed() {
                    self.live.store(next);
                }
                log_report(&report);
                Ok(report)
            }
            Err(e) => {
                tracing::error!(error = %e, fingerprint = %self.live.fingerprint(),
                    "configuration reload refused; the running flows and rules stay in place");
                Err(e)
            }
        }
    }

    /// Everything but the swap: the new snapshot and what it changes.
    fn prepare(&self) -> Result<(Arc<Live>, ReloadReport), ReloadError> {
        let source = self.source.as_ref().ok_or(ReloadError::NotFromFiles)?;
        let new = Settings::load_from(&source.dir, &source.environment, source.use_env)?;
        self.check_running_parts(&new)?;
        let previous = self.live.snapshot();
        let next = Live::compile(
            &new.bots,
            &new.routing,
            &self.running.channels,
            &self.running.teams,
            self.http.clone(),
            Some(&previous),
        )
        .map_err(ReloadError::Invalid)?;
        let new_tree = new.source.as_ref().map_or(&Value::Null, |s| &s.tree);
        let report = report(&previous, &next, &source.tree, new_tree);
        Ok((Arc::new(next), report))
    }

    /// The new flows and rules must fit what keeps running: each running channel's bot, and
    /// only running teams.
    fn check_running_parts(&self, new: &Settings) -> Result<(), ReloadError> {
        let restart = "channels and teams are not reloaded: change them with a restart";
        for (id, channel) in &self.running.channels {
            if !new.bots.contains_key(&channel.bot) {
                return Err(ReloadError::Invalid(format!(
                    "channel {id} runs bot {}, which the new configuration removes ({restart})",
                    channel.bot
                )));
            }
        }
        let used: BTreeSet<&String> = self.running.channels.values().map(|c| &c.bot).collect();
        let mut named: Vec<(String, String)> = Vec::new();
        for name in used {
            if let Some(bot) = new.bots.get(name) {
                for team in bot.team_references() {
                    named.push((format!("bot {name}"), team));
                }
            }
        }
        let routing = &new.routing;
        named.push(("routing.default_team".into(), routing.default_team.clone()));
        for (id, store) in &routing.stores {
            named.push((format!("routing store {id}"), store.team.clone()));
        }
        for rule in &routing.rules {
            if let Some(team) = &rule.team {
                named.push((format!("routing rule {:?}", rule.name), team.clone()));
            }
        }
        for (what, team) in named {
            if !self.running.teams.contains_key(&team) {
                return Err(ReloadError::Invalid(format!(
                    "{what} names team {team}, which is not running ({restart})"
                )));
            }
        }
        Ok(())
    }
}

/// Log a successful reload; the settings that need a restart on a line of their own.
fn log_report(report: &ReloadReport) {
    if report.changed() {
        tracing::info!(
            fingerprint = %report.fingerprint,
            previous = %report.previous_fingerprint,
            flows = %report.flows,
            steps = %report.steps,
            rules = %report.rules,
            routing = %report.routing.join(", "),
            "configuration reloaded: new bot flows and routing rules in effect"
        );
    } else {
        tracing::info!(fingerprint = %report.fingerprint,
            "configuration reloaded: the bot flows and routing rules are unchanged");
    }
    if !report.needs_restart.is_empty() {
        tracing::warn!(
            settings = %report.needs_restart.join(", "),
            "these settings differ in the configuration files but are not reloaded; they apply at the next restart"
        );
    }
}

/// What `next` changes from `previous`, and which other settings the files changed since
/// start (`started` and `now` are the merged trees).
fn report(previous: &Live, next: &Live, started: &Value, now: &Value) -> ReloadReport {
    let flows = Changes::between(&previous.flows, &next.flows, "");
    let mut steps = Changes::default();
    for (name, config) in &next.flows {
        if let Some(old) = previous.flows.get(name) {
            steps.append(Changes::between(
                &object(old.get("steps")),
                &object(config.get("steps")),
                &format!("{name}."),
            ));
        }
    }
    let rules = Changes::between(
        &rules_by_name(&previous.routing),
        &rules_by_name(&next.routing),
        "",
    );
    let mut routing = Vec::new();
    let (old, new) = (object(Some(&previous.routing)), object(Some(&next.routing)));
    for key in old.keys().chain(new.keys()).collect::<BTreeSet<_>>() {
        if key == "rules" || old.get(key) == new.get(key) {
            continue;
        }
        match (old.get(key), new.get(key)) {
            (Some(Value::Object(_)), Some(Value::Object(_))) => {
                let inner = Changes::between(
                    &object(old.get(key)),
                    &object(new.get(key)),
                    &format!("routing.{key}."),
                );
                routing.extend(inner.added);
                routing.extend(inner.removed);
                routing.extend(inner.changed);
            }
            _ => routing.push(format!("routing.{key}")),
        }
    }
    routing.sort();
    ReloadReport {
        fingerprint: next.fingerprint.clone(),
        previous_fingerprint: previous.fingerprint.clone(),
        flows,
        steps,
        rules,
        routing,
        needs_restart: needs_restart(started, now),
    }
}

/// The sections that seed the store (its people, its panel apps), ignored once it holds them.
const PEOPLE: &[&str] = &["teams", "agents", "panel_apps"];

/// The settings outside [`RELOADED`] that differ between two merged trees, as `section` or
/// `section.key`. Values are never shown (they may be secrets).
pub fn needs_restart(started: &Value, now: &Value) -> Vec<String> {
    let (old, new) = (object(Some(started)), object(Some(now)));
    let mut out = Vec::new();
    for key in old.keys().chain(new.keys()).collect::<BTreeSet<_>>() {
        // People (teams, agents) seed an empty store once; after that the store holds them and
        // the admin API changes them without a restart: their YAML is not a restart's business.
        if RELOADED.contains(&key.as_str())
            || PEOPLE.contains(&key.as_str())
            || old.get(key) == new.get(key)
        {
            continue;
        }
        match (old.get(key), new.get(key)) {
            (Some(Value::Object(a)), Some(Value::Object(b))) => {
                for inner in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
                    if a.get(inner) != b.get(inner) {
                        out.push(format!("{key}.{inner}"));
                    }
                }
            }
            _ => out.push(key.clone()),
        }
    }
    out
}

/// The routing rules of a routing JSON by name (`name#2` for a repeated name), each with its
/// position so that a move counts as a change.
fn rules_by_name(routing: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let rules = routing.get("rules").and_then(Value::as_array);
    for (position, rule) in rules.into_iter().flatten().enumerate() {
        let name = rule.get("name").and_then(Value::as_str).unwrap_or_default();
        let mut key = name.to_string();
        let mut n = 1;
        while out.contains_key(&key) {
            n += 1;
            key = format!("{name}#{n}");
        }
        out.insert(key, serde_json::json!([position, rule]));
    }
    out
}

/// A JSON object as a sorted map (anything else: empty).
fn object(value: Option<&Value>) -> BTreeMap<String, Value> {
    match value {
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => BTreeMap::new(),
    }
}

fn to_json(value: &impl Serialize) -> Result<Value, String> {
    serde_json::to_value(value).map_err(|e| format!("cannot represent the configuration: {e}"))
}

/// SHA-256 of the flows and routing in a canonical form (keys sorted at every level), 16 hex
/// digits.
fn fingerprint(flows: &BTreeMap<String, Value>, routing: &Value) -> String {
    let mut hasher = Sha256::new();
    for (name, flow) in flows {
        hasher.update(b"bot\0");
        hasher.update(name.as_bytes());
        hasher.update(b"\0");
        canonical(flow, &mut hasher);
    }
    hasher.update(b"routing\0");
    canonical(routing, &mut hasher);
    let digest = hex::encode(hasher.finalize());
    digest[..16].to_string()
}

/// Feed `value` to `hasher` with object keys in order, whatever order the map keeps them in.
fn canonical(value: &Value, hasher: &mut Sha256) {
    match value {
        Value::Object(map) => {
            hasher.update(b"{");
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for key in keys {
                hasher.update(serde_json::to_string(key).unwrap_or_default().as_bytes());
                hasher.update(b":");
                canonical(&map[key.as_str()], hasher);
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                canonical(item, hasher);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        other => hasher.update(other.to_string().as_bytes()),
    }
}

/// Reload on every SIGHUP, for as long as the process runs. `hangups` is registered by the
/// caller before the application starts, so a SIGHUP during start-up does not end the process
/// (its default action); it is handled once the loop runs.
#[cfg(unix)]
pub fn reload_on_hangup(
    mut hangups: tokio::signal::unix::Signal,
    reloader: Arc<Reloader>,
) -> actix_rt::task::JoinHandle<()> {
    actix_rt::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the bot flows and routing rules");
            // The outcome is logged by the reload: info on success, error with the reason.
            let _ = reloader.reload().await;
        }
    })
}

#[cfg(test)]
mod tests;
