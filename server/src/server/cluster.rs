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
use http::{Method, StatusCode};
use minkms_keystore::{self as ks, Snapshot};
use minkms_replication::{
    Core, Envelope, Hard, NodeId, Output, Payload, Slot, SlotValue, Status, Timing, WriteError,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use super::error::ApiError;
use super::node::Node;
use super::peer::{PeerError, PeerRequest};
use minkms_client::wire::ServerStatusResponse;
use minkms_client::NodeName;

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

/// What reads must wait for: the names the open slot changes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Blocked {
    Nothing,
    /// A key being created or deleted: reads of other keys of the enclave go on.
    Keys {
        enclave: String,
        keys: BTreeSet<String>,
    },
    /// An enclave, identity or policy change: every read of the enclave waits.
    Enclaves(BTreeSet<String>),
    /// A membership change: every read waits (a node being removed stops serving at once).
    All,
}

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
    postcard::to_allocvec(v).map_err(|e| ks::Error::Storage(format!("cannot encode: {e}")))
}

fn now_ms(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

impl Cluster {
    /// Starts the driver for `node` (whose `cluster` is this handle's pair).
    pub(crate) fn channel(hard: &Hard) -> (Self, Pending) {
        let (inbox, rx) = mpsc::channel(INBOX);
        let driver_inbox = inbox.clone();
        let started = Instant::now();
        let core = Core::new(hard.clone(), TIMING, rand::random(), 0);
        let (status_tx, status) = watch::channel(core.status(0));
        let (blocked_tx, blocked) = watch::channel(blocked_by(&hard.slot));
        let removed = Arc::new(AtomicBool::new(false));
        let slot_opened = Arc::new(AtomicU64::new(NO_SLOT));
        let ticked = Arc::new(AtomicU64::new(0));
        (
            Self {
                inbox,
                status,
                blocked,
                removed: removed.clone(),
                started,
                slot_opened: slot_opened.clone(),
                ticked: ticked.clone(),
            },
            Pending {
                rx,
                inbox: driver_inbox,
                core,
                status: status_tx,
                blocked: blocked_tx,
                removed,
                started,
                slot_opened,
                ticked,
            },
        )
    }

    /// The protocol state now.
    pub(crate) fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Milliseconds since start, on the core's clock.
    pub(crate) fn now(&self) -> u64 {
        now_ms(self.started)
    }

    /// How long this node has held a prepared, uncommitted slot at the same index: a write in
    /// flight, or one stuck on a node that does not answer. `None` when no slot is open.
    pub(crate) fn open_slot_age(&self) -> Option<Duration> {
        let opened = self.slot_opened.load(Ordering::Acquire);
        (opened != NO_SLOT).then(|| Duration::from_millis(self.now().saturating_sub(opened)))
    }

    /// Whether this node left its cluster (it serves nothing then).
    pub(crate) fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// Hands a message from a peer to the core.
    pub(crate) fn deliver(&self, env: Envelope) {
        if self.inbox.try_send(Event::Receive(Box::new(env))).is_err() {
            metrics::counter!("minkms_peer_messages_dropped_total").increment(1);
        }
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Event) -> Result<T, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.inbox
            .send(make(tx))
            .await
            .map_err(|_| unavailable("replication stopped"))?;
        rx.await.map_err(|_| unavailable("replication stopped"))
    }

    /// Waits until a read of `keys` of `enclave` (`None`: of the whole enclave; "" = of
    /// everything) sees no prepared change of them, so a read never returns a value that a
    /// committed write has replaced (REPLICATION.md §2.7).
    pub(crate) async fn readable(
        &self,
        enclave: &str,
        keys: Option<&[String]>,
    ) -> Result<(), ApiError> {
        // The common case answers without building the waiting future below: that future
        // is large, and every read would otherwise carry (and copy) it.
        let ready = {
            let status = self.status.borrow();
            status.probed && !status.joining
        };
        let ticking = self.now() < self.ticked.load(Ordering::Acquire) + STALL_MS;
        if ready && ticking && !self.is_removed() && !blocks(&self.blocked.borrow(), enclave, keys)
        {
            return Ok(());
        }
        Box::pin(self.readable_after_wait(enclave, keys)).await
    }

    async fn readable_after_wait(
        &self,
        enclave: &str,
        keys: Option<&[String]>,
    ) -> Result<(), ApiError> {
        let arrived = self.now();
        if self.ticked.load(Ordering::Acquire) + STALL_MS <= arrived {
            // The driver has not ticked for a while: the process was stopped (SIGSTOP, a VM
            // pause) or starved. Its next tick notices a pause and starts a probe; the status
            // this read looks at must come after that tick.
            let mut rx = self.status.clone();
            let _ = tokio::time::timeout(READ_WAIT, async {
                while self.ticked.load(Ordering::Acquire) < arrived {
                    if rx.changed().await.is_err() {
                        return;
                    }
                }
            })
            .await;
        }
        let probing_since = self.status.borrow().probing_since;
        if let Some(since) = probing_since.filter(|_| !self.status.borrow().probed) {
            // Just started, or just resumed from a pause: until a peer answered (up to
            // T_probe), this node may have missed its own removal (REPLICATION.md 2.8). Then it
            // serves anyway: lose all but one node and still read.
            let waited = Duration::from_millis(self.now().saturating_sub(since));
            if let Some(left) = T_PROBE.checked_sub(waited) {
                let mut rx = self.status.clone();
                let _ = tokio::time::timeout(left, rx.wait_for(|s| s.probed)).await;
            }
        }
        if self.is_removed() {
            return Err(unavailable("server not part of cluster"));
        }
        if self.status.borrow().joining {
            return Err(unavailable("node is joining the cluster"));
        }
        let mut rx = self.blocked.clone();
        if !blocks(&rx.borrow(), enclave, keys) {
            return Ok(());
        }
        let waited = tokio::time::timeout(READ_WAIT, async {
            rx.wait_for(|b| !blocks(b, enclave, keys)).await.is_ok()
        })
        .await;
        match waited {
            // The wait may have ended because this node applied its own removal.
            Ok(true) if self.is_removed() => Err(unavailable("server not part of cluster")),
            Ok(true) => Ok(()),
            _ => Err(unavailable("key is being modified; retry")),
        }
    }

    /// Commits a write on every node: here if this node leads, else on the leader.
    pub(crate) async fn write(&self, node: &Node, cmd: ks::Command) -> Result<(), ApiError> {
        if self.is_removed() {
            return Err(unavailable("server not part of cluster"));
        }
        fenced(node)?;
        node.volume.check()?;
        let leader = self.status().leader;
        if leader != Some(node_id(self)) {
            return self.forward(node, leader, &Forwarded::Write(cmd)).await;
        }
        self.write_here(cmd).await
    }

    /// The leader's part of a write.
    pub(crate) async fn write_here(&self, cmd: ks::Command) -> Result<(), ApiError> {
        let bytes = encode(&cmd)?;
        match self.ask(|tx| Event::Propose(bytes, tx)).await? {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(write_error(e)),
        }
    }

    /// Sends a request to the leader and relays its answer.
    async fn forward(
        &self,
        node: &Node,
        leader: Option<NodeId>,
        req: &Forwarded,
    ) -> Result<(), ApiError> {
        let status = self.status();
        let host = leader
            .and_then(|l| status.config.members.get(&l).cloned())
            .ok_or_else(|| unavailable("cluster has no leader"))?;
        let request = PeerRequest {
            method: Method::POST,
            path: "/v1/rpc/forward",
            body: Bytes::from(encode(req)?),
            timeout: Duration::from_secs(30),
        };
        // A connection that answered the last forward is reused: a TLS handshake per forward
        // cost more than the forward itself.
        let mut sender = match node.peer.take_idle(&host) {
            Some(sender) => sender,
            None => node
                .peer
                .connect(&host)
                .await
                .map_err(|e| unavailable(&format!("cannot reach the leader: {e}")))?,
        };
        let (code, body) = node
            .peer
            .call(&mut sender, &host, request)
            .await
            .map_err(|e| unavailable(&format!("the leader did not answer: {e}")))?;
        node.peer.keep_idle(&host, sender);
        if code == 200 {
            return Ok(());
        }
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        Err(ApiError::new(
            status,
            String::from_utf8_lossy(&body).into_owned(),
        ))
    }

    /// `minkms add`: takes an id for the new node, sends it this cluster's state, then commits
    /// it as a member. Nothing is sent unless every member can take the membership change; a
    /// node whose add failed after it got the state is added by running `add` again.
    pub(crate) async fn add(&self, node: &Node, host: &str) -> Result<(), ApiError> {
        let status = self.status();
        if status.leader != Some(status.id) {
            return self
                .forward(node, status.leader, &Forwarded::Add(host.to_string()))
                .await;
        }
        fenced(node)?;
        if status.config.members.values().any(|h| h == host) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("node {host} is already part of this cluster"),
            ));
        }
        if let Some(down) = status.down {
            let name = status
                .config
                .members
                .get(&down)
                .cloned()
                .unwrap_or_default();
            return Err(unavailable(&format!(
                "cannot add node {host}: not all nodes available: node {down} ({name}) is down"
            )));
        }
        if !status.writable {
            return Err(unavailable(&format!(
                "cannot add node {host}: the cluster cannot take writes yet (its leader is still resolving an interrupted write); retry"
            )));
        }
        let theirs = match node.peer.status(host).await {
            Err(PeerError::NotAPeer) => {
                return Err(ApiError::bad_request(format!(
                    "cannot add node {host}: {}",
                    super::peer::NOT_A_PEER
                )))
            }
            Err(PeerError::Unreachable(why)) => {
                return Err(unavailable(&format!("cannot add node {host}: {why}")))
            }
            Ok(s) => s,
        };
        let ours = node.keystore.info().cluster_id.to_string();
        let id = match join_plan(&theirs, &status, &ours) {
            Some(JoinPlan::Fresh) => {
                let id = status.config.next_id;
                self.ask(|tx| Event::Reserve(id, tx))
                    .await?
                    .map_err(write_error)?;
                id
            }
            Some(JoinPlan::Resume(id)) => id,
            None => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!("cannot add node {host}: node is not fresh: stop it, delete its database and restart it"),
                ))
            }
        };
        let (snapshot, mut hard) = self.ask(Event::Export).await?.map_err(ApiError::from)?;
        hard.id = id;
        hard.joining = true;
        hard.voted_for = None;
        hard.slot = None;
        hard.forced_out = Default::default();
        let join = Join { snapshot, hard };
        let request = PeerRequest {
            method: Method::POST,
            path: "/v1/rpc/join",
            body: Bytes::from(encode(&join)?),
            timeout: super::peer::CALL_TIMEOUT,
        };
        let mut sender = node
            .peer
            .connect(host)
            .await
            .map_err(|e| unavailable(&format!("cannot add node {host}: {e}")))?;
        let (code, body) = node
            .peer
            .call(&mut sender, host, request)
            .await
            .map_err(|e| unavailable(&format!("cannot add node {host}: {e}")))?;
        if code != 200 {
            return Err(ApiError::new(
                StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                format!("cannot add node {host}: {}", String::from_utf8_lossy(&body)),
            ));
        }
        let host = host.to_string();
        self.ask(|tx| Event::Add(id, host, tx)).await?.map_err(|e| {
            let e = write_error(e);
            ApiError::new(
                e.status,
                format!(
                    "{}; the node holds this cluster's state as node {id}: run add again to finish",
                    e.message
                ),
            )
        })
    }

    /// A joining node installs the snapshot it was sent: a fresh node, or one that got this
    /// cluster's state under the same id before and whose add did not commit.
    pub(crate) async fn install(&self, node: &Node, join: Join) -> Result<(), ApiError> {
        let status = self.status();
        let fresh = status.commit == 0 && status.config.members.len() <= 1 && !status.joining;
        let resumed = status.joining
            && join.hard.id == status.id
            && join.snapshot.cluster_id == node.keystore.info().cluster_id;
        if !(fresh || resumed) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "node is not fresh: stop it, delete its database and restart it",
            ));
        }
        self.ask(|tx| Event::Install(Box::new(join), tx))
            .await?
            .map_err(ApiError::from)
    }

    /// `PUT /v1/db`: restores a backup onto this node, which must be a fresh single node.
    pub(crate) async fn restore(&self, backup: Bytes) -> Result<u64, ApiError> {
        let status = self.status();
        if status.commit != 0 || status.config.members.len() > 1 || status.joining {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "restore needs a fresh single-node cluster: this node holds state or has other members; start a new node with an empty data directory",
            ));
        }
        self.ask(|tx| Event::Restore(backup, tx))
            .await?
            .map_err(ApiError::from)
    }

    /// `minkms rm`: commits the config without `host` on every node, then tells the node.
    pub(crate) async fn remove(
        &self,
        node: &Node,
        host: &str,
        delete: bool,
    ) -> Result<(), ApiError> {
        let status = self.status();
        if status.leader != Some(status.id) {
            let req = Forwarded::Remove {
                host: host.to_string(),
                delete,
            };
            return self.forward(node, status.leader, &req).await;
        }
        let id = status
            .config
            .members
            .iter()
            .find(|(id, h)| h.as_str() == host || id.to_string() == host)
            .map(|(id, _)| *id)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("node {host} is not part of the cluster"),
                )
            })?;
        let target = status.config.members.get(&id).cloned().unwrap_or_default();
        self.ask(|tx| Event::Remove(id, tx))
            .await?
            .map_err(write_error)?;
        let body = Bytes::from(encode(&Removed { delete })?);
        if id == status.id {
            let _ = self.leave(delete).await;
        } else if let Err(e) = node
            .peer
            .call_once(&target, Method::POST, "/v1/rpc/removed", body)
            .await
        {
            tracing::warn!(node = %target, error = %e, "removed node not told: it learns it when it next talks to the cluster");
        }
        Ok(())
    }

    /// Whether messages from node `id` are taken (`Core::admitted`).
    pub(crate) fn admits(&self, id: NodeId) -> bool {
        self.status.borrow().admitted.contains(&id)
    }

    /// Whether node `id` is a member of this node's config.
    pub(crate) fn is_member(&self, id: NodeId) -> bool {
        self.status.borrow().config.contains(id)
    }

    /// A member says this node was removed. Nothing changes on its word alone: the node asks
    /// its members, and leaves (and with `delete` starts over) once a committed config
    /// without it reaches it, or at once if one already has.
    pub(crate) async fn removal_notice(&self, delete: bool) -> Result<(), ApiError> {
        self.inbox
            .send(Event::RemovalNotice(delete))
            .await
            .map_err(|_| unavailable("the cluster runtime stopped"))
    }

    /// This node was removed: with `delete`, it starts a new single-node cluster of its own.
    pub(crate) async fn leave(&self, delete: bool) -> Result<(), ApiError> {
        self.removed.store(true, Ordering::Release);
        if delete {
            start_over_later(self.inbox.clone());
        }
        Ok(())
    }

    /// `minkms edit --rm`: drops an unreachable member from this node's config by force.
    pub(crate) async fn force_remove(&self, node: &Node, id: NodeId) -> Result<(), ApiError> {
        let status = self.status();
        let host = status.config.members.get(&id).cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("node {id} is not part of the cluster"),
            )
        })?;
        let ours = node.keystore.info().cluster_id.to_string();
        let reachable = matches!(node.peer.status(&host).await, Ok(s) if s.cluster_id == ours);
        if id != status.id && reachable {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("node {id} ({host}) is reachable; use rm"),
            ));
        }
        self.ask(|tx| Event::Force(id, tx))
            .await?
            .map_err(|e| ApiError::new(StatusCode::CONFLICT, e))
    }
}

