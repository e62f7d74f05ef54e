//! The cluster-mode [`Assignments`]: the shared state in Redis, every decision one atomic Lua
//! script, so that any number of gateway nodes can decide concurrently and a conversation is
//! still never with two agents nor an agent above capacity.
//!
//! The rules are the [`Board`](super::board::Board)'s, decision for decision (round robin from a
//! per-team cursor over members in id order, least busy by load then last assignment then id,
//! capacity across teams, preferred agent first, offers and declines, priority queues, drains
//! inside the same call, overflow, restore, presence leases, runtime configuration with retired
//! agents and teams, requeue); the differential test in
//! `redis_tests.rs` applies the same random operations to a board and to Redis and compares
//! every answer.
//!
//! # Key layout
//!
//! Every key of a deployment starts with `sb:{<namespace>}:`, so with Redis Cluster they all
//! hash to one slot (the hash tag) and every script touches a single node. `<…>` below is an id
//! appended verbatim; ids may hold any character (each kind of key has its own prefix).
//!
//! | key | type | holds |
//! |---|---|---|
//! | `config` | hash | `version`: the directory version of the configuration applied (`hex16(version ^ 2^63)`, so byte order is numeric order); `fingerprint`: a hash of its teams and agents. Its absence means Redis lost the configuration (every decision script then answers `noconfig` and the node writes its newest configuration again) |
//! | `ready` | string | the ready marker: set by the restore that rebuilt the state |
//! | `teams` / `agents` | zset, score 0 | the configured team / agent ids (byte order) |
//! | `retired_teams` / `retired_agents` | zset, score 0 | teams / agents out of the configuration that something still refers to: a retired team is the team of some placed conversation (its queue waits, unserved); a retired agent held something at the last configure (listed by `snapshot` while its load is above 0). The next `configure` forgets those nothing refers to any more (their hashes deleted) |
//! | `team:<team>` | hash | `strategy` (`rr`, `lb`), `offers` (0/1), `max_queue`, `cursor` (round robin: member position of the agent it picked last; absent: none, and always for a retired team) |
//! | `members:<team>` | hash | agent id → member position (0-based, agent-id order) |
//! | `elig:<team>` | zset | the team's members online with room. Round robin: member = agent id, score = member position. Least busy: score = load, member = `hex16(last tick)` `|` agent id, so equal loads order by last assignment, then id, exactly the board's rule |
//! | `queue:<team>` | zset, score 0 | queued conversations; member = `hex8(i32::MAX - priority)` `hex16(arrival ^ 2^63)` `hex16(seq)` `|` conversation id: byte order is priority desc, arrival asc, placing order; position = `ZRANK` + 1 |
//! | `agent:<agent>` | hash | `presence`, `capacity`, `load` (assigned + offered), `tick` (last assignment; 0 never), `since` (last presence change, unix ms decimal; absent: unknown), `lease` (`hex16(until ^ 2^63)`, absent: none); a retired agent's is kept (offline, no lease) |
//! | `agent_teams:<agent>` | zset, score 0 | the agent's teams (byte order); none for a retired agent |
//! | `assigned:<agent>` / `offered:<agent>` | zset, score 0 | the conversation ids the agent holds |
//! | `leases` | zset, score 0 | `hex16(until ^ 2^63)` `|` agent id: `ZRANGEBYLEX` finds the lapsed ones |
//! | `placed` | set | every placed conversation id (for restore's reset) |
//! | `conv:<id>` | hash | `status` (`q`, `o`, `a`), `team`, `agent`, `key`, `channel`, `qkey` (its queue key, kept for its life in a team: a requeue or decline puts it back at its place), `preferred` (an agent configured when it was placed, or empty; preferred again whenever that agent is configured) |
//! | `declined:<id>` | set | agents who declined the conversation in its current team (by id: one that leaves and comes back is still excluded) |
//! | `ticks`, `seq` | counters | assignment ticks and placing sequence |
//!
//! Numbers that must be exact over the whole `i64` range (arrivals, lease ends) are compared as
//! fixed-width hex strings, never as Lua numbers (doubles); loads and ticks stay far below 2^53.
//! Decisions cost logarithmic time in the team's members and queue (plus the agents who
//! declined the ticket), never a scan of every agent or every queued conversation. Only a drain
//! walks past queued tickets that nobody eligible may take (all of them declined them), as the
//! board does.
//!
//! # Scripts
//!
//! `assign.lua` is a library; each script is the library plus `return <entry>()`, loaded once
//! (`SCRIPT LOAD` at connect) and called by hash (`EVALSHA`, reloaded on `NOSCRIPT`). Every call
//! passes `KEYS[1]` = the `config` key (it routes the call in a cluster) and `ARGV[1]` = the key
//! prefix; every key a script touches shares that hash tag. The entries: `place`, `assign_to`,
//! `set_presence` (with its drain), `heartbeat`, `expire_presence`, `release` (with its drain),
//! `accept`, `decline` (with its drain), `requeue` (with its drain), `overflow`, `position`,
//! `snapshot`, `restore`, `holdings_of`, `configured_version`, `configure` (the configuration:
//! at connect and when Redis lost it without draining, from [`Assignments::configure`] with the
//! drain of the teams whose eligibility may have grown). `held` and `is_ready` are single
//! commands (`HMGET`, `EXISTS`).
//!
//! Replies are flat arrays: `ok` then the entry's payload; or a refusal `unknown_team`,
//! `unknown_agent`, `queue_full`, `already_placed`, `not_offered`, `agent_unavailable` followed
//! by the id it names (the matching [`AssignError`], nothing changed); or `noconfig`. A
//! placement is six values: kind (`A`, `O`, `Q`), conversation id, key, channel, team, then the
//! agent or the queued position. A Redis error (unreachable, timed out, a script error) is
//! [`AssignError::Unavailable`]. Two things Redis does not protect against: a call that timed out
//! on the client may still have been applied (a retried `place` then answers `AlreadyPlaced`, and
//! `held` tells where the conversation went), and a script that fails midway (a key of the wrong
//! type, written by something else) is not rolled back, so the scripts do their reads before
//! their writes where they can. Redis refuses a writing script when out of memory before it
//! starts, never midway.
//!
//! The [`ConnectionManager`] is the caller's: its response timeout bounds every decision, and its
//! reconnect policy decides how long a call waits while Redis is down before it fails (the
//! crate's default retries for about 6 s, with every request waiting; the tests use one quick
//! retry).
//!
//! # Configuration and restarts
//!
//! Every configuration carries the directory version it was read from, and the `configure`
//! script applies it only if that version is newer than the one in `config` (equal: a no-op, with
//! a warning at connect if the content differs), all in one atomic script: so nodes racing to
//! apply what they read converge on the newest, whatever the order their calls arrive in, and a
//! node with an older copy never overwrites a newer one. It replaces the team settings,
//! memberships, capacities and indexes and renumbers the round-robin cursors (after the same
//! agent, or where it would have been), keeping presence, loads, leases, queues and placements;
//! agents and teams left out are retired (see `retired_agents`, `retired_teams`) while something
//! refers to them. The rules are the board's ([`Board::configure`](super::board::Board::configure)),
//! which the differential test checks with random reconfigurations.
//!
//! [`RedisAssignments::connect`] writes the node's start-up configuration the same way (without
//! draining: the next decision that frees capacity or brings an agent online drains), so a node
//! starting never resets the live state nor rolls back a newer configuration; the node keeps the
//! newest configuration it was given, which it writes again if Redis lost it (the `noconfig`
//! answer). A `config` hash without a version (left by a gateway from before versions) is
//! replaced by any version. [`Assignments::restore`] rebuilds only if the `ready` marker is
//! absent (Redis started empty, or lost its data).

