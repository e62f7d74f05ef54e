//! Campaigns' room (docs/CAMPAIGNS.md): WhatsApp message templates synced from Meta, the
//! consent ledger, and the rules that gate a template send. Pure rules live in [`templates`]
//! and [`consent`]; [`records`] keeps the rows; [`Campaigns`] ties them to Meta's API, to the
//! account-level webhooks (template status and category changes, `user_preferences`) and to a
//! customer's stop and start keywords.

pub mod campaign;
pub mod compose;
pub mod consent;
pub mod policy;
pub mod records;
pub mod retries;
pub mod runner;
pub mod templates;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;

use self::consent::{ConsentEvent, ConsentSource, KeywordOutcome};
use self::records::{CampaignRecords, NewConsent};
use crate::config::{ChannelSettings, ConsentSettings, Settings, TemplateSettings};
use crate::domain::{AccountId, ChannelId, ChannelKind, OtherEvent};
use crate::store::StoreError;

/// The webhook field of Meta's "stop promotions" / "resume promotions".
pub const USER_PREFERENCES: &str = "user_preferences";

/// A WhatsApp number whose templates are synced.
#[derive(Clone)]
struct SyncTarget {
    waba_id: String,
    /// The number's id: its messaging limit tier is read from it.
    phone_number_id: String,
    token: SecretString,
}

