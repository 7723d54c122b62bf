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
///
/// # Examples
///
/// ```no_run
/// # async fn test(hydra: hydra_core::Hydra) {
/// use std::time::Duration;
///
/// // The first instance of `orders` that is present.
/// let instance = hydra_testkit::wait_for(Duration::from_secs(5), "an orders instance", || async {
///     hydra.get_service_presence("orders").await.ok()?.into_iter().next()
/// })
/// .await;
/// # let _ = instance;
/// # }
/// ```
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
///
/// # Examples
///
/// ```no_run
/// # async fn test(redis: hydra_testkit::RedisServer) {
/// use std::time::Duration;
///
/// let took = hydra_testkit::wait_until(Duration::from_secs(5), "redis answers", || async {
///     redis.ping()
/// })
/// .await;
/// assert!(took < Duration::from_secs(5));
/// # }
/// ```
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
///
/// # Examples
///
/// ```no_run
/// # async fn test(redis: hydra_testkit::RedisServer) {
/// use hydra_core::Hydra;
///
/// let hydra = Hydra::connect(hydra_testkit::service_config(&redis, "orders")).await.unwrap();
/// let registering = hydra.clone();
/// tokio::spawn(async move { registering.register_service().await });
/// hydra_testkit::wait_registered(&hydra).await;
/// # }
/// ```
pub async fn wait_registered(hydra: &Hydra) {
    wait_until(Duration::from_secs(10), "registration", || async {
        hydra.is_registered()
    })
    .await;
}
