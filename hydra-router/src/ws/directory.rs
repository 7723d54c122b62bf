//! The directory of WebSocket clients: which router holds which client, this one's included, as
//! the routers tell each other with `wsdir.*` broadcasts.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use serde_json::{json, Value};

/// Clients by router id.
#[derive(Debug)]
pub struct Directory {
    me: String,
    routers: Mutex<HashMap<String, HashSet<String>>>,
}

impl Directory {
    /// The directory of router `me` (no clients yet).
    pub fn new(me: String) -> Self {
        Self {
            routers: Mutex::new(HashMap::from([(me.clone(), HashSet::new())])),
            me,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashSet<String>>> {
        self.routers.lock().expect("directory lock")
    }

    /// `client` is on `router` (`wsdir.add`).
    pub fn add(&self, router: &str, client: &str) {
        self.lock()
            .entry(router.to_string())
            .or_default()
            .insert(client.to_string());
    }

    /// `client` left `router` (`wsdir.del`).
    pub fn remove(&self, router: &str, client: &str) {
        if let Some(set) = self.lock().get_mut(router) {
            set.remove(client);
        }
    }

    /// `router` is gone (`wsdir.rem`).
    pub fn remove_router(&self, router: &str) {
        self.lock().remove(router);
    }

    /// Everything `router` holds (`wsdir.dir`).
    pub fn replace_router(&self, router: &str, clients: HashSet<String>) {
        self.lock().insert(router.to_string(), clients);
    }

    /// The router holding `client`, other than this one.
    pub fn remote_router_of(&self, client: &str) -> Option<String> {
        self.lock()
            .iter()
            .find(|(r, c)| **r != self.me && c.contains(client))
            .map(|(r, _)| r.clone())
    }

    /// `{routerID: {clientID: 1}}`, as Node lists it.
    pub fn to_json(&self) -> Value {
        let dir = self.lock();
        let mut out = serde_json::Map::new();
        for (router, clients) in dir.iter() {
            let c: serde_json::Map<String, Value> =
                clients.iter().map(|id| (id.clone(), json!(1))).collect();
            out.insert(router.clone(), Value::Object(c));
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_of_other_routers_are_found() {
        let d = Directory::new("me".into());
        d.add("me", "a");
        d.add("r2", "b");
        assert_eq!(d.remote_router_of("a"), None);
        assert_eq!(d.remote_router_of("b").as_deref(), Some("r2"));
        d.remove("r2", "b");
        assert_eq!(d.remote_router_of("b"), None);
        d.replace_router("r3", HashSet::from(["c".to_string()]));
        assert_eq!(d.to_json()["r3"], json!({"c": 1}));
        d.remove_router("r3");
        assert!(d.to_json().get("r3").is_none());
    }
}
