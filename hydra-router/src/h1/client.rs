//! Connections to service instances: HTTP/1.1, kept open between requests, one set per thread.
//!
//! A server thread reads a request, forwards it on one of its own idle connections to the
//! instance (or a new one) and answers, all within the request's own task: the request is
//! written and the answer's head read right there, and the answer's body is read from the
//! socket as the client is sent it, so no other task and no other thread is woken. A connection
//! goes back to its thread's idle list when the answer's body has been read to its end; an
//! answer dropped half-read closes it.
//!
//! A request that a kept connection could not take (the instance closed it meanwhile) is sent on
//! another: when the write failed, or, for a request that may be repeated (idempotent method, no
//! body), when the connection ended before any byte of an answer. So a keep-alive race never
//! reaches the caller.
//!
//! Answers are framed as HTTP/1.1 says (RFC 9112 §6.3): none for `HEAD`, 1xx, 204 and 304;
//! `Transfer-Encoding: chunked` (decoded here; the router's server frames it anew); else
//! `Content-Length`; else until the instance closes the connection. Interim 1xx answers are
//! skipped.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use axum::http::{StatusCode, Version};
use bytes::{Buf, Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// How long a new connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// An idle connection unused this long is closed rather than reused.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Idle connections kept per instance and thread; more are closed.
pub const MAX_IDLE: usize = 256;

/// The largest answer head read (status line and headers).
pub const MAX_HEAD: usize = 64 * 1024;

/// Headers read from an answer at most.
const MAX_HEADERS: usize = 128;

/// Bytes asked of the socket at once.
const READ_CHUNK: usize = 16 * 1024;

/// Bodies up to this size are written in one piece with the head.
const COALESCE: usize = 16 * 1024;

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
}

