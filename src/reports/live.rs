//! The supervisor board's view of the open conversations: each one's team, and which have a
//! clock at risk or breached now, per team. Read from the store (every open conversation's SLA marks) at most once
//! per [`MAX_AGE_MS`] per node, whoever asks; a conversation's status is then told at the
//! moment of the question from its clocks' turning points, so a cached read never shows a
//! clock on track after its time came.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Mutex;

use super::sla::SlaState;
use super::sla_rules::SlaRules;
use crate::domain::TeamId;
use crate::store::{ConversationRecord, Store, StoreError};

/// How old the board's read of the open conversations may be.
pub const MAX_AGE_MS: i64 = 5_000;

/// The turning points of a conversation's running clocks: the earliest moment one turns at
/// risk and the earliest moment one breaches.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Watch {
    pub at_risk_at: Option<i64>,
    pub due_at: Option<i64>,
}

/// A running clock's state as the board shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Live {
    OnTrack,
    AtRisk,
    Breached,
}

impl Watch {
    /// The running clocks of `state` (`None`: none runs, whatever the stopped ones say).
    pub fn of(state: &SlaState) -> Option<Watch> {
        let running: Vec<_> = state
            .clocks
            .iter()
            .filter(|c| c.stopped_at.is_none())
            .collect();
        if running.is_empty() {
            return None;
        }
        Some(Watch {
            at_risk_at: running.iter().filter_map(|c| c.at_risk_at).min(),
            due_at: running.iter().filter_map(|c| c.due_at).min(),
        })
    }

    pub fn at(&self, now: i64) -> Live {
        if self.due_at.is_some_and(|due| now >= due) {
            Live::Breached
        } else if self.at_risk_at.is_some_and(|at| now >= at) {
            Live::AtRisk
        } else {
            Live::OnTrack
        }
    }
}

/// What the board reads of one open conversation.
#[derive(Clone, Debug)]
struct Watched {
    team: Option<TeamId>,
    /// `None`: no clock runs.
    watch: Option<Watch>,
}

/// One read of the open conversations (waiting, assigned, snoozed).
#[derive(Debug, Default)]
pub struct Board {
    open: HashMap<String, Watched>,
}

/// A team's counts of open conversations by their clocks' state now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TeamCounts {
    pub at_risk: usize,
    pub breached: usize,
}

impl Board {
    /// The board of `conversations` (open ones) under `rules`, read at `now`.
    pub fn build<'a>(
        rules: &SlaRules,
        conversations: impl IntoIterator<Item = &'a ConversationRecord>,
        now: i64,
    ) -> Board {
        let open = conversations
            .into_iter()
            .map(|c| {
                let watch = rules.state(c, now).as_ref().and_then(Watch::of);
                (
                    c.id.clone(),
                    Watched {
                        team: c.team.clone(),
                        watch,
                    },
                )
            })
            .collect();
        Board { open }
    }

    /// The team of an open conversation, as of the read.
    pub fn team(&self, id: &str) -> Option<&TeamId> {
        self.open.get(id).and_then(|w| w.team.as_ref())
    }

    /// The state of a conversation's running clocks at `now` (`None`: none runs, or not open
    /// at the read).
    pub fn conversation(&self, id: &str, now: i64) -> Option<Live> {
        self.open.get(id)?.watch.map(|w| w.at(now))
    }

    /// Per team, the conversations at risk and breached at `now`.
    pub fn teams(&self, now: i64) -> HashMap<TeamId, TeamCounts> {
        let mut teams: HashMap<TeamId, TeamCounts> = HashMap::new();
        for w in self.open.values() {
            let (Some(team), Some(watch)) = (&w.team, w.watch) else {
                continue;
            };
            let counts = teams.entry(team.clone()).or_default();
            match watch.at(now) {
                Live::OnTrack => {}
                Live::AtRisk => counts.at_risk += 1,
                Live::Breached => counts.breached += 1,
            }
        }
        teams
    }
}

/// The node's cached [`Board`].
pub struct LiveSla {
    store: Arc<dyn Store>,
    rules: SlaRules,
    cached: Mutex<Option<(i64, Arc<Board>)>>,
}

impl LiveSla {
    pub fn new(store: Arc<dyn Store>, rules: SlaRules) -> Self {
        Self {
            store,
            rules,
            cached: Mutex::new(None),
        }
    }

