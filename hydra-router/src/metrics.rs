//! Counters for `/metrics` (Prometheus text) and Node's `/v1/router/stats`, and the last minutes
//! of each service's traffic for the dashboard ([`crate::history`]).
//!
//! Counting is on the path of every request, from every server thread. So that the threads do
//! not contend for one lock (and pass its cache line back and forth), the counts are kept in
//! shards, one per server thread ([`set_lane`]), each behind a lock of its own that only its
//! thread takes on the request path; reading them (`/metrics`, stats, the dashboard) sums the
//! shards up.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::history::{Clock, Point, Series, SLOTS};

/// Latency histogram bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
/// The same bounds in µs, compared on the request path.
const BUCKETS_MICROS: [u64; 12] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    5_000_000,
];

/// Why a request was sent again to another instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The instance refused the connection.
    Refused,
    /// It closed the connection without an answer (an idempotent request).
    Dropped,
}

/// Why an instance was left out for a while (see [`crate::pool`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ejection {
    /// It refused a connection.
    Refused,
    /// It closed a connection without an answer.
    Dropped,
    /// It did not answer in time, repeatedly.
    Timeouts,
}

impl Ejection {
    const ALL: [Ejection; 3] = [Ejection::Refused, Ejection::Dropped, Ejection::Timeouts];

    fn label(self) -> &'static str {
        match self {
            Ejection::Refused => "refused",
            Ejection::Dropped => "dropped",
            Ejection::Timeouts => "timeouts",
        }
    }
}

/// A latency histogram with [`BUCKETS`]: one count per bucket (summed up when written out).
#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_micros: u64,
}

impl Histogram {
    fn observe(&mut self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        if let Some(i) = BUCKETS_MICROS.iter().position(|bound| micros <= *bound) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum_micros = self.sum_micros.saturating_add(micros);
    }

    fn add(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a += b;
        }
        self.count += other.count;
        self.sum_micros = self.sum_micros.saturating_add(other.sum_micros);
    }

    /// The `_bucket`, `_sum` and `_count` lines of `name` with `labels` (`k="v",…`, or empty).
    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(self.buckets) {
            cumulative += n;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum_micros as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Debug, Default, Clone)]
struct ServiceCounts {
    requests: BTreeMap<u16, u64>,
    errors: u64,
    ws_messages: u64,
    latency: Histogram,
    retries: [u64; 2],
    history: Option<Series>,
}

impl ServiceCounts {
    fn count(&mut self, slot: u64, status: u16, took: Duration) {
        *self.requests.entry(status).or_default() += 1;
        if status >= 500 {
            self.errors += 1;
        }
        self.latency.observe(took);
        self.history
            .get_or_insert_with(Series::default)
            .record(slot, status, took);
    }

    fn add(&mut self, other: &ServiceCounts) {
        for (status, n) in &other.requests {
            *self.requests.entry(*status).or_default() += n;
        }
        self.errors += other.errors;
        self.ws_messages += other.ws_messages;
        self.latency.add(&other.latency);
        for (a, b) in self.retries.iter_mut().zip(other.retries) {
            *a += b;
        }
        if let Some(theirs) = &other.history {
            match &mut self.history {
                Some(mine) => mine.merge(theirs),
                None => self.history = Some(theirs.clone()),
            }
        }
    }
}

/// One instance's answers, timeouts and ejections.
#[derive(Debug, Default, Clone)]
struct InstanceCounts {
    service: String,
    latency: Histogram,
    timeouts: u64,
    ejections: [u64; 3],
    /// The history slot of its last count: instances gone for a whole window are forgotten.
    last_slot: u64,
}

impl InstanceCounts {
    fn add(&mut self, other: &InstanceCounts) {
        self.service.clone_from(&other.service);
        self.latency.add(&other.latency);
        self.timeouts += other.timeouts;
        for (a, b) in self.ejections.iter_mut().zip(other.ejections) {
            *a += b;
        }
        self.last_slot = self.last_slot.max(other.last_slot);
    }
}

type FastMap<V> = HashMap<String, V, foldhash::fast::RandomState>;

#[derive(Debug, Default)]
struct Shard {
    services: FastMap<ServiceCounts>,
    /// By instance id.
    instances: FastMap<InstanceCounts>,
}

impl Shard {
    fn service(&mut self, service: &str) -> &mut ServiceCounts {
        // One lookup on the common path, and the name copied only the first time.
        if !self.services.contains_key(service) {
            self.services
                .insert(service.to_string(), ServiceCounts::default());
        }
        self.services.get_mut(service).expect("just inserted")
    }

