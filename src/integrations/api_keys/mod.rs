//! API keys of business systems (docs/ARCHITECTURE.md, "API keys"): a principal of their own,
//! not a user, with scopes ([`crate::accounts::policy::Scope`]) decided by the one policy
//! function ([`crate::accounts::policy::decide_business`]).
//!
//! - A key's token (`sbk_` and 256 random bits in hex) is shown once, when the key is created or
//!   rotated, and stored only as its SHA-256 digest. A rotation gives the key a new token and
//!   the old one stops at once (on this node; on other nodes within [`KNOWN_TTL`]); a
//!   revocation the same, for good.
//! - Recognising a key costs one cache lookup; the store is read at most every [`KNOWN_TTL`]
//!   per token and node, and the last use is written at most once a minute per key and node.
//! - Each key has a request rate (`api_keys.requests_per_minute` and `burst`, GCRA with
//!   `governor`, counted per node like the other limits); past it the answer is 429 with
//!   Retry-After.
//! - Every write a key makes is audited with the key as the actor (`actor_kind` `api_key`);
//!   reads are sampled: the first read of each key in a minute (per node) is audited as
//!   `api_key.read` with its route, so the log shows which keys read and when, without a write
//!   per request.

pub mod records;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use self::records::{KeyRecords, KeyRow};
use crate::accounts::policy::{KeyPrincipal, Scope};
use crate::accounts::secrets;
use crate::config::Settings;
use crate::store::StoreError;

