//! Recognising JSON text that is already in `JSON.stringify` form, so it can be passed on or
//! spliced without being parsed into a tree and written again.
//!
//! A Node peer's answer, and a Rust peer's written by serde_json, is nearly always in that form:
//! no whitespace, `JavaScript`'s escapes, whole numbers. [`object_members`] checks one pass over
//! the bytes and hands back each top-level member's raw key and value; anything it is not sure
//! of (a fraction or exponent, an escape `JSON.stringify` would not write, a key JavaScript orders
//! first, a repeated key, deep nesting) gives `None`, and the caller parses the text instead.
//! Re-serialising what it accepts through [`crate::jsjson`] would give the same bytes.

/// Nesting deeper than this is left to the full parser (whose own limit is 128).
const MAX_DEPTH: usize = 100;

/// Objects with more keys than this are left to the full parser (keys are compared pairwise).
const MAX_KEYS: usize = 64;

/// Largest whole number JavaScript holds exactly (2^53).
const MAX_SAFE: u64 = 1 << 53;

/// One top-level member of an object: its key as written (without quotes, no escapes in it) and
/// its value's JSON text.
pub type Member<'a> = (&'a str, &'a str);

/// The top-level members of `text`, in order, when `text` (surrounding whitespace aside) is a
/// JSON object already written exactly as `JSON.stringify` of its parse would write it; `None`
/// when it is anything else or when that cannot be told in one cheap pass.
///
/// # Examples
///
/// ```
/// use hydra_protocol::canonical::object_members;
/// let members = object_members(br#"{"msg":"hi","n":[1,2]}"#).unwrap();
/// assert_eq!(members, [("msg", r#""hi""#), ("n", "[1,2]")]);
/// // Not in JSON.stringify form (a space, a fraction JavaScript may write otherwise): parse it.
/// assert!(object_members(br#"{"n": 1}"#).is_none());
/// ```
pub fn object_members(text: &[u8]) -> Option<Vec<Member<'_>>> {
    let text = std::str::from_utf8(text).ok()?.trim_matches(is_json_space);
    let mut s = Scanner {
        text,
        b: text.as_bytes(),
        at: 0,
    };
    let mut members = Vec::new();
    s.object(0, Some(&mut members))?;
    (s.at == s.b.len()).then_some(members)
}

fn is_json_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

