//! `hydra-router`: the gateway. See the library docs.

use std::path::PathBuf;

use clap::Parser;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The Hydra service router: HTTP and WebSocket gateway to every Hydra service.
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
    hydra_service::startup::init_tracing();
    let config =
        hydra_service::startup::load_config_or_exit(hydra_router::config::defaults(), args.config)
            .await;
    let settings =
        hydra_service::startup::config_or_exit(hydra_router::RouterConfig::from_config(&config));
    let router = match hydra_router::Router::bind_with(config, settings).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "hydra-router could not start");
            std::process::exit(1);
        }
    };
    let served = router.serve(hydra_service::shutdown_signal()).await;
    hydra_service::telemetry::shutdown();
    if let Err(e) = served {
        tracing::error!(error = %e, "hydra-router stopped");
        std::process::exit(1);
    }
}
