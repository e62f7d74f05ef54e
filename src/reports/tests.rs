//! The measures of scripted conversations, step by step.

use super::hours::TeamCalendars;
use super::measures::{ConversationReport, Delta, HOUR_MS, Measure, Outcome, StepFacts, advance};
use crate::domain::{AgentId, ChannelId, ConversationKey, CustomerId, TeamId};
use crate::store::{ConversationEvent, ConversationRecord, ConversationStatus};

const S: i64 = 1000;
/// 2025-12-01T10:00:00Z.
const T0: i64 = 1_764_583_200_000;

struct Script {
    c: ConversationRecord,
    report: Option<ConversationReport>,
    deltas: Vec<Delta>,
    calendars: TeamCalendars,
}

fn event(kind: &str, agent: Option<&str>, team: Option<&str>) -> ConversationEvent {
    ConversationEvent {
        kind: kind.into(),
        agent: agent.map(AgentId::new),
        team: team.map(TeamId::new),
        detail: None,
    }
}

impl Script {
    fn new() -> Self {
        let channel = ChannelId::new("wa");
        let customer = CustomerId::new("+15550001");
        let key = ConversationKey::new(&channel, &customer);
        Script {
            c: ConversationRecord::new(key, channel, customer, T0),
            report: None,
            deltas: Vec::new(),
            calendars: TeamCalendars::default(),
        }
    }

    /// Commit a step at `at` after `change` (events, customer message, agent replies).
    fn step(
        &mut self,
        at: i64,
        events: &[ConversationEvent],
        customer_wrote: bool,
        agent_replies: usize,
        change: impl FnOnce(&mut ConversationRecord),
    ) -> Vec<Delta> {
        change(&mut self.c);
        self.c.updated_at = at;
        let (report, deltas) = advance(
            self.report.as_ref(),
            &StepFacts {
                conversation: &self.c,
                events,
                customer_wrote,
                agent_replies,
                calendars: &self.calendars,
            },
        );
        self.report = Some(report);
        self.deltas.extend(deltas.clone());
        deltas
    }

    fn handoff(&mut self, at: i64, team: &str) {
        self.step(at, &[], false, 0, |c| {
            c.status = ConversationStatus::Waiting;
            c.team = Some(TeamId::new(team));
            c.handoff_at = Some(at);
        });
    }

    fn assign(&mut self, at: i64, agent: &str) {
        self.step(at, &[event("assigned", Some(agent), None)], false, 0, |c| {
            c.status = ConversationStatus::Assigned;
            c.assignee = Some(AgentId::new(agent));
            c.assigned_at = Some(at);
        });
    }

    fn reply(&mut self, at: i64) {
        self.step(at, &[], false, 1, |c| {
            c.first_response_at.get_or_insert(at);
        });
    }

    fn customer(&mut self, at: i64) {
        self.step(at, &[], true, 0, |c| c.last_inbound_at = Some(at));
    }

    fn resolve(&mut self, at: i64, by: &str) {
        self.step(at, &[event("resolved", Some(by), None)], false, 0, |c| {
            c.status = ConversationStatus::Resolved;
            c.resolved_at = Some(at);
        });
    }

    fn report(&self) -> ConversationReport {
        self.report.clone().unwrap_or_default()
    }

    /// (measure, team, agent, ms) of every delta, in order.
    fn seen(&self) -> Vec<(Measure, String, String, Option<i64>)> {
        self.deltas
            .iter()
            .map(|d| (d.measure, d.team.clone(), d.agent.clone(), d.ms))
            .collect()
    }
}

fn d(
    m: Measure,
    team: &str,
    agent: &str,
    ms: Option<i64>,
) -> (Measure, String, String, Option<i64>) {
    (m, team.into(), agent.into(), ms)
}

