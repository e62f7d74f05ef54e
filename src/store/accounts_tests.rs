//! The [`AccountStore`] suite, written once against `dyn Store` and run against both backends
//! (`accounts_suite!` below makes one test per case and backend, on a fresh database each).

use std::sync::Arc;

use serde_json::json;

use super::tests::{postgres, sqlite};
use super::*;
use crate::accounts::model::{
    ActorKind, ApiToken, AuditEntry, AuditFilter, DirectoryData, MemberRole, Membership,
    ResetToken, Role, Session, Team, User,
};
use crate::assign::Strategy;
use crate::domain::{ChannelId, ConversationKey, CustomerId};

// ---- fixtures ----

fn user(id: &str) -> User {
    User {
        id: AgentId::new(id),
        name: format!("User {id}"),
        email: format!("{id}@example.com"),
        role: Role::Agent,
        language: "en".into(),
        time_zone: "Europe/Madrid".into(),
        active: true,
        capacity: 3,
        password_hash: None,
        failed_logins: 0,
        locked_until: None,
        created_at: 1_000,
        updated_at: 1_000,
    }
}

fn team(id: &str) -> Team {
    Team {
        id: TeamId::new(id),
        name: format!("Team {id}"),
        description: None,
        strategy: Strategy::RoundRobin,
        offer_timeout_seconds: 0,
        overflow_team: None,
        overflow_after_seconds: 0,
        max_queue: 100,
        private: false,
        mask_numbers: None,
        business_hours: None,
        sla: Vec::new(),
        created_at: 1_000,
        updated_at: 1_000,
    }
}

fn member(user: &str, team: &str, role: MemberRole) -> Membership {
    Membership {
        user: AgentId::new(user),
        team: TeamId::new(team),
        role,
    }
}

fn entry(action: &str, at: i64, actor: Option<&str>) -> AuditEntry {
    AuditEntry {
        id: 0,
        at,
        actor_kind: if actor.is_some() {
            ActorKind::User
        } else {
            ActorKind::System
        },
        actor: actor.map(str::to_string),
        token: None,
        action: action.into(),
        target_kind: None,
        target: None,
        before: None,
        after: None,
        address: None,
        user_agent: None,
    }
}

fn digest(byte: u8) -> [u8; 32] {
    let mut d = [byte; 32];
    d[0] = 0xA5;
    d
}

fn session(id: &str, byte: u8, user: &str, expires_at: i64, last_seen_at: i64) -> Session {
    Session {
        id: id.into(),
        token_sha256: digest(byte),
        user: AgentId::new(user),
        created_at: 100 + i64::from(byte),
        expires_at,
        last_seen_at,
        address: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0".into()),
    }
}

fn api_token(id: &str, byte: u8, user: &str, created_at: i64) -> ApiToken {
    ApiToken {
        id: id.into(),
        token_sha256: digest(byte),
        user: AgentId::new(user),
        name: format!("token {id}"),
        created_at,
        last_used_at: None,
        revoked_at: None,
    }
}

fn reset(byte: u8, user: &str, expires_at: i64) -> ResetToken {
    ResetToken {
        token_sha256: digest(byte),
        user: AgentId::new(user),
        created_at: 10,
        expires_at,
    }
}

/// Every audit entry, newest first.
async fn audit_log(store: &dyn Store) -> Vec<AuditEntry> {
    store
        .audit_entries(&AuditFilter {
            limit: 1000,
            ..AuditFilter::default()
        })
        .await
        .expect("audit entries")
}

fn actions(entries: &[AuditEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.action.as_str()).collect()
}

fn is_conflict<T: std::fmt::Debug>(result: Result<T, AccountError>) -> bool {
    matches!(result, Err(AccountError::Conflict(_)))
}

fn is_not_found<T: std::fmt::Debug>(result: Result<T, AccountError>) -> bool {
    matches!(result, Err(AccountError::NotFound(_)))
}

/// A conversation of `team` in `status`, written through the conversation API.
async fn conversation_in(
    store: &dyn Store,
    team: &str,
    status: ConversationStatus,
) -> ConversationRecord {
    let channel = ChannelId::new("support");
    let customer = CustomerId::new("34600000001");
    let mut c = ConversationRecord::new(
        ConversationKey::new(&channel, &customer),
        channel,
        customer,
        1_000,
    );
    c.status = status;
    c.team = Some(TeamId::new(team));
    store
        .commit_step(ConversationStep::update(c.clone()))
        .await
        .expect("the conversation is stored");
    c.version = 1;
    c
}

// ---- the cases ----

