//! The people of the deployment at work: seeding the store from YAML once, logging in,
//! recognising a session or an API token, and carrying every change to people to the node's
//! directory and to the assignment state at once.
//!
//! Propagation. Every change to users, teams or memberships bumps the store's directory
//! version. The node that makes a change applies it straight away ([`Accounts::refresh`]):
//! it reads the new directory, configures the assignment state with it (in a cluster that
//! state is shared, so every node's assignments change at that moment) and installs it as
//! the node's copy. Every node also checks the version every second and refreshes when it
//! moved, so a node's copy (names, roles, teams for permissions) converges within a second.
//! The assignment state refuses a configuration older than the one it holds, so a slow node
//! can never put an old one back.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::directory::{Directory, Snapshot};
use super::model::{
    ActorKind, ApiToken, AuditEntry, DirectoryData, MemberRole, Membership, Session, Team, User,
};
use super::policy::Principal;
use super::secrets;
use super::throttle::{AuthThrottle, CredentialKey, Throttled};
use crate::config::Settings;
use crate::desk::Desk;
use crate::domain::{AgentId, TeamId};
use crate::store::{Store, StoreError};

/// How often a node checks whether the directory changed.
const REFRESH_EVERY: Duration = Duration::from_secs(1);
/// A recognised token is remembered this long (a logout elsewhere takes effect within it).
const CREDENTIAL_TTL: Duration = Duration::from_secs(2);
/// An id no user can have (ids start with a letter or digit): what a login with an unknown
/// email reads and writes, so it costs the same as one with a known email.
const NO_ONE: &str = " no one";
/// A session's or token's last use is written at most this often.
const TOUCH_EVERY_MS: i64 = 60_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// How a request proved who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    Session(String),
    Token(String),
}

/// The authenticated user of a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    pub via: Via,
}

impl Caller {
    pub fn user(&self) -> &AgentId {
        &self.principal.user
    }
}

