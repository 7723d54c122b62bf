//! `cfg push|pull|list|remove`.

use hydra_testkit::RedisServer;
use serde_json::json;

use crate::common::Cli;

#[tokio::test]
async fn push_pull_list_remove() {
    let redis = RedisServer::start();
    let cli = Cli::new(&redis);
    let doc = json!({
        "environment": "test",
        "hydra": {"serviceName": "cfg-svc", "servicePort": 5000, "redis": {"url": redis.url()}},
        "app": {"greeting": "hi", "limits": [1, 2.5], "nested": {}}
    });
    let file = cli.write("config.json", &serde_json::to_string(&doc).unwrap());
    let file = file.to_str().unwrap();

    let out = cli.run(&["cfg", "push", "cfg-svc:0.0.1", file]).await;
    assert!(out.ok().contains("Pushed"), "{out:#?}");
    assert!(
        out.stderr.is_empty(),
        "no warnings for a complete config: {out:#?}"
    );
    cli.run(&["--json", "cfg", "push", "cfg-svc:0.0.2", file])
        .await
        .json();

    // Pull prints the config and nothing else: redirecting it gives the file back.
    let pulled = cli.run(&["cfg", "pull", "cfg-svc:0.0.1"]).await;
    assert_eq!(pulled.json(), doc);
    assert!(pulled
        .stdout
        .starts_with("{\n  \"environment\": \"test\",\n"));
    assert!(pulled.stdout.ends_with("}\n"));
    assert!(pulled.stderr.is_empty());

    let list = cli.run(&["cfg", "list", "cfg-svc"]).await;
    let text = list.ok();
    assert!(text.starts_with("LABEL"), "{text}");
    assert!(text.contains("cfg-svc:0.0.1  0.0.1"), "{text}");
    let list = cli.run(&["--json", "cfg", "list", "cfg-svc"]).await.json();
    assert_eq!(list, json!(["cfg-svc:0.0.1", "cfg-svc:0.0.2"]));

    let removed = cli.run(&["cfg", "remove", "cfg-svc:0.0.1"]).await;
    assert!(removed.ok().contains("Removed cfg-svc:0.0.1"));
    cli.run(&["cfg", "pull", "cfg-svc:0.0.1"])
        .await
        .fails(1, "no config stored under cfg-svc:0.0.1");
    cli.run(&["cfg", "remove", "cfg-svc:0.0.1"])
        .await
        .fails(1, "no config stored");
    cli.run(&["cfg", "list", "nothing-here"])
        .await
        .fails(1, "no configs stored for nothing-here");
    cli.run(&["cfg", "list", "cfg-svc:0.0.2"])
        .await
        .fails(1, "not a label");
}

#[tokio::test]
async fn push_says_what_is_wrong() {
    let redis = RedisServer::start();
    let cli = Cli::new(&redis);
    let good = cli.write("good.json", r#"{"hydra": {"serviceName": "x"}}"#);
    let good = good.to_str().unwrap();

    for label in ["no-version", "a:b:c", ":1", "svc:"] {
        cli.run(&["cfg", "push", label, good])
            .await
            .fails(1, "not in this form: myservice:0.1.1");
    }
    cli.run(&["cfg", "pull", "nolabel"])
        .await
        .fails(1, "not in this form");
    cli.run(&["cfg", "remove", "nolabel"])
        .await
        .fails(1, "not in this form");

    let missing = cli.path("missing.json");
    cli.run(&["cfg", "push", "x:1", missing.to_str().unwrap()])
        .await
        .fails(1, "cannot read");

    let bad = cli.write(
        "bad.json",
        "{\n  \"hydra\": {\n    \"serviceName\": \"x\"\n    \"a\": 1\n  }\n}\n",
    );
    let run = cli
        .run(&["cfg", "push", "x:1", bad.to_str().unwrap()])
        .await;
    run.fails(1, "is not valid JSON: line 4, column 5");

    let no_branch = cli.write("nobranch.json", r#"{"serviceName": "x"}"#);
    cli.run(&["cfg", "push", "x:1", no_branch.to_str().unwrap()])
        .await
        .fails(1, "has no \"hydra\" branch");
    let not_object = cli.write("string.json", r#"{"hydra": "x"}"#);
    cli.run(&["cfg", "push", "x:1", not_object.to_str().unwrap()])
        .await
        .fails(1, "\"hydra\" is a string, it must be an object");
    let array = cli.write("array.json", "[]");
    cli.run(&["cfg", "push", "x:1", array.to_str().unwrap()])
        .await
        .fails(1, "is an array");

    // Nothing was stored by the failed pushes.
    cli.run(&["cfg", "list", "x"]).await.fails(1, "no configs");

    // Doubtful but valid configs are stored, with warnings on stderr.
    let run = cli.run(&["cfg", "push", "other:1", good]).await;
    run.ok();
    assert!(run.stderr.contains("warning:"), "{run:#?}");
    assert!(run.stderr.contains("the label says"), "{run:#?}");
    assert!(run.stderr.contains("no hydra.redis"), "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_sentinels_info_names_the_master_and_push_waits_for_the_replica() {
    let set = tokio::task::spawn_blocking(hydra_testkit::SentinelSet::start)
        .await
        .unwrap();
    let cli = Cli::bare().env("HYDRA_REDIS_URL", &set.url());
    let master = format!("127.0.0.1:{}", set.master().port());
    let info = cli.run(&["redis", "info"]).await;
    assert!(info.ok().contains(&master), "{info:#?}");
    assert_eq!(
        cli.run(&["--json", "redis", "info"]).await.json()["master"],
        json!(master)
    );
    let shell = cli.run(&["shell"]).await;
    assert!(
        shell.ok().contains(&format!("-p {}", set.master().port())),
        "{shell:#?}"
    );

    let doc = json!({"hydra": {"serviceName": "waited", "redis": {"url": set.url()}}});
    let file = cli.write("config.json", &serde_json::to_string(&doc).unwrap());
    let out = cli
        .run(&[
            "cfg",
            "push",
            "waited:1.0.0",
            file.to_str().unwrap(),
            "--wait",
            "1",
        ])
        .await;
    assert!(out.ok().contains("1 replicas have it"), "{out:#?}");
    assert_eq!(cli.run(&["cfg", "pull", "waited:1.0.0"]).await.json(), doc);
}

#[tokio::test]
async fn push_waiting_for_a_replica_that_is_not_there_fails_and_says_so() {
    let redis = RedisServer::start();
    let cli = Cli::new(&redis);
    let doc = json!({"hydra": {"serviceName": "lonely", "redis": {"url": redis.url()}}});
    let file = cli.write("config.json", &doc.to_string());
    let out = cli
        .run(&[
            "cfg",
            "push",
            "lonely:1.0.0",
            file.to_str().unwrap(),
            "--wait",
            "1",
            "--wait-ms",
            "200",
        ])
        .await;
    out.fails(1, "only 0 of 1 replicas");
}
