//! The people of a contact center as the durable store keeps them: users, teams, memberships,
//! sessions, personal API tokens, one-time reset tokens and the audit log.
//!
//! Ids are the ones the rest of the house already uses: a user's id is their [`AgentId`], a
//! team's its [`TeamId`]. Secrets (session tokens, API tokens, reset tokens) are kept only as
//! SHA-256 digests; passwords only as argon2id PHC strings.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::assign::Strategy;
use crate::domain::{AgentId, TeamId};

/// What a user may do (see [`super::policy`]).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Supervisor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "agent" => Some(Role::Agent),
            "supervisor" => Some(Role::Supervisor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub const ALL: [Role; 3] = [Role::Agent, Role::Supervisor, Role::Admin];
}

/// A person who logs in. `password_hash` never leaves the server (it is skipped when
/// serialized).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: AgentId,
    pub name: String,
    /// Lower-cased; unique.
    pub email: String,
    pub role: Role,
    /// UI language (BCP 47, e.g. `en`, `es`, `ar`).
    pub language: String,
    /// IANA time zone, e.g. `Europe/Madrid`.
    pub time_zone: String,
    pub active: bool,
    /// Most concurrent conversations across all the user's teams.
    pub capacity: u32,
    /// argon2id PHC string; `None`: cannot log in with a password (yet).
    #[serde(skip)]
    pub password_hash: Option<String>,
    /// Failed password attempts since the last success (the lockout counts these).
    #[serde(skip)]
    pub failed_logins: u32,
    /// Unix ms until which password login is refused (an admin can lift it).
    pub locked_until: Option<i64>,
    /// Unix ms.
    pub created_at: i64,
    pub updated_at: i64,
}

/// A team: an inbox with its queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    pub description: Option<String>,
    pub strategy: Strategy,
    /// 0: assign at once; N: offer, to be accepted within N seconds.
    pub offer_timeout_seconds: u64,
    /// Move a conversation still queued after `overflow_after_seconds` to this team.
    pub overflow_team: Option<TeamId>,
    pub overflow_after_seconds: u64,
    pub max_queue: usize,
    /// A private inbox: its agents see only the conversations assigned to them.
    pub private: bool,
    /// Mask customers' numbers from this team's agents; `None`: the global default
    /// (`security.mask_numbers`).
    pub mask_numbers: Option<bool>,
    /// Name of a business-hours calendar of the configuration, if any.
    pub business_hours: Option<String>,
    /// The team's own SLA policies (docs/REPORTS.md, "SLAs"); empty: the configured ones
    /// apply.
    pub sla: Vec<TeamSlaPolicy>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One of a team's own SLA policies: targets in seconds for conversations of one priority
/// (`None`: any priority), kept on the team record (checked by
/// [`crate::reports::sla_team::check`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamSlaPolicy {
    /// The queue priority it applies to (`null`: any priority).
    #[serde(default)]
    pub priority: Option<i32>,
    #[serde(default)]
    pub first_response_seconds: Option<u64>,
    #[serde(default)]
    pub next_response_seconds: Option<u64>,
    #[serde(default)]
    pub resolution_seconds: Option<u64>,
    /// Count only the team's business hours (its calendar).
    #[serde(default)]
    pub business_hours: bool,
}

/// How a user belongs to a team.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    /// Serves the team's conversations.
    Member,
    /// Supervises the team (sees and manages all of it); takes no conversations through it.
    Supervisor,
}

impl MemberRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Member => "member",
            MemberRole::Supervisor => "supervisor",
        }
    }
    pub fn parse(s: &str) -> Option<MemberRole> {
        match s {
            "member" => Some(MemberRole::Member),
            "supervisor" => Some(MemberRole::Supervisor),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Membership {
    pub user: AgentId,
    pub team: TeamId,
    pub role: MemberRole,
}

/// Every user, team and membership, and the contact field definitions, as of one version of
/// the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectoryData {
    /// Bumped by every change to users, teams, memberships or contact field definitions (in
    /// the same transaction).
    pub version: i64,
    pub users: Vec<User>,
    pub teams: Vec<Team>,
    pub memberships: Vec<Membership>,
    /// The custom contact fields admins defined ([`crate::crm::fields`]).
    pub contact_fields: Vec<crate::crm::fields::FieldDefinition>,
}

/// A logged-in browser (or client). The token itself is never stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub token_sha256: [u8; 32],
    pub user: AgentId,
    pub created_at: i64,
    /// Absolute expiry (unix ms).
    pub expires_at: i64,
    /// Last use (unix ms), for the idle timeout; refreshed at most once a minute.
    pub last_seen_at: i64,
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

/// A personal API token: acts as its user. Shown once, stored as a digest, revocable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    pub id: String,
    pub token_sha256: [u8; 32],
    pub user: AgentId,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A one-time token that lets its holder set a user's password (an invite or a reset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResetToken {
    pub token_sha256: [u8; 32],
    pub user: AgentId,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Who did something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A user through a login session.
    User,
    /// A user through a personal API token.
    Token,
    /// A business system through its API key (`actor` and `token` are the key's id).
    ApiKey,
    /// The gateway itself (seeding, retention, a SIGHUP reload).
    System,
    /// Nobody known (a failed login names the email tried in `target`).
    Anonymous,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Token => "token",
            ActorKind::ApiKey => "api_key",
            ActorKind::System => "system",
            ActorKind::Anonymous => "anonymous",
        }
    }
    pub fn parse(s: &str) -> Option<ActorKind> {
        match s {
            "user" => Some(ActorKind::User),
            "token" => Some(ActorKind::Token),
            "api_key" => Some(ActorKind::ApiKey),
            "system" => Some(ActorKind::System),
            "anonymous" => Some(ActorKind::Anonymous),
            _ => None,
        }
    }
}

/// One line of the append-only audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Assigned by the store, increasing; 0 before it is appended.
    pub id: i64,
    /// Unix ms.
    pub at: i64,
    pub actor_kind: ActorKind,
    /// The user's id (for a token: its user's id; for an API key: the key's id); `None` for
    /// system and anonymous.
    pub actor: Option<String>,
    /// The API token's id when `actor_kind` is `token`, the key's when `api_key`.
    pub token: Option<String>,
    /// What happened, dotted: `login.success`, `login.failure`, `user.update`, `number.reveal`…
    pub action: String,
    /// What it happened to: `user`, `team`, `conversation`, `token`, `config`…
    pub target_kind: Option<String>,
    pub target: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

/// Which audit entries to list, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// An exact action, or a prefix ending in `.` (`user.` lists every user change).
    pub action: Option<String>,
    /// Unix ms, inclusive.
    pub from: Option<i64>,
    /// Unix ms, exclusive.
    pub to: Option<i64>,
    /// Paging: only entries with an id below this one.
    pub before_id: Option<i64>,
    pub limit: i64,
}
