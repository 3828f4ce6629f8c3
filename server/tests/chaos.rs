//! Randomized fault schedules against a 3-node cluster of real `minkms` processes
//! (REPLICATION.md §5.5): clients write and read registers on random nodes while a seeded
//! nemesis SIGKILLs and restarts nodes, SIGSTOPs them, partitions them with nftables inside a
//! network namespace this test creates, lays two of these over each other, and churns the
//! membership under load: `rm` of a node (the leader half of the time) and `edit --rm` of a
//! killed one, each replaced by a fresh node that `add` brings back. Two kinds of register:
//! an identity's tag (a write sets it) and a key's version count (a write is a rotation,
//! `KEY:CREATE` with `add_version`; a read is the latest version). After each schedule
//! everything is healed and checked: every slot a member again, the nodes agree on `Commit`,
//! every node reads the same final values, and each register's history (with final reads on
//! every node) is linearizable (todc-utils' Wing–Gong–Lowe checker). A write answered "failed"
//! is never observed (its unique value would make the history non-linearizable); a write with
//! an unknown outcome may or may not have happened (its response goes at the end of the
//! history).
//!
//! `MINKMS_CHAOS_ROUNDS` (default 20) schedules, `MINKMS_CHAOS_SEED` picks them,
//! `MINKMS_CHAOS_SECONDS` (default 4) of load per schedule. Partitions need root, `unshare`
//! and `nft` (`./admin/test.sh` installs nftables); without them the schedules use process
//! and membership faults only, and say so.

use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
/// Registers held in identities' tags.
const TAGS: usize = 6;
/// Registers held in keys' version counts.
const KEYS: usize = 2;
const WORKERS: usize = 3;
const ENCLAVE: &str = "chaos";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    Read(Option<u64>),
    Write(u64),
    /// A new key version: the count goes up by one.
    Rotate,
}

/// A register: the last value written, or the number of versions of a key; 0 before any
/// write (the identity or key is absent).
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
            Op::Rotate => (true, state + 1),
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

/// The registers of one schedule: identities first, then keys.
#[derive(Clone)]
struct Registers {
    identities: Vec<String>,
    keys: Vec<String>,
}

impl Registers {
    fn len(&self) -> usize {
        self.identities.len() + self.keys.len()
    }
}

/// One slot of the cluster: an address and a data directory, which may hold a succession of
/// nodes (a replaced node is a fresh one at the same address).
struct Member {
    dir: std::path::PathBuf,
    addr: String,
    node: Option<Node>,
    stopped: bool,
    /// Whether the cluster's config holds the node in this slot.
    member: bool,
}

/// The cluster under test, and what the nemesis may do to it.
struct Cluster {
    members: Vec<Member>,
    key: String,
    root: String,
    partitions: bool,
    /// Which slots the clients send to: a fresh node waiting to be added is a cluster of its
    /// own, which no client of this one would be pointed at.
    serving: Arc<Vec<AtomicBool>>,
    rt: tokio::runtime::Runtime,
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
        minkms_testkit::not_run(
            "the chaos test's partitions (server/tests/chaos.rs)",
            "no network namespace (needs root, unshare and nft); process and membership faults only",
        );
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
            member: true,
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
    let mut cluster = Cluster {
        members,
        key,
        root,
        partitions,
        serving: Arc::new((0..NODES).map(|_| AtomicBool::new(true)).collect()),
        rt: minkms_testkit::runtime(),
    };
    cluster.wait_healthy();

