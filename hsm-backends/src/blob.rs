//! The sealed-blob format (docs/formats.md §1):
//!
//! ```text
//! "MKSB" | format=1 | id_len:u8 | id | nonce_len:u8 | nonce | ciphertext ‖ tag
//! "MKSB" | format=2 | mechanism:u8 | id_len:u8 | id | nonce_len:u8 | nonce | ciphertext ‖ tag
//! ```
//! Format 1 is AES-GCM by the HSM's key (every blob made before mechanisms could be chosen);
//! format 2 records another mechanism (2: AES-KWP, see [`SealMechanism`]). The associated data
//! is `"MKSB" | format [| mechanism] | id_len | id | context`: the backend id and mechanism
//! cannot be swapped and the blob only opens for the context it was sealed for. The nonce is not
//! part of it because some HSMs choose the IV themselves (it is known only after sealing); a
//! changed nonce fails authentication all the same.

use crate::HsmError;

const MAGIC: &[u8; 4] = b"MKSB";
const FORMAT_V1: u8 = 1;
const FORMAT_V2: u8 = 2;
/// The mechanism byte of a format-2 blob sealed with [`SealMechanism::AesKwp`].
const MECHANISM_AES_KWP: u8 = 2;

/// How a backend's key protects a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SealMechanism {
    /// AES-256-GCM by the HSM's key, with the blob's associated data (format 1).
    #[default]
    AesGcm,
    /// For HSM keys allowed to wrap but not to encrypt: a fresh 256-bit key per blob, wrapped
    /// by the HSM's key with RFC 5649 AES-KWP (`CKM_AES_KEY_WRAP_PAD`), seals the secret with
    /// AES-256-GCM and the blob's associated data. The ciphertext is the 40-byte wrap followed
    /// by the sealed secret and its tag.
    AesKwp,
}

impl SealMechanism {
    /// The configuration's name of it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AesGcm => "aes-gcm",
            Self::AesKwp => "aes-kwp",
        }
    }

    /// The format byte, and for format 2 the mechanism byte, that start a blob after the magic.
    fn format_bytes(self) -> &'static [u8] {
        match self {
            Self::AesGcm => &[FORMAT_V1],
            Self::AesKwp => &[FORMAT_V2, MECHANISM_AES_KWP],
        }
    }
}

/// A secret sealed by one backend: who sealed it, how, the nonce it used, and the ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedBlob {
    backend_id: String,
    mechanism: SealMechanism,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

