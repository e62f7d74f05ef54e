//! The SQLite store's account writes, applied by the writer thread (see `sqlite_writer`) on
//! its connection, each standing alone in a grouped commit.
//!
//! A write that is refused ([`AccountError::NotFound`], [`AccountError::Conflict`]) is rolled
//! back alone with everything it wrote (its group is applied again with a savepoint per write), its audit entry included: the checks run
//! before the writes, and the unique constraints back them up. The writer thread is the only
//! writer of the file, so nothing changes between a check and the write that follows it.

use rusqlite::{Connection, OptionalExtension, params};

use super::accounts::AccountError;
use super::accounts_rows::{
    TeamValues, check_team_memberships, check_user_memberships, email_taken, field_exists,
    json_text, no_field, no_team, no_user, options_text, team_busy, team_exists, token_exists,
    user_exists,
};
use super::sqlite_writer::{engine, is_unique_violation};
use crate::accounts::model::{
    ApiToken, AuditEntry, DirectoryData, Membership, ResetToken, Session, Team, User,
};
use crate::crm::fields::FieldDefinition;
use crate::domain::{AgentId, TeamId};

/// An account write for the writer thread.
pub(super) enum AccountWrite {
    Seed(DirectoryData, Vec<ApiToken>),
    SaveUser {
        user: User,
        create: bool,
        memberships: Option<Vec<Membership>>,
        audit: Option<AuditEntry>,
    },
    LoginState {
        user: AgentId,
        failed_logins: u32,
        locked_until: Option<i64>,
    },
    SaveTeam {
        team: Team,
        create: bool,
        memberships: Option<Vec<Membership>>,
        audit: Option<AuditEntry>,
    },
    DeleteTeam(TeamId, Option<AuditEntry>),
    SaveContactField {
        field: FieldDefinition,
        create: bool,
        audit: Option<AuditEntry>,
    },
    DeleteContactField(String, Option<AuditEntry>),
    CreateSession(Session),
    TouchSession(String, i64),
    DeleteSession(String),
    DeleteSessionsOf(AgentId),
    PruneSessions {
        now: i64,
        idle_before: i64,
    },
    CreateApiToken(ApiToken, Option<AuditEntry>),
    RevokeApiToken(String, i64, Option<AuditEntry>),
    TouchApiToken(String, i64),
    CreateResetToken(ResetToken, Option<AuditEntry>),
    TakeResetToken([u8; 32], i64),
    AppendAudit(AuditEntry),
    PruneAudit(i64),
    /// Notification settings, push subscriptions, the VAPID keys (see `sqlite_push`).
    Push(super::sqlite_push::PushWrite),
    /// Reports' own writes (presence samples; see `sqlite_reports`).
    Reports(super::sqlite_reports::ReportWrite),
}

/// What an account write answers.
#[derive(Debug)]
pub(super) enum AccountDone {
    /// The new directory version.
    Version(i64),
    Flag(bool),
    Count(u64),
    User(Option<AgentId>),
    /// A new audit entry's id.
    Id(i64),
    Nothing,
}

type Result<T> = std::result::Result<T, AccountError>;

fn db(e: rusqlite::Error) -> AccountError {
    AccountError::Store(engine(e))
}

