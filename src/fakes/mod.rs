//! Fake external services, real HTTP servers: Meta's Graph API, a business API and a Web Push
//! service, the Telegram Bot API, the Messenger Send API and X's DM API. Used by the integration
//! tests, the load test and the README demo
//! (`cargo run --release --bin fake-graph`: the Graph fake with the other three mounted on its
//! port, whose demo page plays a customer on any of them).

pub mod business;
pub mod demo;
pub mod graph;
pub mod messenger;
pub mod push;
pub mod statuses;
pub mod telegram;
pub mod x;

use std::io;
use std::net::TcpListener;

use actix_web::{App, HttpServer, dev::ServerHandle, web};

/// Run a fake's HTTP server on its own thread and actix system, on `listener` (already bound,
/// non-blocking), with `workers` workers and the routes `configure` sets up. Returns once it
/// listens: its handle (to stop it) and its thread (to join).
pub(crate) fn serve_on_thread(
    name: &str,
    listener: TcpListener,
    workers: usize,
    configure: impl Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
) -> io::Result<(ServerHandle, std::thread::JoinHandle<()>)> {
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let label = name.to_string();
    let thread = std::thread::Builder::new()
        .name(format!("{name}-{port}"))
        .spawn(move || {
            let system = actix_rt::System::new();
            let result = system.block_on(async move {
                let server = HttpServer::new(move || App::new().configure(configure.clone()))
                    .workers(workers)
                    .disable_signals()
                    .shutdown_timeout(1)
                    .listen(listener);
                match server {
                    Ok(server) => {
                        let server = server.run();
                        let _ = ready_tx.send(Ok(server.handle()));
                        server.await
                    }
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                        Ok(())
                    }
                }
            });
            if let Err(err) = result {
                tracing::error!(error = %err, fake = %label, "fake server stopped with an error");
            }
        })?;
    let server = ready_rx
        .recv()
        .map_err(|_| io::Error::other(format!("{name} thread exited before starting")))??;
    Ok((server, thread))
}
