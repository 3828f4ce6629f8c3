//! The protocol engine: elections, the one open slot, commit on every member, slot recovery,
//! membership changes. Pure: no I/O, no clock, no global randomness.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::types::*;

/// Timers, in milliseconds (REPLICATION.md §2.11).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Heartbeat interval `H`.
    pub heartbeat: u64,
    /// Election timeout `T`, randomised in `[T, 2T]`.
    pub election: u64,
    /// Deadline of a prepare round.
    pub rpc: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            heartbeat: 500,
            election: 1500,
            rpc: 1000,
        }
    }
}

/// A node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asks for votes.
    Candidate,
    /// Leads its term.
    Leader,
}

impl Role {
    /// The name `stat` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Follower => "Follower",
            Role::Candidate => "Candidate",
            Role::Leader => "Leader",
        }
    }
}

/// Why a write did not commit. Only [`WriteError::Unknown`] leaves the outcome open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// This node does not lead; the leader it knows of, if any.
    NotLeader(Option<NodeId>),
    /// Refused before anything was prepared (a member is down, the queue is full...).
    Unavailable(String),
    /// Prepared, then aborted: definitely not applied.
    Failed(String),
    /// Prepared, outcome not known: it may still be committed by a later leader.
    Unknown(String),
    /// This node is no longer a member of the cluster.
    Removed,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::NotLeader(_) => f.write_str("cluster has no leader"),
            WriteError::Unavailable(m) | WriteError::Failed(m) | WriteError::Unknown(m) => {
                f.write_str(m)
            }
            WriteError::Removed => f.write_str("server not part of cluster"),
        }
    }
}

impl std::error::Error for WriteError {}

/// The index a write was committed at, or why not.
pub type WriteResult = Result<u64, WriteError>;

/// What the driver must do, in order. A `Persist` or `Apply` must be durable before any later
/// output takes effect (the protocol persists before it sends).
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Write this state durably.
    Persist(Hard),
    /// Apply this entry to the state machine and write `hard` in the same transaction.
    Apply {
        /// Its index.
        index: u64,
        /// The entry.
        value: Value,
        /// The state after it.
        hard: Hard,
    },
    /// Send a message (best effort: the protocol retries).
    Send(Envelope),
    /// Answer a write request.
    Respond {
        /// The request.
        req: u64,
        /// Its outcome.
        result: WriteResult,
    },
    /// This node has learnt that it is not a member any more.
    Removed,
}

/// What a node knows about a peer.
#[derive(Debug, Clone, Default)]
pub struct PeerView {
    /// When it last answered (driver's clock).
    pub last_ack: Option<u64>,
    /// Its last report, and the term it was made in.
    pub report: Option<(u64, Report)>,
}

/// A snapshot of a node's protocol state, for `stat`, readiness and the driver.
#[derive(Debug, Clone)]
pub struct Status {
    /// This node.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// The leader it follows (itself when leading).
    pub leader: Option<NodeId>,
    /// Current term.
    pub term: u64,
    /// Entries applied.
    pub commit: u64,
    /// Config.
    pub config: Config,
    /// When it last heard from a leader (or, leading, now).
    pub last_heartbeat: Option<u64>,
    /// Peers as seen from here.
    pub peers: BTreeMap<NodeId, PeerView>,
    /// Whether it waits for the config entry that makes it a member.
    pub joining: bool,
    /// Whether it was removed.
    pub removed: bool,
    /// Whether, leading, every member answered within `2H` and the slot is recovered.
    pub writable: bool,
    /// Whether a member answered its probe since it started or was last paused (or it is
    /// alone): until then, what it committed may be outdated by a removal it missed (the
    /// start-up probe, REPLICATION.md 2.8).
    pub probed: bool,
    /// Since when it has been waiting for that (its start, or when it noticed a pause).
    pub probing_since: Option<u64>,
    /// The nodes whose messages it takes: see [`Core::admits`].
    pub admitted: BTreeSet<NodeId>,
    /// Writes waiting on this leader for the slot.
    pub queued: usize,
    /// Leading: a member that has not answered within `2H` (writes would fail for it).
    pub down: Option<NodeId>,
}

#[derive(Debug, Clone)]
enum Pending {
    App(Vec<u8>),
    Add {
        id: NodeId,
        host: String,
    },
    Remove(NodeId),
    /// Take id `NodeId` (the config's `next_id`) for a node about to be added.
    Reserve(NodeId),
    /// Commit the config this node already holds (after `edit --rm`).
    Install,
}

#[derive(Debug, Clone)]
struct Inflight {
    req: Option<u64>,
    slot: Slot,
    prev: (u64, Ballot),
    quorum: BTreeSet<NodeId>,
    acks: BTreeSet<NodeId>,
    deadline: u64,
    /// Writing a tombstone over the entry that did not commit.
    aborting: bool,
    /// While aborting: who did not accept the entry.
    blame: String,
}

#[derive(Debug, Clone)]
struct Lead {
    seq: u64,
    recovered: bool,
    inflight: Option<Inflight>,
    next_heartbeat: u64,
    /// Since when too few members have answered (check-quorum).
    lonely_since: Option<u64>,
}

/// Most queued writes on a leader; more are refused at once.
const MAX_QUEUE: usize = 4096;
/// Longest a write waits in the queue (ms) before it is refused.
const MAX_QUEUE_WAIT: u64 = 5000;

/// One node's protocol state machine. `Clone` lets the model checker branch a node's state
/// (`tests/model.rs`).
#[derive(Debug, Clone)]
pub struct Core {
    hard: Hard,
    timing: Timing,
    rng: StdRng,
    role: Role,
    leader: Option<NodeId>,
    last_leader_contact: Option<u64>,
    election_deadline: u64,
    prevote_term: Option<u64>,
    prevotes: BTreeSet<NodeId>,
    votes: BTreeSet<NodeId>,
    /// The highest config epoch heard of (own included).
    max_epoch: u64,
    lead: Option<Lead>,
    peers: BTreeMap<NodeId, PeerView>,
    next_probe: u64,
    next_epoch_probe: u64,
    /// A member answered the current probe (or alone): see [`Status::probed`].
    probed: bool,
    /// When the probe began (start, or a pause noticed); `None` once probed.
    probing_since: Option<u64>,
    /// When to send the current probe again if no member has answered it: the first one
    /// may be lost (peers' connections not up yet at start-up, a dropped packet).
    next_reprobe: u64,
    /// The nonce of this node's current probe: only a member's answer to it ends the probe,
    /// not messages that were queued for this node while it was down or stopped.
    probe_nonce: u64,
    /// The last tick: a later one more than an election timeout after it means the process was
    /// paused (SIGSTOP, a VM pause, swap) and may have missed its own removal.
    last_tick: Option<u64>,
    removed: bool,
    /// Writes waiting for the slot, with the time they arrived.
    queue: VecDeque<(Option<u64>, Pending, u64)>,
    out: Vec<Output>,
}