use std::sync::LazyLock;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{Script, Value};

use crate::config::Settings;
use crate::domain::{AgentId, ChannelId, ConversationKey, Presence, TeamId};

use super::board::{AgentSpec, TeamSpec, normalize, specs_from_settings};
use super::{
    AgentView, AssignError, Assignments, Configured, ConversationRef, Held, Placement, Snapshot,
    Strategy, TeamView, Ticket,
};

const LIBRARY: &str = include_str!("assign.lua");

/// Width of a queue key in a queue member (hex digits), before the `|` and the id.
const QUEUE_KEY_LEN: usize = 40;

/// One entry of the library, compiled into its own script.
struct Entry {
    name: &'static str,
    script: Script,
}

impl Entry {
    fn new(name: &'static str) -> Entry {
        Entry {
            name,
            script: Script::new(&format!("{LIBRARY}\nreturn {name}()\n")),
        }
    }
}

struct Scripts {
    place: Entry,
    assign_to: Entry,
    set_presence: Entry,
    heartbeat: Entry,
    expire_presence: Entry,
    release: Entry,
    accept: Entry,
    decline: Entry,
    overflow: Entry,
    position: Entry,
    snapshot: Entry,
    restore: Entry,
    configure: Entry,
    configured_version: Entry,
    holdings_of: Entry,
    requeue: Entry,
}

impl Scripts {
    fn all(&self) -> [&Entry; 16] {
        [
            &self.place,
            &self.assign_to,
            &self.set_presence,
            &self.heartbeat,
            &self.expire_presence,
            &self.release,
            &self.accept,
            &self.decline,
            &self.overflow,
            &self.position,
            &self.snapshot,
            &self.restore,
            &self.configure,
            &self.configured_version,
            &self.holdings_of,
            &self.requeue,
        ]
    }
}

static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    place: Entry::new("place"),
    assign_to: Entry::new("assign_to"),
    set_presence: Entry::new("set_presence"),
    heartbeat: Entry::new("heartbeat"),
    expire_presence: Entry::new("expire_presence"),
    release: Entry::new("release"),
    accept: Entry::new("accept"),
    decline: Entry::new("decline"),
    overflow: Entry::new("overflow"),
    position: Entry::new("queued_position"),
    snapshot: Entry::new("snapshot"),
    restore: Entry::new("restore"),
    configure: Entry::new("configure"),
    configured_version: Entry::new("configured_version"),
    holdings_of: Entry::new("holdings_of"),
    requeue: Entry::new("requeue"),
});

/// A configuration as the `configure` script takes it.
#[derive(Clone, Debug)]
struct Configuration {
    version: i64,
    /// Hash of the teams and agents (to tell two different configurations of one version).
    fingerprint: String,
    /// The teams and agents, as the script reads them.
    args: Vec<Vec<u8>>,
}

impl Configuration {
    /// The teams and agents (normalized here) of directory version `version`.
    fn new(teams: Vec<TeamSpec>, agents: Vec<AgentSpec>, version: i64) -> Configuration {
        let (teams, agents) = normalize(teams, agents);
        let (fingerprint, args) = configure_arguments(&teams, &agents);
        Configuration {
            version,
            fingerprint,
            args,
        }
    }

    /// The script's arguments after the prefix: version, fingerprint, whether to drain, then
    /// the teams and agents.
    fn script_args(&self, drain: bool) -> Vec<Vec<u8>> {
        let mut args = vec![
            time_hex(self.version).into_bytes(),
            self.fingerprint.clone().into_bytes(),
            if drain { b"1".to_vec() } else { b"0".to_vec() },
        ];
        args.extend(self.args.iter().cloned());
        args
    }
}

/// Assignment state shared by every node of a deployment, in Redis.
pub struct RedisAssignments {
    conn: ConnectionManager,
    /// `sb:{<namespace>}:`.
    prefix: String,
    config_key: String,
    ready_key: String,
    /// The newest configuration this node was given (at connect or by
    /// [`Assignments::configure`]): what it writes again if Redis lost the configuration.
    latest: std::sync::Mutex<Configuration>,
}

