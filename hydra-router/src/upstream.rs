//! Connections to service instances: HTTP/1.1, kept open between requests, one set per thread.
//!
//! A server thread reads a request, forwards it on one of its own idle connections to the
//! instance (or a new one) and answers, all on its own runtime: no lock, no shared pool, no
//! wake-up of another thread. A connection goes back to its thread's idle list when the answer's
//! body has been read to its end; an answer dropped half-read closes it. A request that an idle
//! connection could not take (the instance closed it meanwhile) is sent on another, so a
//! keep-alive race never reaches the caller.

use std::cell::RefCell;
use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http::{Request, Response};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// How long a new connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// An idle connection unused this long is closed rather than reused.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Idle connections kept per instance and thread; more are closed.
pub const MAX_IDLE: usize = 256;

type Sender = SendRequest<Full<Bytes>>;

/// One thread's idle connections, by instance authority (`ip:port`).
#[derive(Default)]
struct Idle {
    by_authority: HashMap<String, Vec<(Sender, Instant)>>,
    swept: Option<Instant>,
}

thread_local! {
    static IDLE: RefCell<Idle> = RefCell::new(Idle::default());
}

impl Idle {
    fn take(&mut self, authority: &str) -> Option<Sender> {
        let list = self.by_authority.get_mut(authority)?;
        while let Some((sender, since)) = list.pop() {
            if !sender.is_closed() && since.elapsed() < IDLE_TIMEOUT {
                return Some(sender);
            }
        }
        None
    }

    fn put(&mut self, authority: &str, sender: Sender) {
        let now = Instant::now();
        if self
            .swept
            .is_none_or(|t| now.duration_since(t) >= IDLE_TIMEOUT)
        {
            // Instances that went away leave closed connections behind: drop them now and then.
            self.swept = Some(now);
            for list in self.by_authority.values_mut() {
                list.retain(|(s, since)| {
                    !s.is_closed() && now.duration_since(*since) < IDLE_TIMEOUT
                });
            }
            self.by_authority.retain(|_, list| !list.is_empty());
        }
        match self.by_authority.get_mut(authority) {
            Some(list) if list.len() >= MAX_IDLE => {}
            Some(list) => list.push((sender, now)),
            None => {
                self.by_authority
                    .insert(authority.to_string(), vec![(sender, now)]);
            }
        }
    }
}

/// Why a request did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No connection could be made: nothing was sent.
    #[error("could not connect: {0}")]
    Connect(String),
    /// The connection failed while the request was under way.
    #[error("{0}")]
    Request(#[from] hyper::Error),
}

impl SendError {
    /// Whether the instance refused (or never took) the connection: nothing reached it.
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Connect(_))
    }
}

/// Sends `req` (origin-form URI, `Host` set) to the instance at `authority` on an idle
/// connection of this thread, or a new one.
///
/// # Errors
/// [`SendError::Connect`] when no connection could be made; [`SendError::Request`] when the
/// connection failed with the request under way.
pub async fn send(
    authority: &str,
    mut req: Request<Full<Bytes>>,
) -> Result<Response<Returning>, SendError> {
    while let Some(mut sender) = IDLE.with(|idle| idle.borrow_mut().take(authority)) {
        // Its last answer was read to the end: it is ready as soon as its task has seen that.
        if sender.ready().await.is_err() {
            continue;
        }
        match sender.try_send_request(req).await {
            Ok(resp) => return Ok(returning(authority, sender, resp)),
            Err(mut e) => match e.take_message() {
                // Never written: the connection was closing. Another one takes it.
                Some(unsent) => req = unsent,
                None => return Err(SendError::Request(e.into_error())),
            },
        }
    }
    let mut sender = connect(authority).await?;
    let resp = sender.send_request(req).await?;
    Ok(returning(authority, sender, resp))
}

async fn connect(authority: &str) -> Result<Sender, SendError> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(authority))
        .await
        .map_err(|_| SendError::Connect(format!("no connection within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| SendError::Connect(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| SendError::Connect(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

fn returning(authority: &str, sender: Sender, resp: Response<Incoming>) -> Response<Returning> {
    resp.map(|body| {
        let mut body = Returning {
            body,
            home: Some((authority.to_string(), sender)),
        };
        body.if_ended();
        body
    })
}

/// An answer's body; once read to its end, its connection goes back to the thread's idle list.
#[derive(Debug)]
pub struct Returning {
    body: Incoming,
    home: Option<(String, Sender)>,
}

impl Returning {
    fn if_ended(&mut self) {
        if self.body.is_end_stream() {
            if let Some((authority, sender)) = self.home.take() {
                IDLE.with(|idle| idle.borrow_mut().put(&authority, sender));
            }
        }
    }
}

impl Body for Returning {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => {
                if let Some((authority, sender)) = self.home.take() {
                    IDLE.with(|idle| idle.borrow_mut().put(&authority, sender));
                }
            }
            Poll::Ready(Some(Ok(_))) => self.if_ended(),
            // A broken answer: its connection is not reused.
            Poll::Ready(Some(Err(_))) => self.home = None,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
