//! The leader's checks on membership requests, each refused before anything is prepared when
//! the cluster is not as the request assumes: a reserve takes the next id only, an add needs
//! that id or a reserved one and a host no member has, a remove needs a member of a cluster of
//! two or more. The simulator only ever asks valid questions; these ask the others.

use minkms_replication::*;

mod common;
use common::{Net, TIMING};

/// Gives the leader request `req` and runs until it is answered (or `ms` pass): the answer.
fn ask(
    net: &mut Net,
    leader: NodeId,
    req: u64,
    ms: u64,
    propose: impl FnOnce(&mut Core, u64),
) -> Option<WriteResult> {
    let now = net.now;
    propose(net.core_mut(leader), now);
    net.collect(leader, &|_| true);
    net.deliver(&|_| true);
    net.run_until(ms, |n| n.answers.contains_key(&req));
    net.answers.get(&req).cloned()
}

fn refused(answer: Option<WriteResult>, says: &str) {
    match answer {
        Some(Err(WriteError::Unavailable(why))) => assert!(why.contains(says), "{why}"),
        other => panic!("expected a refusal saying '{says}', got {other:?}"),
    }
}

fn config(net: &Net, id: NodeId) -> Config {
    net.core(id).hard().config.clone()
}

#[test]
fn a_reserve_takes_the_next_id_and_no_other() {
    let (mut net, leader) = Net::settled(3);
    assert_eq!(config(&net, leader).next_id, 3);
    for (req, id) in [(1, 2), (2, 4), (3, 0)] {
        let answer = ask(&mut net, leader, req, 1_000, |c, now| {
            c.propose_reserve(now, req, id)
        });
        refused(
            answer,
            "cannot reserve a node id: the cluster changed meanwhile",
        );
    }
    assert!(matches!(
        ask(&mut net, leader, 4, 1_000, |c, now| c
            .propose_reserve(now, 4, 3)),
        Some(Ok(_))
    ));
    let after = config(&net, leader);
    assert_eq!((after.next_id, after.members.len()), (4, 3), "{after:?}");
}

#[test]
fn an_add_needs_the_next_or_a_reserved_id_and_a_host_no_member_has() {
    let (mut net, leader) = Net::settled(3);
    assert!(matches!(
        ask(&mut net, leader, 1, 1_000, |c, now| c
            .propose_reserve(now, 1, 3)),
        Some(Ok(_))
    ));
    // Ids above the next one, and members' ids, are not for a new node; nor are members' hosts.
    for (req, id, host) in [(2, 5, "n5"), (3, 1, "n9"), (4, 3, "n1"), (5, 4, "n2")] {
        let answer = ask(&mut net, leader, req, 1_000, |c, now| {
            c.propose_add(now, req, id, host.into())
        });
        refused(
            answer,
            &format!("cannot add {host}: the cluster changed meanwhile"),
        );
    }
    // The reserved id and the next one go ahead: the entry is prepared (for the new node too),
    // not refused at once. (No node answers for them here, so it does not commit.)
    for (req, id, host) in [(6, 3, "n3"), (7, 4, "n4")] {
        let now = net.now;
        let mut sent_to_new = false;
        net.core_mut(leader).propose_add(now, req, id, host.into());
        for out in net.core_mut(leader).take_outputs() {
            match out {
                Output::Send(env) if env.to == id => sent_to_new = true,
                Output::Respond { req: r, result } if r == req => {
                    panic!("answered at once: {result:?}")
                }
                _ => {}
            }
        }
        assert!(sent_to_new, "the new node {id} is asked to prepare its add");
        // Let the attempt end (it cannot commit) before the next.
        net.run_until(4 * TIMING.election, |n| n.answers.contains_key(&req));
    }
}

#[test]
fn only_a_member_of_a_cluster_of_two_or_more_is_removed() {
    let (mut net, leader) = Net::settled(3);
    refused(
        ask(&mut net, leader, 1, 1_000, |c, now| {
            c.propose_remove(now, 1, 9)
        }),
        "node 9 is not a member that can be removed",
    );
    let victim = (0..3).find(|id| *id != leader).unwrap();
    assert!(matches!(
        ask(&mut net, leader, 2, 1_000, |c, now| c
            .propose_remove(now, 2, victim)),
        Some(Ok(_))
    ));
    assert!(!config(&net, leader).contains(victim));
    // One of two is removed.
    let (mut pair, leader) = Net::settled(2);
    let other = 1 - leader;
    assert!(matches!(
        ask(&mut pair, leader, 1, 1_000, |c, now| c
            .propose_remove(now, 1, other)),
        Some(Ok(_))
    ));
    assert!(!config(&pair, leader).contains(other));
    // The last member stays.
    let (mut alone, only) = Net::settled(1);
    refused(
        ask(&mut alone, only, 1, 1_000, |c, now| {
            c.propose_remove(now, 1, only)
        }),
        &format!("node {only} is not a member that can be removed"),
    );
}
