//! Who this process is in the Hydra world: its service, instance id and advertised address,
//! the records that describe it, and the secret its messages are signed with.

use hydra_protocol::config::HydraConfig;
use hydra_protocol::records::{HealthEntry, NodeEntry, PortValue};
use hydra_protocol::umf::{timestamp, Umf};

use crate::health;

/// The identity of one connected process; fixed once connected.
#[derive(Debug)]
pub(crate) struct Instance {
    pub(crate) config: HydraConfig,
    pub(crate) service: String,
    pub(crate) id: String,
    pub(crate) ip: String,
    pub(crate) port: PortValue,
    pub(crate) host_name: String,
}

impl Instance {
    /// This instance's own address for replies: `{id}@{service}:/`.
    pub(crate) fn own_route(&self) -> String {
        format!("{}@{}:/", self.id, self.service)
    }

    /// Its entry in the nodes hash, stamped now.
    pub(crate) fn node_entry(&self) -> NodeEntry {
        NodeEntry {
            service_name: self.service.clone(),
            service_description: non_empty_or(&self.config.service_description, "not specified"),
            version: non_empty_or(&self.config.service_version, "unspecified"),
            instance_id: self.id.clone(),
            updated_on: timestamp(),
            process_id: u64::from(std::process::id()),
            ip: self.ip.clone(),
            port: self.port.clone(),
            host_name: self.host_name.clone(),
            elapsed: None,
            extra: serde_json::Map::new(),
        }
    }

    /// Its health record, sampled now.
    pub(crate) fn health_entry(&self) -> HealthEntry {
        let now = timestamp();
        HealthEntry {
            updated_on: now.clone(),
            service_name: self.service.clone(),
            instance_id: self.id.clone(),
            host_name: self.host_name.clone(),
            sampled_on: now,
            process_id: u64::from(std::process::id()),
            architecture: health::architecture().into(),
            platform: health::platform().into(),
            node_version: health::runtime_version(),
            memory: health::memory(),
            uptime_seconds: health::uptime_seconds(),
        }
    }

    /// The wire text of `msg` as this instance sends or queues it: signed with
    /// `signatureSharedSecret` when one is set (replacing any signature it carried, such as the
    /// one a reply inherits), and with the trace context of the current span in `hdr` when it
    /// has one ([`crate::trace::outgoing`]; the signature covers it).
    pub(crate) fn wire(&self, msg: &Umf) -> String {
        let traced = crate::trace::outgoing(msg);
        let msg = traced.as_ref().unwrap_or(msg);
        let secret = &self.config.signature_shared_secret;
        if secret.is_empty() {
            return msg.to_wire();
        }
        let mut signed = msg.clone();
        signed.sign(secret.as_bytes());
        signed.to_wire()
    }

    /// With `forceMessageSignature`: the secret every incoming message must be signed with.
    pub(crate) fn required_signature(&self) -> Option<Vec<u8>> {
        self.config
            .force_message_signature
            .then(|| self.config.signature_shared_secret.clone().into_bytes())
    }
}

fn non_empty_or(s: &str, default: &str) -> String {
    if s.is_empty() {
        default.to_string()
    } else {
        s.to_string()
    }
}
