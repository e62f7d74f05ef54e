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

use std::time::Duration;

use crate::channels::messenger::client::MessengerClient;
use crate::channels::telegram::client::TelegramClient;
use crate::channels::webchat::client::WebchatClient;
use crate::channels::webchat::wake::Wakeups;
use crate::channels::whatsapp::client::WhatsappClient;
use crate::channels::x::client::XClient;
use crate::channels::{ChannelClient, StoredFiles};
use crate::config::{OutboundSettings, Settings};
use crate::domain::{ChannelId, ChannelKind, ConversationKey, CustomerId};
use crate::store::{OutboundState, PendingOutbound, Store, StoreError};

pub use sender::{LocalThrottle, OutboundSender, SenderClosed, Throttle, TrySendError};

/// The senders of all configured channels.
#[derive(Clone, Default)]
pub struct Outbound {
    senders: HashMap<ChannelId, OutboundSender>,
    /// Customers whose profile was asked for lately (found or not): not asked again soon.
    profiles_asked: ProfilesAsked,
}

/// How long a customer's profile is not asked for again, and how many are remembered.
const PROFILE_ASK_TTL: std::time::Duration = std::time::Duration::from_secs(600);
const PROFILE_ASK_MAX: u64 = 100_000;
/// The longest a profile lookup may hold the customer's first message.
const PROFILE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Clone)]
struct ProfilesAsked(moka::sync::Cache<(ChannelId, CustomerId), ()>);

impl Default for ProfilesAsked {
    fn default() -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(PROFILE_ASK_MAX)
                .time_to_live(PROFILE_ASK_TTL)
                .build(),
        )
    }
}

impl Outbound {
    /// Build one client ([`WhatsappClient`], [`TelegramClient`], [`MessengerClient`],
    /// [`XClient`], [`WebchatClient`]) and [`OutboundSender`] per configured channel of a kind that can send (a
    /// channel's `messages_per_second` overrides `outbound.messages_per_second`; a Telegram
    /// bot's per-chat limit overrides the per-recipient rate; an X account adds its quota of
    /// DMs per window), with limits kept in this process. Must be called inside a tokio
    /// runtime (an actix System is one). `files` is the media store the clients that upload
    /// agents' files with the send (Telegram's) read them from.
    pub fn start(
        settings: &Settings,
        http: reqwest::Client,
        store: Arc<dyn Store>,
        files: Option<Arc<dyn StoredFiles>>,
    ) -> Outbound {
        Self::start_with(settings, http, store, files, |_, mps, outbound| {
            Arc::new(LocalThrottle::new(mps, outbound))
        })
    }

    /// [`Outbound::start`] with each channel's limits made by `throttle(channel, mps,
    /// the channel's outbound settings)`.
    pub fn start_with(
        settings: &Settings,
        http: reqwest::Client,
        store: Arc<dyn Store>,
        files: Option<Arc<dyn StoredFiles>>,
        throttle: impl Fn(&ChannelId, u32, &OutboundSettings) -> Arc<dyn Throttle>,
    ) -> Outbound {
        Self::start_all(settings, http, store, files, throttle, Wakeups::new(None))
    }

    /// [`Outbound::start_with`], the web chat channels waking visitors' sockets through
    /// `wakeups` (shared by the nodes of a cluster).
    pub fn start_all(
        settings: &Settings,
        http: reqwest::Client,
        store: Arc<dyn Store>,
        files: Option<Arc<dyn StoredFiles>>,
        throttle: impl Fn(&ChannelId, u32, &OutboundSettings) -> Arc<dyn Throttle>,
        wakeups: Arc<Wakeups>,
    ) -> Outbound {
        let mut senders = HashMap::new();
        for (id, channel) in &settings.channels {
            let client: Arc<dyn ChannelClient> = match (channel.kind, &channel.telegram) {
                (ChannelKind::Whatsapp, _) => Arc::new(WhatsappClient::new(
                    http.clone(),
                    &settings.whatsapp,
                    channel,
                )),
                (ChannelKind::Telegram, Some(bot)) => {
                    let client = TelegramClient::new(http.clone(), &settings.telegram, bot);
                    Arc::new(match &files {
                        Some(files) => client.with_files(files.clone()),
                        None => client,
                    })
                }
                (ChannelKind::Messenger, _) if channel.messenger.is_some() => {
                    let Some(page) = &channel.messenger else {
                        continue;
                    };
                    Arc::new(MessengerClient::new(
                        http.clone(),
                        &settings.messenger,
                        page,
                    ))
                }
                (ChannelKind::Instagram, _) if channel.instagram.is_some() => {
                    let Some(account) = &channel.instagram else {
                        continue;
                    };
                    Arc::new(MessengerClient::instagram(
                        http.clone(),
                        &settings.instagram,
                        account,
                    ))
                }
                (ChannelKind::X, _) if channel.x.is_some() => {
                    let Some(account) = &channel.x else {
                        continue;
                    };
                    Arc::new(XClient::new(http.clone(), &settings.x, account))
                }
                (ChannelKind::Webchat, _) => Arc::new(WebchatClient::new(wakeups.clone())),
                _ => {
                    tracing::warn!(channel = %id, kind = channel.kind.as_str(), "outbound: no sender for this channel kind");
                    continue;
                }
            };
            let channel_id = ChannelId::new(id.clone());
            let mps = channel
                .messages_per_second
                .unwrap_or(settings.outbound.messages_per_second);
            let outbound = channel.outbound(&settings.outbound);
            let sender = OutboundSender::spawn_throttled(
                channel_id.clone(),
                client,
                outbound.clone(),
                throttle(&channel_id, mps, &outbound),
                store.clone(),
                sender::LANE_IDLE,
            );
            senders.insert(channel_id, sender);
        }
        Outbound {
            senders,
            profiles_asked: ProfilesAsked::default(),
        }
    }

