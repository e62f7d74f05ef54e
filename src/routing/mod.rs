//! Routing: which team (and priority, and maybe which agent) a handed-off conversation needs.
//!
//! Decided in order: the customer's own choice of team from the bot menu; the nearest store
//! to a location the customer shared (great-circle distance, within a radius); the configured
//! rules, CEL expressions evaluated in order over the contact, the conversation and lookups
//! into business systems (HTTP, with a timeout and a cache); else the default team. The first
//! matching rule also sets the priority. A returning customer may be offered to the agent who
//! served them last. Every decision carries a short trace of why.
//!
//! The first rule whose `when` is true wins: its `team` applies only if neither the choice nor
//! a store decided, its `priority` always applies. A rule that fails to evaluate (say, it reads
//! a key a lookup answer lacks) or yields a non-boolean does not match; the trace says why.
//! Once the team is decided, rules after the last one that sets a priority are not evaluated
//! (they could change nothing), so their lookups are not fetched either. A rule's lookups are
//! fetched just before it is evaluated, only if it reads them.
//!
//! # Rule variables
//!
//! Rules ([`rules`], CEL) and lookup URL templates ([`lookup`], minijinja) see:
//!
//! * `contact`: `customer` (string), `name`, `phone`, `language` (string or null), `tags`
//!   (list of strings), `fields` (map string → string), `location` (`{latitude, longitude}`,
//!   doubles, from the `location_lat`/`location_lon` fields; null when absent or invalid),
//!   `country` (the phone number's country, ISO 3166-1 alpha-2 such as `"ES"`, told apart by
//!   number where countries share a calling code; null without a valid number), and what
//!   the contact did: `first_seen` and `last_inbound_at` (timestamps, or null),
//!   `conversations` (int, this one included) and `new` (bool: a first conversation). Lookup
//!   templates see the timestamps as RFC 3339 text.
//! * `now` (rules only): the time of the evaluation, a timestamp
//!   (`contact.last_inbound_at > now - duration("720h")`).
//! * `conversation`: `id`, `channel`, `choice` (the team the customer picked, or null),
//!   `reason` (why the bot handed off).
//! * `lookups` (rules only): `lookups.<name>` is the JSON answer of that lookup (objects are
//!   maps, numbers int/uint/double), or null when it failed or timed out. Every configured
//!   lookup name is present.
//!
//! For example `"vip" in contact.tags`, `"invoice" in contact.fields`,
//! `contact.location != null && contact.location.latitude > 40.0`,
//! `lookups.open_ticket != null && lookups.open_ticket.open == true`, `contact.new`.
//! Segments ([`crate::crm::segment`]) read the same `contact` and `now`.

pub mod actor;
pub mod geo;
pub mod lookup;
pub mod rules;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::config::TeamSettings;
use crate::domain::{AgentId, ChannelId, TeamId};
use crate::store::ContactRecord;

pub use actor::{Route, RouterActor};
pub use geo::{haversine_km, nearest_store};
pub use lookup::{LookupOutcome, LookupResult, Lookups};
pub use rules::{RuleVars, Rules};

/// `routing:` in the configuration.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct RoutingSettings {
    /// Where a conversation goes when nothing else decides.
    pub default_team: String,
    /// Priority when no rule sets one.
    #[serde(default)]
    pub default_priority: i32,
    /// Prefer the agent who last served a returning customer, if online with room.
    #[serde(default)]
    pub prefer_last_agent: bool,
    /// Stores with coordinates: a shared location routes to the nearest one's team.
    #[serde(default)]
    pub stores: BTreeMap<String, StoreLocation>,
    /// Farther than this from every store, the location is ignored.
    #[serde(default = "default_radius_km")]
    pub max_store_distance_km: f64,
    /// HTTP lookups the rules can read as `lookups.<name>`.
    #[serde(default)]
    pub lookups: BTreeMap<String, LookupSettings>,
    /// Evaluated in order; the first whose `when` is true decides.
    #[serde(default)]
    pub rules: Vec<RuleSettings>,
}

