//! What is running: `services`, `nodes`, `routes`, `health`, `healthlog`, `refresh` and
//! `queue depth`.
//!
//! Liveness is presence (a key with a 3 s TTL), never the service record or the nodes entry:
//! both outlive their instances.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::bail;
use hydra_core::{keys, Hydra, HydraError, NodeEntry, ServiceEntry};
use redis::AsyncCommands;
use serde_json::{json, Value};

use crate::context::Ctx;
use crate::output::{self, Table};

/// A nodes entry older than this, without presence, is stale (as the router's clear).
const STALE_AFTER_MS: i64 = 5_000;

/// The instance ids among `nodes` that have a presence key right now (not cached).
///
/// # Errors
/// Redis errors.
pub async fn present_ids(hydra: &Hydra, nodes: &[NodeEntry]) -> anyhow::Result<HashSet<String>> {
    Ok(hydra.present_among(nodes).await?)
}

/// Fails with "unknown service" unless `name` has a service record.
///
/// # Errors
/// The service never registered; Redis errors.
pub async fn known_service(hydra: &Hydra, name: &str) -> anyhow::Result<ServiceEntry> {
    match hydra.find_service(name).await {
        Ok(s) => Ok(s),
        Err(HydraError::BadRequest(_)) => {
            bail!("unknown service {name}: it never registered with this Redis (see: hydra-cli services)")
        }
        Err(e) => Err(e.into()),
    }
}

/// `services [NAME]`.
///
/// # Errors
/// An unknown NAME; Redis errors.
pub async fn services(ctx: &Ctx, name: Option<&str>) -> anyhow::Result<()> {
    let hydra = ctx.connect().await?;
    let mut services = match name {
        Some(n) => vec![known_service(&hydra, n).await?],
        None => hydra.get_services().await?,
    };
    services.sort_by(|a, b| a.service_name.cmp(&b.service_name));
    let nodes = hydra.get_service_nodes().await?;
    let present = present_ids(&hydra, &nodes).await?;
    let mut table = Table::new(&["SERVICE", "TYPE", "INSTANCES", "REGISTERED"]);
    for s in &services {
        let count = nodes
            .iter()
            .filter(|n| n.service_name == s.service_name && present.contains(&n.instance_id))
            .count();
        table.row([
            s.service_name.clone(),
            s.service_type.clone(),
            count.to_string(),
            s.registered_on.clone(),
        ]);
    }
    ctx.out
        .either(&json!(services), &table, "No services registered.")
}

/// `nodes [NAME] [--all]`.
///
/// # Errors
/// An unknown NAME; Redis errors.
pub async fn nodes(ctx: &Ctx, name: Option<&str>, all: bool) -> anyhow::Result<()> {
    let hydra = ctx.connect().await?;
    if let Some(n) = name {
        known_service(&hydra, n).await?;
    }
    let mut nodes: Vec<NodeEntry> = hydra
        .get_service_nodes()
        .await?
        .into_iter()
        .filter(|n| name.is_none_or(|want| n.service_name == want))
        .collect();
    nodes.sort_by(|a, b| {
        (&a.service_name, &a.updated_on, &a.instance_id).cmp(&(
            &b.service_name,
            &b.updated_on,
            &b.instance_id,
        ))
    });
    let present = present_ids(&hydra, &nodes).await?;
    if !all {
        nodes.retain(|n| present.contains(&n.instance_id));
    }
    let mut header = vec![
        "SERVICE", "INSTANCE", "VERSION", "ADDRESS", "PID", "HOST", "UPDATED",
    ];
    if all {
        header.push("STATE");
    }
    let mut table = Table::new(&header);
    let mut values = Vec::new();
    for n in &nodes {
        let live = present.contains(&n.instance_id);
        let mut row = vec![
            n.service_name.clone(),
            n.instance_id.clone(),
            n.version.clone(),
            format!("{}:{}", n.ip, n.port),
            n.process_id.to_string(),
            n.host_name.clone(),
            n.elapsed.map_or_else(
                || "-".into(),
                |s| format!("{} ago", output::duration(s as f64)),
            ),
        ];
        if all {
            row.push(if live { "present" } else { "stale" }.into());
        }
        table.row(row);
        let mut v = serde_json::to_value(n)?;
        v["present"] = json!(live);
        values.push(v);
    }
    let empty = match name {
        Some(n) => format!("No instance of {n} is running."),
        None => "No instances are running.".into(),
    };
    ctx.out.either(&Value::Array(values), &table, &empty)
}

/// `routes [NAME]`.
///
/// # Errors
/// An unknown NAME; Redis errors.
pub async fn routes(ctx: &Ctx, name: Option<&str>) -> anyhow::Result<()> {
    let hydra = ctx.connect().await?;
    let routes: BTreeMap<String, Vec<String>> = match name {
        Some(n) => {
            let found = hydra.get_service_routes(n).await?;
            if found.is_empty() {
                known_service(&hydra, n).await?;
            }
            [(n.to_string(), found)].into()
        }
        None => hydra.get_all_service_routes().await?,
    };
    let mut table = Table::new(&["SERVICE", "ROUTE"]);
    for (service, list) in &routes {
        for r in list {
            table.row([service.as_str(), r.as_str()]);
        }
    }
    ctx.out
        .either(&json!(routes), &table, "No routes registered.")
}

