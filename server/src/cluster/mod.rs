//! The replication runtime: drives the protocol core of `minkms-replication` with real time,
//! the keystore as its durable state, and the peer channel as its network.
//!
//! One task owns the core. Everything that touches it (messages, proposals, membership, status)
//! goes through its inbox, so the core needs no lock and its outputs are executed in order: a
//! `Persist` or `Apply` is durable before the messages after it leave.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use minkms_keystore::{self as ks, Snapshot};
use minkms_replication::{
    Core, Envelope, Hard, NodeId, Output, Payload, Slot, SlotValue, Status, Timing, WriteError,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use crate::cluster::peer::{PeerError, PeerRequest};
use crate::node::state::Node;
use minkms_client::wire::ServerStatusResponse;
use minkms_client::NodeName;

mod driver;
mod error;
mod gate;
mod handle;
mod link;
pub(crate) mod peer;

pub(crate) use error::ClusterError;
use error::{conflict, not_found, unavailable};

use driver::*;
use gate::*;
#[cfg(test)]
use handle::*;
use link::*;

/// Timers of REPLICATION.md §2.11.
pub(crate) const TIMING: Timing = Timing {
    heartbeat: 500,
    election: 1500,
    rpc: 1000,
};
/// How long a restarted node waits for a peer before serving reads.
const T_PROBE: Duration = Duration::from_secs(3);
/// How long a node removed with `--delete-cluster` keeps answering its old cluster (so the
/// members can learn the outcome of its removal from it) before it starts over alone.
const LEAVE_GRACE: Duration = Duration::from_secs(10);
/// A driver that has not ticked for this long (ms; it ticks every [`TICK`]) was stopped or
/// starved: reads wait for its next tick.
const STALL_MS: u64 = 500;
/// How long a read of a key with a prepared change waits for the outcome.
const READ_WAIT: Duration = Duration::from_millis(1500);
const TICK: Duration = Duration::from_millis(20);

/// A write or admin request forwarded from a follower to the leader.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Forwarded {
    Write(ks::Command),
    Add(String),
    Remove { host: String, delete: bool },
}

/// What a joining node receives.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Join {
    snapshot: Snapshot,
    hard: Hard,
}

impl Join {
    /// Whether `from` is a member of the cluster this join offers (its leader sends it).
    pub(crate) fn sent_by_member(&self, from: &NodeName) -> bool {
        from.cluster == self.snapshot.cluster_id.to_string() && self.hard.config.contains(from.id)
    }
}

/// What a removed node is told.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Removed {
    delete: bool,
}

impl Removed {
    /// Whether it should start over as a new single-node cluster.
    pub(crate) fn delete(&self) -> bool {
        self.delete
    }
}

type Reply<T> = oneshot::Sender<T>;

enum Event {
    Receive(Box<Envelope>),
    Unreachable(NodeId),
    Propose(Vec<u8>, Reply<Result<Result<(), ks::Error>, WriteError>>),
    Add(NodeId, String, Reply<Result<(), WriteError>>),
    Reserve(NodeId, Reply<Result<(), WriteError>>),
    Remove(NodeId, Reply<Result<(), WriteError>>),
    Force(NodeId, Reply<Result<(), String>>),
    Export(Reply<Result<(Snapshot, Hard), ks::Error>>),
    Install(Box<Join>, Reply<Result<(), ks::Error>>),
    Restore(Bytes, Reply<Result<u64, ks::Error>>),
    Leave(Reply<Result<(), ks::Error>>),
    /// A member says this node was removed (`delete`: and should start over alone).
    RemovalNotice(bool),
}

enum Waiter {
    Write(Reply<Result<Result<(), ks::Error>, WriteError>>),
    Admin(Reply<Result<(), WriteError>>),
}

/// A node's handle on its replication task.
#[derive(Debug)]
pub(crate) struct Cluster {
    inbox: mpsc::Sender<Event>,
    status: watch::Receiver<Status>,
    blocked: watch::Receiver<Blocked>,
    removed: Arc<AtomicBool>,
    started: Instant,
    /// When (core clock, ms) this node's open slot was prepared; [`NO_SLOT`] when none is.
    slot_opened: Arc<AtomicU64>,
    /// When (core clock, ms) the driver last ticked the core: a read that finds it long ago
    /// waits for the next tick, which notices a pause of the process.
    ticked: Arc<AtomicU64>,
}

/// Events the driver has not taken yet before peers' messages are dropped (the protocol
/// resends them) and clients' requests wait: a stalled disk must not grow the queue without
/// end.
const INBOX: usize = 4096;
/// Messages queued for one peer before new ones are dropped (the protocol resends them): a
/// peer that answers slowly must not hold a thousand prepares of megabytes each.
const LINK_QUEUE: usize = 64;

