//! Cluster benchmarks on loopback (`cargo bench -p minkms --bench cluster`):
//!
//! 1. key-create latency on a 3-node cluster: sequential `KEY:CREATE`s sent to the leader and to
//!    a follower (which forwards them), each committed on all three nodes (prepare, acks,
//!    apply; two fsyncs on each node);
//! 2. faults, on the leader and on a follower: SIGKILL and restart, SIGSTOP for 1 s and for 4 s
//!    (longer than any election timeout), SIGKILL and `edit --rm` at once (a node lost for
//!    good). For each, the time until a survivor answers a read, and the time until a write
//!    through a survivor commits again: writes need every member, so after a crash it includes
//!    restarting the node, after a pause it counts from SIGCONT.
//!
//! `MINKMS_BENCH_CREATES` (default 500) creates per target, `MINKMS_BENCH_FAILOVERS` (default
//! 10) rounds of each fault. Results go to stdout as a table and as one JSON line.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use minkms_client::Client;
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

    // 2. Faults: how long until writes resume, and whether survivors keep reading.
    rt.block_on(first.create_key("bench", "probe", "", false))
        .unwrap();
    let mut cluster = Cluster {
        members,
        key,
        root,
        rt,
    };
    for fault in FAULTS {
        for target in [Role::Leader, Role::Follower] {
            let mut reads = Vec::new();
            let mut writes = Vec::new();
            for round in 0..failovers {
                let sample = cluster.measure(*fault, target, round);
                reads.push(sample.read);
                writes.push(sample.write);
            }
            let (r_min, r_med, r_max) = summary(&mut reads);
            let (w_min, w_med, w_max) = summary(&mut writes);
            let name = format!("{} the {}", fault.name(), target.name());
            println!(
                "{name:<34} n={failovers:<3} survivor reads after {r_med:>5.0} ms (max {r_max:>5.0})  writes resume {} after min {w_min:>5.0} ms  median {w_med:>5.0} ms  max {w_max:>5.0} ms",
                fault.from()
            );
            report.push(serde_json::json!({
                "bench": format!("fault-{}-{}", fault.slug(), target.name()), "n": failovers,
                "read_min_ms": r_min, "read_median_ms": r_med, "read_max_ms": r_max,
                "write_from": fault.from(), "write_min_ms": w_min, "write_median_ms": w_med,
                "write_max_ms": w_max,
            }));
        }
    }
    println!("{}", serde_json::Value::Array(report));
}

fn summary(v: &mut [Duration]) -> (f64, f64, f64) {
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    v.sort();
    (ms(&v[0]), ms(&v[v.len() / 2]), ms(&v[v.len() - 1]))
}

/// A fault on one node.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// SIGKILL, then restarted at once from its data directory.
    Crash,
    /// SIGSTOP for this long, then SIGCONT (a VM pause, a swap storm).
    Pause(Duration),
    /// SIGKILL and gone for good: `edit --rm` on a survivor at once, then writes on two nodes.
    Lost,
}

const FAULTS: &[Fault] = &[
    Fault::Crash,
    Fault::Pause(Duration::from_millis(1000)),
    Fault::Pause(Duration::from_millis(4000)),
    Fault::Lost,
];

impl Fault {
    fn name(&self) -> String {
        match self {
            Fault::Crash => "SIGKILL and restart".into(),
            Fault::Pause(d) => format!("SIGSTOP {:.0} s,", d.as_secs_f64()),
            Fault::Lost => "SIGKILL and edit --rm".into(),
        }
    }

    fn slug(&self) -> String {
        match self {
            Fault::Crash => "crash".into(),
            Fault::Pause(d) => format!("pause-{}ms", d.as_millis()),
            Fault::Lost => "lost".into(),
        }
    }