#[test]
fn a_conversation_through_an_agent_a_transfer_and_a_resolve() {
    let mut s = Script::new();
    s.step(T0, &[], true, 0, |_| {});
    s.handoff(T0 + 60 * S, "sales");
    s.assign(T0 + 90 * S, "alice");
    s.reply(T0 + 150 * S);
    s.customer(T0 + 200 * S);
    s.reply(T0 + 260 * S);
    // Alice transfers to support; it waits, then Bob takes it.
    s.step(
        T0 + 300 * S,
        &[event("transferred", Some("alice"), Some("support"))],
        false,
        0,
        |c| {
            c.status = ConversationStatus::Waiting;
            c.team = Some(TeamId::new("support"));
            c.assignee = None;
            c.handoff_at = Some(T0 + 300 * S);
        },
    );
    s.assign(T0 + 330 * S, "bob");
    s.customer(T0 + 340 * S);
    s.customer(T0 + 350 * S);
    s.reply(T0 + 370 * S);
    s.resolve(T0 + 400 * S, "bob");
    assert_eq!(
        s.seen(),
        vec![
            d(Measure::Opened, "", "", None),
            d(Measure::HandedOff, "sales", "", None),
            d(Measure::WaitInQueue, "sales", "alice", Some(30 * S)),
            d(Measure::Assigned, "sales", "alice", None),
            d(Measure::Replies, "sales", "alice", None),
            d(Measure::FirstResponse, "sales", "alice", Some(90 * S)),
            d(Measure::Replies, "sales", "alice", None),
            d(Measure::NextResponse, "sales", "alice", Some(60 * S)),
            d(Measure::HandleTime, "sales", "alice", Some(210 * S)),
            d(Measure::Transfers, "sales", "alice", None),
            // Received by support; it waits in the queue (no agent yet).
            d(Measure::TransfersIn, "support", "", None),
            d(Measure::WaitInQueue, "support", "bob", Some(30 * S)),
            d(Measure::Assigned, "support", "bob", None),
            d(Measure::Replies, "support", "bob", None),
            // From the first of the customer's unanswered messages.
            d(Measure::NextResponse, "support", "bob", Some(30 * S)),
            d(Measure::HandleTime, "support", "bob", Some(70 * S)),
            d(Measure::ResolvedByAgent, "support", "bob", None),
            d(Measure::Resolution, "support", "bob", Some(400 * S)),
        ]
    );
    let r = s.report();
    assert_eq!(r.outcome, Some(Outcome::Agent));
    assert_eq!(r.first_handoff_at, Some(T0 + 60 * S));
    assert_eq!(r.first_assigned_at, Some(T0 + 90 * S));
    assert_eq!(r.first_response_at, Some(T0 + 150 * S));
    assert_eq!(r.resolved_at, Some(T0 + 400 * S));
    assert_eq!(
        (r.wait_ms, r.handle_ms, r.replies, r.transfers),
        (60 * S, 280 * S, 3, 1)
    );
    assert_eq!((r.team.as_str(), r.agent.as_str()), ("support", "bob"));
    assert!(s.deltas.iter().all(|d| d.hour == T0 && d.channel == "wa"));
}

#[test]
fn resolved_from_the_queue_without_a_reply_is_abandoned() {
    let mut s = Script::new();
    s.step(T0, &[], true, 0, |_| {});
    s.handoff(T0 + 10 * S, "sales");
    s.resolve(T0 + 900 * S, "sup");
    assert_eq!(s.report().outcome, Some(Outcome::Abandoned));
    let seen = s.seen();
    assert_eq!(seen.last(), Some(&d(Measure::Abandoned, "sales", "", None)));
    assert!(!seen.iter().any(|x| x.0 == Measure::Resolution));
}

#[test]
fn resolved_before_any_handoff_is_the_bots() {
    let mut s = Script::new();
    s.step(T0, &[], true, 0, |_| {});
    s.resolve(T0 + 5 * S, "sup");
    assert_eq!(s.report().outcome, Some(Outcome::Bot));
    assert_eq!(
        s.seen(),
        vec![
            d(Measure::Opened, "", "", None),
            d(Measure::ResolvedByBot, "", "", None)
        ]
    );
}

#[test]
fn a_snooze_ends_the_hold_and_a_reopen_waits_again() {
    let mut s = Script::new();
    s.step(T0, &[], true, 0, |_| {});
    s.handoff(T0 + 10 * S, "sales");
    s.assign(T0 + 20 * S, "alice");
    s.reply(T0 + 30 * S);
    s.step(
        T0 + 40 * S,
        &[event("snoozed", Some("alice"), None)],
        false,
        0,
        |c| {
            c.status = ConversationStatus::Snoozed;
            c.snoozed_until = Some(T0 + 2 * HOUR_MS);
        },
    );
    // Reopened in a later hour, queued, assigned to Alice again.
    let back = T0 + 2 * HOUR_MS;
    s.step(
        back,
        &[event("reopened", None, Some("sales"))],
        false,
        0,
        |c| {
            c.status = ConversationStatus::Waiting;
            c.snoozed_until = None;
            c.handoff_at = Some(back);
        },
    );
    s.assign(back + 15 * S, "alice");
    s.resolve(back + 75 * S, "alice");
    let r = s.report();
    assert_eq!(r.reopens, 1);
    assert_eq!(r.outcome, Some(Outcome::Agent));
    assert_eq!(r.wait_ms, 25 * S);
    assert_eq!(r.handle_ms, 80 * S);
    let later: Vec<_> = s
        .deltas
        .iter()
        .filter(|d| d.hour == T0 + 2 * HOUR_MS)
        .map(|d| (d.measure, d.ms))
        .collect();
    assert_eq!(
        later,
        vec![
            (Measure::Reopened, None),
            (Measure::WaitInQueue, Some(15 * S)),
            (Measure::Assigned, None),
            (Measure::HandleTime, Some(60 * S)),
            (Measure::ResolvedByAgent, None),
            (Measure::Resolution, Some(2 * HOUR_MS + 75 * S)),
        ]
    );
    // Handed off once, however often it waits.
    assert_eq!(
        s.deltas
            .iter()
            .filter(|d| d.measure == Measure::HandedOff)
            .count(),
        1
    );
}

