//! Sender tests over real HTTP: [`FakeGraph`] behind a real [`WhatsappClient`], outcomes
//! captured by an in-test [`Store`] probe. Time assertions are lower bounds only.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::Notify;

use super::*;
use crate::accounts::model::{
    ApiToken, AuditEntry, AuditFilter, DirectoryData, Membership, ResetToken, Session, Team, User,
};
use crate::config::{ChannelSettings, OutboundSettings, WhatsappSettings};
use crate::domain::{AgentId, TeamId};
use crate::domain::{
    ConversationKey, CustomerId, MessageId, OutboundContent, OutboundMessage, ProviderMessageId,
};
use crate::fakes::graph::{FakeGraph, RecordedSend};
use crate::store::{
    AccountError, AccountStore, AgentEventRecord, ContactRecord, ConversationEvent,
    ConversationFilter, ConversationRecord, ConversationStep, NewInbound, OutboundOutcome,
    Recorded, RecordedInbound, StoreCounts, StoreError, StoredMessage,
};

/// Records outcomes; everything else is empty.
#[derive(Default)]
struct Probe {
    outcomes: Mutex<Vec<(MessageId, u32, OutboundOutcome)>>,
    claimed: Mutex<std::collections::HashSet<MessageId>>,
    notify: Notify,
    fail_records: AtomicBool,
}

impl Probe {
    fn outcomes(&self) -> Vec<(MessageId, u32, OutboundOutcome)> {
        self.outcomes.lock().expect("lock").clone()
    }

    /// Wait for `n` recorded outcomes (panics after 20 s: a test failure).
    async fn wait(&self, n: usize) -> Vec<(MessageId, u32, OutboundOutcome)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let notified = self.notify.notified();
            let outcomes = self.outcomes();
            if outcomes.len() >= n {
                return outcomes;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "only {} of {n} outcomes recorded",
                outcomes.len()
            );
            let _ = tokio::time::timeout(left, notified).await;
        }
    }

    fn outcome_of(&self, id: MessageId) -> Option<(u32, OutboundOutcome)> {
        self.outcomes()
            .into_iter()
            .find(|(m, _, _)| *m == id)
            .map(|(_, attempts, outcome)| (attempts, outcome))
    }
}

/// The records of people are not the sender's business: nothing is there.
#[async_trait]
impl AccountStore for Probe {
    async fn directory(&self) -> Result<DirectoryData, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn directory_version(&self) -> Result<i64, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn user(&self, _: &AgentId) -> Result<Option<User>, StoreError> {
        Ok(None)
    }
    async fn seed(&self, _: DirectoryData, _: Vec<ApiToken>) -> Result<bool, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn save_user(
        &self,
        _: &User,
        _: bool,
        _: Option<&[Membership]>,
        _: Option<&AuditEntry>,
    ) -> Result<i64, AccountError> {
        Err(StoreError::Unavailable.into())
    }
    async fn set_login_state(&self, _: &AgentId, _: u32, _: Option<i64>) -> Result<(), StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn save_team(
        &self,
        _: &Team,
        _: bool,
        _: Option<&[Membership]>,
        _: Option<&AuditEntry>,
    ) -> Result<i64, AccountError> {
        Err(StoreError::Unavailable.into())
    }
    async fn delete_team(&self, _: &TeamId, _: Option<&AuditEntry>) -> Result<i64, AccountError> {
        Err(StoreError::Unavailable.into())
    }
    async fn save_contact_field(
        &self,
        _: &crate::crm::fields::FieldDefinition,
        _: bool,
        _: Option<&AuditEntry>,
    ) -> Result<i64, AccountError> {
        Err(StoreError::Unavailable.into())
    }
    async fn delete_contact_field(
        &self,
        _: &str,
        _: Option<&AuditEntry>,
    ) -> Result<i64, AccountError> {
        Err(StoreError::Unavailable.into())
    }
    async fn create_session(&self, _: &Session) -> Result<(), StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn session(&self, _: &[u8; 32]) -> Result<Option<Session>, StoreError> {
        Ok(None)
    }
    async fn touch_session(&self, _: &str, _: i64) -> Result<(), StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn delete_session(&self, _: &str) -> Result<bool, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn delete_sessions_of(&self, _: &AgentId) -> Result<u64, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn sessions_of(&self, _: &AgentId) -> Result<Vec<Session>, StoreError> {
        Ok(Vec::new())
    }
    async fn prune_sessions(&self, _: i64, _: i64) -> Result<u64, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn create_api_token(
        &self,
        _: &ApiToken,
        _: Option<&AuditEntry>,
    ) -> Result<(), AccountError> {
        Err(StoreError::Unavailable.into())
    }
    async fn api_token(&self, _: &[u8; 32]) -> Result<Option<ApiToken>, StoreError> {
        Ok(None)
    }
    async fn api_tokens(&self, _: Option<&AgentId>) -> Result<Vec<ApiToken>, StoreError> {
        Ok(Vec::new())
    }
    async fn revoke_api_token(
        &self,
        _: &str,
        _: i64,
        _: Option<&AuditEntry>,
    ) -> Result<bool, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn touch_api_token(&self, _: &str, _: i64) -> Result<(), StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn create_reset_token(
        &self,
        _: &ResetToken,
        _: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn take_reset_token(&self, _: &[u8; 32], _: i64) -> Result<Option<AgentId>, StoreError> {
        Ok(None)
    }
    async fn append_audit(&self, _: &AuditEntry) -> Result<i64, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn audit_entries(&self, _: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(Vec::new())
    }
    async fn prune_audit(&self, _: i64) -> Result<u64, StoreError> {
        Err(StoreError::Unavailable)
    }
}

/// Nor are notifications.
#[async_trait]
impl crate::store::ReportStore for Probe {
    async fn report_levels(
        &self,
        _: &Option<Vec<String>>,
        _: &Option<String>,
        _: &[crate::store::reports::LevelRead],
    ) -> Result<Vec<Vec<crate::store::reports::LevelRow>>, StoreError> {
        Err(StoreError::Unavailable)
    }

