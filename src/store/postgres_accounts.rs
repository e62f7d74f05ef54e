//! The records of people in the cluster store: [`AccountStore`] for [`PostgresStore`].
//!
//! Account writes are rare (people, not webhooks), so they do not go through the node's
//! grouped-commit writer: each is its own transaction on the pool, which is simpler and keeps
//! a refusal (a conflict) from touching anyone else's writes.
//!
//! Several nodes write at once, so every change to the directory first bumps the
//! `directory_version` row: its row lock makes the directory's writers of every node take
//! turns, and under READ COMMITTED each statement after it sees what the writer before
//! committed, so the checks (the id is free, the email is not another user's, the team has no
//! open conversation) hold until the commit. The unique constraints back them up. A refused
//! change rolls back with its version bump and its audit entry.
//!
//! One race is left open on purpose: a conversation may be handed to a team in the moment it
//! is deleted (the conversation's step does not take the directory's lock). Its team is then
//! gone, which the desk must cope with anyway (the configuration can drop a team too).

use async_trait::async_trait;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{Postgres, Transaction};

use super::StoreError;
use super::accounts::{AccountError, AccountStore};
use super::accounts_rows::{
    ActionMatch, TeamValues, action_match, api_token_from_row, audit_from_row, audit_limit,
    check_team_memberships, check_user_memberships, contact_field_from_row, email_taken,
    field_exists, json_text, membership_from_row, no_field, no_team, no_user, options_text,
    session_from_row, sort_directory, team_busy, team_exists, team_from_row, token_exists,
    user_exists, user_from_row,
};
use super::postgres::{PostgresStore, text};
use crate::accounts::model::{
    ApiToken, AuditEntry, AuditFilter, DirectoryData, Membership, ResetToken, Session, Team, User,
};
use crate::crm::fields::FieldDefinition;
use crate::domain::{AgentId, TeamId};

/// The columns of `audit_log`, its JSON read back as the text that was written.
const AUDIT_COLUMNS: &str = "SELECT id, at, actor_kind, actor, token, action, target_kind, target,
    before_json::text AS before_json, after_json::text AS after_json, address, user_agent
    FROM audit_log WHERE TRUE";

type Result<T, E = AccountError> = std::result::Result<T, E>;

fn db(e: sqlx::Error) -> AccountError {
    AccountError::Store(e.into())
}

/// A unique violation is `refusal`; anything else is the database's error.
fn unique_or(e: sqlx::Error, refusal: impl FnOnce() -> AccountError) -> AccountError {
    if e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
    {
        refusal()
    } else {
        db(e)
    }
}

impl PostgresStore {
    /// A transaction changing the directory: the version is bumped first (taking the
    /// directory's lock). Returns the new version.
    async fn directory_change(&self) -> Result<(Transaction<'static, Postgres>, i64)> {
        let mut tx = self.reader.begin().await.map_err(db)?;
        let version = sqlx::query_scalar(
            "UPDATE directory_version SET version = version + 1 WHERE id = 1 RETURNING version",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        Ok((tx, version))
    }
}

async fn exists(conn: &mut PgConnection, sql: &'static str, id: &str) -> Result<bool> {
    sqlx::query_scalar(sql)
        .bind(text(id))
        .fetch_one(conn)
        .await
        .map_err(db)
}

async fn user_known(conn: &mut PgConnection, id: &AgentId) -> Result<bool> {
    exists(
        conn,
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)",
        id.as_str(),
    )
    .await
}

async fn team_known(conn: &mut PgConnection, id: &TeamId) -> Result<bool> {
    exists(
        conn,
        "SELECT EXISTS (SELECT 1 FROM teams WHERE id = $1)",
        id.as_str(),
    )
    .await
}

/// Insert (`create`) or replace every column of a user.
async fn write_user(conn: &mut PgConnection, u: &User, create: bool) -> Result<()> {
    let sql = if create {
        "INSERT INTO users (name, email, role, language, time_zone, active, capacity,
            password_hash, failed_logins, locked_until, created_at, updated_at, id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    } else {
        "UPDATE users SET name = $1, email = $2, role = $3, language = $4, time_zone = $5,
            active = $6, capacity = $7, password_hash = $8, failed_logins = $9,
            locked_until = $10, created_at = $11, updated_at = $12
         WHERE id = $13"
    };
    sqlx::query(sql)
        .bind(text(&u.name))
        .bind(text(&u.email))
        .bind(u.role.as_str())
        .bind(text(&u.language))
        .bind(text(&u.time_zone))
        .bind(u.active)
        .bind(i64::from(u.capacity))
        .bind(u.password_hash.as_deref().map(text))
        .bind(i64::from(u.failed_logins))
        .bind(u.locked_until)
        .bind(u.created_at)
        .bind(u.updated_at)
        .bind(text(u.id.as_str()))
        .execute(conn)
        .await
        .map_err(|e| {
            unique_or(e, || {
                AccountError::Conflict(format!("user {}: the id or the email is taken", u.id))
            })
        })?;
    Ok(())
}

