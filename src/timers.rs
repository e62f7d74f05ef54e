//! Timers of the desk: an offer not accepted in time, a conversation waiting past its team's
//! overflow wait, a snooze ending. Each ends in a command to the conversation's own actor, which
//! re-checks its state before acting, so a timer that fires late or twice is harmless.
//!
//! [`LocalTimers`] keeps them in this process (the embedded mode; snoozes are rescheduled from
//! the store at start). In a cluster they live in Redis (`cluster::timers`), so a timer set
//! by a node that dies still fires, on whichever node owns the conversation then.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::assign::ConversationRef;
use crate::conversation::Conversations;
use crate::conversation::commands::Command;

/// The conversation router, set once it exists (it needs the desk, which needs the timers).
pub type ConversationsCell = Arc<OnceLock<Conversations>>;

/// Runs a command in a conversation's actor at a time.
pub trait Scheduler: Send + Sync + 'static {
    /// Run `command` for `conversation` at `at_ms` (unix ms; at once if past). Never blocks.
    fn schedule(&self, at_ms: i64, conversation: &ConversationRef, command: Command);
}

/// Timers in this process's memory.
pub struct LocalTimers {
    conversations: ConversationsCell,
}

impl LocalTimers {
    pub fn new(conversations: ConversationsCell) -> Self {
        Self { conversations }
    }
}

impl Scheduler for LocalTimers {
    fn schedule(&self, at_ms: i64, conversation: &ConversationRef, command: Command) {
        let Some(conversations) = self.conversations.get().cloned() else {
            tracing::error!(conversation = %conversation.id, "a timer before the conversations exist; dropped");
            return;
        };
        let delay = u64::try_from(at_ms - chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        let conversation = conversation.clone();
        actix_rt::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            conversations.tell(&conversation.channel, &conversation.key, command);
        });
    }
}
