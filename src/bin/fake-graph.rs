//! Runs the fake Meta Graph API (`switchboard::fakes::graph`), with the fake business API under
//! `/business`, the fakes of the other channels' APIs on the same port (Telegram's Bot API
//! `/bot<token>/<method>`, the Messenger/Instagram Send API for the demo page and account ids,
//! X's DM API `/2/dm_conversations/...`) and the demo customer page at `/`
//! (`switchboard::fakes::demo`, every channel of the demo configuration), until Ctrl-C.
//!
//! `fake-graph [--port N] [--host ADDR] [--webhook-url URL] [--app-secret S]
//! [--phone-number-id ID] [--display-phone-number DIGITS] [--no-demo]`. Defaults: port
//! `FAKE_GRAPH_PORT`, else 9090; host 127.0.0.1; the demo gateway's webhook
//! (http://127.0.0.1:8080/webhooks/whatsapp), its app secret (`demo-app-secret`) and support
//! number (106540352242922, displayed 15550783881), each also from the environment
//! (`FAKE_GRAPH_WEBHOOK_URL`, `FAKE_GRAPH_APP_SECRET`, `FAKE_GRAPH_PHONE_NUMBER_ID`,
//! `FAKE_GRAPH_DISPLAY_PHONE_NUMBER`). The other channels' webhooks go to the same gateway
//! (the origin of the webhook URL) with config/base.yaml's demo ids and secrets. Log level
//! from `RUST_LOG` (default `info`).
//!
//! It also holds media like Meta: uploads (`POST /{version}/{phone_number_id}/media`), their
//! metadata and download URLs, and a customer's file planted with `POST /_fake/media` (the
//! file as the body) whose `{id, sha256}` go in a webhook.
//!
//! The business API's panel page (`/business/panel`, the demo's panel app) takes its context
//! from the console at the webhook URL's origin (and its `localhost`/`127.0.0.1` twin).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, bail};
use switchboard::fakes::demo::DemoConfig;
use switchboard::fakes::graph::FakeGraph;

const USAGE: &str = "usage: fake-graph [--port N] [--host ADDR] [--webhook-url URL] \
    [--app-secret S] [--phone-number-id ID] [--display-phone-number DIGITS] [--no-demo]\n\
    (env FAKE_GRAPH_PORT, FAKE_GRAPH_WEBHOOK_URL, FAKE_GRAPH_APP_SECRET, \
    FAKE_GRAPH_PHONE_NUMBER_ID, FAKE_GRAPH_DISPLAY_PHONE_NUMBER)";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let options = Options::parse(std::env::args().skip(1), |name| std::env::var(name).ok())?;
    let fake = FakeGraph::start_on(options.addr)
        .with_context(|| format!("cannot listen on {}", options.addr))?;
    if let Some(demo) = options.demo {
        let webhook_url = demo.webhook_url.clone();
        // The demo panel app takes the context from the gateway's console (its origin).
        fake.business()
            .set_panel_origins(console_origins(&webhook_url));
        fake.enable_demo(demo)?;
        tracing::info!(
            page = %format!("{}/", fake.base_url()),
            %webhook_url,
            "demo customer page: customer messages and Meta's statuses go to the webhook URL"
        );
    }
    tracing::info!(base_url = %fake.base_url(), "fake graph running; Ctrl-C to stop");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    drop(fake);
    Ok(())
}

/// The console's origins for the gateway whose webhook URL is `webhook_url`: its origin, and
/// the same with `localhost` for `127.0.0.1` (or the other way round).
fn console_origins(webhook_url: &str) -> Vec<String> {
    let Ok(url) = reqwest::Url::parse(webhook_url) else {
        return Vec::new();
    };
    let origin = url.origin().ascii_serialization();
    let twin = match url.host_str() {
        Some("127.0.0.1") => origin.replacen("127.0.0.1", "localhost", 1),
        Some("localhost") => origin.replacen("localhost", "127.0.0.1", 1),
        _ => origin.clone(),
    };
    let mut origins = vec![origin];
    if !origins.contains(&twin) {
        origins.push(twin);
    }
    origins
}

#[derive(Debug)]
struct Options {
    addr: SocketAddr,
    /// None with `--no-demo`.
    demo: Option<DemoConfig>,
}

