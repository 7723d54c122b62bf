//! `hello-service`: see the library docs for its routes.

use std::path::PathBuf;

use clap::Parser;

/// The Hydra hello-service.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Config file (default: config/config.json when present, else built-in defaults).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    hydra_service::startup::init_tracing();
    let args = Args::parse();
    let config =
        hydra_service::startup::load_config_or_exit(hello_service::defaults(), args.config).await;
    if let Err(e) = hello_service::service(config).run().await {
        tracing::error!(error = %e, "hello-service stopped");
        std::process::exit(1);
    }
}
