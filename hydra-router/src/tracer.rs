//! Tracer ids: the `x-hydra-tracer` of forwarded requests and the ids of WebSocket clients.

/// A short random id (base 36, as Node's `shortID`).
pub fn tracer_id() -> String {
    let mut n: u64 = rand::random::<u64>() >> 11;
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while n > 0 {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_else(|_| "0".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracer_ids_are_short_base36() {
        let t = tracer_id();
        assert!(!t.is_empty() && t.len() <= 11, "{t}");
        assert!(t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() && !c.is_ascii_uppercase()));
        assert_ne!(tracer_id(), tracer_id());
    }
}
