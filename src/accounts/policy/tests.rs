//! The full matrix: every role × every action × every kind of ownership, against a table
//! written out by hand (not derived from the code under test).

use super::*;

fn team(id: &str) -> TeamId {
    TeamId::new(id)
}

/// `pub1`: a public team; `priv1`: a private team; `sup`: public, supervised by the
/// supervisor; `supp`: private, supervised by the supervisor; `other`: nobody's here.
fn principal(role: Role) -> Principal {
    let (member_of, supervises) = match role {
        // The agent serves pub1 and priv1.
        Role::Agent => (vec![team("priv1"), team("pub1")], vec![]),
        // The supervisor also serves pub1 as a member, and supervises sup and supp.
        Role::Supervisor => (vec![team("pub1")], vec![team("sup"), team("supp")]),
        Role::Admin => (vec![], vec![]),
    };
    Principal {
        user: AgentId::new("me"),
        role,
        member_of,
        supervises,
    }
}

#[derive(Clone, Copy, Debug)]
enum Situation {
    /// Assigned to me in a public team of mine.
    Mine,
    /// Assigned to me in a private team of mine.
    MinePrivate,
    /// Assigned to me in a team I am not in (transferred to me directly).
    MineElsewhere,
    /// A teammate's, public team.
    Teammates,
    /// Waiting in my public team's queue.
    TeamQueue,
    /// A teammate's in my private team.
    PrivateTeammates,
    /// Waiting in my private team's queue.
    PrivateQueue,
    /// Offered to me (a team I am not in).
    OfferedToMe,
    /// Offered to me in my private team.
    OfferedToMePrivate,
    /// Another team's, nothing to do with me.
    Foreign,
    /// A supervised public team's, someone else's.
    Supervised,
    /// A supervised private team's, waiting.
    SupervisedPrivate,
    /// With the bot: no team yet.
    NoTeam,
}

const SITUATIONS: [Situation; 13] = [
    Situation::Mine,
    Situation::MinePrivate,
    Situation::MineElsewhere,
    Situation::Teammates,
    Situation::TeamQueue,
    Situation::PrivateTeammates,
    Situation::PrivateQueue,
    Situation::OfferedToMe,
    Situation::OfferedToMePrivate,
    Situation::Foreign,
    Situation::Supervised,
    Situation::SupervisedPrivate,
    Situation::NoTeam,
];

struct Owned {
    team: Option<TeamId>,
    private: bool,
    assignee: Option<AgentId>,
    offered: bool,
}

fn facts(s: Situation) -> Owned {
    let me = Some(AgentId::new("me"));
    let them = Some(AgentId::new("them"));
    let (t, private, assignee, offered) = match s {
        Situation::Mine => ("pub1", false, me, false),
        Situation::MinePrivate => ("priv1", true, me, false),
        Situation::MineElsewhere => ("other", false, me, false),
        Situation::Teammates => ("pub1", false, them, false),
        Situation::TeamQueue => ("pub1", false, None, false),
        Situation::PrivateTeammates => ("priv1", true, them, false),
        Situation::PrivateQueue => ("priv1", true, None, false),
        Situation::OfferedToMe => ("other", false, None, true),
        Situation::OfferedToMePrivate => ("priv1", true, None, true),
        Situation::Foreign => ("other", false, them, false),
        Situation::Supervised => ("sup", false, them, false),
        Situation::SupervisedPrivate => ("supp", true, None, false),
        Situation::NoTeam => ("", false, None, false),
    };
    Owned {
        team: (!t.is_empty()).then(|| team(t)),
        private,
        assignee,
        offered,
    }
}

