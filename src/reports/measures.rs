//! What a conversation step adds to the reports, pure: from the conversation's report row as it
//! was (None before its first step) and the step, the row as it is now and the rollup deltas
//! the step writes in its own transaction. The definitions are in docs/REPORTS.md.

use serde::Serialize;

use super::hours::TeamCalendars;
use crate::store::{ConversationEvent, ConversationRecord, ConversationStatus};

/// One hour, in unix milliseconds.
pub const HOUR_MS: i64 = 3_600_000;

/// The start of the UTC hour holding `ms`.
pub fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// What a rollup counts: a conversation count, or a time (with a sketch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Measure {
    Opened,
    HandedOff,
    ResolvedByBot,
    ResolvedByAgent,
    Reopened,
    Abandoned,
    Transfers,
    /// A transfer received: under the team it goes to and the agent who has the conversation
    /// when the transfer's step ends ("" while it waits in the queue).
    TransfersIn,
    /// Agents' replies to the customer.
    Replies,
    /// Per agent: conversations offered to them, offers they accepted, declined or let expire,
    /// and assignments (offers accepted and direct ones).
    Offered,
    OfferAccepted,
    OfferDeclined,
    OfferExpired,
    Assigned,
    /// SLA clocks stopped within their target, or after it (docs/REPORTS.md, "SLAs").
    SlaFirstResponseMet,
    SlaFirstResponseMissed,
    SlaNextResponseMet,
    SlaNextResponseMissed,
    SlaResolutionMet,
    SlaResolutionMissed,
    WaitInQueue,
    FirstResponse,
    NextResponse,
    Resolution,
    HandleTime,
    /// The same times counting only the opening hours of the team's calendar (teams with one).
    WaitInQueueBh,
    FirstResponseBh,
    NextResponseBh,
    ResolutionBh,
    HandleTimeBh,
    /// Per agent, from the presence samples (`src/reports/presence.rs`): time online, time
    /// away, load × time while online and capacity × time while online (sums of ms).
    PresenceOnline,
    PresenceAway,
    PresenceLoad,
    PresenceCapacity,
}

impl Measure {
    pub const COUNTS: [Measure; 20] = [
        Measure::Opened,
        Measure::HandedOff,
        Measure::ResolvedByBot,
        Measure::ResolvedByAgent,
        Measure::Reopened,
        Measure::Abandoned,
        Measure::Transfers,
        Measure::TransfersIn,
        Measure::Replies,
        Measure::Offered,
        Measure::OfferAccepted,
        Measure::OfferDeclined,
        Measure::OfferExpired,
        Measure::Assigned,
        Measure::SlaFirstResponseMet,
        Measure::SlaFirstResponseMissed,
        Measure::SlaNextResponseMet,
        Measure::SlaNextResponseMissed,
        Measure::SlaResolutionMet,
        Measure::SlaResolutionMissed,
    ];
    /// Each SLA clock with its measures (met, missed).
    pub const SLA: [(crate::reports::sla::Clock, Measure, Measure); 3] = [
        (
            crate::reports::sla::Clock::FirstResponse,
            Measure::SlaFirstResponseMet,
            Measure::SlaFirstResponseMissed,
        ),
        (
            crate::reports::sla::Clock::NextResponse,
            Measure::SlaNextResponseMet,
            Measure::SlaNextResponseMissed,
        ),
        (
            crate::reports::sla::Clock::Resolution,
            Measure::SlaResolutionMet,
            Measure::SlaResolutionMissed,
        ),
    ];
    pub const TIMES: [Measure; 5] = [
        Measure::WaitInQueue,
        Measure::FirstResponse,
        Measure::NextResponse,
        Measure::Resolution,
        Measure::HandleTime,
    ];
    /// The business-hours variants of [`Measure::TIMES`], in the same order.
    pub const TIMES_BH: [Measure; 5] = [
        Measure::WaitInQueueBh,
        Measure::FirstResponseBh,
        Measure::NextResponseBh,
        Measure::ResolutionBh,
        Measure::HandleTimeBh,
    ];
    /// Sums of milliseconds per agent, written by the presence sampler (no sketch).
    pub const PRESENCE: [Measure; 4] = [
        Measure::PresenceOnline,
        Measure::PresenceAway,
        Measure::PresenceLoad,
        Measure::PresenceCapacity,
    ];

