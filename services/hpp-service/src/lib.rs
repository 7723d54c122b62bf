//! The hot potato game (the seed's cjus/hpp-service) on hydra-rs. Rust and Node players join
//! the same game: the messages are Node's, byte for byte, with our additions as extra `bdy` keys
//! that Node players ignore and pass on.
//!
//! `GET /v1/hpp/startgame` on any player starts a game: a countdown, then the potato goes to a
//! random other player; every holder broadcasts `received`, keeps the potato for a random delay
//! and passes it on; the first holder past the end of the game broadcasts `gameover`. The
//! starter answers with the game log it collected, in Node's envelope:
//! `{"statusCode":200,…,"result":{"gameLog":[…],"gameID":"…"}}`.
//!
//! A tour:
//!
//! - [`message`]: the three messages and the log lines, as Node writes and reads them.
//! - [`settings`]: the timings (countdown, game length, pass delay, lost-potato timeout).
//! - `player`: hears the messages, holds and passes potatoes, plays the games started here.
//! - `game`: the logs of the games started here, and which broadcast belongs to which game.
//! - [`bind`] and [`HppService`]: the service on hydra-service, for the binary and for tests.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use hydra_core::{Config, Hydra, HydraError};
use hydra_service::{ApiError, BoundService, Envelope, HydraService};
use serde_json::{json, Value};
use tokio_util::sync::DropGuard;

mod game;
pub mod message;
mod player;
pub mod settings;

pub use settings::{Settings, SettingsError};

use player::{GameError, Player};

/// The route that starts a game.
pub const START_GAME_PATH: &str = "/v1/hpp/startgame";

/// The built-in config: used when there is no `config/config.json` and no `--config`.
pub fn defaults() -> Value {
    json!({
        "hydra": {
            "serviceName": "hpp-service",
            "serviceDescription": "Plays hot potato game",
            "serviceType": "game",
            "serviceVersion": env!("CARGO_PKG_VERSION"),
            "servicePort": 0,
            "serviceIP": ""
        },
        "hpp": {
            settings::COUNTDOWN_MS: 3000,
            settings::GAME_LENGTH_MS: 5000,
            settings::PASS_DELAY_MIN_MS: 1000,
            settings::PASS_DELAY_MAX_MS: 2000,
            settings::LOST_TIMEOUT_MS: 5000
        }
    })
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The game settings are invalid.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// Port, address or Redis problems.
    #[error(transparent)]
    Hydra(#[from] HydraError),
}

impl From<GameError> for ApiError {
    fn from(e: GameError) -> Self {
        match e {
            GameError::Hydra(e) => e.into(),
            GameError::Stopping => Self::Unavailable(e.to_string()),
        }
    }
}

async fn start_game(player: Arc<Player>, hydra: Hydra) -> Result<Envelope, ApiError> {
    let report = player.start_game(&hydra).await?;
    Ok(Envelope::ok(
        json!({ "gameLog": report.log, "gameID": report.game_id }),
    ))
}

fn service(config: Config, player: Arc<Player>) -> Result<HydraService, SettingsError> {
    Ok(HydraService::try_new(config)?.get(
        START_GAME_PATH,
        move |Extension(hydra): Extension<Hydra>| start_game(player.clone(), hydra),
    ))
}

/// Reads the settings, binds `servicePort`, connects to Redis and starts listening for hot
/// potato messages. The player joins games once [`HppService::serve`] registers it.
///
/// ```no_run
/// # async fn f() -> Result<(), hpp_service::StartError> {
/// let config = hydra_core::ConfigLoader::new(hpp_service::defaults()).load().await.expect("config");
/// hpp_service::bind(config).await?.serve(hydra_service::shutdown_signal()).await?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`StartError::Settings`] for bad timings or HTTP settings; [`StartError::Hydra`] when no port is free or Redis
/// cannot be reached.
pub async fn bind(config: Config) -> Result<HppService, StartError> {
    let settings = Settings::from_config(&config)?;
    let player = Arc::new(Player::new(settings));
    let bound = service(config, player.clone())?.bind().await?;
    // Hear messages from before registration on, so no potato is missed.
    player.listen(bound.hydra().clone(), bound.hydra().messages());
    let stop_on_drop = player.stop_token().drop_guard();
    Ok(HppService {
        bound,
        player,
        stop_on_drop,
    })
}

/// A bound player, ready to [`serve`](Self::serve). Dropping it unserved stops its listener.
#[derive(Debug)]
pub struct HppService {
    bound: BoundService,
    player: Arc<Player>,
    stop_on_drop: DropGuard,
}

impl HppService {
    /// The Hydra handle (its instance id is the player's name).
    pub fn hydra(&self) -> &Hydra {
        self.bound.hydra()
    }

    /// The bound HTTP address.
    ///
    /// # Errors
    /// When the socket has none.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.bound.local_addr()
    }

    /// Serves in the background (for tests and embedding): registers, then returns a handle to
    /// stop it.
    ///
    /// # Errors
    /// Registration errors.
    pub async fn spawn(self) -> Result<RunningPlayer, HydraError> {
        let addr = self.local_addr()?;
        let metrics_addr = self.bound.metrics_addr();
        let hydra = self.hydra().clone();
        let running = RunningPlayer::start(addr, hydra, |stop| self.serve(stop)).await?;
        Ok(running.with_metrics_addr(metrics_addr))
    }

    /// Registers and plays until `shutdown` completes. Then potatoes held are passed on at once,
    /// presence is withdrawn, a game started here may finish within the drain timeout, and the
    /// player stops.
    ///
    /// # Errors
    /// Redis errors at registration; serving errors.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), HydraError> {
        let Self {
            bound,
            player,
            stop_on_drop,
        } = self;
        let leaving = player.clone();
        let result = bound
            .serve(async move {
                shutdown.await;
                leaving.leave();
            })
            .await;
        player.stop().await;
        drop(stop_on_drop);
        result
    }
}

/// A player serving in the background, from [`HppService::spawn`].
pub type RunningPlayer = hydra_service::RunningService;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bad_http_setting_is_refused_before_binding() {
        let mut doc = defaults();
        doc["hydra"]["drainTimeout"] = json!("later");
        let e = bind(Config::from_value(doc).unwrap()).await.unwrap_err();
        assert!(
            matches!(e, StartError::Settings(SettingsError::Service(_))),
            "{e}"
        );
        assert!(e.to_string().contains("hydra.drainTimeout"), "{e}");
    }
}
