//! How a message body ends, and taking it off the front of what was read: by length, chunked,
//! or until the connection closes. No I/O: bytes in, body data out.
//!
//! Chunked framing is read as strictly as hyper reads it: a chunk size is hexadecimal digits
//! only (no sign, no `0x`, at most 16 of them), optional spaces or tabs after it, an optional
//! extension after `;` without control characters, and every line ends in CRLF (a bare LF or
//! CR is an error); the CRLF after a chunk's data is required; trailers, dropped, are lines of
//! `name: value` within [`MAX_TRAILERS`] bytes, up to a blank line.

use bytes::{Buf, Bytes, BytesMut};

/// The longest chunk-size line read.
pub const MAX_LINE: usize = 8 * 1024;

/// The most bytes of trailers read after the last chunk.
pub const MAX_TRAILERS: usize = 16 * 1024;

/// How a body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// This many bytes left (`Length(0)`: ended).
    Length(u64),
    /// Chunked, at this point of it.
    Chunked(Chunked),
    /// When the peer closes the connection.
    UntilClose,
}

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunked {
    /// At a chunk-size line.
    Size,
    /// Within a chunk: this many bytes left.
    Data(u64),
    /// At the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines up to a blank one, this many bytes of them read.
    Trailers(usize),
}

/// Why a body's framing could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FramingError(pub &'static str);

impl Framing {
    /// A chunked body at its start.
    pub const CHUNKED: Self = Self::Chunked(Chunked::Size);

    /// Whether the body has ended.
    pub fn ended(&self) -> bool {
        *self == Self::Length(0)
    }

    /// The next piece of body data off the front of `buf`; `Ok(None)` when more must be read
    /// first, or at the end ([`Self::ended`]). Framing bytes (chunk lines, trailers) are taken
    /// off `buf` as they are read; what follows the end of the body stays in it.
    ///
    /// # Errors
    /// A chunked body that breaks the rules above; nothing more can be read of it.
    pub fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FramingError> {
        loop {
            match *self {
                Self::Length(0) => return Ok(None),
                Self::Length(n) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(buf.len());
                    *self = Self::Length(n - take as u64);
                    return Ok(Some(buf.split_to(take).freeze()));
                }
                Self::UntilClose => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    return Ok(Some(buf.split().freeze()));
                }
                Self::Chunked(Chunked::Data(n)) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(buf.len());
                    let left = n - take as u64;
                    *self = Self::Chunked(if left == 0 {
                        Chunked::DataEnd
                    } else {
                        Chunked::Data(left)
                    });
                    return Ok(Some(buf.split_to(take).freeze()));
                }
                Self::Chunked(Chunked::DataEnd) => {
                    if buf.len() < 2 {
                        if buf.first().is_some_and(|b| *b != b'\r') {
                            return Err(FramingError("no CRLF after a chunk's data"));
                        }
                        return Ok(None);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(FramingError("no CRLF after a chunk's data"));
                    }
                    buf.advance(2);
                    *self = Self::Chunked(Chunked::Size);
                }
                Self::Chunked(Chunked::Size) => {
                    let Some(len) = line(buf, MAX_LINE)? else {
                        return Ok(None);
                    };
                    let size = chunk_size(&buf[..len])?;
                    buf.advance(len + 2);
                    *self = Self::Chunked(if size == 0 {
                        Chunked::Trailers(0)
                    } else {
                        Chunked::Data(size)
                    });
                }
                Self::Chunked(Chunked::Trailers(read)) => {
                    let Some(len) = line(buf, MAX_TRAILERS - read)? else {
                        return Ok(None);
                    };
                    if len == 0 {
                        buf.advance(2);
                        *self = Self::Length(0);
                        return Ok(None);
                    }
                    trailer(&buf[..len])?;
                    buf.advance(len + 2);
                    *self = Self::Chunked(Chunked::Trailers(read + len + 2));
                }
            }
        }
    }
}

