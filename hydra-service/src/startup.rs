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
    match ConfigLoader::new(defaults).file(explicit).load().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration");
            eprintln!("configuration error: {e}");
            std::process::exit(EXIT_CONFIG);
        }
    }
}
