//! Campaigns' rows (`campaigns`, `campaign_recipients`), one SQL text for both databases on a
//! pool of their own. Delivery, reads, failures, cost and replies are read from the messages the
//! recipients' ids name, so nothing on the write path of statuses or replies knows campaigns.
//! A reply is a customer's message in the conversation recorded after the campaign's message
//! (an inbound message's `updated_at` is when it was recorded; its `created_at` is the time the
//! customer's app gave).

use std::collections::HashMap;

use futures::TryStreamExt;

use crate::campaigns::campaign::State;
use crate::store::StoreError;
use crate::store::side::SidePool;

macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            SidePool::Sqlite($p) => $body,
            SidePool::Postgres($p) => $body,
        }
    };
}

/// A campaign as stored.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct CampaignRow {
    pub id: String,
    pub name: String,
    pub channel: String,
    pub template: String,
    pub language: String,
    /// The [`crate::campaigns::campaign::CampaignSpec`] as JSON.
    pub spec: String,
    pub state: String,
    pub reason: Option<String>,
    pub category: Option<String>,
    /// The audience preview made when it started, as JSON.
    pub estimate: Option<String>,
    pub audience_after: Option<String>,
    pub audience_done: i64,
    pub start_at: Option<i64>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub lease_until: i64,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, name, channel, template, language, spec, state, reason, category,
    estimate, audience_after, audience_done, start_at, started_at, finished_at, lease_until,
    created_by, created_at, updated_at";

/// A recipient to write: excluded (with its reason) or pending from `not_before`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRecipient {
    pub contact: String,
    pub address: Option<String>,
    pub country: Option<String>,
    pub excluded: Option<&'static str>,
    pub not_before: i64,
    /// The filled components (JSON), for a recipient to send to.
    pub components: Option<String>,
    /// The contact's own time zone (its `timezone` field), for the schedule's window.
    pub zone: Option<String>,
}

/// A recipient claimed for its send, with the id its message has.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Claimed {
    pub contact: String,
    pub address: Option<String>,
    pub country: Option<String>,
    pub message_id: Option<String>,
    pub not_before: i64,
    pub components: Option<String>,
    pub zone: Option<String>,
}

/// A recipient with what became of its message, for the counts and the CSV.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct RecipientRow {
    pub contact: String,
    pub address: Option<String>,
    pub country: Option<String>,
    pub state: String,
    pub reason: Option<String>,
    pub message_id: Option<String>,
    pub sent_at: Option<i64>,
    /// The message's status (queued, sending, sent, delivered, read, failed).
    pub status: Option<String>,
    pub error_code: Option<i64>,
    pub pricing_category: Option<String>,
    pub pricing_type: Option<String>,
    /// When the customer first wrote after the message (in its conversation).
    pub replied_at: Option<i64>,
    /// When the customer opted out on the number within 7 days of the message.
    pub opted_out_at: Option<i64>,
}

/// Seven days, in ms: an opt-out this soon after a campaign's message is counted against it.
pub const OPT_OUT_WINDOW_MS: i64 = 7 * 24 * 3_600_000;

pub struct CampaignStore {
    pool: SidePool,
}

impl CampaignStore {
    pub fn new(pool: SidePool) -> Self {
        Self { pool }
    }

