//! Running the built binary, and the Hydra services the tests look at.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use hydra_testkit::RedisServer;
use serde_json::Value;

/// Variables the binary reads, removed so the test's environment never leaks in.
const SCRUBBED: [&str; 7] = [
    "HYDRA_REDIS_URL",
    "HYDRA_CLI_CONFIG",
    "HYDRA_SERVICE",
    "XDG_CONFIG_HOME",
    "HOME",
    "RUST_LOG",
    "NO_COLOR",
];

/// The binary, run with a home and connections file of its own (never the real ones).
pub struct Cli {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// Asserts exit 0; returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        &self.stdout
    }

    /// Asserts exit 0 and parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        let out = self.ok();
        serde_json::from_str(out).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {out}"))
    }

    /// Asserts exit `code` and a single stderr line containing `text`.
    #[track_caller]
    pub fn fails(&self, code: i32, text: &str) {
        assert_eq!(self.code, code, "expected exit {code}: {self:#?}");
        assert!(
            self.stderr.contains(text),
            "stderr should mention {text:?}: {self:#?}"
        );
        if code == 1 {
            assert_eq!(
                self.stderr.trim_end().lines().count(),
                1,
                "one stderr line: {self:#?}"
            );
        }
    }
}

impl Cli {
    /// A binary whose Redis comes from `HYDRA_REDIS_URL={url}`.
    pub fn new(redis: &RedisServer) -> Self {
        Self::bare().env("HYDRA_REDIS_URL", &redis.url())
    }

    /// A binary with no Redis URL set anywhere.
    pub fn bare() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hydra-cli-test-")
            .tempdir()
            .expect("temp dir");
        let config = dir.path().join("hydra-cli").join("config.json");
        let home = dir.path().to_str().expect("utf-8 temp dir").to_string();
        Self {
            env: vec![
                ("HOME".into(), home),
                (
                    "HYDRA_CLI_CONFIG".into(),
                    config.to_str().expect("utf-8").into(),
                ),
            ],
            dir,
        }
    }

    /// Sets a variable for every run.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self
    }

    /// The connections file the binary uses.
    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("hydra-cli").join("config.json")
    }

    /// Writes a file in the test's directory.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write test file");
        p
    }

    /// A path in the test's directory (not created).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs the binary with `args` (killed after 15 s).
    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[]).await
    }

    /// Runs the binary with `args` and extra variables for this run only.
    pub async fn run_with(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_hydra-cli"));
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for k in SCRUBBED {
            cmd.env_remove(k);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let out = tokio::time::timeout(Duration::from_secs(15), cmd.output())
            .await
            .unwrap_or_else(|_| panic!("hydra-cli {args:?} did not finish in 15 s"))
            .expect("run hydra-cli");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: started.elapsed(),
        }
    }
}

/// A Redis URL nothing listens on.
pub fn closed_port_url() -> String {
    format!("redis://127.0.0.1:{}/15", hydra_testkit::free_port())
}

/// Every key in the test database whose name contains `text`.
pub async fn keys_containing(redis: &RedisServer, text: &str) -> Vec<String> {
    let mut conn = redis.connection().await;
    redis::cmd("KEYS")
        .arg(format!("*{text}*"))
        .query_async(&mut conn)
        .await
        .expect("KEYS")
}
