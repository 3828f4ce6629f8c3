//! A node that runs for days: memory, open files and tasks stay bounded under a mixed load
//! (`minkms bench --soak`, a short version of the 30-minute soak in BENCHMARKING.md), and log
//! rotation reopens the audit log on SIGHUP without losing an event.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use minkms_testkit::{bin, metric, runtime, soft_hsm_key, Member, Node};

/// Runs `minkms bench --soak` against `servers` and returns its JSON report. One soak at a
/// time: two would share the machine's cores and each see too few requests to measure.
fn soak(servers: &str, root: &str, extra: &[&str]) -> serde_json::Value {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new(bin())
        .args(["bench", "--soak", "-k", "--json", "-s", servers, "-a", root])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The trend of the series named `name` (`"pid 123 resident_bytes"`).
fn trend<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let t = &report["trends"][name];
    assert!(t.is_object(), "no series {name} in {}", report["trends"]);
    t
}

/// With nobody scraping the metrics, a node's memory stays flat: the latency of every
/// request used to be kept until the next scrape (~20 bytes a request, without end).
#[test]
fn a_node_nobody_scrapes_keeps_its_memory_flat() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms"), &soft_hsm_key());
    let pid = node.pid().to_string();
    let report = soak(
        &node.endpoint,
        &node.root_api_key,
        &[
            "--no-scrape",
            "--server-pid",
            &pid,
            "--duration",
            "45",
            "--warmup",
            "15",
            "--sample",
            "2",
            "--connections",
            "4",
            "--concurrency",
            "8",
        ],
    );
    eprintln!("{} requests {}", report["requests"], report["trends"]);
    assert_eq!(report["errors"], 0, "{report}");
    let requests = report["requests"].as_u64().unwrap();
    assert!(
        requests > 50_000,
        "too few requests to see growth: {requests}"
    );
    for op in [
        "generate",
        "decrypt",
        "encrypt",
        "hmac",
        "key-create-delete",
    ] {
        assert!(
            report["ops"][op]["requests"].as_u64().unwrap() > 0,
            "{op} never ran: {report}"
        );
    }
    let rss = trend(&report, &format!("pid {pid} resident_bytes"));
    let per_million = rss["per_million_requests"].as_f64().unwrap();
    // Without upkeep it grew ~21 MB per million requests here; with it, ~2 (allocator noise).
    assert!(
        per_million < 8.0 * 1024.0 * 1024.0,
        "resident memory grows {:.1} MB per million requests: {rss}",
        per_million / 1e6
    );
    let fds = trend(&report, &format!("pid {pid} open_fds"));
    assert!(
        fds["max"].as_f64().unwrap() < fds["start"].as_f64().unwrap() + 64.0,
        "open files grow: {fds}"
    );
}

