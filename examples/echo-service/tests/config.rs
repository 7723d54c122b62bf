//! The binary's config errors.

use std::time::Duration;

use hydra_testkit::RedisServer;
use serde_json::json;

#[tokio::test]
async fn a_bad_value_exits_64_naming_the_key() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    for (key, value) in [("serviceName", "echo:service"), ("servicePort", "abc")] {
        let mut doc = json!({"hydra": {"serviceName": "echo-service"}});
        doc["hydra"][key] = json!(value);
        let file = dir.path().join(format!("{key}.json"));
        std::fs::write(&file, doc.to_string()).unwrap();
        let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_example-echo-service"))
            .arg("--config")
            .arg(&file)
            .env("HYDRA_REDIS_URL", redis.url())
            .env_remove("HYDRA_SERVICE")
            .kill_on_drop(true)
            .output();
        // An accepted value would start serving: the timeout turns that into a failure.
        let out = tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .unwrap_or_else(|_| panic!("{key}={value} was accepted"))
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{key}={value}: {stderr}");
        assert!(stderr.contains(key) && stderr.contains(value), "{stderr}");
    }
}
