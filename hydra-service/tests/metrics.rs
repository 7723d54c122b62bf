//! `/metrics` of a service on a real Redis, read over real HTTP: requests by route template,
//! method and status; UMF messages sent, received and dropped; Redis reconnects.
//!
//! The recorder is the process's, shared by every test here: each test holds [`SERIAL`] and
//! looks at what changed while it ran.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use axum::extract::Path;
use axum::http::Method;
use hydra_core::{keys, Umf};
use hydra_service::{Envelope, HydraService, RunningService};
use hydra_testkit::{free_port, registered_service, service_document, wait_for, RedisServer};
use serde_json::{json, Value};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn item(Path(id): Path<String>) -> Envelope {
    Envelope::ok(json!({ "id": id }))
}

/// A service named `name` with `GET /v1/x/{id}`, its `metricsPort` set to `metrics_port`.
fn service(redis: &RedisServer, name: &str, metrics_port: u16) -> HydraService {
    let config = service_document(
        redis,
        json!({"hydra": {"serviceName": name, "servicePort": 0}}),
        &json!({ "metricsPort": metrics_port }),
    );
    HydraService::new(config).get("/v1/x/{id}", item)
}

/// [`service`] serving `/metrics` on a free port.
async fn start(redis: &RedisServer, name: &str) -> RunningService {
    spawn(service(redis, name, free_port())).await
}

async fn spawn(service: HydraService) -> RunningService {
    service.bind().await.unwrap().spawn().await.unwrap()
}

/// `GET /metrics` of `svc`: its content type and text.
async fn scrape(svc: &RunningService) -> (String, String) {
    let addr = svc.metrics_addr().expect("metrics are served");
    let resp = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    (ct, resp.text().await.unwrap())
}

/// Every sample of a scrape, by series (`name{labels}`).
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

async fn sample(svc: &RunningService, series: &str) -> f64 {
    samples(&scrape(svc).await.1)
        .get(series)
        .copied()
        .unwrap_or_else(|| panic!("no {series} in /metrics"))
}

const SENT: &str = "hydra_messages_sent_total";
const RECEIVED: &str = "hydra_messages_received_total";
const MALFORMED: &str = "hydra_messages_dropped_total{reason=\"malformed\"}";
const NO_READER: &str = "hydra_messages_dropped_total{reason=\"no_reader\"}";
const RECONNECTS: &str = "hydra_redis_reconnects_total";

