//! JSON text exactly as JavaScript's `JSON.stringify` writes it.
//!
//! Node peers re-serialise what they parse: a queued message is removed with `LREM` by its
//! re-stringified text, and a signature is an HMAC over `JSON.stringify` of the message. To match
//! byte for byte we write objects in JavaScript's property order (array-index keys first, ascending,
//! then the rest in insertion order) and numbers in JavaScript's `Number.prototype.toString` form.

use serde_json::{Map, Number, Value};

/// Serialises `value` the way `JSON.stringify(value)` does in Node.
///
/// # Examples
///
/// ```
/// use hydra_protocol::jsjson;
/// use serde_json::json;
/// // Array-index keys first, whole floats without `.0`, as JavaScript writes them.
/// assert_eq!(jsjson::to_string(&json!({"b": 1.0, "2": true, "a": null})), r#"{"2":true,"b":1,"a":null}"#);
/// ```
pub fn to_string(value: &Value) -> String {
    let mut out = String::with_capacity(128);
    write_value(&mut out, value);
    out
}

/// Appends the JavaScript JSON text of `value` to `out`.
///
/// # Examples
///
/// ```
/// let mut out = String::from("data: ");
/// hydra_protocol::jsjson::write_value(&mut out, &serde_json::json!([1.5, "x"]));
/// assert_eq!(out, r#"data: [1.5,"x"]"#);
/// ```
pub fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

