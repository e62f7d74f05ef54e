//! Team queue actors: one per team. The queue itself lives in the assignment seam (so a drain
//! is part of the same atomic decision that frees the capacity); the team's actor keeps the
//! queue's clocks: an offer not accepted in time goes to the next agent, and a conversation
//! still queued after the team's overflow wait moves to the overflow team. Each timer ends in
//! a command to the conversation's own actor, which re-checks its state before acting.

use std::time::Duration;

use actix::prelude::*;

use crate::assign::Placement;
use crate::conversation::commands::Command;
use crate::desk::RegistryCell;
use crate::domain::TeamId;

/// Start the team's timers for a placement it made (offered → offer timeout, queued →
/// overflow).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Watch(pub Placement);

pub struct TeamQueueActor {
    team: TeamId,
    offer_timeout: Option<Duration>,
    overflow: Option<(TeamId, Duration)>,
    registry: RegistryCell,
}

impl TeamQueueActor {
    pub fn new(
        team: TeamId,
        offer_timeout: Option<Duration>,
        overflow: Option<(TeamId, Duration)>,
        registry: RegistryCell,
    ) -> Self {
        Self {
            team,
            offer_timeout,
            overflow,
            registry,
        }
    }

    /// Send a command to a conversation's actor without waiting for it here.
    fn tell(&self, placement: &Placement, command: Command) {
        let Some(registry) = self.registry.get().cloned() else {
            return;
        };
        let conversation = placement.conversation().clone();
        actix_rt::spawn(async move {
            if let Err(e) = registry
                .command(&conversation.channel, &conversation.key, command)
                .await
            {
                tracing::warn!(conversation = %conversation.id, error = %e, "queue timer command failed");
            }
        });
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

    fn handle(&mut self, Watch(placement): Watch, ctx: &mut Self::Context) {
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
                    ctx.run_later(timeout, move |act, _| act.tell(&placement, command));
                }
            }
            Placement::Queued { conversation, .. } => {
                if let Some((to, after)) = self.overflow.clone() {
                    let command = Command::Overflow {
                        conversation_id: conversation.id.clone(),
                        from: self.team.clone(),
                        to,
                    };
                    ctx.run_later(after, move |act, _| act.tell(&placement, command));
                }
            }
            Placement::Assigned { .. } => {}
        }
    }
}
