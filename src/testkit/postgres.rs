//! PostgreSQL for tests.
//!
//! - [`TestDatabase`]: a fresh database with a unique name, dropped when the value is dropped.
//!   It lives on the server named by `SWITCHBOARD_TEST_POSTGRES_URL` when that is set (CI sets
//!   it when a server answers on 127.0.0.1:5432), else on one private [`PgServer`] this process
//!   starts the first time it needs one and stops when it exits.
//! - [`PgServer`]: a private PostgreSQL cluster (initdb into a temporary directory, a free
//!   port, its own unix socket directory, fsync on) that a test can stop and start again on the
//!   same port and data, as a restarted database server looks to the gateway. Killed when
//!   dropped. initdb and postgres refuse to run as root: as root they run as the `postgres`
//!   user. The binaries are found on `PATH`, else with `pg_config --bindir`, else in Debian's
//!   `/usr/lib/postgresql/<version>/bin` (or `SWITCHBOARD_PG_BINDIR` names the directory).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection};

/// The server tests create their databases on, when set: `postgres://user@host:port/db`.
pub const TEST_URL_ENV: &str = "SWITCHBOARD_TEST_POSTGRES_URL";
/// The directory holding `initdb` and `postgres`, when they are elsewhere.
pub const BINDIR_ENV: &str = "SWITCHBOARD_PG_BINDIR";

/// How long a server may take to accept connections, or to shut down.
const SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// A fresh, empty database for one test, dropped (connections and all) when this is dropped.
pub struct TestDatabase {
    url: String,
    name: String,
    admin: PgConnectOptions,
}

impl TestDatabase {
    /// A new database on the server of `SWITCHBOARD_TEST_POSTGRES_URL`, or on this process's
    /// private server (started on first use).
    pub async fn create() -> anyhow::Result<TestDatabase> {
        let server = match std::env::var(TEST_URL_ENV) {
            Ok(url) if !url.trim().is_empty() => url.trim().to_string(),
            _ => shared_server_url()?,
        };
        Self::create_on(&server).await
    }

    /// A new database on the server `server_url` points at (any database of it).
    pub async fn create_on(server_url: &str) -> anyhow::Result<TestDatabase> {
        let admin = PgConnectOptions::from_str(server_url)
            .context("a PostgreSQL URL (postgres://user@host:port/database)")?;
        let name = format!("switchboard_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = PgConnection::connect_with(&admin)
            .await
            .context("connecting to the test PostgreSQL server")?;
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        let _ = conn.close().await;
        Ok(TestDatabase {
            url: with_database(server_url, &name),
            name,
            admin,
        })
    }

    /// `postgres://…/{name}`: the URL for `database.url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop cannot await, and may run inside a runtime: drop the database from a thread of
        // its own with a runtime of its own, and wait for it.
        let admin = self.admin.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = tokio::time::timeout(
                    Duration::from_secs(10),
                    PgConnection::connect_with(&admin),
                )
                .await
                .context("timed out")??;
                // FORCE: a test that failed may have left its store's connections open.
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await?;
                let _ = conn.close().await;
                Ok(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: test database {} not dropped: {e:#}", self.name),
            Err(_) => eprintln!("warning: test database {} not dropped", self.name),
        }
    }
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{name}?{query}"),
        None => format!("{root}/{name}"),
    }
}

/// This process's private server, shared by its `TestDatabase`s: started once, stopped (and
/// its directory removed) when the process exits.
static SHARED_SERVER: Mutex<Option<PgServer>> = Mutex::new(None);
static SHARED_URL: OnceLock<Result<String, String>> = OnceLock::new();

