//! Exact fault schedules, run deterministically: what the random simulation finds by chance,
//! pinned here step by step.

use minkms_replication::*;

mod common;
use common::{Net, TIMING};

/// The leader commits a write, applies it and answers its client, then dies before any
/// `Commit` leaves: both survivors hold the entry prepared. They must commit it without the
/// dead proposer, so that its key is readable again and writes go on, within two election
/// timeouts.
#[test]
fn a_leader_that_dies_right_after_answering_leaves_nothing_blocked() {
    let (mut net, leader) = Net::settled(3);
    let now = net.now;
    net.core_mut(leader)
        .propose(now, 1, b"rotate key-1".to_vec());
    net.collect(leader, &|_| true);
    // Prepares out, acks back; the leader commits and answers, and its Commits are lost.
    net.deliver(&|env| !matches!(env.msg, Message::Commit { .. }));
    let index = match net.answers.get(&1) {
        Some(Ok(index)) => *index,
        other => panic!("the write was not acknowledged: {other:?}"),
    };
    net.nodes.insert(leader, None);
    net.pool.retain(|env| env.to != leader);
    let survivors: Vec<NodeId> = net
        .nodes
        .keys()
        .copied()
        .filter(|id| *id != leader)
        .collect();
    for id in &survivors {
        let hard = net.core(*id).hard();
        assert_eq!(hard.commit + 1, index, "node {id} applied it already");
        assert!(hard.slot.is_some(), "node {id} does not hold the entry");
    }
    // Within two (randomised, so at most 2 × 2 × election) election timeouts, every survivor
    // has applied the entry (its key is readable again) and one of them leads.
    let limit = 2 * 2 * TIMING.election;
    let leads = |n: &Net| {
        survivors
            .iter()
            .find(|id| n.core(**id).status(n.now).role == Role::Leader)
            .copied()
    };
    let took = net.run_until(limit, |n| {
        survivors.iter().all(|id| {
            let hard = n.core(*id).hard();
            hard.commit >= index && hard.slot.is_none()
        }) && leads(n).is_some()
    });
    let Some(took) = took else {
        let states: Vec<_> = survivors
            .iter()
            .map(|id| {
                (
                    id,
                    net.core(*id).hard().commit,
                    net.core(*id).hard().slot.clone(),
                )
            })
            .collect();
        panic!("still blocked {limit} ms after the crash: {states:?}");
    };
    println!("survivors read the key {took} ms after the crash");
    // The new leader takes writes: refused only because a member is down (writes need every
    // node), not for an unresolved entry; and once the dead node is edited out, they commit.
    let leader = leads(&net).unwrap();
    let write = |net: &mut Net, req: u64| {
        let now = net.now;
        let core = net.core_mut(leader);
        core.propose(now, req, b"the next write".to_vec());
        net.collect(leader, &|_| true);
        net.run_until(limit, |n| n.answers.contains_key(&req));
        net.answers.get(&req).cloned()
    };
    match write(&mut net, 2) {
        Some(Err(WriteError::Down { node, message })) => {
            assert!(message.contains("not all nodes available"), "{message}");
            assert!(!survivors.contains(&node), "{node} is up");
        }
        other => panic!("{other:?}"),
    }
    let (now, dead) = (net.now, 3 - survivors.iter().sum::<u64>());
    net.core_mut(leader).force_remove(now, dead).unwrap();
    net.collect(leader, &|_| true);
    net.run_until(limit, |n| n.leader().is_some())
        .expect("a writable leader after edit --rm");
    let leader_now = net.leader().unwrap();
    let now = net.now;
    net.core_mut(leader_now)
        .propose(now, 3, b"after edit".to_vec());
    net.collect(leader_now, &|_| true);
    net.run_until(limit, |n| n.answers.contains_key(&3));
    assert!(
        matches!(net.answers.get(&3), Some(Ok(_))),
        "{:?}",
        net.answers.get(&3)
    );
}

/// A write whose prepare a member never answers is aborted; the client hears "failed" only
/// once the abort's tombstone is durable on a majority (the leader and one other here): with
/// the tombstone on the leader alone, a new leader could still commit the entry.
#[test]
fn an_abort_answers_failed_only_once_its_tombstone_is_on_a_majority() {
    let (mut net, leader, live) = Net::write_with_a_follower_dead(7);
    let dead = (0..3).find(|id| *id != leader && *id != live).unwrap();
    // The first tombstones to the live follower are lost: the abort is on the leader alone.
    let dropped = std::cell::Cell::new(0);
    let no_tombstone = |env: &Envelope| {
        let tombstone = matches!(
            &env.msg,
            Message::Prepare { slot, .. } if slot.value == SlotValue::Tombstone
        );
        dropped.set(dropped.get() + usize::from(tombstone));
        !tombstone
    };
    while dropped.get() == 0 {
        assert!(net.now < 10_000, "the write was never aborted");
        net.step_keeping(&no_tombstone);
    }
    assert!(
        !matches!(net.answers.get(&7), Some(Err(WriteError::Failed(_)))),
        "answered failed with the tombstone on the leader alone: {:?}",
        net.answers.get(&7)
    );
    assert!(
        net.core(live)
            .hard()
            .slot
            .as_ref()
            .is_some_and(|s| s.value != SlotValue::Tombstone),
        "the live follower holds the entry"
    );
    // The tombstone gets through: now the write failed, and nothing of it is applied.
    net.run_until(4 * TIMING.election, |n| n.answers.contains_key(&7));
    match net.answers.get(&7) {
        Some(Err(WriteError::Failed(why))) => {
            assert!(why.contains("not applied"), "{why}");
            // It names the member that did not answer, by id and host, and no other.
            assert!(why.contains(&format!("node {dead} (n{dead})")), "{why}");
            assert!(!why.contains(&format!("node {live}")), "{why}");
        }
        other => panic!("{other:?}"),
    }
}

/// An abort whose tombstone is late reaching the members: the client hears "unknown" when
/// it cannot wait longer, but the abort goes on, so no node is left holding the entry (its
/// keys unreadable) in a cluster that takes no further write.
#[test]
fn an_abort_that_outlasts_its_client_still_clears_the_entry() {
    let (mut net, leader, live) = Net::write_with_a_follower_dead(9);
    // Every tombstone is lost until the client has given up.
    let no_tombstone = |env: &Envelope| {
        !matches!(
            &env.msg,
            Message::Prepare { slot, .. } if slot.value == SlotValue::Tombstone
        )
    };
    while !net.answers.contains_key(&9) {
        assert!(net.now < 10_000, "the client never heard back");
        net.step_keeping(&no_tombstone);
    }
    assert!(
        matches!(net.answers.get(&9), Some(Err(WriteError::Unknown(_)))),
        "{:?}",
        net.answers.get(&9)
    );
    // The network recovers; nobody writes. The entry must not stay prepared anywhere.
    let holds_entry = |n: &Net, id: NodeId| {
        matches!(
            n.core(id).hard().slot,
            Some(Slot {
                value: SlotValue::Entry(_),
                ..
            })
        )
    };
    let cleared = net.run_until(4 * TIMING.election, |n| {
        !holds_entry(n, leader) && !holds_entry(n, live)
    });
    assert!(
        cleared.is_some(),
        "still prepared: leader {:?}, follower {:?}",
        net.core(leader).hard().slot,
        net.core(live).hard().slot
    );
}