impl Options {
    /// Flags (`--name value` or `--name=value`) over the environment (`env`) over defaults.
    fn parse(
        args: impl Iterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Options> {
        let mut port = env("FAKE_GRAPH_PORT");
        let mut host = None;
        let mut demo = DemoConfig::default();
        let mut demo_on = true;
        if let Some(v) = env("FAKE_GRAPH_WEBHOOK_URL") {
            demo.webhook_url = v;
        }
        if let Some(v) = env("FAKE_GRAPH_APP_SECRET") {
            demo.app_secret = v;
        }
        if let Some(v) = env("FAKE_GRAPH_PHONE_NUMBER_ID") {
            demo.phone_number_id = v;
        }
        if let Some(v) = env("FAKE_GRAPH_DISPLAY_PHONE_NUMBER") {
            demo.display_phone_number = v;
        }
        let mut args = args;
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (arg, None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .with_context(|| format!("{name} needs a value"))
            };
            match name.as_str() {
                "--port" => port = Some(value()?),
                "--host" => host = Some(value()?),
                "--webhook-url" => demo.webhook_url = value()?,
                "--app-secret" => demo.app_secret = value()?,
                "--phone-number-id" => demo.phone_number_id = value()?,
                "--display-phone-number" => demo.display_phone_number = value()?,
                "--no-demo" => demo_on = false,
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other} (try --help)"),
            }
        }
        let port: u16 = match port {
            Some(p) => p
                .trim()
                .parse()
                .with_context(|| format!("bad port {p:?}"))?,
            None => 9090,
        };
        let host: IpAddr = match host {
            Some(h) => h.parse().with_context(|| format!("bad host {h:?}"))?,
            None => IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        let url = demo.webhook_url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!("--webhook-url must be an http(s) URL, not {url:?}");
        }
        if demo.app_secret.is_empty() {
            bail!("--app-secret must not be empty");
        }
        for (flag, v) in [
            ("--phone-number-id", &demo.phone_number_id),
            ("--display-phone-number", &demo.display_phone_number),
        ] {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                bail!("{flag} must be digits, not {v:?}");
            }
        }
        Ok(Options {
            addr: SocketAddr::new(host, port),
            demo: demo_on.then_some(demo),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Options> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Options::parse(args.iter().map(|a| a.to_string()), |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn the_panel_app_trusts_the_gateways_console() {
        assert_eq!(
            console_origins("http://127.0.0.1:8080/webhooks/whatsapp"),
            ["http://127.0.0.1:8080", "http://localhost:8080"]
        );
        assert_eq!(
            console_origins("https://gw.example.com/webhooks/whatsapp"),
            ["https://gw.example.com"]
        );
        assert!(console_origins("not a url").is_empty());
    }

    #[test]
    fn defaults_are_the_demo_gateways() {
        let options = parse(&[], &[]).expect("defaults");
        assert_eq!(options.addr.to_string(), "127.0.0.1:9090");
        let demo = options.demo.expect("the demo is on");
        assert_eq!(demo.webhook_url, "http://127.0.0.1:8080/webhooks/whatsapp");
        assert_eq!(demo.app_secret, "demo-app-secret");
        assert_eq!(demo.phone_number_id, "106540352242922");
        assert_eq!(demo.display_phone_number, "15550783881");
    }

    #[test]
    fn flags_win_over_the_environment() {
        let options = parse(
            &[
                "--port=9191",
                "--webhook-url",
                "http://127.0.0.1:9000/webhooks/whatsapp",
                "--phone-number-id=106540352242923",
            ],
            &[
                ("FAKE_GRAPH_PORT", "9292"),
                (
                    "FAKE_GRAPH_WEBHOOK_URL",
                    "http://10.0.0.1/webhooks/whatsapp",
                ),
                ("FAKE_GRAPH_APP_SECRET", "from-env"),
            ],
        )
        .expect("parsed");
        assert_eq!(options.addr.port(), 9191);
        let demo = options.demo.expect("on");
        assert_eq!(demo.webhook_url, "http://127.0.0.1:9000/webhooks/whatsapp");
        assert_eq!(demo.app_secret, "from-env");
        assert_eq!(demo.phone_number_id, "106540352242923");
        assert!(parse(&["--no-demo"], &[]).expect("parsed").demo.is_none());
    }

    #[test]
    fn bad_flags_are_refused() {
        for args in [
            &["--webhook-url", "127.0.0.1:8080"][..],
            &["--app-secret="][..],
            &["--phone-number-id", "12a"][..],
            &["--port", "x"][..],
            &["--bogus"][..],
            &["--host"][..],
        ] {
            assert!(parse(args, &[]).is_err(), "{args:?}");
        }
    }
}
