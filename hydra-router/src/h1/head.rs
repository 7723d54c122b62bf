//! Request and answer heads: parsed, and their framing decided, by one set of rules for both of
//! the router's sides. No I/O: bytes in, a head and its [`Framing`] out.
//!
//! The rules (RFC 9112 as hyper applies them):
//! - `Content-Length` is ASCII digits only: no sign, no spaces, no list. Two that differ are an
//!   error; an answer's bad one is an error, a request's goes to hyper to be refused.
//! - `Transfer-Encoding` whose last coding is `chunked` frames the body by chunks and any
//!   `Content-Length` beside it is dropped (and the connection is not kept after it); an answer
//!   with another final coding is read until the connection closes.
//! - A request served here names one `Host` (a request with none or two goes to hyper, where
//!   the router refuses it with 400).
//! - An instance's `101 Switching Protocols` is an error: the router never asks an instance to
//!   upgrade, and a connection whose answer switched protocols can carry nothing else.
//! - No body for `HEAD` answers, 1xx, 204 and 304; other 1xx answers are skipped.

use std::cell::RefCell;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use axum::http::{StatusCode, Uri, Version};
use bytes::{Buf, Bytes, BytesMut};

use super::body::Framing;
use crate::error::Refusal;

/// Headers read from a request at most here (hyper takes more: a request with more goes there).
pub const MAX_REQUEST_HEADERS: usize = 64;

/// Headers read from an answer at most.
pub const MAX_ANSWER_HEADERS: usize = 128;

/// Longest request target served here (hyper answers 414 past its own limit).
pub const MAX_TARGET: usize = 8 * 1024;

/// Headers the router adds to a request it forwards, at most.
const ADDED_ON_THE_WAY: usize = 6;

