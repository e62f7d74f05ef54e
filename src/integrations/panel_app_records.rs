//! The panel apps' table (migrations `0018_panel_apps.sql` SQLite, `0017_panel_apps.sql`
//! PostgreSQL). Like the webhook records: connections of their own, one SQL for both databases
//! (written with `?`, numbered for PostgreSQL).

use async_trait::async_trait;
use sqlx::AssertSqlSafe;

use crate::store::StoreError;

#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct PanelAppRow {
    pub id: String,
    pub name: String,
    pub url: String,
    /// JSON array of team ids; empty: every team.
    pub teams: String,
    pub secret: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl PanelAppRow {
    pub fn team_filter(&self) -> Vec<String> {
        serde_json::from_str(&self.teams).unwrap_or_default()
    }

    /// What admins see (never the secret).
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "teams": self.team_filter(),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

#[async_trait]
pub trait PanelAppRecords: Send + Sync + 'static {
    async fn insert(&self, app: &PanelAppRow) -> Result<(), StoreError>;
    /// Every app, oldest first.
    async fn all(&self) -> Result<Vec<PanelAppRow>, StoreError>;
    async fn get(&self, id: &str) -> Result<Option<PanelAppRow>, StoreError>;
    /// Write every field but its id and creation time; false when there is no such app.
    async fn update(&self, app: &PanelAppRow) -> Result<bool, StoreError>;
    /// False when there is no such app.
    async fn delete(&self, id: &str) -> Result<bool, StoreError>;
}

macro_rules! columns {
    () => {
        "id, name, url, teams, secret, created_at, updated_at"
    };
}

const INSERT: &str = concat!(
    "INSERT INTO panel_apps (",
    columns!(),
    ") VALUES (?, ?, ?, ?, ?, ?, ?)"
);
const ALL: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM panel_apps ORDER BY created_at, id"
);
const ONE: &str = concat!("SELECT ", columns!(), " FROM panel_apps WHERE id = ?");
const UPDATE: &str =
    "UPDATE panel_apps SET name = ?, url = ?, teams = ?, secret = ?, updated_at = ? WHERE id = ?";
const DELETE: &str = "DELETE FROM panel_apps WHERE id = ?";

/// `?` placeholders numbered `$1…` for PostgreSQL (the statements above hold no `?` otherwise).
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

