//! Collisions: who is viewing or typing in a conversation right now, so two people never answer
//! one customer at once.
//!
//! A console says what it is doing in a conversation (`viewing`, `typing`, `idle`) over its
//! websocket; every console watching that conversation is told who else is there. These are
//! signals, not events: not sequenced, not stored, lost without harm (a console repeats
//! `viewing` every 20 s, and every signal expires by itself: viewing after
//! [`VIEWING_TTL_MS`], typing after [`TYPING_TTL_MS`]).
//!
//! Each node keeps a replica of the recent signals ([`Seen`], pure) and the sessions watching
//! each conversation. In the embedded mode a signal is applied where it is given; in a cluster
//! it is published on a Redis channel every node subscribes to (the giving node included), so a
//! console on node A sees an agent typing on node B.
//!
//! The same way carries [`News`]: what each committed conversation step changed, for consoles
//! outside that conversation's event log (the per-agent log only names the agents involved).
//! Team inboxes, the waiting line and supervisors' views follow it live: each console session
//! subscribes to the teams whose inbox its user may list, and is sent a conversation's new state
//! when the policy lets that user open it; sessions watching a conversation also get its new
//! messages and statuses. News is not sequenced: a console that reconnects reloads its lists
//! over REST, as it does after a `resync`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::accounts::policy::{self, Action, ConversationFacts, Principal};
use crate::cluster::Cluster;
use crate::domain::{AgentId, TeamId};

/// A `viewing` signal is forgotten this long after it was given.
pub const VIEWING_TTL_MS: i64 = 45_000;
/// A `typing` signal turns back into `viewing` this long after it was given.
pub const TYPING_TTL_MS: i64 = 8_000;
/// The most conversations one node remembers signals for, and watchers per conversation.
pub const MAX_CONVERSATIONS: usize = 100_000;
pub const MAX_WATCHERS_PER_CONVERSATION: usize = 64;

/// What a person is doing in a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Viewing,
    Typing,
    /// Left it.
    Idle,
}

impl State {
    pub fn parse(s: &str) -> Option<State> {
        match s {
            "viewing" => Some(State::Viewing),
            "typing" => Some(State::Typing),
            "idle" => Some(State::Idle),
            _ => None,
        }
    }
}

/// One person's signal about one conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub conversation: String,
    pub user: AgentId,
    pub name: String,
    pub state: State,
    /// When it was given (unix ms).
    pub at_ms: i64,
}

#[derive(Clone, Debug, PartialEq)]
struct Mark {
    name: String,
    viewing_until: i64,
    typing_until: i64,
}

/// One person as others see them in a conversation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Person {
    pub id: AgentId,
    pub name: String,
    pub typing: bool,
}

/// The recent signals: conversation → person → until when they view and type. Pure.
#[derive(Default)]
pub struct Seen {
    marks: HashMap<String, HashMap<AgentId, Mark>>,
}

impl Seen {
    /// Apply a signal; whether what others see of the conversation changed.
    pub fn apply(&mut self, signal: &Signal, now_ms: i64) -> bool {
        let before = self.people(&signal.conversation, None, now_ms);
        match signal.state {
            State::Idle => {
                if let Some(people) = self.marks.get_mut(&signal.conversation) {
                    people.remove(&signal.user);
                    if people.is_empty() {
                        self.marks.remove(&signal.conversation);
                    }
                }
            }
            State::Viewing | State::Typing => {
                if !self.marks.contains_key(&signal.conversation)
                    && self.marks.len() >= MAX_CONVERSATIONS
                {
                    self.expire(now_ms);
                    if self.marks.len() >= MAX_CONVERSATIONS {
                        return false;
                    }
                }
                let people = self.marks.entry(signal.conversation.clone()).or_default();
                let mark = people.entry(signal.user.clone()).or_insert(Mark {
                    name: signal.name.clone(),
                    viewing_until: 0,
                    typing_until: 0,
                });
                mark.name.clone_from(&signal.name);
                mark.viewing_until = mark
                    .viewing_until
                    .max(signal.at_ms.saturating_add(VIEWING_TTL_MS));
                mark.typing_until = match signal.state {
                    State::Typing => signal.at_ms.saturating_add(TYPING_TTL_MS),
                    // Stopped typing (sent, or cleared the composer).
                    _ => 0,
                };
            }
        }
        before != self.people(&signal.conversation, None, now_ms)
    }

