//! Randomized fault schedules against a 3-node cluster of real `minkms` processes
//! (REPLICATION.md §5.5): clients write and read registers (identity tags) on random nodes
//! while a seeded nemesis SIGKILLs and restarts nodes, SIGSTOPs them, and partitions them with
//! nftables inside a network namespace this test creates. After each schedule everything is
//! healed and checked: the nodes agree on `Commit`, every node reads the same final values,
//! and each register's history (with final reads on every node) is linearizable (todc-utils'
//! Wing–Gong–Lowe checker). A write answered "failed" is never observed (its unique value
//! would make the history non-linearizable); a write with an unknown outcome may or may not
//! have happened (its response goes at the end of the history).
//!
//! `MINKMS_CHAOS_ROUNDS` (default 20) schedules, `MINKMS_CHAOS_SEED` picks them,
//! `MINKMS_CHAOS_SECONDS` (default 4) of load per schedule. Partitions need root, `unshare`
//! and `nft` (`./admin/test.sh` installs nftables); without them the schedules use process
//! faults only, and say so.

use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minkms_client::wire::CreateIdentityRequest;
use minkms_client::{ApiKey, Client};
use minkms_testkit::{client_for as client, free_port, soft_hsm_key, Node};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use todc_utils::specifications::Specification;
use todc_utils::{Action, History, WGLChecker};

const TEST: &str = "randomized_fault_schedules_keep_histories_linearizable";
const NODES: usize = 3;
const KEYS: usize = 6;
const WORKERS: usize = 3;
const ENCLAVE: &str = "chaos";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    Read(Option<u64>),
    Write(u64),
}

/// A register holding the last value written; 0 before any write (the identity is absent).
struct Register;

impl Specification for Register {
    type State = u64;
    type Operation = Op;

    fn init() -> u64 {
        0
    }

