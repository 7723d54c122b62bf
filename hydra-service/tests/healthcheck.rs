//! The images' health check with nothing to write: a real service in a process of its own, the
//! check run as the images' `HEALTHCHECK` runs it (`BINARY --healthcheck`: another process, the
//! same working directory and environment), with `HYDRA_HEALTH_FILE` as an abstract socket
//! (`@NAME`) and, for those who set a path, as a file.
//!
//! Both processes are this test binary again, run with `--exact` on the test's own name and
//! [`ROLE`] set: `serve` serves a HydraService until SIGTERM, `check` exits with
//! `healthcheck::run()`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

use hydra_core::Config;
use hydra_service::HydraService;
use hydra_testkit::RedisServer;
use serde_json::json;

/// What this process is: unset for the test itself, `serve` or `check` for its children.
const ROLE: &str = "HYDRA_HEALTHCHECK_TEST_ROLE";
/// The Redis the `serve` child registers on.
const REDIS_URL: &str = "HYDRA_HEALTHCHECK_TEST_REDIS";
/// How long a request to the service's slow route takes: the drain the check is asked during.
const SLOW: Duration = Duration::from_secs(5);

/// In a child, does what its role says and exits; in the test itself, returns.
fn act_as_child() {
    match std::env::var(ROLE).as_deref() {
        Ok("check") => std::process::exit(hydra_service::healthcheck::run()),
        Ok("serve") => std::process::exit(serve()),
        _ => {}
    }
}

/// A service with a slow route, served until SIGTERM as the binaries serve: 0 when it left
/// cleanly.
fn serve() -> i32 {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config = Config::from_value(json!({"hydra": {
            "serviceName": "health-checked",
            "serviceIP": "127.0.0.1",
            "servicePort": 0,
            "metricsPort": 0,
            "redis": {"url": std::env::var(REDIS_URL).unwrap()},
        }}))
        .unwrap();
        let bound = HydraService::new(config)
            .get("/v1/health-checked/slow", || async {
                tokio::time::sleep(SLOW).await;
                "slow"
            })
            .bind()
            .await
            .unwrap();
        eprintln!("serving on {}", bound.local_addr().unwrap());
        match bound.serve(hydra_service::shutdown_signal()).await {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("serve: {e}");
                1
            }
        }
    })
}

/// This test binary again, as `role` in `dir`, with `HYDRA_HEALTH_FILE=announce`.
fn child(test: &str, role: &str, dir: &Path, announce: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .current_dir(dir)
        .env(ROLE, role)
        .env("HYDRA_HEALTH_FILE", announce)
        .env("RUST_LOG", "warn");
    cmd
}

/// The image's `HEALTHCHECK`, once.
fn check(test: &str, dir: &Path, announce: &str) -> Output {
    child(test, "check", dir, announce).output().unwrap()
}

fn healthy(out: &Output) -> bool {
    out.status.success()
}

/// Asks the check until `want` says yes (Docker asks every `--interval`); the last answer.
fn check_until(
    test: &str,
    dir: &Path,
    announce: &str,
    within: Duration,
    want: impl Fn(&Output) -> bool,
) -> Output {
    let deadline = Instant::now() + within;
    loop {
        let out = check(test, dir, announce);
        if want(&out) || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An empty directory of the test's own, the children's working directory.
fn work_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sigterm(child: &Child) {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

fn wait(child: &mut Child, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "still running after {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A GET of the slow route, in a thread: started before SIGTERM, answered during the drain.
fn slow_request(port: u16) -> std::thread::JoinHandle<String> {
    use std::io::{Read, Write};
    std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET /v1/health-checked/slow HTTP/1.0\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    })
}

/// The port the `serve` child names in its first line of stderr; the rest is passed on.
fn served_port(child: &mut Child) -> u16 {
    use std::io::{BufRead, BufReader};
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(|l| eprintln!("{l}")));
    line.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"))
}

/// The whole life of an instance as its container's health check sees it: unhealthy before it
/// serves, healthy while it does, unhealthy from the moment it starts to leave (a request still
/// draining), unhealthy once gone. `while_healthy` looks at the service's working directory
/// while it is healthy; the directory is removed at the end.
fn life_of_an_instance(test: &str, announce: &str, while_healthy: impl Fn(&Path)) {
    let redis = RedisServer::start();
    let dir = work_dir(test);

    let before = check(test, &dir, announce);
    assert!(!healthy(&before), "healthy before anything serves");
    assert!(
        stderr(&before).contains("not serving yet, or leaving"),
        "{}",
        stderr(&before)
    );

    let mut service = child(test, "serve", &dir, announce)
        .env(REDIS_URL, redis.url())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let port = served_port(&mut service);
    let serving = check_until(test, &dir, announce, Duration::from_secs(20), healthy);
    assert!(healthy(&serving), "never healthy: {}", stderr(&serving));
    while_healthy(&dir);

    let slow = slow_request(port);
    std::thread::sleep(Duration::from_millis(300));
    sigterm(&service);
    let leaving = check_until(test, &dir, announce, Duration::from_secs(2), |o| {
        !healthy(o)
    });
    assert!(!healthy(&leaving), "still healthy while leaving");
    assert!(
        service.try_wait().unwrap().is_none(),
        "the instance should still be draining the slow request: this checks withdraw(), not exit"
    );
    assert!(
        slow.join().unwrap().ends_with("slow"),
        "the drained request is answered"
    );
    assert!(wait(&mut service, Duration::from_secs(20)).success());

    let gone = check(test, &dir, announce);
    assert!(!healthy(&gone), "healthy after the instance has gone");
    assert!(
        !dir.join(announce).exists(),
        "the announcement outlived the instance"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

fn files_in(dir: &Path) -> Vec<std::ffi::OsString> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect()
}

/// As the images run it (`HYDRA_HEALTH_FILE=@hydra-health`): nothing is written while it
/// serves, in its working directory (where the value would be a relative path) or anywhere else
/// (no path is given).
#[test]
fn an_instance_announcing_on_an_abstract_socket_is_healthy_with_nothing_written() {
    act_as_child();
    let test = "an_instance_announcing_on_an_abstract_socket_is_healthy_with_nothing_written";
    // Abstract names are per network namespace; this one is the machine's, shared with any other
    // run of this test.
    let announce = format!("@hydra-health-test-{}", std::process::id());
    life_of_an_instance(test, &announce, |dir| {
        assert_eq!(
            files_in(dir),
            Vec::<std::ffi::OsString>::new(),
            "written while serving"
        );
    });
}

/// A path, for those who set one: written while serving, removed when leaving.
#[test]
fn an_instance_announcing_in_a_file_is_healthy_and_removes_it_when_leaving() {
    act_as_child();
    let test = "an_instance_announcing_in_a_file_is_healthy_and_removes_it_when_leaving";
    life_of_an_instance(test, "health", |dir| {
        let url = std::fs::read_to_string(dir.join("health")).unwrap();
        assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");
    });
}
