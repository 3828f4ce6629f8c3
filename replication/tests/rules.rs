//! Single rules of the protocol, each pinned by one exact exchange: the random simulation
//! needs hundreds or thousands of seeds to trip over a broken one (a vote not made durable, a
//! candidate behind the voter, an entry learnt onto the wrong history), these catch it at
//! once.

use minkms_replication::*;

mod common;
use common::{entry, member, to, B1, TIMING};

/// Whether `outputs` grant a vote.
fn granted(outputs: &[Output]) -> Option<bool> {
    outputs.iter().find_map(|out| match out {
        Output::Send(Envelope {
            msg: Message::VoteReply { granted, .. },
            ..
        }) => Some(*granted),
        _ => None,
    })
}

#[test]
fn a_vote_is_durable_before_it_is_sent_and_a_restart_keeps_it() {
    let mut voter = member(0, false);
    let report = member(1, false).report();
    voter.receive(10, to(&voter, 1, 2, Message::Vote { report }));
    let outputs = voter.take_outputs();
    let sent = outputs
        .iter()
        .position(|o| {
            matches!(
                o,
                Output::Send(Envelope {
                    msg: Message::VoteReply { granted: true, .. },
                    ..
                })
            )
        })
        .expect("the vote is granted");
    let persisted = outputs[..sent]
        .iter()
        .rev()
        .find_map(|o| match o {
            Output::Persist(hard) => Some(hard.clone()),
            _ => None,
        })
        .expect("the state is persisted before the vote leaves");
    assert_eq!((persisted.term, persisted.voted_for), (2, Some(1)));
    // Restarted from what it persisted, it does not vote again in that term for another.
    let mut restarted = Core::new(persisted, TIMING, 9, 20);
    restarted.take_outputs();
    let report = member(2, false).report();
    restarted.receive(30, to(&restarted, 2, 2, Message::Vote { report }));
    assert_eq!(granted(&restarted.take_outputs()), Some(false));
}

#[test]
fn a_candidate_behind_the_voter_gets_no_vote() {
    // Behind in commit.
    let mut voter = member(0, true);
    let report = member(1, false).report();
    voter.receive(10, to(&voter, 1, 2, Message::Vote { report }));
    assert_eq!(granted(&voter.take_outputs()), Some(false));
    // Same commit, but the voter holds a prepared entry the candidate lacks.
    let mut voter = member(0, true);
    let report = member(1, true).report();
    let prepare = Message::Prepare {
        slot: Slot {
            index: 2,
            ballot: Ballot { term: 1, seq: 2 },
            value: SlotValue::Entry(entry(2, B1, Ballot { term: 1, seq: 2 }).value),
        },
        prev: (1, B1),
        catch_up: None,
    };
    voter.receive(5, to(&voter, 2, 1, prepare));
    assert!(voter.hard().slot.is_some(), "the voter holds the entry");
    voter.take_outputs();
    voter.receive(10, to(&voter, 1, 2, Message::Vote { report }));
    assert_eq!(granted(&voter.take_outputs()), Some(false));
    // A candidate as new as the voter gets it (the refusals above are about its state).
    let mut voter = member(0, true);
    let report = member(1, true).report();
    voter.receive(10, to(&voter, 1, 2, Message::Vote { report }));
    assert_eq!(granted(&voter.take_outputs()), Some(true));
}

#[test]
fn an_entry_is_learnt_only_onto_the_history_it_follows() {
    let reply = |last: Committed| Message::ProbeReply {
        nonce: 0,
        member: true,
        report: member(1, true).report(),
        last: Some(last),
        config: member(1, true).hard().config.clone(),
    };
    // Index 2, but after another entry 1 than the one this node applied.
    let mut node = member(0, true);
    let other = Ballot { term: 1, seq: 7 };
    node.receive(
        10,
        to(
            &node,
            1,
            1,
            reply(entry(2, other, Ballot { term: 2, seq: 1 })),
        ),
    );
    assert_eq!(node.hard().commit, 1, "applied onto the wrong history");
    // The same entry after this node's entry 1 is applied.
    let mut node = member(0, true);
    node.receive(
        10,
        to(&node, 1, 1, reply(entry(2, B1, Ballot { term: 2, seq: 1 }))),
    );
    assert_eq!(node.hard().commit, 2);
}

/// Write errors are errors (`?` into any error type) with the texts clients see.
#[test]
fn write_errors_are_errors_with_the_api_texts() {
    let texts: Vec<String> = [
        WriteError::NotLeader(Some(1)),
        WriteError::Unavailable("too many writes queued".into()),
        WriteError::Down {
            node: 2,
            message: "not all nodes available: node 2 (n2) is down".into(),
        },
        WriteError::Failed("aborted".into()),
        WriteError::Unknown("outcome unknown".into()),
        WriteError::Removed,
    ]
    .into_iter()
    .map(|e| (Box::new(e) as Box<dyn std::error::Error>).to_string())
    .collect();
    assert_eq!(
        texts,
        [
            "cluster has no leader",
            "too many writes queued",
            "not all nodes available: node 2 (n2) is down",
            "aborted",
            "outcome unknown",
            "server not part of cluster"
        ]
    );
}

/// `stat` shows the role by these names.
#[test]
fn roles_are_named_as_stat_shows_them() {
    let names: Vec<&str> = [Role::Follower, Role::Candidate, Role::Leader]
        .into_iter()
        .map(Role::as_str)
        .collect();
    assert_eq!(names, ["Follower", "Candidate", "Leader"]);
}

/// A core says which node it is (the server names itself by it in `stat` and in messages).
#[test]
fn a_core_knows_its_id() {
    for id in [0, 1, 2] {
        assert_eq!(member(id, false).id(), id);
    }
}
