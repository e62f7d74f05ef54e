//! `loadtest peers` (issue 16): Switchboard beside the alternatives a team would reach for,
//! on this machine, in one run, with the same pre-signed webhooks. See load-tests/README.md,
//! "Peers".
//!
//! Targets, each started fresh for each workload: the bare verify+parse baseline
//! (`loadtest serve-baseline`), a whatsapp-api-js receiver (Node, node:cluster), a pywa +
//! FastAPI receiver (uvicorn workers), both routing every message with the same Redis Lua script
//! (`load-tests/peers/route.lua`) on a private `redis-server` each, and the release gateway
//! with the demo bot and online agents. The peers' libraries are installed into a cache folder
//! (npm, a Python venv) when asked or missing.
//!
//! Workloads: `storm` (every body from a customer never seen before: new conversations) and
//! `assigned` (a few customers whose conversations agents hold, writing again and again). The
//! bodies are generated and signed once per workload, each with a unique message id; every
//! target gets the same ones, in the same order, from a closed loop of keep-alive connections
//! (hyper's HTTP/1.1 client connections, like `wrk -c64 -d10s`). Measured: acks/s and ack latency,
//! and processed messages per second (the route's Redis counter, or the gateway's store,
//! counted until it stops moving), and CPU seconds per message of the target's processes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::{Method, Uri};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::json;
use sqlx::{AnyPool, AssertSqlSafe};
use switchboard::channels::signature::SignatureVerifier;
use tokio::net::TcpStream;

use crate::agents::{self, AgentPlan, AgentStats};
use crate::customers::RunIds;
use crate::gateway::{self, ChildProcess};
use crate::report::Machine;
use crate::stats::{Summary, histogram, micros};
use crate::{DEFAULT_APP_SECRET, Opts};

/// The route every peer runs (its copy goes into the cache folder at each run).
const ROUTE_LUA: &str = include_str!("../peers/route.lua");
const NODE_SERVER: &str = include_str!("../peers/whatsapp-api-js/server.mjs");
const PYWA_SERVER: &str = include_str!("../peers/pywa/server.py");
/// What `npm install` puts into `<cache>/node`.
const NPM_PACKAGES: [&str; 2] = ["whatsapp-api-js@^6.3.0", "ioredis@^6"];
/// What `pip install` puts into the venv `<cache>/venv` (uvicorn with uvloop and httptools,
/// as it is deployed).
const PIP_PACKAGES: [&str; 4] = ["pywa>=4.5,<5", "fastapi", "uvicorn[standard]", "redis>=5"];
/// The counter route.lua increments for every routed message.
const PROCESSED_KEY: &str = "route:processed";
const WEBHOOK_PATH: &str = "/webhooks/whatsapp";
/// A count that has not moved for this long has stopped.
const SETTLED: Duration = Duration::from_secs(3);
/// One request's longest wait for its response.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Who is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// `loadtest serve-baseline`: verify and parse, nothing else.
    Baseline,
    /// whatsapp-api-js on Node (node:cluster), routing before the 200.
    #[value(name = "whatsapp-api-js", aliases = ["js", "node"])]
    WhatsappApiJs,
    /// pywa + FastAPI on uvicorn workers, routing after the 200.
    #[value(alias = "python")]
    Pywa,
    /// The release gateway: the demo bot, online agents.
    #[value(alias = "gateway")]
    Switchboard,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Baseline => "baseline",
            Target::WhatsappApiJs => "whatsapp-api-js",
            Target::Pywa => "pywa",
            Target::Switchboard => "switchboard",
        }
    }

    fn before_200(self) -> &'static str {
        match self {
            Target::Baseline => "nothing else",
            Target::WhatsappApiJs => "route, then 200 (Redis, not durable)",
            Target::Pywa => "acks first, routes after",
            Target::Switchboard => "durable, bot, route, assign",
        }
    }
}

/// What the customers do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// A new-conversation storm: every body from a new customer ("hi", a share "agent").
    Storm,
    /// Traffic to assigned conversations: a few customers, each handed to an agent first,
    /// writing again and again.
    Assigned,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Storm => "storm",
            Workload::Assigned => "assigned",
        }
    }
}

/// The scenario's options (the rest comes from the global ones).
#[derive(Clone, Debug)]
pub struct PeersPlan {
    /// Install (or update) the peers' packages even if they are there.
    pub install: bool,
    /// The cache folder (default: load-tests/.peers-cache).
    pub cache: Option<PathBuf>,
    pub seconds: u64,
    pub targets: Vec<Target>,
    pub workloads: Vec<Workload>,
    /// Bodies signed per workload: the most any target can be sent in its window.
    pub bodies: usize,
    /// The storm's customers (body i from customer i mod N); default: every body a new one.
    pub storm_customers: Option<usize>,
    pub assigned_customers: usize,
    /// Node processes and uvicorn workers of the peers.
    pub peer_processes: usize,
}

/// One target under one workload.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Outcome {
    pub target: String,
    pub workload: String,
    pub label: String,
    pub before_200: String,
    pub requests: u64,
    pub acknowledged: u64,
    pub status_503: u64,
    /// Every answer that was not a 200 (by kind) and transport errors.
    pub errors: BTreeMap<String, u64>,
    /// From the first request to the last answer.
    pub seconds: f64,
    pub acks_per_second: f64,
    pub ack_latency: Summary,
    /// The signed bodies ran out before the window's end (raise --bodies).
    pub bodies_exhausted: bool,
    /// Messages of the window processed (routed, or recorded and processed by the gateway),
    /// counted until the count stopped moving; None for the baseline (nothing to process).
    pub processed: Option<u64>,
    /// From the first request until the processed count stopped moving.
    pub processed_seconds: Option<f64>,
    pub processed_per_second: Option<f64>,
    /// Acknowledged but not processed when the count stopped.
    pub unprocessed: Option<u64>,
    /// CPU seconds of the target's processes (the gateway; the peer's primary and workers; the
    /// baseline server) from the first request until the processed count stopped.
    pub cpu_seconds: Option<f64>,
    /// … of the peer's own redis-server.
    pub redis_cpu_seconds: Option<f64>,
    /// (cpu_seconds + redis_cpu_seconds) × 1000 / acknowledged.
    pub cpu_ms_per_message: Option<f64>,
    /// Switchboard: conversations the agents were assigned over the run (the storm's handoffs;
    /// the assigned workload's conversations).
    pub conversations_assigned: Option<usize>,
    /// Why the target could not be measured.
    pub failure: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct PeersReport {
    pub scenario: String,
    pub command: String,
    pub unix_time: u64,
    pub machine: Machine,
    pub plan: serde_json::Value,
    pub versions: BTreeMap<String, String>,
    pub results: Vec<Outcome>,
    pub passed: bool,
}

