//! Named Redis connections kept in a JSON file, and which Redis URL a command uses.
//!
//! The file (`$HYDRA_CLI_CONFIG`, else `$XDG_CONFIG_HOME/hydra-cli/config.json`, else
//! `$HOME/.config/hydra-cli/config.json`) looks like:
//!
//! ```json
//! {"current": "local", "connections": {"local": {"redisUrl": "redis://127.0.0.1:6379/15"}}}
//! ```
//!
//! The URL of a command, first found wins: `--redis-url`, `HYDRA_REDIS_URL`, the current
//! connection, [`DEFAULT_REDIS_URL`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use hydra_core::config::{SentinelTarget, DEFAULT_REDIS_URL};
use hydra_core::connection::redact;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::output::{Output, Table};

/// Overrides the path of the connections file.
pub const CONFIG_ENV: &str = "HYDRA_CLI_CONFIG";
/// The Redis URL, as Hydra services read it.
pub const REDIS_URL_ENV: &str = "HYDRA_REDIS_URL";

/// Reads an environment variable; empty counts as unset.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, empty values ignored.
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

/// The connections file.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Profiles {
    /// The name of the connection used when neither `--redis-url` nor `HYDRA_REDIS_URL` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// The connections by name.
    #[serde(default)]
    pub connections: BTreeMap<String, Connection>,
}

/// One named connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// `redis://[user:pass@]host:port/db` or `rediss://…`.
    pub redis_url: String,
}

/// Where the connections file is.
///
/// # Errors
/// When neither `HYDRA_CLI_CONFIG`, `XDG_CONFIG_HOME` nor `HOME` is set.
pub fn config_path(env: Env<'_>) -> anyhow::Result<PathBuf> {
    if let Some(p) = env(CONFIG_ENV) {
        return Ok(PathBuf::from(p));
    }
    // The XDG spec says to ignore a relative XDG_CONFIG_HOME.
    if let Some(dir) = env("XDG_CONFIG_HOME").filter(|d| Path::new(d).is_absolute()) {
        return Ok(Path::new(&dir).join("hydra-cli").join("config.json"));
    }
    if let Some(home) = env("HOME") {
        return Ok(Path::new(&home)
            .join(".config")
            .join("hydra-cli")
            .join("config.json"));
    }
    bail!("cannot locate the connections file: set {CONFIG_ENV}, XDG_CONFIG_HOME or HOME")
}

impl Profiles {
    /// Reads the file; a missing file is an empty set of connections.
    ///
    /// # Errors
    /// The file cannot be read or is not a connections file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a hydra-cli connections file (fix or delete it)",
                path.display()
            )
        })
    }

    /// Writes the file (owner-only: it may hold passwords), creating its directory.
    ///
    /// # Errors
    /// I/O errors.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(self)? + "\n";
        // Write beside it and rename, so an interrupted write never leaves half a file.
        let tmp = path.with_extension("json.tmp");
        write_private(&tmp, text.as_bytes())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    }

    /// The current connection, when one is selected and still exists.
    pub fn current_connection(&self) -> Option<(&str, &Connection)> {
        let name = self.current.as_deref()?;
        self.connections.get(name).map(|c| (name, c))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Where the Redis URL of a command came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlSource {
    /// `--redis-url`.
    Flag,
    /// `HYDRA_REDIS_URL`.
    Env,
    /// The current named connection.
    Profile(String),
    /// Nothing set: the Hydra default.
    Default,
}

impl fmt::Display for UrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag => f.write_str("from --redis-url"),
            Self::Env => write!(f, "from {REDIS_URL_ENV}"),
            Self::Profile(name) => write!(f, "from connection {name:?}"),
            Self::Default => f.write_str("the default"),
        }
    }
}

/// A Redis URL and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUrl {
    /// The URL.
    pub url: String,
    /// Its source.
    pub source: UrlSource,
}

