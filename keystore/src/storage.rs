//! How records sit in `redb` (docs/formats.md §3): one `records` table of
//! `"<kind>/<enclave>[/<name>]"` → REK-encrypted postcard, and one `meta` table for what must be
//! readable before unsealing (format, cluster id, sealed root-key blobs).
//!
//! Names stay in plaintext so records can be found without decrypting everything; they are
//! chosen by operators and are not secret (SECURITY.md says so). Every value is encrypted with
//! its own record key bound as associated data, so records cannot be swapped on disk.

use redb::TableDefinition;
use serde::{de::DeserializeOwned, Serialize};
use zeroize::Zeroizing;

use crate::aead::MasterKey;
use crate::model::{EnclaveRecord, IdentityRecord, KeyRecord, PolicyRecord};
use crate::state::Change;
use crate::wrapping::WrappingKeyRecord;
use crate::{Ciphertext, Error, KeyMaterial, KeyType, StorageFailure};

pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(crate) const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");

pub(crate) const META_FORMAT: &str = "format";
pub(crate) const META_CLUSTER_ID: &str = "cluster_id";
pub(crate) const META_COMMIT: &str = "commit";
/// The replication protocol's durable state (term, vote, config, open slot).
pub(crate) const META_REPLICATION: &str = "replication";
pub(crate) const META_REK_PREFIX: &str = "rek/";
/// The id of the cluster this node left with `rm --delete-cluster`, until its operator
/// accepts that it runs as a cluster of its own: writes are fenced while it is set.
pub(crate) const META_FORKED_FROM: &str = "forked_from";
/// The root identity (`h1:…`, public) of the last start: a changed communication HSM changes it.
pub(crate) const META_ROOT_IDENTITY: &str = "root_identity";
pub(crate) const FORMAT_V1: &[u8] = &[1];
/// Associated data of the sealed root key: a blob only opens as what it was sealed for.
pub(crate) const REK_CONTEXT: &[u8] = minkms_hsm::labels::ROOT_ENCRYPTION_KEY;
const RECORD_AAD: &[u8] = minkms_hsm::labels::RECORD_AAD;

/// A storage key and, for puts, the plaintext value to store under it.
pub(crate) type Encoded = (String, Option<Zeroizing<Vec<u8>>>);

/// The storage key and, for puts, the plaintext value of one change.
pub(crate) fn encode(change: &Change) -> Result<Encoded, Error> {
    // Key records hold key material: the plaintext encoding is zeroized once sealed.
    fn enc<T: Serialize>(v: &T) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        postcard::to_allocvec(v)
            .map(|b| Some(Zeroizing::new(b)))
            .map_err(|e| StorageFailure::caused_by(e).into())
    }
    Ok(match change {
        Change::PutEnclave(r) => (format!("e/{}", r.name), enc(r)?),
        Change::DelEnclave(e) => (format!("e/{e}"), None),
        Change::PutKey(e, r) => (format!("k/{e}/{}", r.name), enc(r)?),
        Change::DelKey(e, n) => (format!("k/{e}/{n}"), None),
        Change::PutIdentity(e, r) => (format!("i/{e}/{}", r.identity), enc(r)?),
        Change::DelIdentity(e, i) => (format!("i/{e}/{i}"), None),
        Change::PutPolicy(e, r) => (format!("p/{e}/{}", r.name), enc(r)?),
        Change::DelPolicy(e, n) => (format!("p/{e}/{n}"), None),
        Change::PutWrappingKey(e, r) => (format!("w/{e}"), enc(r)?),
        Change::DelWrappingKey(e) => (format!("w/{e}"), None),
    })
}

/// The enclave of a key record's storage key (`k/<enclave>/<name>`); `None` for any other.
pub(crate) fn key_record_enclave(key: &str) -> Option<&str> {
    key.strip_prefix("k/")?.split_once('/').map(|(e, _)| e)
}

/// Decodes the value of the record stored under `key`.
pub(crate) fn dec<T: DeserializeOwned>(key: &str, b: &[u8]) -> Result<T, Error> {
    postcard::from_bytes(b)
        .map_err(|e| StorageFailure::context(format!("record {key} is damaged"), e).into())
}

/// Turns a stored record back into the change that creates it.
pub(crate) fn decode(key: &str, plaintext: &[u8]) -> Result<Change, Error> {
    let enclave_of = |rest: &str| rest.split_once('/').map(|(e, _)| e.to_string());
    let bad = || Error::from(StorageFailure::new(format!("unknown record {key}")));
    Ok(match key.split_once('/').ok_or_else(bad)? {
        ("e", _) => Change::PutEnclave(dec::<EnclaveRecord>(key, plaintext)?),
        ("k", rest) => Change::PutKey(
            enclave_of(rest).ok_or_else(bad)?,
            dec::<KeyRecord>(key, plaintext)?,
        ),
        ("i", rest) => Change::PutIdentity(
            enclave_of(rest).ok_or_else(bad)?,
            dec::<IdentityRecord>(key, plaintext)?,
        ),
        ("p", rest) => Change::PutPolicy(
            enclave_of(rest).ok_or_else(bad)?,
            dec::<PolicyRecord>(key, plaintext)?,
        ),
        ("w", enclave) => Change::PutWrappingKey(
            enclave.to_string(),
            dec::<WrappingKeyRecord>(key, plaintext)?,
        ),
        _ => return Err(bad()),
    })
}

/// The associated data of the record stored under `key`; on the stack for any usual name.
fn aad(key: &str) -> smallvec::SmallVec<[u8; 128]> {
    let mut aad = smallvec::SmallVec::new();
    aad.extend_from_slice(RECORD_AAD);
    aad.extend_from_slice(key.as_bytes());
    aad
}

/// Encrypts a record value under the root encryption key.
pub(crate) fn seal(rek: &KeyMaterial, key: &str, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
    Ciphertext::seal(KeyType::Aes256, rek, 0, plaintext, &aad(key))
}

/// Decrypts a record value; a value moved to another key or altered does not open. `rek` may
/// carry its keyed MAC state, which start-up keeps for the millions of records it opens.
pub(crate) fn open<'k>(
    rek: impl Into<MasterKey<'k>>,
    key: &str,
    value: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    Ciphertext::open(KeyType::Aes256, rek, value, &aad(key)).map_err(|_| {
        StorageFailure::new(format!(
            "record {key} does not authenticate under the root key"
        ))
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record's value is bound to its storage key: moved to another key, it does not open.
    #[test]
    fn a_value_opens_only_under_its_own_key() {
        let rek = KeyMaterial::generate();
        let sealed = seal(&rek, "k/e/a", b"record").unwrap();
        assert_eq!(&*open(&rek, "k/e/a", &sealed).unwrap(), b"record");
        assert!(matches!(
            open(&rek, "k/e/b", &sealed),
            Err(Error::Storage(_))
        ));
        assert!(open(&KeyMaterial::generate(), "k/e/a", &sealed).is_err());
    }
}
