//! What every Hydra binary does first: logging, then the config contract (`--config FILE`, else
//! `config/config.json` when present, else built-in defaults; then `HYDRA_REDIS_URL` and
//! `HYDRA_SERVICE`).

use std::path::PathBuf;

use hydra_core::{Config, ConfigLoader};
use serde_json::Value;

/// Exit code for a bad configuration (`EX_USAGE`).
pub const EXIT_CONFIG: i32 = 64;

/// Logs to stderr; `RUST_LOG` filters (default `info`), `LOG_FORMAT=json` for JSON lines.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Loads the config as every binary does; on error prints it and exits with [`EXIT_CONFIG`].
pub async fn load_config_or_exit(defaults: Value, explicit: Option<PathBuf>) -> Config {
    config_or_exit(ConfigLoader::new(defaults).file(explicit).load().await)
}

/// The value of a config step (loading it, reading a binary's settings); on error prints it and
/// exits with [`EXIT_CONFIG`].
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
