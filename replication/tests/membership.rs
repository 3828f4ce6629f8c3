//! Who a node listens to: members of its config (and of a config entry it holds prepared);
//! anyone else may only ask whether it is still a member.

use minkms_replication::*;

mod common;
use common::TIMING;

/// Node 0 of members {0, 1}, with one applied entry.
fn node() -> Core {
    let mut hard = Hard::single("a:1");
    hard.config.members.insert(1, "b:1".into());
    hard.config.next_id = 3;
    hard.config.epoch = 2;
    hard.commit = 1;
    hard.commit_id = Ballot { term: 1, seq: 1 };
    hard.term = 1;
    hard.last = Some(Committed {
        index: 1,
        prev_id: Ballot::default(),
        value: Value {
            id: hard.commit_id,
            proposer: 0,
            payload: Payload::App(b"secret".to_vec()),
        },
    });
    let mut core = Core::new(hard, TIMING, 7, 0);
    core.take_outputs();
    core
}

fn from(id: NodeId, term: u64, msg: Message) -> Envelope {
    Envelope {
        from: id,
        to: 0,
        term,
        epoch: 2,
        msg,
    }
}

fn probe_reply_to(core: &mut Core, id: NodeId) -> Option<Committed> {
    core.receive(10, from(id, 1, Message::Probe { nonce: 9 }));
    core.take_outputs()
        .into_iter()
        .find_map(|out| match out {
            Output::Send(Envelope {
                to,
                msg: Message::ProbeReply { last, config, .. },
                ..
            }) if to == id => {
                assert!(
                    !config.contains(2),
                    "the reply tells a non-member it is out"
                );
                Some(last)
            }
            _ => None,
        })
        .expect("a probe is always answered")
}

#[test]
fn a_node_outside_the_config_changes_nothing() {
    let mut core = node();
    assert!(core.admits(1) && !core.admits(2));
    let report = core.report();
    // A vote request of a much higher term from node 2 (removed, or never added) would make a
    // member step down and vote; from a non-member it is dropped whole.
    core.receive(10, from(2, 50, Message::Vote { report }));
    assert_eq!(core.hard().term, 1);
    assert_eq!(core.hard().voted_for, None);
    assert!(core.take_outputs().is_empty());
    // The same from a member takes effect.
    let report = core.report();
    core.receive(10, from(1, 50, Message::Vote { report }));
    assert_eq!(core.hard().term, 50);
}

#[test]
fn a_non_member_is_answered_a_probe_without_the_last_entry() {
    let mut core = node();
    assert!(probe_reply_to(&mut core, 1).is_some());
    assert_eq!(probe_reply_to(&mut core, 2), None);
}

#[test]
fn a_node_being_added_is_heard_while_its_config_entry_is_prepared() {
    let mut core = node();
    let mut next = core.hard().config.clone();
    next.members.insert(2, "c:1".into());
    next.epoch = 3;
    let slot = Slot {
        index: 2,
        ballot: Ballot { term: 1, seq: 2 },
        value: SlotValue::Entry(Value {
            id: Ballot { term: 1, seq: 2 },
            proposer: 1,
            payload: Payload::Config(next),
        }),
    };
    core.receive(
        10,
        from(
            1,
            1,
            Message::Prepare {
                slot,
                prev: (1, Ballot { term: 1, seq: 1 }),
                catch_up: None,
            },
        ),
    );
    assert!(core.admits(2));
    assert!(core.status(10).admitted.contains(&2));
}
