//! The Redis server itself: `redis info` and `shell`.

use std::collections::BTreeMap;

use hydra_core::connection::redact;
use hydra_core::keys;
use redis::{ConnectionAddr, ConnectionInfo};
use serde_json::{json, Map, Value};

use crate::context::Ctx;
use crate::output::{self, Table};
use crate::profiles;

/// Parses `INFO` text (`key:value` lines, `#` section titles) into a map.
fn parse_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The last part of a key the `keys` module builds, found by building one with a marker.
fn suffix(key: &str) -> String {
    key.rsplit(MARK).next().unwrap_or_default().to_string()
}

/// The first part of a key the `keys` module builds.
fn prefix(key: &str) -> String {
    key.split(MARK).next().unwrap_or_default().to_string()
}

const MARK: char = '\u{0}';

/// How a kind of key is recognised.
#[derive(Debug)]
enum Rule {
    Exact(String),
    Suffix(String),
    Prefix(String),
}

/// A kind of Hydra key.
#[derive(Debug)]
struct KeyKind {
    name: &'static str,
    rule: Rule,
}

impl KeyKind {
    fn matches(&self, key: &str) -> bool {
        match &self.rule {
            Rule::Exact(k) => key == k,
            Rule::Suffix(s) => key.ends_with(s.as_str()),
            Rule::Prefix(p) => key.starts_with(p.as_str()),
        }
    }
}

/// The kinds of Hydra keys. The names come from the `keys` module, so they are spelled in one
/// place only.
fn key_kinds() -> Vec<KeyKind> {
    let m = &MARK.to_string();
    let kind = |name, rule| KeyKind { name, rule };
    vec![
        kind("nodes hash", Rule::Exact(keys::NODES.to_string())),
        kind("services", Rule::Suffix(suffix(&keys::service(m)))),
        kind("route sets", Rule::Suffix(suffix(&keys::routes(m)))),
        kind("presence", Rule::Suffix(suffix(&keys::presence(m, m)))),
        kind("health", Rule::Suffix(suffix(&keys::health(m, m)))),
        kind("health logs", Rule::Suffix(suffix(&keys::health_log(m, m)))),
        kind("configs", Rule::Suffix(suffix(&keys::configs(m)))),
        kind(
            "queues: received",
            Rule::Suffix(suffix(&keys::queue::received(m))),
        ),
        kind(
            "queues: in progress",
            Rule::Suffix(suffix(&keys::queue::in_progress(m))),
        ),
        kind(
            "queues: incomplete",
            Rule::Suffix(suffix(&keys::queue::incomplete(m))),
        ),
        kind("streams", Rule::Prefix(prefix(&keys::stream(m)))),
        kind(
            "router client queues",
            Rule::Prefix(prefix(&keys::router_ws_queued(m))),
        ),
    ]
}

