//! Normalising and comparing the JSON lines the client scripts print, one line per operation.
//!
//! Both servers start fresh, so everything a client sees must match exactly, except values
//! that depend on the clock or on how a server numbers its sessions:
//!
//! - zxids (`czxid`, `mzxid`, `pzxid`, `zxid`) become relative to the script's base zxid (the
//!   line `{"op":"base","zxid":N}`; 0 and negative markers such as -1 stay as they are). Both servers consume one zxid per write,
//!   including failed writes, session creation and session close, so relative zxids must match.
//! - session ids (`session_id`, `ephemeralOwner`, `owner`) become `session:<name>` for the
//!   sessions a script announced with `{"op":"session","name":..,"id":N}`, 0 stays 0, anything
//!   else (TTL and container markers) stays as the raw number.
//! - in a Stat, `ctime` becomes `zero` / `nonzero` and `mtime` becomes its relation to `ctime`:
//!   equal when `mzxid == czxid` (then it must be), otherwise `mtime >= ctime` must hold.
//!   Absolute times are never compared.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// Parses and normalises the lines of one script run.
pub fn normalise(lines: &[String]) -> Vec<Value> {
    let parsed: Vec<Value> = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let mut base: Option<i64> = None;
    let mut sessions: HashMap<i64, String> = HashMap::new();
    for v in &parsed {
        match v.get("op").and_then(Value::as_str) {
            Some("base") if base.is_none() => base = v["zxid"].as_i64(),
            Some("session") => {
                if let (Some(id), Some(name)) = (v["id"].as_i64(), v["name"].as_str()) {
                    sessions.insert(id, name.to_owned());
                }
            }
            _ => {}
        }
    }
    let n = Normaliser {
        base: base.unwrap_or(0),
        sessions,
    };
    parsed.into_iter().map(|v| n.value(None, v)).collect()
}

struct Normaliser {
    base: i64,
    sessions: HashMap<i64, String>,
}

impl Normaliser {
    fn value(&self, key: Option<&str>, v: Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(self.object(m)),
            Value::Array(a) => Value::Array(a.into_iter().map(|x| self.value(None, x)).collect()),
            Value::Number(ref num) => match (key, num.as_i64()) {
                (Some("czxid" | "mzxid" | "pzxid" | "zxid"), Some(z)) => {
                    if z <= 0 {
                        Value::from(z)
                    } else {
                        Value::from(format!("base{:+}", z - self.base))
                    }
                }
                (Some("session_id" | "ephemeralOwner" | "owner" | "id"), Some(s))
                    if key != Some("id") || self.sessions.contains_key(&s) =>
                {
                    if s == 0 {
                        Value::from(0)
                    } else if let Some(name) = self.sessions.get(&s) {
                        Value::from(format!("session:{name}"))
                    } else {
                        Value::from(format!("{:#x}", s as u64))
                    }
                }
                _ => v,
            },
            other => other,
        }
    }

    fn object(&self, m: Map<String, Value>) -> Map<String, Value> {
        let is_stat = m.contains_key("ctime") && m.contains_key("mtime");
        let mut out = Map::new();
        if is_stat {
            let ctime = m["ctime"].as_i64().unwrap_or(-1);
            let mtime = m["mtime"].as_i64().unwrap_or(-1);
            let same_txn = m.get("czxid") == m.get("mzxid");
            out.insert(
                "ctime".into(),
                Value::from(if ctime == 0 { "zero" } else { "nonzero" }),
            );
            let rel = if same_txn {
                if mtime == ctime {
                    "mtime==ctime"
                } else {
                    "mtime!=ctime (same txn)"
                }
            } else if mtime >= ctime {
                "mtime>=ctime"
            } else {
                "mtime<ctime"
            };
            out.insert("mtime".into(), Value::from(rel));
        }
        for (k, v) in m {
            if is_stat && (k == "ctime" || k == "mtime") {
                continue;
            }
            let nv = self.value(Some(&k), v);
            out.insert(k, nv);
        }
        out
    }
}

