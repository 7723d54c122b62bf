//! The router binary refuses a config value it cannot use: exit code 64, the key on stderr.

use std::process::Stdio;
use std::time::Duration;

#[tokio::test]
async fn a_bad_config_value_exits_64_naming_the_key() {
    let dir = std::env::temp_dir().join(format!("hydra-router-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.json");
    std::fs::write(
        &file,
        r#"{"requestTimeout": "abc", "hydra": {"serviceName": "hydra-router", "servicePort": 0}}"#,
    )
    .unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hydra-router"))
        .arg("--config")
        .arg(&file)
        .current_dir(&dir)
        // Nothing listens here: a router that got past its config would fail differently.
        .env("HYDRA_REDIS_URL", "redis://127.0.0.1:1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("the router exits by itself")
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("requestTimeout"), "{stderr}");
    assert!(stderr.contains("\"abc\""), "{stderr}");
}