    let clients: Arc<Vec<Client>> = Arc::new(
        cluster
            .members
            .iter()
            .map(|m| client(&m.addr, &cluster.root))
            .collect(),
    );
    let values = Arc::new(AtomicU64::new(1));
    let mut totals = Totals::default();
    let mut churned = 0;
    for round in 0..rounds {
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(round));
        let registers = Registers {
            identities: (0..TAGS)
                .map(|_| ApiKey::generate().identity().to_string())
                .collect(),
            keys: (0..KEYS)
                .map(|k| format!("round-{round}-key-{k}"))
                .collect(),
        };
        let recorder = Arc::new(Recorder::default());
        cluster.create_keys(&clients[0], &recorder, &registers);
        let stop = Instant::now() + Duration::from_secs(seconds);
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let worker = Worker {
                    clients: clients.clone(),
                    serving: cluster.serving.clone(),
                    registers: registers.clone(),
                    rec: recorder.clone(),
                    values: values.clone(),
                };
                let wseed = rng.gen::<u64>() ^ w as u64;
                cluster
                    .rt
                    .spawn(async move { worker.run(stop, wseed).await })
            })
            .collect();
        let faults = cluster.nemesis(&mut rng, stop);
        churned += faults.iter().filter(|f| f.contains("replaced")).count();
        eprintln!("chaos: round {round}: {}", faults.join("; "));
        cluster.rt.block_on(async {
            for w in workers {
                w.await.unwrap();
            }
        });
        cluster.heal();
        cluster.wait_healthy();
        cluster.final_reads(&clients, &recorder, &registers, round);
        let events = recorder.events.lock().unwrap().clone();
        totals.add(check(&events, round, &faults));
    }
    let Totals {
        acked,
        unknown,
        failed,
        reads,
    } = totals;
    eprintln!(
        "chaos: {rounds} schedules: {acked} acknowledged writes, {unknown} unknown, {failed} failed, {reads} reads, {churned} nodes replaced; all linearizable, commits equal"
    );
    assert!(
        acked as u64 > rounds,
        "the schedules must commit writes to mean anything"
    );
}

#[derive(Default)]
struct Totals {
    acked: usize,
    unknown: usize,
    failed: usize,
    reads: usize,
}

impl Totals {
    fn add(&mut self, other: Totals) {
        self.acked += other.acked;
        self.unknown += other.unknown;
        self.failed += other.failed;
        self.reads += other.reads;
    }
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

/// A fault that lasts until it is ended.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Kill(usize),
    Stop(usize),
    Isolate(usize),
}

impl Cluster {
    /// All nodes up and members, one leader, equal commits, and every node reads the enclave.
    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = String::new();
        while Instant::now() < deadline {
            let out = cli(&self.members[0], &self.root, &["stat"]);
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
                // Every node reads the enclave: none holds a write of it prepared.
                let refused: Vec<String> = self
                    .members
                    .iter()
                    .map(|m| cli(m, &self.root, &["stat-enclave", ENCLAVE]))
                    .filter(|out| !out.status.success())
                    .map(|out| String::from_utf8_lossy(&out.stderr).into_owned())
                    .collect();
                if refused.is_empty() {
                    return;
                }
                last.push_str(&format!("\nstat-enclave: {refused:?}"));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let logs: Vec<String> = (0..NODES).map(|n| self.log_tail(n)).collect();
        panic!(
            "the cluster did not heal:\n{last}\nlogs (newest first):\n{}",
            logs.join("\n----\n")
        );
    }