/// Every field of users, teams and memberships comes back as written; each change bumps the
/// version by one, and the directory is sorted.
pub(crate) async fn the_directory_round_trips_and_each_change_bumps_its_version(
    store: Arc<dyn Store>,
) {
    let store = store.as_ref();
    assert_eq!(
        store.directory().await.expect("directory"),
        DirectoryData::default()
    );
    assert_eq!(store.directory_version().await.expect("version"), 0);

    let mut sales = team("sales");
    sales.description = Some("Sales, all of Spain".into());
    sales.strategy = Strategy::LeastBusy;
    sales.offer_timeout_seconds = 30;
    sales.overflow_team = Some(TeamId::new("support"));
    sales.overflow_after_seconds = 600;
    sales.max_queue = 25;
    sales.private = true;
    sales.mask_numbers = Some(false);
    sales.business_hours = Some("madrid".into());
    sales.sla = vec![
        crate::accounts::model::TeamSlaPolicy {
            priority: Some(10),
            first_response_seconds: Some(60),
            next_response_seconds: Some(300),
            resolution_seconds: None,
            business_hours: true,
        },
        crate::accounts::model::TeamSlaPolicy {
            priority: None,
            resolution_seconds: Some(86_400),
            ..Default::default()
        },
    ];
    let support = team("support");
    assert_eq!(
        store
            .save_team(&sales, true, None, None)
            .await
            .expect("saved"),
        1
    );
    assert_eq!(
        store
            .save_team(&support, true, None, None)
            .await
            .expect("saved"),
        2
    );

    let mut bea = user("bea");
    bea.role = Role::Admin;
    bea.language = "es".into();
    bea.time_zone = "Atlantic/Canary".into();
    bea.capacity = 7;
    bea.password_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
    bea.failed_logins = 2;
    bea.locked_until = Some(9_999);
    bea.updated_at = 2_000;
    let ana = user("ana");
    let bea_teams = [
        member("bea", "sales", MemberRole::Supervisor),
        member("bea", "support", MemberRole::Member),
    ];
    assert_eq!(
        store
            .save_user(&bea, true, Some(&bea_teams), None)
            .await
            .expect("saved"),
        3
    );
    assert_eq!(
        store
            .save_user(
                &ana,
                true,
                Some(&[member("ana", "support", MemberRole::Member)]),
                None
            )
            .await
            .expect("saved"),
        4
    );
    let directory = store.directory().await.expect("directory");
    assert_eq!(
        directory,
        DirectoryData {
            version: 4,
            users: vec![ana.clone(), bea.clone()],
            teams: vec![sales.clone(), support.clone()],
            memberships: vec![
                member("ana", "support", MemberRole::Member),
                member("bea", "sales", MemberRole::Supervisor),
                member("bea", "support", MemberRole::Member),
            ],
            contact_fields: Vec::new(),
        }
    );
    assert_eq!(store.directory_version().await.expect("version"), 4);

    // Replacing a user without memberships keeps them; with, replaces all of them.
    let mut bea2 = bea.clone();
    bea2.name = "Beatriz".into();
    bea2.email = "beatriz@example.com".into();
    bea2.active = false;
    bea2.password_hash = None;
    bea2.locked_until = None;
    assert_eq!(
        store
            .save_user(&bea2, false, None, None)
            .await
            .expect("saved"),
        5
    );
    let directory = store.directory().await.expect("directory");
    assert_eq!(directory.users, vec![ana.clone(), bea2.clone()]);
    assert_eq!(directory.memberships.len(), 3);
    assert_eq!(
        store
            .save_user(
                &bea2,
                false,
                Some(&[member("bea", "support", MemberRole::Supervisor)]),
                None
            )
            .await
            .expect("saved"),
        6
    );
    assert_eq!(
        store.directory().await.expect("directory").memberships,
        vec![
            member("ana", "support", MemberRole::Member),
            member("bea", "support", MemberRole::Supervisor),
        ]
    );
    // An empty list: the user is in no team.
    assert_eq!(
        store
            .save_user(&bea2, false, Some(&[]), None)
            .await
            .expect("saved"),
        7
    );
    assert_eq!(
        store.directory().await.expect("directory").memberships,
        vec![member("ana", "support", MemberRole::Member)]
    );

    // A team's memberships are replaced the same way, and its fields.
    let mut support2 = support.clone();
    support2.mask_numbers = Some(true);
    support2.name = "Support desk".into();
    assert_eq!(
        store
            .save_team(
                &support2,
                false,
                Some(&[
                    member("bea", "support", MemberRole::Member),
                    member("ana", "support", MemberRole::Supervisor),
                ]),
                None,
            )
            .await
            .expect("saved"),
        8
    );
    assert_eq!(
        store
            .save_team(&sales, false, None, None)
            .await
            .expect("saved"),
        9
    );
    let directory = store.directory().await.expect("directory");
    assert_eq!(
        directory,
        DirectoryData {
            version: 9,
            users: vec![ana, bea2],
            teams: vec![sales, support2],
            memberships: vec![
                member("ana", "support", MemberRole::Supervisor),
                member("bea", "support", MemberRole::Member),
            ],
            contact_fields: Vec::new(),
        }
    );
}