impl std::fmt::Debug for RedisAssignments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAssignments")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisAssignments {
    /// Serve the assignment decisions of the deployment `namespace` from Redis, with these
    /// teams and agents of directory version `version` (normalized like
    /// [`Board::new`](super::board::Board::new) does): loads the scripts and writes the
    /// configuration unless Redis holds one of the same or a newer version, never touching the
    /// live state and without draining (see the [module documentation](self)). The namespace
    /// must be non-empty, without `{` or `}`.
    pub async fn connect(
        conn: ConnectionManager,
        namespace: &str,
        teams: Vec<TeamSpec>,
        agents: Vec<AgentSpec>,
        version: i64,
    ) -> Result<Self, AssignError> {
        if namespace.is_empty() || namespace.contains(['{', '}']) {
            return Err(AssignError::Unavailable(format!(
                "invalid Redis namespace {namespace:?}: it must be non-empty, without braces"
            )));
        }
        let prefix = format!("sb:{{{namespace}}}:");
        let assignments = RedisAssignments {
            config_key: format!("{prefix}config"),
            ready_key: format!("{prefix}ready"),
            latest: std::sync::Mutex::new(Configuration::new(teams, agents, version)),
            prefix,
            conn,
        };
        let mut conn = assignments.conn.clone();
        for entry in SCRIPTS.all() {
            entry
                .script
                .load_async(&mut conn)
                .await
                .map_err(unavailable)?;
        }
        assignments.sync().await?;
        Ok(assignments)
    }

    /// The configured teams and agents of `settings` (as
    /// [`Board::from_settings`](super::board::Board::from_settings) reads them), at version 0.
    pub async fn from_settings(
        conn: ConnectionManager,
        namespace: &str,
        settings: &Settings,
    ) -> Result<Self, AssignError> {
        let (teams, agents) = specs_from_settings(settings);
        Self::connect(conn, namespace, teams, agents, 0).await
    }

    /// The prefix of every key of this deployment, `sb:{<namespace>}:`.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    fn latest(&self) -> std::sync::MutexGuard<'_, Configuration> {
        self.latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Write this node's newest configuration without draining (at connect, and when Redis
    /// lost it), unless Redis holds one of the same or a newer version.
    async fn sync(&self) -> Result<(), AssignError> {
        let config = self.latest().clone();
        let (applied, found, _) = self.apply(&config, false).await?;
        match found {
            Some((version, fingerprint))
                if !applied && version == config.version && fingerprint != config.fingerprint =>
            {
                tracing::warn!(
                    version, theirs = %fingerprint, ours = %config.fingerprint,
                    "assignment configuration in Redis differs from this node's of the same \
                     version; kept the one in Redis"
                );
            }
            Some((version, _)) if !applied && version > config.version => tracing::info!(
                version,
                ours = config.version,
                "Redis holds a newer assignment configuration; kept"
            ),
            _ => {}
        }
        Ok(())
    }

    /// Run the `configure` script: whether it applied `config`, the version and fingerprint it
    /// found (none: Redis had no configuration), and the drain's placements.
    async fn apply(
        &self,
        config: &Configuration,
        drain: bool,
    ) -> Result<(bool, Option<(i64, String)>, Vec<Placement>), AssignError> {
        let entry = &SCRIPTS.configure;
        let mut reader = self
            .run(entry, config.script_args(drain))
            .await
            .map_err(|refusal| match refusal {
                Refusal::NoConfig => malformed(entry.name),
                Refusal::Error(error) => error,
            })?;
        let applied = reader.int()? == 1;
        let version = reader.string()?;
        let fingerprint = reader.string()?;
        let found = if version.is_empty() {
            None
        } else {
            Some((
                from_time_hex(&version).ok_or_else(|| malformed(entry.name))?,
                fingerprint,
            ))
        };
        Ok((applied, found, reader.placements()?))
    }

    /// Call a script once (the deployment's configuration missing: sync it and call again).
    async fn call(&self, entry: &Entry, args: Vec<Vec<u8>>) -> Result<Reader, AssignError> {
        for _ in 0..2 {
            match self.run(entry, args.clone()).await {
                Err(Refusal::NoConfig) => {
                    tracing::warn!("assignment configuration missing from Redis; syncing it again");
                    self.sync().await?;
                }
                Err(Refusal::Error(error)) => return Err(error),
                Ok(reader) => return Ok(reader),
            }
        }
        Err(AssignError::Unavailable(
            "the assignment configuration keeps disappearing from Redis".to_owned(),
        ))
    }

    async fn run(&self, entry: &Entry, args: Vec<Vec<u8>>) -> Result<Reader, Refusal> {
        let mut invocation = entry.script.key(&self.config_key);
        invocation.arg(&self.prefix);
        for arg in &args {
            invocation.arg(arg.as_slice());
        }
        let mut conn = self.conn.clone();
        let value: Value = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|error| Refusal::Error(unavailable(error)))?;
        let Value::Array(items) = value else {
            return Err(Refusal::Error(malformed(entry.name)));
        };
        let mut reader = Reader {
            items: items.into_iter(),
            script: entry.name,
        };
        let code = reader.string().map_err(Refusal::Error)?;
        let refusal = match code.as_str() {
            "ok" => return Ok(reader),
            "noconfig" => return Err(Refusal::NoConfig),
            "unknown_team" => AssignError::UnknownTeam(TeamId::new(reader.string()?)),
            "unknown_agent" => AssignError::UnknownAgent(AgentId::new(reader.string()?)),
            "queue_full" => AssignError::QueueFull(TeamId::new(reader.string()?)),
            "already_placed" => AssignError::AlreadyPlaced(reader.string()?),
            "not_offered" => AssignError::NotOffered(reader.string()?),
            "agent_unavailable" => AssignError::AgentUnavailable(AgentId::new(reader.string()?)),
            _ => malformed(entry.name),
        };
        Err(Refusal::Error(refusal))
    }

    fn conversation_key(&self, conversation_id: &str) -> String {
        format!("{}conv:{conversation_id}", self.prefix)
    }

    /// Check every index against the state it is built from (tests only).
    #[cfg(test)]
    pub(crate) async fn audit(&self) -> Result<(), String> {
        audit::audit(self.conn.clone(), &self.prefix).await
    }
}