/// The expected verdicts, by hand. Letters: V view, R reply, N note, T transfer, S resolve,
/// Z snooze, O answer an offer (whether one is open is the assignment state's to say: a lapsed
/// one is a 409, not a 403), M reveal a masked number. `-` hidden (404); any letter
/// missing from a visible cell is forbidden (403).
fn expected(role: Role, s: Situation) -> &'static str {
    use Role::*;
    use Situation::*;
    match (role, s) {
        (Agent, Mine | MinePrivate | MineElsewhere) => "VRNTSZO",
        (Agent, Teammates | TeamQueue) => "VO",
        (Agent, PrivateTeammates | PrivateQueue) => "-",
        (Agent, OfferedToMe | OfferedToMePrivate) => "VO",
        (Agent, Foreign | Supervised | SupervisedPrivate | NoTeam) => "-",

        // The supervisor is a plain member of pub1 and manages sup and supp.
        (Supervisor, Mine) => "VRNTSZO",
        (Supervisor, MineElsewhere) => "VRNTSZO",
        // Not a member of priv1, but an assignee always sees what they hold.
        (Supervisor, MinePrivate) => "VRNTSZO",
        (Supervisor, Teammates | TeamQueue) => "VO",
        (Supervisor, PrivateTeammates | PrivateQueue) => "-",
        (Supervisor, OfferedToMe) => "VO",
        (Supervisor, OfferedToMePrivate) => "VO",
        (Supervisor, Foreign | NoTeam) => "-",
        (Supervisor, Supervised | SupervisedPrivate) => "VNTSOM",

        (Admin, Mine | MinePrivate | MineElsewhere) => "VRNTSZOM",
        (Admin, _) => "VNTSOM",
    }
}

fn letter(action: Action) -> char {
    match action {
        Action::View => 'V',
        Action::Reply => 'R',
        Action::Note => 'N',
        Action::Transfer => 'T',
        Action::Resolve => 'S',
        Action::Snooze => 'Z',
        Action::AnswerOffer => 'O',
        Action::RevealNumber => 'M',
    }
}

