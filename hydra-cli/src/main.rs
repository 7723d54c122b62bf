//! `hydra-cli`: the command line tool for Hydra microservices, working on the same Redis data as
//! Node's hydra-cli.
//!
//! - [`cli`]: the commands and flags (clap).
//! - [`profiles`]: named Redis connections and which URL a command uses; [`context`]: connecting.
//! - [`mod@cfg`]: stored configs. [`ops`]: services, nodes, routes, health, refresh, queue depth.
//! - [`message`]: UMF messages and `rest`. [`server`]: `redis info`, `shell`. [`watch`].
//! - [`output`]: tables and JSON; [`input`]: reading JSON files.
//!
//! Exit codes: 0 ok, 1 not found or failed, 2 usage error (clap's).

mod cfg;
mod cli;
mod context;
mod input;
mod message;
mod ops;
mod output;
mod profiles;
mod server;
mod watch;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, ConfigCommand, QueueCommand, RedisCommand};
use crate::context::Ctx;
use crate::output::Output;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the context chain, outermost first.
            let text = format!("{e:#}").replace('\n', " ");
            eprintln!("error: {text}");
            ExitCode::FAILURE
        }
    }
}

/// The reader of our stdout went away (`hydra-cli nodes | head -1`): not a failure.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Ctx {
        out: Output { json: cli.json },
        flag_url: cli.redis_url,
    };
    let env = &profiles::process_env;
    match cli.command {
        Command::Cfg(c) => cfg::run(&ctx, c).await,
        Command::Services { name } => ops::services(&ctx, name.as_deref()).await,
        Command::Nodes { name, all } => ops::nodes(&ctx, name.as_deref(), all).await,
        Command::Routes { name } => ops::routes(&ctx, name.as_deref()).await,
        Command::Health { name } => ops::health(&ctx, name.as_deref()).await,
        Command::Healthlog { name } => ops::healthlog(&ctx, &name).await,
        Command::Refresh { .. } => ops::refresh(&ctx).await,
        Command::Message(m) => message::run(&ctx, m).await,
        Command::Rest(args) => message::rest(&ctx, &args).await,
        Command::Queue(QueueCommand::Depth { service }) => ops::queue_depth(&ctx, &service).await,
        Command::Redis(RedisCommand::Info) => server::info(&ctx).await,
        Command::Shell => server::shell(&ctx).await,
        Command::Config(args) => match (args.command, args.name) {
            (Some(ConfigCommand::List), _) => profiles::list(ctx.out, env),
            (None, Some(name)) => profiles::config(ctx.out, env, &name, ctx.flag_url.as_deref()),
            (None, None) => anyhow::bail!("config needs a NAME or `list`"),
        },
        Command::Use { name } => profiles::use_connection(ctx.out, env, &name),
        Command::Watch(args) => watch::watch(&ctx, &args).await,
    }
}