impl Core {
    /// A node restarting from `hard` (what it last persisted) at time `now`.
    pub fn new(hard: Hard, timing: Timing, seed: u64, now: u64) -> Self {
        let mut core = Self {
            hard,
            timing,
            rng: StdRng::seed_from_u64(seed),
            role: Role::Follower,
            leader: None,
            last_leader_contact: None,
            election_deadline: 0,
            prevote_term: None,
            prevotes: BTreeSet::new(),
            votes: BTreeSet::new(),
            max_epoch: 0,
            lead: None,
            peers: BTreeMap::new(),
            next_probe: now,
            next_epoch_probe: now,
            probed: false,
            probing_since: Some(now),
            next_reprobe: now + timing.heartbeat,
            probe_nonce: 0,
            last_tick: None,
            removed: false,
            queue: VecDeque::new(),
            out: Vec::new(),
        };
        core.removed = !core.hard.joining && !core.hard.config.contains(core.hard.id);
        core.probe_nonce = core.rng.gen();
        core.probed = core.hard.config.members.len() == 1 && !core.hard.joining;
        if core.probed {
            core.probing_since = None;
        }
        core.reset_election(now);
        if core.is_voter() && core.hard.config.members.len() == 1 {
            // Alone: no one to wait for.
            core.campaign(now);
        }
        core
    }

    /// The persisted state as this core sees it.
    pub fn hard(&self) -> &Hard {
        &self.hard
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.hard.id
    }

    /// Takes the outputs produced so far.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// A status snapshot.
    pub fn status(&self, now: u64) -> Status {
        Status {
            id: self.hard.id,
            role: self.role,
            leader: self.leader,
            term: self.hard.term,
            commit: self.hard.commit,
            config: self.hard.config.clone(),
            last_heartbeat: if self.role == Role::Leader {
                Some(now)
            } else {
                self.last_leader_contact
            },
            peers: self.peers.clone(),
            joining: self.hard.joining,
            removed: self.removed,
            probed: self.probed,
            probing_since: self.probing_since,
            admitted: self.admitted(),
            queued: self.queue.len(),
            down: if self.role == Role::Leader {
                self.stale_member(now, &self.members())
            } else {
                None
            },
            writable: self.role == Role::Leader
                && self.lead.as_ref().is_some_and(|l| l.recovered)
                && self.stale_member(now, &self.members()).is_none(),
        }
    }

    /// This node's state as peers see it.
    pub fn report(&self) -> Report {
        Report {
            commit: self.hard.commit,
            commit_id: self.hard.commit_id,
            slot: self
                .hard
                .slot
                .as_ref()
                .map(|s| (s.index, s.ballot, s.value_id())),
            epoch: self.hard.config.epoch,
        }
    }

    fn members(&self) -> BTreeSet<NodeId> {
        self.hard.config.members.keys().copied().collect()
    }

    /// The nodes whose messages this node takes: the members of its config and those of a
    /// config entry it holds prepared (a node being added answers before it is a member). Any
    /// other node is only answered a probe, without the entry that comes with it for members:
    /// a removed node learns that it was removed and nothing else.
    pub fn admitted(&self) -> BTreeSet<NodeId> {
        let mut admitted = self.members();
        if let Some(Slot {
            value:
                SlotValue::Entry(Value {
                    payload: Payload::Config(next),
                    ..
                }),
            ..
        }) = &self.hard.slot
        {
            admitted.extend(next.members.keys().copied());
        }
        admitted
    }

    /// Whether this node takes messages from `id` (see [`Core::admitted`]).
    pub fn admits(&self, id: NodeId) -> bool {
        self.admitted().contains(&id)
    }

    fn is_voter(&self) -> bool {
        !self.removed && !self.hard.joining && self.hard.config.contains(self.hard.id)
    }

    fn reset_election(&mut self, now: u64) {
        let t = self.timing.election;
        self.election_deadline = now + self.rng.gen_range(t..=2 * t);
    }

    fn persist(&mut self) {
        self.out.push(Output::Persist(self.hard.clone()));
    }

    fn send(&mut self, to: NodeId, msg: Message) {
        self.out.push(Output::Send(Envelope {
            from: self.hard.id,
            to,
            term: self.hard.term,
            epoch: self.hard.config.epoch,
            msg,
        }));
    }

    fn respond(&mut self, req: Option<u64>, result: WriteResult) {
        if let Some(req) = req {
            self.out.push(Output::Respond { req, result });
        }
    }

    // ---------------------------------------------------------------- client side

    /// Proposes a state-machine command. The answer comes as [`Output::Respond`].
    pub fn propose(&mut self, now: u64, req: u64, command: Vec<u8>) {
        self.enqueue(now, req, Pending::App(command));
    }

    /// Proposes adding node `id` at `host`: the config's `next_id`, or an id reserved before
    /// (below `next_id`, not a member). The node must hold a snapshot of this cluster's state
    /// already.
    pub fn propose_add(&mut self, now: u64, req: u64, id: NodeId, host: String) {
        self.enqueue(now, req, Pending::Add { id, host });
    }

    /// Proposes taking id `id` (which must be the config's `next_id`) for a node that is about
    /// to be sent this cluster's state: committed before the node holds anything, so an id is
    /// never given to two nodes, whatever happens to the add that follows.
    pub fn propose_reserve(&mut self, now: u64, req: u64, id: NodeId) {
        self.enqueue(now, req, Pending::Reserve(id));
    }

    /// Proposes removing member `id`.
    pub fn propose_remove(&mut self, now: u64, req: u64, id: NodeId) {
        self.enqueue(now, req, Pending::Remove(id));
    }

