//! The routing table: every service's registered routes, matched most specific first.
//!
//! Node's router drops the `[method]` and takes the first match in hash order. Here a route
//! registered with a method is matched for that method first; a request whose method no route
//! names falls back to a method-less match (what Node services relied on). Among matches, the
//! most specific wins: more literal segments, then fewer parameters, then longer patterns.

use std::collections::BTreeMap;

/// One registered route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    /// The service it belongs to.
    pub service: String,
    /// Lower-case method, when registered with one.
    pub method: Option<String>,
    /// The path pattern (`/v1/items/:id`).
    pub pattern: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
    /// `*` or `:rest*`: the rest of the path.
    Splat,
}

impl RouteEntry {
    /// Parses a registered route (`[get]/v1/hello/test` or `/v1/x`); `None` when it is not a path.
    pub fn parse(service: &str, registered: &str) -> Option<Self> {
        let registered = registered.trim();
        let (method, pattern) = match registered.strip_prefix('[') {
            Some(rest) => {
                let close = rest.find(']')?;
                let m = rest[..close].trim().to_lowercase();
                (
                    if m.is_empty() { None } else { Some(m) },
                    &rest[close + 1..],
                )
            }
            None => (None, registered),
        };
        if !pattern.starts_with('/') {
            return None;
        }
        let segments = split(pattern)
            .map(|s| {
                if s == "*" || (s.starts_with(':') && s.ends_with('*')) {
                    Segment::Splat
                } else if s.starts_with(':') && s.len() > 1 {
                    Segment::Param
                } else {
                    Segment::Literal(s.to_string())
                }
            })
            .collect();
        Some(Self {
            service: service.to_string(),
            method,
            pattern: pattern.to_string(),
            segments,
        })
    }

    fn matches(&self, path_segments: &[&str], trailing_slash: bool) -> bool {
        let mut i = 0;
        for seg in &self.segments {
            match seg {
                Segment::Splat => return true,
                Segment::Literal(l) => {
                    if path_segments.get(i) != Some(&l.as_str()) {
                        return false;
                    }
                }
                Segment::Param => {
                    if path_segments.get(i).is_none_or(|s| s.is_empty()) {
                        return false;
                    }
                }
            }
            i += 1;
        }
        // `/v1/hello/` registered matches `/v1/hello/` and `/v1/hello` alike, as Node's matcher.
        let _ = trailing_slash;
        i == path_segments.len()
    }

    fn rank(&self) -> (usize, std::cmp::Reverse<usize>, usize) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        let params = self.segments.len() - literals;
        (literals, std::cmp::Reverse(params), self.pattern.len())
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// All routes, by service.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    by_service: BTreeMap<String, Vec<RouteEntry>>,
    /// Every entry, most specific first.
    ordered: Vec<RouteEntry>,
}

impl RouteTable {
    /// Replaces the routes of `service`. Unparsable patterns are skipped with a log line.
    pub fn set_service(&mut self, service: &str, routes: &[String]) {
        let entries: Vec<RouteEntry> = routes
            .iter()
            .filter_map(|r| {
                let e = RouteEntry::parse(service, r);
                if e.is_none() {
                    tracing::warn!(%service, route = %r, "skipping a route that is not a path pattern");
                }
                e
            })
            .collect();
        self.by_service.insert(service.to_string(), entries);
        self.reorder();
    }

    /// Replaces the whole table.
    pub fn replace_all(&mut self, all: &BTreeMap<String, Vec<String>>) {
        self.by_service.clear();
        for (service, routes) in all {
            self.set_service(service, routes);
        }
        self.reorder();
    }

    fn reorder(&mut self) {
        let mut all: Vec<RouteEntry> = self.by_service.values().flatten().cloned().collect();
        all.sort_by(|a, b| {
            b.rank()
                .cmp(&a.rank())
                .then_with(|| a.service.cmp(&b.service))
        });
        self.ordered = all;
    }

    /// Whether `name` is a service with routes.
    pub fn has_service(&self, name: &str) -> bool {
        self.by_service.contains_key(name)
    }

    /// Service names.
    pub fn services(&self) -> impl Iterator<Item = &String> {
        self.by_service.keys()
    }

    /// The patterns by service, as registered (for `/v1/router/list/routes`).
    pub fn patterns(&self) -> impl Iterator<Item = (&String, Vec<String>)> {
        self.by_service.iter().map(|(s, e)| {
            (
                s,
                e.iter()
                    .map(|e| match &e.method {
                        Some(m) => format!("[{m}]{}", e.pattern),
                        None => e.pattern.clone(),
                    })
                    .collect(),
            )
        })
    }

