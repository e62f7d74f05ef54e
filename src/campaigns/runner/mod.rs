//! Campaigns run (docs/CAMPAIGNS.md, "Campaigns"): created as drafts, previewed (who of the
//! segment it reaches, who not and why, a sample and the cost), started, paused, resumed,
//! cancelled; the audience is written as recipients in pages ([`Runner::write_audience_page`])
//! and sent by the campaign lane ([`lane`]), one node at a time per campaign; the counts and the
//! CSV are read from the recipients and their messages ([`Runner::counts`]).

pub mod lane;
pub mod store;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::Serialize;

use self::store::{CampaignRow, CampaignStore, NewRecipient, TallyRow};
use super::Campaigns;
use super::campaign::{
    self, CampaignSpec, Candidate, Exclusion, FrequencyCap, Prices, State, Window,
};
use super::compose::{self, Preview};
use super::consent::{ConsentEvent, ConsentState};
use super::templates::{self, Category, Template};
use crate::config::{CampaignSettings, Settings};
use crate::crm::segment::SegmentFilter;
use crate::crm::segments::Segments;
use crate::domain::ChannelKind;
use crate::store::{ContactListing, StoreError};

/// Contacts shown in a preview's sample.
pub const SAMPLE: usize = 5;

/// Why a campaign cannot be created, previewed or moved.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The body is wrong (422 `invalid_campaign`), each problem in words.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("no such campaign")]
    NotFound,
    /// The action does not apply in the campaign's state (409).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a preview (or a start's estimate) found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema, serde::Deserialize)]
pub struct AudiencePreview {
    /// Contacts of the segment.
    pub audience: u64,
    /// Those it would be sent to.
    pub eligible: u64,
    /// Those it would not, by reason (`no_consent`, `opted_out`, `country_rule`,
    /// `frequency_cap`, `no_number`, `duplicate`, `excluded_segment`, `missing_parameter`).
    pub excluded: BTreeMap<String, u64>,
    /// Eligible recipients known only by a business-scoped user id (no number, no country).
    pub bsuid_only: u64,
    /// The template's category.
    pub category: String,
    pub cost: Estimate,
    /// A few eligible recipients and what they would get (not kept with the estimate).
    #[serde(skip_deserializing)]
    pub sample: Vec<SampleRecipient>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema, serde::Deserialize)]
pub struct Estimate {
    pub currency: String,
    /// Every eligible recipient's message at the price table's price.
    pub amount: f64,
    /// Per country (`unknown` for BSUIDs and numbers of no country).
    pub by_country: BTreeMap<String, CountryCost>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema, serde::Deserialize)]
pub struct CountryCost {
    pub messages: u64,
    pub amount: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SampleRecipient {
    pub contact: String,
    pub name: Option<String>,
    pub address: String,
    pub country: Option<String>,
    pub preview: Preview,
}

/// A campaign's counts, live and after.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Counts {
    /// Recipients written (the audience so far).
    pub targeted: u64,
    /// Not sent to, by reason (the preview's reasons, and rules that refused at send time).
    pub excluded: BTreeMap<String, u64>,
    /// Still to send (waiting for their time, the window, the limit, or their turn).
    pub pending: u64,
    /// Handed to the number's sender (queued or in flight included).
    pub sent: u64,
    /// Delivered (read ones included: a read message was delivered).
    pub delivered: u64,
    pub read: u64,
    /// Recipients who wrote back after the message.
    pub replied: u64,
    pub failed: u64,
    /// Failures by Meta's error code.
    pub failed_by_code: BTreeMap<String, u64>,
    /// Recipients who opted out on the number within 7 days of the message.
    pub opted_out: u64,
    pub cost: Cost,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Cost {
    pub currency: String,
    /// The estimate made when the campaign started.
    pub estimated: Option<f64>,
    /// The messages Meta's statuses said are charged, at the price table's prices.
    pub actual: f64,
}

/// A campaign as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CampaignView {
    pub id: String,
    pub name: String,
    pub channel: String,
    pub template: campaign::TemplateRef,
    /// `draft`, `scheduled`, `running`, `paused`, `completed`, `cancelled`.
    pub state: String,
    /// Why it is paused or held (a template paused by Meta, the messaging limit...).
    pub reason: Option<String>,
    pub category: Option<String>,
    pub spec: CampaignSpec,
    /// The audience is completely written.
    pub audience_complete: bool,
    pub counts: Counts,
    pub estimate: Option<AudiencePreview>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// One contact of the audience, judged.
struct Judged {
    contact: ContactListing,
    address: Option<String>,
    country: Option<String>,
    exclusion: Option<Exclusion>,
    components: Option<serde_json::Value>,
    preview: Option<Preview>,
}

pub struct Runner {
    pub store: CampaignStore,
    campaigns: Arc<Campaigns>,
    segments: Arc<Segments>,
    settings: CampaignSettings,
    /// Each channel's kind and messages per second.
    channels: BTreeMap<String, (ChannelKind, u32)>,
}

impl Runner {
    pub fn new(
        settings: &Settings,
        store: CampaignStore,
        campaigns: Arc<Campaigns>,
        segments: Arc<Segments>,
    ) -> Self {
        let channels = settings
            .channels
            .iter()
            .map(|(id, c)| {
                (
                    id.clone(),
                    (
                        c.kind,
                        c.messages_per_second
                            .unwrap_or(settings.outbound.messages_per_second),
                    ),
                )
            })
            .collect();
        Self {
            store,
            campaigns,
            segments,
            settings: settings.campaigns.clone(),
            channels,
        }
    }

