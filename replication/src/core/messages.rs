//! Messages: what the core does with each message from a peer.

use super::*;

impl Core {
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
    pub(super) fn clear_stale_slot(&mut self, now: u64, report: &Report) {
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

    pub(super) fn note_report(&mut self, now: u64, from: NodeId, report: Report) {
        let peer = self.peers.entry(from).or_default();
        peer.last_ack = Some(now);
        peer.report = Some((self.hard.term, report));
    }

    /// A message from this term's leader.
    pub(super) fn follow(&mut self, now: u64, leader: NodeId) {
        if self.role == Role::Leader {
            return; // Two leaders in one term cannot happen; ignore rather than obey.
        }
        self.role = Role::Follower;
        self.leader = Some(leader);
        self.last_leader_contact = Some(now);
        self.prevote_term = None;
        self.reset_election(now);
    }

    pub(super) fn on_prevote(&mut self, now: u64, from: NodeId, term: u64, report: &Report) {
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

    pub(super) fn on_vote(&mut self, now: u64, from: NodeId, report: &Report) {
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

    pub(super) fn on_prepare(
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

    pub(super) fn on_prepare_reply(
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

    pub(super) fn on_heartbeat(&mut self, from: NodeId, leader: &Report, tombstone: Option<Slot>) {
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

    pub(super) fn on_probe_reply(
        &mut self,
        report: Report,
        last: Option<Committed>,
        config: Config,
    ) {
        if let Some(entry) = &last {
            self.learn(entry);
        }
        let _ = report;
        if !self.hard.joining
            && !self.removed
            && config.epoch > self.hard.config.epoch
            && !config.contains(self.hard.id)
        {
            // Kept on disk: the committed entry that removed this node may never reach it
            // (it is no longer sent commits), and a restart must not rejoin the old config.
            self.hard.config = config;
            self.persist();
            self.removed = true;
            self.role = Role::Follower;
            self.leader = None;
            self.fail_queue(WriteError::Removed);
            self.lead = None;
            self.out.push(Output::Removed);
        }
    }
}
