//! Named connections (`config`, `use`, `config list`), URL precedence and `shell`.

use hydra_testkit::{registered_service, RedisServer};
use serde_json::Value;

use crate::common::Cli;

#[tokio::test]
async fn named_connections_select_the_redis() {
    let redis = RedisServer::start();
    let _svc = registered_service(&redis, "profile-svc").await;
    let cli = Cli::bare();
    let real = redis.url();

    let run = cli.run(&["config", "list"]).await;
    assert!(run.ok().contains("No named connections"), "{run:#?}");
    assert!(!cli.config_file().exists(), "listing writes nothing");

    // The first connection saved becomes the current one.
    let run = cli.run(&["config", "local", "--redis-url", &real]).await;
    assert!(run.ok().contains("Saved connection local"), "{run:#?}");
    let run = cli
        .run(&[
            "config",
            "remote",
            "--redis-url",
            "redis://bob:secret@10.9.8.7:6390/3",
        ])
        .await;
    assert!(
        run.ok().contains("redis://bob:***@10.9.8.7:6390/3"),
        "{run:#?}"
    );

    let list = cli.run(&["config", "list"]).await;
    let text = list.ok();
    assert!(!text.contains("secret"), "passwords are masked: {text}");
    let current: Vec<&str> = text.lines().filter(|l| l.starts_with('*')).collect();
    assert_eq!(current.len(), 1, "{text}");
    assert!(current[0].contains("local"), "{text}");

    // Commands use the current connection.
    cli.run(&["services", "profile-svc"]).await.ok();
    let port = redis.port().to_string();
    assert_eq!(
        cli.run(&["shell"]).await.ok().trim(),
        format!("redis-cli -h 127.0.0.1 -p {port} -n 15")
    );

    let run = cli.run(&["use", "remote"]).await;
    assert!(run.ok().contains("Using remote"), "{run:#?}");
    assert_eq!(
        cli.run(&["shell"]).await.ok().trim(),
        "redis-cli -h 10.9.8.7 -p 6390 -n 3 --user bob -a secret"
    );
    let v = cli.run(&["--json", "config", "list"]).await.json();
    assert_eq!(v["current"], "remote");
    assert_eq!(v["connections"]["local"]["redisUrl"], real.as_str());

    // HYDRA_REDIS_URL beats the current connection; --redis-url beats both.
    let env = [("HYDRA_REDIS_URL", "redis://envhost:7000/4")];
    assert_eq!(
        cli.run_with(&["shell"], &env).await.ok().trim(),
        "redis-cli -h envhost -p 7000 -n 4"
    );
    assert_eq!(
        cli.run_with(&["--redis-url", "redis://flaghost:7001/5", "shell"], &env)
            .await
            .ok()
            .trim(),
        "redis-cli -h flaghost -p 7001 -n 5"
    );

    // Updating keeps the current choice; showing one connection.
    let run = cli.run(&["config", "local", "--redis-url", &real]).await;
    assert!(run.ok().contains("Updated connection local"), "{run:#?}");
    let v = cli.run(&["--json", "config", "remote"]).await.json();
    assert_eq!(v["current"], true);
    assert_eq!(v["redisUrl"], "redis://bob:***@10.9.8.7:6390/3");

    cli.run(&["use", "nowhere"])
        .await
        .fails(1, "no connection named \"nowhere\"");
    cli.run(&["config", "nowhere"])
        .await
        .fails(1, "no connection named \"nowhere\"");
    cli.run(&["config", "bad", "--redis-url", "localhost:6379"])
        .await
        .fails(1, "invalid Redis URL");
    cli.run(&["config", "white space", "--redis-url", &real])
        .await
        .fails(1, "connection name");

    // The file: JSON, readable by its owner only.
    let text = std::fs::read_to_string(cli.config_file()).unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(file["current"], "remote");
    assert_eq!(
        file["connections"]["remote"]["redisUrl"],
        "redis://bob:secret@10.9.8.7:6390/3"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cli.config_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn default_url_and_xdg_location() {
    // Nothing configured: the Hydra default.
    let cli = Cli::bare();
    assert_eq!(
        cli.run(&["shell"]).await.ok().trim(),
        "redis-cli -h 127.0.0.1 -p 6379 -n 15"
    );
    // Without HYDRA_CLI_CONFIG the file lives under XDG_CONFIG_HOME.
    let xdg = cli.path("xdg");
    let xdg = xdg.to_str().unwrap();
    let no_override = Cli::bare()
        .env("XDG_CONFIG_HOME", xdg)
        .env("HYDRA_CLI_CONFIG", "");
    no_override
        .run(&["config", "x", "--redis-url", "rediss://h:6380/2"])
        .await
        .ok();
    assert!(std::path::Path::new(xdg)
        .join("hydra-cli/config.json")
        .is_file());
    assert_eq!(
        no_override.run(&["shell"]).await.ok().trim(),
        "redis-cli -h h -p 6380 -n 2 --tls"
    );
}

/// A password is masked however the URL holds it (given twice, named in another case, typed
/// with a `?` unencoded, a `redis+unix:` parameter), wherever the tool shows the URL: the
/// errors of `--redis-url` and `HYDRA_REDIS_URL`, the log while it waits for Redis, `config`
/// and `config list`.
#[tokio::test]
async fn passwords_are_masked_however_the_url_holds_them() {
    let cli = Cli::bare().env("RUST_LOG", "warn");
    let closed = hydra_testkit::free_port();
    let socket = cli.path("none.sock");
    let urls = [
        format!("redis+sentinel://127.0.0.1:{closed}/m?sentinelPassword=a&sentinelPassword=PW"),
        format!("redis+sentinel://127.0.0.1:{closed}/m?sentinelpassword=PW"),
        format!("redis://:a?PW@127.0.0.1:{closed}/0"),
        format!("redis+sentinel://:a?PW@127.0.0.1:{closed}/m"),
        format!("redis+unix://{}?pass=PW", socket.display()),
    ];
    let mut waited = 0;
    for (i, url) in urls.iter().enumerate() {
        let by_flag = cli.run(&["--redis-url", url, "services"]).await;
        let by_env = cli
            .run_with(&["services"], &[("HYDRA_REDIS_URL", url)])
            .await;
        let saved = cli
            .run(&["config", &format!("c{i}"), "--redis-url", url])
            .await;
        for run in [&by_flag, &by_env, &saved] {
            assert!(!format!("{run:?}").contains("PW"), "{url}: {run:#?}");
        }
        assert_ne!(by_flag.code, 0, "{url}: {by_flag:#?}");
        assert_ne!(by_env.code, 0, "{url}: {by_env:#?}");
        waited += usize::from(by_flag.stderr.contains("waiting for Redis"));
    }
    // The two URLs that parse were waited for, and logged as such.
    assert_eq!(waited, 2);
    for args in [
        &["config", "list"][..],
        &["--json", "config", "list"],
        &["config", "c4"],
    ] {
        let run = cli.run(args).await;
        let out = run.ok();
        assert!(out.contains("***"), "{args:?}: {out}");
        assert!(!out.contains("PW"), "{args:?}: {out}");
    }
}