    fn enqueue(&mut self, now: u64, req: u64, p: Pending) {
        if self.removed {
            return self.respond(Some(req), Err(WriteError::Removed));
        }
        if self.role != Role::Leader {
            return self.respond(Some(req), Err(WriteError::NotLeader(self.leader)));
        }
        if self.queue.len() >= MAX_QUEUE {
            return self.respond(
                Some(req),
                Err(WriteError::Unavailable("too many writes queued".into())),
            );
        }
        if !self.lead.as_ref().is_some_and(|l| l.recovered) {
            // Nothing is prepared: a definite refusal, instead of a write that commits much
            // later, after its client has given up.
            return self.respond(
                Some(req),
                Err(WriteError::Unavailable(
                    "the new leader is still resolving an interrupted write; retry".into(),
                )),
            );
        }
        self.queue.push_back((Some(req), p, now));
        self.drive(now);
    }

    /// `edit --rm`: removes dead member `dead` from this node's config on this node's authority
    /// alone (new epoch), then campaigns in the new config and commits it to the remaining
    /// members. The caller has checked that `dead` is unreachable.
    pub fn force_remove(&mut self, now: u64, dead: NodeId) -> Result<(), String> {
        if self.removed || self.hard.joining {
            return Err("server not part of cluster".into());
        }
        if dead == self.hard.id {
            return Err("a node cannot remove itself; run edit on another node".into());
        }
        if !self.hard.config.contains(dead) {
            return Err(format!("node {dead} is not part of the cluster"));
        }
        self.hard.config.members.remove(&dead);
        self.hard.config.epoch = self.hard.config.epoch.saturating_add(1);
        self.hard.forced_out.insert(dead);
        self.persist();
        self.step_down(now, self.hard.term, None);
        self.campaign(now);
        Ok(())
    }

    fn stale_member(&self, now: u64, quorum: &BTreeSet<NodeId>) -> Option<NodeId> {
        quorum.iter().copied().find(|m| {
            *m != self.hard.id
                && self
                    .peers
                    .get(m)
                    .and_then(|p| p.last_ack)
                    .is_none_or(|t| t + 2 * self.timing.heartbeat < now)
        })
    }

    fn host(&self, id: NodeId) -> String {
        match self.hard.config.members.get(&id) {
            Some(h) => format!("node {id} ({h})"),
            None => format!("node {id}"),
        }
    }

    /// Starts the next queued write when the slot is free.
    fn drive(&mut self, now: u64) {
        let install_queued = self
            .queue
            .iter()
            .any(|(_, p, _)| matches!(p, Pending::Install));
        let installing = self.lead.as_ref().and_then(|l| l.inflight.as_ref()).is_some_and(|i| {
            matches!(&i.slot.value, SlotValue::Entry(v) if v.payload == Payload::Config(self.hard.config.clone()))
        });
        if self.role == Role::Leader
            && !self.hard.forced_out.is_empty()
            && !install_queued
            && !installing
        {
            // A config forced by `edit --rm` is this node's alone until committed.
            self.queue.push_front((None, Pending::Install, now));
        }
        while self.role == Role::Leader {
            let Some(lead) = &self.lead else { return };
            if !lead.recovered || lead.inflight.is_some() {
                return;
            }
            let Some((req, pending, at)) = self.queue.pop_front() else {
                return;
            };
            if req.is_some() && now > at + MAX_QUEUE_WAIT {
                // Its client has likely given up; nothing was prepared for it.
                self.respond(
                    req,
                    Err(WriteError::Unavailable(
                        "write queued too long; retry".into(),
                    )),
                );
                continue;
            }
            let payload = match pending {
                Pending::App(c) => Payload::App(c),
                Pending::Install => Payload::Config(self.hard.config.clone()),
                Pending::Add { id, host } => {
                    let cfg = &self.hard.config;
                    let reserved = id < cfg.next_id && !cfg.contains(id);
                    if !(id == cfg.next_id || reserved) || cfg.members.values().any(|h| *h == host)
                    {
                        self.respond(
                            req,
                            Err(WriteError::Unavailable(format!(
                                "cannot add {host}: the cluster changed meanwhile"
                            ))),
                        );
                        continue;
                    }
                    let mut next = cfg.clone();
                    next.epoch = next.epoch.saturating_add(1);
                    next.members.insert(id, host);
                    next.next_id = next.next_id.max(id.saturating_add(1));
                    Payload::Config(next)
                }
                Pending::Reserve(id) => {
                    let cfg = &self.hard.config;
                    if id != cfg.next_id {
                        self.respond(
                            req,
                            Err(WriteError::Unavailable(
                                "cannot reserve a node id: the cluster changed meanwhile".into(),
                            )),
                        );
                        continue;
                    }
                    let mut next = cfg.clone();
                    next.epoch = next.epoch.saturating_add(1);
                    next.next_id = id.saturating_add(1);
                    Payload::Config(next)
                }
                Pending::Remove(id) => {
                    let cfg = &self.hard.config;
                    if !cfg.contains(id) || cfg.members.len() < 2 {
                        self.respond(
                            req,
                            Err(WriteError::Unavailable(format!(
                                "node {id} is not a member that can be removed"
                            ))),
                        );
                        continue;
                    }
                    let mut next = cfg.clone();
                    next.epoch = next.epoch.saturating_add(1);
                    next.members.remove(&id);
                    Payload::Config(next)
                }
            };
            let quorum = self.quorum_of(&payload);
            // A node being added answered the snapshot just now; everyone else must be fresh.
            let check: BTreeSet<NodeId> = quorum
                .iter()
                .copied()
                .filter(|m| self.hard.config.contains(*m))
                .collect();
            if let Some(down) = self.stale_member(now, &check) {
                let msg = format!("not all nodes available: {} is down", self.host(down));
                self.respond(req, Err(WriteError::Unavailable(msg)));
                continue;
            }
            let ballot = self.next_ballot();
            let value = Value {
                id: ballot,
                proposer: self.hard.id,
                payload,
            };
            self.start(now, req, ballot, value);
        }
    }

    fn next_ballot(&mut self) -> Ballot {
        let term = self.hard.term;
        let lead = self.lead.get_or_insert(Lead {
            seq: 0,
            recovered: false,
            inflight: None,
            next_heartbeat: 0,
            lonely_since: None,
        });
        lead.seq = lead.seq.saturating_add(1);
        Ballot {
            term,
            seq: lead.seq,
        }
    }

