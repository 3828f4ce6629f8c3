//! What a node does with each kind of message, pinned by exact exchanges with one core: the
//! random simulation takes a wrong comparison in a handler (a term or epoch off by one, a
//! condition joined with `||` instead of `&&`) for bad luck, these name the rule it broke.

use minkms_replication::*;

mod common;
use common::{entry, member, probes, to, Net, B1, TIMING};

const B2: Ballot = Ballot { term: 1, seq: 2 };

/// The messages among `outputs`.
fn sent(outputs: &[Output]) -> Vec<&Envelope> {
    outputs
        .iter()
        .filter_map(|out| match out {
            Output::Send(env) => Some(env),
            _ => None,
        })
        .collect()
}

/// `env` with its config epoch replaced.
fn at_epoch(mut env: Envelope, epoch: u64) -> Envelope {
    env.epoch = epoch;
    env
}

/// A heartbeat from node 1 as the leader of term `term`, reporting `commit`.
fn heartbeat(core: &Core, term: u64, tombstone: Option<Slot>) -> Envelope {
    let report = member(1, core.hard().commit > 0).report();
    to(core, 1, term, Message::Heartbeat { report, tombstone })
}

/// A prepare of entry 2 (value id and ballot `id`) after this node's entry 1.
fn prepare_2(core: &Core, from: NodeId, id: Ballot) -> Envelope {
    let slot = Slot {
        index: 2,
        ballot: id,
        value: SlotValue::Entry(entry(2, B1, id).value),
    };
    let prepare = Message::Prepare {
        slot,
        prev: (1, B1),
        catch_up: None,
    };
    to(core, from, 1, prepare)
}

/// Whether `node`, asked by node 1's probe at `now`, says it is a member.
fn claims_membership(node: &mut Core, now: u64) -> Option<bool> {
    node.receive(now, to(node, 1, 1, Message::Probe { nonce: 4 }));
    let outputs = node.take_outputs();
    sent(&outputs).iter().find_map(|env| match env.msg {
        Message::ProbeReply { member, .. } => Some(member),
        _ => None,
    })
}

#[test]
fn a_message_from_a_newer_config_makes_the_node_ask_whether_it_is_still_a_member() {
    let mut node = member(0, false);
    let asked = |node: &mut Core| probes(node.take_outputs()).iter().any(|(to, _)| *to == 1);
    // Its own config's epoch: nothing to ask.
    node.receive(10, heartbeat(&node, 1, None));
    assert!(!asked(&mut node), "probed on a message of its own epoch");
    // A newer one: it asks the sender, at most once a heartbeat.
    node.receive(20, at_epoch(heartbeat(&node, 1, None), 2));
    assert!(asked(&mut node), "no probe on a newer epoch");
    node.receive(
        20 + TIMING.heartbeat - 5,
        at_epoch(heartbeat(&node, 1, None), 2),
    );
    assert!(!asked(&mut node), "probed twice within a heartbeat");
    node.receive(
        20 + TIMING.heartbeat,
        at_epoch(heartbeat(&node, 1, None), 2),
    );
    assert!(asked(&mut node), "not probed again after a heartbeat");
}

#[test]
fn a_follower_keeps_its_leader_when_another_node_of_a_newer_config_asks_it() {
    let mut node = member(0, false);
    node.receive(10, heartbeat(&node, 1, None));
    assert_eq!(node.status(10).leader, Some(1));
    node.receive(
        20,
        at_epoch(to(&node, 2, 1, Message::Probe { nonce: 3 }), 2),
    );
    assert_eq!(node.status(20).leader, Some(1), "a follower stepped down");
}

