//! The handle the API layer holds: writes (here or forwarded to the leader), membership
//! changes, status, backup and restore, each a request to the driver task.

use super::*;

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

    pub(super) async fn ask<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> Event,
    ) -> Result<T, ClusterError> {
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
    ) -> Result<(), ClusterError> {
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

    /// Whether naming the keys a read addresses could let it through sooner: only while a
    /// write of some keys of its enclave is pending. Otherwise a read passes `None` to
    /// [`Self::readable`], which then waits no longer, and spares decoding the names (a string
    /// per frame of every batch).
    pub(crate) fn names_matter(&self, enclave: &str) -> bool {
        matches!(&*self.blocked.borrow(), Blocked::Keys { enclave: e, .. } if e == enclave)
    }

    pub(super) async fn readable_after_wait(
        &self,
        enclave: &str,
        keys: Option<&[String]>,
    ) -> Result<(), ClusterError> {
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
    pub(crate) async fn write(&self, node: &Node, cmd: ks::Command) -> Result<(), ClusterError> {
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
    pub(crate) async fn write_here(&self, cmd: ks::Command) -> Result<(), ClusterError> {
        let bytes = encode(&cmd)?;
        match self.ask(|tx| Event::Propose(bytes, tx)).await? {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(write_error(e)),
        }
    }

    /// Sends a request to the leader and relays its answer.
    pub(super) async fn forward(
        &self,
        node: &Node,
        leader: Option<NodeId>,
        req: &Forwarded,
    ) -> Result<(), ClusterError> {
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
        // Refused before it was sent: certainly not applied. Anything later may have been.
        // The leader's own answer is passed on as it said it.
        match node.peer.call(&host, request).await {
            Ok(_) => Ok(()),
            Err(PeerError::Refused { status, message }) => {
                Err(ClusterError::Relayed { status, message })
            }
            Err(e @ (PeerError::Unconnected(_) | PeerError::NotAPeer)) => {
                Err(unavailable(&format!("cannot reach the leader: {e}")))
            }
            Err(e @ PeerError::Unreachable(_)) => {
                Err(unavailable(&format!("the leader did not answer: {e}")))
            }
        }
    }

    /// `minkms add`: takes an id for the new node, sends it this cluster's state, then commits
    /// it as a member. Nothing is sent unless every member can take the membership change; a
    /// node whose add failed after it got the state is added by running `add` again.
    pub(crate) async fn add(&self, node: &Node, host: &str) -> Result<(), ClusterError> {
        let status = self.status();
        if status.leader != Some(status.id) {
            return self
                .forward(node, status.leader, &Forwarded::Add(host.to_string()))
                .await;
        }
        fenced(node)?;
        if status.config.members.values().any(|h| h == host) {
            return Err(conflict(format!(
                "node {host} is already part of this cluster"
            )));
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
                return Err(ClusterError::Invalid(format!(
                    "cannot add node {host}: {}",
                    peer::NOT_A_PEER
                )))
            }
            Err(
                e @ (PeerError::Unreachable(_)
                | PeerError::Unconnected(_)
                | PeerError::Refused { .. }),
            ) => return Err(unavailable(&format!("cannot add node {host}: {e}"))),
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
                return Err(conflict(format!("cannot add node {host}: node is not fresh: stop it, delete its database and restart it"),
                ))
            }
        };
        let (snapshot, mut hard) = self.ask(Event::Export).await?.map_err(ClusterError::from)?;
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
            timeout: peer::CALL_TIMEOUT,
        };
        node.peer.call(host, request).await.map_err(|e| match e {
            PeerError::Refused { status, message } => ClusterError::Relayed {
                status,
                message: format!("cannot add node {host}: {message}"),
            },
            e => unavailable(&format!("cannot add node {host}: {e}")),
        })?;
        let host = host.to_string();
        self.ask(|tx| Event::Add(id, host, tx)).await?.map_err(|e| {
            ClusterError::Unavailable(format!(
                "{}; the node holds this cluster's state as node {id}: run add again to finish",
                write_error(e)
            ))
        })
    }

    /// A joining node installs the snapshot it was sent: a fresh node, or one that got this
    /// cluster's state under the same id before and whose add did not commit.
    pub(crate) async fn install(&self, node: &Node, join: Join) -> Result<(), ClusterError> {
        let status = self.status();
        let fresh = status.commit == 0 && status.config.members.len() <= 1 && !status.joining;
        let resumed = status.joining
            && join.hard.id == status.id
            && join.snapshot.cluster_id == node.keystore.info().cluster_id;
        if !(fresh || resumed) {
            return Err(conflict(
                "node is not fresh: stop it, delete its database and restart it",
            ));
        }
        self.ask(|tx| Event::Install(Box::new(join), tx))
            .await?
            .map_err(ClusterError::from)
    }

    /// `PUT /v1/db`: restores a backup onto this node, which must be a fresh single node.
    pub(crate) async fn restore(&self, backup: Bytes) -> Result<u64, ClusterError> {
        let status = self.status();
        if status.commit != 0 || status.config.members.len() > 1 || status.joining {
            return Err(conflict("restore needs a fresh single-node cluster: this node holds state or has other members; start a new node with an empty data directory",
            ));
        }
        self.ask(|tx| Event::Restore(backup, tx))
            .await?
            .map_err(ClusterError::from)
    }

    /// `minkms rm`: commits the config without `host` on every node, then tells the node.
    pub(crate) async fn remove(
        &self,
        node: &Node,
        host: &str,
        delete: bool,
    ) -> Result<(), ClusterError> {
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
            .ok_or_else(|| not_found(format!("node {host} is not part of the cluster")))?;
        let target = status.config.members.get(&id).cloned().unwrap_or_default();
        self.ask(|tx| Event::Remove(id, tx))
            .await?
            .map_err(|e| match e {
                // `rm` needs the node it removes; a node that is down is removed by force.
                WriteError::Down { node, message } if node == id => unavailable(&format!(
                    "{message}: remove a node that is down with 'minkms edit SERVER --rm {id}' (SERVER: a remaining node)"
                )),
                e => write_error(e),
            })?;
        let body = Bytes::from(encode(&Removed { delete })?);
        if id == status.id {
            let _ = self.leave(delete).await;
        } else if let Err(e) = node
            .peer
            .call(
                &target,
                PeerRequest {
                    method: Method::POST,
                    path: "/v1/rpc/removed",
                    body,
                    timeout: peer::CALL_TIMEOUT,
                },
            )
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
    pub(crate) async fn removal_notice(&self, delete: bool) -> Result<(), ClusterError> {
        self.inbox
            .send(Event::RemovalNotice(delete))
            .await
            .map_err(|_| unavailable("the cluster runtime stopped"))
    }

    /// This node was removed: with `delete`, it starts a new single-node cluster of its own.
    pub(crate) async fn leave(&self, delete: bool) -> Result<(), ClusterError> {
        self.removed.store(true, Ordering::Release);
        if delete {
            start_over_later(self.inbox.clone());
        }
        Ok(())
    }

    /// `minkms edit --rm`: drops an unreachable member from this node's config by force.
    pub(crate) async fn force_remove(&self, node: &Node, id: NodeId) -> Result<(), ClusterError> {
        let status = self.status();
        let host = status
            .config
            .members
            .get(&id)
            .cloned()
            .ok_or_else(|| not_found(format!("node {id} is not part of the cluster")))?;
        let ours = node.keystore.info().cluster_id.to_string();
        let reachable = matches!(node.peer.status(&host).await, Ok(s) if s.cluster_id == ours);
        if id != status.id && reachable {
            return Err(conflict(format!("node {id} ({host}) is reachable; use rm")));
        }
        self.ask(|tx| Event::Force(id, tx)).await?.map_err(conflict)
    }
}

