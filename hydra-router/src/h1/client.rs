//! Connections to service instances: HTTP/1.1, kept open between requests, one set per thread.
//!
//! A server thread reads a request, forwards it on one of its own idle connections to the
//! instance (or a new one) and answers, all within the request's own task: the request is
//! written and the answer's head read right there, and the answer's body is read from the
//! socket as the client is sent it, so no other task and no other thread is woken. A connection
//! goes back to its thread's idle list when the answer's body has been read to its end; an
//! answer dropped half-read closes it.
//!
//! [`send`] sends a request again only when its caller says so: its error says what that
//! decision needs ([`SendError::request_sent`], [`SendError::reused`]), and the caller decides,
//! for another connection to the same instance as for another instance.
//!
//! An instance may answer before it has read the whole request (a 413 for a body over its
//! limit, a 401): while the request is written the connection is read too, and an answer that
//! arrives, or that was there when the instance stopped reading, is the answer (the connection
//! is not kept after it).
//!
//! Each try is bounded by [`Timeouts`]: the answer's head within `answer` of the request's
//! start (connecting and writing included: [`SendError::timed_out`]), then its body with no wait
//! between two reads longer than `idle`, and whole within `whole` of the request's start. A body
//! that stalls ends in an error of kind [`io::ErrorKind::TimedOut`], and its connection is
//! closed. The timers are set where the waits are, not around the whole try, so that a request's
//! future stays small.
//!
//! Heads and bodies are framed by the rules of [`super::head`] and [`super::body`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use axum::http::{Method, Request, Response};
use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};
use tokio::net::TcpStream;

use super::body::Framing;
use super::head::{parse_response, Answer, Parsed};
use super::poll_read_more;
use super::write::{encode_request, COALESCE};

/// How long a new connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// An idle connection unused this long is closed rather than reused: less than the time an
/// instance keeps an idle connection open (Node's server 5 s, hydra-service's
/// `headerReadTimeout` 10 s), so that the router does not write a request into a connection the
/// instance is closing at that moment (a request whose bytes went out is not sent again unless
/// idempotent).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// Idle connections kept per instance and thread; more are closed.
pub const MAX_IDLE: usize = 256;

/// The largest answer head read (status line and headers).
pub const MAX_HEAD: usize = 64 * 1024;

/// Bytes asked of the socket at once.
const READ_CHUNK: usize = 16 * 1024;

/// How long an answer may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The answer's head, from the request's start (`requestTimeout`).
    pub answer: Duration,
    /// The longest wait for more of the body.
    pub idle: Duration,
    /// The whole answer, from the request's start.
    pub whole: Duration,
}

/// One connection to an instance, with what was read from it and not used yet.
#[derive(Debug)]
struct Conn {
    io: TcpStream,
    buf: BytesMut,
}

impl Conn {
    /// Whether a kept connection can still take a request: nothing to read on it (the instance
    /// neither closed it nor sent anything unasked).
    fn still_open(&self) -> bool {
        let mut probe = [0u8; 1];
        matches!(self.io.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Reads more into the buffer; `Ok(0)` at the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        poll_read_more(&self.io, &mut self.buf, READ_CHUNK, cx)
    }

    async fn fill(&mut self) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// Takes an answer's head off the buffer when it is all there, past any interim answers.
    fn answer(&mut self, bodyless: bool) -> Result<Option<Answer>, String> {
        loop {
            match parse_response(&mut self.buf, bodyless)? {
                Some(Parsed::Interim) => {}
                Some(Parsed::Answer(answer)) => return Ok(Some(answer)),
                None if self.buf.len() >= MAX_HEAD => {
                    return Err(format!("the answer's head is larger than {MAX_HEAD} bytes"))
                }
                None => return Ok(None),
            }
        }
    }
}

/// One thread's idle connections, by instance authority (`ip:port`).
#[derive(Default)]
struct Idle {
    by_authority: HashMap<String, Vec<(Conn, Instant)>, foldhash::fast::RandomState>,
    swept: Option<Instant>,
}

thread_local! {
    static IDLE: RefCell<Idle> = RefCell::new(Idle::default());
}

impl Idle {
    fn take(&mut self, authority: &str, now: Instant) -> Option<Conn> {
        let list = self.by_authority.get_mut(authority)?;
        while let Some((conn, since)) = list.pop() {
            if now.saturating_duration_since(since) < IDLE_TIMEOUT && conn.still_open() {
                return Some(conn);
            }
        }
        None
    }

