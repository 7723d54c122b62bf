//! Route text (`instance@service:[method]/path`): parsing never panics, and a parsed route
//! written back parses to the same route.
#![no_main]

use hydra_protocol::Route;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(route) = Route::parse(text) else {
        return;
    };
    let written = route.to_string();
    let back = Route::parse(&written).expect("a written route parses");
    assert_eq!(back, route, "{text:?} -> {written:?}");
});
