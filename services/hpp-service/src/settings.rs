//! The game's timings, parsed and checked once at start.
//!
//! Each setting is a whole number of milliseconds, read from the hydra branch of the config
//! document (where `HYDRA_SERVICE=countdownMs=200|…` puts it), else from the document's
//! top-level `hpp` object, else the seed's default. Strings holding a number are accepted, since
//! `k=v` overrides arrive as text.

use std::time::Duration;

use hydra_core::Config;
use hydra_service::settings::whole_number;
use hydra_service::SettingError;
use rand::Rng;
use serde_json::Value;

/// Countdown before the potato is sent.
pub const COUNTDOWN_MS: &str = "countdownMs";
/// How long a game lasts once the potato is sent.
pub const GAME_LENGTH_MS: &str = "gameLengthMs";
/// Shortest time a holder keeps the potato.
pub const PASS_DELAY_MIN_MS: &str = "passDelayMinMs";
/// Longest time a holder keeps the potato.
pub const PASS_DELAY_MAX_MS: &str = "passDelayMaxMs";
/// How long after the game's end the starter waits for a game over before declaring the potato
/// lost.
pub const LOST_TIMEOUT_MS: &str = "lostTimeoutMs";

/// Largest value any setting may take (one day): anything longer is a typo.
const MAX_MS: u64 = 86_400_000;
/// A holder with nobody to pass to looks again at least this often.
const MIN_RETRY: Duration = Duration::from_millis(100);

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Not a whole number of milliseconds.
    #[error("setting `{key}` must be a whole number of milliseconds, got {value}")]
    NotMillis {
        /// The setting.
        key: &'static str,
        /// What was given.
        value: String,
    },
    /// Over a day.
    #[error("setting `{key}` is {value} ms, more than a day")]
    TooLarge {
        /// The setting.
        key: &'static str,
        /// What was given.
        value: u64,
    },
    /// The game must last some time.
    #[error("setting `gameLengthMs` must be more than 0")]
    NoGame,
    /// The delay range is upside down.
    #[error("setting `passDelayMinMs` ({min}) is larger than `passDelayMaxMs` ({max})")]
    DelayRange {
        /// The minimum given.
        min: u64,
        /// The maximum given.
        max: u64,
    },
    /// `hpp` is there but is not an object.
    #[error("`hpp` in the config must be an object")]
    NotAnObject,
    /// A setting of the HTTP service (`bodyLimit`, `drainTimeout`, …) cannot be used.
    #[error(transparent)]
    Service(#[from] SettingError),
}

/// The timings of a game. [`Default`] is the seed's: 3 s countdown, 5 s game, 1–2 s per holder,
/// and 5 s after the game before a vanished potato is declared lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Countdown before the potato is sent (`countdownMs`).
    pub countdown: Duration,
    /// Game length, from the end of the countdown (`gameLengthMs`).
    pub game_length: Duration,
    /// Shortest hold (`passDelayMinMs`).
    pub pass_delay_min: Duration,
    /// Longest hold (`passDelayMaxMs`).
    pub pass_delay_max: Duration,
    /// Wait after the game's end for a game over (`lostTimeoutMs`).
    pub lost_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            countdown: Duration::from_secs(3),
            game_length: Duration::from_secs(5),
            pass_delay_min: Duration::from_secs(1),
            pass_delay_max: Duration::from_secs(2),
            lost_timeout: Duration::from_secs(5),
        }
    }
}

