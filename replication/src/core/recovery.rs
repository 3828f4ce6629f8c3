//! Slot recovery: a new leader finds and finishes or aborts the slot a previous leader left
//! open.

use super::*;

impl Core {
    /// A new leader finishes the open slot before taking writes (docs/replication.md, departure 2).
    pub(super) fn recover(&mut self, now: u64) {
        let Some(lead) = &self.lead else { return };
        if lead.recovered || lead.inflight.is_some() {
            return;
        }
        let value = match &self.hard.slot {
            Some(Slot {
                value: SlotValue::Entry(v),
                index,
                ..
            }) if *index == self.hard.commit.saturating_add(1) => v.clone(),
            _ => {
                if let Some(lead) = &mut self.lead {
                    lead.recovered = true;
                }
                return self.drive(now);
            }
        };
        let index = self.hard.commit.saturating_add(1);
        let quorum = self.quorum_of(&value.payload);
        // The proposer's own report is not needed: it can have told its client "failed" only
        // once its tombstone reached a majority, which includes another member of the quorum
        // (a tombstone is never replaced by the entry again), and until then it keeps the
        // entry's keys blocked. So when every other member holds the entry, it may have been
        // chosen and is committed now, whether the proposer is dead or not.
        let proposer = (self.hard.config.members.len() > 1).then_some(value.proposer);
        let mut all_hold = true;
        let mut lacks = false;
        let mut probe = Vec::new();
        for m in &quorum {
            if *m == self.hard.id {
                continue;
            }
            let report = self
                .peers
                .get(m)
                .and_then(|p| p.report.as_ref())
                .filter(|(t, _)| *t == self.hard.term)
                .map(|(_, r)| r);
            let Some(r) = report else {
                if Some(*m) != proposer {
                    all_hold = false;
                }
                continue;
            };
            let applied = r.commit == index && r.commit_id == value.id;
            let prepared = r
                .slot
                .is_some_and(|(i, _, id)| i == index && id == Some(value.id));
            if !(applied || prepared) {
                all_hold = false;
                // Below the index without the value (a joiner more than one behind included):
                // it never accepted it.
                if r.commit < index {
                    lacks = true;
                }
            }
            if r.commit >= index && !applied {
                probe.push(*m);
            }
        }
        for m in probe {
            // A peer committed this index with another value: learn it rather than decide.
            self.send(
                m,
                Message::Probe {
                    nonce: self.probe_nonce,
                },
            );
        }
        if all_hold {
            // Held by every member: it may have been chosen, so it must be committed now.
            if let Some(lead) = &mut self.lead {
                lead.recovered = true;
            }
            self.commit_entry(value, &quorum);
            self.drive(now);
        } else if lacks {
            // A member of its quorum lacks it in this term: it was never chosen (a chosen entry
            // stays on every member of its quorum until applied). Abort it rather than
            // re-propose: an entry is then only ever committed under its first ballot or by the
            // rule above, so a tombstone, once on a node, is never replaced by that entry again,
            // and a client told "failed" stays right even when a forced config elects a holder.
            if let Some(lead) = &mut self.lead {
                lead.recovered = true;
            }
            let prev = (self.hard.commit, self.hard.commit_id);
            let others = quorum.into_iter().filter(|m| *m != self.hard.id).collect();
            let blame = "a node".to_string();
            self.abort_slot(now, None, index, prev, others, blame);
        }
    }
}