fn shared_server_url() -> anyhow::Result<String> {
    SHARED_URL
        .get_or_init(|| {
            let server = PgServer::new().map_err(|e| format!("{e}"))?;
            let url = server.url();
            match SHARED_SERVER.lock() {
                Ok(mut shared) => *shared = Some(server),
                Err(poisoned) => *poisoned.into_inner() = Some(server),
            }
            // SAFETY: registers a plain function without arguments; it runs at exit.
            unsafe {
                libc::atexit(stop_shared_server);
            }
            Ok(url)
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("no PostgreSQL for tests ({TEST_URL_ENV} unset): {e}"))
}

extern "C" fn stop_shared_server() {
    // Never block or panic at exit: if the lock is busy, the server dies with us anyway
    // (see `spawn_kept`).
    if let Ok(mut shared) = SHARED_SERVER.try_lock() {
        drop(shared.take());
    }
}

/// A private PostgreSQL server: its own cluster in a temporary directory, on a free port.
pub struct PgServer {
    port: u16,
    dir: tempfile::TempDir,
    bindir: PathBuf,
    /// The user and group it runs as, when we are root.
    user: Option<(u32, u32)>,
    child: Option<Child>,
}

impl PgServer {
    /// initdb a new cluster and start it; returns once it accepts connections.
    pub fn new() -> io::Result<PgServer> {
        let bindir = bindir()?;
        let user = postgres_user()?;
        let dir = tempfile::Builder::new()
            .prefix("switchboard-pg")
            .tempdir()?;
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
        }
        let sockets = dir.path().join("sockets");
        fs::create_dir(&sockets)?;
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&sockets, Some(uid), Some(gid))?;
        }
        let mut initdb = Command::new(bindir.join("initdb"));
        initdb
            .arg("-D")
            .arg(dir.path().join("data"))
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"])
            // The server runs with fsync on; initdb's own final flush of the template files
            // only matters if this machine crashes, when a test cluster is lost anyway.
            .arg("--no-sync")
            .current_dir(dir.path())
            .stdin(Stdio::null());
        as_user(&mut initdb, user);
        let output = initdb.output().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run {}: {e}", bindir.join("initdb").display()),
            )
        })?;
        if !output.status.success() {
            return Err(io::Error::other(format!(
                "initdb failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let mut server = PgServer {
            port: 0,
            dir,
            bindir,
            user,
            child: None,
        };
        let mut last_error = None;
        for _ in 0..5 {
            server.port = super::free_port()?;
            match server.start() {
                Ok(()) => return Ok(server),
                // Most likely someone took the port in between: try another.
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("postgres did not start")))
    }

    /// `postgres://postgres@127.0.0.1:{port}/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Start the server (again) on its port and data directory; returns once it accepts
    /// connections. Does nothing if it is running.
    pub fn start(&mut self) -> io::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let log_path = self.dir.path().join("postgres.log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let log_start = log.metadata()?.len();
        let mut postgres = Command::new(self.bindir.join("postgres"));
        postgres
            .arg("-D")
            .arg(self.data_dir())
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(self.dir.path().join("sockets"))
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=on"])
            .args(["-c", "synchronous_commit=on"])
            .args(["-c", "max_connections=200"])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        as_user(&mut postgres, self.user);
        let mut child = spawn_kept(postgres)?;
        let deadline = Instant::now() + SERVER_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!(
                    "postgres on port {} exited ({status}): {}",
                    self.port,
                    log_tail(&log_path, log_start)
                )));
            }
            if self.ready() {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                signal(&child, libc::SIGKILL);
                let _ = child.wait();
                return Err(io::Error::other(format!(
                    "postgres on port {} not ready within {SERVER_TIMEOUT:?}: {}",
                    self.port,
                    log_tail(&log_path, log_start)
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Fast shutdown (what `pg_ctl stop` does): open transactions are rolled back, clients
    /// are disconnected, a checkpoint is written. Returns once the server has exited.
    pub fn stop(&mut self) -> io::Result<()> {
        self.shut_down(libc::SIGINT)
    }

    /// Immediate shutdown, like a crash: no checkpoint; the next start recovers from the WAL.
    pub fn kill(&mut self) {
        if let Err(e) = self.shut_down(libc::SIGQUIT) {
            eprintln!("warning: private postgres on port {}: {e}", self.port);
        }
    }

    fn shut_down(&mut self, how: libc::c_int) -> io::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        signal(&child, how);
        let deadline = Instant::now() + SERVER_TIMEOUT;
        while child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                signal(&child, libc::SIGKILL);
                child.wait()?;
                return Err(io::Error::other(
                    "postgres did not shut down in time: killed",
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// The postmaster says it is ready in its pid file (as `pg_ctl` checks).
    fn ready(&self) -> bool {
        fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .map(|pid_file| pid_file.lines().nth(7).map(str::trim) == Some("ready"))
            .unwrap_or(false)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn signal(child: &Child, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) on our own child's pid; no memory is touched.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Run `command` as `user` (uid, gid), without root's supplementary groups.
fn as_user(command: &mut Command, user: Option<(u32, u32)>) {
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid);
    }
}

/// Spawn `command` so that it gets SIGQUIT (postgres: immediate shutdown) when this process
/// dies, even by SIGKILL, when no destructor runs. The kernel sends it when the *thread* that
/// spawned the child ends, so children are spawned by one thread that lives as long as the
/// process.
fn spawn_kept(mut command: Command) -> io::Result<Child> {
    type Request = (Command, mpsc::Sender<io::Result<Child>>);
    static KEEPER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2), which
    // is async-signal-safe. It runs after the switch to the postgres user, which would
    // otherwise clear the setting.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        let spawned = std::thread::Builder::new()
            .name("pg-keeper".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
                // Never end: the children are tied to this thread.
                loop {
                    std::thread::park();
                }
            });
        if let Err(e) = spawned {
            eprintln!("warning: no keeper thread for postgres: {e}");
        }
        Mutex::new(tx)
    });
    let (reply, spawned) = mpsc::channel();
    let sent = keeper
        .lock()
        .map_err(|_| io::Error::other("keeper lock poisoned"))?
        .send((command, reply));
    if let Err(mpsc::SendError((mut command, _))) = sent {
        return command.spawn();
    }
    spawned
        .recv()
        .map_err(|_| io::Error::other("the keeper thread is gone"))?
}

/// Where `initdb` and `postgres` are.
fn bindir() -> io::Result<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os(BINDIR_ENV) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_both(&dir) {
                return Ok(dir);
            }
        }
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if has_both(&dir) {
            return Ok(dir);
        }
    }
    // Debian and Ubuntu keep the server binaries out of PATH.
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_both(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "PostgreSQL server binaries (initdb, postgres) not found on PATH, by pg_config \
                 or in /usr/lib/postgresql; install them (apt-get install postgresql) or set \
                 {BINDIR_ENV}, or point {TEST_URL_ENV} at a running server"
            ),
        )
    })
}

