//! The dashboard, opened in headless Chromium: a running service appears in the rendered page.
//! Needs Debian's `chromium` (or `CHROMIUM=/path`); `SKIP_BROWSER_TESTS=1` skips it on machines
//! without a browser.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hydra_testkit::RedisServer;
use serde_json::json;

fn chromium() -> Option<String> {
    if let Ok(p) = std::env::var("CHROMIUM") {
        return Some(p);
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            std::process::Command::new("which")
                .arg(b)
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(String::from)
}

#[tokio::test]
async fn dashboard_shows_a_running_service() {
    if std::env::var("SKIP_BROWSER_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("SKIP_BROWSER_TESTS=1: dashboard browser test skipped");
        return;
    }
    let browser = chromium().expect(
        "headless Chromium is needed (apt-get install chromium), or set SKIP_BROWSER_TESTS=1",
    );
    let redis = RedisServer::start();
    let router = router(&redis, json!({"routerToken": "dash-token"})).await;
    let svc = hello(&redis).await;
    let http = reqwest::Client::new();
    until_status(&http, &format!("{}/v1/hello/test", router.base), 200).await;

    let profile = tempfile_dir();
    let url = format!("{}/?token=dash-token", router.base);
    let started = Instant::now();
    let mut dom = String::new();
    // The page fetches the lists with JavaScript; give it a few tries on a slow machine.
    while started.elapsed() < Duration::from_secs(40) {
        let out = tokio::process::Command::new(&browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--virtual-time-budget=8000",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("--dump-dom")
            .arg(&url)
            .output()
            .await
            .expect("run chromium");
        dom = String::from_utf8_lossy(&out.stdout).into_owned();
        if dom.contains(svc.hydra().instance_id()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    std::fs::remove_dir_all(&profile).ok();
    assert!(
        dom.contains("hello-service"),
        "service listed in the rendered dashboard:\n{dom}"
    );
    assert!(
        dom.contains(svc.hydra().instance_id()),
        "instance listed in the rendered dashboard"
    );
    assert!(dom.contains("/v1/hello/test"), "routes listed");
}

fn tempfile_dir() -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!(
        "hydra-dash-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}
