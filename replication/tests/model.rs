//! Bounded exhaustive model check of the protocol core: from a settled 3-node cluster, every
//! interleaving of up to `MODEL_DEPTH` steps is explored (depth-first, states deduplicated by
//! hash), where a step is any of: deliver any message in flight (so any order), lose one,
//! deliver one twice, let a node's clock advance by a heartbeat or past every timeout (a long
//! pause is the latter with nothing delivered meanwhile), a client write on any node, a crash
//! and restart from what was persisted, and a membership change (`rm` of a member through the
//! leader, or `edit --rm` of a crashed one). After every step it checks REPLICATION.md's
//! invariants: one value per index; an acknowledged write is applied at its index wherever
//! that index is applied; a write answered "failed" is never applied; at most one leader per
//! term; no node that would serve a read (a member, probed, not waiting on a prepared entry)
//! is behind an acknowledged write; a removed node grants no vote.
//!
//! `MODEL_DEPTH=n` (default 5 in every test run) goes deeper by hand; the state count and time
//! are printed.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

use minkms_replication::*;

mod common;
use common::TIMING;

const N: u64 = 3;
const MAX_WRITES: u8 = 2;
const MAX_CRASHES: u8 = 1;
const MAX_LOSSES: u8 = 2;
const MAX_DUPLICATES: u8 = 1;
const MAX_MEMBERSHIP: u8 = 1;

#[derive(Clone, Debug)]
struct Node {
    core: Option<Core>,
    durable: Hard,
    applied: BTreeMap<u64, Ballot>,
    clock: u64,
}

#[derive(Clone, Debug)]
struct State {
    nodes: Vec<Node>,
    /// In flight, kept sorted so that the order they were sent in does not split states.
    net: Vec<Envelope>,
    acked: BTreeMap<u64, u64>,
    failed: BTreeSet<u64>,
    decided: BTreeMap<u64, Ballot>,
    value_req: BTreeMap<Ballot, u64>,
    leaders: BTreeMap<u64, NodeId>,
    next_req: u64,
    /// Membership requests: their values are configs, not client writes.
    config_reqs: BTreeSet<u64>,
    writes: u8,
    crashes: u8,
    losses: u8,
    duplicates: u8,
    membership: u8,
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Deliver(usize),
    Lose(usize),
    Duplicate(usize),
    Heartbeat(usize),
    Timeout(usize),
    Write(usize),
    Crash(usize),
    Restart(usize),
    Remove(usize),
    EditOut(usize, usize),
}

impl State {
    fn key(&self) -> u64 {
        let mut h = DefaultHasher::new();
        format!("{self:?}").hash(&mut h);
        h.finish()
    }

    fn live(&self, i: usize) -> Option<&Core> {
        self.nodes[i].core.as_ref()
    }