/// Why a script call gave no answer to decode.
enum Refusal {
    NoConfig,
    Error(AssignError),
}

impl From<AssignError> for Refusal {
    fn from(error: AssignError) -> Self {
        Refusal::Error(error)
    }
}

fn unavailable(error: redis::RedisError) -> AssignError {
    AssignError::Unavailable(error.to_string())
}

fn malformed(script: &str) -> AssignError {
    AssignError::Unavailable(format!("unexpected reply from the {script} script"))
}

/// Ids and numbers as the scripts read them.
#[derive(Default)]
struct Args(Vec<Vec<u8>>);

impl Args {
    fn with(mut self, value: impl AsRef<[u8]>) -> Self {
        self.push(value);
        self
    }
    fn push(&mut self, value: impl AsRef<[u8]>) {
        self.0.push(value.as_ref().to_vec());
    }
    /// id, key, channel, team, queue prefix, preferred agent (`""` for none).
    fn ticket(mut self, ticket: &Ticket) -> Self {
        self.push_ticket(ticket);
        self
    }
    fn push_ticket(&mut self, ticket: &Ticket) {
        self.push(&ticket.conversation.id);
        self.push(ticket.conversation.key.as_str());
        self.push(ticket.conversation.channel.as_str());
        self.push(ticket.team.as_str());
        self.push(queue_prefix(ticket.priority, ticket.arrival_ms));
        self.push(
            ticket
                .preferred_agent
                .as_ref()
                .map_or("", |agent| agent.as_str()),
        );
    }
}

/// `i64` to `u64` keeping the order.
fn biased(value: i64) -> u64 {
    (value as u64) ^ (1 << 63)
}

/// A queue key without its placing sequence: priority (higher first), then arrival.
fn queue_prefix(priority: i32, arrival_ms: i64) -> String {
    let inverted = (i64::from(i32::MAX) - i64::from(priority)) as u32;
    format!("{inverted:08x}{:016x}", biased(arrival_ms))
}

/// The arrival encoded in a queue member.
fn member_arrival(member: &str) -> Option<i64> {
    let hex = member.get(8..24)?;
    u64::from_str_radix(hex, 16)
        .ok()
        .map(|biased| (biased ^ (1 << 63)) as i64)
}

/// The conversation id of a queue member.
fn member_id(member: &str) -> Option<&str> {
    member.get(QUEUE_KEY_LEN + 1..)
}

/// An `i64` (a time, a version) as 16 hex digits whose byte order is the numbers' order.
fn time_hex(ms: i64) -> String {
    format!("{:016x}", biased(ms))
}

/// The inverse of [`time_hex`].
fn from_time_hex(hex: &str) -> Option<i64> {
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16)
        .ok()
        .map(|biased| (biased ^ (1 << 63)) as i64)
}

fn strategy_code(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::RoundRobin => "rr",
        Strategy::LeastBusy => "lb",
    }
}

fn presence_from(code: &str) -> Option<Presence> {
    Presence::ALL
        .into_iter()
        .find(|presence| presence.as_str() == code)
}

/// The configuration's fingerprint, and the teams and agents (already normalized) as the
/// `configure` script reads them.
fn configure_arguments(teams: &[TeamSpec], agents: &[AgentSpec]) -> (String, Vec<Vec<u8>>) {
    let mut args = Args::default().with(teams.len().to_string());
    for team in teams {
        args.push(team.id.as_str());
        args.push(strategy_code(team.strategy));
        args.push(if team.offers { "1" } else { "0" });
        args.push(team.max_queue.to_string());
    }
    args.push(agents.len().to_string());
    for agent in agents {
        args.push(agent.id.as_str());
        args.push(agent.capacity.to_string());
        args.push(agent.teams.len().to_string());
        for team in &agent.teams {
            args.push(team.as_str());
        }
    }
    let mut framed = Vec::new();
    for arg in &args.0 {
        framed.extend_from_slice(&(arg.len() as u64).to_le_bytes());
        framed.extend_from_slice(arg);
    }
    let fingerprint = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&framed));
    (fingerprint, args.0)
}

/// A script's reply, read front to back.
struct Reader {
    items: std::vec::IntoIter<Value>,
    script: &'static str,
}

impl Reader {
    fn is_done(&self) -> bool {
        self.items.len() == 0
    }

    fn string(&mut self) -> Result<String, AssignError> {
        match self.items.next() {
            Some(Value::BulkString(bytes)) => {
                String::from_utf8(bytes).map_err(|_| malformed(self.script))
            }
            Some(Value::SimpleString(text)) => Ok(text),
            Some(Value::Int(number)) => Ok(number.to_string()),
            _ => Err(malformed(self.script)),
        }
    }