    /// Who must accept an entry: the members, and a node the entry adds. (A node the entry
    /// names that has left the config since, by `edit --rm`, is gone for good.)
    fn quorum_of(&self, payload: &Payload) -> BTreeSet<NodeId> {
        let mut q = self.members();
        if let Payload::Config(next) = payload {
            // The node it adds (a node removed by force is not one, and stays out).
            let forced_out = &self.hard.forced_out;
            q.extend(
                next.members
                    .keys()
                    .copied()
                    .filter(|m| !self.hard.config.contains(*m) && !forced_out.contains(m)),
            );
        }
        q
    }

    /// Persists `value` in the slot under `ballot` and sends it to its quorum.
    fn start(&mut self, now: u64, req: Option<u64>, ballot: Ballot, value: Value) {
        let quorum = self.quorum_of(&value.payload);
        let slot = Slot {
            index: self.hard.commit.saturating_add(1),
            ballot,
            value: SlotValue::Entry(value),
        };
        self.hard.slot = Some(slot.clone());
        self.persist();
        let prev = (self.hard.commit, self.hard.commit_id);
        let others: BTreeSet<NodeId> = quorum.into_iter().filter(|m| *m != self.hard.id).collect();
        if let Some(lead) = &mut self.lead {
            lead.inflight = Some(Inflight {
                req,
                slot: slot.clone(),
                prev,
                quorum: others.clone(),
                acks: BTreeSet::new(),
                deadline: now + self.timing.rpc,
                aborting: false,
                blame: String::new(),
            });
        }
        for m in others {
            self.send_prepare(m);
        }
        self.check_inflight(now);
    }

    fn send_prepare(&mut self, to: NodeId) {
        let Some(inflight) = self.lead.as_ref().and_then(|l| l.inflight.as_ref()) else {
            return;
        };
        let (slot, prev) = (inflight.slot.clone(), inflight.prev);
        let behind = self
            .peers
            .get(&to)
            .and_then(|p| p.report.as_ref())
            .is_none_or(|(_, r)| r.commit < self.hard.commit);
        let catch_up = if behind { self.hard.last.clone() } else { None };
        self.send(
            to,
            Message::Prepare {
                slot,
                prev,
                catch_up,
            },
        );
    }

    fn check_inflight(&mut self, now: u64) {
        let Some(lead) = &self.lead else { return };
        let Some(inf) = &lead.inflight else { return };
        if inf.aborting {
            let holders = inf.acks.len().saturating_add(1);
            if holders >= self.hard.config.majority() {
                let req = inf.req;
                let blame = inf.blame.clone();
                // This node's own tombstone, durable before the client hears "failed".
                self.hard.slot = Some(inf.slot.clone());
                self.persist();
                self.finish_inflight();
                self.respond(
                    req,
                    Err(WriteError::Failed(format!(
                        "write failed: {blame} did not respond; not applied"
                    ))),
                );
                self.drive(now);
            }
            return;
        }
        if inf.acks.is_superset(&inf.quorum) {
            let req = inf.req;
            let index = inf.slot.index;
            let SlotValue::Entry(value) = inf.slot.value.clone() else {
                return;
            };
            let quorum = inf.quorum.clone();
            self.finish_inflight();
            self.commit_entry(value, &quorum);
            self.respond(req, Ok(index));
            self.drive(now);
        }
    }

    fn blame(&self) -> String {
        let Some(inf) = self.lead.as_ref().and_then(|l| l.inflight.as_ref()) else {
            return "a node".into();
        };
        let missing: Vec<String> = inf
            .quorum
            .difference(&inf.acks)
            .map(|m| self.host(*m))
            .collect();
        if missing.is_empty() {
            "a node".into()
        } else {
            missing.join(", ")
        }
    }

    fn finish_inflight(&mut self) {
        if let Some(lead) = &mut self.lead {
            lead.inflight = None;
        }
    }

    /// Leader: applies the entry every member of `quorum` accepted, then tells them.
    fn commit_entry(&mut self, value: Value, quorum: &BTreeSet<NodeId>) {
        let entry = Committed {
            index: self.hard.commit.saturating_add(1),
            prev_id: self.hard.commit_id,
            value,
        };
        self.apply(entry.clone());
        for m in quorum.clone() {
            if m != self.hard.id {
                self.send(
                    m,
                    Message::Commit {
                        entry: entry.clone(),
                    },
                );
            }
        }
    }

    /// Applies a committed entry on top of the current state (the caller checked `prev_id`).
    fn apply(&mut self, entry: Committed) {
        let index = entry.index;
        self.hard.commit = index;
        self.hard.commit_id = entry.value.id;
        self.hard.slot = None;
        if let Payload::Config(next) = &entry.value.payload {
            let forced_out = &self.hard.forced_out;
            if forced_out.is_empty() {
                // Configs only move forward (a committed entry always carries the next epoch;
                // an older one cannot be legitimate).
                if next.epoch >= self.hard.config.epoch {
                    self.hard.config = next.clone();
                }
            } else if next.members.keys().any(|m| forced_out.contains(m)) {
                // Committed before this node's `edit --rm`: it stands, minus the nodes removed
                // by force; the result is still this node's alone until committed.
                let mut config = next.clone();
                config.members.retain(|m, _| !forced_out.contains(m));
                config.epoch = next.epoch.max(self.hard.config.epoch).saturating_add(1);
                self.hard.config = config;
            } else if next.epoch >= self.hard.config.epoch {
                // The forced config itself, now committed.
                self.hard.config = next.clone();
                self.hard.forced_out.clear();
            }
            if next.contains(self.hard.id) {
                self.hard.joining = false;
            }
        }
        let value = entry.value.clone();
        self.hard.last = Some(entry);
        // Leading, with a write in flight at this index that another leader decided meanwhile
        // (this node learnt it from a probe's answer or a catch-up): it is over, and must not be
        // committed again at the next index.
        let superseded = self
            .lead
            .as_ref()
            .and_then(|l| l.inflight.as_ref())
            .filter(|inf| inf.slot.index <= index)
            .map(|inf| {
                let same = matches!(&inf.slot.value, SlotValue::Entry(v) if v.id == value.id);
                (inf.req, same)
            });
        if superseded.is_some() {
            self.finish_inflight();
        }
        self.out.push(Output::Apply {
            index,
            value,
            hard: self.hard.clone(),
        });
        if let Some((req, same)) = superseded {
            let result = if same {
                Ok(index)
            } else {
                Err(WriteError::Unknown(
                    "write outcome unknown: another leader decided its slot".into(),
                ))
            };
            self.respond(req, result);
        }
        if !self.hard.joining && !self.hard.config.contains(self.hard.id) && !self.removed {
            self.removed = true;
            self.role = Role::Follower;
            self.leader = None;
            self.fail_queue(WriteError::Removed);
            self.lead = None;
            self.out.push(Output::Removed);
        }
    }

