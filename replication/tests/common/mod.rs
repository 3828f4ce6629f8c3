//! What the protocol tests share.

#![allow(dead_code)] // Each test file uses its part.

use std::collections::BTreeMap;

use minkms_replication::*;

/// The server's timers (docs/replication.md) scaled down ten times: simulated time runs fast.
pub(crate) const TIMING: Timing = Timing {
    heartbeat: 50,
    election: 150,
    rpc: 100,
};

pub(crate) const TICK: u64 = 5;

/// Cores on a lossless network that delivers at once; crashed nodes are `None`.
pub(crate) struct Net {
    pub(crate) now: u64,
    pub(crate) nodes: BTreeMap<NodeId, Option<Core>>,
    pub(crate) pool: Vec<Envelope>,
    pub(crate) answers: BTreeMap<u64, WriteResult>,
}

impl Net {
    pub(crate) fn new(n: u64) -> Self {
        let config = Config {
            epoch: 1,
            members: (0..n).map(|i| (i, format!("n{i}"))).collect(),
            next_id: n,
        };
        let nodes = (0..n)
            .map(|id| {
                let mut hard = Hard::single(format!("n{id}"));
                hard.id = id;
                hard.config = config.clone();
                let mut core = Core::new(hard, TIMING, 100 + id, 0);
                core.probe_all();
                (id, Some(core))
            })
            .collect();
        Self {
            now: 0,
            nodes,
            pool: Vec::new(),
            answers: BTreeMap::new(),
        }
    }

    /// A cluster of `n` that has elected a leader, and that leader.
    pub(crate) fn settled(n: u64) -> (Self, NodeId) {
        let mut net = Net::new(n);
        net.run_until(2_000, |n| n.leader().is_some())
            .expect("a leader");
        let leader = net.leader().expect("a leader");
        (net, leader)
    }

    /// Node `id` crashes: it is gone, and so is every message on its way to it.
    pub(crate) fn kill(&mut self, id: NodeId) {
        self.nodes.insert(id, None);
        self.pool.retain(|env| env.to != id);
    }

    pub(crate) fn core(&self, id: NodeId) -> &Core {
        self.nodes[&id].as_ref().expect("a live node")
    }

    pub(crate) fn core_mut(&mut self, id: NodeId) -> &mut Core {
        self.nodes
            .get_mut(&id)
            .and_then(Option::as_mut)
            .expect("a live node")
    }

    /// Takes `id`'s outputs; `keep` decides which messages leave.
    pub(crate) fn collect(&mut self, id: NodeId, keep: &dyn Fn(&Envelope) -> bool) {
        let Some(core) = self.nodes.get_mut(&id).and_then(Option::as_mut) else {
            return;
        };
        for out in core.take_outputs() {
            match out {
                Output::Send(env) if keep(&env) => self.pool.push(env),
                Output::Respond { req, result } => {
                    self.answers.insert(req, result);
                }
                _ => {}
            }
        }
    }

    /// Delivers everything queued (and what that produces) to live nodes.
    pub(crate) fn deliver(&mut self, keep: &dyn Fn(&Envelope) -> bool) {
        while !self.pool.is_empty() {
            for env in std::mem::take(&mut self.pool) {
                let to = env.to;
                if let Some(core) = self.nodes.get_mut(&to).and_then(Option::as_mut) {
                    core.receive(self.now, env);
                    self.collect(to, keep);
                }
            }
        }
    }

    /// One tick of time on every live node, then delivery.
    pub(crate) fn step(&mut self) {
        self.step_keeping(&|_| true);
    }

    /// [`Net::step`], losing the messages `keep` refuses.
    pub(crate) fn step_keeping(&mut self, keep: &dyn Fn(&Envelope) -> bool) {
        self.now += TICK;
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            if let Some(core) = self.nodes.get_mut(&id).and_then(Option::as_mut) {
                core.tick(self.now);
                self.collect(id, keep);
            }
        }
        self.deliver(keep);
    }

    /// Three nodes under a leader; one follower crashes, then the leader is given write
    /// `req`. (The net, the leader, the live follower.)
    pub(crate) fn write_with_a_follower_dead(req: u64) -> (Self, NodeId, NodeId) {
        let (mut net, leader) = Net::settled(3);
        let mut followers = (0..3).filter(|id| *id != leader);
        let (live, dead) = (followers.next().unwrap(), followers.next().unwrap());
        net.kill(dead);
        let now = net.now;
        net.core_mut(leader)
            .propose(now, req, format!("write {req}").into_bytes());
        net.collect(leader, &|_| true);
        (net, leader, live)
    }

    pub(crate) fn leader(&self) -> Option<NodeId> {
        self.nodes.iter().find_map(|(id, c)| {
            let st = c.as_ref()?.status(self.now);
            (st.role == Role::Leader && st.writable).then_some(*id)
        })
    }

    /// Runs until `done` holds, for at most `ms`; how long it took.
    pub(crate) fn run_until(
        &mut self,
        ms: u64,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Option<u64> {
        let start = self.now;
        while self.now < start + ms {
            if done(self) {
                return Some(self.now - start);
            }
            self.step();
        }
        done(self).then(|| self.now - start)
    }
}

pub(crate) const B1: Ballot = Ballot { term: 1, seq: 1 };

/// Node `id` of members {0, 1, 2} in term 1; with `committed`, one entry applied.
pub(crate) fn member(id: NodeId, committed: bool) -> Core {
    let mut hard = Hard::single("n0");
    hard.id = id;
    hard.config.members = (0..3).map(|i| (i, format!("n{i}"))).collect();
    hard.config.next_id = 3;
    hard.config.epoch = 1;
    hard.term = 1;
    if committed {
        hard.commit = 1;
        hard.commit_id = B1;
        hard.last = Some(entry(1, Ballot::default(), B1));
    }
    let mut core = Core::new(hard, TIMING, 40 + id, 0);
    core.take_outputs();
    core
}

pub(crate) fn entry(index: u64, prev_id: Ballot, id: Ballot) -> Committed {
    Committed {
        index,
        prev_id,
        value: Value {
            id,
            proposer: 1,
            payload: Payload::App(format!("write {index}").into_bytes()),
        },
    }
}

pub(crate) fn to(core: &Core, from: NodeId, term: u64, msg: Message) -> Envelope {
    Envelope {
        from,
        to: core.id(),
        term,
        epoch: 1,
        msg,
    }
}

/// The probes among `outputs`: (to, nonce).
pub(crate) fn probes(outputs: Vec<Output>) -> Vec<(NodeId, u64)> {
    outputs
        .into_iter()
        .filter_map(|out| match out {
            Output::Send(Envelope {
                to,
                msg: Message::Probe { nonce },
                ..
            }) => Some((to, nonce)),
            _ => None,
        })
        .collect()
}
