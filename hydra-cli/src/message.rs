//! UMF messages: `message create|send|queue`, and `rest` (an HTTP call described by a message).

use std::path::Path;

use anyhow::{bail, Context};
use hydra_core::{HydraError, Route, Umf};
use serde_json::{json, Map, Value};

use crate::cli::{MessageCommand, RestArgs};
use crate::context::{Ctx, CLIENT_NAME};
use crate::input;
use crate::output::pretty_json;

/// Runs a `message` command.
///
/// # Errors
/// A bad file or message, no instance to send to, Redis errors.
pub async fn run(ctx: &Ctx, command: MessageCommand) -> anyhow::Result<()> {
    match command {
        MessageCommand::Create => create(ctx),
        MessageCommand::Send { file, broadcast } => send(ctx, &file, broadcast).await,
        MessageCommand::Queue { file } => queue(ctx, &file).await,
    }
}

/// The `from` of what the tool sends.
fn own_route() -> String {
    format!("{CLIENT_NAME}:/")
}

fn create(ctx: &Ctx) -> anyhow::Result<()> {
    let msg = Umf::new("{serviceName here}:/", own_route(), json!({}));
    ctx.out.line(pretty_json(&msg.to_long()))
}

/// Reads a UMF message from a JSON file. A missing `from` becomes `hydra-cli:/`.
///
/// # Errors
/// The file cannot be read or parsed, is not a message, or lacks `to` or `body`, or its `to` is
/// not a route.
pub fn read_message(file: &Path) -> anyhow::Result<Umf> {
    let value = input::read_json(file)?;
    let shown = file.display();
    if !value.is_object() {
        bail!(
            "{shown} is {}, not a UMF message object",
            input::kind(&value)
        );
    }
    let mut msg = Umf::from_value(&value).with_context(|| format!("{shown}"))?;
    if msg.from.is_empty() {
        msg.from = own_route();
    }
    if msg.to.is_empty() {
        bail!("{shown}: the message has no \"to\" (e.g. \"my-service:/\")");
    }
    if msg.validate().is_err() {
        bail!("{shown}: the message has no \"body\" (use {{}} for an empty one)");
    }
    let route = msg
        .to_route()
        .with_context(|| format!("{shown}: to {:?}", msg.to))?;
    if route.service.is_empty() {
        bail!("{shown}: to {:?} names no service", msg.to);
    }
    Ok(msg)
}

async fn send(ctx: &Ctx, file: &Path, broadcast: bool) -> anyhow::Result<()> {
    let msg = read_message(file)?;
    let hydra = ctx.connect().await?;
    let sent = if broadcast {
        hydra.broadcast(&msg).await
    } else {
        hydra.send(&msg).await
    };
    sent.with_context(|| format!("cannot send to {}", msg.to))?;
    ctx.out.message(
        &json!({"sent": true, "broadcast": broadcast, "mid": msg.mid, "to": msg.to}),
        format!(
            "{} message {} to {}",
            if broadcast { "Broadcast" } else { "Sent" },
            msg.mid,
            msg.to
        ),
    )
}

async fn queue(ctx: &Ctx, file: &Path) -> anyhow::Result<()> {
    let msg = read_message(file)?;
    let service = msg.to_route()?.service;
    let hydra = ctx.connect().await?;
    hydra
        .queue_message(&msg)
        .await
        .with_context(|| format!("cannot queue for {service}"))?;
    ctx.out.message(
        &json!({"queued": true, "mid": msg.mid, "service": service}),
        format!("Queued message {} for {service}", msg.mid),
    )
}

/// Methods that carry a body.
const BODY_METHODS: [&str; 3] = ["post", "put", "patch"];