/// Reads what `io` has into `buf`, with room for `chunk` more; `Ok(0)` at the end of the stream.
pub(crate) fn poll_read_more(
    io: &TcpStream,
    buf: &mut BytesMut,
    chunk: usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    loop {
        ready!(io.poll_read_ready(cx))?;
        buf.reserve(chunk);
        match io.try_read_buf(buf) {
            Ok(n) => return Poll::Ready(Ok(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Poll::Ready(Err(e)),
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

/// Why a request did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No connection could be made: nothing was sent.
    #[error("could not connect: {0}")]
    Connect(String),
    /// The connection failed while the request was under way, or the answer was not HTTP.
    #[error("{0}")]
    Request(String),
}

impl SendError {
    /// Whether the instance refused (or never took) the connection: nothing reached it.
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Connect(_))
    }
}

/// How a try on one connection went wrong.
enum Failed {
    /// The request may not have reached the instance: another connection may take it.
    Retry(String),
    /// It may have: no other try.
    Final(String),
}

/// Sends `req` (origin-form URI) to the instance at `authority`, with `authority` as its `Host`,
/// on an idle connection of this thread, or a new one.
///
/// # Errors
/// [`SendError::Connect`] when no connection could be made; [`SendError::Request`] when the
/// connection failed with the request under way, or the answer was not HTTP/1.
pub async fn send(authority: &str, req: Request<Bytes>) -> Result<Response<Returning>, SendError> {
    let head = encode(&req, authority);
    let (parts, body) = req.into_parts();
    let replayable = body.is_empty() && is_idempotent(&parts.method);
    let bodyless = parts.method == Method::HEAD;
    // A small body went into `head`; a larger one is written after it.
    let rest = if body.len() > COALESCE {
        body
    } else {
        Bytes::new()
    };
    let now = Instant::now();
    while let Some(conn) = IDLE.with(|idle| idle.borrow_mut().take(authority, now)) {
        match exchange(conn, &head, &rest, bodyless, replayable).await {
            Ok((conn, answer)) => return Ok(returning(authority, conn, answer)),
            Err(Failed::Retry(e)) => {
                tracing::debug!(%authority, error = %e, "kept connection was closed; another takes the request");
            }
            Err(Failed::Final(e)) => return Err(SendError::Request(e)),
        }
    }
    let conn = connect(authority).await?;
    match exchange(conn, &head, &rest, bodyless, false).await {
        Ok((conn, answer)) => Ok(returning(authority, conn, answer)),
        Err(Failed::Retry(e) | Failed::Final(e)) => Err(SendError::Request(e)),
    }
}

fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

async fn connect(authority: &str) -> Result<Conn, SendError> {
    let io = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(authority))
        .await
        .map_err(|_| SendError::Connect(format!("no connection within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| SendError::Connect(e.to_string()))?;
    let _ = io.set_nodelay(true);
    Ok(Conn {
        io,
        buf: BytesMut::with_capacity(READ_CHUNK),
    })
}

/// The request head as sent: request line, `Host: authority`, the other headers (a
/// `Content-Length` of the body's own when it has one, or when the method carries one), blank
/// line; then the body when it is small enough to go in the same write.
fn encode(req: &Request<Bytes>, authority: &str) -> Vec<u8> {
    let body = req.body();
    let mut out = Vec::with_capacity(
        256 + if body.len() <= COALESCE {
            body.len()
        } else {
            0
        },
    );
    out.extend_from_slice(req.method().as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(
        req.uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .as_bytes(),
    );
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(authority.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in req.headers() {
        if name == header::CONTENT_LENGTH || name == header::HOST {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let carries = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    if !body.is_empty() || carries {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if body.len() <= COALESCE {
        out.extend_from_slice(body);
    }
    out
}

/// An answer's head, and how its body is framed.
struct Answer {
    head: Response<()>,
    framing: Framing,
    keep: bool,
}

/// Writes the request (`head` from [`encode`], then `rest` of the body) on `conn` and reads the
/// answer's head.
async fn exchange(
    mut conn: Conn,
    head: &[u8],
    rest: &[u8],
    bodyless: bool,
    replayable: bool,
) -> Result<(Conn, Answer), Failed> {
    let written = match conn.io.write_all(head).await {
        Ok(()) if !rest.is_empty() => conn.io.write_all(rest).await,
        done => done,
    };
    if let Err(e) = written {
        return Err(Failed::Retry(format!("could not send the request: {e}")));
    }
    loop {
        match parse_head(&mut conn.buf, bodyless) {
            Ok(Some(Parsed::Interim)) => continue,
            Ok(Some(Parsed::Answer(answer))) => return Ok((conn, answer)),
            Ok(None) => {}
            Err(e) => return Err(Failed::Final(e)),
        }
        if conn.buf.len() >= MAX_HEAD {
            return Err(Failed::Final(format!(
                "the answer's head is larger than {MAX_HEAD} bytes"
            )));
        }
        match conn.fill().await {
            Ok(0) if conn.buf.is_empty() && replayable => {
                return Err(Failed::Retry("connection closed before an answer".into()))
            }
            Ok(0) => return Err(Failed::Final("connection closed before an answer".into())),
            Ok(_) => {}
            Err(e) if conn.buf.is_empty() && replayable => {
                return Err(Failed::Retry(format!("connection failed: {e}")))
            }
            Err(e) => return Err(Failed::Final(format!("connection failed: {e}"))),
        }
    }
}

enum Parsed {
    /// A 1xx answer, skipped.
    Interim,
    Answer(Answer),
}

/// Most names an instance answers with, once parsed, per thread: an instance sends the same
/// few on every answer, and a name that is not one of the standard ones costs an allocation to
/// make.
const KNOWN_NAMES: usize = 64;

thread_local! {
    /// Names as an instance wrote them, and as parsed.
    static NAMES: RefCell<Vec<(Box<[u8]>, HeaderName)>> = const { RefCell::new(Vec::new()) };
}

/// The header name `raw`, from the names this thread has seen when it is one of them (as
/// written: a byte comparison is cheaper than a parse).
pub(crate) fn header_name(raw: &[u8]) -> Result<HeaderName, String> {
    let known = NAMES.with(|names| {
        names
            .borrow()
            .iter()
            .find(|(written, _)| **written == *raw)
            .map(|(_, name)| name.clone())
    });
    if let Some(name) = known {
        return Ok(name);
    }
    let name = HeaderName::from_bytes(raw)
        .map_err(|_| format!("bad header name {:?}", String::from_utf8_lossy(raw)))?;
    NAMES.with(|names| {
        let mut names = names.borrow_mut();
        if names.len() < KNOWN_NAMES {
            names.push((raw.into(), name.clone()));
        }
    });
    Ok(name)
}

/// Where a parsed header's name and value are in the buffer parsed: name start and end, value
/// start and end.
pub(crate) type HeaderSpan = (u32, u32, u32, u32);

/// Where each of `headers`, parsed from `buf`, is in it, into `out` (as far as it goes). The
/// buffer holds one head and a read more, far less than 4 GB.
pub(crate) fn header_spans(buf: &[u8], headers: &[httparse::Header<'_>], out: &mut [HeaderSpan]) {
    let base = buf.as_ptr() as usize;
    let offset = |p: *const u8| (p as usize - base) as u32;
    for (slot, h) in out.iter_mut().zip(headers.iter()) {
        let (name, value) = (offset(h.name.as_ptr()), offset(h.value.as_ptr()));
        *slot = (
            name,
            name + h.name.len() as u32,
            value,
            value + h.value.len() as u32,
        );
    }
}

/// Takes an answer head off the front of `buf` when it is all there.
fn parse_head(buf: &mut BytesMut, bodyless: bool) -> Result<Option<Parsed>, String> {
    // Slots left uninitialised: the parser writes the ones it fills.
    let mut slots =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut parsed,
        buf,
        &mut slots,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("the answer is not HTTP/1: {e}")),
    };
    let code = parsed.code.unwrap_or(0);
    let status = StatusCode::from_u16(code).map_err(|_| format!("bad status {code}"))?;
    if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
        buf.advance(len);
        return Ok(Some(Parsed::Interim));
    }
    let http11 = parsed.version == Some(1);
    // Where each name and value is in the head; both are taken from its bytes once it is split
    // off (values without a copy).
    let mut at = [(0u32, 0u32, 0u32, 0u32); MAX_HEADERS];
    let count = parsed.headers.len();
    header_spans(buf, parsed.headers, &mut at);
    let head = buf.split_to(len).freeze();
    // Room for the headers the router adds to an answer (the tracer, `cors`), so they do not
    // grow the map.
    let mut headers = HeaderMap::with_capacity(count + 4);
    let (mut chunked, mut length, mut close) = (false, None::<u64>, !http11);
    for &(name_start, name_end, start, end) in at.iter().take(count) {
        let name = header_name(&head[name_start as usize..name_end as usize])?;
        let value = HeaderValue::from_maybe_shared(head.slice(start as usize..end as usize))
            .map_err(|_| format!("bad value of header {name}"))?;
        if name == header::TRANSFER_ENCODING {
            chunked = value
                .to_str()
                .ok()
                .and_then(|v| v.rsplit(',').next())
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if name == header::CONTENT_LENGTH {
            let n = value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| "bad content-length".to_string())?;
            if length.is_some_and(|l| l != n) {
                return Err("conflicting content-length headers".into());
            }
            length = Some(n);
        } else if name == header::CONNECTION {
            let tokens = value.to_str().unwrap_or_default();
            if tokens
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"))
            {
                close = true;
            } else if tokens
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("keep-alive"))
            {
                close = false;
            }
        }
        headers.append(name, value);
    }
    let none = bodyless
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status.is_informational();
    let framing = if none {
        Framing::Length(0)
    } else if chunked {
        // A length beside chunked is ignored (and not passed on).
        headers.remove(header::CONTENT_LENGTH);
        Framing::Chunked(Chunked::Size)
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    let keep = !close && !matches!(framing, Framing::UntilClose);
    let mut head = Response::new(());
    *head.status_mut() = status;
    *head.version_mut() = if http11 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    *head.headers_mut() = headers;
    Ok(Some(Parsed::Answer(Answer {
        head,
        framing,
        keep,
    })))
}

/// How an answer's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// This many bytes left.
    Length(u64),
    Chunked(Chunked),
    /// When the instance closes the connection.
    UntilClose,
}

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunked {
    /// At a chunk-size line.
    Size,
    /// Within a chunk: this many bytes left.
    Data(u64),
    /// At the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines up to a blank one.
    Trailers,
}

/// The longest chunk-size or trailer line read.
const MAX_LINE: usize = 8 * 1024;

fn returning(authority: &str, conn: Conn, answer: Answer) -> Response<Returning> {
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
}

impl Returning {
    fn ended(&self) -> bool {
        self.framing == Framing::Length(0)
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

    /// The next frame from what is buffered: `Ok(None)` when more must be read first.
    fn next_frame(&mut self) -> Result<Option<Bytes>, String> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(None);
        };
        let buf = &mut conn.buf;
        loop {
            match self.framing {
                Framing::Length(0) => return Ok(None),
                Framing::Length(n) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(buf.len());
                    self.framing = Framing::Length(n - take as u64);
                    return Ok(Some(buf.split_to(take).freeze()));
                }
                Framing::UntilClose => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    return Ok(Some(buf.split().freeze()));
                }
                Framing::Chunked(Chunked::Data(n)) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(buf.len());
                    let left = n - take as u64;
                    self.framing = Framing::Chunked(if left == 0 {
                        Chunked::DataEnd
                    } else {
                        Chunked::Data(left)
                    });
                    return Ok(Some(buf.split_to(take).freeze()));
                }
                Framing::Chunked(Chunked::DataEnd) => {
                    if buf.len() < 2 {
                        return Ok(None);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err("bad chunk end".into());
                    }
                    buf.advance(2);
                    self.framing = Framing::Chunked(Chunked::Size);
                }
                Framing::Chunked(Chunked::Size) => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(None);
                    };
                    let size = line[..].split(|b| *b == b';').next().unwrap_or_default();
                    let size = std::str::from_utf8(size)
                        .ok()
                        .and_then(|s| u64::from_str_radix(s.trim(), 16).ok())
                        .ok_or_else(|| "bad chunk size".to_string())?;
                    self.framing = Framing::Chunked(if size == 0 {
                        Chunked::Trailers
                    } else {
                        Chunked::Data(size)
                    });
                }
                Framing::Chunked(Chunked::Trailers) => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(None);
                    };
                    // Trailers are dropped; the blank line ends the body.
                    if line.is_empty() {
                        self.framing = Framing::Length(0);
                        return Ok(None);
                    }
                }
            }
        }
    }
}

