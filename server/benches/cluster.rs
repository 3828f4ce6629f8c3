//! Cluster benchmarks on loopback (`cargo bench -p minkms --bench cluster`):
//!
//! 1. key-create latency on a 3-node cluster: sequential `KEY:CREATE`s sent to the leader and to
//!    a follower (which forwards them), each committed on all three nodes (prepare, acks,
//!    apply; two fsyncs on each node);
//! 2. failover: SIGKILL the leader, time until another node reports itself leader, and until a
//!    write through a survivor commits again (with the dead node still a member, writes need
//!    it back: the second time includes restarting it).
//!
//! `MINKMS_BENCH_CREATES` (default 500) creates per target, `MINKMS_BENCH_FAILOVERS` (default
//! 10) leader kills. Results go to stdout as a table and as one JSON line.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use minkms_testkit::{client_for as client, free_port, runtime, soft_hsm_key, Node};

struct Member {
    dir: std::path::PathBuf,
    addr: String,
    node: Option<Node>,
}

fn start(m: &Member, key: &str) -> Node {
    minkms_testkit::Member::at(m.dir.clone(), m.addr.clone())
        .start_with(key, &[("MINIO_KMS_LOG_LEVEL", "warn")])
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn micros(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it with no argument: then
    // only a smoke run.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let creates = if smoke {
        20
    } else {
        env_or("MINKMS_BENCH_CREATES", 500)
    };
    let failovers = if smoke {
        1
    } else {
        env_or("MINKMS_BENCH_FAILOVERS", 10)
    };
    let tmp = tempfile::tempdir().unwrap();
    let key = soft_hsm_key();
    let mut members: Vec<Member> = (0..3)
        .map(|i| Member {
            dir: tmp.path().join(format!("kms{i}")),
            addr: format!("127.0.0.1:{}", free_port()),
            node: None,
        })
        .collect();
    for m in members.iter_mut() {
        m.node = Some(start(m, &key));
    }
    let root = members[0].node.as_ref().unwrap().root_api_key.clone();
    let rt = runtime();
    let first = client(&members[0].addr, &root);
    rt.block_on(async {
        for m in &members[1..] {
            first.add_node(&m.addr).await.unwrap();
        }
        first.create_enclave("bench").await.unwrap();
    });

    // 1. Key-create latency, leader and follower.
    let leader = leader_of(&rt, &members, &root).expect("a leader");
    let follower = (0..3).find(|i| *i != leader).unwrap();
    let mut report = Vec::new();
    for (label, target) in [("leader", leader), ("follower", follower)] {
        let c = client(&members[target].addr, &root);
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        let started = Instant::now();
        rt.block_on(async {
            for i in 0..creates {
                let t = Instant::now();
                c.create_key("bench", &format!("{label}-{i}"), "", false)
                    .await
                    .unwrap();
                h.record(t.elapsed().as_micros() as u64).unwrap();
            }
        });
        let secs = started.elapsed().as_secs_f64();
        println!(
            "key-create via {label:<8} n={creates:<5} {:>7.0} ops/s  p50 {:>6.0} µs  p90 {:>6.0} µs  p99 {:>6.0} µs  max {:>6.0} µs",
            creates as f64 / secs,
            micros(&h, 0.5),
            micros(&h, 0.9),
            micros(&h, 0.99),
            h.max() as f64
        );
        report.push(serde_json::json!({
            "bench": format!("key-create-{label}"), "n": creates,
            "ops_per_s": creates as f64 / secs, "p50_us": micros(&h, 0.5),
            "p90_us": micros(&h, 0.9), "p99_us": micros(&h, 0.99), "max_us": h.max(),
        }));
    }

    // 2. Failover.
    let (mut elected, mut writable) = (Vec::new(), Vec::new());
    for round in 0..failovers {
        let old = leader_of(&rt, &members, &root).expect("a leader");
        let killed_at = Instant::now();
        members[old].node.take().unwrap().kill();
        let survivors: Vec<usize> = (0..3).filter(|i| *i != old).collect();
        // Until a survivor says it leads.
        loop {
            if let Some(l) = leader_of(&rt, &members, &root) {
                if l != old {
                    break;
                }
            }
            assert!(
                killed_at.elapsed() < Duration::from_secs(30),
                "no new leader"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        elected.push(killed_at.elapsed());
        // Writes need every member: restart the dead node, then until a write commits.
        members[old].node = Some(start(&members[old], &key));
        let c = client(&members[survivors[0]].addr, &root);
        loop {
            let ok = rt.block_on(async {
                tokio::time::timeout(
                    Duration::from_secs(2),
                    c.create_key(
                        "bench",
                        &format!("failover-{round}-{}", rand::random::<u32>()),
                        "",
                        false,
                    ),
                )
                .await
            });
            if matches!(ok, Ok(Ok(()))) {
                break;
            }
            assert!(
                killed_at.elapsed() < Duration::from_secs(60),
                "no write after failover"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        writable.push(killed_at.elapsed());
    }
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    let summary = |v: &mut Vec<Duration>| {
        v.sort();
        (ms(&v[0]), ms(&v[v.len() / 2]), ms(&v[v.len() - 1]))
    };
    let (e_min, e_med, e_max) = summary(&mut elected);
    let (w_min, w_med, w_max) = summary(&mut writable);
    println!(
        "leader SIGKILL → new leader    n={failovers:<3} min {e_min:>6.0} ms  median {e_med:>6.0} ms  max {e_max:>6.0} ms"
    );
    println!(
        "leader SIGKILL → write commits n={failovers:<3} min {w_min:>6.0} ms  median {w_med:>6.0} ms  max {w_max:>6.0} ms  (includes restarting the killed node)"
    );
    report.push(serde_json::json!({"bench": "failover-new-leader", "n": failovers, "min_ms": e_min, "median_ms": e_med, "max_ms": e_max}));
    report.push(serde_json::json!({"bench": "failover-writable", "n": failovers, "min_ms": w_min, "median_ms": w_med, "max_ms": w_max}));
    println!("{}", serde_json::Value::Array(report));
}

/// The node that reports itself leader, asking every live member directly.
fn leader_of(rt: &tokio::runtime::Runtime, members: &[Member], root: &str) -> Option<usize> {
    rt.block_on(async {
        for (i, m) in members.iter().enumerate() {
            if m.node.is_none() {
                continue;
            }
            let c = client(&m.addr, root);
            let status = tokio::time::timeout(Duration::from_millis(500), c.cluster_status()).await;
            if let Ok(Ok(s)) = status {
                if let Some((_, me)) = s.nodes_up.iter().find(|(_, n)| n.host == m.addr) {
                    if me.role == "Leader" {
                        return Some(i);
                    }
                }
            }
        }
        None
    })
}
