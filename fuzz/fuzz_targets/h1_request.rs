//! The router's request head parser: whatever arrives, it never panics, a request it serves
//! itself has one Host and a Content-Length of digits, and what it hands to hyper is every byte
//! read.
#![no_main]

use bytes::BytesMut;
use hydra_router::h1::head::{content_length, parse_request, Next};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    match parse_request(&mut buf) {
        Next::Partial | Next::Elsewhere => assert_eq!(&buf[..], data),
        Next::ElsewhereWith(head) => {
            let mut all = head.to_vec();
            all.extend_from_slice(&buf);
            assert_eq!(all, data);
        }
        Next::Request(req, _) => {
            assert!(data.ends_with(&buf));
            assert_eq!(req.headers().get_all(http::header::HOST).iter().count(), 1);
            for length in req.headers().get_all(http::header::CONTENT_LENGTH) {
                assert!(content_length(length.as_bytes()).is_some());
            }
            assert!(req.headers().get(http::header::TRANSFER_ENCODING).is_none());
        }
    }
});
