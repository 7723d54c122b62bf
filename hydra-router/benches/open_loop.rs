//! An open-loop HTTP load: GET requests at a fixed rate, whatever the server does, each timed
//! from the moment it was due (not from when a connection was free), so queueing behind a slow
//! answer shows in the figures instead of slowing the load down. wrk keeps a fixed number of
//! connections busy, which hides exactly that.
//!
//! The requests are released by a kernel timer (`timerfd`) that ticks every `LOAD_TICK_US`
//! (default 100 µs, or the interval between requests when longer): the runtime's own timers tick
//! in whole milliseconds, which would send a millisecond's requests in one burst (24 at once at
//! 24,000/s) and time them all from before the tick. One thread, so the load takes as little of
//! the machine as it can.
//!
//! Used by `scripts/bench-http.sh` (added p99 at half the router's maximum rate) and
//! `scripts/bench-faults.sh` (the slow-instance drill at a fixed rate). Settings by environment:
//! `LOAD_URL` (required), `LOAD_RATE` (requests/s, default 1000), `LOAD_SECONDS` (default 5),
//! `LOAD_CONNECTIONS` (most requests in flight, default 256), `LOAD_TIMEOUT_MS` (default 5000).
//! `cargo bench -p hydra-router --bench open_loop`. Prints one line of `key=value` figures.

