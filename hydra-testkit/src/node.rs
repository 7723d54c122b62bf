//! Real Node hydra peers, driven over JSON lines (see `tests/interop/README.md`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, oneshot};

/// `tests/interop`, where the Node package lives.
///
/// # Panics
/// When its `node_modules` is missing (with the command that installs it).
pub fn interop_dir() -> PathBuf {
    let dir = crate::workspace_root().join("tests/interop");
    assert!(
        dir.join("node_modules/hydra").is_dir(),
        "Node interop packages missing: run `npm ci` in {}",
        dir.display()
    );
    dir
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, String>>>>>;

/// A Node hydra process started from `tests/interop/peer.js`.
#[derive(Debug)]
pub struct NodePeer {
    child: Child,
    stdin: ChildStdin,
    pending: Pending,
    events: mpsc::UnboundedReceiver<Value>,
    next_id: u64,
    /// The `ready` event: `instanceID`, `serviceName`, `config`.
    pub ready: Value,
}

impl NodePeer {
    /// Starts `peer.js` as service `name` on `redis_url` and waits for it to be ready.
    ///
    /// # Panics
    /// When Node or the package is missing, or the peer does not get ready in 20 s.
    pub async fn start(redis_url: &str, name: &str) -> Self {
        Self::start_with(redis_url, name, &[]).await
    }

    /// As [`NodePeer::start`] with extra environment variables (`PEER_REGISTER`, `PEER_ROUTES`,
    /// `HYDRA_SERVICE` with `PEER_KEEP_HYDRA_SERVICE=1`, …).
    ///
    /// # Panics
    /// As [`NodePeer::start`].
    pub async fn start_with(redis_url: &str, name: &str, env: &[(&str, &str)]) -> Self {
        let dir = interop_dir();
        let mut cmd = Command::new("node");
        cmd.arg("peer.js")
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
            stdin,
            pending,
            events,
            next_id: 1,
            ready,
        }
    }

    /// The peer's instance id.
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

    /// The next message the peer received (its `message` events), within `timeout`.
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
    pub async fn shutdown(mut self) {
        let _ = self.call("shutdown", json!([])).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// A Node process with a `ready` line (e.g. `tests/interop/express-service.js`), killed on drop.
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