    /// Its name in the stores and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Opened => "opened",
            Measure::HandedOff => "handed_off",
            Measure::ResolvedByBot => "resolved_by_bot",
            Measure::ResolvedByAgent => "resolved_by_agent",
            Measure::Reopened => "reopened",
            Measure::Abandoned => "abandoned",
            Measure::Transfers => "transfers",
            Measure::TransfersIn => "transfers_in",
            Measure::Replies => "replies",
            Measure::Offered => "offered",
            Measure::OfferAccepted => "offer_accepted",
            Measure::OfferDeclined => "offer_declined",
            Measure::OfferExpired => "offer_expired",
            Measure::Assigned => "assigned",
            Measure::SlaFirstResponseMet => "sla_first_response_met",
            Measure::SlaFirstResponseMissed => "sla_first_response_missed",
            Measure::SlaNextResponseMet => "sla_next_response_met",
            Measure::SlaNextResponseMissed => "sla_next_response_missed",
            Measure::SlaResolutionMet => "sla_resolution_met",
            Measure::SlaResolutionMissed => "sla_resolution_missed",
            Measure::WaitInQueue => "wait_in_queue",
            Measure::FirstResponse => "first_response",
            Measure::NextResponse => "next_response",
            Measure::Resolution => "resolution",
            Measure::HandleTime => "handle_time",
            Measure::WaitInQueueBh => "wait_in_queue_bh",
            Measure::FirstResponseBh => "first_response_bh",
            Measure::NextResponseBh => "next_response_bh",
            Measure::ResolutionBh => "resolution_bh",
            Measure::HandleTimeBh => "handle_time_bh",
            Measure::PresenceOnline => "presence_online",
            Measure::PresenceAway => "presence_away",
            Measure::PresenceLoad => "presence_load",
            Measure::PresenceCapacity => "presence_capacity",
        }
    }

    pub fn parse(s: &str) -> Option<Measure> {
        Self::COUNTS
            .iter()
            .chain(Self::TIMES.iter())
            .chain(Self::TIMES_BH.iter())
            .chain(Self::PRESENCE.iter())
            .copied()
            .find(|m| m.as_str() == s)
    }

    /// A time: a duration per sample, with its sketch bins.
    pub fn is_time(self) -> bool {
        Self::TIMES.contains(&self) || Self::TIMES_BH.contains(&self)
    }

    /// Written by the presence sampler: per agent, the same under each of the agent's teams.
    pub fn is_presence(self) -> bool {
        Self::PRESENCE.contains(&self)
    }

    /// The business-hours variant of a time.
    pub fn business_hours(self) -> Option<Measure> {
        Self::TIMES
            .iter()
            .position(|m| *m == self)
            .map(|i| Self::TIMES_BH[i])
    }
}

/// One increment of a rollup row: (hour, team, agent, channel, measure) counts one more, and a
/// time adds its duration to the row's sum and its sketch bin. No team or agent is `""`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delta {
    pub hour: i64,
    pub team: String,
    pub agent: String,
    pub channel: String,
    pub measure: Measure,
    /// The duration in milliseconds, for a time.
    pub ms: Option<i64>,
}

/// How a resolved conversation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Bot,
    Agent,
    Abandoned,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Bot => "bot",
            Outcome::Agent => "agent",
            Outcome::Abandoned => "abandoned",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "bot" => Some(Outcome::Bot),
            "agent" => Some(Outcome::Agent),
            "abandoned" => Some(Outcome::Abandoned),
            _ => None,
        }
    }
}

/// A conversation's report row: its times (for the CSV) and what the next step needs to know.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConversationReport {
    pub conversation_id: String,
    pub channel: String,
    /// Its team and agent now ("" for none).
    pub team: String,
    pub agent: String,
    pub status: String,
    pub opened_at: i64,
    pub first_handoff_at: Option<i64>,
    /// The last time it entered the queue (handoff, transfer, reopen).
    pub queued_at: Option<i64>,
    pub first_assigned_at: Option<i64>,
    pub first_response_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub outcome: Option<Outcome>,
    /// The assignment being held: since when (its `assigned_at`), by `agent`.
    pub held_since: Option<i64>,
    /// The customer wrote after an agent's reply and waits for the next one since then.
    pub awaiting_since: Option<i64>,
    pub wait_ms: i64,
    pub handle_ms: i64,
    pub replies: i64,
    pub transfers: i64,
    pub reopens: i64,
    pub updated_at: i64,
}

