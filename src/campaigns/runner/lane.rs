//! The campaign lane: every `campaigns.poll_interval_ms` a node looks for a running campaign
//! nobody holds and takes it by a lease (renewed while it sends; another node takes over when
//! it lapses). Holding it, the node writes its audience page by page, then sends to its
//! recipients at the campaign's rate (its share of the number's throughput), and only while
//! the number's sender has no backlog: live conversations' messages go first.
//!
//! Exactly once: a recipient is claimed with its message's id before the send, and sent
//! through the conversation's actor like a business system's template (the outbound message
//! is recorded with that id in the conversation's step, then sent once by the number's sender,
//! which settles a crash mid-request by the status webhook carrying the id). Whoever claims a
//! recipient again (a node died) finds the message of that id and sends nothing.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::{StreamExt, TryStreamExt};

use super::store::{CampaignRow, Claimed};
use super::{RunError, Runner, spec_of};
use crate::campaigns::Campaigns;
use crate::campaigns::campaign::{self, CampaignSpec, State, Window};
use crate::campaigns::templates::{self, Category};
use crate::conversation::Conversations;
use crate::conversation::commands::{BusinessCommand, Command, CommandError};
use crate::domain::{ChannelId, ConversationKey, CustomerId, MessageId, OutboundContent};
use crate::outbound::Outbound;

/// A recipient held back (the sender is unavailable) is tried again this much later.
const HELD_MS: i64 = 5_000;
/// Recipients of a batch sent at once (each waits for its conversation's step).
const IN_FLIGHT: usize = 32;

/// What a lane needs.
#[derive(Clone)]
pub struct Lane {
    pub runner: Arc<Runner>,
    pub campaigns: Arc<Campaigns>,
    pub conversations: Conversations,
    pub outbound: Outbound,
}

/// Run the lane on this node.
pub fn spawn(lane: Lane) -> actix_rt::task::JoinHandle<()> {
    actix_rt::spawn(async move {
        let every = Duration::from_millis(lane.runner.settings().poll_interval_ms.max(10));
        loop {
            if let Err(e) = lane.round().await {
                tracing::warn!(error = %e, "campaigns: a round failed");
            }
            tokio::time::sleep(every).await;
        }
    })
}

impl Lane {
    fn lease_ms(&self) -> i64 {
        i64::try_from(self.runner.settings().lease_ms.max(1_000)).unwrap_or(30_000)
    }

    /// Take each running campaign nobody holds and send it while there is work due.
    pub async fn round(&self) -> Result<(), RunError> {
        let now = Utc::now().timestamp_millis();
        for id in self.runner.store.due(now).await? {
            let until = now + self.lease_ms();
            if !self.runner.store.lease(&id, now, None, until).await? {
                continue;
            }
            let mut held = until;
            let sent = self.run(&id, &mut held).await;
            // Let it go even after an error (the next round takes it again at once, rather
            // than after the lease lapses).
            let released = self.runner.store.release(&id, held).await;
            sent?;
            released?;
        }
        Ok(())
    }