    fn steps(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, env) in self.net.iter().enumerate() {
            if !seen.insert(format!("{env:?}")) {
                continue;
            }
            steps.push(Step::Deliver(i));
            if self.losses < MAX_LOSSES {
                steps.push(Step::Lose(i));
            }
            if self.duplicates < MAX_DUPLICATES {
                steps.push(Step::Duplicate(i));
            }
        }
        for i in 0..self.nodes.len() {
            match self.live(i) {
                Some(core) => {
                    // A follower's heartbeat tick does nothing a timeout would not.
                    if core.status(self.nodes[i].clock).role == Role::Leader {
                        steps.push(Step::Heartbeat(i));
                    }
                    steps.push(Step::Timeout(i));
                    if self.writes < MAX_WRITES {
                        steps.push(Step::Write(i));
                    }
                    if self.crashes < MAX_CRASHES {
                        steps.push(Step::Crash(i));
                    }
                    let st = core.status(self.nodes[i].clock);
                    if self.membership < MAX_MEMBERSHIP && st.role == Role::Leader {
                        for m in st.config.members.keys() {
                            if *m as usize != i {
                                steps.push(Step::Remove(*m as usize));
                            }
                        }
                        for (d, n) in self.nodes.iter().enumerate() {
                            if n.core.is_none() && st.config.contains(d as u64) {
                                steps.push(Step::EditOut(i, d));
                            }
                        }
                    }
                }
                None => steps.push(Step::Restart(i)),
            }
        }
        steps
    }

    fn fail(&self, what: String, trace: &[Step]) -> ! {
        panic!(
            "invariant violated: {what}\n  after {trace:?}\n  {:#?}",
            self.nodes
                .iter()
                .map(|n| (
                    &n.durable.commit,
                    &n.durable.config.members,
                    &n.durable.slot
                ))
                .collect::<Vec<_>>()
        );
    }

    /// Runs `f` on node `i` and executes its outputs.
    fn on(&mut self, i: usize, trace: &[Step], f: impl FnOnce(&mut Core, u64)) {
        let clock = self.nodes[i].clock;
        let Some(core) = self.nodes[i].core.as_mut() else {
            return;
        };
        f(core, clock);
        let outputs = core.take_outputs();
        let st = core.status(clock);
        if st.role == Role::Leader {
            if let Some(other) = self.leaders.insert(st.term, i as u64) {
                if other != i as u64 {
                    self.fail(
                        format!("two leaders in term {}: {other} and {i}", st.term),
                        trace,
                    );
                }
            }
        }
        let removed = st.removed;
        for out in outputs {
            match out {
                Output::Persist(hard) => self.nodes[i].durable = hard,
                Output::Apply { index, value, hard } => {
                    match self.decided.get(&index) {
                        Some(v) if *v != value.id => {
                            self.fail(format!("index {index}: {:?} and {:?}", v, value.id), trace)
                        }
                        _ => {
                            self.decided.insert(index, value.id);
                        }
                    }
                    if let Payload::App(bytes) = &value.payload {
                        let req = u64::from_be_bytes(bytes[..8].try_into().unwrap());
                        if self.failed.contains(&req) {
                            self.fail(format!("failed write {req} applied at {index}"), trace);
                        }
                        self.value_req.insert(value.id, req);
                    }
                    self.nodes[i].applied.insert(index, value.id);
                    self.nodes[i].durable = hard;
                }
                Output::Send(env) => {
                    if removed {
                        if let Message::VoteReply { granted: true, .. } = env.msg {
                            self.fail(format!("removed node {i} grants a vote"), trace);
                        }
                    }
                    let at = self
                        .net
                        .partition_point(|e| format!("{e:?}") < format!("{env:?}"));
                    self.net.insert(at, env);
                }
                Output::Respond { req, result } => {
                    match result {
                        Ok(_) if self.config_reqs.contains(&req) => {}
                        Ok(index) => {
                            let got = self.nodes[i].applied.get(&index);
                            if got.and_then(|v| self.value_req.get(v)) != Some(&req) {
                                self.fail(format!("write {req} acknowledged at {index}, but {i} applied {got:?}"), trace);
                            }
                            self.acked.insert(req, index);
                        }
                        Err(WriteError::Failed(_)) => {
                            if self.value_req.values().any(|r| *r == req) {
                                self.fail(
                                    format!("write {req} answered failed but applied"),
                                    trace,
                                );
                            }
                            self.failed.insert(req);
                        }
                        Err(_) => {}
                    }
                }
                Output::Removed => {}
            }
        }
    }

    fn apply(&mut self, step: Step, trace: &[Step]) {
        match step {
            Step::Deliver(k) | Step::Duplicate(k) => {
                let env = if matches!(step, Step::Deliver(_)) {
                    self.net.remove(k)
                } else {
                    self.duplicates += 1;
                    self.net[k].clone()
                };
                let to = env.to as usize;
                if to < self.nodes.len() {
                    self.on(to, trace, |c, now| c.receive(now, env));
                }
            }
            Step::Lose(k) => {
                self.net.remove(k);
                self.losses += 1;
            }
            Step::Heartbeat(i) => {
                self.nodes[i].clock += TIMING.heartbeat;
                self.on(i, trace, |c, now| c.tick(now));
            }
            Step::Timeout(i) => {
                self.nodes[i].clock += 2 * TIMING.election + 1;
                self.on(i, trace, |c, now| c.tick(now));
            }
            Step::Write(i) => {
                let req = self.next_req;
                self.next_req += 1;
                self.writes += 1;
                let mut payload = req.to_be_bytes().to_vec();
                payload.extend_from_slice(b"w");
                self.on(i, trace, |c, now| c.propose(now, req, payload));
            }
            Step::Crash(i) => {
                self.nodes[i].core = None;
                self.crashes += 1;
            }
            Step::Restart(i) => {
                let n = &mut self.nodes[i];
                let mut core = Core::new(n.durable.clone(), TIMING, 7 + i as u64, n.clock);
                core.probe_all();
                n.core = Some(core);
                self.on(i, trace, |_, _| {});
            }
            Step::Remove(victim) => {
                self.membership += 1;
                let req = self.next_req;
                self.next_req += 1;
                self.config_reqs.insert(req);
                let leader = (0..self.nodes.len())
                    .find(|i| {
                        self.live(*i)
                            .is_some_and(|c| c.status(self.nodes[*i].clock).role == Role::Leader)
                    })
                    .expect("a leader");
                self.on(leader, trace, |c, now| {
                    c.propose_remove(now, req, victim as u64)
                });
            }
            Step::EditOut(on, dead) => {
                self.membership += 1;
                self.on(on, trace, |c, now| {
                    let _ = c.force_remove(now, dead as u64);
                });
            }
        }
        self.check_reads(trace);
    }

    /// A node that would serve a read now is not behind an acknowledged write.
    fn check_reads(&self, trace: &[Step]) {
        let Some(newest) = self.acked.values().max().copied() else {
            return;
        };
        for (i, n) in self.nodes.iter().enumerate() {
            let Some(core) = &n.core else { continue };
            let st = core.status(n.clock);
            let waits = matches!(
                n.durable.slot,
                Some(Slot {
                    value: SlotValue::Entry(_),
                    ..
                })
            );
            let serves = !st.removed && !st.joining && st.probed && !waits;
            if serves && n.durable.commit < newest {
                self.fail(
                    format!(
                        "node {i} serves reads at {} after {newest} was acknowledged",
                        n.durable.commit
                    ),
                    trace,
                );
            }
        }
    }
}

