//! What the commands print: aligned tables for people, JSON for scripts.
//!
//! JSON is written exactly as Node's `JSON.stringify(value, null, 2)` writes it (JavaScript key
//! order and number forms), so `cfg pull` of a config Node stored prints what Node would print.
//! Everything goes through [`Output`], which never panics on a closed pipe (`| head`).

use std::io::Write;

use serde_json::Value;

/// Where results go, and in which form.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// `--json`: print JSON documents instead of tables and sentences.
    pub json: bool,
}

impl Output {
    /// Prints `text` and a newline on stdout.
    ///
    /// # Errors
    /// A write error (a closed pipe is reported as `BrokenPipe`, which `main` treats as success).
    pub fn line(&self, text: impl AsRef<str>) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_ref().as_bytes())?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(())
    }

    /// Prints `text` as is (no newline added).
    ///
    /// # Errors
    /// As [`Output::line`].
    pub fn raw(&self, text: impl AsRef<str>) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_ref().as_bytes())?;
        out.flush()?;
        Ok(())
    }

    /// Prints `value` as pretty JSON.
    ///
    /// # Errors
    /// As [`Output::line`].
    pub fn json_value(&self, value: &Value) -> anyhow::Result<()> {
        self.line(pretty_json(value))
    }

    /// Prints `value` as JSON in `--json` mode, else `table` (or `empty` when it has no rows).
    ///
    /// # Errors
    /// As [`Output::line`].
    pub fn either(&self, value: &Value, table: &Table, empty: &str) -> anyhow::Result<()> {
        if self.json {
            self.json_value(value)
        } else if table.is_empty() {
            self.line(empty)
        } else {
            self.raw(table.render())
        }
    }

    /// Prints `value` as JSON in `--json` mode, else the sentence `text`.
    ///
    /// # Errors
    /// As [`Output::line`].
    pub fn message(&self, value: &Value, text: impl AsRef<str>) -> anyhow::Result<()> {
        if self.json {
            self.json_value(value)
        } else {
            self.line(text)
        }
    }
}

/// Rows of text in aligned columns, separated by two spaces.
#[derive(Debug, Default)]
pub struct Table {
    header: Option<Vec<String>>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with a header row.
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: Some(header.iter().map(|h| (*h).to_string()).collect()),
            rows: Vec::new(),
        }
    }

    /// A table without a header (`key  value` lists).
    pub fn plain() -> Self {
        Self::default()
    }

    /// Adds a row.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// Whether it has no rows (the header does not count).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The text, one line per row, each ending with a newline; the last column is not padded.
    pub fn render(&self) -> String {
        let all: Vec<&Vec<String>> = self.header.iter().chain(self.rows.iter()).collect();
        let columns = all.iter().map(|r| r.len()).max().unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for row in &all {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in all {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i] - cell.chars().count();
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `JSON.stringify(value, null, 2)`, as Node writes it.
pub fn pretty_json(value: &Value) -> String {
    indent(&hydra_core::jsjson::to_string(value))
}

/// Indents compact JSON text (no whitespace outside strings) by two spaces per level, with
/// `": "` after keys and empty containers kept as `{}` / `[]`, as `JSON.stringify` does.
fn indent(compact: &str) -> String {
    fn newline(out: &mut String, depth: usize) {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', depth * 2));
    }
    let mut out = String::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = compact.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                if matches!(chars.peek(), Some('}' | ']')) {
                    out.extend(chars.next());
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            _ => out.push(c),
        }
    }
    out
}

/// `1h 2m 3s`, `4m 0s`, `12s`.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "-".into();
    }
    let s = seconds as u64;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m {s}s"),
        _ => format!("{d}d {h}h {m}m"),
    }
}

/// `63.9 MB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pretty_json_matches_node() {
        let v = json!({"hydra": {"serviceName": "a", "ports": [1, 2], "empty": {}, "none": []},
                       "text": "a,b:{c}[d] \"q\" \\", "n": 1.5, "big": 1e21});
        let expected = r#"{
  "hydra": {
    "serviceName": "a",
    "ports": [
      1,
      2
    ],
    "empty": {},
    "none": []
  },
  "text": "a,b:{c}[d] \"q\" \\",
  "n": 1.5,
  "big": 1e+21
}"#;
        assert_eq!(pretty_json(&v), expected);
        assert_eq!(pretty_json(&json!([])), "[]");
        assert_eq!(pretty_json(&json!("x")), "\"x\"");
    }

    #[test]
    fn tables_align_and_trim() {
        let mut t = Table::new(&["NAME", "N", "NOTE"]);
        t.row(["alpha", "1", ""]);
        t.row(["b", "200", "last"]);
        assert_eq!(t.render(), "NAME   N    NOTE\nalpha  1\nb      200  last\n");
        assert!(Table::new(&["X"]).is_empty());
    }

    #[test]
    fn human_units() {
        assert_eq!(duration(12.9), "12s");
        assert_eq!(duration(3723.0), "1h 2m 3s");
        assert_eq!(duration(90_061.0), "1d 1h 1m");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(63_881_216), "63.9 MB");
    }
}