    /// Who is in the conversation at `now_ms`, except `except`, by name.
    pub fn people(&self, conversation: &str, except: Option<&AgentId>, now_ms: i64) -> Vec<Person> {
        let mut people: Vec<Person> = self
            .marks
            .get(conversation)
            .into_iter()
            .flatten()
            .filter(|(id, mark)| Some(*id) != except && mark.viewing_until > now_ms)
            .map(|(id, mark)| Person {
                id: id.clone(),
                name: mark.name.clone(),
                typing: mark.typing_until > now_ms,
            })
            .collect();
        people.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        people
    }

    /// Forget what expired at `now_ms`; the conversations whose people changed (a typing or
    /// viewing mark that ran out).
    pub fn expire(&mut self, now_ms: i64) -> Vec<String> {
        let mut changed = Vec::new();
        self.marks.retain(|conversation, people| {
            let mut touched = false;
            people.retain(|_, mark| {
                if mark.typing_until != 0 && mark.typing_until <= now_ms {
                    mark.typing_until = 0;
                    touched = true;
                }
                let alive = mark.viewing_until > now_ms;
                touched |= !alive;
                alive
            });
            if touched {
                changed.push(conversation.clone());
            }
            !people.is_empty()
        });
        changed
    }
}

/// What a committed step changed, for the consoles outside its event log. Numbers are already
/// masked where the conversation's team masks them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct News {
    pub conversation: String,
    pub team: TeamId,
    /// Its team's inbox is private (the policy's fact).
    pub private: bool,
    pub assignee: Option<AgentId>,
    /// The conversation as the API shows it.
    pub view: Value,
    /// The step's console events about it (`message.created`, `message.status`): kind, data.
    pub events: Vec<(String, Value)>,
}

/// What travels between nodes.
#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Broadcast {
    Signal(Signal),
    News(News),
}

/// The most news waiting to be published to the other nodes; beyond it news is dropped
/// (counted): lists then catch up at their next reload.
const NEWS_BUFFER: usize = 4096;

/// A console session watching conversations: where its frames go.
struct Watcher {
    user: AgentId,
    frames: mpsc::Sender<Arc<str>>,
}

/// A console session following team inboxes.
struct Subscriber {
    principal: Principal,
    frames: mpsc::Sender<Arc<str>>,
}

/// The node's collisions: the replica of signals, the sessions watching, and the way signals
/// reach every node.
pub struct Activity {
    seen: Mutex<Seen>,
    /// conversation → session → watcher.
    watchers: Mutex<HashMap<String, HashMap<u64, Watcher>>>,
    /// team → session → subscriber.
    subscribers: Mutex<HashMap<TeamId, HashMap<u64, Subscriber>>>,
    next_session: AtomicU64,
    cluster: Option<Arc<Cluster>>,
    /// News for the other nodes (cluster mode), published by one task.
    outgoing: Option<mpsc::Sender<String>>,
    outgoing_rx: Mutex<Option<mpsc::Receiver<String>>>,
}

