//! The gateway as a child process (the real `switchboard` binary), for tests that kill it with
//! SIGKILL like a crash or a lost machine would, and start it again on the same data.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::{APP_SECRET, VERIFY_TOKEN};

/// A configuration directory for child processes: the repository's `base.yaml`, and an
/// environment file `test.yaml` with the tests' overrides (JSON is YAML too).
pub struct ProcessConfig {
    dir: tempfile::TempDir,
}

impl ProcessConfig {
    /// The tests' overrides (see `test_settings`), pointed at `graph_url`, on the store
    /// `database_url`, plus `extra` merged on top (objects merge, values replace).
    pub fn new(graph_url: &str, database_url: &str, extra: Value) -> ProcessConfig {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/base.yaml");
        std::fs::copy(&base, dir.path().join("base.yaml")).expect("base.yaml copied");
        let config = ProcessConfig { dir };
        config.rewrite(graph_url, database_url, extra);
        config
    }

    /// Write `test.yaml` again: the same overrides with another `extra` (a running gateway
    /// reads it at its next reload).
    pub fn rewrite(&self, graph_url: &str, database_url: &str, extra: Value) {
        let mut overlay = json!({
            "server": {"host": "127.0.0.1", "port": 0, "workers": 2},
            "database": {"url": database_url},
            "whatsapp": {
                "app_secret": APP_SECRET,
                "verify_token": VERIFY_TOKEN,
                "api_base_url": graph_url,
                "mark_as_read": false,
            },
            "conversations": {"sweep_interval_ms": 200, "sweep_grace_ms": 500},
            "outbound": {
                "initial_backoff_ms": 10, "max_backoff_ms": 100, "pair_rate_backoff_ms": 50,
                "per_recipient_burst": 50, "per_recipient_per_minute": 600,
                "messages_per_second": 1000,
            },
            "bots": {"default": {"hours": null, "apis": {"orders": format!("{graph_url}/business")}}},
            "routing": {"lookups": {"open_ticket": {
                "url": format!("{graph_url}/business/tickets?phone={{{{ contact.phone | urlencode }}}}")
            }}},
            "log": {"filter": "info", "json": true},
        });
        merge(&mut overlay, extra);
        std::fs::write(
            self.dir.path().join("test.yaml"),
            serde_json::to_string_pretty(&overlay).expect("json"),
        )
        .expect("test.yaml written");
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (k, v) in from {
                merge(into.entry(k).or_insert(Value::Null), v);
            }
        }
        (into, from) => *into = from,
    }
}

/// A running gateway process.
pub struct Node {
    child: Child,
    pub port: u16,
    pub address: String,
    /// Its log lines (JSON), for diagnostics.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Node {
    /// Start `switchboard` with `config`, plus `env` overrides (`SWITCHBOARD__…`); waits until
    /// it listens.
    pub fn start(config: &ProcessConfig, env: &[(&str, String)]) -> Node {
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        command
            .env("SWITCHBOARD_CONFIG_DIR", config.path())
            .env("SWITCHBOARD_ENVIRONMENT", "test")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("the switchboard binary starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(entry) = serde_json::from_str::<Value>(&line)
                    && entry["fields"]["message"] == "switchboard listening"
                    && let Some(port) = entry["fields"]["port"].as_u64()
                {
                    let _ = port_tx.send(port as u16);
                }
                if let Ok(mut lines) = lines.lock() {
                    lines.push(line);
                }
            }
        });
        let stderr = child.stderr.take().expect("stderr");
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut lines) = lines.lock() {
                    lines.push(line);
                }
            }
        });
        let port = match port_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                let log = log.lock().map(|l| l.join("\n")).unwrap_or_default();
                panic!("the gateway did not start listening; its output:\n{log}");
            }
        };
        Node {
            child,
            port,
            address: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// Its resident memory (`VmRSS`), in bytes.
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/<pid>/status of the gateway");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .expect("VmRSS in /proc/<pid>/status")
    }

    /// Send it `signal` (e.g. `libc::SIGHUP`).
    pub fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).expect("a pid fits an i32");
        // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "kill({pid}, {signal})");
    }

    /// Wait until its log has `n` lines containing `needle`; returns them.
    pub fn wait_log(&self, needle: &str, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let lines = self.log_lines(needle);
            if lines.len() >= n || std::time::Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no shutdown, no flush, like a crash or a lost machine.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Lines of its log containing `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        self.log
            .lock()
            .map(|l| l.iter().filter(|s| s.contains(needle)).cloned().collect())
            .unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}
