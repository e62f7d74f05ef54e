//! The templates, the consent ledger, the template sync schedule, the portfolio's reach and the
//! 131049 retries in the store's database (migrations SQLite 0028–0033, PostgreSQL 0027–0032). Like the panel apps' and the segments'
//! records: connections of their own ([`SidePool`]), one SQL text for both databases.

use async_trait::async_trait;
use serde::Serialize;

use super::consent::{ConsentEvent, ConsentSource};
use super::policy::{MessagingLimit, Reach};
use super::templates::{Category, Template, TemplateChange};
use crate::config::DatabaseSettings;
use crate::store::StoreError;
use crate::store::side::SidePool;

/// One entry of the consent ledger.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ConsentEntry {
    /// Its place in the ledger (later entries have larger ones).
    pub seq: i64,
    pub id: String,
    /// The business number (channel id).
    pub channel: String,
    /// The customer's address on it (a WhatsApp id).
    pub address: String,
    pub event: ConsentEvent,
    pub source: ConsentSource,
    /// What proves it: the customer's words, a form's reference, Meta's detail.
    pub proof: Option<String>,
    /// Who recorded it (`user:<id>`, `key:<id>`); None for the customer's own act.
    pub actor: Option<String>,
    /// Unix ms.
    pub at: i64,
}

/// An entry to append. `reference` makes it idempotent: a second append with the same one
/// changes nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct NewConsent {
    pub channel: String,
    pub address: String,
    pub event: ConsentEvent,
    pub source: ConsentSource,
    pub proof: Option<String>,
    pub actor: Option<String>,
    pub reference: Option<String>,
    pub at: i64,
}

/// Where a 131049 retry stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryState {
    Due,
    Sent,
    Refused,
    GaveUp,
}

impl RetryState {
    pub fn as_str(self) -> &'static str {
        match self {
            RetryState::Due => "due",
            RetryState::Sent => "sent",
            RetryState::Refused => "refused",
            RetryState::GaveUp => "gave_up",
        }
    }

    fn parse(s: &str) -> Option<RetryState> {
        [
            RetryState::Due,
            RetryState::Sent,
            RetryState::Refused,
            RetryState::GaveUp,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// A template to send again after Meta's 131049.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TemplateRetry {
    pub failed_message: String,
    pub channel: String,
    pub customer: String,
    /// The failed message's content (an `OutboundContent`, as stored).
    pub content: String,
    /// 1 for the first retry.
    pub attempt: i64,
    pub failed_at: i64,
    pub state: RetryState,
    /// The id the retry's message has (chosen when first claimed).
    pub sent_message: Option<String>,
    pub note: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RetryRow {
    failed_message: String,
    channel: String,
    customer: String,
    content: String,
    attempt: i64,
    failed_at: i64,
    state: String,
    sent_message: Option<String>,
    note: Option<String>,
}

impl RetryRow {
    fn retry(self) -> Result<TemplateRetry, StoreError> {
        Ok(TemplateRetry {
            state: RetryState::parse(&self.state).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "template retry {}: state {:?}",
                    self.failed_message, self.state
                ))
            })?,
            failed_message: self.failed_message,
            channel: self.channel,
            customer: self.customer,
            content: self.content,
            attempt: self.attempt,
            failed_at: self.failed_at,
            sent_message: self.sent_message,
            note: self.note,
        })
    }
}

const RETRY_COLUMNS: &str = "failed_message, channel, customer, CAST(content AS TEXT) AS content,
    attempt, failed_at, state, sent_message, note";