/// A refused change writes nothing: not the change, not the version, not its audit entry.
pub(crate) async fn conflicts_change_nothing(store: Arc<dyn Store>) {
    let store = store.as_ref();
    store
        .save_team(&team("sales"), true, None, None)
        .await
        .expect("saved");
    store
        .save_user(
            &user("ana"),
            true,
            None,
            Some(&entry("user.create", 1, None)),
        )
        .await
        .expect("saved");
    store
        .save_user(&user("bea"), true, None, None)
        .await
        .expect("saved");
    let before = store.directory().await.expect("directory");
    assert_eq!(before.version, 3);
    let audit = Some(entry("refused", 2, Some("admin")));
    let audit = audit.as_ref();

    // Users.
    let mut twin = user("ana");
    twin.email = "someone-else@example.com".into();
    assert!(
        is_conflict(store.save_user(&twin, true, None, audit).await),
        "the id is taken"
    );
    let mut copycat = user("carla");
    copycat.email = "bea@example.com".into();
    assert!(
        is_conflict(store.save_user(&copycat, true, None, audit).await),
        "the email is taken"
    );
    assert!(is_not_found(
        store.save_user(&user("dora"), false, None, audit).await
    ));
    let mut ana = user("ana");
    ana.email = "bea@example.com".into();
    assert!(
        is_conflict(store.save_user(&ana, false, None, audit).await),
        "another's email"
    );
    // Memberships: a team that does not exist, another user's, the same team twice.
    let ana = user("ana");
    assert!(is_not_found(
        store
            .save_user(
                &ana,
                false,
                Some(&[member("ana", "ghosts", MemberRole::Member)]),
                audit
            )
            .await
    ));
    assert!(is_conflict(
        store
            .save_user(
                &ana,
                false,
                Some(&[member("bea", "sales", MemberRole::Member)]),
                audit
            )
            .await
    ));
    assert!(is_conflict(
        store
            .save_user(
                &ana,
                false,
                Some(&[
                    member("ana", "sales", MemberRole::Member),
                    member("ana", "sales", MemberRole::Supervisor),
                ]),
                audit,
            )
            .await
    ));
    // A new user refused for a membership is not created either.
    assert!(is_not_found(
        store
            .save_user(
                &user("erik"),
                true,
                Some(&[member("erik", "ghosts", MemberRole::Member)]),
                audit,
            )
            .await
    ));

    // Teams.
    assert!(is_conflict(
        store.save_team(&team("sales"), true, None, audit).await
    ));
    assert!(is_not_found(
        store.save_team(&team("support"), false, None, audit).await
    ));
    assert!(is_not_found(
        store
            .save_team(
                &team("sales"),
                false,
                Some(&[member("nobody", "sales", MemberRole::Member)]),
                audit,
            )
            .await
    ));
    assert!(is_conflict(
        store
            .save_team(
                &team("sales"),
                false,
                Some(&[member("ana", "support", MemberRole::Member)]),
                audit,
            )
            .await
    ));
    assert!(is_not_found(
        store.delete_team(&TeamId::new("support"), audit).await
    ));

    assert_eq!(store.directory().await.expect("directory"), before);
    assert_eq!(store.directory_version().await.expect("version"), 3);
    assert_eq!(actions(&audit_log(store).await), ["user.create"]);

    // The store still takes changes, and counts on from where it was.
    assert_eq!(
        store
            .save_user(&user("carla"), true, None, audit)
            .await
            .expect("saved"),
        4
    );
    assert_eq!(actions(&audit_log(store).await), ["refused", "user.create"]);
}

/// A change and its audit entry are written together; the entry comes back whole.
pub(crate) async fn audit_entries_travel_with_their_changes(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let mut create = entry("team.create", 10, Some("admin"));
    create.target_kind = Some("team".into());
    create.target = Some("sales".into());
    create.after = Some(json!({"id": "sales", "members": ["ana"], "nested": {"n": 1.5}}));
    create.address = Some("198.51.100.4".into());
    create.user_agent = Some("curl/8".into());
    store
        .save_user(&user("ana"), true, None, None)
        .await
        .expect("saved");
    store
        .save_team(
            &team("sales"),
            true,
            Some(&[member("ana", "sales", MemberRole::Member)]),
            Some(&create),
        )
        .await
        .expect("saved");
    let mut update = entry("user.update", 20, Some("admin"));
    update.actor_kind = ActorKind::Token;
    update.token = Some("tok-1".into());
    update.before = Some(json!({"name": "User ana"}));
    update.after = Some(json!({"name": "Ana \u{0000} Pérez"}));
    let mut ana = user("ana");
    ana.name = "Ana Pérez".into();
    store
        .save_user(&ana, false, None, Some(&update))
        .await
        .expect("saved");
    store
        .delete_team(
            &TeamId::new("sales"),
            Some(&entry("team.delete", 30, Some("admin"))),
        )
        .await
        .expect("deleted");

    let log = audit_log(store).await;
    assert_eq!(actions(&log), ["team.delete", "user.update", "team.create"]);
    assert!(log[0].id > log[1].id && log[1].id > log[2].id);
    assert_eq!(
        log[1],
        AuditEntry {
            id: log[1].id,
            ..update
        }
    );
    assert_eq!(
        log[2],
        AuditEntry {
            id: log[2].id,
            ..create
        }
    );
}

/// A team is not deleted while a conversation of it is open; once it is resolved, the team
/// goes with its memberships.
pub(crate) async fn a_team_with_open_conversations_is_not_deleted(store: Arc<dyn Store>) {
    let store = store.as_ref();
    store
        .save_user(&user("ana"), true, None, None)
        .await
        .expect("saved");
    for id in ["sales", "support"] {
        store
            .save_team(
                &team(id),
                true,
                Some(&[member("ana", id, MemberRole::Member)]),
                None,
            )
            .await
            .expect("saved");
    }
    let mut c = conversation_in(store, "sales", ConversationStatus::Waiting).await;
    let before = store.directory().await.expect("directory");
    let sales = TeamId::new("sales");
    assert!(is_conflict(
        store
            .delete_team(&sales, Some(&entry("team.delete", 1, Some("admin"))))
            .await
    ));
    assert_eq!(store.directory().await.expect("directory"), before);
    assert!(audit_log(store).await.is_empty());

    c.status = ConversationStatus::Resolved;
    store
        .commit_step(ConversationStep::update(c))
        .await
        .expect("resolved");
    assert_eq!(
        store
            .delete_team(&sales, Some(&entry("team.delete", 2, Some("admin"))))
            .await
            .expect("deleted"),
        before.version + 1
    );
    let after = store.directory().await.expect("directory");
    assert_eq!(after.teams, vec![team("support")]);
    assert_eq!(
        after.memberships,
        vec![member("ana", "support", MemberRole::Member)]
    );
    assert_eq!(actions(&audit_log(store).await), ["team.delete"]);
    assert!(is_not_found(store.delete_team(&sales, None).await));
}

