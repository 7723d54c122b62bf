//! UMF routes: `[{instance}[-{subId}]@]{service}:[{method}]{path}`.

use std::fmt;

/// Why a route could not be parsed. The texts are Node hydra's.
///
/// # Examples
///
/// ```
/// use hydra_protocol::route::{Route, RouteError};
/// assert_eq!(Route::parse("hello-service"), Err(RouteError::Segments));
/// assert_eq!(Route::parse("hello-service:[get/v1"), Err(RouteError::Method));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// Fewer than two `:`-separated segments.
    #[error("route field has invalid number of routable segments")]
    Segments,
    /// A `[` without its `]`.
    #[error("route field has ill-formed HTTP method verb in segment")]
    Method,
}

/// A parsed UMF route, as Node's `UMFMessage.parseRoute` reads it.
///
/// # Examples
///
/// ```
/// use hydra_protocol::Route;
/// let route = Route::parse("a1b2-7@hello-service:[post]/v1/hello/echo").unwrap();
/// assert_eq!(route.instance.as_deref(), Some("a1b2"));
/// assert_eq!(route.sub_id.as_deref(), Some("7"));
/// assert_eq!(route.service, "hello-service");
/// assert_eq!(route.method.as_deref(), Some("post"));
/// assert_eq!(route.path, "/v1/hello/echo");
/// // And back to text.
/// assert_eq!(route.to_string(), "a1b2-7@hello-service:[post]/v1/hello/echo");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Route {
    /// The instance id before `@`, if any.
    pub instance: Option<String>,
    /// The part after the first `-` of the instance, if any.
    pub sub_id: Option<String>,
    /// The service name (for a URL route, the scheme and host part).
    pub service: String,
    /// The lower-cased HTTP method between `[` and `]`, if any.
    pub method: Option<String>,
    /// The path after the method (may be empty).
    pub path: String,
}

impl Route {
    /// Parses a `to`, `from` or `via` value.
    ///
    /// # Errors
    /// [`RouteError`] when the value has fewer than two `:` segments or an unclosed `[`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), hydra_protocol::route::RouteError> {
    /// use hydra_protocol::Route;
    /// let route = Route::parse("hello-service:/")?;
    /// assert_eq!((route.instance, route.method), (None, None));
    /// assert_eq!(Route::parse("hello-service:[GET]/v1")?.method.as_deref(), Some("get"));
    /// # Ok(()) }
    /// ```
    pub fn parse(value: &str) -> Result<Self, RouteError> {
        let mut segments: Vec<&str> = value.split(':').collect();
        if segments.len() < 2 {
            return Err(RouteError::Segments);
        }
        let mut route = Route::default();
        let mut first = segments[0].to_string();
        if let Some(at) = first.find('@') {
            let instance = &first[..at];
            // Node splits on every '-' and keeps only the first two parts.
            let mut parts = instance.split('-');
            let id = parts.next().unwrap_or_default();
            match parts.next() {
                Some(sub) => {
                    route.instance = non_empty(id);
                    route.sub_id = non_empty(sub);
                }
                None => route.instance = non_empty(instance),
            }
            first = first[at + 1..].to_string();
        }
        let mut rest_start = 1;
        if first.starts_with("http") {
            first = format!("{first}:{}", segments[1]);
            rest_start = 2;
        }
        route.service = first;
        let api = segments.split_off(rest_start.min(segments.len())).join(":");
        route.path = api;
        if route.path.starts_with('[') {
            let close = route.path.find(']').ok_or(RouteError::Method)?;
            let method = route.path[1..close].to_lowercase();
            if !method.is_empty() {
                route.path = route.path[close + 1..].to_string();
                route.method = Some(method);
            }
        }
        Ok(route)
    }

