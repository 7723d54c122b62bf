//! W3C Trace Context (version `00`): the `traceparent` and `tracestate` values an HTTP request
//! carries as headers and a UMF message carries in its `hdr`.
//!
//! Parsing is strict, as the recommendation asks: a `traceparent` that is not exactly
//! `00-{32 hex}-{16 hex}-{2 hex}` (lower case), or whose trace id or parent id is all zeros, is
//! ignored, and the receiver starts a new trace. A `tracestate` is kept only with a valid
//! `traceparent` and only while it is well-formed (at most 32 members, 512 bytes).

use serde_json::{Map, Value};

/// The `traceparent` header and `hdr` key.
pub const TRACEPARENT: &str = "traceparent";
/// The `tracestate` header and `hdr` key.
pub const TRACESTATE: &str = "tracestate";

/// Longest `tracestate` kept (the recommendation's limit a receiver must accept).
const MAX_TRACESTATE: usize = 512;
/// Most list members in a `tracestate`.
const MAX_TRACESTATE_MEMBERS: usize = 32;

/// A parsed `traceparent`: the trace, the caller's span, and the flags (bit 0: sampled).
///
/// # Examples
///
/// ```
/// use hydra_protocol::trace::TraceParent;
/// let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let tp = TraceParent::parse(header).unwrap();
/// assert!(tp.sampled());
/// assert_eq!(tp.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(tp.to_header(), header);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The trace id (never all zeros).
    pub trace_id: [u8; 16],
    /// The id of the span that sent it (never all zeros).
    pub parent_id: [u8; 8],
    /// Trace flags; `0x01` is `sampled`.
    pub flags: u8,
}

fn hex_into(text: &[u8], out: &mut [u8]) -> Option<()> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if text.len() != out.len() * 2 {
        return None;
    }
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(())
}

fn hex_write(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
}

impl TraceParent {
    /// Parses a version-`00` `traceparent`; `None` for anything else (then start a new trace).
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::trace::TraceParent;
    /// // Upper case, an all-zero trace id or another version: start a new trace.
    /// assert!(TraceParent::parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01").is_none());
    /// assert!(TraceParent::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none());
    /// ```
    pub fn parse(value: &str) -> Option<Self> {
        let v = value.trim_matches([' ', '\t']).as_bytes();
        if v.len() != 55 || v[2] != b'-' || v[35] != b'-' || v[52] != b'-' || &v[..2] != b"00" {
            return None;
        }
        let mut tp = Self {
            trace_id: [0; 16],
            parent_id: [0; 8],
            flags: 0,
        };
        hex_into(&v[3..35], &mut tp.trace_id)?;
        hex_into(&v[36..52], &mut tp.parent_id)?;
        let mut flags = [0u8; 1];
        hex_into(&v[53..55], &mut flags)?;
        tp.flags = flags[0];
        if tp.trace_id == [0; 16] || tp.parent_id == [0; 8] {
            return None;
        }
        Some(tp)
    }

    /// Whether the caller sampled (recorded) this trace.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::trace::TraceParent;
    /// let tp = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
    /// assert!(!tp.sampled());
    /// ```
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The trace id as 32 lower-case hex digits.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::trace::TraceParent;
    /// let tp = TraceParent { trace_id: [0xab; 16], parent_id: [1; 8], flags: 1 };
    /// assert_eq!(tp.trace_id_hex(), "ab".repeat(16));
    /// ```
    pub fn trace_id_hex(&self) -> String {
        let mut s = String::with_capacity(32);
        hex_write(&self.trace_id, &mut s);
        s
    }

    /// The header value: `00-{trace id}-{parent id}-{flags}`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::trace::TraceParent;
    /// let tp = TraceParent { trace_id: [0xab; 16], parent_id: [0x01; 8], flags: 1 };
    /// assert_eq!(tp.to_header(), format!("00-{}-{}-01", "ab".repeat(16), "01".repeat(8)));
    /// ```
    pub fn to_header(&self) -> String {
        let mut s = String::with_capacity(55);
        s.push_str("00-");
        hex_write(&self.trace_id, &mut s);
        s.push('-');
        hex_write(&self.parent_id, &mut s);
        s.push('-');
        hex_write(&[self.flags], &mut s);
        s
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_header())
    }
}

/// Whether a `tracestate` is well-formed enough to pass on: printable ASCII, at most 512
/// bytes and 32 members, each `key=value` with a non-empty key and value.
///
/// # Examples
///
/// ```
/// use hydra_protocol::trace::valid_tracestate;
/// assert!(valid_tracestate("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"));
/// assert!(!valid_tracestate("congo"));
/// ```
pub fn valid_tracestate(value: &str) -> bool {
    if value.len() > MAX_TRACESTATE || !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return false;
    }
    let mut members = 0;
    for member in value.split(',').map(|m| m.trim_matches([' ', '\t'])) {
        if member.is_empty() {
            continue;
        }
        members += 1;
        let Some((key, val)) = member.split_once('=') else {
            return false;
        };
        if key.is_empty() || val.is_empty() || key.contains(' ') || val.contains('=') {
            return false;
        }
    }
    members <= MAX_TRACESTATE_MEMBERS
}

/// A trace context as carried between processes: the `traceparent` and, when it had one that
/// is well-formed, the `tracestate`.
///
/// # Examples
///
/// ```
/// use hydra_protocol::trace::TraceContext;
/// let ctx = TraceContext::from_values(
///     Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
///     Some("congo=t61rcWkgMzE"),
/// )
/// .unwrap();
/// // Carried on in a UMF message's `hdr`, and read back on the other side.
/// let mut hdr = None;
/// ctx.write_umf_headers(&mut hdr);
/// assert_eq!(TraceContext::from_umf_headers(hdr.as_ref()), Some(ctx));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// The `traceparent`.
    pub parent: TraceParent,
    /// The `tracestate`, passed on unchanged.
    pub state: Option<String>,
}

