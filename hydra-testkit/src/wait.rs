//! Waiting for something to happen: poll a condition until it holds, with a deadline, instead of
//! sleeping for a guessed time.

use std::future::Future;
use std::time::{Duration, Instant};

use hydra_core::Hydra;

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(20);

/// Polls `check` until it gives a value; returns it.
///
/// # Panics
/// When it gives none within `within`, with `what` in the message.
pub async fn wait_for<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `check` until it holds; returns how long that took.
///
/// # Panics
/// When it does not hold within `within`, with `what` in the message.
pub async fn wait_until<F, Fut>(within: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    wait_for(within, what, || {
        let done = check();
        async move { done.await.then_some(()) }
    })
    .await;
    start.elapsed()
}

/// Waits until `hydra` is registered (its serve task registers it in the background).
///
/// # Panics
/// When it is not within 10 s.
pub async fn wait_registered(hydra: &Hydra) {
    wait_until(Duration::from_secs(10), "registration", || async {
        hydra.is_registered()
    })
    .await;
}
