//! The client side: proposals, the write queue, the one open slot a leader drives to commit,
//! and the answers to clients.

use super::*;

impl Core {
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

    pub(super) fn enqueue(&mut self, now: u64, req: u64, p: Pending) {
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

    pub(super) fn stale_member(&self, now: u64, quorum: &BTreeSet<NodeId>) -> Option<NodeId> {
        quorum.iter().copied().find(|m| {
            *m != self.hard.id
                && self
                    .peers
                    .get(m)
                    .and_then(|p| p.last_ack)
                    .is_none_or(|t| t + 2 * self.timing.heartbeat < now)
        })
    }

    pub(super) fn host(&self, id: NodeId) -> String {
        match self.hard.config.members.get(&id) {
            Some(h) => format!("node {id} ({h})"),
            None => format!("node {id}"),
        }
    }

    /// Starts the next queued write when the slot is free.
    pub(super) fn drive(&mut self, now: u64) {
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
                let message = format!("not all nodes available: {} is down", self.host(down));
                self.respond(
                    req,
                    Err(WriteError::Down {
                        node: down,
                        message,
                    }),
                );
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

    pub(super) fn next_ballot(&mut self) -> Ballot {
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
    pub(super) fn quorum_of(&self, payload: &Payload) -> BTreeSet<NodeId> {
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
    pub(super) fn start(&mut self, now: u64, req: Option<u64>, ballot: Ballot, value: Value) {
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

    pub(super) fn send_prepare(&mut self, to: NodeId) {
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

    pub(super) fn check_inflight(&mut self, now: u64) {
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

    pub(super) fn blame(&self) -> String {
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

    pub(super) fn finish_inflight(&mut self) {
        if let Some(lead) = &mut self.lead {
            lead.inflight = None;
        }
    }

    /// Leader: applies the entry every member of `quorum` accepted, then tells them.
    pub(super) fn commit_entry(&mut self, value: Value, quorum: &BTreeSet<NodeId>) {
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
    pub(super) fn apply(&mut self, entry: Committed) {
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
    pub(super) fn learn(&mut self, entry: &Committed) -> bool {
        if entry.index == self.hard.commit.saturating_add(1) && entry.prev_id == self.hard.commit_id
        {
            self.apply(entry.clone());
            true
        } else {
            false
        }
    }

    pub(super) fn fail_queue(&mut self, why: WriteError) {
        let queued: Vec<_> = self.queue.drain(..).collect();
        for (req, _, _) in queued {
            self.respond(req, Err(why.clone()));
        }
    }
}
