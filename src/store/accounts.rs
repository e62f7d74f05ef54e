//! The durable record of people: the [`AccountStore`] part of every [`Store`](super::Store).
//!
//! Every change to users, teams, memberships or contact field definitions bumps the directory version in the same
//! transaction, so a node can tell in one cheap read whether its copy is current. Changes made
//! by an administrator are written together with their audit entry (one transaction: no change
//! without its record, no record without its change).

use async_trait::async_trait;

use super::StoreError;
use crate::accounts::model::{
    ApiToken, AuditEntry, AuditFilter, DirectoryData, Membership, ResetToken, Session, Team, User,
};
use crate::crm::fields::FieldDefinition;
use crate::domain::{AgentId, TeamId};

/// Why an account change was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("not found: {0}")]
    NotFound(String),
    /// A unique value is taken (an id, an email), or the change is not allowed in the current
    /// state (a team with open conversations).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Every user, team and membership, read in one transaction, with its version.
    async fn directory(&self) -> Result<DirectoryData, StoreError>;

    /// The current directory version (one small read).
    async fn directory_version(&self) -> Result<i64, StoreError>;

    /// Fill an empty store (no user and no team) with these people and personal tokens, in one
    /// transaction; answers whether it did. A store with anyone in it is left alone (`false`).
    async fn seed(&self, data: DirectoryData, tokens: Vec<ApiToken>) -> Result<bool, StoreError>;

    /// One user, read now (the lockout state and password hash change without a version).
    async fn user(&self, id: &AgentId) -> Result<Option<User>, StoreError>;

    /// Create (`create`: the id and the email must be free) or replace a user; with
    /// `memberships`, replace all of the user's memberships too. Writes `audit` in the same
    /// transaction (when given). Returns the new directory version.
    ///
    /// Refused, with nothing written: `Conflict` for a taken id or email, a membership of
    /// another user or a team given twice; `NotFound` for a user to replace, or a membership's
    /// team, that does not exist.
    async fn save_user(
        &self,
        user: &User,
        create: bool,
        memberships: Option<&[Membership]>,
        audit: Option<&AuditEntry>,
    ) -> Result<i64, AccountError>;

    /// Record a failed password attempt or a success (`failed_logins` 0, `locked_until` none),
    /// without bumping the directory version (nothing the assignment state reads changed).
    async fn set_login_state(
        &self,
        user: &AgentId,
        failed_logins: u32,
        locked_until: Option<i64>,
    ) -> Result<(), StoreError>;

    /// Create (`create`) or replace a team; with `memberships`, replace all of the team's
    /// memberships too. Writes `audit` in the same transaction. Returns the new version.
    ///
    /// Refused like [`save_user`](Self::save_user): `Conflict` for a taken id, a membership
    /// of another team or a user given twice; `NotFound` for a missing team or user.
    async fn save_team(
        &self,
        team: &Team,
        create: bool,
        memberships: Option<&[Membership]>,
        audit: Option<&AuditEntry>,
    ) -> Result<i64, AccountError>;

    /// Delete a team and its memberships: `Conflict` while any conversation of the team is not
    /// resolved, `NotFound` if there is no such team. Returns the new version.
    async fn delete_team(
        &self,
        team: &TeamId,
        audit: Option<&AuditEntry>,
    ) -> Result<i64, AccountError>;

    /// Create (`create`: the key must be free) or replace a contact field definition, with its
    /// `audit` entry, bumping the directory version. Returns the new version. Refused, with
    /// nothing written: `Conflict` for a taken key, `NotFound` for a definition to replace that
    /// does not exist.
    async fn save_contact_field(
        &self,
        field: &FieldDefinition,
        create: bool,
        audit: Option<&AuditEntry>,
    ) -> Result<i64, AccountError>;

    /// Delete a contact field definition (the values on contacts stay, undefined), with its
    /// `audit` entry: `NotFound` if there is none. Returns the new version.
    async fn delete_contact_field(
        &self,
        key: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<i64, AccountError>;

    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;
    async fn session(&self, token_sha256: &[u8; 32]) -> Result<Option<Session>, StoreError>;
    /// Refresh a session's `last_seen_at`.
    async fn touch_session(&self, id: &str, at: i64) -> Result<(), StoreError>;
    /// Delete one session (logout); answers whether it existed.
    async fn delete_session(&self, id: &str) -> Result<bool, StoreError>;
    /// Delete every session of a user (log out everywhere, forced logout, deactivation);
    /// answers how many.
    async fn delete_sessions_of(&self, user: &AgentId) -> Result<u64, StoreError>;
    /// A user's sessions, newest first.
    async fn sessions_of(&self, user: &AgentId) -> Result<Vec<Session>, StoreError>;
    /// Delete sessions expired at `now` (absolute expiry: `expires_at <= now`) or idle since
    /// before `idle_before` (`last_seen_at < idle_before`); answers how many.
    async fn prune_sessions(&self, now: i64, idle_before: i64) -> Result<u64, StoreError>;

    /// Store a new personal token with its `audit` entry: `Conflict` for a taken id or digest,
    /// `NotFound` for an unknown user.
    async fn create_api_token(
        &self,
        token: &ApiToken,
        audit: Option<&AuditEntry>,
    ) -> Result<(), AccountError>;
    /// A token by its digest, revoked or not.
    async fn api_token(&self, token_sha256: &[u8; 32]) -> Result<Option<ApiToken>, StoreError>;
    /// A user's tokens (every user's with `None`), newest first.
    async fn api_tokens(&self, user: Option<&AgentId>) -> Result<Vec<ApiToken>, StoreError>;
    /// Mark a token revoked at `at`; answers whether it was active. `audit` is written only
    /// when it was (no record without its change).
    async fn revoke_api_token(
        &self,
        id: &str,
        at: i64,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, StoreError>;
    async fn touch_api_token(&self, id: &str, at: i64) -> Result<(), StoreError>;

    /// Store a one-time token (replacing any earlier unused one of the same user).
    async fn create_reset_token(
        &self,
        token: &ResetToken,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError>;
    /// Use a one-time token: if it exists and has not expired at `now`, delete it and answer
    /// its user (atomically: two uses, one winner).
    async fn take_reset_token(
        &self,
        token_sha256: &[u8; 32],
        now: i64,
    ) -> Result<Option<AgentId>, StoreError>;

    /// Append to the audit log (logins, logouts, reveals, exports: what has no change of its
    /// own to travel with). Returns the entry's id.
    async fn append_audit(&self, entry: &AuditEntry) -> Result<i64, StoreError>;
    /// Entries matching `filter`, newest first.
    async fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError>;
    /// Delete entries older than `before` (retention); answers how many.
    async fn prune_audit(&self, before: i64) -> Result<u64, StoreError>;
}