/// Apply one account write. `Err` with a refusal: the caller rolls it back alone.
pub(super) fn apply(conn: &Connection, write: &AccountWrite) -> Result<AccountDone> {
    match write {
        AccountWrite::Seed(data, tokens) => seed(conn, data, tokens).map(AccountDone::Flag),
        AccountWrite::Push(write) => super::sqlite_push::apply(conn, write).map_err(Into::into),
        AccountWrite::Reports(write) => {
            super::sqlite_reports::apply(conn, write).map_err(Into::into)
        }
        AccountWrite::SaveUser {
            user,
            create,
            memberships,
            audit,
        } => save_user(conn, user, *create, memberships.as_deref(), audit.as_ref())
            .map(AccountDone::Version),
        AccountWrite::LoginState {
            user,
            failed_logins,
            locked_until,
        } => {
            conn.prepare_cached(
                "UPDATE users SET failed_logins = ?, locked_until = ? WHERE id = ?",
            )
            .and_then(|mut s| s.execute(params![failed_logins, locked_until, user.as_str()]))
            .map_err(db)?;
            Ok(AccountDone::Nothing)
        }
        AccountWrite::SaveTeam {
            team,
            create,
            memberships,
            audit,
        } => save_team(conn, team, *create, memberships.as_deref(), audit.as_ref())
            .map(AccountDone::Version),
        AccountWrite::DeleteTeam(team, audit) => {
            delete_team(conn, team, audit.as_ref()).map(AccountDone::Version)
        }
        AccountWrite::SaveContactField {
            field,
            create,
            audit,
        } => save_contact_field(conn, field, *create, audit.as_ref()).map(AccountDone::Version),
        AccountWrite::DeleteContactField(key, audit) => {
            delete_contact_field(conn, key, audit.as_ref()).map(AccountDone::Version)
        }
        AccountWrite::CreateSession(s) => {
            conn.prepare_cached(
                "INSERT INTO sessions (id, token_sha256, user_id, created_at, expires_at,
                    last_seen_at, address, user_agent)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    s.id,
                    &s.token_sha256[..],
                    s.user.as_str(),
                    s.created_at,
                    s.expires_at,
                    s.last_seen_at,
                    s.address,
                    s.user_agent
                ])
            })
            .map_err(db)?;
            Ok(AccountDone::Nothing)
        }
        AccountWrite::TouchSession(id, at) => {
            conn.prepare_cached(
                "UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?) WHERE id = ?",
            )
            .and_then(|mut s| s.execute(params![at, id]))
            .map_err(db)?;
            Ok(AccountDone::Nothing)
        }
        AccountWrite::DeleteSession(id) => {
            let n = conn
                .prepare_cached("DELETE FROM sessions WHERE id = ?")
                .and_then(|mut s| s.execute(params![id]))
                .map_err(db)?;
            Ok(AccountDone::Flag(n > 0))
        }
        AccountWrite::DeleteSessionsOf(user) => {
            let n = conn
                .prepare_cached("DELETE FROM sessions WHERE user_id = ?")
                .and_then(|mut s| s.execute(params![user.as_str()]))
                .map_err(db)?;
            Ok(AccountDone::Count(n as u64))
        }
        AccountWrite::PruneSessions { now, idle_before } => {
            let n = conn
                .prepare_cached("DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at < ?")
                .and_then(|mut s| s.execute(params![now, idle_before]))
                .map_err(db)?;
            Ok(AccountDone::Count(n as u64))
        }
        AccountWrite::CreateApiToken(token, audit) => {
            create_api_token(conn, token, audit.as_ref())?;
            Ok(AccountDone::Nothing)
        }
        AccountWrite::RevokeApiToken(id, at, audit) => {
            let revoked = conn
                .prepare_cached(
                    "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                )
                .and_then(|mut s| s.execute(params![at, id]))
                .map_err(db)?
                > 0;
            // No record without its change: revoking a revoked token changes nothing.
            if revoked && let Some(audit) = audit {
                insert_audit(conn, audit)?;
            }
            Ok(AccountDone::Flag(revoked))
        }
        AccountWrite::TouchApiToken(id, at) => {
            conn.prepare_cached("UPDATE api_tokens SET last_used_at = ? WHERE id = ?")
                .and_then(|mut s| s.execute(params![at, id]))
                .map_err(db)?;
            Ok(AccountDone::Nothing)
        }
        AccountWrite::CreateResetToken(token, audit) => {
            conn.prepare_cached("DELETE FROM reset_tokens WHERE user_id = ?")
                .and_then(|mut s| s.execute(params![token.user.as_str()]))
                .map_err(db)?;
            conn.prepare_cached(
                "INSERT INTO reset_tokens (token_sha256, user_id, created_at, expires_at)
                 VALUES (?, ?, ?, ?)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    &token.token_sha256[..],
                    token.user.as_str(),
                    token.created_at,
                    token.expires_at
                ])
            })
            .map_err(db)?;
            if let Some(audit) = audit {
                insert_audit(conn, audit)?;
            }
            Ok(AccountDone::Nothing)
        }
        AccountWrite::TakeResetToken(digest, now) => {
            // Deleted whether it is still good or not: an expired token is of no more use.
            let taken: Option<(String, i64)> = conn
                .prepare_cached(
                    "DELETE FROM reset_tokens WHERE token_sha256 = ? RETURNING user_id, expires_at",
                )
                .and_then(|mut s| {
                    s.query_row(params![&digest[..]], |row| Ok((row.get(0)?, row.get(1)?)))
                        .optional()
                })
                .map_err(db)?;
            Ok(AccountDone::User(taken.and_then(|(user, expires_at)| {
                (expires_at > *now).then(|| AgentId::new(user))
            })))
        }
        AccountWrite::AppendAudit(entry) => insert_audit(conn, entry).map(AccountDone::Id),
        AccountWrite::PruneAudit(before) => {
            let n = conn
                .prepare_cached("DELETE FROM audit_log WHERE at < ?")
                .and_then(|mut s| s.execute(params![before]))
                .map_err(db)?;
            Ok(AccountDone::Count(n as u64))
        }
    }
}