    pub fn settings(&self) -> &CampaignSettings {
        &self.settings
    }

    pub fn prices(&self) -> &Prices {
        &self.settings.prices
    }

    /// The messages per second a campaign on `channel` may take: its share of the number's
    /// throughput, below the campaign's own rate.
    pub fn rate_of(&self, channel: &str, spec: &CampaignSpec) -> u32 {
        let mps = self.channels.get(channel).map_or(1, |(_, mps)| *mps);
        let share = (f64::from(mps) * self.settings.share).floor();
        // `share` is in (0, 1]: the product is a small non-negative number.
        let share = if share >= 1.0 { share as u32 } else { 1 };
        spec.rate.map_or(share, |r| r.min(share)).max(1)
    }

    /// Check a spec against the records: a WhatsApp channel, an approved template of it whose
    /// parameters the mapping fills (with defaults), existing segments.
    async fn check(&self, spec: &CampaignSpec) -> Result<Template, RunError> {
        let mut problems = spec.problems();
        match self.channels.get(&spec.channel) {
            Some((ChannelKind::Whatsapp, _)) => {}
            Some(_) => problems.push(format!(
                "channel {:?} is not a WhatsApp number: only WhatsApp sends templates",
                spec.channel
            )),
            None => problems.push(format!("no channel {:?}", spec.channel)),
        }
        for segment in
            std::iter::once(&spec.audience.segment).chain(&spec.audience.exclude_segments)
        {
            match self.segments.get(segment).await? {
                Some(row) => {
                    if let Err(e) = SegmentFilter::compile(&row.filter) {
                        problems.push(format!("segment {segment:?} cannot be read: {e}"));
                    }
                }
                None => problems.push(format!("no segment {segment:?}")),
            }
        }
        let template = self
            .campaigns
            .records
            .template(&spec.channel, &spec.template.name, &spec.template.language)
            .await?;
        let template = match (template, problems.is_empty()) {
            (Some(t), true) => t,
            (None, _) => {
                problems.push(format!(
                    "no template {:?} in {:?} for channel {:?}",
                    spec.template.name, spec.template.language, spec.channel
                ));
                return Err(RunError::Invalid(problems));
            }
            (Some(_), false) => return Err(RunError::Invalid(problems)),
        };
        if let Err(unusable) = templates::usable(Some(&template)) {
            let refusal = crate::integrations::send::unusable_refusal(
                &spec.template.name,
                &spec.template.language,
                unusable,
            );
            return Err(RunError::Invalid(vec![refusal_text(&refusal)]));
        }
        // The mapping must fill the template for a contact with every field empty (defaults
        // and values), or at least have the shape it asks for.
        let blank = crate::store::ContactRecord {
            customer: crate::domain::CustomerId::new("0"),
            name: None,
            phone: None,
            language: None,
            fields: BTreeMap::new(),
            tags: Vec::new(),
        };
        let with_fields = fill_fields(&spec.parameters);
        let input = campaign::resolve(&spec.parameters, &with_fields, Some("ES"))
            .or_else(|_| campaign::resolve(&spec.parameters, &blank, None));
        match input {
            Ok(input) => {
                if let Err(problems) = compose::compose(&template, &input) {
                    return Err(RunError::Invalid(
                        problems
                            .into_iter()
                            .map(|p| format!("parameters: {} ({})", p.message, p.field))
                            .collect(),
                    ));
                }
            }
            Err(field) => {
                return Err(RunError::Invalid(vec![format!(
                    "parameters: {field} has no source"
                )]));
            }
        }
        Ok(template)
    }