macro_rules! records_impl {
    ($ty:ty, $pg:expr) => {
        impl $ty {
            fn sql(sql: &'static str) -> AssertSqlSafe<String> {
                AssertSqlSafe(if $pg { numbered(sql) } else { sql.to_owned() })
            }
        }

        #[async_trait]
        impl PanelAppRecords for $ty {
            async fn insert(&self, a: &PanelAppRow) -> Result<(), StoreError> {
                sqlx::query(Self::sql(INSERT))
                    .bind(&a.id)
                    .bind(&a.name)
                    .bind(&a.url)
                    .bind(&a.teams)
                    .bind(&a.secret)
                    .bind(a.created_at)
                    .bind(a.updated_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn all(&self) -> Result<Vec<PanelAppRow>, StoreError> {
                Ok(sqlx::query_as(Self::sql(ALL)).fetch_all(&self.pool).await?)
            }

            async fn get(&self, id: &str) -> Result<Option<PanelAppRow>, StoreError> {
                Ok(sqlx::query_as(Self::sql(ONE))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn update(&self, a: &PanelAppRow) -> Result<bool, StoreError> {
                let done = sqlx::query(Self::sql(UPDATE))
                    .bind(&a.name)
                    .bind(&a.url)
                    .bind(&a.teams)
                    .bind(&a.secret)
                    .bind(a.updated_at)
                    .bind(&a.id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete(&self, id: &str) -> Result<bool, StoreError> {
                let done = sqlx::query(Self::sql(DELETE))
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}

/// The rows of the configuration's seeds (`panel_apps:`), checked like the admin API checks a
/// registration (`loopback_http`: the demo and test environments; `known`: whether a team
/// exists). Each seed's key is its id.
pub fn seed_rows(
    seeds: &std::collections::BTreeMap<String, crate::config::PanelAppSeed>,
    loopback_http: bool,
    known: impl Fn(&str) -> bool,
    now_ms: i64,
) -> Result<Vec<PanelAppRow>, String> {
    use super::panel_apps;
    use secrecy::ExposeSecret;
    seeds
        .iter()
        .map(|(id, seed)| {
            let bad = |e: panel_apps::Invalid| format!("panel_apps.{id}: {}", e.message);
            let teams = panel_apps::teams(&seed.teams, &known).map_err(bad)?;
            Ok(PanelAppRow {
                id: id.clone(),
                name: panel_apps::name(&seed.name).map_err(bad)?,
                url: panel_apps::url(&seed.url, loopback_http).map_err(bad)?,
                teams: serde_json::to_string(&teams).map_err(|e| e.to_string())?,
                secret: seed.secret.expose_secret().to_owned(),
                created_at: now_ms,
                updated_at: now_ms,
            })
        })
        .collect()
}

/// Register the seeds when the store holds no panel app (the first start); answers how many
/// were registered. Another node seeding at the same time is no error: an id already there is
/// left as it is.
pub async fn seed(
    records: &dyn PanelAppRecords,
    rows: Vec<PanelAppRow>,
) -> Result<usize, StoreError> {
    if rows.is_empty() || !records.all().await?.is_empty() {
        return Ok(0);
    }
    let mut added = 0;
    for row in rows {
        match records.insert(&row).await {
            Ok(()) => added += 1,
            Err(e) => {
                if records.get(&row.id).await?.is_none() {
                    return Err(e);
                }
            }
        }
    }
    Ok(added)
}

/// The records of the store `database` names: PostgreSQL's (a small pool of their own) or the
/// SQLite file's.
pub async fn open(
    database: &crate::config::DatabaseSettings,
) -> Result<std::sync::Arc<dyn PanelAppRecords>, StoreError> {
    use crate::store::side::SidePool;
    Ok(match SidePool::open(database, 2).await? {
        SidePool::Postgres(pool) => std::sync::Arc::new(PgPanelApps { pool }),
        SidePool::Sqlite(pool) => std::sync::Arc::new(SqlitePanelApps { pool }),
    })
}

pub struct SqlitePanelApps {
    pool: sqlx::SqlitePool,
}

records_impl!(SqlitePanelApps, false);

pub struct PgPanelApps {
    pool: sqlx::PgPool,
}

records_impl!(PgPanelApps, true);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(
            numbered(UPDATE),
            "UPDATE panel_apps SET name = $1, url = $2, teams = $3, secret = $4, \
             updated_at = $5 WHERE id = $6"
        );
    }

    fn seeds(
        url: &str,
        teams: &[&str],
        secret: &str,
    ) -> std::collections::BTreeMap<String, crate::config::PanelAppSeed> {
        [(
            "demo-orders".to_string(),
            crate::config::PanelAppSeed {
                name: " Orders ".into(),
                url: url.into(),
                teams: teams.iter().map(|t| t.to_string()).collect(),
                secret: secret.to_string().into(),
            },
        )]
        .into()
    }

    #[test]
    fn seeds_become_rows_checked_like_the_admin_api() {
        let known = |t: &str| t == "support" || t == "billing";
        let rows = seed_rows(
            &seeds(
                "http://127.0.0.1:9090/business/panel",
                &["support", "billing"],
                "psk_s",
            ),
            true,
            known,
            7,
        )
        .expect("valid");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, "demo-orders");
        assert_eq!(rows[0].name, "Orders");
        assert_eq!(
            rows[0].team_filter(),
            vec!["billing".to_string(), "support".to_string()]
        );
        assert_eq!(rows[0].secret, "psk_s");
        assert_eq!((rows[0].created_at, rows[0].updated_at), (7, 7));
        // http to 127.0.0.1 only in the demo environments; teams must exist.
        let refused = seed_rows(
            &seeds("http://127.0.0.1:9090/p", &[], "psk_s"),
            false,
            known,
            7,
        );
        assert!(refused.is_err_and(|e| e.contains("panel_apps.demo-orders")));
        assert!(
            seed_rows(
                &seeds("https://e.com/p", &["sales"], "psk_s"),
                false,
                known,
                7
            )
            .is_err()
        );
    }

    #[test]
    fn a_garbled_team_filter_reads_as_none() {
        let row = PanelAppRow {
            id: "pa_1".into(),
            name: "Orders".into(),
            url: "https://example.com/".into(),
            teams: "not json".into(),
            secret: "psk_x".into(),
            created_at: 1,
            updated_at: 1,
        };
        assert!(row.team_filter().is_empty());
        assert!(row.view().get("secret").is_none());
    }
}