    /// Applies `entry` if it is the next one after this node's state.
    fn learn(&mut self, entry: &Committed) -> bool {
        if entry.index == self.hard.commit.saturating_add(1) && entry.prev_id == self.hard.commit_id
        {
            self.apply(entry.clone());
            true
        } else {
            false
        }
    }

    fn fail_queue(&mut self, why: WriteError) {
        let queued: Vec<_> = self.queue.drain(..).collect();
        for (req, _, _) in queued {
            self.respond(req, Err(why.clone()));
        }
    }

    // ---------------------------------------------------------------- time

    /// Advances timers to `now`.
    pub fn tick(&mut self, now: u64) {
        if self.removed {
            return;
        }
        let paused = self
            .last_tick
            .is_some_and(|t| now > t.saturating_add(self.timing.election));
        self.last_tick = Some(now);
        if paused && self.hard.config.members.len() > 1 {
            // Stopped for longer than an election timeout: the cluster may have moved on, or
            // removed this node, meanwhile. Reads wait for a peer's answer again.
            self.probed = false;
            self.probe_nonce = self.rng.gen();
            self.probing_since = Some(now);
            self.next_reprobe = now + self.timing.heartbeat;
            self.probe_all();
        } else if !self.probed && self.hard.config.members.len() > 1 && now >= self.next_reprobe {
            self.next_reprobe = now + self.timing.heartbeat;
            self.probe_all();
        }
        match self.role {
            Role::Leader => self.tick_leader(now),
            Role::Follower | Role::Candidate => {
                let alone = self.hard.config.members.len() == 1;
                if self.is_voter() && (alone || now >= self.election_deadline) {
                    if alone {
                        self.campaign(now);
                    } else {
                        self.start_prevote(now);
                    }
                }
                if self.hard.slot.is_some() && now >= self.next_probe {
                    self.next_probe = now + self.timing.election;
                    let heard = self
                        .last_leader_contact
                        .is_some_and(|t| t + self.timing.election > now);
                    if !heard {
                        self.probe_all();
                    }
                }
            }
        }
    }

