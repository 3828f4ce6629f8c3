//! The minkms state machine: enclaves, identities, policies and versioned master keys, the
//! cryptography done with them, and their storage, encrypted, in `redb`.
//!
//! Writes are [`Command`]s: deterministic (everything random or time-dependent is chosen
//! before the command is built), so replication can ship them to every node and get the same
//! state everywhere. Reads run against the in-memory [`State`] and touch no disk.
#![forbid(unsafe_code)]
// Request handling never panics: errors are answers (see SECURITY.md).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable
    )
)]
#![warn(missing_docs)]

mod aead;
mod backup;
mod command;
mod error;
mod kes_envelope;
mod load;
mod model;
mod names;
pub mod private_files;
mod sealer;
mod state;
mod storage;
mod store;
mod wrapping;

pub use aead::{Ciphertext, CIPHERTEXT_OVERHEAD, MAX_SEALS_PER_SUB_KEY};
pub use backup::BACKUP_VERSION;
pub use command::Command;
pub use error::{Error, OpenError, StorageFailure};
pub use model::{
    EnclaveInfo, IdentityInfo, KeyInfo, KeyMaterial, KeyType, PolicyInfo, Principal, Privilege,
    Timestamp,
};
pub use names::{validate_identity, validate_name, NameKind, MAX_NAME_LEN};
pub use sealer::Sealer;
pub use state::{DataKey, Page, State, MAX_DATA_KEY_LEN, MAX_LIST_LIMIT};
pub use store::{Keystore, Snapshot, StoreInfo, DB_FILE};
pub use wrapping::{OaepHash, WrappingKeyInfo, WrappingPrivateKey};