fn exists(conn: &Connection, sql: &str, id: &str) -> Result<bool> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.exists(params![id]))
        .map_err(db)
}

fn user_known(conn: &Connection, id: &AgentId) -> Result<bool> {
    exists(conn, "SELECT 1 FROM users WHERE id = ?", id.as_str())
}

fn team_known(conn: &Connection, id: &TeamId) -> Result<bool> {
    exists(conn, "SELECT 1 FROM teams WHERE id = ?", id.as_str())
}

/// The directory changed: its version goes up by one. Returns the new version.
fn bump_version(conn: &Connection) -> Result<i64> {
    conn.prepare_cached(
        "UPDATE directory_version SET version = version + 1 WHERE id = 1 RETURNING version",
    )
    .and_then(|mut s| s.query_row([], |row| row.get(0)))
    .map_err(db)
}

fn seed(conn: &Connection, data: &DirectoryData, tokens: &[ApiToken]) -> Result<bool> {
    let anyone: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM teams)",
            [],
            |row| row.get(0),
        )
        .map_err(db)?;
    if anyone {
        return Ok(false);
    }
    for user in &data.users {
        write_user(conn, user, true)?;
    }
    for team in &data.teams {
        write_team(conn, team, true)?;
    }
    for m in &data.memberships {
        insert_membership(conn, m)?;
    }
    for token in tokens {
        insert_api_token(conn, token)?;
    }
    conn.prepare_cached("UPDATE directory_version SET version = ? WHERE id = 1")
        .and_then(|mut s| s.execute(params![data.version.max(1)]))
        .map_err(db)?;
    Ok(true)
}

fn save_user(
    conn: &Connection,
    user: &User,
    create: bool,
    memberships: Option<&[Membership]>,
    audit: Option<&AuditEntry>,
) -> Result<i64> {
    if let Some(memberships) = memberships {
        check_user_memberships(&user.id, memberships)?;
    }
    match (create, user_known(conn, &user.id)?) {
        (true, true) => return Err(user_exists(&user.id)),
        (false, false) => return Err(no_user(&user.id)),
        _ => {}
    }
    let owner: Option<String> = conn
        .prepare_cached("SELECT id FROM users WHERE email = ?")
        .and_then(|mut s| {
            s.query_row(params![user.email], |row| row.get(0))
                .optional()
        })
        .map_err(db)?;
    if owner.is_some_and(|owner| owner != user.id.as_str()) {
        return Err(email_taken());
    }
    write_user(conn, user, create)?;
    if let Some(memberships) = memberships {
        for m in memberships {
            if !team_known(conn, &m.team)? {
                return Err(no_team(&m.team));
            }
        }
        conn.prepare_cached("DELETE FROM memberships WHERE user_id = ?")
            .and_then(|mut s| s.execute(params![user.id.as_str()]))
            .map_err(db)?;
        for m in memberships {
            insert_membership(conn, m)?;
        }
    }
    if let Some(audit) = audit {
        insert_audit(conn, audit)?;
    }
    bump_version(conn)
}