    fn put(&mut self, authority: &str, conn: Conn) {
        let now = Instant::now();
        if self
            .swept
            .is_none_or(|t| now.duration_since(t) >= IDLE_TIMEOUT)
        {
            // Instances that went away leave closed connections behind: drop them now and then.
            self.swept = Some(now);
            for list in self.by_authority.values_mut() {
                list.retain(|(c, since)| {
                    now.duration_since(*since) < IDLE_TIMEOUT && c.still_open()
                });
            }
            self.by_authority.retain(|_, list| !list.is_empty());
        }
        match self.by_authority.get_mut(authority) {
            Some(list) if list.len() >= MAX_IDLE => {}
            Some(list) => list.push((conn, now)),
            None => {
                self.by_authority
                    .insert(authority.to_string(), vec![(conn, now)]);
            }
        }
    }
}

/// Why a request did not get an answer, and what a decision to send it again needs.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    message: String,
    connect: bool,
    sent: bool,
    reused: bool,
    timed_out: bool,
}

impl SendError {
    /// No connection could be made: nothing reached the instance.
    pub fn is_connect(&self) -> bool {
        self.connect
    }

    /// Whether any byte of the request went out: it may have reached the instance and been
    /// acted on.
    pub fn request_sent(&self) -> bool {
        self.sent
    }

    /// Whether the connection was a kept one (which the instance may have closed meanwhile).
    pub fn reused(&self) -> bool {
        self.reused
    }

    /// Whether the answer's head did not come within [`Timeouts::answer`].
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }
}

/// How a try on a connection went wrong: why, whether any byte of the request went out, and
/// whether it was the answer's time that ran out.
struct Failed {
    message: String,
    sent: bool,
    timed_out: bool,
}

impl Failed {
    fn new(message: String, sent: bool) -> Self {
        Self {
            message,
            sent,
            timed_out: false,
        }
    }

    fn late(sent: bool, timeout: Duration) -> Self {
        Self {
            message: format!("no answer within {timeout:?}"),
            sent,
            timed_out: true,
        }
    }
}

/// Sends `req` (origin-form URI) to the instance at `authority`, with `authority` as its
/// `Host`, on an idle connection of this thread or a new one; its answer's body is read within
/// `timeouts`. A kept connection that fails (the instance closed it meanwhile) gives way to
/// another, a new one at last, only when `again` says the request may go out again (the
/// caller's decision, from what the error says), and never once the answer's time ran out.
///
/// # Errors
/// [`SendError`] when no connection could be made, when the connection failed with the request
/// under way, or when the answer was not HTTP/1 by the rules of [`super::head`].
pub async fn send(
    authority: &str,
    req: &Request<Bytes>,
    timeouts: Timeouts,
    again: impl Fn(&SendError) -> bool,
) -> Result<Response<Returning>, SendError> {
    let started = tokio::time::Instant::now();
    let due = started + timeouts.answer;
    let head = encode_request(req, authority);
    // A small body went into `head`; a larger one is written after it.
    let body = req.body();
    let rest = if body.len() > COALESCE {
        &body[..]
    } else {
        &[]
    };
    let bodyless = req.method() == Method::HEAD;
    loop {
        let idle = IDLE.with(|idle| idle.borrow_mut().take(authority, started.into_std()));
        let reused = idle.is_some();
        let conn = match idle {
            Some(conn) => conn,
            // Boxed: a connect's future is large, and every request's future would otherwise
            // be as large (and moved whole) for the few that make a connection.
            None => Box::pin(connect(authority, due, timeouts.answer)).await?,
        };
        match exchange(conn, &head, rest, bodyless, (due, timeouts.answer)).await {
            Ok((conn, answer)) => return Ok(returning(authority, conn, answer, started, timeouts)),
            Err(Failed {
                message,
                sent,
                timed_out,
            }) => {
                let e = SendError {
                    message,
                    connect: false,
                    sent,
                    reused,
                    timed_out,
                };
                // Not on time: the instance may still be working on it, and the time is spent.
                if timed_out || !(reused && again(&e)) {
                    return Err(e);
                }
                tracing::debug!(%authority, error = %e, "kept connection failed; another takes the request");
            }
        }
    }
}