fn default_radius_km() -> f64 {
    50.0
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct StoreLocation {
    pub name: String,
    pub latitude: f64,
    pub longitude: f64,
    pub team: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct LookupSettings {
    /// A minijinja template over `contact` and `conversation`, e.g.
    /// `http://crm.local/tickets?phone={{ contact.phone | urlencode }}`.
    pub url: String,
    #[serde(default = "default_lookup_timeout")]
    pub timeout_ms: u64,
    /// How long an answer is reused for the same URL.
    #[serde(default = "default_cache_seconds")]
    pub cache_seconds: u64,
    /// How long a failure (timeout, non-2xx, not JSON) is reused for the same URL, so a
    /// failing system is not asked again on every handoff.
    #[serde(default = "default_failure_cache_seconds")]
    pub failure_cache_seconds: u64,
    /// Most distinct URLs cached for this lookup.
    #[serde(default = "default_cache_capacity")]
    pub cache_capacity: u64,
    /// A larger response body is a failure.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
}

fn default_lookup_timeout() -> u64 {
    500
}
fn default_cache_seconds() -> u64 {
    60
}
fn default_failure_cache_seconds() -> u64 {
    5
}
fn default_cache_capacity() -> u64 {
    10_000
}
fn default_max_body_bytes() -> u64 {
    1024 * 1024
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct RuleSettings {
    pub name: String,
    /// A CEL expression that must evaluate to a boolean.
    pub when: String,
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub priority: Option<i32>,
}

/// What the router is asked.
#[derive(Clone, Debug)]
pub struct RouteRequest {
    pub conversation_id: String,
    pub channel: ChannelId,
    /// The team the customer picked in the bot menu (or the flow named), if any.
    pub choice: Option<TeamId>,
    /// Why the bot handed off.
    pub reason: String,
    pub contact: ContactRecord,
    /// What the contact did, as this conversation's step leaves it.
    pub behaviour: crate::crm::behaviour::ContactBehaviour,
    /// The agent who served this customer's previous conversation.
    pub last_agent: Option<AgentId>,
}

/// The router's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouteDecision {
    pub team: TeamId,
    pub priority: i32,
    pub preferred_agent: Option<AgentId>,
    /// Why, step by step (shown in the console API and logged).
    pub trace: Vec<String>,
}

/// A routing configuration that cannot work, found at startup.
#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("routing.default_team: unknown team {0:?}")]
    UnknownDefaultTeam(String),
    #[error("routing.max_store_distance_km must be a non-negative number, got {0}")]
    InvalidRadius(f64),
    #[error("routing store {store:?}: unknown team {team:?}")]
    UnknownStoreTeam { store: String, team: String },
    #[error("routing store {store:?}: invalid coordinates ({latitude}, {longitude})")]
    InvalidStoreLocation {
        store: String,
        latitude: f64,
        longitude: f64,
    },
    #[error("routing rule {rule:?}: unknown team {team:?}")]
    UnknownRuleTeam { rule: String, team: String },
    #[error("routing rule {rule:?}: invalid CEL expression: {message}")]
    RuleSyntax { rule: String, message: String },
    #[error(
        "routing rule {rule:?}: unknown variable {variable:?} (rules see contact, conversation and lookups)"
    )]
    UnknownVariable { rule: String, variable: String },
    #[error("routing rule {rule:?}: unknown lookup {lookup:?}")]
    UnknownLookup { rule: String, lookup: String },
    #[error("routing lookup {lookup:?}: {reason}")]
    InvalidLookup { lookup: String, reason: String },
}

/// Decides where handed-off conversations go. Built once from configuration; shared
/// (`Arc`) by the [`RouterActor`]. See the module documentation for the order of decisions.
#[derive(Debug)]
pub struct Router {
    default_team: TeamId,
    default_priority: i32,
    prefer_last_agent: bool,
    stores: BTreeMap<String, StoreLocation>,
    max_store_distance_km: f64,
    teams: BTreeSet<String>,
    rules: Rules,
    lookups: Lookups,
    /// Rules worth evaluating once the team is decided: up to the last that sets a priority.
    rules_when_decided: usize,
}

/// What the steps before the rules decided.
struct Early {
    team: Option<TeamId>,
    trace: Vec<String>,
}

/// How rule evaluation ended.
enum RulesDone {
    /// Rule `i` matched.
    Matched(usize),
    /// Evaluated up to the limit: no match.
    NoMatch,
    /// Rule `i` needs lookups not fetched yet.
    NeedLookups(usize),
}