#![allow(clippy::print_stdout)] // a report printed to the terminal

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::unix::AsyncFd;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// What one connection saw.
#[derive(Default)]
struct Seen {
    /// Latency of each answered request, µs, from when it was due.
    latencies: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    timeouts: u64,
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(authority: &str) -> Option<Sender> {
    let stream = TcpStream::connect(authority).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(sender)
}

/// A timer that fires every `tick` from `first` on, with the precision of the kernel's timers
/// (tens of microseconds), read through the runtime's event loop.
fn ticker(first: Duration, tick: Duration) -> std::io::Result<AsyncFd<OwnedFd>> {
    use rustix::time::{
        timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags,
        TimerfdTimerFlags,
    };
    let spec = |d: Duration| rustix::time::Timespec::try_from(d).map_err(std::io::Error::other);
    let fd = timerfd_create(
        TimerfdClockId::Monotonic,
        TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
    )?;
    timerfd_settime(
        &fd,
        TimerfdTimerFlags::empty(),
        &Itimerspec {
            it_interval: spec(tick)?,
            it_value: spec(first)?,
        },
    )?;
    // `new` is deprecated because a handle could change its descriptor while registered; an
    // `OwnedFd` that only the `AsyncFd` holds cannot (`register`, its successor, is `unsafe`,
    // which this workspace forbids).
    #[allow(deprecated)]
    AsyncFd::new(fd)
}

/// Releases request `i` at `start + i × interval`, by adding a permit to `released` on the
/// first tick at or after its time; then one more for each of the `workers`, which finds every
/// request taken and stops.
async fn pacer(
    released: Arc<Semaphore>,
    ticks: AsyncFd<OwnedFd>,
    total: u64,
    start: Instant,
    interval: Duration,
    workers: usize,
) {
    let mut done = 0u64;
    while done < total {
        let Ok(mut ready) = ticks.readable().await else {
            eprintln!("the load's timer cannot be read");
            released.close();
            return;
        };
        let mut expirations = [0u8; 8];
        if let Ok(Err(e)) =
            ready.try_io(|fd| rustix::io::read(fd, &mut expirations).map_err(Into::into))
        {
            eprintln!("the load's timer failed: {e}");
            released.close(); // the workers stop
            return;
        }
        let elapsed = Instant::now().saturating_duration_since(start);
        let upto = ((elapsed.as_secs_f64() / interval.as_secs_f64()) as u64 + 1).min(total);
        if upto > done {
            released.add_permits((upto - done) as usize);
            done = upto;
        }
    }
    // Not `close`: that would also take back the permits of requests released but not yet
    // taken by a worker.
    released.add_permits(workers);
}

/// One connection: takes the next request released, sends it, times it from when it was due.
#[allow(clippy::too_many_arguments)] // the settings of one run
async fn worker(
    uri: hyper::Uri,
    authority: String,
    released: Arc<Semaphore>,
    next: Arc<AtomicU64>,
    total: u64,
    start: Instant,
    interval: Duration,
    timeout: Duration,
) -> Seen {
    let mut seen = Seen::default();
    let mut sender: Option<Sender> = None;
    loop {
        match released.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => return seen, // closed: the timer failed
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            return seen;
        }
        let due = start + interval.mul_f64(i as f64);
        if sender.as_ref().is_none_or(|s| s.is_closed()) {
            sender = connect(&authority).await;
        }
        let Some(s) = sender.as_mut() else {
            seen.errors += 1;
            continue;
        };
        let req = Request::get(uri.clone())
            .header(hyper::header::HOST, authority.as_str())
            .body(Empty::<Bytes>::new())
            .expect("a valid request");
        let answer = tokio::time::timeout(timeout, async {
            let resp = s.send_request(req).await?;
            let status = resp.status().as_u16();
            resp.into_body().collect().await?;
            Ok::<u16, hyper::Error>(status)
        })
        .await;
        match answer {
            Ok(Ok(status)) => {
                seen.latencies.push(due.elapsed().as_micros() as u64);
                *seen.statuses.entry(status).or_default() += 1;
            }
            Ok(Err(_)) => {
                seen.errors += 1;
                sender = None;
            }
            Err(_) => {
                seen.timeouts += 1;
                sender = None; // the answer may still come on this connection: start afresh
            }
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Some(url) = std::env::var("LOAD_URL").ok().filter(|u| !u.is_empty()) else {
        println!("set LOAD_URL (and LOAD_RATE, LOAD_SECONDS, LOAD_CONNECTIONS, LOAD_TIMEOUT_MS)");
        return;
    };
    let uri: hyper::Uri = url.parse().expect("LOAD_URL is a URL");
    let authority = uri.authority().expect("LOAD_URL has a host").to_string();
    let rate: f64 = setting("LOAD_RATE", 1000.0);
    let seconds: f64 = setting("LOAD_SECONDS", 5.0);
    let connections: usize = setting("LOAD_CONNECTIONS", 256);
    let timeout = Duration::from_millis(setting("LOAD_TIMEOUT_MS", 5000));
    let total = (rate * seconds).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let next = Arc::new(AtomicU64::new(0));
    let released = Arc::new(Semaphore::new(0));
    let first = Duration::from_millis(200); // connections get ready first
    let tick = interval.max(Duration::from_micros(setting("LOAD_TICK_US", 100)));
    let ticks = ticker(first, tick).expect("a timer for the load");
    let start = Instant::now() + first;
    tokio::spawn(pacer(
        released.clone(),
        ticks,
        total,
        start,
        interval,
        connections,
    ));
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            tokio::spawn(worker(
                uri.clone(),
                authority.clone(),
                released.clone(),
                next.clone(),
                total,
                start,
                interval,
                timeout,
            ))
        })
        .collect();
    let mut all = Seen::default();
    for w in workers {
        let seen = w.await.expect("a load worker");
        all.latencies.extend(seen.latencies);
        for (status, n) in seen.statuses {
            *all.statuses.entry(status).or_default() += n;
        }
        all.errors += seen.errors;
        all.timeouts += seen.timeouts;
    }
    let took = start.elapsed().as_secs_f64();
    all.latencies.sort_unstable();
    let ok: u64 = all
        .statuses
        .iter()
        .filter(|(s, _)| (200..300).contains(*s))
        .map(|(_, n)| n)
        .sum();
    let other: Vec<String> = all
        .statuses
        .iter()
        .filter(|(s, _)| !(200..300).contains(*s))
        .map(|(s, n)| format!("{s}:{n}"))
        .collect();
    println!(
        "rate={rate:.0} sent={total} ok={ok} non2xx={} other_statuses={} errors={} timeouts={} \
         p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} p999_ms={:.3} max_ms={:.3} achieved_rps={:.0}",
        all.statuses.values().sum::<u64>() - ok,
        if other.is_empty() {
            "-".to_string()
        } else {
            other.join(",")
        },
        all.errors,
        all.timeouts,
        percentile(&all.latencies, 50.0),
        percentile(&all.latencies, 90.0),
        percentile(&all.latencies, 99.0),
        percentile(&all.latencies, 99.9),
        percentile(&all.latencies, 100.0),
        total as f64 / took,
    );
}