/// Insert (`create`) or replace every column of a team.
async fn write_team(conn: &mut PgConnection, t: &Team, create: bool) -> Result<()> {
    let values = TeamValues::of(t)?;
    let sql = if create {
        "INSERT INTO teams (name, description, strategy, offer_timeout_seconds, overflow_team,
            overflow_after_seconds, max_queue, private, mask_numbers, business_hours,
            created_at, updated_at, id, sla)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    } else {
        "UPDATE teams SET name = $1, description = $2, strategy = $3,
            offer_timeout_seconds = $4, overflow_team = $5, overflow_after_seconds = $6,
            max_queue = $7, private = $8, mask_numbers = $9, business_hours = $10,
            created_at = $11, updated_at = $12, sla = $14
         WHERE id = $13"
    };
    sqlx::query(sql)
        .bind(text(&t.name))
        .bind(t.description.as_deref().map(text))
        .bind(values.strategy)
        .bind(values.offer_timeout_seconds)
        .bind(t.overflow_team.as_ref().map(|o| text(o.as_str())))
        .bind(values.overflow_after_seconds)
        .bind(values.max_queue)
        .bind(t.private)
        .bind(t.mask_numbers)
        .bind(t.business_hours.as_deref().map(text))
        .bind(t.created_at)
        .bind(t.updated_at)
        .bind(text(t.id.as_str()))
        .bind(text(&values.sla))
        .execute(conn)
        .await
        .map_err(|e| unique_or(e, || team_exists(&t.id)))?;
    Ok(())
}

async fn insert_membership(conn: &mut PgConnection, m: &Membership) -> Result<()> {
    sqlx::query("INSERT INTO memberships (user_id, team_id, role) VALUES ($1, $2, $3)")
        .bind(text(m.user.as_str()))
        .bind(text(m.team.as_str()))
        .bind(m.role.as_str())
        .execute(conn)
        .await
        .map_err(db)?;
    Ok(())
}

async fn insert_api_token(conn: &mut PgConnection, t: &ApiToken) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, token_sha256, user_id, name, created_at, last_used_at,
            revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(text(&t.id))
    .bind(&t.token_sha256[..])
    .bind(text(t.user.as_str()))
    .bind(text(&t.name))
    .bind(t.created_at)
    .bind(t.last_used_at)
    .bind(t.revoked_at)
    .execute(conn)
    .await
    .map_err(|e| unique_or(e, || token_exists(&t.id)))?;
    Ok(())
}

/// Append an audit entry (its `id` is ignored); returns the id it got.
async fn insert_audit(conn: &mut PgConnection, e: &AuditEntry) -> Result<i64, StoreError> {
    let (before, after) = (json_text(e.before.as_ref())?, json_text(e.after.as_ref())?);
    Ok(sqlx::query_scalar(
        "INSERT INTO audit_log (at, actor_kind, actor, token, action, target_kind, target,
            before_json, after_json, address, user_agent)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json, $9::json, $10, $11) RETURNING id",
    )
    .bind(e.at)
    .bind(e.actor_kind.as_str())
    .bind(e.actor.as_deref().map(text))
    .bind(e.token.as_deref().map(text))
    .bind(text(&e.action))
    .bind(e.target_kind.as_deref().map(text))
    .bind(e.target.as_deref().map(text))
    .bind(before)
    .bind(after)
    .bind(e.address.as_deref().map(text))
    .bind(e.user_agent.as_deref().map(text))
    .fetch_one(conn)
    .await?)
}

async fn audit(conn: &mut PgConnection, entry: Option<&AuditEntry>) -> Result<()> {
    if let Some(entry) = entry {
        insert_audit(conn, entry).await?;
    }
    Ok(())
}

