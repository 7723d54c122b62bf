//! What every Hydra binary does first: logging, then the config contract (`--config FILE`, else
//! `config/config.json` when present, else built-in defaults; then `HYDRA_REDIS_URL` and
//! `HYDRA_SERVICE`).

use std::path::PathBuf;

use hydra_core::{Config, ConfigLoader};
use serde_json::Value;

/// Exit code for a bad configuration (`EX_USAGE`).
pub const EXIT_CONFIG: i32 = 64;

/// The OpenTelemetry layer, when spans are exported.
#[cfg(feature = "otel")]
pub(crate) type OtelLayer = crate::telemetry::OtelLayer;
#[cfg(not(feature = "otel"))]
pub(crate) type OtelLayer = tracing_subscriber::layer::Identity;

/// The subscriber every binary logs with: `RUST_LOG` filters the log (default `info`), on
/// stderr, text or JSON lines (`LOG_FORMAT=json`). `otel`, when spans are exported, has a filter
/// of its own, every `info` span and above, so quieting the log does not lose traces.
pub(crate) fn subscriber(otel: Option<OtelLayer>) -> impl tracing::Subscriber + Send + Sync {
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::layer::{Layer, SubscriberExt};
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json");
    let plain = (!json).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter())
    });
    let json = json.then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(filter())
    });
    tracing_subscriber::registry()
        .with(otel.map(|layer| layer.with_filter(LevelFilter::INFO)))
        .with(plain)
        .with(json)
}

/// Logs to stderr; `RUST_LOG` filters (default `info`), `LOG_FORMAT=json` for JSON lines.
///
/// With the `otel` feature and an OTLP endpoint set, spans of level `info` and above are exported
/// too, whatever `RUST_LOG` says: the subscriber for
/// the whole process is then installed by [`telemetry::init_export`](crate::telemetry::init_export)
/// (which [`load_config_or_exit`] calls) once the service name is known; until then this thread
/// logs.
///
/// # Examples
///
/// ```no_run
/// #[tokio::main]
/// async fn main() {
///     hydra_service::startup::init_tracing();
///     tracing::info!("starting");
/// }
/// ```
pub fn init_tracing() {
    use tracing_subscriber::util::SubscriberInitExt;
    if cfg!(feature = "otel") && crate::telemetry::export_requested() {
        crate::telemetry::log_here_until_export(subscriber(None));
        return;
    }
    let _ = subscriber(None).try_init();
}

/// Loads the config as every binary does; on error prints it and exits with [`EXIT_CONFIG`].
/// Then starts trace export when the environment asks for it ([`crate::telemetry`]).
///
/// # Examples
///
/// ```no_run
/// use hydra_service::{startup, HydraService};
///
/// #[tokio::main]
/// async fn main() -> Result<(), hydra_core::HydraError> {
///     startup::init_tracing();
///     // `--config FILE` would go where `None` is.
///     let config = startup::load_config_or_exit(
///         serde_json::json!({"hydra": {"serviceName": "hello", "servicePort": 0}}),
///         None,
///     )
///     .await;
///     HydraService::new(config).get("/v1/hello", || async { "hello" }).run().await
/// }
/// ```
pub async fn load_config_or_exit(defaults: Value, explicit: Option<PathBuf>) -> Config {
    let config = config_or_exit(ConfigLoader::new(defaults).file(explicit).load().await);
    crate::telemetry::init_export(&config.hydra.service_name);
    config
}

/// The value of a config step (loading it, reading a binary's settings); on error prints it and
/// exits with [`EXIT_CONFIG`].
///
/// # Examples
///
/// ```no_run
/// # fn demo(config: hydra_core::Config) {
/// use hydra_service::{startup, HydraService};
/// // Exits with code 64 naming the setting when one cannot be used.
/// let service = startup::config_or_exit(HydraService::try_new(config));
/// # }
/// ```
pub fn config_or_exit<T>(result: Result<T, impl std::fmt::Display>) -> T {
    match result {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration");
            eprintln!("configuration error: {e}");
            std::process::exit(EXIT_CONFIG);
        }
    }
}