    fn instance(&mut self, service: &str, id: &str, slot: u64) -> &mut InstanceCounts {
        if !self.instances.contains_key(id) {
            let counts = InstanceCounts {
                service: service.to_string(),
                ..InstanceCounts::default()
            };
            self.instances.insert(id.to_string(), counts);
        }
        let c = self.instances.get_mut(id).expect("just inserted");
        c.last_slot = slot;
        c
    }
}

/// A shard on a cache line (two, for adjacent-line prefetch) of its own.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(Mutex<Shard>);

thread_local! {
    static LANE: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Lanes handed to threads that were not given one.
static NEXT_LANE: AtomicUsize = AtomicUsize::new(0);

/// Makes this thread count into shard `lane` (modulo the number of shards): each server thread
/// calls it with its own number.
pub fn set_lane(lane: usize) {
    LANE.with(|l| l.set(Some(lane)));
}

fn lane() -> usize {
    LANE.with(|l| match l.get() {
        Some(lane) => lane,
        None => {
            let lane = NEXT_LANE.fetch_add(1, Ordering::Relaxed);
            l.set(Some(lane));
            lane
        }
    })
}

/// The `service` label of WebSocket messages to services the router has no instance of: a
/// client can name any service, and a series per invented name would grow without bound.
pub const OTHER_SERVICE: &str = "(other)";

/// Everything counted since start.
#[derive(Debug)]
pub struct Metrics {
    clock: Clock,
    shards: Box<[Padded]>,
    ws_clients: AtomicI64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(1)
    }
}

/// Everything summed up from the shards.
#[derive(Debug, Default)]
struct Totals {
    services: BTreeMap<String, ServiceCounts>,
    instances: BTreeMap<String, InstanceCounts>,
}

impl Metrics {
    /// Counters with `shards` shards (the number of server threads; at least 1).
    pub fn new(shards: usize) -> Self {
        Self {
            clock: Clock::new(Instant::now()),
            shards: (0..shards.max(1)).map(|_| Padded::default()).collect(),
            ws_clients: AtomicI64::default(),
        }
    }

    fn shard(&self) -> MutexGuard<'_, Shard> {
        let shard = &self.shards[lane() % self.shards.len()];
        shard
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn slot(&self) -> u64 {
        self.clock.slot(Instant::now())
    }

    /// Records a request answered by the router itself (a refusal, such as a 503 without
    /// instances) or by a service.
    pub fn request(&self, service: &str, status: u16, took: Duration) {
        let slot = self.slot();
        self.shard().service(service).count(slot, status, took);
    }

    /// Records a request `instance` of `service` answered with `status` at `now`: `took` in all
    /// (as [`Metrics::request`]), `instance_took` of it from sending to the instance to its
    /// response head.
    pub fn answered(
        &self,
        service: &str,
        instance: &str,
        status: u16,
        (took, instance_took): (Duration, Duration),
        now: Instant,
    ) {
        let slot = self.clock.slot(now);
        let mut shard = self.shard();
        shard.service(service).count(slot, status, took);
        shard
            .instance(service, instance, slot)
            .latency
            .observe(instance_took);
    }

    /// Records a request sent again, to another instance of `service`.
    pub fn retried(&self, service: &str, why: Retry) {
        let i = match why {
            Retry::Refused => 0,
            Retry::Dropped => 1,
        };
        self.shard().service(service).retries[i] += 1;
    }

    /// Records that `instance` of `service` did not answer in time.
    pub fn timed_out(&self, service: &str, instance: &str) {
        let slot = self.slot();
        self.shard().instance(service, instance, slot).timeouts += 1;
    }

    /// Records that `instance` of `service` was left out for a while.
    pub fn ejected(&self, service: &str, instance: &str, why: Ejection) {
        let slot = self.slot();
        let i = Ejection::ALL
            .iter()
            .position(|e| *e == why)
            .expect("every ejection is listed");
        self.shard().instance(service, instance, slot).ejections[i] += 1;
    }

    /// Records a WebSocket message routed to `service` (a service the router knows, or
    /// [`OTHER_SERVICE`]).
    pub fn ws_message(&self, service: &str) {
        self.shard().service(service).ws_messages += 1;
    }

    /// A WebSocket client connected (+1) or left (-1).
    pub fn ws_clients(&self, delta: i64) {
        self.ws_clients.fetch_add(delta, Ordering::Relaxed);
    }

