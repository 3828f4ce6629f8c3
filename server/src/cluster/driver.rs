//! The driver task: owns the protocol core, feeds it events and ticks, and executes its
//! outputs in order (persist, apply, send, respond).

use super::*;

/// A removed node told to start over does so after [`LEAVE_GRACE`].
pub(super) fn start_over_later(inbox: mpsc::Sender<Event>) {
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
pub(super) fn present_as(node: &Node, cluster: uuid::Uuid, id: NodeId) {
    let name = NodeName::new(cluster.to_string(), id);
    match name.map(|name| node.peer.present_as(name)) {
        Some(Ok(())) => {}
        Some(Err(e)) => tracing::error!(error = %e, "cannot present the new node certificate"),
        None => tracing::error!(%cluster, "invalid cluster id for a node name"),
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
    pub(super) fn now(&self) -> u64 {
        now_ms(self.started)
    }

    pub(super) fn req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    pub(super) fn handle(&mut self, ev: Event) {
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
    pub(super) fn stop(&mut self, reason: String) {
        self.blocked.send_replace(Blocked::All);
        self.fatal = Some(reason);
    }

    /// Executes the core's outputs in order, until one fails (see [`Driver::stop`]).
    pub(super) fn flush(&mut self) {
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
    pub(super) fn on_removal(&mut self) {
        if let Some(delete) = self.leave_when_removed.take() {
            self.removed.store(true, Ordering::Release);
            if delete {
                start_over_later(self.inbox.clone());
            }
        }
    }

    /// Drops what is kept of members removed more than [`DEPARTED_GRACE`] ago: their hosts,
    /// and their links (whose tasks end with them).
    pub(super) fn forget_departed(&mut self) {
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
    pub(super) fn respond(&mut self, req: u64, result: minkms_replication::WriteResult) {
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

    pub(super) fn send(&mut self, env: Envelope) {
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
