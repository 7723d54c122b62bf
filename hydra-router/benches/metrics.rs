//! The cost of counting a forwarded request (`Metrics::request`, on the path of every request the
//! router forwards: its counters, its latency histogram and the dashboard's history), in
//! nanoseconds per call, from one thread and from two at once, over three services.
//! `cargo bench -p hydra-router --bench metrics` (`METRICS_CALLS`, default 5,000,000 per thread).
//! Prints one line of `key=value` figures.

#![allow(clippy::print_stdout)] // a report printed to the terminal

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hydra_router::metrics::Metrics;

const SERVICES: [&str; 3] = ["hello-service", "hpp-service", "other-service"];

/// `calls` requests counted into `m`, with latencies from 100 µs to 5 ms and one 503 in 100;
/// nanoseconds per call.
fn count(m: &Metrics, calls: u32) -> f64 {
    let started = Instant::now();
    for i in 0..calls {
        let status = if i % 100 == 0 { 503 } else { 200 };
        let took = Duration::from_micros(100 + u64::from(i % 4_900));
        m.request(
            black_box(SERVICES[(i % 3) as usize]),
            black_box(status),
            black_box(took),
        );
    }
    started.elapsed().as_nanos() as f64 / f64::from(calls)
}

fn main() {
    let calls: u32 = std::env::var("METRICS_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000);
    let m = Arc::new(Metrics::default());
    count(&m, calls / 10);
    let one = count(&m, calls);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || count(&m, calls))
        })
        .collect();
    let two: Vec<f64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    println!(
        "calls={calls} ns_per_call_1_thread={one:.1} ns_per_call_2_threads={:.1}",
        two.iter().sum::<f64>() / 2.0
    );
}