    async fn report_rollups(
        &self,
        _: &crate::store::reports::RollupQuery,
    ) -> Result<
        (
            Vec<crate::reports::summary::RollupCount>,
            Vec<crate::reports::summary::RollupBin>,
        ),
        StoreError,
    > {
        Err(StoreError::Unavailable)
    }

    async fn conversation_reports(
        &self,
        _: &crate::store::reports::ReportPage,
    ) -> Result<Vec<crate::reports::ConversationReport>, StoreError> {
        Err(StoreError::Unavailable)
    }

    async fn record_presence_sample(
        &self,
        _: i64,
        _: Vec<crate::reports::Delta>,
    ) -> Result<bool, StoreError> {
        Err(StoreError::Unavailable)
    }
}

#[async_trait]
impl crate::store::PushStore for Probe {
    async fn notification_settings(
        &self,
        _: &AgentId,
    ) -> Result<Option<crate::push::model::NotificationSettings>, StoreError> {
        Ok(None)
    }
    async fn save_notification_settings(
        &self,
        _: &AgentId,
        _: &crate::push::model::NotificationSettings,
        _: i64,
    ) -> Result<(), StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn vapid_keys(
        &self,
        _: &crate::push::model::VapidKeys,
    ) -> Result<crate::push::model::VapidKeys, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn save_push_subscription(
        &self,
        _: &crate::push::model::PushSubscription,
    ) -> Result<crate::push::model::PushSubscription, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn push_subscriptions(
        &self,
        _: &AgentId,
    ) -> Result<Vec<crate::push::model::PushSubscription>, StoreError> {
        Ok(Vec::new())
    }
    async fn delete_push_subscription(
        &self,
        _: Option<&AgentId>,
        _: &str,
    ) -> Result<bool, StoreError> {
        Ok(false)
    }
}

#[async_trait]
impl Store for Probe {
    async fn record_inbound(&self, _: Vec<NewInbound>) -> Result<Recorded, StoreError> {
        Ok(Vec::new())
    }
    async fn unprocessed_for(
        &self,
        _: &ConversationKey,
        _: i64,
        _: i64,
    ) -> Result<Vec<RecordedInbound>, StoreError> {
        Ok(Vec::new())
    }
    async fn conversations_with_backlog(
        &self,
        _: i64,
        _: i64,
    ) -> Result<Vec<(ChannelId, ConversationKey)>, StoreError> {
        Ok(Vec::new())
    }
    async fn load_conversation(
        &self,
        _: &ConversationKey,
    ) -> Result<Option<(ConversationRecord, ContactRecord)>, StoreError> {
        Ok(None)
    }
    async fn load_contact(&self, _: &CustomerId) -> Result<Option<ContactRecord>, StoreError> {
        Ok(None)
    }
    async fn customer_for_alias(
        &self,
        _: &crate::domain::ChannelId,
        _: &str,
    ) -> Result<Option<CustomerId>, StoreError> {
        Ok(None)
    }
    async fn load_contact_listing(
        &self,
        _: &CustomerId,
    ) -> Result<Option<crate::store::ContactListing>, StoreError> {
        Ok(None)
    }
    async fn commit_step(&self, _: ConversationStep) -> Result<(), StoreError> {
        Ok(())
    }
    async fn record_outbound_outcome(
        &self,
        id: MessageId,
        attempts: u32,
        outcome: OutboundOutcome,
    ) -> Result<(), StoreError> {
        if self.fail_records.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable);
        }
        self.outcomes
            .lock()
            .expect("lock")
            .push((id, attempts, outcome));
        self.notify.notify_waiters();
        Ok(())
    }
    async fn is_processed(&self, _: i64) -> Result<bool, StoreError> {
        Ok(true)
    }
    async fn claim_outbound(&self, id: MessageId, _: Option<i64>) -> Result<bool, StoreError> {
        // Like the store: the first claim of a message wins, later ones are refused.
        Ok(self.claimed.lock().expect("lock").insert(id))
    }
    async fn pending_outbound(&self) -> Result<Vec<crate::store::PendingOutbound>, StoreError> {
        Ok(Vec::new())
    }
    async fn prune(&self, _: i64, _: i64) -> Result<crate::store::Pruned, StoreError> {
        Ok(crate::store::Pruned::default())
    }
    async fn conversation_messages(&self, _: &str) -> Result<Vec<StoredMessage>, StoreError> {
        Ok(Vec::new())
    }
    async fn message_by_provider_id(
        &self,
        _: &ProviderMessageId,
    ) -> Result<Option<StoredMessage>, StoreError> {
        Ok(None)
    }
    async fn counts(&self) -> Result<StoreCounts, StoreError> {
        Ok(StoreCounts::default())
    }
    async fn conversation_by_id(&self, _: &str) -> Result<Option<ConversationRecord>, StoreError> {
        Ok(None)
    }
    async fn list_conversations(
        &self,
        _: &ConversationFilter,
    ) -> Result<Vec<ConversationRecord>, StoreError> {
        Ok(Vec::new())
    }
    async fn customer_conversations(
        &self,
        _: &CustomerId,
        _: i64,
    ) -> Result<Vec<ConversationRecord>, StoreError> {
        Ok(Vec::new())
    }
    async fn last_assignee(&self, _: &CustomerId, _: &str) -> Result<Option<AgentId>, StoreError> {
        Ok(None)
    }
    async fn open_conversations(&self) -> Result<Vec<ConversationRecord>, StoreError> {
        Ok(Vec::new())
    }
    async fn conversation_events(&self, _: &str) -> Result<Vec<ConversationEvent>, StoreError> {
        Ok(Vec::new())
    }
    async fn outbound_status(&self, _: MessageId) -> Result<Option<String>, StoreError> {
        Ok(None)
    }
    async fn contact_identities(
        &self,
        _: &crate::domain::CustomerId,
    ) -> Result<Vec<crate::store::ContactIdentity>, StoreError> {
        Ok(Vec::new())
    }
    async fn erase_contact(
        &self,
        _: &crate::domain::CustomerId,
        _: &crate::domain::CustomerId,
    ) -> Result<crate::store::Erasure, StoreError> {
        Ok(crate::store::Erasure::NoSuchContact)
    }
    async fn merge_contacts(
        &self,
        _: &crate::domain::CustomerId,
        _: &crate::domain::CustomerId,
    ) -> Result<Option<ContactRecord>, StoreError> {
        Ok(None)
    }
    async fn list_contacts(
        &self,
        _: &crate::store::ContactFilter,
    ) -> Result<Vec<crate::store::ContactListing>, StoreError> {
        Ok(Vec::new())
    }
    async fn update_contact(
        &self,
        _: &crate::domain::CustomerId,
        _: &crate::crm::contact::ContactChanges,
        _: Vec<crate::store::WebhookOutboxEntry>,
    ) -> Result<crate::store::ContactUpdate, StoreError> {
        Ok(None)
    }
    async fn upsert_contact(
        &self,
        _: &crate::store::ContactRecord,
        _: &crate::crm::contact::ContactChanges,
        _: Vec<crate::store::WebhookOutboxEntry>,
    ) -> Result<crate::store::ContactUpdate, StoreError> {
        Ok(None)
    }
    async fn console_outbox(
        &self,
        _: Option<i64>,
        _: i64,
    ) -> Result<Vec<crate::store::ConsoleOutboxEntry>, StoreError> {
        Ok(Vec::new())
    }
    async fn settle_console_outbox(&self, _: Vec<String>) -> Result<(), StoreError> {
        Ok(())
    }
    async fn append_agent_events(
        &self,
        _: &AgentId,
        _: Vec<AgentEventRecord>,
        _: usize,
    ) -> Result<(), StoreError> {
        Ok(())
    }
    async fn agent_events_after(
        &self,
        _: &AgentId,
        _: i64,
        _: i64,
    ) -> Result<Vec<AgentEventRecord>, StoreError> {
        Ok(Vec::new())
    }
    async fn agent_event_bounds(&self, _: &AgentId) -> Result<Option<(i64, i64)>, StoreError> {
        Ok(None)
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
    async fn close(&self) {}
}

