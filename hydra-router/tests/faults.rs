//! Short forms of the fault scenarios (scripts run the long forms): the router keeps serving
//! known instances while Redis is away, and everything is registered again once it is back.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hydra_core::keys;
use hydra_testkit::RedisServer;
use redis::AsyncCommands;
use serde_json::{json, Value};

#[tokio::test]
async fn redis_outage_loses_no_requests_and_recovers() {
    let mut redis = RedisServer::start();
    // Frequent route reloads: the table must not lose routes while Redis is back but empty.
    let router = router(&redis, json!({"routeRefreshSeconds": 0.3})).await;
    let a = hello(&redis).await;
    let b = hello(&redis).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/hello/test", router.base);
    until_status(&http, &url, 200).await;

    // Requests go on all the time: while Redis is away, and while it is back but empty and the
    // services are registering again.
    let load = {
        let http = http.clone();
        let url = url.clone();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let (mut sent, mut failed) = (0u32, Vec::new());
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                sent += 1;
                match http.get(&url).send().await {
                    Ok(r) if r.status() == 200 => {}
                    Ok(r) => failed.push(r.status().to_string()),
                    Err(e) => failed.push(e.to_string()),
                }
            }
            (sent, failed)
        });
        (stop, task)
    };
    redis.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Back, empty: every service and the router register again by themselves.
    redis.restart();
    let back = Instant::now();
    let mut r = redis_conn(&redis).await;
    loop {
        let mut all = true;
        for (svc, id) in [
            ("hello-service", a.hydra().instance_id()),
            ("hello-service", b.hydra().instance_id()),
            ("hydra-router", router.hydra.instance_id()),
        ] {
            let present: bool = r.exists(keys::presence(svc, id)).await.unwrap();
            all &= present;
        }
        let service: bool = r.exists(keys::service("hello-service")).await.unwrap();
        let routes: bool = r.exists(keys::routes("hello-service")).await.unwrap();
        if all && service && routes {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(3),
            "everything registered again within 3 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The load goes on, deliberately, past the next pool refresh and route reload.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    load.0.store(true, std::sync::atomic::Ordering::Relaxed);
    let (sent, failed) = load.1.await.unwrap();
    assert!(sent > 50, "sent {sent}");
    assert!(
        failed.is_empty(),
        "{} of {sent} requests failed during the outage or the recovery: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    router.stop().await;
}

#[tokio::test]
async fn a_slow_instance_is_ejected_and_the_others_serve() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({"requestTimeout": 0.5, "ejectSeconds": 30})).await;
    let fast = hello(&redis).await;
    // A second "hello-service" whose answers take far longer than the router waits.
    let slow = started(hydra_service::HydraService::new(hello_config(&redis)).get(
        "/v1/hello/test",
        || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        },
    ))
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/hello/test", router.base);
    // Count every 504 from the first request on: the slow instance may be hit (and ejected)
    // before the fast one has answered at all.
    let t = Instant::now();
    let mut timeouts = 0;
    while timeouts < 2 {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the slow instance gets requests"
        );
        if http.get(&url).send().await.unwrap().status() == 504 {
            timeouts += 1;
        }
    }
    // Two timeouts eject it: from now on only the fast instance answers.
    for _ in 0..30 {
        let resp = http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let v: serde_json::Value = resp.json().await.unwrap();
        assert!(v["result"]["msg"]
            .as_str()
            .unwrap()
            .ends_with(fast.hydra().instance_id()));
    }
    let metrics = get_text(&http, format!("{}/metrics", router.base)).await;
    let labels = format!(
        "service=\"hello-service\",instance_id=\"{}\"",
        slow.hydra().instance_id()
    );
    for line in [
        format!("hydra_router_instance_timeouts_total{{{labels}}} 2"),
        format!("hydra_router_ejections_total{{{labels},reason=\"timeouts\"}} 1"),
        format!("hydra_router_ejections_total{{{labels},reason=\"refused\"}} 0"),
    ] {
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
    let fast_answers = format!(
        "hydra_router_instance_request_duration_seconds_count{{service=\"hello-service\",instance_id=\"{}\"}} ",
        fast.hydra().instance_id()
    );
    let answered: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(&fast_answers))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{fast_answers} in {metrics}"));
    assert!(answered >= 30, "{answered} answers of the fast instance");
    drop(slow);
    router.stop().await;
}

