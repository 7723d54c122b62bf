//! The dashboard, opened in headless Chromium: a running service appears in the rendered page,
//! and under traffic its charts (request rate, 5xx share, p99) have points and its instance shows
//! as healthy (ejected once the router ejects it). Needs Debian's `chromium` (or
//! `CHROMIUM=/path`); `SKIP_BROWSER_TESTS=1` skips it on machines without a browser.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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

/// The attributes of every element of `dom` that has attribute `attr` (a parser for the page's
/// own markup: `name="value"` pairs).
fn elements_with(dom: &str, attr: &str) -> Vec<BTreeMap<String, String>> {
    dom.split('<')
        .filter_map(|piece| piece.split_once('>').map(|(tag, _)| tag))
        .filter(|tag| tag.contains(&format!(" {attr}=\"")))
        .map(|tag| {
            let mut attrs = BTreeMap::new();
            let mut rest = tag;
            while let Some((name, after)) = rest.split_once("=\"") {
                let Some((value, tail)) = after.split_once('"') else {
                    break;
                };
                let name = name.rsplit(' ').next().unwrap_or(name).trim();
                attrs.insert(name.to_string(), value.to_string());
                rest = tail;
            }
            attrs
        })
        .collect()
}

/// The chart of `kind` for `service` in `dom`, when there is one.
fn chart(dom: &str, kind: &str, service: &str) -> Option<BTreeMap<String, String>> {
    elements_with(dom, "data-chart").into_iter().find(|a| {
        a["data-chart"] == kind && a.get("data-service").map(String::as_str) == Some(service)
    })
}

fn number(attrs: &BTreeMap<String, String>, name: &str) -> f64 {
    attrs
        .get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} is a number in {attrs:?}"))
}

/// Whether every chart of `service` has points and its p99 a value.
fn charts_drawn(dom: &str, service: &str) -> bool {
    ["rate", "errors", "p99"].iter().all(|k| {
        chart(dom, k, service).is_some_and(|a| a.get("data-points").is_some_and(|p| p != "0"))
    })
}

/// Runs headless Chromium on `url` and returns the page as rendered, after its scripts ran.
async fn render(browser: &str, profile: &std::path::Path, url: &str) -> String {
    let out = tokio::process::Command::new(browser)
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
        .arg(url)
        .output()
        .await
        .expect("run chromium");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn dashboard_shows_a_running_service_and_charts_its_traffic() {
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

    // Traffic all along, one request every 20 ms.
    let traffic = Arc::new(AtomicBool::new(true));
    let sender = {
        let (http, url, on) = (
            http.clone(),
            format!("{}/v1/hello/test", router.base),
            traffic.clone(),
        );
        tokio::spawn(async move {
            while on.load(Ordering::Relaxed) {
                let _ = http.get(&url).send().await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    // The history endpoint: behind the token like the others.
    let history_url = format!("{}/v1/router/history", router.base);
    let refused = http.get(&history_url).send().await.unwrap();
    assert_eq!(refused.status(), 404, "no token, no history");
    let h = get_json(&http, format!("{history_url}?token=dash-token")).await;
    let hello_history = h["result"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "hello-service")
        .unwrap_or_else(|| panic!("hello-service in the history: {h}"))
        .clone();
    assert_eq!(h["result"]["slotSeconds"], 5);
    let points = hello_history["points"].as_array().unwrap();
    assert!(
        points
            .iter()
            .any(|p| p["requests"].as_u64() > Some(0) && p["p99Ms"].as_f64() > Some(0.0)),
        "requests and a p99 in the history: {hello_history}"
    );
    assert_eq!(hello_history["healthy"], 1, "{hello_history}");
    assert_eq!(
        hello_history["instances"][0]["id"],
        svc.hydra().instance_id(),
        "{hello_history}"
    );

    let profile = tempfile_dir();
    let url = format!("{}/?token=dash-token", router.base);
    let started = Instant::now();
    let mut dom = String::new();
    // The page fetches the lists with JavaScript; give it a few tries on a slow machine.
    while started.elapsed() < Duration::from_secs(40) {
        dom = render(&browser, &profile, &url).await;
        if dom.contains(svc.hydra().instance_id()) && charts_drawn(&dom, "hello-service") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    traffic.store(false, Ordering::Relaxed);
    sender.await.unwrap();
    assert!(
        dom.contains("hello-service"),
        "service listed in the rendered dashboard:\n{dom}"
    );
    assert!(
        dom.contains(svc.hydra().instance_id()),
        "instance listed in the rendered dashboard"
    );
    assert!(dom.contains("/v1/hello/test"), "routes listed");

    // The charts of hello-service, under traffic.
    for kind in ["rate", "errors", "p99"] {
        let c = chart(&dom, kind, "hello-service")
            .unwrap_or_else(|| panic!("a {kind} chart for hello-service in the dashboard:\n{dom}"));
        assert!(
            number(&c, "data-points") > 0.0,
            "{kind} chart has points: {c:?}"
        );
    }
    let rate = chart(&dom, "rate", "hello-service").unwrap();
    assert!(
        number(&rate, "data-max") > 0.0,
        "requests counted: {rate:?}"
    );
    let p99 = chart(&dom, "p99", "hello-service").unwrap();
    assert!(number(&p99, "data-last") > 0.0, "a p99 value: {p99:?}");
    let errors = chart(&dom, "errors", "hello-service").unwrap();
    assert_eq!(number(&errors, "data-last"), 0.0, "no 5xx: {errors:?}");

    // Instance health at a glance: hello-service's one instance, healthy.
    let strip = elements_with(&dom, "data-health-service")
        .into_iter()
        .find(|a| a["data-health-service"] == "hello-service")
        .unwrap_or_else(|| panic!("a health strip for hello-service:\n{dom}"));
    assert_eq!(strip["data-healthy"], "1", "{strip:?}");
    let instance = elements_with(&dom, "data-instance")
        .into_iter()
        .find(|a| a["data-instance"] == svc.hydra().instance_id())
        .unwrap_or_else(|| panic!("the instance in the health strip:\n{dom}"));
    assert_eq!(
        instance.get("data-health").map(String::as_str),
        Some("healthy"),
        "{instance:?}"
    );

    // Ejected, it turns red.
    let id = svc.hydra().instance_id().to_string();
    router.state.pool.eject(&id, Duration::from_secs(600));
    let health = |dom: &str| {
        elements_with(dom, "data-instance")
            .into_iter()
            .find(|a| a["data-instance"] == id)
            .and_then(|a| a.get("data-health").cloned())
    };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        dom = render(&browser, &profile, &url).await;
        if health(&dom).as_deref() == Some("ejected") {
            break;
        }
    }
    std::fs::remove_dir_all(&profile).ok();
    assert_eq!(
        health(&dom).as_deref(),
        Some("ejected"),
        "ejected instance:\n{dom}"
    );
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
