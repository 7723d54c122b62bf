//! The last minutes of each service's traffic, for the dashboard's charts: one slot per
//! [`SLOT`] over [`WINDOW`], each with its requests, its 5xx answers and a latency histogram
//! from which the slot's p99 is read.
//!
//! Recording is on the path of every forwarded request: it adds to the counters of a ring of
//! fixed slots (the slot chosen by its number, reset when the ring comes round to it), with no
//! allocation and no clock reading of its own (the caller passes the time).
//!
//! Latency buckets are logarithmic, four per power of two of microseconds (bucket `i` for
//! `i < 8` holds exactly `i` µs); a p99 is given as the upper edge of its bucket, so it is at
//! most 25 % above the true value. Latencies of 2²⁵ µs (33 s) and more share the last bucket.

use std::time::{Duration, Instant};

use serde::Serialize;

/// How much time one slot covers.
pub const SLOT: Duration = Duration::from_secs(5);
/// How many slots are kept.
pub const SLOTS: usize = 120;
/// How far back the history goes.
pub const WINDOW: Duration = Duration::from_secs(SLOT.as_secs() * SLOTS as u64);
/// Latency buckets per slot.
pub const LATENCY_BUCKETS: usize = 96;

/// The latency bucket of `micros` µs.
pub fn bucket(micros: u64) -> usize {
    if micros < 8 {
        return micros as usize;
    }
    let e = 63 - micros.leading_zeros() as usize;
    let sub = ((micros >> (e - 2)) & 3) as usize;
    ((e - 1) * 4 + sub).min(LATENCY_BUCKETS - 1)
}

/// The upper edge of bucket `i` in µs (exclusive: the bucket holds values below it).
pub fn bucket_upper(i: usize) -> u64 {
    if i < 4 {
        return i as u64 + 1;
    }
    let e = i / 4 + 1;
    let sub = (i % 4) as u64;
    (5 + sub) << (e - 2)
}

/// The `q` quantile (0 < q ≤ 1) of a latency histogram, as the upper edge of the bucket it falls
/// in (µs); `None` for an empty histogram.
pub fn quantile(counts: &[u32], q: f64) -> Option<u64> {
    let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0u64;
    for (i, &c) in counts.iter().enumerate() {
        seen += u64::from(c);
        if seen >= rank {
            return Some(bucket_upper(i));
        }
    }
    None
}

/// Slot numbers counted from a fixed instant.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    /// A clock whose slot 0 starts at `origin`.
    pub fn new(origin: Instant) -> Self {
        Self { origin }
    }

    /// The number of the slot `at` falls in.
    pub fn slot(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin).as_secs() / SLOT.as_secs()
    }

    /// How far into its slot `at` is.
    pub fn into_slot(&self, at: Instant) -> Duration {
        let since = at.saturating_duration_since(self.origin);
        since - SLOT * (since.as_secs() / SLOT.as_secs()) as u32
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    number: u64,
    requests: u32,
    errors: u32,
    latency: [u32; LATENCY_BUCKETS],
}

impl Slot {
    const EMPTY: Slot = Slot {
        number: u64::MAX,
        requests: 0,
        errors: 0,
        latency: [0; LATENCY_BUCKETS],
    };
}

/// One service's slots.
#[derive(Debug, Clone)]
pub struct Series {
    slots: Box<[Slot; SLOTS]>,
}

impl Default for Series {
    fn default() -> Self {
        Self {
            slots: Box::new([Slot::EMPTY; SLOTS]),
        }
    }
}

/// One slot of a service, as the dashboard reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Point {
    /// Seconds from the start of the slot to now.
    pub ago: f64,
    /// Requests answered in the slot.
    pub requests: u32,
    /// Of those, answered with a 5xx.
    pub errors: u32,
    /// Requests per second over the slot (for the current one, over the part of it gone by, 1 s
    /// at least).
    pub rate: f64,
    /// Percent of the slot's requests answered with a 5xx; `None` without requests.
    pub error_percent: Option<f64>,
    /// The slot's p99 latency in milliseconds (see the module's resolution); `None` without
    /// requests.
    pub p99_ms: Option<f64>,
}

