//! The trait every HSM backend implements.

use std::fmt;

use secrecy::{SecretBox, SecretSlice};

use crate::{HsmError, SealedBlob};

/// A 256-bit secret that never prints and is zeroized on drop.
pub type Secret32 = SecretBox<[u8; 32]>;

/// An HSM, real or soft.
///
/// Calls may block (FFI, network): async callers run them on a blocking thread. They are never
/// on a per-request path, only at boot, on rewrap and when the set of HSMs changes.
pub trait SealingBackend: Send + Sync + fmt::Debug {
    /// Stable, printable name of backend and key, e.g. `hsm:minio:soft`. It is written into
    /// every blob the backend seals, so a blob always says who can open it.
    fn id(&self) -> &str;

    /// Authenticated encryption of a small secret with `context` bound as associated data.
    fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<SealedBlob, HsmError>;

    /// Opens a blob sealed by this backend with the same `context`. Any failure to
    /// authenticate is [`HsmError::InvalidCiphertext`].
    fn unseal(&self, blob: &SealedBlob, context: &[u8]) -> Result<SecretSlice<u8>, HsmError>;

    /// A deterministic PRF of the HSM key: same key and label, same output, on every node and
    /// after every restart. Only the communication backend of a set is asked.
    fn derive(&self, label: &str) -> Result<Secret32, HsmError>;

    /// A line about the HSM's health for status output, for backends that can tell more than
    /// "configured" (a CloudHSM cluster's state). May call the network: blocking.
    fn health(&self) -> Option<String> {
        None
    }
}
