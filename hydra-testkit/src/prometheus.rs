//! Reading a Prometheus text exposition in tests.

use std::collections::HashMap;

/// Every sample of a Prometheus text exposition (a scrape of `/metrics`), by series
/// (`name{labels}` as written, or `name` alone); comments and lines that do not end in a number
/// are left out.
///
/// # Examples
///
/// ```
/// let text = "# TYPE hits_total counter\nhits_total{route=\"/a\"} 3\nup 1\n";
/// let samples = hydra_testkit::metric_samples(text);
/// assert_eq!(samples["hits_total{route=\"/a\"}"], 3.0);
/// assert_eq!(samples["up"], 1.0);
/// ```
pub fn metric_samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}