#[test]
fn a_step_that_changes_nothing_adds_nothing() {
    let mut s = Script::new();
    s.step(T0, &[], true, 0, |_| {});
    s.handoff(T0 + 10 * S, "sales");
    s.assign(T0 + 20 * S, "alice");
    assert!(s.step(T0 + 30 * S, &[], false, 0, |_| {}).is_empty());
    // A message of the customer before any reply does not start a next-response clock.
    s.customer(T0 + 40 * S);
    assert_eq!(s.report().awaiting_since, None);
    // A resolved conversation resolves once.
    s.resolve(T0 + 50 * S, "alice");
    assert!(s.step(T0 + 60 * S, &[], false, 0, |_| {}).is_empty());
}

#[test]
fn a_conversation_from_before_reports_counts_only_what_follows() {
    let mut s = Script::new();
    s.c.version = 4;
    s.c.status = ConversationStatus::Assigned;
    s.c.team = Some(TeamId::new("sales"));
    s.c.assignee = Some(AgentId::new("alice"));
    s.c.handoff_at = Some(T0 - 100 * S);
    s.c.assigned_at = Some(T0 - 50 * S);
    s.c.first_response_at = Some(T0 - 40 * S);
    s.reply(T0);
    s.resolve(T0 + 10 * S, "alice");
    assert_eq!(
        s.seen(),
        vec![
            d(Measure::Replies, "sales", "alice", None),
            d(Measure::HandleTime, "sales", "alice", Some(60 * S)),
            d(Measure::ResolvedByAgent, "sales", "alice", None),
            d(Measure::Resolution, "sales", "alice", Some(10 * S)),
        ]
    );
}

#[test]
fn measures_have_stable_names() {
    for m in Measure::COUNTS.iter().chain(Measure::TIMES.iter()) {
        assert_eq!(Measure::parse(m.as_str()), Some(*m));
    }
    assert_eq!(Measure::parse("nope"), None);
    for o in [Outcome::Bot, Outcome::Agent, Outcome::Abandoned] {
        assert_eq!(Outcome::parse(o.as_str()), Some(o));
    }
}

#[test]
fn offers_and_their_outcomes_count_for_the_agent_offered() {
    let mut s = Script::new();
    s.step(T0, &[], true, 0, |_| {});
    s.handoff(T0 + 10 * S, "sales");
    let offer = |s: &mut Script, at: i64, kind: &str, agent: &str| {
        s.step(
            at,
            &[event(kind, Some(agent), Some("sales"))],
            false,
            0,
            |_| {},
        );
    };
    offer(&mut s, T0 + 11 * S, "offered", "carla");
    offer(&mut s, T0 + 41 * S, "offer_expired", "carla");
    offer(&mut s, T0 + 41 * S, "offered", "dave");
    offer(&mut s, T0 + 45 * S, "offer_rejected", "dave");
    offer(&mut s, T0 + 46 * S, "offered", "carla");
    // Accepted: the step also records the assignment.
    s.step(
        T0 + 50 * S,
        &[
            event("offer_accepted", Some("carla"), Some("sales")),
            event("assigned", Some("carla"), Some("sales")),
        ],
        false,
        0,
        |c| {
            c.status = ConversationStatus::Assigned;
            c.assignee = Some(AgentId::new("carla"));
            c.assigned_at = Some(T0 + 50 * S);
        },
    );
    let per_agent = |agent: &str, m: Measure| {
        s.deltas
            .iter()
            .filter(|d| d.agent == agent && d.measure == m && d.team == "sales")
            .count()
    };
    assert_eq!(per_agent("carla", Measure::Offered), 2);
    assert_eq!(per_agent("carla", Measure::OfferExpired), 1);
    assert_eq!(per_agent("carla", Measure::OfferAccepted), 1);
    assert_eq!(per_agent("carla", Measure::Assigned), 1);
    assert_eq!(per_agent("dave", Measure::Offered), 1);
    assert_eq!(per_agent("dave", Measure::OfferDeclined), 1);
    assert_eq!(per_agent("dave", Measure::Assigned), 0);
}

