//! Reports (docs/REPORTS.md): conversation steps write rollups — counts, sums and DDSketch
//! bins per UTC hour × team × agent × channel × measure — in the step's own transaction, and a
//! per-conversation report row with its times; a report over any range and grouping is a merge
//! of rollups, never a scan of history.
//!
//! - [`measures`]: what a step adds (pure: the report row before, the step → the row after and
//!   the rollup deltas);
//! - [`sketch`]: the mergeable percentile sketch (1% relative error);
//! - [`summary`]: the range, time zone and grouping of a query, and the merge into the answer;
//! - [`levels`]: the coarser rollups (per team or agent and UTC hour, day or month) written by
//!   the same steps, and which of their rows make up a report; [`read`]: a report read;
//! - [`csv`]: one row per conversation;
//! - [`hours`]: business-hours arithmetic (per-weekday local hours, DST-aware);
//! - [`sla`], [`sla_rules`]: SLA clocks and the policies in effect; [`live`]: the board's
//!   at-risk and breached counts.

pub mod csv;
pub mod hours;
pub mod levels;
pub mod live;
pub mod measures;
pub mod presence;
pub mod read;
pub mod sampler;
pub mod sketch;
pub mod sla;
pub mod sla_rules;
pub mod sla_team;
pub mod summary;

pub use measures::{ConversationReport, Delta, Measure, Outcome, StepFacts, advance};

#[cfg(test)]
mod tests;