    /// The last lines the node in slot `n` logged itself (not its HTTP and TLS libraries'
    /// debug output), newest first.
    fn log_tail(&self, n: usize) -> String {
        let Some(node) = &self.members[n].node else {
            return "(not running)".into();
        };
        node.logs()
            .lines()
            .rev()
            .filter(|l| !l.contains("DEBUG") || l.contains("minkms"))
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Creates the schedule's keys (version 1 each), recorded as their first rotation.
    fn create_keys(&self, c: &Client, rec: &Recorder, registers: &Registers) {
        for (k, name) in registers.keys.iter().enumerate() {
            let register = registers.identities.len() + k;
            let pid = rec.next_pid.fetch_add(1, Ordering::Relaxed);
            let op = record_call(rec, register, pid, Op::Rotate);
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let created = self.rt.block_on(c.create_key(ENCLAVE, name, "", false));
                match created {
                    Ok(()) => break,
                    // An earlier try whose answer was lost.
                    Err(minkms_client::Error::Api { message, .. })
                        if message.contains("already exists") =>
                    {
                        break
                    }
                    Err(e) => assert!(Instant::now() < deadline, "creating {name}: {e}"),
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            record_return(rec, op, Outcome::Ok(Op::Rotate));
        }
    }

    /// Reads every register on every node, after everything else, into the history; the
    /// nodes must agree.
    fn final_reads(
        &self,
        clients: &[Client],
        rec: &Arc<Recorder>,
        registers: &Registers,
        round: u64,
    ) {
        self.rt.block_on(async {
            for r in 0..registers.len() {
                let mut seen = Vec::new();
                for c in clients {
                    // A node may still be finishing a slot (reads wait, then say "retry"), or
                    // the client's connection may predate a restart: try again a few times.
                    let mut v = None;
                    for _ in 0..40 {
                        let pid = rec.next_pid.fetch_add(1, Ordering::Relaxed);
                        v = read(c, rec, registers, r, pid).await;
                        if v.is_some() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    seen.push(v);
                }
                if !seen.iter().all(|v| v.is_some() && *v == seen[0]) {
                    let mut why = String::new();
                    for (n, c) in clients.iter().enumerate() {
                        let answer = match registers.identities.get(r) {
                            Some(id) => format!("{:?}", c.identity_status(ENCLAVE, id).await),
                            None => {
                                let name = &registers.keys[r - registers.identities.len()];
                                format!("{:?}", c.key_status(ENCLAVE, name, 0).await)
                            }
                        };
                        why.push_str(&format!("\nnode {n}: {answer}\n{}", self.log_tail(n)));
                    }
                    panic!(
                        "round {round}: nodes read different final values of register {r}: {seen:?}{why}"
                    );
                }
            }
        });
    }

    /// Faults until `stop`, one at a time or two overlapping; returns what it did.
    fn nemesis(&mut self, rng: &mut StdRng, stop: Instant) -> Vec<String> {
        let mut log = Vec::new();
        while Instant::now() < stop {
            std::thread::sleep(Duration::from_millis(rng.gen_range(200..800)));
            let i = rng.gen_range(0..NODES);
            let hold = Duration::from_millis(rng.gen_range(300..2500));
            match rng.gen_range(0..9) {
                0 => self.single(Fault::Kill(i), hold, &mut log),
                1 => self.single(Fault::Stop(i), hold, &mut log),
                2 if self.partitions => self.single(Fault::Isolate(i), hold, &mut log),
                3 if self.partitions => {
                    let j = (i + rng.gen_range(1..NODES)) % NODES;
                    log.push(format!("drop node {i} → node {j} for {hold:?}"));
                    let (a, b) = (ip(&self.members[i].addr), ip(&self.members[j].addr));
                    nft("chaos_link", &[format!("ip saddr {a} ip daddr {b} drop")]);
                    std::thread::sleep(hold);
                    nft_delete("chaos_link");
                }
                4 => {
                    let j = (i + rng.gen_range(1..NODES)) % NODES;
                    let kinds = if self.partitions { 3 } else { 2 };
                    let fault = |n: usize, k: usize| match k {
                        0 => Fault::Kill(n),
                        1 => Fault::Stop(n),
                        _ => Fault::Isolate(n),
                    };
                    let (a, b) = (
                        fault(i, rng.gen_range(0..kinds)),
                        fault(j, rng.gen_range(0..kinds)),
                    );
                    let lag = Duration::from_millis(rng.gen_range(0..hold.as_millis() as u64));
                    let tail = Duration::from_millis(rng.gen_range(100..1500));
                    log.push(format!(
                        "{a:?} for {hold:?}, overlapped by {b:?} from {lag:?} until {tail:?} after"
                    ));
                    self.begin(a);
                    std::thread::sleep(lag);
                    self.begin(b);
                    std::thread::sleep(hold - lag);
                    self.end(a);
                    std::thread::sleep(tail);
                    self.end(b);
                }
                5 => {
                    // The leader half of the time.
                    let leader = if rng.gen_bool(0.5) {
                        self.leader()
                    } else {
                        None
                    };
                    let target = leader.unwrap_or(i);
                    self.remove_and_replace(target, hold, leader.is_some(), &mut log);
                }
                6 => self.force_remove_and_replace(i, hold, &mut log),
                _ => {
                    // A quiet spell: the cluster works normally.
                    log.push(format!("nothing for {hold:?}"));
                    std::thread::sleep(hold);
                }
            }
        }
        log
    }

    fn single(&mut self, fault: Fault, hold: Duration, log: &mut Vec<String>) {
        log.push(format!("{fault:?} for {hold:?}"));
        self.begin(fault);
        std::thread::sleep(hold);
        self.end(fault);
    }

    fn begin(&mut self, fault: Fault) {
        match fault {
            Fault::Kill(i) => {
                if let Some(n) = self.members[i].node.take() {
                    n.kill();
                }
            }
            Fault::Stop(i) => {
                if let Some(n) = &self.members[i].node {
                    n.signal("STOP");
                    self.members[i].stopped = true;
                }
            }
            Fault::Isolate(i) => {
                let me = ip(&self.members[i].addr);
                let others: Vec<String> = (0..NODES)
                    .filter(|j| *j != i)
                    .map(|j| ip(&self.members[j].addr))
                    .collect();
                let set = format!("{{ {} }}", others.join(", "));
                nft(
                    &isolation(i),
                    &[
                        format!("ip saddr {me} ip daddr {set} drop"),
                        format!("ip saddr {set} ip daddr {me} drop"),
                    ],
                );
            }
        }
    }

    fn end(&mut self, fault: Fault) {
        match fault {
            Fault::Kill(i) => {
                if self.members[i].node.is_none() {
                    self.members[i].node = Some(start(&self.members[i], &self.key));
                }
            }
            Fault::Stop(i) => {
                if let Some(n) = &self.members[i].node {
                    n.signal("CONT");
                }
                self.members[i].stopped = false;
            }
            Fault::Isolate(i) => nft_delete(&isolation(i)),
        }
    }

    /// `rm` of the node in slot `i`, sent to another member; after `hold` a fresh node takes
    /// the slot and `add` brings it in.
    fn remove_and_replace(
        &mut self,
        i: usize,
        hold: Duration,
        leader: bool,
        log: &mut Vec<String>,
    ) {
        let what = if leader { " (the leader)" } else { "" };
        let Some(via) = self.other_member(i) else {
            return;
        };
        let out = cli(
            &self.members[via],
            &self.root,
            &["rm", &self.members[i].addr],
        );
        let said = if out.status.success() {
            "done".to_string()
        } else {
            String::from_utf8_lossy(&out.stderr).trim().to_string()
        };
        if self.is_member_after(via, i, out.status.success()) == Some(false) {
            self.members[i].member = false;
            log.push(format!(
                "rm node {i}{what} via node {via} ({said}), replaced after {hold:?}"
            ));
            std::thread::sleep(hold);
            self.replace(i);
        } else {
            log.push(format!(
                "rm node {i}{what} via node {via}: still a member ({said})"
            ));
        }
    }

    /// SIGKILL of the node in slot `i`, `edit --rm` of it on another member, and after `hold`
    /// a fresh node in its place; if the edit is refused, the old node restarts.
    fn force_remove_and_replace(&mut self, i: usize, hold: Duration, log: &mut Vec<String>) {
        let Some(via) = self.other_member(i) else {
            return;
        };
        let Some(id) = self.id_of(via, i) else {
            log.push(format!(
                "edit --rm node {i}: node {via} does not know its id"
            ));
            return;
        };
        self.begin(Fault::Kill(i));
        let addr = self.members[via].addr.clone();
        let out = cli(
            &self.members[via],
            &self.root,
            &["edit", &addr, "--rm", &id.to_string()],
        );
        let said = if out.status.success() {
            "done".to_string()
        } else {
            String::from_utf8_lossy(&out.stderr).trim().to_string()
        };
        std::thread::sleep(hold);
        if self.is_member_after(via, i, out.status.success()) == Some(false) {
            self.members[i].member = false;
            log.push(format!(
                "kill -9 node {i}, edit --rm {id} via node {via} ({said}), replaced after {hold:?}"
            ));
            self.replace(i);
        } else {
            log.push(format!(
                "kill -9 node {i}, edit --rm {id} via node {via}: still a member ({said}); restarted after {hold:?}"
            ));
            self.end(Fault::Kill(i));
        }
    }

    /// A fresh node in slot `i` (no longer a member), added to the cluster.
    fn replace(&mut self, i: usize) {
        self.serving[i].store(false, Ordering::Release);
        if let Some(n) = self.members[i].node.take() {
            n.kill();
        }
        self.members[i].stopped = false;
        let _ = std::fs::remove_dir_all(&self.members[i].dir);
        self.members[i].node = Some(start(&self.members[i], &self.key));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let via = self.other_member(i).expect("a member to add through");
            let out = cli(
                &self.members[via],
                &self.root,
                &["add", &self.members[i].addr],
            );
            if out.status.success() || self.is_member(via, i) == Some(true) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "slot {i} could not be added again: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        self.members[i].member = true;
        self.serving[i].store(true, Ordering::Release);
    }

    /// A member other than `i`, running.
    fn other_member(&self, i: usize) -> Option<usize> {
        (0..NODES).find(|j| *j != i && self.members[*j].member && self.members[*j].node.is_some())
    }

    /// Whether node `via`'s config holds slot `i`'s address; `None` if it does not answer.
    fn is_member(&self, via: usize, i: usize) -> Option<bool> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.status(via) {
                let addr = &self.members[i].addr;
                return Some(
                    status.nodes_up.values().any(|n| &n.host == addr)
                        || status.nodes_down.values().any(|h| h == addr),
                );
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// [`Cluster::is_member`] after a membership change that answered `succeeded`: a change
    /// that succeeded is committed on every node, but a node that passed it on to the leader
    /// may apply it a moment after the answer (the `Commit` travels apart from the answer), so
    /// its removal is waited for, up to 5 s.
    fn is_member_after(&self, via: usize, i: usize, succeeded: bool) -> Option<bool> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let member = self.is_member(via, i);
            if !succeeded || member != Some(true) || Instant::now() > deadline {
                return member;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Slot `i`'s node id in node `via`'s config.
    fn id_of(&self, via: usize, i: usize) -> Option<u32> {
        let status = self.status(via)?;
        let addr = &self.members[i].addr;
        status
            .nodes_up
            .iter()
            .find(|(_, n)| &n.host == addr)
            .map(|(id, _)| *id)
            .or_else(|| {
                status
                    .nodes_down
                    .iter()
                    .find(|(_, h)| *h == addr)
                    .map(|(id, _)| *id)
            })
    }

    fn status(&self, via: usize) -> Option<minkms_client::wire::ClusterStatusResponse> {
        let c = client(&self.members[via].addr, &self.root);
        self.rt
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(3), c.cluster_status()).await
            })
            .ok()?
            .ok()
    }

    /// The slot whose node says it leads.
    fn leader(&self) -> Option<usize> {
        (0..NODES).find(|i| {
            self.members[*i].node.is_some()
                && self.status(*i).is_some_and(|s| {
                    s.nodes_up
                        .values()
                        .any(|n| n.host == self.members[*i].addr && n.role == "Leader")
                })
        })
    }

    /// Ends every fault and makes every slot a member again.
    fn heal(&mut self) {
        for i in 0..NODES {
            if self.partitions {
                self.end(Fault::Isolate(i));
            }
            self.end(Fault::Stop(i));
            self.end(Fault::Kill(i));
        }
        for i in 0..NODES {
            if !self.members[i].member {
                self.replace(i);
            }
        }
    }
}

struct Worker {
    clients: Arc<Vec<Client>>,
    serving: Arc<Vec<AtomicBool>>,
    registers: Registers,
    rec: Arc<Recorder>,
    values: Arc<AtomicU64>,
}

impl Worker {
    async fn run(self, stop: Instant, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut pid = self.rec.next_pid.fetch_add(1, Ordering::Relaxed);
        while Instant::now() < stop {
            let r = rng.gen_range(0..self.registers.len());
            let n = rng.gen_range(0..self.clients.len());
            if !self.serving[n].load(Ordering::Acquire) {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            let c = &self.clients[n];
            if rng.gen_bool(0.4) {
                let v = self.values.fetch_add(1, Ordering::Relaxed);
                if write(c, &self.rec, &self.registers, r, pid, v).await == Outcome::Unknown {
                    // A process with an operation in flight cannot start another one.
                    pid = self.rec.next_pid.fetch_add(1, Ordering::Relaxed);
                }
            } else {
                read(c, &self.rec, &self.registers, r, pid).await;
            }
            tokio::time::sleep(Duration::from_millis(rng.gen_range(10..60))).await;
        }
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

/// Writes register `r`: sets an identity's tag to `v`, or rotates a key.
async fn write(
    c: &Client,
    rec: &Recorder,
    regs: &Registers,
    r: usize,
    pid: usize,
    v: u64,
) -> Outcome {
    let (call, result) = if let Some(id) = regs.identities.get(r) {
        let req = CreateIdentityRequest {
            identity: id.clone(),
            privilege: "User".into(),
            is_service_account: false,
            tags: [("v".to_string(), v.to_string())].into_iter().collect(),
        };
        let op = record_call(rec, r, pid, Op::Write(v));
        let sent = c.create_identity(ENCLAVE, &req);
        (op, tokio::time::timeout(Duration::from_secs(5), sent).await)
    } else {
        let name = &regs.keys[r - regs.identities.len()];
        let op = record_call(rec, r, pid, Op::Rotate);
        let sent = c.create_key(ENCLAVE, name, "", true);
        (op, tokio::time::timeout(Duration::from_secs(5), sent).await)
    };
    let done = if r < regs.identities.len() {
        Op::Write(v)
    } else {
        Op::Rotate
    };
    let outcome = match result {
        Ok(Ok(())) => Outcome::Ok(done),
        Ok(Err(e)) if definitely_not_applied(&e) => Outcome::Failed,
        _ => Outcome::Unknown,
    };
    record_return(rec, call, outcome);
    outcome
}

/// Reads register `r`: an identity's tag (0 if the identity does not exist), or the latest
/// version of a key.
async fn read(c: &Client, rec: &Recorder, regs: &Registers, r: usize, pid: usize) -> Option<u64> {
    let op = record_call(rec, r, pid, Op::Read(None));
    let absent = |e: &minkms_client::Error, what: &str| matches!(e, minkms_client::Error::Api { status: 404, message } if message.contains(what));
    let value = if let Some(id) = regs.identities.get(r) {
        let result =
            tokio::time::timeout(Duration::from_secs(5), c.identity_status(ENCLAVE, id)).await;
        match result {
            Ok(Ok(identity)) => identity.tags.get("v").and_then(|v| v.parse().ok()),
            Ok(Err(e)) if absent(&e, "identity does not exist") => Some(0),
            _ => None,
        }
    } else {
        let name = &regs.keys[r - regs.identities.len()];
        let result =
            tokio::time::timeout(Duration::from_secs(5), c.key_status(ENCLAVE, name, 0)).await;
        match result {
            Ok(Ok(key)) => Some(u64::from(key.version)),
            Ok(Err(e)) if absent(&e, "key does not exist") => Some(0),
            _ => None,
        }
    };
    // A read that failed returned nothing: it is left out (reads change nothing).
    let outcome = value.map_or(Outcome::Failed, |v| Outcome::Ok(Op::Read(Some(v))));
    record_return(rec, op, outcome);
    value
}

fn ip(addr: &str) -> String {
    addr.rsplit_once(':').unwrap().0.to_string()
}

/// Adds `rules` (each a match and verdict) to table `table`, made if need be.
fn nft(table: &str, rules: &[String]) {
    let mut script = format!(
        "add table inet {table}\nadd chain inet {table} out {{ type filter hook output priority 0; policy accept; }}\n"
    );
    for r in rules {
        script.push_str(&format!("add rule inet {table} out {r}\n"));
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

/// Deletes table `table` with its rules.
fn nft_delete(table: &str) {
    let _ = Command::new("nft")
        .args(["delete", "table", "inet", table])
        .output();
}

/// The table of the rules that isolate slot `i`.
fn isolation(i: usize) -> String {
    format!("chaos_isolate_{i}")
}

/// Checks each register's history; counts acknowledged, unknown and failed writes, and reads.
fn check(events: &[Event], round: u64, faults: &[String]) -> Totals {
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
                    if !matches!(call, Op::Read(_)) {
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
                    Op::Read(_) => reads += 1,
                    Op::Write(_) | Op::Rotate => acked += 1,
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
    Totals {
        acked,
        unknown,
        failed,
        reads,
    }
}