/// A CRLF-ended line off the front of `buf` (without its CRLF), if all there.
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, String> {
    match memchr::memchr(b'\n', buf) {
        Some(end) => {
            let mut line = buf.split_to(end + 1);
            line.truncate(end);
            if line.last() == Some(&b'\r') {
                line.truncate(end - 1);
            }
            Ok(Some(line))
        }
        None if buf.len() > MAX_LINE => Err("chunk line too long".into()),
        None => Ok(None),
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
            match this.next_frame() {
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
            match ready!(conn.poll_fill(cx)) {
                Ok(0) if this.framing == Framing::UntilClose => {
                    this.conn = None;
                    this.framing = Framing::Length(0);
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the instance closed the connection within the answer",
                    ))));
                }
                Ok(_) => {}
                Err(e) => {
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
    use http_body_util::BodyExt;
    use tokio::io::AsyncReadExt;
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

    fn headers_of(head: &str) -> Result<HeaderMap, String> {
        let mut buf = BytesMut::from(head);
        match parse_head(&mut buf, false)? {
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
        let resp = send(&authority, get("/a?b=1")).await.unwrap();
        assert_eq!(resp.status(), 200);
        let values: Vec<_> = resp.headers().get_all("x-a").iter().collect();
        assert_eq!(values, ["1", "2"]);
        assert_eq!(body_of(resp).await.unwrap(), "hello");
        assert_eq!(idle_count(&authority), 1, "kept after its body was read");

        let mut post = get("/p");
        *post.method_mut() = Method::POST;
        *post.body_mut() = Bytes::from_static(b"{\"x\":1}");
        let resp = send(&authority, post).await.unwrap();
        assert_eq!(resp.status(), 201);
        assert!(resp.headers().get(header::CONTENT_LENGTH).is_none());
        assert_eq!(body_of(resp).await.unwrap(), "wikipedia");

        let resp = send(&authority, get("/none")).await.unwrap();
        assert_eq!(resp.status(), 204);
        assert!(resp.body().is_end_stream());
        drop(resp);

        let resp = send(&authority, get("/close")).await.unwrap();
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
            let resp = send(&authority, get("/")).await.unwrap();
            assert_eq!(body_of(resp).await.unwrap(), "ok");
        }
        let (authority, _) = instance(vec!["not http at all\r\n\r\n"], true).await;
        let e = send(&authority, get("/")).await.unwrap_err();
        assert!(!e.is_connect() && e.to_string().contains("not HTTP"), "{e}");
        let (authority, _) = instance(
            vec!["HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"],
            true,
        )
        .await;
        let resp = send(&authority, get("/")).await.unwrap();
        assert_eq!(
            body_of(resp).await.unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        let (authority, _) = instance(
            vec!["HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"],
            true,
        )
        .await;
        let resp = send(&authority, get("/")).await.unwrap();
        assert!(body_of(resp).await.is_err(), "a bad chunk size");
        let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed = free.local_addr().unwrap().to_string();
        drop(free);
        assert!(send(&closed, get("/")).await.unwrap_err().is_connect());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_body_larger_than_one_write_follows_its_head() {
        let (authority, seen) =
            instance(vec!["HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"], true).await;
        let mut post = get("/big");
        *post.method_mut() = Method::POST;
        *post.body_mut() = Bytes::from(vec![b'x'; 3 * COALESCE]);
        // The instance answers once it has the whole body.
        let resp = tokio::time::timeout(Duration::from_secs(5), send(&authority, post))
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
        let e = send(&authority, get("/")).await.unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
    }
}