fn outbound_settings() -> OutboundSettings {
    OutboundSettings {
        messages_per_second: 1000,
        per_recipient_per_minute: 6000,
        per_recipient_burst: 100,
        max_attempts: 4,
        initial_backoff_ms: 20,
        max_backoff_ms: 100,
        pair_rate_backoff_ms: 100,
        queue_capacity: 256,
        max_in_flight: 8,
        resend_unconfirmed_after_ms: 1000,
        quota: None,
    }
}

fn whatsapp_settings(base: &str) -> WhatsappSettings {
    WhatsappSettings {
        app_secret: SecretString::from("secret"),
        verify_token: SecretString::from("verify"),
        api_base_url: base.to_string(),
        api_version: "v23.0".into(),
        access_token: SecretString::from("token"),
        request_timeout_ms: 5000,
        mark_as_read: true,
    }
}

fn channel_settings() -> ChannelSettings {
    ChannelSettings {
        kind: crate::domain::ChannelKind::Whatsapp,
        phone_number_id: "1001".into(),
        display_phone_number: None,
        bot: "default".into(),
        access_token: None,
        waba_id: None,
        messages_per_second: None,
        telegram: None,
        messenger: None,
        instagram: None,
        x: None,
        webchat: None,
    }
}

fn start(fake: &FakeGraph, settings: OutboundSettings) -> (OutboundSender, Arc<Probe>) {
    let probe = Arc::new(Probe::default());
    let mps = settings.messages_per_second;
    let client = WhatsappClient::new(
        reqwest::Client::new(),
        &whatsapp_settings(&fake.base_url()),
        &channel_settings(),
    );
    let sender = OutboundSender::spawn(
        ChannelId::new("wa-test"),
        Arc::new(client),
        settings,
        mps,
        probe.clone(),
    );
    (sender, probe)
}

