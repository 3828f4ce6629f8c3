//! How a leader carries writes: a follower behind gets the entry it misses with the next
//! prepare (and one up to date does not), a write queued longer than its client waits is
//! refused, an entry a member holds that the leader lacks is aborted, a write whose slot
//! another leader decided is answered, a config forced by `edit --rm` is committed. Exact
//! schedules on the lossless net of `common`.

use minkms_replication::*;

mod common;
use common::{member, to, Net, TICK, TIMING};

/// The prepares among `id`'s outputs: (to, whether it carries a catch-up entry).
fn prepares(net: &mut Net, id: NodeId) -> Vec<(NodeId, bool)> {
    net.core_mut(id)
        .take_outputs()
        .into_iter()
        .filter_map(|out| match out {
            Output::Send(Envelope {
                to,
                msg: Message::Prepare { catch_up, .. },
                ..
            }) => Some((to, catch_up.is_some())),
            _ => None,
        })
        .collect()
}

/// The tombstones among `outputs`: (to, index).
fn tombstones(outputs: &[Output]) -> Vec<(NodeId, u64)> {
    outputs
        .iter()
        .filter_map(|out| match out {
            Output::Send(Envelope {
                to,
                msg: Message::Prepare { slot, .. },
                ..
            }) if slot.value == SlotValue::Tombstone => Some((*to, slot.index)),
            _ => None,
        })
        .collect()
}

#[test]
fn only_a_follower_behind_gets_the_last_entry_with_a_prepare() {
    let (mut net, leader) = Net::settled(3);
    let mut followers = (0..3).filter(|id| *id != leader);
    let (behind, current) = (followers.next().unwrap(), followers.next().unwrap());
    let no_commit_to_behind =
        |env: &Envelope| env.to != behind || !matches!(env.msg, Message::Commit { .. });
    let now = net.now;
    net.core_mut(leader).propose(now, 1, b"write 1".to_vec());
    net.collect(leader, &no_commit_to_behind);
    net.deliver(&no_commit_to_behind);
    assert_eq!(net.answers.get(&1), Some(&Ok(1)));
    // Heartbeats tell the leader where each follower is.
    let commit_of = |net: &Net, id: NodeId| {
        let status = net.core(leader).status(net.now);
        status.peers[&id].report.as_ref().map(|(_, r)| r.commit)
    };
    while commit_of(&net, current) != Some(1) || commit_of(&net, behind) != Some(0) {
        net.step_keeping(&no_commit_to_behind);
    }
    let now = net.now;
    net.core_mut(leader).propose(now, 2, b"write 2".to_vec());
    let mut sent = prepares(&mut net, leader);
    sent.sort();
    let mut expected = vec![(behind, true), (current, false)];
    expected.sort();
    assert_eq!(sent, expected);
}

#[test]
fn a_write_queued_longer_than_its_client_waits_is_refused_when_its_turn_comes() {
    let (mut net, leader, live) = Net::write_with_a_follower_dead(1);
    let now = net.now;
    net.core_mut(leader).propose(now, 2, b"queued".to_vec());
    net.collect(leader, &|_| true);
    // The live follower's acks are lost: write 1 and its abort stay open, write 2 waits.
    let no_acks =
        |env: &Envelope| env.from != live || !matches!(env.msg, Message::PrepareReply { .. });
    while net.now < now + 5_000 + TIMING.heartbeat {
        net.step_keeping(&no_acks);
    }
    assert_eq!(net.core(leader).status(net.now).role, Role::Leader);
    assert!(!net.answers.contains_key(&2));
    net.run_until(TIMING.election, |n| n.answers.contains_key(&2));
    assert_eq!(
        net.answers.get(&2),
        Some(&Err(WriteError::Unavailable(
            "write queued too long; retry".into()
        )))
    );
}

/// A follower's report that it holds an entry prepared at the leader's next index.
fn holds_next(net: &Net, leader: NodeId, from: NodeId, entry: bool) -> Envelope {
    let core = net.core(leader);
    let (term, commit) = (core.hard().term, core.hard().commit);
    let ballot = Ballot { term, seq: 99 };
    let report = Report {
        commit,
        commit_id: core.hard().commit_id,
        slot: Some((commit + 1, ballot, entry.then_some(ballot))),
        epoch: 1,
    };
    Envelope {
        from,
        to: leader,
        term,
        epoch: 1,
        msg: Message::HeartbeatReply { report },
    }
}