impl Settings {
    /// Reads the settings from `config` (see the module docs for where they are looked up).
    ///
    /// # Errors
    /// [`SettingsError`] for a value that is not a number of milliseconds, too large, a zero game
    /// length or a minimum delay above the maximum.
    pub fn from_config(config: &Config) -> Result<Self, SettingsError> {
        let section = match config.get("hpp") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => return Err(SettingsError::NotAnObject),
        };
        let read = |key: &'static str, default: Duration| -> Result<Duration, SettingsError> {
            let given = config
                .hydra
                .extra
                .get(key)
                .or_else(|| section.and_then(|s| s.get(key)));
            match given {
                None | Some(Value::Null) => Ok(default),
                Some(v) => millis(key, v),
            }
        };
        let d = Self::default();
        let settings = Self {
            countdown: read(COUNTDOWN_MS, d.countdown)?,
            game_length: read(GAME_LENGTH_MS, d.game_length)?,
            pass_delay_min: read(PASS_DELAY_MIN_MS, d.pass_delay_min)?,
            pass_delay_max: read(PASS_DELAY_MAX_MS, d.pass_delay_max)?,
            lost_timeout: read(LOST_TIMEOUT_MS, d.lost_timeout)?,
        };
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), SettingsError> {
        if self.game_length.is_zero() {
            return Err(SettingsError::NoGame);
        }
        if self.pass_delay_min > self.pass_delay_max {
            return Err(SettingsError::DelayRange {
                min: self.pass_delay_min.as_millis() as u64,
                max: self.pass_delay_max.as_millis() as u64,
            });
        }
        Ok(())
    }

    /// A random hold time in `[pass_delay_min, pass_delay_max]`, to the millisecond.
    pub fn pass_delay(&self) -> Duration {
        let min = self.pass_delay_min.as_millis() as u64;
        let max = self.pass_delay_max.as_millis() as u64;
        Duration::from_millis(rand::thread_rng().gen_range(min..=max))
    }

    /// How long a holder that found nobody to pass to waits before looking again.
    pub fn retry_delay(&self) -> Duration {
        self.pass_delay().max(MIN_RETRY)
    }
}

fn millis(key: &'static str, value: &Value) -> Result<Duration, SettingsError> {
    let bad = || SettingsError::NotMillis {
        key,
        value: value.to_string(),
    };
    let ms = whole_number(key, Some(value))
        .ok()
        .flatten()
        .ok_or_else(bad)?;
    if ms > MAX_MS {
        return Err(SettingsError::TooLarge { key, value: ms });
    }
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn config(doc: Value) -> Config {
        Config::from_value(doc).unwrap()
    }

    #[test]
    fn defaults_are_the_seed_timings() {
        let s = Settings::from_config(&config(json!({"hydra": {"serviceName": "hpp-service"}})))
            .unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.countdown, Duration::from_secs(3));
        assert_eq!(s.game_length, Duration::from_secs(5));
        assert_eq!(s.pass_delay_min, Duration::from_secs(1));
        assert_eq!(s.pass_delay_max, Duration::from_secs(2));
    }

    #[test]
    fn hydra_branch_overrides_the_hpp_section() {
        let s = Settings::from_config(&config(json!({
            "hydra": {"serviceName": "hpp-service", "countdownMs": "200", "passDelayMaxMs": 200},
            "hpp": {"countdownMs": 900, "gameLengthMs": 1500, "passDelayMinMs": 100}
        })))
        .unwrap();
        assert_eq!(s.countdown, Duration::from_millis(200));
        assert_eq!(s.game_length, Duration::from_millis(1500));
        assert_eq!(s.pass_delay_min, Duration::from_millis(100));
        assert_eq!(s.pass_delay_max, Duration::from_millis(200));
        assert_eq!(s.lost_timeout, Duration::from_secs(5));
        for _ in 0..100 {
            let d = s.pass_delay();
            assert!(d >= s.pass_delay_min && d <= s.pass_delay_max);
        }
    }

    #[test]
    fn bad_values_are_refused() {
        let bad = |hpp: Value| {
            Settings::from_config(&config(
                json!({"hydra": {"serviceName": "hpp-service"}, "hpp": hpp}),
            ))
            .unwrap_err()
        };
        assert!(matches!(
            bad(json!({"countdownMs": "soon"})),
            SettingsError::NotMillis { .. }
        ));
        assert!(matches!(
            bad(json!({"countdownMs": -1})),
            SettingsError::NotMillis { .. }
        ));
        assert!(matches!(
            bad(json!({"gameLengthMs": 0})),
            SettingsError::NoGame
        ));
        assert!(matches!(
            bad(json!({"passDelayMinMs": 300, "passDelayMaxMs": 200})),
            SettingsError::DelayRange { min: 300, max: 200 }
        ));
        assert!(matches!(
            bad(json!({"lostTimeoutMs": MAX_MS + 1})),
            SettingsError::TooLarge { .. }
        ));
        assert!(matches!(bad(json!(5)), SettingsError::NotAnObject));
    }

    #[test]
    fn retries_never_spin() {
        let s = Settings {
            pass_delay_min: Duration::ZERO,
            pass_delay_max: Duration::ZERO,
            ..Settings::default()
        };
        assert_eq!(s.pass_delay(), Duration::ZERO);
        assert_eq!(s.retry_delay(), MIN_RETRY);
    }
}