/// An empty store is seeded once, at version 1 at least, with the people and their tokens.
pub(crate) async fn an_empty_store_is_seeded_once(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let data = DirectoryData {
        version: 0,
        users: vec![user("ana"), user("bea")],
        teams: vec![team("sales")],
        memberships: vec![
            member("ana", "sales", MemberRole::Member),
            member("bea", "sales", MemberRole::Supervisor),
        ],
        contact_fields: Vec::new(),
    };
    let tokens = vec![api_token("tok-a", 1, "ana", 50)];
    assert!(
        store
            .seed(data.clone(), tokens.clone())
            .await
            .expect("seeded")
    );
    assert_eq!(
        store.directory().await.expect("directory"),
        DirectoryData {
            version: 1,
            ..data.clone()
        }
    );
    assert_eq!(
        store.api_token(&digest(1)).await.expect("token"),
        Some(tokens[0].clone())
    );

    let other = DirectoryData {
        version: 9,
        users: vec![user("zoe")],
        ..DirectoryData::default()
    };
    assert!(!store.seed(other, Vec::new()).await.expect("not seeded"));
    assert_eq!(
        store.directory().await.expect("directory"),
        DirectoryData { version: 1, ..data }
    );
}

/// A store with only a team is not empty: it is not seeded.
pub(crate) async fn a_store_with_only_a_team_is_not_seeded(store: Arc<dyn Store>) {
    let store = store.as_ref();
    store
        .save_team(&team("sales"), true, None, None)
        .await
        .expect("saved");
    let data = DirectoryData {
        version: 7,
        users: vec![user("ana")],
        ..DirectoryData::default()
    };
    assert!(!store.seed(data, Vec::new()).await.expect("not seeded"));
    let directory = store.directory().await.expect("directory");
    assert!(directory.users.is_empty());
    assert_eq!(directory.version, 1);
}

pub(crate) async fn a_seed_keeps_a_later_version(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let data = DirectoryData {
        version: 7,
        users: vec![user("ana")],
        ..DirectoryData::default()
    };
    assert!(store.seed(data.clone(), Vec::new()).await.expect("seeded"));
    assert_eq!(store.directory().await.expect("directory"), data);
    assert_eq!(store.directory_version().await.expect("version"), 7);
}

/// Login state is written without a version bump.
pub(crate) async fn login_state_leaves_the_version_alone(store: Arc<dyn Store>) {
    let store = store.as_ref();
    store
        .save_user(&user("ana"), true, None, None)
        .await
        .expect("saved");
    let ana = AgentId::new("ana");
    store
        .set_login_state(&ana, 3, Some(60_000))
        .await
        .expect("written");
    let directory = store.directory().await.expect("directory");
    assert_eq!(directory.version, 1);
    assert_eq!(directory.users[0].failed_logins, 3);
    assert_eq!(directory.users[0].locked_until, Some(60_000));
    store.set_login_state(&ana, 0, None).await.expect("written");
    assert_eq!(
        store.directory().await.expect("directory"),
        DirectoryData {
            version: 1,
            users: vec![user("ana")],
            ..DirectoryData::default()
        }
    );
    // Someone unknown: nothing to write.
    store
        .set_login_state(&AgentId::new("nobody"), 1, None)
        .await
        .expect("nothing");
}

/// Sessions are found by digest, touched, listed, deleted, and pruned by absolute expiry and
/// by idleness.
pub(crate) async fn sessions_are_found_touched_and_pruned(store: Arc<dyn Store>) {
    let store = store.as_ref();
    for id in ["ana", "bea"] {
        store
            .save_user(&user(id), true, None, None)
            .await
            .expect("saved");
    }
    let ana = AgentId::new("ana");
    let idle = session("s-idle", 1, "ana", 10_000, 1_000);
    let expired = session("s-expired", 2, "ana", 5_000, 4_900);
    let mut active = session("s-active", 3, "ana", 20_000, 500);
    let bea = session("s-bea", 4, "bea", 20_000, 5_000);
    for s in [&idle, &expired, &active, &bea] {
        store.create_session(s).await.expect("created");
    }
    assert!(store.create_session(&idle).await.is_err(), "one id, once");
    assert_eq!(
        store.session(&digest(1)).await.expect("session"),
        Some(idle.clone())
    );
    assert_eq!(store.session(&digest(99)).await.expect("session"), None);

    store
        .touch_session("s-active", 3_000)
        .await
        .expect("touched");
    active.last_seen_at = 3_000;
    assert_eq!(
        store.session(&digest(3)).await.expect("session"),
        Some(active.clone())
    );

    // At 6 000 with a 4 000 idle timeout: `expired` is over, `idle` unused since 1 000.
    assert_eq!(store.prune_sessions(6_000, 2_000).await.expect("pruned"), 2);
    assert_eq!(
        store.sessions_of(&ana).await.expect("sessions"),
        vec![active.clone()]
    );
    assert_eq!(store.session(&digest(2)).await.expect("session"), None);
    assert_eq!(store.prune_sessions(6_000, 2_000).await.expect("pruned"), 0);

    assert!(store.delete_session("s-active").await.expect("deleted"));
    assert!(!store.delete_session("s-active").await.expect("gone"));
    store
        .create_session(&session("s-bea-2", 5, "bea", 20_000, 5_000))
        .await
        .expect("created");
    assert_eq!(
        store
            .delete_sessions_of(&AgentId::new("bea"))
            .await
            .expect("deleted"),
        2
    );
    assert!(
        store
            .sessions_of(&AgentId::new("bea"))
            .await
            .expect("sessions")
            .is_empty()
    );
    assert!(store.sessions_of(&ana).await.expect("sessions").is_empty());
}