/// Builds the API request message of `rest`.
///
/// # Errors
/// A path that is not a route with a method, a body with a method that takes none, bad headers
/// or file.
pub fn rest_message(args: &RestArgs) -> anyhow::Result<Umf> {
    let route = Route::parse(&args.path).with_context(|| format!("rest path {:?}", args.path))?;
    let Some(method) = route.method.as_deref() else {
        bail!(
            "rest path {:?} has no HTTP method; write it like {}:[get]{}",
            args.path,
            route.service,
            if route.path.is_empty() {
                "/"
            } else {
                &route.path
            }
        );
    };
    if route.path.is_empty() {
        bail!("rest path {:?} has no URL path after [{method}]", args.path);
    }
    let body = match &args.file {
        Some(file) if !BODY_METHODS.contains(&method) => bail!(
            "a request body ({}) is only sent with post, put and patch, not {method}",
            file.display()
        ),
        Some(file) => input::read_json(file)?,
        None => json!({}),
    };
    let mut msg = Umf::new(&args.path, own_route(), body);
    if !args.headers.is_empty() {
        let mut headers = Map::new();
        for h in &args.headers {
            let Some((name, value)) = h.split_once(':') else {
                bail!("header {h:?} is not \"name: value\"");
            };
            headers.insert(name.trim().to_string(), json!(value.trim()));
        }
        msg.headers = Some(Value::Object(headers));
    }
    if let Some(t) = args.timeout {
        if !(t.is_finite() && t > 0.0) {
            bail!("--timeout must be a positive number of seconds");
        }
        msg.timeout = Some(json!(t));
    }
    Ok(msg)
}

/// `rest PATH [FILE]`: prints the response envelope; exit 1 when the status is 400 or above.
///
/// # Errors
/// A bad request, no instance, no answer in time, or an error status.
pub async fn rest(ctx: &Ctx, args: &RestArgs) -> anyhow::Result<()> {
    let msg = rest_message(args)?;
    let hydra = ctx.connect().await?;
    match hydra.api_request(&msg).await {
        Ok(resp) => {
            ctx.out.line(pretty_json(&resp.envelope()))?;
            if resp.status >= 400 {
                bail!("{} answered HTTP {}", args.path, resp.status);
            }
            Ok(())
        }
        Err(e @ (HydraError::Redis(_) | HydraError::RedisUnreachable { .. })) => Err(e.into()),
        Err(e) => {
            // As Node's makeAPIRequest: the failure as a response envelope.
            ctx.out.line(pretty_json(&e.to_envelope()))?;
            Err(anyhow::Error::new(e).context(format!("rest {}", args.path)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(path: &str, file: Option<&str>) -> RestArgs {
        RestArgs {
            path: path.into(),
            file: file.map(Into::into),
            headers: vec!["x-trace: t 1".into()],
            timeout: Some(2.5),
        }
    }

    #[test]
    fn rest_messages() {
        let m = rest_message(&args("svc:[get]/v1/x", None)).unwrap();
        assert_eq!(m.to, "svc:[get]/v1/x");
        assert_eq!(m.from, "hydra-cli:/");
        assert_eq!(m.body, json!({}));
        assert_eq!(m.headers, Some(json!({"x-trace": "t 1"})));
        assert_eq!(m.timeout, Some(json!(2.5)));
        let e = rest_message(&args("svc:/v1/x", None)).unwrap_err();
        assert!(e.to_string().contains("svc:[get]/v1/x"), "{e}");
        assert!(rest_message(&args("svc", None)).is_err());
        assert!(rest_message(&args("svc:[get]", None)).is_err());
        let e = rest_message(&args("svc:[get]/x", Some("body.json"))).unwrap_err();
        assert!(e.to_string().contains("only sent with post"), "{e}");
    }

    #[test]
    fn message_files() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let m = read_message(&write("a.json", r#"{"to":"svc:/","bdy":{"a":1}}"#)).unwrap();
        assert_eq!(m.from, "hydra-cli:/");
        assert_eq!(m.body, json!({"a": 1}));
        let e = read_message(&write("b.json", r#"{"body":{}}"#)).unwrap_err();
        assert!(e.to_string().contains("no \"to\""), "{e}");
        let e = read_message(&write("c.json", r#"{"to":"svc:/"}"#)).unwrap_err();
        assert!(e.to_string().contains("no \"body\""), "{e}");
        let e = read_message(&write("d.json", r#"{"to":"svc","body":{}}"#)).unwrap_err();
        assert!(format!("{e:#}").contains("routable segments"), "{e:#}");
        let e = read_message(&write("e.json", "[]")).unwrap_err();
        assert!(e.to_string().contains("an array"), "{e}");
    }
}
