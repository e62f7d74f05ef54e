//! `loadtest campaign`: a campaign to RECIPIENTS contacts on a number the burst writes to,
//! sending when the burst starts (its audience written); the same burst runs first on a fresh
//! gateway holding the same contacts without the campaign, so the live traffic's latencies
//! (webhook acks, handoffs reaching agents, agents' replies reaching the Graph API) are compared
//! with and without the campaign, in one run. The contacts are written straight into the fresh
//! gateway's SQLite store (an import of 100,000 rows through the API would take longer than the
//! burst); everything else goes through the API an admin uses: the template sync, a segment, the
//! campaign, its start.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sqlx::any::AnyPoolOptions;

/// What the campaign run asks for.
#[derive(Clone, Debug)]
pub struct CampaignLoad {
    pub recipients: usize,
    /// The campaign's `rate` (messages a second).
    pub rate: u32,
    /// Start the campaign (else only the contacts are written: the run without it).
    pub start: bool,
}

/// The gateway's configuration for the campaign: every recipient reachable (no messaging limit
/// to wait for), the whole number's throughput open to the campaign (its `rate` decides), larger
/// pages and batches.
pub const EXTRA_YAML: &str = "campaigns:\n  share: 1.0\n  messaging_limit: unlimited\n  \
    poll_interval_ms: 200\n  audience_page: 2000\n  batch: 200\n";

/// The recipients' numbers (United Kingdom mobiles: no country rule applies to a utility
/// template anyway).
pub fn recipient(n: usize) -> String {
    format!("447700{n:06}")
}

/// Write the contacts into the store at `database_url` (SQLite, read-write), tagged `campaign`.
async fn seed(database_url: &str, recipients: usize) -> Result<()> {
    if !database_url.starts_with("sqlite:") {
        bail!("the campaign scenario seeds an embedded (SQLite) gateway only");
    }
    sqlx::any::install_default_drivers();
    // The deployment names the store read-only (for the checks): the seed writes.
    let path = database_url
        .split('?')
        .next()
        .unwrap_or(database_url)
        .to_owned();
    let url = format!("{path}?mode=rw");
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .with_context(|| format!("opening {database_url}"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    for chunk in (0..recipients).collect::<Vec<_>>().chunks(500) {
        let mut tx = pool.begin().await?;
        let rows = vec!["(?, ?, ?, '{}', '[\"campaign\"]', ?, ?, 'GB')"; chunk.len()].join(", ");
        let sql = format!(
            "INSERT INTO contacts (customer, name, phone, fields, tags, created_at, updated_at, \
             country) VALUES {rows} ON CONFLICT DO NOTHING"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for n in chunk {
            let phone = recipient(*n);
            q = q
                .bind(phone.clone())
                .bind(format!("Recipient {n}"))
                .bind(phone)
                .bind(now)
                .bind(now);
        }
        q.execute(&mut *tx).await?;
        tx.commit().await?;
    }
    pool.close().await;
    Ok(())
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<Value> {
    let mut request = http.request(method, &url).timeout(Duration::from_secs(600));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.with_context(|| url.clone())?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{url}: {status} {body}");
    }
    Ok(body)
}

/// Seed the recipients; then, when the campaign is to run, as the demo admin: sync the
/// templates, save the segment, create the campaign (`parcel_update`, a utility template, its
/// parameter from the contact's name) and start it. Its id, when started.
pub async fn prepare(
    base: &str,
    database_url: &str,
    load: &CampaignLoad,
) -> Result<Option<String>> {
    let began = Instant::now();
    seed(database_url, load.recipients).await?;
    eprintln!(
        "campaign: {} contacts written in {:.1} s",
        load.recipients,
        began.elapsed().as_secs_f64()
    );
    if !load.start {
        return Ok(None);
    }
    let http = reqwest::Client::new();
    let login = call(
        &http,
        reqwest::Method::POST,
        format!("{base}/api/v1/auth/login"),
        None,
        Some(json!({"email": "admin@example.com", "password": "demo-password"})),
    )
    .await?;
    let token = login["token"]
        .as_str()
        .context("the admin's login gave no token")?
        .to_owned();
    let token = Some(token.as_str());
    let post = |path: &str, body: Value| {
        call(
            &http,
            reqwest::Method::POST,
            format!("{base}{path}"),
            token,
            Some(body),
        )
    };
    post("/api/v1/templates/sync", json!({})).await?;
    let segment = post(
        "/api/v1/segments",
        json!({"name": "Campaign load", "filter": "'campaign' in contact.tags"}),
    )
    .await?;
    let segment = segment["segment"]["id"]
        .as_str()
        .context("no segment id")?
        .to_owned();
    let campaign = post(
        "/api/v1/campaigns",
        json!({
            "name": "Load campaign",
            "channel": "support",
            "template": {"name": "parcel_update", "language": "en_US"},
            "parameters": {"body": [{"field": "name", "default": "friend"}]},
            "audience": {"segment": segment},
            "rate": load.rate,
        }),
    )
    .await?;
    let id = campaign["campaign"]["id"]
        .as_str()
        .context("no campaign id")?
        .to_owned();
    let started = post(&format!("/api/v1/campaigns/{id}/start"), json!({})).await?;
    eprintln!(
        "campaign: {id} started after {:.1} s, {} eligible",
        began.elapsed().as_secs_f64(),
        started["campaign"]["estimate"]["eligible"]
    );
    // The audience is written before the burst: the burst meets the campaign sending.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let got = call(
            &http,
            reqwest::Method::GET,
            format!("{base}/api/v1/campaigns/{id}"),
            token,
            None,
        )
        .await?;
        if got["campaign"]["audience_complete"] == true {
            eprintln!(
                "campaign: audience written after {:.1} s; {} sent so far",
                began.elapsed().as_secs_f64(),
                got["campaign"]["counts"]["sent"]
            );
            break;
        }
        if Instant::now() > deadline {
            bail!("the campaign's audience was not written within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(Some(id))
}