fn msg(to: &str, text: &str) -> OutboundMessage {
    let channel = ChannelId::new("wa-test");
    let customer = CustomerId::new(to);
    OutboundMessage {
        id: MessageId::generate(),
        conversation: ConversationKey::new(&channel, &customer),
        channel,
        to: customer,
        content: OutboundContent::Text {
            body: text.into(),
            preview_url: false,
        },
        reply_to: None,
    }
}

fn texts(bodies: &[Value]) -> Vec<String> {
    bodies
        .iter()
        .map(|b| b["text"]["body"].as_str().unwrap_or("").to_string())
        .collect()
}

fn requests_to(fake: &FakeGraph, to: &str) -> Vec<RecordedSend> {
    fake.requests()
        .into_iter()
        .filter(|r| r.to() == Some(to))
        .collect()
}

#[actix_web::test]
async fn per_recipient_order_is_kept_under_concurrency() {
    let fake = FakeGraph::start();
    fake.set_latency(Duration::from_millis(3));
    let (sender, probe) = start(&fake, outbound_settings());
    let recipients = ["A", "B", "C", "D", "E"];
    for i in 0..20 {
        for r in recipients {
            sender
                .send(msg(r, &format!("{r}-{i}")))
                .await
                .expect("enqueued");
        }
    }
    let outcomes = probe.wait(100).await;
    assert!(outcomes.iter().all(|(_, attempts, o)| *attempts == 1
        && matches!(
            o,
            OutboundOutcome::Accepted {
                provider_id: Some(_)
            }
        )));
    for r in recipients {
        let expected: Vec<String> = (0..20).map(|i| format!("{r}-{i}")).collect();
        assert_eq!(texts(&fake.messages_to(r)), expected, "order for {r}");
    }
    // Every request carried our message id as callback data.
    let ids: std::collections::HashSet<String> =
        outcomes.iter().map(|(id, _, _)| id.to_string()).collect();
    assert!(fake.requests().iter().all(|r| {
        r.body["biz_opaque_callback_data"]
            .as_str()
            .is_some_and(|d| ids.contains(d))
    }));
}

#[tokio::test]
async fn number_throughput_is_limited() {
    let fake = FakeGraph::start();
    let settings = OutboundSettings {
        messages_per_second: 20,
        ..outbound_settings()
    };
    let (sender, probe) = start(&fake, settings);
    let started = Instant::now();
    for i in 0..60 {
        sender
            .send(msg(&format!("r{i}"), "hi"))
            .await
            .expect("enqueued");
    }
    probe.wait(60).await;
    let elapsed = started.elapsed();
    // 20 at once (the bucket's burst), then 40 at 20/s.
    assert!(elapsed >= Duration::from_millis(1800), "took {elapsed:?}");
    let requests = fake.requests();
    assert_eq!(requests.len(), 60);
    let span = requests[59].received - requests[0].received;
    assert!(span >= Duration::from_millis(1800), "span {span:?}");
}

/// A campaign's template to `to`, as the campaign lane records it.
fn campaign_msg(to: &str) -> OutboundMessage {
    let mut m = msg(to, "");
    m.content = OutboundContent::Template {
        name: "parcel_update".into(),
        language: "en_US".into(),
        components: serde_json::json!([{"type": "body", "parameters": [{"type": "text", "text": "PX-1"}]}]),
        marketing_api: false,
        campaign: Some("c1".into()),
    };
    m
}

#[tokio::test]
async fn live_messages_go_before_a_campaign_s() {
    let fake = FakeGraph::start();
    let settings = OutboundSettings {
        messages_per_second: 10,
        ..outbound_settings()
    };
    let (sender, probe) = start(&fake, settings);
    for i in 0..30 {
        sender
            .send(campaign_msg(&format!("c{i}")))
            .await
            .expect("enqueued");
    }
    // The bucket's burst is gone; the campaign goes on at 10/s.
    while fake.requests().len() < 12 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before = fake.requests().len();
    for i in 0..5 {
        sender
            .send(msg(&format!("l{i}"), "live"))
            .await
            .expect("enqueued");
    }
    probe.wait(35).await;
    let order: Vec<String> = fake
        .requests()
        .iter()
        .filter_map(|r| r.to().map(str::to_owned))
        .collect();
    // Each live message is among the next few sent: at most the one campaign message already
    // waiting for its turn (and one in flight) went ahead of them.
    for i in 0..5 {
        let at = order
            .iter()
            .position(|to| *to == format!("l{i}"))
            .expect("sent");
        assert!(
            at < before + 5 + 2,
            "l{i} sent {at}th of {order:?} (live enqueued after {before})"
        );
    }
    assert_eq!(order.len(), 35);
}

