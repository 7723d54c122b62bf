//! Configuration from outside: `HYDRA_SERVICE` values, `name:version` labels, config documents
//! (service and router), `servicePort` forms. Every one is accepted or refused with an error.
#![no_main]

use hydra_protocol::config::{Config, Label, ServiceOverride, ServicePort};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ServiceOverride::parse(text);
    let _ = Label::parse(text);
    let _ = ServicePort::parse(&serde_json::Value::String(text.to_string()));
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    let _ = ServicePort::parse(&doc);
    if let Ok(port) = ServicePort::parse(&doc) {
        let _ = port.candidates();
    }
    let wrapped = serde_json::json!({ "hydra": doc.clone() });
    for document in [doc, wrapped] {
        if let Ok(config) = Config::from_value(document) {
            let _ = hydra_router::RouterConfig::from_config(&config);
        }
    }
});
