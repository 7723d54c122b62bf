//! The binary's config errors.

use hydra_testkit::{assert_config_refused, RedisServer};
use serde_json::json;

#[tokio::test]
async fn a_bad_value_exits_64_naming_the_key() {
    let redis = RedisServer::start();
    for (key, value) in [("serviceName", "echo:service"), ("servicePort", "abc")] {
        let mut doc = json!({"hydra": {"serviceName": "echo-service"}});
        doc["hydra"][key] = json!(value);
        let binary = env!("CARGO_BIN_EXE_example-echo-service");
        assert_config_refused(binary, &doc, Some(&redis), &[key, value]).await;
    }
}