#[test]
fn an_idle_leader_aborts_an_entry_a_member_holds_that_it_lacks_even_after_its_own_abort() {
    let (mut net, leader) = Net::settled(3);
    let f = (0..3).find(|id| *id != leader).unwrap();
    let next = net.core(leader).hard().commit + 1;
    // A tombstone is nothing to abort.
    let now = net.now;
    let report = holds_next(&net, leader, f, false);
    net.core_mut(leader).receive(now, report);
    assert_eq!(tombstones(&net.core_mut(leader).take_outputs()), vec![]);
    // An entry is.
    let report = holds_next(&net, leader, f, true);
    net.core_mut(leader).receive(now, report);
    let outputs = net.core_mut(leader).take_outputs();
    assert_eq!(tombstones(&outputs).len(), 2, "{outputs:?}");
    for out in outputs {
        if let Output::Send(env) = out {
            net.pool.push(env);
        }
    }
    net.deliver(&|_| true);
    let slot = net.core(leader).hard().slot.clone();
    assert!(
        matches!(&slot, Some(s) if s.index == next && s.value == SlotValue::Tombstone),
        "{slot:?}"
    );
    // Its own tombstone there does not settle a member's entry (of a higher ballot).
    net.step();
    let now = net.now;
    let report = holds_next(&net, leader, f, true);
    net.core_mut(leader).receive(now, report);
    assert_eq!(tombstones(&net.core_mut(leader).take_outputs()).len(), 2);
}

#[test]
fn a_write_whose_slot_another_leader_decided_is_answered_unknown() {
    let (mut net, leader, live) = Net::write_with_a_follower_dead(1);
    net.pool.clear();
    let commit = net.core(leader).hard().commit;
    let decided = Committed {
        index: commit + 1,
        prev_id: net.core(leader).hard().commit_id,
        value: Value {
            id: Ballot {
                term: net.core(leader).hard().term + 1,
                seq: 1,
            },
            proposer: live,
            payload: Payload::App(b"another write".to_vec()),
        },
    };
    let config = net.core(leader).hard().config.clone();
    let reply = Message::ProbeReply {
        nonce: 0,
        member: true,
        report: net.core(live).report(),
        last: Some(decided),
        config,
    };
    let now = net.now;
    let env = to(net.core(leader), live, net.core(leader).hard().term, reply);
    net.core_mut(leader).receive(now, env);
    net.collect(leader, &|_| false);
    assert_eq!(net.core(leader).hard().commit, commit + 1);
    assert_eq!(
        net.answers.get(&1),
        Some(&Err(WriteError::Unknown(
            "write outcome unknown: another leader decided its slot".into()
        )))
    );
}

#[test]
fn a_config_forced_by_edit_rm_is_committed_to_the_members_left() {
    let (mut net, leader) = Net::settled(3);
    let mut followers = (0..3).filter(|id| *id != leader);
    let (live, dead) = (followers.next().unwrap(), followers.next().unwrap());
    net.kill(dead);
    let now = net.now;
    net.core_mut(leader).force_remove(now, dead).unwrap();
    net.collect(leader, &|_| true);
    net.run_until(4 * TIMING.election, |n| {
        !n.core(live).hard().config.contains(dead)
    })
    .expect("the forced config reaches the live member");
    assert_eq!(net.core(live).hard().config.epoch, 2);
    net.run_until(TIMING.election, |n| {
        n.core(leader).hard().forced_out.is_empty()
    })
    .expect("the forced config is committed on the node that forced it");
}

#[test]
fn a_config_committed_before_edit_rm_stands_without_the_node_removed() {
    let mut node = member(0, false);
    node.force_remove(5, 2).unwrap();
    node.take_outputs();
    assert_eq!(node.hard().config.epoch, 2);
    // Entry 1, committed elsewhere before the edit, added node 3.
    let mut added = node.hard().config.clone();
    added.members = (0..4).map(|i| (i, format!("n{i}"))).collect();
    added.next_id = 4;
    let entry = Committed {
        index: 1,
        prev_id: Ballot::default(),
        value: Value {
            id: Ballot { term: 1, seq: 1 },
            proposer: 1,
            payload: Payload::Config(added),
        },
    };
    let config = node.hard().config.clone();
    let report = member(1, false).report();
    let reply = Message::ProbeReply {
        nonce: 0,
        member: true,
        report,
        last: Some(entry),
        config,
    };
    node.receive(10, to(&node, 1, 1, reply));
    let config = &node.hard().config;
    assert_eq!(
        config.members.keys().copied().collect::<Vec<_>>(),
        vec![0, 1, 3]
    );
    assert_eq!(config.epoch, 3);
    assert_eq!(node.hard().forced_out.len(), 1);
}

#[test]
fn the_timers_fall_on_ticks() {
    // The exact schedules above assume timers fall on ticks.
    assert_eq!(TIMING.heartbeat % TICK, 0);
    assert_eq!(TIMING.election % TICK, 0);
    assert_eq!(TIMING.rpc % TICK, 0);
}

