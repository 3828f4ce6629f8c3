//! A node that starts, or wakes from a pause, asks its members whether it still is one, and
//! keeps asking until one answers: a first probe lost (the peers' connections not up yet, a
//! dropped packet) must not leave the node waiting on its read gate until the probe's bound.

use minkms_replication::*;

mod common;
use common::{probes, TIMING};

/// Node 0 of members {0, 1, 2}, just started.
fn started() -> Core {
    let mut hard = Hard::single("a:1");
    hard.config.members.insert(1, "b:1".into());
    hard.config.members.insert(2, "c:1".into());
    hard.config.next_id = 3;
    hard.config.epoch = 2;
    hard.term = 1;
    Core::new(hard, TIMING, 7, 0)
}

#[test]
fn a_lost_start_up_probe_is_sent_again_until_a_member_answers() {
    let mut core = started();
    core.probe_all();
    let first = probes(core.take_outputs());
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(!core.status(0).probed);
    // Both lost. Within a heartbeat the node asks again.
    core.tick(TIMING.heartbeat);
    let again = probes(core.take_outputs());
    let mut to: Vec<NodeId> = again.iter().map(|(to, _)| *to).collect();
    to.sort();
    assert_eq!(to, vec![1, 2], "{again:?}");
    // A member answers: the node is probed and stops asking.
    let (_, nonce) = again[0];
    let report = core.report();
    core.receive(
        TIMING.heartbeat + 1,
        Envelope {
            from: 1,
            to: 0,
            term: 1,
            epoch: 2,
            msg: Message::ProbeReply {
                nonce,
                member: true,
                report,
                last: None,
                config: core.hard().config.clone(),
            },
        },
    );
    assert!(core.status(TIMING.heartbeat + 1).probed);
    core.take_outputs();
    for t in 2..6 {
        core.tick(t * TIMING.heartbeat);
        assert!(probes(core.take_outputs()).is_empty(), "probed at {t}");
    }
}