/// Differences between two normalised values, as `path: expected != actual` lines.
pub fn value_diffs(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) => value_diffs(&p, va, vb, out),
                    (Some(va), None) => out.push(format!("{p}: apache={va} ours=<missing>")),
                    (None, Some(vb)) => out.push(format!("{p}: apache=<missing> ours={vb}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                value_diffs(&format!("{path}[{i}]"), va, vb, out);
            }
        }
        _ if a == b => {}
        _ => out.push(format!("{path}: apache={a} ours={b}")),
    }
}

/// Compares the normalised output of the reference server (`apache`) with ours, line by line,
/// and returns every difference, each naming the operation and the field that differs.
pub fn compare(apache: &[Value], ours: &[Value]) -> Vec<String> {
    let mut diffs = Vec::new();
    let n = apache.len().max(ours.len());
    for i in 0..n {
        match (apache.get(i), ours.get(i)) {
            (Some(a), Some(b)) => {
                let mut d = Vec::new();
                let label = a
                    .get("step")
                    .or_else(|| a.get("op"))
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                value_diffs("", a, b, &mut d);
                for x in d {
                    diffs.push(format!("line {} {label}: {x}", i + 1));
                }
            }
            (Some(a), None) => diffs.push(format!("line {}: ours has no line; apache={a}", i + 1)),
            (None, Some(b)) => diffs.push(format!("line {}: apache has no line; ours={b}", i + 1)),
            (None, None) => {}
        }
    }
    diffs
}

/// Panics with every difference if the two runs differ.
pub fn assert_same(what: &str, apache: &[Value], ours: &[Value]) {
    if std::env::var_os("ZK_TESTS_DUMP").is_some() {
        for (i, (a, o)) in apache.iter().zip(ours).enumerate() {
            eprintln!("{what} {}\n  apache {a}\n  ours   {o}", i + 1);
        }
    }
    let diffs = compare(apache, ours);
    if !diffs.is_empty() {
        let shown: Vec<&String> = diffs.iter().take(80).collect();
        panic!(
            "{what}: our server differs from Apache ZooKeeper in {} place(s):\n{}",
            diffs.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxids_sessions_and_times_are_normalised() {
        let lines = vec![
            r#"{"op":"session","name":"a","id":72057594037927936}"#.to_string(),
            r#"{"op":"base","zxid":2}"#.to_string(),
            r#"{"step":"x","stat":{"czxid":3,"mzxid":3,"pzxid":3,"ctime":5,"mtime":5,"ephemeralOwner":72057594037927936}}"#.to_string(),
            r#"{"step":"y","stat":{"czxid":0,"mzxid":4,"pzxid":3,"ctime":0,"mtime":7,"ephemeralOwner":-72057594037927935}}"#.to_string(),
        ];
        let v = normalise(&lines);
        assert_eq!(
            v[2]["stat"],
            serde_json::json!({"czxid":"base+1","mzxid":"base+1","pzxid":"base+1",
                "ctime":"zero_or","mtime":"mtime==ctime","ephemeralOwner":"session:a"})
            .as_object()
            .map(|m| {
                let mut m = m.clone();
                m.insert("ctime".into(), "nonzero".into());
                Value::Object(m)
            })
            .unwrap()
        );
        assert_eq!(v[3]["stat"]["ctime"], "zero");
        assert_eq!(v[3]["stat"]["mtime"], "mtime>=ctime");
        assert_eq!(v[3]["stat"]["czxid"], 0);
        assert_eq!(v[3]["stat"]["ephemeralOwner"], "0xff00000000000001");
    }

    #[test]
    fn differences_name_the_field() {
        let a = normalise(&[r#"{"step":"s","rc":"ok","stat":{"version":1}}"#.to_string()]);
        let b = normalise(&[r#"{"step":"s","rc":"ok","stat":{"version":2}}"#.to_string()]);
        let d = compare(&a, &b);
        assert_eq!(d, vec![r#"line 1 "s": .stat.version: apache=1 ours=2"#]);
    }
}