#[test]
fn a_message_of_an_older_config_is_answered_and_not_obeyed() {
    // Of an older config and a newer term: the term is taken, the sender is not followed.
    let mut node = member(0, false);
    let mut old = heartbeat(&node, 3, None);
    old.epoch = 0;
    node.receive(10, old);
    let outputs = node.take_outputs();
    assert_eq!(node.hard().term, 3);
    assert_eq!(
        node.status(10).leader,
        None,
        "followed a node of an old config"
    );
    assert!(
        sent(&outputs)
            .iter()
            .any(|env| env.to == 1 && matches!(env.msg, Message::HeartbeatReply { .. })),
        "the stale sender is not told: {outputs:?}"
    );
    // Of an older config in the current term: the same.
    let mut node = member(0, false);
    let mut old = heartbeat(&node, 1, None);
    old.epoch = 0;
    node.receive(10, old);
    assert_eq!(
        node.status(10).leader,
        None,
        "followed a node of an old config"
    );
    assert!(sent(&node.take_outputs())
        .iter()
        .any(|env| matches!(env.msg, Message::HeartbeatReply { .. })));
    // Of an older term: answered with this node's state, not followed.
    let mut node = member(0, false);
    node.receive(10, heartbeat(&node, 0, None));
    assert_eq!(node.status(10).leader, None);
    let outputs = node.take_outputs();
    let reply = sent(&outputs)
        .into_iter()
        .find(|env| matches!(env.msg, Message::HeartbeatReply { .. }))
        .expect("a stale heartbeat is answered");
    assert_eq!(reply.term, 1, "the reply carries the newer term");
}

#[test]
fn a_leader_deposed_by_a_newer_term_sends_its_queued_writes_to_the_new_leader() {
    let (mut net, leader, live) = Net::write_with_a_follower_dead(1);
    let now = net.now;
    net.core_mut(leader).propose(now, 2, b"queued".to_vec());
    net.collect(leader, &|_| true);
    assert_eq!(net.core(leader).status(now).queued, 1);
    let term = net.core(leader).hard().term + 1;
    let report = net.core(live).report();
    let deposing = Envelope {
        from: live,
        to: leader,
        term,
        epoch: 1,
        msg: Message::Heartbeat {
            report,
            tombstone: None,
        },
    };
    net.core_mut(leader).receive(now, deposing);
    net.collect(leader, &|_| false);
    assert!(
        matches!(net.answers.get(&1), Some(Err(WriteError::Unknown(_)))),
        "{:?}",
        net.answers
    );
    assert_eq!(
        net.answers.get(&2),
        Some(&Err(WriteError::NotLeader(Some(live))))
    );
}

/// A node that has sent pre-votes for the next term; the term they ask for.
fn prevoting() -> (Core, u64) {
    let mut node = member(0, false);
    node.tick(2 * TIMING.election + 5);
    let outputs = node.take_outputs();
    let term = sent(&outputs)
        .iter()
        .find_map(|env| matches!(env.msg, Message::PreVote { .. }).then_some(env.term))
        .expect("a pre-vote after the election timeout");
    (node, term)
}

/// Whether `outputs` ask for votes.
fn campaigns(outputs: &[Output]) -> bool {
    sent(outputs)
        .iter()
        .any(|env| matches!(env.msg, Message::Vote { .. }))
}

#[test]
fn a_pre_vote_refused_at_the_node_own_term_neither_counts_nor_ends_the_pre_vote() {
    let (mut node, term) = prevoting();
    let now = 2 * TIMING.election + 10;
    let own = node.hard().term;
    node.receive(
        now,
        to(&node, 1, own, Message::PreVoteReply { granted: false }),
    );
    assert!(!campaigns(&node.take_outputs()), "a refusal counted");
    assert_eq!(node.hard().term, own);
    node.receive(
        now,
        to(&node, 2, term, Message::PreVoteReply { granted: true }),
    );
    assert!(campaigns(&node.take_outputs()), "the pre-vote was dropped");
    assert_eq!(node.hard().term, term);
}

#[test]
fn a_pre_vote_refused_from_a_newer_term_moves_the_node_to_that_term() {
    let (mut node, _) = prevoting();
    let now = 2 * TIMING.election + 10;
    node.receive(
        now,
        to(&node, 1, 5, Message::PreVoteReply { granted: false }),
    );
    assert_eq!(node.hard().term, 5);
    assert!(!campaigns(&node.take_outputs()));
}

#[test]
fn only_a_member_answering_this_probe_ends_it() {
    let reply = |node: &Core, nonce: u64, member: bool| {
        let config = node.hard().config.clone();
        let report = node.report();
        to(
            node,
            1,
            1,
            Message::ProbeReply {
                nonce,
                member,
                report,
                last: None,
                config,
            },
        )
    };
    let mut node = member(0, false);
    node.probe_all();
    let (_, nonce) = probes(node.take_outputs())[0];
    node.receive(10, reply(&node, nonce.wrapping_add(1), true));
    assert!(
        !node.status(10).probed,
        "an answer to another probe counted"
    );
    node.receive(10, reply(&node, nonce, false));
    assert!(!node.status(10).probed, "a non-member's answer counted");
    node.receive(10, reply(&node, nonce, true));
    assert!(node.status(10).probed);
}

