//! Prometheus' `/metrics`, as Apache ZooKeeper's `PrometheusMetricsProvider`
//! serves it (`metricsProvider.className=...PrometheusMetricsProvider`,
//! `metricsProvider.httpHost`, `metricsProvider.httpPort` default 7000): the
//! text exposition format 0.0.4 as the Prometheus Java simpleclient 0.9
//! writes it, with Apache's names (the `mntr` keys without `zk_`, a summary
//! once under its own name) and types. Apache's summaries carry quantile
//! labels: 0.5, 0.9 and 0.99 for its ADVANCED ones, 0.5 for the BASIC ones;
//! a summary without values has NaN quantiles, as simpleclient prints them.
//! With `metricsProvider.exportJvmInfo` (default true) the process figures
//! simpleclient's `DefaultExports` adds (`process_*`) are there too; the JVM's
//! are not. It runs on the AdminServer's hyper server
//! ([`crate::admin::serve_http`]) and reads the core through `CoreMsg::Inspect`.

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use super::{Kind, Metric, Value};
use crate::config::Config;
use crate::core::{CoreMsg, StatsView};

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Start `/metrics` when the configuration names Apache's Prometheus provider;
/// its address, or `None` when off or its port cannot be bound (logged).
pub async fn start(cfg: Arc<Config>, core: mpsc::Sender<CoreMsg>) -> Option<SocketAddr> {
    let m = &cfg.metrics;
    if !m.prometheus {
        return None;
    }
    let addr = SocketAddr::new(m.http_host, m.http_port);
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("Prometheus /metrics: cannot bind {addr}: {e}; running without it");
            return None;
        }
    };
    let local = listener.local_addr().ok()?;
    tracing::info!("Prometheus metrics on http://{local}/metrics");
    let process = m.export_jvm_info;
    let idle = Duration::from_millis(cfg.admin.idle_timeout_ms.max(1));
    tokio::spawn(crate::admin::serve_http(
        listener,
        None,
        idle,
        "Prometheus /metrics",
        move |req| {
            let core = core.clone();
            async move {
                let reply = crate::admin::reply;
                if req.method() != Method::GET && req.method() != Method::HEAD {
                    return reply(
                        StatusCode::METHOD_NOT_ALLOWED,
                        "text/plain",
                        "GET only\n".into(),
                    );
                }
                if req.uri().path() != "/metrics" {
                    return reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into());
                }
                match scrape(&core, process).await {
                    Some(text) => reply(StatusCode::OK, CONTENT_TYPE, text),
                    None => reply(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain",
                        "server is shutting down\n".into(),
                    ),
                }
            }
        },
    ));
    Some(local)
}

/// The exposition text, read on the core's task.
async fn scrape(core: &mpsc::Sender<CoreMsg>, process: bool) -> Option<String> {
    let (tx, rx) = oneshot::channel();
    let inspect = move |v: &StatsView<'_>| {
        let _ = tx.send(super::collect(v));
    };
    core.send(CoreMsg::Inspect(Box::new(inspect))).await.ok()?;
    let metrics = rx.await.ok()?;
    let mut out = render(&metrics);
    if process {
        render_process(&mut out);
    }
    Some(out)
}

/// simpleclient's `Collector.doubleToGoString`: Java's `Double.toString`
/// for finite values, `NaN`, `+Inf`, `-Inf`.
pub fn go_double(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e7 {
        format!("{v:.1}")
    } else if v.abs() >= 1e7 || (v != 0.0 && v.abs() < 1e-3) {
        // Java switches to computerized scientific notation out of [1e-3, 1e7).
        let s = format!("{v:E}");
        match s.split_once('E') {
            Some((m, e)) if !m.contains('.') => format!("{m}.0E{e}"),
            _ => s,
        }
    } else {
        format!("{v}")
    }
}