    /// The shards summed up. Instances not counted for a whole history window are forgotten
    /// (their ids are not reused: a restarted instance has a new one).
    fn totals(&self) -> Totals {
        let oldest = self.slot().saturating_sub(SLOTS as u64);
        let mut totals = Totals::default();
        for shard in self.shards.iter() {
            let mut shard = shard.0.lock().unwrap_or_else(|p| p.into_inner());
            shard.instances.retain(|_, c| c.last_slot >= oldest);
            for (name, c) in &shard.services {
                totals.services.entry(name.clone()).or_default().add(c);
            }
            for (id, c) in &shard.instances {
                totals.instances.entry(id.clone()).or_default().add(c);
            }
        }
        totals
    }

    /// Every service's history over the window ending at `now`, by service name.
    pub fn history(&self, now: Instant) -> BTreeMap<String, Vec<Point>> {
        self.totals()
            .services
            .into_iter()
            .filter_map(|(name, c)| Some((name, c.history?.points(&self.clock, now))))
            .collect()
    }

    /// The history of a service without requests yet: every slot of the window empty.
    pub fn quiet(&self, now: Instant) -> Vec<Point> {
        Series::default().points(&self.clock, now)
    }

    /// Node's stats shape: counts by service.
    pub fn stats(&self) -> serde_json::Value {
        let mut http = serde_json::Map::new();
        let mut ws = serde_json::Map::new();
        let mut err = serde_json::Map::new();
        for (name, c) in self.totals().services {
            http.insert(name.clone(), c.requests.values().sum::<u64>().into());
            ws.insert(name.clone(), c.ws_messages.into());
            err.insert(name, c.errors.into());
        }
        serde_json::json!({"httpStats": http, "wsStats": ws, "errorStats": err})
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let t = self.totals();
        let mut out = String::new();
        help(
            &mut out,
            "hydra_router_requests_total",
            "Requests answered, by service and status.",
            "counter",
        );
        for (name, c) in &t.services {
            for (status, n) in &c.requests {
                let _ = writeln!(
                    out,
                    "hydra_router_requests_total{{service=\"{}\",status=\"{status}\"}} {n}",
                    escape(name)
                );
            }
        }
        help(
            &mut out,
            "hydra_router_errors_total",
            "Requests answered with a 5xx, by service.",
            "counter",
        );
        for (name, c) in &t.services {
            let _ = writeln!(
                out,
                "hydra_router_errors_total{{service=\"{}\"}} {}",
                escape(name),
                c.errors
            );
        }
        help(
            &mut out,
            "hydra_router_ws_messages_total",
            "WebSocket messages routed, by service.",
            "counter",
        );
        for (name, c) in &t.services {
            let _ = writeln!(
                out,
                "hydra_router_ws_messages_total{{service=\"{}\"}} {}",
                escape(name),
                c.ws_messages
            );
        }
        help(
            &mut out,
            "hydra_router_retries_total",
            "Requests sent again to another instance, by service and why: the instance refused the connection, or dropped it without an answer.",
            "counter",
        );
        for (name, c) in &t.services {
            for (reason, n) in ["refused", "dropped"].iter().zip(c.retries) {
                let _ = writeln!(
                    out,
                    "hydra_router_retries_total{{service=\"{}\",reason=\"{reason}\"}} {n}",
                    escape(name)
                );
            }
        }
        help(
            &mut out,
            "hydra_router_request_duration_seconds",
            "Time from a request's arrival to the service's response head (or the router's refusal).",
            "histogram",
        );
        let mut all = Histogram::default();
        for c in t.services.values() {
            all.add(&c.latency);
        }
        all.write(&mut out, "hydra_router_request_duration_seconds", "");
        help(
            &mut out,
            "hydra_router_service_request_duration_seconds",
            "The same by service.",
            "histogram",
        );
        for (name, c) in &t.services {
            let labels = format!("service=\"{}\"", escape(name));
            c.latency.write(
                &mut out,
                "hydra_router_service_request_duration_seconds",
                &labels,
            );
        }
        help(
            &mut out,
            "hydra_router_instance_request_duration_seconds",
            "Time from sending a request to an instance to its response head, by service and instance (instances answered within the last 10 minutes).",
            "histogram",
        );
        for (id, c) in &t.instances {
            if c.latency.count == 0 {
                continue;
            }
            c.latency.write(
                &mut out,
                "hydra_router_instance_request_duration_seconds",
                &instance_labels(c, id),
            );
        }
        help(
            &mut out,
            "hydra_router_instance_timeouts_total",
            "Requests an instance did not answer within requestTimeout.",
            "counter",
        );
        for (id, c) in &t.instances {
            let _ = writeln!(
                out,
                "hydra_router_instance_timeouts_total{{{}}} {}",
                instance_labels(c, id),
                c.timeouts
            );
        }
        help(
            &mut out,
            "hydra_router_ejections_total",
            "Times an instance was left out for ejectSeconds, by why: it refused a connection, dropped one, or kept timing out.",
            "counter",
        );
        for (id, c) in &t.instances {
            for (why, n) in Ejection::ALL.iter().zip(c.ejections) {
                let _ = writeln!(
                    out,
                    "hydra_router_ejections_total{{{},reason=\"{}\"}} {n}",
                    instance_labels(c, id),
                    why.label()
                );
            }
        }
        help(
            &mut out,
            "hydra_router_ws_clients",
            "WebSocket clients connected.",
            "gauge",
        );
        let _ = writeln!(
            out,
            "hydra_router_ws_clients {}",
            self.ws_clients.load(Ordering::Relaxed)
        );
        out
    }
}

