//! Elections: candidacy, votes, and becoming leader.

use super::*;

impl Core {
    pub(super) fn start_prevote(&mut self, now: u64) {
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

    pub(super) fn campaign(&mut self, now: u64) {
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

    pub(super) fn check_votes(&mut self, now: u64) {
        let members = self.members();
        let n = self.votes.iter().filter(|v| members.contains(v)).count();
        if self.role == Role::Candidate && n >= self.hard.config.majority() {
            self.become_leader(now);
        }
    }

    pub(super) fn become_leader(&mut self, now: u64) {
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
    pub(super) fn up_to_date(&self, r: &Report) -> bool {
        if r.epoch < self.hard.config.epoch.max(self.max_epoch) {
            return false;
        }
        if r.epoch > self.hard.config.epoch {
            return r.commit >= self.hard.commit;
        }
        let mine = (self.hard.commit, self.hard.slot.as_ref().map(|s| s.ballot));
        (r.commit, r.slot.map(|s| s.1)) >= mine
    }

    pub(super) fn step_down(&mut self, now: u64, term: u64, leader: Option<NodeId>) {
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
}