/// Run the scenario; false when a target failed or did not do its work.
pub async fn run(plan: &PeersPlan, o: &Opts) -> Result<bool> {
    if plan.targets.is_empty() || plan.workloads.is_empty() {
        bail!("nothing to measure: --only and --workloads name at least one each");
    }
    if plan.bodies == 0 || plan.assigned_customers == 0 || plan.seconds == 0 {
        bail!("--bodies, --assigned-customers and --seconds are at least 1");
    }
    if o.cluster && plan.targets.contains(&Target::Switchboard) {
        eprintln!("peers: --cluster: Switchboard runs as two nodes, connections spread over them");
    }
    let handoff_fraction = o.handoff_fraction.unwrap_or(0.1);
    if !(0.0..=1.0).contains(&handoff_fraction) {
        bail!("--handoff-fraction is between 0 and 1");
    }
    let started = Instant::now();
    let until = crate::deadline(o, started);
    let cache = match &plan.cache {
        Some(dir) => dir.clone(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".peers-cache"),
    };
    let cache = std::path::absolute(&cache).unwrap_or(cache);
    let mut versions = BTreeMap::new();
    let wants = |t| plan.targets.contains(&t);
    if wants(Target::WhatsappApiJs) {
        install_node(&cache, plan.install, &mut versions)?;
    }
    if wants(Target::Pywa) {
        install_python(&cache, plan.install, &mut versions)?;
    }
    write_servers(&cache)?;
    let logs = tempfile::Builder::new()
        .prefix("switchboard-load-peers-")
        .tempdir()
        .context("creating a temporary directory for the logs")?;

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted: stopping");
                stop.store(true, Ordering::Relaxed);
            }
        });
    }
    let graph = if wants(Target::Switchboard) {
        let (graph, _tap) = crate::start_graph(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        Some(graph)
    } else {
        None
    };
    let secret = o
        .app_secret
        .clone()
        .unwrap_or_else(|| DEFAULT_APP_SECRET.into());
    let signer = SignatureVerifier::new(secret.as_bytes())
        .map_err(|e| anyhow::anyhow!("app secret: {e}"))?;
    let agents = o.agents.unwrap_or(50).max(1);
    let connections = o.connections.unwrap_or(64).max(1);
    let ctx = Ctx {
        o,
        plan,
        cache: cache.clone(),
        logs: logs.path().to_path_buf(),
        secret,
        graph_url: graph.as_ref().map(|g| g.base_url()),
        stop: stop.clone(),
        until,
        agents,
        connections,
        versions: versions.clone(),
    };
    let mut report = PeersReport {
        scenario: "peers".into(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        unix_time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        machine: Machine::read(),
        plan: json!({
            "seconds": plan.seconds,
            "connections": connections,
            "bodies": plan.bodies,
            "storm_customers": plan.storm_customers,
            "storm_handoff_fraction": handoff_fraction,
            "assigned_customers": plan.assigned_customers,
            "agents": agents,
            "peer_processes": plan.peer_processes,
            "workers": o.workers,
            "numbers": o.numbers.max(1),
            "targets": plan.targets.iter().map(|t| t.name()).collect::<Vec<_>>(),
            "workloads": plan.workloads.iter().map(|w| w.name()).collect::<Vec<_>>(),
        }),
        versions,
        passed: true,
        ..PeersReport::default()
    };
    eprintln!("plan: {}", report.plan);
    let numbers = crate::numbers(o);
    'workloads: for &workload in &plan.workloads {
        let ids = RunIds::new();
        let signing = Instant::now();
        let bodies = Bodies::build(workload, ids, plan, handoff_fraction, &numbers, &signer);
        eprintln!(
            "{}: {} bodies signed in {:.1} s ({} prepared first)",
            workload.name(),
            bodies.window.len(),
            signing.elapsed().as_secs_f64(),
            bodies.prepare.len()
        );
        for &target in &plan.targets {
            if stop.load(Ordering::Relaxed) || Instant::now() >= until {
                break 'workloads;
            }
            eprintln!("== {} / {}", workload.name(), target.name());
            let outcome = match run_target(&ctx, target, workload, &bodies, ids).await {
                Ok(outcome) => outcome,
                Err(e) => {
                    eprintln!("!! {} / {}: {e:#}", workload.name(), target.name());
                    Outcome {
                        target: target.name().into(),
                        workload: workload.name().into(),
                        label: label(target, &ctx),
                        before_200: target.before_200().into(),
                        failure: Some(format!("{e:#}")),
                        ..Outcome::default()
                    }
                }
            };
            report.passed &= judge(&outcome);
            report.results.push(outcome);
        }
    }
    drop(graph);
    if o.keep {
        eprintln!("keeping the logs in {}", logs.keep().display());
    }
    println!("{}", table(&report, plan));
    if let Some(path) = &o.json {
        let text = serde_json::to_string_pretty(&report).context("serializing the report")?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(report.passed)
}

/// Whether a target did its job: answered (mostly) 200 and processed what it acknowledged.
fn judge(r: &Outcome) -> bool {
    let mut ok = true;
    if let Some(why) = &r.failure {
        eprintln!("!! {} / {}: not measured: {why}", r.workload, r.target);
        return false;
    }
    if r.acknowledged == 0 {
        eprintln!(
            "!! {} / {}: no request was answered 200 ({:?})",
            r.workload, r.target, r.errors
        );
        ok = false;
    }
    let refused: u64 = r
        .errors
        .iter()
        .filter(|(k, _)| k.starts_with("http_4"))
        .map(|(_, v)| v)
        .sum();
    if refused > 0 {
        eprintln!(
            "!! {} / {}: {refused} requests refused with a 4xx: its signature or parsing is wrong",
            r.workload, r.target
        );
        ok = false;
    }
    if let Some(unprocessed) = r.unprocessed
        && unprocessed > 0
    {
        eprintln!(
            "!! {} / {}: {unprocessed} acknowledged messages were not processed when the count \
             stopped moving",
            r.workload, r.target
        );
        ok = false;
    }
    ok
}

/// What every target's run needs.
struct Ctx<'a> {
    o: &'a Opts,
    plan: &'a PeersPlan,
    cache: PathBuf,
    logs: PathBuf,
    secret: String,
    graph_url: Option<String>,
    stop: Arc<AtomicBool>,
    until: Instant,
    agents: usize,
    connections: usize,
    versions: BTreeMap<String, String>,
}

