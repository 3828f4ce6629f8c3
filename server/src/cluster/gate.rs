//! The read gate: which reads wait for the change the open slot prepares (a key, an enclave,
//! or everything for a membership change).

use super::*;

/// What reads must wait for: the names the open slot changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Blocked {
    Nothing,
    /// A key being created or deleted: reads of other keys of the enclave go on.
    Keys {
        enclave: String,
        keys: BTreeSet<String>,
    },
    /// An enclave, identity or policy change: every read of the enclave waits.
    Enclaves(BTreeSet<String>),
    /// A membership change: every read waits (a node being removed stops serving at once).
    All,
}

/// The names an open slot blocks reads of.
pub(super) fn blocked_by(slot: &Option<Slot>) -> Blocked {
    let Some(Slot {
        value: SlotValue::Entry(v),
        ..
    }) = slot
    else {
        return Blocked::Nothing;
    };
    match &v.payload {
        Payload::Config(_) => Blocked::All,
        Payload::App(bytes) => match postcard::from_bytes::<ks::Command>(bytes) {
            Ok(
                ks::Command::CreateKey { enclave, name, .. }
                | ks::Command::DeleteKey { enclave, name, .. },
            ) => Blocked::Keys {
                enclave,
                keys: [name].into_iter().collect(),
            },
            Ok(cmd) => Blocked::Enclaves([cmd.enclave().to_string()].into_iter().collect()),
            Err(_) => Blocked::All,
        },
    }
}

/// Whether a read of `keys` of `enclave` (`None`: the whole enclave; "": everything) must wait
/// for the prepared change `b`.
pub(super) fn blocks(b: &Blocked, enclave: &str, keys: Option<&[String]>) -> bool {
    match b {
        Blocked::Nothing => false,
        Blocked::All => true,
        Blocked::Enclaves(set) => enclave.is_empty() || set.contains(enclave),
        Blocked::Keys {
            enclave: e,
            keys: pending,
        } => {
            enclave.is_empty()
                || (e == enclave
                    && keys.is_none_or(|names| names.iter().any(|n| pending.contains(n))))
        }
    }
}