/// Where a request came from, for the audit log.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    pub address: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// A token as recognised, before the user is looked up.
#[derive(Clone, Debug)]
struct Credential {
    user: AgentId,
    via: Via,
    /// The session's or token's last recorded use.
    last_seen_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Wrong email or password (the same answer for both), or an inactive user.
    #[error("wrong email or password")]
    Unauthorized,
    #[error("too many attempts")]
    Throttled(Throttled),
    /// Too many wrong passwords in a row: locked until an admin lifts it or it expires.
    #[error("the account is locked")]
    Locked { retry_after_seconds: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A successful login.
pub struct LoggedIn {
    pub token: String,
    pub user: User,
    pub session: Session,
}

pub struct Accounts {
    pub store: Arc<dyn Store>,
    pub directory: Arc<Directory>,
    pub desk: Arc<Desk>,
    settings: Arc<Settings>,
    throttle: Arc<AuthThrottle>,
    credentials: moka::future::Cache<[u8; 32], Option<Credential>>,
    /// One refresh at a time on this node.
    refreshing: tokio::sync::Mutex<()>,
}

impl Accounts {
    pub fn new(
        store: Arc<dyn Store>,
        directory: Arc<Directory>,
        desk: Arc<Desk>,
        settings: Arc<Settings>,
        throttle: Arc<AuthThrottle>,
    ) -> Accounts {
        Accounts {
            store,
            directory,
            desk,
            settings,
            throttle,
            credentials: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(CREDENTIAL_TTL)
                .build(),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn throttle(&self) -> &AuthThrottle {
        &self.throttle
    }

    /// The people of a fresh store, from the YAML `teams` and `agents` sections; the store is
    /// seeded once, when it holds nobody. Returns the directory as the store has it.
    pub async fn seed_and_load(
        store: &dyn Store,
        settings: &Settings,
    ) -> anyhow::Result<DirectoryData> {
        let (data, tokens) = seed_from_settings(settings)?;
        if store.seed(data, tokens).await? {
            tracing::info!("people seeded from the configuration's teams and agents");
        } else if !settings.teams.is_empty() || !settings.agents.is_empty() {
            tracing::info!(
                "teams and agents in the configuration are ignored: the store holds the \
                 deployment's people (change them through /api/v1/admin)"
            );
        }
        Ok(store.directory().await?)
    }

    /// Refuse to run outside the demo environments while a demo credential is active in the
    /// store (a seeded demo password, a demo user's API token). Called at start, before
    /// anything else runs.
    pub async fn refuse_demo_credentials(
        store: &dyn Store,
        people: &Snapshot,
        settings: &Settings,
    ) -> anyhow::Result<()> {
        if crate::config::DEMO_ENVIRONMENTS.contains(&settings.environment.as_str()) {
            return Ok(());
        }
        let mut found = Vec::new();
        for user in people.users() {
            if user.active
                && user.password_hash.as_deref() == Some(crate::config::DEMO_PASSWORD_ARGON2)
            {
                found.push(format!("the demo password of {}", user.email));
            }
        }
        for token in crate::config::DEMO_CONSOLE_TOKENS {
            if let Some(t) = store.api_token(&secrets::digest(token)).await?
                && t.revoked_at.is_none()
            {
                found.push(format!("the demo API token of {}", t.user));
            }
        }
        if !found.is_empty() {
            anyhow::bail!(
                "SWITCHBOARD_ENVIRONMENT={} refuses to start while demo credentials are active \
                 in the store: {} (reset those passwords and revoke those tokens through \
                 /api/v1/admin in a demo environment, or start from an empty database)",
                settings.environment,
                found.join(", ")
            );
        }
        Ok(())
    }

    /// Bring the node's directory and the assignment state up to the store's version.
    /// Answers whether anything changed here.
    pub async fn refresh(&self) -> anyhow::Result<bool> {
        let _one = self.refreshing.lock().await;
        let version = self.store.directory_version().await?;
        let previous = self.directory.get();
        if version == previous.version && previous.version != 0 {
            return Ok(false);
        }
        let snapshot = Snapshot::new(self.store.directory().await?);
        self.desk.sync_people(&snapshot);
        let (teams, agents) = snapshot.specs();
        let configured = self
            .desk
            .assignments
            .configure(teams, agents, snapshot.version)
            .await?;
        let inactive: Vec<AgentId> = snapshot
            .users()
            .filter(|u| !u.active)
            .map(|u| u.id.clone())
            .collect();
        let version = snapshot.version;
        self.directory.replace(snapshot);
        self.desk.dispatch(configured.placements);
        if configured.applied {
            // This node put the change into the assignment state: it also takes the
            // conversations of deactivated users back to their teams (once, here).
            for user in inactive {
                self.desk.requeue_holdings_of(&user).await;
            }
        }
        tracing::info!(version, applied = configured.applied, "directory refreshed");
        Ok(true)
    }

    /// Check the directory version every second; refresh when it moved.
    pub fn spawn_refresher(self: &Arc<Self>) -> actix_rt::task::JoinHandle<()> {
        let accounts = Arc::downgrade(self);
        actix_rt::spawn(async move {
            let mut ticks = tokio::time::interval(REFRESH_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(accounts) = accounts.upgrade() else {
                    return;
                };
                if let Err(e) = accounts.refresh().await {
                    tracing::warn!(error = %e, "directory refresh failed");
                }
            }
        })
    }

    /// Delete sessions past their lifetime or idle too long, and audit entries past their
    /// retention, every hour.
    pub fn spawn_housekeeping(self: &Arc<Self>) -> actix_rt::task::JoinHandle<()> {
        let accounts = Arc::downgrade(self);
        actix_rt::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(3600));
            loop {
                ticks.tick().await;
                let Some(accounts) = accounts.upgrade() else {
                    return;
                };
                let now = now_ms();
                let security = &accounts.settings.security;
                let idle = now - minutes_ms(security.session_idle_minutes);
                if let Err(e) = accounts.store.prune_sessions(now, idle).await {
                    tracing::warn!(error = %e, "session pruning failed");
                }
                let keep = now - minutes_ms(security.audit_retention_days.saturating_mul(24 * 60));
                match accounts.store.prune_audit(keep).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(n, "audit entries past their retention deleted"),
                    Err(e) => tracing::warn!(error = %e, "audit pruning failed"),
                }
            }
        })
    }