#[tokio::test]
async fn pair_rate_is_limited_per_recipient() {
    let fake = FakeGraph::start();
    let settings = OutboundSettings {
        per_recipient_per_minute: 120,
        per_recipient_burst: 1,
        ..outbound_settings()
    };
    let (sender, probe) = start(&fake, settings);
    let started = Instant::now();
    for i in 0..4 {
        sender
            .send(msg("A", &format!("A-{i}")))
            .await
            .expect("enqueued");
        sender
            .send(msg("B", &format!("B-{i}")))
            .await
            .expect("enqueued");
    }
    probe.wait(8).await;
    for r in ["A", "B"] {
        let requests = requests_to(&fake, r);
        assert_eq!(requests.len(), 4);
        // One message per 500 ms per recipient: the fourth leaves at least 1.5 s after the
        // first could. (Measured from before the first send, so a slow machine delaying some
        // requests can only lengthen it; gaps between arrivals could shrink.)
        let last = requests[3].received.saturating_duration_since(started);
        assert!(
            last >= Duration::from_millis(1450),
            "{r}: the fourth after {last:?}"
        );
    }
}

#[tokio::test]
async fn throughput_error_is_retried_then_accepted() {
    let fake = FakeGraph::start();
    let (sender, probe) = start(&fake, outbound_settings());
    fake.fail_next(Some("A"), 130429, 429, 1);
    let m = msg("A", "hello");
    let id = m.id;
    sender.send(m).await.expect("enqueued");
    probe.wait(1).await;
    let (attempts, outcome) = probe.outcome_of(id).expect("outcome");
    assert_eq!(attempts, 2);
    assert!(
        matches!(
            outcome,
            OutboundOutcome::Accepted {
                provider_id: Some(_)
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn a_message_claimed_by_another_sender_is_not_sent_again() {
    let fake = FakeGraph::start();
    let (sender, probe) = start(&fake, outbound_settings());
    let taken = msg("A", "already on its way elsewhere");
    probe.claimed.lock().expect("lock").insert(taken.id);
    sender.send(taken).await.expect("enqueued");
    let fresh = msg("A", "mine");
    let fresh_id = fresh.id;
    sender.send(fresh).await.expect("enqueued");
    // Same recipient lane, so the refused one was looked at first.
    let outcomes = probe.wait(1).await;
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].0, fresh_id);
    assert_eq!(texts(&fake.messages_to("A")), ["mine"]);
}

#[tokio::test]
async fn permanent_error_is_not_retried() {
    let fake = FakeGraph::start();
    let (sender, probe) = start(&fake, outbound_settings());
    fake.fail_next(Some("A"), 131026, 400, 1);
    let m = msg("A", "hello");
    let id = m.id;
    sender.send(m).await.expect("enqueued");
    probe.wait(1).await;
    let (attempts, outcome) = probe.outcome_of(id).expect("outcome");
    assert_eq!(attempts, 1);
    match outcome {
        OutboundOutcome::Failed { code, reason } => {
            assert_eq!(code, Some(131026));
            assert!(reason.contains("131026"), "{reason}");
        }
        other => panic!("expected failure, got {other:?}"),
    }
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn pair_rate_backoff_delays_only_that_recipient() {
    let fake = FakeGraph::start();
    let settings = OutboundSettings {
        pair_rate_backoff_ms: 300,
        ..outbound_settings()
    };
    let (sender, probe) = start(&fake, settings);
    fake.fail_next(Some("A"), 131056, 400, 2);
    let a1 = msg("A", "A-1");
    let a1_id = a1.id;
    sender.send(a1).await.expect("enqueued");
    sender.send(msg("A", "A-2")).await.expect("enqueued");
    for i in 0..3 {
        sender
            .send(msg("B", &format!("B-{i}")))
            .await
            .expect("enqueued");
    }
    probe.wait(5).await;
    let (attempts, outcome) = probe.outcome_of(a1_id).expect("outcome");
    assert_eq!(attempts, 3);
    assert!(matches!(outcome, OutboundOutcome::Accepted { .. }));

    let a = requests_to(&fake, "A");
    assert_eq!(a.len(), 4, "A-1 three times, then A-2");
    // 300 ms, then 300 × 4 ms.
    let waited = a[2].received - a[0].received;
    assert!(waited >= Duration::from_millis(1400), "A waited {waited:?}");
    assert_eq!(texts(&fake.messages_to("A")), ["A-1", "A-2"]);
    // B went ahead meanwhile: all of B was received before A-1 got through.
    let b = requests_to(&fake, "B");
    assert_eq!(b.len(), 3);
    assert!(b.iter().all(|r| r.received < a[2].received));
}

#[tokio::test]
async fn server_errors_are_retried() {
    let fake = FakeGraph::start();
    let (sender, probe) = start(&fake, outbound_settings());
    fake.fail_next(None, 987654, 503, 2);
    let m = msg("A", "hello");
    let id = m.id;
    sender.send(m).await.expect("enqueued");
    probe.wait(1).await;
    let (attempts, outcome) = probe.outcome_of(id).expect("outcome");
    assert_eq!(attempts, 3);
    assert!(matches!(outcome, OutboundOutcome::Accepted { .. }));
}

#[tokio::test]
async fn exhausted_retries_fail() {
    let fake = FakeGraph::start();
    let settings = OutboundSettings {
        max_attempts: 3,
        ..outbound_settings()
    };
    let (sender, probe) = start(&fake, settings);
    fake.fail_next(Some("A"), 131000, 500, 10);
    let m = msg("A", "hello");
    let id = m.id;
    sender.send(m).await.expect("enqueued");
    sender.send(msg("B", "other")).await.expect("enqueued");
    probe.wait(2).await;
    let (attempts, outcome) = probe.outcome_of(id).expect("outcome");
    assert_eq!(attempts, 3);
    assert!(
        matches!(
            outcome,
            OutboundOutcome::Failed {
                code: Some(131000),
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(requests_to(&fake, "A").len(), 3);
}

#[tokio::test]
async fn try_send_reports_full_and_send_waits_for_room() {
    let fake = FakeGraph::start();
    fake.set_latency(Duration::from_millis(300));
    let settings = OutboundSettings {
        queue_capacity: 2,
        max_in_flight: 1,
        ..outbound_settings()
    };
    let (sender, probe) = start(&fake, settings);
    sender.try_send(msg("A", "1")).expect("room");
    sender.try_send(msg("B", "2")).expect("room");
    match sender.try_send(msg("C", "3")) {
        Err(TrySendError::Full(m)) => assert_eq!(m.to.as_str(), "C"),
        other => panic!("expected Full, got {other:?}"),
    }
    // Read receipts are shed too, silently.
    sender.mark_read(
        CustomerId::new("D"),
        ProviderMessageId::new("wamid.D"),
        false,
    );

    // `send` waits until a message is done (300 ms of fake latency at least).
    let started = Instant::now();
    sender.send(msg("C", "3")).await.expect("enqueued");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    probe.wait(3).await;
    assert!(!fake.requests().iter().any(|r| r.is_read_receipt()));
}

#[tokio::test]
async fn mark_read_goes_out_before_later_replies() {
    let fake = FakeGraph::start();
    let (sender, probe) = start(&fake, outbound_settings());
    sender.mark_read(
        CustomerId::new("A"),
        ProviderMessageId::new("wamid.IN1"),
        true,
    );
    sender.send(msg("A", "reply")).await.expect("enqueued");
    probe.wait(1).await;
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].is_read_receipt());
    assert_eq!(requests[0].body["message_id"], "wamid.IN1");
    assert_eq!(requests[0].body["typing_indicator"]["type"], "text");
    assert_eq!(requests[1].body["text"]["body"], "reply");
    assert_eq!(probe.outcomes().len(), 1, "read receipts are not recorded");
}

#[tokio::test]
async fn a_store_failure_delays_an_outcome_but_does_not_lose_it() {
    let fake = FakeGraph::start();
    let (sender, probe) = start(&fake, outbound_settings());
    probe.fail_records.store(true, Ordering::SeqCst);
    let lost = msg("A", "lost outcome");
    let lost_id = lost.id;
    sender.send(lost).await.expect("enqueued");
    assert!(fake.wait_for(1, Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    sender.send(msg("A", "next")).await.expect("enqueued");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(probe.outcomes().is_empty(), "the store is still away");
    assert_eq!(
        texts(&fake.messages_to("A")),
        ["lost outcome"],
        "the next message to A waits behind it"
    );
    probe.fail_records.store(false, Ordering::SeqCst);
    let outcomes = probe.wait(2).await;
    assert_eq!(outcomes[0].0, lost_id, "recorded once the store is back");
    assert_eq!(texts(&fake.messages_to("A")), ["lost outcome", "next"]);
}

#[tokio::test]
async fn lanes_are_recreated_after_idling_without_reordering() {
    let fake = FakeGraph::start();
    let probe = Arc::new(Probe::default());
    let client = WhatsappClient::new(
        reqwest::Client::new(),
        &whatsapp_settings(&fake.base_url()),
        &channel_settings(),
    );
    // Lanes close after 2 ms idle: enqueue with gaps around that, so lanes keep closing and
    // being re-created while messages arrive.
    let sender = OutboundSender::spawn_with_idle(
        ChannelId::new("wa-test"),
        Arc::new(client),
        outbound_settings(),
        1000,
        probe.clone(),
        Duration::from_millis(2),
    );
    for i in 0..40u64 {
        sender
            .send(msg("A", &format!("A-{i}")))
            .await
            .expect("enqueued");
        tokio::time::sleep(Duration::from_millis(i % 5)).await;
    }
    probe.wait(40).await;
    let expected: Vec<String> = (0..40).map(|i| format!("A-{i}")).collect();
    assert_eq!(texts(&fake.messages_to("A")), expected);
    // Dropping the last handle stops the dispatcher; queued work still completes.
    for i in 0..3 {
        sender
            .send(msg("B", &format!("B-{i}")))
            .await
            .expect("enqueued");
    }
    drop(sender);
    probe.wait(43).await;
    assert_eq!(texts(&fake.messages_to("B")), ["B-0", "B-1", "B-2"]);
}

#[tokio::test]
async fn registry_builds_one_sender_per_whatsapp_channel() {
    use crate::config::Settings;

    let fake = FakeGraph::start();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings = Settings::load_from(&dir, "test", false).expect("settings");
    settings.whatsapp.api_base_url = fake.base_url();
    settings.channels.clear();
    settings.channels.insert(
        "wa-one".into(),
        ChannelSettings {
            phone_number_id: "111".into(),
            access_token: Some(SecretString::from("one-token")),
            messages_per_second: Some(5),
            ..channel_settings()
        },
    );
    // A Messenger channel without its page's settings cannot send: no sender.
    settings.channels.insert(
        "page".into(),
        ChannelSettings {
            kind: crate::domain::ChannelKind::Messenger,
            phone_number_id: "p".into(),
            ..channel_settings()
        },
    );
    let probe = Arc::new(Probe::default());
    let outbound = Outbound::start(&settings, reqwest::Client::new(), probe.clone(), None);
    assert!(outbound.sender(&ChannelId::new("page")).is_none());
    let sender = outbound.sender(&ChannelId::new("wa-one")).expect("sender");
    sender.send(msg("A", "hi")).await.expect("enqueued");
    probe.wait(1).await;
    let requests = fake.requests();
    assert_eq!(requests[0].phone_number_id, "111");
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some("Bearer one-token")
    );
}

#[tokio::test]
async fn a_stopped_sender_starts_nothing_and_retries_nothing() {
    let fake = FakeGraph::start();
    let (sender, probe) = start(&fake, outbound_settings());
    fake.fail_next(Some("A"), 131000, 500, 1_000);
    sender
        .send(msg("A", "retried until stopped"))
        .await
        .expect("enqueued");
    assert!(fake.wait_for(1, Duration::from_secs(5)).await);
    sender.stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let attempts = fake.requests().len();
    sender
        .send(msg("B", "after the stop"))
        .await
        .expect("enqueued");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.requests().len(), attempts, "no retry, nothing new");
    assert!(
        probe.outcomes().is_empty(),
        "the message stays claimed for the next start"
    );
}

/// A Telegram bot behind the fake Bot API.
fn telegram_sender(fake: &crate::fakes::telegram::FakeTelegram) -> (OutboundSender, Arc<Probe>) {
    use crate::channels::telegram::client::TelegramClient;
    use crate::config::{TelegramBotSettings, TelegramSettings};
    let bot = TelegramBotSettings {
        bot_token: SecretString::from("42:test-token"),
        webhook_secret: SecretString::from("test-secret"),
        public_url: None,
        per_chat_per_minute: 6000,
        per_chat_burst: 100,
    };
    let client = TelegramClient::new(
        reqwest::Client::new(),
        &TelegramSettings {
            api_base_url: fake.base_url(),
            request_timeout_ms: 5000,
        },
        &bot,
    );
    let probe = Arc::new(Probe::default());
    let sender = OutboundSender::spawn(
        ChannelId::new("tg-test"),
        Arc::new(client),
        outbound_settings(),
        1000,
        probe.clone(),
    );
    (sender, probe)
}

fn telegram_msg(chat: i64, text: &str) -> OutboundMessage {
    let mut m = msg("unused", text);
    m.channel = ChannelId::new("tg-test");
    m.to = crate::channels::telegram::customer_id(&crate::domain::AccountId::new("42"), chat);
    m.conversation = ConversationKey::new(&m.channel, &m.to);
    m
}

#[tokio::test]
async fn a_telegram_429_is_retried_no_sooner_than_its_retry_after() {
    let fake = crate::fakes::telegram::FakeTelegram::start();
    let (sender, probe) = telegram_sender(&fake);
    // The backoff alone would retry within 100 ms; Telegram said 1 s.
    fake.fail_next(
        Some("sendMessage"),
        429,
        "Too Many Requests: retry after 1",
        Some(1),
        1,
    );
    let m = telegram_msg(777, "hello");
    let id = m.id;
    let started = Instant::now();
    sender.send(m).await.expect("enqueued");
    probe.wait(1).await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retried after {:?}",
        started.elapsed()
    );
    let (attempts, outcome) = probe.outcome_of(id).expect("outcome");
    assert_eq!(attempts, 2);
    assert_eq!(
        outcome,
        OutboundOutcome::Accepted {
            provider_id: Some(ProviderMessageId::new("tg:42:777:1001"))
        }
    );
    assert_eq!(fake.calls().len(), 2);
    assert_eq!(fake.texts_to(777), vec!["hello".to_string()]);
}

#[tokio::test]
async fn a_telegram_bot_blocked_by_the_user_is_a_permanent_failure() {
    let fake = crate::fakes::telegram::FakeTelegram::start();
    let (sender, probe) = telegram_sender(&fake);
    fake.fail_next(None, 403, "Forbidden: bot was blocked by the user", None, 1);
    let m = telegram_msg(778, "hello");
    let id = m.id;
    sender.send(m).await.expect("enqueued");
    probe.wait(1).await;
    let (attempts, outcome) = probe.outcome_of(id).expect("outcome");
    assert_eq!(attempts, 1);
    assert!(
        matches!(&outcome, OutboundOutcome::Failed { code: Some(403), reason } if reason.contains("blocked")),
        "{outcome:?}"
    );
    // The token is in the URL; it is in no failure reason.
    assert!(!format!("{outcome:?}").contains("test-token"));
}

#[tokio::test]
async fn the_registry_builds_a_telegram_sender_with_its_per_chat_limit() {
    use crate::config::{Settings, TelegramBotSettings};

    let fake = crate::fakes::telegram::FakeTelegram::start();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings = Settings::load_from(&dir, "test", false).expect("settings");
    settings.telegram.api_base_url = fake.base_url();
    settings.channels.clear();
    let bot = TelegramBotSettings {
        bot_token: SecretString::from("42:test-token"),
        webhook_secret: SecretString::from("test-secret"),
        public_url: None,
        per_chat_per_minute: 60,
        per_chat_burst: 1,
    };
    let channel = ChannelSettings {
        kind: crate::domain::ChannelKind::Telegram,
        phone_number_id: String::new(),
        telegram: Some(bot),
        ..channel_settings()
    };
    let limits = channel.outbound(&outbound_settings());
    assert_eq!(
        (limits.per_recipient_per_minute, limits.per_recipient_burst),
        (60, 1)
    );
    settings.channels.insert("tg-test".into(), channel);
    let probe = Arc::new(Probe::default());
    let outbound = Outbound::start(&settings, reqwest::Client::new(), probe.clone(), None);
    let sender = outbound
        .sender(&ChannelId::new("tg-test"))
        .expect("a sender");
    // One message a second to a chat: the second waits for the first's second.
    let started = Instant::now();
    sender
        .send(telegram_msg(779, "one"))
        .await
        .expect("enqueued");
    sender
        .send(telegram_msg(779, "two"))
        .await
        .expect("enqueued");
    probe.wait(2).await;
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(
        fake.texts_to(779),
        vec!["one".to_string(), "two".to_string()]
    );
    let calls = fake.calls();
    assert_eq!(calls[0].token, "42:test-token");
}

fn x_msg(user: &str, text: &str) -> OutboundMessage {
    let mut m = msg("unused", text);
    m.channel = ChannelId::new("x-test");
    m.to = crate::channels::x::customer_id(&crate::domain::AccountId::new("1500"), user);
    m.conversation = ConversationKey::new(&m.channel, &m.to);
    m
}

#[tokio::test]
async fn a_quota_lets_its_burst_through_then_one_send_per_share_of_its_window() {
    let settings = OutboundSettings {
        quota: Some(crate::config::SendQuota {
            sends: 3,
            window_seconds: 2,
        }),
        ..outbound_settings()
    };
    let throttle = LocalThrottle::new(1000, &settings);
    let started = Instant::now();
    for _ in 0..3 {
        throttle.quota().await;
    }
    assert!(started.elapsed() < Duration::from_millis(200));
    throttle.quota().await;
    // 3 per 2 s: the fourth waits for a third of the window.
    assert!(started.elapsed() >= Duration::from_millis(600));
    // No quota (or one that says nothing): never waits.
    for quota in [
        None,
        Some(crate::config::SendQuota {
            sends: 0,
            window_seconds: 9,
        }),
    ] {
        assert!(sender::quota_of(quota).is_none());
        let free = LocalThrottle::new(
            1000,
            &OutboundSettings {
                quota,
                ..outbound_settings()
            },
        );
        let started = Instant::now();
        for _ in 0..50 {
            free.quota().await;
        }
        assert!(started.elapsed() < Duration::from_millis(200));
    }
}

/// An X account's sends: its quota of DMs per window holds across all its customers.
#[tokio::test]
async fn the_registry_builds_an_x_sender_with_its_account_quota() {
    use crate::config::{Settings, XAccountSettings};

    let fake = crate::fakes::x::FakeX::start();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings = Settings::load_from(&dir, "test", false).expect("settings");
    settings.x.api_base_url = fake.base_url();
    settings.channels.clear();
    let channel = ChannelSettings {
        kind: crate::domain::ChannelKind::X,
        phone_number_id: String::new(),
        x: Some(XAccountSettings {
            account_id: "1500".into(),
            access_token: SecretString::from("x-user-token"),
            sends_per_window: 2,
            window_seconds: 2,
            oauth1_access_token: None,
            oauth1_access_token_secret: None,
        }),
        ..channel_settings()
    };
    assert_eq!(
        channel.outbound(&outbound_settings()).quota,
        Some(crate::config::SendQuota {
            sends: 2,
            window_seconds: 2
        })
    );
    settings.channels.insert("x-test".into(), channel);
    let probe = Arc::new(Probe::default());
    let outbound = Outbound::start(&settings, reqwest::Client::new(), probe.clone(), None);
    let sender = outbound
        .sender(&ChannelId::new("x-test"))
        .expect("a sender");
    // Three customers, one DM each: two at once, the third a second later.
    let started = Instant::now();
    for user in ["11", "22", "33"] {
        sender.send(x_msg(user, "hello")).await.expect("enqueued");
    }
    probe.wait(3).await;
    assert!(started.elapsed() >= Duration::from_millis(900));
    let calls = fake.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(
        calls[0].authorization.as_deref(),
        Some("Bearer x-user-token")
    );
    let last = calls.iter().map(|c| c.received).max().expect("calls");
    let first = calls.iter().map(|c| c.received).min().expect("calls");
    assert!(last - first >= Duration::from_millis(900), "{calls:#?}");
}
