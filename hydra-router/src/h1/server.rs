//! The public side's HTTP/1.1 for the requests nearly every client sends, served without a
//! general-purpose server between the socket and the router; everything else goes to hyper.
//!
//! A connection is read here, one request head at a time. A request that is HTTP/1.1, with a
//! method of `GET`, `POST`, `PUT`, `PATCH`, `DELETE` or `OPTIONS`, one `Host`, no
//! `Transfer-Encoding`, `Upgrade` or `Expect`, a `Connection` of at most `keep-alive` or
//! `close`, and its whole body (by `Content-Length`) already read ([`parse_request`]), is handed
//! to the router as it is and answered here. At
//! the first request that is anything else (a WebSocket upgrade, a chunked or a slow body,
//! HTTP/1.0, `HEAD`, a head too large or not HTTP), the connection, with the bytes read so far,
//! is served by hyper from then on: its answers to bad input, its body decoding and its upgrades
//! stay the ones clients get; a request without a `Host` or with two, and `CONNECT`, are refused
//! there ([`refuse_request`]) before the router sees them.
//!
//! What is kept from hyper's server: a request head must arrive within `headerReadTimeout` of
//! the wait for it (an idle kept connection closes then too); answers carry a `date`; a body of
//! known length gets a `content-length` and another is sent chunked; `204` and `304` have none;
//! a connection that will close says `connection: close`; on shutdown an idle connection closes
//! at once and a request in flight is answered first; pipelined requests are answered in order.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::head::{content_length, has_token, parse_request, refuse_request, Next};
use super::poll_read_more;
use super::write::{push_decimal, push_hex, DATE};
use crate::server::{Serve, MAX_HEADER_BYTES};

/// Bytes asked of the socket at once.
const READ_CHUNK: usize = 8 * 1024;

/// What a connection needs besides its socket.
pub(crate) struct Settings<H> {
    pub handler: H,
    pub stop: CancellationToken,
    pub header_read_timeout: Duration,
    /// For the connections handed over.
    pub hyper: hyper::server::conn::http1::Builder,
}

/// Who served a connection last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// This module, to its end.
    Here,
    /// hyper, from some request on.
    Hyper,
}

/// Serves one connection until it closes, the client is too slow with a head, or `stop` ends it.
pub(crate) async fn serve<H: Serve>(
    mut io: TcpStream,
    peer: SocketAddr,
    settings: Arc<Settings<H>>,
) -> Ended {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let stopped = settings.stop.cancelled();
    let mut stopped = std::pin::pin!(stopped);
    // One timer for the connection's life, moved only when it fires before the head it guards
    // is due: most heads arrive well within the time, and a timer set per request costs more
    // than the request's own work.
    let timeout = settings.header_read_timeout;
    let timer = tokio::time::sleep(timeout);
    let mut timer = std::pin::pin!(timer);
    loop {
        let due = tokio::time::Instant::now() + timeout;
        let (req, keep) = loop {
            match parse_request(&mut buf) {
                Next::Request(req, keep) => break (req, keep),
                Next::Partial if buf.len() < MAX_HEADER_BYTES => {}
                Next::Partial | Next::Elsewhere => {
                    return hand_over(io, buf.freeze(), peer, &settings).await
                }
                Next::ElsewhereWith(head) => {
                    let mut read = BytesMut::with_capacity(head.len() + buf.len());
                    read.extend_from_slice(&head);
                    read.extend_from_slice(&buf);
                    return hand_over(io, read.freeze(), peer, &settings).await;
                }
            }
            tokio::select! {
                biased;
                read = fill(&io, &mut buf) => match read {
                    Ok(0) | Err(_) => return Ended::Here,
                    Ok(_) => {}
                },
                () = &mut timer => {
                    if tokio::time::Instant::now() >= due {
                        tracing::debug!(%peer, "no request head within the header read timeout");
                        return Ended::Here;
                    }
                    timer.as_mut().reset(due);
                }
                () = &mut stopped, if buf.is_empty() => return Ended::Here,
            }
        };
        let resp = settings.handler.call(req, peer).await;
        let keep = keep && !settings.stop.is_cancelled();
        match respond(&mut io, resp, keep).await {
            Ok(true) => {}
            Ok(false) => {
                let _ = io.shutdown().await;
                return Ended::Here;
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "could not send the answer");
                return Ended::Here;
            }
        }
    }
}

