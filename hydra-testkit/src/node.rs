//! Real Node hydra peers, driven over JSON lines (see `tests/interop/README.md`).
//!
//! The peer script ships inside this crate (`node/peer.js`); the Node packages it runs on
//! (npm `hydra`) come from a folder of the user's: `$HYDRA_NODE_DIR`, else this repository's
//! `tests/interop` (after `npm ci` there).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, oneshot};

/// The environment variable naming a folder whose `node_modules` holds npm `hydra` (1.9.3; made
/// with `npm install hydra@1.9.3 hydra-express@1.9.5`), for [`NodePeer`] outside this repository.
pub const NODE_DIR_ENV: &str = "HYDRA_NODE_DIR";

/// The peer script, as shipped in this crate; it loads `hydra` from its working directory.
const PEER_SCRIPT: &str = include_str!("../node/peer.js");

/// `tests/interop`, where the Node package lives.
///
/// # Panics
/// When its `node_modules` is missing (with the command that installs it).
pub fn interop_dir() -> PathBuf {
    let dir = crate::workspace_root().join("tests/interop");
    assert!(
        has_hydra(&dir),
        "Node interop packages missing: run `npm ci` in {}",
        dir.display()
    );
    dir
}

fn has_hydra(dir: &std::path::Path) -> bool {
    dir.join("node_modules/hydra").is_dir()
}

/// The folder [`NodePeer`] runs Node hydra from: `$HYDRA_NODE_DIR` when set, else this
/// repository's `tests/interop` when its packages are installed; `None` when Node peers cannot
/// run (a test may then skip). Node itself must be on `PATH`.
///
/// ```no_run
/// # async fn test(redis: &hydra_testkit::RedisServer) {
/// if hydra_testkit::node_dir().is_none() {
///     eprintln!("skipped: set HYDRA_NODE_DIR to run it against Node hydra");
///     return;
/// }
/// let peer = hydra_testkit::NodePeer::start(&redis.url(), "node-peer").await;
/// # }
/// ```
///
/// # Panics
/// When `$HYDRA_NODE_DIR` is set but holds no `node_modules/hydra`.
pub fn node_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(NODE_DIR_ENV).filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        assert!(
            has_hydra(&dir),
            "{NODE_DIR_ENV}={}: no node_modules/hydra there; run `npm install hydra@1.9.3 \
             hydra-express@1.9.5` in it",
            dir.display()
        );
        return Some(dir);
    }
    let dir = crate::workspace_root().join("tests/interop");
    has_hydra(&dir).then_some(dir)
}