impl Series {
    /// Counts a request answered with `status` after `took`, in slot `slot`.
    pub fn record(&mut self, slot: u64, status: u16, took: Duration) {
        let s = &mut self.slots[(slot % SLOTS as u64) as usize];
        if s.number != slot {
            *s = Slot::EMPTY;
            s.number = slot;
        }
        s.requests = s.requests.saturating_add(1);
        if status >= 500 {
            s.errors = s.errors.saturating_add(1);
        }
        let micros = took
            .as_secs()
            .saturating_mul(1_000_000)
            .saturating_add(u64::from(took.subsec_micros()));
        let b = bucket(micros);
        s.latency[b] = s.latency[b].saturating_add(1);
    }

    /// Adds `other`'s counts (the same service counted elsewhere) to these: slots of the same
    /// number are summed, and a newer slot replaces an older one.
    pub fn merge(&mut self, other: &Series) {
        for (mine, theirs) in self.slots.iter_mut().zip(other.slots.iter()) {
            if theirs.number == u64::MAX {
                continue;
            }
            if mine.number == theirs.number {
                mine.requests = mine.requests.saturating_add(theirs.requests);
                mine.errors = mine.errors.saturating_add(theirs.errors);
                for (a, b) in mine.latency.iter_mut().zip(theirs.latency.iter()) {
                    *a = a.saturating_add(*b);
                }
            } else if mine.number == u64::MAX || theirs.number > mine.number {
                *mine = *theirs;
            }
        }
    }