fn label(target: Target, ctx: &Ctx<'_>) -> String {
    let v = |k: &str| ctx.versions.get(k).cloned().unwrap_or_else(|| "?".into());
    let n = ctx.plan.peer_processes;
    match target {
        Target::Baseline => "bare actix verify + parse".into(),
        Target::WhatsappApiJs => format!(
            "whatsapp-api-js {} (Node {}, {n} processes) + Redis route",
            v("whatsapp-api-js"),
            v("node")
        ),
        Target::Pywa => format!(
            "pywa {} + FastAPI {} (uvicorn, {n} workers) + Redis route",
            v("pywa"),
            v("fastapi")
        ),
        Target::Switchboard => format!(
            "Switchboard (demo bot: greet, hand off; {} online agents)",
            ctx.agents
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Installing the peers

fn run_command(what: &str, command: &mut Command) -> Result<()> {
    eprintln!("peers: {what}");
    let status = command
        .status()
        .with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

fn output_of(command: &mut Command) -> Option<String> {
    let out = command.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The version in `node_modules/<package>/package.json`.
fn npm_version(cache: &Path, package: &str) -> Option<String> {
    let path = cache
        .join("node/node_modules")
        .join(package)
        .join("package.json");
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["version"].as_str().map(str::to_owned)
}

/// whatsapp-api-js and ioredis into `<cache>/node` (npm), when asked or missing.
fn install_node(cache: &Path, force: bool, versions: &mut BTreeMap<String, String>) -> Result<()> {
    let node = output_of(Command::new("node").arg("--version"))
        .context("node is not on PATH (Node.js 20 or later runs the whatsapp-api-js peer)")?;
    let missing = ["whatsapp-api-js", "ioredis"]
        .iter()
        .any(|p| npm_version(cache, p).is_none());
    if force || missing {
        let prefix = cache.join("node");
        std::fs::create_dir_all(&prefix)
            .with_context(|| format!("creating {}", prefix.display()))?;
        run_command(
            &format!(
                "npm install --prefix {} {}",
                prefix.display(),
                NPM_PACKAGES.join(" ")
            ),
            Command::new("npm")
                .arg("install")
                .arg("--prefix")
                .arg(&prefix)
                .args(["--no-audit", "--no-fund", "--loglevel=error"])
                .args(NPM_PACKAGES),
        )?;
    }
    versions.insert("node".into(), node);
    for package in ["whatsapp-api-js", "ioredis"] {
        let version = npm_version(cache, package)
            .with_context(|| format!("{package} is not installed in {}", cache.display()))?;
        versions.insert(package.into(), version);
    }
    Ok(())
}

fn venv_python(cache: &Path) -> PathBuf {
    cache.join("venv/bin/python")
}

/// The installed versions of the Python peer's packages, if they are all there.
fn pip_versions(cache: &Path) -> Option<Vec<(String, String)>> {
    let script = "import importlib.metadata as m\n\
                  for p in ('pywa', 'fastapi', 'uvicorn', 'uvloop', 'httptools', 'redis'):\n    \
                  print(p, m.version(p))";
    let out = output_of(Command::new(venv_python(cache)).args(["-c", script]))?;
    let pairs: Vec<(String, String)> = out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(p, v)| (p.to_string(), v.to_string()))
        .collect();
    (pairs.len() == 6).then_some(pairs)
}

/// pywa, FastAPI, uvicorn and redis-py into the venv `<cache>/venv` (pip), when asked or
/// missing.
fn install_python(
    cache: &Path,
    force: bool,
    versions: &mut BTreeMap<String, String>,
) -> Result<()> {
    let python = output_of(Command::new("python3").arg("--version"))
        .context("python3 is not on PATH (Python 3.10 or later runs the pywa peer)")?;
    if force || pip_versions(cache).is_none() {
        let venv = cache.join("venv");
        if !venv_python(cache).is_file() {
            std::fs::create_dir_all(cache)
                .with_context(|| format!("creating {}", cache.display()))?;
            run_command(
                &format!("python3 -m venv {}", venv.display()),
                Command::new("python3").args(["-m", "venv"]).arg(&venv),
            )?;
        }
        run_command(
            &format!(
                "{} -m pip install {}",
                venv_python(cache).display(),
                PIP_PACKAGES.join(" ")
            ),
            Command::new(venv_python(cache))
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(PIP_PACKAGES),
        )?;
    }
    versions.insert(
        "python".into(),
        python.trim_start_matches("Python ").to_string(),
    );
    let pairs = pip_versions(cache).with_context(|| {
        format!(
            "pywa, fastapi, uvicorn[standard] and redis are not all installed in {}",
            cache.join("venv").display()
        )
    })?;
    versions.extend(pairs);
    Ok(())
}

/// The committed peer servers and route, copied into the cache: the Node server next to its
/// node_modules (so its imports resolve as in any app), the Python one into its own folder.
fn write_servers(cache: &Path) -> Result<()> {
    let write = |path: PathBuf, text: &str| -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write(cache.join("route.lua"), ROUTE_LUA)?;
    write(cache.join("node/whatsapp-api-js-server.mjs"), NODE_SERVER)?;
    write(cache.join("pywa/server.py"), PYWA_SERVER)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The bodies

/// A signed webhook: its body and its `X-Hub-Signature-256`, shared cheaply by every target
/// (the method, path and Host header come from the target's [`Endpoint`]).
#[derive(Clone, Debug)]
struct Signed {
    body: Bytes,
    signature: HeaderValue,
}

/// One workload's requests, signed once: what every target is sent.
struct Bodies {
    /// Before the window, not measured: each assigned customer writes "agent" once.
    prepare: Arc<Vec<Signed>>,
    /// The window's, in order.
    window: Arc<Vec<Signed>>,
}

/// Low-discrepancy choice of about `fraction` of the indexes (the golden ratio's steps).
fn chosen(i: usize, fraction: f64) -> bool {
    (i as f64 * 0.618_033_988_749_895).fract() < fraction
}

impl Bodies {
    fn build(
        workload: Workload,
        ids: RunIds,
        plan: &PeersPlan,
        handoff_fraction: f64,
        numbers: &[String],
        signer: &SignatureVerifier,
    ) -> Bodies {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let sign = |customer: usize, k: usize, text: &str| {
            let number = &numbers[customer % numbers.len().max(1)];
            let body = text_webhook(number, &ids, customer, k, text, now);
            // `sha256=` and hex digits: always a valid header value.
            let signature = HeaderValue::try_from(signer.sign(&body))
                .expect("a hex signature is a valid header value");
            Signed {
                body: Bytes::from(body),
                signature,
            }
        };
        match workload {
            Workload::Storm => Bodies {
                prepare: Arc::new(Vec::new()),
                window: Arc::new(
                    (0..plan.bodies)
                        .map(|i| {
                            let (customer, k) = match plan.storm_customers {
                                Some(n) if n > 0 => (i % n, i / n),
                                _ => (i, 0),
                            };
                            let text = if chosen(i, handoff_fraction) {
                                "agent"
                            } else {
                                "hi"
                            };
                            sign(customer, k, text)
                        })
                        .collect(),
                ),
            },
            Workload::Assigned => {
                let customers = plan.assigned_customers;
                Bodies {
                    prepare: Arc::new((0..customers).map(|c| sign(c, 0, "agent")).collect()),
                    window: Arc::new(
                        (0..plan.bodies)
                            .map(|i| sign(i % customers, 1 + i / customers, "Any news?"))
                            .collect(),
                    ),
                }
            }
        }
    }
}

/// The text webhook of `customers::text_webhook` (tests/common/mod.rs), with the
/// business-scoped user id Meta sends beside the phone number today (`user_id` in the contact,
/// `from_user_id` in the message): pywa 4.5 requires it, the gateway and whatsapp-api-js read
/// it. Every value is ASCII digits or a fixed text: no escaping needed.
fn text_webhook(
    phone_number_id: &str,
    ids: &RunIds,
    customer: usize,
    k: usize,
    text: &str,
    now: u64,
) -> Vec<u8> {
    let wa_id = ids.wa_id(customer);
    let wamid = ids.wamid(customer, k);
    let bsuid = format!("US.{}{customer:015}", ids.nonce);
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"419561257915477","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"{phone_number_id}"}},"contacts":[{{"profile":{{"name":"Customer {wa_id}"}},"wa_id":"{wa_id}","user_id":"{bsuid}"}}],"messages":[{{"from":"{wa_id}","from_user_id":"{bsuid}","id":"{wamid}","timestamp":"{now}","type":"text","text":{{"body":"{text}"}}}}]}}}}]}}]}}"#
    )
    .into_bytes()
}

// ---------------------------------------------------------------------------------------------
// The firing: a closed loop of keep-alive connections, each a hyper HTTP/1.1 client connection

const SIGNATURE_HEADER: HeaderName = HeaderName::from_static("x-hub-signature-256");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Where requests go: an address, the Host header, the path.
#[derive(Clone, Debug)]
struct Endpoint {
    addr: SocketAddr,
    host: HeaderValue,
    path: Uri,
}

impl Endpoint {
    /// `POST {path}` with Host, Content-Type, the signature and (set by hyper for a `Full`
    /// body) Content-Length; the body and header values are shared, not copied.
    fn request(&self, signed: &Signed) -> hyper::Request<Full<Bytes>> {
        let mut request = hyper::Request::new(Full::new(signed.body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.path.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.host.clone());
        headers.insert(CONTENT_TYPE, APPLICATION_JSON);
        headers.insert(SIGNATURE_HEADER, signed.signature.clone());
        request
    }
}

async fn endpoint(url: &str) -> Result<Endpoint> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("{url}: only http:// targets"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let with_port = if host.contains(':') && !host.ends_with(']') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    let addr = tokio::net::lookup_host(&with_port)
        .await
        .with_context(|| format!("resolving {host}"))?
        .next()
        .with_context(|| format!("{host} resolves to nothing"))?;
    Ok(Endpoint {
        addr,
        host: HeaderValue::from_str(host).with_context(|| format!("{url}: bad host"))?,
        path: path
            .parse()
            .with_context(|| format!("{url}: bad path {path}"))?,
    })
}

/// What one firing saw.
struct Shot {
    sent: u64,
    acked: u64,
    status_503: u64,
    errors: BTreeMap<String, u64>,
    latency: Histogram<u64>,
    seconds: f64,
    exhausted: bool,
}

impl Shot {
    fn new() -> Self {
        Shot {
            sent: 0,
            acked: 0,
            status_503: 0,
            errors: BTreeMap::new(),
            latency: histogram(),
            seconds: 0.0,
            exhausted: false,
        }
    }
}

/// Fire `requests` in order over `connections` keep-alive connections (connection c to
/// endpoint c mod len), each sending its next request once the previous was answered, until
/// `window` is over (None: until the requests run out).
async fn fire(
    requests: &Arc<Vec<Signed>>,
    endpoints: &[Endpoint],
    connections: usize,
    window: Option<Duration>,
    label: &str,
    stop: &Arc<AtomicBool>,
) -> Result<Shot> {
    if endpoints.is_empty() {
        bail!("no endpoint to fire at");
    }
    let start = Instant::now();
    let shared = Arc::new(Shared {
        next: AtomicUsize::new(0),
        acked: AtomicU64::new(0),
        exhausted: AtomicBool::new(false),
        end: window.map(|w| start + w),
        stop: stop.clone(),
    });
    let done = Arc::new(AtomicBool::new(false));
    let progress = {
        let shared = shared.clone();
        let done = done.clone();
        let label = label.to_string();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(1));
            ticks.tick().await;
            let mut last = 0;
            loop {
                ticks.tick().await;
                if done.load(Ordering::Relaxed) {
                    return;
                }
                let acked = shared.acked.load(Ordering::Relaxed);
                eprintln!(
                    "[{:>5.1}s] {label}: acked {acked} ({}/s)",
                    start.elapsed().as_secs_f64(),
                    acked - last
                );
                last = acked;
            }
        })
    };
    let tasks: Vec<_> = (0..connections.max(1))
        .map(|c| {
            tokio::spawn(connection(
                requests.clone(),
                endpoints[c % endpoints.len()].clone(),
                shared.clone(),
            ))
        })
        .collect();
    let mut shot = Shot::new();
    for task in tasks {
        let part = task.await.context("a connection task panicked")?;
        shot.sent += part.sent;
        shot.acked += part.acked;
        shot.status_503 += part.status_503;
        for (k, v) in part.errors {
            *shot.errors.entry(k).or_default() += v;
        }
        let _ = shot.latency.add(&part.latency);
    }
    shot.seconds = start.elapsed().as_secs_f64();
    shot.exhausted = shared.exhausted.load(Ordering::Relaxed);
    done.store(true, Ordering::Relaxed);
    progress.abort();
    Ok(shot)
}

struct Shared {
    next: AtomicUsize,
    acked: AtomicU64,
    exhausted: AtomicBool,
    end: Option<Instant>,
    stop: Arc<AtomicBool>,
}

/// One keep-alive connection's loop.
async fn connection(requests: Arc<Vec<Signed>>, to: Endpoint, shared: Arc<Shared>) -> Shot {
    let mut shot = Shot::new();
    let mut error = |kind: String| *shot.errors.entry(kind).or_default() += 1;
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    let mut latency = histogram();
    let (mut sent, mut acked, mut status_503) = (0, 0, 0);
    loop {
        // Wait until the connection can take the next request; one the server ended after its
        // answer (`Connection: close`, or closed while idle) is replaced, not counted.
        if let Some(s) = sender.as_mut() {
            match tokio::time::timeout(REQUEST_TIMEOUT, s.ready()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => sender = None,
                Err(_) => {
                    error("timeout".into());
                    sender = None;
                }
            }
        }
        if shared.stop.load(Ordering::Relaxed) || shared.end.is_some_and(|e| Instant::now() >= e) {
            break;
        }
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        let Some(signed) = requests.get(i) else {
            shared.exhausted.store(true, Ordering::Relaxed);
            break;
        };
        if sender.is_none() {
            match connect(to.addr).await {
                Ok(s) => sender = Some(s),
                Err(_) => {
                    error("connect".into());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
        }
        let Some(s) = sender.as_mut() else {
            continue;
        };
        let request = to.request(signed);
        let began = Instant::now();
        sent += 1;
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange(s, request)).await {
            Ok(Ok(status)) => {
                if status == 200 {
                    let _ = latency.record(micros(began.elapsed()));
                    acked += 1;
                    shared.acked.fetch_add(1, Ordering::Relaxed);
                } else if status == 503 {
                    status_503 += 1;
                    error("http_503".into());
                } else {
                    error(format!("http_{status}"));
                }
            }
            Ok(Err(_)) => {
                error("transport".into());
                sender = None;
            }
            Err(_) => {
                // Dropping the unanswered request closes its connection.
                error("timeout".into());
                sender = None;
            }
        }
    }
    shot.sent = sent;
    shot.acked = acked;
    shot.status_503 = status_503;
    shot.latency = latency;
    shot
}

/// A new HTTP/1.1 connection (hyper's), its connection task spawned; it ends once the sender
/// is dropped or the server closes.
async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Its error, if any, is the pending request's (or the next `ready`'s).
        let _ = connection.await;
    });
    Ok(sender)
}