    pub async fn create(&self, row: &CampaignRow) -> Result<(), StoreError> {
        let sql = self.pool.sql(
            "INSERT INTO campaigns (id, name, channel, template, language, spec, state,
                start_at, created_by, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        on_pool!(&self.pool, p => {
            sqlx::query(sql)
                .bind(&row.id)
                .bind(&row.name)
                .bind(&row.channel)
                .bind(&row.template)
                .bind(&row.language)
                .bind(&row.spec)
                .bind(&row.state)
                .bind(row.start_at)
                .bind(&row.created_by)
                .bind(row.created_at)
                .bind(row.updated_at)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<Option<CampaignRow>, StoreError> {
        let sql = self
            .pool
            .sql(&format!("SELECT {COLUMNS} FROM campaigns WHERE id = ?"));
        Ok(on_pool!(&self.pool, p => sqlx::query_as(sql).bind(id).fetch_optional(p).await?))
    }

    /// The newest campaigns first.
    pub async fn list(&self, limit: i64) -> Result<Vec<CampaignRow>, StoreError> {
        let sql = self.pool.sql(&format!(
            "SELECT {COLUMNS} FROM campaigns ORDER BY created_at DESC, id DESC LIMIT ?"
        ));
        Ok(on_pool!(&self.pool, p => sqlx::query_as(sql).bind(limit).fetch_all(p).await?))
    }

    /// Move the campaign to `to` if it is in one of `from`; false when it is not (someone
    /// else moved it first). `reason` replaces the visible reason (None clears it).
    pub async fn set_state(
        &self,
        id: &str,
        from: &[State],
        to: State,
        reason: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let states = from
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let finished = matches!(to, State::Completed | State::Cancelled).then_some(now);
        let sql = self.pool.sql(&format!(
            "UPDATE campaigns SET state = ?, reason = ?, updated_at = ?,
                finished_at = COALESCE(?, finished_at)
             WHERE id = ? AND state IN ({states})"
        ));
        Ok(on_pool!(&self.pool, p => {
            sqlx::query(sql)
                .bind(to.as_str())
                .bind(reason)
                .bind(now)
                .bind(finished)
                .bind(id)
                .execute(p)
                .await?
                .rows_affected()
                == 1
        }))
    }

    /// Start a draft: its state (running or scheduled), the template's category, the estimate,
    /// and the audience to be written from the first contact.
    pub async fn start(
        &self,
        id: &str,
        to: State,
        category: &str,
        estimate: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = self.pool.sql(
            "UPDATE campaigns SET state = ?, reason = NULL, category = ?, estimate = ?,
                audience_after = '', audience_done = 0, started_at = ?, updated_at = ?
             WHERE id = ? AND state = 'draft'",
        );
        Ok(on_pool!(&self.pool, p => {
            sqlx::query(sql)
                .bind(to.as_str())
                .bind(category)
                .bind(estimate)
                .bind(now)
                .bind(now)
                .bind(id)
                .execute(p)
                .await?
                .rows_affected()
                == 1
        }))
    }

    /// Scheduled campaigns whose time came are running now; the ids of those running.
    pub async fn due(&self, now: i64) -> Result<Vec<String>, StoreError> {
        let wake = self.pool.sql(
            "UPDATE campaigns SET state = 'running', updated_at = ?
             WHERE state = 'scheduled' AND (start_at IS NULL OR start_at <= ?)",
        );
        let running = self.pool.sql(
            "SELECT id FROM campaigns WHERE state = 'running' AND lease_until <= ?
             ORDER BY started_at, id",
        );
        Ok(on_pool!(&self.pool, p => {
            sqlx::query(wake).bind(now).bind(now).execute(p).await?;
            sqlx::query_scalar(running).bind(now).fetch_all(p).await?
        }))
    }

    /// Hold the running campaign until `until` (taken when its lease lapsed, or renewed by
    /// `holder`'s `held_until`): false when another node holds it or it stopped running.
    pub async fn lease(
        &self,
        id: &str,
        now: i64,
        held_until: Option<i64>,
        until: i64,
    ) -> Result<bool, StoreError> {
        let sql = self.pool.sql(
            "UPDATE campaigns SET lease_until = ?
             WHERE id = ? AND state = 'running' AND (lease_until <= ? OR lease_until = ?)",
        );
        Ok(on_pool!(&self.pool, p => {
            sqlx::query(sql)
                .bind(until)
                .bind(id)
                .bind(now)
                .bind(held_until.unwrap_or(-1))
                .execute(p)
                .await?
                .rows_affected()
                == 1
        }))
    }

    /// Let the lease go (the node stops sending it).
    pub async fn release(&self, id: &str, held_until: i64) -> Result<(), StoreError> {
        let sql = self
            .pool
            .sql("UPDATE campaigns SET lease_until = 0 WHERE id = ? AND lease_until = ?");
        on_pool!(&self.pool, p => {
            sqlx::query(sql).bind(id).bind(held_until).execute(p).await?;
        });
        Ok(())
    }

    /// Which of `addresses` a recipient of the campaign already has.
    pub async fn addresses_taken(
        &self,
        campaign: &str,
        addresses: &[String],
    ) -> Result<Vec<String>, StoreError> {
        if addresses.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; addresses.len()].join(", ");
        let sql = self.pool.sql(&format!(
            "SELECT address FROM campaign_recipients
             WHERE campaign = ? AND address IN ({marks}) AND (reason IS NULL OR reason != 'duplicate')"
        ));
        Ok(on_pool!(&self.pool, p => {
            let mut q = sqlx::query_scalar(sql).bind(campaign);
            for a in addresses {
                q = q.bind(a);
            }
            q.fetch_all(p).await?
        }))
    }

    /// Write a page of the audience and where the next page begins (None: the audience is
    /// complete), in one transaction; a page written before (a node died after it) adds
    /// nothing.
    pub async fn write_audience(
        &self,
        campaign: &str,
        rows: &[NewRecipient],
        next: Option<&str>,
    ) -> Result<(), StoreError> {
        let insert = self.pool.sql(
            "INSERT INTO campaign_recipients (campaign, contact, address, country, state, reason,
                not_before, components, zone)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (campaign, contact) DO NOTHING",
        );
        let cursor = self
            .pool
            .sql("UPDATE campaigns SET audience_after = ?, audience_done = ? WHERE id = ?");
        on_pool!(&self.pool, p => {
            let mut tx = p.begin_with(self.pool.begin_write()).await?;
            for r in rows {
                sqlx::query(sqlx::AssertSqlSafe(insert.0.clone()))
                    .bind(campaign)
                    .bind(&r.contact)
                    .bind(&r.address)
                    .bind(&r.country)
                    .bind(if r.excluded.is_some() { "excluded" } else { "pending" })
                    .bind(r.excluded)
                    .bind(r.not_before)
                    .bind(&r.components)
                    .bind(&r.zone)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(cursor)
                .bind(next)
                .bind(i64::from(next.is_none()))
                .bind(campaign)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Claim up to `limit` recipients due by `now` (pending, or claimed by a node that died),
    /// giving each its message id once (kept from an earlier claim).
    pub async fn claim(
        &self,
        campaign: &str,
        now: i64,
        limit: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        let due = self.pool.sql(
            "SELECT contact, address, country, message_id, not_before, components, zone
             FROM campaign_recipients
             WHERE campaign = ? AND state IN ('pending', 'claimed') AND not_before <= ?
             ORDER BY not_before, contact LIMIT ?",
        );
        let take = self.pool.sql(
            "UPDATE campaign_recipients SET state = 'claimed',
                message_id = COALESCE(message_id, ?), sent_at = COALESCE(sent_at, ?)
             WHERE campaign = ? AND contact = ?",
        );
        let read = self
            .pool
            .sql("SELECT message_id FROM campaign_recipients WHERE campaign = ? AND contact = ?");
        on_pool!(&self.pool, p => {
            let mut tx = p.begin_with(self.pool.begin_write()).await?;
            let mut rows: Vec<Claimed> = sqlx::query_as(due)
                .bind(campaign)
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            for row in &mut rows {
                sqlx::query(sqlx::AssertSqlSafe(take.0.clone()))
                    .bind(crate::domain::MessageId::generate().to_string())
                    .bind(now)
                    .bind(campaign)
                    .bind(&row.contact)
                    .execute(&mut *tx)
                    .await?;
                row.message_id = sqlx::query_scalar(sqlx::AssertSqlSafe(read.0.clone()))
                    .bind(campaign)
                    .bind(&row.contact)
                    .fetch_optional(&mut *tx)
                    .await?
                    .flatten();
            }
            tx.commit().await?;
            Ok(rows)
        })
    }

    /// What became of claimed recipients, `(contact, state, reason, not_before)` each, in one
    /// transaction: `sent`, `refused` (with the reason), or back to `pending` from
    /// `not_before` (held: the window, the messaging limit).
    pub async fn settle(
        &self,
        campaign: &str,
        rows: &[(String, &'static str, Option<String>, Option<i64>)],
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let sql = self.pool.sql(
            "UPDATE campaign_recipients SET state = ?, reason = ?,
                not_before = COALESCE(?, not_before),
                sent_at = CASE WHEN ? = 'pending' THEN NULL ELSE sent_at END
             WHERE campaign = ? AND contact = ? AND state = 'claimed'",
        );
        on_pool!(&self.pool, p => {
            let mut tx = p.begin_with(self.pool.begin_write()).await?;
            for (contact, state, reason, not_before) in rows {
                sqlx::query(sqlx::AssertSqlSafe(sql.0.clone()))
                    .bind(*state)
                    .bind(reason)
                    .bind(*not_before)
                    .bind(*state)
                    .bind(campaign)
                    .bind(contact)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Recipients still to send (pending or claimed).
    pub async fn remaining(&self, campaign: &str) -> Result<i64, StoreError> {
        let sql = self.pool.sql(
            "SELECT COUNT(*) FROM campaign_recipients
             WHERE campaign = ? AND state IN ('pending', 'claimed')",
        );
        Ok(on_pool!(&self.pool, p => sqlx::query_scalar(sql).bind(campaign).fetch_one(p).await?))
    }

    /// The earliest time a pending recipient may go (None: none pending).
    pub async fn next_due(&self, campaign: &str) -> Result<Option<i64>, StoreError> {
        let sql = self.pool.sql(
            "SELECT MIN(not_before) FROM campaign_recipients
             WHERE campaign = ? AND state IN ('pending', 'claimed')",
        );
        Ok(on_pool!(&self.pool, p => sqlx::query_scalar(sql).bind(campaign).fetch_one(p).await?))
    }

    /// Marketing messages of campaigns sent (or being sent) to each of `addresses` since
    /// `since`.
    pub async fn recent_marketing(
        &self,
        addresses: &[String],
        since: i64,
    ) -> Result<HashMap<String, u32>, StoreError> {
        if addresses.is_empty() {
            return Ok(HashMap::new());
        }
        let marks = vec!["?"; addresses.len()].join(", ");
        let sql = self.pool.sql(&format!(
            "SELECT r.address, COUNT(*) FROM campaign_recipients r
             JOIN campaigns c ON c.id = r.campaign
             WHERE r.address IN ({marks}) AND r.state IN ('claimed', 'sent')
               AND r.sent_at >= ? AND c.category = 'MARKETING'
             GROUP BY r.address"
        ));
        let rows: Vec<(String, i64)> = on_pool!(&self.pool, p => {
            let mut q = sqlx::query_as(sql);
            for a in addresses {
                q = q.bind(a);
            }
            q.bind(since).fetch_all(p).await?
        });
        Ok(rows
            .into_iter()
            .map(|(a, n)| (a, u32::try_from(n).unwrap_or(u32::MAX)))
            .collect())
    }

    /// Each of `contacts`' address on `channel` (its identity there).
    pub async fn identities(
        &self,
        channel: &str,
        contacts: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        if contacts.is_empty() {
            return Ok(HashMap::new());
        }
        let marks = vec!["?"; contacts.len()].join(", ");
        let sql = self.pool.sql(&format!(
            "SELECT customer, address FROM contact_identities
             WHERE channel = ? AND customer IN ({marks}) ORDER BY first_seen"
        ));
        let rows: Vec<(String, String)> = on_pool!(&self.pool, p => {
            let mut q = sqlx::query_as(sql).bind(channel);
            for c in contacts {
                q = q.bind(c);
            }
            q.fetch_all(p).await?
        });
        let mut found = HashMap::new();
        for (contact, address) in rows {
            found.entry(contact).or_insert(address);
        }
        Ok(found)
    }

    /// The last consent event of each of `addresses` on `channel`.
    pub async fn consent_of(
        &self,
        channel: &str,
        addresses: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        if addresses.is_empty() {
            return Ok(HashMap::new());
        }
        let marks = vec!["?"; addresses.len()].join(", ");
        let sql = self.pool.sql(&format!(
            "SELECT e.address, e.event FROM consent_events e
             WHERE e.channel = ? AND e.address IN ({marks})
               AND e.seq = (SELECT MAX(l.seq) FROM consent_events l
                            WHERE l.channel = e.channel AND l.address = e.address)"
        ));
        let rows: Vec<(String, String)> = on_pool!(&self.pool, p => {
            let mut q = sqlx::query_as(sql).bind(channel);
            for a in addresses {
                q = q.bind(a);
            }
            q.fetch_all(p).await?
        });
        Ok(rows.into_iter().collect())
    }

    /// The campaign's recipients after `after` (by contact), with what became of their
    /// messages, `limit` at most.
    pub async fn recipients(
        &self,
        campaign: &str,
        channel: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<RecipientRow>, StoreError> {
        let sql = self.pool.sql(&format!(
            "SELECT r.contact, r.address, r.country, r.state, r.reason, r.message_id, r.sent_at,
                m.status, m.error_code, m.pricing_category, m.pricing_type,
                (SELECT MIN(i.updated_at) FROM messages i
                  WHERE i.conversation_id = m.conversation_id AND i.direction = 'inbound'
                    AND i.updated_at >= m.created_at) AS replied_at,
                (SELECT MIN(e.at) FROM consent_events e
                  WHERE e.channel = ? AND e.address = r.address AND e.event = 'opted_out'
                    AND e.at >= m.created_at AND e.at <= m.created_at + {OPT_OUT_WINDOW_MS})
                  AS opted_out_at
             FROM campaign_recipients r LEFT JOIN messages m ON m.id = r.message_id
             WHERE r.campaign = ? AND r.contact > ?
             ORDER BY r.contact LIMIT ?"
        ));
        Ok(on_pool!(&self.pool, p => {
            sqlx::query_as(sql)
                .bind(channel)
                .bind(campaign)
                .bind(after)
                .bind(limit)
                .fetch(p)
                .try_collect()
                .await?
        }))
    }

    /// The campaign of the conversation's newest campaign message, when it has one: `(id,
    /// name)`.
    pub async fn campaign_of_conversation(
        &self,
        conversation: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let sql = self.pool.sql(
            "SELECT c.id, c.name FROM messages m
             JOIN campaign_recipients r ON r.message_id = m.id
             JOIN campaigns c ON c.id = r.campaign
             WHERE m.conversation_id = ? AND m.direction = 'outbound'
             ORDER BY m.created_at DESC LIMIT 1",
        );
        Ok(on_pool!(&self.pool, p => {
            sqlx::query_as(sql).bind(conversation).fetch_optional(p).await?
        }))
    }
}

/// One group of a campaign's recipients: their state and reason, country, and their messages'
/// status, error and pricing, with how many replied and opted out within 7 days.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct TallyRow {
    pub state: String,
    pub reason: Option<String>,
    pub country: Option<String>,
    pub status: Option<String>,
    pub error_code: Option<i64>,
    pub pricing_category: Option<String>,
    pub pricing_type: Option<String>,
    pub n: i64,
    pub replied: i64,
    pub opted_out: i64,
}

impl CampaignStore {
    /// The campaign's recipients grouped for its counts.
    pub async fn tally(&self, campaign: &str, channel: &str) -> Result<Vec<TallyRow>, StoreError> {
        let sql = self.pool.sql(&format!(
            "SELECT r.state, r.reason, r.country, m.status, m.error_code, m.pricing_category,
                m.pricing_type, COUNT(*) AS n,
                SUM(CASE WHEN m.id IS NOT NULL AND EXISTS (SELECT 1 FROM messages i
                      WHERE i.conversation_id = m.conversation_id AND i.direction = 'inbound'
                        AND i.updated_at >= m.created_at) THEN 1 ELSE 0 END) AS replied,
                SUM(CASE WHEN m.id IS NOT NULL AND EXISTS (SELECT 1 FROM consent_events e
                      WHERE e.channel = ? AND e.address = r.address AND e.event = 'opted_out'
                        AND e.at >= m.created_at AND e.at <= m.created_at + {OPT_OUT_WINDOW_MS})
                    THEN 1 ELSE 0 END) AS opted_out
             FROM campaign_recipients r LEFT JOIN messages m ON m.id = r.message_id
             WHERE r.campaign = ?
             GROUP BY r.state, r.reason, r.country, m.status, m.error_code, m.pricing_category,
                m.pricing_type"
        ));
        Ok(on_pool!(&self.pool, p => {
            sqlx::query_as(sql).bind(channel).bind(campaign).fetch_all(p).await?
        }))
    }
}
