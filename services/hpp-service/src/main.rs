//! `hpp-service`: a hot potato player. See the library docs and the README.

use std::path::PathBuf;

use clap::Parser;
use hpp_service::StartError;
use hydra_service::startup::{init_tracing, load_config_or_exit, EXIT_CONFIG};

/// A Hydra hot potato player (hpp-service); `GET /v1/hpp/startgame` starts a game.
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
    init_tracing();
    let config = load_config_or_exit(hpp_service::defaults(), args.config).await;
    let service = match hpp_service::bind(config).await {
        Ok(s) => s,
        Err(StartError::Settings(e)) => {
            tracing::error!(error = %e, "invalid game settings");
            eprintln!("configuration error: {e}");
            std::process::exit(EXIT_CONFIG);
        }
        Err(e) => {
            tracing::error!(error = %e, "hpp-service could not start");
            std::process::exit(1);
        }
    };
    let served = service.serve(hydra_service::shutdown_signal()).await;
    hydra_service::telemetry::shutdown();
    if let Err(e) = served {
        tracing::error!(error = %e, "hpp-service stopped");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        super::Args::command().debug_assert();
    }
}