/// A settled cluster: node 0 leads, every node has heard from it and probed.
fn settled() -> State {
    let config = Config {
        epoch: 1,
        members: (0..N).map(|i| (i, format!("n{i}"))).collect(),
        next_id: N,
    };
    let mut state = State {
        nodes: (0..N)
            .map(|id| {
                let mut hard = Hard::single(format!("n{id}"));
                hard.id = id;
                hard.config = config.clone();
                let mut core = Core::new(hard.clone(), TIMING, 1 + id, 0);
                core.probe_all();
                Node {
                    core: Some(core),
                    durable: hard,
                    applied: BTreeMap::new(),
                    clock: 0,
                }
            })
            .collect(),
        net: Vec::new(),
        acked: BTreeMap::new(),
        failed: BTreeSet::new(),
        decided: BTreeMap::new(),
        value_req: BTreeMap::new(),
        leaders: BTreeMap::new(),
        next_req: 1,
        config_reqs: BTreeSet::new(),
        writes: 0,
        crashes: 0,
        losses: 0,
        duplicates: 0,
        membership: 0,
    };
    // Node 0 times out first; everything is delivered at once until quiet.
    for i in 0..N as usize {
        state.on(i, &[], |_, _| {});
    }
    state.apply(Step::Timeout(0), &[]);
    for _ in 0..200 {
        while !state.net.is_empty() {
            state.apply(Step::Deliver(0), &[]);
        }
        for i in 0..N as usize {
            state.apply(Step::Heartbeat(i), &[]);
        }
        let ready = state.nodes.iter().enumerate().all(|(i, n)| {
            let st = n.core.as_ref().unwrap().status(n.clock);
            st.probed && st.leader == Some(0) && (i != 0 || st.writable)
        });
        if ready {
            while !state.net.is_empty() {
                state.apply(Step::Deliver(0), &[]);
            }
            return state;
        }
    }
    panic!("the cluster did not settle");
}

