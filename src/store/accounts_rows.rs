//! What both stores share about the records of people: the records from the rows their readers
//! fetch (the same columns and values in SQLite and PostgreSQL), the conversions of the values
//! their writers store, and the checks made before a change is written.
//!
//! The checks are pure, so a bad request is refused the same way by both stores, before
//! anything is written.

use std::collections::HashSet;

use serde_json::Value;

use super::StoreError;
use super::accounts::AccountError;
use super::rows::{StoreRow, from_json};
use crate::accounts::model::{
    ActorKind, ApiToken, AuditEntry, DirectoryData, MemberRole, Membership, Role, Session, Team,
    User,
};
use crate::assign::Strategy;
use crate::domain::{AgentId, TeamId};

/// Most audit entries one page lists.
pub(super) const AUDIT_PAGE_MAX: i64 = 1000;

/// How many audit entries a filter's `limit` asks for: at least 1, at most [`AUDIT_PAGE_MAX`].
pub(super) fn audit_limit(limit: i64) -> i64 {
    limit.clamp(1, AUDIT_PAGE_MAX)
}

/// How an audit filter's `action` matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ActionMatch<'a> {
    /// This action only.
    Exact(&'a str),
    /// Every action starting with this (it ends with `.`: `user.` is every user change).
    Prefix(&'a str),
}

pub(super) fn action_match(action: &str) -> ActionMatch<'_> {
    if action.ends_with('.') {
        ActionMatch::Prefix(action)
    } else {
        ActionMatch::Exact(action)
    }
}

/// A team's strategy as stored.
pub(super) fn strategy_str(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::RoundRobin => "round_robin",
        Strategy::LeastBusy => "least_busy",
    }
}

pub(super) fn parse_strategy(s: &str) -> Option<Strategy> {
    match s {
        "round_robin" => Some(Strategy::RoundRobin),
        "least_busy" => Some(Strategy::LeastBusy),
        _ => None,
    }
}

/// The columns of a team that need converting before they are stored: both databases keep
/// integers as signed 64 bits.
pub(super) struct TeamValues {
    pub strategy: &'static str,
    pub offer_timeout_seconds: i64,
    pub overflow_after_seconds: i64,
    pub max_queue: i64,
    /// The team's SLA policies as JSON text.
    pub sla: String,
}

impl TeamValues {
    /// Refuses (as a store error: the record cannot be kept) a number beyond `i64::MAX`.
    pub(super) fn of(team: &Team) -> Result<TeamValues, StoreError> {
        let int = |value: u64, what: &str| {
            i64::try_from(value).map_err(|_| {
                StoreError::Corrupt(format!("team {}: {what} {value} is too large", team.id))
            })
        };
        Ok(TeamValues {
            strategy: strategy_str(team.strategy),
            offer_timeout_seconds: int(team.offer_timeout_seconds, "offer_timeout_seconds")?,
            overflow_after_seconds: int(team.overflow_after_seconds, "overflow_after_seconds")?,
            max_queue: int(team.max_queue as u64, "max_queue")?,
            sla: serde_json::to_string(&team.sla)
                .map_err(|e| StoreError::Corrupt(format!("team {}: sla: {e}", team.id)))?,
        })
    }
}

/// A stored JSON document (an audit entry's `before`, `after`) as text.
pub(super) fn json_text(value: Option<&Value>) -> Result<Option<String>, StoreError> {
    value
        .map(|v| serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

/// A SHA-256 digest read back (32 bytes, or the row is corrupt).
pub(super) fn digest(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| StoreError::Corrupt(format!("a digest of {} bytes", bytes.len())))
}

fn unsigned<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T, StoreError> {
    T::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} out of range")))
}