    fn int(&mut self) -> Result<i64, AssignError> {
        match self.items.next() {
            Some(Value::Int(number)) => Ok(number),
            Some(Value::BulkString(bytes)) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|text| text.parse().ok())
                .ok_or_else(|| malformed(self.script)),
            _ => Err(malformed(self.script)),
        }
    }

    fn count(&mut self) -> Result<usize, AssignError> {
        usize::try_from(self.int()?).map_err(|_| malformed(self.script))
    }

    fn strings(&mut self) -> Result<Vec<String>, AssignError> {
        let count = self.count()?;
        (0..count).map(|_| self.string()).collect()
    }

    fn placement(&mut self) -> Result<Placement, AssignError> {
        let kind = self.string()?;
        let conversation = ConversationRef {
            id: self.string()?,
            key: ConversationKey::from_stored(self.string()?),
            channel: ChannelId::new(self.string()?),
        };
        let team = TeamId::new(self.string()?);
        Ok(match kind.as_str() {
            "A" => Placement::Assigned {
                conversation,
                team,
                agent: AgentId::new(self.string()?),
            },
            "O" => Placement::Offered {
                conversation,
                team,
                agent: AgentId::new(self.string()?),
            },
            "Q" => Placement::Queued {
                conversation,
                team,
                position: self.count()?,
            },
            _ => return Err(malformed(self.script)),
        })
    }

    /// Every placement up to the end of the reply.
    fn placements(mut self) -> Result<Vec<Placement>, AssignError> {
        let mut placements = Vec::new();
        while !self.is_done() {
            placements.push(self.placement()?);
        }
        Ok(placements)
    }

    fn only_placement(mut self) -> Result<Placement, AssignError> {
        let placement = self.placement()?;
        if self.is_done() {
            Ok(placement)
        } else {
            Err(malformed(self.script))
        }
    }
}

fn held_from(status: &str, team: String, agent: String) -> Option<Held> {
    let team = TeamId::new(team);
    match status {
        "q" => Some(Held::Queued { team }),
        "o" => Some(Held::Offered {
            team,
            agent: AgentId::new(agent),
        }),
        "a" => Some(Held::Assigned {
            team,
            agent: AgentId::new(agent),
        }),
        _ => None,
    }
}

#[async_trait]
impl Assignments for RedisAssignments {
    async fn place(&self, ticket: Ticket) -> Result<Placement, AssignError> {
        let args = Args::default().ticket(&ticket);
        self.call(&SCRIPTS.place, args.0).await?.only_placement()
    }

    async fn assign_to(&self, agent: &AgentId, ticket: Ticket) -> Result<Placement, AssignError> {
        let args = Args::default().with(agent.as_str()).ticket(&ticket);
        self.call(&SCRIPTS.assign_to, args.0)
            .await?
            .only_placement()
    }

    async fn set_presence(
        &self,
        agent: &AgentId,
        presence: Presence,
        now_ms: i64,
    ) -> Result<Vec<Placement>, AssignError> {
        let args = Args::default()
            .with(agent.as_str())
            .with(presence.as_str())
            .with(now_ms.to_string());
        self.call(&SCRIPTS.set_presence, args.0).await?.placements()
    }

    async fn heartbeat(&self, agents: &[AgentId], until_ms: i64) -> Result<(), AssignError> {
        if agents.is_empty() {
            return Ok(());
        }
        let mut args = Args::default().with(time_hex(until_ms));
        for agent in agents {
            args.push(agent.as_str());
        }
        self.call(&SCRIPTS.heartbeat, args.0).await?;
        Ok(())
    }

    async fn expire_presence(&self, now_ms: i64) -> Result<Vec<AgentId>, AssignError> {
        let args = Args::default()
            .with(time_hex(now_ms))
            .with(now_ms.to_string());
        let mut reader = self.call(&SCRIPTS.expire_presence, args.0).await?;
        let mut expired = Vec::new();
        while !reader.is_done() {
            expired.push(AgentId::new(reader.string()?));
        }
        expired.sort();
        Ok(expired)
    }

    async fn release(
        &self,
        conversation_id: &str,
    ) -> Result<(Option<Held>, Vec<Placement>), AssignError> {
        let args = Args::default().with(conversation_id);
        let mut reader = self.call(&SCRIPTS.release, args.0).await?;
        let status = reader.string()?;
        let team = reader.string()?;
        let agent = reader.string()?;
        let held = held_from(&status, team, agent);
        if held.is_none() && !status.is_empty() {
            return Err(malformed(SCRIPTS.release.name));
        }
        Ok((held, reader.placements()?))
    }

    async fn accept(
        &self,
        agent: &AgentId,
        conversation_id: &str,
    ) -> Result<Placement, AssignError> {
        let args = Args::default().with(agent.as_str()).with(conversation_id);
        self.call(&SCRIPTS.accept, args.0).await?.only_placement()
    }

    async fn decline(
        &self,
        agent: &AgentId,
        conversation_id: &str,
    ) -> Result<Vec<Placement>, AssignError> {
        let args = Args::default().with(agent.as_str()).with(conversation_id);
        self.call(&SCRIPTS.decline, args.0).await?.placements()
    }

    async fn overflow(
        &self,
        conversation_id: &str,
        to: &TeamId,
    ) -> Result<Option<Placement>, AssignError> {
        let args = Args::default().with(conversation_id).with(to.as_str());
        let reader = self.call(&SCRIPTS.overflow, args.0).await?;
        if reader.is_done() {
            return Ok(None);
        }
        reader.only_placement().map(Some)
    }

