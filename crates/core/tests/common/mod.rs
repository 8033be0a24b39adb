//! Finds a real Redis for the integration tests: `REDIS_URL` when set (`npm test` sets it
//! for each server it tests against); else, with `REDIS_CONTAINER_IMAGE` set, a container
//! of that image started with the `testcontainers` crate (host network, 127.0.0.1 on a free
//! port, removed when the test binary exits); otherwise a server spawned on a free loopback
//! port for this test binary: the binary `REDIS_SERVER_BIN` names, or `redis-server` on
//! PATH. Without any of these the tests fail, saying how to get one.

#![allow(dead_code)] // each test binary uses its own part of these helpers

use std::collections::HashMap;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use session_store_core::config::StoreConfigBuilder;
use session_store_core::input::{Binding, IssueInput, RotateInput};
use session_store_core::{SessionStore, StoreConfig, StoreError};

pub mod strategies;

static URL: OnceLock<String> = OnceLock::new();

pub fn redis_url() -> String {
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("REDIS_URL") {
            return url;
        }
        if let Ok(image) = std::env::var("REDIS_CONTAINER_IMAGE") {
            return start_container(&image).unwrap_or_else(|e| panic!("no container of {image} for the tests: {e}"));
        }
        if let Some(url) = spawn_redis_server() {
            return url;
        }
        panic!(
            "no Redis for the tests: set REDIS_URL, or install redis-server \
             (Debian: apt-get install -y redis-server), or name a server binary in REDIS_SERVER_BIN"
        )
    })
    .clone()
}

fn server_binary() -> String {
    std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".to_string())
}