struct Scanner<'a> {
    text: &'a str,
    b: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at += 1)
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(depth + 1, None),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(|_| ()),
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'n' => self.word(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn word(&mut self, w: &[u8]) -> Option<()> {
        self.b[self.at..].starts_with(w).then(|| self.at += w.len())
    }

    /// A whole number JavaScript writes back the same: no sign on zero, no leading zeros, at
    /// most 2^53 in size.
    fn number(&mut self) -> Option<()> {
        let neg = self.eat(b'-').is_some();
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        let digits = &self.b[start..self.at];
        if digits.is_empty()
            || digits.len() > 16
            || (digits[0] == b'0' && (neg || digits.len() > 1))
        {
            return None;
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
        (n <= MAX_SAFE).then_some(())
    }

    /// A string with only the escapes `JSON.stringify` writes; `Some(true)` when it has any.
    fn string(&mut self) -> Option<bool> {
        self.eat(b'"')?;
        let mut escaped = false;
        loop {
            // Plain text up to the next quote or backslash, with no control character in it.
            let rest = &self.b[self.at..];
            let stop = memchr::memchr2(b'"', b'\\', rest)?;
            if rest[..stop].iter().any(|&c| c < 0x20) {
                return None;
            }
            self.at += stop + 1;
            if rest[stop] == b'"' {
                return Some(escaped);
            }
            escaped = true;
            match self.peek()? {
                b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 1,
                b'u' => {
                    // Only the control characters without a short form, lower-case hex.
                    let code = match self.b.get(self.at + 1..self.at + 5)? {
                        [b'0', b'0', hi @ (b'0' | b'1'), lo] => {
                            let lo = match lo {
                                b'0'..=b'9' => lo - b'0',
                                b'a'..=b'f' => lo - b'a' + 10,
                                _ => return None,
                            };
                            (hi - b'0') * 16 + lo
                        }
                        _ => return None,
                    };
                    if matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                        return None;
                    }
                    self.at += 5;
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            self.value(depth)?;
            if self.eat(b']').is_some() {
                return Some(());
            }
            self.eat(b',')?;
        }
    }

    /// An object whose keys are plain (no escapes), never array indices, and never repeated;
    /// `members`, when given, gets every member.
    fn object(&mut self, depth: usize, mut members: Option<&mut Vec<Member<'a>>>) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        let mut keys: Vec<&'a str> = Vec::new();
        loop {
            let start = self.at + 1;
            if self.string()? {
                return None;
            }
            // Cut at quotes (ASCII), so on character boundaries of the text.
            let key = &self.text[start..self.at - 1];
            if is_array_index(key.as_bytes()) || keys.len() >= MAX_KEYS || keys.contains(&key) {
                return None;
            }
            keys.push(key);
            self.eat(b':')?;
            let value_start = self.at;
            self.value(depth)?;
            if let Some(members) = members.as_deref_mut() {
                members.push((key, &self.text[value_start..self.at]));
            }
            if self.eat(b'}').is_some() {
                return Some(());
            }
            self.eat(b',')?;
        }
    }
}

/// A key JavaScript orders before the others: an integer below 2^32 - 1 in canonical form.
fn is_array_index(key: &[u8]) -> bool {
    if key.is_empty() || key.len() > 10 || !key.iter().all(u8::is_ascii_digit) {
        return false;
    }
    if key.len() > 1 && key[0] == b'0' {
        return false;
    }
    std::str::from_utf8(key)
        .ok()
        .and_then(|k| k.parse::<u64>().ok())
        .is_some_and(|n| n < u64::from(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn members(text: &str) -> Option<Vec<(String, String)>> {
        object_members(text.as_bytes()).map(|m| {
            m.into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
    }

    #[test]
    fn canonical_objects_give_their_members() {
        let m = members(r#"{"a":1,"b":{"c":[true,null,"x\n\u001f"]},"d":-12}"#).unwrap();
        assert_eq!(
            m,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), r#"{"c":[true,null,"x\n\u001f"]}"#.into()),
                ("d".into(), "-12".into()),
            ]
        );
        assert_eq!(members("{}\n"), Some(vec![]));
        assert_eq!(
            members(" {\"é\":\"ü\"} "),
            Some(vec![("é".into(), "\"ü\"".into())])
        );
    }

    #[test]
    fn anything_else_is_left_to_the_parser() {
        for text in [
            r#"{"a": 1}"#,
            r#"{"a":1.5}"#,
            r#"{"a":1e3}"#,
            r#"{"a":-0}"#,
            r#"{"a":01}"#,
            r#"{"a":9007199254740993}"#,
            r#"{"a":"\/"}"#,
            r#"{"a":"\u0041"}"#,
            r#"{"a":"\u000a"}"#,
            r#"{"a":"\u001F"}"#,
            r#"{"a":"\ud83d\ude00"}"#,
            r#"{"a\n":1}"#,
            r#"{"1":1}"#,
            r#"{"a":{"0":1}}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"a":{"b":1,"b":2}}"#,
            r#"[1]"#,
            r#""x""#,
            r#"{"a":1}x"#,
            r#"{"a":1"#,
            r#"{"a":tru}"#,
            "{\"a\":\"\u{1}\"}",
        ] {
            assert_eq!(members(text), None, "{text}");
        }
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(120), "]".repeat(120));
        assert_eq!(members(&deep), None);
        assert_eq!(object_members(b"{\"a\":\"\xff\"}"), None);
    }

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "[ -~\\n\\t\\u{1}é\"\\\\/]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-c0-2]{1,2}", inner), 0..5)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Whatever is accepted is exactly what JavaScript would write back, member for member.
        #[test]
        fn accepted_text_is_what_javascript_writes(v in json(), pretty in any::<bool>()) {
            let text = if pretty {
                serde_json::to_string_pretty(&v).unwrap()
            } else {
                crate::jsjson::to_string(&v)
            };
            if let Some(found) = object_members(text.as_bytes()) {
                let Value::Object(map) = serde_json::from_str::<Value>(&text).unwrap() else {
                    panic!("accepted a non-object: {text}");
                };
                prop_assert_eq!(crate::jsjson::to_string(&Value::Object(map.clone())), text.trim());
                let keys: Vec<&str> = found.iter().map(|(k, _)| *k).collect();
                let parsed: Vec<&str> = map.keys().map(String::as_str).collect();
                prop_assert_eq!(keys, parsed);
                for (k, raw) in found {
                    prop_assert_eq!(crate::jsjson::to_string(&map[k]), raw);
                }
            }
        }

        /// JavaScript's own form of an object of plain keys and whole numbers is always accepted.
        #[test]
        fn javascript_form_is_accepted(
            kv in prop::collection::vec(("[a-z]{1,3}", any::<i32>(), "[ -~\\n\\u{1}é]{0,6}"), 0..6)
        ) {
            let mut map = serde_json::Map::new();
            for (k, n, s) in kv {
                map.insert(k, serde_json::json!({"n": n, "s": s, "l": [n, null, true]}));
            }
            let text = crate::jsjson::to_string(&Value::Object(map));
            prop_assert!(object_members(text.as_bytes()).is_some(), "{}", text);
        }
    }
}
