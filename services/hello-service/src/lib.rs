//! The hello-service: the seed's hello-service (cjus/hello-service) on hydra-rs, with the same
//! routes and answers.
//!
//! | route | answer |
//! |---|---|
//! | `GET /v1/hello/`, `/v1/hello/test`, `/v1/hello/test2` | `{"result":{"msg":"hello from hello-service - {id}"}}` in the envelope |
//! | `GET /v1/hello/html` | a small HTML page |
//! | `GET /v1/hello/image` | a PNG |
//! | `POST /v1/hello/post` | `{"result":{"msg":"Post recieved","a":…,"b":…}}` (sic) |
//! | `GET /v1/hello/slow[?ms=N]` | answers after `slowDelayMs` (config, default 3000) or `N` ms |
//!
//! `responseDelayMs` (config, default 0) delays the hello answers (`/`, `/test`, `/test2`) by that
//! many milliseconds: a slow instance on demand, for fault drills (`scripts/bench-faults.sh`).
//!
//! Both are read once at start ([`Settings`]): whole numbers of milliseconds (a string holding
//! one is accepted), at most 60 s (longer values are cut to 60 s); anything else is an error
//! naming the setting, and the binary exits with 64.

use std::time::Duration;

use axum::extract::Query;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::Extension;
use hydra_core::{Config, Hydra};
use hydra_service::settings::whole_number;
use hydra_service::{ApiError, Envelope, HydraService, Json, SettingError};
use serde::Deserialize;
use serde_json::{json, Value};

/// The built-in config: used when there is no `config/config.json` and no `--config`.
pub fn defaults() -> Value {
    json!({
        "hydra": {
            "serviceName": "hello-service",
            "serviceDescription": "Says hello",
            "serviceType": "hello",
            "serviceVersion": env!("CARGO_PKG_VERSION"),
            "servicePort": 0,
            "serviceIP": ""
        },
        "slowDelayMs": 3000,
        "responseDelayMs": 0
    })
}

/// The service's own settings, read from the document's top level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// What `/v1/hello/slow` waits without `?ms=` (`slowDelayMs`, default 3000 ms).
    pub slow_delay: Duration,
    /// What the hello answers wait (`responseDelayMs`, default 0).
    pub response_delay: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            slow_delay: Duration::from_millis(3000),
            response_delay: Duration::ZERO,
        }
    }
}

impl Settings {
    /// Reads the settings from `config`.
    ///
    /// # Errors
    /// [`SettingError`] naming the setting when a value is not a whole number.
    pub fn from_config(config: &Config) -> Result<Self, SettingError> {
        let read = |key: &str, default: Duration| -> Result<Duration, SettingError> {
            let ms = whole_number(key, config.get(key))?;
            Ok(ms.map_or(default, |ms| Duration::from_millis(ms.min(MAX_SLOW_MS))))
        };
        let d = Self::default();
        Ok(Self {
            slow_delay: read("slowDelayMs", d.slow_delay)?,
            response_delay: read("responseDelayMs", d.response_delay)?,
        })
    }
}

const PNG: &[u8] = include_bytes!("../assets/hello.png");
/// Longest delay `/v1/hello/slow?ms=` accepts.
const MAX_SLOW_MS: u64 = 60_000;

fn hello_answer(hydra: &Hydra) -> Envelope {
    Envelope::ok(
        json!({ "msg": format!("hello from {} - {}", hydra.service_name(), hydra.instance_id()) }),
    )
}

async fn hello(Extension(hydra): Extension<Hydra>) -> Envelope {
    hello_answer(&hydra)
}

async fn html(Extension(hydra): Extension<Hydra>) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><title>hello-service</title></head>\
         <body><h1>Hello from {} - {}</h1></body></html>",
        hydra.service_name(),
        hydra.instance_id()
    ))
}

async fn image() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "image/png")], PNG)
}

