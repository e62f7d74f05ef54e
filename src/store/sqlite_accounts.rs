//! The records of people in the embedded store: [`AccountStore`] for [`SqliteStore`].
//!
//! Writes go to the one writer thread like every other write of the file (as
//! `WriteOp::Account`, applied by `sqlite_accounts_writer`, standing alone in a grouped
//! commit: a change, its directory version and its audit entry commit together or not at
//! all). They wait for room in the write queue rather than shed: account writes are rare and
//! come from people, not webhooks. Reads come from the read pool; [`AccountStore::directory`]
//! reads everything in one read transaction, so it sees one version.

use async_trait::async_trait;
use tokio::sync::oneshot;

use super::StoreError;
use super::accounts::{AccountError, AccountStore};
use super::accounts_rows::{
    ActionMatch, action_match, api_token_from_row, audit_from_row, audit_limit,
    contact_field_from_row, membership_from_row, session_from_row, sort_directory, store_error,
    team_from_row, user_from_row,
};
use super::sqlite::{SqliteStore, WriteOp};
use super::sqlite_accounts_writer::{AccountDone, AccountWrite};
use crate::accounts::model::{
    ApiToken, AuditEntry, AuditFilter, DirectoryData, Membership, ResetToken, Session, Team, User,
};
use crate::crm::fields::FieldDefinition;
use crate::domain::{AgentId, TeamId};

impl SqliteStore {
    /// Hand an account write to the writer thread and wait for its answer.
    async fn account(&self, write: AccountWrite) -> Result<AccountDone, AccountError> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send_async(WriteOp::Account(Box::new(write), reply))
            .await
            .map_err(|_| StoreError::Unavailable)?;
        rx.await.map_err(|_| StoreError::Unavailable)?
    }

    /// An account write that cannot be refused.
    async fn account_store(&self, write: AccountWrite) -> Result<AccountDone, StoreError> {
        self.account(write).await.map_err(store_error)
    }
}

fn unexpected(done: AccountDone) -> StoreError {
    StoreError::Corrupt(format!("unexpected answer of the writer: {done:?}"))
}

fn version(done: AccountDone) -> Result<i64, AccountError> {
    match done {
        AccountDone::Version(v) => Ok(v),
        other => Err(unexpected(other).into()),
    }
}

fn flag(done: AccountDone) -> Result<bool, StoreError> {
    match done {
        AccountDone::Flag(b) => Ok(b),
        other => Err(unexpected(other)),
    }
}