impl Router {
    /// Validate `settings` against `teams` (the default team, store teams and rule teams must
    /// exist; rules must compile and name only configured lookups; lookup URL templates must
    /// compile) and build the router. `http` performs the lookups.
    pub fn new(
        settings: &RoutingSettings,
        teams: &BTreeMap<String, TeamSettings>,
        http: reqwest::Client,
    ) -> Result<Router, RoutingError> {
        if !teams.contains_key(&settings.default_team) {
            return Err(RoutingError::UnknownDefaultTeam(
                settings.default_team.clone(),
            ));
        }
        let radius = settings.max_store_distance_km;
        if !radius.is_finite() || radius < 0.0 {
            return Err(RoutingError::InvalidRadius(radius));
        }
        for (id, store) in &settings.stores {
            if !teams.contains_key(&store.team) {
                return Err(RoutingError::UnknownStoreTeam {
                    store: id.clone(),
                    team: store.team.clone(),
                });
            }
            if !geo::valid_coordinates(store.latitude, store.longitude) {
                return Err(RoutingError::InvalidStoreLocation {
                    store: id.clone(),
                    latitude: store.latitude,
                    longitude: store.longitude,
                });
            }
        }
        let lookups = Lookups::new(&settings.lookups, http)?;
        let rules = Rules::compile(&settings.rules, teams, &settings.lookups)?;
        let rules_when_decided = (0..rules.len())
            .rev()
            .find(|&i| rules.priority(i).is_some())
            .map_or(0, |i| i + 1);
        Ok(Router {
            default_team: TeamId::new(settings.default_team.clone()),
            default_priority: settings.default_priority,
            prefer_last_agent: settings.prefer_last_agent,
            stores: settings.stores.clone(),
            max_store_distance_km: radius,
            teams: teams.keys().cloned().collect(),
            rules,
            lookups,
            rules_when_decided,
        })
    }

    /// Where a conversation goes when nothing else decides (`routing.default_team`).
    pub fn default_team(&self) -> &TeamId {
        &self.default_team
    }

    /// The priority when no rule sets one (`routing.default_priority`).
    pub fn default_priority(&self) -> i32 {
        self.default_priority
    }

