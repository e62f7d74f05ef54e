use std::collections::BTreeSet;

use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::*;

const M: i64 = 60_000;
const H: i64 = 60 * M;

fn policy(first: i64, next: i64, resolution: i64, business_hours: bool) -> Policy {
    Policy {
        first_response_ms: Some(first),
        next_response_ms: Some(next),
        resolution_ms: Some(resolution),
        business_hours,
    }
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}

fn t(h: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(NaiveTime::MIN)
}

/// Monday to Friday 9:00–17:00 UTC; 2026-12-08 (a Tuesday) closed.
fn office() -> Calendar {
    let day = vec![(t(9), Some(t(17)))];
    Calendar {
        tz: Tz::UTC,
        week: [
            day.clone(),
            day.clone(),
            day.clone(),
            day.clone(),
            day,
            vec![],
            vec![],
        ],
        closed: [NaiveDate::from_ymd_opt(2026, 12, 8).unwrap_or(NaiveDate::MIN)]
            .into_iter()
            .collect(),
    }
}

fn clock(state: &SlaState, clock: Clock) -> Option<&ClockState> {
    state.clocks.iter().find(|c| c.clock == clock)
}

#[test]
fn the_first_matching_rule_applies() {
    let rule = |team: Option<&str>, priority: Option<i32>, first: i64| Rule {
        team: team.map(str::to_string),
        priority,
        policy: Policy {
            first_response_ms: Some(first),
            ..Policy::default()
        },
    };
    let policies = Policies {
        rules: vec![
            rule(Some("sales"), Some(10), 1),
            rule(Some("sales"), None, 2),
            rule(None, Some(10), 3),
            rule(None, None, 4),
        ],
        at_risk: 0.75,
    };
    let first = |team, priority| {
        policies
            .find(team, priority)
            .and_then(|p| p.first_response_ms)
    };
    assert_eq!(first("sales", 10), Some(1));
    assert_eq!(first("sales", 0), Some(2));
    assert_eq!(first("support", 10), Some(3));
    assert_eq!(first("support", 0), Some(4));
    assert_eq!(Policies::default().find("sales", 0), None);
}

#[test]
fn no_handoff_or_no_target_means_no_clocks() {
    let p = policy(5 * M, 10 * M, H, false);
    assert_eq!(evaluate(&Times::default(), &p, None, 0.75, 0), None);
    let times = Times {
        handoff_at: Some(0),
        ..Times::default()
    };
    assert_eq!(evaluate(&times, &Policy::default(), None, 0.75, 0), None);
}

#[test]
fn a_running_clock_goes_on_track_at_risk_breached() {
    let p = policy(10 * M, 10 * M, 10 * H, false);
    let times = Times {
        handoff_at: Some(1_000_000),
        ..Times::default()
    };
    let status = |now: i64| {
        evaluate(&times, &p, None, 0.75, 1_000_000 + now)
            .and_then(|s| clock(&s, Clock::FirstResponse).map(|c| c.status))
    };
    assert_eq!(status(0), Some(Status::OnTrack));
    assert_eq!(status(7 * M + 29_999), Some(Status::OnTrack));
    assert_eq!(status(7 * M + 30_000), Some(Status::AtRisk));
    assert_eq!(status(10 * M - 1), Some(Status::AtRisk));
    assert_eq!(status(10 * M), Some(Status::Breached));
    let state = evaluate(&times, &p, None, 0.75, 1_000_000);
    let first = state.as_ref().and_then(|s| clock(s, Clock::FirstResponse));
    assert_eq!(first.and_then(|c| c.due_at), Some(1_000_000 + 10 * M));
    assert_eq!(first.and_then(|c| c.at_risk_at), Some(1_000_000 + 450_000));
    // No customer waiting after a reply: no next-response clock.
    assert!(state.is_some_and(|s| clock(&s, Clock::NextResponse).is_none()));
}

#[test]
fn a_stopped_clock_is_met_or_missed_for_good() {
    let p = policy(10 * M, 10 * M, H, false);
    let at = |reply: i64, now: i64| {
        let times = Times {
            handoff_at: Some(0),
            first_response_at: Some(reply),
            ..Times::default()
        };
        evaluate(&times, &p, None, 0.75, now)
            .and_then(|s| clock(&s, Clock::FirstResponse).map(|c| (c.status, c.elapsed_ms)))
    };
    assert_eq!(at(10 * M, 5 * H), Some((Status::Met, 10 * M)));
    assert_eq!(at(10 * M + 1, 5 * H), Some((Status::Missed, 10 * M + 1)));
    assert_eq!(at(0, 0), Some((Status::Met, 0)));
}

#[test]
fn a_resolution_stops_every_clock() {
    let p = policy(10 * M, 10 * M, H, false);
    let times = Times {
        handoff_at: Some(0),
        first_response_at: None,
        awaiting_since: None,
        resolved_at: Some(20 * M),
    };
    let Some(state) = evaluate(&times, &p, None, 0.75, 10 * H) else {
        panic!("clocks expected");
    };
    assert_eq!(
        clock(&state, Clock::FirstResponse).map(|c| c.status),
        Some(Status::Missed)
    );
    assert_eq!(
        clock(&state, Clock::Resolution).map(|c| c.status),
        Some(Status::Met)
    );
    assert_eq!(state.status, Status::Missed);
    assert_eq!(state.next_due(0), None);
}