    /// The board as of at most [`MAX_AGE_MS`] ago (one store read for every caller meanwhile).
    pub async fn board(&self, now: i64) -> Result<Arc<Board>, StoreError> {
        let mut cached = self.cached.lock().await;
        if let Some((at, board)) = cached.as_ref()
            && now.saturating_sub(*at) < MAX_AGE_MS
            && now >= *at
        {
            return Ok(board.clone());
        }
        let open = self.store.open_conversations().await?;
        let board = Arc::new(Board::build(&self.rules, &open, now));
        *cached = Some((now, board.clone()));
        Ok(board)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::sla::{Clock, ClockState, Status};

    fn clock(stopped: Option<i64>, at_risk_at: Option<i64>, due_at: Option<i64>) -> ClockState {
        ClockState {
            clock: Clock::FirstResponse,
            status: Status::OnTrack,
            target_ms: 1000,
            started_at: 0,
            stopped_at: stopped,
            at_risk_at,
            due_at,
            elapsed_ms: 0,
        }
    }

    fn state(clocks: Vec<ClockState>) -> SlaState {
        SlaState {
            status: Status::OnTrack,
            business_hours: false,
            clocks,
        }
    }

    #[test]
    fn only_running_clocks_are_watched() {
        assert_eq!(Watch::of(&state(vec![])), None);
        assert_eq!(
            Watch::of(&state(vec![clock(Some(5), Some(750), Some(1000))])),
            None
        );
        let w = Watch::of(&state(vec![
            clock(Some(5), Some(1), Some(2)),
            clock(None, Some(750), Some(1000)),
            clock(None, Some(600), Some(3000)),
        ]))
        .expect("running clocks");
        assert_eq!(
            w,
            Watch {
                at_risk_at: Some(600),
                due_at: Some(1000)
            }
        );
    }

    #[test]
    fn teams_count_their_conversations_by_the_state_now() {
        let watched = |team: Option<&str>, watch: Option<Watch>| Watched {
            team: team.map(TeamId::new),
            watch,
        };
        let due = |at_risk_at, due_at| {
            Some(Watch {
                at_risk_at: Some(at_risk_at),
                due_at: Some(due_at),
            })
        };
        let board = Board {
            open: HashMap::from([
                ("a".to_string(), watched(Some("sales"), due(10, 20))),
                ("b".to_string(), watched(Some("sales"), due(30, 40))),
                ("c".to_string(), watched(Some("sales"), None)),
                ("d".to_string(), watched(Some("support"), due(5, 50))),
                ("e".to_string(), watched(None, due(0, 1))),
            ]),
        };
        let at = |now| {
            let mut teams: Vec<_> = board.teams(now).into_iter().collect();
            teams.sort_by(|x, y| x.0.cmp(&y.0));
            teams
                .into_iter()
                .map(|(team, c)| (team.to_string(), c.at_risk, c.breached))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            at(0),
            vec![("sales".into(), 0, 0), ("support".into(), 0, 0)]
        );
        assert_eq!(
            at(10),
            vec![("sales".into(), 1, 0), ("support".into(), 1, 0)]
        );
        assert_eq!(
            at(30),
            vec![("sales".into(), 1, 1), ("support".into(), 1, 0)]
        );
        assert_eq!(
            at(50),
            vec![("sales".into(), 0, 2), ("support".into(), 0, 1)]
        );
        assert_eq!(board.team("c"), Some(&TeamId::new("sales")));
        assert_eq!(board.conversation("c", 100), None);
        assert_eq!(board.conversation("a", 15), Some(Live::AtRisk));
        assert_eq!(board.conversation("zz", 15), None);
    }

    #[test]
    fn the_state_moves_with_the_clock_at_its_edges() {
        let w = Watch {
            at_risk_at: Some(750),
            due_at: Some(1000),
        };
        assert_eq!(w.at(0), Live::OnTrack);
        assert_eq!(w.at(749), Live::OnTrack);
        assert_eq!(w.at(750), Live::AtRisk);
        assert_eq!(w.at(999), Live::AtRisk);
        assert_eq!(w.at(1000), Live::Breached);
        // Outside business hours a calendar may never get there.
        let never = Watch::default();
        assert_eq!(never.at(i64::MAX), Live::OnTrack);
    }
}
