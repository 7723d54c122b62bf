//! Choosing the service for a request: the routing table first (live services, then services
//! with any instance, then all), then the referer, then a first path segment naming a service.

use crate::table::RouteTable;

/// What a request asks for, as far as choosing a service goes.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The method, as sent (routes match it whatever its case).
    pub method: &'a str,
    /// The path, as sent.
    pub path: &'a str,
    /// The query, without its `?`, when the request has one.
    pub query: Option<&'a str>,
    /// The `Referer` header, when it is text.
    pub referer: Option<&'a str>,
}

/// The service for a request and the path and query to send it: the best route among live
/// services, then among services with any instance, then among all; else a service whose name
/// the referer contains (its pages asking for their assets, as in Node); else a first path
/// segment naming a service, stripped. `None`: nothing matches (404).
pub fn resolve(
    table: &RouteTable,
    t: &Target<'_>,
    is_live: impl Fn(&str) -> bool,
    has_instances: impl Fn(&str) -> bool,
) -> Option<(String, String)> {
    let Target {
        method,
        path,
        query,
        referer,
    } = *t;
    if !path.starts_with('/') {
        return None;
    }
    table
        .find(method, path, &is_live)
        .or_else(|| table.find(method, path, &has_instances))
        .or_else(|| table.find(method, path, |_| true))
        .map(|e| e.service.clone())
        .or_else(|| {
            let referer = referer?;
            table
                .services()
                .find(|s| referer.contains(&format!("/{s}")))
                .cloned()
        })
        .map(|s| (s, with_query(path, query)))
        .or_else(|| {
            let trimmed = path.trim_start_matches('/');
            let first = trimmed.split('/').next()?;
            if first.is_empty() || !(table.has_service(first) || has_instances(first)) {
                return None;
            }
            let rest = &trimmed[first.len()..];
            let rest = if rest.is_empty() { "/" } else { rest };
            Some((first.to_string(), with_query(rest, query)))
        })
}

/// `path?query`, or `path` alone.
fn with_query(path: &str, query: Option<&str>) -> String {
    match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn table() -> RouteTable {
        let mut t = RouteTable::default();
        t.replace_all(&BTreeMap::from([
            (
                "hello-service".to_string(),
                vec![
                    "[get]/v1/hello/test".to_string(),
                    "/v1/hello/:id".to_string(),
                ],
            ),
            ("files".to_string(), vec!["[get]/static/*".to_string()]),
            ("é".to_string(), vec!["[get]/v1/é/x".to_string()]),
        ]));
        t
    }

    fn go(
        method: &str,
        path: &str,
        query: &str,
        referer: Option<&str>,
    ) -> Option<(String, String)> {
        let t = Target {
            method,
            path,
            query: query.strip_prefix('?'),
            referer,
        };
        resolve(&table(), &t, |_| true, |s| s == "bare")
    }

    #[test]
    fn routes_referers_and_service_prefixes() {
        let hit = |s: &str, p: &str| Some((s.to_string(), p.to_string()));
        assert_eq!(
            go("get", "/v1/hello/test", "?a=1", None),
            hit("hello-service", "/v1/hello/test?a=1")
        );
        assert_eq!(
            go("get", "/static/a/b.css", "", None),
            hit("files", "/static/a/b.css")
        );
        assert_eq!(
            go("get", "/app.js", "", Some("http://h/files/index.html")),
            hit("files", "/app.js")
        );
        assert_eq!(go("get", "/files/x/y", "?q", None), hit("files", "/x/y?q"));
        assert_eq!(go("get", "/bare", "", None), hit("bare", "/"));
        assert_eq!(go("get", "//files//x", "", None), hit("files", "//x"));
        assert_eq!(go("get", "//é", "", None), hit("é", "/"));
        assert_eq!(go("get", "/nothing/here", "", None), None);
        assert_eq!(go("get", "/", "", None), None);
        assert_eq!(go("get", "", "", None), None);
        assert_eq!(go("get", "*", "", Some("http://h/files/")), None);
    }

    proptest! {
        #[test]
        fn any_path_resolves_without_panicking(
            method in "[a-z]{0,8}",
            path in "(/|//|[a-zé%.:*])*",
            query in proptest::option::of("[ -~]{0,12}"),
            referer in proptest::option::of(".{0,24}"),
        ) {
            let query = query.map(|q| format!("?{q}")).unwrap_or_default();
            if let Some((service, target)) = go(&method, &path, &query, referer.as_deref()) {
                prop_assert!(!service.is_empty());
                prop_assert!(target.ends_with(&query));
            }
        }
    }
}