/// Refuses writes on a node that left its cluster with `--delete-cluster` until its operator
/// accepts the fork: it holds a copy of the old cluster's keys, and a client still sending it
/// writes meant for that cluster would split the data.
pub(crate) fn fenced(node: &Node) -> Result<(), ApiError> {
    match node.keystore.forked_from() {
        None => Ok(()),
        Some(old) => Err(unavailable(&format!(
            "writes fenced: this node left cluster {old} with --delete-cluster and holds a copy of its keys; point every client of that cluster away from it, then run 'minkms edit {} --accept-fork' to take writes here",
            node.host
        ))),
    }
}

/// A removed node told to start over does so after [`LEAVE_GRACE`].
fn start_over_later(inbox: mpsc::Sender<Event>) {
    tokio::spawn(async move {
        tokio::time::sleep(LEAVE_GRACE).await;
        let (tx, rx) = oneshot::channel();
        if inbox.send(Event::Leave(tx)).await.is_ok() {
            if let Ok(Err(e)) = rx.await {
                tracing::error!(error = %e, "cannot start over as a new cluster");
            }
        }
    });
}

/// Presents the node under its new name to peers (after it joined or started over).
fn present_as(node: &Node, cluster: uuid::Uuid, id: NodeId) {
    let name = NodeName::new(cluster.to_string(), id);
    match name.map(|name| node.peer.present_as(name)) {
        Some(Ok(())) => {}
        Some(Err(e)) => tracing::error!(error = %e, "cannot present the new node certificate"),
        None => tracing::error!(%cluster, "invalid cluster id for a node name"),
    }
}