/// The Redis URL to use: `--redis-url`, else `HYDRA_REDIS_URL`, else the current connection,
/// else the default. The connections file is only read when it is needed.
///
/// # Errors
/// The connections file cannot be read.
pub fn resolve_url(flag: Option<&str>, env: Env<'_>) -> anyhow::Result<ResolvedUrl> {
    let found = |url: String, source| Ok(ResolvedUrl { url, source });
    if let Some(url) = flag.filter(|u| !u.trim().is_empty()) {
        return found(url.to_string(), UrlSource::Flag);
    }
    if let Some(url) = env(REDIS_URL_ENV) {
        return found(url, UrlSource::Env);
    }
    let profiles = Profiles::load(&config_path(env)?)?;
    if let Some((name, c)) = profiles.current_connection() {
        return found(c.redis_url.clone(), UrlSource::Profile(name.to_string()));
    }
    found(DEFAULT_REDIS_URL.to_string(), UrlSource::Default)
}

/// Checks that `url` is a Redis URL the client can use.
///
/// # Errors
/// Why it is not.
pub fn check_url(url: &str) -> anyhow::Result<Target> {
    if let Some(sentinel) = SentinelTarget::parse(url) {
        return sentinel
            .map(Target::Sentinel)
            .map_err(|e| anyhow::anyhow!("invalid Redis URL {}: {e}", redact(url)));
    }
    redis::IntoConnectionInfo::into_connection_info(url)
        .map(|info| Target::Server(Box::new(info)))
        .map_err(|e| anyhow::anyhow!("invalid Redis URL {}: {e}", redact(url)))
}

/// What a Redis URL points at.
#[derive(Debug)]
pub enum Target {
    /// One server.
    Server(Box<redis::ConnectionInfo>),
    /// The master the Sentinels name.
    Sentinel(SentinelTarget),
}

impl Target {
    /// The server's connection details (`None` for Sentinels).
    pub fn server(self) -> Option<redis::ConnectionInfo> {
        match self {
            Self::Server(info) => Some(*info),
            Self::Sentinel(_) => None,
        }
    }

    /// The database number.
    pub fn db(&self) -> i64 {
        match self {
            Self::Server(info) => info.redis_settings().db(),
            Self::Sentinel(t) => i64::try_from(t.db).unwrap_or(i64::MAX),
        }
    }
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        bail!("connection name {name:?}: use letters, digits, '-', '_' and '.' only");
    }
    Ok(())
}

/// `config NAME [--redis-url URL]`: saves the connection when a URL is given, else shows it.
///
/// # Errors
/// A bad name or URL, an unknown connection, file errors.
pub fn config(out: Output, env: Env<'_>, name: &str, url: Option<&str>) -> anyhow::Result<()> {
    check_name(name)?;
    let path = config_path(env)?;
    let mut profiles = Profiles::load(&path)?;
    let Some(url) = url else {
        let Some(c) = profiles.connections.get(name) else {
            bail!("no connection named {name:?}; create it with: hydra-cli config {name} --redis-url URL");
        };
        let current = profiles.current.as_deref() == Some(name);
        return out.message(
            &json!({"name": name, "redisUrl": redact(&c.redis_url), "current": current}),
            format!(
                "{name}: {}{}",
                redact(&c.redis_url),
                if current { " (current)" } else { "" }
            ),
        );
    };
    check_url(url)?;
    let existed = profiles
        .connections
        .insert(
            name.to_string(),
            Connection {
                redis_url: url.to_string(),
            },
        )
        .is_some();
    // The first connection saved is the one used until `use` says otherwise.
    if profiles.current_connection().is_none() {
        profiles.current = Some(name.to_string());
    }
    let current = profiles.current.as_deref() == Some(name);
    profiles.save(&path)?;
    out.message(
        &json!({"name": name, "redisUrl": redact(url), "current": current, "created": !existed}),
        format!(
            "{} connection {name}: {}{} ({})",
            if existed { "Updated" } else { "Saved" },
            redact(url),
            if current { ", current" } else { "" },
            path.display()
        ),
    )
}

