//! Outbound delivery: one [`OutboundSender`] per channel (phone number), applying the number's
//! throughput limit, the per-recipient pair rate, retries with backoff, and recording each
//! message's outcome in the store.
//!
//! Messages to one recipient leave in the order they were enqueued; different recipients
//! proceed concurrently, bounded by `max_in_flight`. At most `queue_capacity` messages (and
//! read receipts) are held per number, from enqueue until their outcome is recorded.

mod sender;

use std::collections::HashMap;
use std::sync::Arc;

use crate::channels::whatsapp::client::WhatsappClient;
use crate::config::Settings;
use crate::domain::{ChannelId, ChannelKind};
use crate::store::Store;

pub use sender::{OutboundSender, SenderClosed, TrySendError};

/// The senders of all configured channels.
#[derive(Clone, Default)]
pub struct Outbound {
    senders: HashMap<ChannelId, OutboundSender>,
}

impl Outbound {
    /// Build one [`WhatsappClient`] and [`OutboundSender`] per configured WhatsApp channel (a
    /// channel's `messages_per_second` overrides `outbound.messages_per_second`). Must be called
    /// inside a tokio runtime (an actix System is one).
    pub fn start(settings: &Settings, http: reqwest::Client, store: Arc<dyn Store>) -> Outbound {
        let mut senders = HashMap::new();
        for (id, channel) in &settings.channels {
            if channel.kind != ChannelKind::Whatsapp {
                tracing::warn!(channel = %id, kind = channel.kind.as_str(), "outbound: no sender for this channel kind");
                continue;
            }
            let channel_id = ChannelId::new(id.clone());
            let client = WhatsappClient::new(http.clone(), &settings.whatsapp, channel);
            let mps = channel
                .messages_per_second
                .unwrap_or(settings.outbound.messages_per_second);
            let sender = OutboundSender::spawn(
                channel_id.clone(),
                Arc::new(client),
                settings.outbound.clone(),
                mps,
                store.clone(),
            );
            senders.insert(channel_id, sender);
        }
        Outbound { senders }
    }

    /// The sender of `channel`, if it is configured.
    pub fn sender(&self, channel: &ChannelId) -> Option<&OutboundSender> {
        self.senders.get(channel)
    }

    /// All senders, by channel.
    pub fn senders(&self) -> impl Iterator<Item = (&ChannelId, &OutboundSender)> {
        self.senders.iter()
    }
}

#[cfg(test)]
mod tests;
