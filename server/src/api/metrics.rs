//! Prometheus metrics on `GET /v1/health/metrics` (API.md): request counters and latency
//! histograms by command and status, recorded through the `metrics` facade, plus gauges read
//! from the node at scrape time. Anyone may scrape; series that name enclaves or HSMs
//! are shown to the root identity only.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::node::state::Node;

/// A member that answered within this many seconds counts as up: twice the heartbeat
/// interval, so one lost heartbeat does not flap the gauge.
const PEER_FRESH: f64 = 3.0;

/// Request latency buckets, in seconds: from a fast read (tens of µs) to a slow HSM call.
const BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5,
];

/// How often recorded latencies are folded into their histograms' buckets.
///
/// The recorder keeps every sample until upkeep (or a scrape) folds it in: a node that nobody
/// scrapes would grow by every request it serves. Between two upkeeps it holds at most this
/// long's samples, about 8 bytes each.
const UPKEEP: Duration = Duration::from_secs(5);

fn handle() -> &'static Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .ok()?
            .build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).ok()?;
        let upkeep = handle.clone();
        // A thread, not a task: it needs no runtime and outlives none.
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP);
                upkeep.run_upkeep();
            })
            .ok()?;
        Some(handle)
    })
}

/// Installs the recorder and starts its upkeep (once per process).
pub(crate) fn install() {
    let _ = handle();
    // Served from the start, so a dashboard shows 0 rather than "no data".
    metrics::counter!("minkms_audit_events_dropped_total").increment(0);
    metrics::counter!("minkms_connections_evicted_total").increment(0);
    metrics::counter!("minkms_connections_refused_total").increment(0);
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
    process_gauges(&mut out);
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
    let core = node.cluster.status();
    gauge(
        &mut out,
        "minkms_term",
        "The replication term this node is in (grows with every election).",
        &[(String::new(), core.term as f64)],
    );
    gauge(
        &mut out,
        "minkms_writable",
        "1 on the leader while it takes writes (every member answered lately), 0 on other nodes.",
        &[(String::new(), f64::from(u8::from(status.write_ready)))],
    );
    let peers: Vec<(String, Option<f64>)> = peer_ages(&core, node.cluster.now())
        .into_iter()
        .map(|(id, age)| (label("node", &id.to_string()), age))
        .collect();
    gauge(
        &mut out,
        "minkms_peer_up",
        "1 for each member this node exchanges messages with that answered within 3 s.",
        &peers
            .iter()
            .map(|(l, age)| {
                (
                    l.clone(),
                    f64::from(u8::from(age.is_some_and(|a| a < PEER_FRESH))),
                )
            })
            .collect::<Vec<_>>(),
    );
    gauge(
        &mut out,
        "minkms_peer_last_answer_seconds",
        "Seconds since each member this node exchanges messages with last answered.",
        &peers
            .iter()
            .filter_map(|(l, age)| age.map(|a| (l.clone(), a)))
            .collect::<Vec<_>>(),
    );
    gauge(
        &mut out,
        "minkms_open_slot_age_seconds",
        "How long this node has held a prepared, uncommitted write at the same index (0: none).",
        &[(
            String::new(),
            node.cluster
                .open_slot_age()
                .map_or(0.0, |age| age.as_secs_f64()),
        )],
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
        let probes = node.hsm_probes.lock().clone();
        let mut probes: Vec<_> = probes.into_iter().collect();
        probes.sort_by(|a, b| a.0.cmp(&b.0));
        gauge(
            &mut out,
            "minkms_hsm_up",
            "1 if the HSM's last probe (a seal and unseal round trip, once a minute) worked.",
            &probes
                .iter()
                .map(|(h, p)| (label("hsm", h), f64::from(u8::from(p.up))))
                .collect::<Vec<_>>(),
        );
        gauge(
            &mut out,
            "minkms_hsm_probe_seconds",
            "How long the HSM's last probe took.",
            &probes
                .iter()
                .map(|(h, p)| (label("hsm", h), p.seconds))
                .collect::<Vec<_>>(),
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

/// What a node that runs for days must keep bounded: resident memory, open files, live tasks
/// (the names of Prometheus's process collector where it has one).
fn process_gauges(out: &mut String) {
    use crate::procfs::Pid;
    let reading = |r: anyhow::Result<u64>| r.ok().map(|v| vec![(String::new(), v as f64)]);
    if let Some(rss) = reading(Pid::Current.resident_bytes()) {
        gauge(
            out,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            &rss,
        );
    }
    if let Some(fds) = reading(Pid::Current.open_fds()) {
        gauge(
            out,
            "process_open_fds",
            "Number of open file descriptors.",
            &fds,
        );
    }
    if let Some(threads) = reading(Pid::Current.threads()) {
        gauge(
            out,
            "process_threads",
            "Number of OS threads in the process.",
            &threads,
        );
    }
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        gauge(
            out,
            "minkms_tokio_tasks",
            "Tasks alive in the node's async runtime (connections, requests, peer links).",
            &[(String::new(), runtime.metrics().num_alive_tasks() as f64)],
        );
    }
}

/// Seconds since each member this node talks to last answered it (`None`: not since start).
/// A leader talks to every member, a follower only to its leader (followers never message
/// each other), a node without a leader to every member it asked for votes.
fn peer_ages(
    core: &minkms_replication::Status,
    now: u64,
) -> Vec<(minkms_replication::NodeId, Option<f64>)> {
    let age = |t: Option<u64>| t.map(|t| now.saturating_sub(t) as f64 / 1000.0);
    match (core.role, core.leader) {
        (minkms_replication::Role::Follower, Some(leader)) if leader != core.id => {
            vec![(leader, age(core.last_heartbeat))]
        }
        _ => core
            .config
            .members
            .keys()
            .filter(|id| **id != core.id)
            .map(|id| (*id, age(core.peers.get(id).and_then(|p| p.last_ack))))
            .collect(),
    }
}