/// What `add` does with the node it adds, from that node's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JoinPlan {
    /// A fresh node: take the next id for it first.
    Fresh,
    /// A node that holds this cluster's state under an id taken for it, whose add did not
    /// commit: send it the state again and add it under that id.
    Resume(NodeId),
}

/// `None`: the node holds state of its own, or of this cluster under an id that is not waiting
/// for it; it must be wiped first.
pub(super) fn join_plan(
    theirs: &ServerStatusResponse,
    ours: &Status,
    cluster_id: &str,
) -> Option<JoinPlan> {
    let joining = theirs.role == "Joining";
    if !joining && theirs.commit == 0 && theirs.nodes.len() <= 1 {
        return Some(JoinPlan::Fresh);
    }
    let id = NodeId::from(theirs.node_id);
    let waiting = id < ours.config.next_id && !ours.config.contains(id);
    (joining && theirs.cluster_id == cluster_id && waiting).then_some(JoinPlan::Resume(id))
}

pub(super) fn node_id(c: &Cluster) -> NodeId {
    c.status.borrow().id
}

pub(super) fn write_error(e: WriteError) -> ClusterError {
    match e {
        WriteError::NotLeader(_) => unavailable("cluster has no leader"),
        other => unavailable(&other.to_string()),
    }
}
