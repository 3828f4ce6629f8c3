//! The records the keystore holds, and the read-only views it hands out.

use std::collections::BTreeMap;
use std::sync::Arc;

use minkms_policies::Policy;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Seconds and nanoseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct Timestamp {
    /// Whole seconds.
    pub secs: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            secs: d.as_secs() as i64,
            nanos: d.subsec_nanos(),
        }
    }
}

/// The algorithm of a master key (API.md: exactly "AES256" or "ChaCha20" on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyType {
    /// AES-256-GCM with an HMAC-SHA256 per-message sub-key.
    Aes256,
    /// ChaCha20-Poly1305 with an HChaCha20 per-message sub-key.
    ChaCha20,
}

impl KeyType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Aes256 => "AES256",
            KeyType::ChaCha20 => "ChaCha20",
        }
    }

    /// Parses a wire name; the empty string lets the server choose (AES256, which every CPU
    /// we run on accelerates).
    pub fn parse(s: &str) -> Result<Self, crate::Error> {
        match s {
            "" | "AES256" | "AES256-GCM_SHA256" => Ok(KeyType::Aes256),
            "ChaCha20" | "XCHACHA20-POLY1305" => Ok(KeyType::ChaCha20),
            other => Err(crate::Error::Invalid(format!(
                "invalid key type '{other}': must be AES256 or ChaCha20"
            ))),
        }
    }

    pub(crate) fn tag(self) -> u8 {
        match self {
            KeyType::Aes256 => 1,
            KeyType::ChaCha20 => 2,
        }
    }

    pub(crate) fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            1 => Some(KeyType::Aes256),
            2 => Some(KeyType::ChaCha20),
            _ => None,
        }
    }
}

/// 256 bits of master-key material: zeroized on drop, never printed.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct KeyMaterial([u8; 32]);

impl KeyMaterial {
    /// Fresh material from the OS RNG.
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut k);
        let material = Self(k);
        k.zeroize();
        material
    }

    /// Material given by a caller (`KEY:IMPORT`); must be 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, crate::Error> {
        let k: [u8; 32] = bytes
            .try_into()
            .map_err(|_| crate::Error::Invalid("invalid key: must be 32 bytes".into()))?;
        Ok(Self(k))
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyMaterial(<redacted>)")
    }
}

/// Privileges (API.md §4.3); the numbers are the wire values of `IdentityResponse.Privilege`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Privilege {
    /// The cluster's root: everything, everywhere.
    SysAdmin = 1,
    /// Everything inside its enclave.
    Admin = 2,
    /// What its policy allows.
    User = 3,
}

impl Privilege {
    /// Parses the wire string ("" means User).
    pub fn parse(s: &str) -> Result<Self, crate::Error> {
        match s {
            "" | "User" => Ok(Privilege::User),
            "Admin" => Ok(Privilege::Admin),
            "SysAdmin" => Ok(Privilege::SysAdmin),
            other => Err(crate::Error::Invalid(format!(
                "invalid privilege '{other}': must be Admin or User"
            ))),
        }
    }

    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::SysAdmin => "SysAdmin",
            Privilege::Admin => "Admin",
            Privilege::User => "User",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EnclaveRecord {
    pub(crate) name: String,
    pub(crate) created_at: Timestamp,
    pub(crate) created_by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyVersion {
    pub(crate) version: u32,
    pub(crate) kind: KeyType,
    pub(crate) material: KeyMaterial,
    pub(crate) imported: bool,
    pub(crate) created_at: Timestamp,
    /// Shared: one copy per creator and thread, not one per key ([`shared_creator`]).
    #[serde(deserialize_with = "creator")]
    pub(crate) created_by: Arc<str>,
    /// The keyed MAC state of an AES-256 version, made at its first use and never stored
    /// (it is derived from `material`); behind one pointer, so that a version never used costs
    /// eight bytes.
    #[serde(skip)]
    pub(crate) mac: once_cell::race::OnceBox<crate::aead::KeyedMac>,
}

/// The copy of a creator's name this thread made before, or a new one it keeps: start-up
/// decodes millions of versions made by a handful of identities, and a copy per version would
/// cost two allocations and their memory each. The copies a thread keeps are the names of
/// identities that created keys, a short list.
pub(crate) fn shared_creator(name: &str) -> Arc<str> {
    thread_local! {
        static CREATORS: std::cell::RefCell<std::collections::HashSet<Arc<str>>> =
            Default::default();
    }
    CREATORS.with_borrow_mut(|creators| match creators.get(name) {
        Some(shared) => shared.clone(),
        None => {
            let shared: Arc<str> = name.into();
            creators.insert(shared.clone());
            shared
        }
    })
}

/// Decodes a creator's name through [`shared_creator`].
fn creator<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Arc<str>, D::Error> {
    struct Name;
    impl serde::de::Visitor<'_> for Name {
        type Value = Arc<str>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a name")
        }

        fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Arc<str>, E> {
            Ok(shared_creator(name))
        }
    }
    deserializer.deserialize_str(Name)
}