/// Send one request and read its whole response: its status.
async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: hyper::Request<Full<Bytes>>,
) -> hyper::Result<u16> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    response.into_body().collect().await?;
    Ok(status)
}

// ---------------------------------------------------------------------------------------------
// Processed counts and CPU

/// Where a target's processed messages are counted.
enum Processed {
    /// route.lua's counter in the peer's Redis.
    Redis(redis::aio::MultiplexedConnection),
    /// The gateway's store: this run's messages recorded and processed.
    Store { db: AnyPool, like: String },
    /// The gateway's `switchboard_conversation_events_total{outcome="ok"}` (no store given):
    /// every event a conversation processed, agents' actions included.
    Metrics {
        http: reqwest::Client,
        urls: Vec<String>,
    },
}

impl Processed {
    async fn read(&mut self) -> Result<u64> {
        match self {
            Processed::Redis(redis) => {
                let n: Option<u64> = redis::cmd("GET")
                    .arg(PROCESSED_KEY)
                    .query_async(redis)
                    .await
                    .context("reading the route's counter")?;
                Ok(n.unwrap_or(0))
            }
            Processed::Store { db, like } => {
                // Formatted only with this run's LIKE pattern (a numeric nonce).
                let sql = format!(
                    "SELECT COUNT(*) FROM inbound_events WHERE dedupe_key LIKE 'm:{like}' AND processed"
                );
                let n: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
                    .fetch_one(&*db)
                    .await
                    .context("counting processed events in the store")?;
                Ok(n.max(0) as u64)
            }
            Processed::Metrics { http, urls } => {
                let mut total = 0.0;
                for url in urls.iter() {
                    let text = http
                        .get(url)
                        .send()
                        .await
                        .with_context(|| format!("GET {url}"))?
                        .text()
                        .await
                        .unwrap_or_default();
                    total += conversation_events_ok(&text);
                }
                Ok(total as u64)
            }
        }
    }