#[test]
fn a_pre_vote_is_granted_only_for_a_newer_term_once_the_leader_is_silent() {
    let ask = |node: &mut Core, now: u64, term: u64| {
        let report = member(2, false).report();
        node.receive(now, to(node, 2, term, Message::PreVote { report }));
        sent(&node.take_outputs())
            .iter()
            .find_map(|env| match env.msg {
                Message::PreVoteReply { granted } => Some(granted),
                _ => None,
            })
            .expect("a pre-vote is answered")
    };
    let mut node = member(0, false);
    // No leader heard of, but the term asked for is not newer.
    assert!(
        !ask(&mut node, 10, 1),
        "granted a pre-vote for its own term"
    );
    node.receive(20, heartbeat(&node, 1, None));
    node.take_outputs();
    assert!(
        !ask(&mut node, 20 + TIMING.election - 5, 2),
        "granted while the leader is alive"
    );
    assert!(
        ask(&mut node, 20 + TIMING.election, 2),
        "refused an election timeout after the leader's last message"
    );
}

#[test]
fn a_refused_vote_records_no_vote() {
    let mut voter = member(0, true);
    let report = member(1, false).report();
    voter.receive(10, to(&voter, 1, 2, Message::Vote { report }));
    assert_eq!(voter.hard().term, 2);
    assert_eq!(voter.hard().voted_for, None);
}

#[test]
fn a_prepare_after_a_missed_commit_applies_the_held_entry_first() {
    let b3 = Ballot { term: 1, seq: 3 };
    let mut node = member(0, true);
    node.receive(10, prepare_2(&node, 1, B2));
    assert_eq!(node.hard().slot.as_ref().map(|s| s.index), Some(2));
    // The commit of entry 2 is lost; the prepare of entry 3 names it as the one before.
    let slot = Slot {
        index: 3,
        ballot: b3,
        value: SlotValue::Entry(entry(3, B2, b3).value),
    };
    let prepare = Message::Prepare {
        slot: slot.clone(),
        prev: (2, B2),
        catch_up: None,
    };
    node.receive(20, to(&node, 1, 1, prepare));
    assert_eq!((node.hard().commit, node.hard().commit_id), (2, B2));
    assert_eq!(node.hard().slot, Some(slot));
    // A prepare naming another entry 2 than the one held applies nothing.
    let mut node = member(0, true);
    node.receive(10, prepare_2(&node, 1, B2));
    let other = Ballot { term: 1, seq: 9 };
    let prepare = Message::Prepare {
        slot: Slot {
            index: 3,
            ballot: b3,
            value: SlotValue::Entry(entry(3, other, b3).value),
        },
        prev: (2, other),
        catch_up: None,
    };
    node.receive(20, to(&node, 1, 1, prepare));
    assert_eq!(node.hard().commit, 1);
}

#[test]
fn a_leader_tombstone_replaces_only_a_lower_ballot_entry_after_the_same_history() {
    let tombstone = |ballot: Ballot| {
        Some(Slot {
            index: 2,
            ballot,
            value: SlotValue::Tombstone,
        })
    };
    let higher = Ballot { term: 1, seq: 5 };
    let mut node = member(0, true);
    node.receive(10, prepare_2(&node, 1, B2));
    node.receive(20, heartbeat(&node, 1, tombstone(higher)));
    assert_eq!(node.hard().slot, tombstone(higher));
    // Not one of the same ballot.
    let mut node = member(0, true);
    node.receive(10, prepare_2(&node, 1, B2));
    node.receive(20, heartbeat(&node, 1, tombstone(B2)));
    assert_eq!(
        node.hard().slot.as_ref().map(Slot::value_id),
        Some(Some(B2))
    );
    // Not from a leader with another history.
    let mut node = member(0, true);
    node.receive(10, prepare_2(&node, 1, B2));
    let mut report = member(1, true).report();
    report.commit_id = Ballot { term: 1, seq: 9 };
    let hb = Message::Heartbeat {
        report,
        tombstone: tombstone(higher),
    };
    node.receive(20, to(&node, 1, 1, hb));
    assert_eq!(
        node.hard().slot.as_ref().map(Slot::value_id),
        Some(Some(B2))
    );
}