/// Where to run the peer: the folder, the script, and the temporary folder holding the script
/// when it is not the repository's (removed with the peer).
fn peer_command() -> (PathBuf, PathBuf, Option<tempfile::TempDir>) {
    let Some(dir) = node_dir() else {
        panic!(
            "Node hydra peers need the npm packages: set {NODE_DIR_ENV} to a folder where \
             `npm install hydra@1.9.3 hydra-express@1.9.5` ran (in the hydra-rs repository, \
             `npm ci` in tests/interop does it)"
        );
    };
    if std::env::var_os(NODE_DIR_ENV).is_none_or(|d| d.is_empty()) {
        return (dir.clone(), dir.join("peer.js"), None);
    }
    // The shipped script, beside a package.json whose version Node hydra takes as the
    // default serviceVersion, as it does in tests/interop.
    let tmp = tempfile::Builder::new()
        .prefix("hydra-node-peer-")
        .tempdir()
        .expect("temp dir");
    std::fs::write(tmp.path().join("peer.js"), PEER_SCRIPT).expect("write peer.js");
    std::fs::write(
        tmp.path().join("package.json"),
        r#"{"name": "hydra-testkit-peer", "version": "1.0.0", "private": true}"#,
    )
    .expect("write package.json");
    let script = tmp.path().join("peer.js");
    (dir, script, Some(tmp))
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, String>>>>>;

/// A real Node hydra process (this crate's `node/peer.js`) as an instance on a test's Redis:
/// commands call Node hydra's API ([`call`](Self::call)), and what it receives comes back as
/// events ([`next_message`](Self::next_message)). It answers `typ: "echo"` messages by itself.
/// Runs on the packages of [`node_dir`]; killed when dropped.
#[derive(Debug)]
pub struct NodePeer {
    child: Child,
    /// The folder of the shipped script, when it runs outside this repository.
    _script_dir: Option<tempfile::TempDir>,
    stdin: ChildStdin,
    pending: Pending,
    events: mpsc::UnboundedReceiver<Value>,
    next_id: u64,
    /// The `ready` event: `instanceID`, `serviceName`, `config`.
    pub ready: Value,
}

impl NodePeer {
    /// Starts a peer registered as service `name` on `redis_url` and waits for it to be ready.
    ///
    /// ```no_run
    /// # async fn test() {
    /// use hydra_testkit::{NodePeer, RedisServer};
    /// use serde_json::json;
    ///
    /// let redis = RedisServer::start();
    /// let mut peer = NodePeer::start(&redis.url(), "node-peer").await;
    /// let presence = peer.call("getServicePresence", json!(["node-peer"])).await.unwrap();
    /// assert_eq!(presence[0]["instanceID"], peer.instance_id());
    /// # }
    /// ```
    ///
    /// # Panics
    /// When Node or the packages are missing (saying to set `HYDRA_NODE_DIR`, see [`node_dir`]),
    /// or the peer does not get ready in 20 s.
    pub async fn start(redis_url: &str, name: &str) -> Self {
        Self::start_with(redis_url, name, &[]).await
    }

    /// As [`NodePeer::start`] with extra environment variables (`PEER_REGISTER`, `PEER_ROUTES`,
    /// `HYDRA_SERVICE` with `PEER_KEEP_HYDRA_SERVICE=1`, …).
    ///
    /// # Panics
    /// As [`NodePeer::start`].
    ///
    /// # Examples
    ///
    /// See [`NodePeer::start`].
    pub async fn start_with(redis_url: &str, name: &str, env: &[(&str, &str)]) -> Self {
        let (dir, script, script_dir) = peer_command();
        let mut cmd = Command::new("node");
        cmd.arg(&script)
            .current_dir(&dir)
            .env("HYDRA_REDIS_URL", redis_url)
            .env("PEER_NAME", name)
            .env_remove("HYDRA_SERVICE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("run node (is Node.js installed?)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let pending: Pending = Arc::default();
        let (tx, mut events) = mpsc::unbounded_channel();
        let routes = pending.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if let Some(id) = v.get("id").and_then(Value::as_u64) {
                    if let Some(waiter) = routes.lock().expect("pending").remove(&id) {
                        let result = if v["ok"] == json!(true) {
                            Ok(v["result"].clone())
                        } else {
                            Err(v["error"].as_str().unwrap_or("error").to_string())
                        };
                        let _ = waiter.send(result);
                    }
                } else if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let ready = loop {
            let ev = tokio::time::timeout(Duration::from_secs(20), events.recv())
                .await
                .expect("node peer ready in time")
                .expect("node peer running");
            match ev["event"].as_str() {
                Some("ready") => break ev,
                Some("fatal") => panic!("node peer failed: {ev}"),
                _ => {}
            }
        };
        Self {
            child,
            _script_dir: script_dir,
            stdin,
            pending,
            events,
            next_id: 1,
            ready,
        }
    }

    /// The peer's instance id.
    ///
    /// # Examples
    ///
    /// See [`NodePeer::start`].
    pub fn instance_id(&self) -> String {
        self.ready["instanceID"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Calls a hydra API function in the peer (`getServicePresence`, `sendMessage`, …).
    ///
    /// # Errors
    /// The peer's error text when the call rejected.
    ///
    /// # Panics
    /// When the peer does not answer in 20 s.
    ///
    /// # Examples
    ///
    /// See [`NodePeer::start`].
    pub async fn call(&mut self, cmd: &str, args: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending").insert(id, tx);
        let line = json!({"id": id, "cmd": cmd, "args": args}).to_string() + "\n";
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to node peer");
        tokio::time::timeout(Duration::from_secs(20), rx)
            .await
            .unwrap_or_else(|_| panic!("node peer answered {cmd} in time"))
            .expect("node peer alive")
    }

    /// The next message the peer received (its `message` events, in Node's short form), within
    /// `timeout`; `None` when none came.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn test(hydra: hydra_core::Hydra, mut peer: hydra_testkit::NodePeer) {
    /// use std::time::Duration;
    /// use hydra_core::Umf;
    /// use serde_json::json;
    ///
    /// // A message from the Rust service reaches the Node peer.
    /// let msg = Umf::new("node-peer:/", "rust-svc:/", json!({"note": "hi"}));
    /// hydra.send(&msg).await.unwrap();
    /// let got = peer.next_message(Duration::from_secs(5)).await.expect("a message");
    /// assert_eq!(got["bdy"]["note"], "hi");
    /// # }
    /// ```
    pub async fn next_message(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let ev = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .ok()??;
            if ev["event"] == "message" {
                return Some(ev["msg"].clone());
            }
        }
    }

    /// Asks the peer to shut hydra down and waits for it to exit.
    ///
    /// # Examples
    ///
    /// See [`NodePeer::start`].
    pub async fn shutdown(mut self) {
        let _ = self.call("shutdown", json!([])).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// A Node script of this repository's `tests/interop` with a `ready` line (e.g.
/// `express-service.js`), killed on drop. (Outside the repository, run your own Node scripts.)
#[derive(Debug)]
pub struct NodeProcess {
    child: Child,
    /// The `ready` event.
    pub ready: Value,
}

impl NodeProcess {
    /// Runs `node {script}` in `tests/interop` with `env` and waits for its `ready` line.
    ///
    /// # Panics
    /// When it does not get ready within 30 s.
    pub async fn start(script: &str, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new("node");
        cmd.arg(script)
            .current_dir(interop_dir())
            .env_remove("HYDRA_SERVICE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("run node");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if v["event"] == "ready" {
                        return v;
                    }
                }
            }
            panic!("{script} exited before it was ready");
        })
        .await
        .unwrap_or_else(|_| panic!("{script} ready in time"));
        // Keep draining stdout so the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, ready }
    }

    /// The `instanceID` of its ready line.
    pub fn instance_id(&self) -> String {
        self.ready["instanceID"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Stops it with SIGKILL.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}
