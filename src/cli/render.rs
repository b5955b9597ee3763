//! How results look on a terminal: statement outputs (text, `application/json` tables, errors
//! with their traceback) and lists of sessions and batches as aligned columns. The table code is
//! a few lines by hand: a table crate would add a dependency for plain left-aligned columns.

use serde_json::Value;

/// Text of a JSON value for a table cell: strings bare, `null` empty, the rest as JSON.
fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Left-aligned columns with a header row and a rule under it.
pub fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, w) in widths.iter().enumerate() {
            let c = cells.get(i).map(String::as_str).unwrap_or("");
            if i + 1 == widths.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&line(&rule));
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

/// The `application/json` output of a SQL statement (`{"schema": {"fields": [...]}, "data":
/// [[...]]}`) as a table; `None` when the value is not of that shape.
pub fn json_table(v: &Value) -> Option<String> {
    let fields = v.get("schema")?.get("fields")?.as_array()?;
    let header: Vec<String> = fields
        .iter()
        .map(|f| f.get("name").map(cell).unwrap_or_default())
        .collect();
    let rows: Vec<Vec<String>> = v
        .get("data")?
        .as_array()?
        .iter()
        .map(|r| match r {
            Value::Array(cells) => cells.iter().map(cell).collect(),
            other => vec![cell(other)],
        })
        .collect();
    Some(table(&header, &rows))
}

/// A finished statement's output: (text for stdout, text for stderr, failed).
pub fn statement_output(statement: &Value) -> (String, String, bool) {
    let state = statement.get("state").and_then(Value::as_str).unwrap_or("");
    let Some(output) = statement.get("output").filter(|o| !o.is_null()) else {
        return match state {
            "cancelled" | "cancelling" => (String::new(), "statement cancelled\n".into(), true),
            _ => (String::new(), String::new(), false),
        };
    };
    if output.get("status").and_then(Value::as_str) == Some("error") {
        let mut err = format!(
            "{}: {}\n",
            output.get("ename").map(cell).unwrap_or_default(),
            output.get("evalue").map(cell).unwrap_or_default()
        );
        if let Some(tb) = output.get("traceback").and_then(Value::as_array) {
            for line in tb {
                let l = cell(line);
                err.push_str(&l);
                if !l.ends_with('\n') {
                    err.push('\n');
                }
            }
        }
        return (String::new(), err, true);
    }
    let data = output.get("data").cloned().unwrap_or(Value::Null);
    let mut out = String::new();
    if let Some(t) = data.get("application/json").and_then(json_table) {
        out.push_str(&t);
    } else if let Some(text) = data.get("text/plain") {
        out.push_str(&cell(text));
    } else if let Some(j) = data.get("application/json") {
        out.push_str(&j.to_string());
    } else if data.get("image/png").is_some() {
        out.push_str("[image/png output: use --output json to get its base64 data]");
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    (out, String::new(), false)
}

/// Sessions (`GET /sessions`) or batches (`GET /batches`) as a table.
pub fn resources(list: &Value, key: &str, kind_column: bool) -> String {
    let items = list
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut header: Vec<String> = ["id", "name", "state", "owner", "proxyUser", "appId"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if kind_column {
        header.insert(2, "kind".into());
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|it| {
            header
                .iter()
                .map(|h| it.get(h).map(cell).unwrap_or_default())
                .collect()
        })
        .collect();
    table(&header, &rows)
}

/// Pretty JSON with a final newline: the stable `--output json` form.
pub fn json(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sql_output_is_a_table() {
        let st = json!({"state": "available", "output": {"status": "ok", "data": {
            "application/json": {"schema": {"type": "struct", "fields": [
                {"name": "id", "type": "long"}, {"name": "word", "type": "string"}]},
            "data": [[1, "a"], [22, null]]}}}});
        let (out, err, failed) = statement_output(&st);
        assert_eq!(out, "id  word\n--  ----\n1   a\n22\n");
        assert!(err.is_empty() && !failed);
    }

    #[test]
    fn error_output_goes_to_stderr_with_traceback() {
        let st = json!({"state": "available", "output": {"status": "error", "ename": "ZeroDivisionError",
            "evalue": "division by zero", "traceback": ["Traceback:\n", "  line 1"]}});
        let (out, err, failed) = statement_output(&st);
        assert!(out.is_empty() && failed);
        assert_eq!(
            err,
            "ZeroDivisionError: division by zero\nTraceback:\n  line 1\n"
        );
    }

    #[test]
    fn text_output_ends_with_a_newline() {
        let st =
            json!({"state": "available", "output": {"status": "ok", "data": {"text/plain": "2"}}});
        assert_eq!(statement_output(&st).0, "2\n");
    }

    #[test]
    fn cancelled_statement_fails() {
        let st = json!({"state": "cancelled", "output": null});
        assert!(statement_output(&st).2);
    }
}