#[test]
fn the_next_response_clock_runs_while_the_customer_waits() {
    let p = policy(10 * M, 5 * M, 10 * H, false);
    let times = Times {
        handoff_at: Some(0),
        first_response_at: Some(M),
        awaiting_since: Some(H),
        resolved_at: None,
    };
    let Some(state) = evaluate(&times, &p, None, 0.75, H + 6 * M) else {
        panic!("clocks expected");
    };
    let next = clock(&state, Clock::NextResponse);
    assert_eq!(next.map(|c| c.status), Some(Status::Breached));
    assert_eq!(next.and_then(|c| c.due_at), Some(H + 5 * M));
    assert_eq!(state.status, Status::Breached);
    assert_eq!(state.unannounced_breaches(0), vec![Clock::NextResponse]);
    assert!(
        state
            .unannounced_breaches(Clock::NextResponse.bit())
            .is_empty()
    );
    // The resolution clock is the next one due once the breach is announced.
    assert_eq!(state.next_due(Clock::NextResponse.bit()), Some(10 * H));
    assert_eq!(state.next_due(0), Some(H + 5 * M));
}

#[test]
fn a_stop_before_the_start_belongs_to_an_earlier_cycle() {
    // Resolved, then reopened and handed off again later: the old resolution stops nothing.
    let p = policy(10 * M, 5 * M, H, false);
    let times = Times {
        handoff_at: Some(2 * H),
        first_response_at: None,
        awaiting_since: None,
        resolved_at: Some(H),
    };
    let state = evaluate(&times, &p, None, 0.75, 2 * H + M);
    assert_eq!(
        state.map(|s| s.clocks.iter().map(|c| c.stopped_at).collect::<Vec<_>>()),
        Some(vec![None, None])
    );
}

#[test]
fn business_hours_clocks_pause_overnight_weekends_and_holidays() {
    let p = policy(2 * H, H, 16 * H, true);
    let cal = office();
    // Friday 2026-12-04 16:00: one hour on Friday, the rest on Monday.
    let friday = utc(2026, 12, 4, 16, 0);
    let times = Times {
        handoff_at: Some(friday),
        ..Times::default()
    };
    let Some(state) = evaluate(&times, &p, Some(&cal), 0.75, friday) else {
        panic!("clocks expected");
    };
    assert!(state.business_hours);
    let first = clock(&state, Clock::FirstResponse);
    assert_eq!(first.and_then(|c| c.due_at), Some(utc(2026, 12, 7, 10, 0)));
    // 1.5 h of 2: Monday 09:30.
    assert_eq!(
        first.and_then(|c| c.at_risk_at),
        Some(utc(2026, 12, 7, 9, 30))
    );
    // Sixteen business hours: Friday 1, Monday 8, Tuesday closed (holiday), Wednesday 7.
    let resolution = clock(&state, Clock::Resolution);
    assert_eq!(
        resolution.and_then(|c| c.due_at),
        Some(utc(2026, 12, 9, 16, 0))
    );
    // Saturday noon: still one hour counted, on track.
    let saturday = evaluate(&times, &p, Some(&cal), 0.75, utc(2026, 12, 5, 12, 0));
    let first = saturday
        .as_ref()
        .and_then(|s| clock(s, Clock::FirstResponse).map(|c| (c.status, c.elapsed_ms)));
    assert_eq!(first, Some((Status::OnTrack, H)));
    // The same policy in calendar time breaches on Friday evening.
    let calendar_time = evaluate(&times, &p, None, 0.75, utc(2026, 12, 5, 12, 0));
    assert!(calendar_time.is_some_and(|s| !s.business_hours && s.status == Status::Breached));
    // Business hours asked but the team has no calendar: calendar time.
    let no_calendar = evaluate(&times, &p, None, 0.75, friday);
    assert!(no_calendar.is_some_and(|s| !s.business_hours));
}

#[test]
fn a_calendar_never_open_never_comes_due() {
    let closed = Calendar {
        tz: Tz::UTC,
        week: Default::default(),
        closed: BTreeSet::new(),
    };
    let p = policy(H, H, H, true);
    let times = Times {
        handoff_at: Some(0),
        ..Times::default()
    };
    let state = evaluate(&times, &p, Some(&closed), 0.75, 100 * H);
    assert!(state.is_some_and(|s| {
        s.status == Status::OnTrack
            && s.clocks
                .iter()
                .all(|c| c.due_at.is_none() && c.elapsed_ms == 0)
    }));
}

