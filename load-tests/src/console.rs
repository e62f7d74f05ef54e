//! `loadtest console`: the web console measured in a real headless Chromium (issue 14).
//!
//! One run: the fake Graph API and the release gateway as `burst` starts them (no generated
//! agents, nobody online), CONVERSATIONS customers who each write "agent" (handed off at once
//! to support, where they all wait), then, each time in a fresh Chromium (a fresh profile: a
//! cold cache), sam@example.com (a supervisor of every team) logs in and the support tab is
//! opened at once; the page itself times the click, the first painted row and the last change
//! of the rows. The first run's Resource Timing gives the console's transfer size. Last, sam
//! opens one customer's conversation and that customer writes MESSAGES messages one at a time:
//! from just before each webhook POST to when its text is painted in the transcript.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use switchboard::channels::signature::SignatureVerifier;

use crate::customers::{self, CustomerPlan, FireStats, Pace, RunIds, text_webhook};
use crate::gateway::{self, SUPPORT_PHONE_NUMBER_ID};
use crate::{DEFAULT_APP_SECRET, Opts};

/// The demo supervisor and the demo password (config/base.yaml).
const LOGIN_EMAIL: &str = "sam@example.com";
const LOGIN_PASSWORD: &str = "demo-password";
/// The support team's tab (console/screens/list.js `tabId('team:support')`).
const SUPPORT_TAB: &str = "tab-team-support";
/// How long the browser waits for one step.
const STEP_WAIT: Duration = Duration::from_secs(60);

pub struct ConsolePlan {
    pub conversations: usize,
    pub logins: usize,
    pub messages: usize,
}

/// Milliseconds since the epoch, sub-millisecond.
fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

fn which(candidates: &[&str]) -> Option<String> {
    candidates.iter().find_map(|c| {
        let path = PathBuf::from(c);
        if path.is_absolute() {
            path.exists().then(|| c.to_string())
        } else {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(c))
                    .find(|p| p.exists())
                    .map(|p| p.to_string_lossy().into_owned())
            })
        }
    })
}