    /// Who `token` is: a live session or an unrevoked API token of an active user.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Caller>, StoreError> {
        let digest = secrets::digest(token);
        let credential = match self.credentials.get(&digest).await {
            Some(found) => found,
            None => {
                let found = self.lookup(token, &digest).await?;
                self.credentials.insert(digest, found.clone()).await;
                found
            }
        };
        let Some(credential) = credential else {
            return Ok(None);
        };
        let Some(principal) = self.directory.get().principal(&credential.user) else {
            return Ok(None);
        };
        let now = now_ms();
        if now - credential.last_seen_at > TOUCH_EVERY_MS {
            let mut touched = credential.clone();
            touched.last_seen_at = now;
            self.credentials.insert(digest, Some(touched)).await;
            let store = self.store.clone();
            let via = credential.via.clone();
            actix_rt::spawn(async move {
                let result = match &via {
                    Via::Session(id) => store.touch_session(id, now).await,
                    Via::Token(id) => store.touch_api_token(id, now).await,
                };
                if let Err(e) = result {
                    tracing::debug!(error = %e, "last use not recorded");
                }
            });
        }
        Ok(Some(Caller {
            principal,
            via: credential.via,
        }))
    }

    async fn lookup(
        &self,
        token: &str,
        digest: &[u8; 32],
    ) -> Result<Option<Credential>, StoreError> {
        let now = now_ms();
        if token.starts_with(secrets::SESSION_PREFIX) {
            let Some(session) = self.store.session(digest).await? else {
                return Ok(None);
            };
            let idle = minutes_ms(self.settings.security.session_idle_minutes);
            if session.expires_at <= now || session.last_seen_at + idle <= now {
                return Ok(None);
            }
            return Ok(Some(Credential {
                user: session.user,
                via: Via::Session(session.id),
                last_seen_at: session.last_seen_at,
            }));
        }
        let Some(api) = self.store.api_token(digest).await? else {
            return Ok(None);
        };
        if api.revoked_at.is_some() {
            return Ok(None);
        }
        Ok(Some(Credential {
            user: api.user,
            via: Via::Token(api.id),
            last_seen_at: api.last_used_at.unwrap_or(0),
        }))
    }

    /// Forget what this node remembers of tokens (after a logout or a revocation here).
    pub fn forget_credentials(&self) {
        self.credentials.invalidate_all();
    }

    /// Email and password login. Throttled per address and per account; a run of wrong
    /// passwords locks the account for a while. An unknown email costs the same time as a
    /// wrong password and gets the same answer.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        meta: &RequestMeta,
    ) -> Result<LoggedIn, LoginError> {
        let email = email.trim().to_lowercase();
        let key = Some(CredentialKey::of(&format!("login:{email}")));
        self.throttle
            .check(meta.address, key)
            .map_err(LoginError::Throttled)?;
        let snapshot = self.directory.get();
        let known = snapshot.user_by_email(&email).map(|u| u.id.clone());
        // The freshest record: the lockout and the password are not part of the directory's
        // version.
        // An unknown email reads too (the same work, the same time).
        let user = self
            .store
            .user(&known.unwrap_or_else(|| AgentId::new(NO_ONE)))
            .await?;
        let now = now_ms();
        let hash = user.as_ref().and_then(|u| u.password_hash.clone());
        let attempt = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || {
            secrets::verify_password(&attempt, hash.as_deref())
        })
        .await
        .unwrap_or(false);
        let Some(user) = user else {
            self.failed_login(None, &email, meta, "unknown email").await;
            return Err(LoginError::Unauthorized);
        };
        if let Some(until) = user.locked_until
            && until > now
        {
            self.failed_login(None, &email, meta, "locked").await;
            return Err(LoginError::Locked {
                retry_after_seconds: ((until - now) / 1000).max(1) as u64,
            });
        }
        if !matches || !user.active {
            self.failed_login(Some(&user), &email, meta, "wrong password")
                .await;
            return Err(LoginError::Unauthorized);
        }
        if user.failed_logins > 0 || user.locked_until.is_some() {
            self.store.set_login_state(&user.id, 0, None).await?;
        }
        let token = secrets::new_token(secrets::SESSION_PREFIX);
        let security = &self.settings.security;
        let session = Session {
            id: uuid::Uuid::now_v7().to_string(),
            token_sha256: secrets::digest(&token),
            user: user.id.clone(),
            created_at: now,
            expires_at: now + minutes_ms(security.session_lifetime_hours.saturating_mul(60)),
            last_seen_at: now,
            address: meta.address.map(|a| a.to_string()),
            user_agent: meta.user_agent.clone(),
        };
        self.store.create_session(&session).await?;
        let entry = audit_entry(
            ActorKind::User,
            Some(user.id.as_str()),
            None,
            "login.success",
            Some(("session", session.id.as_str())),
            None,
            None,
            meta,
        );
        self.audit(&entry).await;
        Ok(LoggedIn {
            token,
            user,
            session,
        })
    }

    async fn failed_login(&self, user: Option<&User>, email: &str, meta: &RequestMeta, why: &str) {
        let key = Some(CredentialKey::of(&format!("login:{email}")));
        self.throttle.failed(meta.address, key);
        metrics::counter!(crate::metrics::AUTH_FAILURES, "kind" => "login").increment(1);
        if let Some(user) = user {
            let security = &self.settings.security;
            let failures = user.failed_logins.saturating_add(1);
            let (failures, locked) = if security.lockout_after_failures > 0
                && failures >= security.lockout_after_failures
            {
                tracing::warn!(user = %user.id, "account locked after repeated wrong passwords");
                (0, Some(now_ms() + minutes_ms(security.lockout_minutes)))
            } else {
                (failures, None)
            };
            if let Err(e) = self.store.set_login_state(&user.id, failures, locked).await {
                tracing::warn!(error = %e, "failed login not counted");
            }
        } else {
            // An unknown email costs the same write (it changes nothing), so it is not told
            // apart by the time it takes.
            let _ = self
                .store
                .set_login_state(&AgentId::new(NO_ONE), 0, None)
                .await;
        }
        let entry = audit_entry(
            ActorKind::Anonymous,
            None,
            None,
            "login.failure",
            Some(("email", email)),
            None,
            Some(json!({ "reason": why })),
            meta,
        );
        self.audit(&entry).await;
    }

    /// End the caller's session (an API token is not a session: nothing to end).
    pub async fn logout(&self, caller: &Caller, meta: &RequestMeta) -> Result<bool, StoreError> {
        let Via::Session(id) = &caller.via else {
            return Ok(false);
        };
        let ended = self.store.delete_session(id).await?;
        self.forget_credentials();
        self.audit(&self.entry(caller, "logout", Some(("session", id)), None, None, meta))
            .await;
        Ok(ended)
    }

    /// End every session of `user` (everywhere, forced by an admin, or on deactivation).
    pub async fn end_sessions(
        &self,
        caller: Option<&Caller>,
        user: &AgentId,
        action: &str,
        meta: &RequestMeta,
    ) -> Result<u64, StoreError> {
        let ended = self.store.delete_sessions_of(user).await?;
        self.forget_credentials();
        let entry = match caller {
            Some(caller) => self.entry(
                caller,
                action,
                Some(("user", user.as_str())),
                None,
                Some(json!({ "sessions_ended": ended })),
                meta,
            ),
            None => audit_entry(
                ActorKind::System,
                None,
                None,
                action,
                Some(("user", user.as_str())),
                None,
                Some(json!({ "sessions_ended": ended })),
                meta,
            ),
        };
        self.audit(&entry).await;
        Ok(ended)
    }

    /// Create a personal API token for `user`; the token is returned once, never again.
    pub async fn create_api_token(
        &self,
        caller: &Caller,
        user: &AgentId,
        name: &str,
        meta: &RequestMeta,
    ) -> Result<(String, ApiToken), crate::store::accounts::AccountError> {
        let token = secrets::new_token(secrets::API_TOKEN_PREFIX);
        let record = ApiToken {
            id: uuid::Uuid::now_v7().to_string(),
            token_sha256: secrets::digest(&token),
            user: user.clone(),
            name: name.to_owned(),
            created_at: now_ms(),
            last_used_at: None,
            revoked_at: None,
        };
        let entry = self.entry(
            caller,
            "token.create",
            Some(("token", record.id.as_str())),
            None,
            Some(json!({ "user": user, "name": name })),
            meta,
        );
        self.store.create_api_token(&record, Some(&entry)).await?;
        Ok((token, record))
    }

    pub async fn revoke_api_token(
        &self,
        caller: &Caller,
        token: &ApiToken,
        meta: &RequestMeta,
    ) -> Result<bool, StoreError> {
        let entry = self.entry(
            caller,
            "token.revoke",
            Some(("token", token.id.as_str())),
            None,
            Some(json!({ "user": token.user, "name": token.name })),
            meta,
        );
        let revoked = self
            .store
            .revoke_api_token(&token.id, now_ms(), Some(&entry))
            .await?;
        self.forget_credentials();
        Ok(revoked)
    }

    /// An audit entry of something `caller` did.
    pub fn entry(
        &self,
        caller: &Caller,
        action: &str,
        target: Option<(&str, &str)>,
        before: Option<Value>,
        after: Option<Value>,
        meta: &RequestMeta,
    ) -> AuditEntry {
        let (kind, token) = match &caller.via {
            Via::Session(_) => (ActorKind::User, None),
            Via::Token(id) => (ActorKind::Token, Some(id.as_str())),
        };
        audit_entry(
            kind,
            Some(caller.user().as_str()),
            token,
            action,
            target,
            before,
            after,
            meta,
        )
    }

    /// Append to the audit log; a failure is logged (the action it records already happened).
    pub async fn audit(&self, entry: &AuditEntry) {
        if let Err(e) = self.store.append_audit(entry).await {
            tracing::error!(error = %e, action = %entry.action, "audit entry not written");
        }
    }
}