    /// The customer's name from `channel`'s profile API (Messenger, Instagram), at most once
    /// per customer in [`PROFILE_ASK_TTL`] and within [`PROFILE_TIMEOUT`]; `None` for channels
    /// without one, on failure, or when asked lately.
    pub async fn profile_name(&self, channel: &ChannelId, customer: &CustomerId) -> Option<String> {
        let sender = self.senders.get(channel)?;
        let key = (channel.clone(), customer.clone());
        if self.profiles_asked.0.contains_key(&key) {
            return None;
        }
        self.profiles_asked.0.insert(key, ());
        tokio::time::timeout(PROFILE_TIMEOUT, sender.client().profile_name(customer))
            .await
            .ok()
            .flatten()
    }

    /// The sender of `channel`, if it is configured.
    pub fn sender(&self, channel: &ChannelId) -> Option<&OutboundSender> {
        self.senders.get(channel)
    }

    /// Stop every sender (shutdown); see [`OutboundSender::stop`].
    pub fn stop(&self) {
        for sender in self.senders.values() {
            sender.stop();
        }
    }

    /// All senders, by channel.
    pub fn senders(&self) -> impl Iterator<Item = (&ChannelId, &OutboundSender)> {
        self.senders.iter()
    }

    /// Resume the recorded outbound messages with no outcome yet of the conversations `mine`
    /// accepts (all of them in the embedded mode; the owned partitions' in a cluster): queued
    /// ones are sent; ones a dead sender had claimed are sent again once `unconfirmed_after`
    /// has passed since the claim, unless a status webhook has shown meanwhile that they reached
    /// Meta (the claim in the store decides; see [`OutboundSender::resend_unconfirmed`]).
    /// Each customer's messages keep their order: behind an unconfirmed one, the later ones
    /// wait for it. Returns how many were resumed.
    pub async fn resume(
        &self,
        store: &dyn Store,
        mine: impl Fn(&ConversationKey) -> bool,
        unconfirmed_after: Duration,
    ) -> Result<usize, StoreError> {
        let grace = i64::try_from(unconfirmed_after.as_millis()).unwrap_or(i64::MAX);
        let now = chrono::Utc::now().timestamp_millis();
        // Oldest first, per recipient of each channel.
        let mut lanes: HashMap<(ChannelId, CustomerId), Vec<PendingOutbound>> = HashMap::new();
        let mut order = Vec::new();
        for pending in store.pending_outbound().await? {
            if !mine(&pending.message.conversation) {
                continue;
            }
            let lane = (pending.message.channel.clone(), pending.message.to.clone());
            if !lanes.contains_key(&lane) {
                order.push(lane.clone());
            }
            lanes.entry(lane).or_default().push(pending);
        }
        let mut resumed = 0;
        for lane in order {
            let Some(messages) = lanes.remove(&lane) else {
                continue;
            };
            let Some(sender) = self.sender(&lane.0).cloned() else {
                tracing::warn!(channel = %lane.0, "no sender for a pending message's channel");
                continue;
            };
            resumed += messages.len();
            // Everything to this customer waits behind the first unconfirmed message's grace.
            if let Some(first) = messages.iter().find(|p| p.state == OutboundState::Sending) {
                let wait = u64::try_from(first.updated_at.saturating_add(grace) - now).unwrap_or(0);
                let until = tokio::time::Instant::now() + Duration::from_millis(wait);
                sender
                    .hold(lane.1.clone(), until, Some(first.message.id))
                    .await;
            }
            for pending in messages {
                let _ = match pending.state {
                    OutboundState::Queued => sender.send(pending.message).await,
                    OutboundState::Sending => {
                        let reclaim_before = pending.updated_at.saturating_add(1);
                        sender
                            .resend_unconfirmed(pending.message, reclaim_before)
                            .await
                    }
                };
            }
        }
        Ok(resumed)
    }
}

#[cfg(test)]
mod tests;
