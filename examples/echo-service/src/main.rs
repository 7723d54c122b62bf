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

use anyhow::Context;
use hydra_core::{ConfigLoader, Hydra};
use serde_json::json;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let config = ConfigLoader::new(json!({
        "hydra": {"serviceName": "echo-service", "serviceDescription": "echoes UMF messages", "servicePort": 0}
    }))
    .load()
    .await
    .context("loading config")?;
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
                tracing::info!(from = %msg.from, typ = ?msg.typ, body = %msg.body, "received");
                if msg.rmid.is_some() {
                    continue; // a reply to something we sent: do not answer it
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
        }
    }
    hydra.shutdown().await.context("shutting down")?;
    Ok(())
}