/// Personal tokens are created with their audit entry, listed newest first, touched, and
/// revoked once.
pub(crate) async fn api_tokens_are_listed_touched_and_revoked_once(store: Arc<dyn Store>) {
    let store = store.as_ref();
    for id in ["ana", "bea"] {
        store
            .save_user(&user(id), true, None, None)
            .await
            .expect("saved");
    }
    let first = api_token("tok-1", 1, "ana", 100);
    let second = api_token("tok-2", 2, "ana", 200);
    let beas = api_token("tok-3", 3, "bea", 150);
    for t in [&first, &second, &beas] {
        store
            .create_api_token(t, Some(&entry("token.create", t.created_at, Some("ana"))))
            .await
            .expect("created");
    }
    let log_before = audit_log(store).await;
    assert_eq!(log_before.len(), 3);
    let mut twin = api_token("tok-1", 9, "ana", 300);
    assert!(is_conflict(
        store
            .create_api_token(&twin, Some(&entry("token.create", 300, Some("ana"))))
            .await
    ));
    twin.id = "tok-9".into();
    twin.token_sha256 = digest(2);
    assert!(
        is_conflict(store.create_api_token(&twin, None).await),
        "one digest, once"
    );
    assert!(is_not_found(
        store
            .create_api_token(
                &api_token("tok-8", 8, "nobody", 1),
                Some(&entry("x", 1, None))
            )
            .await
    ));
    assert_eq!(audit_log(store).await, log_before);

    assert_eq!(
        store.api_token(&digest(1)).await.expect("token"),
        Some(first.clone())
    );
    assert_eq!(store.api_token(&digest(9)).await.expect("token"), None);
    assert_eq!(
        store
            .api_tokens(Some(&AgentId::new("ana")))
            .await
            .expect("tokens"),
        vec![second.clone(), first.clone()]
    );
    assert_eq!(
        store.api_tokens(None).await.expect("tokens"),
        vec![second.clone(), beas.clone(), first.clone()]
    );

    store.touch_api_token("tok-1", 400).await.expect("touched");
    let revoke = entry("token.revoke", 500, Some("ana"));
    assert!(
        store
            .revoke_api_token("tok-1", 500, Some(&revoke))
            .await
            .expect("revoked")
    );
    assert!(
        !store
            .revoke_api_token("tok-1", 600, Some(&revoke))
            .await
            .expect("already revoked")
    );
    assert!(
        !store
            .revoke_api_token("tok-unknown", 600, Some(&revoke))
            .await
            .expect("unknown")
    );
    assert_eq!(
        store.api_token(&digest(1)).await.expect("token"),
        Some(ApiToken {
            last_used_at: Some(400),
            revoked_at: Some(500),
            ..first
        }),
        "a revoked token is still found (and refused by its caller)"
    );
    let log = audit_log(store).await;
    assert_eq!(log.len(), 4, "one revoke entry, for the one revoke");
    assert_eq!(log[0].action, "token.revoke");
}

/// A one-time token works once, before it expires; a new one replaces the user's earlier one.
pub(crate) async fn reset_tokens_work_once_before_they_expire(store: Arc<dyn Store>) {
    let store = store.as_ref();
    for id in ["ana", "bea"] {
        store
            .save_user(&user(id), true, None, None)
            .await
            .expect("saved");
    }
    let ana = AgentId::new("ana");
    store
        .create_reset_token(
            &reset(1, "ana", 10_000),
            Some(&entry("user.invite", 10, Some("admin"))),
        )
        .await
        .expect("created");
    store
        .create_reset_token(
            &reset(2, "ana", 10_000),
            Some(&entry("user.reset", 20, Some("admin"))),
        )
        .await
        .expect("created");
    assert_eq!(
        actions(&audit_log(store).await),
        ["user.reset", "user.invite"]
    );
    assert_eq!(
        store
            .take_reset_token(&digest(1), 5_000)
            .await
            .expect("taken"),
        None,
        "replaced by the later one"
    );
    // Two uses at once: one winner.
    let two = digest(2);
    let (a, b) = tokio::join!(
        store.take_reset_token(&two, 5_000),
        store.take_reset_token(&two, 5_000)
    );
    let mut winners = [a.expect("taken"), b.expect("taken")];
    winners.sort();
    assert_eq!(winners, [None, Some(ana.clone())]);
    assert_eq!(
        store
            .take_reset_token(&digest(2), 5_000)
            .await
            .expect("taken"),
        None
    );

    // Expired at its expiry time, and gone after.
    store
        .create_reset_token(&reset(3, "bea", 1_000), None)
        .await
        .expect("created");
    assert_eq!(
        store
            .take_reset_token(&digest(3), 1_000)
            .await
            .expect("taken"),
        None
    );
    assert_eq!(
        store
            .take_reset_token(&digest(3), 500)
            .await
            .expect("taken"),
        None,
        "an expired token is deleted when tried"
    );
    store
        .create_reset_token(&reset(4, "bea", 1_000), None)
        .await
        .expect("created");
    assert_eq!(
        store
            .take_reset_token(&digest(4), 999)
            .await
            .expect("taken"),
        Some(AgentId::new("bea"))
    );
}