#[tokio::test]
async fn rolling_restart_loses_no_requests() {
    let redis = RedisServer::start();
    let router = router(&redis, json!({})).await;
    let mut instances = vec![hello_process(&redis), hello_process(&redis)];
    let http = reqwest::Client::new();
    let url = format!("{}/v1/hello/test", router.base);
    until_status(&http, &url, 200).await;
    wait_for(
        "both instances in the router's pool",
        Duration::from_secs(5),
        || async { pool_ids(&router, "hello-service").len() == 2 },
    )
    .await;
    let load = {
        let http = http.clone();
        let url = url.clone();
        tokio::spawn(async move {
            let (mut sent, mut failed) = (0u32, 0u32);
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(7) {
                sent += 1;
                if !http.get(&url).send().await.is_ok_and(|r| r.status() == 200) {
                    failed += 1;
                }
            }
            (sent, failed)
        })
    };
    // Replace each instance: start the new one, then SIGTERM the old one (it drains).
    for _ in 0..2 {
        // Requests run on the old instances for a while before each replacement.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let known = pool_ids(&router, "hello-service");
        instances.push(hello_process(&redis));
        wait_for(
            "the new instance in the router's pool",
            Duration::from_secs(5),
            || async {
                pool_ids(&router, "hello-service")
                    .difference(&known)
                    .next()
                    .is_some()
            },
        )
        .await;
        let mut old = instances.remove(0);
        let pid = old.id().unwrap().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        let status = tokio::time::timeout(Duration::from_secs(15), old.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "drained and exited 0");
    }
    let (sent, failed) = load.await.unwrap();
    assert!(sent > 100, "sent {sent}");
    assert_eq!(
        failed, 0,
        "{failed} of {sent} requests failed during the rolling restart"
    );
    router.stop().await;
}

#[tokio::test]
async fn admin_errors_while_redis_is_away_hide_the_redis_detail() {
    let mut redis = RedisServer::start();
    let router = router(&redis, json!({"routerToken": "tok"})).await;
    let http = reqwest::Client::new();
    redis.kill();
    for what in ["services", "nodes"] {
        let resp = http
            .get(format!("{}/v1/router/list/{what}?token=tok", router.base))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_server_error(), "{what}: {}", resp.status());
        let content_type = resp.headers()["content-type"].clone();
        let v: serde_json::Value = resp.json().await.unwrap();
        let reason = v["result"]["reason"].as_str().unwrap().to_lowercase();
        assert!(
            !reason.contains("redis") && !reason.contains("error") && !reason.contains("refused"),
            "{what}: {reason}"
        );
        assert_eq!(content_type, "application/json; charset=utf-8");
    }
    redis.restart();
    router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_loses_no_request_and_the_router_follows_the_new_master() {
    let set = tokio::task::spawn_blocking(hydra_testkit::SentinelSet::start)
        .await
        .unwrap();
    let through = json!({"redis": {"url": set.url()}});
    let router = router(set.master(), json!({"hydra": through})).await;
    let hello = started(hello_service::service(hydra_testkit::service_document(
        set.master(),
        hello_service::defaults(),
        &through,
    )))
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/hello/test", router.base);
    until_status(&http, &url, 200).await;

    // Requests one after another, from before the kill until well after the promotion.
    let asking = {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, Vec::new());
            let until = Instant::now() + Duration::from_secs(8);
            while Instant::now() < until {
                match http.get(&url).send().await {
                    Ok(r) if r.status() == 200 => ok += 1,
                    Ok(r) => failed.push(r.status().to_string()),
                    Err(e) => failed.push(e.to_string()),
                }
            }
            (ok, failed)
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (set, _, _) = set.fail_over(Duration::from_secs(30)).await;
    let (ok, failed) = asking.await.unwrap();
    assert!(
        failed.is_empty(),
        "{} failed of {}: {failed:?}",
        failed.len(),
        ok as usize + failed.len()
    );
    assert!(ok > 100, "{ok} requests answered");

    // A service that registers only on the new master is found and routed to.
    let late = started(
        hydra_service::HydraService::new(hydra_testkit::service_document(
            set.master(),
            json!({"hydra": {"serviceName": "late-service"}}),
            &through,
        ))
        .get("/v1/late/x", || async { "late" }),
    )
    .await;
    until_status(&http, &format!("{}/v1/late/x", router.base), 200).await;
    drop(late);
    drop(hello);
    router.stop().await;
}

#[tokio::test]
async fn routes_announced_while_the_subscription_was_lost_are_loaded_when_it_returns() {
    // Pub/sub keeps nothing for a subscriber that is reconnecting: a refresh message sent then is
    // lost. The router reads the routes again once its subscriptions stand, rather than at its
    // next periodic reload (an hour away here).
    let redis = RedisServer::start();
    let router = router(&redis, json!({"routeRefreshSeconds": 3600})).await;
    let http = reqwest::Client::new();
    let mut r = redis_conn(&redis).await;
    // A service that registered while the router could not hear it: its nodes entry and routes,
    // and no refresh message.
    nodes_entry(&mut r, "later-service", "laterid", "127.0.0.1:1").await;
    let _: () = r
        .sadd(keys::routes("later-service"), "[get]/v1/later/test")
        .await
        .unwrap();
    let listed = |v: Value| {
        v["result"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["serviceName"] == "later-service")
    };
    let list = format!("{}/v1/router/list/routes", router.base);
    assert!(!listed(get_json(&http, &list).await), "not known before");
    let killed = redis.kill_subscribers();
    assert!(killed >= 1, "the router's subscriber was connected");
    let start = Instant::now();
    while !listed(get_json(&http, &list).await) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "routes not reloaded after the subscription came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    router.stop().await;
}
