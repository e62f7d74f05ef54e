//! The `api_keys` table (migrations `0017_api_keys.sql` SQLite, `0016_api_keys.sql`
//! PostgreSQL). Like the webhook records, keys keep their own connections (SQLite: one
//! connection on the store's file, waiting for the store's writer through `busy_timeout`;
//! PostgreSQL: a small pool) and share their SQL between the two databases.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;

use crate::accounts::policy::Scope;
use crate::store::StoreError;
use crate::store::side::numbered;

/// One key as stored: never its token, only the token's digest.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyRow {
    pub id: String,
    pub token_sha256: Vec<u8>,
    pub name: String,
    /// JSON array of scopes.
    pub scopes: String,
    /// The user who created it.
    pub created_by: String,
    pub created_at: i64,
    pub rotated_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl KeyRow {
    /// Its scopes, ascending (a stored name this version does not know is left out).
    pub fn scopes(&self) -> Vec<Scope> {
        let names: Vec<String> = serde_json::from_str(&self.scopes).unwrap_or_default();
        let mut scopes: Vec<Scope> = names.iter().filter_map(|n| Scope::parse(n)).collect();
        scopes.sort();
        scopes.dedup();
        scopes
    }

    /// What admins see (never the token nor its digest).
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "scopes": self.scopes().into_iter().map(Scope::as_str).collect::<Vec<_>>(),
            "created_by": self.created_by,
            "created_at": self.created_at,
            "rotated_at": self.rotated_at,
            "last_used_at": self.last_used_at,
            "revoked_at": self.revoked_at,
            "active": self.revoked_at.is_none(),
        })
    }
}

#[async_trait]
pub trait KeyRecords: Send + Sync + 'static {
    async fn insert(&self, key: &KeyRow) -> Result<(), StoreError>;
    /// Every key, revoked ones too, newest first.
    async fn keys(&self) -> Result<Vec<KeyRow>, StoreError>;
    async fn key(&self, id: &str) -> Result<Option<KeyRow>, StoreError>;
    /// The key whose token has this digest, revoked or not.
    async fn by_digest(&self, token_sha256: &[u8; 32]) -> Result<Option<KeyRow>, StoreError>;
    /// Give an active key a new token digest (the old token stops at once); answers whether
    /// the key was active.
    async fn rotate(&self, id: &str, token_sha256: &[u8; 32], at: i64) -> Result<bool, StoreError>;
    /// Mark an active key revoked; answers whether it was active.
    async fn revoke(&self, id: &str, at: i64) -> Result<bool, StoreError>;
    /// Record a use (the caller writes at most once a minute per key).
    async fn touch(&self, id: &str, at: i64) -> Result<(), StoreError>;
}

const COLUMNS: &str = "id, token_sha256, name, scopes, created_by, created_at, rotated_at, \
                       last_used_at, revoked_at";
const INSERT: &str = "INSERT INTO api_keys (id, token_sha256, name, scopes, created_by, \
                      created_at, rotated_at, last_used_at, revoked_at) \
                      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
const ROTATE: &str = "UPDATE api_keys SET token_sha256 = ?, rotated_at = ? \
                      WHERE id = ? AND revoked_at IS NULL";
const REVOKE: &str = "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL";
const TOUCH: &str = "UPDATE api_keys SET last_used_at = ? \
                     WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)";

macro_rules! records_impl {
    ($ty:ty, $pg:expr) => {
        impl $ty {
            fn sql(sql: &str) -> AssertSqlSafe<String> {
                AssertSqlSafe(if $pg { numbered(sql) } else { sql.to_owned() })
            }
        }

        #[async_trait]
        impl KeyRecords for $ty {
            async fn insert(&self, k: &KeyRow) -> Result<(), StoreError> {
                sqlx::query(Self::sql(INSERT))
                    .bind(&k.id)
                    .bind(&k.token_sha256)
                    .bind(&k.name)
                    .bind(&k.scopes)
                    .bind(&k.created_by)
                    .bind(k.created_at)
                    .bind(k.rotated_at)
                    .bind(k.last_used_at)
                    .bind(k.revoked_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn keys(&self) -> Result<Vec<KeyRow>, StoreError> {
                let sql =
                    format!("SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC");
                Ok(sqlx::query_as(Self::sql(&sql))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn key(&self, id: &str) -> Result<Option<KeyRow>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?");
                Ok(sqlx::query_as(Self::sql(&sql))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn by_digest(
                &self,
                token_sha256: &[u8; 32],
            ) -> Result<Option<KeyRow>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE token_sha256 = ?");
                Ok(sqlx::query_as(Self::sql(&sql))
                    .bind(&token_sha256[..])
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn rotate(
                &self,
                id: &str,
                token_sha256: &[u8; 32],
                at: i64,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(Self::sql(ROTATE))
                    .bind(&token_sha256[..])
                    .bind(at)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn revoke(&self, id: &str, at: i64) -> Result<bool, StoreError> {
                let done = sqlx::query(Self::sql(REVOKE))
                    .bind(at)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn touch(&self, id: &str, at: i64) -> Result<(), StoreError> {
                sqlx::query(Self::sql(TOUCH))
                    .bind(at)
                    .bind(id)
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    };
}

/// The records of the store `database` names: PostgreSQL's (a small pool of their own) or the
/// SQLite file's.
pub async fn open(
    database: &crate::config::DatabaseSettings,
) -> Result<std::sync::Arc<dyn KeyRecords>, StoreError> {
    use crate::store::side::SidePool;
    Ok(match SidePool::open(database, 2).await? {
        SidePool::Postgres(pool) => std::sync::Arc::new(PgKeyRecords { pool }),
        SidePool::Sqlite(pool) => std::sync::Arc::new(SqliteKeyRecords { pool }),
    })
}

pub struct SqliteKeyRecords {
    pool: sqlx::SqlitePool,
}

records_impl!(SqliteKeyRecords, false);

pub struct PgKeyRecords {
    pool: sqlx::PgPool,
}

records_impl!(PgKeyRecords, true);
