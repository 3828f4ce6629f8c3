//! Encryption and data keys for one request (`KEY:ENCRYPT`, `KEY:GENERATE`). The frames of a
//! request under one key version share a sub-key: deriving it (HMAC-SHA256 or HChaCha20 of the
//! master key and an IV) and expanding its key schedule cost more than sealing a data key, and
//! a batch of data keys under one key is what object stores ask for (docs/formats.md §2).

use crate::aead::SubKey;
use crate::model::KeyVersion;
use crate::state::MAX_DATA_KEY_LEN;
use crate::{DataKey, Error, State};

/// Seals the messages of one request against one committed state. It keeps the sub-key of the
/// key version it used last, so a batch that alternates between keys derives one per frame,
/// as a request of one frame does; a sub-key is dropped (and wiped) with the sealer, or after
/// sealing [`crate::MAX_SEALS_PER_SUB_KEY`] messages.
pub struct Sealer<'s> {
    state: &'s State,
    last: Option<(&'s KeyVersion, SubKey)>,
}

impl std::fmt::Debug for Sealer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").finish_non_exhaustive()
    }
}

impl State {
    /// A sealer for the messages of one request.
    pub fn sealer(&self) -> Sealer<'_> {
        Sealer {
            state: self,
            last: None,
        }
    }
}

impl<'s> Sealer<'s> {
    /// Encrypts under a key version (0 = latest) into `ciphertext` (cleared first); returns the
    /// version used. Callers sealing many messages hand the same buffer back.
    pub fn encrypt(
        &mut self,
        ciphertext: &mut Vec<u8>,
        enclave: &str,
        name: &str,
        version: u32,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<u32, Error> {
        let v = self.state.key_version(enclave, name, version)?;
        self.sub_key(v).seal_into(plaintext, aad, ciphertext)?;
        Ok(v.version)
    }

    /// Generates a random data key of `length` bytes (0 ⇒ 32) and encrypts it, into `dk`
    /// (its buffers reused: a batch allocates them once).
    pub fn generate(
        &mut self,
        dk: &mut DataKey,
        enclave: &str,
        name: &str,
        version: u32,
        aad: &[u8],
        length: usize,
    ) -> Result<(), Error> {
        let length = if length == 0 { 32 } else { length };
        if length > MAX_DATA_KEY_LEN {
            return Err(Error::Invalid(format!(
                "invalid length: at most {MAX_DATA_KEY_LEN} bytes"
            )));
        }
        let v = self.state.key_version(enclave, name, version)?;
        dk.plaintext.resize(length, 0);
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut dk.plaintext);
        self.sub_key(v)
            .seal_into(&dk.plaintext, aad, &mut dk.ciphertext)?;
        dk.version = v.version;
        Ok(())
    }

    /// The sub-key for `v`: the one in use when it belongs to the same version and may seal
    /// more, else a fresh one. Versions are told apart by address: the state is immutable
    /// while the sealer borrows it, so one address is one version.
    fn sub_key(&mut self, v: &'s KeyVersion) -> &mut SubKey {
        let reusable =
            matches!(&self.last, Some((used, sub)) if std::ptr::eq(*used, v) && sub.has_room());
        if !reusable {
            self.last = None;
        }
        &mut self
            .last
            .get_or_insert_with(|| (v, SubKey::new(v.kind, v.key(), v.version)))
            .1
    }
}