/// What of a step matters to the reports.
pub struct StepFacts<'a> {
    /// The conversation as the step leaves it; its `updated_at` is the step's time.
    pub conversation: &'a ConversationRecord,
    pub events: &'a [ConversationEvent],
    /// The step records a message of the customer.
    pub customer_wrote: bool,
    /// Messages of agents the step sends.
    pub agent_replies: usize,
    /// The business-hours calendars of the teams the step involves (the conversation's team
    /// before and after it); a time also gets its business-hours variant under a team that has
    /// one.
    pub calendars: &'a TeamCalendars,
}

fn name<T: AsRef<str>>(v: Option<&T>) -> String {
    v.map(|v| v.as_ref().to_string()).unwrap_or_default()
}

/// The report row after a step, and what the step adds to the rollups.
pub fn advance(
    prev: Option<&ConversationReport>,
    facts: &StepFacts<'_>,
) -> (ConversationReport, Vec<Delta>) {
    let c = facts.conversation;
    let now = c.updated_at;
    let channel = c.channel.as_str().to_string();
    let team_now = name(c.team.as_ref());
    let mut out = Out {
        channel: channel.clone(),
        calendars: facts.calendars,
        deltas: Vec::new(),
    };
    let mut r = match prev {
        Some(p) => p.clone(),
        // A conversation from before reports existed: its row starts from what its record
        // says, and only what happens from now on is counted.
        None if c.version > 0 => ConversationReport {
            conversation_id: c.id.clone(),
            channel: channel.clone(),
            team: team_now.clone(),
            agent: name(c.assignee.as_ref()),
            opened_at: c.created_at,
            first_handoff_at: c.handoff_at,
            queued_at: c.handoff_at,
            first_assigned_at: c.assigned_at,
            first_response_at: c.first_response_at,
            held_since: c
                .assigned_at
                .filter(|_| c.status == ConversationStatus::Assigned),
            status: c.status.as_str().to_string(),
            ..ConversationReport::default()
        },
        None => {
            out.push(c.created_at, &team_now, "", Measure::Opened, None);
            ConversationReport {
                conversation_id: c.id.clone(),
                channel: channel.clone(),
                opened_at: c.created_at,
                ..ConversationReport::default()
            }
        }
    };
    let before_team = r.team.clone();
    let before_status = r.status.clone();

    // Into the queue: a handoff, a transfer or a reopen sets a new `handoff_at`.
    if let Some(handoff) = c.handoff_at
        && r.queued_at != Some(handoff)
    {
        if r.first_handoff_at.is_none() {
            r.first_handoff_at = Some(handoff);
            out.push(handoff, &team_now, "", Measure::HandedOff, None);
        }
        r.queued_at = Some(handoff);
    }

    // The assignment held before the step ends when its agent no longer holds it.
    let holder_now = (c.status == ConversationStatus::Assigned)
        .then(|| name(c.assignee.as_ref()))
        .filter(|a| !a.is_empty());
    let same_hold =
        holder_now.as_deref() == Some(r.agent.as_str()) && c.assigned_at == r.held_since;
    if let Some(since) = r.held_since
        && !same_hold
    {
        r.handle_ms += (now - since).max(0);
        let agent = r.agent.clone();
        out.time(&before_team, &agent, Measure::HandleTime, since, now);
        r.held_since = None;
    }
    // A new assignment: the wait in the queue ends.
    if let Some(agent) = &holder_now
        && !same_hold
    {
        let at = c.assigned_at.unwrap_or(now);
        r.held_since = Some(at);
        r.first_assigned_at.get_or_insert(at);
        if let Some(queued) = r.queued_at {
            r.wait_ms += (at - queued).max(0);
            out.time(&team_now, agent, Measure::WaitInQueue, queued, at);
        }
    }

    let agent_now = name(c.assignee.as_ref());
    for e in facts.events {
        match e.kind.as_str() {
            "transferred" => {
                r.transfers += 1;
                out.push(
                    now,
                    &before_team,
                    &name(e.agent.as_ref()),
                    Measure::Transfers,
                    None,
                );
                let to_team = e
                    .team
                    .as_ref()
                    .map(|t| t.to_string())
                    .unwrap_or(team_now.clone());
                let to_agent = holder_now.clone().unwrap_or_default();
                out.push(now, &to_team, &to_agent, Measure::TransfersIn, None);
            }
            "reopened" => {
                r.reopens += 1;
                out.push(now, &team_now, &agent_now, Measure::Reopened, None);
            }
            kind @ ("offered" | "offer_accepted" | "offer_rejected" | "offer_expired"
            | "assigned") => {
                let measure = match kind {
                    "offered" => Measure::Offered,
                    "offer_accepted" => Measure::OfferAccepted,
                    "offer_rejected" => Measure::OfferDeclined,
                    "offer_expired" => Measure::OfferExpired,
                    _ => Measure::Assigned,
                };
                let team = e
                    .team
                    .as_ref()
                    .map(|t| t.to_string())
                    .unwrap_or(team_now.clone());
                out.push(now, &team, &name(e.agent.as_ref()), measure, None);
            }
            kind @ ("sla_met" | "sla_missed") => {
                let clock = e
                    .detail
                    .as_deref()
                    .and_then(crate::reports::sla::Clock::parse);
                if let Some((_, met, missed)) =
                    Measure::SLA.iter().find(|(c, _, _)| Some(*c) == clock)
                {
                    let measure = if kind == "sla_met" { *met } else { *missed };
                    out.push(now, &team_now, &agent_now, measure, None);
                }
            }
            _ => {}
        }
    }

    // Replies: the first answers the handoff, the next ones the customer's last message.
    if facts.agent_replies > 0 {
        r.replies += facts.agent_replies as i64;
        for _ in 0..facts.agent_replies {
            out.push(now, &team_now, &agent_now, Measure::Replies, None);
        }
        if r.first_response_at.is_none() {
            let at = c.first_response_at.unwrap_or(now);
            r.first_response_at = Some(at);
            if let Some(handoff) = r.first_handoff_at {
                out.time(&team_now, &agent_now, Measure::FirstResponse, handoff, at);
            }
        } else if let Some(since) = r.awaiting_since {
            out.time(&team_now, &agent_now, Measure::NextResponse, since, now);
        }
        r.awaiting_since = None;
    }
    if facts.customer_wrote && r.first_response_at.is_some() && r.awaiting_since.is_none() {
        r.awaiting_since = Some(now);
    }

    // Resolved: by the bot alone (never handed off), abandoned (resolved from the queue with no
    // agent's reply ever), or by agents.
    if c.status == ConversationStatus::Resolved && before_status != "resolved" {
        let at = c.resolved_at.unwrap_or(now);
        r.resolved_at = Some(at);
        r.awaiting_since = None;
        let outcome = if r.first_handoff_at.is_none() {
            Outcome::Bot
        } else if r.first_response_at.is_none() && before_status == "waiting" {
            Outcome::Abandoned
        } else {
            Outcome::Agent
        };
        r.outcome = Some(outcome);
        let measure = match outcome {
            Outcome::Bot => Measure::ResolvedByBot,
            Outcome::Agent => Measure::ResolvedByAgent,
            Outcome::Abandoned => Measure::Abandoned,
        };
        out.push(at, &team_now, &agent_now, measure, None);
        if outcome == Outcome::Agent {
            out.time(&team_now, &agent_now, Measure::Resolution, r.opened_at, at);
        }
    }

    r.team = team_now;
    r.agent = agent_now;
    r.status = c.status.as_str().to_string();
    r.updated_at = now;
    (r, out.deltas)
}

/// The deltas of one step, as they are pushed.
struct Out<'c> {
    channel: String,
    calendars: &'c TeamCalendars,
    deltas: Vec<Delta>,
}

impl Out<'_> {
    fn push(&mut self, at: i64, team: &str, agent: &str, measure: Measure, ms: Option<i64>) {
        self.deltas.push(Delta {
            hour: hour_of(at),
            team: team.to_string(),
            agent: agent.to_string(),
            channel: self.channel.clone(),
            measure,
            ms,
        })
    }

    /// A time from `start` to `end`, counted at `end`; and, under a team with a calendar, its
    /// business-hours variant (the opening hours within the same span).
    fn time(&mut self, team: &str, agent: &str, measure: Measure, start: i64, end: i64) {
        self.push(end, team, agent, measure, Some((end - start).max(0)));
        if let (Some(calendar), Some(bh)) = (self.calendars.of(team), measure.business_hours()) {
            let ms = calendar.business_ms(start, end);
            self.push(end, team, agent, bh, Some(ms));
        }
    }
}