/// How long a member that the committed config dropped is still sent messages: long enough to
/// learn of its removal from the commit, and no longer.
const DEPARTED_GRACE: Duration = Duration::from_secs(60);

/// [`Cluster::slot_opened`] when no slot is open.
const NO_SLOT: u64 = u64::MAX;

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Event")
    }
}

/// The state the driver task owns.
struct Driver {
    core: Core,
    node: Arc<Node>,
    status: watch::Sender<Status>,
    blocked: watch::Sender<Blocked>,
    removed: Arc<AtomicBool>,
    started: Instant,
    next_req: u64,
    waiters: HashMap<u64, Waiter>,
    /// Why the apply at an index changed nothing (the client of that write hears it).
    apply_errors: HashMap<u64, ks::Error>,
    links: HashMap<NodeId, (String, mpsc::Sender<Envelope>)>,
    /// For links to report a peer they cannot reach.
    inbox: mpsc::Sender<Event>,
    /// Hosts of nodes being added (not in the config yet), with the request adding each:
    /// forgotten when that request is answered.
    joining_hosts: HashMap<NodeId, (String, u64)>,
    /// Hosts of members the committed config dropped, and since when: they are still sent
    /// what tells them of their removal, for [`DEPARTED_GRACE`], then forgotten with their
    /// link.
    departed: HashMap<NodeId, (String, Instant)>,
    /// A member said this node was removed: `Some(delete)` until a committed config confirms
    /// it (then the node leaves, and with `delete` starts over).
    leave_when_removed: Option<bool>,
    /// Why the driver stops (see [`Driver::stop`]).
    fatal: Option<String>,
}

