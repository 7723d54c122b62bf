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

use std::time::Duration;

use axum::extract::Query;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::Extension;
use hydra_core::{Config, Hydra};
use hydra_service::{ApiError, Envelope, HydraService, Json};
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

/// The service, ready to bind and run.
pub fn service(config: Config) -> HydraService {
    let default_delay = config
        .get("slowDelayMs")
        .and_then(Value::as_u64)
        .unwrap_or(3000);
    let slow = move |Extension(hydra): Extension<Hydra>, Query(q): Query<SlowQuery>| async move {
        let ms = q.ms.unwrap_or(default_delay).min(MAX_SLOW_MS);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Envelope::ok(
            json!({ "msg": format!("slow hello from {} - {}", hydra.service_name(), hydra.instance_id()), "delayMs": ms }),
        )
    };
    let response_delay = config
        .get("responseDelayMs")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .min(MAX_SLOW_MS);
    let service = HydraService::new(config);
    let service = if response_delay == 0 {
        service
            .get("/v1/hello/", hello)
            .get("/v1/hello/test", hello)
            .get("/v1/hello/test2", hello)
    } else {
        let delayed = move |Extension(hydra): Extension<Hydra>| async move {
            tokio::time::sleep(Duration::from_millis(response_delay)).await;
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