/// The length of the CRLF-ended line at the front of `buf` (without its CRLF) when all of it is
/// there; a LF without its CR, or a line longer than `max`, is an error.
fn line(buf: &[u8], max: usize) -> Result<Option<usize>, FramingError> {
    match memchr::memchr(b'\n', buf) {
        Some(0) => Err(FramingError("a line ends in a bare LF")),
        Some(end) if buf[end - 1] != b'\r' => Err(FramingError("a line ends in a bare LF")),
        Some(end) if end - 1 > max => Err(FramingError("a chunk line is too long")),
        Some(end) => Ok(Some(end - 1)),
        None if buf.len() > max + 1 => Err(FramingError("a chunk line is too long")),
        None => Ok(None),
    }
}

/// A chunk-size line's size: 1 to 16 hex digits, then spaces or tabs, then `;` and an extension
/// (no control characters but tab), or nothing.
pub fn chunk_size(line: &[u8]) -> Result<u64, FramingError> {
    const BAD: FramingError = FramingError("bad chunk size");
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return Err(BAD);
    }
    let mut size = 0u64;
    for b in &line[..digits] {
        // At most 16 digits: no overflow.
        size = size << 4 | u64::from((*b as char).to_digit(16).unwrap_or(0));
    }
    let rest = &line[digits..];
    let ws = rest
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count();
    match rest.get(ws) {
        None if ws == 0 => Ok(size),
        // Whitespace only before an extension.
        None => Err(BAD),
        Some(b';')
            if rest[ws + 1..]
                .iter()
                .all(|b| *b == b'\t' || !b.is_ascii_control()) =>
        {
            Ok(size)
        }
        Some(_) => Err(BAD),
    }
}

/// A trailer line: a field name of token characters, `:`, a value without control characters
/// but tab.
fn trailer(line: &[u8]) -> Result<(), FramingError> {
    const BAD: FramingError = FramingError("bad trailer line");
    let colon = memchr::memchr(b':', line).ok_or(BAD)?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() || !name.iter().all(|b| is_token(*b)) {
        return Err(BAD);
    }
    if value.iter().any(|b| *b != b'\t' && b.is_ascii_control()) {
        return Err(BAD);
    }
    Ok(())
}