/// The audit log lists newest first, by actor, by action (exact, or a prefix ending in `.`),
/// by time (from inclusive, to exclusive), page by page; retention prunes by age, and ids are
/// never reused.
pub(crate) async fn the_audit_log_filters_pages_and_prunes(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let appended = [
        ("login.success", 100, Some("ana")),
        ("user.create", 200, Some("ana")),
        ("user.update", 300, Some("bea")),
        ("users.export", 400, Some("ana")),
        ("user", 500, None),
        ("a_b.c", 600, Some("bea")),
        ("axb.c", 700, Some("bea")),
        ("user.update", 800, Some("ana")),
    ];
    let mut ids = Vec::new();
    for (action, at, actor) in appended {
        ids.push(
            store
                .append_audit(&entry(action, at, actor))
                .await
                .expect("appended"),
        );
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");

    let list = |filter: AuditFilter| async move {
        store
            .audit_entries(&filter)
            .await
            .expect("entries")
            .iter()
            .map(|e| e.at)
            .collect::<Vec<_>>()
    };
    let all = AuditFilter {
        limit: 100,
        ..AuditFilter::default()
    };
    assert_eq!(
        list(all.clone()).await,
        [800, 700, 600, 500, 400, 300, 200, 100]
    );
    assert_eq!(
        list(AuditFilter {
            actor: Some("ana".into()),
            ..all.clone()
        })
        .await,
        [800, 400, 200, 100]
    );
    assert_eq!(
        list(AuditFilter {
            action: Some("user.update".into()),
            ..all.clone()
        })
        .await,
        [800, 300]
    );
    assert_eq!(
        list(AuditFilter {
            action: Some("user.".into()),
            ..all.clone()
        })
        .await,
        [800, 300, 200],
        "a prefix: not `user`, not `users.export`"
    );
    assert_eq!(
        list(AuditFilter {
            action: Some("a_b.".into()),
            ..all.clone()
        })
        .await,
        [600],
        "`_` is a plain character"
    );
    assert_eq!(
        list(AuditFilter {
            action: Some("user".into()),
            ..all.clone()
        })
        .await,
        [500]
    );
    assert_eq!(
        list(AuditFilter {
            from: Some(300),
            to: Some(700),
            ..all.clone()
        })
        .await,
        [600, 500, 400, 300]
    );
    assert_eq!(
        list(AuditFilter {
            actor: Some("ana".into()),
            action: Some("user.".into()),
            from: Some(200),
            ..all.clone()
        })
        .await,
        [800, 200]
    );

    // Pages of three.
    let page = |before_id: Option<i64>| async move {
        store
            .audit_entries(&AuditFilter {
                before_id,
                limit: 3,
                ..AuditFilter::default()
            })
            .await
            .expect("entries")
    };
    let first = page(None).await;
    assert_eq!(
        first.iter().map(|e| e.at).collect::<Vec<_>>(),
        [800, 700, 600]
    );
    let second = page(first.last().map(|e| e.id)).await;
    assert_eq!(
        second.iter().map(|e| e.at).collect::<Vec<_>>(),
        [500, 400, 300]
    );
    let third = page(second.last().map(|e| e.id)).await;
    assert_eq!(third.iter().map(|e| e.at).collect::<Vec<_>>(), [200, 100]);
    assert!(page(third.last().map(|e| e.id)).await.is_empty());
    // A limit below 1 lists one.
    for limit in [0, -5] {
        assert_eq!(
            list(AuditFilter {
                limit,
                ..AuditFilter::default()
            })
            .await,
            [800]
        );
    }

    // Retention: older than 450 goes; later ids are new ones.
    assert_eq!(store.prune_audit(450).await.expect("pruned"), 4);
    assert_eq!(list(all.clone()).await, [800, 700, 600, 500]);
    assert_eq!(store.prune_audit(450).await.expect("pruned"), 0);
    let newest = ids.iter().max().copied().unwrap_or_default();
    assert!(
        store
            .append_audit(&entry("later", 900, None))
            .await
            .expect("appended")
            > newest
    );
}

/// Changes made at once take turns: each gets its own version, and of two users with one
/// email, one is created.
pub(crate) async fn concurrent_changes_take_turns(store: Arc<dyn Store>) {
    let saves = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut u = user(&format!("u{i}"));
            if i >= 6 {
                u.email = "shared@example.com".into();
            }
            store
                .save_user(&u, true, None, Some(&entry("user.create", i, None)))
                .await
        })
    });
    let mut versions = Vec::new();
    let mut conflicts = 0;
    for save in futures::future::join_all(saves).await {
        match save.expect("the task ran") {
            Ok(version) => versions.push(version),
            Err(AccountError::Conflict(_)) => conflicts += 1,
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=7).collect::<Vec<i64>>());
    assert_eq!(conflicts, 1);
    let directory = store.directory().await.expect("directory");
    assert_eq!(directory.version, 7);
    assert_eq!(directory.users.len(), 7);
    assert_eq!(audit_log(store.as_ref()).await.len(), 7);
}

