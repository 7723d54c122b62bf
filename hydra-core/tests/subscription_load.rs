//! A subscription under load, over a real Redis: a burst that outruns the handling of the
//! messages is read as fast as Redis writes it, so Redis never buffers enough for the subscriber
//! to be disconnected (`client-output-buffer-limit pubsub 32mb`), and every message arrives.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use hydra_core::{keys, Umf};
use hydra_testkit::{registered_service, RedisServer};
use serde_json::json;

/// Messages in the burst, and the padding of each: 64 MiB in all, twice Redis's hard limit for
/// what it holds for a subscriber.
const MESSAGES: usize = 16 * 1024;
const PAD: usize = 4000;
/// How long the instance's runtime is kept busy while the burst arrives.
const BUSY: Duration = Duration::from_secs(2);

/// `PUBLISH channel payload` for each payload, as Redis reads it.
fn publishes(channel: &str, payloads: impl Iterator<Item = String>) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        out.extend_from_slice(
            format!(
                "*3\r\n$7\r\nPUBLISH\r\n${}\r\n{channel}\r\n${}\r\n{p}\r\n",
                channel.len(),
                p.len()
            )
            .as_bytes(),
        );
    }
    out
}

/// Writes `commands` to Redis in one pipelined stream, as fast as it takes them, and returns
/// its `count` replies: how many subscribers each message reached.
fn publish_all(port: u16, commands: Vec<u8>, count: usize) -> Vec<i64> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("publisher connects");
    let mut replies = conn.try_clone().expect("publisher's reading side");
    let writer = std::thread::spawn(move || conn.write_all(&commands).expect("publish"));
    let mut text = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    while text.iter().filter(|&&b| b == b'\n').count() < count {
        let n = replies.read(&mut buf).expect("publish replies");
        assert!(n > 0, "Redis closed the publisher's connection");
        text.extend_from_slice(&buf[..n]);
    }
    writer.join().expect("writer");
    String::from_utf8(text)
        .expect("replies")
        .lines()
        .map(|l| l.strip_prefix(':').and_then(|n| n.parse().ok()).expect(l))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_holds_through_a_burst_its_runtime_is_too_busy_to_read() {
    let redis = RedisServer::start();
    let hydra = registered_service(&redis, "burst").await;
    let mut inbox = hydra.messages();
    let restored = hydra.subscriptions_restored();
    let subscribers = redis.subscriber_ids();
    assert_eq!(subscribers.len(), 1, "one subscription: {subscribers:?}");

    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while seen.len() < MESSAGES {
            let Some(m) = inbox.recv().await else { break };
            seen.push(m.body["n"].as_u64().expect("numbered"));
        }
        seen
    });
    // Handlers that keep every worker of the runtime busy (CPU-bound work, a blocking call)
    // while the burst is published: the runtime reads nothing in that time.
    for _ in 0..2 {
        tokio::spawn(async { std::thread::sleep(BUSY) });
    }
    let pad = "x".repeat(PAD);
    let commands = publishes(
        &keys::broadcast_channel("burst"),
        (0..MESSAGES).map(|n| Umf::new("burst:/", "load:/", json!({"n": n, "pad": pad})).to_wire()),
    );
    let port = redis.port();
    let reached = tokio::task::spawn_blocking(move || publish_all(port, commands, MESSAGES))
        .await
        .expect("publisher");
    assert!(
        reached.iter().all(|&r| r == 1),
        "every message was published to the one subscriber: {} of {MESSAGES} reached none",
        reached.iter().filter(|&&r| r == 0).count()
    );

    let seen = tokio::time::timeout(Duration::from_secs(25), reader)
        .await
        .expect("every message read within 25 s")
        .expect("reader");
    assert_eq!(
        seen,
        (0..MESSAGES as u64).collect::<Vec<_>>(),
        "every message, once, in order"
    );
    assert_eq!(*restored.borrow(), 0, "the subscription was never restored");
    assert_eq!(
        redis.subscriber_ids(),
        subscribers,
        "the same subscriber connection throughout"
    );
    hydra.shutdown().await.unwrap();
}