    /// The slots of the window ending at `now` (oldest first), from slot 0 on; slots without
    /// requests are points with zero requests.
    pub fn points(&self, clock: &Clock, now: Instant) -> Vec<Point> {
        let current = clock.slot(now);
        let into = clock.into_slot(now).as_secs_f64();
        let first = current.saturating_sub(SLOTS as u64 - 1);
        (first..=current)
            .map(|n| {
                let s = &self.slots[(n % SLOTS as u64) as usize];
                let s = if s.number == n { s } else { &Slot::EMPTY };
                let ago = (current - n) as f64 * SLOT.as_secs_f64() + into;
                let covered = if n == current {
                    into.max(1.0)
                } else {
                    SLOT.as_secs_f64()
                };
                let has = s.requests > 0;
                Point {
                    ago: (ago * 1000.0).round() / 1000.0,
                    requests: s.requests,
                    errors: s.errors,
                    rate: (f64::from(s.requests) / covered * 100.0).round() / 100.0,
                    error_percent: has.then(|| {
                        (f64::from(s.errors) * 100.0 / f64::from(s.requests) * 100.0).round()
                            / 100.0
                    }),
                    p99_ms: quantile(&s.latency, 0.99).map(|us| us as f64 / 1000.0),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_at_most_a_quarter_wide() {
        for i in 0..8 {
            assert_eq!(bucket(i as u64), i);
            assert_eq!(bucket_upper(i), i as u64 + 1);
        }
        let mut prev = 0;
        for i in 8..LATENCY_BUCKETS {
            let upper = bucket_upper(i);
            let lower = bucket_upper(i - 1);
            assert!(upper > prev);
            assert!(upper as f64 / lower as f64 <= 1.25 + 1e-9, "bucket {i}");
            assert_eq!(bucket(lower), i, "lower edge of {i}");
            assert_eq!(bucket(upper - 1), i, "top of {i}");
            prev = upper;
        }
        assert_eq!(bucket(u64::MAX), LATENCY_BUCKETS - 1);
        assert!(bucket_upper(bucket(700)) >= 700 && bucket_upper(bucket(700)) <= 875);
    }

    #[test]
    fn p99_from_buckets() {
        let mut counts = [0u32; LATENCY_BUCKETS];
        assert_eq!(quantile(&counts, 0.99), None);
        // 98 fast requests (300 µs), 2 slow ones (40 ms): the 99th is slow.
        counts[bucket(300)] += 98;
        counts[bucket(40_000)] += 2;
        let p99 = quantile(&counts, 0.99).unwrap();
        assert!((40_000..=50_000).contains(&p99), "{p99}");
        // 995 fast, 5 slow: the 990th is fast.
        counts[bucket(300)] = 995;
        counts[bucket(40_000)] = 5;
        let p99 = quantile(&counts, 0.99).unwrap();
        assert!((300..=375).contains(&p99), "{p99}");
        // One request: it is its own p99.
        let mut one = [0u32; LATENCY_BUCKETS];
        one[bucket(1_000)] = 1;
        assert_eq!(quantile(&one, 0.99), Some(bucket_upper(bucket(1_000))));
    }

    #[test]
    fn merged_series_sum_the_same_slots_and_keep_the_newer_ones() {
        let clock = Clock::new(Instant::now());
        let (mut a, mut b) = (Series::default(), Series::default());
        a.record(3, 200, Duration::from_micros(100));
        b.record(3, 503, Duration::from_micros(900));
        // Slot 2 on one side, and on the other slot 2 + SLOTS, which takes its place in the ring.
        a.record(2, 200, Duration::from_micros(5));
        b.record(2 + SLOTS as u64, 200, Duration::from_micros(5));
        b.record(2 + SLOTS as u64, 200, Duration::from_micros(5));
        a.merge(&b);
        let now = clock.origin + SLOT * (2 + SLOTS as u32);
        let points = a.points(&clock, now);
        let last = points.last().expect("points");
        assert_eq!(last.requests, 2, "the newer slot replaced the older one");
        // The window's first slot is 3.
        let three = &points[0];
        assert_eq!((three.requests, three.errors), (2, 1));
        assert_eq!(
            three.p99_ms,
            Some(bucket_upper(bucket(900)) as f64 / 1000.0)
        );
    }

    #[test]
    fn slots_roll_over_and_old_ones_are_dropped() {
        let t0 = Instant::now();
        let clock = Clock::new(t0);
        let at = |secs: f64| t0 + Duration::from_secs_f64(secs);
        let mut s = Series::default();
        let ms = Duration::from_millis;

        // Slot 0: 3 requests, one 503; slot 1: 1 request.
        for (t, status) in [(0.5, 200), (1.0, 503), (4.9, 200), (5.1, 200)] {
            s.record(clock.slot(at(t)), status, ms(2));
        }
        let p = s.points(&clock, at(7.0));
        assert_eq!(p.len(), 2, "slots since the clock's start only");
        assert_eq!((p[0].requests, p[0].errors), (3, 1));
        assert_eq!(p[0].rate, 0.6);
        assert_eq!(p[0].error_percent, Some(33.33));
        assert_eq!(p[0].ago, 7.0);
        assert_eq!((p[1].requests, p[1].errors), (1, 0));
        assert_eq!(
            p[1].rate, 0.5,
            "the current slot's rate over the 2 s gone by"
        );
        assert_eq!(p[1].ago, 2.0);
        assert_eq!(
            p[1].p99_ms,
            Some(bucket_upper(bucket(2_000)) as f64 / 1000.0)
        );

        // A quiet slot reads as zero requests and no p99 or error share.
        let p = s.points(&clock, at(12.0));
        assert_eq!(p.len(), 3);
        assert_eq!(p[2].requests, 0);
        assert_eq!((p[2].p99_ms, p[2].error_percent), (None, None));

        // A full window later the ring comes round to slot 0's place: the new slot starts from
        // zero, and the window holds the last SLOTS slots only.
        let later = SLOTS as f64 * SLOT.as_secs_f64();
        s.record(clock.slot(at(later + 1.0)), 200, ms(30));
        let p = s.points(&clock, at(later + 2.0));
        assert_eq!(p.len(), SLOTS);
        let last = p.last().unwrap();
        assert_eq!((last.requests, last.errors), (1, 0));
        assert_eq!(
            last.p99_ms,
            Some(bucket_upper(bucket(30_000)) as f64 / 1000.0)
        );
        assert_eq!(p[0].requests, 1, "slot 1 is the oldest one kept");
        assert!(p[1..SLOTS - 1].iter().all(|p| p.requests == 0));

        // Long after: everything recorded is out of the window.
        let p = s.points(&clock, at(later * 3.0));
        assert_eq!(p.len(), SLOTS);
        assert!(p.iter().all(|p| p.requests == 0));
    }
}