    async fn held(&self, conversation_id: &str) -> Result<Option<Held>, AssignError> {
        let mut conn = self.conn.clone();
        let fields: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.conversation_key(conversation_id))
            .arg("status")
            .arg("team")
            .arg("agent")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let mut fields = fields.into_iter();
        let (Some(status), team, agent) = (
            fields.next().flatten(),
            fields.next().flatten().unwrap_or_default(),
            fields.next().flatten().unwrap_or_default(),
        ) else {
            return Ok(None);
        };
        held_from(&status, team, agent)
            .map(Some)
            .ok_or_else(|| malformed("held"))
    }

    async fn position(&self, conversation_id: &str) -> Result<Option<usize>, AssignError> {
        let args = Args::default().with(conversation_id);
        let mut reader = self.call(&SCRIPTS.position, args.0).await?;
        if reader.is_done() {
            return Ok(None);
        }
        reader.count().map(Some)
    }

    async fn snapshot(&self) -> Result<Snapshot, AssignError> {
        let mut reader = self.call(&SCRIPTS.snapshot, Vec::new()).await?;
        let script = SCRIPTS.snapshot.name;
        let mut snapshot = Snapshot::default();
        for _ in 0..reader.count()? {
            let team = TeamId::new(reader.string()?);
            let strategy = match reader.string()?.as_str() {
                "rr" => Strategy::RoundRobin,
                "lb" => Strategy::LeastBusy,
                _ => return Err(malformed(script)),
            };
            let mut queue = Vec::new();
            let mut queue_arrivals_ms = Vec::new();
            let mut oldest_arrival_ms: Option<i64> = None;
            for member in reader.strings()? {
                let arrival = member_arrival(&member).ok_or_else(|| malformed(script))?;
                oldest_arrival_ms = Some(oldest_arrival_ms.map_or(arrival, |old| old.min(arrival)));
                queue_arrivals_ms.push(arrival);
                queue.push(
                    member_id(&member)
                        .ok_or_else(|| malformed(script))?
                        .to_owned(),
                );
            }
            snapshot.teams.push(TeamView {
                team,
                strategy,
                queue,
                queue_arrivals_ms,
                oldest_arrival_ms,
            });
        }
        for _ in 0..reader.count()? {
            let agent = AgentId::new(reader.string()?);
            let presence = presence_from(&reader.string()?).ok_or_else(|| malformed(script))?;
            let presence_since_ms = match reader.string()?.as_str() {
                "" => None,
                since => Some(since.parse::<i64>().map_err(|_| malformed(script))?),
            };
            let capacity = u32::try_from(reader.int()?).map_err(|_| malformed(script))?;
            let load = u32::try_from(reader.int()?).map_err(|_| malformed(script))?;
            let teams = reader.strings()?.into_iter().map(TeamId::new).collect();
            let assigned = reader.strings()?;
            let offered = reader.strings()?;
            snapshot.agents.push(AgentView {
                agent,
                presence,
                presence_since_ms,
                teams,
                capacity,
                load,
                assigned,
                offered,
            });
        }
        // Configured ones first, then the retired ones: merge.
        snapshot.teams.sort_by(|a, b| a.team.cmp(&b.team));
        snapshot.agents.sort_by(|a, b| a.agent.cmp(&b.agent));
        Ok(snapshot)
    }

    async fn holdings(&self) -> Result<Vec<(ConversationRef, Held)>, AssignError> {
        let mut conn = self.conn.clone();
        let mut ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(format!("{}placed", self.prefix))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        ids.sort_unstable();
        let mut all = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(512) {
            let mut pipe = redis::pipe();
            for id in chunk {
                pipe.cmd("HMGET")
                    .arg(self.conversation_key(id))
                    .arg("status")
                    .arg("team")
                    .arg("agent")
                    .arg("key")
                    .arg("channel");
            }
            let rows: Vec<Vec<Option<String>>> =
                pipe.query_async(&mut conn).await.map_err(unavailable)?;
            for (id, row) in chunk.iter().zip(rows) {
                let mut fields = row.into_iter();
                let mut next = || fields.next().flatten();
                let (Some(status), team, agent, Some(key), Some(channel)) =
                    (next(), next(), next(), next(), next())
                else {
                    continue; // released meanwhile
                };
                let held = held_from(&status, team.unwrap_or_default(), agent.unwrap_or_default())
                    .ok_or_else(|| malformed("holdings"))?;
                all.push((
                    ConversationRef {
                        id: id.clone(),
                        key: ConversationKey::from_stored(key),
                        channel: ChannelId::new(channel),
                    },
                    held,
                ));
            }
        }
        Ok(all)
    }

    async fn configure(
        &self,
        teams: Vec<TeamSpec>,
        agents: Vec<AgentSpec>,
        version: i64,
    ) -> Result<Configured, AssignError> {
        let config = Configuration::new(teams, agents, version);
        {
            let mut latest = self.latest();
            if config.version > latest.version {
                *latest = config.clone();
            }
        }
        let (applied, _, placements) = self.apply(&config, true).await?;
        Ok(Configured {
            applied,
            placements,
        })
    }

    async fn configured_version(&self) -> Result<i64, AssignError> {
        let mut reader = self.call(&SCRIPTS.configured_version, Vec::new()).await?;
        from_time_hex(&reader.string()?).ok_or_else(|| malformed(SCRIPTS.configured_version.name))
    }

    async fn holdings_of(&self, agent: &AgentId) -> Result<Vec<ConversationRef>, AssignError> {
        let args = Args::default().with(agent.as_str());
        let mut reader = self.call(&SCRIPTS.holdings_of, args.0).await?;
        let mut held = Vec::new();
        while !reader.is_done() {
            held.push(ConversationRef {
                id: reader.string()?,
                key: ConversationKey::from_stored(reader.string()?),
                channel: ChannelId::new(reader.string()?),
            });
        }
        held.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(held)
    }

    async fn requeue(&self, conversation_id: &str) -> Result<Vec<Placement>, AssignError> {
        let args = Args::default().with(conversation_id);
        self.call(&SCRIPTS.requeue, args.0).await?.placements()
    }

    async fn is_ready(&self) -> Result<bool, AssignError> {
        let mut conn = self.conn.clone();
        let exists: i64 = redis::cmd("EXISTS")
            .arg(&self.ready_key)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(exists > 0)
    }

    async fn restore(
        &self,
        assigned: Vec<(Ticket, AgentId)>,
        waiting: Vec<Ticket>,
    ) -> Result<bool, AssignError> {
        let mut args = Args::default()
            .with(&self.ready_key)
            .with(assigned.len().to_string());
        for (ticket, agent) in &assigned {
            args.push_ticket(ticket);
            args.push(agent.as_str());
        }
        args.push(waiting.len().to_string());
        for ticket in &waiting {
            args.push_ticket(ticket);
        }
        let mut reader = self.call(&SCRIPTS.restore, args.0).await?;
        let rebuilt = reader.int()? == 1;
        while !reader.is_done() {
            let reason = reader.string()?;
            let conversation = reader.string()?;
            tracing::warn!(%conversation, %reason, "restore: conversation skipped");
        }
        Ok(rebuilt)
    }
}

