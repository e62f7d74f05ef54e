//! The node's copy of the people: users, teams and memberships as of one directory version,
//! indexed for the questions every request asks (who is this user, which teams do they serve
//! or supervise, is this team private, does it mask numbers), and the contact field
//! definitions of that version (every write of a contact checks its values against them). Immutable once built; a newer
//! version replaces it whole ([`Directory::replace`]), so a reader never sees half a change.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use crate::assign::board::{AgentSpec, TeamSpec};
use crate::domain::{AgentId, TeamId};

use crate::crm::fields::FieldDefs;

use super::model::{DirectoryData, MemberRole, Membership, Team, User};
use super::policy::Principal;

/// One version of the directory.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub version: i64,
    users: BTreeMap<AgentId, User>,
    by_email: HashMap<String, AgentId>,
    teams: BTreeMap<TeamId, Team>,
    memberships: Vec<Membership>,
    /// Per user: (teams served, teams supervised), each ascending.
    roles: HashMap<AgentId, (Vec<TeamId>, Vec<TeamId>)>,
    /// Per team: members (ascending), supervisors (ascending).
    people: HashMap<TeamId, (Vec<AgentId>, Vec<AgentId>)>,
    fields: FieldDefs,
}

impl Snapshot {
    pub fn new(data: DirectoryData) -> Snapshot {
        let users: BTreeMap<AgentId, User> =
            data.users.into_iter().map(|u| (u.id.clone(), u)).collect();
        let teams: BTreeMap<TeamId, Team> =
            data.teams.into_iter().map(|t| (t.id.clone(), t)).collect();
        let by_email = users
            .values()
            .map(|u| (u.email.to_lowercase(), u.id.clone()))
            .collect();
        let mut roles: HashMap<AgentId, (Vec<TeamId>, Vec<TeamId>)> = HashMap::new();
        let mut people: HashMap<TeamId, (Vec<AgentId>, Vec<AgentId>)> = HashMap::new();
        let mut memberships = data.memberships;
        memberships.sort();
        memberships.dedup_by(|a, b| a.user == b.user && a.team == b.team);
        memberships.retain(|m| users.contains_key(&m.user) && teams.contains_key(&m.team));
        for m in &memberships {
            let (served, supervised) = roles.entry(m.user.clone()).or_default();
            let (members, supervisors) = people.entry(m.team.clone()).or_default();
            match m.role {
                MemberRole::Member => {
                    served.push(m.team.clone());
                    members.push(m.user.clone());
                }
                MemberRole::Supervisor => {
                    supervised.push(m.team.clone());
                    supervisors.push(m.user.clone());
                }
            }
        }
        for (served, supervised) in roles.values_mut() {
            served.sort();
            supervised.sort();
        }
        for (members, supervisors) in people.values_mut() {
            members.sort();
            supervisors.sort();
        }
        Snapshot {
            version: data.version,
            users,
            by_email,
            teams,
            memberships,
            roles,
            people,
            fields: FieldDefs::new(data.contact_fields),
        }
    }

    /// The contact field definitions in effect.
    pub fn fields(&self) -> &FieldDefs {
        &self.fields
    }

    pub fn user(&self, id: &AgentId) -> Option<&User> {
        self.users.get(id)
    }

    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        self.by_email
            .get(&email.trim().to_lowercase())
            .and_then(|id| self.users.get(id))
    }

    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    pub fn team(&self, id: &TeamId) -> Option<&Team> {
        self.teams.get(id)
    }

    pub fn teams(&self) -> impl Iterator<Item = &Team> {
        self.teams.values()
    }

    pub fn memberships(&self) -> &[Membership] {
        &self.memberships
    }

    /// Teams the user serves (as a member), ascending.
    pub fn teams_of(&self, user: &AgentId) -> &[TeamId] {
        self.roles.get(user).map(|r| r.0.as_slice()).unwrap_or(&[])
    }

    /// Teams the user supervises, ascending.
    pub fn supervised_by(&self, user: &AgentId) -> &[TeamId] {
        self.roles.get(user).map(|r| r.1.as_slice()).unwrap_or(&[])
    }

    /// A team's members, ascending.
    pub fn members_of(&self, team: &TeamId) -> &[AgentId] {
        self.people.get(team).map(|p| p.0.as_slice()).unwrap_or(&[])
    }

    /// A team's supervisors, ascending.
    pub fn supervisors_of(&self, team: &TeamId) -> &[AgentId] {
        self.people.get(team).map(|p| p.1.as_slice()).unwrap_or(&[])
    }

    pub fn team_name(&self, team: &TeamId) -> String {
        self.teams
            .get(team)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| team.to_string())
    }

    pub fn is_private(&self, team: Option<&TeamId>) -> bool {
        team.and_then(|t| self.teams.get(t))
            .is_some_and(|t| t.private)
    }

    /// Whether numbers are masked in conversations of `team` (its own setting, else
    /// `default`).
    pub fn masks_numbers(&self, team: Option<&TeamId>, default: bool) -> bool {
        team.and_then(|t| self.teams.get(t))
            .and_then(|t| t.mask_numbers)
            .unwrap_or(default)
    }

    /// The principal of an active user.
    pub fn principal(&self, user: &AgentId) -> Option<Principal> {
        let u = self.users.get(user).filter(|u| u.active)?;
        Some(Principal {
            user: u.id.clone(),
            role: u.role,
            member_of: self.teams_of(user).to_vec(),
            supervises: self.supervised_by(user).to_vec(),
        })
    }

    /// The assignment state's view: every team; every active user as an agent of the teams
    /// they serve (inactive users are absent: the state takes them offline).
    pub fn specs(&self) -> (Vec<TeamSpec>, Vec<AgentSpec>) {
        let teams = self
            .teams
            .values()
            .map(|t| TeamSpec {
                id: t.id.clone(),
                strategy: t.strategy,
                offers: t.offer_timeout_seconds > 0,
                max_queue: t.max_queue,
            })
            .collect();
        let agents = self
            .users
            .values()
            .filter(|u| u.active)
            .map(|u| AgentSpec {
                id: u.id.clone(),
                teams: self.teams_of(&u.id).to_vec(),
                capacity: u.capacity,
            })
            .collect();
        (teams, agents)
    }
}