/// The longest time a running Node instance has no health key: the rewrite interval minus the
/// key's lifetime (ours keep theirs present).
fn health_gap() -> Duration {
    keys::HEALTH_INTERVAL.saturating_sub(Duration::from_secs(keys::KEY_TTL_SECS))
}

/// `health [NAME]`.
///
/// # Errors
/// An unknown NAME; Redis errors.
pub async fn health(ctx: &Ctx, name: Option<&str>) -> anyhow::Result<()> {
    let hydra = ctx.connect().await?;
    let names: Vec<String> = match name {
        Some(n) => vec![known_service(&hydra, n).await?.service_name],
        None => {
            let mut all: Vec<String> = hydra
                .get_services()
                .await?
                .into_iter()
                .map(|s| s.service_name)
                .collect();
            all.sort();
            all
        }
    };
    // Health keys are rewritten every 5 s but live 3 s, so a running instance has none for up
    // to 2 s of every 5: wait that long for the present instances that have none yet.
    let nodes = hydra.get_service_nodes().await?;
    let present = present_ids(&hydra, &nodes).await?;
    let expected: HashSet<&str> = nodes
        .iter()
        .filter(|n| present.contains(&n.instance_id) && names.contains(&n.service_name))
        .map(|n| n.instance_id.as_str())
        .collect();
    let deadline = Instant::now() + health_gap() + Duration::from_millis(500);
    let entries = loop {
        let mut entries = Vec::new();
        for n in &names {
            let mut found = hydra.get_service_health(n).await?;
            found.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
            entries.extend(found);
        }
        let have: HashSet<&str> = entries.iter().map(|h| h.instance_id.as_str()).collect();
        if expected.is_subset(&have) || Instant::now() >= deadline {
            break entries;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut table = Table::new(&[
        "SERVICE", "INSTANCE", "HOST", "PID", "UPTIME", "RSS", "RUNTIME", "SAMPLED",
    ]);
    for h in &entries {
        table.row([
            h.service_name.clone(),
            h.instance_id.clone(),
            h.host_name.clone(),
            h.process_id.to_string(),
            output::duration(h.uptime_seconds),
            output::bytes(h.memory.rss),
            h.node_version.clone(),
            h.sampled_on.clone(),
        ]);
    }
    ctx.out.either(
        &json!(entries),
        &table,
        "No health records (no instance is running).",
    )
}

/// `healthlog NAME`.
///
/// # Errors
/// An unknown NAME; Redis errors.
pub async fn healthlog(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    let hydra = ctx.connect().await?;
    known_service(&hydra, name).await?;
    let entries = hydra.get_service_health_log(name).await?;
    let mut table = Table::new(&["TIME", "LEVEL", "PID", "MESSAGE"]);
    for e in &entries {
        table.row([
            e.ts.clone(),
            e.level.clone(),
            e.process_id.to_string(),
            e.msg.clone(),
        ]);
    }
    ctx.out.either(
        &json!(entries),
        &table,
        &format!("No health log entries for {name}."),
    )
}

/// `refresh`: removes the nodes entries older than 5 s whose instance has no presence.
///
/// # Errors
/// Redis errors.
pub async fn refresh(ctx: &Ctx) -> anyhow::Result<()> {
    let hydra = ctx.connect().await?;
    let mut conn = hydra.redis();
    let total: usize = conn.hlen(keys::NODES).await?;
    let removed: Vec<Value> = hydra
        .clear_stale_nodes(std::time::Duration::from_millis(STALE_AFTER_MS as u64))
        .await?
        .into_iter()
        .map(|n| json!({"instanceID": n.instance_id, "serviceName": n.service_name}))
        .collect();
    let kept = total.saturating_sub(removed.len());
    ctx.out.message(
        &json!({"removed": removed.len(), "kept": kept, "removedNodes": removed}),
        format!(
            "Removed {} stale node entr{}, kept {kept}.",
            removed.len(),
            if removed.len() == 1 { "y" } else { "ies" }
        ),
    )
}

/// `queue depth SERVICE`.
///
/// # Errors
/// Redis errors.
pub async fn queue_depth(ctx: &Ctx, service: &str) -> anyhow::Result<()> {
    let hydra = ctx.connect().await?;
    let d = hydra.queue_depth(service).await?;
    let mut table = Table::new(&["SERVICE", "RECEIVED", "IN PROGRESS", "INCOMPLETE"]);
    table.row([
        service.to_string(),
        d.received.to_string(),
        d.in_progress.to_string(),
        d.incomplete.to_string(),
    ]);
    ctx.out.either(
        &json!({
            "service": service,
            "received": d.received,
            "inProgress": d.in_progress,
            "incomplete": d.incomplete,
        }),
        &table,
        "",
    )
}
