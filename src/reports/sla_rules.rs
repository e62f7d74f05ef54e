//! The SLA policies and business-hours calendars in effect, and what they make of a
//! conversation: its live state (for views) and when its actor must look again (a breach).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::hours::{Calendar, TeamCalendars};
use super::sla::{self, Policies, Policy, Rule, SlaState};
use crate::accounts::directory::Directory;
use crate::config::Settings;
use crate::domain::TeamId;
use crate::store::{ConversationRecord, ConversationStatus};

#[derive(Clone, Default)]
pub struct SlaRules {
    policies: Policies,
    calendars: HashMap<String, Arc<Calendar>>,
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
            calendars.insert(name.clone(), Arc::new(calendar));
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
            .and_then(|name| self.calendars.get(name))
            .map(|c| c.as_ref());
        Some((policy, calendar))
    }

    /// The calendar a team names, if it names one the configuration defines.
    fn calendar_of(&self, team: &TeamId) -> Option<Arc<Calendar>> {
        let name = self
            .directory
            .as_ref()?
            .get()
            .team(team)
            .and_then(|t| t.business_hours.clone())?;
        self.calendars.get(&name).cloned()
    }

    /// The calendars of these teams (those that have one), for a step's report times.
    pub fn team_calendars<'t>(
        &self,
        teams: impl IntoIterator<Item = Option<&'t TeamId>>,
    ) -> TeamCalendars {
        let mut found: Vec<(String, Arc<Calendar>)> = Vec::new();
        for team in teams.into_iter().flatten() {
            if found.iter().any(|(t, _)| t == team.as_str()) {
                continue;
            }
            if let Some(calendar) = self.calendar_of(team) {
                found.push((team.as_str().to_string(), calendar));
            }
        }
        TeamCalendars::new(found)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::directory::Snapshot;
    use crate::accounts::model::{DirectoryData, Team, TeamSlaPolicy};
    use crate::assign::Strategy;
    use crate::domain::{ChannelId, ConversationKey, CustomerId, TeamId};

    fn team(id: &str, sla: Vec<TeamSlaPolicy>) -> Team {
        Team {
            id: TeamId::new(id),
            name: id.into(),
            description: None,
            strategy: Strategy::LeastBusy,
            offer_timeout_seconds: 0,
            overflow_team: None,
            overflow_after_seconds: 0,
            max_queue: 10,
            private: false,
            mask_numbers: None,
            business_hours: None,
            sla,
            created_at: 0,
            updated_at: 0,
        }
    }

    /// Configured first responses: support 300 s, any other team 600 s; support's own
    /// policies `support`, sales has none.
    fn rules(support: Vec<TeamSlaPolicy>) -> SlaRules {
        let configured = |team: Option<&str>, seconds: i64| Rule {
            team: team.map(str::to_owned),
            priority: None,
            policy: Policy {
                first_response_ms: Some(seconds * 1000),
                ..Policy::default()
            },
        };
        let directory = Directory::new(Snapshot::new(DirectoryData {
            version: 1,
            teams: vec![team("support", support), team("sales", Vec::new())],
            ..DirectoryData::default()
        }));
        SlaRules {
            policies: Policies {
                rules: vec![configured(Some("support"), 300), configured(None, 600)],
                at_risk: 0.75,
            },
            calendars: HashMap::new(),
            directory: None,
        }
        .with_directory(Arc::new(directory))
    }

    fn handed_off(team: &str, priority: i32) -> ConversationRecord {
        let customer = CustomerId::new("34600000001");
        let channel = ChannelId::new("wa");
        let mut c = ConversationRecord::new(
            ConversationKey::new(&channel, &customer),
            channel,
            customer,
            0,
        );
        c.status = ConversationStatus::Waiting;
        c.team = Some(TeamId::new(team));
        c.priority = priority;
        c.sla.start(1_000);
        c
    }

    fn first_target(rules: &SlaRules, c: &ConversationRecord) -> Option<i64> {
        let state = rules.state(c, 2_000)?;
        state
            .clocks
            .iter()
            .find(|k| k.clock == sla::Clock::FirstResponse)
            .map(|k| k.target_ms)
    }

    #[test]
    fn a_team_with_policies_of_its_own_uses_only_those() {
        let own = vec![TeamSlaPolicy {
            priority: Some(10),
            first_response_seconds: Some(60),
            ..TeamSlaPolicy::default()
        }];
        let rules = rules(own.clone());
        assert_eq!(
            first_target(&rules, &handed_off("support", 10)),
            Some(60_000)
        );
        assert_eq!(
            first_target(&rules, &handed_off("support", 0)),
            None,
            "no policy of its own for that priority: no SLA, not the configured one"
        );
        assert_eq!(
            first_target(&rules, &handed_off("sales", 10)),
            Some(600_000),
            "a team without its own: the configured ones"
        );
        let mut any = own;
        any.push(TeamSlaPolicy {
            priority: None,
            first_response_seconds: Some(120),
            ..TeamSlaPolicy::default()
        });
        let rules_any = self::rules(any);
        assert_eq!(
            first_target(&rules_any, &handed_off("support", 0)),
            Some(120_000)
        );
    }

    #[test]
    fn a_team_without_policies_of_its_own_uses_the_configured_ones() {
        let rules = rules(Vec::new());
        assert_eq!(
            first_target(&rules, &handed_off("support", 10)),
            Some(300_000)
        );
        assert_eq!(
            first_target(&rules, &handed_off("nobody", 0)),
            Some(600_000),
            "a team not in the directory"
        );
    }
}