fn help(out: &mut String, name: &str, text: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {text}\n# TYPE {name} {kind}");
}

fn instance_labels(c: &InstanceCounts, id: &str) -> String {
    format!(
        "service=\"{}\",instance_id=\"{}\"",
        escape(&c.service),
        escape(id)
    )
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

    #[test]
    fn per_service_and_per_instance_latency_retries_and_ejections() {
        let m = Metrics::new(2);
        let micros = Duration::from_micros;
        for (service, id, status, took, instance_took) in [
            ("a", "i1", 200, 900, 400),
            ("a", "i2", 200, 3_000, 2_000),
            ("b", "i3", 500, 60_000, 60_000),
        ] {
            let times = (micros(took), micros(instance_took));
            m.answered(service, id, status, times, Instant::now());
        }
        m.retried("a", Retry::Refused);
        m.ejected("a", "i9", Ejection::Refused);
        m.timed_out("b", "i3");
        m.timed_out("b", "i3");
        m.ejected("b", "i3", Ejection::Timeouts);
        let text = m.render();
        for line in [
            "hydra_router_service_request_duration_seconds_bucket{service=\"a\",le=\"0.001\"} 1",
            "hydra_router_service_request_duration_seconds_bucket{service=\"a\",le=\"0.005\"} 2",
            "hydra_router_service_request_duration_seconds_count{service=\"a\"} 2",
            "hydra_router_service_request_duration_seconds_count{service=\"b\"} 1",
            "hydra_router_instance_request_duration_seconds_bucket{service=\"a\",instance_id=\"i1\",le=\"0.0005\"} 1",
            "hydra_router_instance_request_duration_seconds_bucket{service=\"a\",instance_id=\"i2\",le=\"0.001\"} 0",
            "hydra_router_instance_request_duration_seconds_bucket{service=\"a\",instance_id=\"i2\",le=\"0.0025\"} 1",
            "hydra_router_instance_request_duration_seconds_sum{service=\"b\",instance_id=\"i3\"} 0.06",
            "hydra_router_request_duration_seconds_count 3",
            "hydra_router_retries_total{service=\"a\",reason=\"refused\"} 1",
            "hydra_router_retries_total{service=\"a\",reason=\"dropped\"} 0",
            "hydra_router_instance_timeouts_total{service=\"b\",instance_id=\"i3\"} 2",
            "hydra_router_ejections_total{service=\"a\",instance_id=\"i9\",reason=\"refused\"} 1",
            "hydra_router_ejections_total{service=\"b\",instance_id=\"i3\",reason=\"timeouts\"} 1",
            "hydra_router_ejections_total{service=\"b\",instance_id=\"i3\",reason=\"dropped\"} 0",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(
            !text.contains("hydra_router_instance_request_duration_seconds_count{service=\"a\",instance_id=\"i9\"}"),
            "an instance that never answered has no latency series"
        );
    }

    #[test]
    fn shards_of_several_threads_are_summed_up() {
        let m = std::sync::Arc::new(Metrics::new(3));
        let threads: Vec<_> = (0..4)
            .map(|lane| {
                let m = m.clone();
                std::thread::spawn(move || {
                    set_lane(lane);
                    for _ in 0..250 {
                        let times = (Duration::from_micros(100), Duration::from_micros(50));
                        m.answered("s", "i", 200, times, Instant::now());
                    }
                    m.ws_message("s");
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let text = m.render();
        assert!(text.contains("hydra_router_requests_total{service=\"s\",status=\"200\"} 1000"));
        assert!(text.contains(
            "hydra_router_instance_request_duration_seconds_count{service=\"s\",instance_id=\"i\"} 1000"
        ));
        assert!(text.contains("hydra_router_ws_messages_total{service=\"s\"} 4"));
        assert_eq!(m.stats()["httpStats"]["s"], 1000);
        let history = m.history(Instant::now());
        let requests: u32 = history["s"].iter().map(|p| p.requests).sum();
        assert_eq!(
            requests, 1000,
            "the dashboard's history sums the shards too"
        );
    }
}
