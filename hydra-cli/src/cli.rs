//! The command line: every command and flag, as clap derive definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Redis URL, first found wins: --redis-url, then HYDRA_REDIS_URL, then the current named
connection (`hydra-cli use NAME`), then redis://127.0.0.1:6379/15.
Named connections live in $HYDRA_CLI_CONFIG, else $XDG_CONFIG_HOME/hydra-cli/config.json,
else $HOME/.config/hydra-cli/config.json.
Exit codes: 0 ok, 1 not found or failed, 2 usage error.";

/// Command line tool for Hydra microservices: stored configs, services, instances, routes,
/// health, messages, queues and API calls, on the Redis your services use.
#[derive(Debug, Parser)]
#[command(name = "hydra-cli", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Redis to use, e.g. redis://127.0.0.1:6379/15 (beats HYDRA_REDIS_URL and the current
    /// named connection). With `config NAME` it is the URL saved under NAME.
    #[arg(long, global = true, value_name = "URL")]
    pub redis_url: Option<String>,

    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Stored service configs: push, pull, list, remove.
    #[command(subcommand)]
    Cfg(CfgCommand),

    /// Registered services and how many instances of each are present.
    Services {
        /// Only this service (exit 1 when it never registered).
        name: Option<String>,
    },

    /// Service instances (nodes): address, version, process, age.
    Nodes {
        /// Only instances of this service.
        name: Option<String>,
        /// Also list stale entries (instances that stopped without cleaning up).
        #[arg(long)]
        all: bool,
    },

    /// HTTP routes the services registered.
    Routes {
        /// Only the routes of this service.
        name: Option<String>,
    },

    /// Health records of the running instances (memory, uptime, process).
    Health {
        /// Only the instances of this service.
        name: Option<String>,
    },

    /// Health log entries of a service's instances, newest first.
    Healthlog {
        /// The service.
        name: String,
    },

    /// Remove stale node entries: older than 5 s and without presence (as the router's clear).
    Refresh {
        /// Accepted for compatibility with Node hydra-cli (`refresh node list`).
        #[arg(hide = true, value_parser = ["node", "list"])]
        words: Vec<String>,
    },

    /// UMF messages: create a template, send one, queue one.
    #[command(subcommand)]
    Message(MessageCommand),

    /// Call a service's HTTP API through Hydra and print the response envelope.
    Rest(RestArgs),

    /// Message queues of a service.
    #[command(subcommand)]
    Queue(QueueCommand),

    /// The Redis server Hydra uses.
    #[command(subcommand)]
    Redis(RedisCommand),

    /// Print the redis-cli command line that opens a shell on the configured Redis.
    Shell,

    /// Named Redis connections: `config NAME --redis-url URL` saves one, `config NAME` shows
    /// it, `config list` lists them.
    Config(ConfigArgs),

    /// Make a named Redis connection the current one.
    Use {
        /// The connection's name (see `config list`).
        name: String,
    },

    /// Live view of services and their instances, refreshed until Ctrl-C.
    Watch(WatchArgs),
}

/// `cfg …`
#[derive(Debug, Subcommand)]
pub enum CfgCommand {
    /// Store FILE as the config of LABEL (name:version), for services started with
    /// HYDRA_SERVICE=name:version.
    Push {
        /// name:version, e.g. hello-service:0.0.1.
        label: String,
        /// A JSON config file with a `hydra` object branch.
        file: PathBuf,
        /// Wait until this many replicas have the config (Redis `WAIT`), so a failover right
        /// after the push cannot lose it; fails when fewer acknowledge in time.
        #[arg(long, value_name = "REPLICAS")]
        wait: Option<u32>,
        /// How long `--wait` waits, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 2000)]
        wait_ms: u64,
    },
    /// Print the config stored under LABEL (pretty JSON, so `> config.json` works).
    Pull {
        /// name:version.
        label: String,
    },
    /// List the config versions stored for SERVICE.
    List {
        /// The service name.
        service: String,
    },
    /// Remove the config stored under LABEL.
    Remove {
        /// name:version.
        label: String,
    },
}