    /// A route to any instance of `service` at `path`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::Route;
    /// assert_eq!(Route::service("hello-service", "/").to_string(), "hello-service:/");
    /// ```
    pub fn service(service: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            path: path.into(),
            ..Self::default()
        }
    }

    /// A route to one instance of `service` at `path`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::Route;
    /// let route = Route::instance("a1b2", "hello-service", "/");
    /// assert_eq!(route.to_string(), "a1b2@hello-service:/");
    /// ```
    pub fn instance(
        instance: impl Into<String>,
        service: impl Into<String>,
        path: impl Into<String>,
    ) -> Self {
        Self {
            instance: Some(instance.into()),
            service: service.into(),
            path: path.into(),
            ..Self::default()
        }
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An `@` also when only a sub id is set, or when the service name holds one (a parsed
        // `@a@svc:/`), so that the text parses back to the same route.
        if self.instance.is_some() || self.sub_id.is_some() || self.service.contains('@') {
            f.write_str(self.instance.as_deref().unwrap_or_default())?;
            if let Some(sub) = &self.sub_id {
                write!(f, "-{sub}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}:", self.service)?;
        if let Some(method) = &self.method {
            write!(f, "[{method}]")?;
        }
        f.write_str(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Route {
        Route::parse(s).unwrap()
    }

    #[test]
    fn plain_service() {
        let r = p("hello-service:/");
        assert_eq!(r.service, "hello-service");
        assert_eq!(r.path, "/");
        assert_eq!(r.instance, None);
        assert_eq!(r.method, None);
    }

    #[test]
    fn method_is_lowercased_and_stripped() {
        let r = p("hello-service:[GET]/v1/hello/test");
        assert_eq!(r.method.as_deref(), Some("get"));
        assert_eq!(r.path, "/v1/hello/test");
        assert_eq!(r.to_string(), "hello-service:[get]/v1/hello/test");
    }

    #[test]
    fn instance_with_and_without_sub_id() {
        let r = p("3f2c@hpp-service:/");
        assert_eq!(r.instance.as_deref(), Some("3f2c"));
        assert_eq!(r.sub_id, None);
        let r = p("a1b2-c9@hydra-router:/");
        assert_eq!(r.instance.as_deref(), Some("a1b2"));
        assert_eq!(r.sub_id.as_deref(), Some("c9"));
        assert_eq!(r.service, "hydra-router");
        assert_eq!(r.to_string(), "a1b2-c9@hydra-router:/");
    }

    #[test]
    fn too_few_segments() {
        assert_eq!(Route::parse("no-colon"), Err(RouteError::Segments));
        assert_eq!(Route::parse(""), Err(RouteError::Segments));
    }

    #[test]
    fn missing_bracket() {
        assert_eq!(Route::parse("svc:[get/v1"), Err(RouteError::Method));
    }

    #[test]
    fn empty_method_keeps_path() {
        let r = p("svc:[]/x");
        assert_eq!(r.method, None);
        assert_eq!(r.path, "[]/x");
    }

    #[test]
    fn path_keeps_further_colons() {
        let r = p("svc:[get]/v1/items/:id");
        assert_eq!(r.path, "/v1/items/:id");
    }

    #[test]
    fn http_url_form() {
        let r = p("http://localhost:[get]/v1/x");
        assert_eq!(r.service, "http://localhost");
        assert_eq!(r.method.as_deref(), Some("get"));
        assert_eq!(r.path, "/v1/x");
        let r = p("https://example.com:8080/x");
        assert_eq!(r.service, "https://example.com");
        assert_eq!(r.path, "8080/x");
    }

    #[test]
    fn empty_service() {
        let r = p(":/x");
        assert_eq!(r.service, "");
    }

    #[test]
    fn written_routes_parse_back() {
        // Found by fuzzing: an `@` inside the service name, a sub id without an instance.
        for text in [
            "a-b@svc:[get]/x",
            "@@:http",
            "-sub@svc:/",
            "abc@svc:",
            "http://h:80/x",
            "svc:[]/p",
            "x@http:a:b",
        ] {
            let r = p(text);
            assert_eq!(p(&r.to_string()), r, "{text:?} -> {r}");
        }
    }
}
