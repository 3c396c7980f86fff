//! JSON the way Helios's Jackson writer prints it.
//!
//! Helios sorts object properties and map keys alphabetically, so both forms
//! here sort keys at every level. [`compact`] is `toJsonString()`
//! (`{"a":1,"b":[1,2]}`); [`pretty`] is Jackson's default pretty printer:
//! objects one entry per line indented by two spaces with ` : ` between key
//! and value, arrays on one line as `[ 1, 2 ]`, and empty containers as
//! `{ }` and `[ ]`.

use serde::Serialize;
use serde_json::Value;

/// Recursively sorts object keys.
pub fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Converts any serializable value to JSON. Our descriptors only hold
/// strings, numbers, booleans, lists and string-keyed maps, which always
/// convert; anything else becomes `null`.
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Compact JSON with sorted keys.
pub fn compact(value: &Value) -> String {
    sorted(value).to_string()
}

/// Jackson-style pretty JSON with sorted keys (no trailing newline).
pub fn pretty(value: &Value) -> String {
    let mut out = String::new();
    write_pretty(&sorted(value), 0, &mut out);
    out
}

/// [`pretty`] of an object given entry by entry, keys already in order, written as they come
/// (a listing of many jobs is never one `Value`); no trailing newline.
pub fn write_pretty_object(
    out: &mut dyn std::io::Write,
    entries: impl Iterator<Item = (String, Value)>,
) -> std::io::Result<()> {
    let mut first = true;
    let mut text = String::new();
    for (key, value) in entries {
        text.clear();
        write_entry(&key, &sorted(&value), 0, first, &mut text);
        first = false;
        out.write_all(text.as_bytes())?;
    }
    out.write_all(if first { b"{ }" } else { b"\n}" })
}

/// One entry of an object at `depth`: `{` or `,` before it, then the key and the value on a
/// line of their own.
fn write_entry(key: &str, value: &Value, depth: usize, first: bool, out: &mut String) {
    out.push(if first { '{' } else { ',' });
    newline(depth + 1, out);
    out.push_str(&Value::String(key.to_string()).to_string());
    out.push_str(" : ");
    write_pretty(value, depth + 1, out);
}

fn write_pretty(value: &Value, depth: usize, out: &mut String) {
    match value {
        Value::Object(map) if map.is_empty() => out.push_str("{ }"),
        Value::Object(map) => {
            for (i, (key, item)) in map.iter().enumerate() {
                write_entry(key, item, depth, i == 0, out);
            }
            newline(depth, out);
            out.push('}');
        }
        Value::Array(items) if items.is_empty() => out.push_str("[ ]"),
        Value::Array(items) => {
            out.push_str("[ ");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                // Arrays do not indent: nested objects keep the array's depth.
                write_pretty(item, depth, out);
            }
            out.push_str(" ]");
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn newline(depth: usize, out: &mut String) {
    out.push('\n');
    out.extend(std::iter::repeat_n("  ", depth));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_sorts_keys_everywhere() {
        let v = json!({"status": "OK", "errors": [], "id": "a:1:b", "x": {"b": 1, "a": [ {"d": null, "c": 2} ]}});
        assert_eq!(
            compact(&v),
            r#"{"errors":[],"id":"a:1:b","status":"OK","x":{"a":[{"c":2,"d":null}],"b":1}}"#
        );
    }

    #[test]
    fn pretty_is_jacksons_default_printer() {
        let v = json!({
            "ports": {"http": {"internalPort": 8080, "externalPort": null, "protocol": "tcp"}},
            "command": ["foo", "bar"],
            "registration": {"svc/http": {"ports": {"http": {}}}},
            "env": {},
            "securityOpt": [],
        });
        let expected = r#"{
  "command" : [ "foo", "bar" ],
  "env" : { },
  "ports" : {
    "http" : {
      "externalPort" : null,
      "internalPort" : 8080,
      "protocol" : "tcp"
    }
  },
  "registration" : {
    "svc/http" : {
      "ports" : {
        "http" : { }
      }
    }
  },
  "securityOpt" : [ ]
}"#;
        assert_eq!(pretty(&v), expected);
    }

    #[test]
    fn pretty_objects_inside_arrays_keep_the_array_depth() {
        let v = json!({"a": [{"b": 1}]});
        assert_eq!(pretty(&v), "{\n  \"a\" : [ {\n    \"b\" : 1\n  } ]\n}");
    }

    #[test]
    fn an_object_written_entry_by_entry_is_the_pretty_object() {
        for v in [
            json!({}),
            json!({"a": {"z": [1, {"y": 2, "x": 3}], "b": {}}}),
            json!({"a:1": {"k": "v"}, "b:2": [], "c": null}),
        ] {
            let Value::Object(map) = &v else {
                unreachable!()
            };
            let mut out = Vec::new();
            write_pretty_object(&mut out, map.clone().into_iter()).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), pretty(&v));
        }
    }

    #[test]
    fn pretty_scalars_and_empty_root() {
        assert_eq!(pretty(&json!({})), "{ }");
        assert_eq!(pretty(&json!(["b", "a"])), r#"[ "b", "a" ]"#);
        assert_eq!(pretty(&json!("x\"y")), r#""x\"y""#);
    }
}
