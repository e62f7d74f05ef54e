//! The SLA policies and business-hours calendars in effect, and what they make of a
//! conversation: its live state (for views) and when its actor must look again (a breach).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::hours::Calendar;
use super::sla::{self, Policies, Policy, Rule, SlaState};
use crate::accounts::directory::Directory;
use crate::config::Settings;
use crate::store::{ConversationRecord, ConversationStatus};

#[derive(Clone, Default)]
pub struct SlaRules {
    policies: Policies,
    calendars: HashMap<String, Calendar>,
    /// Where each team's calendar name is (teams are edited at run time).
    directory: Option<Arc<Directory>>,
}

impl SlaRules {
    /// The configured policies and calendars, checked: a bad calendar, target or share is an
    /// error naming it.
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        let mut calendars = HashMap::new();
        for (name, config) in &settings.business_hours {
            let calendar =
                Calendar::from_config(config).map_err(|e| format!("business_hours.{name}: {e}"))?;
            calendars.insert(name.clone(), calendar);
        }
        let at_risk = settings.sla.at_risk;
        if !(at_risk > 0.0 && at_risk <= 1.0) {
            return Err("sla.at_risk must be more than 0 and at most 1".into());
        }
        let mut rules = Vec::new();
        for (i, p) in settings.sla.policies.iter().enumerate() {
            let ms = |seconds: Option<u64>, what: &str| -> Result<Option<i64>, String> {
                match seconds {
                    None => Ok(None),
                    Some(0) => Err(format!("sla.policies[{i}].{what} must be positive")),
                    Some(s) => i64::try_from(s)
                        .ok()
                        .and_then(|s| s.checked_mul(1000))
                        .map(Some)
                        .ok_or_else(|| format!("sla.policies[{i}].{what} is too large")),
                }
            };
            let policy = Policy {
                first_response_ms: ms(p.first_response_seconds, "first_response_seconds")?,
                next_response_ms: ms(p.next_response_seconds, "next_response_seconds")?,
                resolution_ms: ms(p.resolution_seconds, "resolution_seconds")?,
                business_hours: p.business_hours,
            };
            if policy
                == (Policy {
                    business_hours: p.business_hours,
                    ..Policy::default()
                })
            {
                return Err(format!("sla.policies[{i}] sets no target"));
            }
            rules.push(Rule {
                team: p.team.clone(),
                priority: p.priority,
                policy,
            });
        }
        for (id, team) in &settings.teams {
            if let Some(name) = &team.business_hours
                && !calendars.contains_key(name)
            {
                return Err(format!(
                    "teams.{id}.business_hours names {name}, which business_hours does not define"
                ));
            }
        }
        Ok(Self {
            policies: Policies { rules, at_risk },
            calendars,
            directory: None,
        })
    }

    /// These rules reading teams' calendars from `directory`.
    pub fn with_directory(mut self, directory: Arc<Directory>) -> Self {
        self.directory = Some(directory);
        self
    }

    pub fn has_calendar(&self, name: &str) -> bool {
        self.calendars.contains_key(name)
    }

    /// The policy of a conversation and its team's calendar: the team's own policies (set in
    /// the admin API) when it has any, otherwise the configured ones.
    fn policy(&self, c: &ConversationRecord) -> Option<(Cow<'_, Policy>, Option<&Calendar>)> {
        let team = c.team.as_ref()?;
        let people = self.directory.as_ref().map(|d| d.get());
        let record = people.as_ref().and_then(|p| p.team(team));
        let policy = match record.filter(|t| !t.sla.is_empty()) {
            Some(t) => Cow::Owned(super::sla_team::find(&t.sla, c.priority)?),
            None => Cow::Borrowed(self.policies.find(team.as_str(), c.priority)?),
        };
        let calendar = record
            .and_then(|t| t.business_hours.as_ref())
            .and_then(|name| self.calendars.get(name));
        Some((policy, calendar))
    }

    /// The conversation's SLA clocks at `now` (`None`: no policy, or not handed off).
    pub fn state(&self, c: &ConversationRecord, now: i64) -> Option<SlaState> {
        if c.status == ConversationStatus::Bot {
            return None;
        }
        let (policy, calendar) = self.policy(c)?;
        sla::evaluate(
            &c.sla.times(),
            &policy,
            calendar,
            self.policies.at_risk,
            now,
        )
    }

    /// What views show: the state, or null.
    pub fn view(&self, c: &ConversationRecord, now: i64) -> Value {
        match self.state(c, now) {
            Some(state) => json!(state),
            None => Value::Null,
        }
    }

    /// When the conversation's actor should look for a breach next (unannounced clocks).
    pub fn next_due(&self, c: &ConversationRecord, now: i64) -> Option<i64> {
        self.state(c, now)?.next_due(c.sla.announced)
    }

    /// The clocks of a conversation as a step finds it (`None`: a new conversation), read at
    /// the step's time.
    pub fn before_step(&self, c: Option<&ConversationRecord>, now: i64) -> SlaBefore {
        let state = c.and_then(|c| self.state(c, now));
        let due = state
            .as_ref()
            .zip(c)
            .and_then(|(s, c)| s.next_due(c.sla.announced));
        SlaBefore { state, due, now }
    }

    /// What a step did to the clocks of `c` (as it leaves it): the clocks it stopped, met or
    /// not, and the next due time when it moved (or always, with `recheck`: after a check,
    /// which may have come early).
    pub fn after_step(
        &self,
        before: &SlaBefore,
        c: &ConversationRecord,
        recheck: bool,
    ) -> (Vec<(sla::Clock, bool)>, Option<i64>) {
        let after = self.state(c, before.now);
        let settled = before
            .state
            .as_ref()
            .map(|b| b.settled(after.as_ref()))
            .unwrap_or_default();
        let due = after.as_ref().and_then(|a| a.next_due(c.sla.announced));
        let schedule = due.filter(|&d| recheck || Some(d) != before.due);
        (settled, schedule)
    }
}

/// The clocks of a conversation before a step ([`SlaRules::before_step`]).
pub struct SlaBefore {
    state: Option<SlaState>,
    due: Option<i64>,
    now: i64,
}
