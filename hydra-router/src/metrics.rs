//! Counters for `/metrics` (Prometheus text) and Node's `/v1/router/stats`, and the last minutes
//! of each service's traffic for the dashboard ([`crate::history`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::history::{Clock, Point, Series};

/// Latency histogram bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Default)]
struct ServiceCounts {
    requests: BTreeMap<u16, u64>,
    errors: u64,
    ws_messages: u64,
    history: Series,
}

impl ServiceCounts {
    fn count(&mut self, slot: u64, status: u16, took: Duration) {
        *self.requests.entry(status).or_default() += 1;
        if status >= 500 {
            self.errors += 1;
        }
        self.history.record(slot, status, took);
    }
}

/// Everything counted since start.
#[derive(Debug)]
pub struct Metrics {
    clock: Clock,
    services: Mutex<HashMap<String, ServiceCounts, foldhash::fast::RandomState>>,
    buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    ws_clients: AtomicI64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            clock: Clock::new(Instant::now()),
            services: Mutex::default(),
            buckets: Default::default(),
            latency_count: AtomicU64::default(),
            latency_sum_micros: AtomicU64::default(),
            ws_clients: AtomicI64::default(),
        }
    }
}

impl Metrics {
    /// Records a forwarded request (and in the service's history, under the same lock).
    pub fn request(&self, service: &str, status: u16, took: Duration) {
        let slot = self.clock.slot(Instant::now());
        {
            let mut s = self.services.lock().expect("metrics lock");
            // One lookup, and the name copied only the first time.
            if let Some(c) = s.get_mut(service) {
                c.count(slot, status, took);
            } else {
                let mut c = ServiceCounts::default();
                c.count(slot, status, took);
                s.insert(service.to_string(), c);
            }
        }
        // One bucket per request (the first bound it is within), summed up in `render`.
        let secs = took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|bound| secs <= *bound) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Records a WebSocket message routed to `service`.
    pub fn ws_message(&self, service: &str) {
        self.services
            .lock()
            .expect("metrics lock")
            .entry(service.to_string())
            .or_default()
            .ws_messages += 1;
    }

    /// A WebSocket client connected (+1) or left (-1).
    pub fn ws_clients(&self, delta: i64) {
        self.ws_clients.fetch_add(delta, Ordering::Relaxed);
    }

    /// Every service's history over the window ending at `now`, by service name. The slots are
    /// copied under the lock and summed up after it.
    pub fn history(&self, now: Instant) -> BTreeMap<String, Vec<Point>> {
        let copies: Vec<(String, Series)> = self
            .services
            .lock()
            .expect("metrics lock")
            .iter()
            .map(|(name, c)| (name.clone(), c.history.clone()))
            .collect();
        copies
            .into_iter()
            .map(|(name, series)| (name, series.points(&self.clock, now)))
            .collect()
    }

    /// The history of a service without requests yet: every slot of the window empty.
    pub fn quiet(&self, now: Instant) -> Vec<Point> {
        Series::default().points(&self.clock, now)
    }

    /// Node's stats shape: counts by service.
    pub fn stats(&self) -> serde_json::Value {
        let s = self.services.lock().expect("metrics lock");
        let mut http = serde_json::Map::new();
        let mut ws = serde_json::Map::new();
        let mut err = serde_json::Map::new();
        for (name, c) in s.iter() {
            http.insert(name.clone(), c.requests.values().sum::<u64>().into());
            ws.insert(name.clone(), c.ws_messages.into());
            err.insert(name.clone(), c.errors.into());
        }
        serde_json::json!({"httpStats": http, "wsStats": ws, "errorStats": err})
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let s = self.services.lock().expect("metrics lock");
        out.push_str("# HELP hydra_router_requests_total Requests forwarded, by service and status.\n# TYPE hydra_router_requests_total counter\n");
        for (name, c) in s.iter() {
            for (status, n) in &c.requests {
                let _ = writeln!(
                    out,
                    "hydra_router_requests_total{{service=\"{}\",status=\"{status}\"}} {n}",
                    escape(name)
                );
            }
        }
        out.push_str("# HELP hydra_router_errors_total Requests answered with a 5xx, by service.\n# TYPE hydra_router_errors_total counter\n");
        for (name, c) in s.iter() {
            let _ = writeln!(
                out,
                "hydra_router_errors_total{{service=\"{}\"}} {}",
                escape(name),
                c.errors
            );
        }
        out.push_str("# HELP hydra_router_ws_messages_total WebSocket messages routed, by service.\n# TYPE hydra_router_ws_messages_total counter\n");
        for (name, c) in s.iter() {
            let _ = writeln!(
                out,
                "hydra_router_ws_messages_total{{service=\"{}\"}} {}",
                escape(name),
                c.ws_messages
            );
        }
        drop(s);
        out.push_str("# HELP hydra_router_request_duration_seconds Time to the service's response head.\n# TYPE hydra_router_request_duration_seconds histogram\n");
        // A request counted while this runs may show in a bucket and not yet in the count: the
        // +Inf bucket (the count) is kept at least as large as the finite ones.
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "hydra_router_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed).max(cumulative);
        let _ = writeln!(
            out,
            "hydra_router_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "hydra_router_request_duration_seconds_sum {}",
            self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "hydra_router_request_duration_seconds_count {count}");
        out.push_str("# HELP hydra_router_ws_clients WebSocket clients connected.\n# TYPE hydra_router_ws_clients gauge\n");
        let _ = writeln!(
            out,
            "hydra_router_ws_clients {}",
            self.ws_clients.load(Ordering::Relaxed)
        );
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text() {
        let m = Metrics::default();
        m.request("hello-service", 200, Duration::from_micros(700));
        m.request("hello-service", 503, Duration::from_millis(30));
        m.ws_clients(2);
        let text = m.render();
        assert!(text
            .contains("hydra_router_requests_total{service=\"hello-service\",status=\"200\"} 1"));
        assert!(text.contains("hydra_router_errors_total{service=\"hello-service\"} 1"));
        assert!(text.contains("hydra_router_request_duration_seconds_bucket{le=\"0.001\"} 1"));
        assert!(text.contains("hydra_router_request_duration_seconds_bucket{le=\"0.025\"} 1"));
        assert!(text.contains("hydra_router_request_duration_seconds_bucket{le=\"0.05\"} 2"));
        assert!(text.contains("hydra_router_request_duration_seconds_bucket{le=\"5\"} 2"));
        assert!(text.contains("hydra_router_request_duration_seconds_count 2"));
        assert!(text.contains("hydra_router_ws_clients 2"));
        assert_eq!(m.stats()["httpStats"]["hello-service"], 2);
    }
}