/// `config list`.
///
/// # Errors
/// File errors.
pub fn list(out: Output, env: Env<'_>) -> anyhow::Result<()> {
    let path = config_path(env)?;
    let profiles = Profiles::load(&path)?;
    let mut table = Table::new(&["", "NAME", "REDIS URL"]);
    let mut connections = serde_json::Map::new();
    for (name, c) in &profiles.connections {
        let current = profiles.current.as_deref() == Some(name.as_str());
        table.row([
            if current { "*" } else { "" }.to_string(),
            name.clone(),
            redact(&c.redis_url),
        ]);
        connections.insert(name.clone(), json!({"redisUrl": redact(&c.redis_url)}));
    }
    let value = json!({
        "file": path.display().to_string(),
        "current": profiles.current_connection().map(|(n, _)| n),
        "connections": connections,
    });
    out.either(
        &value,
        &table,
        &format!(
            "No named connections in {}; add one with: hydra-cli config NAME --redis-url URL",
            path.display()
        ),
    )
}

/// `use NAME`.
///
/// # Errors
/// An unknown connection, file errors.
pub fn use_connection(out: Output, env: Env<'_>, name: &str) -> anyhow::Result<()> {
    let path = config_path(env)?;
    let mut profiles = Profiles::load(&path)?;
    let Some(c) = profiles.connections.get(name) else {
        bail!(
            "no connection named {name:?}; create it with: hydra-cli config {name} --redis-url URL"
        );
    };
    let url = redact(&c.redis_url);
    profiles.current = Some(name.to_string());
    profiles.save(&path)?;
    out.message(
        &json!({"current": name, "redisUrl": url}),
        format!("Using {name}: {url}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn config_path_order() {
        let e = env_of(&[
            (CONFIG_ENV, "/x/c.json"),
            ("XDG_CONFIG_HOME", "/xdg"),
            ("HOME", "/h"),
        ]);
        assert_eq!(config_path(&e).unwrap(), PathBuf::from("/x/c.json"));
        let e = env_of(&[("XDG_CONFIG_HOME", "/xdg"), ("HOME", "/h")]);
        assert_eq!(
            config_path(&e).unwrap(),
            PathBuf::from("/xdg/hydra-cli/config.json")
        );
        let e = env_of(&[("XDG_CONFIG_HOME", "relative"), ("HOME", "/h")]);
        assert_eq!(
            config_path(&e).unwrap(),
            PathBuf::from("/h/.config/hydra-cli/config.json")
        );
        assert!(config_path(&env_of(&[])).is_err());
    }

    #[test]
    fn url_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.json");
        let file_s = file.to_str().unwrap();
        Profiles {
            current: Some("p".into()),
            connections: [(
                "p".to_string(),
                Connection {
                    redis_url: "redis://profile:1/2".into(),
                },
            )]
            .into(),
        }
        .save(&file)
        .unwrap();

        let with_env = env_of(&[(CONFIG_ENV, file_s), (REDIS_URL_ENV, "redis://env:1/2")]);
        let r = resolve_url(Some("redis://flag:1/2"), &with_env).unwrap();
        assert_eq!(
            (r.url.as_str(), r.source),
            ("redis://flag:1/2", UrlSource::Flag)
        );
        let r = resolve_url(None, &with_env).unwrap();
        assert_eq!(
            (r.url.as_str(), r.source),
            ("redis://env:1/2", UrlSource::Env)
        );
        let no_env = env_of(&[(CONFIG_ENV, file_s)]);
        let r = resolve_url(None, &no_env).unwrap();
        assert_eq!(r.url, "redis://profile:1/2");
        assert_eq!(r.source, UrlSource::Profile("p".into()));
        let missing = dir.path().join("none.json");
        let empty = env_of(&[(CONFIG_ENV, missing.to_str().unwrap())]);
        let r = resolve_url(None, &empty).unwrap();
        assert_eq!(
            (r.url.as_str(), r.source),
            (DEFAULT_REDIS_URL, UrlSource::Default)
        );
    }

    #[test]
    fn corrupt_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.json");
        std::fs::write(&file, "not json").unwrap();
        let err = Profiles::load(&file).unwrap_err();
        assert!(format!("{err:#}").contains("c.json"), "{err:#}");
    }

    #[test]
    fn names_and_urls_are_checked() {
        assert!(check_name("prod-eu_1.a").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_url("redis://127.0.0.1:6379/15").is_ok());
        assert!(check_url("http://nope").is_err());
        assert_eq!(
            check_url("redis+sentinel://127.0.0.1:26379/hydra/15")
                .unwrap()
                .db(),
            15
        );
        assert!(check_url("redis+sentinel://127.0.0.1:26379").is_err());
    }
}
