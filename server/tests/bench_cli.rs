//! `minkms bench` drives a real node and reports what it measured (a smoke test of the tool:
//! no figure is asserted, only that it ran requests, without errors, and says so in JSON).

use std::process::Command;
use std::time::Duration;

use minkms_testkit::{bin, free_port, soft_hsm_key, Node};

/// The pid of the process whose command line names `needle`.
fn pid_of(needle: &str) -> u32 {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.contains(needle))
        })
        .expect("the server's pid")
}

/// Runs `minkms bench` against `endpoint` for a second with `args` added; its JSON report.
fn bench(endpoint: &str, api_key: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(bin())
        .args([
            "bench",
            "-k",
            "-s",
            endpoint,
            "-a",
            api_key,
            "--json",
            "--duration",
            "1",
            "--warmup",
            "0",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What every report of a run without errors says.
fn assert_clean(report: &serde_json::Value, op: &str, batch: u64) {
    assert_eq!(report["op"], op);
    assert_eq!(report["errors"], 0, "{report}");
    assert!(report["ops"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(
        report["ops"].as_u64().unwrap(),
        report["requests"].as_u64().unwrap() * batch
    );
    assert!(
        report["latency_us"]["p99"].as_u64().unwrap()
            >= report["latency_us"]["p50"].as_u64().unwrap()
    );
}

#[test]
fn bench_reports_ops_latency_and_server_cpu() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms"), &soft_hsm_key());
    let pid = pid_of(node.dir.to_str().unwrap()).to_string();
    for (op, http, batch) in [
        ("generate", "2", "4"),
        ("decrypt", "1", "1"),
        ("key-create", "1", "1"),
    ] {
        let report = bench(
            &node.endpoint,
            &node.root_api_key,
            &[
                "--connections",
                "2",
                "--op",
                op,
                "--http",
                http,
                "--batch",
                batch,
                "--server-pid",
                &pid,
            ],
        );
        assert_clean(&report, op, batch.parse().unwrap());
        assert!(report["server_cpu_us_per_op"].is_number(), "{report}");
    }
}

/// A node with one runtime worker runs on a current-thread runtime: both HTTP versions, many
/// streams and connections at once, writes (fsynced, through the blocking pool) and reads,
/// from a load spread over several threads.
#[test]
fn a_node_on_one_worker_serves_reads_and_writes_on_both_http_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::launch(
        &tmp.path().join("kms"),
        &[],
        &[
            ("MINIO_KMS_HSM_KEY", &soft_hsm_key()),
            ("TOKIO_WORKER_THREADS", "1"),
        ],
        Duration::from_secs(30),
    )
    .unwrap();
    for (op, http, batch) in [
        ("generate", "2", "3"),
        ("hmac", "1", "2"),
        ("encrypt", "2", "1"),
        ("key-create", "2", "1"),
        ("key-create", "1", "1"),
    ] {
        let report = bench(
            &node.endpoint,
            &node.root_api_key,
            &[
                "--connections",
                "3",
                "--concurrency",
                "4",
                "--threads",
                "2",
                "--op",
                op,
                "--http",
                http,
                "--batch",
                batch,
            ],
        );
        assert_clean(&report, op, batch.parse().unwrap());
    }
    let keys = node.cli(&["ls-key", "--enclave", "bench", "--json"]);
    assert!(
        keys.matches("\"bench-").count() > 2,
        "the keys bench created: {keys}"
    );
}

/// An answer without the frames asked for is an error, not an operation: the baseline answers
/// nothing but `KEY:GENERATE`, so a MAC load of it counts only errors.
#[test]
fn answers_without_the_frames_asked_for_are_errors() {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut baseline = Command::new(bin())
        .args(["bench-baseline", "--addr", &addr])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let key = minkms_client::ApiKey::generate().to_secret_string();
    let up = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        std::net::TcpStream::connect(&addr).is_ok()
    });
    assert!(up, "the baseline never listened on {addr}");
    for http in ["1", "2"] {
        let report = bench(&addr, &key, &["--op", "hmac", "--http", http]);
        assert_eq!(report["ops"], 0, "{report}");
        assert!(report["errors"].as_u64().unwrap() > 0, "{report}");
        let report = bench(
            &addr,
            &key,
            &["--op", "generate", "--http", http, "--batch", "2"],
        );
        assert_clean(&report, "generate", 2);
    }
    let _ = baseline.kill();
    let _ = baseline.wait();
}