#[test]
fn only_a_newer_config_without_the_node_removes_it() {
    let reply = |node: &Core, epoch: u64| {
        let mut config = node.hard().config.clone();
        config.members.remove(&0);
        config.epoch = epoch;
        let report = member(1, false).report();
        to(
            node,
            1,
            1,
            Message::ProbeReply {
                nonce: 0,
                member: true,
                report,
                last: None,
                config,
            },
        )
    };
    let mut node = member(0, false);
    node.receive(10, reply(&node, 1));
    assert!(
        !node.status(10).removed,
        "removed by a config of its own epoch"
    );
    node.receive(10, reply(&node, 2));
    assert!(node.status(10).removed);
    // The config that removed it is persisted, so that a restart does not rejoin the old one
    // (the committed entry that removed it may never reach it).
    assert!(!node.hard().config.contains(0));
    let outputs = node.take_outputs();
    assert!(
        outputs.iter().any(
            |o| matches!(o, Output::Persist(h) if !h.config.contains(0) && h.config.epoch == 2)
        ),
        "{outputs:?}"
    );
    assert!(
        Core::new(node.hard().clone(), TIMING, 11, 0)
            .status(0)
            .removed
    );
    assert_eq!(claims_membership(&mut node, 20), Some(false));
}

#[test]
fn a_joining_node_neither_campaigns_nor_claims_membership() {
    let mut hard = member(3, false).hard().clone();
    hard.joining = true;
    let mut node = Core::new(hard, TIMING, 11, 0);
    for t in 1..=200 {
        node.tick(t * 5);
    }
    let outputs = node.take_outputs();
    assert!(
        !sent(&outputs)
            .iter()
            .any(|env| matches!(env.msg, Message::PreVote { .. } | Message::Vote { .. })),
        "a joining node campaigned"
    );
    assert_eq!(claims_membership(&mut node, 1_000), Some(false));
}

#[test]
fn a_joining_or_removed_node_cannot_remove_another() {
    let mut hard = member(3, false).hard().clone();
    hard.joining = true;
    let mut joining = Core::new(hard, TIMING, 11, 0);
    assert_eq!(
        joining.force_remove(10, 1),
        Err("server not part of cluster".into())
    );
    let mut hard = member(3, false).hard().clone();
    hard.joining = false;
    let mut removed = Core::new(hard, TIMING, 11, 0);
    assert!(removed.status(0).removed);
    assert_eq!(
        removed.force_remove(10, 1),
        Err("server not part of cluster".into())
    );
}

/// Node 0 of {0, 1, 2} in term 1, holding entry 2 (first proposed by `proposer`) prepared,
/// elected leader of term 2 with node 1's vote; node 1 reports `report` with it.
fn elected_holding_entry_2(proposer: NodeId, report: Report) -> Core {
    let mut hard = member(0, true).hard().clone();
    let mut value = entry(2, B1, B2).value;
    value.proposer = proposer;
    hard.slot = Some(Slot {
        index: 2,
        ballot: B2,
        value: SlotValue::Entry(value),
    });
    let mut node = Core::new(hard, TIMING, 11, 0);
    let now = 2 * TIMING.election + 5;
    node.tick(now);
    node.take_outputs(); // Pre-votes and start-up probes.
    node.receive(
        now,
        to(&node, 1, 2, Message::PreVoteReply { granted: true }),
    );
    node.receive(
        now,
        to(
            &node,
            1,
            2,
            Message::VoteReply {
                granted: true,
                report,
            },
        ),
    );
    assert_eq!(node.status(now).role, Role::Leader);
    node
}

/// A report of a node that holds entry 2 prepared.
fn holding_2() -> Report {
    Report {
        commit: 1,
        commit_id: B1,
        slot: Some((2, B2, Some(B2))),
        epoch: 1,
    }
}

fn applied(outputs: &[Output]) -> Option<u64> {
    outputs.iter().find_map(|out| match out {
        Output::Apply { index, .. } => Some(*index),
        _ => None,
    })
}

#[test]
fn a_new_leader_commits_the_held_entry_as_soon_as_the_last_report_arrives() {
    let mut node = elected_holding_entry_2(0, holding_2());
    let now = 2 * TIMING.election + 5;
    assert_eq!(
        applied(&node.take_outputs()),
        None,
        "node 2 has not reported"
    );
    node.receive(
        now,
        to(
            &node,
            2,
            2,
            Message::HeartbeatReply {
                report: holding_2(),
            },
        ),
    );
    assert_eq!(applied(&node.take_outputs()), Some(2));
}

