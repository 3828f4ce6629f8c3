//! What the protocol tests share.

use minkms_replication::Timing;

/// The server's timers (docs/replication.md) scaled down ten times: simulated time runs fast.
pub(crate) const TIMING: Timing = Timing {
    heartbeat: 50,
    election: 150,
    rpc: 100,
};