pub(super) fn user_from_row(row: &impl StoreRow) -> Result<User, StoreError> {
    let role = row.text("role")?;
    Ok(User {
        id: AgentId::new(row.text("id")?),
        name: row.text("name")?,
        email: row.text("email")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("user role {role}")))?,
        language: row.text("language")?,
        time_zone: row.text("time_zone")?,
        active: row.flag("active")?,
        capacity: unsigned(row.int("capacity")?, "user capacity")?,
        password_hash: row.opt_text("password_hash")?,
        failed_logins: unsigned(row.int("failed_logins")?, "failed logins")?,
        locked_until: row.opt_int("locked_until")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

pub(super) fn team_from_row(row: &impl StoreRow) -> Result<Team, StoreError> {
    let strategy = row.text("strategy")?;
    Ok(Team {
        id: TeamId::new(row.text("id")?),
        name: row.text("name")?,
        description: row.opt_text("description")?,
        strategy: parse_strategy(&strategy)
            .ok_or_else(|| StoreError::Corrupt(format!("team strategy {strategy}")))?,
        offer_timeout_seconds: unsigned(row.int("offer_timeout_seconds")?, "offer timeout")?,
        overflow_team: row.opt_text("overflow_team")?.map(TeamId::new),
        overflow_after_seconds: unsigned(row.int("overflow_after_seconds")?, "overflow after")?,
        max_queue: unsigned(row.int("max_queue")?, "max queue")?,
        private: row.flag("private")?,
        mask_numbers: row.opt_flag("mask_numbers")?,
        business_hours: row.opt_text("business_hours")?,
        sla: match row.opt_text("sla")? {
            Some(text) => super::rows::from_json(&text, "team sla")?,
            None => Vec::new(),
        },
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

/// A row of `contact_fields`.
pub(super) fn contact_field_from_row(
    row: &impl StoreRow,
) -> Result<crate::crm::fields::FieldDefinition, StoreError> {
    let kind = row.text("kind")?;
    Ok(crate::crm::fields::FieldDefinition {
        key: row.text("key")?,
        label: row.text("label")?,
        kind: crate::crm::fields::FieldType::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("contact field type {kind}")))?,
        options: from_json(&row.text("options")?, "contact field options")?,
        description: row.opt_text("description")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

/// A choice's options as stored (a JSON array).
pub(super) fn options_text(options: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(options).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn field_exists(key: &str) -> AccountError {
    AccountError::Conflict(format!("a contact field {key} is already defined"))
}
pub(super) fn no_field(key: &str) -> AccountError {
    AccountError::NotFound(format!("contact field {key}"))
}

/// `user_id, team_id, role` of `memberships`.
pub(super) fn membership_from_row(row: &impl StoreRow) -> Result<Membership, StoreError> {
    let role = row.text("role")?;
    Ok(Membership {
        user: AgentId::new(row.text("user_id")?),
        team: TeamId::new(row.text("team_id")?),
        role: MemberRole::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("membership role {role}")))?,
    })
}

pub(super) fn session_from_row(row: &impl StoreRow) -> Result<Session, StoreError> {
    Ok(Session {
        id: row.text("id")?,
        token_sha256: digest(row.bytes("token_sha256")?)?,
        user: AgentId::new(row.text("user_id")?),
        created_at: row.int("created_at")?,
        expires_at: row.int("expires_at")?,
        last_seen_at: row.int("last_seen_at")?,
        address: row.opt_text("address")?,
        user_agent: row.opt_text("user_agent")?,
    })
}

pub(super) fn api_token_from_row(row: &impl StoreRow) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: row.text("id")?,
        token_sha256: digest(row.bytes("token_sha256")?)?,
        user: AgentId::new(row.text("user_id")?),
        name: row.text("name")?,
        created_at: row.int("created_at")?,
        last_used_at: row.opt_int("last_used_at")?,
        revoked_at: row.opt_int("revoked_at")?,
    })
}

/// A row of `audit_log`, its JSON columns read back as text.
pub(super) fn audit_from_row(row: &impl StoreRow) -> Result<AuditEntry, StoreError> {
    let actor_kind = row.text("actor_kind")?;
    let json = |column: &str| -> Result<Option<Value>, StoreError> {
        row.opt_text(column)?
            .map(|text| from_json(&text, "audit entry"))
            .transpose()
    };
    Ok(AuditEntry {
        id: row.int("id")?,
        at: row.int("at")?,
        actor_kind: ActorKind::parse(&actor_kind)
            .ok_or_else(|| StoreError::Corrupt(format!("audit actor kind {actor_kind}")))?,
        actor: row.opt_text("actor")?,
        token: row.opt_text("token")?,
        action: row.text("action")?,
        target_kind: row.opt_text("target_kind")?,
        target: row.opt_text("target")?,
        before: json("before_json")?,
        after: json("after_json")?,
        address: row.opt_text("address")?,
        user_agent: row.opt_text("user_agent")?,
    })
}

/// The directory in its documented order: users and teams by id, memberships by user then
/// team (the same in both databases, whatever their collations).
pub(super) fn sort_directory(data: &mut DirectoryData) {
    data.users.sort_by(|a, b| a.id.cmp(&b.id));
    data.teams.sort_by(|a, b| a.id.cmp(&b.id));
    data.memberships
        .sort_by(|a, b| (&a.user, &a.team).cmp(&(&b.user, &b.team)));
    data.contact_fields.sort_by(|a, b| a.key.cmp(&b.key));
}

/// The memberships a `save_user` replaces the user's with: each must be the user's, in a
/// different team. (That the teams exist is checked against the store.)
pub(super) fn check_user_memberships(
    user: &AgentId,
    memberships: &[Membership],
) -> Result<(), AccountError> {
    let mut teams = HashSet::new();
    for m in memberships {
        if m.user != *user {
            return Err(AccountError::Conflict(format!(
                "a membership of user {} given with user {user}",
                m.user
            )));
        }
        if !teams.insert(&m.team) {
            return Err(AccountError::Conflict(format!(
                "user {user} is given twice in team {}",
                m.team
            )));
        }
    }
    Ok(())
}

/// The memberships a `save_team` replaces the team's with: each must be the team's, of a
/// different user. (That the users exist is checked against the store.)
pub(super) fn check_team_memberships(
    team: &TeamId,
    memberships: &[Membership],
) -> Result<(), AccountError> {
    let mut users = HashSet::new();
    for m in memberships {
        if m.team != *team {
            return Err(AccountError::Conflict(format!(
                "a membership of team {} given with team {team}",
                m.team
            )));
        }
        if !users.insert(&m.user) {
            return Err(AccountError::Conflict(format!(
                "user {} is given twice in team {team}",
                m.user
            )));
        }
    }
    Ok(())
}

/// Refusals both stores give in the same words.
pub(super) fn user_exists(id: &AgentId) -> AccountError {
    AccountError::Conflict(format!("user {id} already exists"))
}
pub(super) fn no_user(id: &AgentId) -> AccountError {
    AccountError::NotFound(format!("user {id}"))
}
pub(super) fn email_taken() -> AccountError {
    AccountError::Conflict("the email belongs to another user".into())
}
pub(super) fn team_exists(id: &TeamId) -> AccountError {
    AccountError::Conflict(format!("team {id} already exists"))
}
pub(super) fn no_team(id: &TeamId) -> AccountError {
    AccountError::NotFound(format!("team {id}"))
}
pub(super) fn team_busy(id: &TeamId) -> AccountError {
    AccountError::Conflict(format!("team {id} has conversations that are not resolved"))
}
pub(super) fn token_exists(id: &str) -> AccountError {
    AccountError::Conflict(format!("API token {id} (or its digest) already exists"))
}

/// An account method that cannot be refused answers only store errors; a refusal there would
/// be a bug of the store, reported as a conflict.
pub(super) fn store_error(e: AccountError) -> StoreError {
    match e {
        AccountError::Store(e) => e,
        other => StoreError::Conflict(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn membership(user: &str, team: &str) -> Membership {
        Membership {
            user: AgentId::new(user),
            team: TeamId::new(team),
            role: MemberRole::Member,
        }
    }

    #[test]
    fn audit_limit_is_clamped() {
        assert_eq!(audit_limit(i64::MIN), 1);
        assert_eq!(audit_limit(0), 1);
        assert_eq!(audit_limit(1), 1);
        assert_eq!(audit_limit(50), 50);
        assert_eq!(audit_limit(1000), 1000);
        assert_eq!(audit_limit(1001), 1000);
        assert_eq!(audit_limit(i64::MAX), 1000);
    }

    #[test]
    fn an_action_ending_in_a_dot_is_a_prefix() {
        assert_eq!(action_match("user."), ActionMatch::Prefix("user."));
        assert_eq!(action_match("."), ActionMatch::Prefix("."));
        assert_eq!(
            action_match("user.update"),
            ActionMatch::Exact("user.update")
        );
        assert_eq!(action_match("user"), ActionMatch::Exact("user"));
        assert_eq!(action_match(""), ActionMatch::Exact(""));
    }

    #[test]
    fn strategies_round_trip_with_their_serde_names() {
        for strategy in [Strategy::RoundRobin, Strategy::LeastBusy] {
            let s = strategy_str(strategy);
            assert_eq!(parse_strategy(s), Some(strategy));
            assert_eq!(
                serde_json::to_value(strategy).expect("serializes"),
                Value::String(s.into())
            );
        }
        assert_eq!(parse_strategy("random"), None);
    }

    #[test]
    fn digests_are_32_bytes() {
        assert_eq!(digest(vec![7; 32]).expect("a digest"), [7; 32]);
        assert!(matches!(digest(vec![7; 31]), Err(StoreError::Corrupt(_))));
        assert!(matches!(digest(Vec::new()), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn a_user_s_memberships_name_the_user_once_per_team() {
        let ana = AgentId::new("ana");
        assert!(check_user_memberships(&ana, &[]).is_ok());
        assert!(
            check_user_memberships(&ana, &[membership("ana", "a"), membership("ana", "b")]).is_ok()
        );
        assert!(matches!(
            check_user_memberships(&ana, &[membership("bob", "a")]),
            Err(AccountError::Conflict(_))
        ));
        assert!(matches!(
            check_user_memberships(&ana, &[membership("ana", "a"), membership("ana", "a")]),
            Err(AccountError::Conflict(_))
        ));
    }

    #[test]
    fn a_team_s_memberships_name_the_team_once_per_user() {
        let sales = TeamId::new("sales");
        assert!(check_team_memberships(&sales, &[]).is_ok());
        assert!(
            check_team_memberships(
                &sales,
                &[membership("a", "sales"), membership("b", "sales")]
            )
            .is_ok()
        );
        assert!(matches!(
            check_team_memberships(&sales, &[membership("a", "support")]),
            Err(AccountError::Conflict(_))
        ));
        assert!(matches!(
            check_team_memberships(
                &sales,
                &[membership("a", "sales"), membership("a", "sales")]
            ),
            Err(AccountError::Conflict(_))
        ));
    }

    #[test]
    fn numbers_beyond_i64_are_refused() {
        let team = Team {
            id: TeamId::new("t"),
            name: "T".into(),
            description: None,
            strategy: Strategy::LeastBusy,
            offer_timeout_seconds: u64::MAX,
            overflow_team: None,
            overflow_after_seconds: 0,
            max_queue: 10,
            private: false,
            mask_numbers: None,
            business_hours: None,
            sla: Vec::new(),
            created_at: 0,
            updated_at: 0,
        };
        assert!(matches!(TeamValues::of(&team), Err(StoreError::Corrupt(_))));
        let values = TeamValues::of(&Team {
            offer_timeout_seconds: 30,
            ..team
        })
        .expect("fits");
        assert_eq!(values.strategy, "least_busy");
        assert_eq!(values.offer_timeout_seconds, 30);
        assert_eq!(values.max_queue, 10);
    }
}
