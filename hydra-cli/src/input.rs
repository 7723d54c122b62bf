//! Reading the JSON files commands take (configs, messages, request bodies), with errors that
//! say exactly what is wrong and where.

use std::path::Path;

use anyhow::{anyhow, Context};
use serde_json::Value;

/// Reads `path` and parses it as JSON.
///
/// # Errors
/// `cannot read FILE: …` when it cannot be read, `FILE is not valid JSON: line L, column C: …`
/// when it does not parse.
pub fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_json(&text).map_err(|e| anyhow!("{} is not valid JSON: {e}", path.display()))
}

/// Parses JSON text; the error names the line and column.
///
/// # Errors
/// `line L, column C: what`.
pub fn parse_json(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| {
        let full = e.to_string();
        // serde_json appends " at line L column C"; put the position first instead.
        let what = full
            .rsplit_once(" at line ")
            .map_or(full.as_str(), |(w, _)| w);
        if e.line() == 0 {
            what.to_string()
        } else {
            format!("line {}, column {}: {what}", e.line(), e.column())
        }
    })
}

/// The JSON type of `v`, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_position() {
        let e = parse_json("{\n  \"a\": 1,\n  \"b\" 2\n}").unwrap_err();
        assert_eq!(e, "line 3, column 7: expected `:`");
        let e = parse_json("").unwrap_err();
        assert!(e.starts_with("line 1, column 0: EOF"), "{e}");
        assert!(parse_json("[1]").is_ok());
    }
}