impl TraceContext {
    /// Reads the pair of values; `None` when `traceparent` is absent or invalid. An invalid
    /// `tracestate` is dropped, the `traceparent` kept.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::trace::TraceContext;
    /// let tp = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    /// // A malformed tracestate is dropped, the traceparent kept.
    /// let ctx = TraceContext::from_values(tp, Some("not a list member")).unwrap();
    /// assert_eq!(ctx.state, None);
    /// assert!(TraceContext::from_values(None, Some("congo=t61rcWkgMzE")).is_none());
    /// ```
    pub fn from_values(traceparent: Option<&str>, tracestate: Option<&str>) -> Option<Self> {
        let parent = TraceParent::parse(traceparent?)?;
        let state = tracestate
            .map(str::trim)
            .filter(|s| !s.is_empty() && valid_tracestate(s))
            .map(String::from);
        Some(Self { parent, state })
    }

    /// Reads a UMF `hdr` (`headers`): its `traceparent` and `tracestate` keys.
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::trace::TraceContext;
    /// let hdr = serde_json::json!({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"});
    /// let ctx = TraceContext::from_umf_headers(Some(&hdr)).unwrap();
    /// assert!(ctx.parent.sampled());
    /// ```
    pub fn from_umf_headers(headers: Option<&Value>) -> Option<Self> {
        let hdr = headers?.as_object()?;
        Self::from_values(
            hdr.get(TRACEPARENT).and_then(Value::as_str),
            hdr.get(TRACESTATE).and_then(Value::as_str),
        )
    }

    /// Writes `traceparent` (and `tracestate`, or removes a stale one) into a UMF `hdr`,
    /// creating it when the message has none. A `hdr` that is not an object is left alone
    /// (it is the sender's own business).
    ///
    /// # Examples
    ///
    /// ```
    /// use hydra_protocol::trace::TraceContext;
    /// use hydra_protocol::Umf;
    /// let ctx = TraceContext::from_values(Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), None).unwrap();
    /// let mut msg = Umf::new("hello-service:/", "client:/", serde_json::json!({"ping": 1}));
    /// ctx.write_umf_headers(&mut msg.headers);
    /// assert_eq!(msg.to_short()["hdr"]["traceparent"], ctx.parent.to_header());
    /// ```
    pub fn write_umf_headers(&self, headers: &mut Option<Value>) {
        let hdr = headers.get_or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(hdr) = hdr else {
            return;
        };
        hdr.insert(TRACEPARENT.into(), Value::String(self.parent.to_header()));
        match &self.state {
            Some(s) => {
                hdr.insert(TRACESTATE.into(), Value::String(s.clone()));
            }
            None => {
                hdr.remove(TRACESTATE);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_and_writes_the_spec_example() {
        let tp = TraceParent::parse(EXAMPLE).unwrap();
        assert_eq!(tp.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            tp.parent_id,
            [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
        assert!(tp.sampled());
        assert_eq!(tp.to_header(), EXAMPLE);
        assert_eq!(tp.to_string(), EXAMPLE);
        let unsampled = EXAMPLE.replace("-01", "-00");
        assert!(!TraceParent::parse(&unsampled).unwrap().sampled());
    }

    #[test]
    fn invalid_values_are_ignored() {
        for bad in [
            "",
            "garbage",
            // another version
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // upper case
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            // all-zero ids
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // wrong lengths and separators
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bx-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
            assert_eq!(TraceContext::from_values(Some(bad), Some("a=b")), None);
        }
    }

    #[test]
    fn tracestate_is_kept_only_when_well_formed() {
        let ctx = TraceContext::from_values(Some(EXAMPLE), Some("congo=t61rcWkgMzE,rojo=00f0"));
        assert_eq!(
            ctx.unwrap().state.as_deref(),
            Some("congo=t61rcWkgMzE,rojo=00f0")
        );
        for bad in [
            "novalue",
            "a=b=c",
            "=x",
            &"k=v,".repeat(40),
            &"x".repeat(600),
        ] {
            let ctx = TraceContext::from_values(Some(EXAMPLE), Some(bad)).unwrap();
            assert_eq!(ctx.state, None, "{bad:?}");
        }
        assert!(TraceContext::from_values(None, Some("a=b")).is_none());
    }

    #[test]
    fn umf_headers_round_trip() {
        let ctx = TraceContext::from_values(Some(EXAMPLE), Some("a=b")).unwrap();
        let mut none = None;
        ctx.write_umf_headers(&mut none);
        assert_eq!(
            none,
            Some(json!({"traceparent": EXAMPLE, "tracestate": "a=b"}))
        );
        assert_eq!(
            TraceContext::from_umf_headers(none.as_ref()),
            Some(ctx.clone())
        );

        // Other keys stay, in their order; a stale tracestate goes.
        let mut hdr = Some(json!({"x": 1, "tracestate": "old=1"}));
        let plain = TraceContext {
            state: None,
            ..ctx.clone()
        };
        plain.write_umf_headers(&mut hdr);
        assert_eq!(hdr, Some(json!({"x": 1, "traceparent": EXAMPLE})));

        let mut odd = Some(json!("text"));
        ctx.write_umf_headers(&mut odd);
        assert_eq!(odd, Some(json!("text")));
        assert_eq!(TraceContext::from_umf_headers(Some(&json!([1]))), None);
    }
}
