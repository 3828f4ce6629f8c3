//! Deterministic simulation of the protocol core (REPLICATION.md §4.3, §2.12): N cores, a
//! message pool with latency, loss, duplication, reordering and one-way partitions, crashes
//! that keep only what was persisted (also between two outputs of one step), membership changes
//! (add, rm, `edit --rm` of a dead node), client writes and reads on random nodes. The
//! invariants are checked after every output; a failure names its seed:
//! `SIM_SEED=<seed> cargo test -p minkms-replication --test simulation -- --nocapture`.
//! `SIM_SEEDS=<n>` runs more seeds (CI runs the default).

use std::collections::{BTreeMap, BTreeSet};

use minkms_replication::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TIMING: Timing = Timing {
    heartbeat: 50,
    election: 150,
    rpc: 100,
};
const STEP: u64 = 5;

#[derive(Debug)]
struct SimNode {
    core: Option<Core>,
    durable: Hard,
    /// index → value id, as durably applied.
    applied: BTreeMap<u64, Ballot>,
    /// Crashed until then (`None` = up).
    down_until: Option<u64>,
    /// Wiped and force-removed: never comes back.
    gone: bool,
    removed: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Pending,
    Ok(u64),
    Failed,
    Unknown,
    Refused,
}

struct Sim {
    seed: u64,
    rng: StdRng,
    now: u64,
    nodes: BTreeMap<NodeId, SimNode>,
    pool: Vec<(u64, Envelope)>,
    cut: BTreeSet<(NodeId, NodeId)>,
    loss: f64,
    next_req: u64,
    writes: BTreeMap<u64, Outcome>,
    /// index → (value id, req if a client write) applied anywhere.
    decided: BTreeMap<u64, Ballot>,
    leaders: BTreeMap<u64, NodeId>,
    /// (index, value id) → nodes that persisted it in their slot.
    prepared: BTreeMap<(u64, Ballot), BTreeSet<NodeId>>,
    /// value id → request.
    value_req: BTreeMap<Ballot, u64>,
    max_seen: u64,
    /// Membership requests (their values are configs, not client writes).
    config_reqs: BTreeSet<u64>,
    reads: u64,
    blocked_reads: u64,
    faults: bool,
    clients: bool,
}

fn hard_host(id: NodeId) -> String {
    format!("n{id}")
}

impl Sim {
    fn new(seed: u64, n: u64) -> Self {
        let mut sim = Self {
            seed,
            rng: StdRng::seed_from_u64(seed),
            now: 0,
            nodes: BTreeMap::new(),
            pool: Vec::new(),
            cut: BTreeSet::new(),
            loss: 0.0,
            next_req: 1,
            writes: BTreeMap::new(),
            decided: BTreeMap::new(),
            leaders: BTreeMap::new(),
            prepared: BTreeMap::new(),
            value_req: BTreeMap::new(),
            max_seen: 0,
            config_reqs: BTreeSet::new(),
            reads: 0,
            blocked_reads: 0,
            faults: true,
            clients: true,
        };
        // Every node starts from the same config of n members (as if added one by one).
        let config = Config {
            epoch: 1,
            members: (0..n).map(|i| (i, hard_host(i))).collect(),
            next_id: n,
        };
        for id in 0..n {
            let mut hard = Hard::single(hard_host(id));
            hard.id = id;
            hard.config = config.clone();
            sim.add_node(hard, BTreeMap::new());
        }
        sim
    }

    fn fail(&self, what: String) -> ! {
        panic!(
            "seed {}: t={} ms: invariant violated: {what}\n  reproduce: SIM_SEED={} cargo test -p minkms-replication --test simulation -- --nocapture",
            self.seed, self.now, self.seed
        );
    }

    fn add_node(&mut self, hard: Hard, applied: BTreeMap<u64, Ballot>) {
        let id = hard.id;
        let seed = self.rng.gen();
        let core = Core::new(hard.clone(), TIMING, seed, self.now);
        self.nodes.insert(
            id,
            SimNode {
                core: Some(core),
                durable: hard,
                applied,
                down_until: None,
                gone: false,
                removed: false,
            },
        );
    }