pub(crate) async fn notifications_subscriptions_and_vapid_keys_round_trip(store: Arc<dyn Store>) {
    use crate::push::model::{NotificationSettings, PushSubscription, VapidKeys};
    let store = store.as_ref();
    for id in ["ana", "bea"] {
        store
            .save_user(&user(id), true, None, None)
            .await
            .expect("saved");
    }
    let (ana, bea) = (AgentId::new("ana"), AgentId::new("bea"));

    // Settings: none until saved, then replaced whole.
    assert_eq!(store.notification_settings(&ana).await.expect("read"), None);
    let defaults = NotificationSettings::default();
    let quiet = NotificationSettings {
        sound: false,
        events: crate::push::model::NotifyEvents {
            message: false,
            ..defaults.events
        },
        ..defaults
    };
    store
        .save_notification_settings(&ana, &quiet, 1)
        .await
        .expect("saved");
    assert_eq!(
        store.notification_settings(&ana).await.expect("read"),
        Some(quiet)
    );
    let loud = NotificationSettings::default();
    store
        .save_notification_settings(&ana, &loud, 2)
        .await
        .expect("saved");
    assert_eq!(
        store.notification_settings(&ana).await.expect("read"),
        Some(loud)
    );
    assert_eq!(store.notification_settings(&bea).await.expect("read"), None);

    // The VAPID key pair: the first one stored wins, whoever asks next.
    let keys = |n: &str| VapidKeys {
        private_key: format!("private-{n}"),
        public_key: format!("public-{n}"),
        created_at: 1,
    };
    assert_eq!(
        store.vapid_keys(&keys("a")).await.expect("stored"),
        keys("a")
    );
    assert_eq!(store.vapid_keys(&keys("b")).await.expect("read"), keys("a"));

    // Subscriptions: one per endpoint; subscribing again keeps the id (and may move it).
    let sub = |id: &str, user: &AgentId, endpoint: &str, at: i64| PushSubscription {
        id: id.into(),
        user: user.clone(),
        endpoint: endpoint.into(),
        p256dh: "key".into(),
        auth: "auth".into(),
        user_agent: Some("Firefox".into()),
        created_at: at,
        session: None,
    };
    let first = sub("p1", &ana, "https://push.example/1", 10);
    assert_eq!(
        store.save_push_subscription(&first).await.expect("saved"),
        first
    );
    let second = sub("p2", &ana, "https://push.example/2", 20);
    store.save_push_subscription(&second).await.expect("saved");
    let renewed = store
        .save_push_subscription(&sub("p3", &ana, "https://push.example/1", 30))
        .await
        .expect("saved");
    assert_eq!(renewed.id, "p1", "the same browser keeps its subscription");
    assert_eq!(
        store.push_subscriptions(&ana).await.expect("read"),
        vec![first.clone(), second.clone()]
    );
    // Bea logs in on ana's browser: the subscription is hers now.
    store
        .save_push_subscription(&sub("p4", &bea, "https://push.example/2", 40))
        .await
        .expect("saved");
    assert_eq!(
        store.push_subscriptions(&ana).await.expect("read"),
        vec![first]
    );
    assert_eq!(
        store.push_subscriptions(&bea).await.expect("read")[0].id,
        "p2"
    );
    // Removal: only the owner's by user; any by id alone (a push service said gone).
    assert!(
        !store
            .delete_push_subscription(Some(&bea), "p1")
            .await
            .expect("ran")
    );
    assert!(
        store
            .delete_push_subscription(Some(&ana), "p1")
            .await
            .expect("ran")
    );
    assert!(
        store
            .delete_push_subscription(None, "p2")
            .await
            .expect("ran")
    );
    assert!(
        !store
            .delete_push_subscription(None, "p2")
            .await
            .expect("ran")
    );
    assert!(
        store
            .push_subscriptions(&ana)
            .await
            .expect("read")
            .is_empty()
    );
    assert!(
        store
            .push_subscriptions(&bea)
            .await
            .expect("read")
            .is_empty()
    );

    // A subscription made in a session ends with it: log out, log out everywhere, expiry.
    for (n, s) in [
        session("s-push-1", 41, "ana", 5_000, 4_000),
        session("s-push-2", 42, "ana", 50_000, 40_000),
        session("s-push-3", 43, "ana", 50_000, 40_000),
    ]
    .iter()
    .enumerate()
    {
        store.create_session(s).await.expect("created");
        let made_in = PushSubscription {
            session: Some(s.id.clone()),
            ..sub(
                &format!("q{n}"),
                &ana,
                &format!("https://push.example/q{n}"),
                50,
            )
        };
        assert_eq!(
            store.save_push_subscription(&made_in).await.expect("saved"),
            made_in
        );
    }
    let by_token = sub("q-token", &ana, "https://push.example/token", 60);
    store
        .save_push_subscription(&by_token)
        .await
        .expect("saved");
    async fn left(store: &dyn Store) -> Vec<String> {
        let mut ids: Vec<String> = store
            .push_subscriptions(&AgentId::new("ana"))
            .await
            .expect("read")
            .into_iter()
            .map(|s| s.id)
            .collect();
        ids.sort();
        ids
    }
    assert_eq!(left(store).await, ["q-token", "q0", "q1", "q2"]);
    assert_eq!(store.prune_sessions(6_000, 2_000).await.expect("pruned"), 1);
    assert_eq!(left(store).await, ["q-token", "q1", "q2"]);
    assert!(store.delete_session("s-push-2").await.expect("deleted"));
    assert_eq!(left(store).await, ["q-token", "q2"]);
    store.delete_sessions_of(&ana).await.expect("deleted");
    assert_eq!(left(store).await, ["q-token"]);
}