    /// The transport could not reach `peer` (connection refused): it counts as down at once,
    /// so writes fail fast instead of preparing and timing out.
    pub fn peer_unreachable(&mut self, peer: NodeId) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.last_ack = None;
        }
    }

    /// Asks every other member what it has committed (start-up probe, stuck slot).
    pub fn probe_all(&mut self) {
        for m in self.members() {
            if m != self.hard.id {
                self.send(
                    m,
                    Message::Probe {
                        nonce: self.probe_nonce,
                    },
                );
            }
        }
    }

    fn tick_leader(&mut self, now: u64) {
        let Some(lead) = &self.lead else { return };
        if now >= lead.next_heartbeat {
            self.heartbeat(now);
        }
        // Check-quorum: a leader that has not heard from a majority for T steps down, so
        // `stat` does not show a stale leader.
        let members = self.members();
        let heard = members
            .iter()
            .filter(|m| {
                **m == self.hard.id
                    || self
                        .peers
                        .get(m)
                        .and_then(|p| p.last_ack)
                        .is_some_and(|t| t + self.timing.election >= now)
            })
            .count();
        let alone = heard < self.hard.config.majority();
        let Some(lead) = &mut self.lead else { return };
        if alone {
            let since = *lead.lonely_since.get_or_insert(now);
            if now >= since + self.timing.election {
                let term = self.hard.term;
                self.step_down(now, term, None);
                return;
            }
        } else {
            lead.lonely_since = None;
        }
        let Some(inf) = &lead.inflight else {
            self.recover(now);
            return;
        };
        if now < inf.deadline {
            return;
        }
        if inf.aborting {
            // The client cannot wait longer: it hears "unknown". The abort itself goes on
            // (its prepares are resent with every heartbeat) until its tombstone is on a
            // majority or leadership changes: dropped here, it would leave the entry prepared
            // on this node, and its keys unreadable, until the next write.
            let blame = inf.blame.clone();
            let rpc = self.timing.rpc;
            let Some(inf) = self.lead.as_mut().and_then(|l| l.inflight.as_mut()) else {
                return;
            };
            let req = inf.req.take();
            inf.deadline = now + rpc;
            self.respond(
                req,
                Err(WriteError::Unknown(format!(
                    "outcome unknown: {blame} did not respond"
                ))),
            );
        } else {
            self.abort(now);
        }
    }

    fn heartbeat(&mut self, now: u64) {
        if let Some(lead) = &mut self.lead {
            lead.next_heartbeat = now + self.timing.heartbeat;
        }
        let report = self.report();
        let tombstone = self
            .hard
            .slot
            .clone()
            .filter(|s| s.value == SlotValue::Tombstone);
        let mut targets = self.members();
        if let Some(Slot {
            value: SlotValue::Entry(v),
            ..
        }) = &self.hard.slot
        {
            // A node being added is asked too: slot recovery needs its report.
            targets.extend(self.quorum_of(&v.payload));
        }
        let mut resend = BTreeSet::new();
        if let Some(inf) = self.lead.as_ref().and_then(|l| l.inflight.as_ref()) {
            targets.extend(inf.quorum.iter().copied());
            resend = inf.quorum.difference(&inf.acks).copied().collect();
        }
        for m in targets {
            if m == self.hard.id {
                continue;
            }
            self.send(
                m,
                Message::Heartbeat {
                    report: report.clone(),
                    tombstone: tombstone.clone(),
                },
            );
            if resend.contains(&m) {
                self.send_prepare(m);
            }
        }
    }

    /// The proposer's abort (REPLICATION.md §2.6 step 8): a tombstone above the entry, on a
    /// majority before the client hears "failed".
    fn abort(&mut self, now: u64) {
        let Some(inf) = self.lead.as_ref().and_then(|l| l.inflight.as_ref()) else {
            return;
        };
        let (req, index, prev, quorum) = (inf.req, inf.slot.index, inf.prev, inf.quorum.clone());
        let blame = self.blame();
        self.abort_slot(now, req, index, prev, quorum, blame);
    }

    /// Sends a tombstone for `index` to `quorum`; once a majority holds it (this node's own
    /// copy included, written then), the client of `req` hears "failed". Until then this node
    /// keeps the entry in its slot, so that reads of its keys here wait: a proposer whose
    /// abort has not reached another node may still see the entry committed without it
    /// (`recover`), and must not have served reads without it meanwhile.
    fn abort_slot(
        &mut self,
        now: u64,
        req: Option<u64>,
        index: u64,
        prev: (u64, Ballot),
        quorum: BTreeSet<NodeId>,
        blame: String,
    ) {
        let ballot = self.next_ballot();
        let slot = Slot {
            index,
            ballot,
            value: SlotValue::Tombstone,
        };
        if let Some(lead) = &mut self.lead {
            lead.inflight = Some(Inflight {
                req,
                slot,
                prev,
                quorum: quorum.clone(),
                acks: BTreeSet::new(),
                deadline: now + self.timing.rpc,
                aborting: true,
                blame,
            });
        }
        for m in quorum {
            self.send_prepare(m);
        }
        self.check_inflight(now);
    }

    // ---------------------------------------------------------------- elections

    fn start_prevote(&mut self, now: u64) {
        self.reset_election(now);
        self.role = Role::Follower;
        let term = self.hard.term.saturating_add(1);
        self.prevote_term = Some(term);
        self.prevotes = [self.hard.id].into_iter().collect();
        let report = self.report();
        for m in self.members() {
            if m != self.hard.id {
                self.out.push(Output::Send(Envelope {
                    from: self.hard.id,
                    to: m,
                    term,
                    epoch: self.hard.config.epoch,
                    msg: Message::PreVote {
                        report: report.clone(),
                    },
                }));
            }
        }
    }

    fn campaign(&mut self, now: u64) {
        self.reset_election(now);
        self.prevote_term = None;
        self.hard.term = self.hard.term.saturating_add(1);
        self.hard.voted_for = Some(self.hard.id);
        self.persist();
        self.role = Role::Candidate;
        self.leader = None;
        self.lead = None;
        self.votes = [self.hard.id].into_iter().collect();
        let report = self.report();
        for m in self.members() {
            if m != self.hard.id {
                self.send(
                    m,
                    Message::Vote {
                        report: report.clone(),
                    },
                );
            }
        }
        self.check_votes(now);
    }

    fn check_votes(&mut self, now: u64) {
        let members = self.members();
        let n = self.votes.iter().filter(|v| members.contains(v)).count();
        if self.role == Role::Candidate && n >= self.hard.config.majority() {
            self.become_leader(now);
        }
    }

    fn become_leader(&mut self, now: u64) {
        self.role = Role::Leader;
        self.leader = Some(self.hard.id);
        self.lead = Some(Lead {
            seq: 0,
            recovered: false,
            inflight: None,
            next_heartbeat: now,
            lonely_since: None,
        });
        self.heartbeat(now);
        self.recover(now);
    }

    /// Whether a candidate's state is at least as new as this node's: commit first, then the
    /// slot's ballot (no slot lowest).
    ///
    /// A candidate of a newer (forced) config needs only the commit: its own slot decides what
    /// may have been chosen, because it belonged to every write quorum of the older config.
    fn up_to_date(&self, r: &Report) -> bool {
        if r.epoch < self.hard.config.epoch.max(self.max_epoch) {
            return false;
        }
        if r.epoch > self.hard.config.epoch {
            return r.commit >= self.hard.commit;
        }
        let mine = (self.hard.commit, self.hard.slot.as_ref().map(|s| s.ballot));
        (r.commit, r.slot.map(|s| s.1)) >= mine
    }

    fn step_down(&mut self, now: u64, term: u64, leader: Option<NodeId>) {
        if self.role == Role::Leader {
            if let Some(inf) = self.lead.as_mut().and_then(|l| l.inflight.take()) {
                let why = "outcome unknown: leadership changed during the write".to_string();
                self.respond(inf.req, Err(WriteError::Unknown(why)));
            }
            self.fail_queue(WriteError::NotLeader(leader));
        }
        if term > self.hard.term {
            self.hard.term = term;
            self.hard.voted_for = None;
            self.persist();
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.lead = None;
        self.prevote_term = None;
        self.reset_election(now);
    }

    // ---------------------------------------------------------------- slot recovery

    /// A new leader finishes the open slot before taking writes (docs/replication.md, departure 2).
    fn recover(&mut self, now: u64) {
        let Some(lead) = &self.lead else { return };
        if lead.recovered || lead.inflight.is_some() {
            return;
        }
        let value = match &self.hard.slot {
            Some(Slot {
                value: SlotValue::Entry(v),
                index,
                ..
            }) if *index == self.hard.commit.saturating_add(1) => v.clone(),
            _ => {
                if let Some(lead) = &mut self.lead {
                    lead.recovered = true;
                }
                return self.drive(now);
            }
        };
        let index = self.hard.commit.saturating_add(1);
        let quorum = self.quorum_of(&value.payload);
        // The proposer's own report is not needed: it can have told its client "failed" only
        // once its tombstone reached a majority, which includes another member of the quorum
        // (a tombstone is never replaced by the entry again), and until then it keeps the
        // entry's keys blocked. So when every other member holds the entry, it may have been
        // chosen and is committed now, whether the proposer is dead or not.
        let proposer = (self.hard.config.members.len() > 1).then_some(value.proposer);
        let mut all_hold = true;
        let mut lacks = false;
        let mut probe = Vec::new();
        for m in &quorum {
            if *m == self.hard.id {
                continue;
            }
            let report = self
                .peers
                .get(m)
                .and_then(|p| p.report.as_ref())
                .filter(|(t, _)| *t == self.hard.term)
                .map(|(_, r)| r);
            let Some(r) = report else {
                if Some(*m) != proposer {
                    all_hold = false;
                }
                continue;
            };
            let applied = r.commit == index && r.commit_id == value.id;
            let prepared = r
                .slot
                .is_some_and(|(i, _, id)| i == index && id == Some(value.id));
            if !(applied || prepared) {
                all_hold = false;
                // Below the index without the value (a joiner more than one behind included):
                // it never accepted it.
                if r.commit < index {
                    lacks = true;
                }
            }
            if r.commit >= index && !applied {
                probe.push(*m);
            }
        }
        for m in probe {
            // A peer committed this index with another value: learn it rather than decide.
            self.send(
                m,
                Message::Probe {
                    nonce: self.probe_nonce,
                },
            );
        }
        if all_hold {
            // Held by every member: it may have been chosen, so it must be committed now.
            if let Some(lead) = &mut self.lead {
                lead.recovered = true;
            }
            self.commit_entry(value, &quorum);
            self.drive(now);
        } else if lacks {
            // A member of its quorum lacks it in this term: it was never chosen (a chosen entry
            // stays on every member of its quorum until applied). Abort it rather than
            // re-propose: an entry is then only ever committed under its first ballot or by the
            // rule above, so a tombstone, once on a node, is never replaced by that entry again,
            // and a client told "failed" stays right even when a forced config elects a holder.
            if let Some(lead) = &mut self.lead {
                lead.recovered = true;
            }
            let prev = (self.hard.commit, self.hard.commit_id);
            let others = quorum.into_iter().filter(|m| *m != self.hard.id).collect();
            let blame = "a node".to_string();
            self.abort_slot(now, None, index, prev, others, blame);
        }
    }

    // ---------------------------------------------------------------- messages

    /// Handles a message from a peer.
    pub fn receive(&mut self, now: u64, env: Envelope) {
        if env.to != self.hard.id || env.from == self.hard.id {
            return;
        }
        let from = env.from;
        if !matches!(env.msg, Message::Probe { .. }) && !self.admits(from) {
            // A removed node (or one never added) changes nothing here: it may only ask.
            return;
        }
        self.max_epoch = self.max_epoch.max(env.epoch);
        if env.epoch > self.hard.config.epoch && now >= self.next_epoch_probe {
            // A newer config exists: it may not include this node (a force-removed node that is
            // in fact alive must stop serving as soon as it talks to a peer).
            self.next_epoch_probe = now + self.timing.heartbeat;
            self.send(
                from,
                Message::Probe {
                    nonce: self.probe_nonce,
                },
            );
        }
        if env.epoch > self.hard.config.epoch && self.role == Role::Leader {
            // A newer (forced) config exists: its holder must lead, not a node of this one.
            let term = self.hard.term;
            self.step_down(now, term, None);
        }
        match env.msg {
            Message::PreVote { report } => return self.on_prevote(now, from, env.term, &report),
            Message::PreVoteReply { granted } => {
                if !granted && env.term > self.hard.term && self.role != Role::Leader {
                    let leader = self.leader;
                    self.step_down(now, env.term, leader);
                    return;
                }
                if granted && self.prevote_term == Some(env.term) && self.role != Role::Leader {
                    self.prevotes.insert(from);
                    let members = self.members();
                    let n = self.prevotes.iter().filter(|v| members.contains(v)).count();
                    if n >= self.hard.config.majority() {
                        self.campaign(now);
                    }
                }
                return;
            }
            Message::Probe { nonce } => {
                let last = if self.admits(from) {
                    self.hard.last.clone()
                } else {
                    None
                };
                let reply = Message::ProbeReply {
                    nonce,
                    member: self.is_voter(),
                    report: self.report(),
                    last,
                    config: self.hard.config.clone(),
                };
                return self.send(from, reply);
            }
            Message::ProbeReply {
                nonce,
                member,
                report,
                last,
                config,
            } => {
                // A removed node's answer may teach something (its last entry), but it vouches
                // for nothing.
                if nonce == self.probe_nonce && member {
                    self.probed = true;
                    self.probing_since = None;
                }
                return self.on_probe_reply(report, last, config);
            }
            _ => {}
        }
        if self.removed {
            if let Message::Heartbeat { .. } = env.msg {
                // It accepts nothing any more, so its report is final: a leader recovering a
                // slot may count it (the removal it applied, or the entry it never got).
                let report = self.report();
                self.out.push(Output::Send(Envelope {
                    from: self.hard.id,
                    to: from,
                    term: env.term,
                    epoch: self.hard.config.epoch,
                    msg: Message::HeartbeatReply { report },
                }));
            }
            return;
        }
        if env.term > self.hard.term {
            let leader = match env.msg {
                Message::Prepare { .. } | Message::Heartbeat { .. } | Message::Commit { .. }
                    if env.epoch >= self.hard.config.epoch =>
                {
                    Some(from)
                }
                _ => None,
            };
            self.step_down(now, env.term, leader);
        }
        let old_epoch = env.epoch < self.hard.config.epoch;
        if env.term < self.hard.term
            || (old_epoch && matches!(env.msg, Message::Prepare { .. } | Message::Heartbeat { .. }))
        {
            // Tell the stale sender about the newer term (or config).
            let report = self.report();
            match env.msg {
                Message::Vote { .. } => self.send(
                    from,
                    Message::VoteReply {
                        granted: false,
                        report,
                    },
                ),
                Message::Prepare { slot, .. } => self.send(
                    from,
                    Message::PrepareReply {
                        index: slot.index,
                        ballot: slot.ballot,
                        ok: false,
                        report,
                    },
                ),
                Message::Heartbeat { .. } => self.send(from, Message::HeartbeatReply { report }),
                _ => {}
            }
            return;
        }
        match env.msg {
            Message::Vote { report } => self.on_vote(now, from, &report),
            Message::VoteReply { granted, report } => {
                self.note_report(now, from, report);
                if granted && self.role == Role::Candidate {
                    self.votes.insert(from);
                    self.check_votes(now);
                }
            }
            Message::Prepare {
                slot,
                prev,
                catch_up,
            } => self.on_prepare(now, from, slot, prev, catch_up),
            Message::PrepareReply {
                index,
                ballot,
                ok,
                report,
            } => self.on_prepare_reply(now, from, index, ballot, ok, report),
            Message::Commit { entry } => {
                self.follow(now, from);
                self.learn(&entry);
            }
            Message::Heartbeat { report, tombstone } => {
                self.follow(now, from);
                self.on_heartbeat(from, &report, tombstone)
            }
            Message::HeartbeatReply { report } => {
                self.note_report(now, from, report.clone());
                if self.role == Role::Leader && report.commit.saturating_add(1) == self.hard.commit
                {
                    if let Some(entry) = self.hard.last.clone() {
                        self.send(from, Message::Commit { entry });
                    }
                }
                if self.role == Role::Leader {
                    self.clear_stale_slot(now, &report);
                }
                if self.role == Role::Leader {
                    self.recover(now);
                }
            }
            _ => {}
        }
    }

    /// A member holds an entry prepared at the next index that this leader does not hold (its
    /// proposer died, or lost the lead, before it reached everyone): it was never chosen,
    /// since this leader is in its quorum. Abort it, so that member's reads of its keys stop
    /// waiting.
    fn clear_stale_slot(&mut self, now: u64, report: &Report) {
        let index = self.hard.commit.saturating_add(1);
        let idle = self
            .lead
            .as_ref()
            .is_some_and(|l| l.recovered && l.inflight.is_none());
        let holds_entry = report.commit.saturating_add(1) == index
            && report
                .slot
                .is_some_and(|(i, _, value)| i == index && value.is_some());
        // This leader's own tombstone there (an earlier abort) does not settle it: the
        // member's entry may carry a higher ballot, which the tombstone does not replace.
        let lacks_entry = self
            .hard
            .slot
            .as_ref()
            .is_none_or(|s| s.index == index && s.value == SlotValue::Tombstone);
        if idle && holds_entry && lacks_entry {
            let prev = (self.hard.commit, self.hard.commit_id);
            let others = self
                .members()
                .into_iter()
                .filter(|m| *m != self.hard.id)
                .collect();
            self.abort_slot(now, None, index, prev, others, "a node".into());
        }
    }

    fn note_report(&mut self, now: u64, from: NodeId, report: Report) {
        let peer = self.peers.entry(from).or_default();
        peer.last_ack = Some(now);
        peer.report = Some((self.hard.term, report));
    }

    /// A message from this term's leader.
    fn follow(&mut self, now: u64, leader: NodeId) {
        if self.role == Role::Leader {
            return; // Two leaders in one term cannot happen; ignore rather than obey.
        }
        self.role = Role::Follower;
        self.leader = Some(leader);
        self.last_leader_contact = Some(now);
        self.prevote_term = None;
        self.reset_election(now);
    }

    fn on_prevote(&mut self, now: u64, from: NodeId, term: u64, report: &Report) {
        let leader_alive = self.leader.is_some()
            && (self.role == Role::Leader
                || self
                    .last_leader_contact
                    .is_some_and(|t| t + self.timing.election > now));
        let granted =
            !self.removed && term > self.hard.term && !leader_alive && self.up_to_date(report);
        // A refusal carries this node's own term: a candidate below it catches up instead of
        // asking in vain forever, and one at it is not pushed up (pre-vote exists so that a
        // node that merely missed heartbeats cannot raise the term and depose a healthy leader).
        self.out.push(Output::Send(Envelope {
            from: self.hard.id,
            to: from,
            term: if granted { term } else { self.hard.term },
            epoch: self.hard.config.epoch,
            msg: Message::PreVoteReply { granted },
        }));
    }

    fn on_vote(&mut self, now: u64, from: NodeId, report: &Report) {
        let granted = self.role != Role::Leader
            && self.hard.voted_for.is_none_or(|v| v == from)
            && self.up_to_date(report);
        if granted && self.hard.voted_for.is_none() {
            self.hard.voted_for = Some(from);
            self.persist();
        }
        if granted {
            self.reset_election(now);
        }
        let report = self.report();
        self.send(from, Message::VoteReply { granted, report });
    }

    fn on_prepare(
        &mut self,
        now: u64,
        from: NodeId,
        slot: Slot,
        prev: (u64, Ballot),
        catch_up: Option<Committed>,
    ) {
        self.follow(now, from);
        if self.role == Role::Leader {
            return;
        }
        if let Some(entry) = &catch_up {
            self.learn(entry);
        }
        // A missed Commit: the slot holds the entry `prev` names.
        if self.hard.commit.saturating_add(1) == prev.0 {
            if let Some(Slot {
                value: SlotValue::Entry(v),
                index,
                ..
            }) = &self.hard.slot
            {
                if *index == prev.0 && v.id == prev.1 {
                    let entry = Committed {
                        index: prev.0,
                        prev_id: self.hard.commit_id,
                        value: v.clone(),
                    };
                    self.apply(entry);
                }
            }
        }
        let ok = (self.hard.commit, self.hard.commit_id) == prev
            && slot.index == prev.0.saturating_add(1)
            && self
                .hard
                .slot
                .as_ref()
                .is_none_or(|s| s.ballot <= slot.ballot);
        if ok && self.hard.slot.as_ref() != Some(&slot) {
            self.hard.slot = Some(slot.clone());
            self.persist();
        }
        let report = self.report();
        self.send(
            from,
            Message::PrepareReply {
                index: slot.index,
                ballot: slot.ballot,
                ok,
                report,
            },
        );
    }

    fn on_prepare_reply(
        &mut self,
        now: u64,
        from: NodeId,
        index: u64,
        ballot: Ballot,
        ok: bool,
        report: Report,
    ) {
        self.note_report(now, from, report.clone());
        if self.role != Role::Leader {
            return;
        }
        let Some(inf) = self.lead.as_mut().and_then(|l| l.inflight.as_mut()) else {
            return self.recover(now);
        };
        if inf.slot.index != index || inf.slot.ballot != ballot || !inf.quorum.contains(&from) {
            return;
        }
        if ok {
            inf.acks.insert(from);
            self.check_inflight(now);
        } else if report.commit.saturating_add(1) == self.hard.commit {
            // One entry behind: the resent prepare carries the entry it misses.
            self.send_prepare(from);
        }
    }

    fn on_heartbeat(&mut self, from: NodeId, leader: &Report, tombstone: Option<Slot>) {
        if let Some(t) = tombstone {
            let replace = self.hard.commit.saturating_add(1) == t.index
                && leader.commit == self.hard.commit
                && leader.commit_id == self.hard.commit_id
                && self.hard.slot.as_ref().is_some_and(|s| s.ballot < t.ballot);
            if replace {
                self.hard.slot = Some(t);
                self.persist();
            }
        }
        let report = self.report();
        self.send(from, Message::HeartbeatReply { report });
    }

    fn on_probe_reply(&mut self, report: Report, last: Option<Committed>, config: Config) {
        if let Some(entry) = &last {
            self.learn(entry);
        }
        let _ = report;
        if !self.hard.joining
            && !self.removed
            && config.epoch > self.hard.config.epoch
            && !config.contains(self.hard.id)
        {
            self.removed = true;
            self.role = Role::Follower;
            self.leader = None;
            self.fail_queue(WriteError::Removed);
            self.lead = None;
            self.out.push(Output::Removed);
        }
    }
}