/// A new connection to `authority`, within [`CONNECT_TIMEOUT`] and by `due` (the answer's
/// time, `timeout` from the start).
async fn connect(
    authority: &str,
    due: tokio::time::Instant,
    timeout: Duration,
) -> Result<Conn, SendError> {
    let failed = |message, connect| SendError {
        message,
        connect,
        sent: false,
        reused: false,
        timed_out: !connect,
    };
    let limit = (tokio::time::Instant::now() + CONNECT_TIMEOUT).min(due);
    let io = match tokio::time::timeout_at(limit, TcpStream::connect(authority)).await {
        Ok(Ok(io)) => io,
        Ok(Err(e)) => return Err(failed(format!("could not connect: {e}"), true)),
        Err(_) if limit == due => {
            return Err(failed(format!("no answer within {timeout:?}"), false))
        }
        Err(_) => {
            let message = format!("could not connect: no connection within {CONNECT_TIMEOUT:?}");
            return Err(failed(message, true));
        }
    };
    let _ = io.set_nodelay(true);
    Ok(Conn {
        io,
        buf: BytesMut::with_capacity(READ_CHUNK),
    })
}

/// Writes the request (`head` from [`encode_request`], then `rest` of the body) on `conn` and
/// reads the answer's head: after the request, or as soon as it comes while the request is still
/// being written (the instance stopped reading it).
/// By `due.0` (`due.1` after the start) the answer's head has come, or the try has failed.
async fn exchange(
    mut conn: Conn,
    head: &[u8],
    rest: &[u8],
    bodyless: bool,
    due: (tokio::time::Instant, Duration),
) -> Result<(Conn, Answer), Failed> {
    let mut sent = false;
    for part in [head, rest] {
        if part.is_empty() {
            continue;
        }
        // Nearly every request goes out in one write. What the socket does not take at once is
        // written by a future of its own, boxed: it is larger, and every request's future would
        // otherwise be as large.
        let written = match conn.io.try_write(part) {
            Ok(n) if n == part.len() => {
                sent = true;
                continue;
            }
            Ok(n) => {
                sent |= n > 0;
                Box::pin(write_slowly(
                    &mut conn,
                    &part[n..],
                    bodyless,
                    &mut sent,
                    due.0,
                ))
                .await
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                Box::pin(write_slowly(&mut conn, part, bodyless, &mut sent, due.0)).await
            }
            Err(e) => Slow::Broken(e),
        };
        match written {
            Slow::Written => {}
            Slow::Answered(answer) => return Ok((conn, early(answer))),
            Slow::Invalid(message) => return Err(Failed::new(message, sent)),
            Slow::Late => return Err(Failed::late(sent, due.1)),
            Slow::Broken(e) => {
                let message = format!("could not send the request: {e}");
                return Box::pin(answer_left(conn, bodyless, sent, message, due)).await;
            }
        }
    }
    loop {
        match conn.answer(bodyless) {
            Ok(Some(answer)) => return Ok((conn, answer)),
            Ok(None) => {}
            Err(message) => return Err(Failed::new(message, sent)),
        }
        match tokio::time::timeout_at(due.0, conn.fill()).await {
            Err(_) => return Err(Failed::late(sent, due.1)),
            Ok(Ok(0)) => {
                let message = "connection closed before an answer".to_string();
                return Err(Failed::new(message, sent));
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(Failed::new(format!("connection failed: {e}"), sent)),
        }
    }
}

/// How writing what the socket did not take at once ended.
enum Slow {
    /// All of it went out.
    Written,
    /// The instance answered before it was all taken.
    Answered(Answer),
    /// The instance sent something that is not an answer.
    Invalid(String),
    /// The connection failed.
    Broken(io::Error),
    /// The answer's time ran out.
    Late,
}

/// Writes `part` as the socket takes it, reading meanwhile: the instance is slower to read than
/// the request is written, or it stopped reading to answer. `sent` once any byte went out.
async fn write_slowly(
    conn: &mut Conn,
    part: &[u8],
    bodyless: bool,
    sent: &mut bool,
    due: tokio::time::Instant,
) -> Slow {
    let mut at = 0;
    while at < part.len() {
        match conn.io.try_write(&part[at..]) {
            Ok(0) => return Slow::Broken(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                at += n;
                *sent = true;
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Slow::Broken(e),
        }
        let readable = tokio::select! {
            biased;
            r = conn.io.readable() => r.map(|()| true),
            r = conn.io.writable() => r.map(|()| false),
            () = tokio::time::sleep_until(due) => return Slow::Late,
        };
        match readable {
            Ok(false) => {}
            Ok(true) => match conn.io.try_read_buf(&mut conn.buf) {
                Ok(0) => return Slow::Broken(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => match conn.answer(bodyless) {
                    Ok(Some(answer)) => return Slow::Answered(answer),
                    Ok(None) => {}
                    Err(message) => return Slow::Invalid(message),
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Slow::Broken(e),
            },
            Err(e) => return Slow::Broken(e),
        }
    }
    Slow::Written
}

/// An answer that came before the whole request was written: the connection goes with it.
fn early(mut answer: Answer) -> Answer {
    answer.keep = false;
    answer
}

/// The answer an instance sent before it stopped taking the request (`failed` says how the
/// writing ended), when there is one: what is read of the connection up to its end.
async fn answer_left(
    mut conn: Conn,
    bodyless: bool,
    sent: bool,
    failed: String,
    due: (tokio::time::Instant, Duration),
) -> Result<(Conn, Answer), Failed> {
    loop {
        match conn.answer(bodyless) {
            Ok(Some(answer)) => return Ok((conn, early(answer))),
            Ok(None) => {}
            Err(_) => break,
        }
        match tokio::time::timeout_at(due.0, conn.fill()).await {
            Err(_) => return Err(Failed::late(sent, due.1)),
            Ok(Ok(n)) if n > 0 => {}
            _ => break,
        }
    }
    Err(Failed::new(failed, sent))
}

fn returning(
    authority: &str,
    conn: Conn,
    answer: Answer,
    started: tokio::time::Instant,
    timeouts: Timeouts,
) -> Response<Returning> {
    let Answer {
        head,
        framing,
        keep,
    } = answer;
    let mut body = Returning {
        conn: Some(conn),
        framing,
        keep,
        authority: authority.to_string(),
        deadline: started + timeouts.whole,
        idle: timeouts.idle,
        stall: None,
    };
    body.if_ended();
    let (parts, ()) = head.into_parts();
    Response::from_parts(parts, body)
}

/// An answer's body, read from its connection as it is polled; once read to its end, the
/// connection goes back to the thread's idle list.
#[derive(Debug)]
pub struct Returning {
    /// `None` once the body has ended (or failed).
    conn: Option<Conn>,
    framing: Framing,
    keep: bool,
    authority: String,
    /// The whole answer's end.
    deadline: tokio::time::Instant,
    /// The longest wait for more of it.
    idle: Duration,
    /// Set at the first wait for more (most bodies come with their head), and moved on each
    /// read after it.
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Returning {
    fn ended(&self) -> bool {
        self.framing.ended()
    }

    /// At the end, the connection goes home (when it may be kept).
    fn if_ended(&mut self) {
        if self.ended() {
            if let Some(conn) = self.conn.take() {
                if self.keep && conn.buf.is_empty() {
                    IDLE.with(|idle| idle.borrow_mut().put(&self.authority, conn));
                }
            }
        }
    }

    /// Waits for more of the body within the timeouts: `Ready` once they ran out.
    fn poll_stalled(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let (idle, deadline) = (self.idle, self.deadline);
        let timer = self.stall.get_or_insert_with(|| {
            Box::pin(tokio::time::sleep_until(
                (tokio::time::Instant::now() + idle).min(deadline),
            ))
        });
        ready!(timer.as_mut().poll(cx));
        let what = if timer.deadline() >= deadline {
            "the answer took longer than responseReadTimeout".to_string()
        } else {
            format!("no answer data for {idle:?} (responseIdleTimeout)")
        };
        self.conn = None;
        Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, what))
    }

    /// More of the body came: the wait for the next starts again.
    fn progressed(&mut self) {
        if let Some(timer) = self.stall.as_mut() {
            let due = (tokio::time::Instant::now() + self.idle).min(self.deadline);
            timer.as_mut().reset(due);
        }
    }
}

impl Body for Returning {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            let next = this.framing.next(&mut conn.buf);
            match next {
                Ok(Some(data)) => {
                    this.if_ended();
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Ok(None) if this.ended() => {
                    this.if_ended();
                    return Poll::Ready(None);
                }
                Ok(None) => {}
                Err(e) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::InvalidData, e))));
                }
            }
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match conn.poll_fill(cx) {
                Poll::Pending => {
                    let e = ready!(this.poll_stalled(cx));
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Ok(0)) if this.framing == Framing::UntilClose => {
                    this.conn = None;
                    this.framing = Framing::Length(0);
                    return Poll::Ready(None);
                }
                Poll::Ready(Ok(0)) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the instance closed the connection within the answer",
                    ))));
                }
                Poll::Ready(Ok(_)) => this.progressed(),
                Poll::Ready(Err(e)) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended()
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing {
            Framing::Length(n) => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h1::head::KNOWN_NAMES;
    use axum::http::{header, HeaderMap, HeaderValue};
    use http_body_util::BodyExt;
    use tokio::io::AsyncReadExt;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// An instance that answers the connections it accepts with `answers` in turn (one per
    /// request head read) and records what it read; each connection gets the list from the
    /// start. With `close`, each connection is closed after its answers.
    async fn instance(
        answers: Vec<&'static str>,
        close: bool,
    ) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let answers = answers.clone();
                let record = record.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    for answer in answers {
                        loop {
                            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                let head = String::from_utf8_lossy(&buf[..end + 4]).to_string();
                                let length = head
                                    .lines()
                                    .find_map(|l| l.strip_prefix("content-length: "))
                                    .map_or(0, |n| n.trim().parse::<usize>().unwrap());
                                if buf.len() >= end + 4 + length {
                                    let body =
                                        String::from_utf8_lossy(&buf[end + 4..end + 4 + length])
                                            .to_string();
                                    record.lock().unwrap().push(format!("{head}{body}"));
                                    buf.drain(..end + 4 + length);
                                    break;
                                }
                            }
                            let mut chunk = [0u8; 4096];
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        if sock.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    if !close {
                        let mut rest = [0u8; 64];
                        let _ = sock.read(&mut rest).await;
                    }
                });
            }
        });
        (authority, seen)
    }

    fn get(path: &str) -> Request<Bytes> {
        let mut req = Request::new(Bytes::new());
        *req.uri_mut() = path.parse().unwrap();
        req.headers_mut()
            .insert(header::HOST, HeaderValue::from_static("client.example"));
        req.headers_mut()
            .insert("x-b", HeaderValue::from_static("1"));
        req
    }

    async fn body_of(resp: Response<Returning>) -> Result<String, io::Error> {
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok(String::from_utf8(bytes.to_vec()).unwrap())
    }

    fn idle_count(authority: &str) -> usize {
        IDLE.with(|i| i.borrow().by_authority.get(authority).map_or(0, Vec::len))
    }

    /// Sends `req` as the router does, with the default timeouts.
    async fn go(authority: &str, req: Request<Bytes>) -> Result<Response<Returning>, SendError> {
        let timeouts = Timeouts {
            answer: Duration::from_secs(5),
            idle: Duration::from_secs(10),
            whole: Duration::from_secs(60),
        };
        send(authority, &req, timeouts, |e| !e.request_sent()).await
    }

    fn headers_of(head: &str) -> Result<HeaderMap, String> {
        let mut buf = BytesMut::from(head);
        match parse_response(&mut buf, false)? {
            Some(Parsed::Answer(a)) => Ok(a.head.headers().clone()),
            _ => Err("no answer".into()),
        }
    }

    #[test]
    fn header_names_are_the_same_however_written_and_however_many() {
        // The names a thread has seen are kept as written: another spelling is parsed again,
        // and names past the ones kept are parsed every time.
        for _ in 0..2 {
            let h = headers_of("HTTP/1.1 200 OK\r\nX-Powered-By: a\r\nx-powered-by: b\r\nX-POWERED-BY: c\r\nContent-Length: 0\r\n\r\n").unwrap();
            let all: Vec<_> = h.get_all("x-powered-by").iter().collect();
            assert_eq!(all, ["a", "b", "c"]);
            assert_eq!(h.len(), 4);
        }
        let many: String = (0..KNOWN_NAMES * 2)
            .map(|i| format!("x-name-{i}: {i}\r\n"))
            .collect();
        for _ in 0..2 {
            let h = headers_of(&format!("HTTP/1.1 204 No Content\r\n{many}\r\n")).unwrap();
            assert_eq!(h.len(), KNOWN_NAMES * 2);
            for i in 0..KNOWN_NAMES * 2 {
                assert_eq!(h[format!("x-name-{i}").as_str()], i.to_string().as_str());
            }
        }
        assert!(headers_of("HTTP/1.1 200 OK\r\nbad name: 1\r\n\r\n").is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn lengths_chunks_and_close_delimited_bodies() {
        let (authority, seen) = instance(
            vec![
                "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: 1\r\nx-a: 2\r\n\r\nhello",
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n4;ext=1\r\nwiki\r\n5\r\npedia\r\n0\r\ntrailer: x\r\n\r\n",
                "HTTP/1.1 204 No Content\r\n\r\n",
                "HTTP/1.1 200 OK\r\n\r\nuntil the end",
            ],
            true,
        )
        .await;
        let resp = go(&authority, get("/a?b=1")).await.unwrap();
        assert_eq!(resp.status(), 200);
        let values: Vec<_> = resp.headers().get_all("x-a").iter().collect();
        assert_eq!(values, ["1", "2"]);
        assert_eq!(body_of(resp).await.unwrap(), "hello");
        assert_eq!(idle_count(&authority), 1, "kept after its body was read");

        let mut post = get("/p");
        *post.method_mut() = Method::POST;
        *post.body_mut() = Bytes::from_static(b"{\"x\":1}");
        let resp = go(&authority, post).await.unwrap();
        assert_eq!(resp.status(), 201);
        assert!(resp.headers().get(header::CONTENT_LENGTH).is_none());
        assert_eq!(body_of(resp).await.unwrap(), "wikipedia");

        let resp = go(&authority, get("/none")).await.unwrap();
        assert_eq!(resp.status(), 204);
        assert!(resp.body().is_end_stream());
        drop(resp);

        let resp = go(&authority, get("/close")).await.unwrap();
        assert_eq!(body_of(resp).await.unwrap(), "until the end");
        assert_eq!(
            idle_count(&authority),
            0,
            "a close-delimited answer ends its connection"
        );

        let seen = seen.lock().unwrap();
        let host = format!("host: {authority}\r\n");
        let get = format!("GET /a?b=1 HTTP/1.1\r\n{host}x-b: 1\r\n\r\n");
        assert!(
            seen[0].starts_with(&get),
            "the instance's Host: {}",
            seen[0]
        );
        let post =
            format!("POST /p HTTP/1.1\r\n{host}x-b: 1\r\ncontent-length: 7\r\n\r\n{{\"x\":1}}");
        assert!(seen[1].starts_with(&post), "{}", seen[1]);
        assert_eq!(seen.len(), 4, "one connection took all four: {seen:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_closed_kept_connection_is_replaced_and_a_broken_answer_is_an_error() {
        // Each connection answers once and closes without saying so.
        let (authority, _) =
            instance(vec!["HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"], true).await;
        for _ in 0..3 {
            let resp = go(&authority, get("/")).await.unwrap();
            assert_eq!(body_of(resp).await.unwrap(), "ok");
        }
        let (authority, _) = instance(vec!["not http at all\r\n\r\n"], true).await;
        let e = go(&authority, get("/")).await.unwrap_err();
        assert!(!e.is_connect() && e.to_string().contains("not HTTP"), "{e}");
        let (authority, _) = instance(
            vec!["HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"],
            true,
        )
        .await;
        let resp = go(&authority, get("/")).await.unwrap();
        assert_eq!(
            body_of(resp).await.unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        let (authority, _) = instance(
            vec!["HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"],
            true,
        )
        .await;
        let resp = go(&authority, get("/")).await.unwrap();
        assert!(body_of(resp).await.is_err(), "a bad chunk size");
        let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed = free.local_addr().unwrap().to_string();
        drop(free);
        assert!(go(&closed, get("/")).await.unwrap_err().is_connect());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_body_larger_than_one_write_follows_its_head() {
        let (authority, seen) =
            instance(vec!["HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"], true).await;
        let mut post = get("/big");
        *post.method_mut() = Method::POST;
        *post.body_mut() = Bytes::from(vec![b'x'; 3 * COALESCE]);
        // The instance answers once it has the whole body.
        let resp = tokio::time::timeout(Duration::from_secs(5), go(&authority, post))
            .await
            .expect("answered: the whole body arrived")
            .unwrap();
        assert_eq!(resp.status(), 200);
        let seen = seen.lock().unwrap();
        let (head, body) = seen[0].split_once("\r\n\r\n").unwrap();
        assert!(
            head.ends_with(&format!("content-length: {}", 3 * COALESCE)),
            "{head}"
        );
        assert_eq!(body.len(), 3 * COALESCE);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_head_larger_than_the_limit_is_refused() {
        let big: &'static str = Box::leak(
            format!("HTTP/1.1 200 OK\r\nx-big: {}\r\n\r\n", "a".repeat(MAX_HEAD)).into_boxed_str(),
        );
        let (authority, _) = instance(vec![big], true).await;
        let e = go(&authority, get("/")).await.unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
    }
}
