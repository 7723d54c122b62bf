//! The router's settings: Node hydra-router's config keys, plus a few of ours.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use hydra_core::Config;
use serde_json::{json, Value};

/// The built-in config (used when there is no `config/config.json` and no `--config`).
pub fn defaults() -> Value {
    json!({
        "externalRoutes": {},
        "routerToken": "",
        "disableRouterEndpoint": false,
        "debugLogging": false,
        "queuerDB": 0,
        "requestTimeout": 5,
        "forceMessageSignature": false,
        "signatureSharedSecret": "",
        "cors": {},
        "hydra": {
            "serviceName": "hydra-router",
            "serviceDescription": "Service Router",
            "serviceType": "router",
            "serviceVersion": env!("CARGO_PKG_VERSION"),
            "serviceIP": "",
            "servicePort": 5353
        }
    })
}

/// Typed router settings, read once from the config document.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// `externalRoutes`: extra routes by service name (`{"svc": ["[get]/x"]}`).
    pub external_routes: BTreeMap<String, Vec<String>>,
    /// `routerToken`: required for the admin endpoints when set.
    pub router_token: String,
    /// `disableRouterEndpoint`: the admin endpoints answer 404.
    pub disable_router_endpoint: bool,
    /// `debugLogging`: log every routed request.
    pub debug_logging: bool,
    /// The Redis database of the WebSocket message queues (`hydra.queuerDB`, else `queuerDB`, else 0,
    /// as the Node router reads it).
    pub queuer_db: u64,
    /// `requestTimeout` (seconds, default 5): a service slower than this gets a 504.
    pub request_timeout: Duration,
    /// `forceMessageSignature`: WebSocket messages must be signed with the shared secret.
    pub force_message_signature: bool,
    /// `signatureSharedSecret`.
    pub signature_shared_secret: String,
    /// `cors`: headers added to every forwarded response.
    pub cors: Vec<(HeaderName, HeaderValue)>,
    /// `bodyLimit` (bytes, default 1 MiB): larger request bodies get 413.
    pub body_limit: usize,
    /// `adminListen` (e.g. `127.0.0.1:9090`): serve the admin endpoints and dashboard there too.
    pub admin_listen: Option<String>,
    /// `hydra.metricsPort` (default 0: none): a port of its own on which `GET /metrics` is served
    /// to anyone, without the token, as services on hydra-service serve theirs; for Prometheus
    /// on an internal network, with the port left unpublished.
    pub metrics_port: u16,
    /// `routeRefreshSeconds` (default 30): the safety-net reload of the routing table.
    pub route_refresh: Duration,
    /// `ejectSeconds` (default 10): how long an instance that failed is left out.
    pub eject_for: Duration,
    /// `wsRateLimit` (messages per second per WebSocket client, default 100).
    pub ws_rate_limit: u32,
    /// `serverThreads` (default 0: one per core): the threads that serve HTTP connections, each
    /// with a runtime and an upstream connection pool of its own, so a request is handled on
    /// one thread from its first byte to its answer. 1 serves on the caller's runtime.
    pub server_threads: usize,
    /// `headerReadTimeout` (seconds, default 10): a client slower to send its request head is
    /// disconnected (slowloris).
    pub header_read_timeout: Duration,
    /// `bodyIdleTimeout` (seconds, default 10): a request body that stalls this long between
    /// chunks gets 408.
    pub body_idle_timeout: Duration,
    /// `bodyReadTimeout` (seconds, default 30): a request body not complete this long after the
    /// head gets 408.
    pub body_read_timeout: Duration,
    /// `responseIdleTimeout` (seconds, default 10): an instance's answer body that stalls this
    /// long between two reads is cut (a JSON answer the router rewrites gets a 504; one passed
    /// through ends where it stopped and its client connection closes).
    pub response_idle_timeout: Duration,
    /// `responseReadTimeout` (seconds, default 60): an instance's whole answer, body included,
    /// from the request's start; longer is cut as a stall is.
    pub response_read_timeout: Duration,
}