fn rows<T>(
    rows: Vec<PgRow>,
    map: impl Fn(&PgRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(map).collect()
}

#[async_trait]
impl AccountStore for PostgresStore {
    async fn directory(&self) -> Result<DirectoryData, StoreError> {
        // REPEATABLE READ: every statement of the transaction reads the same snapshot.
        let mut tx = self
            .reader
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await?;
        let version = sqlx::query_scalar("SELECT version FROM directory_version WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let users = rows(
            sqlx::query("SELECT * FROM users")
                .fetch_all(&mut *tx)
                .await?,
            user_from_row,
        )?;
        let teams = rows(
            sqlx::query("SELECT * FROM teams")
                .fetch_all(&mut *tx)
                .await?,
            team_from_row,
        )?;
        let memberships = rows(
            sqlx::query("SELECT user_id, team_id, role FROM memberships")
                .fetch_all(&mut *tx)
                .await?,
            membership_from_row,
        )?;
        let contact_fields = rows(
            sqlx::query("SELECT * FROM contact_fields")
                .fetch_all(&mut *tx)
                .await?,
            contact_field_from_row,
        )?;
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
        sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(text(id.as_str()))
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
        let seeded: Result<bool> = async {
            let mut tx = self.reader.begin().await.map_err(db)?;
            // Nodes starting together take turns here; the later ones find people and leave.
            sqlx::query("SELECT version FROM directory_version WHERE id = 1 FOR UPDATE")
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            let anyone: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM teams)",
            )
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
            if anyone {
                return Ok(false);
            }
            for user in &data.users {
                write_user(&mut tx, user, true).await?;
            }
            for team in &data.teams {
                write_team(&mut tx, team, true).await?;
            }
            for m in &data.memberships {
                insert_membership(&mut tx, m).await?;
            }
            for token in &tokens {
                insert_api_token(&mut tx, token).await?;
            }
            sqlx::query("UPDATE directory_version SET version = $1 WHERE id = 1")
                .bind(data.version.max(1))
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            tx.commit().await.map_err(db)?;
            Ok(true)
        }
        .await;
        seeded.map_err(super::accounts_rows::store_error)
    }

    async fn save_user(
        &self,
        user: &User,
        create: bool,
        memberships: Option<&[Membership]>,
        audit_entry: Option<&AuditEntry>,
    ) -> Result<i64, AccountError> {
        if let Some(memberships) = memberships {
            check_user_memberships(&user.id, memberships)?;
        }
        let (mut tx, version) = self.directory_change().await?;
        match (create, user_known(&mut tx, &user.id).await?) {
            (true, true) => return Err(user_exists(&user.id)),
            (false, false) => return Err(no_user(&user.id)),
            _ => {}
        }
        let owner: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(text(&user.email))
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if owner.is_some_and(|owner| owner != text(user.id.as_str())) {
            return Err(email_taken());
        }
        write_user(&mut tx, user, create).await?;
        if let Some(memberships) = memberships {
            for m in memberships {
                if !team_known(&mut tx, &m.team).await? {
                    return Err(no_team(&m.team));
                }
            }
            sqlx::query("DELETE FROM memberships WHERE user_id = $1")
                .bind(text(user.id.as_str()))
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            for m in memberships {
                insert_membership(&mut tx, m).await?;
            }
        }
        audit(&mut tx, audit_entry).await?;
        tx.commit().await.map_err(db)?;
        Ok(version)
    }

    async fn set_login_state(
        &self,
        user: &AgentId,
        failed_logins: u32,
        locked_until: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET failed_logins = $1, locked_until = $2 WHERE id = $3")
            .bind(i64::from(failed_logins))
            .bind(locked_until)
            .bind(text(user.as_str()))
            .execute(&self.reader)
            .await?;
        Ok(())
    }

    async fn save_team(
        &self,
        team: &Team,
        create: bool,
        memberships: Option<&[Membership]>,
        audit_entry: Option<&AuditEntry>,
    ) -> Result<i64, AccountError> {
        if let Some(memberships) = memberships {
            check_team_memberships(&team.id, memberships)?;
        }
        let (mut tx, version) = self.directory_change().await?;
        match (create, team_known(&mut tx, &team.id).await?) {
            (true, true) => return Err(team_exists(&team.id)),
            (false, false) => return Err(no_team(&team.id)),
            _ => {}
        }
        write_team(&mut tx, team, create).await?;
        if let Some(memberships) = memberships {
            for m in memberships {
                if !user_known(&mut tx, &m.user).await? {
                    return Err(no_user(&m.user));
                }
            }
            sqlx::query("DELETE FROM memberships WHERE team_id = $1")
                .bind(text(team.id.as_str()))
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            for m in memberships {
                insert_membership(&mut tx, m).await?;
            }
        }
        audit(&mut tx, audit_entry).await?;
        tx.commit().await.map_err(db)?;
        Ok(version)
    }

    async fn delete_team(
        &self,
        team: &TeamId,
        audit_entry: Option<&AuditEntry>,
    ) -> Result<i64, AccountError> {
        let (mut tx, version) = self.directory_change().await?;
        if !team_known(&mut tx, team).await? {
            return Err(no_team(team));
        }
        if exists(
            &mut tx,
            "SELECT EXISTS (SELECT 1 FROM conversations WHERE team = $1 AND status <> 'resolved')",
            team.as_str(),
        )
        .await?
        {
            return Err(team_busy(team));
        }
        sqlx::query("DELETE FROM memberships WHERE team_id = $1")
            .bind(text(team.as_str()))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM teams WHERE id = $1")
            .bind(text(team.as_str()))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        audit(&mut tx, audit_entry).await?;
        tx.commit().await.map_err(db)?;
        Ok(version)
    }

    async fn save_contact_field(
        &self,
        f: &FieldDefinition,
        create: bool,
        audit_entry: Option<&AuditEntry>,
    ) -> Result<i64, AccountError> {
        let (mut tx, version) = self.directory_change().await?;
        let known = exists(
            &mut tx,
            "SELECT EXISTS (SELECT 1 FROM contact_fields WHERE key = $1)",
            &f.key,
        )
        .await?;
        match (create, known) {
            (true, true) => return Err(field_exists(&f.key)),
            (false, false) => return Err(no_field(&f.key)),
            _ => {}
        }
        let sql = if create {
            "INSERT INTO contact_fields (label, kind, options, description, created_at,
                updated_at, key)
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        } else {
            "UPDATE contact_fields SET label = $1, kind = $2, options = $3, description = $4,
                created_at = $5, updated_at = $6
             WHERE key = $7"
        };
        sqlx::query(sql)
            .bind(text(&f.label))
            .bind(f.kind.as_str())
            .bind(text(&options_text(&f.options)?))
            .bind(f.description.as_deref().map(text))
            .bind(f.created_at)
            .bind(f.updated_at)
            .bind(text(&f.key))
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_or(e, || field_exists(&f.key)))?;
        audit(&mut tx, audit_entry).await?;
        tx.commit().await.map_err(db)?;
        Ok(version)
    }

    async fn delete_contact_field(
        &self,
        key: &str,
        audit_entry: Option<&AuditEntry>,
    ) -> Result<i64, AccountError> {
        let (mut tx, version) = self.directory_change().await?;
        let deleted = sqlx::query("DELETE FROM contact_fields WHERE key = $1")
            .bind(text(key))
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if deleted == 0 {
            return Err(no_field(key));
        }
        audit(&mut tx, audit_entry).await?;
        tx.commit().await.map_err(db)?;
        Ok(version)
    }

    async fn create_session(&self, s: &Session) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, token_sha256, user_id, created_at, expires_at,
                last_seen_at, address, user_agent)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(text(&s.id))
        .bind(&s.token_sha256[..])
        .bind(text(s.user.as_str()))
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(s.last_seen_at)
        .bind(s.address.as_deref().map(text))
        .bind(s.user_agent.as_deref().map(text))
        .execute(&self.reader)
        .await?;
        Ok(())
    }

    async fn session(&self, token_sha256: &[u8; 32]) -> Result<Option<Session>, StoreError> {
        sqlx::query("SELECT * FROM sessions WHERE token_sha256 = $1")
            .bind(&token_sha256[..])
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(session_from_row)
            .transpose()
    }

    async fn touch_session(&self, id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $1) WHERE id = $2")
            .bind(at)
            .bind(text(id))
            .execute(&self.reader)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(text(id))
            .execute(&self.reader)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_sessions_of(&self, user: &AgentId) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(text(user.as_str()))
            .execute(&self.reader)
            .await?;
        Ok(done.rows_affected())
    }

    async fn sessions_of(&self, user: &AgentId) -> Result<Vec<Session>, StoreError> {
        rows(
            sqlx::query(
                r#"SELECT * FROM sessions WHERE user_id = $1
                   ORDER BY created_at DESC, id COLLATE "C""#,
            )
            .bind(text(user.as_str()))
            .fetch_all(&self.reader)
            .await?,
            session_from_row,
        )
    }

    async fn prune_sessions(&self, now: i64, idle_before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at < $2")
            .bind(now)
            .bind(idle_before)
            .execute(&self.reader)
            .await?;
        Ok(done.rows_affected())
    }

    async fn create_api_token(
        &self,
        token: &ApiToken,
        audit_entry: Option<&AuditEntry>,
    ) -> Result<(), AccountError> {
        let mut tx = self.reader.begin().await.map_err(db)?;
        if !user_known(&mut tx, &token.user).await? {
            return Err(no_user(&token.user));
        }
        insert_api_token(&mut tx, token).await?;
        audit(&mut tx, audit_entry).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn api_token(&self, token_sha256: &[u8; 32]) -> Result<Option<ApiToken>, StoreError> {
        sqlx::query("SELECT * FROM api_tokens WHERE token_sha256 = $1")
            .bind(&token_sha256[..])
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(api_token_from_row)
            .transpose()
    }

    async fn api_tokens(&self, user: Option<&AgentId>) -> Result<Vec<ApiToken>, StoreError> {
        let found = match user {
            Some(user) => {
                sqlx::query(
                    r#"SELECT * FROM api_tokens WHERE user_id = $1
                       ORDER BY created_at DESC, id COLLATE "C" DESC"#,
                )
                .bind(text(user.as_str()))
                .fetch_all(&self.reader)
                .await?
            }
            None => {
                sqlx::query(
                    r#"SELECT * FROM api_tokens ORDER BY created_at DESC, id COLLATE "C" DESC"#,
                )
                .fetch_all(&self.reader)
                .await?
            }
        };
        rows(found, api_token_from_row)
    }

    async fn revoke_api_token(
        &self,
        id: &str,
        at: i64,
        audit_entry: Option<&AuditEntry>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.reader.begin().await?;
        let revoked = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(text(id))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        // No record without its change: revoking a revoked token changes nothing.
        if revoked && let Some(entry) = audit_entry {
            insert_audit(&mut tx, entry).await?;
        }
        tx.commit().await?;
        Ok(revoked)
    }

    async fn touch_api_token(&self, id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(text(id))
            .execute(&self.reader)
            .await?;
        Ok(())
    }

    async fn create_reset_token(
        &self,
        token: &ResetToken,
        audit_entry: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        let mut tx = self.reader.begin().await?;
        // One statement: two tokens created at once for a user leave the later one.
        sqlx::query(
            "INSERT INTO reset_tokens (token_sha256, user_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id) DO UPDATE SET token_sha256 = EXCLUDED.token_sha256,
                created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at",
        )
        .bind(&token.token_sha256[..])
        .bind(text(token.user.as_str()))
        .bind(token.created_at)
        .bind(token.expires_at)
        .execute(&mut *tx)
        .await?;
        if let Some(entry) = audit_entry {
            insert_audit(&mut tx, entry).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn take_reset_token(
        &self,
        token_sha256: &[u8; 32],
        now: i64,
    ) -> Result<Option<AgentId>, StoreError> {
        // One statement: of two uses at once, one deletes the row, the other finds it gone.
        // Deleted whether it is still good or not: an expired token is of no more use.
        let taken: Option<(String, i64)> = sqlx::query_as(
            "DELETE FROM reset_tokens WHERE token_sha256 = $1 RETURNING user_id, expires_at",
        )
        .bind(&token_sha256[..])
        .fetch_optional(&self.reader)
        .await?;
        Ok(taken.and_then(|(user, expires_at)| (expires_at > now).then(|| AgentId::new(user))))
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<i64, StoreError> {
        let mut conn = self.reader.acquire().await?;
        insert_audit(&mut conn, entry).await
    }

    async fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let mut query = sqlx::QueryBuilder::<Postgres>::new(AUDIT_COLUMNS);
        if let Some(actor) = &filter.actor {
            query
                .push(" AND actor = ")
                .push_bind(text(actor).into_owned());
        }
        match filter.action.as_deref().map(action_match) {
            Some(ActionMatch::Exact(action)) => {
                query
                    .push(" AND action = ")
                    .push_bind(text(action).into_owned());
            }
            Some(ActionMatch::Prefix(prefix)) => {
                // Not LIKE: `_` and `%` in a prefix are plain characters.
                query
                    .push(" AND starts_with(action, ")
                    .push_bind(text(prefix).into_owned())
                    .push(")");
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
        rows(query.build().fetch_all(&self.reader).await?, audit_from_row)
    }

    async fn prune_audit(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(before)
            .execute(&self.reader)
            .await?;
        Ok(done.rows_affected())
    }
}
