//! A message from a peer (`POST /v1/rpc/replicate`): decode it, then hand it to a node's protocol
//! core, which must neither panic nor break its own bookkeeping on any message, however odd
//! its term, epoch, slot or sender.
#![no_main]

use libfuzzer_sys::fuzz_target;
use minkms_replication::{Config, Core, Envelope, Hard, Timing};

fuzz_target!(|data: &[u8]| {
    let Ok(env) = postcard::from_bytes::<Envelope>(data) else {
        return;
    };
    let again: Envelope = postcard::from_bytes(&postcard::to_allocvec(&env).unwrap()).unwrap();
    assert_eq!(again, env);
    let mut hard = Hard::single("n0");
    hard.config = Config {
        epoch: 1,
        members: (0..3).map(|i| (i, format!("n{i}"))).collect(),
        next_id: 3,
    };
    let mut core = Core::new(hard, Timing::default(), 1, 0);
    let before = core.hard().clone();
    let mut env = env;
    env.to = 0;
    core.receive(10, env.clone());
    core.tick(5_000);
    core.receive(5_010, env);
    let _ = core.take_outputs();
    // Whatever a peer sends, what a node has promised never goes back.
    let after = core.hard();
    assert!(after.term >= before.term);
    assert!(after.commit >= before.commit);
    assert!(after.config.epoch >= before.config.epoch);
});