/// A config value the router cannot use: the key, the value as given, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config key `{key}`: {value} is not {expected}")]
pub struct RouterConfigError {
    /// The key (`hydra.queuerDB` for one inside `hydra`).
    pub key: String,
    /// The value, as JSON text.
    pub value: String,
    /// What the key takes.
    pub expected: &'static str,
}

/// Reads typed values from the config document: a missing (or `null`) key gives `None`, a value
/// of the wrong type or out of range an error naming the key. Numbers may be given as numeric
/// strings, as Node configs often carry them.
struct Reader<'a> {
    doc: &'a Value,
    prefix: &'static str,
}

impl<'a> Reader<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.doc.get(key).filter(|v| !v.is_null())
    }

    fn bad(&self, key: &str, expected: &'static str) -> RouterConfigError {
        RouterConfigError {
            key: format!("{}{key}", self.prefix),
            value: self.get(key).map(Value::to_string).unwrap_or_default(),
            expected,
        }
    }

    fn number(&self, key: &str, expected: &'static str) -> Result<Option<f64>, RouterConfigError> {
        let n = match self.get(key) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            Some(_) => None,
        };
        match n {
            Some(n) if n.is_finite() => Ok(Some(n)),
            _ => Err(self.bad(key, expected)),
        }
    }

    /// A whole number in `0..=max`.
    fn count(&self, key: &str, max: u64) -> Result<Option<u64>, RouterConfigError> {
        const WHAT: &str = "a whole number of at least 0";
        match self.number(key, WHAT)? {
            None => Ok(None),
            Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= max as f64 => Ok(Some(n as u64)),
            Some(_) => Err(self.bad(key, WHAT)),
        }
    }

    /// A positive number of seconds.
    fn seconds(&self, key: &str, default: f64) -> Result<Duration, RouterConfigError> {
        const WHAT: &str = "a positive number of seconds";
        let n = self.number(key, WHAT)?.unwrap_or(default);
        if n <= 0.0 {
            return Err(self.bad(key, WHAT));
        }
        Duration::try_from_secs_f64(n).map_err(|_| self.bad(key, WHAT))
    }

    fn flag(&self, key: &str) -> Result<bool, RouterConfigError> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s == "true" => Ok(true),
            Some(Value::String(s)) if s == "false" || s.is_empty() => Ok(false),
            Some(_) => Err(self.bad(key, "true or false")),
        }
    }

    fn text(&self, key: &str) -> Result<String, RouterConfigError> {
        match self.get(key) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(self.bad(key, "a string")),
        }
    }

    /// `{"svc": ["[get]/x", …]}`.
    fn routes(&self, key: &str) -> Result<BTreeMap<String, Vec<String>>, RouterConfigError> {
        const WHAT: &str = "an object of service names to arrays of route strings";
        let Some(v) = self.get(key) else {
            return Ok(BTreeMap::new());
        };
        let map = v.as_object().ok_or_else(|| self.bad(key, WHAT))?;
        map.iter()
            .map(|(svc, routes)| {
                let routes = routes
                    .as_array()
                    .and_then(|a| {
                        a.iter()
                            .map(|r| r.as_str().map(String::from))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| self.bad(key, WHAT))?;
                Ok((svc.clone(), routes))
            })
            .collect()
    }

    /// `{"Header-Name": value}`: names lower-cased, values as text; each a valid header.
    fn headers(&self, key: &str) -> Result<Vec<(HeaderName, HeaderValue)>, RouterConfigError> {
        const EXPECTED: &str = "an object of header names to header values";
        let Some(v) = self.get(key) else {
            return Ok(Vec::new());
        };
        let map = v.as_object().ok_or_else(|| self.bad(key, EXPECTED))?;
        map.iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                match (
                    HeaderName::from_bytes(k.to_lowercase().as_bytes()),
                    HeaderValue::from_str(&v),
                ) {
                    (Ok(k), Ok(v)) => Ok((k, v)),
                    _ => Err(self.bad(key, EXPECTED)),
                }
            })
            .collect()
    }
}