    /// Where the write time is counted from.
    fn from(&self) -> &'static str {
        match self {
            Fault::Crash | Fault::Lost => "the kill",
            Fault::Pause(_) => "SIGCONT",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Role {
    Leader,
    Follower,
}

impl Role {
    fn name(&self) -> &'static str {
        match self {
            Role::Leader => "leader",
            Role::Follower => "follower",
        }
    }
}

struct Sample {
    /// From the fault until a survivor answers a read.
    read: Duration,
    /// From the fault's end (or the kill, for a crash or a lost node) until a write through a
    /// survivor commits.
    write: Duration,
}

struct Cluster {
    members: Vec<Member>,
    key: String,
    root: String,
    rt: tokio::runtime::Runtime,
}

impl Cluster {
    fn measure(&mut self, fault: Fault, role: Role, round: usize) -> Sample {
        let leader = self.wait_settled();
        let target = match role {
            Role::Leader => leader,
            Role::Follower => (0..3).find(|i| *i != leader).unwrap(),
        };
        let survivor = (0..3).find(|i| *i != target).unwrap();
        let c = client(&self.members[survivor].addr, &self.root);
        let struck = Instant::now();
        let write_from = match fault {
            Fault::Crash => {
                self.members[target].node.take().unwrap().kill();
                let read = self.read_after(&c, struck);
                self.members[target].node = Some(start(&self.members[target], &self.key));
                let write = self.write_after(&c, struck, round);
                return Sample { read, write };
            }
            Fault::Pause(d) => {
                let node = self.members[target].node.as_ref().unwrap();
                node.signal("STOP");
                let read = self.read_after(&c, struck);
                std::thread::sleep(d.saturating_sub(struck.elapsed()));
                self.members[target].node.as_ref().unwrap().signal("CONT");
                let resumed = Instant::now();
                let write = self.write_after(&c, resumed, round);
                return Sample { read, write };
            }
            Fault::Lost => struck,
        };
        // Lost for good: the survivor drops it by force, and the two of them take writes.
        let id = self.id_of(survivor, target);
        self.members[target].node.take().unwrap().kill();
        let read = self.read_after(&c, struck);
        self.rt.block_on(c.edit_cluster(&[id])).unwrap();
        let write = self.write_after(&c, write_from, round);
        // A fresh node in its place, for the next round.
        std::fs::remove_dir_all(&self.members[target].dir).unwrap();
        self.members[target].node = Some(start(&self.members[target], &self.key));
        self.rt
            .block_on(c.add_node(&self.members[target].addr))
            .unwrap();
        Sample { read, write }
    }

    /// Until a read of the probe key through `c` succeeds; the time since `from`.
    fn read_after(&self, c: &Client, from: Instant) -> Duration {
        loop {
            let ok = self.rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(2), c.key_status("bench", "probe", 0))
                    .await
            });
            if matches!(ok, Ok(Ok(_))) {
                return from.elapsed();
            }
            assert!(from.elapsed() < Duration::from_secs(60), "no read");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Until a write through `c` commits; the time since `from`.
    fn write_after(&self, c: &Client, from: Instant, round: usize) -> Duration {
        loop {
            let name = format!("fault-{round}-{}", rand::random::<u32>());
            let ok = self.rt.block_on(async {
                tokio::time::timeout(
                    Duration::from_secs(2),
                    c.create_key("bench", &name, "", false),
                )
                .await
            });
            if matches!(ok, Ok(Ok(()))) {
                return from.elapsed();
            }
            assert!(
                from.elapsed() < Duration::from_secs(60),
                "no write after the fault: {ok:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until three members are up under one leader that takes writes; the leader.
    fn wait_settled(&self) -> usize {
        let c = client(&self.members[0].addr, &self.root);
        let started = Instant::now();
        loop {
            if let Some(l) = leader_of(&self.rt, &self.members, &self.root) {
                let status = self.rt.block_on(c.cluster_status());
                let write = self.rt.block_on(async {
                    tokio::time::timeout(
                        Duration::from_secs(2),
                        c.create_key(
                            "bench",
                            &format!("settle-{}", rand::random::<u32>()),
                            "",
                            false,
                        ),
                    )
                    .await
                });
                if matches!(&status, Ok(s) if s.nodes_up.len() == 3) && matches!(write, Ok(Ok(())))
                {
                    return l;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the cluster did not settle"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Slot `i`'s node id, as node `via` knows it.
    fn id_of(&self, via: usize, i: usize) -> u32 {
        let c = client(&self.members[via].addr, &self.root);
        let status = self.rt.block_on(c.cluster_status()).unwrap();
        let host = &self.members[i].addr;
        *status
            .nodes_up
            .iter()
            .find(|(_, n)| &n.host == host)
            .expect("the node is up")
            .0
    }
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
