//! The games this player started: their logs, and which broadcast belongs to which game.
//!
//! Rust players tag their broadcasts with `gameID`, so those go to their game. Node players do
//! not: an untagged `received` line goes to every game of ours whose potato is out (as the Node
//! starter logs everything it hears), and an untagged game over ends the game of ours that a
//! Node player would consider over, the one that expired first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use tokio::sync::oneshot;

use crate::message::node_expired;

/// One game started here.
#[derive(Debug)]
struct Game {
    log: Vec<String>,
    /// Node's `expiration` of the potato, once it is out.
    expiration: Option<f64>,
    /// Fired when the game over arrives.
    over: Option<oneshot::Sender<()>>,
}

impl Game {
    fn in_play(&self) -> bool {
        self.expiration.is_some() && self.over.is_some()
    }

    fn end(&mut self, line: String) {
        self.log.push(line);
        if let Some(tx) = self.over.take() {
            let _ = tx.send(());
        }
    }
}

/// The games started here, by id.
#[derive(Debug, Default)]
pub(crate) struct Games {
    games: Mutex<HashMap<String, Game>>,
}

impl Games {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Game>) -> R) -> R {
        f(&mut self.games.lock().expect("games lock"))
    }

    /// Starts the record of game `id`; the receiver completes when its game over arrives.
    pub(crate) fn open(&self, id: &str) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.with(|g| {
            g.insert(
                id.to_string(),
                Game {
                    log: Vec::new(),
                    expiration: None,
                    over: Some(tx),
                },
            )
        });
        rx
    }

    /// Adds a line of the starter's own to the log of `id`.
    pub(crate) fn note(&self, id: &str, line: String) {
        self.with(|g| {
            if let Some(game) = g.get_mut(id) {
                game.log.push(line);
            }
        });
    }

    /// The potato of `id` is out, with Node's `expiration`.
    pub(crate) fn potato_out(&self, id: &str, expiration: f64) {
        self.with(|g| {
            if let Some(game) = g.get_mut(id) {
                game.expiration = Some(expiration);
            }
        });
    }

    /// A `received` broadcast. Returns how many of our games logged it.
    pub(crate) fn received(&self, game_id: Option<&str>, line: &str) -> usize {
        self.with(|g| match game_id {
            Some(id) => match g.get_mut(id) {
                Some(game) if game.in_play() => {
                    game.log.push(line.to_string());
                    1
                }
                _ => 0,
            },
            None => {
                let mut n = 0;
                for game in g.values_mut().filter(|game| game.in_play()) {
                    game.log.push(line.to_string());
                    n += 1;
                }
                n
            }
        })
    }

    /// A `gameover` broadcast heard at `now`. Returns the id of the game of ours it ended.
    pub(crate) fn game_over(
        &self,
        game_id: Option<&str>,
        line: &str,
        now: SystemTime,
    ) -> Option<String> {
        self.with(|g| {
            let id = match game_id {
                Some(id) => g
                    .get(id)
                    .filter(|game| game.in_play())
                    .map(|_| id.to_string()),
                None => g
                    .iter()
                    .filter_map(|(id, game)| {
                        let exp = game.expiration.filter(|_| game.in_play())?;
                        node_expired(exp, now).then_some((id, exp))
                    })
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(id, _)| id.clone()),
            }?;
            g.get_mut(&id)?.end(line.to_string());
            Some(id)
        })
    }

    /// Removes game `id` and returns its log.
    pub(crate) fn close(&self, id: &str) -> Vec<String> {
        self.with(|g| g.remove(id).map(|game| game.log).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn tagged_broadcasts_go_to_their_game_only() {
        let games = Games::default();
        let mut over_a = games.open("a");
        let _over_b = games.open("b");
        games.note("a", "Sending hot potato...".into());
        // Before the potato is out nothing is collected.
        assert_eq!(games.received(Some("a"), "early"), 0);
        games.potato_out("a", 100.0);
        games.potato_out("b", 100.0);
        assert_eq!(games.received(Some("a"), "[x]: received hot potato."), 1);
        assert_eq!(games.received(Some("zzz"), "other game"), 0);
        assert_eq!(
            games.game_over(Some("a"), "Game over, x lost!", at(50)),
            Some("a".into())
        );
        assert!(over_a.try_recv().is_ok());
        // A second game over for the same game changes nothing.
        assert_eq!(games.game_over(Some("a"), "again", at(50)), None);
        assert_eq!(
            games.close("a"),
            [
                "Sending hot potato...",
                "[x]: received hot potato.",
                "Game over, x lost!"
            ]
        );
        assert_eq!(games.close("b"), Vec::<String>::new());
    }

    #[test]
    fn untagged_broadcasts_from_node_players() {
        let games = Games::default();
        let _a = games.open("a");
        let _b = games.open("b");
        games.potato_out("a", 105.0);
        games.potato_out("b", 100.0);
        assert_eq!(games.received(None, "[n]: received hot potato."), 2);
        // Neither game is over for a Node player yet: not ours.
        assert_eq!(games.game_over(None, "Game over, n lost!", at(100)), None);
        // One second past b's expiration b is over for Node; a is not.
        assert_eq!(
            games.game_over(None, "Game over, n lost!", at(101)),
            Some("b".into())
        );
        assert_eq!(
            games.game_over(None, "Game over, m lost!", at(107)),
            Some("a".into())
        );
        assert_eq!(
            games.close("a"),
            ["[n]: received hot potato.", "Game over, m lost!"]
        );
    }
}