// ---- the suite ----

/// One test per case for a backend: `accounts_suite!(module, async fn that makes a TestDb)`.
async fn contact_fields_are_part_of_the_directory(store: Arc<dyn Store>) {
    use crate::crm::fields::{FieldDefinition, FieldType};
    let plan = FieldDefinition {
        key: "plan".into(),
        label: "Plan".into(),
        kind: FieldType::Choice,
        options: vec!["Gold".into(), "Silver".into()],
        description: Some("Their plan".into()),
        created_at: 1_000,
        updated_at: 1_000,
    };
    let seats = FieldDefinition {
        key: "seats".into(),
        label: "Seats".into(),
        kind: FieldType::Number,
        options: Vec::new(),
        description: None,
        created_at: 1_000,
        updated_at: 1_000,
    };
    let v0 = store.directory_version().await.expect("version");
    let created = entry("contact_field.create", 1_000, Some("ann"));
    let v1 = store
        .save_contact_field(&seats, true, Some(&created))
        .await
        .expect("created");
    let v2 = store
        .save_contact_field(&plan, true, Some(&created))
        .await
        .expect("created");
    assert_eq!((v1, v2), (v0 + 1, v0 + 2));
    let directory = store.directory().await.expect("directory");
    assert_eq!(directory.version, v2);
    assert_eq!(directory.contact_fields, [plan.clone(), seats.clone()]);
    // A taken key, a missing one: refused, nothing written, the version unchanged.
    assert!(is_conflict(
        store.save_contact_field(&plan, true, Some(&created)).await
    ));
    let ghost = FieldDefinition {
        key: "ghost".into(),
        ..seats.clone()
    };
    assert!(is_not_found(
        store.save_contact_field(&ghost, false, None).await
    ));
    let deleted = entry("contact_field.delete", 3_000, Some("ann"));
    assert!(is_not_found(
        store.delete_contact_field("ghost", Some(&deleted)).await
    ));
    assert_eq!(store.directory_version().await.expect("version"), v2);
    let changed = FieldDefinition {
        label: "Tier".into(),
        options: vec!["Gold".into(), "Platinum".into()],
        description: None,
        updated_at: 2_000,
        ..plan.clone()
    };
    let updated = entry("contact_field.update", 2_000, Some("ann"));
    let v3 = store
        .save_contact_field(&changed, false, Some(&updated))
        .await
        .expect("changed");
    let v4 = store
        .delete_contact_field("seats", Some(&deleted))
        .await
        .expect("deleted");
    assert_eq!((v3, v4), (v2 + 1, v2 + 2));
    let directory = store.directory().await.expect("directory");
    assert_eq!(directory.contact_fields, [changed]);
    let log = audit_log(store.as_ref()).await;
    let logged: Vec<&str> = actions(&log)
        .into_iter()
        .filter(|a| a.starts_with("contact_field."))
        .collect();
    assert_eq!(
        logged.len(),
        4,
        "one entry per change, none for a refusal: {logged:?}"
    );
}

macro_rules! accounts_suite {
    ($module:ident, $database:path) => {
        mod $module {
            use super::*;

            accounts_suite!(@cases $database,
                the_directory_round_trips_and_each_change_bumps_its_version,
                conflicts_change_nothing,
                audit_entries_travel_with_their_changes,
                a_team_with_open_conversations_is_not_deleted,
                an_empty_store_is_seeded_once,
                a_store_with_only_a_team_is_not_seeded,
                a_seed_keeps_a_later_version,
                login_state_leaves_the_version_alone,
                sessions_are_found_touched_and_pruned,
                api_tokens_are_listed_touched_and_revoked_once,
                reset_tokens_work_once_before_they_expire,
                the_audit_log_filters_pages_and_prunes,
                concurrent_changes_take_turns,
                notifications_subscriptions_and_vapid_keys_round_trip,
                contact_fields_are_part_of_the_directory);
        }
    };
    (@cases $database:path, $($case:ident),+) => {
        $(
            #[tokio::test]
            async fn $case() {
                let db = $database().await;
                let store = db.open().await;
                super::$case(store.clone()).await;
                store.close().await;
            }
        )+
    };
}

accounts_suite!(on_sqlite, sqlite);
accounts_suite!(on_postgres, postgres);