/// The current snapshot, shared by every worker of the node.
#[derive(Debug, Default)]
pub struct Directory {
    current: RwLock<Arc<Snapshot>>,
}

impl Directory {
    pub fn new(snapshot: Snapshot) -> Directory {
        Directory {
            current: RwLock::new(Arc::new(snapshot)),
        }
    }

    /// The current snapshot (a pointer copy under a lock held for nanoseconds).
    pub fn get(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn version(&self) -> i64 {
        self.get().version
    }

    /// Install `snapshot` if it is newer than the current one; answers whether it did.
    pub fn replace(&self, snapshot: Snapshot) -> bool {
        let mut guard = match self.current.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if snapshot.version <= guard.version && guard.version != 0 {
            return false;
        }
        *guard = Arc::new(snapshot);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::model::Role;
    use crate::assign::Strategy;

    fn user(id: &str, role: Role, active: bool) -> User {
        User {
            id: AgentId::new(id),
            name: id.to_uppercase(),
            email: format!("{id}@Example.com"),
            role,
            language: "en".into(),
            time_zone: "UTC".into(),
            active,
            capacity: 2,
            password_hash: None,
            failed_logins: 0,
            locked_until: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn team(id: &str, private: bool, mask: Option<bool>) -> Team {
        Team {
            id: TeamId::new(id),
            name: format!("Team {id}"),
            description: None,
            strategy: Strategy::LeastBusy,
            offer_timeout_seconds: 30,
            overflow_team: None,
            overflow_after_seconds: 0,
            max_queue: 10,
            private,
            mask_numbers: mask,
            business_hours: None,
            sla: Vec::new(),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn member(user: &str, team: &str, role: MemberRole) -> Membership {
        Membership {
            user: AgentId::new(user),
            team: TeamId::new(team),
            role,
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot::new(DirectoryData {
            version: 7,
            users: vec![
                user("ann", Role::Agent, true),
                user("sue", Role::Supervisor, true),
                user("old", Role::Agent, false),
            ],
            teams: vec![team("a", false, None), team("b", true, Some(true))],
            memberships: vec![
                member("ann", "b", MemberRole::Member),
                member("ann", "a", MemberRole::Member),
                member("sue", "b", MemberRole::Supervisor),
                member("old", "a", MemberRole::Member),
                // Unknown people and teams are dropped.
                member("ghost", "a", MemberRole::Member),
                member("ann", "zzz", MemberRole::Member),
            ],
            contact_fields: Vec::new(),
        })
    }

    #[test]
    fn indexes_people_and_teams() {
        let s = snapshot();
        assert_eq!(
            s.teams_of(&AgentId::new("ann")),
            [TeamId::new("a"), TeamId::new("b")]
        );
        assert_eq!(s.supervised_by(&AgentId::new("sue")), [TeamId::new("b")]);
        assert_eq!(
            s.members_of(&TeamId::new("a")),
            [AgentId::new("ann"), AgentId::new("old")]
        );
        assert_eq!(s.supervisors_of(&TeamId::new("b")), [AgentId::new("sue")]);
        assert_eq!(
            s.user_by_email(" ANN@example.com").map(|u| u.id.as_str()),
            Some("ann")
        );
        assert!(s.is_private(Some(&TeamId::new("b"))));
        assert!(!s.is_private(None));
        assert!(s.masks_numbers(Some(&TeamId::new("b")), false));
        assert!(!s.masks_numbers(Some(&TeamId::new("a")), false));
        assert!(s.masks_numbers(Some(&TeamId::new("a")), true));
    }

    #[test]
    fn principals_are_active_users_only() {
        let s = snapshot();
        let ann = s.principal(&AgentId::new("ann")).expect("ann");
        assert_eq!(ann.role, Role::Agent);
        assert_eq!(ann.member_of.len(), 2);
        assert!(s.principal(&AgentId::new("old")).is_none());
        assert!(s.principal(&AgentId::new("ghost")).is_none());
    }

    #[test]
    fn the_assignment_state_sees_active_members() {
        let (teams, agents) = snapshot().specs();
        assert_eq!(teams.len(), 2);
        assert!(teams.iter().all(|t| t.offers && t.max_queue == 10));
        let ids: Vec<&str> = agents.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["ann", "sue"], "the inactive user is absent");
        assert!(agents[1].teams.is_empty(), "supervising is not serving");
    }

    #[test]
    fn only_a_newer_version_replaces_the_current_one() {
        let directory = Directory::new(snapshot());
        assert!(!directory.replace(Snapshot::new(DirectoryData {
            version: 6,
            ..DirectoryData::default()
        })));
        assert_eq!(directory.version(), 7);
        assert!(directory.replace(Snapshot::new(DirectoryData {
            version: 8,
            ..DirectoryData::default()
        })));
        assert_eq!(directory.version(), 8);
    }
}