    /// Every priority a conversation can get: the default and the rules' (ascending).
    pub fn priorities(&self) -> Vec<i32> {
        let mut all: Vec<i32> = (0..self.rules.len())
            .filter_map(|i| self.rules.priority(i))
            .chain([self.default_priority])
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Whether a returning customer is offered to the agent who served them last.
    pub fn prefer_last_agent(&self) -> bool {
        self.prefer_last_agent
    }

    /// The compiled rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The lookups the rules may read.
    pub fn lookups(&self) -> &Lookups {
        &self.lookups
    }

    /// Route `req`: choice, nearest store, rules (fetching each rule's lookups just before
    /// evaluating it, through the cache), default. Never fails: a failed lookup is `null`, a
    /// failing rule does not match, and the trace says so.
    pub async fn route(&self, req: &RouteRequest) -> RouteDecision {
        let mut early = self.early(req);
        let limit = self.rule_limit(&early);
        let mut answers: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        let mut next = 0;
        let matched = loop {
            if next >= limit {
                break None;
            }
            let missing: Vec<&String> = self
                .rules
                .lookups_of(next)
                .iter()
                .filter(|name| !answers.contains_key(*name))
                .collect();
            let fetched =
                futures::future::join_all(missing.iter().map(|name| self.lookups.fetch(name, req)))
                    .await;
            for (name, result) in missing.into_iter().zip(fetched) {
                early.trace.push(describe_lookup(name, &result));
                answers.insert(name.clone(), result.value);
            }
            let done = {
                let vars = RuleVars::new(&self.rules, req, &answers);
                self.evaluate(next, limit, &vars, Some(&answers), &mut early)
            };
            match done {
                RulesDone::Matched(i) => break Some(i),
                RulesDone::NoMatch => break None,
                RulesDone::NeedLookups(i) => next = i,
            }
        };
        self.finish(req, early, matched)
    }

    /// The decision for `req` given the lookup answers in `lookups` (a lookup missing from it
    /// is `null`): pure, no I/O. [`Router::route`] is this plus fetching the lookups.
    pub fn decide(
        &self,
        req: &RouteRequest,
        lookups: &BTreeMap<String, serde_json::Value>,
    ) -> RouteDecision {
        let mut early = self.early(req);
        let limit = self.rule_limit(&early);
        let matched = if limit == 0 {
            None
        } else {
            let vars = RuleVars::new(&self.rules, req, lookups);
            match self.evaluate(0, limit, &vars, None, &mut early) {
                RulesDone::Matched(i) => Some(i),
                RulesDone::NoMatch | RulesDone::NeedLookups(_) => None,
            }
        };
        self.finish(req, early, matched)
    }

    /// Steps (a) the customer's choice and (b) the nearest store.
    fn early(&self, req: &RouteRequest) -> Early {
        let mut trace = Vec::new();
        if let Some(choice) = &req.choice {
            if self.teams.contains(choice.as_str()) {
                trace.push(format!("customer chose {choice}"));
                return Early {
                    team: Some(choice.clone()),
                    trace,
                };
            }
            trace.push(format!("customer chose {choice:?}: not a team, ignored"));
        }
        match geo::contact_location(&req.contact) {
            Ok(None) => {}
            Err(reason) => trace.push(format!("shared location ignored: {reason}")),
            Ok(Some((lat, lon))) => match geo::nearest(&self.stores, lat, lon) {
                None => trace.push("shared location: no stores configured".to_string()),
                Some((_, store, km)) if km <= self.max_store_distance_km => {
                    trace.push(format!(
                        "location {km:.1} km from {} → {}",
                        store.name, store.team
                    ));
                    return Early {
                        team: Some(TeamId::new(store.team.clone())),
                        trace,
                    };
                }
                Some((_, store, km)) => trace.push(format!(
                    "location {km:.1} km from the nearest store ({}), beyond {} km: ignored",
                    store.name, self.max_store_distance_km
                )),
            },
        }
        Early { team: None, trace }
    }

    /// How many rules to evaluate.
    fn rule_limit(&self, early: &Early) -> usize {
        if early.team.is_none() {
            self.rules.len()
        } else {
            self.rules_when_decided
        }
    }

    /// Evaluate rules `from..limit` in order. With `fetched` (routing with lookups), stop at
    /// the first rule reading a lookup not in it; without, missing lookups are `null`.
    fn evaluate(
        &self,
        from: usize,
        limit: usize,
        vars: &RuleVars,
        fetched: Option<&BTreeMap<String, serde_json::Value>>,
        early: &mut Early,
    ) -> RulesDone {
        for i in from..limit {
            if let Some(fetched) = fetched
                && self
                    .rules
                    .lookups_of(i)
                    .iter()
                    .any(|name| !fetched.contains_key(name))
            {
                return RulesDone::NeedLookups(i);
            }
            let name = self.rules.name(i);
            match self.rules.evaluate_rule(i, vars) {
                Ok(true) => {
                    early
                        .trace
                        .push(self.describe_match(i, early.team.is_some()));
                    return RulesDone::Matched(i);
                }
                Ok(false) => early.trace.push(format!("rule {name}: no match")),
                Err(e) => early.trace.push(format!("rule {name} skipped: {e}")),
            }
        }
        RulesDone::NoMatch
    }

    fn describe_match(&self, i: usize, team_decided: bool) -> String {
        let name = self.rules.name(i);
        let priority = self.rules.priority(i);
        match (self.rules.team(i), priority) {
            (Some(team), Some(p)) if !team_decided => {
                format!("rule {name} matched → {team}, priority {p}")
            }
            (Some(team), None) if !team_decided => format!("rule {name} matched → {team}"),
            (_, Some(p)) => format!("rule {name} matched: priority {p}"),
            (_, None) => format!("rule {name} matched"),
        }
    }

    /// Step (d), the priority and the preferred agent.
    fn finish(&self, req: &RouteRequest, early: Early, matched: Option<usize>) -> RouteDecision {
        let Early { team, mut trace } = early;
        let team = match team.or_else(|| matched.and_then(|i| self.rules.team(i).cloned())) {
            Some(team) => team,
            None => {
                trace.push(format!("default team {}", self.default_team));
                self.default_team.clone()
            }
        };
        let priority = matched
            .and_then(|i| self.rules.priority(i))
            .unwrap_or(self.default_priority);
        let preferred_agent = if self.prefer_last_agent {
            req.last_agent.clone()
        } else {
            None
        };
        if let Some(agent) = &preferred_agent {
            trace.push(format!("returning customer: prefer {agent}"));
        }
        tracing::debug!(
            conversation = %req.conversation_id,
            %team,
            priority,
            preferred_agent = preferred_agent.as_ref().map(|a| a.as_str()),
            trace = ?trace,
            "routed"
        );
        RouteDecision {
            team,
            priority,
            preferred_agent,
            trace,
        }
    }
}

fn describe_lookup(name: &str, result: &LookupResult) -> String {
    match (&result.error, result.outcome) {
        (None, LookupOutcome::Cached) => format!("lookup {name}: ok (cached)"),
        (None, _) => format!("lookup {name}: ok"),
        (Some(e), LookupOutcome::Cached) => format!("lookup {name} failed (cached): {e} → null"),
        (Some(e), _) => format!("lookup {name} failed: {e} → null"),
    }
}
