//! HTTP/1.1 on both of the router's sides, by one set of rules.
//!
//! - [`head`]: request and answer heads, parsed and framed (no I/O);
//! - [`body`]: taking a body off what was read, by length, chunks or the close (no I/O);
//! - [`write`](mod@write): the request head sent to an instance, numbers and the `date` value;
//! - `server`: the public side, a client's connection (requests nearly every client sends
//!   served here, the rest by hyper);
//! - [`client`]: connections to instances, kept per thread.
//!
//! The rules are as strict as hyper's: `Content-Length` is digits only, chunk sizes are hex
//! digits only, every chunk line ends in CRLF; each rule is written once, in [`head`] or
//! [`body`], and has a test there. `fuzz/` has a target for each parser
//! (`h1_request`, `h1_answer`, `h1_chunked`).

use std::io;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use tokio::net::TcpStream;

pub mod body;
pub mod client;
pub mod head;
pub(crate) mod server;
pub mod write;

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