/// Reads more into `buf`; `Ok(0)` at the end of the stream.
async fn fill(io: &TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    std::future::poll_fn(|cx| poll_read_more(io, buf, READ_CHUNK, cx)).await
}

/// Writes `resp`; `Ok(true)` when the connection may take another request.
async fn respond(io: &mut TcpStream, resp: Response<Body>, keep: bool) -> io::Result<bool> {
    let (parts, mut body) = resp.into_parts();
    let status = parts.status;
    // No body for 1xx (none is sent here: no upgrades), 204 and 304.
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let mut keep = keep && !status.is_informational();
    let mut out = Vec::with_capacity(512);
    if status == StatusCode::OK {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let (mut length, mut dated) = (None::<u64>, false);
    for (name, value) in &parts.headers {
        if name == header::TRANSFER_ENCODING {
            // Framed here.
            continue;
        }
        if name == header::CONTENT_LENGTH {
            if bodiless {
                continue;
            }
            match (content_length(value.as_bytes()), length) {
                (Some(n), None) => length = Some(n),
                (Some(n), Some(l)) if n == l => continue,
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the answer's content-length is not one number",
                    ))
                }
            }
        } else if name == header::CONNECTION {
            if has_token(value.as_bytes(), b"close") {
                keep = false;
            }
            // Written once, below.
            continue;
        } else if name == header::DATE {
            dated = true;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let end_head = |out: &mut Vec<u8>, keep: bool| {
        if !keep {
            out.extend_from_slice(b"connection: close\r\n");
        }
        if !dated {
            out.extend_from_slice(b"date: ");
            DATE.with(|d| out.extend_from_slice(&d.borrow_mut().now()));
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    };
    if bodiless {
        end_head(&mut out, keep);
        io.write_all(&out).await?;
        return Ok(keep);
    }
    // The first piece of the body; most bodies are one.
    let first = next_data(&mut body).await?;
    if body.is_end_stream() {
        let data = first.unwrap_or_default();
        match length {
            None => {
                out.extend_from_slice(b"content-length: ");
                push_decimal(&mut out, data.len() as u64);
                out.extend_from_slice(b"\r\n");
            }
            // A length that is not the body's: the client cannot tell where the answer ends.
            Some(n) if n != data.len() as u64 => keep = false,
            Some(_) => {}
        }
        end_head(&mut out, keep);
        out.extend_from_slice(&data);
        io.write_all(&out).await?;
        return Ok(keep);
    }
    // A body that arrives in pieces: sent as it comes, by its length or chunked.
    let chunked = length.is_none();
    if chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    end_head(&mut out, keep);
    let mut sent = 0u64;
    let mut piece = first;
    loop {
        if let Some(data) = piece.take().filter(|d| !d.is_empty()) {
            sent += data.len() as u64;
            if chunked {
                push_hex(&mut out, data.len());
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(&data);
                out.extend_from_slice(b"\r\n");
                io.write_all(&out).await?;
            } else if out.is_empty() {
                io.write_all(&data).await?;
            } else {
                io.write_all(&out).await?;
                io.write_all(&data).await?;
            }
            out.clear();
        }
        if body.is_end_stream() {
            break;
        }
        match next_data(&mut body).await? {
            Some(data) => piece = Some(data),
            None => break,
        }
    }
    if chunked {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    if !out.is_empty() {
        io.write_all(&out).await?;
    }
    if length.is_some_and(|n| n != sent) {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the answer's body did not match its content-length",
        ));
    }
    Ok(keep)
}

/// The body's next piece of data (trailers are dropped); `None` at its end.
async fn next_data(body: &mut Body) -> io::Result<Option<Bytes>> {
    loop {
        if body.is_end_stream() {
            return Ok(None);
        }
        match body.frame().await {
            None => return Ok(None),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
            Some(Err(e)) => return Err(io::Error::other(e)),
        }
    }
}