    fn live(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.core.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Runs `f` on node `id`'s core and executes its outputs; with `crash_after`, the node
    /// crashes after that many outputs.
    fn on(&mut self, id: NodeId, crash_after: Option<usize>, f: impl FnOnce(&mut Core, u64)) {
        let now = self.now;
        let Some(core) = self.nodes.get_mut(&id).and_then(|n| n.core.as_mut()) else {
            return;
        };
        f(core, now);
        let outputs = core.take_outputs();
        let was_leader = core.status(now).role == Role::Leader;
        let term = core.hard().term;
        if was_leader {
            if let Some(other) = self.leaders.insert(term, id) {
                if other != id {
                    self.fail(format!("two leaders in term {term}: {other} and {id}"));
                }
            }
        }
        for (i, out) in outputs.into_iter().enumerate() {
            if crash_after == Some(i) {
                self.crash(id);
                return;
            }
            self.execute(id, out);
        }
    }

    fn execute(&mut self, id: NodeId, out: Output) {
        match out {
            Output::Persist(hard) => self.persist(id, hard),
            Output::Apply { index, value, hard } => {
                let node = &self.nodes[&id];
                if index != node.durable.commit + 1 {
                    self.fail(format!(
                        "node {id} applies {index} on top of {}",
                        node.durable.commit
                    ));
                }
                if hard.commit != index || hard.commit_id != value.id {
                    self.fail(format!("node {id}: apply of {index} persists {hard:?}"));
                }
                match self.decided.get(&index) {
                    Some(v) if *v != value.id => self.fail(format!(
                        "index {index}: node {id} applies {:?}, another node applied {v:?}",
                        value.id
                    )),
                    Some(_) => {}
                    None => {
                        // The deciding apply: every member of the write quorum holds it.
                        let mut quorum: BTreeSet<NodeId> =
                            node.durable.config.members.keys().copied().collect();
                        if let Payload::Config(c) = &value.payload {
                            quorum.extend(c.members.keys().copied());
                        }
                        let holders = self
                            .prepared
                            .get(&(index, value.id))
                            .cloned()
                            .unwrap_or_default();
                        for m in quorum {
                            let gone = self.nodes.get(&m).is_some_and(|n| n.gone);
                            if m != value.proposer && !gone && !holders.contains(&m) {
                                self.fail(format!(
                                    "index {index} ({:?}) committed by {id} but member {m} never prepared it: {:?}\n{}",
                                    value.id, value.payload, self.summary()
                                ));
                            }
                        }
                        self.decided.insert(index, value.id);
                    }
                }
                if let Payload::App(bytes) = &value.payload {
                    let req = u64::from_be_bytes(bytes[..8].try_into().unwrap());
                    if self.writes.get(&req) == Some(&Outcome::Failed) {
                        self.fail(format!("write {req} answered failed, applied at {index}"));
                    }
                    self.value_req.insert(value.id, req);
                }
                let node = self.nodes.get_mut(&id).unwrap();
                node.applied.insert(index, value.id);
                self.persist(id, hard);
            }
            Output::Send(env) => {
                if self.cut.contains(&(env.from, env.to)) || self.rng.gen_bool(self.loss) {
                    return;
                }
                let copies = if self.rng.gen_bool(0.02) { 2 } else { 1 };
                for _ in 0..copies {
                    let at = self.now + self.rng.gen_range(1..=20);
                    self.pool.push((at, env.clone()));
                }
            }
            Output::Respond { req, result } => {
                let outcome = match result {
                    Ok(index) => {
                        let node = &self.nodes[&id];
                        let got = node.applied.get(&index).and_then(|v| self.value_req.get(v));
                        if got != Some(&req) && !self.config_reqs.contains(&req) {
                            self.fail(format!(
                                "write {req} acknowledged at {index}, but {id} applied {got:?} there ({:?})\n{}",
                                node.applied.get(&index),
                                self.summary()
                            ));
                        }
                        self.max_seen = self.max_seen.max(index);
                        Outcome::Ok(index)
                    }
                    Err(WriteError::Failed(_)) => {
                        if self.value_req.values().any(|r| *r == req) {
                            self.fail(format!("write {req} answered failed but applied"));
                        }
                        Outcome::Failed
                    }
                    Err(WriteError::Unknown(_)) => Outcome::Unknown,
                    Err(_) => Outcome::Refused,
                };
                if self.writes.get(&req) != Some(&Outcome::Pending) {
                    self.fail(format!("write {req} answered twice"));
                }
                self.writes.insert(req, outcome);
            }
            Output::Removed => {
                self.nodes.get_mut(&id).unwrap().removed = true;
            }
        }
    }

    fn persist(&mut self, id: NodeId, hard: Hard) {
        let old = &self.nodes[&id].durable;
        if hard.commit < old.commit || hard.term < old.term || hard.config.epoch < old.config.epoch
        {
            self.fail(format!(
                "node {id} goes back: {:?} → {:?}",
                (old.commit, old.term, old.config.epoch),
                (hard.commit, hard.term, hard.config.epoch)
            ));
        }
        if let Some(Slot {
            index,
            value: SlotValue::Entry(v),
            ..
        }) = &hard.slot
        {
            self.prepared.entry((*index, v.id)).or_default().insert(id);
        }
        self.nodes.get_mut(&id).unwrap().durable = hard;
        self.check_counters();
    }

    /// Members of one epoch differ by at most 1 in `commit`.
    fn check_counters(&self) {
        let mut by_epoch: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for (id, n) in &self.nodes {
            let h = &n.durable;
            if n.gone || h.joining || !h.config.contains(*id) {
                continue;
            }
            let e = by_epoch.entry(h.config.epoch).or_insert((u64::MAX, 0));
            e.0 = e.0.min(h.commit);
            e.1 = e.1.max(h.commit);
        }
        for (epoch, (lo, hi)) in by_epoch {
            if hi > lo + 1 {
                self.fail(format!("epoch {epoch}: commits range {lo}..{hi}"));
            }
        }
    }

    fn crash(&mut self, id: NodeId) {
        let until = self.now + self.rng.gen_range(20..600);
        let node = self.nodes.get_mut(&id).unwrap();
        node.core = None;
        node.down_until = Some(until);
    }

    fn restart_due(&mut self) {
        let now = self.now;
        let due: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, n)| !n.gone && n.down_until.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let seed = self.rng.gen();
            let node = self.nodes.get_mut(&id).unwrap();
            node.down_until = None;
            let mut core = Core::new(node.durable.clone(), TIMING, seed, now);
            core.probe_all();
            node.core = Some(core);
            self.on(id, None, |_, _| {});
        }
    }

    fn leader(&self) -> Option<NodeId> {
        self.nodes.iter().find_map(|(id, n)| {
            n.core
                .as_ref()
                .filter(|c| c.status(self.now).role == Role::Leader)
                .map(|_| *id)
        })
    }

    fn write(&mut self) {
        let live = self.live();
        if live.is_empty() {
            return;
        }
        let target = self
            .leader()
            .filter(|_| self.rng.gen_bool(0.9))
            .unwrap_or_else(|| live[self.rng.gen_range(0..live.len())]);
        let req = self.next_req;
        self.next_req += 1;
        self.writes.insert(req, Outcome::Pending);
        let mut payload = req.to_be_bytes().to_vec();
        payload.extend_from_slice(b"cmd");
        self.on(target, None, |c, now| c.propose(now, req, payload));
    }

    /// A read on a random node: blocked while its slot holds an entry, else its commit,
    /// which must not be older than anything acknowledged or read before.
    fn read(&mut self) {
        let live = self.live();
        if live.is_empty() {
            return;
        }
        let id = live[self.rng.gen_range(0..live.len())];
        let n = &self.nodes[&id];
        let core = n.core.as_ref().unwrap();
        let st = core.status(self.now);
        if st.removed || st.joining || n.removed {
            return;
        }
        if matches!(
            n.durable.slot,
            Some(Slot {
                value: SlotValue::Entry(_),
                ..
            })
        ) {
            self.blocked_reads += 1;
            return;
        }
        let commit = n.durable.commit;
        if commit < self.max_seen {
            self.fail(format!(
                "stale read on node {id}: commit {commit}, but {} was acknowledged or read\n{}",
                self.max_seen,
                self.summary()
            ));
        }
        self.max_seen = commit;
        self.reads += 1;
    }

    fn membership(&mut self) {
        let Some(leader) = self.leader() else { return };
        let st = self.nodes[&leader].core.as_ref().unwrap().status(self.now);
        if !st.writable {
            return;
        }
        let req = self.next_req;
        self.next_req += 1;
        self.writes.insert(req, Outcome::Pending);
        self.config_reqs.insert(req);
        if st.config.members.len() < 5 && self.rng.gen_bool(0.6) {
            // Join: the snapshot is the leader's committed state.
            let lh = self.nodes[&leader].durable.clone();
            let id = st.config.next_id;
            let hard = Hard {
                id,
                term: lh.term,
                voted_for: None,
                commit: lh.commit,
                commit_id: lh.commit_id,
                config: lh.config.clone(),
                slot: None,
                last: lh.last.clone(),
                joining: true,
                forced_out: Default::default(),
            };
            let applied = self.nodes[&leader].applied.clone();
            self.add_node(hard, applied);
            self.on(leader, None, |c, now| {
                c.propose_add(now, req, id, hard_host(id))
            });
        } else if st.config.members.len() > 2 {
            let members: Vec<NodeId> = st.config.members.keys().copied().collect();
            let victim = members[self.rng.gen_range(0..members.len())];
            self.on(leader, None, |c, now| c.propose_remove(now, req, victim));
        } else {
            self.writes.remove(&req);
        }
    }

    /// `edit H --rm D` where D is dead (crashed) and wiped: D never returns.
    fn force_remove(&mut self) {
        let live = self.live();
        if live.is_empty() {
            return;
        }
        // The operator edits one node at a time: while a forced config has not been committed
        // yet, the next edit goes to that same node (seed 003).
        let h = self
            .nodes
            .iter()
            .find(|(_, n)| !n.durable.forced_out.is_empty() && !n.gone && !n.removed)
            .map(|(id, _)| *id)
            .unwrap_or_else(|| live[self.rng.gen_range(0..live.len())]);
        if self.nodes[&h].core.is_none() {
            return;
        }
        let hard = &self.nodes[&h].durable;
        if hard.joining || !hard.config.contains(h) {
            return;
        }
        let dead: Vec<NodeId> = hard
            .config
            .members
            .keys()
            .copied()
            .filter(|m| self.nodes.get(m).is_some_and(|n| n.core.is_none()))
            .collect();
        let Some(&d) = dead.first() else { return };
        let now = self.now;
        let mut done = false;
        self.on(h, None, |c, _| done = c.force_remove(now, d).is_ok());
        if done {
            self.nodes.get_mut(&d).unwrap().gone = true;
        }
    }

    fn nemesis(&mut self) {
        let r: f64 = self.rng.gen();
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        if r < 0.004 {
            let live = self.live();
            if live.len() > 1 {
                let id = live[self.rng.gen_range(0..live.len())];
                self.crash(id);
            }
        } else if r < 0.008 {
            let a = ids[self.rng.gen_range(0..ids.len())];
            let b = ids[self.rng.gen_range(0..ids.len())];
            self.cut.insert((a, b));
            if self.rng.gen_bool(0.5) {
                self.cut.insert((b, a));
            }
        } else if r < 0.014 {
            self.cut.clear();
        } else if r < 0.016 {
            self.loss = [0.0, 0.05, 0.2][self.rng.gen_range(0..3)];
        } else if r < 0.0165 {
            self.force_remove();
        } else if r < 0.018 {
            self.membership();
        }
    }

    fn step(&mut self) {
        self.now += STEP;
        self.restart_due();
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pool)
            .into_iter()
            .partition(|(t, _)| *t <= now);
        self.pool = later;
        let mut due = due;
        // Random delivery order among what is due.
        for i in (1..due.len()).rev() {
            let j = self.rng.gen_range(0..=i);
            due.swap(i, j);
        }
        for (_, env) in due {
            if std::env::var("SIM_TRACE").is_ok()
                && self.now > 15000
                && (env.to == 1 || env.from == 1)
            {
                eprintln!(
                    "t={} deliver {:?} to node {} with {:?}",
                    self.now,
                    env,
                    env.to,
                    self.nodes
                        .get(&env.to)
                        .map(|n| (n.durable.commit, n.durable.commit_id))
                );
            }
            let crash = (self.faults && self.rng.gen_bool(0.002)).then(|| self.rng.gen_range(0..4));
            self.on(env.to, crash, |c, now| c.receive(now, env));
        }
        for id in self.live() {
            let crash =
                (self.faults && self.rng.gen_bool(0.0005)).then(|| self.rng.gen_range(0..4));
            self.on(id, crash, |c, now| c.tick(now));
        }
        if self.clients && self.rng.gen_bool(0.15) {
            self.write();
        }
        if self.rng.gen_bool(0.3) {
            self.read();
        }
        if self.faults {
            self.nemesis();
        }
    }

    /// Heals everything, restarts every crashed node, and checks that the cluster converges:
    /// one leader, equal commits, a write commits, every acknowledged write applied everywhere.
    fn heal_and_check(&mut self) {
        self.faults = false;
        self.cut.clear();
        self.loss = 0.0;
        for n in self.nodes.values_mut() {
            if n.down_until.is_some() && !n.gone {
                n.down_until = Some(0);
            }
        }
        let deadline = self.now + 20_000;
        let mut probe: Option<u64> = None;
        let mut next_edit = self.now + 5_000;
        while self.now < deadline {
            self.step_quiet();
            if probe.is_none() && self.now >= next_edit {
                // The operator finishes the runbook: a config that still names a node wiped
                // for good gets an `edit --rm` on a live member.
                next_edit = self.now + 5_000;
                self.edit_out_gone();
            }
            if let Some(req) = probe {
                match self.writes.get(&req) {
                    Some(Outcome::Ok(_)) => break,
                    Some(Outcome::Pending) => {}
                    _ => probe = None,
                }
            } else if let Some(l) = self.leader() {
                if self.nodes[&l]
                    .core
                    .as_ref()
                    .unwrap()
                    .status(self.now)
                    .writable
                {
                    let req = self.next_req;
                    self.next_req += 1;
                    self.writes.insert(req, Outcome::Pending);
                    let mut payload = req.to_be_bytes().to_vec();
                    payload.extend_from_slice(b"final");
                    self.on(l, None, |c, now| c.propose(now, req, payload));
                    probe = Some(req);
                }
            }
        }
        let Some(req) = probe else {
            self.fail(format!(
                "no writable leader after healing:\n{}",
                self.summary()
            ))
        };
        if !matches!(self.writes.get(&req), Some(Outcome::Ok(_))) {
            self.fail("the write after healing did not commit".into());
        }
        // No new writes; let the last ones and their Commits reach everyone.
        self.clients = false;
        for _ in 0..400 {
            self.step_quiet();
        }
        let leader = self.leader().unwrap();
        let config = self.nodes[&leader].durable.config.clone();
        let reference = self.nodes[&leader].applied.clone();
        for id in config.members.keys() {
            let n = &self.nodes[id];
            if n.durable.commit != self.nodes[&leader].durable.commit {
                self.fail(format!(
                    "after healing node {id} has commit {} and the leader {}\n{}",
                    n.durable.commit,
                    self.nodes[&leader].durable.commit,
                    self.summary()
                ));
            }
            if n.applied != reference {
                self.fail(format!("node {id} applied other entries than the leader"));
            }
        }
        let applied_reqs: BTreeSet<u64> = reference
            .values()
            .filter_map(|v| self.value_req.get(v).copied())
            .collect();
        for (req, outcome) in &self.writes {
            match outcome {
                Outcome::Ok(_)
                    if !applied_reqs.contains(req) && !self.config_reqs.contains(req) =>
                {
                    self.fail(format!("acknowledged write {req} lost"))
                }
                Outcome::Failed if applied_reqs.contains(req) => {
                    self.fail(format!("failed write {req} applied"))
                }
                _ => {}
            }
        }
    }

    fn edit_out_gone(&mut self) {
        let now = self.now;
        let target = self.nodes.iter().find_map(|(id, n)| {
            let core = n.core.as_ref()?;
            let st = core.status(now);
            if st.removed || st.joining || n.removed {
                return None;
            }
            let gone = st
                .config
                .members
                .keys()
                .find(|m| self.nodes.get(m).is_some_and(|g| g.gone))?;
            Some((*id, *gone))
        });
        if let Some((h, d)) = target {
            self.on(h, None, |c, _| {
                let _ = c.force_remove(now, d);
            });
        }
    }

    fn summary(&self) -> String {
        let mut out = String::new();
        for (id, n) in &self.nodes {
            let h = &n.durable;
            let st = n.core.as_ref().map(|c| c.status(self.now));
            out += &format!(
                "  node {id}: up={} gone={} removed={} role={:?} leader={:?} term={} commit={} epoch={} members={:?} forced={} joining={} slot={:?} peers={:?}\n",
                n.core.is_some(),
                n.gone,
                n.removed,
                st.as_ref().map(|s| s.role),
                st.as_ref().and_then(|s| s.leader),
                h.term,
                h.commit,
                h.config.epoch,
                h.config.members.keys().collect::<Vec<_>>(),
                !h.forced_out.is_empty(),
                h.joining,
                h.slot.as_ref().map(|s| (s.index, s.ballot, s.value_id())),
                st.map(|s| s.peers.iter().map(|(p, v)| (*p, v.last_ack, v.report.as_ref().map(|r| (r.0, r.1.commit, r.1.slot)))).collect::<Vec<_>>()),
            );
        }
        out
    }

    fn step_quiet(&mut self) {
        let faults = self.faults;
        self.faults = false;
        self.step();
        self.faults = faults;
    }
}

fn run(seed: u64) -> (u64, u64, u64) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let n = rng.gen_range(1..=5);
    let mut sim = Sim::new(seed, n);
    let steps = 4000; // 20 s of simulated time with faults
    for _ in 0..steps {
        sim.step();
    }
    sim.heal_and_check();
    let ok = sim
        .writes
        .values()
        .filter(|o| matches!(o, Outcome::Ok(_)))
        .count() as u64;
    (ok, sim.reads, sim.blocked_reads)
}

#[test]
fn invariants_hold_under_random_faults() {
    if let Some(seed) = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        let (ok, reads, blocked) = run(seed);
        println!("seed {seed}: {ok} acknowledged writes, {reads} reads, {blocked} blocked");
        return;
    }
    let seeds: u64 = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let (mut ok, mut reads) = (0, 0);
    for seed in 0..seeds {
        let (o, r, _) = run(seed);
        ok += o;
        reads += r;
    }
    println!("{seeds} seeds: {ok} acknowledged writes, {reads} reads checked, 0 violations");
    assert!(
        ok > seeds,
        "the schedules must commit writes to mean anything"
    );
}