#[test]
fn every_measure_has_a_stable_name_and_one_kind() {
    let all: Vec<Measure> = Measure::COUNTS
        .iter()
        .chain(Measure::TIMES.iter())
        .chain(Measure::TIMES_BH.iter())
        .chain(Measure::PRESENCE.iter())
        .copied()
        .collect();
    for m in &all {
        assert_eq!(Measure::parse(m.as_str()), Some(*m));
        assert!(!(m.is_time() && m.is_presence()), "{m:?}");
    }
    let mut names: Vec<&str> = all.iter().map(|m| m.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len());
    for (plain, bh) in Measure::TIMES.iter().zip(Measure::TIMES_BH) {
        assert_eq!(plain.business_hours(), Some(bh));
        assert_eq!(bh.as_str(), format!("{}_bh", plain.as_str()));
        assert_eq!(bh.business_hours(), None);
    }
    assert_eq!(Measure::Replies.business_hours(), None);
}

#[test]
fn a_transfer_to_an_agent_counts_in_for_that_agent() {
    let mut s = Script::new();
    s.step(T0, &[], true, 0, |_| {});
    s.handoff(T0 + 10 * S, "sales");
    s.assign(T0 + 20 * S, "alice");
    // Alice hands it straight to Bob of support: assigned in the same step.
    s.step(
        T0 + 100 * S,
        &[
            event("transferred", Some("alice"), Some("support")),
            event("assigned", Some("bob"), Some("support")),
        ],
        false,
        0,
        |c| {
            c.status = ConversationStatus::Assigned;
            c.team = Some(TeamId::new("support"));
            c.assignee = Some(AgentId::new("bob"));
            c.handoff_at = Some(T0 + 100 * S);
            c.assigned_at = Some(T0 + 100 * S);
        },
    );
    let seen = s.seen();
    assert!(seen.contains(&d(Measure::Transfers, "sales", "alice", None)));
    assert!(seen.contains(&d(Measure::TransfersIn, "support", "bob", None)));
    assert!(seen.contains(&d(Measure::HandleTime, "sales", "alice", Some(80 * S))));
    assert!(seen.contains(&d(Measure::WaitInQueue, "support", "bob", Some(0))));
}

/// Monday to Friday 09:00–17:00 UTC (T0 is Monday 2025-12-01 10:00 UTC).
fn office() -> std::sync::Arc<super::hours::Calendar> {
    use chrono::NaiveTime;
    let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(NaiveTime::MIN);
    let day = vec![(t(9), Some(t(17)))];
    std::sync::Arc::new(super::hours::Calendar {
        tz: chrono_tz::Tz::UTC,
        week: [
            day.clone(),
            day.clone(),
            day.clone(),
            day.clone(),
            day,
            vec![],
            vec![],
        ],
        closed: Default::default(),
    })
}

#[test]
fn times_under_a_team_with_a_calendar_also_count_its_opening_hours() {
    const H: i64 = 3600 * S;
    let mut s = Script::new();
    s.calendars = TeamCalendars::new(vec![("sales".into(), office())]);
    // Opened Monday 10:00 (T0), the bot's until 16:30, when it is handed off; assigned 16:50;
    // the first reply comes Tuesday 09:20 (after the close at 17:00 and the reopening at
    // 09:00); resolved Tuesday 10:00.
    let mon = T0 - 10 * H;
    s.step(mon + 16 * H, &[], true, 0, |_| {});
    s.handoff(mon + 16 * H + 1800 * S, "sales");
    s.assign(mon + 16 * H + 3000 * S, "alice");
    s.reply(mon + 33 * H + 1200 * S);
    s.resolve(mon + 34 * H, "alice");
    let of = |m: Measure| {
        s.seen()
            .into_iter()
            .filter(|x| x.0 == m)
            .map(|x| x.3)
            .collect::<Vec<_>>()
    };
    // Wait 16:30 → 16:50: 20 min, all open.
    assert_eq!(of(Measure::WaitInQueue), [Some(1200 * S)]);
    assert_eq!(of(Measure::WaitInQueueBh), [Some(1200 * S)]);
    // First response 16:30 → Tue 09:20: 16 h 50 min; open 30 min + 20 min.
    assert_eq!(of(Measure::FirstResponse), [Some(16 * H + 3000 * S)]);
    assert_eq!(of(Measure::FirstResponseBh), [Some(3000 * S)]);
    // Resolution Mon 10:00 → Tue 10:00: 24 h; open 7 h + 1 h.
    assert_eq!(of(Measure::Resolution), [Some(24 * H)]);
    assert_eq!(of(Measure::ResolutionBh), [Some(8 * H)]);
    // Held 16:50 → Tue 10:00: open 10 min + 1 h.
    assert_eq!(of(Measure::HandleTimeBh), [Some(H + 600 * S)]);
    // Under the calendar of the team it is counted under: none for a team without one.
    assert!(
        s.deltas
            .iter()
            .all(|d| d.team == "sales" || !d.measure.is_time())
    );
    let mut t = Script::new();
    t.handoff(T0, "support");
    t.assign(T0 + 60 * S, "bob");
    assert!(t.seen().iter().all(|x| x.0 != Measure::WaitInQueueBh));
}
