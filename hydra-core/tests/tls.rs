//! Redis over TLS with an ACL user and password, as a managed Redis would be: a real
//! redis-server on its TLS port, a CA and certificate made for the test. The CA is trusted
//! through `SSL_CERT_FILE` (the system store is what the library reads).

use std::path::Path;
use std::process::Command;

use hydra_core::{Hydra, HydraConfig, RedisConfig, Umf};
use hydra_testkit::RedisServer;
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

#[tokio::test]
async fn rediss_with_acl_user_registers_and_messages() {
    let dir = std::env::temp_dir().join(format!("hydra-tls-{}", std::process::id()));
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

    let tls_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let tls_port_s = tls_port.to_string();
    let (cert, key, ca) = (p("server.crt"), p("server.key"), p("ca.crt"));
    let redis = RedisServer::start_with(&[
        "--tls-port",
        &tls_port_s,
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca,
        "--tls-auth-clients",
        "no",
        "--user",
        "default",
        "off",
        "--user",
        "hydra",
        "on",
        ">s3cret",
        "~*",
        "&*",
        "+@all",
    ]);
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
    std::fs::remove_dir_all(&dir).ok();
}