impl std::fmt::Debug for SealedBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedBlob")
            .field("backend_id", &self.backend_id)
            .field("len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

impl SealedBlob {
    /// Assembles a blob. Fails if the id or nonce do not fit the one-byte length fields.
    pub fn new(backend_id: &str, nonce: Vec<u8>, ciphertext: Vec<u8>) -> Result<Self, HsmError> {
        if backend_id.is_empty() || backend_id.len() > 255 || nonce.len() > 255 {
            return Err(HsmError::MalformedBlob(
                "backend id or nonce too long".to_string(),
            ));
        }
        Ok(Self {
            backend_id: backend_id.to_string(),
            mechanism: SealMechanism::AesGcm,
            nonce,
            ciphertext,
        })
    }

    /// The same blob, recorded as sealed with `mechanism`.
    pub fn with_mechanism(mut self, mechanism: SealMechanism) -> Self {
        self.mechanism = mechanism;
        self
    }

    /// How it was sealed.
    pub fn mechanism(&self) -> SealMechanism {
        self.mechanism
    }

    /// The id of the backend that sealed this blob.
    pub fn backend_id(&self) -> &str {
        &self.backend_id
    }

    /// The nonce (IV) the backend actually used.
    pub fn nonce(&self) -> &[u8] {
        &self.nonce
    }

    /// Ciphertext followed by the authentication tag.
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    /// The associated data a backend `backend_id` binds when sealing for `context` with AES-GCM.
    pub fn associated_data(backend_id: &str, context: &[u8]) -> Vec<u8> {
        Self::associated_data_for(SealMechanism::AesGcm, backend_id, context)
    }

    /// The associated data a backend `backend_id` binds when sealing for `context` with
    /// `mechanism`.
    pub fn associated_data_for(
        mechanism: SealMechanism,
        backend_id: &str,
        context: &[u8],
    ) -> Vec<u8> {
        let mut aad = Vec::with_capacity(7 + backend_id.len() + context.len());
        aad.extend_from_slice(MAGIC);
        aad.extend_from_slice(mechanism.format_bytes());
        aad.push(backend_id.len().min(255) as u8);
        aad.extend_from_slice(backend_id.as_bytes());
        aad.extend_from_slice(context);
        aad
    }

    fn header(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.backend_id.len() + self.nonce.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(self.mechanism.format_bytes());
        out.push(self.backend_id.len() as u8);
        out.extend_from_slice(self.backend_id.as_bytes());
        out.push(self.nonce.len() as u8);
        out.extend_from_slice(&self.nonce);
        out
    }

    /// The blob's byte encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.header();
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Parses the byte encoding. Never panics on any input.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HsmError> {
        let bad = |why: &str| HsmError::MalformedBlob(why.to_string());
        let rest = bytes.strip_prefix(MAGIC).ok_or_else(|| bad("bad magic"))?;
        let (&format, rest) = rest.split_first().ok_or_else(|| bad("truncated"))?;
        let (mechanism, rest) = match format {
            FORMAT_V1 => (SealMechanism::AesGcm, rest),
            FORMAT_V2 => match rest.split_first() {
                Some((&MECHANISM_AES_KWP, rest)) => (SealMechanism::AesKwp, rest),
                Some((code, _)) => return Err(bad(&format!("unknown mechanism {code}"))),
                None => return Err(bad("truncated")),
            },
            _ => return Err(bad(&format!("unknown format {format}"))),
        };
        let (id, rest) = take_prefixed(rest).ok_or_else(|| bad("truncated backend id"))?;
        let id = std::str::from_utf8(id).map_err(|_| bad("backend id is not UTF-8"))?;
        let (nonce, ciphertext) = take_prefixed(rest).ok_or_else(|| bad("truncated nonce"))?;
        if ciphertext.is_empty() {
            return Err(bad("no ciphertext"));
        }
        Ok(Self::new(id, nonce.to_vec(), ciphertext.to_vec())?.with_mechanism(mechanism))
    }
}

fn take_prefixed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = bytes.split_first()?;
    let len = usize::from(len);
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_every_truncation() {
        let blob = SealedBlob::new("hsm:minio:soft", vec![7; 12], vec![9; 48]).unwrap();
        let bytes = blob.to_bytes();
        assert_eq!(SealedBlob::from_bytes(&bytes).unwrap(), blob);
        for cut in 0..bytes.len() - 48 {
            assert!(
                SealedBlob::from_bytes(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut other_format = bytes.clone();
        other_format[4] = 3;
        assert!(SealedBlob::from_bytes(&other_format).is_err());
    }

    #[test]
    fn the_mechanism_is_recorded_and_bound() {
        let gcm = SealedBlob::new("pkcs11:t/k", vec![7; 12], vec![9; 48]).unwrap();
        let kwp = gcm.clone().with_mechanism(SealMechanism::AesKwp);
        let bytes = kwp.to_bytes();
        assert_eq!(&bytes[4..6], &[2, 2]);
        assert_eq!(SealedBlob::from_bytes(&bytes).unwrap(), kwp);
        assert_eq!(gcm.to_bytes()[4], 1, "AES-GCM blobs keep format 1");
        let mut unknown = bytes.clone();
        unknown[5] = 9;
        assert!(SealedBlob::from_bytes(&unknown).is_err());
        assert_ne!(
            SealedBlob::associated_data("pkcs11:t/k", b"c"),
            SealedBlob::associated_data_for(SealMechanism::AesKwp, "pkcs11:t/k", b"c")
        );
    }
}