impl RouterConfig {
    /// The number of server threads: `serverThreads`, or one per core.
    pub fn threads(&self) -> usize {
        match self.server_threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }

    /// Reads the settings from a loaded config document; keys that are missing take their
    /// defaults.
    ///
    /// # Errors
    /// A value of the wrong type or out of range, naming the key.
    pub fn from_config(config: &Config) -> Result<Self, RouterConfigError> {
        let r = Reader {
            doc: &config.document,
            prefix: "",
        };
        let hydra_extra = Value::Object(config.hydra.extra.clone());
        let in_hydra = Reader {
            doc: &hydra_extra,
            prefix: "hydra.",
        };
        let queuer_db = match in_hydra.count("queuerDB", u64::MAX)? {
            Some(db) => db,
            None => r.count("queuerDB", u64::MAX)?.unwrap_or(0),
        };
        let admin_listen = r.text("adminListen")?;
        let metrics_port = in_hydra.count("metricsPort", u64::from(u16::MAX))?;
        Ok(Self {
            external_routes: r.routes("externalRoutes")?,
            router_token: r.text("routerToken")?,
            disable_router_endpoint: r.flag("disableRouterEndpoint")?,
            debug_logging: r.flag("debugLogging")?,
            queuer_db,
            request_timeout: r.seconds("requestTimeout", 5.0)?,
            force_message_signature: r.flag("forceMessageSignature")?,
            signature_shared_secret: r.text("signatureSharedSecret")?,
            cors: r.headers("cors")?,
            body_limit: r
                .count("bodyLimit", usize::MAX as u64)?
                .map_or(1024 * 1024, |v| v as usize),
            admin_listen: (!admin_listen.is_empty()).then_some(admin_listen),
            metrics_port: metrics_port.map_or(0, |p| p as u16),
            route_refresh: r.seconds("routeRefreshSeconds", 30.0)?,
            eject_for: r.seconds("ejectSeconds", 10.0)?,
            ws_rate_limit: r
                .count("wsRateLimit", u64::from(u32::MAX))?
                .map_or(100, |v| v as u32),
            server_threads: r.count("serverThreads", 1024)?.map_or(0, |v| v as usize),
            header_read_timeout: r.seconds("headerReadTimeout", 10.0)?,
            body_idle_timeout: r.seconds("bodyIdleTimeout", 10.0)?,
            body_read_timeout: r.seconds("bodyReadTimeout", 30.0)?,
            response_idle_timeout: r.seconds("responseIdleTimeout", 10.0)?,
            response_read_timeout: r.seconds("responseReadTimeout", 60.0)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_config_keys_are_read() {
        let mut doc = defaults();
        doc["routerToken"] = json!("tok");
        doc["requestTimeout"] = json!(2);
        doc["cors"] = json!({"Access-Control-Allow-Origin": "*", "access-control-Max-Age": 10});
        doc["externalRoutes"] = json!({"ext": ["[get]/ext/x"]});
        doc["hydra"]["queuerDB"] = json!(3);
        doc["hydra"]["metricsPort"] = json!(9464);
        let c = RouterConfig::from_config(&Config::from_value(doc).unwrap()).unwrap();
        assert_eq!(c.metrics_port, 9464);
        assert_eq!(c.router_token, "tok");
        assert_eq!(c.request_timeout, Duration::from_secs(2));
        assert!(c.cors.contains(&(
            HeaderName::from_static("access-control-max-age"),
            HeaderValue::from_static("10")
        )));
        assert_eq!(c.external_routes["ext"], ["[get]/ext/x"]);
        assert_eq!(c.queuer_db, 3);
        let d = RouterConfig::from_config(&Config::from_value(defaults()).unwrap()).unwrap();
        assert_eq!(d.request_timeout, Duration::from_secs(5));
        assert_eq!(d.queuer_db, 0);
        assert!(!d.disable_router_endpoint);
        assert_eq!(d.metrics_port, 0, "no metrics port unless one is given");
    }

    fn parse(key: &str, value: Value) -> Result<RouterConfig, RouterConfigError> {
        let mut doc = defaults();
        doc[key] = value;
        RouterConfig::from_config(&Config::from_value(doc).unwrap())
    }

    fn refused(key: &str, value: Value) {
        let e = parse(key, value.clone()).unwrap_err();
        assert_eq!(e.key, key, "{e}");
        assert_eq!(e.value, value.to_string(), "{e}");
        let text = e.to_string();
        assert!(
            text.contains(key) && text.contains(&value.to_string()),
            "{text}"
        );
    }

    #[test]
    fn wrong_values_name_their_key() {
        for v in [json!("abc"), json!(0), json!(-1), json!(true), json!(1e300)] {
            refused("requestTimeout", v);
        }
        for key in [
            "routeRefreshSeconds",
            "ejectSeconds",
            "headerReadTimeout",
            "bodyIdleTimeout",
            "bodyReadTimeout",
            "responseIdleTimeout",
            "responseReadTimeout",
        ] {
            refused(key, json!("soon"));
            refused(key, json!(-2));
        }
        for v in [json!(-1), json!("x"), json!(1.5), json!([])] {
            refused("bodyLimit", v);
        }
        for v in [json!("x"), json!(-3), json!(5_000_000_000u64)] {
            refused("wsRateLimit", v);
        }
        refused("queuerDB", json!("two"));
        refused("cors", json!(5));
        refused("cors", json!("*"));
        refused("cors", json!({"Bad Name": "x"}));
        refused("cors", json!({"X-Ok": "line\nbreak"}));
        refused("externalRoutes", json!({"a": "notarray"}));
        refused("externalRoutes", json!({"a": [1]}));
        refused("externalRoutes", json!(["[get]/x"]));
        for key in ["routerToken", "signatureSharedSecret", "adminListen"] {
            refused(key, json!(12));
        }
        for key in [
            "disableRouterEndpoint",
            "debugLogging",
            "forceMessageSignature",
        ] {
            refused(key, json!("yes"));
            refused(key, json!(1));
        }
        let mut doc = defaults();
        doc["hydra"]["queuerDB"] = json!(-1);
        let e = RouterConfig::from_config(&Config::from_value(doc).unwrap()).unwrap_err();
        assert_eq!(e.key, "hydra.queuerDB");
        let mut doc = defaults();
        doc["hydra"]["metricsPort"] = json!(70000);
        let e = RouterConfig::from_config(&Config::from_value(doc).unwrap()).unwrap_err();
        assert_eq!(e.key, "hydra.metricsPort");
    }

    #[test]
    fn numeric_strings_and_missing_keys_are_accepted() {
        let c = parse("requestTimeout", json!("2.5")).unwrap();
        assert_eq!(c.request_timeout, Duration::from_millis(2500));
        assert_eq!(parse("bodyLimit", json!("2048")).unwrap().body_limit, 2048);
        assert_eq!(parse("wsRateLimit", json!(" 7 ")).unwrap().ws_rate_limit, 7);
        assert_eq!(parse("queuerDB", json!("4")).unwrap().queuer_db, 4);
        assert!(parse("debugLogging", json!("true")).unwrap().debug_logging);
        assert!(parse("cors", Value::Null).unwrap().cors.is_empty());
        let empty = RouterConfig::from_config(
            &Config::from_value(json!({"hydra": {"serviceName": "r"}})).unwrap(),
        )
        .unwrap();
        assert_eq!(empty.body_limit, 1024 * 1024);
        assert_eq!(empty.ws_rate_limit, 100);
        assert_eq!(empty.route_refresh, Duration::from_secs(30));
        assert!(empty.admin_listen.is_none() && empty.external_routes.is_empty());
    }
}
