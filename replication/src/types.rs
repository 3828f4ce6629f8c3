//! What nodes store and send: ballots, configs, the open slot, messages.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A node's id in its cluster: assigned by the leader on `add`, never reused.
pub type NodeId = u64;

/// A proposal number: the leader's term and a counter within it. Ordered by term, then seq.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Ballot {
    /// The term of the leader that made it.
    pub term: u64,
    /// Its counter within the term.
    pub seq: u64,
}

/// Who the cluster is. A config entry replaces it when committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Grows with every change (forced or not).
    pub epoch: u64,
    /// Members by id, with the `host:port` they are known by.
    pub members: BTreeMap<NodeId, String>,
    /// The id the next joining node gets.
    pub next_id: NodeId,
}

impl Config {
    /// The config of a fresh single node: itself, as node 0.
    pub fn single(host: impl Into<String>) -> Self {
        Self {
            epoch: 0,
            members: [(0, host.into())].into_iter().collect(),
            next_id: 1,
        }
    }

    /// Whether `id` is a member.
    pub fn contains(&self, id: NodeId) -> bool {
        self.members.contains_key(&id)
    }

    /// How many votes win an election.
    pub fn majority(&self) -> usize {
        self.members.len() / 2 + 1
    }
}

/// What an entry changes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// A state-machine command, opaque here (a serialized keystore command).
    App(Vec<u8>),
    /// A new cluster configuration.
    Config(Config),
}

/// Commands carry key material (an imported key, a new key version): `Debug` shows only their
/// length, since entries are logged and printed by the simulator.
impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Payload::App(command) => write!(f, "App(<{} bytes>)", command.len()),
            Payload::Config(config) => f.debug_tuple("Config").field(config).finish(),
        }
    }
}

/// A proposed entry. `id` is the ballot it was first proposed under and stays with it through
/// re-proposals; `proposer` is the node that proposed it first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Value {
    /// The value id (becomes `commit_id` when applied).
    pub id: Ballot,
    /// The node that first proposed it (it persisted the value before sending it).
    pub proposer: NodeId,
    /// The change.
    pub payload: Payload,
}

/// What the open slot holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SlotValue {
    /// A prepared entry, waiting for its outcome.
    Entry(Value),
    /// An abort: the entry below it at this index was not committed.
    Tombstone,
}

/// The single open slot, at `commit + 1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Its index (always the holder's `commit + 1`).
    pub index: u64,
    /// The ballot it was accepted under; a higher one replaces it.
    pub ballot: Ballot,
    /// Entry or tombstone.
    pub value: SlotValue,
}

impl Slot {
    /// The value id of a prepared entry; `None` for a tombstone.
    pub fn value_id(&self) -> Option<Ballot> {
        match &self.value {
            SlotValue::Entry(v) => Some(v.id),
            SlotValue::Tombstone => None,
        }
    }
}

/// The last applied entry, kept so a peer one entry behind can be brought up to date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    /// Its index.
    pub index: u64,
    /// The `commit_id` before it: applying it needs that state.
    pub prev_id: Ballot,
    /// The entry.
    pub value: Value,
}

/// Everything a node must find again after a crash. Written whole, durably, by
/// [`crate::Output::Persist`] and [`crate::Output::Apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hard {
    /// This node's id.
    pub id: NodeId,
    /// The highest term seen.
    pub term: u64,
    /// Whom this node voted for in `term`.
    pub voted_for: Option<NodeId>,
    /// Entries applied (`stat`'s Commit).
    pub commit: u64,
    /// The value id of the entry at `commit`.
    pub commit_id: Ballot,
    /// The config as of `commit` (or forced by `edit --rm`).
    pub config: Config,
    /// The open slot.
    pub slot: Option<Slot>,
    /// The entry at `commit`, for peers one behind.
    pub last: Option<Committed>,
    /// Installed from a snapshot, waiting for the config entry that makes it a member.
    pub joining: bool,
    /// Members removed from `config` by `edit --rm`, until a config without them is committed.
    pub forced_out: std::collections::BTreeSet<NodeId>,
}

impl Hard {
    /// A fresh single-node cluster.
    pub fn single(host: impl Into<String>) -> Self {
        Self {
            id: 0,
            term: 0,
            voted_for: None,
            commit: 0,
            commit_id: Ballot::default(),
            config: Config::single(host),
            slot: None,
            last: None,
            joining: false,
            forced_out: Default::default(),
        }
    }
}

/// A node's state as seen by its peers: enough to compare, recover a slot and catch up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Its commit.
    pub commit: u64,
    /// Its commit id.
    pub commit_id: Ballot,
    /// Its open slot: index, ballot and value id (`None` for a tombstone).
    pub slot: Option<(u64, Ballot, Option<Ballot>)>,
    /// Its config epoch.
    pub epoch: u64,
}

/// A message between nodes. The envelope carries sender, receiver and term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// "Would you vote for me in `term + 1`?": changes nothing on the receiver.
    PreVote {
        /// The candidate's state.
        report: Report,
    },
    /// The answer to a pre-vote.
    PreVoteReply {
        /// Whether it would.
        granted: bool,
    },
    /// A vote request for the envelope's term.
    Vote {
        /// The candidate's state.
        report: Report,
    },
    /// The answer to a vote request, with the voter's state (used for slot recovery).
    VoteReply {
        /// Whether it voted for the candidate.
        granted: bool,
        /// The voter's state.
        report: Report,
    },
    /// Leader → members: accept this slot on top of `prev`.
    Prepare {
        /// The slot.
        slot: Slot,
        /// The state it builds on: `(commit, commit_id)`.
        prev: (u64, Ballot),
        /// The entry before it, for a member that has not applied it yet.
        catch_up: Option<Committed>,
    },
    /// The answer to a prepare.
    PrepareReply {
        /// The slot's index.
        index: u64,
        /// The slot's ballot.
        ballot: Ballot,
        /// Accepted and durable.
        ok: bool,
        /// The member's state.
        report: Report,
    },
    /// Leader → members: this entry is committed; apply it.
    Commit {
        /// The entry.
        entry: Committed,
    },
    /// Leader → members, every heartbeat interval.
    Heartbeat {
        /// The leader's state.
        report: Report,
        /// The leader's tombstone, for members still holding the aborted entry.
        tombstone: Option<Slot>,
    },
    /// The answer to a heartbeat.
    HeartbeatReply {
        /// The member's state.
        report: Report,
    },
    /// "What have you committed?": sent by a node holding an open slot without a leader, at
    /// start-up and after a pause (the membership probe).
    Probe {
        /// Echoed by the answer: only an answer to this node's current probe ends it, not one
        /// that was in flight before a crash or a pause.
        nonce: u64,
    },
    /// The answer to a probe.
    ProbeReply {
        /// The probe's nonce.
        nonce: u64,
        /// Whether the answering node counts itself a member (not removed, not joining): only
        /// a member's answer ends a probe. A removed node still answers, with what it applied.
        member: bool,
        /// The peer's state.
        report: Report,
        /// Its last applied entry.
        last: Option<Committed>,
        /// Its config.
        config: Config,
    },
}

/// A message with its routing and term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// The sender's term.
    pub term: u64,
    /// The sender's config epoch: a node that knows a newer (forced) config neither follows nor
    /// elects a node of an older one.
    pub epoch: u64,
    /// The message.
    pub msg: Message,
}

#[cfg(test)]
mod debug_tests {
    use super::Payload;

    #[test]
    fn a_command_payload_shows_its_length_only() {
        let shown = format!("{:?}", Payload::App(vec![0xA5; 40]));
        assert_eq!(shown, "App(<40 bytes>)");
    }
}