/// `redis info`.
///
/// # Errors
/// Redis errors.
pub async fn info(ctx: &Ctx) -> anyhow::Result<()> {
    let resolved = ctx.redis_url()?;
    let db = profiles::check_url(&resolved.url)?.db();
    let hydra = ctx.connect().await?;
    let master = hydra.redis_master();
    let mut conn = hydra.redis();
    let (server, clients, memory, keyspace, dbsize, node_entries): (
        String,
        String,
        String,
        String,
        u64,
        u64,
    ) = redis::pipe()
        .cmd("INFO")
        .arg("server")
        .cmd("INFO")
        .arg("clients")
        .cmd("INFO")
        .arg("memory")
        .cmd("INFO")
        .arg("keyspace")
        .cmd("DBSIZE")
        .hlen(keys::NODES)
        .query_async(&mut conn)
        .await?;
    let server = parse_info(&server);
    let clients = parse_info(&clients);
    let memory = parse_info(&memory);
    let keyspace = parse_info(&keyspace);

    // Every key of the Hydra family (`hydra:…`, `hydra-router:…`), by kind.
    let family = keys::PREFIX.split(':').next().unwrap_or("hydra");
    let mut cursor: u64 = 0;
    let kinds = key_kinds();
    let mut counts: Vec<u64> = vec![0; kinds.len()];
    let mut other = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{family}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        for key in &batch {
            match kinds.iter().position(|k| k.matches(key)) {
                Some(i) => counts[i] += 1,
                None => other += 1,
            }
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }

    let get = |m: &BTreeMap<String, String>, k: &str| m.get(k).cloned().unwrap_or_default();
    let db_line = get(&keyspace, &format!("db{db}"));
    let mut hydra_keys = Map::new();
    for (k, n) in kinds.iter().zip(&counts) {
        hydra_keys.insert(k.name.to_string(), json!(n));
    }
    hydra_keys.insert("other".into(), json!(other));

    if ctx.out.json {
        let pick = |m: &BTreeMap<String, String>, names: &[&str]| -> Value {
            Value::Object(
                names
                    .iter()
                    .filter_map(|n| m.get(*n).map(|v| ((*n).to_string(), json!(v))))
                    .collect(),
            )
        };
        return ctx.out.json_value(&json!({
            "url": redact(&resolved.url),
            "master": master,
            "server": pick(&server, &["redis_version", "redis_mode", "os", "arch_bits", "tcp_port", "uptime_in_seconds"]),
            "clients": pick(&clients, &["connected_clients", "blocked_clients"]),
            "memory": pick(&memory, &["used_memory", "used_memory_human", "maxmemory_human"]),
            "db": db,
            "keys": dbsize,
            "keyspace": db_line,
            "nodeEntries": node_entries,
            "hydraKeys": hydra_keys,
        }));
    }
    let mut t = Table::plain();
    t.row(["Redis".to_string(), redact(&resolved.url)]);
    if let Some(master) = &master {
        t.row([
            "Master".to_string(),
            format!("{master} (named by the Sentinels)"),
        ]);
    }
    t.row([
        "Version".to_string(),
        format!(
            "{} ({})",
            get(&server, "redis_version"),
            get(&server, "redis_mode")
        ),
    ]);
    t.row(["OS".to_string(), get(&server, "os")]);
    let uptime: f64 = get(&server, "uptime_in_seconds").parse().unwrap_or(-1.0);
    t.row(["Uptime".to_string(), output::duration(uptime)]);
    t.row(["Clients".to_string(), get(&clients, "connected_clients")]);
    t.row(["Memory".to_string(), get(&memory, "used_memory_human")]);
    t.row(["Database".to_string(), format!("{db} ({dbsize} keys)")]);
    t.row(["Node entries".to_string(), node_entries.to_string()]);
    t.row(["Hydra keys".to_string(), String::new()]);
    for (k, n) in kinds.iter().zip(&counts) {
        t.row([format!("  {}", k.name), n.to_string()]);
    }
    t.row(["  other".to_string(), other.to_string()]);
    ctx.out.raw(t.render())
}

/// Quotes a word for a POSIX shell when it needs it.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.,:/@%+=".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The `redis-cli` command line for a connection.
pub fn redis_cli_command(info: &ConnectionInfo) -> String {
    let mut words: Vec<String> = vec!["redis-cli".into()];
    let mut option = |name: &str, value: String| {
        words.push(name.to_string());
        words.push(shell_word(&value));
    };
    // `Some(insecure)` for TLS.
    let mut tls = None;
    match info.addr() {
        ConnectionAddr::Tcp(host, port) => {
            option("-h", host.clone());
            option("-p", port.to_string());
        }
        ConnectionAddr::TcpTls {
            host,
            port,
            insecure,
            ..
        } => {
            option("-h", host.clone());
            option("-p", port.to_string());
            tls = Some(*insecure);
        }
        ConnectionAddr::Unix(path) => option("-s", path.display().to_string()),
        _ => {}
    }
    let settings = info.redis_settings();
    option("-n", settings.db().to_string());
    if let Some(user) = settings.username() {
        option("--user", user.to_string());
    }
    if let Some(password) = settings.password() {
        option("-a", password.to_string());
    }
    if let Some(insecure) = tls {
        words.push("--tls".into());
        if insecure {
            words.push("--insecure".into());
        }
    }
    words.join(" ")
}