    fn interval(&self) -> Duration {
        match self {
            Processed::Redis(_) => Duration::from_millis(100),
            _ => Duration::from_millis(250),
        }
    }
}

/// `switchboard_conversation_events_total{…outcome="ok"…}` of a Prometheus exposition.
fn conversation_events_ok(text: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.starts_with("switchboard_conversation_events_total{") && l.contains("outcome=\"ok\"")
        })
        .filter_map(|l| {
            l.rsplit_once(' ')
                .and_then(|(_, v)| v.trim().parse::<f64>().ok())
        })
        .sum()
}

/// Read `counter` until it reaches `expected`, stops moving for [`SETTLED`], or `until`:
/// (the last count, when it was first seen, from `start`).
async fn settle(
    counter: &mut Processed,
    start: Instant,
    expected: u64,
    until: Instant,
) -> Result<(u64, Duration)> {
    let mut last = counter.read().await?;
    let mut seen_at = start.elapsed();
    let mut moved = Instant::now();
    while last < expected && moved.elapsed() < SETTLED && Instant::now() < until {
        tokio::time::sleep(counter.interval()).await;
        let now = counter.read().await?;
        if now != last {
            last = now;
            seen_at = start.elapsed();
            moved = Instant::now();
        }
    }
    Ok((last, seen_at))
}

/// A process and all its descendants (from /proc: every process's parent).
fn process_tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // After the command's closing parenthesis: state, then the parent's pid.
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(parent) = parent {
                children.entry(parent).or_default().push(pid);
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        for &kid in children
            .get(&tree[i])
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if !tree.contains(&kid) {
                tree.push(kid);
            }
        }
        i += 1;
    }
    tree
}

/// CPU seconds of these processes so far (the ones gone are left out).
fn cpu_of(pids: &[u32]) -> f64 {
    pids.iter().filter_map(|p| gateway::cpu_seconds(*p)).sum()
}

