//! What people and permissions add to a console request once its token is recognised: the
//! directory lookup of the caller (their role and teams), the policy's verdict on the
//! conversation, and masking the conversation's view for a team that masks numbers. Measured
//! on a directory of 500 users in 50 teams, next to what the request does anyway (serializing
//! the conversation's view) as the baseline.
//!
//! Also a login's deliberate cost: one argon2id verification.
//!
//! `cargo bench --bench authorization -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use switchboard::accounts::directory::{Directory, Snapshot};
use switchboard::accounts::model::{DirectoryData, MemberRole, Membership, Role, Team, User};
use switchboard::accounts::policy::{self, Action, ConversationFacts};
use switchboard::accounts::privacy::Masker;
use switchboard::assign::Strategy;
use switchboard::domain::{AgentId, TeamId};

fn directory() -> Directory {
    let teams: Vec<Team> = (0..50)
        .map(|t| Team {
            id: TeamId::new(format!("team-{t:02}")),
            name: format!("Team {t}"),
            description: None,
            strategy: Strategy::RoundRobin,
            offer_timeout_seconds: 0,
            overflow_team: None,
            overflow_after_seconds: 0,
            max_queue: 10_000,
            private: t % 5 == 0,
            mask_numbers: Some(t % 2 == 0),
            business_hours: None,
            sla: Vec::new(),
            created_at: 0,
            updated_at: 0,
        })
        .collect();
    let users: Vec<User> = (0..500)
        .map(|u| User {
            id: AgentId::new(format!("user-{u:03}")),
            name: format!("User {u}"),
            email: format!("user{u}@example.com"),
            role: if u % 50 == 0 {
                Role::Supervisor
            } else {
                Role::Agent
            },
            language: "en".into(),
            time_zone: "UTC".into(),
            active: true,
            capacity: 5,
            password_hash: None,
            failed_logins: 0,
            locked_until: None,
            created_at: 0,
            updated_at: 0,
        })
        .collect();
    let mut memberships = Vec::new();
    for u in 0..500 {
        for k in 0..3 {
            memberships.push(Membership {
                user: AgentId::new(format!("user-{u:03}")),
                team: TeamId::new(format!("team-{:02}", (u + k * 17) % 50)),
                role: if u % 50 == 0 {
                    MemberRole::Supervisor
                } else {
                    MemberRole::Member
                },
            });
        }
    }
    Directory::new(Snapshot::new(DirectoryData {
        version: 1,
        users,
        teams,
        memberships,
        contact_fields: Vec::new(),
    }))
}

fn bench(c: &mut Criterion) {
    let directory = directory();
    let user = AgentId::new("user-251");
    let team = TeamId::new("team-02");
    let assignee = AgentId::new("user-251");
    let view = json!({
        "id": "0193a7c2-5b1e-7cc0-9e55-1f2a3b4c5d6e",
        "channel": "wa-main",
        "customer": { "id": "34612345612", "name": "Lucía", "phone": "34612345612" },
        "status": "assigned",
        "team": "team-02",
        "assignee": "user-251",
        "priority": 0,
        "route": { "reason": "customer chose team-02" },
        "created_at": 1_765_000_000_000_i64,
        "updated_at": 1_765_000_100_000_i64,
    });

    let mut group = c.benchmark_group("authorization");
    group.bench_function("baseline: serialize the conversation view", |b| {
        b.iter(|| black_box(serde_json::to_vec(black_box(&view)).map(|v| v.len())))
    });
    group.bench_function("principal + verdict", |b| {
        b.iter(|| {
            let people = directory.get();
            let principal = people.principal(black_box(&user));
            let facts = ConversationFacts {
                team: Some(&team),
                team_private: people.is_private(Some(&team)),
                assignee: Some(&assignee),
                offered_to_principal: false,
            };
            black_box(principal.map(|p| policy::decide(&p, Action::Reply, &facts)))
        })
    });
    group.bench_function("principal + verdict + masked view, serialized", |b| {
        b.iter(|| {
            let people = directory.get();
            let principal = people.principal(black_box(&user));
            let facts = ConversationFacts {
                team: Some(&team),
                team_private: people.is_private(Some(&team)),
                assignee: Some(&assignee),
                offered_to_principal: false,
            };
            let verdict = principal.map(|p| policy::decide(&p, Action::View, &facts));
            let mut shown = view.clone();
            if people.masks_numbers(Some(&team), false) {
                Masker::new(["34612345612"]).apply(&mut shown);
            }
            black_box((verdict, serde_json::to_vec(&shown).map(|v| v.len())))
        })
    });
    group.finish();
}

/// A login's deliberate cost: one argon2id verification (19 MiB, 2 passes), what every password
/// attempt spends, known email or not.
fn login(c: &mut Criterion) {
    let hash =
        switchboard::accounts::secrets::hash_password("correct horse battery").expect("a hash");
    let mut group = c.benchmark_group("login");
    group.sample_size(10);
    group.bench_function("argon2id verify", |b| {
        b.iter(|| {
            black_box(switchboard::accounts::secrets::verify_password(
                black_box("correct horse battery"),
                Some(&hash),
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, bench, login);
criterion_main!(benches);