#[async_trait]
pub trait CampaignRecords: Send + Sync + 'static {
    /// A complete listing of `channel`'s templates, read at `synced_at`: every one stored
    /// (inserted or updated), and those of the channel not changed since `synced_at` (no
    /// longer at Meta) removed. Answers how many were removed.
    async fn replace_templates(
        &self,
        channel: &str,
        templates: &[Template],
        synced_at: i64,
        complete: bool,
    ) -> Result<u64, StoreError>;

    /// Templates (of one channel, or all), by channel, name and language.
    async fn templates(&self, channel: Option<&str>) -> Result<Vec<Template>, StoreError>;

    /// The template of `channel` named `name` in `language`.
    async fn template(
        &self,
        channel: &str,
        name: &str,
        language: &str,
    ) -> Result<Option<Template>, StoreError>;

    /// Apply a template webhook's change to the template of that id on these channels; answers
    /// how many rows changed.
    async fn change_template(
        &self,
        channels: &[String],
        change: &TemplateChange,
        at: i64,
    ) -> Result<u64, StoreError>;

    /// Append an entry; false when its reference was already appended (nothing changed).
    async fn append_consent(&self, entry: &NewConsent) -> Result<Option<ConsentEntry>, StoreError>;

    /// The ledger of an address on a channel, oldest first.
    async fn consent_history(
        &self,
        channel: &str,
        address: &str,
    ) -> Result<Vec<ConsentEntry>, StoreError>;

    /// The last event of an address on a channel, leaving out the entry appended with
    /// `except` (the state before that entry: a replayed step decides as it first did).
    async fn consent_state(
        &self,
        channel: &str,
        address: &str,
        except: Option<&str>,
    ) -> Result<Option<ConsentEvent>, StoreError>;

    /// The ledger after `after_seq`, oldest first, at most `limit` entries (the CSV export).
    async fn consent_page(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<ConsentEntry>, StoreError>;

    /// Erase an address's entries (a contact's erasure): they stay, under `erased`, without
    /// their proof.
    async fn erase_consent(
        &self,
        channel: &str,
        address: &str,
        erased: &str,
    ) -> Result<u64, StoreError>;

    /// Count `address` in the business portfolio's reach at `now` (a template sent outside its
    /// service window), unless `limit` other customers were reached within the last 24 hours:
    /// then nothing changes and the answer says when the oldest leaves the window. One
    /// customer at a time across nodes (SQLite's write lock; a PostgreSQL advisory lock).
    async fn reserve_reach(&self, address: &str, now: i64, limit: u32)
    -> Result<Reach, StoreError>;

    /// Take the 131049 retries whose wait has passed at `now` (`waits[k]`: the wait of retry
    /// k + 1 after its failure) and nobody holds, at most `limit`, holding them until
    /// `lease_until`; each gets the id its message will have (kept from an earlier claim). Rows
    /// past the last wait are given up.
    async fn claim_retries(
        &self,
        now: i64,
        waits: &[i64],
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<TemplateRetry>, StoreError>;

    /// A claimed retry ended: `sent`, `refused` or `gave_up` (with why), or still `due` (it
    /// waits for its lease to lapse).
    async fn settle_retry(
        &self,
        failed_message: &str,
        state: RetryState,
        note: Option<&str>,
    ) -> Result<(), StoreError>;

    /// The retries of a customer on a channel, oldest first.
    async fn retries_of(
        &self,
        channel: &str,
        customer: &str,
    ) -> Result<Vec<TemplateRetry>, StoreError>;

    /// Drop a customer's retries on a channel (a contact's erasure).
    async fn drop_retries(&self, channel: &str, customer: &str) -> Result<u64, StoreError>;

    /// Whether the store holds a message of that id.
    async fn message_exists(&self, id: &str) -> Result<bool, StoreError>;

    /// Keep the messaging limit tier Meta gave for `channel`'s number at `at`.
    async fn set_meta_limit(&self, channel: &str, tier: &str, at: i64) -> Result<(), StoreError>;

    /// The tier Meta gave last, over all channels (one portfolio).
    async fn meta_limit(&self) -> Result<Option<String>, StoreError>;

    /// Make sure `channel` has a sync schedule (first due at `next_at`).
    async fn schedule_sync(&self, channel: &str, next_at: i64) -> Result<(), StoreError>;

    /// Take `channel`'s sync if it is due at `now` and nobody holds it: true when this node
    /// holds it until `lease_until`.
    async fn claim_sync(
        &self,
        channel: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<bool, StoreError>;

    /// A sync ended (well, or with `error`): the next one is due at `next_at`.
    async fn finish_sync(
        &self,
        channel: &str,
        now: i64,
        next_at: i64,
        error: Option<&str>,
    ) -> Result<(), StoreError>;
}

/// Open the records on the store's database (already migrated).
pub async fn open(
    database: &DatabaseSettings,
) -> Result<std::sync::Arc<dyn CampaignRecords>, StoreError> {
    Ok(std::sync::Arc::new(Records {
        pool: SidePool::open(database, 2).await?,
    }))
}

pub struct Records {
    pool: SidePool,
}

#[derive(sqlx::FromRow)]
struct TemplateRow {
    channel: String,
    id: String,
    name: String,
    language: String,
    category: String,
    status: String,
    components: String,
    parameter_format: String,
    reason: Option<String>,
    updated_at: i64,
}

impl TemplateRow {
    fn template(self) -> Result<Template, StoreError> {
        Ok(Template {
            category: Category::parse(&self.category).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "template {}: category {:?}",
                    self.id, self.category
                ))
            })?,
            components: serde_json::from_str(&self.components)
                .map_err(|e| StoreError::Corrupt(format!("template {}: {e}", self.id)))?,
            channel: self.channel,
            id: self.id,
            name: self.name,
            language: self.language,
            status: self.status,
            parameter_format: self.parameter_format,
            reason: self.reason,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ConsentRow {
    seq: i64,
    id: String,
    channel: String,
    address: String,
    event: String,
    source: String,
    proof: Option<String>,
    actor: Option<String>,
    at: i64,
}

impl ConsentRow {
    fn entry(self) -> Result<ConsentEntry, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("consent {}: {what}", self.id));
        Ok(ConsentEntry {
            event: ConsentEvent::parse(&self.event).ok_or_else(|| corrupt("event"))?,
            source: ConsentSource::parse(&self.source).ok_or_else(|| corrupt("source"))?,
            seq: self.seq,
            id: self.id,
            channel: self.channel,
            address: self.address,
            proof: self.proof,
            actor: self.actor,
            at: self.at,
        })
    }
}