/// What one sync of a channel did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SyncReport {
    pub channel: String,
    /// Templates stored (new or updated).
    pub templates: usize,
    /// Templates no longer at Meta, removed.
    pub removed: u64,
    /// Items of the listing that could not be read as templates.
    pub skipped: usize,
    pub pages: u32,
    /// False when the listing had more pages than `templates.max_pages` (nothing removed).
    pub complete: bool,
    /// The messaging limit tier Meta gave for the number (`TIER_2K`...), when it answered.
    pub messaging_limit: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("channel {0} syncs no templates (not a WhatsApp channel with a waba_id)")]
    NotSynced(String),
    #[error("Meta's template listing failed: {0}")]
    Graph(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

pub struct Campaigns {
    pub records: Arc<dyn CampaignRecords>,
    pub consent: ConsentSettings,
    /// The country rules of template sends.
    pub countries: policy::CountryRules,
    /// Where the business portfolio's messaging limit comes from.
    pub messaging_limit: policy::LimitSetting,
    http: reqwest::Client,
    base_url: String,
    timeout: Duration,
    settings: TemplateSettings,
    /// WhatsApp channels with a business account, by channel id.
    targets: BTreeMap<String, SyncTarget>,
    /// Every WhatsApp channel (the ledger's business numbers).
    whatsapp: Vec<String>,
}

impl Campaigns {
    pub fn new(
        settings: &Settings,
        http: reqwest::Client,
        records: Arc<dyn CampaignRecords>,
    ) -> Self {
        let whatsapp_channels = || {
            settings
                .channels
                .iter()
                .filter(|(_, c)| c.kind == ChannelKind::Whatsapp)
        };
        let targets = whatsapp_channels()
            .filter_map(|(id, c): (&String, &ChannelSettings)| {
                let waba_id = c.waba_id.clone().filter(|w| !w.trim().is_empty())?;
                Some((
                    id.clone(),
                    SyncTarget {
                        waba_id,
                        phone_number_id: c.phone_number_id.clone(),
                        token: c
                            .access_token
                            .clone()
                            .unwrap_or_else(|| settings.whatsapp.access_token.clone()),
                    },
                ))
            })
            .collect();
        Self {
            records,
            consent: settings.consent.clone(),
            countries: policy::CountryRules::of(&settings.campaigns),
            messaging_limit: settings.campaigns.messaging_limit,
            http,
            base_url: format!(
                "{}/{}",
                settings.whatsapp.api_base_url.trim_end_matches('/'),
                settings.whatsapp.api_version.trim_matches('/')
            ),
            timeout: Duration::from_millis(settings.whatsapp.request_timeout_ms.max(1)),
            settings: settings.templates.clone(),
            targets,
            whatsapp: whatsapp_channels().map(|(id, _)| id.clone()).collect(),
        }
    }

    /// Count `address` in the portfolio's reach for a template sent outside its service window
    /// at `now_ms` (see [`policy::Reach`]); always counted when the limit is unlimited.
    pub async fn reach(&self, address: &str, now_ms: i64) -> Result<policy::Reach, StoreError> {
        match self.limit().await? {
            policy::MessagingLimit::Unlimited => Ok(policy::Reach::Counted),
            policy::MessagingLimit::Customers(limit) => {
                self.records.reserve_reach(address, now_ms, limit).await
            }
        }
    }

    /// The messaging limit in effect: the configured one, or the tier Meta gave last.
    pub async fn limit(&self) -> Result<policy::MessagingLimit, StoreError> {
        let read = match self.messaging_limit {
            policy::LimitSetting::Meta => self
                .records
                .meta_limit()
                .await?
                .and_then(|tier| policy::MessagingLimit::from_meta(&tier)),
            policy::LimitSetting::Fixed(_) => None,
        };
        Ok(self.messaging_limit.limit(read))
    }

    /// Meta's messaging limit tier of `target`'s number (`GET /{phone-number-id}?fields=
    /// whatsapp_business_manager_messaging_limit`), kept for the limit; None when Meta did not
    /// give one (logged: the sync stands, the last tier read stays).
    async fn read_meta_limit(&self, channel: &str, target: &SyncTarget) -> Option<String> {
        if target.phone_number_id.trim().is_empty() {
            return None;
        }
        let url = format!("{}/{}", self.base_url, target.phone_number_id);
        let answer = self
            .http
            .get(&url)
            .bearer_auth(target.token.expose_secret())
            .query(&[("fields", "whatsapp_business_manager_messaging_limit")])
            .timeout(self.timeout)
            .send()
            .await;
        let body: Option<Value> = match answer {
            Ok(response) if response.status().is_success() => response.json().await.ok(),
            Ok(response) => {
                tracing::warn!(
                    channel,
                    status = response.status().as_u16(),
                    "templates: Meta did not give the messaging limit"
                );
                None
            }
            Err(e) => {
                tracing::warn!(channel, error = %e.without_url(), "templates: cannot read the messaging limit");
                None
            }
        };
        let tier = body
            .as_ref()
            .and_then(|b| b.get("whatsapp_business_manager_messaging_limit"))
            .and_then(Value::as_str)
            .filter(|t| policy::MessagingLimit::from_meta(t).is_some())?
            .to_owned();
        let now = chrono::Utc::now().timestamp_millis();
        if let Err(e) = self.records.set_meta_limit(channel, &tier, now).await {
            tracing::warn!(channel, error = %e, "templates: cannot keep the messaging limit");
            return None;
        }
        Some(tier)
    }

    /// The rules of a template send to `address` on `channel` as they are now: the template
    /// synced and approved, the country rules, the consent ledger
    /// ([`crate::integrations::send::template_allowed`]). The stored template when it may go;
    /// the inner error is the refusal.
    pub async fn template_check(
        &self,
        channel: &str,
        address: &str,
        name: &str,
        language: &str,
    ) -> Result<Result<templates::Template, crate::integrations::send::Refusal>, StoreError> {
        let template = self.records.template(channel, name, language).await?;
        let last = self.records.consent_state(channel, address, None).await?;
        let country = crate::crm::contact::country_of(address);
        let allowed = crate::integrations::send::template_allowed(
            name,
            language,
            template.as_ref(),
            &self.countries,
            policy::Recipient::of(address, country.as_deref()),
            consent::ConsentState {
                erased: false,
                last,
            },
        );
        Ok(match (allowed, template) {
            (Ok(_), Some(template)) => Ok(template),
            (Err(refusal), _) => Err(refusal),
            // `template_allowed` refuses a template that is not stored.
            (Ok(_), None) => Err(crate::integrations::send::Refusal::Rule {
                code: "unknown_template",
                message: format!("no template {name:?} in {language:?} for this number"),
            }),
        })
    }

    /// The channels whose templates are synced.
    pub fn synced_channels(&self) -> Vec<String> {
        self.targets.keys().cloned().collect()
    }

    /// Whether `channel` is a WhatsApp number (consent is kept per WhatsApp number).
    pub fn is_whatsapp(&self, channel: &str) -> bool {
        self.whatsapp.iter().any(|c| c == channel)
    }

    /// Read `channel`'s templates from Meta, every page, and store them.
    pub async fn sync(&self, channel: &str) -> Result<SyncReport, SyncError> {
        let target = self
            .targets
            .get(channel)
            .ok_or_else(|| SyncError::NotSynced(channel.to_owned()))?;
        let started = chrono::Utc::now().timestamp_millis();
        let url = format!("{}/{}/message_templates", self.base_url, target.waba_id);
        let limit = self.settings.page_size.clamp(1, 1000).to_string();
        let mut after: Option<String> = None;
        let mut report = SyncReport {
            channel: channel.to_owned(),
            ..SyncReport::default()
        };
        let mut templates = Vec::new();
        loop {
            if report.pages >= self.settings.max_pages.max(1) {
                break;
            }
            let mut query = vec![
                ("limit", limit.clone()),
                (
                    "fields",
                    "id,name,language,category,status,components,parameter_format,rejected_reason"
                        .to_owned(),
                ),
            ];
            if let Some(cursor) = &after {
                query.push(("after", cursor.clone()));
            }
            let response = self
                .http
                .get(&url)
                .bearer_auth(target.token.expose_secret())
                .query(&query)
                .timeout(self.timeout)
                .send()
                .await
                .map_err(|e| SyncError::Graph(e.without_url().to_string()))?;
            let status = response.status().as_u16();
            let body: Value = response
                .json()
                .await
                .map_err(|e| SyncError::Graph(format!("HTTP {status}: {}", e.without_url())))?;
            if !(200..300).contains(&status) {
                let message = body
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("no error message");
                return Err(SyncError::Graph(format!(
                    "HTTP {status}: {}",
                    message.chars().take(300).collect::<String>()
                )));
            }
            let page = templates::parse_listing(channel, &body, started)
                .ok_or_else(|| SyncError::Graph("the answer holds no `data` list".into()))?;
            report.pages += 1;
            report.skipped += page.skipped;
            templates.extend(page.templates);
            let cursor = page.next.as_ref().and(
                body.pointer("/paging/cursors/after")
                    .and_then(Value::as_str),
            );
            match cursor {
                Some(c) if after.as_deref() != Some(c) => after = Some(c.to_owned()),
                _ => {
                    report.complete = true;
                    break;
                }
            }
        }
        report.templates = templates.len();
        report.messaging_limit = self.read_meta_limit(channel, target).await;
        report.removed = self
            .records
            .replace_templates(channel, &templates, started, report.complete)
            .await?;
        tracing::info!(
            channel,
            templates = report.templates,
            removed = report.removed,
            pages = report.pages,
            complete = report.complete,
            "templates synced"
        );
        Ok(report)
    }

    /// Sync the templates of every channel whose sync is due, one node at a time (a lease in
    /// the database), every `templates.poll_interval_ms`; each channel then waits
    /// `templates.sync_interval_minutes`. Nothing when the interval is 0.
    pub fn spawn_scheduler(self: &Arc<Self>) -> Option<actix_rt::task::JoinHandle<()>> {
        if self.settings.sync_interval_minutes == 0 || self.targets.is_empty() {
            return None;
        }
        let this = self.clone();
        Some(actix_rt::spawn(async move {
            let every = Duration::from_millis(this.settings.poll_interval_ms.max(100));
            let interval_ms = i64::try_from(this.settings.sync_interval_minutes)
                .unwrap_or(i64::MAX / 120_000)
                .saturating_mul(60_000);
            let lease_ms = i64::try_from(this.settings.lease_ms.max(1000)).unwrap_or(120_000);
            loop {
                for channel in this.synced_channels() {
                    let now = chrono::Utc::now().timestamp_millis();
                    let claimed = match this.records.schedule_sync(&channel, now).await {
                        Ok(()) => this.records.claim_sync(&channel, now, now + lease_ms).await,
                        Err(e) => Err(e),
                    };
                    match claimed {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(e) => {
                            tracing::warn!(channel, error = %e, "templates: cannot claim the sync");
                            continue;
                        }
                    }
                    let error = match this.sync(&channel).await {
                        Ok(_) => None,
                        Err(e) => {
                            tracing::warn!(channel, error = %e, "templates: scheduled sync failed");
                            Some(e.to_string())
                        }
                    };
                    let done = chrono::Utc::now().timestamp_millis();
                    // A failed sync is tried again sooner (a tenth of the interval).
                    let next = if error.is_some() {
                        done + (interval_ms / 10).max(60_000)
                    } else {
                        done + interval_ms
                    };
                    if let Err(e) = this
                        .records
                        .finish_sync(&channel, done, next, error.as_deref())
                        .await
                    {
                        tracing::warn!(channel, error = %e, "templates: cannot record the sync");
                    }
                }
                tokio::time::sleep(every).await;
            }
        }))
    }

    /// An account-level WhatsApp webhook event (recorded by intake): a template's status or
    /// category change (for the channels of that business account), or a customer's
    /// `user_preferences` (for the number it came to). Idempotent: a redelivery changes nothing
    /// more.
    pub async fn on_account_event(
        &self,
        channel: Option<&ChannelId>,
        account: &AccountId,
        other: &OtherEvent,
    ) -> Result<(), StoreError> {
        let now = chrono::Utc::now().timestamp_millis();
        if let Some(change) = templates::change_of(&other.field, &other.value) {
            let channels: Vec<String> = self
                .targets
                .iter()
                .filter(|(id, t)| {
                    t.waba_id == account.as_str() || channel.is_some_and(|c| c.as_str() == *id)
                })
                .map(|(id, _)| id.clone())
                .collect();
            let changed = self
                .records
                .change_template(&channels, &change, now)
                .await?;
            tracing::info!(template = %change.id, name = ?change.name, status = ?change.status,
                category = ?change.category.map(|c| c.as_str()), changed, "template changed by Meta");
            return Ok(());
        }
        if other.field != USER_PREFERENCES {
            return Ok(());
        }
        let Some(channel) = channel.filter(|c| self.is_whatsapp(c.as_str())) else {
            return Ok(());
        };
        for entry in preferences_of(&other.value) {
            let appended = self
                .records
                .append_consent(&NewConsent {
                    channel: channel.to_string(),
                    address: entry.wa_id.clone(),
                    event: entry.event,
                    source: ConsentSource::UserPreferences,
                    proof: Some(entry.detail.clone()),
                    actor: None,
                    reference: Some(format!(
                        "user_preferences:{channel}:{}:{}:{}",
                        entry.wa_id,
                        entry.timestamp,
                        entry.event.as_str()
                    )),
                    at: now,
                })
                .await?;
            if appended.is_some() {
                tracing::info!(channel = %channel, event = entry.event.as_str(),
                    "consent: user_preferences recorded");
            }
        }
        Ok(())
    }

    /// What a customer's message on a WhatsApp channel does to their consent: decided on the
    /// state before this message (the entry it appended, if a replay, left out), and the
    /// entry appended (once: its reference is the message's id). The caller answers with the
    /// outcome's reply in the same step as the message, so a replayed step answers once.
    pub async fn on_customer_message(
        &self,
        channel: &str,
        address: &str,
        provider_id: &str,
        text: &str,
        contact_language: Option<&str>,
        default_language: &str,
    ) -> Result<KeywordOutcome, StoreError> {
        if !self.is_whatsapp(channel) {
            return Ok(KeywordOutcome::NotKeyword);
        }
        // Cheap first: is it a keyword at all (whatever the state)?
        if !consent::is_keyword_text(text, &self.consent) {
            return Ok(KeywordOutcome::NotKeyword);
        }
        let reference = format!("keyword:{channel}:{provider_id}");
        let prior = self
            .records
            .consent_state(channel, address, Some(&reference))
            .await?;
        let outcome = consent::keyword(
            text,
            &self.consent,
            prior,
            contact_language,
            default_language,
        );
        if let KeywordOutcome::Record { event, .. } = &outcome {
            self.records
                .append_consent(&NewConsent {
                    channel: channel.to_owned(),
                    address: address.to_owned(),
                    event: *event,
                    source: ConsentSource::Keyword,
                    proof: Some(text.chars().take(200).collect()),
                    actor: None,
                    reference: Some(reference),
                    at: chrono::Utc::now().timestamp_millis(),
                })
                .await?;
        }
        Ok(outcome)
    }
}

/// One item of a `user_preferences` webhook about marketing messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preference {
    pub wa_id: String,
    pub event: ConsentEvent,
    pub detail: String,
    pub timestamp: i64,
}

