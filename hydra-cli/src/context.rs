//! What every command gets: the output mode, and a way to reach Redis as a Hydra client.

use std::time::Duration;

use anyhow::Context as _;
use hydra_core::{Hydra, HydraConfig, RedisConfig};

use crate::output::Output;
use crate::profiles::{self, ResolvedUrl};

/// The name the tool connects with. It never registers, so nothing is written under it.
pub const CLIENT_NAME: &str = "hydra-cli";
/// How long to keep trying an unreachable Redis before giving up.
const CONNECT_TIMEOUT_SECS: u64 = 2;

/// The command's context.
#[derive(Debug)]
pub struct Ctx {
    /// Where and how results are printed.
    pub out: Output,
    /// `--redis-url`.
    pub flag_url: Option<String>,
}

impl Ctx {
    /// The Redis URL this command uses, and where it came from.
    ///
    /// # Errors
    /// The connections file cannot be read.
    pub fn redis_url(&self) -> anyhow::Result<ResolvedUrl> {
        profiles::resolve_url(self.flag_url.as_deref(), &profiles::process_env)
    }

    /// Connects to Redis as an unregistered Hydra client named `hydra-cli`: it reads and
    /// publishes, and leaves no presence behind.
    ///
    /// # Errors
    /// A bad URL, or Redis unreachable within two seconds.
    pub async fn connect(&self) -> anyhow::Result<Hydra> {
        let resolved = self.redis_url()?;
        profiles::check_url(&resolved.url)?;
        let mut config = HydraConfig::named(CLIENT_NAME);
        // The address is never advertised; a fixed one spares the interface lookup.
        config.service_ip = "127.0.0.1".into();
        config.service_description = "command line client".into();
        config.redis = RedisConfig {
            connect_timeout_seconds: Some(CONNECT_TIMEOUT_SECS),
            ..RedisConfig::from_url(resolved.url)
        };
        // An outer bound as well: a host that swallows packets must not hang the tool.
        let limit = Duration::from_secs(CONNECT_TIMEOUT_SECS * 3);
        match tokio::time::timeout(limit, Hydra::connect(config)).await {
            Ok(result) => {
                result.with_context(|| format!("cannot connect to Redis (URL {})", resolved.source))
            }
            Err(_) => anyhow::bail!(
                "cannot connect to Redis (URL {}): no answer within {}s",
                resolved.source,
                limit.as_secs()
            ),
        }
    }
}
