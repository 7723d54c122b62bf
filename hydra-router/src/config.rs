//! The router's settings: Node hydra-router's config keys, plus a few of ours.

use std::collections::BTreeMap;
use std::time::Duration;

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
    pub cors: Vec<(String, String)>,
    /// `bodyLimit` (bytes, default 1 MiB): larger request bodies get 413.
    pub body_limit: usize,
    /// `adminListen` (e.g. `127.0.0.1:9090`): serve the admin endpoints and dashboard there too.
    pub admin_listen: Option<String>,
    /// `routeRefreshSeconds` (default 30): the safety-net reload of the routing table.
    pub route_refresh: Duration,
    /// `ejectSeconds` (default 10): how long an instance that failed is left out.
    pub eject_for: Duration,
    /// `wsRateLimit` (messages per second per WebSocket client, default 100).
    pub ws_rate_limit: u32,
    /// `headerReadTimeout` (seconds, default 10): a client slower to send its request head is
    /// disconnected (slowloris).
    pub header_read_timeout: Duration,
    /// `bodyIdleTimeout` (seconds, default 10): a request body that stalls this long between
    /// chunks gets 408.
    pub body_idle_timeout: Duration,
    /// `bodyReadTimeout` (seconds, default 30): a request body not complete this long after the
    /// head gets 408.
    pub body_read_timeout: Duration,
}

/// A positive number of seconds at `key`, else `default`.
fn seconds(doc: &Value, key: &str, default: f64) -> Duration {
    Duration::from_secs_f64(
        num(doc, key)
            .filter(|t| *t > 0.0 && t.is_finite())
            .unwrap_or(default),
    )
}

fn num(doc: &Value, key: &str) -> Option<f64> {
    match doc.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn flag(doc: &Value, key: &str) -> bool {
    match doc.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

impl RouterConfig {
    /// Reads the settings from a loaded config document.
    pub fn from_config(config: &Config) -> Self {
        let doc = &config.document;
        let external_routes = doc
            .get("externalRoutes")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let routes = v
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|r| r.as_str().map(String::from))
                                    .collect()
                            })
                            .unwrap_or_default();
                        (k.clone(), routes)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let cors = doc
            .get("cors")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (k.to_lowercase(), v)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let queuer_db = config
            .hydra
            .extra
            .get("queuerDB")
            .and_then(Value::as_u64)
            .or_else(|| num(doc, "queuerDB").map(|v| v as u64))
            .unwrap_or(0);
        Self {
            external_routes,
            router_token: doc
                .get("routerToken")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            disable_router_endpoint: flag(doc, "disableRouterEndpoint"),
            debug_logging: flag(doc, "debugLogging"),
            queuer_db,
            request_timeout: Duration::from_secs_f64(
                num(doc, "requestTimeout")
                    .filter(|t| *t > 0.0)
                    .unwrap_or(5.0),
            ),
            force_message_signature: flag(doc, "forceMessageSignature"),
            signature_shared_secret: doc
                .get("signatureSharedSecret")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            cors,
            body_limit: num(doc, "bodyLimit").map_or(1024 * 1024, |v| v as usize),
            admin_listen: doc
                .get("adminListen")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(String::from),
            route_refresh: seconds(doc, "routeRefreshSeconds", 30.0),
            eject_for: seconds(doc, "ejectSeconds", 10.0),
            ws_rate_limit: num(doc, "wsRateLimit").map_or(100, |v| v as u32),
            header_read_timeout: seconds(doc, "headerReadTimeout", 10.0),
            body_idle_timeout: seconds(doc, "bodyIdleTimeout", 10.0),
            body_read_timeout: seconds(doc, "bodyReadTimeout", 30.0),
        }
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
        let c = RouterConfig::from_config(&Config::from_value(doc).unwrap());
        assert_eq!(c.router_token, "tok");
        assert_eq!(c.request_timeout, Duration::from_secs(2));
        assert!(c
            .cors
            .contains(&("access-control-max-age".into(), "10".into())));
        assert_eq!(c.external_routes["ext"], ["[get]/ext/x"]);
        assert_eq!(c.queuer_db, 3);
        let d = RouterConfig::from_config(&Config::from_value(defaults()).unwrap());
        assert_eq!(d.request_timeout, Duration::from_secs(5));
        assert_eq!(d.queuer_db, 0);
        assert!(!d.disable_router_endpoint);
    }
}