/// Appends a JSON string literal, escaped as JavaScript escapes it.
///
/// # Examples
///
/// ```
/// let mut out = String::new();
/// hydra_protocol::jsjson::write_str(&mut out, "say \"hi\"\n");
/// assert_eq!(out, r#""say \"hi\"\n""#);
/// ```
pub fn write_str(out: &mut String, s: &str) {
    // JSON.stringify escapes `"`, `\\` and the control characters (short forms where JSON has
    // them, else lower-case `\u00xx`) and leaves everything else, non-ASCII included, as it is.
    out.reserve(s.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn write_object(out: &mut String, map: &Map<String, Value>) {
    out.push('{');
    let mut first = true;
    let mut emit = |out: &mut String, k: &str, v: &Value| {
        if !first {
            out.push(',');
        }
        first = false;
        write_str(out, k);
        out.push(':');
        write_value(out, v);
    };
    let mut index_keys: Vec<(u32, &String)> = map
        .keys()
        .filter_map(|k| array_index(k).map(|i| (i, k)))
        .collect();
    if index_keys.is_empty() {
        for (k, v) in map {
            emit(out, k, v);
        }
    } else {
        index_keys.sort_unstable_by_key(|(i, _)| *i);
        for (_, k) in &index_keys {
            emit(out, k, &map[k.as_str()]);
        }
        for (k, v) in map.iter().filter(|(k, _)| array_index(k).is_none()) {
            emit(out, k, v);
        }
    }
    out.push('}');
}

/// A key JavaScript orders first: the canonical decimal form of an integer below 2^32 - 1.
fn array_index(key: &str) -> Option<u32> {
    let bytes = key.as_bytes();
    if bytes.is_empty() || bytes.len() > 10 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if bytes.len() > 1 && bytes[0] == b'0' {
        return None;
    }
    let n: u64 = key.parse().ok()?;
    (n < u64::from(u32::MAX)).then_some(n as u32)
}

const MAX_SAFE: u64 = 1 << 53;

fn write_number(out: &mut String, n: &Number) {
    if let Some(u) = n.as_u64() {
        if u <= MAX_SAFE {
            out.push_str(&u.to_string());
            return;
        }
    } else if let Some(i) = n.as_i64() {
        if i.unsigned_abs() <= MAX_SAFE {
            out.push_str(&i.to_string());
            return;
        }
    }
    match n.as_f64() {
        Some(f) => out.push_str(&js_number(f)),
        None => out.push_str("null"),
    }
}

/// `Number.prototype.toString()` of a double (ECMA-262 Number::toString, radix 10).
///
/// # Examples
///
/// ```
/// use hydra_protocol::jsjson::js_number;
/// assert_eq!(js_number(3.0), "3");
/// assert_eq!(js_number(0.1 + 0.2), "0.30000000000000004");
/// assert_eq!(js_number(1e21), "1e+21");
/// ```
pub fn js_number(f: f64) -> String {
    if !f.is_finite() {
        return "null".into();
    }
    if f == 0.0 {
        return "0".into();
    }
    let sign = if f < 0.0 { "-" } else { "" };
    // `{:e}` gives the shortest digits that round-trip, e.g. "1.2345e-7".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    let n = exp.parse::<i32>().unwrap_or(0) + 1;
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let esign = if e < 0 { '-' } else { '+' };
        if k == 1 {
            format!("{digits}e{esign}{}", e.abs())
        } else {
            format!("{}.{}e{esign}{}", &digits[..1], &digits[1..], e.abs())
        }
    };
    format!("{sign}{body}")
}

/// JavaScript truthiness of a JSON value.
///
/// # Examples
///
/// ```
/// use hydra_protocol::jsjson::truthy;
/// use serde_json::json;
/// assert!(truthy(&json!({})) && truthy(&json!("0")));
/// assert!(!truthy(&json!("")) && !truthy(&json!(0)) && !truthy(&json!(null)));
/// ```
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Writes a JSON object field by field, leaving out empty and falsy values (as Node's `toShort`
/// builds an object before `JSON.stringify` writes it).
///
/// # Examples
///
/// ```
/// use hydra_protocol::jsjson::ObjectWriter;
/// let mut w = ObjectWriter::new();
/// w.string("to", "hello-service:/");
/// w.string("rmid", ""); // empty: left out
/// w.value("tmo", None); // absent: left out
/// w.value("bdy", Some(&serde_json::json!({"n": 1})));
/// assert_eq!(w.finish(), r#"{"to":"hello-service:/","bdy":{"n":1}}"#);
/// ```
#[derive(Debug)]
pub struct ObjectWriter {
    out: String,
    empty: bool,
}

impl Default for ObjectWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ObjectWriter {
    /// An empty object.
    ///
    /// Used in the example on [`ObjectWriter`].
    pub fn new() -> Self {
        let mut out = String::with_capacity(256);
        out.push('{');
        Self { out, empty: true }
    }

    fn key(&mut self, k: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        write_str(&mut self.out, k);
        self.out.push(':');
    }

    /// `k: v` when `v` is not empty.
    ///
    /// Used in the example on [`ObjectWriter`].
    pub fn string(&mut self, k: &str, v: &str) {
        if !v.is_empty() {
            self.key(k);
            write_str(&mut self.out, v);
        }
    }

    /// `k: v` when `v` is present and truthy.
    ///
    /// Used in the example on [`ObjectWriter`].
    pub fn value(&mut self, k: &str, v: Option<&Value>) {
        if let Some(v) = v.filter(|v| truthy(v)) {
            self.key(k);
            write_value(&mut self.out, v);
        }
    }

    /// The object's text.
    ///
    /// Used in the example on [`ObjectWriter`].
    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_as_javascript() {
        let cases = [
            (1.5, "1.5"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (-0.0, "0"),
            (0.1, "0.1"),
            (123456789012.0, "123456789012"),
            (-2.5, "-2.5"),
            (1.0, "1"),
            (123.456, "123.456"),
            (1.2345678901234567e25, "1.2345678901234566e+25"),
        ];
        for (f, want) in cases {
            assert_eq!(js_number(f), want, "{f}");
        }
    }

    #[test]
    fn float_that_is_integral_prints_as_integer() {
        let v: Value = serde_json::from_str("[1.0, 2.50, 1e2, 12345678901234567890]").unwrap();
        assert_eq!(to_string(&v), "[1,2.5,100,12345678901234567000]");
    }

    #[test]
    fn index_keys_first() {
        let v: Value = serde_json::from_str(r#"{"b":1,"10":2,"2":3,"a":4,"01":5,"-1":6}"#).unwrap();
        assert_eq!(to_string(&v), r#"{"2":3,"10":2,"b":1,"a":4,"01":5,"-1":6}"#);
    }

    #[test]
    fn string_escapes_match_serde_json_for_every_control_character() {
        for c in (0u8..0x20)
            .map(char::from)
            .chain(['"', '\\', '/', '\u{7f}', '\u{2028}', 'é'])
        {
            let s = format!("a{c}b");
            let mut out = String::new();
            write_str(&mut out, &s);
            assert_eq!(out, serde_json::to_string(&s).unwrap(), "{:?}", c);
        }
    }

    #[test]
    fn strings_escaped_as_javascript() {
        let v = json!({"s": "q\"b\\n\n\t\u{1}é✓"});
        assert_eq!(to_string(&v), "{\"s\":\"q\\\"b\\\\n\\n\\t\\u0001é✓\"}");
    }
}