/// SIGKILL what is left of a process tree we started (its root already stopped).
fn kill_leftovers(pids: &[u32]) {
    for pid in pids {
        if Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The targets

/// A private redis-server for one peer run: a free port, no persistence.
struct PrivateRedis {
    process: ChildProcess,
    url: String,
}

async fn start_redis(logs: &Path) -> Result<PrivateRedis> {
    let mut last = None;
    for _ in 0..5 {
        let port = gateway::free_port()?;
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"]);
        let mut process = ChildProcess::spawn(
            "redis-server",
            command,
            logs.join(format!("redis-{port}.log")),
        )
        .context("starting redis-server (is it installed? apt-get install redis-server)")?;
        let url = format!("redis://127.0.0.1:{port}/");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Err(e) = process.check_alive() {
                last = Some(e);
                break;
            }
            if let Ok(client) = redis::Client::open(url.as_str())
                && let Ok(mut con) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut con)
                    .await
                    .is_ok()
            {
                return Ok(PrivateRedis { process, url });
            }
            if Instant::now() >= deadline {
                bail!("redis-server on port {port} did not answer PING within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("redis-server did not start")))
}

/// A started target: where to fire, what to measure, and what to stop afterwards.
struct Running {
    urls: Vec<String>,
    /// The target's processes (for their CPU time).
    pids: Vec<u32>,
    /// The peer's own redis-server.
    redis: Option<PrivateRedis>,
    processed: Option<Processed>,
    processes: Vec<ChildProcess>,
    gateway: Option<crate::UnderTest>,
    agents: Option<Agents>,
}

/// The simulated agents working a Switchboard target.
struct Agents {
    stats: Arc<AgentStats>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stop everything: agents, then the processes (their whole trees), then Redis.
    async fn stop(self) {
        if let Some(agents) = self.agents {
            let _ = agents.stop.send(true);
            for task in agents.tasks {
                let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
            }
        }
        if let Some(Processed::Store { db, .. }) = self.processed {
            db.close().await;
        }
        drop(self.gateway);
        let peer = !self.processes.is_empty();
        drop(self.processes);
        if peer {
            kill_leftovers(&self.pids);
        }
        drop(self.redis);
    }
}

/// Wait until `process`'s log holds `count` lines containing `needle`.
async fn wait_log(process: &mut ChildProcess, needle: &str, count: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        process.check_alive()?;
        let log = std::fs::read_to_string(&process.log).unwrap_or_default();
        if log.matches(needle).count() >= count {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "the {} did not log {count} × {needle:?} within 60 s; its log:\n{}",
                process.name,
                process.log_tail(30)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `loadtest serve-baseline`, as `burst` starts it.
async fn start_baseline(ctx: &Ctx<'_>) -> Result<Running> {
    let (process, base) =
        crate::start_baseline_server(ctx.o.workers, &ctx.secret, &ctx.logs).await?;
    eprintln!("baseline: {base} (pid {})", process.pid());
    Ok(Running {
        urls: vec![format!("{base}{WEBHOOK_PATH}")],
        pids: vec![process.pid()],
        redis: None,
        processed: None,
        processes: vec![process],
        gateway: None,
        agents: None,
    })
}

/// A peer on its own fresh Redis: whatsapp-api-js under node:cluster, or pywa under uvicorn's
/// workers; ready once every process listens.
async fn start_peer(ctx: &Ctx<'_>, target: Target) -> Result<Running> {
    let redis = start_redis(&ctx.logs).await?;
    let port = gateway::free_port()?;
    let workers = ctx.plan.peer_processes.max(1);
    let (name, mut command, ready) = if target == Target::WhatsappApiJs {
        let mut command = Command::new("node");
        command
            .arg(ctx.cache.join("node/whatsapp-api-js-server.mjs"))
            .env("PORT", port.to_string())
            .env("WORKERS", workers.to_string())
            .env("NODE_ENV", "production");
        // The primary says so once every worker listens.
        ("whatsapp-api-js peer", command, ("listening:", 1))
    } else {
        let mut command = Command::new(venv_python(&ctx.cache));
        command
            .args(["-m", "uvicorn", "server:app", "--app-dir"])
            .arg(ctx.cache.join("pywa"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--workers", &workers.to_string(), "--no-access-log"]);
        // Each worker says so.
        (
            "pywa peer",
            command,
            ("Application startup complete", workers),
        )
    };
    command
        .env("REDIS_URL", &redis.url)
        .env("APP_SECRET", &ctx.secret)
        .env("ROUTE_LUA", ctx.cache.join("route.lua"));
    let mut process = ChildProcess::spawn(
        name,
        command,
        ctx.logs.join(format!("{}-{port}.log", target.name())),
    )?;
    // Every process listening before the first connection (else one takes them all).
    wait_log(&mut process, ready.0, ready.1).await?;
    let base = format!("http://127.0.0.1:{port}");
    process
        .wait_ready(
            &reqwest::Client::new(),
            &format!("{base}/healthz"),
            Duration::from_secs(30),
        )
        .await?;
    let pids = process_tree(process.pid());
    eprintln!(
        "{name}: {base} (pid {}, {} processes), its Redis {}",
        process.pid(),
        pids.len(),
        redis.url
    );
    let con = redis::Client::open(redis.url.as_str())?
        .get_multiplexed_async_connection()
        .await
        .context("connecting to the peer's Redis")?;
    Ok(Running {
        urls: vec![format!("{base}{WEBHOOK_PATH}")],
        pids,
        redis: Some(redis),
        processed: Some(Processed::Redis(con)),
        processes: vec![process],
        gateway: None,
        agents: None,
    })
}

/// The release gateway (as `burst` starts it, or --target) with the agents online.
async fn start_switchboard(ctx: &Ctx<'_>, workload: Workload, ids: RunIds) -> Result<Running> {
    let o = ctx.o;
    let graph_url = ctx
        .graph_url
        .clone()
        .context("the fake Graph API is not running")?;
    let (capacity, think, replies) = match workload {
        // Agents work the handoffs as in the burst.
        Workload::Storm => (
            o.capacity.unwrap_or(5),
            Duration::from_millis(o.think_ms.unwrap_or(200)),
            o.replies,
        ),
        // Agents hold their conversations through the window: no reply, no resolve.
        Workload::Assigned => (
            o.capacity
                .unwrap_or_else(|| ctx.plan.assigned_customers.div_ceil(ctx.agents).max(1) as u32),
            Duration::from_secs(o.max_seconds.max(1)),
            0,
        ),
    };
    let under = crate::gateway_under_test(o, graph_url, ctx.agents, capacity).await?;
    let stats = Arc::new(AgentStats::new());
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let tokens = (0..ctx.agents)
        .map(|i| gateway::agent_token(&o.agent_token_prefix, i))
        .collect();
    let tasks = agents::start(
        &under.bases,
        AgentPlan {
            tokens,
            go_online: true,
            think,
            replies,
            persistent: false,
        },
        stats.clone(),
        stop_rx,
    )
    .await?;
    eprintln!(
        "agents: {} online, {capacity} conversations each",
        ctx.agents
    );
    let processed = match &under.database_url {
        Some(url) => Processed::Store {
            db: crate::checks::open(url).await?,
            like: ids.wamid_like(),
        },
        None => {
            eprintln!(
                "no --database-url: processed counts switchboard_conversation_events_total \
                 (agents' actions included)"
            );
            Processed::Metrics {
                http: reqwest::Client::new(),
                urls: under.bases.iter().map(|b| format!("{b}/metrics")).collect(),
            }
        }
    };
    Ok(Running {
        urls: under.webhook_urls(),
        pids: under.pids.clone(),
        redis: None,
        processed: Some(processed),
        processes: Vec::new(),
        gateway: Some(under),
        agents: Some(Agents { stats, stop, tasks }),
    })
}

async fn run_target(
    ctx: &Ctx<'_>,
    target: Target,
    workload: Workload,
    bodies: &Bodies,
    ids: RunIds,
) -> Result<Outcome> {
    let mut running = match target {
        Target::Baseline => start_baseline(ctx).await?,
        Target::WhatsappApiJs | Target::Pywa => start_peer(ctx, target).await?,
        Target::Switchboard => start_switchboard(ctx, workload, ids).await?,
    };
    let result = measure(ctx, target, workload, bodies, &mut running).await;
    running.stop().await;
    result
}

/// Prepare (the assigned workload), fire the window, count what was processed.
async fn measure(
    ctx: &Ctx<'_>,
    target: Target,
    workload: Workload,
    bodies: &Bodies,
    running: &mut Running,
) -> Result<Outcome> {
    let o = ctx.o;
    let mut endpoints = Vec::new();
    for url in &running.urls {
        endpoints.push(endpoint(url).await?);
    }
    let label = format!("{}/{}", target.name(), workload.name());

    // The assigned customers' first message: routed, or handed to the agents.
    if !bodies.prepare.is_empty() {
        let shot = fire(
            &bodies.prepare,
            &endpoints,
            ctx.connections.min(64),
            None,
            &format!("{label} (first messages)"),
            &ctx.stop,
        )
        .await?;
        if shot.acked < bodies.prepare.len() as u64 {
            bail!(
                "only {} of the {} first messages were acknowledged ({:?})",
                shot.acked,
                bodies.prepare.len(),
                shot.errors
            );
        }
        if let Some(agents) = &running.agents {
            let waiting = Instant::now();
            let until = (waiting + Duration::from_secs(o.drain_timeout)).min(ctx.until);
            while agents.stats.assigned_customers() < bodies.prepare.len() {
                if Instant::now() >= until || ctx.stop.load(Ordering::Relaxed) {
                    bail!(
                        "only {} of {} conversations were assigned within --drain-timeout",
                        agents.stats.assigned_customers(),
                        bodies.prepare.len()
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            eprintln!(
                "{label}: {} conversations assigned to {} agents in {:.1} s",
                bodies.prepare.len(),
                ctx.agents,
                waiting.elapsed().as_secs_f64()
            );
        }
    }
    // Their processing done (and counted) before the window.
    let before = match running.processed.as_mut() {
        Some(counter) => {
            let until = (Instant::now() + Duration::from_secs(o.drain_timeout)).min(ctx.until);
            settle(counter, Instant::now(), bodies.prepare.len() as u64, until)
                .await?
                .0
        }
        None => 0,
    };
    // Let the start-up's work settle.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let redis_pid = running.redis.as_ref().map(|r| r.process.pid());
    let cpu_before = cpu_of(&running.pids);
    let redis_before = redis_pid.map(|p| cpu_of(&[p]));
    let start = Instant::now();
    let shot = fire(
        &bodies.window,
        &endpoints,
        ctx.connections,
        Some(Duration::from_secs(ctx.plan.seconds)),
        &label,
        &ctx.stop,
    )
    .await?;
    let mut outcome = Outcome {
        target: target.name().into(),
        workload: workload.name().into(),
        label: self::label(target, ctx),
        before_200: target.before_200().into(),
        requests: shot.sent,
        acknowledged: shot.acked,
        status_503: shot.status_503,
        seconds: shot.seconds,
        acks_per_second: if shot.seconds > 0.0 {
            shot.acked as f64 / shot.seconds
        } else {
            0.0
        },
        ack_latency: Summary::of(&shot.latency),
        bodies_exhausted: shot.exhausted,
        errors: shot.errors,
        ..Outcome::default()
    };
    if let Some(counter) = running.processed.as_mut() {
        let until = (Instant::now() + Duration::from_secs(o.drain_timeout)).min(ctx.until);
        let (count, at) = settle(counter, start, before + shot.acked, until).await?;
        let processed = count.saturating_sub(before);
        // At the first read after the firing at the earliest.
        let seconds = at.as_secs_f64();
        outcome.processed = Some(processed);
        outcome.processed_seconds = Some(seconds);
        outcome.processed_per_second = Some(if seconds > 0.0 {
            processed as f64 / seconds
        } else {
            0.0
        });
        outcome.unprocessed = Some(shot.acked.saturating_sub(processed));
    }
    let cpu = cpu_of(&running.pids) - cpu_before;
    outcome.conversations_assigned = running
        .agents
        .as_ref()
        .map(|a| a.stats.assigned_customers());
    let redis_cpu = redis_pid
        .zip(redis_before)
        .map(|(p, before)| cpu_of(&[p]) - before);
    outcome.cpu_seconds = Some(cpu);
    outcome.redis_cpu_seconds = redis_cpu;
    if shot.acked > 0 {
        outcome.cpu_ms_per_message =
            Some((cpu + redis_cpu.unwrap_or(0.0)) * 1000.0 / shot.acked as f64);
    }
    if shot.exhausted {
        eprintln!(
            "!! {label}: the {} signed bodies ran out after {:.1} s: raise --bodies",
            bodies.window.len(),
            shot.seconds
        );
    }
    eprintln!(
        "{label}: {} acked in {:.1} s ({:.0}/s), p50 {:.2} ms p99 {:.2} ms; processed {} ({}/s)",
        shot.acked,
        shot.seconds,
        outcome.acks_per_second,
        outcome.ack_latency.p50_ms,
        outcome.ack_latency.p99_ms,
        outcome
            .processed
            .map_or_else(|| "-".to_string(), |p| p.to_string()),
        outcome
            .processed_per_second
            .map_or_else(|| "-".to_string(), |p| format!("{p:.0}")),
    );
    if let Some(n) = outcome.conversations_assigned {
        eprintln!("{label}: {n} conversations assigned to agents");
    }
    Ok(outcome)
}

// ---------------------------------------------------------------------------------------------
// The table

/// 12345.6 → "12,346".
fn thousands(v: f64) -> String {
    let n = v.round().max(0.0) as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 && a > 0.0 => format!("{:.2}", a / b),
        _ => "-".into(),
    }
}

fn table(report: &PeersReport, plan: &PeersPlan) -> String {
    let mut out = String::new();
    let m = &report.machine;
    let _ = writeln!(
        out,
        "\n== peers ==  ({} cores, {}, Linux {}); the same pre-signed bodies, {} connections, \
         {} s per target and workload",
        m.cores, m.cpu, m.kernel, report.plan["connections"], plan.seconds
    );
    let find = |workload: &str, target: Target| {
        report
            .results
            .iter()
            .find(|r| r.workload == workload && r.target == target.name() && r.failure.is_none())
    };
    let _ = writeln!(out);
    let mut labels: Vec<(String, String)> = Vec::new();
    for r in &report.results {
        if !labels.iter().any(|(t, _)| *t == r.target) {
            labels.push((r.target.clone(), r.label.clone()));
        }
    }
    for (target, label) in &labels {
        let _ = writeln!(out, "  {target:<16} {label}");
    }
    for &workload in &plan.workloads {
        let w = workload.name();
        let what = match workload {
            Workload::Storm => match plan.storm_customers {
                Some(n) if n > 0 => format!(
                    "new-conversation storm: body i from customer i mod {}",
                    thousands(n as f64)
                ),
                _ => "new-conversation storm: every body from a new customer".to_string(),
            },
            Workload::Assigned => format!(
                "traffic to assigned conversations: {} customers, each handed to an agent first",
                thousands(plan.assigned_customers as f64)
            ),
        };
        let _ = writeln!(out, "\n  {w}: {what}");
        let _ = writeln!(
            out,
            "  {:<16} {:<36} {:>8} {:>6} {:>6} {:>8} {:>8} {:>11} {:>6} {:>8} {:>7}",
            "target",
            "before the 200",
            "acks/s",
            "×base",
            "×js",
            "p50 ms",
            "p99 ms",
            "processed/s",
            "×js",
            "cpu ms",
            "non-200"
        );
        let base = find(w, Target::Baseline).map(|r| r.acks_per_second);
        let js = find(w, Target::WhatsappApiJs);
        let js_acks = js.map(|r| r.acks_per_second);
        let js_processed = js.and_then(|r| r.processed_per_second);
        for r in report.results.iter().filter(|r| r.workload == w) {
            if let Some(why) = &r.failure {
                let _ = writeln!(out, "  {:<16} not measured: {why}", r.target);
                continue;
            }
            let non_200: u64 = r.errors.values().sum();
            let _ = writeln!(
                out,
                "  {:<16} {:<36} {:>8} {:>6} {:>6} {:>8.2} {:>8.2} {:>11} {:>6} {:>8} {:>7}",
                r.target,
                r.before_200,
                thousands(r.acks_per_second),
                ratio(r.acks_per_second, base),
                ratio(r.acks_per_second, js_acks),
                r.ack_latency.p50_ms,
                r.ack_latency.p99_ms,
                r.processed_per_second.map_or_else(|| "-".into(), thousands),
                r.processed_per_second
                    .map_or_else(|| "-".into(), |p| ratio(p, js_processed)),
                r.cpu_ms_per_message
                    .map_or_else(|| "-".into(), |c| format!("{c:.3}")),
                non_200
            );
        }
    }
    let _ = writeln!(
        out,
        "\n  ×base, ×js: ratio to the baseline's, to whatsapp-api-js's; cpu ms: CPU of the target's \
         processes (and the peer's Redis) per acknowledged message, from the first request until \
         processed stopped moving"
    );
    // The issue's table, for BENCHMARKS.md.
    let _ = writeln!(
        out,
        "\n| target | what it does before the 200 | {} |",
        plan.workloads
            .iter()
            .map(|w| match w {
                Workload::Storm => "new-conversation storm".to_string(),
                Workload::Assigned => format!(
                    "traffic to assigned conversations ({} customers)",
                    thousands(plan.assigned_customers as f64)
                ),
            })
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(out, "|---|---|{}", "---|".repeat(plan.workloads.len()));
    let mut seen = HashSet::new();
    for r in &report.results {
        if !seen.insert(r.target.clone()) {
            continue;
        }
        let cells: Vec<String> = plan
            .workloads
            .iter()
            .map(|w| {
                match report
                    .results
                    .iter()
                    .find(|x| x.target == r.target && x.workload == w.name())
                {
                    Some(x) if x.failure.is_none() => {
                        let mut cell = format!(
                            "{} acks/s (p50 {:.1} ms, p99 {:.1} ms)",
                            thousands(x.acks_per_second),
                            x.ack_latency.p50_ms,
                            x.ack_latency.p99_ms
                        );
                        if let Some(p) = x.processed_per_second {
                            let _ = write!(cell, ", {} processed/s", thousands(p));
                        }
                        if let Some(c) = x.cpu_ms_per_message {
                            let _ = write!(cell, ", {c:.2} ms CPU/msg");
                        }
                        cell
                    }
                    _ => "not measured".into(),
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            r.label,
            r.before_200,
            cells.join(" | ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_json_of_the_text_webhook_shape() {
        let ids = RunIds { nonce: 4242 };
        let body = text_webhook("106540352242922", &ids, 17, 3, "hi", 1_750_000_000);
        let v: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
        let value = &v["entry"][0]["changes"][0]["value"];
        assert_eq!(value["metadata"]["phone_number_id"], "106540352242922");
        assert_eq!(value["contacts"][0]["wa_id"], ids.wa_id(17));
        assert_eq!(value["messages"][0]["from"], ids.wa_id(17));
        assert_eq!(value["messages"][0]["id"], ids.wamid(17, 3));
        assert_eq!(
            value["contacts"][0]["user_id"],
            value["messages"][0]["from_user_id"]
        );
        assert_eq!(value["messages"][0]["text"]["body"], "hi");
    }

    #[test]
    fn thousands_and_metrics() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1234.0), "1,234");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        let text = "# HELP x\nswitchboard_conversation_events_total{outcome=\"ok\"} 12\n\
                    switchboard_conversation_events_total{outcome=\"error\"} 3\n";
        assert_eq!(conversation_events_ok(text), 12.0);
    }
}
