//! Backup files (`GET`/`PUT /v1/db`, `minkms backup` / `restore`), docs/formats.md §5:
//!
//! ```text
//! "MKBK" ‖ u16 BE version (1) ‖ u64 BE body length ‖ body ‖ HMAC-SHA256(K, everything before)
//! body = postcard(Snapshot)            K = HKDF-SHA256(root key, "minkms/v1/backup-mac")
//! ```
//!
//! The body holds the records still sealed under the root key and the root key sealed by each
//! HSM, so a backup is useless without one of those HSMs. The MAC needs the root key, so only a
//! node that could unseal the backup can check it, and nobody else can forge or alter one.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Error, KeyMaterial, Snapshot, StorageFailure};

const MAGIC: &[u8; 4] = b"MKBK";
/// The current format version. Later versions must keep reading this one.
pub const BACKUP_VERSION: u16 = 1;
const HEADER: usize = 4 + 2 + 8;
const MAC_LEN: usize = 32;
const MAC_LABEL: &[u8] = minkms_hsm::labels::BACKUP_MAC;

fn mac_key(rek: &KeyMaterial) -> Result<Hmac<Sha256>, Error> {
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(None, rek.bytes())
        .expand(MAC_LABEL, key.as_mut())
        .map_err(|_| StorageFailure::new("backup key derivation failed"))?;
    <Hmac<Sha256> as Mac>::new_from_slice(key.as_ref())
        .map_err(|_| StorageFailure::new("backup key derivation failed").into())
}

/// Encodes and authenticates a snapshot.
pub(crate) fn encode(snapshot: &Snapshot, rek: &KeyMaterial) -> Result<Vec<u8>, Error> {
    let body = postcard::to_allocvec(snapshot).map_err(StorageFailure::caused_by)?;
    let mut out = Vec::with_capacity(HEADER + body.len() + MAC_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&BACKUP_VERSION.to_be_bytes());
    out.extend_from_slice(&(body.len() as u64).to_be_bytes());
    out.extend_from_slice(&body);
    let mut mac = mac_key(rek)?;
    mac.update(&out);
    out.extend_from_slice(&mac.finalize().into_bytes());
    Ok(out)
}

/// A backup whose framing is sound; its MAC is checked once the root key is known.
#[derive(Debug)]
pub(crate) struct Parsed<'a> {
    pub(crate) snapshot: Snapshot,
    signed: &'a [u8],
    mac: &'a [u8],
}

/// Checks the framing and decodes the body. Nothing here is trusted until [`Parsed::verify`].
pub(crate) fn parse(file: &[u8]) -> Result<Parsed<'_>, Error> {
    let invalid = |m: &str| Error::Invalid(format!("invalid backup: {m}"));
    if file.len() < 4 || &file[..4] != MAGIC {
        return Err(invalid("not a minkms backup file"));
    }
    if file.len() < HEADER {
        return Err(invalid("the file is truncated"));
    }
    let version = u16::from_be_bytes([file[4], file[5]]);
    if version != BACKUP_VERSION {
        return Err(invalid(&format!(
            "format version {version} is not supported by this version (it reads {BACKUP_VERSION})"
        )));
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&file[6..HEADER]);
    let len =
        usize::try_from(u64::from_be_bytes(len)).map_err(|_| invalid("the file is damaged"))?;
    let end = HEADER
        .checked_add(len)
        .ok_or_else(|| invalid("the file is damaged"))?;
    let total = end
        .checked_add(MAC_LEN)
        .ok_or_else(|| invalid("the file is damaged"))?;
    match total.cmp(&file.len()) {
        std::cmp::Ordering::Greater => return Err(invalid("the file is truncated")),
        std::cmp::Ordering::Less => return Err(invalid("the file has trailing data")),
        std::cmp::Ordering::Equal => {}
    }
    let snapshot = postcard::from_bytes(&file[HEADER..end])
        .map_err(|_| invalid("the file is damaged (it does not decode)"))?;
    Ok(Parsed {
        snapshot,
        signed: &file[..end],
        mac: &file[end..],
    })
}

impl Parsed<'_> {
    /// Checks the MAC with the root key the backup's sealed copies unsealed to.
    pub(crate) fn verify(&self, rek: &KeyMaterial) -> Result<(), Error> {
        let mut mac = mac_key(rek)?;
        mac.update(self.signed);
        mac.verify_slice(self.mac).map_err(|_| {
            Error::Invalid("invalid backup: it does not authenticate (damaged or altered)".into())
        })
    }
}