#[tokio::test]
async fn requests_are_timed_by_route_template_method_and_status() {
    let _serial = SERIAL.lock().await;
    let redis = RedisServer::start();
    let svc = start(&redis, "metrics-http").await;
    let before = samples(&scrape(&svc).await.1);
    let http = reqwest::Client::new();
    let base = svc.base_url();
    let metrics_base = format!("http://{}", svc.metrics_addr().unwrap());
    for (method, url, status) in [
        (Method::GET, format!("{base}/v1/x/1"), 200),
        (Method::GET, format!("{base}/v1/x/2"), 200),
        (Method::GET, format!("{base}/v1/x/3"), 200),
        (Method::DELETE, format!("{base}/v1/x/4"), 405),
        (Method::GET, format!("{base}/no/such/path"), 404),
        // Not on the service port, so not through a router either.
        (Method::GET, format!("{base}/metrics"), 404),
        // And the metrics port serves nothing else.
        (Method::GET, format!("{metrics_base}/v1/x/1"), 404),
    ] {
        let r = http.request(method, &url).send().await.unwrap();
        assert_eq!(r.status(), status, "{url}");
    }

    let (content_type, text) = scrape(&svc).await;
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let s = samples(&text);
    // What a series gained while this test ran (other tests share the recorder).
    let gained = |series: String| {
        let now = s.get(&series).copied();
        assert!(now.is_some(), "no {series} in /metrics:\n{text}");
        now.unwrap_or_default() - before.get(&series).copied().unwrap_or_default()
    };
    let ok =
        "http_request_method=\"GET\",http_route=\"/v1/x/:id\",http_response_status_code=\"200\"";
    let hist = "http_server_request_duration_seconds";
    assert_eq!(gained(format!("{hist}_count{{{ok}}}")), 3.0);
    let sum = gained(format!("{hist}_sum{{{ok}}}"));
    assert!(sum > 0.0 && sum < 3.0, "{sum} s for 3 requests");
    // A histogram with the millisecond buckets, not a summary.
    assert_eq!(gained(format!("{hist}_bucket{{{ok},le=\"+Inf\"}}")), 3.0);
    assert!(s.contains_key(&format!("{hist}_bucket{{{ok},le=\"0.0005\"}}")));
    let refused =
        "http_request_method=\"DELETE\",http_route=\"/v1/x/:id\",http_response_status_code=\"405\"";
    assert_eq!(gained(format!("{hist}_count{{{refused}}}")), 1.0);
    // No route matched: no route label, and never the path asked for.
    let unmatched = "http_request_method=\"GET\",http_response_status_code=\"404\"";
    assert_eq!(gained(format!("{hist}_count{{{unmatched}}}")), 2.0);
    for raw in ["/v1/x/1", "/no/such/path", "{id}"] {
        assert!(!text.contains(raw), "{raw} in /metrics:\n{text}");
    }
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn messages_sent_and_received_between_two_instances_are_counted() {
    let _serial = SERIAL.lock().await;
    let redis = RedisServer::start();
    let svc = start(&redis, "metrics-umf").await;
    let mut inbox = svc.hydra().messages();
    let peer = registered_service(&redis, "metrics-peer").await;
    let (sent, received) = (sample(&svc, SENT).await, sample(&svc, RECEIVED).await);

    for n in 0..3 {
        let msg = Umf::new(
            format!("{}@metrics-umf:/", svc.instance_id()),
            "metrics-peer:/",
            json!({ "n": n }),
        );
        peer.send(&msg).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(3), inbox.recv())
            .await
            .expect("delivered")
            .unwrap();
        assert_eq!(got.body["n"], n);
    }
    assert_eq!(sample(&svc, SENT).await - sent, 3.0);
    assert_eq!(sample(&svc, RECEIVED).await - received, 3.0);
    peer.shutdown().await.unwrap();
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn dropped_messages_are_counted_by_reason() {
    let _serial = SERIAL.lock().await;
    let redis = RedisServer::start();
    let svc = start(&redis, "metrics-drop").await;
    let (received, malformed, no_reader) = (
        sample(&svc, RECEIVED).await,
        sample(&svc, MALFORMED).await,
        sample(&svc, NO_READER).await,
    );
    let channel = keys::instance_channel("metrics-drop", svc.instance_id());
    let mut conn = redis.connection().await;
    let listeners: i64 = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg("{not umf")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(listeners, 1);
    // Valid, but this service reads no messages.
    let valid = Umf::new(
        format!("{}@metrics-drop:/", svc.instance_id()),
        "x:/",
        json!({}),
    );
    let () = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(serde_json::to_string(&valid).unwrap())
        .query_async(&mut conn)
        .await
        .map(|_: i64| ())
        .unwrap();

    wait_for(Duration::from_secs(3), "both messages received", || async {
        (sample(&svc, RECEIVED).await - received == 2.0).then_some(())
    })
    .await;
    assert_eq!(sample(&svc, MALFORMED).await - malformed, 1.0);
    assert_eq!(sample(&svc, NO_READER).await - no_reader, 1.0);
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn a_redis_restart_counts_one_reconnect() {
    let _serial = SERIAL.lock().await;
    let mut redis = RedisServer::start();
    let svc = start(&redis, "metrics-restart").await;
    let before = sample(&svc, RECONNECTS).await;
    let redis = tokio::task::spawn_blocking(move || {
        redis.restart();
        redis
    })
    .await
    .unwrap();
    wait_for(Duration::from_secs(10), "the reconnect counted", || async {
        (sample(&svc, RECONNECTS).await - before >= 1.0).then_some(())
    })
    .await;
    // Once per lost connection, not once per attempt or per channel.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sample(&svc, RECONNECTS).await - before, 1.0);
    svc.stop().await.unwrap();
    drop(redis);
}

#[tokio::test]
async fn a_metrics_port_that_is_taken_leaves_the_service_serving() {
    let _serial = SERIAL.lock().await;
    let redis = RedisServer::start();
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let svc = spawn(service(&redis, "metrics-taken", port)).await;
    assert_eq!(svc.metrics_addr(), None);
    let r = reqwest::get(format!("{}/v1/x/1", svc.base_url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    svc.stop().await.unwrap();

    // metricsPort 0: none served.
    let bound = service(&redis, "metrics-off", 0).bind().await.unwrap();
    assert_eq!(bound.metrics_addr(), None);
}

/// Words of PromQL that name no metric: aggregations and keywords.
const PROMQL_WORDS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "inf",
    "nan",
];

/// Words after which a list of label names follows in parentheses.
const LABEL_LIST_WORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names and label names a PromQL expression uses (or a Grafana variable query,
/// `label_values(metric, label)`).
fn promql_names(expr: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    if let Some(args) = expr
        .trim()
        .strip_prefix("label_values(")
        .and_then(|a| a.strip_suffix(')'))
    {
        let (selector, label) = args.rsplit_once(',').unwrap_or(("", args));
        let (metrics, mut labels) = promql_names(selector);
        labels.insert(label.trim().to_string());
        return (metrics, labels);
    }
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let chars: Vec<char> = expr.chars().collect();
    let next_char = |from: usize| chars[from..].iter().copied().find(|c| !c.is_whitespace());
    let (mut metrics, mut labels) = (BTreeSet::new(), BTreeSet::new());
    let (mut in_selector, mut in_label_list, mut list_follows) = (false, false, false);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            '[' => {
                while i < chars.len() && chars[i] != ']' {
                    i += 1;
                }
            }
            '{' | '}' => {
                in_selector = c == '{';
                i += 1;
            }
            '(' => {
                in_label_list = list_follows;
                list_follows = false;
                i += 1;
            }
            ')' => {
                in_label_list = false;
                i += 1;
            }
            // Grafana variables, numbers and durations.
            '$' | '0'..='9' => {
                i += 1;
                while i < chars.len() && (is_word(chars[i]) || chars[i] == '.') {
                    i += 1;
                }
            }
            c if is_word(c) => {
                let start = i;
                while i < chars.len() && is_word(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if in_selector || in_label_list {
                    labels.insert(word);
                } else if LABEL_LIST_WORDS.contains(&word.as_str()) {
                    list_follows = next_char(i) == Some('(');
                } else if next_char(i) != Some('(') && !PROMQL_WORDS.contains(&word.as_str()) {
                    metrics.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    (metrics, labels)
}

#[test]
fn promql_names_are_told_apart() {
    let (metrics, labels) = promql_names(
        "histogram_quantile(0.99, sum by (service, le) (rate(a_bucket{x=~\"$v\", y!=\"b{c}\"}[5m]))) / ignoring (z) sum(b_total) + count(up == 1)",
    );
    assert_eq!(
        metrics.into_iter().collect::<Vec<_>>(),
        ["a_bucket", "b_total", "up"]
    );
    assert_eq!(
        labels.into_iter().collect::<Vec<_>>(),
        ["le", "service", "x", "y", "z"]
    );
    let (metrics, labels) = promql_names("label_values(m_count{job=\"j\"}, service)");
    assert_eq!(metrics.into_iter().collect::<Vec<_>>(), ["m_count"]);
    assert_eq!(labels.into_iter().collect::<Vec<_>>(), ["job", "service"]);
}

/// Every query string of a Grafana dashboard: panel targets' `expr`, variables' queries.
fn dashboard_queries(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr" | "definition", Value::String(q)) => out.push(q.clone()),
                    ("query", Value::String(q)) if q.contains('(') => out.push(q.clone()),
                    _ => dashboard_queries(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| dashboard_queries(v, out)),
        _ => {}
    }
}

/// The sample names and label names of a scrape.
fn exported_names(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut names, mut labels) = (BTreeSet::new(), BTreeSet::new());
    for series in samples(text).into_keys() {
        let (name, rest) = series.split_once('{').unwrap_or((&series, ""));
        names.insert(name.to_string());
        // `k="v",k="v"}`: label values here hold no `",`.
        for pair in rest.trim_end_matches('}').split("\",") {
            if let Some((k, _)) = pair.split_once('=') {
                labels.insert(k.to_string());
            }
        }
    }
    (names, labels)
}

#[tokio::test]
async fn the_dashboard_and_the_scrape_config_ask_only_for_what_a_service_exports() {
    let _serial = SERIAL.lock().await;
    let root = hydra_testkit::workspace_root();
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("deploy/grafana/hydra-services.json")).unwrap(),
    )
    .unwrap();
    let scrape_config =
        std::fs::read_to_string(root.join("deploy/prometheus/prometheus.yml")).unwrap();
    let mut queries = Vec::new();
    dashboard_queries(&dashboard, &mut queries);
    assert!(queries.len() >= 10, "only {} queries found", queries.len());

    // A service that has served a request: every series it exports is there.
    let redis = RedisServer::start();
    let svc = start(&redis, "metrics-dashboard").await;
    let r = reqwest::get(format!("{}/v1/x/1", svc.base_url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (mut metrics, mut labels) = exported_names(&scrape(&svc).await.1);
    svc.stop().await.unwrap();

    // Prometheus adds `up` and the labels `job` and `instance` to every target, and the scrape
    // config the labels it relabels into.
    metrics.insert("up".into());
    labels.extend(["job".to_string(), "instance".to_string()]);
    let line_values = |key: &str| -> Vec<String> {
        scrape_config
            .lines()
            .filter_map(|l| l.trim().strip_prefix(key))
            .map(|v| v.trim().to_string())
            .collect()
    };
    let target_labels = line_values("target_label:");
    labels.extend(
        target_labels
            .iter()
            .filter(|l| !l.starts_with("__"))
            .cloned(),
    );
    assert!(
        target_labels.contains(&"service".to_string()),
        "the scrape config sets no `service` label: {target_labels:?}"
    );
    assert_eq!(line_values("metrics_path:"), ["/metrics"]);
    let jobs = line_values("- job_name:");

    let mut unknown = Vec::new();
    for q in &queries {
        let (m, l) = promql_names(q);
        unknown.extend(m.difference(&metrics).map(|m| format!("metric {m} in {q}")));
        unknown.extend(l.difference(&labels).map(|l| format!("label {l} in {q}")));
        for job in q.split("job=\"").skip(1) {
            let job = job.split('"').next().unwrap_or_default().to_string();
            if !jobs.contains(&job) {
                unknown.push(format!("job {job} (not in the scrape config) in {q}"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "the dashboard asks for what no service exports:\n{}",
        unknown.join("\n")
    );
}