/// `message …`
#[derive(Debug, Subcommand)]
pub enum MessageCommand {
    /// Print a UMF message template to edit and send.
    Create,
    /// Send the UMF message in FILE to one instance (the one named in `to`, else a random one).
    Send {
        /// A JSON file holding a UMF message (long or short field names).
        file: PathBuf,
        /// Send to every instance of the service instead of one.
        #[arg(long)]
        broadcast: bool,
    },
    /// Queue the UMF message in FILE for the service in its `to`.
    Queue {
        /// A JSON file holding a UMF message (long or short field names).
        file: PathBuf,
    },
}

/// `rest PATH [FILE]`
#[derive(Debug, Args)]
pub struct RestArgs {
    /// `[instance@]service:[method]/path`, e.g. `hello-service:[get]/v1/hello/test`.
    pub path: String,
    /// A JSON file sent as the request body (post, put and patch only).
    pub file: Option<PathBuf>,
    /// A request header, `name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Seconds to wait for the answer (default 30).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
}

/// `queue …`
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// How many messages are queued, in progress and incomplete for SERVICE.
    Depth {
        /// The service whose queue to measure.
        service: String,
    },
}

/// `redis …`
#[derive(Debug, Subcommand)]
pub enum RedisCommand {
    /// Server version, database, key counts and the Hydra keys in it.
    Info,
}

/// `config NAME` / `config list`
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ConfigArgs {
    /// `list`.
    #[command(subcommand)]
    pub command: Option<ConfigCommand>,
    /// The connection to create or update (with --redis-url) or show (without).
    #[arg(required = true)]
    pub name: Option<String>,
}

/// `config list`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// List the named connections; the current one is marked with `*`.
    List,
}

/// `watch`
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Seconds between refreshes.
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS", value_parser = positive_seconds)]
    pub interval: f64,
    /// Stop after this many refreshes (default: run until Ctrl-C).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if v.is_finite() && v >= 0.05 {
        Ok(v)
    } else {
        Err("must be at least 0.05".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn config_list_is_a_subcommand_and_names_are_positional() {
        let cli = Cli::try_parse_from(["hydra-cli", "config", "list"]).unwrap();
        let Command::Config(args) = cli.command else {
            panic!("config")
        };
        assert!(matches!(args.command, Some(ConfigCommand::List)));
        let cli = Cli::try_parse_from([
            "hydra-cli",
            "config",
            "prod",
            "--redis-url",
            "redis://h:1/2",
        ])
        .unwrap();
        assert_eq!(cli.redis_url.as_deref(), Some("redis://h:1/2"));
        let Command::Config(args) = cli.command else {
            panic!("config")
        };
        assert_eq!(args.name.as_deref(), Some("prod"));
        assert!(Cli::try_parse_from(["hydra-cli", "config"]).is_err());
    }

    #[test]
    fn node_style_refresh_is_accepted() {
        assert!(Cli::try_parse_from(["hydra-cli", "refresh", "node", "list"]).is_ok());
        assert!(Cli::try_parse_from(["hydra-cli", "refresh"]).is_ok());
        assert!(Cli::try_parse_from(["hydra-cli", "refresh", "all"]).is_err());
    }

    #[test]
    fn watch_arguments_are_checked() {
        assert!(Cli::try_parse_from(["hydra-cli", "watch", "--count", "0"]).is_err());
        assert!(Cli::try_parse_from(["hydra-cli", "watch", "--interval", "0"]).is_err());
        let cli = Cli::try_parse_from(["hydra-cli", "watch", "--interval", "0.5"]).unwrap();
        let Command::Watch(w) = cli.command else {
            panic!("watch")
        };
        assert_eq!(w.interval, 0.5);
        assert_eq!(w.count, None);
    }
}
