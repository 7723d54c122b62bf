//! The hot potato messages, as the Node player (cjus/hpp-service) writes and reads them.
//!
//! Every message has `typ: "hotpotato"`; `bdy.command` says what it is:
//!
//! | command | sent with | `to` / `frm` | body |
//! |---|---|---|---|
//! | `hotpotato` | send | `<target>@hpp-service:/` / `<holder>@hpp-service:/` | `{command, expiration}` (epoch seconds) |
//! | `received` | broadcast | `hpp-service:/` / `hpp-service:/` | `{command, result: "[<id>]: received hot potato."}` |
//! | `gameover` | broadcast | `hpp-service:/` / `hpp-service:/` | `{command, result: "Game over, <id> lost!"}` |
//!
//! What we add lives in `bdy` beside Node's keys, which Node ignores and passes on untouched:
//! `gameID` (which game; on all three) and `expirationMs` (the end of the game in epoch
//! milliseconds, on the potato). The potato keeps its `mid` and `ts` on every pass, as Node's does.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hydra_core::Umf;
use serde_json::{json, Map, Value};

/// The `typ` of every hot potato message.
pub const MESSAGE_TYPE: &str = "hotpotato";
/// `bdy.command` of the potato itself.
pub const CMD_HOTPOTATO: &str = "hotpotato";
/// `bdy.command` of the broadcast a new holder sends.
pub const CMD_RECEIVED: &str = "received";
/// `bdy.command` of the broadcast that ends a game.
pub const CMD_GAMEOVER: &str = "gameover";
/// Our key for the game id, in `bdy`.
pub const GAME_ID: &str = "gameID";
/// Our key for the end of the game in epoch milliseconds, in the potato's `bdy`.
pub const EXPIRATION_MS: &str = "expirationMs";

/// The starter's log line once the countdown is over.
pub const SENDING: &str = "Sending hot potato...";
/// The answer when there is nobody to play with (the seed's text).
pub const NO_OTHER_PLAYERS: &str = "No other players found. Try adding players first and then starting the player with the hot potato last.";
/// The last log line of a game whose potato vanished with its holder.
pub const POTATO_LOST: &str = "Game over, potato lost";

/// `Game starting in: 3 seconds`; fractions as `0.2`.
pub fn countdown_line(remaining: Duration) -> String {
    let ms = remaining.as_millis();
    let seconds = if ms.is_multiple_of(1000) {
        (ms / 1000).to_string()
    } else {
        let text = format!("{}.{:03}", ms / 1000, ms % 1000);
        text.trim_end_matches('0').to_string()
    };
    format!("Game starting in: {seconds} seconds")
}

/// `[<id>]: received hot potato.`
pub fn received_line(player: &str) -> String {
    format!("[{player}]: received hot potato.")
}

/// `Game over, <id> lost!`
pub fn lost_line(player: &str) -> String {
    format!("Game over, {player} lost!")
}

/// A new game id: 32 hex characters.
pub fn new_game_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Seconds since the epoch, as a float.
pub fn epoch_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// A hot potato message, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Play {
    /// The potato: its holder must pass it on, or lose if it has expired.
    Potato(Potato),
    /// Someone got the potato.
    Received {
        /// The log line (`[<id>]: received hot potato.`).
        result: String,
        /// The game, when the sender said.
        game_id: Option<String>,
    },
    /// A game is over.
    GameOver {
        /// The log line (`Game over, <id> lost!`).
        result: String,
        /// The game, when the sender said.
        game_id: Option<String>,
    },
}

/// What a potato says about its game.
#[derive(Debug, Clone, PartialEq)]
pub struct Potato {
    /// The end of the game in epoch seconds (Node's `expiration`).
    pub expiration: f64,
    /// The end of the game in epoch milliseconds (ours, when a Rust player started the game).
    pub expiration_ms: Option<u64>,
    /// The game (ours, when a Rust player started the game).
    pub game_id: Option<String>,
}

/// Why a `hotpotato` message cannot be played.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlayError {
    /// The body is not a JSON object.
    #[error("the body is not a JSON object")]
    NotAnObject,
    /// `bdy.command` is missing or not text.
    #[error("the body has no `command`")]
    NoCommand,
    /// A command no player sends.
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    /// A potato must say when the game ends; Node's would circulate forever without it.
    #[error("a potato without a numeric `expiration`")]
    NoExpiration,
    /// A broadcast without its log line.
    #[error("a `{0}` message without a `result` text")]
    NoResult(&'static str),
}