async fn post(Json(body): Json<Value>) -> Result<Envelope, ApiError> {
    let Value::Object(fields) = body else {
        return Err(ApiError::BadRequest("expected a JSON object".into()));
    };
    Ok(Envelope::ok(json!({
        "msg": "Post recieved",
        "a": fields.get("a").cloned().unwrap_or(Value::Null),
        "b": fields.get("b").cloned().unwrap_or(Value::Null),
    })))
}

#[derive(Debug, Deserialize)]
struct SlowQuery {
    ms: Option<u64>,
}

/// The service, ready to bind and run: [`Settings`] and hydra-service's own settings read from
/// `config` and checked.
///
/// # Errors
/// [`SettingError`] naming the first setting that cannot be used.
pub fn try_service(config: Config) -> Result<HydraService, SettingError> {
    let settings = Settings::from_config(&config)?;
    Ok(with_settings(HydraService::try_new(config)?, settings))
}

/// As [`try_service`], for tests and embedding.
///
/// # Panics
/// On a setting that cannot be used (the binary reports it with [`try_service`]).
pub fn service(config: Config) -> HydraService {
    try_service(config).unwrap_or_else(|e| panic!("hello-service: {e}"))
}

fn with_settings(service: HydraService, settings: Settings) -> HydraService {
    let default_delay = settings.slow_delay.as_millis() as u64;
    let slow = move |Extension(hydra): Extension<Hydra>, Query(q): Query<SlowQuery>| async move {
        let ms = q.ms.unwrap_or(default_delay).min(MAX_SLOW_MS);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Envelope::ok(
            json!({ "msg": format!("slow hello from {} - {}", hydra.service_name(), hydra.instance_id()), "delayMs": ms }),
        )
    };
    let response_delay = settings.response_delay;
    let service = if response_delay.is_zero() {
        service
            .get("/v1/hello/", hello)
            .get("/v1/hello/test", hello)
            .get("/v1/hello/test2", hello)
    } else {
        let delayed = move |Extension(hydra): Extension<Hydra>| async move {
            tokio::time::sleep(response_delay).await;
            hello_answer(&hydra)
        };
        service
            .get("/v1/hello/", delayed)
            .get("/v1/hello/test", delayed)
            .get("/v1/hello/test2", delayed)
    };
    service
        .get("/v1/hello/html", html)
        .get("/v1/hello/image", image)
        .post("/v1/hello/post", post)
        .get("/v1/hello/slow", slow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(extra: Value) -> Result<Settings, SettingError> {
        let mut doc = defaults();
        if let Value::Object(m) = extra {
            for (k, v) in m {
                doc[k] = v;
            }
        }
        Settings::from_config(&Config::from_value(doc).unwrap())
    }

    #[test]
    fn defaults_numbers_and_numeric_strings() {
        assert_eq!(settings(json!({})).unwrap(), Settings::default());
        let s = settings(json!({"slowDelayMs": "250", "responseDelayMs": 400})).unwrap();
        assert_eq!(s.slow_delay, Duration::from_millis(250));
        assert_eq!(s.response_delay, Duration::from_millis(400));
        let long = settings(json!({"responseDelayMs": 3_600_000})).unwrap();
        assert_eq!(long.response_delay, Duration::from_millis(MAX_SLOW_MS));
    }

    #[test]
    fn a_bad_value_names_the_setting() {
        for (key, value) in [
            ("slowDelayMs", json!("3s")),
            ("slowDelayMs", json!(-5)),
            ("responseDelayMs", json!({"ms": 1})),
        ] {
            let e = settings(json!({ key: value.clone() })).unwrap_err();
            assert_eq!(e.key, key);
            assert!(e.to_string().contains(&value.to_string()), "{e}");
        }
        let mut doc = defaults();
        doc["hydra"]["bodyLimit"] = json!("big");
        let e = try_service(Config::from_value(doc).unwrap()).unwrap_err();
        assert_eq!(e.key, "hydra.bodyLimit");
    }
}
