//! `hello-service`: see the library docs for its routes.

use std::path::PathBuf;

use clap::Parser;
use hydra_service::startup;

/// The Hydra hello-service.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Config file (default: config/config.json when present, else built-in defaults).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check the health of the instance running in this container and exit (0 healthy, 1 not):
    /// asks the endpoint the serving instance announces where HYDRA_HEALTH_FILE says (`@NAME`:
    /// an abstract socket, as the images set it; otherwise a file).
    #[arg(long)]
    healthcheck: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if args.healthcheck {
        std::process::exit(hydra_service::healthcheck::run());
    }
    startup::init_tracing();
    let config = startup::load_config_or_exit(hello_service::defaults(), args.config).await;
    let service = startup::config_or_exit(hello_service::try_service(config));
    let served = service.run().await;
    hydra_service::telemetry::shutdown();
    if let Err(e) = served {
        tracing::error!(error = %e, "hello-service stopped");
        std::process::exit(1);
    }
}