fn spawn_redis_server() -> Option<String> {
    Command::new(server_binary()).arg("--version").stdout(Stdio::null()).status().ok()?;
    let port = TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
    // The server is spawned from a thread that lives as long as the test binary, and
    // asks the kernel to kill it when that thread (so the binary) goes away.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut command = Command::new(server_binary());
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null());
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command.spawn();
        let _ = tx.send(child.is_ok());
        loop {
            std::thread::park();
        }
    });
    if !rx.recv().ok()? {
        return None;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(format!("redis://127.0.0.1:{port}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Asks the container's thread to remove it, and waits for that: run at exit, which the
/// test harness reaches whether tests passed or failed.
static REMOVE_CONTAINER: OnceLock<(std::sync::mpsc::Sender<()>, std::sync::Mutex<std::sync::mpsc::Receiver<()>>)> =
    OnceLock::new();

extern "C" fn remove_container_at_exit() {
    if let Some((remove, removed)) = REMOVE_CONTAINER.get() {
        if remove.send(()).is_ok() {
            let _ = removed.lock().map(|r| r.recv_timeout(Duration::from_secs(20)));
        }
    }
}

/// A server container of `image` on a free loopback port, in the host's network namespace,
/// with the arguments of a spawned server and the label of this run (`RSS_CONTAINER_RUN`,
/// which lets the harness find anything left behind). Its own thread and runtime own it, as
/// the tests' runtimes come and go.
fn start_container(image: &str) -> Result<String, String> {
    use testcontainers::core::WaitFor;
    use testcontainers::runners::AsyncRunner;
    use testcontainers::{GenericImage, ImageExt};

    let (name, tag) = match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    };
    let kind = std::env::var("REDIS_SERVER_KIND").unwrap_or_default();
    let program = if kind.starts_with("valkey") { "valkey-server" } else { "redis-server" };
    let port =
        TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?.local_addr().map_err(|e| e.to_string())?.port();
    let run = std::env::var("RSS_CONTAINER_RUN").unwrap_or_else(|_| format!("pid-{}", std::process::id()));
    let request = GenericImage::new(name, tag)
        .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
        .with_network("host")
        .with_label("redis-session-store.test-run", run)
        .with_startup_timeout(Duration::from_secs(30))
        .with_cmd([
            program,
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/data",
        ]);

    let (started_tx, started_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let (remove_tx, remove_rx) = std::sync::mpsc::channel::<()>();
    let (removed_tx, removed_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => return drop(started_tx.send(Err(e.to_string()))),
        };
        runtime.block_on(async move {
            let container = match request.start().await {
                Ok(container) => container,
                Err(e) => return drop(started_tx.send(Err(e.to_string()))),
            };
            let _ = started_tx.send(Ok(()));
            let _ = tokio::task::spawn_blocking(move || remove_rx.recv()).await;
            let _ = container.rm().await;
            let _ = removed_tx.send(());
        });
    });
    started_rx.recv().map_err(|e| e.to_string())??;
    if REMOVE_CONTAINER.set((remove_tx, std::sync::Mutex::new(removed_rx))).is_ok() {
        // SAFETY: registers a plain function with no arguments, called once at exit.
        unsafe { libc::atexit(remove_container_at_exit) };
    }
    Ok(format!("redis://127.0.0.1:{port}"))
}

/// A unique key prefix per test, so tests can share one server and run in parallel.
pub fn unique_prefix(test: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("t{}:{test}:{n}", std::process::id())
}

/// Whether the tests run against a Redis Cluster (`REDIS_TOPOLOGY=cluster`, with
/// `REDIS_URL` naming one of its nodes): stores then use the cluster key layout.
pub fn is_cluster() -> bool {
    std::env::var("REDIS_TOPOLOGY").is_ok_and(|t| t == "cluster")
}

/// The tests' configuration: this run's server and topology, `prefix`, 30 days of
/// lifetime; more options go on the builder.
pub fn config(prefix: &str) -> StoreConfigBuilder {
    let builder = StoreConfig::builder(&redis_url()).prefix(prefix).abs_ttl_seconds(30 * 24 * 3600);
    if is_cluster() {
        builder.cluster()
    } else {
        builder
    }
}

pub fn store(test: &str) -> (SessionStore, String) {
    let prefix = unique_prefix(test);
    (SessionStore::new(config(&prefix).build().expect("valid test config")), prefix)
}

/// A fresh store holding one session of user "u", issued without a binding.
pub struct OneSession {
    pub store: SessionStore,
    pub prefix: String,
    /// When the session was issued.
    pub at: u64,
    pub rid: String,
}

/// A fresh store for `test` with one session of user "u", issued now to last `ttl` seconds.
pub async fn store_with_one_session(test: &str, ttl: u64) -> OneSession {
    let (store, prefix) = store(test);
    let at = now();
    let rid = issue(&store, "u", at, Binding::default(), Some(ttl)).await;
    OneSession { store, prefix, at, rid }
}

/// A plain connection for looking at what the store wrote (a cluster connection, which
/// routes each command by its key, when the tests run against a cluster).
pub async fn redis() -> Raw {
    if is_cluster() {
        let client = redis::cluster::ClusterClient::new(vec![redis_url()]).unwrap();
        Raw::Cluster(client.get_async_connection().await.unwrap())
    } else {
        Raw::Single(redis::Client::open(redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap())
    }
}

pub enum Raw {
    Single(redis::aio::MultiplexedConnection),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for Raw {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Raw::Single(c) => c.req_packed_command(cmd),
            Raw::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Raw::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Raw::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// A hand-made rid named `name` for a session of `user_id`, in the store's layout (the
/// cluster layout routes a rid by the user's tag in front of it).
pub fn rid_named(store: &SessionStore, user_id: &str, name: &str) -> String {
    if store.layout().is_cluster() {
        format!("{}.{name}", session_store_core::keys::user_tag(user_id))
    } else {
        name.to_string()
    }
}

/// A key's expiry time in epoch seconds as EXPIRETIME gives it (-1 without expiry, -2 when
/// the key is missing), on every supported server: EXPIRETIME needs Redis 7, so it is read
/// as the server's clock plus PTTL, rounded as EXPIRETIME rounds. Exact for the
/// whole-second expiries the store sets (the two replies are microseconds apart).
pub async fn expire_time(r: &mut Raw, key: &str) -> i64 {
    let ((seconds, micros), pttl): ((i64, i64), i64) =
        redis::pipe().cmd("TIME").cmd("PTTL").arg(key).query_async(r).await.unwrap();
    if pttl < 0 {
        return pttl;
    }
    (seconds * 1000 + micros / 1000 + pttl + 500) / 1000
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A session's binding values.
pub fn bind(device: &str, ua: &str, ip: &str) -> Binding {
    Binding { device_id: device.into(), ua_hash: ua.into(), ip_hash: ip.into() }
}

/// Issues a first session; its rid.
pub async fn issue(s: &SessionStore, user: &str, at: u64, b: Binding, ttl: Option<u64>) -> String {
    s.issue_initial(IssueInput { user_id: user.into(), now: at, binding: b, abs_ttl_seconds: ttl }).await.unwrap().rid
}

/// Rotates `rid`; the child's rid.
pub async fn rotate(s: &SessionStore, rid: &str, at: u64, b: Binding) -> Result<String, StoreError> {
    s.verify_and_rotate_refresh(RotateInput { rid: rid.into(), now: at, binding: b }).await.map(|r| r.new_rid.rid)
}

/// A session's hash (empty when it is gone).
pub async fn hash(s: &SessionStore, rid: &str) -> HashMap<String, String> {
    s.get_rid(rid).await.unwrap().map(|h| h.into_iter().collect()).unwrap_or_default()
}