/// The prefix of an API key's token.
pub const KEY_PREFIX: &str = "sbk_";
/// A recognised token is remembered this long (a rotation or revocation on another node takes
/// effect within it).
pub const KNOWN_TTL: Duration = Duration::from_secs(2);
/// A key's last use is written at most this often (per node).
const TOUCH_EVERY_MS: i64 = 60_000;
/// A key's reads are audited at most this often (per node).
const READ_AUDIT_EVERY: Duration = Duration::from_secs(60);
/// Every this many rate checks, keys whose limits no longer hold anything are forgotten.
const TIDY_EVERY: usize = 10_000;
/// The longest key name.
pub const NAME_MAX_CHARS: usize = 100;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Why a key's definition was refused (400).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// A key's name, trimmed: 1 to [`NAME_MAX_CHARS`] characters, no control characters.
pub fn check_name(name: &str) -> Result<String, Invalid> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Invalid("`name` is empty".into()));
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(Invalid(format!(
            "`name` takes at most {NAME_MAX_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Invalid("`name` holds control characters".into()));
    }
    Ok(name.to_owned())
}

/// The scopes named, ascending without repeats: at least one, each one of [`Scope::ALL`].
pub fn check_scopes(names: &[String]) -> Result<Vec<Scope>, Invalid> {
    if names.is_empty() {
        return Err(Invalid("`scopes` is empty: name at least one".into()));
    }
    let mut scopes = Vec::with_capacity(names.len());
    for name in names {
        let scope = Scope::parse(name).ok_or_else(|| {
            Invalid(format!(
                "`scopes`: unknown scope {name:?} (known: {})",
                Scope::ALL.map(Scope::as_str).join(", ")
            ))
        })?;
        scopes.push(scope);
    }
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

#[derive(Clone, Debug)]
struct Known {
    key: KeyPrincipal,
    last_used_at: i64,
}

pub struct ApiKeys {
    pub records: Arc<dyn KeyRecords>,
    known: moka::future::Cache<[u8; 32], Option<Known>>,
    /// Keys whose read was audited in the last minute.
    reads_audited: moka::sync::Cache<String, ()>,
    limiter: DefaultKeyedRateLimiter<String>,
    checks: AtomicUsize,
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl ApiKeys {
    /// The records of this mode (PostgreSQL when the store is, else the SQLite file).
    pub async fn open(settings: &Settings) -> Result<Arc<Self>, StoreError> {
        let records = records::open(&settings.database).await?;
        Ok(Arc::new(Self::new(records, settings)))
    }

    pub fn new(records: Arc<dyn KeyRecords>, settings: &Settings) -> Self {
        let limits = &settings.api_keys;
        Self {
            records,
            known: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(KNOWN_TTL)
                .build(),
            reads_audited: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(READ_AUDIT_EVERY)
                .build(),
            limiter: RateLimiter::keyed(
                Quota::per_minute(nonzero(limits.requests_per_minute))
                    .allow_burst(nonzero(limits.burst)),
            ),
            checks: AtomicUsize::new(0),
        }
    }

    /// A new key; its token is returned once, never again.
    pub async fn create(
        &self,
        name: String,
        scopes: &[Scope],
        created_by: &str,
    ) -> Result<(String, KeyRow), StoreError> {
        let token = secrets::new_token(KEY_PREFIX);
        let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
        let row = KeyRow {
            id: format!("key_{}", uuid::Uuid::now_v7().simple()),
            token_sha256: secrets::digest(&token).to_vec(),
            name,
            scopes: serde_json::to_string(&names).unwrap_or_else(|_| "[]".into()),
            created_by: created_by.to_owned(),
            created_at: now_ms(),
            rotated_at: None,
            last_used_at: None,
            revoked_at: None,
        };
        self.records.insert(&row).await?;
        Ok((token, row))
    }

    /// A new token for an active key (the old one stops at once on this node); `None` for a
    /// key that does not exist or is revoked.
    pub async fn rotate(&self, id: &str) -> Result<Option<(String, KeyRow)>, StoreError> {
        let token = secrets::new_token(KEY_PREFIX);
        if !self
            .records
            .rotate(id, &secrets::digest(&token), now_ms())
            .await?
        {
            return Ok(None);
        }
        self.known.invalidate_all();
        Ok(self.records.key(id).await?.map(|row| (token, row)))
    }

    /// Revoke an active key; answers whether it was.
    pub async fn revoke(&self, id: &str) -> Result<bool, StoreError> {
        let revoked = self.records.revoke(id, now_ms()).await?;
        self.known.invalidate_all();
        Ok(revoked)
    }

    /// The active key whose token this is.
    pub async fn authenticate(&self, token: &str) -> Result<Option<KeyPrincipal>, StoreError> {
        let digest = secrets::digest(token);
        let known = match self.known.get(&digest).await {
            Some(found) => found,
            None => {
                let found = self
                    .records
                    .by_digest(&digest)
                    .await?
                    .filter(|row| row.revoked_at.is_none())
                    .map(|row| Known {
                        key: KeyPrincipal {
                            scopes: row.scopes(),
                            id: row.id,
                            name: row.name,
                        },
                        last_used_at: row.last_used_at.unwrap_or(0),
                    });
                self.known.insert(digest, found.clone()).await;
                found
            }
        };
        let Some(known) = known else {
            return Ok(None);
        };
        let now = now_ms();
        if now - known.last_used_at > TOUCH_EVERY_MS {
            let mut touched = known.clone();
            touched.last_used_at = now;
            self.known.insert(digest, Some(touched)).await;
            let records = self.records.clone();
            let id = known.key.id.clone();
            actix_rt::spawn(async move {
                if let Err(e) = records.touch(&id, now).await {
                    tracing::debug!(error = %e, "a key's last use not recorded");
                }
            });
        }
        Ok(Some(known.key))
    }

    /// One request of `key`: Err(whole seconds to wait, at least 1) past its rate.
    pub fn admit(&self, key: &str) -> Result<(), u64> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % TIDY_EVERY == TIDY_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
            })
    }

    /// Whether this read of `key` is the one of the minute that is audited.
    pub fn sample_read(&self, key: &str) -> bool {
        if self.reads_audited.contains_key(key) {
            return false;
        }
        self.reads_audited.insert(key.to_owned(), ());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(check_name("  CRM sync "), Ok("CRM sync".to_owned()));
        assert!(check_name("   ").is_err());
        assert!(check_name(&"x".repeat(NAME_MAX_CHARS + 1)).is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"é".repeat(NAME_MAX_CHARS)).is_ok());
    }

    #[test]
    fn scopes_are_known_sorted_and_unique() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            check_scopes(&names(&[
                "webhooks:manage",
                "contacts:read",
                "contacts:read"
            ])),
            Ok(vec![Scope::ContactsRead, Scope::WebhooksManage])
        );
        assert!(check_scopes(&[]).is_err());
        let unknown =
            check_scopes(&names(&["contacts:read", "contacts:delete"])).expect_err("unknown scope");
        assert!(unknown.0.contains("contacts:delete"), "{unknown}");
        assert!(check_scopes(&names(&["CONTACTS:READ"])).is_err());
    }

    #[test]
    fn stored_scopes_read_back_without_unknown_names() {
        let row = KeyRow {
            id: "key_1".into(),
            token_sha256: vec![0; 32],
            name: "crm".into(),
            scopes: r#"["messages:send","contacts:read","retired:scope"]"#.into(),
            created_by: "admin".into(),
            created_at: 1,
            rotated_at: None,
            last_used_at: None,
            revoked_at: None,
        };
        assert_eq!(row.scopes(), vec![Scope::ContactsRead, Scope::MessagesSend]);
        let view = row.view();
        assert_eq!(
            view["scopes"],
            serde_json::json!(["contacts:read", "messages:send"])
        );
        assert!(view.get("token").is_none() && view.get("token_sha256").is_none());
    }
}
