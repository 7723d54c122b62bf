//! Redis over TLS with an ACL user and password, as a managed Redis would be: a real
//! redis-server on its TLS port, a CA and certificate made for the test. The CA is trusted
//! through `SSL_CERT_FILE` (the system store is what the library reads).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use hydra_core::{keys, Hydra, HydraConfig, RedisConfig, Umf};
use hydra_testkit::{free_port, RedisServer};
use serde_json::json;

fn openssl(dir: &Path, args: &[&str]) {
    let ok = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        ok.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

/// A CA and a certificate for localhost and 127.0.0.1 signed by it, made once for this test
/// binary; the CA is trusted from then on (`SSL_CERT_FILE`). The directory holding them.
fn certificates() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(make_certificates)
}

/// The `--tls-…` arguments of a server with the test's certificate on `tls_port`.
fn tls_args(tls_port: u16) -> Vec<String> {
    let p = |f: &str| certificates().join(f).to_string_lossy().into_owned();
    vec![
        "--tls-port".to_string(),
        tls_port.to_string(),
        "--tls-cert-file".to_string(),
        p("server.crt"),
        "--tls-key-file".to_string(),
        p("server.key"),
        "--tls-ca-cert-file".to_string(),
        p("ca.crt"),
        "--tls-auth-clients".to_string(),
        "no".to_string(),
    ]
}

fn make_certificates() -> PathBuf {
    // Cargo's directory for integration tests' files; made afresh at each run.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hydra-tls");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=hydra-test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.crt",
        ],
    );
    // Trust our CA (read by the native certificate store).
    std::env::set_var("SSL_CERT_FILE", dir.join("ca.crt"));
    dir
}

#[tokio::test]
async fn rediss_with_acl_user_registers_and_messages() {
    let tls_port = free_port();
    let mut args = tls_args(tls_port);
    args.extend(
        [
            "--user", "default", "off", "--user", "hydra", "on", ">s3cret", "~*", "&*", "+@all",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let redis = RedisServer::start_with(&args);
    let url = format!("rediss://hydra:s3cret@localhost:{tls_port}/15");
    let mut c = HydraConfig::named("tls-service");
    c.service_ip = "127.0.0.1".into();
    c.redis = RedisConfig::from_url(url.clone());
    let a = Hydra::connect(c.clone()).await.expect("TLS + ACL connect");
    let mut inbox = a.messages();
    a.register_service().await.unwrap();
    let b = Hydra::connect(c.clone()).await.unwrap();
    b.send(&Umf::new("tls-service:/", "b:/", json!({"over": "tls"})))
        .await
        .unwrap();
    let m = tokio::time::timeout(std::time::Duration::from_secs(3), inbox.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.body, json!({"over": "tls"}));
    assert_eq!(
        b.get_service_presence("tls-service").await.unwrap().len(),
        1
    );

    // A wrong password is a clear error, not a hang.
    let mut bad = c.clone();
    bad.redis = RedisConfig::from_url(format!("rediss://hydra:wrong@localhost:{tls_port}/15"));
    bad.redis.connect_timeout_seconds = Some(1);
    let err = Hydra::connect(bad).await.unwrap_err().to_string();
    assert!(
        err.contains("unreachable") || err.contains("WRONGPASS") || err.contains("auth"),
        "{err}"
    );
    // The password never shows in errors.
    assert!(!err.contains("wrong@"), "{err}");
    a.shutdown().await.unwrap();
    drop(redis);
}

#[tokio::test]
async fn rediss_sentinel_finds_the_master_over_tls() {
    let master_tls = free_port();
    let args = tls_args(master_tls);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let master = RedisServer::start_with(&args);
    // A Sentinel with a TLS port only, watching the master on its TLS port.
    let sentinel_port = free_port();
    let dir = certificates();
    let conf = dir.join(format!("sentinel-{sentinel_port}.conf"));
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    std::fs::write(
        &conf,
        format!(
            "port 0\ntls-port {sentinel_port}\nbind 127.0.0.1\ndir {}\n\
             tls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\n\
             tls-auth-clients no\ntls-replication yes\n\
             sentinel monitor hydra 127.0.0.1 {master_tls} 1\n",
            dir.display(),
            p("server.crt"),
            p("server.key"),
            p("ca.crt"),
        ),
    )
    .unwrap();
    let mut sentinel = Command::new("redis-server")
        .arg(&conf)
        .arg("--sentinel")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server --sentinel");

    let mut c = HydraConfig::named("tls-sentinel");
    c.service_ip = "127.0.0.1".into();
    c.redis = RedisConfig::from_url(format!(
        "rediss+sentinel://localhost:{sentinel_port}/hydra/15"
    ));
    c.redis.connect_timeout_seconds = Some(10);
    let h = Hydra::connect(c).await;
    let _ = sentinel.kill();
    let _ = sentinel.wait();
    let h = h.expect("TLS to the Sentinel and to the master it names");
    assert_eq!(h.redis_master(), Some(format!("127.0.0.1:{master_tls}")));
    h.register_service().await.unwrap();
    let mut conn = master.connection().await;
    let registered: bool = redis::AsyncCommands::exists(&mut conn, keys::service("tls-sentinel"))
        .await
        .unwrap();
    assert!(registered, "the service record is on the master");
    h.shutdown().await.unwrap();
}