#[test]
fn the_whole_matrix() {
    let mut checked = 0;
    for role in Role::ALL {
        let p = principal(role);
        for s in SITUATIONS {
            let owned = facts(s);
            let c = ConversationFacts {
                team: owned.team.as_ref(),
                team_private: owned.private,
                assignee: owned.assignee.as_ref(),
                offered_to_principal: owned.offered,
            };
            let want = expected(role, s);
            for action in Action::ALL {
                let got = decide(&p, action, &c);
                let expect = if want == "-" {
                    Verdict::Hidden
                } else if want.contains(letter(action)) {
                    Verdict::Allow
                } else {
                    Verdict::Forbidden
                };
                assert_eq!(got, expect, "{role:?} {action:?} on {s:?}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 3 * 13 * 8);
}

#[test]
fn team_actions() {
    // (role, team, private) → letters: L list inbox, A view agents, F force presence, P reports.
    let cases: &[(Role, &str, bool, &str)] = &[
        (Role::Agent, "pub1", false, "LA"),
        (Role::Agent, "priv1", true, "A"),
        (Role::Agent, "other", false, "-"),
        (Role::Agent, "sup", false, "-"),
        (Role::Supervisor, "pub1", false, "LA"),
        (Role::Supervisor, "sup", false, "LAFP"),
        (Role::Supervisor, "supp", true, "LAFP"),
        (Role::Supervisor, "other", false, "-"),
        (Role::Admin, "other", false, "LAFP"),
        (Role::Admin, "priv1", true, "LAFP"),
    ];
    for &(role, t, private, want) in cases {
        let p = principal(role);
        for action in TeamAction::ALL {
            let l = match action {
                TeamAction::ListInbox => 'L',
                TeamAction::ViewAgents => 'A',
                TeamAction::ForcePresence => 'F',
                TeamAction::ViewReports => 'P',
            };
            let expect = if want == "-" {
                Verdict::Hidden
            } else if want.contains(l) {
                Verdict::Allow
            } else {
                Verdict::Forbidden
            };
            assert_eq!(
                decide_team(&p, action, &team(t), private),
                expect,
                "{role:?} {action:?} on {t}"
            );
        }
    }
}

#[test]
fn administration_is_for_admins() {
    for role in Role::ALL {
        for action in AdminAction::ALL {
            let expect = if role == Role::Admin {
                Verdict::Allow
            } else {
                Verdict::Forbidden
            };
            assert_eq!(decide_admin(&principal(role), action), expect);
        }
    }
}

#[test]
fn the_whole_crm_is_for_supervisors_and_admins_and_erasing_for_admins() {
    for action in ContactsAction::ALL {
        assert_eq!(
            decide_contacts(&principal(Role::Agent), action),
            Verdict::Forbidden,
            "{action:?}"
        );
        let supervisor = if action == ContactsAction::Erase {
            Verdict::Forbidden
        } else {
            Verdict::Allow
        };
        assert_eq!(
            decide_contacts(&principal(Role::Supervisor), action),
            supervisor,
            "{action:?}"
        );
        assert_eq!(
            decide_contacts(&principal(Role::Admin), action),
            Verdict::Allow,
            "{action:?}"
        );
    }
}

/// Every scope set of one scope (and none, and all) × every business action: a key may do
/// exactly what its scope names.
#[test]
fn a_key_does_exactly_what_its_scopes_name() {
    let key = |scopes: &[Scope]| {
        let mut scopes = scopes.to_vec();
        scopes.sort();
        KeyPrincipal {
            id: "key_1".into(),
            name: "crm".into(),
            scopes,
        }
    };
    for action in BusinessAction::ALL {
        assert_eq!(
            decide_business(Who::Key(&key(&[])), action),
            Verdict::Forbidden
        );
        assert_eq!(
            decide_business(Who::Key(&key(&Scope::ALL)), action),
            Verdict::Allow
        );
        for scope in Scope::ALL {
            let expect = if action.scope() == scope {
                Verdict::Allow
            } else {
                Verdict::Forbidden
            };
            assert_eq!(
                decide_business(Who::Key(&key(&[scope])), action),
                expect,
                "{scope:?} {action:?}"
            );
        }
    }
    // Sending and handing off are both `messages:send`; neither reads or writes anything else.
    for action in [BusinessAction::SendMessages, BusinessAction::HandOff] {
        assert_eq!(action.scope(), Scope::MessagesSend);
        for scope in Scope::ALL.into_iter().filter(|s| *s != Scope::MessagesSend) {
            assert!(!decide_business(Who::Key(&key(&[scope])), action).allowed());
        }
    }
    // Writing contacts does not read them, and the other way round.
    assert!(!key(&[Scope::ContactsWrite]).has(Scope::ContactsRead));
    assert!(!key(&[Scope::ContactsRead]).has(Scope::ContactsWrite));
}

/// A person on the business routes: as their role decides everywhere else.
#[test]
fn a_person_on_the_business_routes_is_decided_by_role() {
    // (role, read contacts, write contacts, manage webhooks); every person reads conversations
    // (which ones: `decide`, per conversation); no person sends or hands off here (the
    // console's reply and transfer routes decide per conversation).
    let cases = [
        (Role::Agent, false, false, false),
        (Role::Supervisor, true, true, false),
        (Role::Admin, true, true, true),
    ];
    for (role, read, write, hooks) in cases {
        let p = principal(role);
        for (action, allowed) in [
            (BusinessAction::ReadContacts, read),
            (BusinessAction::WriteContacts, write),
            (BusinessAction::ManageWebhooks, hooks),
            (BusinessAction::ReadConversations, true),
            (BusinessAction::SendMessages, false),
            (BusinessAction::HandOff, false),
        ] {
            assert_eq!(
                decide_business(Who::Person(&p), action).allowed(),
                allowed,
                "{role:?} {action:?}"
            );
        }
    }
}

#[test]
fn scopes_read_back_and_unknown_ones_are_refused() {
    for scope in Scope::ALL {
        assert_eq!(Scope::parse(scope.as_str()), Some(scope));
    }
    assert_eq!(
        Scope::ALL.map(Scope::as_str),
        [
            "contacts:read",
            "contacts:write",
            "conversations:read",
            "messages:send",
            "webhooks:manage",
            "reports:read",
            "campaigns:write",
        ]
    );
    for unknown in [
        "",
        "contacts",
        "contacts:*",
        "Contacts:Read",
        "admin",
        "conversations:write",
    ] {
        assert_eq!(Scope::parse(unknown), None, "{unknown}");
    }
}

#[test]
fn report_scopes() {
    assert_eq!(report_scope(&principal(Role::Admin)), ReportScope::All);
    assert_eq!(
        report_scope(&principal(Role::Supervisor)),
        ReportScope::Teams(vec![team("sup"), team("supp")])
    );
    assert_eq!(
        report_scope(&principal(Role::Agent)),
        ReportScope::Forbidden
    );
}