/// Insert (`create`) or replace every column of a user.
fn write_user(conn: &Connection, u: &User, create: bool) -> Result<()> {
    let sql = if create {
        "INSERT INTO users (name, email, role, language, time_zone, active, capacity,
            password_hash, failed_logins, locked_until, created_at, updated_at, id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    } else {
        "UPDATE users SET name = ?, email = ?, role = ?, language = ?, time_zone = ?,
            active = ?, capacity = ?, password_hash = ?, failed_logins = ?, locked_until = ?,
            created_at = ?, updated_at = ?
         WHERE id = ?"
    };
    let written = conn.prepare_cached(sql).and_then(|mut s| {
        s.execute(params![
            u.name,
            u.email,
            u.role.as_str(),
            u.language,
            u.time_zone,
            u.active,
            u.capacity,
            u.password_hash,
            u.failed_logins,
            u.locked_until,
            u.created_at,
            u.updated_at,
            u.id.as_str()
        ])
    });
    match written {
        Ok(_) => Ok(()),
        // The checks came first; this is their backstop.
        Err(e) if is_unique_violation(&e) => Err(AccountError::Conflict(format!(
            "user {}: the id or the email is taken",
            u.id
        ))),
        Err(e) => Err(db(e)),
    }
}

fn save_team(
    conn: &Connection,
    team: &Team,
    create: bool,
    memberships: Option<&[Membership]>,
    audit: Option<&AuditEntry>,
) -> Result<i64> {
    if let Some(memberships) = memberships {
        check_team_memberships(&team.id, memberships)?;
    }
    match (create, team_known(conn, &team.id)?) {
        (true, true) => return Err(team_exists(&team.id)),
        (false, false) => return Err(no_team(&team.id)),
        _ => {}
    }
    write_team(conn, team, create)?;
    if let Some(memberships) = memberships {
        for m in memberships {
            if !user_known(conn, &m.user)? {
                return Err(no_user(&m.user));
            }
        }
        conn.prepare_cached("DELETE FROM memberships WHERE team_id = ?")
            .and_then(|mut s| s.execute(params![team.id.as_str()]))
            .map_err(db)?;
        for m in memberships {
            insert_membership(conn, m)?;
        }
    }
    if let Some(audit) = audit {
        insert_audit(conn, audit)?;
    }
    bump_version(conn)
}

fn save_contact_field(
    conn: &Connection,
    f: &FieldDefinition,
    create: bool,
    audit: Option<&AuditEntry>,
) -> Result<i64> {
    let known = exists(conn, "SELECT 1 FROM contact_fields WHERE key = ?", &f.key)?;
    match (create, known) {
        (true, true) => return Err(field_exists(&f.key)),
        (false, false) => return Err(no_field(&f.key)),
        _ => {}
    }
    let sql = if create {
        "INSERT INTO contact_fields (label, kind, options, description, created_at, updated_at,
            key)
         VALUES (?, ?, ?, ?, ?, ?, ?)"
    } else {
        "UPDATE contact_fields SET label = ?, kind = ?, options = ?, description = ?,
            created_at = ?, updated_at = ?
         WHERE key = ?"
    };
    let options = options_text(&f.options)?;
    let written = conn.prepare_cached(sql).and_then(|mut s| {
        s.execute(params![
            f.label,
            f.kind.as_str(),
            options,
            f.description,
            f.created_at,
            f.updated_at,
            f.key
        ])
    });
    match written {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(field_exists(&f.key)),
        Err(e) => return Err(db(e)),
    }
    if let Some(audit) = audit {
        insert_audit(conn, audit)?;
    }
    bump_version(conn)
}

fn delete_contact_field(conn: &Connection, key: &str, audit: Option<&AuditEntry>) -> Result<i64> {
    let deleted = conn
        .prepare_cached("DELETE FROM contact_fields WHERE key = ?")
        .and_then(|mut s| s.execute(params![key]))
        .map_err(db)?;
    if deleted == 0 {
        return Err(no_field(key));
    }
    if let Some(audit) = audit {
        insert_audit(conn, audit)?;
    }
    bump_version(conn)
}