/// Serves the connection with hyper from here on; `read` holds what was read of it and not
/// answered.
async fn hand_over<H: Serve>(
    io: TcpStream,
    read: Bytes,
    peer: SocketAddr,
    settings: &Settings<H>,
) -> Ended {
    let handler = settings.handler.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let handler = handler.clone();
        let refused = refuse_request(&req);
        async move {
            Ok::<_, Infallible>(match refused {
                Some(refusal) => {
                    // Nothing more is taken from a client that sends such a request.
                    let mut resp = refusal.into_response(None);
                    resp.headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                    resp
                }
                None => handler.call(req.map(Body::new), peer).await,
            })
        }
    });
    let conn = settings
        .hyper
        .serve_connection(TokioIo::new(Rewind { read, io }), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = settings.stop.cancelled() => {
            // Finish the request in flight, then close.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
    Ended::Hyper
}

/// A socket whose first bytes read are ones already taken from it.
struct Rewind {
    read: Bytes,
    io: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(buf.remaining());
            buf.put_slice(&self.read[..n]);
            self.read.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::sync::mpsc;

    /// Answers `METHOD target body`, or as the path asks: `/stream` in two pieces (`/stream-length`
    /// with its length), `/none` a 204, `/slow` after 300 ms.
    #[derive(Clone)]
    struct Echo;

    impl Serve for Echo {
        fn call(
            &self,
            req: Request<Body>,
            _peer: SocketAddr,
        ) -> impl std::future::Future<Output = Response<Body>> + Send + 'static {
            echo(req)
        }
    }

    async fn echo(req: Request<Body>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        let text = format!(
            "{} {} {}",
            parts.method,
            parts.uri,
            String::from_utf8_lossy(&body)
        );
        let pieces = || {
            Body::from_stream(futures_util::stream::iter([
                Ok::<_, io::Error>(Bytes::from_static(b"hel")),
                Ok(Bytes::from_static(b"lo")),
            ]))
        };
        match parts.uri.path() {
            "/stream" => Response::new(pieces()),
            "/stream-length" => {
                let mut resp = Response::new(pieces());
                resp.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
                resp
            }
            "/none" => {
                let mut resp = Response::new(Body::from("dropped"));
                *resp.status_mut() = StatusCode::NO_CONTENT;
                resp
            }
            "/slow" => {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Response::new(Body::from(text))
            }
            _ => Response::new(Body::from(text)),
        }
    }

    /// Serves each connection accepted; how each ended comes on the receiver.
    async fn server(
        header_read_timeout: Duration,
    ) -> (
        SocketAddr,
        CancellationToken,
        mpsc::UnboundedReceiver<Ended>,
    ) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let mut hyper = hyper::server::conn::http1::Builder::new();
        hyper
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .max_buf_size(MAX_HEADER_BYTES);
        let settings = Arc::new(Settings {
            handler: Echo,
            stop: stop.clone(),
            header_read_timeout,
            hyper,
        });
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((io, peer)) = listener.accept().await {
                let (settings, tx) = (settings.clone(), tx.clone());
                tokio::spawn(async move {
                    let _ = tx.send(serve(io, peer, settings).await);
                });
            }
        });
        (addr, stop, rx)
    }

    /// Reads `n` answers framed by `content-length` (none: no body): each head and body.
    async fn answers(io: &mut TcpStream, n: usize) -> Vec<(String, String)> {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while out.len() < n {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(len)) = resp.parse(&buf) {
                let length = resp
                    .headers
                    .iter()
                    .find(|h| h.name == "content-length")
                    .map_or(0, |h| {
                        std::str::from_utf8(h.value).unwrap().parse().unwrap()
                    });
                if buf.len() >= len + length {
                    let head = String::from_utf8_lossy(&buf[..len]).into_owned();
                    let body = String::from_utf8_lossy(&buf[len..len + length]).into_owned();
                    buf.drain(..len + length);
                    out.push((head, body));
                    continue;
                }
            }
            let mut more = [0u8; 4096];
            let got = tokio::time::timeout(Duration::from_secs(5), io.read(&mut more))
                .await
                .expect("an answer in time")
                .unwrap();
            assert!(got > 0, "closed after {} answers: {:?}", out.len(), buf);
            buf.extend_from_slice(&more[..got]);
        }
        assert!(buf.is_empty(), "more than asked for: {buf:?}");
        out
    }

    async fn read_to_end(io: &mut TcpStream) -> String {
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), io.read_to_end(&mut buf))
            .await
            .expect("closed in time")
            .unwrap();
        String::from_utf8_lossy(&buf).into_owned()
    }

    #[tokio::test]
    async fn plain_requests_are_answered_here_in_order_on_one_connection() {
        let (addr, _stop, mut ended) = server(Duration::from_secs(5)).await;
        let mut io = TcpStream::connect(addr).await.unwrap();
        // Three requests in one write (pipelined), then one more.
        io.write_all(
            b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n\
              POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello\
              DELETE /c HTTP/1.1\r\nHost: h\r\n\r\n",
        )
        .await
        .unwrap();
        let got = answers(&mut io, 3).await;
        let bodies: Vec<&str> = got.iter().map(|(_, b)| b.as_str()).collect();
        assert_eq!(bodies, ["GET /a?x=1 ", "POST /b hello", "DELETE /c "]);
        for (head, body) in &got {
            assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
            assert!(
                head.contains(&format!("content-length: {}\r\n", body.len())),
                "{head}"
            );
            assert!(head.contains("\r\ndate: "), "{head}");
            assert!(!head.contains("connection"), "{head}");
        }
        io.write_all(b"PATCH /d HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}")
            .await
            .unwrap();
        assert_eq!(answers(&mut io, 1).await[0].1, "PATCH /d {}");
        drop(io);
        assert_eq!(ended.recv().await, Some(Ended::Here));
    }

    #[tokio::test]
    async fn connection_close_is_said_and_done() {
        let (addr, _stop, mut ended) = server(Duration::from_secs(5)).await;
        let mut io = TcpStream::connect(addr).await.unwrap();
        io.write_all(b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let text = read_to_end(&mut io).await;
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nGET /x "), "{text}");
        assert_eq!(ended.recv().await, Some(Ended::Here));
    }

    #[tokio::test]
    async fn answers_in_pieces_go_chunked_or_by_their_length_and_204_has_no_body() {
        let (addr, _stop, _ended) = server(Duration::from_secs(5)).await;
        let mut io = TcpStream::connect(addr).await.unwrap();
        io.write_all(b"GET /stream HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let text = read_to_end(&mut io).await;
        assert!(
            text.contains("\r\ntransfer-encoding: chunked\r\n"),
            "{text}"
        );
        assert!(!text.contains("content-length"), "{text}");
        assert!(
            text.ends_with("\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"),
            "{text}"
        );

        let mut io = TcpStream::connect(addr).await.unwrap();
        io.write_all(
            b"GET /stream-length HTTP/1.1\r\nHost: h\r\n\r\nGET /none HTTP/1.1\r\nHost: h\r\n\r\n",
        )
        .await
        .unwrap();
        let got = answers(&mut io, 2).await;
        assert!(got[0].0.contains("content-length: 5\r\n"), "{}", got[0].0);
        assert!(!got[0].0.contains("chunked"), "{}", got[0].0);
        assert_eq!(got[0].1, "hello");
        assert!(
            got[1].0.starts_with("HTTP/1.1 204 No Content\r\n"),
            "{}",
            got[1].0
        );
        assert!(!got[1].0.contains("content-length"), "{}", got[1].0);
        assert_eq!(got[1].1, "");
    }

    #[tokio::test]
    async fn other_requests_go_to_hyper_with_what_was_read() {
        let (addr, _stop, mut ended) = server(Duration::from_secs(5)).await;
        // A chunked body, after a request served here on the same connection.
        let mut io = TcpStream::connect(addr).await.unwrap();
        io.write_all(
            b"GET /first HTTP/1.1\r\nHost: h\r\n\r\n\
              POST /chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
        let got = answers(&mut io, 2).await;
        assert_eq!(got[0].1, "GET /first ");
        assert_eq!(got[1].1, "POST /chunked abc");
        drop(io);
        assert_eq!(ended.recv().await, Some(Ended::Hyper));

        // A body still on its way when the head is read.
        let mut io = TcpStream::connect(addr).await.unwrap();
        io.write_all(b"PUT /later HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nab")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        io.write_all(b"cdef").await.unwrap();
        assert_eq!(answers(&mut io, 1).await[0].1, "PUT /later abcdef");
        drop(io);
        assert_eq!(ended.recv().await, Some(Ended::Hyper));

        // HTTP/1.0, HEAD, and what is not HTTP: hyper's answers.
        for (request, status) in [
            (&b"GET /old HTTP/1.0\r\n\r\n"[..], "HTTP/1.0 200 OK"),
            (
                b"HEAD /h HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                "HTTP/1.1 200 OK",
            ),
            (
                b"GET /\xff HTTP/1.1\r\nHost: h\r\n\r\n",
                "HTTP/1.1 400 Bad Request",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: h\r\nConnection: weird\r\n\r\n",
                "HTTP/1.1 200 OK",
            ),
            // No Host, two, and CONNECT: refused before the router sees them.
            (b"GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request"),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                "HTTP/1.1 400 Bad Request",
            ),
            (
                b"CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n",
                "HTTP/1.1 405 Method Not Allowed",
            ),
        ] {
            let mut io = TcpStream::connect(addr).await.unwrap();
            io.write_all(request).await.unwrap();
            if status.ends_with("200 OK") && !request.starts_with(b"HEAD") {
                let got = answers(&mut io, 1).await;
                assert!(got[0].0.starts_with(status), "{}", got[0].0);
            } else {
                let text = read_to_end(&mut io).await;
                assert!(text.starts_with(status), "{text}");
            }
            drop(io);
            assert_eq!(ended.recv().await, Some(Ended::Hyper));
        }

        // A head larger than the limit: 431, from hyper.
        let mut io = TcpStream::connect(addr).await.unwrap();
        let big = format!(
            "GET / HTTP/1.1\r\nHost: h\r\nX-Big: {}\r\n\r\n",
            "a".repeat(MAX_HEADER_BYTES + 10)
        );
        let _ = io.write_all(big.as_bytes()).await;
        let text = read_to_end(&mut io).await;
        assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    }

    #[tokio::test]
    async fn a_head_must_arrive_within_the_header_read_timeout_of_the_wait_for_it() {
        let timeout = Duration::from_millis(400);
        let (addr, _stop, mut ended) = server(timeout).await;
        // Half a head: closed after the timeout, not answered.
        let started = tokio::time::Instant::now();
        let mut io = TcpStream::connect(addr).await.unwrap();
        io.write_all(b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: ")
            .await
            .unwrap();
        assert_eq!(read_to_end(&mut io).await, "");
        let took = started.elapsed();
        assert!(took >= timeout && took < timeout * 3, "{took:?}");
        assert_eq!(ended.recv().await, Some(Ended::Here));

        // A kept connection that asks every 150 ms for longer than the timeout stays open; once
        // idle, it closes after the timeout.
        let mut io = TcpStream::connect(addr).await.unwrap();
        for i in 0..8 {
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            io.write_all(format!("GET /{i} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
                .await
                .unwrap();
            assert_eq!(answers(&mut io, 1).await[0].1, format!("GET /{i} "));
        }
        // The wait began as the last answer was sent, a little before it arrived here.
        let idle = tokio::time::Instant::now();
        assert_eq!(read_to_end(&mut io).await, "");
        let took = idle.elapsed();
        assert!(took >= timeout - Duration::from_millis(50), "{took:?}");
        assert!(took < timeout * 3, "{took:?}");
        assert_eq!(ended.recv().await, Some(Ended::Here));
    }

    #[tokio::test]
    async fn on_stop_an_idle_connection_closes_and_the_request_in_flight_is_answered() {
        let (addr, stop, mut ended) = server(Duration::from_secs(5)).await;
        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
            .await
            .unwrap();
        answers(&mut idle, 1).await;
        let mut busy = TcpStream::connect(addr).await.unwrap();
        busy.write_all(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.cancel();
        assert_eq!(read_to_end(&mut idle).await, "");
        let text = read_to_end(&mut busy).await;
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
        assert!(text.ends_with("GET /slow "), "{text}");
        assert_eq!(ended.recv().await, Some(Ended::Here));
        assert_eq!(ended.recv().await, Some(Ended::Here));
    }
}