fn minutes_ms(minutes: u64) -> i64 {
    i64::try_from(minutes.saturating_mul(60_000)).unwrap_or(i64::MAX / 4)
}

/// An audit entry (its id and time are set here and by the store).
#[allow(clippy::too_many_arguments)]
pub fn audit_entry(
    actor_kind: ActorKind,
    actor: Option<&str>,
    token: Option<&str>,
    action: &str,
    target: Option<(&str, &str)>,
    before: Option<Value>,
    after: Option<Value>,
    meta: &RequestMeta,
) -> AuditEntry {
    AuditEntry {
        id: 0,
        at: now_ms(),
        actor_kind,
        actor: actor.map(str::to_owned),
        token: token.map(str::to_owned),
        action: action.to_owned(),
        target_kind: target.map(|t| t.0.to_owned()),
        target: target.map(|t| t.1.to_owned()),
        before,
        after,
        address: meta.address.map(|a| a.to_string()),
        user_agent: meta.user_agent.clone(),
    }
}

/// The people of the YAML configuration, as the store's first directory, with the agents'
/// configured token digests as their personal API tokens.
pub fn seed_from_settings(settings: &Settings) -> anyhow::Result<(DirectoryData, Vec<ApiToken>)> {
    let now = now_ms();
    let mut data = DirectoryData {
        version: 1,
        ..DirectoryData::default()
    };
    for (id, team) in &settings.teams {
        data.teams.push(Team {
            id: TeamId::new(id.clone()),
            name: team.name.clone(),
            description: team.description.clone(),
            strategy: team.strategy,
            offer_timeout_seconds: team.offer_timeout_seconds,
            overflow_team: team.overflow.as_ref().map(|o| TeamId::new(o.team.clone())),
            overflow_after_seconds: team.overflow.as_ref().map_or(0, |o| o.after_seconds),
            max_queue: team.max_queue,
            private: team.private,
            mask_numbers: team.mask_numbers,
            business_hours: team.business_hours.clone(),
            sla: Vec::new(),
            created_at: now,
            updated_at: now,
        });
    }
    let mut tokens = Vec::new();
    for (id, agent) in &settings.agents {
        let user_id = AgentId::new(id.clone());
        let email = agent
            .email
            .clone()
            .unwrap_or_else(|| format!("{id}@users.invalid"))
            .trim()
            .to_lowercase();
        data.users.push(User {
            id: user_id.clone(),
            name: agent.name.clone(),
            email,
            role: agent.role,
            language: agent.language.clone().unwrap_or_else(|| "en".into()),
            time_zone: agent.time_zone.clone().unwrap_or_else(|| "UTC".into()),
            active: true,
            capacity: agent.capacity,
            password_hash: agent.password_argon2.clone(),
            failed_logins: 0,
            locked_until: None,
            created_at: now,
            updated_at: now,
        });
        for team in &agent.teams {
            data.memberships.push(Membership {
                user: user_id.clone(),
                team: TeamId::new(team.clone()),
                role: MemberRole::Member,
            });
        }
        for team in &agent.supervises {
            data.memberships.push(Membership {
                user: user_id.clone(),
                team: TeamId::new(team.clone()),
                role: MemberRole::Supervisor,
            });
        }
        if let Some(hash) = &agent.token_sha256 {
            let digest = hex::decode(hash)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| anyhow::anyhow!("agents.{id}.token_sha256 is not a SHA-256"))?;
            tokens.push(ApiToken {
                id: format!("seed-{id}"),
                token_sha256: digest,
                user: user_id.clone(),
                name: "configured token".into(),
                created_at: now,
                last_used_at: None,
                revoked_at: None,
            });
        }
    }
    // A member and a supervisor of the same team: supervising wins (one membership per pair).
    data.memberships
        .sort_by(|a, b| (&a.user, &a.team, b.role).cmp(&(&b.user, &b.team, a.role)));
    data.memberships
        .dedup_by(|later, earlier| later.user == earlier.user && later.team == earlier.team);
    Ok((data, tokens))
}
