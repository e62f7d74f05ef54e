//! The 131049 retry lane (docs/CAMPAIGNS.md, "131049: later, never at once"). Meta answers
//! 131049 when it does not deliver a marketing template "to maintain healthy ecosystem
//! engagement" (the per-user marketing limit); resending at once may block the customer for a
//! day. The store writes a retry with the failure, in the same transaction; this lane sends it
//! when its attempt's wait has passed (`campaigns.retry_131049_ms`: 12 h, 24 h, 48 h), one node
//! at a time per retry (a lease), through the conversation's actor like a business system's
//! send, after the same rules as any template (approved, country, consent; the actor weighs
//! the messaging limit). The message id is chosen when the retry is first claimed: a node that
//! dies after the send leaves a message with that id, and whoever claims the retry next finds it
//! and sends nothing.

use std::sync::Arc;
use std::time::Duration;

use super::Campaigns;
use super::records::{RetryState, TemplateRetry};
use crate::conversation::Conversations;
use crate::conversation::commands::{BusinessCommand, Command, CommandError};
use crate::domain::{ChannelId, ConversationKey, CustomerId, MessageId, OutboundContent};
use crate::store::StoreError;

/// Retries taken per round.
const BATCH: i64 = 100;

/// What became of one retry.
#[derive(Debug, PartialEq)]
pub struct Settled {
    pub state: RetryState,
    pub note: Option<String>,
}

impl Settled {
    fn of(state: RetryState, note: impl Into<Option<String>>) -> Self {
        Self {
            state,
            note: note.into(),
        }
    }
}

/// The waits of the retries after their failure, in ms (retry k waits `waits[k - 1]`).
pub fn waits_of(settings: &crate::config::CampaignSettings) -> Vec<i64> {
    settings
        .retry_131049_ms
        .iter()
        .map(|ms| i64::try_from(*ms).unwrap_or(i64::MAX))
        .collect()
}

/// Send the retries due now, every `campaigns.retry_poll_interval_ms`.
pub fn spawn(
    campaigns: Arc<Campaigns>,
    conversations: Conversations,
    settings: &crate::config::CampaignSettings,
) -> actix_rt::task::JoinHandle<()> {
    let waits = waits_of(settings);
    let every = Duration::from_millis(settings.retry_poll_interval_ms.max(10));
    let lease_ms = i64::try_from(settings.retry_lease_ms.max(1_000)).unwrap_or(300_000);
    actix_rt::spawn(async move {
        loop {
            if let Err(e) = round(&campaigns, &conversations, &waits, lease_ms).await {
                tracing::warn!(error = %e, "template retries: a round failed");
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// One round: claim the due retries and send each.
pub async fn round(
    campaigns: &Campaigns,
    conversations: &Conversations,
    waits: &[i64],
    lease_ms: i64,
) -> Result<usize, StoreError> {
    let now = chrono::Utc::now().timestamp_millis();
    let claimed = campaigns
        .records
        .claim_retries(now, waits, now + lease_ms, BATCH)
        .await?;
    let n = claimed.len();
    for retry in claimed {
        let settled = send(campaigns, conversations, &retry).await?;
        tracing::info!(
            failed = %retry.failed_message,
            channel = %retry.channel,
            attempt = retry.attempt,
            state = settled.state.as_str(),
            note = settled.note.as_deref().unwrap_or(""),
            "template retry after 131049"
        );
        if settled.state != RetryState::Due {
            campaigns
                .records
                .settle_retry(
                    &retry.failed_message,
                    settled.state,
                    settled.note.as_deref(),
                )
                .await?;
        }
    }
    Ok(n)
}

/// Send one claimed retry, unless it was sent already or the rules refuse it now.
async fn send(
    campaigns: &Campaigns,
    conversations: &Conversations,
    retry: &TemplateRetry,
) -> Result<Settled, StoreError> {
    let Some(id) = retry.sent_message.as_deref().and_then(MessageId::parse) else {
        return Ok(Settled::of(
            RetryState::GaveUp,
            "the retry has no message id".to_string(),
        ));
    };
    if campaigns.records.message_exists(&id.to_string()).await? {
        return Ok(Settled::of(RetryState::Sent, None));
    }
    let content: OutboundContent = match serde_json::from_str(&retry.content) {
        Ok(content) => content,
        Err(e) => {
            return Ok(Settled::of(
                RetryState::GaveUp,
                format!("the failed message's content is unreadable: {e}"),
            ));
        }
    };
    let OutboundContent::Template { name, language, .. } = &content else {
        return Ok(Settled::of(
            RetryState::GaveUp,
            "the failed message is not a template".to_string(),
        ));
    };
    // The rules as they are now: the template may be paused, the customer may have opted out.
    if let Err(refusal) = campaigns
        .template_check(&retry.channel, &retry.customer, name, language)
        .await?
    {
        let note = match refusal {
            crate::integrations::send::Refusal::Rule { code, message } => {
                format!("{code}: {message}")
            }
            crate::integrations::send::Refusal::BadRequest(message) => message,
        };
        return Ok(Settled::of(RetryState::Refused, note));
    }
    let channel = ChannelId::new(retry.channel.as_str());
    let customer = CustomerId::new(retry.customer.as_str());
    let key = ConversationKey::new(&channel, &customer);
    let command = Command::Business {
        key: "retry-131049".into(),
        key_name: format!("131049 retry {}", retry.attempt),
        action: BusinessCommand::Send {
            channel: channel.clone(),
            customer,
            content,
            id: Some(id),
        },
    };
    Ok(match conversations.command(&channel, &key, command).await {
        Ok(_) => Settled::of(RetryState::Sent, None),
        // Held: tried again when the lease lapses.
        Err(CommandError::MessagingLimit { .. } | CommandError::Unavailable(_)) => {
            Settled::of(RetryState::Due, None)
        }
        Err(e) => Settled::of(RetryState::Refused, e.to_string()),
    })
}
