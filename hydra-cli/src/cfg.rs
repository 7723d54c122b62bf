//! `cfg push|pull|list|remove`: the configs services pull at start with
//! `HYDRA_SERVICE=name:version`.

use std::path::Path;

use anyhow::{bail, Context};
use hydra_core::config::{Config, Label};
use serde_json::{json, Value};

use crate::cli::CfgCommand;
use crate::context::Ctx;
use crate::input;
use crate::output::{pretty_json, Table};

/// Runs a `cfg` command.
///
/// # Errors
/// A bad label or file, nothing stored, Redis errors.
pub async fn run(ctx: &Ctx, command: CfgCommand) -> anyhow::Result<()> {
    match command {
        CfgCommand::Push {
            label,
            file,
            wait,
            wait_ms,
        } => push(ctx, &label, &file, wait.map(|n| (n, wait_ms))).await,
        CfgCommand::Pull { label } => pull(ctx, &label).await,
        CfgCommand::List { service } => list(ctx, &service).await,
        CfgCommand::Remove { label } => remove(ctx, &label).await,
    }
}

fn label(text: &str) -> anyhow::Result<Label> {
    Ok(Label::parse(text)?)
}

/// Reads a config file and checks it is a Hydra config: a JSON object with a `hydra` object.
/// Returns the document and what is doubtful about it (worth a warning, not a refusal).
///
/// # Errors
/// A missing or unreadable file, invalid JSON (with line and column), no `hydra` object.
pub fn load_config_file(file: &Path, label: &Label) -> anyhow::Result<(Value, Vec<String>)> {
    let doc = input::read_json(file)?;
    let shown = file.display();
    let Some(obj) = doc.as_object() else {
        bail!(
            "{shown} is {}, not a config object like {{\"hydra\": {{\"serviceName\": \"{}\"}}}}",
            input::kind(&doc),
            label.service
        );
    };
    match obj.get("hydra") {
        None => bail!(
            "{shown} has no \"hydra\" branch: a Hydra config looks like \
             {{\"hydra\": {{\"serviceName\": \"{}\", …}}, …}}",
            label.service
        ),
        Some(Value::Object(_)) => {}
        Some(other) => bail!(
            "{shown}: \"hydra\" is {}, it must be an object",
            input::kind(other)
        ),
    }
    let mut warnings = Vec::new();
    match Config::from_value(doc.clone()) {
        Ok(c) if c.hydra.service_name != label.service.to_lowercase() => warnings.push(format!(
            "{shown}: hydra.serviceName is {:?}, the label says {:?}",
            c.hydra.service_name, label.service
        )),
        Ok(_) => {}
        Err(e) => warnings.push(format!("{shown}: {e}")),
    }
    let has_redis = doc["hydra"].get("redis").is_some_and(|r| !r.is_null());
    if !has_redis {
        warnings.push(format!(
            "{shown} has no hydra.redis: Node services started with HYDRA_SERVICE={label} \
             use the pulled config's own Redis settings and will not start without them"
        ));
    }
    Ok((doc, warnings))
}

/// Stores FILE under LABEL; with `wait` (replicas, milliseconds), then waits until that many
/// replicas have it.
async fn push(
    ctx: &Ctx,
    label_text: &str,
    file: &Path,
    wait: Option<(u32, u64)>,
) -> anyhow::Result<()> {
    let label = label(label_text)?;
    let (doc, warnings) = load_config_file(file, &label)?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    let hydra = ctx.connect().await?;
    hydra
        .put_config(&label.to_string(), &doc)
        .await
        .with_context(|| format!("cannot store config {label}"))?;
    let mut replicas = None;
    if let Some((wanted, ms)) = wait {
        // WAIT covers every write made on this connection so far: the push included.
        let acked: u32 = redis::cmd("WAIT")
            .arg(wanted)
            .arg(ms)
            .query_async(&mut hydra.redis())
            .await
            .context("cannot wait for replicas")?;
        if acked < wanted {
            bail!(
                "config {label} is stored on the master, but only {acked} of {wanted} replicas \
                 had it within {ms} ms: a failover now could lose it"
            );
        }
        replicas = Some(acked);
    }
    let text = match replicas {
        Some(n) => format!(
            "Pushed {} as {label} ({n} replicas have it)",
            file.display()
        ),
        None => format!("Pushed {} as {label}", file.display()),
    };
    ctx.out.message(
        &json!({"label": label.to_string(), "file": file.display().to_string(), "replicas": replicas}),
        text,
    )
}

async fn pull(ctx: &Ctx, label_text: &str) -> anyhow::Result<()> {
    let label = label(label_text)?;
    let hydra = ctx.connect().await?;
    let Some(config) = hydra.get_config(&label.to_string()).await? else {
        bail!(
            "no config stored under {label} (see: hydra-cli cfg list {})",
            label.service
        );
    };
    // The config itself in both modes: stdout is meant to be redirected into a file.
    ctx.out.line(pretty_json(&config))
}

async fn list(ctx: &Ctx, service: &str) -> anyhow::Result<()> {
    if service.contains(':') {
        bail!(
            "cfg list takes a service name, not a label: hydra-cli cfg list {service_name}",
            service_name = service.split(':').next().unwrap_or_default()
        );
    }
    let hydra = ctx.connect().await?;
    let labels = hydra.list_config(service).await?;
    if labels.is_empty() {
        bail!("no configs stored for {service}");
    }
    let mut table = Table::new(&["LABEL", "VERSION"]);
    for l in &labels {
        let version = l.rsplit_once(':').map_or("", |(_, v)| v);
        table.row([l.as_str(), version]);
    }
    ctx.out.either(&json!(labels), &table, "")
}

async fn remove(ctx: &Ctx, label_text: &str) -> anyhow::Result<()> {
    let label = label(label_text)?;
    let hydra = ctx.connect().await?;
    if !hydra.remove_config(&label.to_string()).await? {
        bail!("no config stored under {label}");
    }
    ctx.out.message(
        &json!({"removed": label.to_string()}),
        format!("Removed {label}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: Option<&str>) -> anyhow::Result<(Value, Vec<String>)> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        if let Some(t) = text {
            std::fs::write(&file, t).unwrap();
        }
        load_config_file(&file, &Label::parse("svc:0.0.1").unwrap())
    }

    fn error(text: Option<&str>) -> String {
        format!("{:#}", check(text).unwrap_err())
    }

    #[test]
    fn config_files_are_checked() {
        assert!(error(None).contains("cannot read"));
        assert!(error(Some("{\"hydra\": {,}}")).contains("not valid JSON: line 1, column 12"));
        assert!(error(Some("[1]")).contains("is an array, not a config object"));
        assert!(error(Some("{\"other\": 1}")).contains("has no \"hydra\" branch"));
        assert!(error(Some("{\"hydra\": \"x\"}")).contains("\"hydra\" is a string"));

        let (_, warnings) = check(Some(
            r#"{"hydra": {"serviceName": "svc", "redis": {"url": "redis://h/1"}}}"#,
        ))
        .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let (_, warnings) = check(Some(r#"{"hydra": {"serviceName": "other"}}"#)).unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("the label says"));
        assert!(warnings[1].contains("no hydra.redis"));
    }
}