/// As root, the `postgres` user's uid and gid (initdb and postgres refuse to run as root).
fn postgres_user() -> io::Result<Option<(u32, u32)>> {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let id = |flag: &str| -> io::Result<u32> {
        let output = Command::new("id").args([flag, "postgres"]).output()?;
        if !output.status.success() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "running as root, and there is no postgres user to run PostgreSQL as \
                 (installing the postgresql package creates it)",
            ));
        }
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .map_err(|e| io::Error::other(format!("id {flag} postgres: {e}")))
    };
    Ok(Some((id("-u")?, id("-g")?)))
}

/// The last lines the server logged since `from`.
fn log_tail(path: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path)
        && file.seek(SeekFrom::Start(from)).is_ok()
    {
        let _ = file.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_new_database() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgresql://u:p@db:5432?sslmode=disable", "t1"),
            "postgresql://u:p@db:5432/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://localhost/x?host=/run/pg", "t1"),
            "postgres://localhost/t1?host=/run/pg"
        );
    }

    /// A private server starts, accepts connections, survives a stop and a start with its data,
    /// and is gone when dropped. Prints how long the first start took.
    #[tokio::test]
    async fn a_private_server_starts_stops_and_starts_again_with_its_data() {
        let started = Instant::now();
        let mut server = PgServer::new().expect("a private PostgreSQL starts");
        eprintln!(
            "private PostgreSQL (initdb + start) ready in {:?}",
            started.elapsed()
        );
        let url = server.url();
        let mut conn = PgConnection::connect(&url).await.expect("connects");
        sqlx::raw_sql("CREATE TABLE kept (n INT); INSERT INTO kept VALUES (7)")
            .execute(&mut conn)
            .await
            .expect("writes");
        server.stop().expect("stops");
        assert!(!server.is_running());
        assert!(
            sqlx::raw_sql("SELECT 1").execute(&mut conn).await.is_err(),
            "a stopped server serves nobody"
        );
        assert!(PgConnection::connect(&url).await.is_err());
        let restarted = Instant::now();
        server.start().expect("starts again");
        eprintln!("private PostgreSQL restarted in {:?}", restarted.elapsed());
        let mut conn = PgConnection::connect(&url).await.expect("connects again");
        let n: i32 = sqlx::query_scalar("SELECT n FROM kept")
            .fetch_one(&mut conn)
            .await
            .expect("the data survived");
        assert_eq!(n, 7);
        let _ = conn.close().await;
        let dir = server.data_dir();
        drop(server);
        assert!(!dir.exists(), "the cluster's directory is removed");
        assert!(PgConnection::connect(&url).await.is_err());
    }

    #[tokio::test]
    async fn a_test_database_is_fresh_and_dropped_afterwards() {
        let db = TestDatabase::create().await.expect("a test database");
        let mut conn = PgConnection::connect(db.url()).await.expect("connects");
        let name: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&mut conn)
            .await
            .expect("query");
        assert_eq!(name, db.name());
        let _ = conn.close().await;
        let admin = db.admin.clone();
        let name = db.name().to_string();
        drop(db);
        let mut conn = PgConnection::connect_with(&admin).await.expect("connects");
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_one(&mut conn)
            .await
            .expect("query");
        assert_eq!(left, 0, "dropped");
    }
}