fn header(out: &mut String, name: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {name}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The text of `metrics`: a family per name (a labelled set's members follow
/// each other), each sample of a set labelled `key` as Apache's.
pub fn render(metrics: &[Metric]) -> String {
    let mut out = String::new();
    let mut last: Option<&str> = None;
    for m in metrics {
        let name = m.name;
        let first = last != Some(name);
        last = Some(name);
        let key = m
            .label
            .as_ref()
            .map(|l| format!("key=\"{}\",", escape(l)))
            .unwrap_or_default();
        let labels = if key.is_empty() {
            String::new()
        } else {
            format!("{{{key}}}")
        };
        match (&m.value, m.kind) {
            (Value::Summary(s), kind) => {
                if first {
                    header(&mut out, name, "summary");
                }
                let qs: &[f64] = if kind == Kind::SummaryQ {
                    &[0.5, 0.9, 0.99]
                } else {
                    &[0.5]
                };
                for q in qs {
                    let v = if s.count == 0 || !s.has_quantiles() {
                        // simpleclient: NaN before any value. A basic summary keeps
                        // no values here, so its median is NaN too (docs/compatibility.md).
                        f64::NAN
                    } else {
                        s.quantile(*q) as f64
                    };
                    let _ = writeln!(out, "{name}{{{key}quantile=\"{q}\",}} {}", go_double(v));
                }
                let _ = writeln!(out, "{name}_count{labels} {}", go_double(s.count as f64));
                let _ = writeln!(out, "{name}_sum{labels} {}", go_double(s.sum as f64));
            }
            (v, kind) => {
                let t = if kind == Kind::Counter {
                    "counter"
                } else {
                    "gauge"
                };
                if first {
                    header(&mut out, name, t);
                }
                let x = match v {
                    Value::Int(i) => *i as f64,
                    Value::Float(f) => *f,
                    Value::Summary(_) => unreachable!(),
                };
                let _ = writeln!(out, "{name}{labels} {}", go_double(x));
            }
        }
    }
    out
}

/// A label value as the text format wants it: `\\`, `\"` and `\n` escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// simpleclient's `StandardExports` on Linux, from `/proc/self`.
fn render_process(out: &mut String) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    // SAFETY: sysconf reads a constant of the system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as f64;
    // stat(2) fields, counted from state (3) as 0: utime 14, stime 15, starttime 22,
    // vsize 23, rss 24.
    let cpu = (field(11).unwrap_or(0.0) + field(12).unwrap_or(0.0)) / ticks;
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("btime ")
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
        })
        .unwrap_or(0.0);
    let start = boot + field(19).unwrap_or(0.0) / ticks;
    let families: [(&str, &str, f64); 6] = [
        ("process_cpu_seconds_total", "counter", cpu),
        ("process_start_time_seconds", "gauge", start),
        ("process_open_fds", "gauge", super::open_fds() as f64),
        ("process_max_fds", "gauge", super::max_fds() as f64),
        (
            "process_virtual_memory_bytes",
            "gauge",
            field(20).unwrap_or(0.0),
        ),
        (
            "process_resident_memory_bytes",
            "gauge",
            field(21).unwrap_or(0.0) * page,
        ),
    ];
    for (name, kind, v) in families {
        let help = match name {
            "process_cpu_seconds_total" => "Total user and system CPU time spent in seconds.",
            "process_start_time_seconds" => {
                "Start time of the process since unix epoch in seconds."
            }
            "process_open_fds" => "Number of open file descriptors.",
            "process_max_fds" => "Maximum number of open file descriptors.",
            "process_virtual_memory_bytes" => "Virtual memory size in bytes.",
            _ => "Resident memory size in bytes.",
        };
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {}", go_double(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Summary;

    #[test]
    fn doubles_print_as_simpleclient_prints_them() {
        assert_eq!(go_double(0.0), "0.0");
        assert_eq!(go_double(3.0), "3.0");
        assert_eq!(go_double(2.5), "2.5");
        assert_eq!(go_double(f64::NAN), "NaN");
        assert_eq!(go_double(1.2e7), "1.2E7");
        assert_eq!(go_double(1e7), "1.0E7");
    }

    #[test]
    fn a_labelled_set_is_one_family_with_a_key_label() {
        let mut s = Summary::default();
        s.add(12);
        let m = |ns: &str| Metric {
            name: "write_per_namespace",
            kind: Kind::Summary,
            value: Value::Summary(s.clone()),
            label: Some(ns.into()),
        };
        let text = render(&[m("a"), m("b\"c")]);
        let want = r#"# HELP write_per_namespace write_per_namespace
# TYPE write_per_namespace summary
write_per_namespace{key="a",quantile="0.5",} NaN
write_per_namespace_count{key="a",} 1.0
write_per_namespace_sum{key="a",} 12.0
write_per_namespace{key="b\"c",quantile="0.5",} NaN
write_per_namespace_count{key="b\"c",} 1.0
write_per_namespace_sum{key="b\"c",} 12.0
"#;
        assert_eq!(text, want);
    }

    #[test]
    fn families_carry_apache_names_types_and_quantiles() {
        let mut s = Summary::with_quantiles();
        s.add(3);
        let text = render(&[
            Metric {
                name: "znode_count",
                kind: Kind::Gauge,
                value: Value::Int(5),
                label: None,
            },
            Metric {
                name: "commit_count",
                kind: Kind::Counter,
                value: Value::Int(2),
                label: None,
            },
            Metric {
                name: "readlatency",
                kind: Kind::SummaryQ,
                value: Value::Summary(s),
                label: None,
            },
            Metric {
                name: "fsynctime",
                kind: Kind::Summary,
                value: Value::Summary(Summary::default()),
                label: None,
            },
        ]);
        let want = "\
# HELP znode_count znode_count
# TYPE znode_count gauge
znode_count 5.0
# HELP commit_count commit_count
# TYPE commit_count counter
commit_count 2.0
# HELP readlatency readlatency
# TYPE readlatency summary
readlatency{quantile=\"0.5\",} 3.0
readlatency{quantile=\"0.9\",} 3.0
readlatency{quantile=\"0.99\",} 3.0
readlatency_count 1.0
readlatency_sum 3.0
# HELP fsynctime fsynctime
# TYPE fsynctime summary
fsynctime{quantile=\"0.5\",} NaN
fsynctime_count 0.0
fsynctime_sum 0.0
";
        assert_eq!(text, want);
    }
}
