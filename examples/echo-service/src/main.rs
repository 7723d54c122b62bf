//! A Hydra service that prints every UMF message it receives and answers it with an echo.
//!
//! Run it next to a Redis (the default is `redis://127.0.0.1:6379/15`):
//!
//! ```text
//! HYDRA_REDIS_URL=redis://127.0.0.1:6379/15 cargo run -p example-echo-service
//! ```
//!
//! then, from Node or Rust, send `{"to":"echo-service:/","frm":"you:/","bdy":{"hi":1}}`: the
//! reply comes back with `rmid` set and `bdy: {"echo": {"hi": 1}, "from": "rust"}`.
//! Messages of type `ping` get `pong` instead. Ctrl-C leaves cleanly.
//!
//! The config follows every binary's contract (`--config FILE`, else `config/config.json` when
//! present, else built-in defaults; then `HYDRA_REDIS_URL` and `HYDRA_SERVICE`); a config that
//! cannot be used is reported, naming the key, and the process exits with 64.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use hydra_core::Hydra;
use hydra_service::startup;
use serde_json::json;

/// A Hydra service that echoes every UMF message it receives.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Config file (default: config/config.json when present, else built-in defaults).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    startup::init_tracing();
    let defaults = json!({
        "hydra": {"serviceName": "echo-service", "serviceDescription": "echoes UMF messages", "servicePort": 0}
    });
    let config = startup::load_config_or_exit(defaults, args.config).await;
    let hydra = Hydra::connect(config.hydra)
        .await
        .context("connecting to Redis")?;
    // Create the reader before registering so no message is missed.
    let mut inbox = hydra.messages();
    hydra.register_service().await.context("registering")?;
    tracing::info!(instance = hydra.instance_id(), "echo-service ready");

    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            msg = inbox.recv() => {
                let Some(msg) = msg else { break };
                // Handled in a span that continues the sender's trace (when `hdr` has one), so
                // the reply carries it on.
                let span = hydra_core::trace::message_span(&msg);
                tracing::Instrument::instrument(answer(&hydra, msg), span).await;
            }
        }
    }
    hydra.shutdown().await.context("shutting down")?;
    hydra_service::telemetry::shutdown();
    Ok(())
}

async fn answer(hydra: &Hydra, msg: hydra_core::Umf) {
    tracing::info!(from = %msg.from, typ = ?msg.typ, body = %msg.body, "received");
    if msg.rmid.is_some() {
        return; // a reply to something we sent: do not answer it
    }
    let answer = if msg.typ.as_deref() == Some("ping") {
        json!("pong")
    } else {
        json!({"echo": msg.body, "from": "rust"})
    };
    if let Err(e) = hydra.reply(&msg, answer).await {
        tracing::warn!(error = %e, "reply failed");
    }
}
