//! The config types parsed from what Node configs hold.

use serde_json::{json, Value};

use super::redis::with_db;
use super::*;

#[test]
fn ports() {
    assert_eq!(ServicePort::parse(&json!(0)).unwrap(), ServicePort::Any);
    assert_eq!(ServicePort::parse(&json!("")).unwrap(), ServicePort::Any);
    assert_eq!(ServicePort::parse(&Value::Null).unwrap(), ServicePort::Any);
    assert_eq!(
        ServicePort::parse(&json!(5000)).unwrap(),
        ServicePort::Fixed(5000)
    );
    assert_eq!(
        ServicePort::parse(&json!("5000")).unwrap(),
        ServicePort::Fixed(5000)
    );
    assert_eq!(
        ServicePort::parse(&json!("3000-3100")).unwrap(),
        ServicePort::Ranges(vec![3000..=3100])
    );
    assert_eq!(
        ServicePort::parse(&json!("3000, 3005,4000-4010,junk")).unwrap(),
        ServicePort::Ranges(vec![3000..=3000, 3005..=3005, 4000..=4010])
    );
    for bad in [
        json!("abc"),
        json!("70000"),
        json!("x-y,z"),
        json!(-1),
        json!([1]),
    ] {
        assert!(ServicePort::parse(&bad).is_err(), "{bad}");
    }
    assert_eq!(
        ServicePort::parse(&json!("3000-3100")).unwrap().to_string(),
        "3000-3100"
    );
}

#[test]
fn redis_urls() {
    assert_eq!(RedisConfig::default().url(), DEFAULT_REDIS_URL);
    let parts = RedisConfig {
        host: Some("redis.local".into()),
        port: Some(6380),
        db: Some(3),
        password: Some("pw".into()),
        ..RedisConfig::default()
    };
    assert_eq!(parts.url(), "redis://:pw@redis.local:6380/3");
    let url_and_db = RedisConfig {
        url: Some("rediss://u:p@h:1/2".into()),
        db: Some(5),
        ..RedisConfig::default()
    };
    assert_eq!(url_and_db.url(), "rediss://u:p@h:1/5");
    assert_eq!(with_db("redis://h:1", 4), "redis://h:1/4");
    assert_eq!(
        with_db("redis+sentinel://s1:26379,s2:26380/mymaster/0", 15),
        "redis+sentinel://s1:26379,s2:26380/mymaster/15"
    );
    assert_eq!(with_db("redis://h:1/0?x=1", 4), "redis://h:1/4?x=1");
}

#[test]
fn document_parsing_and_names() {
    let c = Config::from_value(json!({"hydra":{"serviceName":"Hello-Service","servicePort":"5000","serviceIP":"127.0.0.1","queuerDB":3},"greeting":"hi"})).unwrap();
    assert_eq!(c.hydra.service_name, "hello-service");
    assert_eq!(c.hydra.service_port, ServicePort::Fixed(5000));
    assert_eq!(c.hydra.extra["queuerDB"], json!(3));
    assert_eq!(c.get("greeting"), Some(&json!("hi")));
    assert!(matches!(
        Config::from_value(json!({"hydra":{"serviceName":"a:b"}})),
        Err(ConfigError::BadServiceName { what: "colon", .. })
    ));
    assert!(matches!(
        Config::from_value(json!({"hydra":{"serviceName":"a b"}})),
        Err(ConfigError::BadServiceName { what: "space", .. })
    ));
    assert!(matches!(
        Config::from_value(json!({"hydra":{}})),
        Err(ConfigError::MissingServiceName)
    ));
    assert!(matches!(
        Config::from_value(json!({"hydra":{"serviceName":"x","servicePort":"nope"}})),
        Err(ConfigError::Parse { .. })
    ));
    assert!(matches!(
        Config::from_value(json!([1])),
        Err(ConfigError::Parse { .. })
    ));
}