const TEMPLATE_COLUMNS: &str = "channel, id, name, language, category, status, components, parameter_format, reason, updated_at";
const CONSENT_COLUMNS: &str = "seq, id, channel, address, event, source, proof, actor, at";

const UPSERT_TEMPLATE: &str = "INSERT INTO whatsapp_templates
        (channel, id, name, language, category, status, components, parameter_format, reason,
         updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (channel, id) DO UPDATE SET name = excluded.name,
        language = excluded.language, category = excluded.category, status = excluded.status,
        components = excluded.components, parameter_format = excluded.parameter_format,
        reason = excluded.reason, updated_at = excluded.updated_at";
const REMOVE_STALE: &str = "DELETE FROM whatsapp_templates WHERE channel = ? AND updated_at < ?";

/// The PostgreSQL advisory lock the reach's writers take (one portfolio).
const REACH_LOCK: i64 = 0x7265_6163_6800;

/// Run `$body` with `$p` bound to the pool, whichever database it is.
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            SidePool::Sqlite($p) => $body,
            SidePool::Postgres($p) => $body,
        }
    };
}

impl Records {
    async fn template_rows(
        &self,
        sql: String,
        binds: &[&str],
    ) -> Result<Vec<Template>, StoreError> {
        let sql = self.pool.sql(&sql);
        let rows: Vec<TemplateRow> = on_pool!(&self.pool, p => {
            let mut q = sqlx::query_as(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.fetch_all(p).await?
        });
        rows.into_iter().map(TemplateRow::template).collect()
    }

    async fn consent_rows(
        &self,
        sql: String,
        texts: &[&str],
        ints: &[i64],
    ) -> Result<Vec<ConsentEntry>, StoreError> {
        let sql = self.pool.sql(&sql);
        let rows: Vec<ConsentRow> = on_pool!(&self.pool, p => {
            let mut q = sqlx::query_as(sql);
            for b in texts {
                q = q.bind(*b);
            }
            for i in ints {
                q = q.bind(*i);
            }
            q.fetch_all(p).await?
        });
        rows.into_iter().map(ConsentRow::entry).collect()
    }
}

#[async_trait]
impl CampaignRecords for Records {
    async fn replace_templates(
        &self,
        channel: &str,
        templates: &[Template],
        synced_at: i64,
        complete: bool,
    ) -> Result<u64, StoreError> {
        let removed = on_pool!(&self.pool, p => {
            let mut tx = p.begin_with(self.pool.begin_write()).await?;
            for t in templates {
                sqlx::query(self.pool.sql(UPSERT_TEMPLATE))
                    .bind(channel)
                    .bind(&t.id)
                    .bind(&t.name)
                    .bind(&t.language)
                    .bind(t.category.as_str())
                    .bind(&t.status)
                    .bind(t.components.to_string())
                    .bind(&t.parameter_format)
                    .bind(t.reason.as_deref())
                    .bind(synced_at)
                    .execute(&mut *tx)
                    .await?;
            }
            let removed = if complete {
                sqlx::query(self.pool.sql(REMOVE_STALE))
                    .bind(channel)
                    .bind(synced_at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
            } else {
                0
            };
            tx.commit().await?;
            removed
        });
        Ok(removed)
    }

    async fn templates(&self, channel: Option<&str>) -> Result<Vec<Template>, StoreError> {
        match channel {
            Some(channel) => {
                self.template_rows(
                    format!(
                        "SELECT {TEMPLATE_COLUMNS} FROM whatsapp_templates WHERE channel = ?
                         ORDER BY channel, name, language, id"
                    ),
                    &[channel],
                )
                .await
            }
            None => {
                self.template_rows(
                    format!(
                        "SELECT {TEMPLATE_COLUMNS} FROM whatsapp_templates
                         ORDER BY channel, name, language, id"
                    ),
                    &[],
                )
                .await
            }
        }
    }

    async fn template(
        &self,
        channel: &str,
        name: &str,
        language: &str,
    ) -> Result<Option<Template>, StoreError> {
        // Meta keeps one template per name and language; an approved one first if ever two.
        let mut found = self
            .template_rows(
                format!(
                    "SELECT {TEMPLATE_COLUMNS} FROM whatsapp_templates
                     WHERE channel = ? AND name = ? AND language = ?
                     ORDER BY CASE WHEN status = 'APPROVED' THEN 0 ELSE 1 END, updated_at DESC"
                ),
                &[channel, name, language],
            )
            .await?;
        Ok((!found.is_empty()).then(|| found.swap_remove(0)))
    }

    async fn change_template(
        &self,
        channels: &[String],
        change: &TemplateChange,
        at: i64,
    ) -> Result<u64, StoreError> {
        const CHANGE: &str = "UPDATE whatsapp_templates SET status = COALESCE(?, status),
                reason = CASE WHEN ? IS NULL THEN reason ELSE ? END,
                category = COALESCE(?, category), updated_at = ?
             WHERE channel = ? AND id = ?";
        // A status update without a reason clears the old one; a category update keeps it.
        let reason_set: Option<&str> = change.status.as_ref().map(|_| "set");
        let mut changed = 0;
        for channel in channels {
            changed += on_pool!(&self.pool, p => {
                sqlx::query(self.pool.sql(CHANGE))
                    .bind(change.status.as_deref())
                    .bind(reason_set)
                    .bind(change.reason.as_deref())
                    .bind(change.category.map(Category::as_str))
                    .bind(at)
                    .bind(channel.as_str())
                    .bind(change.id.as_str())
                    .execute(p)
                    .await?
                    .rows_affected()
            });
        }
        Ok(changed)
    }

    async fn append_consent(&self, e: &NewConsent) -> Result<Option<ConsentEntry>, StoreError> {
        let id = uuid::Uuid::now_v7().to_string();
        let sql = self.pool.sql(
            "INSERT INTO consent_events
                (id, channel, address, event, source, proof, actor, ref, at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT DO NOTHING",
        );
        let added = on_pool!(&self.pool, p => {
            sqlx::query(sql)
                .bind(id.as_str())
                .bind(e.channel.as_str())
                .bind(e.address.as_str())
                .bind(e.event.as_str())
                .bind(e.source.as_str())
                .bind(e.proof.as_deref())
                .bind(e.actor.as_deref())
                .bind(e.reference.as_deref())
                .bind(e.at)
                .execute(p)
                .await?
                .rows_affected()
        });
        if added == 0 {
            return Ok(None);
        }
        let mut rows = self
            .consent_rows(
                format!("SELECT {CONSENT_COLUMNS} FROM consent_events WHERE id = ?"),
                &[id.as_str()],
                &[],
            )
            .await?;
        Ok(rows.pop())
    }

    async fn consent_history(
        &self,
        channel: &str,
        address: &str,
    ) -> Result<Vec<ConsentEntry>, StoreError> {
        self.consent_rows(
            format!(
                "SELECT {CONSENT_COLUMNS} FROM consent_events WHERE channel = ? AND address = ?
                 ORDER BY seq"
            ),
            &[channel, address],
            &[],
        )
        .await
    }

    async fn consent_state(
        &self,
        channel: &str,
        address: &str,
        except: Option<&str>,
    ) -> Result<Option<ConsentEvent>, StoreError> {
        let rows = self
            .consent_rows(
                format!(
                    "SELECT {CONSENT_COLUMNS} FROM consent_events
                     WHERE channel = ? AND address = ? AND (ref IS NULL OR ref <> ?)
                     ORDER BY seq DESC LIMIT 1"
                ),
                &[channel, address, except.unwrap_or("")],
                &[],
            )
            .await?;
        Ok(rows.first().map(|e| e.event))
    }

    async fn consent_page(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<ConsentEntry>, StoreError> {
        self.consent_rows(
            format!(
                "SELECT {CONSENT_COLUMNS} FROM consent_events WHERE seq > ? ORDER BY seq LIMIT ?"
            ),
            &[],
            &[after_seq, limit.max(1)],
        )
        .await
    }

    async fn erase_consent(
        &self,
        channel: &str,
        address: &str,
        erased: &str,
    ) -> Result<u64, StoreError> {
        let sql = self.pool.sql(
            "UPDATE consent_events SET address = ?, proof = NULL
             WHERE channel = ? AND address = ?",
        );
        Ok(on_pool!(&self.pool, p => {
            sqlx::query(sql)
                .bind(erased)
                .bind(channel)
                .bind(address)
                .execute(p)
                .await?
                .rows_affected()
        }))
    }

    async fn claim_retries(
        &self,
        now: i64,
        waits: &[i64],
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<TemplateRetry>, StoreError> {
        let give_up = self.pool.sql(
            "UPDATE template_retries SET state = 'gave_up',
                note = 'Meta answered 131049 to every retry'
             WHERE state = 'due' AND attempt > ?",
        );
        let last = i64::try_from(waits.len()).unwrap_or(i64::MAX);
        on_pool!(&self.pool, p => {
            sqlx::query(give_up).bind(last).execute(p).await?;
        });
        if waits.is_empty() {
            return Ok(Vec::new());
        }
        let ripe = (1..=waits.len())
            .map(|k| format!("(attempt = {k} AND failed_at <= ?)"))
            .collect::<Vec<_>>()
            .join(" OR ");
        let due = self.pool.sql(&format!(
            "SELECT failed_message FROM template_retries
             WHERE state = 'due' AND lease_until <= ? AND ({ripe})
             ORDER BY failed_at, failed_message LIMIT ?"
        ));
        let ids: Vec<(String,)> = on_pool!(&self.pool, p => {
            let mut q = sqlx::query_as(due).bind(now);
            for wait in waits {
                q = q.bind(now.saturating_sub(*wait));
            }
            q.bind(limit).fetch_all(p).await?
        });
        let mut claimed = Vec::new();
        for (id,) in ids {
            let take = self.pool.sql(
                "UPDATE template_retries SET lease_until = ?,
                    sent_message = COALESCE(sent_message, ?)
                 WHERE failed_message = ? AND state = 'due' AND lease_until <= ?",
            );
            let message = crate::domain::MessageId::generate().to_string();
            let took = on_pool!(&self.pool, p => {
                sqlx::query(take)
                    .bind(lease_until)
                    .bind(&message)
                    .bind(&id)
                    .bind(now)
                    .execute(p)
                    .await?
                    .rows_affected()
            });
            if took == 1 {
                let read = self.pool.sql(&format!(
                    "SELECT {RETRY_COLUMNS} FROM template_retries WHERE failed_message = ?"
                ));
                let row: Option<RetryRow> = on_pool!(&self.pool, p => {
                    sqlx::query_as(read).bind(&id).fetch_optional(p).await?
                });
                if let Some(row) = row {
                    claimed.push(row.retry()?);
                }
            }
        }
        Ok(claimed)
    }

    async fn settle_retry(
        &self,
        failed_message: &str,
        state: RetryState,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        let sql = self.pool.sql(
            "UPDATE template_retries SET state = ?, note = COALESCE(?, note)
             WHERE failed_message = ?",
        );
        on_pool!(&self.pool, p => {
            sqlx::query(sql)
                .bind(state.as_str())
                .bind(note)
                .bind(failed_message)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    async fn retries_of(
        &self,
        channel: &str,
        customer: &str,
    ) -> Result<Vec<TemplateRetry>, StoreError> {
        let sql = self.pool.sql(&format!(
            "SELECT {RETRY_COLUMNS} FROM template_retries WHERE channel = ? AND customer = ?
             ORDER BY failed_at, attempt"
        ));
        let rows: Vec<RetryRow> = on_pool!(&self.pool, p => {
            sqlx::query_as(sql).bind(channel).bind(customer).fetch_all(p).await?
        });
        rows.into_iter().map(RetryRow::retry).collect()
    }

    async fn drop_retries(&self, channel: &str, customer: &str) -> Result<u64, StoreError> {
        let sql = self
            .pool
            .sql("DELETE FROM template_retries WHERE channel = ? AND customer = ?");
        Ok(on_pool!(&self.pool, p => {
            sqlx::query(sql)
                .bind(channel)
                .bind(customer)
                .execute(p)
                .await?
                .rows_affected()
        }))
    }

    async fn message_exists(&self, id: &str) -> Result<bool, StoreError> {
        let sql = self.pool.sql("SELECT COUNT(*) FROM messages WHERE id = ?");
        let n: i64 = on_pool!(&self.pool, p => {
            sqlx::query_scalar(sql).bind(id).fetch_one(p).await?
        });
        Ok(n > 0)
    }

    async fn set_meta_limit(&self, channel: &str, tier: &str, at: i64) -> Result<(), StoreError> {
        let sql = self.pool.sql(
            "INSERT INTO template_syncs (channel, next_at, messaging_limit, limit_read_at)
             VALUES (?, ?, ?, ?)
             ON CONFLICT (channel) DO UPDATE SET messaging_limit = excluded.messaging_limit,
                limit_read_at = excluded.limit_read_at",
        );
        on_pool!(&self.pool, p => {
            sqlx::query(sql)
                .bind(channel)
                .bind(at)
                .bind(tier)
                .bind(at)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    async fn meta_limit(&self) -> Result<Option<String>, StoreError> {
        let sql = self.pool.sql(
            "SELECT messaging_limit FROM template_syncs WHERE messaging_limit IS NOT NULL
             ORDER BY limit_read_at DESC, channel LIMIT 1",
        );
        Ok(on_pool!(&self.pool, p => {
            sqlx::query_scalar(sql).fetch_optional(p).await?
        }))
    }

    async fn reserve_reach(
        &self,
        address: &str,
        now: i64,
        limit: u32,
    ) -> Result<Reach, StoreError> {
        let since = now - MessagingLimit::WINDOW_MS;
        let old = self
            .pool
            .sql("DELETE FROM messaging_reach WHERE reached_at <= ?");
        let again = self
            .pool
            .sql("UPDATE messaging_reach SET reached_at = ? WHERE address = ?");
        let count = self
            .pool
            .sql("SELECT COUNT(*), MIN(reached_at) FROM messaging_reach");
        let add = self
            .pool
            .sql("INSERT INTO messaging_reach (address, reached_at) VALUES (?, ?)");
        macro_rules! reserve {
            ($tx:ident) => {{
                sqlx::query(old).bind(since).execute(&mut *$tx).await?;
                let counted = sqlx::query(again)
                    .bind(now)
                    .bind(address)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected()
                    > 0;
                let reach = if counted {
                    Reach::Counted
                } else {
                    let (n, oldest): (i64, Option<i64>) =
                        sqlx::query_as(count).fetch_one(&mut *$tx).await?;
                    if n < i64::from(limit) {
                        sqlx::query(add)
                            .bind(address)
                            .bind(now)
                            .execute(&mut *$tx)
                            .await?;
                        Reach::Counted
                    } else {
                        Reach::Full {
                            limit,
                            retry_at: oldest.unwrap_or(now) + MessagingLimit::WINDOW_MS,
                        }
                    }
                };
                $tx.commit().await?;
                reach
            }};
        }
        Ok(match &self.pool {
            SidePool::Sqlite(p) => {
                let mut tx = p.begin_with(self.pool.begin_write()).await?;
                reserve!(tx)
            }
            SidePool::Postgres(p) => {
                let mut tx = p.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(REACH_LOCK)
                    .execute(&mut *tx)
                    .await?;
                reserve!(tx)
            }
        })
    }

    async fn schedule_sync(&self, channel: &str, next_at: i64) -> Result<(), StoreError> {
        let sql = self.pool.sql(
            "INSERT INTO template_syncs (channel, next_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        );
        on_pool!(&self.pool, p => {
            sqlx::query(sql).bind(channel).bind(next_at).execute(p).await?;
        });
        Ok(())
    }

    async fn claim_sync(
        &self,
        channel: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
        let sql = self.pool.sql(
            "UPDATE template_syncs SET lease_until = ?
             WHERE channel = ? AND next_at <= ? AND lease_until <= ?",
        );
        Ok(on_pool!(&self.pool, p => {
            sqlx::query(sql)
                .bind(lease_until)
                .bind(channel)
                .bind(now)
                .bind(now)
                .execute(p)
                .await?
                .rows_affected()
        }) == 1)
    }

    async fn finish_sync(
        &self,
        channel: &str,
        now: i64,
        next_at: i64,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let sql = self.pool.sql(
            "UPDATE template_syncs SET lease_until = 0, next_at = ?,
                last_synced_at = CASE WHEN ? IS NULL THEN ? ELSE last_synced_at END,
                last_error = ?
             WHERE channel = ?",
        );
        on_pool!(&self.pool, p => {
            sqlx::query(sql)
                .bind(next_at)
                .bind(error)
                .bind(now)
                .bind(error)
                .bind(channel)
                .execute(p)
                .await?;
        });
        Ok(())
    }
}