    fn apply(op: &Op, state: &u64) -> (bool, u64) {
        match op {
            Op::Read(Some(v)) => (v == state, *state),
            Op::Read(None) => (false, *state),
            Op::Write(v) => (true, *v),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Ok(Op),
    /// Did not happen (refused before anything was prepared, or aborted).
    Failed,
    /// May have happened.
    Unknown,
}

#[derive(Debug, Clone)]
enum Event {
    Call {
        op: usize,
        key: usize,
        pid: usize,
        call: Op,
    },
    Return {
        op: usize,
        outcome: Outcome,
    },
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
    next_op: AtomicUsize,
    next_pid: AtomicUsize,
}

struct Member {
    dir: std::path::PathBuf,
    addr: String,
    node: Option<Node>,
    stopped: bool,
}

#[test]
fn randomized_fault_schedules_keep_histories_linearizable() {
    let in_netns = std::env::var("MINKMS_IN_NETNS").is_ok();
    if !in_netns && netns_available() {
        // Run this test again inside a private network namespace: its nftables rules and its
        // 127.0.0.x addresses touch nothing outside it, and vanish with it.
        let exe = std::env::current_exe().unwrap();
        let status = Command::new("unshare")
            .args(["--net", "--"])
            .arg(exe)
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env("MINKMS_IN_NETNS", "1")
            .status()
            .unwrap();
        assert!(status.success(), "the schedules failed in the namespace");
        return;
    }
    let partitions = in_netns;
    if in_netns {
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status();
        assert!(up.unwrap().success());
    } else {
        eprintln!("chaos: no network namespace (needs root, unshare and nft): process faults only, no partitions");
    }
    let rounds: u64 = env_or("MINKMS_CHAOS_ROUNDS", 20);
    let seed: u64 = env_or("MINKMS_CHAOS_SEED", rand::random());
    let seconds: u64 = env_or("MINKMS_CHAOS_SECONDS", 4);
    eprintln!("chaos: {rounds} schedules, seed {seed} (MINKMS_CHAOS_SEED={seed} to repeat)");

    let tmp = tempfile::tempdir().unwrap();
    let key = soft_hsm_key();
    let mut members: Vec<Member> = (0..NODES)
        .map(|i| Member {
            dir: tmp.path().join(format!("kms{i}")),
            // In the namespace each node has its own address, so rules can cut single links.
            addr: if partitions {
                format!("127.0.0.{}:7373", i + 2)
            } else {
                format!("127.0.0.1:{}", free_port())
            },
            node: None,
            stopped: false,
        })
        .collect();
    for m in members.iter_mut() {
        m.node = Some(start(m, &key));
    }
    let root = members[0].node.as_ref().unwrap().root_api_key.clone();
    for m in &members[1..] {
        cli_ok(&members[0], &root, &["add", &m.addr]);
    }
    cli_ok(&members[0], &root, &["add-enclave", ENCLAVE]);
    wait_healthy(&members, &root);

    let rt = minkms_testkit::runtime();
    let clients: Arc<Vec<Client>> =
        Arc::new(members.iter().map(|m| client(&m.addr, &root)).collect());
    let values = Arc::new(AtomicU64::new(1));
    let (mut acked, mut unknown, mut failed, mut reads) = (0, 0, 0, 0);
    for round in 0..rounds {
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(round));
        let identities: Vec<String> = (0..KEYS)
            .map(|_| ApiKey::generate().identity().to_string())
            .collect();
        let recorder = Arc::new(Recorder::default());
        let stop = Instant::now() + Duration::from_secs(seconds);
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (clients, ids, rec, values) = (
                    clients.clone(),
                    identities.clone(),
                    recorder.clone(),
                    values.clone(),
                );
                let wseed = rng.gen::<u64>() ^ w as u64;
                rt.spawn(async move { worker(clients, ids, rec, values, stop, wseed).await })
            })
            .collect();
        let faults = nemesis(&mut members, &key, &mut rng, stop, partitions);
        rt.block_on(async {
            for w in workers {
                w.await.unwrap();
            }
        });
        heal(&mut members, &key, partitions);
        wait_healthy(&members, &root);
        // Final reads, one per node and register, after everything else.
        rt.block_on(async {
            for (k, id) in identities.iter().enumerate() {
                let mut seen = Vec::new();
                for c in clients.iter() {
                    // A node may still be finishing a slot (reads wait, then say "retry"), or
                    // the client's connection may predate a restart: try again a few times.
                    let mut v = None;
                    for _ in 0..40 {
                        let pid = recorder.next_pid.fetch_add(1, Ordering::Relaxed);
                        v = read(c, &recorder, k, pid, id).await;
                        if v.is_some() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    seen.push(v);
                }
                assert!(
                    seen.iter().all(|v| v.is_some() && *v == seen[0]),
                    "round {round}: nodes read different final values of register {k}: {seen:?}"
                );
            }
        });
        let events = recorder.events.lock().unwrap().clone();
        let stats = check(&events, round, &faults);
        acked += stats.0;
        unknown += stats.1;
        failed += stats.2;
        reads += stats.3;
    }
    eprintln!(
        "chaos: {rounds} schedules: {acked} acknowledged writes, {unknown} unknown, {failed} failed, {reads} reads; all linearizable, commits equal"
    );
    assert!(
        acked as u64 > rounds,
        "the schedules must commit writes to mean anything"
    );
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn netns_available() -> bool {
    let ok = |cmd: &mut Command| cmd.output().map(|o| o.status.success()).unwrap_or(false);
    ok(Command::new("unshare").args(["--net", "true"])) && ok(Command::new("nft").arg("--version"))
}

fn start(m: &Member, key: &str) -> Node {
    minkms_testkit::Member::at(m.dir.clone(), m.addr.clone()).start(key)
}

fn cli(m: &Member, root: &str, args: &[&str]) -> std::process::Output {
    Command::new(minkms_testkit::bin())
        .args(args)
        .arg("-k")
        .env("MINIO_KMS_SERVER", &m.addr)
        .env("MINIO_KMS_API_KEY", root)
        .output()
        .unwrap()
}

fn cli_ok(m: &Member, root: &str, args: &[&str]) {
    let out = cli(m, root, args);
    assert!(
        out.status.success(),
        "minkms {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// All nodes up, one leader, equal commits, and a write goes through.
fn wait_healthy(members: &[Member], root: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        let out = cli(&members[0], root, &["stat"]);
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        let commits: Vec<&str> = last
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Commit"))
            .map(str::trim)
            .collect();
        let leaders = last
            .lines()
            .filter(|l| l.trim() == "State       Leader")
            .count();
        if last.contains(&format!("All [{NODES}/{NODES}] nodes are up"))
            && leaders == 1
            && commits.len() == NODES
            && commits.iter().all(|c| *c == commits[0])
        {
            let health = cli(&members[0], root, &["stat-enclave", ENCLAVE]);
            if health.status.success() {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let logs: Vec<String> = members
        .iter()
        .filter_map(|m| m.node.as_ref())
        .map(|n| {
            n.logs()
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    panic!(
        "the cluster did not heal:\n{last}\nlogs (newest first):\n{}",
        logs.join("\n----\n")
    );
}

async fn worker(
    clients: Arc<Vec<Client>>,
    ids: Vec<String>,
    rec: Arc<Recorder>,
    values: Arc<AtomicU64>,
    stop: Instant,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pid = rec.next_pid.fetch_add(1, Ordering::Relaxed);
    while Instant::now() < stop {
        let k = rng.gen_range(0..ids.len());
        let c = &clients[rng.gen_range(0..clients.len())];
        if rng.gen_bool(0.4) {
            let v = values.fetch_add(1, Ordering::Relaxed);
            if write(c, &rec, k, pid, &ids[k], v).await == Outcome::Unknown {
                // A process with an operation in flight cannot start another one.
                pid = rec.next_pid.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            read(c, &rec, k, pid, &ids[k]).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(10..60))).await;
    }
}

fn record_call(rec: &Recorder, key: usize, pid: usize, call: Op) -> usize {
    let op = rec.next_op.fetch_add(1, Ordering::Relaxed);
    rec.events
        .lock()
        .unwrap()
        .push(Event::Call { op, key, pid, call });
    op
}

fn record_return(rec: &Recorder, op: usize, outcome: Outcome) {
    rec.events
        .lock()
        .unwrap()
        .push(Event::Return { op, outcome });
}

/// The errors after which a write certainly did not happen: refused before anything was
/// prepared, or aborted (REPLICATION.md §2.6). Anything else may have happened.
fn definitely_not_applied(e: &minkms_client::Error) -> bool {
    let minkms_client::Error::Api { status, message } = e else {
        return false;
    };
    (400..500).contains(status)
        || [
            "not all nodes available",
            "write failed",
            "cluster has no leader",
            "cannot reach the leader",
            "key is being modified",
            "server not part of cluster",
            "node is joining",
        ]
        .iter()
        .any(|m| message.contains(m))
}

async fn write(c: &Client, rec: &Recorder, key: usize, pid: usize, id: &str, v: u64) -> Outcome {
    let op = record_call(rec, key, pid, Op::Write(v));
    let req = CreateIdentityRequest {
        identity: id.to_string(),
        privilege: "User".into(),
        is_service_account: false,
        tags: [("v".to_string(), v.to_string())].into_iter().collect(),
    };
    let result =
        tokio::time::timeout(Duration::from_secs(5), c.create_identity(ENCLAVE, &req)).await;
    let outcome = match result {
        Ok(Ok(())) => Outcome::Ok(Op::Write(v)),
        Ok(Err(e)) if definitely_not_applied(&e) => Outcome::Failed,
        _ => Outcome::Unknown,
    };
    record_return(rec, op, outcome);
    outcome
}

async fn read(c: &Client, rec: &Recorder, key: usize, pid: usize, id: &str) -> Option<u64> {
    let op = record_call(rec, key, pid, Op::Read(None));
    let result = tokio::time::timeout(Duration::from_secs(5), c.identity_status(ENCLAVE, id)).await;
    let value = match result {
        Ok(Ok(identity)) => identity.tags.get("v").and_then(|v| v.parse().ok()),
        Ok(Err(minkms_client::Error::Api { status: 404, .. })) => Some(0),
        _ => None,
    };
    // A read that failed returned nothing: it is left out (reads change nothing).
    let outcome = value.map_or(Outcome::Failed, |v| Outcome::Ok(Op::Read(Some(v))));
    record_return(rec, op, outcome);
    value
}

/// One fault at a time until `stop`; returns what it did.
fn nemesis(
    members: &mut [Member],
    key: &str,
    rng: &mut StdRng,
    stop: Instant,
    partitions: bool,
) -> Vec<String> {
    let mut log = Vec::new();
    while Instant::now() < stop {
        std::thread::sleep(Duration::from_millis(rng.gen_range(200..800)));
        let i = rng.gen_range(0..members.len());
        let hold = Duration::from_millis(rng.gen_range(300..2500));
        match rng.gen_range(0..if partitions { 5 } else { 3 }) {
            0 => {
                log.push(format!("kill -9 node {i}, restart after {hold:?}"));
                if let Some(n) = members[i].node.take() {
                    n.kill();
                }
                std::thread::sleep(hold);
                members[i].node = Some(start(&members[i], key));
            }
            1 => {
                log.push(format!("SIGSTOP node {i} for {hold:?}"));
                if let Some(n) = &members[i].node {
                    n.signal("STOP");
                    members[i].stopped = true;
                    std::thread::sleep(hold);
                    n.signal("CONT");
                    members[i].stopped = false;
                }
            }
            2 => {
                // A quiet spell: the cluster works normally.
                log.push(format!("nothing for {hold:?}"));
                std::thread::sleep(hold);
            }
            3 => {
                log.push(format!("isolate node {i} for {hold:?}"));
                let me = ip(&members[i].addr);
                let others: Vec<String> = members
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, m)| ip(&m.addr))
                    .collect();
                let set = format!("{{ {} }}", others.join(", "));
                nft(&[
                    &format!("add rule inet chaos out ip saddr {me} ip daddr {set} drop"),
                    &format!("add rule inet chaos out ip saddr {set} ip daddr {me} drop"),
                ]);
                std::thread::sleep(hold);
                nft_flush();
            }
            _ => {
                let j = (i + rng.gen_range(1..members.len())) % members.len();
                log.push(format!("drop node {i} → node {j} for {hold:?}"));
                let (a, b) = (ip(&members[i].addr), ip(&members[j].addr));
                nft(&[&format!(
                    "add rule inet chaos out ip saddr {a} ip daddr {b} drop"
                )]);
                std::thread::sleep(hold);
                nft_flush();
            }
        }
    }
    log
}

fn ip(addr: &str) -> String {
    addr.rsplit_once(':').unwrap().0.to_string()
}

fn nft(rules: &[&str]) {
    let mut script = String::from(
        "add table inet chaos\nadd chain inet chaos out { type filter hook output priority 0; policy accept; }\n",
    );
    for r in rules {
        script.push_str(r);
        script.push('\n');
    }
    let out = Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(script.as_bytes())?;
            child.wait()
        })
        .unwrap();
    assert!(out.success(), "nft failed on:\n{script}");
}

fn nft_flush() {
    let _ = Command::new("nft")
        .args(["delete", "table", "inet", "chaos"])
        .output();
}

fn heal(members: &mut [Member], key: &str, partitions: bool) {
    if partitions {
        nft_flush();
    }
    for m in members.iter_mut() {
        if m.stopped {
            if let Some(n) = &m.node {
                n.signal("CONT");
            }
            m.stopped = false;
        }
        if m.node.is_none() {
            m.node = Some(start(m, key));
        }
    }
}

/// Checks each register's history; returns (acknowledged, unknown, failed writes, reads).
fn check(events: &[Event], round: u64, faults: &[String]) -> (usize, usize, usize, usize) {
    let mut outcomes: HashMap<usize, Outcome> = HashMap::new();
    let mut calls: HashMap<usize, (usize, usize, Op)> = HashMap::new();
    for e in events {
        match e {
            Event::Call { op, key, pid, call } => {
                calls.insert(*op, (*key, *pid, *call));
            }
            Event::Return { op, outcome } => {
                outcomes.insert(*op, *outcome);
            }
        }
    }
    let mut per_key: BTreeMap<usize, Vec<(usize, Action<Op>)>> = BTreeMap::new();
    let mut unresolved: BTreeMap<usize, Vec<(usize, Action<Op>)>> = BTreeMap::new();
    let (mut acked, mut unknown, mut failed, mut reads) = (0, 0, 0, 0);
    for e in events {
        match e {
            Event::Call { op, key, pid, call } => match outcomes.get(op) {
                Some(Outcome::Failed) => {
                    if matches!(call, Op::Write(_)) {
                        failed += 1;
                    }
                }
                Some(Outcome::Unknown) | None => {
                    unknown += 1;
                    per_key
                        .entry(*key)
                        .or_default()
                        .push((*pid, Action::Call(*call)));
                    unresolved
                        .entry(*key)
                        .or_default()
                        .push((*pid, Action::Response(*call)));
                }
                Some(Outcome::Ok(_)) => {
                    per_key
                        .entry(*key)
                        .or_default()
                        .push((*pid, Action::Call(*call)));
                }
            },
            Event::Return {
                op,
                outcome: Outcome::Ok(result),
            } => {
                let (key, pid, call) = calls[op];
                match call {
                    Op::Write(_) => acked += 1,
                    Op::Read(_) => reads += 1,
                }
                per_key
                    .entry(key)
                    .or_default()
                    .push((pid, Action::Response(*result)));
            }
            Event::Return { .. } => {}
        }
    }
    for (key, mut actions) in per_key {
        // Operations with an unknown outcome stay open to the end: they may have taken effect
        // at any point after their call, or never (a write nobody reads is as good as absent).
        actions.extend(unresolved.remove(&key).unwrap_or_default());
        let n = actions.len();
        let linearizable =
            WGLChecker::<Register>::is_linearizable(History::from_actions(actions.clone()));
        assert!(
            linearizable,
            "round {round}: the history of register {key} ({n} actions) is not linearizable\nfaults: {faults:?}\nhistory: {actions:?}"
        );
    }
    (acked, unknown, failed, reads)
}