#[test]
fn hydra_service_forms() {
    assert_eq!(ServiceOverride::parse("").unwrap(), None);
    assert_eq!(
        ServiceOverride::parse("hello-service:0.0.1").unwrap(),
        Some(ServiceOverride::Pull(
            Label::parse("hello-service:0.0.1").unwrap()
        ))
    );
    let Some(ServiceOverride::Merge(m)) =
        ServiceOverride::parse("serviceIP=127.0.0.1|servicePort=5000|").unwrap()
    else {
        panic!("k=v")
    };
    assert_eq!(m["serviceIP"], json!("127.0.0.1"));
    assert_eq!(m["servicePort"], json!("5000"));
    let Some(ServiceOverride::Merge(m)) =
        ServiceOverride::parse(r#" {"serviceName":"x","servicePort":0} "#).unwrap()
    else {
        panic!("json")
    };
    assert_eq!(m["servicePort"], json!(0));
    for bad in [
        "{not json",
        "[1]",
        "a|b",
        "just-a-name",
        "a:b:c",
        "=|=",
        "=5000",
        "|",
        " | ",
    ] {
        assert!(
            matches!(
                ServiceOverride::parse(bad),
                Err(ConfigError::HydraService { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn a_bad_value_names_its_key() {
    for (doc, key) in [
        (
            json!({"hydra":{"serviceName":"x","redis":{"port":"abc"}}}),
            "hydra.redis.port",
        ),
        (
            json!({"hydra":{"serviceName":"x","redis":{"db":-1}}}),
            "hydra.redis.db",
        ),
        (
            json!({"hydra":{"serviceName":"x","redis":{"connectTimeoutSeconds":1.5}}}),
            "hydra.redis.connectTimeoutSeconds",
        ),
        (
            json!({"hydra":{"serviceName":"x","servicePort":"nope"}}),
            "hydra.servicePort",
        ),
        (
            json!({"hydra":{"serviceName":"x","forceMessageSignature":"yes"}}),
            "hydra.forceMessageSignature",
        ),
        (
            json!({"hydra":{"serviceName":{"a":1}}}),
            "hydra.serviceName",
        ),
    ] {
        let e = Config::from_value(doc.clone()).unwrap_err().to_string();
        assert!(e.contains(key), "{doc}: {e}");
    }
}

#[test]
fn sentinel_urls_and_parts() {
    let t = SentinelTarget::parse("redis+sentinel://u:pw@s1:26379,[::1]:26380,s3/mymaster/15")
        .unwrap()
        .unwrap();
    assert!(!t.tls);
    assert_eq!(t.username.as_deref(), Some("u"));
    assert_eq!(t.password.as_deref(), Some("pw"));
    assert_eq!(
        t.sentinels,
        vec![
            ("s1".to_string(), 26379),
            ("::1".to_string(), 26380),
            ("s3".to_string(), 26379)
        ]
    );
    assert_eq!(t.master, "mymaster");
    assert_eq!(t.db, 15);
    assert_eq!(
        t.master_url("10.0.0.5", 6380),
        "redis://u:pw@10.0.0.5:6380/15"
    );
    assert_eq!(t.sentinel_url("::1", 26380), "redis://[::1]:26380");
    assert_eq!(
        t.url(),
        "redis+sentinel://u:pw@s1:26379,[::1]:26380,s3:26379/mymaster/15"
    );
    let tls = SentinelTarget::parse("rediss+sentinel://:pw@s1:1/m")
        .unwrap()
        .unwrap();
    assert!(tls.tls);
    assert_eq!(tls.db, 0);
    assert_eq!(tls.master_url("h", 2), "rediss://:pw@h:2/0");
    assert!(SentinelTarget::parse("redis://h:1/2").is_none());
    for bad in [
        "redis+sentinel://s1:26379",
        "redis+sentinel://s1:26379/",
        "redis+sentinel://s1:x/m",
        "redis+sentinel://:1/m",
        "redis+sentinel://s1:1/m/x",
        "redis+sentinel://s1:1/m/1/2",
    ] {
        assert!(SentinelTarget::parse(bad).unwrap().is_err(), "{bad}");
    }
    let parts: RedisConfig = serde_json::from_value(json!({
        "sentinels": ["s1:26379", "s2:26379"], "masterName": "hydra", "db": 15, "password": "pw"
    }))
    .unwrap();
    assert_eq!(
        parts.url(),
        "redis+sentinel://:pw@s1:26379,s2:26379/hydra/15"
    );
    // The Sentinels' own credentials: in the query, apart from the master's.
    let guarded: RedisConfig = serde_json::from_value(json!({
        "sentinels": ["s1"], "masterName": "hydra", "password": "pw",
        "sentinelUsername": "watcher", "sentinelPassword": "watch"
    }))
    .unwrap();
    let url = guarded.url();
    assert_eq!(
        url,
        "redis+sentinel://:pw@s1/hydra/0?sentinelUsername=watcher&sentinelPassword=watch"
    );
    let target = SentinelTarget::parse(&url).unwrap().unwrap();
    assert_eq!(
        target.sentinel_url("s1", 26379),
        "redis://watcher:watch@s1:26379"
    );
    assert_eq!(target.master_url("m", 6379), "redis://:pw@m:6379/0");
    assert_eq!(
        target.url(),
        "redis+sentinel://:pw@s1:26379/hydra/0?sentinelUsername=watcher&sentinelPassword=watch"
    );
    // A database given apart keeps the query.
    let mut moved = RedisConfig::from_url(url);
    moved.db = Some(3);
    assert_eq!(
        moved.url(),
        "redis+sentinel://:pw@s1:26379/hydra/3?sentinelUsername=watcher&sentinelPassword=watch"
    );
    assert!(
        SentinelTarget::parse("redis+sentinel://s1/m?sentinelpassword=x")
            .unwrap()
            .is_err()
    );
}

#[test]
fn bracketed_ipv6_sentinels_with_and_without_a_port() {
    let t = SentinelTarget::parse("redis+sentinel://[::1]/m")
        .unwrap()
        .unwrap();
    assert_eq!(t.sentinels, [("::1".to_string(), 26379)]);
    assert_eq!(t.url(), "redis+sentinel://[::1]:26379/m/0");
    let t = SentinelTarget::parse("redis+sentinel://:pw@[fd00::5]:26380,[::1],s3/m/2")
        .unwrap()
        .unwrap();
    assert_eq!(
        t.sentinels,
        [
            ("fd00::5".to_string(), 26380),
            ("::1".to_string(), 26379),
            ("s3".to_string(), 26379)
        ]
    );
    assert_eq!(t.sentinel_url("::1", 26379), "redis://[::1]:26379");
    for (bad, reason) in [
        ("redis+sentinel://[::1/m", "no `]`"),
        ("redis+sentinel://[::1]x/m", "only `:port`"),
        ("redis+sentinel://[::1]:/m", "the port is not a number"),
        ("redis+sentinel://[::1]:x/m", "the port is not a number"),
        ("redis+sentinel://[]:26379/m", "no host"),
        ("redis+sentinel://::1:26379/m", "in brackets"),
    ] {
        let e = SentinelTarget::parse(bad).unwrap().unwrap_err();
        assert!(e.contains(reason), "{bad}: {e}");
    }
}

#[test]
fn credentials_holding_what_ends_them_are_refused_without_showing_them() {
    for url in [
        "redis+sentinel://:a?PW@s1/m",
        "redis+sentinel://u:a/PW@s1:26379/m/0",
        "rediss+sentinel://:a#PW@s1/m",
    ] {
        let e = SentinelTarget::parse(url).unwrap().unwrap_err();
        assert!(e.contains("percent-encode"), "{url}: {e}");
        assert!(!e.contains("PW") && !e.contains(":a"), "{url}: {e}");
    }
    // `@` is no such character, in a password or in a query value.
    let t = SentinelTarget::parse("redis+sentinel://:p@ss@s1/m?sentinelUsername=me@corp")
        .unwrap()
        .unwrap();
    assert_eq!(t.password.as_deref(), Some("p@ss"));
    assert_eq!(t.sentinels, [("s1".to_string(), 26379)]);
    assert_eq!(t.sentinel_username.as_deref(), Some("me@corp"));
    let t = SentinelTarget::parse("redis+sentinel://s1/m/0?sentinelPassword=a@b")
        .unwrap()
        .unwrap();
    assert_eq!(t.password, None);
    assert_eq!(t.sentinel_password.as_deref(), Some("a@b"));
}