/// A `Content-Length` value: ASCII digits only, within `u64`.
pub fn content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 20 {
        return None;
    }
    let mut n = 0u64;
    for b in value {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// Whether a `Connection` value lists `token` (compared without case).
pub fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Whether a `Transfer-Encoding` value's last coding is `chunked`.
pub fn chunked_last(value: &[u8]) -> bool {
    value
        .rsplit(|b| *b == b',')
        .next()
        .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

/// Most names a peer sends, once parsed, per thread: a peer sends the same few on every
/// message, and a name that is not one of the standard ones costs an allocation to make.
pub const KNOWN_NAMES: usize = 64;

thread_local! {
    /// Names as a peer wrote them, and as parsed.
    static NAMES: RefCell<Vec<(Box<[u8]>, HeaderName)>> = const { RefCell::new(Vec::new()) };
}

/// The header name `raw`, from the names this thread has seen when it is one of them (as
/// written: a byte comparison is cheaper than a parse).
pub fn header_name(raw: &[u8]) -> Result<HeaderName, String> {
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
type HeaderSpan = (u32, u32, u32, u32);

/// Where each of `headers`, parsed from `buf`, is in it, into `out` (as far as it goes). The
/// buffer holds one head and a read more, far less than 4 GB.
fn header_spans(buf: &[u8], headers: &[httparse::Header<'_>], out: &mut [HeaderSpan]) {
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

/// What the front of a client connection's buffer holds.
#[allow(clippy::large_enum_variant)] // returned once per request, and boxing it costs more
#[derive(Debug)]
pub enum Next {
    /// A request served by the router's own code, and whether the connection may be kept
    /// after it.
    Request(Request<Body>, bool),
    /// Not all of a head yet.
    Partial,
    /// A request for hyper; the buffer is as it was.
    Elsewhere,
    /// A request for hyper, taken off the buffer: these bytes, then the buffer's, are its.
    ElsewhereWith(Bytes),
}

/// Takes a request off the front of `buf` when it is all there and one served by the router's
/// own code: HTTP/1.1; `GET`, `POST`, `PUT`, `PATCH`, `DELETE` or `OPTIONS`; one `Host`; no
/// `Transfer-Encoding`, `Upgrade` or `Expect`; a `Connection` of at most `keep-alive` or
/// `close`; a `Content-Length` of digits and the whole body read. Anything else is hyper's.
pub fn parse_request(buf: &mut BytesMut) -> Next {
    // Slots left uninitialised: the parser writes the ones it fills.
    let mut slots =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_REQUEST_HEADERS];
    let mut parsed = httparse::Request::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut parsed,
        buf,
        &mut slots,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Next::Partial,
        Err(_) => return Next::Elsewhere,
    };
    if parsed.version != Some(1) {
        return Next::Elsewhere;
    }
    let method = match parsed.method.unwrap_or_default() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "DELETE" => Method::DELETE,
        "PATCH" => Method::PATCH,
        "OPTIONS" => Method::OPTIONS,
        _ => return Next::Elsewhere,
    };
    let path = parsed.path.unwrap_or_default();
    if path.len() > MAX_TARGET {
        return Next::Elsewhere;
    }
    // Where the target, each name and each value are in the head; all are taken from its bytes
    // once it is split off (the target and values without a copy).
    let start = path.as_ptr() as usize - buf.as_ptr() as usize;
    let target = start..start + path.len();
    let mut at = [(0u32, 0u32, 0u32, 0u32); MAX_REQUEST_HEADERS];
    let count = parsed.headers.len();
    header_spans(buf, parsed.headers, &mut at);
    let head = buf.split_to(len).freeze();
    let back = |head: Bytes| Next::ElsewhereWith(head);
    let Ok(uri) = Uri::from_maybe_shared(head.slice(target)) else {
        return back(head);
    };
    // Room for the client's headers and the ones the router adds on the way (the tracer and the
    // forwarding chain), so none of those grows the map.
    let mut headers = HeaderMap::with_capacity(count + ADDED_ON_THE_WAY);
    let (mut length, mut keep, mut hosts) = (None::<u64>, true, 0);
    for &(name_start, name_end, start, end) in at.iter().take(count) {
        let Ok(name) = header_name(&head[name_start as usize..name_end as usize]) else {
            return back(head);
        };
        let Ok(value) = HeaderValue::from_maybe_shared(head.slice(start as usize..end as usize))
        else {
            return back(head);
        };
        if name == header::HOST {
            hosts += 1;
        } else if name == header::CONTENT_LENGTH {
            match (content_length(value.as_bytes()), length) {
                (Some(n), None) => length = Some(n),
                // Unreadable or repeated: hyper's to judge.
                _ => return back(head),
            }
        } else if name == header::CONNECTION {
            for token in value.as_bytes().split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    keep = false;
                } else if !token.eq_ignore_ascii_case(b"keep-alive") {
                    return back(head);
                }
            }
        } else if name == header::TRANSFER_ENCODING
            || name == header::UPGRADE
            || name == header::EXPECT
        {
            return back(head);
        }
        headers.append(name, value);
    }
    if hosts != 1 {
        return back(head);
    }
    let body = match length.map(usize::try_from) {
        None | Some(Ok(0)) => Body::empty(),
        Some(Ok(n)) if buf.len() >= n => Body::from(buf.split_to(n).freeze()),
        // The rest of the body is still on its way: hyper reads it, within the body timeouts.
        Some(_) => return back(head),
    };
    let mut req = Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = headers;
    Next::Request(req, keep)
}

/// Why a request is refused before it is routed: `CONNECT` (nothing here tunnels), and a
/// request without a `Host` (HTTP/1.1) or with two (RFC 9112 §3.2).
pub fn refuse_request<B>(req: &Request<B>) -> Option<Refusal> {
    if req.method() == Method::CONNECT {
        return Some(Refusal::MethodNotAllowed(
            "CONNECT is not served here".into(),
        ));
    }
    let hosts = req.headers().get_all(header::HOST).iter().count();
    if hosts > 1 || (hosts == 0 && req.version() == Version::HTTP_11) {
        return Some(Refusal::BadRequest(
            "a request may name one Host, and an HTTP/1.1 request must".into(),
        ));
    }
    None
}

