//! SLA policies and clocks, pure (docs/REPORTS.md, "SLAs").
//!
//! A policy (per team and priority, from the configuration) sets targets for three clocks of a
//! handed-off conversation:
//! - `first_response`: from the handoff to the first agent reply (or to the resolution, when it
//!   is resolved without one);
//! - `next_response`: from the customer's first unanswered message after an agent's reply to the
//!   next agent reply (or to the resolution);
//! - `resolution`: from the handoff to the resolution.
//!
//! A clock counts calendar time, or only the team's business hours when the policy says so. A
//! running clock is `on_track`, then `at_risk` once the configured share of its target has
//! passed, then `breached` at its due time; a stopped one is `met` or `missed`. The state is
//! computed from the conversation's times whenever it is read, so it is always current; the
//! conversation's actor also wakes at each due time to record the breach as an event.

use serde::Serialize;

use super::hours::Calendar;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Clock {
    FirstResponse,
    NextResponse,
    Resolution,
}

impl Clock {
    pub const ALL: [Clock; 3] = [Clock::FirstResponse, Clock::NextResponse, Clock::Resolution];

    pub fn as_str(self) -> &'static str {
        match self {
            Clock::FirstResponse => "first_response",
            Clock::NextResponse => "next_response",
            Clock::Resolution => "resolution",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Its bit in a conversation's record of breaches already announced.
    pub fn bit(self) -> u8 {
        match self {
            Clock::FirstResponse => 1,
            Clock::NextResponse => 2,
            Clock::Resolution => 4,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Stopped within its target.
    Met,
    OnTrack,
    AtRisk,
    /// Stopped after its target.
    Missed,
    /// Running past its target.
    Breached,
}

impl Status {
    /// How bad it is, for the conversation's overall state (the worst clock).
    fn severity(self) -> u8 {
        match self {
            Status::Met => 0,
            Status::OnTrack => 1,
            Status::AtRisk => 2,
            Status::Missed => 3,
            Status::Breached => 4,
        }
    }
}

/// Targets in milliseconds (`None`: no target for that clock).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Policy {
    pub first_response_ms: Option<i64>,
    pub next_response_ms: Option<i64>,
    pub resolution_ms: Option<i64>,
    /// Count only the team's business hours (calendar time when the team has no calendar).
    pub business_hours: bool,
}

impl Policy {
    pub fn target(&self, clock: Clock) -> Option<i64> {
        match clock {
            Clock::FirstResponse => self.first_response_ms,
            Clock::NextResponse => self.next_response_ms,
            Clock::Resolution => self.resolution_ms,
        }
    }
}

/// A policy and what it applies to: a team (`None`: any) and a priority (`None`: any).
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub team: Option<String>,
    pub priority: Option<i32>,
    pub policy: Policy,
}

/// The configured policies, first match wins, and the share of a target after which a running
/// clock is at risk.
#[derive(Clone, Debug, PartialEq)]
pub struct Policies {
    pub rules: Vec<Rule>,
    pub at_risk: f64,
}

impl Default for Policies {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            at_risk: 0.75,
        }
    }
}

impl Policies {
    /// The policy of a conversation of `team` at `priority`: the first rule that matches both.
    pub fn find(&self, team: &str, priority: i32) -> Option<&Policy> {
        self.rules
            .iter()
            .find(|r| {
                r.team.as_deref().is_none_or(|t| t == team)
                    && r.priority.is_none_or(|p| p == priority)
            })
            .map(|r| &r.policy)
    }
}

/// The times of a conversation the clocks read (unix ms).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Times {
    pub handoff_at: Option<i64>,
    pub first_response_at: Option<i64>,
    /// The customer's first message not answered since an agent's last reply.
    pub awaiting_since: Option<i64>,
    pub resolved_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClockState {
    pub clock: Clock,
    pub status: Status,
    pub target_ms: i64,
    pub started_at: i64,
    pub stopped_at: Option<i64>,
    /// When a running clock turns at risk and breaches (`None`: the calendar never gets there).
    pub at_risk_at: Option<i64>,
    pub due_at: Option<i64>,
    /// Counted time so far (business hours only when the policy says so).
    pub elapsed_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SlaState {
    /// The worst of its clocks.
    pub status: Status,
    pub business_hours: bool,
    pub clocks: Vec<ClockState>,
}

/// How time counts under a policy: calendar time, or a calendar's opening hours.
struct Counter<'a>(Option<&'a Calendar>);

impl Counter<'_> {
    fn elapsed(&self, from: i64, to: i64) -> i64 {
        match self.0 {
            Some(c) => c.business_ms(from, to),
            None => (to - from).max(0),
        }
    }

    fn after(&self, from: i64, ms: i64) -> Option<i64> {
        match self.0 {
            Some(c) => c.add_business_ms(from, ms),
            None => from.checked_add(ms),
        }
    }
}

