//! What a node does as time passes, pinned to the tick: heartbeats every heartbeat interval,
//! a leader that hears from no majority for an election timeout steps down (and one that
//! hears from a majority does not), a write's deadline, a member down after two silent
//! heartbeats, probes at their intervals. The simulator's random delays cannot tell `<` from
//! `<=` here.

use std::cell::RefCell;

use minkms_replication::*;

mod common;
use common::{entry, member, probes, to, Net, B1, TICK, TIMING};

#[test]
fn a_leader_heartbeats_once_per_heartbeat_interval() {
    let (mut net, leader) = Net::settled(3);
    let times = RefCell::new(Vec::new());
    for _ in 0..(4 * TIMING.heartbeat / TICK) {
        let now = net.now + TICK;
        net.step_keeping(&|env: &Envelope| {
            if env.from == leader && matches!(env.msg, Message::Heartbeat { .. }) {
                let mut times = times.borrow_mut();
                if times.last() != Some(&now) {
                    times.push(now);
                }
            }
            true
        });
    }
    let times = times.into_inner();
    assert_eq!(times.len(), 4, "{times:?}");
    assert!(
        times.windows(2).all(|w| w[1] - w[0] == TIMING.heartbeat),
        "{times:?}"
    );
}

#[test]
fn a_leader_that_hears_from_a_majority_stays_leader() {
    let (mut net, leader, _) = Net::write_with_a_follower_dead(1);
    net.run_until(4 * TIMING.election, |_| false);
    let status = net.core(leader).status(net.now);
    assert_eq!(status.role, Role::Leader);
    assert!(!status.writable, "writable with a member down");
    assert!(status.down.is_some());
}

#[test]
fn a_leader_alone_for_an_election_timeout_steps_down_keeping_its_vote() {
    let (mut net, leader) = Net::settled(3);
    for id in 0..3 {
        if id != leader {
            net.kill(id);
        }
    }
    let status = net.core(leader).status(net.now);
    let last_ack = status
        .peers
        .values()
        .filter_map(|p| p.last_ack)
        .max()
        .expect("the followers answered");
    let term = net.core(leader).hard().term;
    let took = net
        .run_until(10 * TIMING.election, |n| {
            n.core(leader).status(n.now).role != Role::Leader
        })
        .expect("the leader steps down");
    // Alone from the first tick past an election timeout after the last answer; down an
    // election timeout later.
    let lonely = last_ack + TIMING.election + TICK;
    assert_eq!(net.now, lonely + TIMING.election, "after {took} ms");
    assert_eq!(net.core(leader).hard().term, term);
    assert_eq!(net.core(leader).hard().voted_for, Some(leader));
}

#[test]
fn an_unanswered_write_is_aborted_exactly_at_its_deadline() {
    let (mut net, leader, _) = Net::write_with_a_follower_dead(1);
    let proposed = net.now;
    let aborted_at = RefCell::new(None);
    for _ in 0..(2 * TIMING.rpc / TICK) {
        let now = net.now + TICK;
        net.step_keeping(&|env: &Envelope| {
            if env.from == leader
                && matches!(&env.msg, Message::Prepare { slot, .. } if slot.value == SlotValue::Tombstone)
            {
                aborted_at.borrow_mut().get_or_insert(now);
            }
            true
        });
    }
    assert_eq!(*aborted_at.borrow(), Some(proposed + TIMING.rpc));
}

#[test]
fn a_member_is_down_once_silent_for_more_than_two_heartbeats_exactly() {
    let (net, leader) = Net::settled(3);
    let core = net.core(leader);
    let status = core.status(net.now);
    let (first, acked) = status
        .peers
        .iter()
        .filter_map(|(id, p)| Some((*id, p.last_ack?)))
        .min_by_key(|(_, t)| *t)
        .expect("the followers answered");
    let limit = acked + 2 * TIMING.heartbeat;
    assert_eq!(core.status(limit).down, None);
    assert!(core.status(limit).writable);
    assert_eq!(core.status(limit + 1).down, Some(first));
    assert!(!core.status(limit + 1).writable);
}

#[test]
fn an_unreachable_peer_is_down_at_once() {
    let (mut net, leader) = Net::settled(3);
    let now = net.now;
    let peer = (0..3).find(|id| *id != leader).unwrap();
    assert_eq!(net.core(leader).status(now).down, None);
    net.core_mut(leader).peer_unreachable(peer);
    assert_eq!(net.core(leader).status(now).down, Some(peer));
}

#[test]
fn only_the_leader_judges_members_down() {
    let (mut net, leader) = Net::settled(3);
    net.run_until(TIMING.election, |_| false);
    for id in 0..3 {
        if id != leader {
            let status = net.core(id).status(net.now + 10 * TIMING.election);
            assert_eq!(status.down, None, "follower {id} judged a member down");
            assert!(!status.writable);
        }
    }
}

#[test]
fn start_up_probes_repeat_at_heartbeat_intervals_not_sooner() {
    let mut node = member(0, false);
    node.tick(TIMING.heartbeat);
    assert_eq!(probes(node.take_outputs()).len(), 2);
    node.tick(TIMING.heartbeat + TICK);
    assert_eq!(probes(node.take_outputs()), vec![], "probed again at once");
    node.tick(2 * TIMING.heartbeat);
    assert_eq!(probes(node.take_outputs()).len(), 2);
}

