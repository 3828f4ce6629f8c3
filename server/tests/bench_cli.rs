//! `minkms bench` drives a real node and reports what it measured (a smoke test of the tool:
//! no figure is asserted, only that it ran requests, without errors, and says so in JSON).

use std::process::Command;

use minkms_testkit::{bin, soft_hsm_key, Node};

#[test]
fn bench_reports_ops_latency_and_server_cpu() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("kms"), &soft_hsm_key());
    let pid = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.contains(node.dir.to_str().unwrap()))
        })
        .expect("the node's pid");
    for (op, http, batch) in [
        ("generate", "2", "4"),
        ("decrypt", "1", "1"),
        ("key-create", "1", "1"),
    ] {
        let out = Command::new(bin())
            .args([
                "bench",
                "-k",
                "-s",
                &node.endpoint,
                "-a",
                &node.root_api_key,
                "--json",
                "--duration",
                "1",
                "--warmup",
                "0",
            ])
            .args([
                "--connections",
                "2",
                "--op",
                op,
                "--http",
                http,
                "--batch",
                batch,
                "--server-pid",
                &pid.to_string(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["op"], op);
        assert_eq!(report["errors"], 0, "{report}");
        assert!(report["ops"].as_u64().unwrap() > 0, "{report}");
        assert_eq!(
            report["ops"].as_u64().unwrap(),
            report["requests"].as_u64().unwrap() * batch.parse::<u64>().unwrap()
        );
        assert!(
            report["latency_us"]["p99"].as_u64().unwrap()
                >= report["latency_us"]["p50"].as_u64().unwrap()
        );
        assert!(report["server_cpu_us_per_op"].is_number(), "{report}");
    }
}
