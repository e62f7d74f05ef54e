//! A private `redis-server` for a test: a free port, append-only persistence in a temporary
//! directory (so a stop and restart keeps the data, like a production Redis with AOF), killed
//! when dropped.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped) private Redis server.
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Start `redis-server` (from `PATH`) on a free port; waits until it answers `PING`.
    pub fn start() -> io::Result<RedisServer> {
        let dir = tempfile::tempdir()?;
        let mut last_error = None;
        for _ in 0..5 {
            let port = super::free_port()?;
            match spawn(port, dir.path()) {
                Ok(child) => {
                    return Ok(RedisServer {
                        port,
                        dir,
                        child: Some(child),
                    });
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("redis-server did not start")))
    }

    /// `redis://127.0.0.1:{port}/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the append-only file.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Kill the server at once (SIGKILL: what a crash or a lost host looks like to clients).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same port and directory; it reloads its append-only file.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.child = Some(spawn(self.port, self.dir.path())?);
        Ok(())
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(port: u16, dir: &Path) -> io::Result<Child> {
    let mut child = Command::new("redis-server")
        .args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1"])
        .args(["--save", ""])
        .args(["--appendonly", "yes"])
        .args(["--appendfsync", "everysec"])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot run redis-server (install it, e.g. apt-get install redis-server): {e}"
                ),
            )
        })?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            let mut output = String::new();
            if let Some(stdout) = child.stdout.as_mut() {
                let _ = stdout.read_to_string(&mut output);
            }
            return Err(io::Error::other(format!(
                "redis-server on port {port} exited ({status}): {}",
                output.lines().last().unwrap_or_default()
            )));
        }
        if ping(port) {
            // Nobody reads the server's log; keep its pipe from filling up.
            if let Some(stdout) = child.stdout.take() {
                std::thread::spawn(move || for _ in BufReader::new(stdout).lines() {});
            }
            return Ok(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(io::Error::other(format!(
        "redis-server on port {port} did not answer within 10 s"
    )))
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut answer = [0u8; 7];
    stream.read_exact(&mut answer).is_ok() && &answer == b"+PONG\r\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_answers_survives_a_restart_and_stops() {
        let mut server = RedisServer::start().expect("redis-server starts");
        assert!(ping(server.port()));
        server.restart().expect("restarts");
        assert!(ping(server.port()));
        server.kill();
        assert!(!ping(server.port()));
        assert!(!server.is_running());
    }
}