struct Search {
    depth: usize,
    seen: HashMap<u64, usize>,
    explored: u64,
}

impl Search {
    fn dfs(&mut self, state: &State, trace: &mut Vec<Step>) {
        let left = self.depth - trace.len();
        match self.seen.get(&state.key()) {
            Some(l) if *l >= left => return,
            _ => {
                self.seen.insert(state.key(), left);
            }
        }
        self.explored += 1;
        if left == 0 {
            return;
        }
        for step in state.steps() {
            let mut next = state.clone();
            trace.push(step);
            next.apply(step, trace);
            self.dfs(&next, trace);
            trace.pop();
        }
    }
}

/// The moment of REPLICATION.md's hardest case: the leader has committed a write, applied it
/// and answered its client, and dies before any `Commit` leaves.
fn leader_died_after_answering() -> State {
    let mut state = settled();
    state.apply(Step::Write(0), &[]);
    while let Some(k) = state
        .net
        .iter()
        .position(|e| !matches!(e.msg, Message::Commit { .. }))
    {
        state.apply(Step::Deliver(k), &[]);
    }
    assert!(!state.acked.is_empty(), "the write was acknowledged");
    state
        .net
        .retain(|e| !matches!(e.msg, Message::Commit { .. }));
    state.apply(Step::Crash(0), &[]);
    state
}

fn search(name: &str, start: State, depth: usize) -> usize {
    let started = std::time::Instant::now();
    let mut search = Search {
        depth,
        seen: HashMap::new(),
        explored: 0,
    };
    search.dfs(&start, &mut Vec::new());
    println!(
        "model check from {name}: 3 nodes, depth {depth}: {} distinct states, {} explored, {:.1} s",
        search.seen.len(),
        search.explored,
        started.elapsed().as_secs_f64()
    );
    search.seen.len()
}

fn depth(default: usize) -> usize {
    std::env::var("MODEL_DEPTH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn every_interleaving_within_the_bounds_keeps_the_invariants() {
    let states = search("a settled cluster", settled(), depth(5));
    assert!(states > 1_000, "the search must get somewhere");
}

/// From the moment the leader died after answering: every way the survivors can go on, with
/// losses, duplicates, a restart and `edit --rm`, keeps the invariants (the acknowledged write
/// included), and some of them commit it without the dead proposer.
#[test]
fn after_the_leader_dies_having_answered_no_interleaving_loses_or_blocks_its_write() {
    let start = leader_died_after_answering();
    let states = search("a leader dead after answering", start.clone(), depth(6));
    assert!(states > 1_000, "the search must get somewhere");
    // The shortest way out: the survivors notice the leader is gone, one wins the election, and
    // commits the entry at once, without the proposer.
    let mut state = start;
    let index = *state.acked.values().next().unwrap();
    state.apply(Step::Timeout(2), &[]);
    state.apply(Step::Timeout(1), &[]);
    for _ in 0..20 {
        while !state.net.is_empty() {
            state.apply(Step::Deliver(0), &[]);
        }
        if state.nodes[1..].iter().all(|n| n.durable.commit >= index) {
            return;
        }
        state.apply(Step::Heartbeat(1), &[]);
    }
    panic!("the survivors did not commit the acknowledged write");
}
