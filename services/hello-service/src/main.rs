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
    /// Check the health of the instance running in this container and exit (0 healthy, 1 not):
    /// asks the endpoint recorded in the file named by HYDRA_HEALTH_FILE.
    #[arg(long)]
    healthcheck: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if args.healthcheck {
        std::process::exit(hydra_service::healthcheck::run());
    }
    hydra_service::startup::init_tracing();
    let config =
        hydra_service::startup::load_config_or_exit(hello_service::defaults(), args.config).await;
    if let Err(e) = hello_service::service(config).run().await {
        tracing::error!(error = %e, "hello-service stopped");
        std::process::exit(1);
    }
}
