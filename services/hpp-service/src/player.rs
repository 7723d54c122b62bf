//! A player: hears every hot potato message, holds and passes the potato, and runs the games it
//! starts.
//!
//! Everything a player spawns (one task per potato held, one per game started, the listener)
//! is tracked and stops with it. When the process starts leaving, potatoes held are passed at
//! once instead of after the usual delay, so a clean shutdown does not take a potato with it.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hydra_core::{keys, Hydra, HydraError, Messages, Umf};
use redis::AsyncCommands;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::game::Games;
use crate::message::{
    addressed, announcement, countdown_line, lost_line, new_game_id, new_potato, received_line,
    Play, Potato, CMD_GAMEOVER, CMD_RECEIVED, NO_OTHER_PLAYERS, POTATO_LOST, SENDING,
};
use crate::settings::Settings;

/// How long stopping waits for the player's tasks.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// What became of a potato a player tried to pass.
#[derive(Debug)]
enum Pass {
    /// Sent to this player.
    Passed(String),
    /// Nobody else is present (only reported when asked to give up).
    Alone,
    /// The game ended in this player's hands.
    Kept,
    /// The player is stopping.
    Stopped,
}

/// The answer to a game started here.
#[derive(Debug)]
pub(crate) struct GameReport {
    pub(crate) game_id: String,
    pub(crate) log: Vec<String>,
}

/// Why a game could not be played.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GameError {
    /// Presence could not be read.
    #[error(transparent)]
    Hydra(#[from] HydraError),
    /// The player is shutting down.
    #[error("this player is shutting down")]
    Stopping,
}

/// The player's tasks: finished ones are reaped as new ones start; dropping the set aborts the
/// rest.
#[derive(Debug, Default)]
struct Tasks(Mutex<JoinSet<()>>);

impl Tasks {
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut set = self.0.lock().expect("tasks lock");
        while set.try_join_next().is_some() {}
        set.spawn(task);
    }

    /// Waits for every task, taking them out of the set.
    async fn join_all(&self) {
        let mut set = std::mem::take(&mut *self.0.lock().expect("tasks lock"));
        while set.join_next().await.is_some() {}
    }
}

/// Whether `id`'s presence key exists right now (not cached).
async fn still_present(hydra: &Hydra, id: &str) -> Result<bool, HydraError> {
    let key = keys::presence(hydra.service_name(), id);
    Ok(hydra.redis().exists(key).await?)
}

/// One player's state; shared by the listener, the potato tasks and the HTTP handler.
#[derive(Debug)]
pub(crate) struct Player {
    settings: Settings,
    games: Games,
    tasks: Tasks,
    /// Cancelled when shutdown begins: held potatoes are passed at once.
    leaving: CancellationToken,
    /// Cancelled when the service has stopped: every task ends.
    stop: CancellationToken,
}