impl Play {
    /// Reads `msg`: `Ok(None)` when it is not a hot potato message at all.
    ///
    /// # Errors
    /// [`PlayError`] for a `hotpotato` message whose body cannot be played.
    pub fn read(msg: &Umf) -> Result<Option<Self>, PlayError> {
        if msg.typ.as_deref() != Some(MESSAGE_TYPE) {
            return Ok(None);
        }
        let body = msg.body.as_object().ok_or(PlayError::NotAnObject)?;
        let game_id = body
            .get(GAME_ID)
            .and_then(Value::as_str)
            .map(str::to_string);
        let result = |what: &'static str| {
            body.get("result")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or(PlayError::NoResult(what))
        };
        let command = body
            .get("command")
            .and_then(Value::as_str)
            .ok_or(PlayError::NoCommand)?;
        let play = match command {
            CMD_HOTPOTATO => Self::Potato(Potato {
                expiration: body
                    .get("expiration")
                    .and_then(Value::as_f64)
                    .ok_or(PlayError::NoExpiration)?,
                expiration_ms: body.get(EXPIRATION_MS).and_then(Value::as_u64),
                game_id,
            }),
            CMD_RECEIVED => Self::Received {
                result: result(CMD_RECEIVED)?,
                game_id,
            },
            CMD_GAMEOVER => Self::GameOver {
                result: result(CMD_GAMEOVER)?,
                game_id,
            },
            other => return Err(PlayError::UnknownCommand(other.to_string())),
        };
        Ok(Some(play))
    }
}

/// Node's test: `expiration < Math.floor(Date.now() / 1000)`.
pub fn node_expired(expiration: f64, now: SystemTime) -> bool {
    expiration < epoch_seconds(now).floor()
}

impl Potato {
    /// Whether the game is over for whoever holds the potato at `now`: by `expirationMs` when
    /// present (to the millisecond), else by Node's rule on `expiration`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        match self.expiration_ms {
            Some(ms) => {
                let now_ms = now
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis();
                now_ms >= u128::from(ms)
            }
            None => node_expired(self.expiration, now),
        }
    }
}

/// A new potato for game `game_id` ending at `ends`, addressed to the service (the holder
/// addresses it to a player when passing it, see [`addressed`]). `expiration` is
/// `floor(ends)` in seconds, which for whole-second games is Node's `floor(now) + length`.
/// Returns the message and what it says.
pub fn new_potato(service: &str, game_id: &str, ends: SystemTime) -> (Umf, Potato) {
    let ends_ms = ends
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let potato = Potato {
        expiration: (ends_ms / 1000) as f64,
        expiration_ms: Some(ends_ms),
        game_id: Some(game_id.to_string()),
    };
    let body = json!({
        "command": CMD_HOTPOTATO,
        "expiration": ends_ms / 1000,
        GAME_ID: game_id,
        EXPIRATION_MS: ends_ms,
    });
    let service_route = format!("{service}:/");
    let msg = Umf::new(service_route.clone(), service_route, body).with_type(MESSAGE_TYPE);
    (msg, potato)
}

/// A `received` or `gameover` broadcast, from the service as Node's player sends it.
pub fn announcement(service: &str, command: &str, result: &str, game_id: Option<&str>) -> Umf {
    let mut body = Map::new();
    body.insert("command".into(), json!(command));
    body.insert("result".into(), json!(result));
    if let Some(id) = game_id {
        body.insert(GAME_ID.into(), json!(id));
    }
    let service_route = format!("{service}:/");
    Umf::new(service_route.clone(), service_route, Value::Object(body)).with_type(MESSAGE_TYPE)
}