impl KeyVersion {
    /// The version's key as the ciphers take it.
    pub(crate) fn key(&self) -> crate::aead::MasterKey<'_> {
        let material = self.material.bytes();
        crate::aead::MasterKey {
            material,
            mac: (self.kind == KeyType::Aes256).then(|| {
                self.mac
                    .get_or_init(|| Box::new(crate::aead::KeyedMac::new(material)))
            }),
        }
    }
}

/// A key as stored: its name and what memory keeps of it ([`Key`]), in the layout `kms.db`
/// and backups have always had.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    pub(crate) name: String,
    /// Within a key's life, version numbers are never reused, even after a version is deleted,
    /// so a ciphertext of a deleted version never names new material. Deleting the last version
    /// deletes the key; a key created later under the same name is a new key (its material
    /// differs, so old ciphertexts fail authentication).
    pub(crate) next_version: u32,
    pub(crate) versions: Versions,
}

impl KeyRecord {
    /// Its name, and the key as memory holds it (the name is the map's key there).
    pub(crate) fn split(self) -> (String, Key) {
        let key = Key {
            next_version: self.next_version,
            versions: self.versions,
        };
        (self.name, key)
    }
}

/// A key in memory, without its name (which is the key of the enclave's map).
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub(crate) next_version: u32,
    pub(crate) versions: Versions,
}

impl Key {
    /// The record storing it under `name`.
    pub(crate) fn record(&self, name: &str) -> KeyRecord {
        KeyRecord {
            name: name.to_string(),
            next_version: self.next_version,
            versions: self.versions.clone(),
        }
    }
}

/// A key's versions, ascending. Inline, not a `BTreeMap` nor a separate allocation: almost
/// every key has a single version, and a map's smallest node costs about 900 bytes per key
/// where this costs the version itself (docs/decisions.md, "Memory per key"). Serialized
/// exactly as the map it replaced (a map from version number to version), so `kms.db` and
/// backups do not change.
#[derive(Debug, Clone, Default)]
pub(crate) struct Versions(smallvec::SmallVec<[KeyVersion; 1]>);

impl Versions {
    fn find(&self, version: u32) -> Result<usize, usize> {
        self.0.binary_search_by_key(&version, |v| v.version)
    }

    pub(crate) fn get(&self, version: u32) -> Option<&KeyVersion> {
        self.find(version).ok().map(|i| &self.0[i])
    }

    pub(crate) fn contains(&self, version: u32) -> bool {
        self.find(version).is_ok()
    }

    pub(crate) fn latest(&self) -> Option<&KeyVersion> {
        self.0.last()
    }

    /// Oldest first.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, KeyVersion> {
        self.0.iter()
    }

    /// Adds `v`, replacing a version of the same number.
    pub(crate) fn insert(&mut self, v: KeyVersion) {
        match self.find(v.version) {
            Ok(i) => self.0[i] = v,
            Err(i) => self.0.insert(i, v),
        }
    }

    pub(crate) fn remove(&mut self, version: u32) -> Option<KeyVersion> {
        self.find(version).ok().map(|i| self.0.remove(i))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Versions {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|v| (v.version, v)))
    }
}