/// An answer's head, and how its body is framed.
#[derive(Debug)]
pub struct Answer {
    /// The status line and headers (a length beside a transfer coding dropped).
    pub head: Response<()>,
    /// How the body that follows ends.
    pub framing: Framing,
    /// Whether the connection may take another request after this answer.
    pub keep: bool,
}

/// What the front of an instance connection's buffer holds, when a whole head.
#[derive(Debug)]
pub enum Parsed {
    /// A 1xx answer (not 101), taken off and skipped.
    Interim,
    /// The final answer's head.
    Answer(Answer),
}

/// Takes an answer head off the front of `buf` when it is all there (`Ok(None)` when not yet);
/// `bodyless` for the answer to a `HEAD`.
///
/// # Errors
/// What is not an HTTP/1 answer by the rules above.
pub fn parse_response(buf: &mut BytesMut, bodyless: bool) -> Result<Option<Parsed>, String> {
    // Slots left uninitialised: the parser writes the ones it fills.
    let mut slots =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_ANSWER_HEADERS];
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
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err("the instance switched protocols (101) unasked".into());
    }
    if status.is_informational() {
        buf.advance(len);
        return Ok(Some(Parsed::Interim));
    }
    let http11 = parsed.version == Some(1);
    // Where each name and value is in the head; both are taken from its bytes once it is split
    // off (values without a copy).
    let mut at = [(0u32, 0u32, 0u32, 0u32); MAX_ANSWER_HEADERS];
    let count = parsed.headers.len();
    header_spans(buf, parsed.headers, &mut at);
    let head = buf.split_to(len).freeze();
    // Room for the headers the router adds to an answer (the tracer, `cors`), so they do not
    // grow the map.
    let mut headers = HeaderMap::with_capacity(count + 4);
    let (mut coded, mut chunked, mut length, mut close) = (false, false, None::<u64>, !http11);
    for &(name_start, name_end, start, end) in at.iter().take(count) {
        let name = header_name(&head[name_start as usize..name_end as usize])?;
        let value = HeaderValue::from_maybe_shared(head.slice(start as usize..end as usize))
            .map_err(|_| format!("bad value of header {name}"))?;
        if name == header::TRANSFER_ENCODING {
            coded = true;
            chunked = chunked_last(value.as_bytes());
        } else if name == header::CONTENT_LENGTH {
            let n = content_length(value.as_bytes()).ok_or_else(|| {
                format!(
                    "bad content-length {:?}",
                    String::from_utf8_lossy(value.as_bytes())
                )
            })?;
            if length.is_some_and(|l| l != n) {
                return Err("conflicting content-length headers".into());
            }
            length = Some(n);
        } else if name == header::CONNECTION {
            if has_token(value.as_bytes(), b"close") {
                close = true;
            } else if has_token(value.as_bytes(), b"keep-alive") {
                close = false;
            }
        }
        headers.append(name, value);
    }
    let none = bodyless || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let framing = if none {
        Framing::Length(0)
    } else if coded {
        // A length beside a transfer coding is ignored (and not passed on), and the connection
        // is not trusted with another request after such an answer.
        if length.is_some() {
            headers.remove(header::CONTENT_LENGTH);
            close = true;
        }
        if chunked {
            Framing::CHUNKED
        } else {
            Framing::UntilClose
        }
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    let keep = !close && framing != Framing::UntilClose;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(text: &str) -> Result<Answer, String> {
        let mut buf = BytesMut::from(text);
        loop {
            match parse_response(&mut buf, false)? {
                Some(Parsed::Answer(a)) => return Ok(a),
                Some(Parsed::Interim) => {}
                None => return Err("partial".into()),
            }
        }
    }

    #[test]
    fn a_content_length_is_digits_only() {
        for (value, n) in [
            ("0", Some(0)),
            ("02", Some(2)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("+13", None),
            ("-1", None),
            (" 1", None),
            ("1 ", None),
            ("1, 1", None),
            ("0x1", None),
            ("", None),
        ] {
            assert_eq!(content_length(value.as_bytes()), n, "{value:?}");
        }
    }

    #[test]
    fn answers_are_framed_by_one_set_of_rules() {
        let a = answer("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n").unwrap();
        assert_eq!((a.framing, a.keep), (Framing::Length(5), true));
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: +13\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
            "not http\r\n\r\n",
        ] {
            assert!(answer(bad).is_err(), "{bad:?}");
        }
        let a = answer("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n").unwrap();
        assert_eq!(a.framing, Framing::Length(1));
        // Chunked beats a length, which goes, and the connection with it.
        let a =
            answer("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap();
        assert_eq!((a.framing, a.keep), (Framing::CHUNKED, false));
        assert!(a.head.headers().get(header::CONTENT_LENGTH).is_none());
        // Another final coding: until the close.
        let a = answer(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\nContent-Length: 3\r\n\r\n",
        )
        .unwrap();
        assert_eq!((a.framing, a.keep), (Framing::UntilClose, false));
        let a = answer("HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n").unwrap();
        assert_eq!((a.framing, a.keep), (Framing::Length(0), true));
        let a = answer("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n").unwrap();
        assert!(!a.keep, "HTTP/1.0 without keep-alive");
        let a =
            answer("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\n").unwrap();
        assert!(!a.keep);
    }

    #[test]
    fn requests_with_no_host_or_two_or_an_odd_framing_go_to_hyper() {
        for (input, here) in [
            ("GET / HTTP/1.1\r\nHost: h\r\n\r\n", true),
            ("GET / HTTP/1.1\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false),
            (
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +2\r\n\r\nab",
                false,
            ),
            (
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab",
                true,
            ),
            ("CONNECT h:1 HTTP/1.1\r\nHost: h\r\n\r\n", false),
        ] {
            let mut buf = BytesMut::from(input);
            let next = parse_request(&mut buf);
            assert_eq!(matches!(next, Next::Request(..)), here, "{input:?}");
        }
        let req = |method: Method, version: Version, hosts: &[&'static str]| {
            let mut r = Request::new(());
            *r.method_mut() = method;
            *r.version_mut() = version;
            for h in hosts {
                r.headers_mut()
                    .append(header::HOST, HeaderValue::from_static(h));
            }
            refuse_request(&r).map(|r| r.status())
        };
        assert_eq!(req(Method::GET, Version::HTTP_11, &["h"]), None);
        assert_eq!(req(Method::GET, Version::HTTP_10, &[]), None);
        assert_eq!(req(Method::GET, Version::HTTP_11, &[]), Some(400));
        assert_eq!(req(Method::GET, Version::HTTP_10, &["a", "b"]), Some(400));
        assert_eq!(req(Method::CONNECT, Version::HTTP_11, &["h"]), Some(405));
    }

    #[test]
    fn a_content_length_is_digits_or_hyper_judges_it() {
        for (length, here) in [
            ("2", true),
            ("02", true),
            ("+2", false),
            ("-2", false),
            ("0x2", false),
            ("2, 2", false),
            ("", false),
            ("99999999999999999999999", false),
        ] {
            let input = format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {length}\r\n\r\nab");
            let mut buf = BytesMut::from(input.as_bytes());
            let next = parse_request(&mut buf);
            assert_eq!(matches!(next, Next::Request(..)), here, "{length:?}");
        }
    }

    proptest::proptest! {
        /// Whatever arrives, parsing a request never panics, and what goes to hyper is every
        /// byte read: nothing is lost at a hand-over.
        #[test]
        fn any_request_head_loses_nothing_it_hands_over(
            start in proptest::sample::select(vec![
                "", "GET / HTTP/1.1\r\n", "POST /x HTTP/1.1\r\nContent-Length: 3\r\n",
                "GET /a HTTP/1.0\r\n", "HEAD / HTTP/1.1\r\n",
            ]),
            lines in proptest::collection::vec(
                proptest::sample::select(vec![
                    "Host: h", "Host: h", "Connection: close", "Connection: keep-alive, Upgrade",
                    "Transfer-Encoding: chunked", "Content-Length: 2", "Content-Length: x",
                    "Content-Length: +2",
                    "X-A: \u{7f}", "Bad Name: v", "Expect: 100-continue", "", "abc",
                ]),
                0..6,
            ),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            let mut input = start.as_bytes().to_vec();
            for line in &lines {
                input.extend_from_slice(line.as_bytes());
                input.extend_from_slice(b"\r\n");
            }
            input.extend_from_slice(&tail);
            let mut buf = BytesMut::from(&input[..]);
            match parse_request(&mut buf) {
                Next::Partial | Next::Elsewhere => proptest::prop_assert_eq!(&buf[..], &input[..]),
                Next::ElsewhereWith(head) => {
                    let mut all = head.to_vec();
                    all.extend_from_slice(&buf);
                    proptest::prop_assert_eq!(all, input);
                }
                Next::Request(req, _) => {
                    proptest::prop_assert!(input.ends_with(&buf));
                    for length in req.headers().get_all(header::CONTENT_LENGTH) {
                        proptest::prop_assert!(length.as_bytes().iter().all(u8::is_ascii_digit));
                    }
                    proptest::prop_assert_eq!(req.headers().get_all(header::HOST).iter().count(), 1);
                    proptest::prop_assert!(req.headers().get(header::TRANSFER_ENCODING).is_none());
                    proptest::prop_assert!(req.headers().get(header::UPGRADE).is_none());
                }
            }
        }

        /// Whatever an instance sends, parsing its answer never panics, and an answer's
        /// framing agrees with what it kept of its headers.
        #[test]
        fn any_answer_head_is_framed_consistently(
            status in proptest::sample::select(vec![
                "HTTP/1.1 200 OK", "HTTP/1.1 204 No Content", "HTTP/1.0 200 OK",
                "HTTP/1.1 101 Switching", "HTTP/1.1 100 Continue", "HTTP/1.1 999 X", "junk",
            ]),
            lines in proptest::collection::vec(
                proptest::sample::select(vec![
                    "Content-Length: 3", "Content-Length: 4", "Content-Length: +3",
                    "Transfer-Encoding: chunked", "Transfer-Encoding: gzip",
                    "Connection: close", "Connection: keep-alive", " folded", "X: \u{1}",
                    "Bad Name: v", "",
                ]),
                0..6,
            ),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..32),
        ) {
            let mut input = format!("{status}\r\n").into_bytes();
            for line in &lines {
                input.extend_from_slice(line.as_bytes());
                input.extend_from_slice(b"\r\n");
            }
            input.extend_from_slice(&tail);
            let mut buf = BytesMut::from(&input[..]);
            while let Ok(Some(parsed)) = parse_response(&mut buf, false) {
                let Parsed::Answer(a) = parsed else { continue };
                let lengths = a.head.headers().get_all(header::CONTENT_LENGTH);
                for length in lengths {
                    proptest::prop_assert!(content_length(length.as_bytes()).is_some());
                }
                if let Framing::Length(n) = a.framing {
                    if let Some(v) = a.head.headers().get(header::CONTENT_LENGTH) {
                        if a.head.status() != StatusCode::NO_CONTENT {
                            proptest::prop_assert_eq!(content_length(v.as_bytes()), Some(n));
                        }
                    }
                }
                proptest::prop_assert!(a.head.status() != StatusCode::SWITCHING_PROTOCOLS);
                break;
            }
        }
    }
}