#[cfg(test)]
mod audit {
    //! A consistency check of the raw Redis state (tests only): every index against what it
    //! indexes.

    use std::collections::{BTreeMap, BTreeSet, HashMap};

    use redis::AsyncCommands;
    use redis::aio::ConnectionManager;

    use super::{QUEUE_KEY_LEN, member_id};

    /// Memberships both ways, positions in agent-id order, cursors within the members.
    async fn audit_configuration(
        conn: &mut ConnectionManager,
        prefix: &str,
        teams: &[String],
        agents: &[String],
    ) -> Result<(), String> {
        let k = |kind: &str, id: &str| format!("{prefix}{kind}:{id}");
        let e = |error: redis::RedisError| error.to_string();
        let mut members_by_agents: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for agent in agents {
            let mine: Vec<String> = conn
                .zrange(k("agent_teams", agent), 0, -1)
                .await
                .map_err(e)?;
            for team in mine {
                if !teams.contains(&team) {
                    return Err(format!("{agent} in {team}, which is not configured"));
                }
                members_by_agents
                    .entry(team)
                    .or_default()
                    .push(agent.clone());
            }
        }
        for team in teams {
            let positions: HashMap<String, u64> =
                conn.hgetall(k("members", team)).await.map_err(e)?;
            let expected = members_by_agents.remove(team).unwrap_or_default();
            for (position, agent) in expected.iter().enumerate() {
                if positions.get(agent) != Some(&(position as u64)) {
                    return Err(format!("{team}: {agent} not at {position}: {positions:?}"));
                }
            }
            if positions.len() != expected.len() {
                return Err(format!(
                    "{team}: members {positions:?}, expected {expected:?}"
                ));
            }
            let cursor: Option<u64> = conn.hget(k("team", team), "cursor").await.map_err(e)?;
            if cursor.is_some_and(|cursor| cursor >= expected.len() as u64) {
                return Err(format!("{team}: cursor {cursor:?} past its members"));
            }
        }
        Ok(())
    }