#[test]
fn a_new_leader_asks_only_a_member_that_committed_the_index_with_another_entry() {
    // Node 1 applied entry 2 itself, node 2 holds it: committed, nobody asked.
    let mut report = holding_2();
    report.commit = 2;
    report.commit_id = B2;
    report.slot = None;
    let mut node = elected_holding_entry_2(2, report);
    let outputs = node.take_outputs();
    assert_eq!(applied(&outputs), Some(2));
    assert_eq!(probes(outputs), vec![], "asked a node that agrees");
    // Node 1 committed index 2 with another entry: it is asked, nothing is decided.
    let mut report = holding_2();
    report.commit = 2;
    report.commit_id = Ballot { term: 1, seq: 9 };
    report.slot = None;
    let mut node = elected_holding_entry_2(2, report);
    let outputs = node.take_outputs();
    assert_eq!(applied(&outputs), None);
    let asked: Vec<NodeId> = probes(outputs.clone()).iter().map(|(to, _)| *to).collect();
    assert!(asked.contains(&1) && !asked.contains(&2), "{asked:?}");
    assert!(
        !sent(&outputs).iter().any(|env| matches!(
            &env.msg,
            Message::Prepare { slot, .. } if slot.value == SlotValue::Tombstone
        )),
        "aborted an entry a member may have committed"
    );
}

#[test]
fn a_message_for_another_node_or_from_itself_changes_nothing() {
    let mut node = member(0, false);
    let mut elsewhere = heartbeat(&node, 1, None);
    elsewhere.to = 2;
    node.receive(10, elsewhere);
    let mut own = heartbeat(&node, 1, None);
    own.from = 0;
    node.receive(10, own);
    assert_eq!(node.status(10).leader, None);
    assert!(node.take_outputs().is_empty());
}

#[test]
fn a_stale_vote_or_prepare_is_refused_with_the_newer_term() {
    let mut node = member(0, true);
    // Term 2, from a heartbeat of node 1's leadership.
    node.receive(10, heartbeat(&node, 2, None));
    node.take_outputs();
    let report = member(1, true).report();
    node.receive(20, to(&node, 1, 1, Message::Vote { report }));
    let outputs = node.take_outputs();
    let reply = sent(&outputs)
        .into_iter()
        .find(|env| matches!(env.msg, Message::VoteReply { .. }))
        .expect("a stale vote is answered");
    assert!(matches!(
        reply.msg,
        Message::VoteReply { granted: false, .. }
    ));
    assert_eq!(reply.term, 2);
    node.receive(30, prepare_2(&node, 1, B2));
    let outputs = node.take_outputs();
    let reply = sent(&outputs)
        .into_iter()
        .find(|env| matches!(env.msg, Message::PrepareReply { .. }))
        .expect("a stale prepare is answered");
    assert!(matches!(
        reply.msg,
        Message::PrepareReply {
            ok: false,
            index: 2,
            ..
        }
    ));
    assert_eq!(reply.term, 2);
    assert_eq!(node.hard().slot, None);
}

#[test]
fn a_vote_needs_a_config_at_least_as_new_and_a_newer_one_needs_only_the_commit() {
    let vote = |voter: &mut Core, epoch: u64| {
        let mut report = member(1, true).report();
        report.epoch = epoch;
        voter.receive(10, to(voter, 1, 2, Message::Vote { report }));
        sent(&voter.take_outputs())
            .iter()
            .find_map(|env| match env.msg {
                Message::VoteReply { granted, .. } => Some(granted),
                _ => None,
            })
    };
    // An older config: refused, though as far in commit.
    let mut older = member(0, true).hard().clone();
    older.config.epoch = 2;
    let mut voter = Core::new(older, TIMING, 3, 0);
    voter.take_outputs();
    assert_eq!(vote(&mut voter, 1), Some(false));
    // A newer (forced) config with the same commit wins over the voter's prepared entry.
    let mut voter = member(0, true);
    voter.receive(5, prepare_2(&voter, 2, B2));
    voter.take_outputs();
    assert_eq!(vote(&mut voter, 2), Some(true));
    // The same config with the same commit does not.
    let mut voter = member(0, true);
    voter.receive(5, prepare_2(&voter, 2, B2));
    voter.take_outputs();
    assert_eq!(vote(&mut voter, 1), Some(false));
}