    /// Create a draft.
    pub async fn create(
        &self,
        spec: CampaignSpec,
        by: Option<String>,
        now: i64,
    ) -> Result<CampaignRow, RunError> {
        self.check(&spec).await?;
        let row = CampaignRow {
            id: uuid::Uuid::now_v7().to_string(),
            name: spec.name.trim().to_owned(),
            channel: spec.channel.clone(),
            template: spec.template.name.clone(),
            language: spec.template.language.clone(),
            spec: serde_json::to_string(&spec)
                .map_err(|e| RunError::Invalid(vec![e.to_string()]))?,
            state: State::Draft.as_str().into(),
            reason: None,
            category: None,
            estimate: None,
            audience_after: None,
            audience_done: 0,
            start_at: spec.schedule.start_at.map(|t| t.timestamp_millis()),
            started_at: None,
            finished_at: None,
            lease_until: 0,
            created_by: by,
            created_at: now,
            updated_at: now,
        };
        self.store.create(&row).await?;
        Ok(row)
    }

    pub async fn get(&self, id: &str) -> Result<CampaignRow, RunError> {
        self.store.get(id).await?.ok_or(RunError::NotFound)
    }

    /// Judge one page of contacts for `spec`: the address on the number, duplicates (`seen`
    /// holds the addresses of earlier contacts), exclusions, consent, the frequency cap and
    /// the parameters.
    async fn judge(
        &self,
        spec: &CampaignSpec,
        template: &Template,
        excluded: &[SegmentFilter],
        page: Vec<ContactListing>,
        seen: &mut HashSet<String>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Judged>, StoreError> {
        let category = template.category;
        let ids: Vec<String> = page
            .iter()
            .map(|l| l.contact.customer.to_string())
            .collect();
        let identities = self.store.identities(&spec.channel, &ids).await?;
        let addresses: Vec<Option<String>> = page
            .iter()
            .map(|l| {
                identities
                    .get(l.contact.customer.as_str())
                    .cloned()
                    .or_else(|| {
                        l.contact
                            .phone
                            .as_deref()
                            .and_then(crate::crm::contact::phone_digits)
                    })
            })
            .collect();
        let known: Vec<String> = addresses.iter().flatten().cloned().collect();
        let consent = self.store.consent_of(&spec.channel, &known).await?;
        let recent = match spec.frequency_cap {
            Some(FrequencyCap { days, .. }) if category == Category::Marketing => {
                let since = now - Duration::days(i64::from(days));
                self.store
                    .recent_marketing(&known, since.timestamp_millis())
                    .await?
            }
            _ => HashMap::new(),
        };
        let mut judged = Vec::with_capacity(page.len());
        for (listing, address) in page.into_iter().zip(addresses) {
            let country = address.as_deref().and_then(crate::crm::contact::country_of);
            let duplicate = address.as_ref().is_some_and(|a| !seen.insert(a.clone()));
            let composed =
                campaign::resolve(&spec.parameters, &listing.contact, country.as_deref()).and_then(
                    |input| {
                        compose::compose(template, &input).map_err(|problems| {
                            problems
                                .first()
                                .map(|p| p.field.clone())
                                .unwrap_or_default()
                        })
                    },
                );
            let last = address
                .as_ref()
                .and_then(|a| consent.get(a))
                .and_then(|e| ConsentEvent::parse(e));
            let candidate = Candidate {
                address: address.as_deref(),
                country: country.as_deref(),
                duplicate,
                excluded: excluded.iter().any(|f| f.matches(&listing, now)),
                consent: ConsentState {
                    erased: false,
                    last,
                },
                recent_marketing: address
                    .as_ref()
                    .and_then(|a| recent.get(a))
                    .copied()
                    .unwrap_or(0),
                parameters: composed.as_ref().map(|_| ()).map_err(Clone::clone),
            };
            let exclusion = campaign::eligibility(
                category,
                &self.campaigns.countries,
                spec.frequency_cap,
                &candidate,
            )
            .err();
            let (components, preview) = match (exclusion, composed) {
                (None, Ok(c)) => (Some(c.components), Some(c.preview)),
                _ => (None, None),
            };
            judged.push(Judged {
                contact: listing,
                address,
                country,
                exclusion,
                components,
                preview,
            });
        }
        Ok(judged)
    }

    fn excluded_filters(&self, rows: Vec<crate::crm::segments::SegmentRow>) -> Vec<SegmentFilter> {
        rows.into_iter()
            .filter_map(|r| SegmentFilter::compile(&r.filter).ok())
            .collect()
    }

    async fn filters(
        &self,
        spec: &CampaignSpec,
    ) -> Result<(SegmentFilter, Vec<SegmentFilter>), RunError> {
        let segment = self
            .segments
            .get(&spec.audience.segment)
            .await?
            .ok_or_else(|| {
                RunError::Invalid(vec![format!("no segment {:?}", spec.audience.segment)])
            })?;
        let filter = SegmentFilter::compile(&segment.filter)
            .map_err(|e| RunError::Invalid(vec![format!("the segment cannot be read: {e}")]))?;
        let mut rows = Vec::new();
        for id in &spec.audience.exclude_segments {
            if let Some(row) = self.segments.get(id).await? {
                rows.push(row);
            }
        }
        Ok((filter, self.excluded_filters(rows)))
    }

    /// Who of the audience the campaign reaches now, who not and why, a sample and the cost.
    pub async fn preview(&self, row: &CampaignRow) -> Result<AudiencePreview, RunError> {
        let spec = spec_of(row)?;
        let template = self.check(&spec).await?;
        let (filter, excluded) = self.filters(&spec).await?;
        let now = Utc::now();
        let mut seen = HashSet::new();
        let mut after: Option<String> = None;
        let mut out = AudiencePreview {
            category: template.category.as_str().to_owned(),
            cost: Estimate {
                currency: self.settings.prices.currency.clone(),
                ..Estimate::default()
            },
            ..AudiencePreview::default()
        };
        loop {
            let (page, next) = self
                .segments
                .members(
                    &filter,
                    now,
                    after.as_deref(),
                    self.settings.audience_page.max(1),
                )
                .await?;
            for judged in self
                .judge(&spec, &template, &excluded, page, &mut seen, now)
                .await?
            {
                out.audience += 1;
                match judged.exclusion {
                    Some(reason) => {
                        *out.excluded.entry(reason.as_str().to_owned()).or_default() += 1;
                    }
                    None => {
                        out.eligible += 1;
                        let address = judged.address.clone().unwrap_or_default();
                        if crate::crm::contact::phone_digits(&address).is_none() {
                            out.bsuid_only += 1;
                        }
                        let price = self
                            .settings
                            .prices
                            .price(judged.country.as_deref(), template.category.as_str());
                        let country = judged.country.clone().unwrap_or_else(|| "unknown".into());
                        let cost = out.cost.by_country.entry(country).or_default();
                        cost.messages += 1;
                        cost.amount += price;
                        out.cost.amount += price;
                        if out.sample.len() < SAMPLE
                            && let Some(preview) = judged.preview
                        {
                            out.sample.push(SampleRecipient {
                                contact: judged.contact.contact.customer.to_string(),
                                name: judged.contact.contact.name.clone(),
                                address,
                                country: judged.country,
                                preview,
                            });
                        }
                    }
                }
            }
            match next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        out.cost.amount = campaign::money(out.cost.amount);
        for c in out.cost.by_country.values_mut() {
            c.amount = campaign::money(c.amount);
        }
        Ok(out)
    }

    /// Start, pause, resume or cancel; the campaign as it is then. A start previews first: the
    /// estimate is kept, and a campaign that reaches nobody does not start.
    pub async fn act(
        &self,
        id: &str,
        action: campaign::Action,
        now: DateTime<Utc>,
    ) -> Result<CampaignRow, RunError> {
        let row = self.get(id).await?;
        let state = State::parse(&row.state)
            .ok_or_else(|| RunError::Conflict(format!("unknown state {:?}", row.state)))?;
        let start_at = row
            .start_at
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single());
        let to = campaign::transition(state, action, start_at, now).map_err(RunError::Conflict)?;
        let ms = now.timestamp_millis();
        let moved = match action {
            campaign::Action::Start => {
                let estimate = self.preview(&row).await?;
                if estimate.eligible == 0 {
                    return Err(RunError::Conflict(
                        "the campaign reaches nobody: see its preview's exclusions".into(),
                    ));
                }
                let text = serde_json::to_string(&estimate).unwrap_or_default();
                self.store
                    .start(id, to, &estimate.category, &text, ms)
                    .await?
            }
            _ => self.store.set_state(id, &[state], to, None, ms).await?,
        };
        if !moved {
            return Err(RunError::Conflict(
                "the campaign changed meanwhile; read it again".into(),
            ));
        }
        tracing::info!(
            campaign = id,
            action = action.as_str(),
            state = to.as_str(),
            "campaign"
        );
        self.get(id).await
    }

    /// Write the next page of a started campaign's audience (idempotent: a page written before
    /// adds nothing); false when the audience is complete.
    pub async fn write_audience_page(&self, row: &CampaignRow) -> Result<bool, RunError> {
        let Some(after) = row
            .audience_after
            .clone()
            .filter(|_| row.audience_done == 0)
        else {
            return Ok(false);
        };
        let spec = spec_of(row)?;
        let template = self
            .campaigns
            .records
            .template(&row.channel, &row.template, &row.language)
            .await?
            .ok_or_else(|| RunError::Conflict("the template is gone".into()))?;
        let (filter, excluded) = self.filters(&spec).await?;
        let now = Utc::now();
        let (page, next) = self
            .segments
            .members(
                &filter,
                now,
                Some(after.as_str()).filter(|a| !a.is_empty()),
                self.settings.audience_page.max(1),
            )
            .await?;
        // Duplicates within this page are found by `seen`; of earlier pages, in the rows.
        let mut seen = HashSet::new();
        let mut judged = self
            .judge(&spec, &template, &excluded, page, &mut seen, now)
            .await?;
        let addresses: Vec<String> = judged.iter().filter_map(|j| j.address.clone()).collect();
        let taken: HashSet<String> = self
            .store
            .addresses_taken(&row.id, &addresses)
            .await?
            .into_iter()
            .collect();
        let window = spec
            .schedule
            .window
            .as_ref()
            .and_then(|w| Window::of(w).ok());
        let from = row
            .start_at
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .filter(|t| *t > now)
            .unwrap_or(now);
        let rows: Vec<NewRecipient> = judged
            .iter_mut()
            .map(|j| {
                if j.exclusion.is_none() && j.address.as_ref().is_some_and(|a| taken.contains(a)) {
                    j.exclusion = Some(Exclusion::Duplicate);
                }
                let zone_name = j
                    .contact
                    .contact
                    .fields
                    .get("timezone")
                    .filter(|z| campaign::zone_of(z).is_some())
                    .cloned();
                let zone = zone_name.as_deref().and_then(campaign::zone_of);
                let not_before = window
                    .map(|w| w.next_open(from, zone))
                    .unwrap_or(from)
                    .timestamp_millis();
                NewRecipient {
                    contact: j.contact.contact.customer.to_string(),
                    address: j.address.clone(),
                    country: j.country.clone(),
                    excluded: j.exclusion.map(Exclusion::as_str),
                    not_before,
                    components: match j.exclusion {
                        None => j.components.as_ref().map(|c| c.to_string()),
                        Some(_) => None,
                    },
                    zone: zone_name,
                }
            })
            .collect();
        self.store
            .write_audience(&row.id, &rows, next.as_deref())
            .await?;
        Ok(next.is_some())
    }

    /// The campaign's counts from its recipients and their messages.
    pub async fn counts(&self, row: &CampaignRow) -> Result<Counts, StoreError> {
        let rows = self.store.tally(&row.id, &row.channel).await?;
        let estimated = estimate_of(row).map(|e| e.cost.amount);
        Ok(counts_of(&rows, &self.settings.prices, estimated))
    }

    pub async fn view(&self, row: CampaignRow) -> Result<CampaignView, RunError> {
        let counts = self.counts(&row).await?;
        let spec = spec_of(&row)?;
        let estimate = estimate_of(&row);
        Ok(CampaignView {
            id: row.id,
            name: row.name,
            channel: row.channel,
            template: spec.template.clone(),
            state: row.state,
            reason: row.reason,
            category: row.category,
            spec,
            audience_complete: row.audience_done == 1,
            counts,
            estimate,
            created_by: row.created_by,
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
        })
    }
}

/// The estimate kept when the campaign started (its sample is not read back).
fn estimate_of(row: &CampaignRow) -> Option<AudiencePreview> {
    serde_json::from_str(row.estimate.as_deref()?).ok()
}

/// The counts of a campaign's grouped recipients, pure.
pub fn counts_of(rows: &[TallyRow], prices: &Prices, estimated: Option<f64>) -> Counts {
    let mut c = Counts {
        cost: Cost {
            currency: prices.currency.clone(),
            estimated,
            actual: 0.0,
        },
        ..Counts::default()
    };
    let mut actual = 0.0;
    for row in rows {
        let n = u64::try_from(row.n).unwrap_or(0);
        c.targeted += n;
        match row.state.as_str() {
            "excluded" | "refused" => {
                let reason = row.reason.clone().unwrap_or_else(|| "refused".into());
                *c.excluded.entry(reason).or_default() += n;
                continue;
            }
            "pending" => {
                c.pending += n;
                continue;
            }
            _ => {}
        }
        // Claimed or sent: its message tells the rest (a claimed one without a message is
        // still to go).
        let Some(status) = row.status.as_deref() else {
            c.pending += n;
            continue;
        };
        c.sent += n;
        match status {
            "delivered" | "played" => c.delivered += n,
            "read" => {
                c.delivered += n;
                c.read += n;
            }
            "failed" => {
                c.failed += n;
                let code = row
                    .error_code
                    .map_or_else(|| "unknown".to_owned(), |e| e.to_string());
                *c.failed_by_code.entry(code).or_default() += n;
            }
            _ => {}
        }
        c.replied += u64::try_from(row.replied).unwrap_or(0);
        c.opted_out += u64::try_from(row.opted_out).unwrap_or(0);
        if let Some(category) = row.pricing_category.as_deref()
            && campaign::charged(row.pricing_type.as_deref())
        {
            actual += prices.price(row.country.as_deref(), category) * n as f64;
        }
    }
    c.cost.actual = campaign::money(actual);
    c
}

pub fn spec_of(row: &CampaignRow) -> Result<CampaignSpec, RunError> {
    serde_json::from_str(&row.spec)
        .map_err(|e| RunError::Conflict(format!("the campaign's stored spec is unreadable: {e}")))
}

fn refusal_text(refusal: &crate::integrations::send::Refusal) -> String {
    match refusal {
        crate::integrations::send::Refusal::Rule { code, message } => format!("{code}: {message}"),
        crate::integrations::send::Refusal::BadRequest(m) => m.clone(),
    }
}

/// A contact whose every field a mapping names holds a sample value: the mapping's shape is
/// checked against the template with it.
fn fill_fields(map: &campaign::ParameterMap) -> crate::store::ContactRecord {
    let value = serde_json::to_value(map).unwrap_or_default();
    let mut fields = BTreeMap::new();
    collect_fields(&value, &mut fields);
    crate::store::ContactRecord {
        customer: crate::domain::CustomerId::new("0"),
        name: Some("Ana".into()),
        phone: Some("34600000000".into()),
        language: Some("en".into()),
        fields,
        tags: Vec::new(),
    }
}

fn collect_fields(v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match v {
        serde_json::Value::Object(o) => {
            if let Some(f) = o.get("field").and_then(serde_json::Value::as_str) {
                out.insert(f.to_owned(), "sample".into());
            }
            for child in o.values() {
                collect_fields(child, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|c| collect_fields(c, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
