//! When the leader counts a member as down: a member that answered within two heartbeats is
//! up (a write goes ahead), one silent for longer is down (the write is refused before
//! anything is prepared, naming it). Pinned with exact schedules: the simulator's random
//! delays cannot tell 2 × heartbeat from 2 + heartbeat.

use minkms_replication::*;

mod common;
use common::{Net, TICK, TIMING};

/// A settled 3-node cluster, stepped until follower `f` has just answered a heartbeat; then
/// `f` is cut off for `silence` ms and the leader is given a write. Its answer, once `f` is
/// back.
fn write_after_silence(silence: u64) -> (NodeId, WriteResult) {
    let (mut net, leader) = Net::settled(3);
    let f = (0..3).find(|id| *id != leader).unwrap();
    // Step until a heartbeat reply of `f` reaches the leader.
    let answered = std::cell::Cell::new(false);
    while !answered.get() {
        net.step_keeping(&|env: &Envelope| {
            if env.from == f && matches!(env.msg, Message::HeartbeatReply { .. }) {
                answered.set(true);
            }
            true
        });
    }
    let cut = |env: &Envelope| env.from != f && env.to != f;
    for _ in 0..silence / TICK {
        net.step_keeping(&cut);
    }
    let now = net.now;
    let core = net.core_mut(leader);
    core.propose(now, 1, b"a write".to_vec());
    net.collect(leader, &cut);
    net.run_until(4 * TIMING.election, |n| n.answers.contains_key(&1));
    (
        f,
        net.answers.get(&1).cloned().expect("the write is answered"),
    )
}

#[test]
fn a_member_silent_for_less_than_two_heartbeats_is_up() {
    let (_, answer) = write_after_silence(TIMING.heartbeat + TIMING.heartbeat / 5);
    assert!(answer.is_ok(), "{answer:?}");
}

#[test]
fn a_member_silent_for_more_than_two_heartbeats_is_down() {
    let (f, answer) = write_after_silence(2 * TIMING.heartbeat + TIMING.heartbeat / 2);
    match answer {
        Err(WriteError::Down { node, message }) => {
            assert_eq!(node, f);
            assert_eq!(
                message,
                format!("not all nodes available: node {f} (n{f}) is down")
            );
        }
        other => panic!("{other:?}"),
    }
}