/// A `tchar` of RFC 9110 §5.6.2.
pub fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole body of a chunked `input`, or its error; what is left after it.
    fn decode(input: &[u8]) -> (Result<Vec<u8>, FramingError>, Vec<u8>) {
        let mut buf = BytesMut::from(input);
        let mut framing = Framing::CHUNKED;
        let mut out = Vec::new();
        loop {
            match framing.next(&mut buf) {
                Ok(Some(data)) => out.extend_from_slice(&data),
                Ok(None) if framing.ended() => return (Ok(out), buf.to_vec()),
                Ok(None) => return (Err(FramingError("incomplete")), buf.to_vec()),
                Err(e) => return (Err(e), buf.to_vec()),
            }
        }
    }

    #[test]
    fn chunked_bodies_decode_and_leave_what_follows() {
        let (body, rest) =
            decode(b"4;name=value\r\nwiki\r\n5 \t;x\r\npedia\r\n0\r\nx-t: 1\r\n\r\nNEXT");
        assert_eq!(body.unwrap(), b"wikipedia");
        assert_eq!(rest, b"NEXT");
        let (body, _) = decode(b"A\r\n0123456789\r\n0\r\n\r\n");
        assert_eq!(body.unwrap(), b"0123456789");
        let (body, _) = decode(b"0000000000000001\r\nx\r\n0\r\n\r\n");
        assert_eq!(body.unwrap(), b"x");
    }

    #[test]
    fn each_chunk_rule_refuses_what_hyper_refuses() {
        for (input, why) in [
            (&b"+4\r\nwiki\r\n0\r\n\r\n"[..], "a sign"),
            (b"-4\r\nwiki\r\n0\r\n\r\n", "a minus"),
            (b"0x4\r\nwiki\r\n0\r\n\r\n", "0x"),
            (b" 4\r\nwiki\r\n0\r\n\r\n", "leading space"),
            (b"\r\nwiki\r\n0\r\n\r\n", "no digits"),
            (
                b"4 \r\nwiki\r\n0\r\n\r\n",
                "trailing space without an extension",
            ),
            (b"4\nwiki\r\n0\r\n\r\n", "bare LF after a size"),
            (b"4\rwiki\r\n0\r\n\r\n", "bare CR after a size"),
            (b"4\r\nwikiXX0\r\n\r\n", "no CRLF after data"),
            (b"4\r\nwiki\n0\r\n\r\n", "bare LF after data"),
            (b"4;a\x00b\r\nwiki\r\n0\r\n\r\n", "a NUL in an extension"),
            (b"4;a\rb\r\nwiki\r\n0\r\n\r\n", "a CR in an extension"),
            (b"10000000000000000\r\n", "17 digits"),
            (b"0\r\nx-t: 1\n\r\n", "bare LF in a trailer"),
            (b"0\r\nno colon\r\n\r\n", "a trailer without a colon"),
            (b"0\r\nbad name: 1\r\n\r\n", "a trailer name with a space"),
            (b"0\r\n\n", "bare LF ending the trailers"),
        ] {
            let (body, _) = decode(input);
            assert!(
                body.as_ref().is_err_and(|e| e.0 != "incomplete"),
                "{why}: {body:?}"
            );
        }
    }

    #[test]
    fn lines_and_trailers_are_bounded() {
        let long = format!("1;{}\r\nx\r\n0\r\n\r\n", "e".repeat(MAX_LINE));
        assert!(decode(long.as_bytes()).0.is_err());
        // Endless without a line end: refused once past the bound, not read for ever.
        let mut buf = BytesMut::from(&b"1;"[..]);
        buf.extend_from_slice(&vec![b'e'; MAX_LINE + 2]);
        let mut framing = Framing::CHUNKED;
        assert!(framing.next(&mut buf).is_err());
        let many: String = (0..MAX_TRAILERS / 8)
            .map(|i| format!("t{i}: 1\r\n"))
            .collect();
        let input = format!("0\r\n{many}\r\n");
        assert!(decode(input.as_bytes()).0.is_err());
    }

    #[test]
    fn lengths_and_close_delimited_bodies_take_what_is_theirs() {
        let mut buf = BytesMut::from(&b"helloNEXT"[..]);
        let mut framing = Framing::Length(5);
        assert_eq!(framing.next(&mut buf).unwrap().unwrap(), "hello");
        assert!(framing.ended());
        assert_eq!(framing.next(&mut buf).unwrap(), None);
        assert_eq!(&buf[..], b"NEXT");
        let mut framing = Framing::UntilClose;
        assert_eq!(framing.next(&mut buf).unwrap().unwrap(), "NEXT");
        assert!(!framing.ended());
    }

    proptest::proptest! {
        /// Whatever the bytes, and however they arrive in pieces, decoding never panics, and
        /// gives the same body (or an error) as when they arrive at once.
        #[test]
        fn any_chunked_input_decodes_the_same_in_pieces(
            input in proptest::collection::vec(
                proptest::sample::select(vec![
                    &b"0"[..], b"1", b"a", b"F", b"+", b" ", b"\t", b";", b"x=y", b"\r\n",
                    b"\r", b"\n", b":", b"t", b"abc", b"\x00",
                ]),
                0..40,
            ),
            cuts in proptest::collection::vec(0usize..64, 0..8),
        ) {
            let input: Vec<u8> = input.concat();
            let whole = decode(&input).0;
            let mut framing = Framing::CHUNKED;
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            let mut at = 0;
            let mut cuts = cuts;
            cuts.push(input.len());
            let mut result = None;
            'feed: for cut in cuts {
                let cut = cut.clamp(at, input.len());
                buf.extend_from_slice(&input[at..cut]);
                at = cut;
                loop {
                    match framing.next(&mut buf) {
                        Ok(Some(data)) => out.extend_from_slice(&data),
                        Ok(None) if framing.ended() => {
                            result = Some(Ok(out.clone()));
                            break 'feed;
                        }
                        Ok(None) => break,
                        Err(e) => {
                            result = Some(Err(e));
                            break 'feed;
                        }
                    }
                }
            }
            let pieces = result.unwrap_or(Err(FramingError("incomplete")));
            proptest::prop_assert_eq!(pieces, whole);
        }
    }
}
