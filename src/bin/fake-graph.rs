//! Runs the fake Meta Graph API (`switchboard::fakes::graph`), with the fake business API under
//! `/business`, until Ctrl-C.
//!
//! `fake-graph [--port N] [--host ADDR]`; the port defaults to `FAKE_GRAPH_PORT`, else 9090,
//! the host to 127.0.0.1. Log level from `RUST_LOG` (default `info`).
//!
//! It also holds media like Meta: uploads (`POST /{version}/{phone_number_id}/media`), their
//! metadata and download URLs, and a customer's file planted with `POST /_fake/media` (the
//! file as the body) whose `{id, sha256}` go in a webhook.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, bail};
use switchboard::fakes::graph::FakeGraph;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let addr = listen_addr(
        std::env::args().skip(1),
        std::env::var("FAKE_GRAPH_PORT").ok(),
    )?;
    let fake = FakeGraph::start_on(addr).with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(base_url = %fake.base_url(), "fake graph running; Ctrl-C to stop");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    drop(fake);
    Ok(())
}

/// `--port N` / `--port=N` / `--host ADDR`, falling back to `env_port`, then 9090.
fn listen_addr(
    args: impl Iterator<Item = String>,
    env_port: Option<String>,
) -> anyhow::Result<SocketAddr> {
    let mut port = env_port;
    let mut host = None;
    let mut args = args;
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (arg, None),
        };
        let mut value = || inline.clone().or_else(|| args.next());
        match name.as_str() {
            "--port" => port = Some(value().context("--port needs a value")?),
            "--host" => host = Some(value().context("--host needs a value")?),
            "-h" | "--help" => {
                println!("usage: fake-graph [--port N] [--host ADDR]  (env FAKE_GRAPH_PORT)");
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
    Ok(SocketAddr::new(host, port))
}