fn count(done: AccountDone) -> Result<u64, StoreError> {
    match done {
        AccountDone::Count(n) => Ok(n),
        other => Err(unexpected(other)),
    }
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn directory(&self) -> Result<DirectoryData, StoreError> {
        // One read transaction: WAL gives it one snapshot, taken by its first read.
        let mut tx = self.reader.begin().await?;
        let version = sqlx::query_scalar("SELECT version FROM directory_version WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let users = sqlx::query("SELECT * FROM users")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(user_from_row)
            .collect::<Result<_, _>>()?;
        let teams = sqlx::query("SELECT * FROM teams")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(team_from_row)
            .collect::<Result<_, _>>()?;
        let memberships = sqlx::query("SELECT user_id, team_id, role FROM memberships")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(membership_from_row)
            .collect::<Result<_, _>>()?;
        let contact_fields = sqlx::query("SELECT * FROM contact_fields")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(contact_field_from_row)
            .collect::<Result<_, _>>()?;
        tx.commit().await?;
        let mut data = DirectoryData {
            version,
            users,
            teams,
            memberships,
            contact_fields,
        };
        sort_directory(&mut data);
        Ok(data)
    }

    async fn user(&self, id: &AgentId) -> Result<Option<User>, StoreError> {
        sqlx::query("SELECT * FROM users WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn directory_version(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT version FROM directory_version WHERE id = 1")
                .fetch_one(&self.reader)
                .await?,
        )
    }

    async fn seed(&self, data: DirectoryData, tokens: Vec<ApiToken>) -> Result<bool, StoreError> {
        flag(self.account_store(AccountWrite::Seed(data, tokens)).await?)
    }

    async fn save_user(
        &self,
        user: &User,
        create: bool,
        memberships: Option<&[Membership]>,
        audit: Option<&AuditEntry>,
    ) -> Result<i64, AccountError> {
        version(
            self.account(AccountWrite::SaveUser {
                user: user.clone(),
                create,
                memberships: memberships.map(<[Membership]>::to_vec),
                audit: audit.cloned(),
            })
            .await?,
        )
    }

    async fn set_login_state(
        &self,
        user: &AgentId,
        failed_logins: u32,
        locked_until: Option<i64>,
    ) -> Result<(), StoreError> {
        self.account_store(AccountWrite::LoginState {
            user: user.clone(),
            failed_logins,
            locked_until,
        })
        .await
        .map(drop)
    }

    async fn save_team(
        &self,
        team: &Team,
        create: bool,
        memberships: Option<&[Membership]>,
        audit: Option<&AuditEntry>,
    ) -> Result<i64, AccountError> {
        version(
            self.account(AccountWrite::SaveTeam {
                team: team.clone(),
                create,
                memberships: memberships.map(<[Membership]>::to_vec),
                audit: audit.cloned(),
            })
            .await?,
        )
    }

    async fn delete_team(
        &self,
        team: &TeamId,
        audit: Option<&AuditEntry>,
    ) -> Result<i64, AccountError> {
        version(
            self.account(AccountWrite::DeleteTeam(team.clone(), audit.cloned()))
                .await?,
        )
    }

    async fn save_contact_field(
        &self,
        field: &FieldDefinition,
        create: bool,
        audit: Option<&AuditEntry>,
    ) -> Result<i64, AccountError> {
        version(
            self.account(AccountWrite::SaveContactField {
                field: field.clone(),
                create,
                audit: audit.cloned(),
            })
            .await?,
        )
    }

    async fn delete_contact_field(
        &self,
        key: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<i64, AccountError> {
        version(
            self.account(AccountWrite::DeleteContactField(
                key.to_owned(),
                audit.cloned(),
            ))
            .await?,
        )
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        self.account_store(AccountWrite::CreateSession(session.clone()))
            .await
            .map(drop)
    }

    async fn session(&self, token_sha256: &[u8; 32]) -> Result<Option<Session>, StoreError> {
        sqlx::query("SELECT * FROM sessions WHERE token_sha256 = ?")
            .bind(&token_sha256[..])
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(session_from_row)
            .transpose()
    }

    async fn touch_session(&self, id: &str, at: i64) -> Result<(), StoreError> {
        self.account_store(AccountWrite::TouchSession(id.to_string(), at))
            .await
            .map(drop)
    }

    async fn delete_session(&self, id: &str) -> Result<bool, StoreError> {
        flag(
            self.account_store(AccountWrite::DeleteSession(id.to_string()))
                .await?,
        )
    }

    async fn delete_sessions_of(&self, user: &AgentId) -> Result<u64, StoreError> {
        count(
            self.account_store(AccountWrite::DeleteSessionsOf(user.clone()))
                .await?,
        )
    }

    async fn sessions_of(&self, user: &AgentId) -> Result<Vec<Session>, StoreError> {
        sqlx::query("SELECT * FROM sessions WHERE user_id = ? ORDER BY created_at DESC, id")
            .bind(user.as_str())
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(session_from_row)
            .collect()
    }

    async fn prune_sessions(&self, now: i64, idle_before: i64) -> Result<u64, StoreError> {
        count(
            self.account_store(AccountWrite::PruneSessions { now, idle_before })
                .await?,
        )
    }

    async fn create_api_token(
        &self,
        token: &ApiToken,
        audit: Option<&AuditEntry>,
    ) -> Result<(), AccountError> {
        self.account(AccountWrite::CreateApiToken(token.clone(), audit.cloned()))
            .await
            .map(drop)
    }

    async fn api_token(&self, token_sha256: &[u8; 32]) -> Result<Option<ApiToken>, StoreError> {
        sqlx::query("SELECT * FROM api_tokens WHERE token_sha256 = ?")
            .bind(&token_sha256[..])
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(api_token_from_row)
            .transpose()
    }

    async fn api_tokens(&self, user: Option<&AgentId>) -> Result<Vec<ApiToken>, StoreError> {
        let rows = match user {
            Some(user) => {
                sqlx::query(
                    "SELECT * FROM api_tokens WHERE user_id = ?
                     ORDER BY created_at DESC, id DESC",
                )
                .bind(user.as_str())
                .fetch_all(&self.reader)
                .await?
            }
            None => {
                sqlx::query("SELECT * FROM api_tokens ORDER BY created_at DESC, id DESC")
                    .fetch_all(&self.reader)
                    .await?
            }
        };
        rows.iter().map(api_token_from_row).collect()
    }

    async fn revoke_api_token(
        &self,
        id: &str,
        at: i64,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, StoreError> {
        flag(
            self.account_store(AccountWrite::RevokeApiToken(
                id.to_string(),
                at,
                audit.cloned(),
            ))
            .await?,
        )
    }

    async fn touch_api_token(&self, id: &str, at: i64) -> Result<(), StoreError> {
        self.account_store(AccountWrite::TouchApiToken(id.to_string(), at))
            .await
            .map(drop)
    }

    async fn create_reset_token(
        &self,
        token: &ResetToken,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        self.account_store(AccountWrite::CreateResetToken(
            token.clone(),
            audit.cloned(),
        ))
        .await
        .map(drop)
    }

    async fn take_reset_token(
        &self,
        token_sha256: &[u8; 32],
        now: i64,
    ) -> Result<Option<AgentId>, StoreError> {
        match self
            .account_store(AccountWrite::TakeResetToken(*token_sha256, now))
            .await?
        {
            AccountDone::User(user) => Ok(user),
            other => Err(unexpected(other)),
        }
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<i64, StoreError> {
        match self
            .account_store(AccountWrite::AppendAudit(entry.clone()))
            .await?
        {
            AccountDone::Id(id) => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    async fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let mut query =
            sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT * FROM audit_log WHERE 1 = 1");
        if let Some(actor) = &filter.actor {
            query.push(" AND actor = ").push_bind(actor.clone());
        }
        match filter.action.as_deref().map(action_match) {
            Some(ActionMatch::Exact(action)) => {
                query.push(" AND action = ").push_bind(action.to_string());
            }
            Some(ActionMatch::Prefix(prefix)) => {
                // Not LIKE: `_` and `%` in a prefix are plain characters.
                query
                    .push(" AND substr(action, 1, length(")
                    .push_bind(prefix.to_string())
                    .push(")) = ")
                    .push_bind(prefix.to_string());
            }
            None => {}
        }
        if let Some(from) = filter.from {
            query.push(" AND at >= ").push_bind(from);
        }
        if let Some(to) = filter.to {
            query.push(" AND at < ").push_bind(to);
        }
        if let Some(before_id) = filter.before_id {
            query.push(" AND id < ").push_bind(before_id);
        }
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(audit_limit(filter.limit));
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn prune_audit(&self, before: i64) -> Result<u64, StoreError> {
        count(self.account_store(AccountWrite::PruneAudit(before)).await?)
    }
}
