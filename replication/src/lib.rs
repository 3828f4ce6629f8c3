//! The cluster protocol of REPLICATION.md as a sans-IO state machine.
//!
//! [`Core`] owns no socket, clock or disk: time comes in with every call, and what must happen
//! comes out as [`Output`]s, in order. That one shape is driven by the server's tokio runtime
//! and by the deterministic simulator in `tests/`, so the protocol tested over thousands of
//! seeded fault schedules is the protocol that runs.
//!
//! Ballots and value ids are separate (docs/replication.md): an entry keeps the id it was first
//! proposed under, so every node that applies it records the same `commit_id`.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable
    )
)]

mod core;
mod types;

pub use crate::core::{Core, Output, Role, Status, Timing, WriteError, WriteResult};
pub use crate::types::{
    Ballot, Committed, Config, Envelope, Hard, Message, NodeId, Payload, Report, Slot, SlotValue,
    Value,
};