    /// The best route for `method` and `path` among services for which `live` holds: one
    /// registered for the method first, else one registered without it or for another method.
    pub fn find(
        &self,
        method: &str,
        path: &str,
        live: impl Fn(&str) -> bool,
    ) -> Option<&RouteEntry> {
        // The segments, on the stack for paths of up to 16 of them.
        let mut few = [""; 16];
        let mut rest = split(path);
        let n = few
            .iter_mut()
            .zip(&mut rest)
            .map(|(slot, seg)| *slot = seg)
            .count();
        let many: Vec<&str>;
        let segs: &[&str] = if rest.next().is_none() {
            &few[..n]
        } else {
            many = split(path).collect();
            &many
        };
        let trailing = path.ends_with('/');
        let candidates = || {
            self.ordered
                .iter()
                .filter(|e| e.matches(segs, trailing) && live(&e.service))
        };
        candidates()
            .find(|e| {
                e.method
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(method))
            })
            .or_else(|| candidates().find(|e| e.method.is_none()))
            .or_else(|| candidates().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        let mut t = RouteTable::default();
        t.set_service(
            "hello-service",
            &[
                "[get]/v1/hello/test".into(),
                "[get]/v1/hello/".into(),
                "[post]/v1/hello/post".into(),
                "[get]/hello-service/:rest".into(),
            ],
        );
        t.set_service(
            "items",
            &[
                "[get]/v1/items/:id".into(),
                "[get]/v1/items/special".into(),
                "[post]/v1/items/:id".into(),
            ],
        );
        t.set_service("files", &["[get]/v1/files/*".into(), "not-a-path".into()]);
        t
    }

    fn svc(t: &RouteTable, m: &str, p: &str) -> Option<(String, String)> {
        t.find(m, p, |_| true)
            .map(|e| (e.service.clone(), e.pattern.clone()))
    }

    #[test]
    fn literal_beats_parameter() {
        let t = table();
        assert_eq!(
            svc(&t, "get", "/v1/items/special").unwrap().1,
            "/v1/items/special"
        );
        assert_eq!(svc(&t, "get", "/v1/items/42").unwrap().1, "/v1/items/:id");
        assert_eq!(svc(&t, "get", "/v1/hello/test").unwrap().0, "hello-service");
        assert_eq!(svc(&t, "get", "/v1/hello/").unwrap().1, "/v1/hello/");
        assert_eq!(svc(&t, "get", "/v1/hello").unwrap().1, "/v1/hello/");
        assert_eq!(svc(&t, "get", "/v1/files/a/b/c").unwrap().0, "files");
        assert!(svc(&t, "get", "/v1/nothing").is_none());
        assert!(svc(&t, "get", "/v1/items").is_none());
    }

    #[test]
    fn long_paths_match_segment_by_segment() {
        // Past the 16 segments kept on the stack.
        let deep: String = (1..=20).map(|i| format!("/s{i}")).collect();
        let mut t = table();
        t.set_service(
            "deep",
            &[format!("[get]{deep}"), format!("[get]{deep}/:id")],
        );
        assert_eq!(t.find("get", &deep, |_| true).unwrap().pattern, deep);
        let one_more = t.find("get", &format!("{deep}/7"), |_| true).unwrap();
        assert_eq!(one_more.pattern, format!("{deep}/:id"));
        assert!(t.find("get", &format!("{deep}/7/8"), |_| true).is_none());
        let (cut, _) = deep.rsplit_once('/').unwrap();
        assert!(t.find("get", &format!("{cut}/other"), |_| true).is_none());
    }

    #[test]
    fn method_first_then_any() {
        let t = table();
        assert_eq!(svc(&t, "post", "/v1/items/9").unwrap().0, "items");
        // Registered only for POST, asked with PUT: Node routes it anyway, so do we.
        assert_eq!(svc(&t, "put", "/v1/hello/post").unwrap().0, "hello-service");
    }

    #[test]
    fn dead_services_do_not_shadow_live_ones() {
        let mut t = table();
        t.set_service("shadow", &["[get]/v1/items/:id".into()]);
        let live = |s: &str| s != "items";
        assert_eq!(
            t.find("get", "/v1/items/1", live).unwrap().service,
            "shadow"
        );
        assert_eq!(
            t.find("get", "/v1/items/1", |s| s != "shadow")
                .unwrap()
                .service,
            "items"
        );
    }

    #[test]
    fn bad_patterns_are_skipped() {
        let t = table();
        assert_eq!(
            t.patterns().find(|(s, _)| *s == "files").unwrap().1,
            ["[get]/v1/files/*"]
        );
    }
}
