//! Writing HTTP/1.1: numbers, the `date` value, and the request head sent to an instance.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{header, Method, Request};
use bytes::Bytes;

/// Bodies up to this size are written in one piece with the head.
pub const COALESCE: usize = 16 * 1024;

/// The request head as sent: request line, `Host: authority`, the other headers (a
/// `Content-Length` of the body's own when it has one, or when the method carries one), blank
/// line; then the body when it is small enough to go in the same write.
pub fn encode_request(req: &Request<Bytes>, authority: &str) -> Vec<u8> {
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

/// Writes `n` in decimal.
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Writes `n` in lower-case hexadecimal.
pub fn push_hex(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[n % 16];
        n /= 16;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// The `date` value, written once a second per thread.
pub(crate) struct Date {
    second: u64,
    text: [u8; 29],
}

impl Date {
    pub(crate) fn now(&mut self) -> [u8; 29] {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second {
            let text = httpdate::fmt_http_date(now);
            if text.len() == self.text.len() {
                self.text.copy_from_slice(text.as_bytes());
                self.second = second;
            }
        }
        self.text
    }
}

thread_local! {
    pub(crate) static DATE: RefCell<Date> = const {
        RefCell::new(Date { second: 0, text: *b"Thu, 01 Jan 1970 00:00:00 GMT" })
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn numbers_are_written_as_the_formatter_writes_them() {
        for n in [0u64, 7, 10, 99, 100, 12345, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
            let mut out = Vec::new();
            push_hex(&mut out, n as usize);
            assert_eq!(out, format!("{:x}", n as usize).as_bytes());
        }
    }

    #[test]
    fn the_date_is_the_http_date_of_now() {
        let text = DATE.with(|d| d.borrow_mut().now());
        let parsed = httpdate::parse_http_date(std::str::from_utf8(&text).unwrap()).unwrap();
        let off = SystemTime::now().duration_since(parsed).unwrap();
        assert!(off < Duration::from_secs(2), "{off:?}");
    }
}
