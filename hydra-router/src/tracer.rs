//! Tracer ids: the `x-hydra-tracer` of forwarded requests and the ids of WebSocket clients.

/// A short random id (base 36, as Node's `shortID`).
pub fn tracer_id() -> String {
    let mut n: u64 = rand::random::<u64>() >> 11;
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    // 2^53 has 11 digits in base 36: written from the end of a buffer of that size.
    let mut buf = [b'0'; 11];
    let mut at = buf.len();
    while n > 0 {
        at -= 1;
        buf[at] = digits[(n % 36) as usize];
        n /= 36;
    }
    let at = at.min(buf.len() - 1);
    String::from_utf8_lossy(&buf[at..]).into_owned()
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