    pub(super) async fn audit(mut conn: ConnectionManager, prefix: &str) -> Result<(), String> {
        let k = |kind: &str, id: &str| format!("{prefix}{kind}:{id}");
        let e = |error: redis::RedisError| error.to_string();
        let teams: Vec<String> = conn
            .zrange(format!("{prefix}teams"), 0, -1)
            .await
            .map_err(e)?;
        let configured_agents: Vec<String> = conn
            .zrange(format!("{prefix}agents"), 0, -1)
            .await
            .map_err(e)?;
        let retired_teams: Vec<String> = conn
            .zrange(format!("{prefix}retired_teams"), 0, -1)
            .await
            .map_err(e)?;
        let retired_agents: Vec<String> = conn
            .zrange(format!("{prefix}retired_agents"), 0, -1)
            .await
            .map_err(e)?;
        let placed: BTreeSet<String> = conn.smembers(format!("{prefix}placed")).await.map_err(e)?;
        audit_configuration(&mut conn, prefix, &teams, &configured_agents).await?;
        let version: Option<String> = conn
            .hget(format!("{prefix}config"), "version")
            .await
            .map_err(e)?;
        if version.is_none() {
            return Err("no configured version".to_owned());
        }
        if let Some(both) = teams.iter().find(|t| retired_teams.contains(t)) {
            return Err(format!("team {both} configured and retired"));
        }
        if let Some(both) = configured_agents
            .iter()
            .find(|a| retired_agents.contains(a))
        {
            return Err(format!("agent {both} configured and retired"));
        }
        for team in &retired_teams {
            let (members, elig): (usize, usize) = (
                conn.hlen(k("members", team)).await.map_err(e)?,
                conn.zcard(k("elig", team)).await.map_err(e)?,
            );
            let cursor: Option<String> = conn.hget(k("team", team), "cursor").await.map_err(e)?;
            if members + elig > 0 || cursor.is_some() {
                return Err(format!("retired team {team} with members or a cursor"));
            }
        }
        for agent in &retired_agents {
            let teams_of: usize = conn.zcard(k("agent_teams", agent)).await.map_err(e)?;
            let presence: Option<String> =
                conn.hget(k("agent", agent), "presence").await.map_err(e)?;
            if teams_of > 0 || presence.as_deref() != Some("offline") {
                return Err(format!("retired agent {agent} in a team or not offline"));
            }
        }
        let all_teams: BTreeSet<&String> = teams.iter().chain(&retired_teams).collect();
        let agents: Vec<String> = configured_agents
            .iter()
            .chain(&retired_agents)
            .cloned()
            .collect();
        let agent_keys: Vec<String> = conn.keys(format!("{prefix}agent:*")).await.map_err(e)?;
        if agent_keys.len() != agents.len() {
            return Err(format!(
                "{} agent hashes, {} agents configured or retired",
                agent_keys.len(),
                agents.len()
            ));
        }
        let queue_keys: Vec<String> = conn.keys(format!("{prefix}queue:*")).await.map_err(e)?;
        for queue in queue_keys {
            let team = &queue[prefix.len() + "queue:".len()..];
            if !all_teams.contains(&team.to_owned()) {
                return Err(format!("queue of {team}, neither configured nor retired"));
            }
        }

        let mut convs: HashMap<String, HashMap<String, String>> = HashMap::new();
        for id in &placed {
            let fields: HashMap<String, String> = conn.hgetall(k("conv", id)).await.map_err(e)?;
            if fields.is_empty() {
                return Err(format!("{id}: placed but no hash"));
            }
            convs.insert(id.clone(), fields);
        }
        let stray: Vec<String> = conn.keys(format!("{prefix}conv:*")).await.map_err(e)?;
        if stray.len() != placed.len() {
            return Err(format!(
                "{} conversation hashes, {} placed",
                stray.len(),
                placed.len()
            ));
        }
        let declined_keys: Vec<String> =
            conn.keys(format!("{prefix}declined:*")).await.map_err(e)?;
        for key in declined_keys {
            let id = &key[prefix.len() + "declined:".len()..];
            if !placed.contains(id) {
                return Err(format!("declined set of {id}, which is not placed"));
            }
        }

        for (id, conv) in &convs {
            let team = conv.get("team").cloned().unwrap_or_default();
            if !all_teams.contains(&team) {
                return Err(format!(
                    "{id} of team {team}, neither configured nor retired"
                ));
            }
            let agent = conv.get("agent").cloned().unwrap_or_default();
            if conv.get("status").map(String::as_str) != Some("q") && !agents.contains(&agent) {
                return Err(format!("{id} with {agent}, neither configured nor retired"));
            }
        }

        // Queues: each member a queued conversation of that team, with its queue key.
        let mut in_queues = 0;
        for team in &all_teams {
            let members: Vec<String> = conn.zrange(k("queue", team), 0, -1).await.map_err(e)?;
            for member in members {
                let id = member_id(&member).ok_or(format!("bad queue member {member}"))?;
                let conv = convs
                    .get(id)
                    .ok_or(format!("{id} queued in {team} but not placed"))?;
                if conv.get("status").map(String::as_str) != Some("q")
                    || conv.get("team") != Some(*team)
                    || conv.get("qkey").map(String::as_str) != Some(&member[..QUEUE_KEY_LEN])
                {
                    return Err(format!("{id} in the queue of {team}: {conv:?}"));
                }
                in_queues += 1;
            }
        }
        let queued = convs
            .values()
            .filter(|conv| conv.get("status").map(String::as_str) == Some("q"))
            .count();
        if queued != in_queues {
            return Err(format!(
                "{queued} queued conversations, {in_queues} in queues"
            ));
        }

        // Agents: load is what they hold; holdings agree with the conversations; leases.
        let mut room: BTreeMap<String, (bool, u64, u64)> = BTreeMap::new();
        let mut held = 0;
        let leases: Vec<String> = conn
            .zrange(format!("{prefix}leases"), 0, -1)
            .await
            .map_err(e)?;
        let mut leased: BTreeSet<String> = BTreeSet::new();
        for member in &leases {
            leased.insert(member.get(17..).ok_or("bad lease")?.to_owned());
        }
        for agent in &agents {
            let fields: HashMap<String, String> =
                conn.hgetall(k("agent", agent)).await.map_err(e)?;
            let number = |name: &str| -> Result<u64, String> {
                fields
                    .get(name)
                    .and_then(|value| value.parse().ok())
                    .ok_or(format!("{agent}: no {name}"))
            };
            let (capacity, load, tick) = (number("capacity")?, number("load")?, number("tick")?);
            let presence = fields.get("presence").cloned().unwrap_or_default();
            let mut holds = 0;
            for (kind, status) in [("assigned", "a"), ("offered", "o")] {
                let ids: Vec<String> = conn.zrange(k(kind, agent), 0, -1).await.map_err(e)?;
                for id in ids {
                    let conv = convs
                        .get(&id)
                        .ok_or(format!("{agent} holds unplaced {id}"))?;
                    if conv.get("status").map(String::as_str) != Some(status)
                        || conv.get("agent") != Some(agent)
                    {
                        return Err(format!("{agent} holds {id} as {kind}: {conv:?}"));
                    }
                    holds += 1;
                }
            }
            if holds != load {
                return Err(format!("{agent}: load {load}, holds {holds}"));
            }
            if capacity > u64::from(u32::MAX) {
                return Err(format!("{agent}: capacity {capacity}"));
            }
            held += holds;
            match fields.get("lease") {
                Some(lease) => {
                    if presence == "offline" || !leased.contains(agent) {
                        return Err(format!("{agent}: lease {lease} while {presence}"));
                    }
                    if !leases.contains(&format!("{lease}|{agent}")) {
                        return Err(format!("{agent}: lease {lease} not indexed"));
                    }
                }
                None if leased.contains(agent) => {
                    return Err(format!("{agent}: indexed lease but none"));
                }
                None => {}
            }
            room.insert(
                agent.clone(),
                (presence == "online" && load < capacity, load, tick),
            );
        }
        let with_agents = convs
            .values()
            .filter(|conv| conv.get("status").map(String::as_str) != Some("q"))
            .count();
        if with_agents != held as usize {
            return Err(format!("{with_agents} with agents, agents hold {held}"));
        }

        // Team indexes: exactly the members online with room, scored right.
        for team in &teams {
            let strategy: Option<String> =
                conn.hget(k("team", team), "strategy").await.map_err(e)?;
            let positions: HashMap<String, u64> =
                conn.hgetall(k("members", team)).await.map_err(e)?;
            let mut members: Vec<&String> = positions.keys().collect();
            members.sort();
            for (position, agent) in members.iter().enumerate() {
                if positions[*agent] != position as u64 {
                    return Err(format!("{team}: {agent} at {}", positions[*agent]));
                }
            }
            let indexed: Vec<(String, f64)> = conn
                .zrange_withscores(k("elig", team), 0, -1)
                .await
                .map_err(e)?;
            let mut expected: Vec<(String, f64)> = Vec::new();
            for agent in &members {
                let (eligible, load, tick) = room[*agent];
                if eligible {
                    expected.push(if strategy.as_deref() == Some("lb") {
                        (format!("{tick:016x}|{agent}"), load as f64)
                    } else {
                        ((*agent).clone(), positions[*agent] as f64)
                    });
                }
            }
            let mut got = indexed.clone();
            got.sort_by(|a, b| a.0.cmp(&b.0));
            expected.sort_by(|a, b| a.0.cmp(&b.0));
            if got != expected {
                return Err(format!("{team}: index {indexed:?}, expected {expected:?}"));
            }
        }
        Ok(())
    }
}
