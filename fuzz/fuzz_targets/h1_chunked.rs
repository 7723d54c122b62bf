//! The chunk decoder: whatever the bytes, and wherever they are cut into reads, it never panics
//! and gives the same body, or the same error, as when they arrive at once.
#![no_main]

use bytes::BytesMut;
use hydra_router::h1::body::{Framing, FramingError};
use libfuzzer_sys::fuzz_target;

/// The body of `pieces` fed in turn, or its error (`None`: not complete).
fn decode<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> Option<Result<Vec<u8>, FramingError>> {
    let mut framing = Framing::CHUNKED;
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match framing.next(&mut buf) {
                Ok(Some(data)) => out.extend_from_slice(&data),
                Ok(None) if framing.ended() => return Some(Ok(out)),
                Ok(None) => break,
                Err(e) => return Some(Err(e)),
            }
        }
    }
    None
}

fuzz_target!(|data: &[u8]| {
    // The first byte sets the size of the reads.
    let Some((&cut, input)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).max(1);
    assert_eq!(decode(std::iter::once(input)), decode(input.chunks(cut)));
});
