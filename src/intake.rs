//! Intake: parsed webhook events in, durably recorded, then dispatched.
//!
//! The order of operations is the durability invariant: map each event to its channel and
//! conversation, check there is room downstream (else shed with 503 before recording
//! anything), record all events in one grouped commit (deduplicating redeliveries), and only
//! then report success so the HTTP edge can answer 200. Dispatch to the conversation actors
//! happens after the commit and never blocks the webhook.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::Settings;
use crate::conversation::InboundLog;
use crate::domain::{
    AccountId, ChannelId, ChannelKind, ConversationKey, InboundEnvelope, InboundEvent,
};
use crate::metrics as m;
use crate::store::{NewInbound, RecordedInbound, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// Downstream queues are full: answer 503 with Retry-After; nothing was recorded.
    #[error("overloaded")]
    Overloaded,
    /// The store could not record the events: answer 503; nothing is acknowledged.
    #[error("store unavailable: {0}")]
    Unavailable(#[from] StoreError),
    /// The events are recorded but their partitions' owners could not be told (cluster mode:
    /// Redis unreachable): answer 503. Meta's retry is a redelivery; the owner's sweep finds the
    /// recorded events meanwhile.
    #[error("{0}")]
    LogUnavailable(#[from] crate::conversation::LogUnavailable),
}

/// What one webhook amounted to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IntakeReport {
    pub recorded: usize,
    pub duplicates: usize,
    pub unrouted: usize,
}

pub struct Intake {
    store: Arc<dyn Store>,
    log: Arc<dyn InboundLog>,
    /// (channel kind, provider account) → configured channel.
    accounts: BTreeMap<(ChannelKind, AccountId), ChannelId>,
    /// Account-level WhatsApp events it acts on once recorded: template changes and customers'
    /// `user_preferences` ([`crate::campaigns::Campaigns::on_account_event`]).
    campaigns: Option<Arc<crate::campaigns::Campaigns>>,
}

/// The account-level WhatsApp webhook fields that change templates or consent.
const ACCOUNT_FIELDS: [&str; 3] = [
    "message_template_status_update",
    "template_category_update",
    crate::campaigns::USER_PREFERENCES,
];

impl Intake {
    pub fn new(settings: &Settings, store: Arc<dyn Store>, log: Arc<dyn InboundLog>) -> Self {
        let accounts = settings
            .channels
            .iter()
            .map(|(id, c)| ((c.kind, c.account()), ChannelId::new(id.clone())))
            .collect();
        Self {
            store,
            log,
            accounts,
            campaigns: None,
        }
    }

    /// This intake, acting on template and consent webhooks through `campaigns`.
    pub fn with_campaigns(mut self, campaigns: Arc<crate::campaigns::Campaigns>) -> Self {
        self.campaigns = Some(campaigns);
        self
    }

    pub async fn accept(
        &self,
        mut envelopes: Vec<InboundEnvelope>,
    ) -> Result<IntakeReport, IntakeError> {
        self.resolve_aliases(&mut envelopes).await?;
        let mut report = IntakeReport::default();
        let mut needed: BTreeMap<usize, usize> = BTreeMap::new();
        let events: Vec<NewInbound> = envelopes
            .into_iter()
            .map(|envelope| {
                let channel = self
                    .accounts
                    .get(&(envelope.channel_kind, envelope.account.clone()))
                    .cloned();
                if channel.is_none() {
                    report.unrouted += 1;
                }
                let conversation = match (&channel, envelope.customer()) {
                    (Some(channel), Some(customer)) => {
                        Some(ConversationKey::new(channel, customer))
                    }
                    _ => None,
                };
                if let Some(key) = &conversation {
                    *needed
                        .entry(key.partition(self.log.partitions()))
                        .or_default() += 1;
                }
                NewInbound {
                    dedupe_key: envelope.dedupe_key(),
                    channel,
                    conversation,
                    envelope,
                }
            })
            .collect();
        if !self.log.has_room(&needed).await? {
            metrics::counter!(m::MAILBOX_SHEDS, "queue" => "partition").increment(1);
            return Err(IntakeError::Overloaded);
        }
        let recorded = match self.store.record_inbound(events).await {
            Ok(recorded) => recorded,
            Err(StoreError::Overloaded) => return Err(IntakeError::Overloaded),
            Err(e) => return Err(IntakeError::Unavailable(e)),
        };
        let mut dispatch = Vec::with_capacity(recorded.len());
        let mut account_events = Vec::new();
        for (event, seq) in recorded {
            // Acted on also when redelivered: a retry after a failure below does it then (the
            // action is idempotent).
            if let InboundEvent::Other(other) = &event.envelope.event
                && event.envelope.channel_kind == ChannelKind::Whatsapp
                && ACCOUNT_FIELDS.contains(&other.field.as_str())
            {
                account_events.push((
                    event.channel.clone(),
                    event.envelope.account.clone(),
                    other.clone(),
                ));
            }
            let label = event.envelope.type_label();
            let Some(seq) = seq else {
                report.duplicates += 1;
                metrics::counter!(m::INBOUND_DUPLICATES, "type" => label).increment(1);
                continue;
            };
            report.recorded += 1;
            metrics::counter!(m::INBOUND_EVENTS, "type" => label).increment(1);
            if event.channel.is_none() {
                metrics::counter!(m::INBOUND_UNROUTED).increment(1);
                tracing::warn!(account = %event.envelope.account, "event for an unconfigured account recorded");
            }
            if let (Some(channel), Some(conversation)) = (event.channel, event.conversation) {
                dispatch.push(RecordedInbound {
                    seq,
                    channel,
                    conversation,
                    envelope: event.envelope,
                });
            }
        }
        self.log.publish(dispatch).await?;
        if let Some(campaigns) = &self.campaigns {
            for (channel, account, other) in &account_events {
                campaigns
                    .on_account_event(channel.as_ref(), account, other)
                    .await?;
            }
        }
        Ok(report)
    }

    /// WhatsApp events that name the customer by their business-scoped user id (BSUID) alone
    /// go to the customer that BSUID was first seen beside (their number), so the conversation
    /// goes on. Only such events read the store; an unknown BSUID stays the customer's id.
    async fn resolve_aliases(&self, envelopes: &mut [InboundEnvelope]) -> Result<(), StoreError> {
        for envelope in envelopes.iter_mut() {
            if envelope.channel_kind != ChannelKind::Whatsapp {
                continue;
            }
            let alias = match &envelope.event {
                InboundEvent::Message(m) if m.customer.wa_id.is_none() => {
                    m.customer.user_id.clone()
                }
                InboundEvent::Status(s) if !is_number(s.recipient.as_str()) => {
                    Some(s.recipient.to_string())
                }
                _ => None,
            };
            let (Some(alias), Some(channel)) = (
                alias,
                self.accounts
                    .get(&(envelope.channel_kind, envelope.account.clone())),
            ) else {
                continue;
            };
            let Some(customer) = self.store.customer_for_alias(channel, &alias).await? else {
                continue;
            };
            match &mut envelope.event {
                InboundEvent::Message(m) => m.customer.id = customer,
                InboundEvent::Status(s) => s.recipient = customer,
                InboundEvent::Error(_) | InboundEvent::Other(_) => {}
            }
        }
        Ok(())
    }
}

/// A WhatsApp id that is a phone number (digits), not a BSUID (`US.1349…`).
fn is_number(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
}