/// The marketing preferences a `user_preferences` value carries (`stop` → opted out,
/// `resume` → opted in); other categories and values are ignored.
pub fn preferences_of(value: &Value) -> Vec<Preference> {
    let Some(items) = value.get(USER_PREFERENCES).and_then(Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            if item.get("category").and_then(Value::as_str) != Some("marketing_messages") {
                return None;
            }
            let event = match item.get("value").and_then(Value::as_str)? {
                "stop" => ConsentEvent::OptedOut,
                "resume" => ConsentEvent::OptedIn,
                _ => return None,
            };
            let wa_id = item.get("wa_id").and_then(Value::as_str)?.trim();
            if wa_id.is_empty() || wa_id.len() > 64 {
                return None;
            }
            let timestamp = match item.get("timestamp") {
                Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
                Some(Value::String(s)) => s.parse().unwrap_or(0),
                _ => 0,
            };
            let detail = item
                .get("detail")
                .and_then(Value::as_str)
                .filter(|d| !d.trim().is_empty())
                .unwrap_or(match event {
                    ConsentEvent::OptedOut => "User requested to stop marketing messages",
                    ConsentEvent::OptedIn => "User requested to resume marketing messages",
                });
            Some(Preference {
                wa_id: wa_id.to_owned(),
                event,
                detail: detail.chars().take(300).collect(),
                timestamp,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_preferences_stop_and_resume_marketing_only() {
        let value = json!({"user_preferences": [
            {"wa_id": "16505551234", "detail": "User requested to stop marketing messages",
             "category": "marketing_messages", "value": "stop", "timestamp": 1750272000},
            {"wa_id": "16505551235", "category": "marketing_messages", "value": "resume",
             "timestamp": "1750272001"},
            {"wa_id": "16505551236", "category": "other_messages", "value": "stop"},
            {"wa_id": "16505551237", "category": "marketing_messages", "value": "pause"},
            {"category": "marketing_messages", "value": "stop"},
            7
        ]});
        let found = preferences_of(&value);
        assert_eq!(
            found,
            vec![
                Preference {
                    wa_id: "16505551234".into(),
                    event: ConsentEvent::OptedOut,
                    detail: "User requested to stop marketing messages".into(),
                    timestamp: 1750272000
                },
                Preference {
                    wa_id: "16505551235".into(),
                    event: ConsentEvent::OptedIn,
                    detail: "User requested to resume marketing messages".into(),
                    timestamp: 1750272001
                },
            ]
        );
        assert!(preferences_of(&json!({})).is_empty());
        assert!(preferences_of(&json!({"user_preferences": {}})).is_empty());
    }
}