/// Insert (`create`) or replace every column of a team.
fn write_team(conn: &Connection, t: &Team, create: bool) -> Result<()> {
    let values = TeamValues::of(t)?;
    let sql = if create {
        "INSERT INTO teams (name, description, strategy, offer_timeout_seconds, overflow_team,
            overflow_after_seconds, max_queue, private, mask_numbers, business_hours, sla,
            created_at, updated_at, id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    } else {
        "UPDATE teams SET name = ?, description = ?, strategy = ?, offer_timeout_seconds = ?,
            overflow_team = ?, overflow_after_seconds = ?, max_queue = ?, private = ?,
            mask_numbers = ?, business_hours = ?, sla = ?, created_at = ?, updated_at = ?
         WHERE id = ?"
    };
    let written = conn.prepare_cached(sql).and_then(|mut s| {
        s.execute(params![
            t.name,
            t.description,
            values.strategy,
            values.offer_timeout_seconds,
            t.overflow_team.as_ref().map(|o| o.as_str()),
            values.overflow_after_seconds,
            values.max_queue,
            t.private,
            t.mask_numbers,
            t.business_hours,
            values.sla,
            t.created_at,
            t.updated_at,
            t.id.as_str()
        ])
    });
    match written {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(team_exists(&t.id)),
        Err(e) => Err(db(e)),
    }
}

fn insert_membership(conn: &Connection, m: &Membership) -> Result<()> {
    conn.prepare_cached("INSERT INTO memberships (user_id, team_id, role) VALUES (?, ?, ?)")
        .and_then(|mut s| s.execute(params![m.user.as_str(), m.team.as_str(), m.role.as_str()]))
        .map_err(db)?;
    Ok(())
}

fn delete_team(conn: &Connection, team: &TeamId, audit: Option<&AuditEntry>) -> Result<i64> {
    if !team_known(conn, team)? {
        return Err(no_team(team));
    }
    if exists(
        conn,
        "SELECT 1 FROM conversations WHERE team = ? AND status <> 'resolved'",
        team.as_str(),
    )? {
        return Err(team_busy(team));
    }
    conn.prepare_cached("DELETE FROM memberships WHERE team_id = ?")
        .and_then(|mut s| s.execute(params![team.as_str()]))
        .map_err(db)?;
    conn.prepare_cached("DELETE FROM teams WHERE id = ?")
        .and_then(|mut s| s.execute(params![team.as_str()]))
        .map_err(db)?;
    if let Some(audit) = audit {
        insert_audit(conn, audit)?;
    }
    bump_version(conn)
}

fn create_api_token(conn: &Connection, token: &ApiToken, audit: Option<&AuditEntry>) -> Result<()> {
    if !user_known(conn, &token.user)? {
        return Err(no_user(&token.user));
    }
    insert_api_token(conn, token)?;
    if let Some(audit) = audit {
        insert_audit(conn, audit)?;
    }
    Ok(())
}

fn insert_api_token(conn: &Connection, t: &ApiToken) -> Result<()> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO api_tokens (id, token_sha256, user_id, name, created_at, last_used_at,
                revoked_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .and_then(|mut s| {
            s.execute(params![
                t.id,
                &t.token_sha256[..],
                t.user.as_str(),
                t.name,
                t.created_at,
                t.last_used_at,
                t.revoked_at
            ])
        });
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(token_exists(&t.id)),
        Err(e) => Err(db(e)),
    }
}

/// Append an audit entry (its `id` is ignored); returns the id it got.
fn insert_audit(conn: &Connection, e: &AuditEntry) -> Result<i64> {
    let (before, after) = (json_text(e.before.as_ref())?, json_text(e.after.as_ref())?);
    conn.prepare_cached(
        "INSERT INTO audit_log (at, actor_kind, actor, token, action, target_kind, target,
            before_json, after_json, address, user_agent)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .and_then(|mut s| {
        s.query_row(
            params![
                e.at,
                e.actor_kind.as_str(),
                e.actor,
                e.token,
                e.action,
                e.target_kind,
                e.target,
                before,
                after,
                e.address,
                e.user_agent
            ],
            |row| row.get(0),
        )
    })
    .map_err(db)
}