/// The potato `potato` passed to player `target` by the holder at `from` (its
/// `<id>@service:/`): only `to` and `frm` change, everything else travels as it came.
pub fn addressed(potato: &Umf, service: &str, target: &str, from: &str) -> Umf {
    let mut out = potato.clone();
    out.to = format!("{target}@{service}:/");
    out.from = from.to_string();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // The messages of two Node hpp-service players, as recorded on the wire (vectors/examples).
    const NODE_POTATO: &str = r#"{"to":"<ID3>@hpp-service:/","frm":"<ID2>@hpp-service:/","mid":"<MID7>","ts":"2026-11-27T17:50:49.273Z","typ":"hotpotato","ver":"UMF/1.4.6","bdy":{"command":"hotpotato","expiration":1795801851}}"#;
    const NODE_RECEIVED: &str = r#"{"to":"hpp-service:/","frm":"hpp-service:/","mid":"<MID8>","ts":"2026-11-27T17:50:49.587Z","typ":"hotpotato","ver":"UMF/1.4.6","bdy":{"command":"received","result":"[<ID3>]: received hot potato."}}"#;
    const NODE_GAMEOVER: &str = r#"{"to":"hpp-service:/","frm":"hpp-service:/","mid":"<MID15>","ts":"2026-11-27T17:50:52.201Z","typ":"hotpotato","ver":"UMF/1.4.6","bdy":{"command":"gameover","result":"Game over, <ID2> lost!"}}"#;

    fn with_ids(mut m: Umf, mid: &str, ts: &str) -> Umf {
        m.mid = mid.into();
        m.timestamp = ts.into();
        m
    }

    #[test]
    fn reads_what_node_sends() {
        let potato = Umf::parse_valid(NODE_POTATO).unwrap();
        assert_eq!(
            Play::read(&potato).unwrap(),
            Some(Play::Potato(Potato {
                expiration: 1_795_801_851.0,
                expiration_ms: None,
                game_id: None
            }))
        );
        let received = Umf::parse_valid(NODE_RECEIVED).unwrap();
        assert_eq!(
            Play::read(&received).unwrap(),
            Some(Play::Received {
                result: "[<ID3>]: received hot potato.".into(),
                game_id: None
            })
        );
        let over = Umf::parse_valid(NODE_GAMEOVER).unwrap();
        assert_eq!(
            Play::read(&over).unwrap(),
            Some(Play::GameOver {
                result: "Game over, <ID2> lost!".into(),
                game_id: None
            })
        );
    }

    #[test]
    fn writes_what_node_writes_plus_the_game_id() {
        let received = with_ids(
            announcement("hpp-service", CMD_RECEIVED, &received_line("<ID3>"), None),
            "<MID8>",
            "2026-11-27T17:50:49.587Z",
        );
        assert_eq!(received.to_wire(), NODE_RECEIVED);
        let over = with_ids(
            announcement("hpp-service", CMD_GAMEOVER, &lost_line("<ID2>"), None),
            "<MID15>",
            "2026-11-27T17:50:52.201Z",
        );
        assert_eq!(over.to_wire(), NODE_GAMEOVER);
        let tagged = with_ids(
            announcement("hpp-service", CMD_RECEIVED, &received_line("a"), Some("g1")),
            "m",
            "t",
        );
        assert_eq!(
            tagged.to_wire(),
            r#"{"to":"hpp-service:/","frm":"hpp-service:/","mid":"m","ts":"t","typ":"hotpotato","ver":"UMF/1.4.6","bdy":{"command":"received","result":"[a]: received hot potato.","gameID":"g1"}}"#
        );
    }

    #[test]
    fn a_passed_potato_changes_only_its_addresses() {
        let potato = Umf::parse_valid(NODE_POTATO).unwrap();
        let back = addressed(&potato, "hpp-service", "<ID2>", "<ID3>@hpp-service:/");
        // Byte for byte what the second Node player sent back (same mid and ts).
        assert_eq!(
            back.to_wire(),
            r#"{"to":"<ID2>@hpp-service:/","frm":"<ID3>@hpp-service:/","mid":"<MID7>","ts":"2026-11-27T17:50:49.273Z","typ":"hotpotato","ver":"UMF/1.4.6","bdy":{"command":"hotpotato","expiration":1795801851}}"#
        );
    }

    #[test]
    fn a_new_potato_has_node_keys_first() {
        let ends = UNIX_EPOCH + Duration::from_millis(1_795_801_851_400);
        let (msg, potato) = new_potato("hpp-service", "g1", ends);
        let p = with_ids(msg, "m", "t");
        assert_eq!(
            p.to_wire(),
            r#"{"to":"hpp-service:/","frm":"hpp-service:/","mid":"m","ts":"t","typ":"hotpotato","ver":"UMF/1.4.6","bdy":{"command":"hotpotato","expiration":1795801851,"gameID":"g1","expirationMs":1795801851400}}"#
        );
        let Some(Play::Potato(read)) = Play::read(&p).unwrap() else {
            panic!("a potato")
        };
        assert_eq!(read, potato);
        assert_eq!(read.game_id.as_deref(), Some("g1"));
        assert_eq!(read.expiration_ms, Some(1_795_801_851_400));
    }

    #[test]
    fn expiry_by_node_rule_and_by_milliseconds() {
        let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
        let node = Potato {
            expiration: 100.0,
            expiration_ms: None,
            game_id: None,
        };
        // Node: expired once the whole second is past the expiration.
        assert!(!node.is_expired(at(100_999)));
        assert!(node.is_expired(at(101_000)));
        let ours = Potato {
            expiration_ms: Some(100_400),
            ..node
        };
        assert!(!ours.is_expired(at(100_399)));
        assert!(ours.is_expired(at(100_400)));
    }

    #[test]
    fn other_messages_are_not_plays_and_broken_ones_are_errors() {
        let other =
            Umf::new("hpp-service:/", "x:/", json!({"msg": "hi"})).with_type("lab.broadcast");
        assert_eq!(Play::read(&other).unwrap(), None);
        let typed = |body: Value| Play::read(&Umf::new("a:/", "b:/", body).with_type(MESSAGE_TYPE));
        assert_eq!(typed(json!("x")), Err(PlayError::NotAnObject));
        assert_eq!(typed(json!({"x": 1})), Err(PlayError::NoCommand));
        assert_eq!(
            typed(json!({"command": "dance"})),
            Err(PlayError::UnknownCommand("dance".into()))
        );
        assert_eq!(
            typed(json!({"command": "hotpotato"})),
            Err(PlayError::NoExpiration)
        );
        assert_eq!(
            typed(json!({"command": "received"})),
            Err(PlayError::NoResult("received"))
        );
    }

    #[test]
    fn countdown_lines() {
        assert_eq!(
            countdown_line(Duration::from_secs(3)),
            "Game starting in: 3 seconds"
        );
        assert_eq!(
            countdown_line(Duration::ZERO),
            "Game starting in: 0 seconds"
        );
        assert_eq!(
            countdown_line(Duration::from_millis(200)),
            "Game starting in: 0.2 seconds"
        );
        assert_eq!(
            countdown_line(Duration::from_millis(1250)),
            "Game starting in: 1.25 seconds"
        );
    }
}