/// A three-node cluster under the mixed load (writes replicated, reads everywhere, reconnects)
/// keeps its tasks, files and memory bounded on every node, read through its metrics.
#[test]
fn a_cluster_under_mixed_load_keeps_tasks_files_and_memory_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let key = soft_hsm_key();
    let m: Vec<Member> = (0..3)
        .map(|i| Member::new(tmp.path(), &format!("kms{i}")))
        .collect();
    let nodes: Vec<Node> = m.iter().map(|m| m.start(&key)).collect();
    let root = nodes[0].root_api_key.clone();
    nodes[0].cli(&["add", &m[1].addr]);
    nodes[0].cli(&["add", &m[2].addr]);
    let servers = m
        .iter()
        .map(|m| m.addr.as_str())
        .collect::<Vec<_>>()
        .join(",");
    // Writes wait for every member: give the cluster its first commit before loading it.
    wait_for("the cluster to take writes", || {
        nodes[0]
            .cli_as(&root, &["add-enclave", "bench"])
            .status
            .success()
    });
    let report = soak(
        &servers,
        &root,
        &[
            "--duration",
            "50",
            "--warmup",
            "10",
            "--sample",
            "2",
            "--connections",
            "3",
            "--concurrency",
            "4",
        ],
    );
    eprintln!("{} requests {}", report["requests"], report["trends"]);
    assert_eq!(report["errors"], 0, "{report}");
    assert!(
        report["ops"]["key-create-delete"]["requests"]
            .as_u64()
            .unwrap()
            > 0
    );
    for member in &m {
        let tasks = trend(&report, &format!("{} tasks", member.addr));
        // Tasks follow connections and requests in flight: bounded by the load, not by time.
        assert!(
            tasks["max"].as_f64().unwrap() < 200.0,
            "{}: tasks grow: {tasks}",
            member.addr
        );
        let fds = trend(&report, &format!("{} open_fds", member.addr));
        assert!(
            fds["max"].as_f64().unwrap() < fds["start"].as_f64().unwrap() + 64.0,
            "{}: open files grow: {fds}",
            member.addr
        );
        let rss = trend(&report, &format!("{} resident_bytes", member.addr));
        assert!(
            rss["end"].as_f64().unwrap() < rss["start"].as_f64().unwrap() + 16.0 * 1048576.0,
            "{}: memory grows: {rss}",
            member.addr
        );
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn events(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `mv audit.log audit.log.1; kill -HUP`: the node keeps serving, later events land in a new
/// `audit.log`, and every request made around the rotation is in exactly one of the two.
#[test]
fn sighup_reopens_the_audit_log_and_loses_no_event() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("audit.log");
    let node = Node::start_with_audit(tmp.path(), &log);
    let root = Arc::new(node.root());
    let rt = runtime();
    rt.block_on(async {
        root.create_enclave("tenant").await.unwrap();
        root.create_key("tenant", "k", "", false).await.unwrap();
    });
    // Requests keep coming while the log is rotated.
    let sent = Arc::new(AtomicU64::new(2));
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (root, sent, stop) = (root.clone(), sent.clone(), stop.clone());
        rt.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                root.generate_key("tenant", "k", b"{}", 32).await.unwrap();
                sent.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    wait_for("events in the first file", || events(&log).len() > 20);
    let rotated = tmp.path().join("audit.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    node.signal("HUP");
    wait_for("a new audit.log", || log.exists());
    let before = sent.load(Ordering::Relaxed);
    wait_for("events in the new file", || {
        sent.load(Ordering::Relaxed) > before + 20
    });
    stop.store(true, Ordering::Relaxed);
    rt.block_on(load).unwrap();
    // The node still serves, and says why it reopened.
    rt.block_on(root.generate_key("tenant", "k", b"{}", 32))
        .unwrap();
    sent.fetch_add(1, Ordering::Relaxed);
    assert!(
        node.logs().contains("audit log reopened"),
        "{}",
        node.logs()
    );
    let mode = |p: &Path| {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(&log), 0o600, "the new audit log is the node's alone");
    assert_eq!(node.terminate(), Some(0));

    let old = events(&rotated);
    let new = events(&log);
    assert!(
        old.len() > 20 && new.len() > 20,
        "{} + {}",
        old.len(),
        new.len()
    );
    assert_eq!(
        (old.len() + new.len()) as u64,
        sent.load(Ordering::Relaxed),
        "every request is in exactly one file"
    );
    // Rotation splits the stream in time: nothing in the old file is newer than the new one's
    // first event.
    let time = |e: &serde_json::Value| e["time"].as_str().unwrap().to_string();
    assert!(time(old.last().unwrap()) <= time(&new[0]));
}

/// An audit log on a device that refuses every write (a full disk): the node serves, and what
/// it could not write is counted as dropped.
#[test]
fn a_full_audit_disk_does_not_stop_the_node() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start_with_audit(tmp.path(), Path::new("/dev/full"));
    let root = node.root();
    let rt = runtime();
    rt.block_on(async {
        root.create_enclave("tenant").await.unwrap();
        root.create_key("tenant", "k", "", false).await.unwrap();
        for _ in 0..200 {
            root.generate_key("tenant", "k", b"{}", 32).await.unwrap();
        }
    });
    node.signal("HUP");
    rt.block_on(root.generate_key("tenant", "k", b"{}", 32))
        .unwrap();
    let dropped = || metric(&node.scrape(), "minkms_audit_events_dropped_total").unwrap_or(0.0);
    // The writer drops in the background: all 203 events, eventually.
    wait_for("the dropped events counted", || dropped() >= 203.0);
    assert_eq!(node.terminate(), Some(0));
}
