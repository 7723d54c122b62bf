//! The router's request path handling: a request target as it arrives (parsed the way the HTTP
//! server parses it), a method and a referer, against a table that also holds fuzzed patterns.
//! Resolving never panics, and what it sends on keeps the query.
#![no_main]

use std::collections::BTreeMap;

use hydra_router::app::{resolve, Target};
use hydra_router::table::RouteTable;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Layout: target \n method \n referer \n pattern...
    let mut parts = data.split(|b| *b == b'\n');
    let target = parts.next().unwrap_or_default();
    let method = String::from_utf8_lossy(parts.next().unwrap_or_default()).to_lowercase();
    let referer = parts.next().and_then(|r| std::str::from_utf8(r).ok());
    let patterns: Vec<String> = parts
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    let Ok(uri) = http::Uri::try_from(target) else {
        return;
    };
    let mut routes = BTreeMap::from([
        (
            "hello-service".to_string(),
            vec!["[get]/v1/hello/test".to_string(), "/v1/hello/:id".to_string()],
        ),
        ("files".to_string(), vec!["[get]/static/*".to_string()]),
    ]);
    routes.insert("fuzzed".to_string(), patterns);
    let mut table = RouteTable::default();
    table.replace_all(&routes);
    let _ = table.patterns().count();
    let path = uri.path();
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let t = Target {
        method: &method,
        path,
        query: uri.query(),
        referer,
    };
    for live in [true, false] {
        if let Some((service, sent)) = resolve(&table, &t, |_| live, |s| s == "bare") {
            assert!(!service.is_empty());
            assert!(sent.ends_with(&query));
            assert!(sent.starts_with('/'), "{sent:?}");
        }
    }
});
