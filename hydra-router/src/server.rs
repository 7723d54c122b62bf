//! The HTTP/1.1 accept loop: a header read timeout (so slow or idle-before-headers clients cannot
//! hold connections: slowloris), upgrades for WebSocket, the peer address for handlers, and a
//! graceful drain on shutdown. Each connection is served by `h1::server`, which answers plain requests
//! itself and hands the rest to hyper.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use axum::Router;
use hyper_util::rt::TokioTimer;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Largest request head (request line and headers) accepted.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// What answers each request, given the peer's address.
pub type Handler = Arc<
    dyn Fn(Request<Body>, SocketAddr) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>>
        + Send
        + Sync,
>;

/// What answers each request on a connection, given the peer's address: a [`Handler`], or a
/// type whose future the connection keeps in place (no allocation and no copy per request).
pub trait Serve: Clone + Send + Sync + 'static {
    /// The answer to `req`.
    fn call(
        &self,
        req: Request<Body>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response<Body>> + Send + 'static;
}

impl Serve for Handler {
    fn call(
        &self,
        req: Request<Body>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response<Body>> + Send + 'static {
        self(req, peer)
    }
}

/// An axum application as a [`Handler`] (the peer address in each request's extensions, as
/// [`Peer`]).
pub fn handler_of(app: Router) -> Handler {
    Arc::new(move |mut req, peer| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        Box::pin(async move { app.oneshot(req).await.unwrap_or_else(|e| match e {}) })
    })
}

/// Whether what the connections started (WebSocket sessions) has ended: a server thread stays
/// up, within the drain time, until it has.
pub type Settled = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

/// Serves `handler` on `listener` until `stop` is cancelled, then drains connections for up to `drain`.
///
/// With `threads` above 1, the connections are handed out in turn to that many threads, each
/// with a single-threaded runtime of its own (and, through [`client`](crate::h1::client), its
/// own upstream connections): a request is read, forwarded and answered on one thread, with no
/// wake-ups across threads, even when there is one (a single-threaded runtime serves a request
/// with less work than a multi-threaded one). With 0, connections are served on the caller's
/// runtime.
pub async fn serve<H: Serve>(
    listener: tokio::net::TcpListener,
    handler: H,
    stop: CancellationToken,
    drain: Duration,
    header_read_timeout: Duration,
    threads: usize,
    settled: Settled,
) {
    if threads == 0 {
        let mut here = Lane::new(handler, stop.clone(), header_read_timeout);
        accept(&listener, &stop, |stream, peer| {
            here.start(stream, peer);
            Ok(())
        })
        .await;
        drop(listener);
        here.drain(drain).await;
        return;
    }
    let mut lanes = Vec::with_capacity(threads);
    for i in 0..threads {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(std::net::TcpStream, SocketAddr)>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let lane = Lane::new(handler.clone(), stop.clone(), header_read_timeout);
        let settled = settled.clone();
        let started = std::thread::Builder::new()
            .name(format!("http-{i}"))
            .spawn(move || {
                crate::metrics::set_lane(i);
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(lane.run(rx, drain, settled)),
                    Err(e) => tracing::error!(error = %e, "no runtime for a server thread"),
                }
                let _ = done_tx.send(());
            });
        match started {
            Ok(_) => lanes.push((tx, done_rx)),
            Err(e) => tracing::error!(error = %e, "could not start a server thread"),
        }
    }
    if lanes.is_empty() {
        return;
    }
    let mut next = 0usize;
    accept(&listener, &stop, |stream, peer| {
        let stream = stream.into_std()?;
        let (tx, _) = &lanes[next % lanes.len()];
        next = next.wrapping_add(1);
        tx.send((stream, peer))
            .map_err(|_| std::io::Error::other("server thread gone"))
    })
    .await;
    drop(listener);
    let mut done = Vec::with_capacity(lanes.len());
    for (tx, done_rx) in lanes {
        drop(tx); // the lane drains once its queue is closed
        done.push(done_rx);
    }
    for d in done {
        let _ = d.await;
    }
}

/// Accepts connections until `stop` is cancelled, handing each to `take`.
async fn accept(
    listener: &tokio::net::TcpListener,
    stop: &CancellationToken,
    mut take: impl FnMut(tokio::net::TcpStream, SocketAddr) -> std::io::Result<()>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => return,
        };
        let _ = stream.set_nodelay(true);
        if let Err(e) = take(stream, peer) {
            tracing::warn!(%peer, error = %e, "could not hand the connection over");
        }
    }
}

/// The connections served on one runtime.
struct Lane<H: Serve> {
    settings: Arc<crate::h1::server::Settings<H>>,
    connections: tokio::task::JoinSet<crate::h1::server::Ended>,
}

impl<H: Serve> Lane<H> {
    fn new(handler: H, stop: CancellationToken, header_read_timeout: Duration) -> Self {
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .max_buf_size(MAX_HEADER_BYTES)
            .keep_alive(true);
        Self {
            settings: Arc::new(crate::h1::server::Settings {
                handler,
                stop,
                header_read_timeout,
                hyper: http,
            }),
            connections: tokio::task::JoinSet::new(),
        }
    }

    /// Serves the connections that arrive on `rx` until it is closed, then drains.
    async fn run(
        mut self,
        mut rx: tokio::sync::mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr)>,
        drain: Duration,
        settled: Settled,
    ) {
        while let Some((stream, peer)) = rx.recv().await {
            match tokio::net::TcpStream::from_std(stream) {
                Ok(stream) => self.start(stream, peer),
                Err(e) => tracing::warn!(%peer, error = %e, "could not take the connection"),
            }
        }
        let until = tokio::time::Instant::now() + drain;
        self.drain(drain).await;
        // What the connections started here (WebSocket sessions) gets the rest of the drain
        // time to finish: its tasks run on this thread's runtime, which ends with the thread.
        while !settled() && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // A session leaves the hub just before its last frame is flushed.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    /// Serves one connection ([`h1::server`](crate::h1::server): HTTP/1.1 with upgrades, the peer address
    /// for handlers, and a graceful end, the request in flight answered, when the router stops).
    fn start(&mut self, stream: tokio::net::TcpStream, peer: SocketAddr) {
        self.connections.spawn(crate::h1::server::serve(
            stream,
            peer,
            self.settings.clone(),
        ));
        while self.connections.try_join_next().is_some() {}
    }

    /// Waits up to `drain` for the connections to end, then closes the rest.
    async fn drain(&mut self, drain: Duration) {
        let connections = &mut self.connections;
        let drained = tokio::time::timeout(drain, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                ?drain,
                open = self.connections.len(),
                "connections still open after the drain time"
            );
            self.connections.abort_all();
        }
    }
}

/// The peer address in the requests an axum application served by [`handler_of`] gets.
pub type Peer = ConnectInfo<SocketAddr>;
