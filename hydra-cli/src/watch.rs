//! `watch`: a live view of services and their present instances.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use hydra_core::connection::redact;
use hydra_core::{umf, Hydra, NodeEntry};
use serde_json::{json, Value};

use crate::cli::WatchArgs;
use crate::context::Ctx;
use crate::ops::present_ids;
use crate::output::{self, Table};

/// Moves the cursor home and clears the screen.
const CLEAR: &str = "\x1b[H\x1b[2J";

/// One service in a view.
#[derive(Debug)]
struct ServiceView {
    service_type: String,
    instances: Vec<NodeEntry>,
}

/// What is running now, by service name.
async fn snapshot(hydra: &Hydra) -> anyhow::Result<BTreeMap<String, ServiceView>> {
    let services = hydra.get_services().await?;
    let nodes = hydra.get_service_nodes().await?;
    let present = present_ids(hydra, &nodes).await?;
    let mut view: BTreeMap<String, ServiceView> = services
        .into_iter()
        .map(|s| {
            (
                s.service_name,
                ServiceView {
                    service_type: s.service_type,
                    instances: Vec::new(),
                },
            )
        })
        .collect();
    for n in nodes {
        if present.contains(&n.instance_id) {
            view.entry(n.service_name.clone())
                .or_insert_with(|| ServiceView {
                    service_type: String::new(),
                    instances: Vec::new(),
                })
                .instances
                .push(n);
        }
    }
    for s in view.values_mut() {
        s.instances
            .sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
    }
    Ok(view)
}

fn table(view: &BTreeMap<String, ServiceView>) -> Table {
    let mut t = Table::new(&[
        "SERVICE", "TYPE", "INSTANCE", "ADDRESS", "VERSION", "PID", "UPDATED",
    ]);
    for (name, s) in view {
        if s.instances.is_empty() {
            t.row([name.as_str(), s.service_type.as_str(), "-", "", "", "", ""]);
        }
        for n in &s.instances {
            t.row([
                name.clone(),
                s.service_type.clone(),
                n.instance_id.clone(),
                format!("{}:{}", n.ip, n.port),
                n.version.clone(),
                n.process_id.to_string(),
                n.elapsed.map_or_else(
                    || "-".into(),
                    |e| format!("{} ago", output::duration(e as f64)),
                ),
            ]);
        }
    }
    t
}

fn json_view(at: &str, view: &BTreeMap<String, ServiceView>) -> Value {
    let services: Vec<Value> = view
        .iter()
        .map(|(name, s)| {
            json!({
                "serviceName": name,
                "type": s.service_type,
                "instances": s.instances,
            })
        })
        .collect();
    json!({"time": at, "services": services})
}

/// `watch [--interval S] [--count N]`: redraws every interval until Ctrl-C or N views. In
/// `--json` mode, one JSON line per view. A Redis error is shown and retried, not fatal.
///
/// # Errors
/// Redis unreachable at start; a closed stdout.
pub async fn watch(ctx: &Ctx, args: &WatchArgs) -> anyhow::Result<()> {
    let url = redact(&ctx.redis_url()?.url);
    let hydra = ctx.connect().await?;
    let clear = !ctx.out.json && std::io::stdout().is_terminal();
    let interval = Duration::from_secs_f64(args.interval);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut shown = 0u64;
    loop {
        let result = tokio::select! {
            biased;
            _ = &mut ctrl_c => return Ok(()),
            r = snapshot(&hydra) => r,
        };
        let at = umf::timestamp();
        if ctx.out.json {
            let value = match &result {
                Ok(view) => json_view(&at, view),
                Err(e) => json!({"time": at, "error": format!("{e:#}")}),
            };
            ctx.out.line(hydra_core::jsjson::to_string(&value))?;
        } else {
            let mut text = String::new();
            if clear {
                text.push_str(CLEAR);
            } else if shown > 0 {
                text.push('\n');
            }
            text.push_str(&format!(
                "hydra-cli watch  {url}  every {}s  {at}  (Ctrl-C to stop)\n\n",
                args.interval
            ));
            match &result {
                Ok(view) if view.is_empty() => text.push_str("No services registered.\n"),
                Ok(view) => text.push_str(&table(view).render()),
                Err(e) => text.push_str(&format!("Redis error: {e:#} (retrying)\n")),
            }
            ctx.out.raw(text)?;
        }
        shown += 1;
        if args.count.is_some_and(|n| shown >= n) {
            return Ok(());
        }
        tokio::select! {
            biased;
            _ = &mut ctrl_c => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
    }
}