/// What `add` does with the node it adds, from that node's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinPlan {
    /// A fresh node: take the next id for it first.
    Fresh,
    /// A node that holds this cluster's state under an id taken for it, whose add did not
    /// commit: send it the state again and add it under that id.
    Resume(NodeId),
}

/// `None`: the node holds state of its own, or of this cluster under an id that is not waiting
/// for it; it must be wiped first.
fn join_plan(theirs: &ServerStatusResponse, ours: &Status, cluster_id: &str) -> Option<JoinPlan> {
    let joining = theirs.role == "Joining";
    if !joining && theirs.commit == 0 && theirs.nodes.len() <= 1 {
        return Some(JoinPlan::Fresh);
    }
    let id = NodeId::from(theirs.node_id);
    let waiting = id < ours.config.next_id && !ours.config.contains(id);
    (joining && theirs.cluster_id == cluster_id && waiting).then_some(JoinPlan::Resume(id))
}

fn node_id(c: &Cluster) -> NodeId {
    c.status.borrow().id
}

fn unavailable(msg: &str) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, msg.to_string())
}

fn write_error(e: WriteError) -> ApiError {
    match e {
        WriteError::NotLeader(_) => unavailable("cluster has no leader"),
        other => unavailable(&other.to_string()),
    }
}

/// The names an open slot blocks reads of.
fn blocked_by(slot: &Option<Slot>) -> Blocked {
    let Some(Slot {
        value: SlotValue::Entry(v),
        ..
    }) = slot
    else {
        return Blocked::Nothing;
    };
    match &v.payload {
        Payload::Config(_) => Blocked::All,
        Payload::App(bytes) => match postcard::from_bytes::<ks::Command>(bytes) {
            Ok(
                ks::Command::CreateKey { enclave, name, .. }
                | ks::Command::DeleteKey { enclave, name, .. },
            ) => Blocked::Keys {
                enclave,
                keys: [name].into_iter().collect(),
            },
            Ok(cmd) => Blocked::Enclaves([cmd.enclave().to_string()].into_iter().collect()),
            Err(_) => Blocked::All,
        },
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

impl Pending {
    /// Runs the driver until the process ends, or until a write it cannot make durable: then
    /// it stops serving and sends the reason on `fatal`, so the node can shut down cleanly
    /// (audit log drained) and exit with an error.
    pub(crate) fn spawn(self, node: Arc<Node>, fatal: oneshot::Sender<String>) {
        let mut driver = Driver {
            core: self.core,
            node,
            status: self.status,
            blocked: self.blocked,
            removed: self.removed,
            started: self.started,
            next_req: 1,
            waiters: HashMap::new(),
            apply_errors: HashMap::new(),
            links: HashMap::new(),
            inbox: self.inbox,
            joining_hosts: HashMap::new(),
            departed: HashMap::new(),
            leave_when_removed: None,
            fatal: None,
        };
        let mut rx = self.rx;
        let slot_opened = self.slot_opened;
        let ticked = self.ticked;
        // The slot the driver last saw open: its age counts from when it appeared.
        let mut open_slot = None;
        tokio::spawn(async move {
            // The membership probe: learn what peers committed since this node stopped.
            driver.core.probe_all();
            driver.flush();
            if let Some(reason) = driver.fatal.take() {
                let _ = fatal.send(reason);
                return;
            }
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut ticked_now = None;
            loop {
                tokio::select! {
                    ev = rx.recv() => match ev {
                        Some(ev) => driver.handle(ev),
                        None => return,
                    },
                    _ = tick.tick() => {
                        let now = driver.now();
                        driver.core.tick(now);
                        // Published after this loop's flush: a read that waits for a tick then
                        // sees the status that tick produced.
                        ticked_now = Some(now);
                    }
                }
                driver.flush();
                if let Some(reason) = driver.fatal.take() {
                    // Dropping the driver fails every waiting request: none is acknowledged.
                    let _ = fatal.send(reason);
                    return;
                }
                if let Some(now) = ticked_now.take() {
                    ticked.store(now, Ordering::Release);
                }
                let slot = driver.core.hard().slot.as_ref().map(|s| s.index);
                if slot != open_slot {
                    let opened = if slot.is_some() {
                        driver.now()
                    } else {
                        NO_SLOT
                    };
                    slot_opened.store(opened, Ordering::Release);
                    open_slot = slot;
                }
            }
        });
    }
}

impl Driver {
    fn now(&self) -> u64 {
        now_ms(self.started)
    }

    fn req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    fn handle(&mut self, ev: Event) {
        let now = self.now();
        match ev {
            Event::Receive(env) => self.core.receive(now, *env),
            Event::Unreachable(id) => self.core.peer_unreachable(id),
            Event::Propose(cmd, tx) => {
                let req = self.req();
                self.waiters.insert(req, Waiter::Write(tx));
                self.core.propose(now, req, cmd);
            }
            Event::Add(id, host, tx) => {
                let req = self.req();
                self.waiters.insert(req, Waiter::Admin(tx));
                self.joining_hosts.insert(id, (host.clone(), req));
                self.core.propose_add(now, req, id, host);
            }
            Event::Reserve(id, tx) => {
                let req = self.req();
                self.waiters.insert(req, Waiter::Admin(tx));
                self.core.propose_reserve(now, req, id);
            }
            Event::Remove(id, tx) => {
                let req = self.req();
                self.waiters.insert(req, Waiter::Admin(tx));
                self.core.propose_remove(now, req, id);
            }
            Event::Force(id, tx) => {
                let result = self.core.force_remove(now, id);
                // The forced config is on disk before the operator hears it took effect.
                self.flush();
                if self.fatal.is_none() {
                    let _ = tx.send(result);
                }
            }
            Event::Export(tx) => {
                let snapshot = self.node.keystore.export();
                let _ = tx.send(snapshot.map(|s| (s, self.core.hard().clone())));
            }
            Event::Install(join, tx) => {
                let Join { snapshot, hard } = *join;
                let (cluster, id) = (snapshot.cluster_id, hard.id);
                // Nothing is served from the snapshot until the node is a member.
                self.blocked.send_replace(Blocked::All);
                let result = encode(&hard).and_then(|replication| {
                    self.node
                        .keystore
                        .install(&snapshot, &self.node.hsms, &replication)
                });
                if result.is_ok() {
                    tracing::info!(
                        node = hard.id,
                        commit = hard.commit,
                        "joined a cluster: state installed, waiting for the membership change"
                    );
                    self.core = Core::new(hard, TIMING, rand::random(), now);
                    self.core.probe_all();
                    self.links.clear();
                    self.status.send_replace(self.core.status(now));
                    present_as(&self.node, cluster, id);
                }
                self.blocked
                    .send_replace(blocked_by(&self.core.hard().slot));
                let _ = tx.send(result);
            }
            Event::Restore(backup, tx) => {
                let base = self.core.hard().clone();
                let mut made = None;
                self.blocked.send_replace(Blocked::All);
                let result = self
                    .node
                    .keystore
                    .restore(&backup, &self.node.hsms, |commit| {
                        // A new epoch and term: nothing of the node's fresh history carries over.
                        let mut hard = base;
                        hard.term += 1;
                        hard.voted_for = None;
                        hard.commit = commit;
                        hard.commit_id = minkms_replication::Ballot {
                            term: hard.term,
                            seq: 0,
                        };
                        hard.config.epoch += 1;
                        hard.slot = None;
                        hard.last = None;
                        let bytes = encode(&hard)?;
                        made = Some(hard);
                        Ok(bytes)
                    });
                if let (Ok(commit), Some(hard)) = (&result, made) {
                    tracing::info!(commit, "backup restored");
                    self.core = Core::new(hard, TIMING, rand::random(), now);
                    self.status.send_replace(self.core.status(now));
                }
                self.blocked
                    .send_replace(blocked_by(&self.core.hard().slot));
                let _ = tx.send(result);
            }
            Event::Leave(tx) => {
                let host = self.node.host.clone();
                let mut hard = Hard::single(host);
                hard.commit = self.core.hard().commit;
                hard.commit_id = self.core.hard().commit_id;
                let result =
                    encode(&hard).and_then(|bytes| self.node.keystore.reset_cluster(&bytes));
                if let Ok(cluster) = result {
                    tracing::info!(
                        "removed from the cluster: running as a new single-node cluster"
                    );
                    self.core = Core::new(hard, TIMING, rand::random(), now);
                    self.links.clear();
                    self.blocked.send_replace(Blocked::Nothing);
                    self.removed.store(false, Ordering::Release);
                    present_as(&self.node, cluster, 0);
                }
                let _ = tx.send(result.map(|_| ()));
            }
            Event::RemovalNotice(delete) => {
                let delete = delete || self.leave_when_removed.unwrap_or(false);
                self.leave_when_removed = Some(delete);
                if self.core.status(now).removed {
                    self.on_removal();
                } else {
                    // Confirm with the members: a committed config without this node that
                    // reaches it (a probe's answer, or the commit) makes the core say so.
                    self.core.probe_all();
                }
            }
        }
    }

    /// Stops after a failure that leaves the disk behind the core: nothing more is executed,
    /// nothing served; the loop hands `reason` on and ends.
    fn stop(&mut self, reason: String) {
        self.blocked.send_replace(Blocked::All);
        self.fatal = Some(reason);
    }

    /// Executes the core's outputs in order, until one fails (see [`Driver::stop`]).
    fn flush(&mut self) {
        if self.fatal.is_some() {
            return;
        }
        for out in self.core.take_outputs() {
            match out {
                Output::Persist(hard) => {
                    let persisted = encode(&hard)
                        .and_then(|bytes| self.node.keystore.persist_replication(&bytes));
                    if let Err(e) = persisted {
                        // Nothing after this may take effect: the state on disk is behind.
                        tracing::error!(error = %e, "cannot persist the replication state; stopping");
                        return self.stop(format!("cannot persist the replication state: {e}"));
                    }
                    let removed = self.removed.load(Ordering::Acquire);
                    self.blocked.send_if_modified(|b| {
                        let next = if removed {
                            Blocked::All
                        } else {
                            blocked_by(&hard.slot)
                        };
                        let changed = *b != next;
                        *b = next;
                        changed
                    });
                }
                Output::Apply { index, value, hard } => {
                    let cmd = match &value.payload {
                        Payload::App(bytes) => match postcard::from_bytes::<ks::Command>(bytes) {
                            Ok(cmd) => Some(cmd),
                            Err(e) => {
                                tracing::error!(index, error = %e, "undecodable entry; stopping");
                                return self.stop(format!("undecodable entry {index}: {e}"));
                            }
                        },
                        Payload::Config(_) => None,
                    };
                    let applied = encode(&hard)
                        .and_then(|bytes| self.node.keystore.apply_at(index, cmd.as_ref(), &bytes));
                    match applied {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            self.apply_errors.insert(index, e);
                        }
                        Err(e) => {
                            tracing::error!(index, error = %e, "cannot apply a committed entry; stopping");
                            return self.stop(format!("cannot apply committed entry {index}: {e}"));
                        }
                    }
                    if let Payload::Config(c) = &value.payload {
                        tracing::info!(index, epoch = c.epoch, members = ?c.members, "cluster membership changed");
                        let now = Instant::now();
                        for (id, (host, _)) in &self.links {
                            if !c.members.contains_key(id) && !self.joining_hosts.contains_key(id) {
                                self.departed.entry(*id).or_insert((host.clone(), now));
                            }
                        }
                    }
                    if !hard.joining && !hard.config.contains(hard.id) {
                        // Removed: stop serving before the gate opens, or a read waiting on
                        // the removal would be served from a state the cluster has left.
                        self.removed.store(true, Ordering::Release);
                        self.blocked.send_replace(Blocked::All);
                        self.on_removal();
                    } else {
                        self.blocked.send_replace(blocked_by(&hard.slot));
                    }
                }
                Output::Send(env) => self.send(env),
                Output::Respond { req, result } => {
                    self.joining_hosts.retain(|_, (_, adding)| *adding != req);
                    self.respond(req, result);
                }
                Output::Removed => {
                    tracing::warn!(
                        "this node is not part of the cluster any more: it serves nothing now"
                    );
                    self.removed.store(true, Ordering::Release);
                    self.on_removal();
                }
            }
        }
        self.apply_errors
            .retain(|i, _| *i + 64 > self.core.hard().commit);
        self.forget_departed();
        let now = self.now();
        self.status.send_replace(self.core.status(now));
    }

    /// The removal a member told of is confirmed: leave, and start over if told to.
    fn on_removal(&mut self) {
        if let Some(delete) = self.leave_when_removed.take() {
            self.removed.store(true, Ordering::Release);
            if delete {
                start_over_later(self.inbox.clone());
            }
        }
    }

    /// Drops what is kept of members removed more than [`DEPARTED_GRACE`] ago: their hosts,
    /// and their links (whose tasks end with them).
    fn forget_departed(&mut self) {
        let before = self.departed.len();
        self.departed
            .retain(|_, (_, since)| since.elapsed() < DEPARTED_GRACE);
        if self.departed.len() == before {
            return;
        }
        let (config, joining, departed) = (
            &self.core.hard().config,
            &self.joining_hosts,
            &self.departed,
        );
        self.links.retain(|id, _| {
            config.contains(*id) || joining.contains_key(id) || departed.contains_key(id)
        });
    }

    /// Answers the client waiting for request `req`.
    fn respond(&mut self, req: u64, result: minkms_replication::WriteResult) {
        match self.waiters.remove(&req) {
            Some(Waiter::Write(tx)) => {
                let result = result.map(|index| match self.apply_errors.remove(&index) {
                    Some(e) => Err(e),
                    None => Ok(()),
                });
                let _ = tx.send(result);
            }
            Some(Waiter::Admin(tx)) => {
                let _ = tx.send(result.map(|_| ()));
            }
            None => {}
        }
    }

    fn send(&mut self, env: Envelope) {
        let host = self
            .core
            .hard()
            .config
            .members
            .get(&env.to)
            .or_else(|| self.joining_hosts.get(&env.to).map(|(host, _)| host))
            .or_else(|| self.departed.get(&env.to).map(|(host, _)| host))
            .or_else(|| {
                // A node being added, named by the config entry in the slot (a new leader that
                // recovers that entry never saw the `add` request).
                match &self.core.hard().slot {
                    Some(Slot {
                        value: SlotValue::Entry(v),
                        ..
                    }) => match &v.payload {
                        Payload::Config(c) => c.members.get(&env.to),
                        Payload::App(_) => None,
                    },
                    _ => None,
                }
            })
            .cloned();
        let Some(host) = host else { return };
        let link = match self.links.get(&env.to) {
            Some((h, tx)) if *h == host && !tx.is_closed() => tx.clone(),
            _ => {
                let tx = spawn_link(self.node.clone(), env.to, host.clone(), self.inbox.clone());
                self.links.insert(env.to, (host, tx.clone()));
                tx
            }
        };
        // A full queue drops the message: the protocol resends what matters.
        let _ = link.try_send(env);
    }
}

/// One task per peer: sends envelopes in order over a kept-open connection, reconnecting after
/// a failure. Lost messages are the protocol's business (it retries), not the link's.
fn spawn_link(
    node: Arc<Node>,
    id: NodeId,
    host: String,
    inbox: mpsc::Sender<Event>,
) -> mpsc::Sender<Envelope> {
    let (tx, mut rx) = mpsc::channel::<Envelope>(LINK_QUEUE);
    tokio::spawn(async move {
        let mut sender = None;
        let mut backoff_until: Option<Instant> = None;
        while let Some(env) = rx.recv().await {
            if backoff_until.is_some_and(|t| Instant::now() < t) {
                continue;
            }
            if sender.is_none() {
                match node.peer.connect(&host).await {
                    Ok(s) => sender = Some(s),
                    Err(e) => {
                        tracing::debug!(peer = %host, error = %e, "peer unreachable");
                        let _ = inbox.try_send(Event::Unreachable(id));
                        backoff_until = Some(Instant::now() + Duration::from_millis(200));
                        continue;
                    }
                }
            }
            let Some(s) = sender.as_mut() else { continue };
            // A message that cannot be encoded is not sent (a lost message, which the protocol
            // tolerates), never sent empty.
            let body = match encode(&env) {
                Ok(body) => Bytes::from(body),
                Err(e) => {
                    tracing::error!(peer = %host, error = %e, "message not sent");
                    continue;
                }
            };
            let request = PeerRequest {
                method: Method::POST,
                path: "/v1/rpc/replicate",
                body,
                timeout: Duration::from_millis(TIMING.rpc),
            };
            match node.peer.call(s, &host, request).await {
                Ok((200, _)) => {}
                Ok((code, body)) => {
                    tracing::debug!(peer = %host, code, reason = %String::from_utf8_lossy(&body), "peer refused a message");
                }
                Err(e) => {
                    tracing::debug!(peer = %host, error = %e, "peer link failed");
                    let _ = inbox.try_send(Event::Unreachable(id));
                    sender = None;
                }
            }
        }
    });
    tx
}

/// Whether a read of `keys` of `enclave` (`None`: the whole enclave; "": everything) must wait
/// for the prepared change `b`.
fn blocks(b: &Blocked, enclave: &str, keys: Option<&[String]>) -> bool {
    match b {
        Blocked::Nothing => false,
        Blocked::All => true,
        Blocked::Enclaves(set) => enclave.is_empty() || set.contains(enclave),
        Blocked::Keys {
            enclave: e,
            keys: pending,
        } => {
            enclave.is_empty()
                || (e == enclave
                    && keys.is_none_or(|names| names.iter().any(|n| pending.contains(n))))
        }
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