impl<'de> Deserialize<'de> for Versions {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Reads the map it was written as straight into the vector (no map built per key at
        /// start-up): sorted, one entry per number (the last one wins, as in a map).
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = Versions;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map from version numbers to versions")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Versions, A::Error> {
                let mut out = Versions::default();
                while let Some((number, mut v)) = map.next_entry::<u32, KeyVersion>()? {
                    v.version = number;
                    out.insert(v);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IdentityRecord {
    pub(crate) identity: String,
    pub(crate) privilege: Privilege,
    pub(crate) policy: String,
    pub(crate) parent: String,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) created_at: Timestamp,
    pub(crate) created_by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PolicyRecord {
    pub(crate) name: String,
    /// JSON of the policy: its rule sets accept several spellings, which a self-describing
    /// format keeps simple.
    pub(crate) policy_json: String,
    pub(crate) created_at: Timestamp,
    pub(crate) created_by: String,
}

/// An enclave, as status and list commands show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnclaveInfo {
    /// Name.
    pub name: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Identity (`h1:`) that created it.
    pub created_by: String,
}

/// One version of a key, as status and list commands show it. No key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// Name.
    pub name: String,
    /// Version number (1, 2, ...).
    pub version: u32,
    /// Algorithm.
    pub kind: KeyType,
    /// Creation time of this version.
    pub created_at: Timestamp,
    /// Identity that created this version.
    pub created_by: String,
}

/// A policy, as get and status commands show it.
#[derive(Debug, Clone)]
pub struct PolicyInfo {
    /// Name.
    pub name: String,
    /// The document.
    pub policy: Arc<Policy>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Identity that created it.
    pub created_by: String,
}

/// An identity, as get and list commands show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityInfo {
    /// `h1:...`.
    pub identity: String,
    /// Its privilege.
    pub privilege: Privilege,
    /// Assigned policy ("" for none).
    pub policy: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Who created it.
    pub created_by: String,
    /// Whether it is a service account of `created_by`.
    pub is_service_account: bool,
    /// Its own service accounts.
    pub service_accounts: Vec<String>,
    /// Free-form tags.
    pub tags: BTreeMap<String, String>,
}

/// What an authenticated caller may do inside one enclave.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Effective privilege (a service account has its parent's).
    pub privilege: Privilege,
    /// Effective policy for a User (a service account has its parent's); `None` = nothing.
    pub policy: Option<Arc<Policy>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(n: u32) -> KeyVersion {
        KeyVersion {
            version: n,
            kind: KeyType::Aes256,
            material: KeyMaterial::generate(),
            imported: n.is_multiple_of(2),
            created_at: Timestamp {
                secs: n.into(),
                nanos: 7,
            },
            created_by: format!("by-{n}").into(),
            mac: Default::default(),
        }
    }

    /// Versions decoded by one thread share one copy of each creator's name.
    #[test]
    fn decoded_versions_share_their_creator() {
        let a: KeyVersion =
            postcard::from_bytes(&postcard::to_stdvec(&version(1)).unwrap()).unwrap();
        let mut other = version(2);
        other.created_by = "by-1".into();
        let b: KeyVersion = postcard::from_bytes(&postcard::to_stdvec(&other).unwrap()).unwrap();
        assert_eq!(&*a.created_by, "by-1");
        assert!(Arc::ptr_eq(&a.created_by, &b.created_by));
        let c: KeyVersion =
            postcard::from_bytes(&postcard::to_stdvec(&version(3)).unwrap()).unwrap();
        assert_eq!(&*c.created_by, "by-3");
    }

    /// `kms.db` records and backups written when versions were a `BTreeMap` must read back
    /// the same, and new ones must be byte for byte what the map wrote.
    #[test]
    fn versions_encode_exactly_as_the_map_they_replaced() {
        let mut map = BTreeMap::new();
        let mut versions = Versions::default();
        for n in [3, 1, 7, 2] {
            map.insert(n, version(n));
            versions.insert(map[&n].clone());
        }
        map.remove(&2);
        assert!(versions.remove(2).is_some());
        let old = postcard::to_stdvec(&map).unwrap();
        assert_eq!(postcard::to_stdvec(&versions).unwrap(), old);
        let back: Versions = postcard::from_bytes(&old).unwrap();
        let numbers: Vec<u32> = back.iter().map(|v| v.version).collect();
        assert_eq!(numbers, [1, 3, 7]);
        assert_eq!(back.latest().map(|v| v.version), Some(7));
        assert_eq!(back.get(3).map(|v| &*v.created_by), Some("by-3"));
        assert!(back.get(2).is_none() && !back.contains(2) && back.contains(1));
    }
}
