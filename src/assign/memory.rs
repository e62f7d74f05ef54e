//! The embedded-mode [`Assignments`]: one [`Board`] behind a mutex, locked only for the
//! synchronous decision itself (never across an await), so every call is atomic.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::domain::{AgentId, Presence, TeamId};

use super::board::{AgentSpec, Board, TeamSpec};
use super::{
    AssignError, Assignments, Configured, ConversationRef, Held, Placement, Snapshot, Ticket,
};

/// Assignment state in this process's memory.
#[derive(Debug)]
pub struct MemoryAssignments {
    board: Mutex<Board>,
    restored: AtomicBool,
}

impl MemoryAssignments {
    /// Serve the decisions of `board`.
    pub fn new(board: Board) -> Self {
        Self {
            board: Mutex::new(board),
            restored: AtomicBool::new(false),
        }
    }

    /// The board, for one synchronous decision. A panic in an earlier holder poisons the lock;
    /// the board is still consistent between operations, so the poison is ignored.
    fn board(&self) -> MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Panic while holding the lock, poisoning it (tests only).
    #[cfg(test)]
    pub(crate) fn poison_for_test(&self) {
        let _board = self.board();
        panic!("poisoning the assignment lock on purpose");
    }
}

#[async_trait]
impl Assignments for MemoryAssignments {
    async fn place(&self, ticket: Ticket) -> Result<Placement, AssignError> {
        self.board().place(ticket)
    }

    async fn assign_to(&self, agent: &AgentId, ticket: Ticket) -> Result<Placement, AssignError> {
        self.board().assign_to(agent, ticket)
    }

    async fn set_presence(
        &self,
        agent: &AgentId,
        presence: Presence,
        now_ms: i64,
    ) -> Result<Vec<Placement>, AssignError> {
        self.board().set_presence(agent, presence, now_ms)
    }

    async fn heartbeat(&self, agents: &[AgentId], until_ms: i64) -> Result<(), AssignError> {
        self.board().heartbeat(agents, until_ms);
        Ok(())
    }

    async fn expire_presence(&self, now_ms: i64) -> Result<Vec<AgentId>, AssignError> {
        Ok(self.board().expire_presence(now_ms))
    }

    async fn release(
        &self,
        conversation_id: &str,
    ) -> Result<(Option<Held>, Vec<Placement>), AssignError> {
        self.board().release(conversation_id)
    }

    async fn accept(
        &self,
        agent: &AgentId,
        conversation_id: &str,
    ) -> Result<Placement, AssignError> {
        self.board().accept(agent, conversation_id)
    }

    async fn decline(
        &self,
        agent: &AgentId,
        conversation_id: &str,
    ) -> Result<Vec<Placement>, AssignError> {
        self.board().decline(agent, conversation_id)
    }

    async fn overflow(
        &self,
        conversation_id: &str,
        to: &TeamId,
    ) -> Result<Option<Placement>, AssignError> {
        self.board().overflow(conversation_id, to)
    }

    async fn held(&self, conversation_id: &str) -> Result<Option<Held>, AssignError> {
        self.board().held(conversation_id)
    }

    async fn position(&self, conversation_id: &str) -> Result<Option<usize>, AssignError> {
        self.board().position(conversation_id)
    }

    async fn snapshot(&self) -> Result<Snapshot, AssignError> {
        self.board().snapshot()
    }

    async fn holdings(&self) -> Result<Vec<(ConversationRef, Held)>, AssignError> {
        Ok(self.board().holdings())
    }

    async fn configure(
        &self,
        teams: Vec<TeamSpec>,
        agents: Vec<AgentSpec>,
        version: i64,
    ) -> Result<Configured, AssignError> {
        Ok(self.board().configure(teams, agents, version))
    }

    async fn configured_version(&self) -> Result<i64, AssignError> {
        Ok(self.board().configured_version())
    }

    async fn holdings_of(&self, agent: &AgentId) -> Result<Vec<ConversationRef>, AssignError> {
        Ok(self.board().holdings_of(agent))
    }

    async fn requeue(&self, conversation_id: &str) -> Result<Vec<Placement>, AssignError> {
        Ok(self.board().requeue(conversation_id))
    }

    async fn is_ready(&self) -> Result<bool, AssignError> {
        Ok(self.restored.load(Ordering::Acquire))
    }

    async fn restore(
        &self,
        assigned: Vec<(Ticket, AgentId)>,
        waiting: Vec<Ticket>,
    ) -> Result<bool, AssignError> {
        self.board().restore(assigned, waiting)?;
        self.restored.store(true, Ordering::Release);
        Ok(true)
    }
}