/// `node`, asked by a probe, told it is a member by node 1 at `now`.
fn answer_probe(node: &mut Core, now: u64) {
    node.probe_all();
    let (_, nonce) = probes(node.take_outputs())[0];
    let config = node.hard().config.clone();
    let report = node.report();
    let reply = Message::ProbeReply {
        nonce,
        member: true,
        report,
        last: None,
        config,
    };
    node.receive(now, to(node, 1, 1, reply));
    assert!(node.status(now).probed);
}

#[test]
fn a_pause_is_a_gap_longer_than_an_election_timeout_and_then_probes_once_per_heartbeat() {
    let mut node = member(0, false);
    answer_probe(&mut node, 5);
    node.tick(100);
    node.tick(100 + TIMING.election);
    assert!(
        node.status(100 + TIMING.election).probed,
        "a gap of exactly T is a pause"
    );
    let woke = 100 + 2 * TIMING.election + TICK;
    node.tick(woke);
    assert!(!node.status(woke).probed);
    assert_eq!(probes(node.take_outputs()).len(), 2);
    node.tick(woke + TICK);
    assert_eq!(probes(node.take_outputs()), vec![], "probed again at once");
    node.tick(woke + TIMING.heartbeat);
    assert_eq!(probes(node.take_outputs()).len(), 2);
}

#[test]
fn a_follower_holding_an_entry_asks_around_only_when_its_leader_is_silent() {
    let b2 = Ballot { term: 1, seq: 2 };
    let mut node = member(0, true);
    answer_probe(&mut node, 5);
    // The leader prepares entry 2 at 15, then falls silent.
    let prepare = Message::Prepare {
        slot: Slot {
            index: 2,
            ballot: b2,
            value: SlotValue::Entry(entry(2, B1, b2).value),
        },
        prev: (1, B1),
        catch_up: None,
    };
    node.receive(15, to(&node, 1, 1, prepare));
    node.take_outputs();
    node.tick(15);
    assert_eq!(
        probes(node.take_outputs()),
        vec![],
        "asked while the leader is heard"
    );
    node.tick(15 + TIMING.election - TICK);
    assert_eq!(
        probes(node.take_outputs()),
        vec![],
        "asked before the interval"
    );
    // An election timeout after the leader's last message it is no longer heard.
    node.tick(15 + TIMING.election);
    assert_eq!(probes(node.take_outputs()).len(), 2);
}

#[test]
fn election_timeouts_spread_over_one_to_two_election_timeouts() {
    let mut firsts = Vec::new();
    for seed in 0..40 {
        let mut hard = member(0, false).hard().clone();
        hard.id = 0;
        let mut node = Core::new(hard, TIMING, seed, 0);
        node.take_outputs();
        let first = (1..=100).map(|t| t * TICK).find(|&now| {
            node.tick(now);
            node.take_outputs().iter().any(|out| {
                matches!(
                    out,
                    Output::Send(Envelope {
                        msg: Message::PreVote { .. },
                        ..
                    })
                )
            })
        });
        firsts.push(first.expect("a pre-vote within two election timeouts"));
    }
    let (min, max) = (*firsts.iter().min().unwrap(), *firsts.iter().max().unwrap());
    assert!(
        min >= TIMING.election && max <= 2 * TIMING.election + TICK,
        "{firsts:?}"
    );
    assert!(
        max - min >= TIMING.election / 2,
        "timeouts not spread: {firsts:?}"
    );
}

#[test]
fn stat_shows_a_leader_heard_now_and_a_follower_its_last_leader_contact() {
    let (mut net, leader) = Net::settled(3);
    net.run_until(TIMING.election, |_| false);
    let now = net.now;
    assert_eq!(
        net.core(leader).status(now + 7).last_heartbeat,
        Some(now + 7)
    );
    let follower = (0..3).find(|id| *id != leader).unwrap();
    let heard = net.core(follower).status(now + 7).last_heartbeat.unwrap();
    assert!(
        heard <= now && heard + TIMING.heartbeat >= now,
        "{heard} at {now}"
    );
}

#[test]
fn a_single_node_paused_has_no_one_to_ask_and_stays_probed() {
    let mut node = Core::new(Hard::single("n0"), TIMING, 1, 0);
    node.take_outputs();
    assert!(node.status(0).probed);
    node.tick(5);
    node.tick(10 * TIMING.election);
    assert!(
        node.status(10 * TIMING.election).probed,
        "a lone node waits for no one"
    );
}

#[test]
fn heartbeats_carry_the_leaders_tombstone_and_never_its_entry() {
    let (mut net, leader, _) = Net::write_with_a_follower_dead(1);
    let carried = RefCell::new(Vec::new());
    let watch = |env: &Envelope| {
        if let Message::Heartbeat { tombstone, .. } = &env.msg {
            if env.from == leader {
                carried.borrow_mut().push(tombstone.clone());
            }
        }
        true
    };
    // While the entry is in flight: heartbeats carry nothing.
    for _ in 0..(TIMING.rpc / TICK - 1) {
        net.step_keeping(&watch);
    }
    assert!(!carried.borrow().is_empty());
    assert!(
        carried.borrow().iter().all(Option::is_none),
        "{:?}",
        carried.borrow()
    );
    // Once aborted, they carry the tombstone.
    net.run_until(4 * TIMING.rpc, |n| n.answers.contains_key(&1));
    carried.borrow_mut().clear();
    for _ in 0..(2 * TIMING.heartbeat / TICK) {
        net.step_keeping(&watch);
    }
    let seen = carried.borrow();
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|t| matches!(t, Some(s) if s.value == SlotValue::Tombstone)),
        "{seen:?}"
    );
}