/// Over a grid of starts and targets, in both kinds of time: a running clock is breached
/// exactly from its due time, the time counted up to it is its target, and at-risk comes
/// between.
#[test]
fn due_times_agree_with_counted_time_everywhere() {
    let cal = office();
    let base = utc(2026, 12, 3, 0, 0);
    for start_step in 0..(4 * 24 * 2) {
        let start = base + start_step * 30 * M;
        for target in [M, 45 * M, 3 * H, 9 * H, 30 * H] {
            for business_hours in [false, true] {
                let p = Policy {
                    first_response_ms: Some(target),
                    business_hours,
                    ..Policy::default()
                };
                let times = Times {
                    handoff_at: Some(start),
                    ..Times::default()
                };
                let calendar = Some(&cal);
                let Some(state) = evaluate(&times, &p, calendar, 0.5, start) else {
                    panic!("clocks expected");
                };
                let c = &state.clocks[0];
                let (Some(due), Some(risk)) = (c.due_at, c.at_risk_at) else {
                    panic!("due times expected");
                };
                assert!(start <= risk && risk <= due);
                let counted = if business_hours {
                    cal.business_ms(start, due)
                } else {
                    due - start
                };
                assert_eq!(counted, target, "start {start} target {target}");
                let at = |now| evaluate(&times, &p, calendar, 0.5, now).map(|s| s.clocks[0].status);
                assert_eq!(at(due), Some(Status::Breached));
                assert_ne!(at(due - 1), Some(Status::Breached));
                assert_eq!(at(risk), Some(Status::AtRisk));
            }
        }
    }
}

#[test]
fn marks_follow_a_conversation() {
    let mut m = SlaMarks::default();
    // In the bot's hands: nothing runs, a customer message changes nothing.
    m.customer_wrote(1);
    m.replied(2);
    m.resolved(3);
    assert_eq!(m, SlaMarks::default());
    m.start(10);
    // Before any reply, customer messages belong to the first-response wait.
    m.customer_wrote(11);
    assert_eq!(m.awaiting_since, None);
    m.replied(20);
    m.replied(25);
    assert_eq!(m.responded_at, Some(20));
    // The first unanswered message starts the next-response clock; later ones do not move it.
    m.customer_wrote(30);
    m.customer_wrote(35);
    assert_eq!(m.awaiting_since, Some(30));
    m.announced = Clock::NextResponse.bit() | Clock::Resolution.bit();
    m.replied(40);
    assert_eq!(m.awaiting_since, None);
    assert_eq!(m.announced, Clock::Resolution.bit());
    m.resolved(50);
    m.resolved(60);
    m.customer_wrote(70);
    assert_eq!((m.resolved_at, m.awaiting_since), (Some(50), None));
    assert_eq!(
        m.times(),
        Times {
            handoff_at: Some(10),
            first_response_at: Some(20),
            awaiting_since: None,
            resolved_at: Some(50),
        }
    );
    // A new handoff starts a new cycle.
    m.start(100);
    assert_eq!(
        m,
        SlaMarks {
            since: Some(100),
            ..SlaMarks::default()
        }
    );
    // Stored as little JSON as it needs, read back the same.
    let json = serde_json::to_string(&m).unwrap_or_default();
    assert_eq!(json, r#"{"since":100}"#);
    assert_eq!(serde_json::from_str::<SlaMarks>(&json).ok(), Some(m));
    assert_eq!(
        serde_json::from_str::<SlaMarks>("{}").ok(),
        Some(SlaMarks::default())
    );
}

#[test]
fn a_step_that_stops_clocks_settles_them() {
    let p = policy(10 * M, 5 * M, H, false);
    let at = |marks: &SlaMarks, now: i64| evaluate(&marks.times(), &p, None, 0.75, now);
    let mut m = SlaMarks::default();
    m.start(0);
    let before = m.clone();
    // The first reply after 12 minutes: first response missed; resolution still running.
    m.replied(12 * M);
    let (Some(b), a) = (at(&before, 12 * M), at(&m, 12 * M)) else {
        panic!("clocks expected");
    };
    assert_eq!(b.settled(a.as_ref()), vec![(Clock::FirstResponse, false)]);
    // A step that changes nothing settles nothing.
    assert!(b.settled(Some(&b)).is_empty());
    // The customer writes, the agent answers within 5 minutes: next response met.
    m.customer_wrote(20 * M);
    let before = m.clone();
    m.replied(24 * M);
    let (Some(b), a) = (at(&before, 24 * M), at(&m, 24 * M)) else {
        panic!("clocks expected");
    };
    assert_eq!(b.settled(a.as_ref()), vec![(Clock::NextResponse, true)]);
    // Resolved within the hour, while the customer waited again past 5 minutes.
    m.customer_wrote(30 * M);
    let before = m.clone();
    m.resolved(40 * M);
    let (Some(b), a) = (at(&before, 40 * M), at(&m, 40 * M)) else {
        panic!("clocks expected");
    };
    assert_eq!(
        b.settled(a.as_ref()),
        vec![(Clock::NextResponse, false), (Clock::Resolution, true)]
    );
    // A conversation that leaves the policy (no state after): every running clock settles.
    assert_eq!(b.settled(None).len(), 2);
}
