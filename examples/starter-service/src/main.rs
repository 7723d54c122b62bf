//! `starter-service`: binds, registers and serves until SIGTERM or Ctrl-C.

use std::path::PathBuf;

use clap::Parser;
use hydra_core::HydraError;
use hydra_service::startup;

/// A Hydra service to start from: HTTP routes, UMF messages, a stored config, a queue.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Config file (default: config/config.json when present, else built-in defaults); then
    /// HYDRA_REDIS_URL and HYDRA_SERVICE apply (`starter-service:0.1.0` pulls a stored config).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check the health of the instance serving in this container and exit (0 healthy, 1 not),
    /// for Docker's HEALTHCHECK: asks the endpoint the serving instance announces where
    /// HYDRA_HEALTH_FILE says (`@NAME`: an abstract socket; otherwise a file).
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
    let config = startup::load_config_or_exit(starter_service::defaults(), args.config).await;
    let service = match starter_service::bind(config).await {
        Ok(service) => service,
        // A setting that cannot be used: printed, exit code 64.
        Err(HydraError::Config(e)) => startup::config_or_exit(Err(e)),
        Err(e) => {
            tracing::error!(error = %e, "starter-service could not start");
            std::process::exit(1);
        }
    };
    if let Err(e) = service.serve(hydra_service::shutdown_signal()).await {
        tracing::error!(error = %e, "starter-service stopped");
        std::process::exit(1);
    }
}
