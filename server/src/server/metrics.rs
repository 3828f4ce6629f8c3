//! Prometheus metrics on `GET /v1/health/metrics` (API.md): request counters and latency
//! histograms by command and status, recorded through the `metrics` facade, plus gauges read
//! from the node at scrape time. Anyone may scrape; series that name enclaves or HSMs
//! are shown to the root identity only.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::node::Node;

/// Request latency buckets, in seconds: from a fast read (tens of µs) to a slow HSM call.
const BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5,
];

fn handle() -> &'static Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .ok()?
            .build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).ok()?;
        Some(handle)
    })
}

/// Installs the recorder (once per process).
pub(crate) fn install() {
    let _ = handle();
}

/// Counts one API request and its latency.
///
/// The handles of each (command, status) are looked up once and kept: building a metric key
/// per request (label strings, a registry lookup) would cost more than the crypto it measures.
pub(crate) fn record(command: &'static str, status: u16, elapsed: Duration) {
    type Handles = (metrics::Counter, metrics::Histogram);
    static CACHE: OnceLock<parking_lot::RwLock<HashMap<(&'static str, u16), Handles>>> =
        OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some((counter, histogram)) = cache.read().get(&(command, status)) {
        counter.increment(1);
        histogram.record(elapsed.as_secs_f64());
        return;
    }
    let counter = metrics::counter!("minkms_http_requests_total", "command" => command, "status" => status.to_string());
    let histogram =
        metrics::histogram!("minkms_http_request_duration_seconds", "command" => command);
    counter.increment(1);
    histogram.record(elapsed.as_secs_f64());
    cache
        .write()
        .insert((command, status), (counter, histogram));
}

fn gauge(out: &mut String, name: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

fn label(key: &str, value: &str) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("{{{key}=\"{escaped}\"}}")
}

/// The metrics text. `node` is `None` while sealed; `detailed` (the root) adds series that name enclaves and HSMs.
pub(crate) fn render(node: Option<&Node>, detailed: bool) -> String {
    let mut out = handle().as_ref().map(|h| h.render()).unwrap_or_default();
    gauge(
        &mut out,
        "minkms_sealed",
        "1 while no HSM has unsealed the root encryption key.",
        &[(String::new(), f64::from(u8::from(node.is_none())))],
    );
    let Some(node) = node else { return out };
    let status = node.status();
    gauge(
        &mut out,
        "minkms_commit",
        "State changes applied on this node.",
        &[(String::new(), status.commit as f64)],
    );
    gauge(
        &mut out,
        "minkms_uptime_seconds",
        "Seconds since this node started.",
        &[(String::new(), node.started.elapsed().as_secs_f64())],
    );
    gauge(
        &mut out,
        "minkms_node_role",
        "This node's role (1 for the current one).",
        &[(label("role", &status.role), 1.0)],
    );
    gauge(
        &mut out,
        "minkms_cluster_nodes",
        "Nodes in this node's cluster definition.",
        &[(String::new(), status.nodes.len() as f64)],
    );
    let state = node.keystore.state();
    gauge(
        &mut out,
        "minkms_enclaves",
        "Enclaves on this node.",
        &[(String::new(), state.enclave_count() as f64)],
    );
    if detailed {
        // HSM ids name tokens, remote enclaves and device serials: for the root only.
        let sealed: Vec<(String, f64)> = status
            .hsm_active
            .iter()
            .map(|h| (label("hsm", h), f64::from(u8::from(status.hsm.contains(h)))))
            .collect();
        gauge(
            &mut out,
            "minkms_hsm_sealed_root_key",
            "Whether a configured HSM holds a sealed copy of the root key.",
            &sealed,
        );
        let keys: Vec<(String, f64)> = state
            .enclave_key_counts()
            .into_iter()
            .map(|(e, n)| (label("enclave", &e), n as f64))
            .collect();
        gauge(&mut out, "minkms_keys", "Master keys per enclave.", &keys);
    }
    out
}