/// A headless Chromium behind its own chromedriver (a fresh profile), killed on drop.
struct Browser {
    driver: Child,
    client: Client,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    async fn start() -> Result<Browser> {
        // chromedriver speaks plain HTTP; the connector still wants a process-wide provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let driver_bin = which(&["chromedriver", "/usr/bin/chromedriver"])
            .context("chromedriver is not installed (Debian: chromium-driver)")?;
        let chromium = which(&["chromium", "/usr/bin/chromium", "chromium-browser"])
            .context("chromium is not installed")?;
        let port = gateway::free_port()?;
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver")?;
        let capabilities: serde_json::Map<String, Value> = serde_json::from_value(json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,800", "--lang=en"],
            },
        }))?;
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connected = ClientBuilder::rustls()
                .context("a TLS connector")?
                .capabilities(capabilities.clone())
                .connect(&url)
                .await;
            match connected {
                Ok(client) => break client,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => bail!("chromedriver at {url}: {e}"),
            }
        };
        Ok(Browser { driver, client })
    }

    async fn js(&self, script: &str) -> Result<Value> {
        self.client
            .execute(script, vec![])
            .await
            .map_err(|e| anyhow!("script failed: {e}"))
    }

    /// Wait until the JS expression is truthy.
    async fn wait_true(&self, what: &str, expression: &str) -> Result<()> {
        let deadline = Instant::now() + STEP_WAIT;
        loop {
            let value = self
                .js(&format!("return !!({expression});"))
                .await
                .unwrap_or(Value::Bool(false));
            if value == Value::Bool(true) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("waited {STEP_WAIT:?} for {what}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        self.client
            .wait()
            .at_most(STEP_WAIT)
            .for_element(Locator::Css(css))
            .await
            .map_err(|e| anyhow!("{css}: {e}"))?
            .send_keys(text)
            .await
            .map_err(|e| anyhow!("typing into {css}: {e}"))
    }

    async fn click(&self, css: &str) -> Result<()> {
        self.client
            .wait()
            .at_most(STEP_WAIT)
            .for_element(Locator::Css(css))
            .await
            .map_err(|e| anyhow!("{css}: {e}"))?
            .click()
            .await
            .map_err(|e| anyhow!("clicking {css}: {e}"))
    }

    async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// The probe installed on the login screen: times (performance.now()) the click on "log in",
/// the support tab's appearance (it is clicked at once, as a person would), the first row of
/// the support tab in the DOM and painted (the frame after), and the last change of the rows.
const LOGIN_PROBE: &str = r#"
const p = window.__probe = { click: 0, tab: 0, firstRowDom: 0, firstRowPainted: 0, rows: 0, rowsAt: 0 };
document.addEventListener('click', (e) => {
  if (!p.click && e.target.closest && e.target.closest('#login-submit')) p.click = performance.now();
}, true);
const TAB = '__TAB__';
const look = () => {
  const tab = document.getElementById(TAB);
  if (!tab) return;
  if (!p.tab) {
    p.tab = performance.now();
    if (tab.getAttribute('aria-selected') !== 'true') tab.click();
  }
  if (tab.getAttribute('aria-selected') !== 'true') return;
  const rows = document.querySelectorAll('#conversation-list .conversation-row').length;
  if (rows && !p.firstRowDom) {
    p.firstRowDom = performance.now();
    requestAnimationFrame(() => setTimeout(() => { p.firstRowPainted = performance.now(); }, 0));
  }
  if (rows !== p.rows) { p.rows = rows; p.rowsAt = performance.now(); }
};
new MutationObserver(look).observe(document.documentElement, { childList: true, subtree: true, attributes: true, attributeFilter: ['aria-selected'] });
return true;
"#;

/// Every resource of the page so far (the document first): name, kind, transferSize,
/// encodedBodySize, decodedBodySize.
const RESOURCES: &str = r#"
const row = (e, kind) => [e.name, kind, e.transferSize || 0, e.encodedBodySize || 0, e.decodedBodySize || 0];
return performance.getEntriesByType('navigation').map((e) => row(e, 'document'))
  .concat(performance.getEntriesByType('resource').map((e) => row(e, e.initiatorType)));
"#;

/// The transcript probe: the epoch time (ms, sub-millisecond) each `e2s-<k>-<run>` text first
/// enters the DOM, and the frame after (painted).
const TRANSCRIPT_PROBE: &str = r#"
const seen = window.__e2s = {};
const pattern = /e2s-\d+-__RUN__/g;
const now = () => performance.timeOrigin + performance.now();
new MutationObserver((records) => {
  for (const r of records) {
    const nodes = r.type === 'characterData' ? [r.target] : [...r.addedNodes];
    for (const n of nodes) {
      for (const key of (n.textContent || '').match(pattern) || []) {
        if (seen[key]) continue;
        const entry = seen[key] = { dom: now(), painted: 0 };
        requestAnimationFrame(() => setTimeout(() => { entry.painted = now(); }, 0));
      }
    }
  }
}).observe(document.documentElement, { childList: true, subtree: true, characterData: true });
return true;
"#;

#[derive(Debug, Clone)]
struct LoginRun {
    tab_ms: f64,
    first_row_ms: f64,
    rows_settled_ms: f64,
    rows: u64,
}

#[derive(Debug, Clone)]
struct Resource {
    name: String,
    kind: String,
    transfer: u64,
    encoded: u64,
    decoded: u64,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

fn spread(label: &str, values: Vec<f64>) -> String {
    let v = sorted(values);
    format!(
        "{label}: median {:.0} ms (min {:.0}, max {:.0}; {} runs)",
        percentile(&v, 0.5),
        v.first().copied().unwrap_or(0.0),
        v.last().copied().unwrap_or(0.0),
        v.len()
    )
}

fn latency(label: &str, values: Vec<f64>) -> String {
    let v = sorted(values);
    format!(
        "{label}: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms ({} messages)",
        percentile(&v, 0.5),
        percentile(&v, 0.95),
        v.last().copied().unwrap_or(0.0),
        v.len()
    )
}

/// One cold login: a fresh browser, the probe, the click; the timings and (when asked) the
/// page's resources. The browser is handed back, logged in, on the support tab.
async fn login_once(base: &str) -> Result<(Browser, LoginRun, Vec<Resource>)> {
    let browser = Browser::start().await?;
    browser
        .client
        .goto(base)
        .await
        .map_err(|e| anyhow!("opening the console: {e}"))?;
    browser.type_into("#login-email", LOGIN_EMAIL).await?;
    browser.type_into("#login-password", LOGIN_PASSWORD).await?;
    browser
        .js(&LOGIN_PROBE.replace("__TAB__", SUPPORT_TAB))
        .await?;
    browser.click("#login-submit").await?;
    browser
        .wait_true(
            "the first row of the support tab, painted",
            "window.__probe && window.__probe.firstRowPainted > 0",
        )
        .await?;
    // The rows are settled when they have not changed for a second.
    browser
        .wait_true(
            "the support tab's rows to settle",
            "performance.now() - window.__probe.rowsAt > 1000",
        )
        .await?;
    let p = browser.js("return window.__probe;").await?;
    let f = |k: &str| p.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let click = f("click");
    if click <= 0.0 {
        bail!("the probe did not see the click on log in");
    }
    let run = LoginRun {
        tab_ms: f("tab") - click,
        first_row_ms: f("firstRowPainted") - click,
        rows_settled_ms: f("rowsAt") - click,
        rows: p.get("rows").and_then(Value::as_u64).unwrap_or(0),
    };
    let listed = browser.js(RESOURCES).await?;
    let resources = listed
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| {
                    Some(Resource {
                        name: r.get(0)?.as_str()?.to_string(),
                        kind: r.get(1)?.as_str()?.to_string(),
                        transfer: r.get(2)?.as_u64()?,
                        encoded: r.get(3)?.as_u64()?,
                        decoded: r.get(4)?.as_u64()?,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((browser, run, resources))
}

/// Wait until `n` conversations of this run wait in the support queue (per the store).
async fn wait_queued(db: &sqlx::AnyPool, ids: &RunIds, n: usize, until: Instant) -> Result<()> {
    let sql = format!(
        "SELECT COUNT(*) FROM conversations WHERE customer LIKE '{}' AND status = 'waiting' AND team = 'support'",
        ids.customer_like()
    );
    let mut last = 0;
    loop {
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_one(db)
            .await
            .context("counting waiting conversations")?;
        if count as usize >= n {
            return Ok(());
        }
        if count != last {
            eprintln!("  waiting in support: {count} / {n}");
            last = count;
        }
        if Instant::now() >= until {
            bail!("only {count} of {n} conversations are waiting in support");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub async fn run(plan: &ConsolePlan, o: &Opts) -> Result<()> {
    let started = Instant::now();
    let until = started + Duration::from_secs(o.max_seconds);
    if o.target.is_some() {
        bail!("the console scenario starts its own gateway (no --target)");
    }
    let (graph, _tap) = crate::start_graph(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))?;
    // One generated agent (an empty `agents:` layer would be null), never online: nobody is
    // online, every handoff waits in the support queue.
    let under = crate::gateway_under_test(o, graph.base_url(), 1, 1).await?;
    let base = under.base_url().to_string();
    let db_url = under
        .database_url
        .clone()
        .context("the gateway's store is unknown")?;
    let secret = o
        .app_secret
        .clone()
        .unwrap_or_else(|| DEFAULT_APP_SECRET.into());
    eprintln!("gateway: {base}");

    // 1. CONVERSATIONS customers write "agent": handed off to support, waiting there.
    let ids = RunIds::new();
    let numbers = crate::numbers(o);
    let customers_plan = CustomerPlan {
        first: 0,
        customers: plan.conversations,
        messages_per_customer: 1,
        extra: 0,
        handoff_fraction: 1.0,
        sales_fraction: 0.0,
        pace: Pace::Unlimited,
        active: 500.min(plan.conversations.max(1)),
        connections: o.connections.unwrap_or(64).max(1),
        numbers,
        persistent: false,
        redeliver_fraction: 0.0,
    };
    let fire = Arc::new(FireStats::new(Instant::now()));
    customers::fire(
        customers_plan,
        ids,
        under.webhook_urls(),
        &secret,
        fire.clone(),
        Arc::new(AtomicBool::new(false)),
        until,
    )
    .await?;
    eprintln!(
        "customers: {} webhooks acknowledged in {:.1} s",
        fire.acked.get(),
        fire.firing_time().as_secs_f64()
    );
    let db = crate::checks::open(&db_url).await?;
    wait_queued(
        &db,
        &ids,
        plan.conversations,
        (Instant::now() + Duration::from_secs(o.drain_timeout)).min(until),
    )
    .await?;

    // The probe customer, the newest conversation of the support tab.
    let http = reqwest::Client::new();
    let signer = SignatureVerifier::new(secret.as_bytes()).map_err(|e| anyhow!("{e}"))?;
    let probe = ids.wa_id(plan.conversations);
    let webhook = format!("{base}/webhooks/whatsapp");
    let send = |k: usize, text: String| {
        let body = text_webhook(
            SUPPORT_PHONE_NUMBER_ID,
            &probe,
            &format!("wamid.E2S{}P{k:04}", ids.nonce),
            &text,
        );
        let signature = signer.sign(&body);
        http.post(&webhook)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
    };
    let answer = send(0, "agent".into()).await?;
    if !answer.status().is_success() {
        bail!("the probe customer's handoff: {}", answer.status());
    }
    wait_queued(
        &db,
        &ids,
        plan.conversations + 1,
        (Instant::now() + Duration::from_secs(60)).min(until),
    )
    .await?;
    let probe_id: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM conversations WHERE customer = '{probe}' AND status = 'waiting'"
    )))
    .fetch_one(&db)
    .await
    .context("the probe customer's conversation")?;
    db.close().await;
    eprintln!(
        "{} conversations wait in support ({:.1} s since the start)",
        plan.conversations + 1,
        started.elapsed().as_secs_f64()
    );

    // 2. Logins, each in a fresh browser (cold cache).
    let mut runs = Vec::new();
    let mut first_resources = Vec::new();
    let mut last_browser = None;
    for i in 0..plan.logins.max(1) {
        if let Some(b) = last_browser.take() {
            Browser::close(b).await;
        }
        let (browser, run, resources) = login_once(&base).await?;
        eprintln!(
            "  login {}: support tab {:.0} ms, first row painted {:.0} ms, rows settled {:.0} ms ({} rows in the DOM)",
            i + 1,
            run.tab_ms,
            run.first_row_ms,
            run.rows_settled_ms,
            run.rows
        );
        if i == 0 {
            first_resources = resources;
        }
        runs.push(run);
        last_browser = Some(browser);
    }
    let browser = last_browser.context("no browser")?;

    // 3. Event to screen: sam opens the probe conversation; the customer writes.
    browser
        .click(&format!(".conversation-row[data-id='{probe_id}']"))
        .await?;
    browser
        .wait_true(
            "the probe's transcript",
            "[...document.querySelectorAll('#transcript .message')].some(m => m.textContent.includes('agent'))",
        )
        .await?;
    browser
        .wait_true(
            "the live connection",
            "document.querySelector('#connection')?.dataset.state === 'connected'",
        )
        .await?;
    // Let the console tell the gateway it is viewing the conversation.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let run = format!("{}", ids.nonce);
    browser
        .js(&TRANSCRIPT_PROBE.replace("__RUN__", &run))
        .await?;
    let mut to_screen = Vec::new();
    let mut to_dom = Vec::new();
    let mut acks = Vec::new();
    for k in 1..=plan.messages {
        let key = format!("e2s-{k}-{run}");
        let before = epoch_ms();
        let answer = send(k, format!("{key} is anyone there?")).await?;
        let acked = epoch_ms();
        if !answer.status().is_success() {
            bail!("message {k}: {}", answer.status());
        }
        acks.push(acked - before);
        browser
            .wait_true(
                &format!("{key} painted"),
                &format!("window.__e2s['{key}'] && window.__e2s['{key}'].painted > 0"),
            )
            .await?;
        let seen = browser
            .js(&format!("return window.__e2s['{key}'];"))
            .await?;
        let f = |k: &str| seen.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        to_screen.push(f("painted") - before);
        to_dom.push(f("dom") - before);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.close().await;

    // 4. The report.
    println!();
    println!(
        "== The web console: {} conversations waiting in support, sam@ (supervisor), headless Chromium ==",
        plan.conversations + 1
    );
    println!("login → painted list (fresh browser each time, cold cache):");
    println!(
        "  {}",
        spread(
            "click → support tab shown",
            runs.iter().map(|r| r.tab_ms).collect()
        )
    );
    println!(
        "  {}",
        spread(
            "click → first row painted",
            runs.iter().map(|r| r.first_row_ms).collect()
        )
    );
    println!(
        "  {}",
        spread(
            "click → last change of the rows",
            runs.iter().map(|r| r.rows_settled_ms).collect()
        )
    );
    println!(
        "  rows in the DOM (the list is windowed): {:?}",
        runs.iter().map(|r| r.rows).collect::<Vec<_>>()
    );
    let is_api = |r: &Resource| r.name.contains("/api/");
    let sum = |f: &dyn Fn(&Resource) -> bool, g: &dyn Fn(&Resource) -> u64| -> u64 {
        first_resources.iter().filter(|r| f(r)).map(g).sum()
    };
    println!("transfer size of the first (cold) load, per Resource Timing:");
    for r in &first_resources {
        let name = r.name.strip_prefix(&base).unwrap_or(&r.name);
        println!(
            "  {:>8} B transferred {:>8} B encoded {:>8} B decoded  {:<10} {name}",
            r.transfer, r.encoded, r.decoded, r.kind
        );
    }
    let console = |r: &Resource| !is_api(r);
    println!(
        "  console (page and assets, {} files): {} B transferred, {} B encoded, {} B decoded",
        first_resources.iter().filter(|r| console(r)).count(),
        sum(&console, &|r: &Resource| r.transfer),
        sum(&console, &|r: &Resource| r.encoded),
        sum(&console, &|r: &Resource| r.decoded)
    );
    println!(
        "  API calls ({}): {} B transferred, {} B encoded, {} B decoded",
        first_resources.iter().filter(|r| is_api(r)).count(),
        sum(&is_api, &|r: &Resource| r.transfer),
        sum(&is_api, &|r: &Resource| r.encoded),
        sum(&is_api, &|r: &Resource| r.decoded)
    );
    println!("event to screen (a customer message, webhook POST → its text in the transcript):");
    println!("  {}", latency("to painted", to_screen));
    println!("  {}", latency("to the DOM", to_dom));
    println!("  {}", latency("webhook ack (the in-run peer)", acks));
    drop(under);
    drop(graph);
    Ok(())
}