/// The clocks of a conversation with `times` under `policy` at `now`. `calendar`: the team's
/// business hours, used when the policy counts business hours. No handoff, no clocks.
pub fn evaluate(
    times: &Times,
    policy: &Policy,
    calendar: Option<&Calendar>,
    at_risk: f64,
    now: i64,
) -> Option<SlaState> {
    let handoff = times.handoff_at?;
    let counter = Counter(if policy.business_hours {
        calendar
    } else {
        None
    });
    let spans = [
        (
            Clock::FirstResponse,
            Some(handoff),
            times.first_response_at.or(times.resolved_at),
        ),
        (Clock::NextResponse, times.awaiting_since, times.resolved_at),
        (Clock::Resolution, Some(handoff), times.resolved_at),
    ];
    let mut clocks = Vec::new();
    for (clock, start, stop) in spans {
        let (Some(target), Some(start)) = (policy.target(clock), start) else {
            continue;
        };
        // A stop before the start belongs to an earlier cycle (a reply before a reopen).
        let stop = stop.filter(|&s| s >= start);
        let elapsed = counter.elapsed(start, stop.unwrap_or(now).max(start));
        let risk_ms = ((target as f64) * at_risk.clamp(0.0, 1.0)).round() as i64;
        let status = match stop {
            Some(_) if elapsed <= target => Status::Met,
            Some(_) => Status::Missed,
            None if elapsed >= target => Status::Breached,
            None if elapsed >= risk_ms => Status::AtRisk,
            None => Status::OnTrack,
        };
        clocks.push(ClockState {
            clock,
            status,
            target_ms: target,
            started_at: start,
            stopped_at: stop,
            at_risk_at: counter.after(start, risk_ms),
            due_at: counter.after(start, target),
            elapsed_ms: elapsed,
        });
    }
    let status = clocks
        .iter()
        .map(|c| c.status)
        .max_by_key(|s| s.severity())?;
    Some(SlaState {
        status,
        business_hours: counter.0.is_some(),
        clocks,
    })
}

impl SlaState {
    /// Running clocks past due that `announced` (a mask of [`Clock::bit`]) does not hold yet.
    pub fn unannounced_breaches(&self, announced: u8) -> Vec<Clock> {
        self.clocks
            .iter()
            .filter(|c| c.status == Status::Breached && announced & c.clock.bit() == 0)
            .map(|c| c.clock)
            .collect()
    }

    /// The clocks running in `self` that a step stopped (`after`: the state the step leaves,
    /// both read at the step's time), each with whether it met its target.
    pub fn settled(&self, after: Option<&SlaState>) -> Vec<(Clock, bool)> {
        self.clocks
            .iter()
            .filter(|c| c.stopped_at.is_none())
            .filter(|c| {
                !after.is_some_and(|a| {
                    a.clocks.iter().any(|n| {
                        n.clock == c.clock && n.started_at == c.started_at && n.stopped_at.is_none()
                    })
                })
            })
            .map(|c| (c.clock, c.status != Status::Breached))
            .collect()
    }

    /// The next due time of a running clock not announced yet: when the conversation's actor
    /// should look again.
    pub fn next_due(&self, announced: u8) -> Option<i64> {
        self.clocks
            .iter()
            .filter(|c| c.stopped_at.is_none() && announced & c.clock.bit() == 0)
            .filter_map(|c| c.due_at)
            .min()
    }
}

/// What a conversation keeps for its SLA clocks (its record's `sla` column): the cycle started
/// by its handoff, the first agent reply in it, the customer's first unanswered message since
/// an agent's last reply, its resolution, and which breaches were announced already.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SlaMarks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responded_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaiting_since: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<i64>,
    /// [`Clock::bit`]s of the breaches announced in this cycle.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub announced: u8,
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

impl SlaMarks {
    /// The bot handed the conversation to people: the clocks start.
    pub fn start(&mut self, now: i64) {
        *self = SlaMarks {
            since: Some(now),
            ..SlaMarks::default()
        };
    }

    /// An agent replied: the first response is given, the customer waits no more.
    pub fn replied(&mut self, now: i64) {
        if self.since.is_none() || self.resolved_at.is_some() {
            return;
        }
        self.responded_at.get_or_insert(now);
        self.awaiting_since = None;
        self.announced &= !Clock::NextResponse.bit();
    }

    /// The customer wrote: after an agent's reply, the next-response clock starts (at their
    /// first unanswered message).
    pub fn customer_wrote(&mut self, at: i64) {
        if self.since.is_some() && self.responded_at.is_some() && self.resolved_at.is_none() {
            self.awaiting_since.get_or_insert(at);
        }
    }

    pub fn resolved(&mut self, now: i64) {
        if self.since.is_some() {
            self.resolved_at.get_or_insert(now);
        }
    }

    pub fn times(&self) -> Times {
        Times {
            handoff_at: self.since,
            first_response_at: self.responded_at,
            awaiting_since: self.awaiting_since,
            resolved_at: self.resolved_at,
        }
    }
}

#[cfg(test)]
mod tests;