impl Player {
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            settings,
            games: Games::default(),
            tasks: Tasks::default(),
            leaving: CancellationToken::new(),
            stop: CancellationToken::new(),
        }
    }

    /// The token whose cancellation stops the player.
    pub(crate) fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Starts hearing `inbox` (taken before the instance registers, so nothing is missed).
    pub(crate) fn listen(self: &Arc<Self>, hydra: Hydra, mut inbox: Messages) {
        let this = self.clone();
        self.tasks.spawn(async move {
            loop {
                let msg = tokio::select! {
                    () = this.stop.cancelled() => return,
                    m = inbox.recv() => match m {
                        Some(m) => m,
                        None => return,
                    },
                };
                this.on_message(&hydra, msg);
            }
        });
    }

    /// Shutdown has begun: potatoes held go on at once.
    pub(crate) fn leave(&self) {
        self.leaving.cancel();
    }

    /// Stops every task of the player and waits (briefly) for them.
    pub(crate) async fn stop(&self) {
        self.leaving.cancel();
        self.stop.cancel();
        if tokio::time::timeout(STOP_WAIT, self.tasks.join_all())
            .await
            .is_err()
        {
            tracing::warn!("player tasks did not stop in time");
        }
    }

    fn on_message(self: &Arc<Self>, hydra: &Hydra, msg: Umf) {
        match Play::read(&msg) {
            Ok(None) => {
                tracing::debug!(from = %msg.from, typ = ?msg.typ, "not a hot potato message, ignored");
            }
            Err(error) => {
                tracing::warn!(from = %msg.from, %error, "ignoring a hot potato message that cannot be played");
            }
            Ok(Some(Play::Potato(potato))) => {
                let this = self.clone();
                let hydra = hydra.clone();
                let span = tracing::info_span!(
                    "potato",
                    game = potato.game_id.as_deref().unwrap_or("-"),
                    from = %msg.from
                );
                // Each holder's turn is a span in the trace of the game that sent the potato.
                hydra_core::trace::continue_message_trace(&span, &msg);
                self.tasks
                    .spawn(async move { this.hold(&hydra, msg, potato).await }.instrument(span));
            }
            Ok(Some(Play::Received { result, game_id })) => {
                let game = game_id.as_deref().unwrap_or("-");
                tracing::info!(game, "{result}");
                self.games.received(game_id.as_deref(), &result);
            }
            Ok(Some(Play::GameOver { result, game_id })) => {
                let game = game_id.as_deref().unwrap_or("-");
                tracing::info!(game, "{result}");
                if let Some(id) =
                    self.games
                        .game_over(game_id.as_deref(), &result, SystemTime::now())
                {
                    tracing::debug!(game = %id, "a game started here is over");
                }
            }
        }
    }

    /// This player got the potato: lose if the game is over, else say so and pass it on.
    async fn hold(&self, hydra: &Hydra, msg: Umf, potato: Potato) {
        let me = hydra.instance_id();
        let game = potato.game_id.as_deref();
        if potato.is_expired(SystemTime::now()) {
            self.announce(hydra, CMD_GAMEOVER, &lost_line(me), game)
                .await;
            return;
        }
        self.announce(hydra, CMD_RECEIVED, &received_line(me), game)
            .await;
        match self.pass(hydra, &msg, &potato, false).await {
            Pass::Passed(target) => tracing::debug!(%target, "potato passed"),
            Pass::Kept => tracing::info!("the game ended with the potato here"),
            Pass::Alone | Pass::Stopped => tracing::debug!("stopped holding the potato"),
        }
    }

    /// Keeps the potato for a random delay, then sends it to a random other present player. A
    /// player that has gone (send says Unavailable) is skipped for the next one. With nobody
    /// to pass to, `give_up_when_alone` reports [`Pass::Alone`]; otherwise the holder looks again
    /// until the game is over, and then loses.
    async fn pass(
        &self,
        hydra: &Hydra,
        msg: &Umf,
        potato: &Potato,
        give_up_when_alone: bool,
    ) -> Pass {
        let mut first = true;
        loop {
            let wait = if first {
                self.settings.pass_delay()
            } else {
                self.settings.retry_delay()
            };
            tokio::select! {
                () = self.stop.cancelled() => return Pass::Stopped,
                () = tokio::time::sleep(wait) => {}
                () = self.leaving.cancelled(), if first => {}
            }
            first = false;
            match self.hand_over(hydra, msg).await {
                Ok(Some(target)) => return Pass::Passed(target),
                Ok(None) if give_up_when_alone => return Pass::Alone,
                Ok(None) => tracing::debug!("nobody to pass the potato to yet"),
                Err(error) => tracing::warn!(%error, "could not pass the potato, trying again"),
            }
            if potato.is_expired(SystemTime::now()) {
                let me = hydra.instance_id();
                self.announce(
                    hydra,
                    CMD_GAMEOVER,
                    &lost_line(me),
                    potato.game_id.as_deref(),
                )
                .await;
                return Pass::Kept;
            }
        }
    }

    /// Sends the potato to the first other player that takes it; `None` when nobody is there.
    ///
    /// The presence list is cached for 3 s, and `send` checks a named instance against that same
    /// cache, so a player that left cleanly a moment ago would still be handed the potato and
    /// it would be lost. Its presence key is gone at once, though: look at it first.
    async fn hand_over(&self, hydra: &Hydra, msg: &Umf) -> Result<Option<String>, HydraError> {
        let from = hydra.own_route();
        for target in self.others(hydra).await? {
            if !still_present(hydra, &target).await? {
                tracing::debug!(%target, "player left, passing to another");
                continue;
            }
            let out = addressed(msg, hydra.service_name(), &target, &from);
            match hydra.send(&out).await {
                Ok(()) => return Ok(Some(target)),
                Err(HydraError::Unavailable(reason)) => {
                    tracing::debug!(%target, %reason, "player gone, passing to another");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// The other present players, in random order.
    async fn others(&self, hydra: &Hydra) -> Result<Vec<String>, HydraError> {
        let me = hydra.instance_id();
        Ok(hydra
            .get_service_presence(hydra.service_name())
            .await?
            .into_iter()
            .map(|n| n.instance_id)
            .filter(|id| id != me)
            .collect())
    }

    async fn announce(&self, hydra: &Hydra, command: &str, line: &str, game: Option<&str>) {
        let msg = announcement(hydra.service_name(), command, line, game);
        if let Err(error) = hydra.broadcast(&msg).await {
            tracing::warn!(%error, command, "could not broadcast");
        }
    }

    /// Plays a game started here and returns its log. A lone player answers at once.
    ///
    /// The game runs in a task of its own, so a caller that goes away does not stop it halfway.
    pub(crate) async fn start_game(
        self: &Arc<Self>,
        hydra: &Hydra,
    ) -> Result<GameReport, GameError> {
        if self.leaving.is_cancelled() {
            return Err(GameError::Stopping);
        }
        let game_id = new_game_id();
        if self.others(hydra).await?.is_empty() {
            tracing::info!(game = %game_id, "{NO_OTHER_PLAYERS}");
            return Ok(GameReport {
                game_id,
                log: vec![NO_OTHER_PLAYERS.to_string()],
            });
        }
        let (tx, rx) = oneshot::channel();
        let this = self.clone();
        let hydra = hydra.clone();
        let id = game_id.clone();
        let span = tracing::info_span!("game", game = %game_id);
        self.tasks.spawn(
            async move {
                let over = this.games.open(&id);
                let played = this.play(&hydra, &id, over).await;
                let log = this.games.close(&id);
                if played.is_some() {
                    let _ = tx.send(log);
                }
            }
            .instrument(span),
        );
        let log = rx.await.map_err(|_| GameError::Stopping)?;
        Ok(GameReport { game_id, log })
    }

    fn log_line(&self, game: &str, line: String) {
        tracing::info!("{line}");
        self.games.note(game, line);
    }

    /// Countdown, potato out, then wait for the game over or give up. `None` when stopped.
    async fn play(&self, hydra: &Hydra, id: &str, over: oneshot::Receiver<()>) -> Option<()> {
        let started = Instant::now();
        let mut elapsed = Duration::ZERO;
        loop {
            let remaining = self.settings.countdown.saturating_sub(elapsed);
            self.log_line(id, countdown_line(remaining));
            if remaining.is_zero() {
                break;
            }
            elapsed += remaining.min(Duration::from_secs(1));
            tokio::select! {
                () = self.stop.cancelled() => return None,
                () = tokio::time::sleep_until(started + elapsed) => {}
            }
        }
        self.log_line(id, SENDING.to_string());
        let length = self.settings.game_length;
        let give_up_at = Instant::now() + length + self.settings.lost_timeout;
        let (msg, potato) = new_potato(hydra.service_name(), id, SystemTime::now() + length);
        self.games.potato_out(id, potato.expiration);
        match self.pass(hydra, &msg, &potato, true).await {
            Pass::Passed(target) => tracing::debug!(%target, "potato sent"),
            // Our own game over broadcast ends the game below.
            Pass::Kept => {}
            Pass::Alone => {
                self.log_line(id, NO_OTHER_PLAYERS.to_string());
                return Some(());
            }
            Pass::Stopped => return None,
        }
        tokio::select! {
            _ = over => {}
            () = tokio::time::sleep_until(give_up_at) => {
                tracing::warn!("no game over in time: the potato was lost with its holder");
                self.log_line(id, POTATO_LOST.to_string());
            }
            () = self.stop.cancelled() => return None,
        }
        Some(())
    }
}