#[test]
fn a_committed_write_is_sent_to_every_follower_and_a_reply_one_behind_gets_it_again() {
    let (mut net, leader) = Net::settled(3);
    let commits = std::cell::RefCell::new(Vec::new());
    let now = net.now;
    net.core_mut(leader).propose(now, 1, b"w".to_vec());
    let watch = |env: &Envelope| {
        if env.from == leader && matches!(env.msg, Message::Commit { .. }) {
            commits.borrow_mut().push(env.to);
        }
        true
    };
    net.collect(leader, &watch);
    net.deliver(&watch);
    let mut to = commits.borrow().clone();
    to.sort();
    let followers: Vec<NodeId> = (0..3).filter(|id| *id != leader).collect();
    assert_eq!(to, followers);
    // A heartbeat reply of a follower one behind brings the entry again; an up-to-date one not.
    let (commit, commit_id, term) = {
        let h = net.core(leader).hard();
        (h.commit, h.commit_id, h.term)
    };
    let reply = |commit: u64| Envelope {
        from: followers[0],
        to: leader,
        term,
        epoch: 1,
        msg: Message::HeartbeatReply {
            report: Report {
                commit,
                commit_id,
                slot: None,
                epoch: 1,
            },
        },
    };
    let commits_sent = |net: &mut Net| {
        net.core_mut(leader)
            .take_outputs()
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    Output::Send(Envelope {
                        msg: Message::Commit { .. },
                        ..
                    })
                )
            })
            .count()
    };
    let now = net.now;
    net.core_mut(leader).receive(now, reply(commit));
    assert_eq!(commits_sent(&mut net), 0);
    net.core_mut(leader).receive(now, reply(commit - 1));
    assert_eq!(commits_sent(&mut net), 1);
}

#[test]
fn a_refused_prepare_from_a_follower_one_behind_is_sent_again_with_the_entry() {
    let (mut net, leader) = Net::settled(3);
    let now = net.now;
    net.core_mut(leader).propose(now, 1, b"write 1".to_vec());
    net.collect(leader, &|_| true);
    net.run_until(TIMING.election, |n| n.answers.contains_key(&1));
    assert_eq!(net.answers.get(&1), Some(&Ok(1)));
    // Write 2 waits for a follower that does not answer; the other refuses it, one behind.
    let mut followers = (0..3).filter(|id| *id != leader);
    let (live, silent) = (followers.next().unwrap(), followers.next().unwrap());
    net.kill(silent);
    let now = net.now;
    net.core_mut(leader).propose(now, 2, b"write 2".to_vec());
    net.core_mut(leader).take_outputs();
    let h = net.core(leader).hard().clone();
    let slot = h.slot.clone().expect("write 2 is prepared");
    let refusal = |commit: u64| Envelope {
        from: live,
        to: leader,
        term: h.term,
        epoch: 1,
        msg: Message::PrepareReply {
            index: slot.index,
            ballot: slot.ballot,
            ok: false,
            report: Report {
                commit,
                commit_id: h.commit_id,
                slot: None,
                epoch: 1,
            },
        },
    };
    net.core_mut(leader).receive(now, refusal(h.commit - 1));
    assert_eq!(prepares(&mut net, leader), vec![(live, true)]);
    net.core_mut(leader).receive(now, refusal(h.commit));
    assert_eq!(prepares(&mut net, leader), vec![]);
}

#[test]
fn a_node_forced_out_is_no_part_of_a_held_config_entry_quorum() {
    // Node 0 of {0, 1, 2} holds prepared a config entry adding node 3, then removes node 2 by
    // force and is elected in {0, 1}: node 3 is asked (the entry adds it), node 2 never.
    let mut hard = member(0, false).hard().clone();
    let mut adds = hard.config.clone();
    adds.epoch = 2;
    adds.members.insert(3, "n3".into());
    adds.next_id = 4;
    hard.slot = Some(Slot {
        index: 1,
        ballot: Ballot { term: 1, seq: 1 },
        value: SlotValue::Entry(Value {
            id: Ballot { term: 1, seq: 1 },
            proposer: 1,
            payload: Payload::Config(adds),
        }),
    });
    let mut node = Core::new(hard, TIMING, 5, 0);
    node.force_remove(10, 2).unwrap();
    let term = node.hard().term;
    let report = node.report();
    node.receive(
        10,
        Envelope {
            from: 1,
            to: 0,
            term,
            epoch: node.hard().config.epoch,
            msg: Message::VoteReply {
                granted: true,
                report,
            },
        },
    );
    assert_eq!(node.status(10).role, Role::Leader);
    let asked: std::collections::BTreeSet<NodeId> = node
        .take_outputs()
        .into_iter()
        .filter_map(|o| match o {
            Output::Send(env) if matches!(env.msg, Message::Heartbeat { .. }) => Some(env.to),
            _ => None,
        })
        .collect();
    assert_eq!(asked, [1, 3].into_iter().collect());
}