/// Loads this node's replication state, or makes the one of a fresh single-node cluster; a
/// node whose config does not name it under `host` cannot start.
pub(crate) fn load_state(keystore: &ks::Keystore, host: &str) -> anyhow::Result<Hard> {
    let mut hard = match keystore.replication()? {
        Some(bytes) => postcard::from_bytes::<Hard>(&bytes).map_err(|e| {
            anyhow::anyhow!("the replication state in the database is damaged: {e}")
        })?,
        None => {
            let mut hard = Hard::single(host);
            hard.commit = keystore.commit_index();
            hard
        }
    };
    let alone = hard.config.members.len() == 1 && hard.config.contains(hard.id);
    if alone && !hard.joining && hard.config.members.get(&hard.id).map(String::as_str) != Some(host)
    {
        // A single node may change its name: nobody else knows it yet.
        hard.config.members.insert(hard.id, host.to_string());
    }
    if !hard.joining && !hard.config.contains(hard.id) {
        anyhow::bail!(
            "server not part of cluster: node {} was removed from its cluster; delete its database to start it as a new node",
            hard.id
        );
    }
    if !hard.joining && hard.config.members.get(&hard.id).map(String::as_str) != Some(host) {
        anyhow::bail!(
            "server not part of cluster: this node is not {host} in its cluster definition ({}); start it with the --host it was added as, or delete its database and add it again",
            hard.config
                .members
                .iter()
                .map(|(id, h)| format!("node {id}: {h}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    keystore.persist_replication(&encode(&hard)?)?;
    Ok(hard)
}

/// The postcard bytes of `v`. A failure is an error, never empty bytes: written as the
/// replication state, an empty value would persist a state that is no state at all.
fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, ks::Error> {
    postcard::to_allocvec(v).map_err(|e| ks::StorageFailure::context("cannot encode", e).into())
}

fn now_ms(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

/// Refuses writes on a node that left its cluster with `--delete-cluster` until its operator
/// accepts the fork: it holds a copy of the old cluster's keys, and a client still sending it
/// writes meant for that cluster would split the data.
pub(crate) fn fenced(node: &Node) -> Result<(), ClusterError> {
    match node.keystore.forked_from() {
        None => Ok(()),
        Some(old) => Err(unavailable(&format!(
            "writes fenced: this node left cluster {old} with --delete-cluster and holds a copy of its keys; point every client of that cluster away from it, then run 'minkms edit {} --accept-fork' to take writes here",
            node.host
        ))),
    }
}

/// The half of [`Cluster::channel`] that becomes the driver once the node exists.
pub(crate) struct Pending {
    rx: mpsc::Receiver<Event>,
    inbox: mpsc::Sender<Event>,
    core: Core,
    status: watch::Sender<Status>,
    blocked: watch::Sender<Blocked>,
    removed: Arc<AtomicBool>,
    started: Instant,
    slot_opened: Arc<AtomicU64>,
    ticked: Arc<AtomicU64>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minkms_replication::{Ballot, Config, Value};

    /// A value whose serialization fails (postcard refuses sequences of unknown length).
    struct Unencodable;

    impl Serialize for Unencodable {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeSeq;
            s.serialize_seq(None)?.end()
        }
    }

    #[test]
    fn an_encoding_failure_is_an_error_not_empty_bytes() {
        let err = encode(&Unencodable).unwrap_err();
        assert!(matches!(err, ks::Error::Storage(_)), "{err}");
        assert!(
            err.to_string().starts_with("storage error: cannot encode"),
            "{err}"
        );
        assert_eq!(encode(&7u8).unwrap(), [7]);
    }

    fn ours() -> Status {
        let mut hard = Hard::single("a:7373");
        hard.config.members.insert(1, "b:7373".into());
        hard.config.next_id = 4; // 2 was removed, 3 was taken for a node not added yet
        Core::new(hard, TIMING, 1, 0).status(0)
    }

    fn theirs(
        role: &str,
        cluster: &str,
        id: u32,
        commit: u64,
        nodes: usize,
    ) -> ServerStatusResponse {
        ServerStatusResponse {
            role: role.into(),
            cluster_id: cluster.into(),
            node_id: id,
            commit,
            nodes: (0..nodes as u32).map(|i| (i, format!("n{i}"))).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn add_takes_fresh_nodes_and_resumes_only_its_own_unfinished_joins() {
        let plan = |t: ServerStatusResponse| join_plan(&t, &ours(), "c");
        assert_eq!(plan(theirs("Leader", "x", 0, 0, 1)), Some(JoinPlan::Fresh));
        // Holds state of its own, or is part of another cluster.
        assert_eq!(plan(theirs("Leader", "x", 0, 5, 1)), None);
        assert_eq!(plan(theirs("Follower", "x", 1, 0, 2)), None);
        // Joining this cluster under the id taken for it: resume.
        assert_eq!(
            plan(theirs("Joining", "c", 3, 9, 2)),
            Some(JoinPlan::Resume(3))
        );
        // Joining another cluster, or under a member's id, a removed one or one not taken.
        assert_eq!(plan(theirs("Joining", "other", 3, 9, 2)), None);
        assert_eq!(plan(theirs("Joining", "c", 1, 9, 2)), None);
        assert_eq!(plan(theirs("Joining", "c", 4, 9, 2)), None);
        // A removed member (id 2) that is not joining is not fresh either.
        assert_eq!(plan(theirs("Removed", "c", 2, 9, 2)), None);
    }

    /// An open slot holding `payload`.
    fn open(payload: Payload) -> Option<Slot> {
        Some(Slot {
            index: 8,
            ballot: Ballot { term: 2, seq: 1 },
            value: SlotValue::Entry(Value {
                id: Ballot { term: 2, seq: 1 },
                proposer: 0,
                payload,
            }),
        })
    }

    fn command(cmd: &ks::Command) -> Payload {
        Payload::App(postcard::to_allocvec(cmd).unwrap())
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_key_change_holds_reads_of_that_key_and_of_the_whole_enclave_only() {
        let gate = blocked_by(&open(command(&ks::Command::DeleteKey {
            enclave: "e".into(),
            name: "k".into(),
            version: 0,
            all: true,
        })));
        assert!(blocks(&gate, "e", Some(&names(&["k"]))));
        assert!(blocks(&gate, "e", Some(&names(&["other", "k"]))));
        assert!(!blocks(&gate, "e", Some(&names(&["other"]))));
        assert!(!blocks(&gate, "f", Some(&names(&["k"]))));
        // A read of the enclave as a whole (a listing), and one of everything, wait too.
        assert!(blocks(&gate, "e", None));
        assert!(!blocks(&gate, "f", None));
        assert!(blocks(&gate, "", None));
    }

    #[test]
    fn any_other_change_holds_its_enclave_and_a_config_change_holds_everything() {
        let gate = blocked_by(&open(command(&ks::Command::DeleteEnclave {
            name: "e".into(),
        })));
        assert!(blocks(&gate, "e", Some(&names(&["k"]))));
        assert!(blocks(&gate, "e", None));
        assert!(!blocks(&gate, "f", Some(&names(&["k"]))));
        assert!(blocks(&gate, "", None));

        let gate = blocked_by(&open(Payload::Config(Config::single("a:7373"))));
        assert!(blocks(&gate, "f", Some(&names(&["k"]))));
        // A command this node cannot read holds everything rather than guess.
        let gate = blocked_by(&open(Payload::App(vec![0xff; 3])));
        assert!(blocks(&gate, "f", Some(&names(&["k"]))));
    }

    #[test]
    fn a_free_slot_or_a_tombstone_holds_nothing() {
        for slot in [
            None,
            Some(Slot {
                index: 8,
                ballot: Ballot { term: 2, seq: 1 },
                value: SlotValue::Tombstone,
            }),
        ] {
            let gate = blocked_by(&slot);
            assert!(!blocks(&gate, "e", None));
            assert!(!blocks(&gate, "", None));
        }
    }
}
