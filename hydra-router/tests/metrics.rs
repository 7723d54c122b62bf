//! The router's `/metrics` on `hydra.metricsPort`, and the deploy files built on the metrics:
//! the Grafana dashboard and the Prometheus scrape config ask only for what the services and
//! the router export.

mod common;

use std::collections::BTreeSet;

use common::*;
use hydra_testkit::{free_port, metric_samples, service_document, RedisServer};
use serde_json::{json, Value};

/// A router serving `/metrics` on a port of its own (with `routerToken` set), and a
/// hello-service serving its own on another; one request routed to it.
async fn router_and_service(redis: &RedisServer) -> (Running, hydra_service::RunningService) {
    let router = router(
        redis,
        json!({"routerToken": "s3cret", "hydra": {"metricsPort": free_port()}}),
    )
    .await;
    let config = service_document(
        redis,
        hello_service::defaults(),
        &json!({ "metricsPort": free_port() }),
    );
    let svc = started(hello_service::service(config)).await;
    let http = reqwest::Client::new();
    until_status(&http, &format!("{}/v1/hello/test", router.base), 200).await;
    (router, svc)
}

#[tokio::test]
async fn the_metrics_port_serves_metrics_without_the_token_and_nothing_else() {
    let redis = RedisServer::start();
    let (router, svc) = router_and_service(&redis).await;
    let http = reqwest::Client::new();
    let addr = router.metrics.expect("hydra.metricsPort is served");
    let resp = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/plain; version=0.0.4");
    let text = resp.text().await.unwrap();
    let instance = svc.hydra().instance_id();
    for series in [
        "hydra_router_requests_total{service=\"hello-service\",status=\"200\"}".to_string(),
        "hydra_router_service_request_duration_seconds_count{service=\"hello-service\"}".into(),
        format!("hydra_router_instance_request_duration_seconds_count{{service=\"hello-service\",instance_id=\"{instance}\"}}"),
    ] {
        assert!(metric_samples(&text).get(&series).is_some_and(|n| *n >= 1.0), "{series} in {text}");
    }
    // Only /metrics: the dashboard and the admin endpoints are not there, token or not.
    for path in [
        "/",
        "/v1/router/stats?token=s3cret",
        "/v1/router/list/routes",
    ] {
        let status = http
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "{path}");
    }
    // The public port still wants the token for its /metrics.
    let public = format!("{}/metrics", router.base);
    assert_eq!(http.get(&public).send().await.unwrap().status(), 404);
    assert_eq!(
        http.get(format!("{public}?token=s3cret"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    svc.stop().await.unwrap();
    router.stop().await;
}

#[tokio::test]
async fn a_metrics_port_that_is_taken_leaves_the_router_serving() {
    let redis = RedisServer::start();
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let router = router(&redis, json!({"hydra": {"metricsPort": port}})).await;
    assert_eq!(router.metrics, None);
    let health = get_json(
        &reqwest::Client::new(),
        format!("{}/v1/router/health", router.base),
    )
    .await;
    assert_eq!(health["statusCode"], 200, "{health}");
    router.stop().await;
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
    for series in metric_samples(text).into_keys() {
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
async fn the_dashboard_and_the_scrape_config_ask_only_for_what_is_exported() {
    let root = hydra_testkit::workspace_root();
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("deploy/grafana/hydra-services.json")).unwrap(),
    )
    .unwrap();
    let scrape_config =
        std::fs::read_to_string(root.join("deploy/prometheus/prometheus.yml")).unwrap();
    let mut queries = Vec::new();
    dashboard_queries(&dashboard, &mut queries);
    assert!(queries.len() >= 14, "only {} queries found", queries.len());

    // A service that has served a request through a router: every series either exports is
    // there.
    let redis = RedisServer::start();
    let (router, svc) = router_and_service(&redis).await;
    let scrape = |addr: std::net::SocketAddr| async move {
        reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let (mut metrics, mut labels) =
        exported_names(&scrape(svc.metrics_addr().expect("service metrics")).await);
    let (router_metrics, router_labels) =
        exported_names(&scrape(router.metrics.expect("router metrics")).await);
    assert!(
        router_metrics.contains("hydra_router_ejections_total"),
        "{router_metrics:?}"
    );
    metrics.extend(router_metrics);
    labels.extend(router_labels);
    svc.stop().await.unwrap();
    router.stop().await;

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
        "the dashboard asks for what nothing exports:\n{}",
        unknown.join("\n")
    );
}
