//! One enclave with many keys (`cargo bench -p minkms --bench scale`): `MINKMS_BENCH_KEYS` keys
//! (default 10,000,000) built straight into a node's `kms.db`, then a release `minkms` started on
//! it, measuring:
//!
//! - start-up: from spawning the process to its "Server is up" banner (every record read,
//!   opened and decoded into memory), for the first start after the build, a restart after a
//!   clean stop (SIGTERM) and a restart after a crash (SIGKILL: redb repairs the file first);
//! - memory: the server's resident set after start-up and its peak (`VmRSS`, `VmHWM`);
//! - lookup latency: `MINKMS_BENCH_LOOKUPS` (default 10,000) sequential `KEY:STATUS` and as many
//!   `KEY:GENERATE` of random keys, one request in flight;
//! - `ls-key` paging: every key listed in pages of 1,000 (what `minkms ls-key` asks for), the time
//!   per page and in all; and one page from the middle of the enclave.
//!
//! Without `--bench` (`cargo test --benches`) it is a smoke run of 2,000 keys.
//!
//! `MINKMS_BENCH_DIR=DIR` keeps the node's directory (and its soft HSM key, in `DIR.hsm-key`)
//! and, when it already holds a `kms.db`, starts on it without building one: repeated start-up
//! measurements of the same database skip the build.

mod common;

use std::time::{Duration, Instant};

use common::{build_keystore, key_name};
use hdrhistogram::Histogram;
use minkms_testkit::{client_for as client, free_port, runtime, soft_hsm_key, Member, Node};
use rand::Rng;

/// A `/proc/<pid>/status` field, in MiB.
fn status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

/// The CPU time (user and system) a process has used so far, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).unwrap()
}

fn percentiles(h: &Histogram<u64>) -> serde_json::Value {
    serde_json::json!({
        "n": h.len(), "p50_us": h.value_at_quantile(0.5), "p99_us": h.value_at_quantile(0.99),
        "p999_us": h.value_at_quantile(0.999), "max_us": h.max(),
    })
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (keys, lookups) = if smoke {
        (2_000, 200)
    } else {
        (
            env("MINKMS_BENCH_KEYS", 10_000_000),
            env("MINKMS_BENCH_LOOKUPS", 10_000),
        )
    };
    let tmp = tempfile::tempdir().unwrap();
    let (dir, key_file) = match std::env::var_os("MINKMS_BENCH_DIR") {
        Some(d) => {
            let dir = std::path::PathBuf::from(d);
            let key_file = dir.with_extension("hsm-key");
            (dir, key_file)
        }
        None => (tmp.path().join("node"), tmp.path().join("hsm-key")),
    };
    let (hsm_key, build_secs) = match std::fs::read_to_string(&key_file) {
        Ok(key) if dir.join("kms.db").exists() => (key, None),
        _ => {
            let hsm_key = soft_hsm_key();
            let started = Instant::now();
            build_keystore(&dir, &hsm_key, keys);
            std::fs::write(&key_file, &hsm_key).unwrap();
            (hsm_key, Some(started.elapsed().as_secs_f64()))
        }
    };
    let db_bytes = std::fs::metadata(dir.join("kms.db")).unwrap().len();

    let member = Member::at(dir, format!("127.0.0.1:{}", free_port()));
    // A start of the node: it, the seconds to its banner and its CPU seconds by then.
    let start = || {
        let started = Instant::now();
        let node: Node = member.start_within(
            &hsm_key,
            &[("MINIO_KMS_LOG_LEVEL", "warn")],
            Duration::from_secs(1800),
        );
        let secs = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds(node.pid());
        (node, secs, cpu)
    };
    let (node, startup_secs, startup_cpu_secs) = start();
    let rss_up = status_mib(node.pid(), "VmRSS:");

    let rt = runtime();
    let c = client(&member.addr, &node.root_api_key);
    let (status, generate, pages, middle, listed) = rt.block_on(async {
        let mut rng = rand::thread_rng();
        let (mut status, mut generate) = (histogram(), histogram());
        for _ in 0..lookups {
            let name = key_name(rng.gen_range(0..keys));
            let t = Instant::now();
            c.key_status("bench", &name, 0).await.unwrap();
            status.record(t.elapsed().as_micros() as u64).unwrap();
            let name = key_name(rng.gen_range(0..keys));
            let t = Instant::now();
            c.generate_key("bench", &name, b"{}", 32).await.unwrap();
            generate.record(t.elapsed().as_micros() as u64).unwrap();
        }
        let mut pages = histogram();
        let mut listed = 0usize;
        let mut continue_at = String::new();
        let all = Instant::now();
        loop {
            let t = Instant::now();
            let page = c.list_keys("bench", "", &continue_at, 1000).await.unwrap();
            pages.record(t.elapsed().as_micros() as u64).unwrap();
            listed += page.keys.len();
            if page.continue_at.is_empty() {
                break;
            }
            continue_at = page.continue_at;
        }
        let all = all.elapsed();
        let t = Instant::now();
        let page = c
            .list_keys("bench", "", &key_name(keys / 2), 1000)
            .await
            .unwrap();
        assert_eq!(page.keys[0].name, key_name(keys / 2));
        (status, generate, (pages, all), t.elapsed(), listed)
    });
    assert_eq!(listed, keys, "every key is listed once");
    let rss_after = status_mib(node.pid(), "VmRSS:");
    let rss_peak = status_mib(node.pid(), "VmHWM:");
    let (pages, list_all): (Histogram<u64>, Duration) = pages;

    // Restarts: after a clean stop, and after a crash (SIGKILL), which needs redb's repair.
    node.terminate();
    let (node, restart_secs, restart_cpu_secs) = start();
    node.kill();
    let (node, crash_secs, crash_cpu_secs) = start();
    let crash_peak = status_mib(node.pid(), "VmHWM:");
    let last = key_name(keys - 1);
    let back = rt.block_on(client(&member.addr, &node.root_api_key).key_status("bench", &last, 0));
    assert_eq!(
        back.unwrap().name,
        last,
        "every key is back after the crash"
    );
    let report = serde_json::json!({
        "keys": keys,
        "build_seconds": build_secs,
        "db_bytes": db_bytes,
        "startup_seconds": startup_secs,
        "startup_cpu_seconds": startup_cpu_secs,
        "restart_seconds": restart_secs,
        "restart_cpu_seconds": restart_cpu_secs,
        "restart_after_crash_seconds": crash_secs,
        "restart_after_crash_cpu_seconds": crash_cpu_secs,
        "rss_mib_peak_restart_after_crash": crash_peak,
        "rss_mib_after_startup": rss_up,
        "rss_mib_after_load": rss_after,
        "rss_mib_peak": rss_peak,
        "rss_bytes_per_key": rss_up * 1024.0 * 1024.0 / keys as f64,
        "key_status": percentiles(&status),
        "generate": percentiles(&generate),
        "list_page_1000": percentiles(&pages),
        "list_all_seconds": list_all.as_secs_f64(),
        "list_middle_page_us": middle.as_micros() as u64,
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    drop(node);
}
