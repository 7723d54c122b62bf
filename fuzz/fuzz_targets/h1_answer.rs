//! The router's answer head parser: whatever an instance sends, it never panics, never takes a
//! 101, and what it keeps of Content-Length is digits.
#![no_main]

use bytes::BytesMut;
use hydra_router::h1::head::{content_length, parse_response, Parsed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bodyless = data.first().is_some_and(|b| b & 1 == 1);
    let mut buf = BytesMut::from(data.get(1..).unwrap_or_default());
    while let Ok(Some(parsed)) = parse_response(&mut buf, bodyless) {
        let Parsed::Answer(answer) = parsed else {
            continue;
        };
        assert_ne!(answer.head.status(), http::StatusCode::SWITCHING_PROTOCOLS);
        for length in answer.head.headers().get_all(http::header::CONTENT_LENGTH) {
            assert!(content_length(length.as_bytes()).is_some());
        }
        break;
    }
});
