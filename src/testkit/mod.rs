//! Real servers for tests and load tests: each starts its own process on a free port, in a
//! temporary directory, and stops it when dropped. Nothing here is used by the gateway itself.

pub mod postgres;
pub mod redis;

use std::net::TcpListener;

/// A TCP port that was free a moment ago (bind to port 0, read it, release it). A server
/// started on it may still lose a race with another process; callers retry on a new port.
pub fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}
