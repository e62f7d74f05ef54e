//! Team queue actors: one per team. The queue itself lives in the assignment seam (so a drain
//! is part of the same atomic decision that frees the capacity); the team's actor keeps the
//! queue's clocks: an offer not accepted in time goes to the next agent, and a conversation
//! still queued after the team's overflow wait moves to the overflow team. Each timer ends in
//! a command to the conversation's own actor, which re-checks its state before acting.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::assign::Placement;
use crate::conversation::commands::Command;
use crate::domain::TeamId;
use crate::timers::Scheduler;

/// Start the team's timers for a placement it made (offered → offer timeout, queued →
/// overflow).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Watch(pub Placement);

pub struct TeamQueueActor {
    team: TeamId,
    offer_timeout: Option<Duration>,
    overflow: Option<(TeamId, Duration)>,
    timers: Arc<dyn Scheduler>,
}

impl TeamQueueActor {
    pub fn new(
        team: TeamId,
        offer_timeout: Option<Duration>,
        overflow: Option<(TeamId, Duration)>,
        timers: Arc<dyn Scheduler>,
    ) -> Self {
        Self {
            team,
            offer_timeout,
            overflow,
            timers,
        }
    }

    fn after(&self, delay: Duration, placement: &Placement, command: Command) {
        let at = chrono::Utc::now().timestamp_millis()
            + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
        self.timers.schedule(at, placement.conversation(), command);
    }
}

impl Actor for TeamQueueActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        tracing::debug!(team = %self.team, "team queue started");
    }
}

impl Handler<Watch> for TeamQueueActor {
    type Result = ();

    fn handle(&mut self, Watch(placement): Watch, _: &mut Self::Context) {
        match &placement {
            Placement::Offered {
                conversation,
                agent,
                ..
            } => {
                if let Some(timeout) = self.offer_timeout {
                    let command = Command::OfferTimeout {
                        conversation_id: conversation.id.clone(),
                        agent: agent.clone(),
                    };
                    self.after(timeout, &placement, command);
                }
            }
            Placement::Queued { conversation, .. } => {
                if let Some((to, after)) = self.overflow.clone() {
                    let command = Command::Overflow {
                        conversation_id: conversation.id.clone(),
                        from: self.team.clone(),
                        to,
                    };
                    self.after(after, &placement, command);
                }
            }
            Placement::Assigned { .. } => {}
        }
    }
}