/// `shell`: prints the `redis-cli` command line (`$(hydra-cli shell)` opens it).
///
/// # Errors
/// A URL that does not parse.
pub async fn shell(ctx: &Ctx) -> anyhow::Result<()> {
    let resolved = ctx.redis_url()?;
    let info = match profiles::check_url(&resolved.url)? {
        profiles::Target::Server(info) => *info,
        profiles::Target::Sentinel(target) => {
            // The shell opens on the master the Sentinels name now.
            let hydra = ctx.connect().await?;
            let master = hydra
                .redis_master()
                .ok_or_else(|| anyhow::anyhow!("the Sentinels named no master"))?;
            let (host, port) = master
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
                .ok_or_else(|| anyhow::anyhow!("unreadable master address {master}"))?;
            profiles::check_url(&target.master_url(host, port))?
                .server()
                .ok_or_else(|| anyhow::anyhow!("unreadable master address {master}"))?
        }
    };
    let command = redis_cli_command(&info);
    ctx.out.message(
        &json!({"command": command, "url": redact(&resolved.url)}),
        &command,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(url: &str) -> String {
        redis_cli_command(&profiles::check_url(url).unwrap().server().unwrap())
    }

    #[test]
    fn redis_cli_lines() {
        assert_eq!(
            cmd("redis://127.0.0.1:6379/15"),
            "redis-cli -h 127.0.0.1 -p 6379 -n 15"
        );
        assert_eq!(
            cmd("redis://localhost"),
            "redis-cli -h localhost -p 6379 -n 0"
        );
        assert_eq!(
            cmd("redis://bob:s3cret@h.example:6390/3"),
            "redis-cli -h h.example -p 6390 -n 3 --user bob -a s3cret"
        );
        assert_eq!(
            cmd("redis://:it%27s%20me@h:1/2"),
            "redis-cli -h h -p 1 -n 2 -a 'it'\\''s me'"
        );
        assert_eq!(
            cmd("rediss://h.example:6380/1"),
            "redis-cli -h h.example -p 6380 -n 1 --tls"
        );
    }

    #[test]
    fn key_kinds_come_from_the_key_module() {
        let kinds = key_kinds();
        let kind_of = |k: &str| {
            kinds
                .iter()
                .find(|kind| kind.matches(k))
                .map(|kind| kind.name)
                .unwrap_or("other")
        };
        assert_eq!(kind_of(&keys::service("a")), "services");
        assert_eq!(kind_of(&keys::routes("a")), "route sets");
        assert_eq!(kind_of(&keys::presence("a", "i")), "presence");
        assert_eq!(kind_of(&keys::health("a", "i")), "health");
        assert_eq!(kind_of(&keys::health_log("a", "i")), "health logs");
        assert_eq!(kind_of(&keys::configs("a")), "configs");
        assert_eq!(kind_of(&keys::queue::received("a")), "queues: received");
        assert_eq!(kind_of(keys::NODES), "nodes hash");
        assert_eq!(kind_of(&keys::stream("s")), "streams");
        assert_eq!(
            kind_of(&keys::router_ws_queued("c")),
            "router client queues"
        );
        assert_eq!(
            kind_of(&keys::router_ws_processing("c")),
            "router client queues"
        );
        assert_eq!(kind_of("hydra:something:else"), "other");
    }

    #[test]
    fn info_text() {
        let m = parse_info("# Server\r\nredis_version:7.2.4\r\nos:Linux 6.1 x86_64\r\n\r\n");
        assert_eq!(m["redis_version"], "7.2.4");
        assert_eq!(m["os"], "Linux 6.1 x86_64");
    }
}
