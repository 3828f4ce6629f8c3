//! Time: what the core does on every tick (heartbeats, election and probe timers, deadlines
//! of inflight writes).

use super::*;

impl Core {
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

    pub(super) fn tick_leader(&mut self, now: u64) {
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

    pub(super) fn heartbeat(&mut self, now: u64) {
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
    pub(super) fn abort(&mut self, now: u64) {
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
    pub(super) fn abort_slot(
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
}
