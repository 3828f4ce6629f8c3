//! The protocol engine: elections, the one open slot, commit on every member, slot recovery,
//! membership changes. Pure: no I/O, no clock, no global randomness.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::types::*;

mod client;
mod elections;
mod messages;
mod recovery;
mod time;

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
    /// Refused before anything was prepared (the queue is full, the cluster changed...).
    Unavailable(String),
    /// Refused before anything was prepared because this member is down (writes need every
    /// node): the caller may have a better way, such as `edit --rm` for that very node.
    Down {
        /// The member that is down.
        node: NodeId,
        /// What the client is told.
        message: String,
    },
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
            WriteError::Unavailable(m)
            | WriteError::Down { message: m, .. }
            | WriteError::Failed(m)
            | WriteError::Unknown(m) => f.write_str(m),
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
}
