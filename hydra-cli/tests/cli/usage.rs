//! Help, usage errors and an unreachable Redis.

use std::time::Duration;

use crate::common::{closed_port_url, Cli};

const COMMANDS: [&str; 15] = [
    "cfg",
    "services",
    "nodes",
    "routes",
    "health",
    "healthlog",
    "refresh",
    "message",
    "rest",
    "queue",
    "redis",
    "shell",
    "config",
    "use",
    "watch",
];

#[tokio::test]
async fn help_lists_every_command() {
    let run = Cli::bare().run(&["--help"]).await;
    let out = run.ok();
    for c in COMMANDS {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(&format!("{c} "))),
            "--help does not list {c}:\n{out}"
        );
    }
    assert!(out.contains("HYDRA_REDIS_URL"), "{out}");
    assert!(out.contains("--json"), "{out}");
    // Every subcommand answers --help too.
    for c in COMMANDS {
        Cli::bare().run(&[c, "--help"]).await.ok();
    }
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let cli = Cli::bare();
    for args in [
        &["bogus"][..],
        &[],
        &["cfg", "push", "only-a-label"],
        &["healthlog"],
        &["config"],
        &["watch", "--count", "0"],
        &["refresh", "everything"],
        &["message", "send"],
    ] {
        let run = cli.run(args).await;
        assert_eq!(run.code, 2, "{args:?}: {run:#?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:#?}");
    }
}

#[tokio::test]
async fn redis_down_is_one_line_and_exit_1_quickly() {
    let cli = Cli::bare();
    let url = closed_port_url();
    let services = ["--redis-url", &url, "services"];
    let pull = ["--redis-url", &url, "cfg", "pull", "svc:0.0.1"];
    let depth = ["--redis-url", &url, "queue", "depth", "svc"];
    // Each waits out the connect timeout: run them side by side.
    let env = [("HYDRA_REDIS_URL", url.as_str())];
    let (r1, r2, r3, r4) = tokio::join!(
        cli.run(&services),
        cli.run(&pull),
        cli.run(&depth),
        cli.run_with(&["nodes"], &env)
    );
    for run in [&r1, &r2, &r3] {
        run.fails(1, "cannot connect to Redis (URL from --redis-url)");
        assert!(run.stderr.contains(&url), "names the URL: {run:#?}");
        assert!(run.stdout.is_empty());
        assert!(run.elapsed < Duration::from_secs(10), "{run:#?}");
    }
    r4.fails(1, "cannot connect to Redis (URL from HYDRA_REDIS_URL)");
}

#[tokio::test]
async fn bad_urls_are_rejected() {
    let run = Cli::bare()
        .run(&["--redis-url", "http://example.com", "services"])
        .await;
    run.fails(1, "invalid Redis URL");
}
