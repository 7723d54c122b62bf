//! HTTP/1.1 on a listener, for the service port and the metrics port: what `axum::serve` does,
//! with a time limit on request heads, which it has no way to set (hyper's own needs a timer,
//! and without one a client may hold a connection open for ever by sending half a head).

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets each
/// connection finish the request it is answering (an idle one is closed at once), and returns
/// when every connection is closed. A client that has not sent a whole request head within
/// `header_read_timeout` of the wait for it has its connection closed.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    // Sent once, on shutdown; every connection watches it.
    let (stopping, stop_seen) = watch::channel(());
    // Each connection holds a receiver: the sender is closed when the last one has ended.
    let (open, open_seen) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    pause_after(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let conn = http
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()))
            .with_upgrades();
        let mut stop = stop_seen.clone();
        let still_open = open_seen.clone();
        tokio::spawn(async move {
            let mut conn = pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended");
            }
            drop(still_open);
        });
    }
    drop(listener);
    drop(open_seen);
    let _ = stopping.send(());
    open.closed().await;
}

/// After a failed accept: nothing for a connection that failed on its way in; else (too many
/// open files, say) a log line and a second's pause, so the loop does not spin.
async fn pause_after(e: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "cannot accept connections; trying again in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