    /// Send campaign `id`, held until `until` (renewed there), while it runs and has recipients
    /// due.
    async fn run(&self, id: &str, until: &mut i64) -> Result<(), RunError> {
        let mut limiter: Option<(u32, governor::DefaultDirectRateLimiter)> = None;
        // The campaign's number, once its row is read.
        let mut held_channel = String::new();
        loop {
            let now = Utc::now().timestamp_millis();
            // Renew the lease once half of it is gone; lost (a pause, or another node): stop.
            if *until - now < self.lease_ms() / 2 {
                let next = now + self.lease_ms();
                if !self.runner.store.lease(id, now, Some(*until), next).await? {
                    return Ok(());
                }
                *until = next;
            }
            // Live first: while live traffic backs up on this node (the number's sender, or
            // customers' messages waiting for their conversations), the campaign waits, and
            // costs nothing but this check (a pause or a lost lease is seen at the renewal).
            if self.busy(&held_channel) {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            let Some(row) = self.runner.store.get(id).await? else {
                return Ok(());
            };
            if row.state != State::Running.as_str() {
                return Ok(());
            }
            held_channel.clone_from(&row.channel);
            // The audience is written a page a round, between batches: sending starts with
            // the first page.
            let writing = row.audience_done == 0;
            if writing {
                self.runner.write_audience_page(&row).await?;
            }
            let spec = spec_of(&row)?;
            if let Some(reason) = self.template_stop(&row).await? {
                tracing::warn!(campaign = id, reason, "campaign paused");
                self.runner
                    .store
                    .set_state(id, &[State::Running], State::Paused, Some(&reason), now)
                    .await?;
                return Ok(());
            }
            let batch = i64::try_from(self.runner.settings().batch.max(1)).unwrap_or(50);
            let started = std::time::Instant::now();
            let claimed = self.runner.store.claim(id, now, batch).await?;
            let claim_ms = started.elapsed().as_millis();
            if claimed.is_empty() {
                if writing {
                    continue;
                }
                if self.runner.store.remaining(id).await? == 0 {
                    self.runner
                        .store
                        .set_state(id, &[State::Running], State::Completed, None, now)
                        .await?;
                    tracing::info!(campaign = id, "campaign completed");
                }
                // Else nothing is due yet (a window, the messaging limit): the next round
                // looks again.
                return Ok(());
            }
            let rate = self.runner.rate_of(&row.channel, &spec);
            if limiter.as_ref().is_none_or(|(r, _)| *r != rate) {
                let per_second = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
                // Smooth: a twentieth of a second's worth at once at most.
                let burst = NonZeroU32::new(rate / 20).unwrap_or(NonZeroU32::MIN);
                limiter = Some((
                    rate,
                    governor::RateLimiter::direct(
                        governor::Quota::per_second(per_second).allow_burst(burst),
                    ),
                ));
            }
            let limiter = limiter.as_ref().map(|(_, l)| l);
            let (row, spec) = (&row, &spec);
            // The batch goes out at the rate, many at once (each through its conversation's
            // actor); what became of each is written in one transaction.
            let settled: Vec<(String, Settled)> = futures::stream::iter(claimed)
                .map(|recipient| async move {
                    if let Some(limiter) = limiter {
                        limiter.until_ready().await;
                    }
                    // Live traffic backed up meanwhile: the rest of the batch goes back to
                    // wait (keeping its message ids), rather than compete with it.
                    if self.busy(&row.channel) {
                        let now = Utc::now().timestamp_millis();
                        return Ok((recipient.contact, Settled::Later(now)));
                    }
                    let settled = self.send(row, spec, &recipient).await;
                    settled.map(|s| (recipient.contact, s))
                })
                .buffer_unordered(IN_FLIGHT)
                .try_collect()
                .await?;
            let rows: Vec<(String, &'static str, Option<String>, Option<i64>)> = settled
                .into_iter()
                .map(|(contact, settled)| match settled {
                    Settled::Sent => (contact, "sent", None, None),
                    Settled::Refused(reason) => (contact, "refused", Some(reason), None),
                    Settled::Later(at) => (contact, "pending", None, Some(at)),
                })
                .collect();
            let send_ms = started.elapsed().as_millis() - claim_ms;
            self.runner.store.settle(id, &rows).await?;
            tracing::debug!(
                campaign = id,
                recipients = rows.len(),
                claim_ms,
                send_ms,
                settle_ms = started.elapsed().as_millis() - claim_ms - send_ms,
                "campaign batch"
            );
        }
    }

    /// Whether live traffic backs up on this node, so the campaign waits: more than
    /// `campaigns.live_backlog` customers' events wait for their conversations (the gateway is
    /// busy with live work), or the number's sender holds more than a batch (the campaign's own
    /// messages, paced below the number's throughput, drain at once; a live message waits
    /// behind one batch at most).
    fn busy(&self, channel: &str) -> bool {
        let settings = self.runner.settings();
        if self.conversations.registry().deps().backlog.len() > settings.live_backlog {
            return true;
        }
        !channel.is_empty()
            && self
                .outbound
                .sender(&ChannelId::new(channel))
                .is_some_and(|s| s.pending() > settings.batch.max(1))
    }

    /// Why the campaign must stop for its template (paused, disabled, re-categorised, gone),
    /// when it must.
    async fn template_stop(&self, row: &CampaignRow) -> Result<Option<String>, RunError> {
        let template = self
            .campaigns
            .records
            .template(&row.channel, &row.template, &row.language)
            .await?;
        let Some(template) = template else {
            return Ok(Some(format!(
                "template {} ({}) is no longer at Meta",
                row.template, row.language
            )));
        };
        if let Err(unusable) = templates::usable(Some(&template)) {
            let refusal =
                crate::integrations::send::unusable_refusal(&row.template, &row.language, unusable);
            return Ok(Some(super::refusal_text(&refusal)));
        }
        let started = row
            .category
            .as_deref()
            .and_then(Category::parse)
            .unwrap_or(template.category);
        if template.category != started {
            return Ok(Some(format!(
                "template {} was re-categorised by Meta from {} to {}",
                row.template,
                started.as_str(),
                template.category.as_str()
            )));
        }
        Ok(None)
    }

    /// Send one claimed recipient, unless its message exists already (sent by a node that
    /// died) or the rules refuse it now.
    async fn send(
        &self,
        row: &CampaignRow,
        spec: &CampaignSpec,
        recipient: &Claimed,
    ) -> Result<Settled, RunError> {
        let now = Utc::now();
        let Some(id) = recipient.message_id.as_deref().and_then(MessageId::parse) else {
            return Ok(Settled::Refused("the recipient has no message id".into()));
        };
        if self
            .campaigns
            .records
            .message_exists(&id.to_string())
            .await?
        {
            return Ok(Settled::Sent);
        }
        let (Some(address), Some(components)) = (&recipient.address, &recipient.components) else {
            return Ok(Settled::Refused("no_number".into()));
        };
        // The window, in the recipient's local time, may have closed since it was due.
        if let Some(window) = spec
            .schedule
            .window
            .as_ref()
            .and_then(|w| Window::of(w).ok())
        {
            let zone = recipient.zone.as_deref().and_then(campaign::zone_of);
            let open = window.next_open(now, zone);
            if open > now {
                return Ok(Settled::Later(open.timestamp_millis()));
            }
        }
        // The rules as they are now: consent may have changed, a country rule, the template.
        match self
            .campaigns
            .template_check(&row.channel, address, &row.template, &row.language)
            .await?
        {
            Ok(_) => {}
            Err(refusal) => {
                let code = match refusal {
                    // The template (paused, disabled, gone): the recipient waits; the campaign
                    // pauses at its next round with the reason.
                    crate::integrations::send::Refusal::Rule {
                        code: "template_not_approved" | "unknown_template",
                        ..
                    } => {
                        return Ok(Settled::Later(now.timestamp_millis()));
                    }
                    crate::integrations::send::Refusal::Rule { code, .. } => code.to_owned(),
                    crate::integrations::send::Refusal::BadRequest(m) => m,
                };
                return Ok(Settled::Refused(code));
            }
        }
        if let Some(cap) = spec.frequency_cap
            && row.category.as_deref() == Some(Category::Marketing.as_str())
        {
            let since = (now - chrono::Duration::days(i64::from(cap.days))).timestamp_millis();
            let recent = self
                .runner
                .store
                .recent_marketing(std::slice::from_ref(address), since)
                .await?;
            // This recipient's own claim is among them.
            let others = recent.get(address).copied().unwrap_or(0).saturating_sub(1);
            if others >= cap.messages {
                return Ok(Settled::Refused(
                    campaign::Exclusion::FrequencyCap.as_str().into(),
                ));
            }
        }
        let components: serde_json::Value = match serde_json::from_str(components) {
            Ok(c) => c,
            Err(e) => return Ok(Settled::Refused(format!("unreadable components: {e}"))),
        };
        let channel = ChannelId::new(row.channel.as_str());
        let customer = CustomerId::new(address.as_str());
        let key = ConversationKey::new(&channel, &customer);
        let command = Command::Business {
            key: format!("campaign:{}", row.id),
            key_name: format!("campaign {}", row.name),
            action: BusinessCommand::Send {
                channel: channel.clone(),
                customer,
                content: OutboundContent::Template {
                    name: row.template.clone(),
                    language: row.language.clone(),
                    components,
                    marketing_api: self.runner.settings().marketing_messages_api
                        && row.category.as_deref() == Some(Category::Marketing.as_str()),
                    campaign: Some(row.id.clone()),
                },
                id: Some(id),
            },
        };
        Ok(
            match self.conversations.command(&channel, &key, command).await {
                Ok(_) => Settled::Sent,
                Err(CommandError::MessagingLimit {
                    retry_after_seconds,
                    ..
                }) => {
                    let wait = i64::try_from(retry_after_seconds)
                        .unwrap_or(86_400)
                        .saturating_mul(1000);
                    Settled::Later(now.timestamp_millis() + wait.max(HELD_MS))
                }
                Err(CommandError::Unavailable(_)) => {
                    Settled::Later(now.timestamp_millis() + HELD_MS)
                }
                Err(e) => Settled::Refused(e.to_string()),
            },
        )
    }
}

/// What became of one claimed recipient.
#[derive(Debug, PartialEq)]
enum Settled {
    Sent,
    Refused(String),
    /// Back to pending, from then.
    Later(i64),
}