/// A lock whose holder panicked still guards consistent data here (every change is one map
/// operation): go on with it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Activity {
    pub fn new(cluster: Option<Arc<Cluster>>) -> Arc<Self> {
        let (outgoing, outgoing_rx) = match cluster {
            Some(_) => {
                let (tx, rx) = mpsc::channel(NEWS_BUFFER);
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        Arc::new(Self {
            seen: Mutex::new(Seen::default()),
            watchers: Mutex::new(HashMap::new()),
            subscribers: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            cluster,
            outgoing,
            outgoing_rx: Mutex::new(outgoing_rx),
        })
    }

    /// A session follows the inboxes of `teams` (those its user may list): it is sent each
    /// conversation's new state there that the policy lets `principal` open.
    pub fn subscribe(
        &self,
        session: u64,
        principal: &Principal,
        teams: &[TeamId],
        frames: &mpsc::Sender<Arc<str>>,
    ) {
        let mut subscribers = lock(&self.subscribers);
        for team in teams {
            subscribers.entry(team.clone()).or_default().insert(
                session,
                Subscriber {
                    principal: principal.clone(),
                    frames: frames.clone(),
                },
            );
        }
    }

    /// Whether anyone on this node could be told about a conversation of `team` (in a cluster
    /// another node may: always true there).
    pub fn has_audience(&self, team: &TeamId, conversation: &str) -> bool {
        self.cluster.is_some()
            || lock(&self.subscribers).contains_key(team)
            || lock(&self.watchers).contains_key(conversation)
    }

    /// A committed step's news: told here (embedded) or to every node (cluster). Never waits:
    /// a conversation step must not slow down for its onlookers.
    pub fn news(&self, news: News) {
        match &self.outgoing {
            Some(outgoing) => {
                let Ok(payload) = serde_json::to_string(&Broadcast::News(news)) else {
                    return;
                };
                if outgoing.try_send(payload).is_err() {
                    metrics::counter!(crate::metrics::LIVE_NEWS_DROPPED).increment(1);
                }
            }
            None => self.deliver(&news),
        }
    }

    /// Tell the sessions on this node that may see it.
    fn deliver(&self, news: &News) {
        let facts = ConversationFacts {
            team: Some(&news.team),
            team_private: news.private,
            assignee: news.assignee.as_ref(),
            offered_to_principal: false,
        };
        let conversation: Arc<str> = json!({ "type": "conversation", "conversation": news.view })
            .to_string()
            .into();
        if let Some(sessions) = lock(&self.subscribers).get(&news.team) {
            for subscriber in sessions.values() {
                if policy::decide(&subscriber.principal, Action::View, &facts).allowed() {
                    let _ = subscriber.frames.try_send(conversation.clone());
                }
            }
        }
        if news.events.is_empty() {
            return;
        }
        let watchers = lock(&self.watchers);
        let Some(sessions) = watchers.get(&news.conversation) else {
            return;
        };
        for (kind, data) in &news.events {
            let frame: Arc<str> = json!({ "type": "live", "kind": kind, "data": data })
                .to_string()
                .into();
            for watcher in sessions.values() {
                let _ = watcher.frames.try_send(frame.clone());
            }
        }
    }

    /// A new session id for [`Activity::watch`].
    pub fn session(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    /// A session watches a conversation: it is told at once who else is there, then of every
    /// change. False when the conversation has as many watchers as it may.
    pub fn watch(
        &self,
        session: u64,
        conversation: &str,
        user: &AgentId,
        frames: &mpsc::Sender<Arc<str>>,
    ) -> bool {
        {
            let mut watchers = lock(&self.watchers);
            let sessions = watchers.entry(conversation.to_string()).or_default();
            if !sessions.contains_key(&session) && sessions.len() >= MAX_WATCHERS_PER_CONVERSATION {
                return false;
            }
            sessions.insert(
                session,
                Watcher {
                    user: user.clone(),
                    frames: frames.clone(),
                },
            );
        }
        let people = lock(&self.seen).people(conversation, Some(user), now_ms());
        let _ = frames.try_send(frame(conversation, &people));
        true
    }

    /// A session stops watching a conversation (or, with `None`, every conversation and every
    /// team: it closed).
    pub fn unwatch(&self, session: u64, conversation: Option<&str>) {
        if conversation.is_none() {
            lock(&self.subscribers).retain(|_, sessions| {
                sessions.remove(&session);
                !sessions.is_empty()
            });
        }
        let mut watchers = lock(&self.watchers);
        match conversation {
            Some(c) => {
                if let Some(sessions) = watchers.get_mut(c) {
                    sessions.remove(&session);
                    if sessions.is_empty() {
                        watchers.remove(c);
                    }
                }
            }
            None => watchers.retain(|_, sessions| {
                sessions.remove(&session);
                !sessions.is_empty()
            }),
        }
    }

    /// Give a signal: applied here (embedded) or published to every node (cluster).
    pub async fn signal(&self, signal: Signal) {
        match &self.cluster {
            Some(cluster) => {
                let Ok(payload) = serde_json::to_string(&Broadcast::Signal(signal.clone())) else {
                    return;
                };
                let mut conn = cluster.conn();
                let published: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                    .arg(channel(cluster))
                    .arg(payload)
                    .query_async(&mut conn)
                    .await;
                if let Err(e) = published {
                    // Redis away: this node still shows it; the console repeats it anyway.
                    tracing::debug!(error = %e, "activity signal not published");
                    self.receive(&signal);
                }
            }
            None => self.receive(&signal),
        }
    }

    /// A signal from this node or another: remember it and tell the watchers if it changed
    /// what they see.
    pub fn receive(&self, signal: &Signal) {
        let changed = lock(&self.seen).apply(signal, now_ms());
        if changed {
            self.notify(&signal.conversation);
        }
    }

    /// Tell each session watching `conversation` who else is there now.
    fn notify(&self, conversation: &str) {
        let watchers = lock(&self.watchers);
        let Some(sessions) = watchers.get(conversation) else {
            return;
        };
        let now = now_ms();
        let seen = lock(&self.seen);
        for watcher in sessions.values() {
            let people = seen.people(conversation, Some(&watcher.user), now);
            // Full: that console is far behind; the next change or refresh tells it.
            let _ = watcher.frames.try_send(frame(conversation, &people));
        }
    }

    /// Forget expired signals every second and tell the watchers of what ran out; in a
    /// cluster, also listen to the other nodes' signals.
    pub fn spawn(self: &Arc<Self>) -> Vec<actix_rt::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        let me = self.clone();
        tasks.push(actix_rt::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(1));
            loop {
                ticks.tick().await;
                let changed = lock(&me.seen).expire(now_ms());
                for conversation in changed {
                    me.notify(&conversation);
                }
            }
        }));
        let outgoing = lock(&self.outgoing_rx).take();
        if let (Some(cluster), Some(mut outgoing)) = (self.cluster.clone(), outgoing) {
            tasks.push(actix_rt::spawn(async move {
                let mut conn = cluster.conn();
                let channel = channel(&cluster);
                while let Some(payload) = outgoing.recv().await {
                    let published: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                        .arg(&channel)
                        .arg(payload)
                        .query_async(&mut conn)
                        .await;
                    if let Err(e) = published {
                        metrics::counter!(crate::metrics::LIVE_NEWS_DROPPED).increment(1);
                        tracing::debug!(error = %e, "news not published");
                    }
                }
            }));
        }
        if let Some(cluster) = self.cluster.clone() {
            let me = self.clone();
            tasks.push(actix_rt::spawn(async move {
                loop {
                    if let Err(e) = me.listen(&cluster).await {
                        tracing::warn!(error = %e, "activity channel lost; subscribing again");
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }));
        }
        tasks
    }

    async fn listen(&self, cluster: &Cluster) -> redis::RedisResult<()> {
        let mut pubsub = cluster.pubsub().await?;
        pubsub.subscribe(channel(cluster)).await?;
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            let Ok(payload) = message.get_payload::<String>() else {
                continue;
            };
            match serde_json::from_str::<Broadcast>(&payload) {
                Ok(Broadcast::Signal(signal)) => self.receive(&signal),
                Ok(Broadcast::News(news)) => self.deliver(&news),
                Err(e) => tracing::debug!(error = %e, "unreadable activity signal"),
            }
        }
        Ok(())
    }
}

fn channel(cluster: &Cluster) -> String {
    cluster.key("activity")
}

/// The frame a console gets: `{"type":"activity","conversation_id":…,"people":[…]}`.
pub fn frame(conversation: &str, people: &[Person]) -> Arc<str> {
    json!({ "type": "activity", "conversation_id": conversation, "people": people })
        .to_string()
        .into()
}

#[cfg(test)]
mod tests;
